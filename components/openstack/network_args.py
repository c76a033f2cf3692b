"""Arguments of the OpenStack monitored network and sensor, apart from the components so that the
program, the lab and other clouds can name (and refuse) their fields without loading
pulumi-openstack."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from ..network_plan import NetworkArgs
from ..sensor import SensorArgs

if TYPE_CHECKING:
    from .monitored_network import MonitoredOpenStackNetwork


class OpenStackNetworkArgs(NetworkArgs, total=False):
    """Arguments of :class:`~components.openstack.monitored_network.MonitoredOpenStackNetwork`:
    the cloud-neutral ``NetworkArgs`` plus OpenStack fields.

    ``external_network``, ``image`` and ``flavor`` are required; every other field is optional.
    ``availability_zone_count`` is 1 (and may only be 1): a Neutron network spans the cloud's
    zones, so each tier is one network with one subnet.
    """

    external_network: str
    """Required. Name or id of the external (provider) network: the router's gateway and the
    pool of the gateway's floating IP. Looked up at preview (it must exist and be external)."""
    image: str
    """Required. Glance image of the gateway, by name or id: a systemd distribution with
    cloud-init and ``nftables`` in its repositories, of ``gateway_os_family``."""
    flavor: str
    """Required. Nova flavor of the gateway, by name or id (e.g. ``m1.small``)."""
    key_pair: str
    """Nova key pair for SSH to the gateway. Default: none. SSH reaches the gateway's public
    port only from ``management_cidrs`` (none by default)."""
    dns_nameservers: Sequence[str]
    """DNS servers every subnet's DHCP hands out. Default: none (Neutron's own resolver)."""
    gateway_os_family: str
    """Distribution family of ``image``: ``"debian"`` (Debian and Ubuntu, whose kernels run both
    gateway mirror modes) or ``"rhel"`` (RHEL, Rocky, Alma, CentOS Stream: the seeds' CentOS).
    ``"amazon-linux"`` is refused (there is no such image on OpenStack). Default ``"debian"``."""
    network_mtu: int
    """MTU of the four networks cloudtap creates, 1280-9000. Default: not set, so Neutron gives
    them its default for tenant networks; cloudtap reads what that is at preview (the smallest
    ``mtu`` of the project's existing internal networks, else 1450: VXLAN over a 1500-byte
    underlay)."""
    cloud: str
    """Entry of clouds.yaml for the preview-time lookups (external network, MTU, extensions).
    Default: ``OS_CLOUD`` / the ``OS_*`` variables (the program passes ``openstack:cloud``). The
    resources use the pulumi-openstack provider's configuration."""


class OpenStackSensorArgs(SensorArgs, total=False):
    """Arguments of :class:`~components.openstack.sensor.OpenStackSensor`: the cloud-neutral
    ``SensorArgs`` plus OpenStack fields. ``network``, ``image`` and ``flavor`` are required."""

    network: MonitoredOpenStackNetwork
    """Required. The :class:`MonitoredOpenStackNetwork` (or its design) the sensor lives in."""
    image: str
    """Required. Glance image, by name or id (an id when ``log_volume_size_gb`` is set: the log
    volume is attached at boot, next to a root disk made from the image)."""
    flavor: str
    """Required. Nova flavor, by name or id."""
    private_ip: str
    """The monitor port's fixed address, a usable host of the monitor subnet. Default: the
    network's ``gateway_mirror.sensor_address`` when the mirror is on, else the subnet's .10."""
    key_pair: str
    """Nova key pair for SSH, which reaches the sensor on its management port only, from the
    management tier. Default: none."""
    os_family: str
    """Distribution family of ``image``: ``"debian"`` (default) or ``"rhel"``."""
    log_volume_size_gb: int
    """Size of a Cinder volume for logs, 1-16384, formatted at first boot with the label
    ``cloudtap-logs`` and mounted by label at ``log_mount_point``. Default: none."""
    log_volume_type: str
    """Cinder volume type of the log volume: on OpenStack, encryption at rest is a property of
    the volume type the operator offers (ask for an encrypted one, e.g. ``LUKS``). Default: the
    cloud's default type."""


NETWORK_FIELDS: Final = frozenset(OpenStackNetworkArgs.__annotations__)
"""Every field of the network, the cloud-neutral ones included."""
OWN_NETWORK_FIELDS: Final = NETWORK_FIELDS - frozenset(NetworkArgs.__annotations__)
"""The fields OpenStack adds to ``NetworkArgs`` (the lab names them as not modelled)."""
SENSOR_FIELDS: Final = frozenset(OpenStackSensorArgs.__annotations__)
OWN_SENSOR_FIELDS: Final = SENSOR_FIELDS - frozenset(SensorArgs.__annotations__)
