"""Preview-time OpenStack lookups (openstacksdk): the existing monitor port of a tap service.

The call runs while the program runs, before anything registers, so a port Tap-as-a-Service
cannot use fails the preview. It takes the connection factory as an argument: the component's
default opens the clouds.yaml entry or the ``OS_*`` cloud, tests pass a fake Neutron.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keystoneauth1 import exceptions as keystone_errors
from openstack import exceptions as sdk_errors

from ..errors import CloudtapInputError

if TYPE_CHECKING:
    from .taas_provider import ConnectFn


def check_monitor_port(connect: ConnectFn, cloud: str | None, port_id: str) -> None:
    """One Neutron call at preview: the existing monitor port exists and has port security off.

    Tap-as-a-Service delivers copies addressed to other machines to the monitor port; with port
    security on (or a security group), Neutron drops them and the sensor sees nothing.
    """
    field = "target.port_id"
    try:
        conn = connect(cloud)
        try:
            port = conn.network.get_port(port_id)
        finally:
            conn.close()
    except sdk_errors.NotFoundException:
        raise CloudtapInputError(
            field, port_id, "the id of an existing port of this project (Neutron answered 404)"
        ) from None
    except (sdk_errors.SDKException, keystone_errors.ClientException) as error:
        raise CloudtapInputError(
            field,
            port_id,
            "a port cloudtap can read at preview, to check that its port security is off; the "
            f"lookup failed ({type(error).__name__}: {error}): set cloud (openstack:cloud) or "
            "the OS_* variables, or give target.monitor_port to let cloudtap create the port",
        ) from None
    if port.is_port_security_enabled or port.security_group_ids:
        raise CloudtapInputError(
            field,
            port_id,
            "a monitor port with port security disabled and no security groups (Tap-as-a-"
            "Service delivers copies addressed to other machines, which port security drops; "
            f"this port has port_security_enabled={bool(port.is_port_security_enabled)}, "
            f"security groups {list(port.security_group_ids or [])}): run `openstack port set "
            f"--no-security-group --disable-port-security {port_id}`, or give "
            "target.monitor_port to let cloudtap create one",
        )
