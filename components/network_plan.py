"""Cloud-neutral plan of a monitored network: tiers, subnet CIDRs and port forwards.

Pure Python (no cloud SDK): the arguments a user writes are validated and resolved once into a
frozen :class:`NetworkPlan`; the cloud components build from the plan only.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypedDict

from .errors import CloudtapInputError
from .fields import parse_enum, parse_host_in, parse_int, parse_network, reject_unknown_fields
from .mirroring import GatewayMirror, GatewayMirrorArgs, plan_gateway_mirror

DEFAULT_CIDR_BLOCK = "10.0.0.0/16"
DEFAULT_AVAILABILITY_ZONE_COUNT = 2
# Derived subnets get this many bits more than the VPC (a /16 gives /20s): four tiers times four
# AZ slots. The slots are reserved even when fewer AZs are used, so growing from 2 to 3 AZs adds
# subnets and never moves an existing one (moving a subnet replaces it and everything inside).
DEFAULT_SUBNET_EXTRA_BITS = 4
# AWS accepts VPCs and subnets from /16 to /28; Azure and OpenStack accept these too.
LARGEST_PREFIX = 16
SMALLEST_PREFIX = 28
SSH_PORT = 22


class Tier(StrEnum):
    """The four tiers of a monitored network. Their order fixes derived CIDRs: never reorder."""

    PUBLIC = "public"
    """Internet-facing: the gateway lives here; default route to the internet gateway."""
    PRIVATE = "private"
    """Workloads: default route through the gateway, which masquerades and mirrors them."""
    MONITOR = "monitor"
    """Sensors (a DMZ): reach the internet through the gateway, never the private tier."""
    MANAGEMENT = "management"
    """Out-of-band administration: nothing routes to or from the other tiers."""


# The four tiers take two bits of the network: the smallest network holds four smallest subnets.
TIER_BITS = (len(Tier) - 1).bit_length()
SMALLEST_NETWORK_PREFIX = SMALLEST_PREFIX - TIER_BITS


class Protocol(StrEnum):
    """Transport protocols a port forward may publish."""

    TCP = "tcp"
    UDP = "udp"


class PortForwardArgs(TypedDict, total=False):
    """A service published through the gateway (DNAT on its public address)."""

    protocol: str
    """``"tcp"`` (default) or ``"udp"``."""
    public_port: int
    """Required. Port on the gateway's public address, 1-65535; 22 is refused (SSH is never
    forwarded: manage hosts through SSM or the management tier)."""
    private_host: str
    """Required. IPv4 address of the server; must be a usable address in a private-tier subnet."""
    private_port: int
    """Port on the server. Default: ``public_port``."""


class NetworkArgs(TypedDict, total=False):
    """Addressing of a monitored network. Every field is optional."""

    cidr_block: str
    """IPv4 CIDR of the whole network, /16 to /26 (four tiers of at least a /28 each). Default
    ``10.0.0.0/16``."""
    availability_zone_count: int
    """Zones to spread every tier over, one subnet per tier per zone. Default 2."""
    subnet_prefix_length: int
    """Prefix length of derived subnets. Default: the VPC's plus 4 (a /16 gives /20s), at most
    /28. Ignored when ``subnet_cidrs`` is given."""
    subnet_cidrs: Mapping[str, Sequence[str]]
    """Explicit subnets: for each of ``public``, ``private``, ``monitor`` and ``management``,
    one CIDR per zone. Default: derived from ``cidr_block`` (see the README's address plan)."""
    port_forwards: Sequence[PortForwardArgs]
    """Services published through the gateway. Default: none."""
    management_cidrs: Sequence[str]
    """Networks allowed to reach the gateway (and sensors) over SSH. Default: none, which means
    SSH is closed and hosts are managed through SSM; 0.0.0.0/0 and other very wide networks are
    refused."""
    gateway_mirror: GatewayMirrorArgs
    """Make the gateway copy everything it forwards, both directions, to a sensor (for sources
    the cloud cannot mirror). Default: off. ``{}`` turns it on with every default."""


@dataclass(frozen=True)
class PortForward:
    protocol: Protocol
    public_port: int
    private_host: ipaddress.IPv4Address
    private_port: int


@dataclass(frozen=True)
class NetworkPlan:
    """Validated addressing: what every cloud module builds from."""

    cidr_block: ipaddress.IPv4Network
    subnets: Mapping[Tier, tuple[ipaddress.IPv4Network, ...]]
    port_forwards: tuple[PortForward, ...]
    management_cidrs: tuple[ipaddress.IPv4Network, ...]
    gateway_mirror: GatewayMirror | None = None

    @property
    def availability_zone_count(self) -> int:
        return len(self.subnets[Tier.PUBLIC])

    def cidrs(self, *tiers: Tier) -> tuple[ipaddress.IPv4Network, ...]:
        return tuple(cidr for tier in tiers for cidr in self.subnets[tier])

    def tier_of(self, address: ipaddress.IPv4Address) -> Tier | None:
        for tier, cidrs in self.subnets.items():
            if any(address in cidr for cidr in cidrs):
                return tier
        return None


NETWORK_FIELDS = frozenset(NetworkArgs.__annotations__)
_PORT_FORWARD_FIELDS = frozenset(PortForwardArgs.__annotations__)


def derive_subnets(
    cidr_block: ipaddress.IPv4Network, zone_count: int, prefix_length: int
) -> dict[Tier, tuple[ipaddress.IPv4Network, ...]]:
    """Carve the block into four tier ranges, each with a fixed number of zone slots."""
    slots = list(cidr_block.subnets(new_prefix=prefix_length))
    slots_per_tier = len(slots) // len(Tier)
    if slots_per_tier < 1:
        raise CloudtapInputError(
            "subnet_prefix_length",
            prefix_length,
            f"from /{cidr_block.prefixlen + TIER_BITS} to /{SMALLEST_PREFIX}: the four tiers "
            f"need four subnets of cidr_block /{cidr_block.prefixlen}, so at least {TIER_BITS} "
            "bits more than it",
        )
    if zone_count > slots_per_tier:
        raise CloudtapInputError(
            "availability_zone_count",
            zone_count,
            f"at most {slots_per_tier}: four tiers of /{prefix_length} subnets leave room for "
            f"{slots_per_tier} zone(s) in {cidr_block}; use a larger cidr_block, a longer "
            "subnet_prefix_length or explicit subnet_cidrs",
        )
    return {
        tier: tuple(slots[index * slots_per_tier + zone] for zone in range(zone_count))
        for index, tier in enumerate(Tier)
    }


def _explicit_subnets(
    cidr_block: ipaddress.IPv4Network, zone_count: int, given: Any
) -> dict[Tier, tuple[ipaddress.IPv4Network, ...]]:
    if not isinstance(given, Mapping):
        raise CloudtapInputError("subnet_cidrs", given, "a mapping of tier name to CIDR list")
    tier_names = [tier.value for tier in Tier]
    reject_unknown_fields(given, tier_names, "subnet_cidrs")
    subnets: dict[Tier, tuple[ipaddress.IPv4Network, ...]] = {}
    for tier in Tier:
        field = f"subnet_cidrs.{tier.value}"
        cidrs = given.get(tier.value)
        if isinstance(cidrs, str) or not isinstance(cidrs, Sequence) or len(cidrs) != zone_count:
            raise CloudtapInputError(
                field, cidrs, f"a list of {zone_count} CIDR(s), one per availability zone"
            )
        parsed = []
        for zone, text in enumerate(cidrs):
            cidr = parse_network(f"{field}[{zone}]", text)
            if not cidr.subnet_of(cidr_block):
                raise CloudtapInputError(f"{field}[{zone}]", text, f"a subnet inside {cidr_block}")
            if cidr.prefixlen > SMALLEST_PREFIX:
                raise CloudtapInputError(
                    f"{field}[{zone}]", text, f"a prefix of /{SMALLEST_PREFIX} or shorter"
                )
            parsed.append(cidr)
        subnets[tier] = tuple(parsed)
    _reject_overlaps(subnets)
    return subnets


def _reject_overlaps(subnets: Mapping[Tier, Sequence[ipaddress.IPv4Network]]) -> None:
    named = [
        (f"subnet_cidrs.{tier.value}[{zone}]", cidr)
        for tier, cidrs in subnets.items()
        for zone, cidr in enumerate(cidrs)
    ]
    for i, (field, cidr) in enumerate(named):
        for other_field, other in named[i + 1 :]:
            if cidr.overlaps(other):
                raise CloudtapInputError(
                    other_field, str(other), f"a subnet that does not overlap {field} ({cidr})"
                )


def _port_forward(
    index: int, raw: Any, subnets: Mapping[Tier, Sequence[ipaddress.IPv4Network]]
) -> PortForward:
    field = f"port_forwards[{index}]"
    if not isinstance(raw, Mapping):
        raise CloudtapInputError(field, raw, "a mapping with public_port and private_host")
    reject_unknown_fields(raw, _PORT_FORWARD_FIELDS, field)
    protocol_text = raw.get("protocol", Protocol.TCP.value)
    protocol = parse_enum(f"{field}.protocol", protocol_text, Protocol)
    if "public_port" not in raw:
        raise CloudtapInputError(f"{field}.public_port", None, "a port from 1 to 65535")
    public_port = parse_int(f"{field}.public_port", raw["public_port"], 1, 65535)
    private_port = parse_int(
        f"{field}.private_port", raw.get("private_port", public_port), 1, 65535
    )
    for port_field, port in (("public_port", public_port), ("private_port", private_port)):
        # UDP 22 is not SSH, but "never port 22 from the world" is easier to audit than nuances.
        if port == SSH_PORT:
            raise CloudtapInputError(
                f"{field}.{port_field}",
                port,
                "any port but 22: SSH is never forwarded through the gateway; manage hosts "
                "through SSM Session Manager or from management_cidrs",
            )
    host = parse_host_in(
        f"{field}.private_host", raw.get("private_host"), subnets[Tier.PRIVATE], "private"
    )
    return PortForward(protocol, public_port, host, private_port)


def _management_cidr(index: int, text: Any) -> ipaddress.IPv4Network:
    field = f"management_cidrs[{index}]"
    cidr = parse_network(field, text)
    if cidr.prefixlen < 8:
        raise CloudtapInputError(
            field,
            text,
            "the specific networks your administrators connect from (prefix /8 or longer): "
            "SSH is never open to the world; leave management_cidrs empty to use SSM only",
        )
    return cidr


def _sequence(field: str, value: Any) -> Sequence[Any]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise CloudtapInputError(field, value, "a list")
    return value


def plan_network(args: Mapping[str, Any] | None = None, *, fleets: bool = False) -> NetworkPlan:
    """Validate ``NetworkArgs`` (other keys are the caller's to check) and resolve defaults.
    ``fleets``: the cloud has sensor fleets (AWS), which ``gateway_mirror.to_fleet`` needs."""
    args = args or {}
    cidr_block = parse_network("cidr_block", args.get("cidr_block", DEFAULT_CIDR_BLOCK))
    if not LARGEST_PREFIX <= cidr_block.prefixlen <= SMALLEST_PREFIX:
        raise CloudtapInputError(
            "cidr_block",
            str(cidr_block),
            f"a prefix from /{LARGEST_PREFIX} to /{SMALLEST_PREFIX}",
        )
    if cidr_block.prefixlen > SMALLEST_NETWORK_PREFIX:
        raise CloudtapInputError(
            "cidr_block",
            str(cidr_block),
            f"a prefix of at most /{SMALLEST_NETWORK_PREFIX}: /{SMALLEST_NETWORK_PREFIX} is the "
            f"smallest network that holds the four tiers, one /{SMALLEST_PREFIX} subnet each "
            f"(/{SMALLEST_PREFIX} is the smallest subnet the clouds accept)",
        )
    zone_count = parse_int(
        "availability_zone_count",
        args.get("availability_zone_count", DEFAULT_AVAILABILITY_ZONE_COUNT),
        1,
        16,
    )
    if "subnet_cidrs" in args and args["subnet_cidrs"] is not None:
        subnets = _explicit_subnets(cidr_block, zone_count, args["subnet_cidrs"])
    else:
        default_prefix = min(cidr_block.prefixlen + DEFAULT_SUBNET_EXTRA_BITS, SMALLEST_PREFIX)
        prefix = parse_int(
            "subnet_prefix_length",
            args.get("subnet_prefix_length", default_prefix),
            cidr_block.prefixlen,
            SMALLEST_PREFIX,
        )
        subnets = derive_subnets(cidr_block, zone_count, prefix)

    forwards = [
        _port_forward(i, raw, subnets)
        for i, raw in enumerate(_sequence("port_forwards", args.get("port_forwards")))
    ]
    seen: dict[tuple[Protocol, int], int] = {}
    for i, forward in enumerate(forwards):
        key = (forward.protocol, forward.public_port)
        if key in seen:
            raise CloudtapInputError(
                f"port_forwards[{i}].public_port",
                forward.public_port,
                f"a port not already published by port_forwards[{seen[key]}] "
                f"({forward.protocol.value})",
            )
        seen[key] = i

    management = tuple(
        _management_cidr(i, text)
        for i, text in enumerate(_sequence("management_cidrs", args.get("management_cidrs")))
    )
    mirror = plan_gateway_mirror(args.get("gateway_mirror"), subnets[Tier.MONITOR], fleets=fleets)
    return NetworkPlan(cidr_block, subnets, tuple(forwards), management, mirror)
