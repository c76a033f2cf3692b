"""Cloud-neutral planning of a mirror session: which way each source is copied, and what is copied.

Pure Python (no cloud SDK, no Pulumi): the AWS ``MirrorSession`` builds from it today, and the
Azure virtual network TAP and OpenStack Tap-as-a-Service fronts reuse it.

Two rules keep every packet copied once:

- **No loops.** A copy travels as VXLAN (UDP 4789) or GENEVE (UDP 6081). The filter never
  copies those ports, either direction, so a source that also carries a feed (the gateway, a
  sensor, a relay) never has its copies copied again.
- **No duplicates with the gateway mirror.** The gateway copies everything it forwards, which is
  every packet whose other end is outside the network (north-south). A natively mirrored source
  whose traffic crosses the gateway therefore only needs its traffic whose other end is *inside*
  the network (east-west): the filter of such sources accepts only that.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .errors import CloudtapInputError
from .fields import parse_enum, parse_int, parse_network
from .mirroring import GENEVE_PORT, VXLAN_PORT, GatewayMirror, MirrorMethod
from .network_plan import NetworkPlan, Tier
from .shapes import check_source_name

ANYWHERE = ipaddress.IPv4Network("0.0.0.0/0")
TCP = 6
UDP = 17


class FilterPreset(StrEnum):
    """Named ways to copy less. Each adds reject rules ahead of the final accept."""

    DROP_INTRA_VPC = "drop_intra_vpc"
    """Do not copy traffic whose other end is inside the network (east-west): the sensor sees
    only what enters or leaves. Needs the network; refused together with the gateway mirror,
    whose native sessions copy *only* east-west traffic (nothing would be left)."""
    DROP_HEALTH_CHECKS = "drop_health_checks"
    """Do not copy traffic between a source and ``health_check_cidrs`` (default: the public
    tier's subnets, where load balancers live). With ``health_check_port`` only TCP to and from
    that port on the source is dropped; without it, *everything* exchanged with those networks
    is dropped, including requests a load balancer proxies."""


class FilterScope(StrEnum):
    """What a filter accepts after the rejects."""

    ALL = "all"
    """Every packet (but the mirror feeds themselves)."""
    EAST_WEST = "east-west"
    """Only packets whose other end is inside the network: the gateway mirror copies the rest."""


class Direction(StrEnum):
    INGRESS = "ingress"
    """Packets arriving at the source."""
    EGRESS = "egress"
    """Packets the source sends."""


class Action(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"


@dataclass(frozen=True)
class FilterRule:
    """One rule, in the source's terms: the *remote* end is the other party of the packet."""

    key: str
    """Stable, unique within its filter and direction: part of the rule's child name."""
    order: int
    """Evaluation order, lowest first; the first matching rule decides."""
    direction: Direction
    action: Action
    remote: ipaddress.IPv4Network
    protocol: int | None = None
    """IANA protocol number; ``None`` for every protocol."""
    local_port: int | None = None
    """Port on the source's side (TCP/UDP only)."""
    remote_port: int | None = None
    """Port on the remote side (TCP/UDP only)."""
    description: str = ""


@dataclass(frozen=True)
class MirrorInterface:
    """One interface of a source, as the cloud names it."""

    id: Any
    """The cloud's id (``eni-...``), or a deferred value when the interface is created by the
    same program."""
    key: str
    """Stable suffix of child names (``"1"`` for the first/primary interface)."""
    address: ipaddress.IPv4Address | None = None
    """Its private address when known (discovered), else ``None``."""


@dataclass(frozen=True)
class MirrorSource:
    name: str
    """Stable key, part of child names."""
    instance_type: str
    interfaces: tuple[MirrorInterface, ...]
    instance_id: str | None = None
    discovered: bool = False
    skipped_interfaces: tuple[str, ...] = ()
    """Attached interfaces the cloud cannot mirror (EFA-only, trunk...): named in the preview."""

    @property
    def label(self) -> str:
        return self.instance_id or self.name


@dataclass(frozen=True)
class SourceDecision:
    source: MirrorSource
    method: MirrorMethod
    """``NATIVE`` or ``GATEWAY``, never ``AUTO``."""
    reason: str


HOST_FEED_SWITCH = "it runs on the host itself, so whoever controls the host can switch it off"
"""Said of every source copied by a host feed, in the preview."""


def parse_method(value: Any, field: str = "method", *, host_feeds: bool = False) -> MirrorMethod:
    """The method; ``host`` only where the caller wires host feeds (``host_feeds``)."""
    method = parse_enum(
        field, value if value is not None else MirrorMethod.AUTO.value, MirrorMethod
    )
    if method is MirrorMethod.HOST and not host_feeds:
        raise CloudtapInputError(
            field,
            value,
            "auto, native or gateway without the session's host_feed settings: set host_feed, "
            "or give sources that copy themselves to a HostFeeds component",
        )
    return method


def parse_source_name(field: str, value: Any) -> str:
    """A source's stable key, the same rule on every cloud: see :func:`check_source_name`."""
    return check_source_name(field, value)


def decide(
    method: MirrorMethod,
    source: MirrorSource,
    mirrorable: bool,
    reason: str,
    field: str = "method",
    *,
    gateway_sees: bool = True,
) -> SourceDecision:
    """Native where the cloud can mirror the source (``auto``/``native``), else the gateway, else
    (``auto``, when the gateway does not see the source: ``gateway_sees`` false) a host feed.

    ``native`` with a source the cloud cannot mirror is refused here, naming ``field``; a cloud
    with a more specific error (AWS's ``NonMirrorableInstanceType``) raises it before.
    """
    if method is MirrorMethod.GATEWAY:
        return SourceDecision(source, MirrorMethod.GATEWAY, "method is gateway")
    if method is MirrorMethod.HOST:
        return SourceDecision(source, MirrorMethod.HOST, "method is host")
    if mirrorable:
        return SourceDecision(source, MirrorMethod.NATIVE, reason)
    if method is MirrorMethod.NATIVE:
        raise CloudtapInputError(
            field,
            source.label,
            f"a source the cloud's own mirroring can copy, because method is native: {reason}; "
            "use method auto or gateway to copy it at the gateway",
        )
    if not gateway_sees:
        return SourceDecision(
            source, MirrorMethod.HOST, f"{reason}, and no gateway forwards its traffic"
        )
    return SourceDecision(source, MirrorMethod.GATEWAY, reason)


def preview_line(decision: SourceDecision, *, east_west_only: bool = False) -> str:
    """One line per source for the preview: which way it is copied, and why."""
    source = decision.source
    head = f"{source.label} ({source.instance_type})"
    if decision.method is MirrorMethod.HOST:
        return f"{head}: host feed — {decision.reason}; {HOST_FEED_SWITCH}"
    if decision.method is MirrorMethod.GATEWAY:
        return (
            f"{head}: gateway mirror — {decision.reason}; only traffic crossing the gateway "
            "(north-south) is seen"
        )
    count = len(source.interfaces)
    ids = ", ".join(str(i.id) if isinstance(i.id, str) else f"#{i.key}" for i in source.interfaces)
    line = (
        f"{head}: native mirroring of {count} interface{'s' if count != 1 else ''} ({ids}) — "
        f"{decision.reason}"
    )
    if east_west_only:
        line += (
            "; east-west traffic only, because the gateway mirror already copies everything "
            "crossing the gateway"
        )
    if source.skipped_interfaces:
        line += f"; not mirrorable, skipped: {', '.join(source.skipped_interfaces)}"
    return line


def parse_presets(value: Any, field: str = "filter_presets") -> tuple[FilterPreset, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise CloudtapInputError(field, value, f"a list of {[p.value for p in FilterPreset]}")
    presets: list[FilterPreset] = []
    for index, text in enumerate(value):
        try:
            preset = FilterPreset(text)
        except ValueError:
            raise CloudtapInputError(
                f"{field}[{index}]", text, f"one of {[p.value for p in FilterPreset]}"
            ) from None
        if preset not in presets:
            presets.append(preset)
    return tuple(presets)


def parse_health_check_cidrs(
    value: Any, field: str = "health_check_cidrs"
) -> tuple[ipaddress.IPv4Network, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise CloudtapInputError(field, value, "a non-empty list of CIDRs, e.g. ['10.0.0.0/20']")
    cidrs = []
    for index, text in enumerate(value):
        cidr = parse_network(f"{field}[{index}]", text)
        if cidr.prefixlen < 8:
            raise CloudtapInputError(
                f"{field}[{index}]",
                text,
                "the networks your load balancers live in (prefix /8 or longer): dropping a "
                "wider network drops nearly everything",
            )
        cidrs.append(cidr)
    return tuple(ipaddress.collapse_addresses(cidrs))


def parse_health_check_port(value: Any, field: str = "health_check_port") -> int | None:
    return None if value is None else parse_int(field, value, 1, 65535)


def _both_directions(
    key: str,
    order: int,
    action: Action,
    remote: ipaddress.IPv4Network,
    description: str,
    *,
    protocol: int | None = None,
    ingress_ports: tuple[int | None, int | None] = (None, None),
    egress_ports: tuple[int | None, int | None] = (None, None),
) -> list[FilterRule]:
    """The same rule for packets arriving and leaving; ports as (local, remote)."""
    return [
        FilterRule(key, order, direction, action, remote, protocol, ports[0], ports[1], description)
        for direction, ports in (
            (Direction.INGRESS, ingress_ports),
            (Direction.EGRESS, egress_ports),
        )
    ]


def plan_filter_rules(
    scope: FilterScope,
    *,
    network_cidr: ipaddress.IPv4Network | None,
    presets: Sequence[FilterPreset] = (),
    health_check_cidrs: Sequence[ipaddress.IPv4Network] = (),
    health_check_port: int | None = None,
) -> tuple[FilterRule, ...]:
    """The rules of one filter, rejects first, in evaluation order.

    Orders: 10 VXLAN, 20 GENEVE, 30+ health checks, 50 intra-network, 100 the accept.
    """
    rules: list[FilterRule] = []
    for key, order, port, what in (
        ("reject-vxlan", 10, VXLAN_PORT, "VXLAN"),
        ("reject-geneve", 20, GENEVE_PORT, "GENEVE"),
    ):
        # A feed arriving at the source has the feed port as its local port; one the source
        # sends (a gateway's copies) has it as the remote port.
        rules += _both_directions(
            key,
            order,
            Action.REJECT,
            ANYWHERE,
            f"cloudtap: never copy a {what} mirror feed (UDP {port}): no loops",
            protocol=UDP,
            ingress_ports=(port, None),
            egress_ports=(None, port),
        )
    if FilterPreset.DROP_HEALTH_CHECKS in presets:
        for index, cidr in enumerate(health_check_cidrs):
            rules += _both_directions(
                f"reject-health-checks-{index + 1}",
                30 + index,
                Action.REJECT,
                cidr,
                f"cloudtap: drop_health_checks from {cidr}"
                + (f" on TCP {health_check_port}" if health_check_port else ""),
                protocol=TCP if health_check_port else None,
                # The load balancer probes the source's port; the source answers from it.
                ingress_ports=(health_check_port, None),
                egress_ports=(health_check_port, None),
            )
    if FilterPreset.DROP_INTRA_VPC in presets:
        if network_cidr is None:
            raise ValueError("drop_intra_vpc needs the network's CIDR")
        rules += _both_directions(
            "reject-intra-vpc",
            50,
            Action.REJECT,
            network_cidr,
            f"cloudtap: drop_intra_vpc ({network_cidr})",
        )
    if scope is FilterScope.EAST_WEST:
        if network_cidr is None:
            raise ValueError("an east-west filter needs the network's CIDR")
        rules += _both_directions(
            "accept-east-west",
            100,
            Action.ACCEPT,
            network_cidr,
            f"cloudtap: copy traffic with the other end in {network_cidr}; the gateway mirror "
            "copies the rest",
        )
    else:
        rules += _both_directions(
            "accept-all", 100, Action.ACCEPT, ANYWHERE, "cloudtap: copy everything else"
        )
    return tuple(rules)


# -- what the gateway mirror covers ---------------------------------------------------------


def check_gateway_mirror_on(
    field: str, label: str, plan: NetworkPlan | None, network_kind: str = "MonitoredVpc"
) -> GatewayMirror:
    """A source copied by the gateway needs the network's gateway mirror.

    ``network_kind``: the cloud's network component, which the messages name."""
    if plan is None:
        raise CloudtapInputError(
            "network",
            None,
            f"the {network_kind} whose gateway copies {label} ({field} goes through the gateway "
            "mirror); pass network and set gateway_mirror on it",
        )
    if plan.gateway_mirror is None:
        raise CloudtapInputError(
            "network.gateway_mirror",
            None,
            f"the gateway mirror turned on, because {label} ({field}) is copied by the gateway: "
            f"set gateway_mirror on the {network_kind} (gateway_mirror: {{}} for the defaults)",
        )
    return plan.gateway_mirror


def check_behind_gateway(
    field: str, address: ipaddress.IPv4Address | None, plan: NetworkPlan
) -> None:
    """A gateway-mirrored source must be in the private tier, whose traffic crosses the gateway."""
    if address is None:
        return
    tier = plan.tier_of(address)
    if tier is not Tier.PRIVATE:
        where = f"the {tier.value} tier" if tier is not None else "outside the monitored network"
        raise CloudtapInputError(
            field,
            str(address),
            f"an interface in the private tier ({', '.join(map(str, plan.cidrs(Tier.PRIVATE)))}), "
            f"whose traffic crosses the gateway; this one is in {where}, so the gateway never "
            "sees it",
        )


def copied_by_gateway(interface: MirrorInterface, plan: NetworkPlan | None) -> bool:
    """Whether the gateway mirror already copies this interface's north-south traffic.

    Interfaces given by id have no known address: they are taken to be in the private tier,
    cloudtap's place for workloads (the preview line says "east-west only").
    """
    if plan is None or plan.gateway_mirror is None:
        return False
    if interface.address is None:
        return True
    return plan.tier_of(interface.address) in (Tier.PRIVATE, Tier.MONITOR)


def plan_health_checks(
    raw: Mapping[str, Any], presets: Sequence[FilterPreset], plan: NetworkPlan | None
) -> tuple[tuple[ipaddress.IPv4Network, ...], int | None]:
    """``health_check_cidrs`` and ``health_check_port`` of the ``drop_health_checks`` preset:
    refused without it; the cidrs default to the network's public tier, where load balancers
    live."""
    wanted = FilterPreset.DROP_HEALTH_CHECKS in presets
    for field in ("health_check_cidrs", "health_check_port"):
        if raw.get(field) is not None and not wanted:
            raise CloudtapInputError(
                field, raw[field], "no value unless filter_presets has drop_health_checks"
            )
    if not wanted:
        return (), None
    port = parse_health_check_port(raw.get("health_check_port"))
    if raw.get("health_check_cidrs") is not None:
        return parse_health_check_cidrs(raw["health_check_cidrs"]), port
    if plan is None:
        raise CloudtapInputError(
            "health_check_cidrs",
            None,
            "the networks your load balancers live in, or network (whose public tier is the "
            "default) when filter_presets has drop_health_checks",
        )
    return tuple(ipaddress.collapse_addresses(plan.cidrs(Tier.PUBLIC))), port
