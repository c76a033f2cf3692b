"""Cloud-neutral vocabulary of mirroring: feeds, methods and the gateway mirror's settings.

Pure Python. Each cloud module maps these onto its own mirroring service; the gateway mirror is
the same everywhere because the gateway script is.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypedDict

from .errors import CloudtapInputError
from .fields import parse_enum, parse_host_in, parse_int, reject_unknown_fields

VXLAN_PORT = 4789
GENEVE_PORT = 6081
# VXLAN network identifiers are 24 bits; 0 is avoided because some receivers treat it as "none".
VNI_MIN = 1
VNI_MAX = 16_777_215
DEFAULT_GATEWAY_VNI = 4242
# The host offset of a sensor's default address in its monitor subnet (.10 in a /20).
DEFAULT_SENSOR_HOST_OFFSET = 10
FLEET_LOAD_BALANCER_HOST_OFFSET = 11
"""The host offset of a sensor fleet's Network Load Balancer in each monitor subnet (.11): past
AWS's four reserved first addresses (.0-.3), clear of the default sensor (.10), and below the
last address (reserved) of even a /28 (.15), so every subnet the network plan accepts holds it.
Fixed, so the gateway mirror can be told where its zone's load balancer listens before it exists."""
VXLAN_OVERHEAD = 50
"""Bytes a VXLAN copy adds to the IPv4 packet it copies: outer IPv4 (20), UDP (8), VXLAN (8) and
the copy's own Ethernet header (14). The gateway script's ``VXLAN_OVERHEAD`` is the same."""
TCP_IPV4_HEADERS = 40
"""IPv4 and TCP headers without options: a segment is at most its MSS plus these."""
FORWARDED_MTU = 1500
"""The largest packets the gateway forwards: it carries traffic between the private tier and the
internet (whose path MTU is 1500), never between instances of the network."""
MSS_MIN = 536
"""The smallest MSS every IPv4 host must accept (RFC 9293); a clamp below it breaks TCP."""
MSS_MAX = 65_495
"""The largest MSS an IPv4 packet can carry (65535 minus the headers)."""
DEFAULT_HEARTBEAT_INTERVAL = 10
HEARTBEAT_INTERVAL_MAX = 3600
HEARTBEAT_MISSED = 3
"""Heartbeats a sensor may miss in a row before its check names the gateway mirror silent."""


class Encapsulation(StrEnum):
    """How a copy travels to a sensor. A sensor decapsulates all of them onto one interface."""

    VXLAN = "vxlan"
    """UDP 4789: AWS Traffic Mirroring, Azure virtual network TAP and the gateway mirror."""
    GENEVE = "geneve"
    """UDP 6081: what an AWS Gateway Load Balancer sends its appliances."""
    GRE = "gre"
    """GRE transparent Ethernet bridging: OpenStack tap mirrors of type gre."""
    ERSPAN = "erspan"
    """ERSPAN type II over GRE: OpenStack tap mirrors of type erspanv1."""


class MirrorMethod(StrEnum):
    """Which mechanism copies a source's packets."""

    AUTO = "auto"
    """The cloud's own mirroring where the source supports it, the gateway mirror for the rest."""
    NATIVE = "native"
    """The cloud's own mirroring only; a source that does not support it is an error."""
    GATEWAY = "gateway"
    """The monitored network's gateway copies what it forwards (north-south traffic only)."""
    HOST = "host"
    """The source copies its own traffic (:class:`~components.host_feeds.HostFeeds`): for
    sources the cloud cannot mirror and no gateway sees. Whoever controls the host can switch
    it off."""


class GatewayMirrorMode(StrEnum):
    """How the gateway delivers its copies."""

    VXLAN = "vxlan"
    """Encapsulated to the sensor's own address (UDP 4789). Required on routed clouds (AWS,
    Azure, OpenStack with port security), where a plain clone never reaches the sensor."""
    TEE = "tee"
    """A plain clone with the sensor as next hop (like ``iptables -j TEE``). Only on a
    true layer-2 segment with port security off."""


class GatewayMirrorArgs(TypedDict, total=False):
    """The gateway's own mirror: a copy of everything it forwards, both directions."""

    sensor_address: str
    """IPv4 address of the sensor that receives the copies; a usable address in a monitor-tier
    subnet. Default: the monitor tier's first subnet's .10 (the default address of a Sensor)."""
    mode: str
    """``"vxlan"`` (default) or ``"tee"``; see :class:`GatewayMirrorMode`."""
    vni: int
    """VXLAN network identifier of the copies, 1-16777215. Default 4242."""
    clamp_mss: bool | int
    """Clamp the MSS of TCP connections the gateway forwards so that their VXLAN copies (50 bytes
    bigger) cross the network to the sensor whole. Default: on where the network carries less
    than a full-size (1500-byte) packet plus 50, at that MTU minus 90 (1410 on a 1500-byte
    network); off on AWS's 9001. ``true`` forces it on at that value, ``false`` off, a number
    536-65495 sets the MSS itself. Only the ``vxlan`` mode encapsulates, so only it clamps."""
    heartbeat_interval: int
    """Seconds between the mirror's heartbeats, 1-3600. Default 10. The gateway sends a marked
    datagram through its own copy path at this interval; the sensor drops it before it is
    decapsulated and its check fails, naming the gateway, after three missed in a row."""
    to_fleet: bool
    """Send the copies to a ``SensorFleet`` behind a Network Load Balancer (AWS only): each
    gateway to the load balancer's fixed address in its own zone's monitor subnet (the subnet's
    .11, :data:`FLEET_LOAD_BALANCER_HOST_OFFSET`) instead of to one ``sensor_address``. Default
    false; not with ``sensor_address`` or ``mode: tee``. The fleet's sensors expect no
    per-gateway heartbeats (the load balancer hands each gateway's to one sensor)."""


@dataclass(frozen=True)
class GatewayMirror:
    sensor_address: ipaddress.IPv4Address
    mode: GatewayMirrorMode
    vni: int
    clamp_mss: bool | int | None = None
    """As given: ``None`` (automatic, from the network's MTU), ``True``, ``False`` or an MSS."""
    heartbeat_interval: int = DEFAULT_HEARTBEAT_INTERVAL
    zone_destinations: tuple[ipaddress.IPv4Address, ...] = ()
    """With ``to_fleet``: where each zone's gateway sends, in zone order (the fleet's load
    balancer address in that zone's monitor subnet); ``sensor_address`` is the first. Empty: every
    gateway sends to ``sensor_address``."""

    @property
    def to_fleet(self) -> bool:
        return bool(self.zone_destinations)


def parse_clamp_mss(field: str, value: Any, mode: GatewayMirrorMode) -> bool | int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        clamp: bool | int = value
    elif isinstance(value, int) and MSS_MIN <= value <= MSS_MAX:
        clamp = value
    else:
        raise CloudtapInputError(field, value, f"true, false or an MSS from {MSS_MIN} to {MSS_MAX}")
    if clamp is not False and mode is not GatewayMirrorMode.VXLAN:
        raise CloudtapInputError(
            field, value, "false or nothing: only the vxlan mode encapsulates (and so clamps)"
        )
    return clamp


def clamped_mss(mirror: GatewayMirror | None, underlay_mtu: int | None) -> int | None:
    """The MSS the gateway clamps forwarded TCP to, or ``None`` for no clamp.

    Automatic (``clamp_mss`` not given): on where the network's MTU is below a full-size
    forwarded packet's copy, at the largest MSS whose copies still fit; off where the MTU is not
    known (nothing is assumed). ``True`` needs the MTU to derive the value from.
    """
    if mirror is None or mirror.mode is not GatewayMirrorMode.VXLAN or mirror.clamp_mss is False:
        return None
    if not isinstance(mirror.clamp_mss, bool) and isinstance(mirror.clamp_mss, int):
        return mirror.clamp_mss
    if underlay_mtu is None:
        if mirror.clamp_mss is True:
            raise CloudtapInputError(
                "underlay_mtu",
                underlay_mtu,
                "the network's MTU, from which gateway_mirror.clamp_mss: true derives the MSS",
            )
        return None
    fitting = underlay_mtu - VXLAN_OVERHEAD - TCP_IPV4_HEADERS
    if mirror.clamp_mss is True or underlay_mtu < FORWARDED_MTU + VXLAN_OVERHEAD:
        return fitting
    return None


def parse_vni(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not VNI_MIN <= value <= VNI_MAX:
        raise CloudtapInputError(
            field, value, f"a VXLAN network identifier from {VNI_MIN} to {VNI_MAX}"
        )
    return value


def default_sensor_address(monitor_subnet: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    """Where a sensor lives unless told otherwise: fixed, so the gateway can be told at boot."""
    return monitor_subnet.network_address + DEFAULT_SENSOR_HOST_OFFSET


def fleet_load_balancer_address(monitor_subnet: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    """Where a sensor fleet's Network Load Balancer listens in ``monitor_subnet``."""
    return monitor_subnet.network_address + FLEET_LOAD_BALANCER_HOST_OFFSET


def plan_gateway_mirror(
    args: Any,
    monitor_subnets: tuple[ipaddress.IPv4Network, ...],
    field: str = "gateway_mirror",
    *,
    fleets: bool = False,
) -> GatewayMirror | None:
    """Validate ``GatewayMirrorArgs``; ``None`` (the default) means the gateway copies nothing.
    ``fleets``: the cloud has sensor fleets (AWS), so ``to_fleet`` may be true."""
    if args is None:
        return None
    if not isinstance(args, Mapping):
        raise CloudtapInputError(field, args, "a mapping such as {sensor_address: 10.0.128.10}")
    reject_unknown_fields(args, GatewayMirrorArgs.__annotations__, field)
    text = args.get("sensor_address")
    address = (
        default_sensor_address(monitor_subnets[0])
        if text is None
        else parse_host_in(f"{field}.sensor_address", text, monitor_subnets, "monitor")
    )
    mode_text = args.get("mode", GatewayMirrorMode.VXLAN.value)
    mode = parse_enum(f"{field}.mode", mode_text, GatewayMirrorMode)
    vni = parse_vni(f"{field}.vni", args.get("vni", DEFAULT_GATEWAY_VNI))
    clamp = parse_clamp_mss(f"{field}.clamp_mss", args.get("clamp_mss"), mode)
    interval = parse_int(
        f"{field}.heartbeat_interval",
        args.get("heartbeat_interval", DEFAULT_HEARTBEAT_INTERVAL),
        1,
        HEARTBEAT_INTERVAL_MAX,
    )
    to_fleet = args.get("to_fleet", False)
    if not isinstance(to_fleet, bool):
        raise CloudtapInputError(f"{field}.to_fleet", to_fleet, "true or false")
    if not to_fleet:
        return GatewayMirror(address, mode, vni, clamp, interval)
    if not fleets:
        raise CloudtapInputError(
            f"{field}.to_fleet", to_fleet, "false: sensor fleets exist on AWS only"
        )
    if text is not None:
        raise CloudtapInputError(
            f"{field}.sensor_address",
            text,
            "no value with to_fleet: each gateway sends to its own zone's fleet load balancer",
        )
    if mode is not GatewayMirrorMode.VXLAN:
        raise CloudtapInputError(
            f"{field}.mode",
            mode.value,
            "vxlan with to_fleet: a load balancer takes encapsulated copies, never clones",
        )
    destinations = tuple(fleet_load_balancer_address(subnet) for subnet in monitor_subnets)
    return GatewayMirror(destinations[0], mode, vni, clamp, interval, destinations)
