"""Preview-time OpenStack lookups (openstacksdk): the existing monitor port of a tap service, and
what a monitored network and its mirror need of the cloud (external network, MTU, extensions).

The call runs while the program runs, before anything registers, so a port Tap-as-a-Service
cannot use fails the preview. It takes the connection factory as an argument: the component's
default opens the clouds.yaml entry or the ``OS_*`` cloud, tests pass a fake Neutron.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class CloudFacts:
    """What a monitored network needs to know of the cloud at preview."""

    external_network_id: str
    external_network_name: str
    internal_network_mtus: tuple[int, ...]
    """``mtu`` of each of the project's existing internal (not external) networks: what Neutron
    gives a new tenant network is what it gave these."""
    extensions: frozenset[str]
    """Aliases of Neutron's extensions (``tap-mirror``, ``taas``, ...)."""


def _lookup_failed(field: str, value: str, error: Exception) -> CloudtapInputError:
    return CloudtapInputError(
        field,
        value,
        "a value cloudtap can check at preview; the OpenStack lookup failed "
        f"({type(error).__name__}: {error}): set cloud (openstack:cloud) or the OS_* variables",
    )


def discover_cloud(connect: ConnectFn, cloud: str | None, external_network: str) -> CloudFacts:
    """Three Neutron reads at preview: the external network (by name or id), the MTUs of the
    project's internal networks, the extensions. A missing or internal external network fails
    the preview naming ``external_network``."""
    field = "external_network"
    try:
        conn = connect(cloud)
        try:
            found = conn.network.find_network(external_network, ignore_missing=True)
            internal = [
                int(network.mtu)
                for network in conn.network.networks(is_router_external=False)
                if network.mtu
            ]
            extensions = frozenset(str(ext.alias) for ext in conn.network.extensions())
        finally:
            conn.close()
    except (sdk_errors.SDKException, keystone_errors.ClientException) as error:
        raise _lookup_failed(field, external_network, error) from None
    if found is None:
        raise CloudtapInputError(
            field,
            external_network,
            "the name or id of an existing external network (`openstack network list --external`)",
        )
    if not found.is_router_external:
        raise CloudtapInputError(
            field,
            external_network,
            f"an external network (router:external); {found.name or found.id} is internal: a "
            "router cannot take it as its gateway (`openstack network list --external`)",
        )
    return CloudFacts(
        external_network_id=str(found.id),
        external_network_name=str(found.name or found.id),
        internal_network_mtus=tuple(sorted(internal)),
        extensions=extensions,
    )


def list_extensions(connect: ConnectFn, cloud: str | None) -> frozenset[str]:
    """One Neutron read at preview: the aliases of the cloud's network extensions."""
    try:
        conn = connect(cloud)
        try:
            return frozenset(str(ext.alias) for ext in conn.network.extensions())
        finally:
            conn.close()
    except (sdk_errors.SDKException, keystone_errors.ClientException) as error:
        raise _lookup_failed("method", "auto", error) from None
