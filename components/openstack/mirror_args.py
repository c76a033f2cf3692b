"""Arguments of the OpenStack mirror session, apart from the component so that other clouds'
sessions can name (and refuse) OpenStack's fields without loading pulumi-openstack."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Final, TypedDict

import pulumi

from ..mirror_host_feed import MirrorHostFeedArgs

if TYPE_CHECKING:
    from .monitored_network import MonitoredOpenStackNetwork
    from .sensor import OpenStackSensor


class MirrorBackend(StrEnum):
    """Which Tap-as-a-Service objects copy the sources' packets."""

    TAP_MIRROR = "tap_mirror"
    """One tap mirror per source port (``TaasTapMirrorV2``, extension ``tap-mirror``): copies
    tunnelled over GRE or ERSPAN v1 to ``target.sensor_ip``. Nothing to set up on the sensor's
    port; the sensor decapsulates (cloudtap sensors accept ``gre`` and ``erspan`` feeds)."""
    TAP_SERVICE = "tap_service"
    """Classic TaaS (extension ``taas``): one tap service on the sensor's monitor port, one tap
    flow per source port. Copies arrive as plain frames on the monitor port, whose port security
    must be off. Neutron's default quotas: 1 tap service and 10 tap flows per project."""


class MonitorPortArgs(TypedDict, total=False):
    """A monitor port cloudtap creates: port security off, no security groups."""

    network_id: pulumi.Input[str]
    """Required. Neutron network of the port (the sensor's monitor network)."""
    subnet_id: pulumi.Input[str]
    """Subnet of the port's address. Default: Neutron picks one of the network's subnets."""
    fixed_ip: str
    """IPv4 address of the port in ``subnet_id`` (required with it). Default: Neutron picks."""
    instance_id: pulumi.Input[str]
    """Nova server id of the sensor: the port is attached to it (``compute.InterfaceAttach``)
    before the tap service is created. Default: not attached; attach the exported port yourself
    (the tap service stays ``DOWN`` until the port is bound)."""


class MirrorTargetArgs(TypedDict, total=False):
    """Where copies go: exactly one field, the one the backend uses."""

    sensor_ip: str
    """``tap_mirror``: IPv4 address of the sensor terminating the tunnels (the tap mirrors'
    ``remote_ip``). The tunnels start on the compute nodes hosting the sources: the address must
    be reachable from them, and the sensor must accept GRE (IP protocol 47) from them. The AWS
    facade's ``network_interface_id``, by address."""
    port_id: pulumi.Input[str]
    """``tap_service``: the sensor's existing monitor port (UUID). TaaS needs its port security
    off; cloudtap checks that at preview with one Neutron call when the id is plain text
    (``openstack port set --no-security-group --disable-port-security <id>`` turns it off)."""
    monitor_port: MonitorPortArgs
    """``tap_service``: create the monitor port, port security off (see
    :class:`MonitorPortArgs`)."""
    sensor: OpenStackSensor
    """A cloudtap :class:`~components.openstack.sensor.OpenStackSensor` (or its plan) on the
    session's ``network``: its monitor address for tap mirrors, its monitor port (port security
    off) for a tap service, and the gateway mirror's sensor. The program's default target."""


class MirrorSourceArgs(TypedDict, total=False):
    """One source: an existing Neutron port."""

    name: str
    """Stable key in its child's name (``{component}-{name}``) and, for ``tap_mirror``, of its
    tunnel ids. 1-63 letters, digits, '.', '_' or '-'. Default: ``port_id``. Required when
    ``port_id`` is a ``pulumi.Output``."""
    port_id: pulumi.Input[str]
    """Required. Neutron id (UUID) of the port whose packets are copied (a VM's port)."""
    direction: str
    """``"IN"``, ``"OUT"`` or ``"BOTH"``. Default: the session's ``direction``."""
    vlan_filter: str
    """``tap_service`` only: VLAN ids such as ``"1-5,9"``. Default: the session's."""


class MirrorSessionArgs(TypedDict, total=False):
    """Arguments of :class:`MirrorSession`. ``target`` and ``sources`` are required."""

    network: MonitoredOpenStackNetwork
    """The :class:`~components.openstack.monitored_network.MonitoredOpenStackNetwork` (or its
    design) whose gateway copies what Tap-as-a-Service cannot. Default: none (existing ports
    mirrored to an existing sensor, ``method`` native only)."""
    target: MirrorTargetArgs
    """Required. Exactly one field, the one ``backend`` uses."""
    sources: Sequence[MirrorSourceArgs]
    """Required, at least one; no port twice, never the monitor port."""
    method: str
    """``"auto"``: per source, Tap-as-a-Service where the cloud's Neutron has it (extension
    ``tap-mirror``, else ``taas``, discovered at preview), else the network's gateway mirror.
    ``"native"``: Tap-as-a-Service only; a cloud with neither extension fails the preview.
    ``"gateway"``: the gateway mirror only (needs ``network`` with ``gateway_mirror`` on).
    ``"host"`` (with ``host_feed``): each source copies itself. ``auto`` chooses ``host`` too,
    with ``host_feed``, where the cloud has no Tap-as-a-Service and the network no gateway
    mirror. Default: ``"auto"`` with ``network``, ``"native"`` without."""
    host_feed: MirrorHostFeedArgs
    """Host feeds for the sources decided ``host``: ``host_feeds.user_data_parts`` by source
    for their user data; the sensor's security group must admit ``host_feeds.firewall_rule``
    (said in the preview). Default: none, ``host`` refused."""
    backend: str
    """``"tap_mirror"`` or ``"tap_service"``; see :class:`MirrorBackend`. Default: with
    ``network``, the one the cloud has (``tap_mirror`` first); without, ``tap_mirror``."""
    direction: str
    """What each source copies: ``"IN"`` (what the port receives), ``"OUT"`` (what it sends) or
    ``"BOTH"`` (default). A tap mirror makes one tunnel per direction."""
    mirror_type: str
    """``tap_mirror`` only: ``"gre"`` (default; 32-bit keys) or ``"erspanv1"`` (ERSPAN type II,
    10-bit session ids: at most 511 sources from id 1)."""
    first_tunnel_id: int
    """``tap_mirror`` only: the first tunnel id of this session's block. Default 1. Neutron wants
    every tap mirror of the project on distinct ids: give each stack or session of one project
    its own block (this one uses ``first_tunnel_id`` to ``first_tunnel_id + 2 * sources - 1``)."""
    vlan_filter: str
    """``tap_service`` only: copy only these VLANs, such as ``"1-5,9"`` (needs the
    ``taas-vlan-filter`` extension). Default: all traffic."""
    cloud: str
    """Entry of clouds.yaml for the tap service and flows and the preview-time port check.
    Default: ``OS_CLOUD`` / the ``OS_*`` variables (the program passes ``openstack:cloud``).
    Tap mirrors and the monitor port use the pulumi-openstack provider's configuration."""


FIELDS: Final = frozenset(MirrorSessionArgs.__annotations__)
TARGET_FIELDS: Final = tuple(MirrorTargetArgs.__annotations__)
MONITOR_PORT_FIELDS: Final = frozenset(MonitorPortArgs.__annotations__)
SOURCE_FIELDS: Final = frozenset(MirrorSourceArgs.__annotations__)


# The names ``components`` exports next to the other clouds'.
OpenStackMirrorSessionArgs = MirrorSessionArgs
OpenStackMirrorBackend = MirrorBackend
