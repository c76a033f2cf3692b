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
from .fields import parse_enum, parse_host_in, reject_unknown_fields

VXLAN_PORT = 4789
GENEVE_PORT = 6081
# VXLAN network identifiers are 24 bits; 0 is avoided because some receivers treat it as "none".
VNI_MIN = 1
VNI_MAX = 16_777_215
DEFAULT_GATEWAY_VNI = 4242
# The host offset of a sensor's default address in its monitor subnet (.10 in a /20).
DEFAULT_SENSOR_HOST_OFFSET = 10


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


@dataclass(frozen=True)
class GatewayMirror:
    sensor_address: ipaddress.IPv4Address
    mode: GatewayMirrorMode
    vni: int


def parse_vni(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not VNI_MIN <= value <= VNI_MAX:
        raise CloudtapInputError(
            field, value, f"a VXLAN network identifier from {VNI_MIN} to {VNI_MAX}"
        )
    return value


def default_sensor_address(monitor_subnet: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    """Where a sensor lives unless told otherwise: fixed, so the gateway can be told at boot."""
    return monitor_subnet.network_address + DEFAULT_SENSOR_HOST_OFFSET


def plan_gateway_mirror(
    args: Any,
    monitor_subnets: tuple[ipaddress.IPv4Network, ...],
    field: str = "gateway_mirror",
) -> GatewayMirror | None:
    """Validate ``GatewayMirrorArgs``; ``None`` (the default) means the gateway copies nothing."""
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
    return GatewayMirror(address, mode, vni)
