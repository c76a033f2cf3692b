"""AWS Traffic Mirroring checks, run at preview before anything is registered.

Pure functions (no pulumi-aws, no boto3): each raises
:class:`~components.errors.CloudtapInputError` naming the field, the bad value and what AWS
expects. The limits are AWS's (Traffic Mirroring guide, "Traffic Mirroring quotas" and
"considerations"; none of them is adjustable):

- 3 sessions per source network interface; 10 rules per filter;
- session number 1-32766; packet length 1-8500 (unset: the whole packet); VNI 1-16777215 (0 is
  valid for AWS, but some receivers read it as "no VNI");
- 10 sources per network-interface target (100 on the largest size of a family); no limit for
  Network Load Balancer or Gateway Load Balancer endpoint targets;
- an interface is never source and target at once;
- a Network Load Balancer target needs a UDP listener on 4789, or mirroring fails silently.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..errors import CloudtapInputError
from ..fields import is_deferred, parse_int, reject_unknown_fields
from ..mirror_plan import FilterRule, parse_source_name
from ..mirroring import VXLAN_PORT, GatewayMirror, parse_vni
from ..shapes import (
    ENI_ID_EXAMPLE,
    LOAD_BALANCER_ARN_EXAMPLE,
    VPC_ENDPOINT_ID_EXAMPLE,
    check_eni_id,
    check_instance_id,
    check_load_balancer_arn,
    check_vpc_endpoint_id,
    is_eni_id,
)
from .discovery import Listener
from .fleet_plan import FleetTarget
from .mirror_support import MirrorSupport, NonMirrorableInstanceType, mirror_support
from .validation import validate_instance_type

SESSION_NUMBER_MIN = 1
SESSION_NUMBER_MAX = 32766
PACKET_LENGTH_MIN = 1
PACKET_LENGTH_MAX = 8500
MAX_SESSIONS_PER_INTERFACE = 3
MAX_RULES_PER_FILTER = 10
MAX_SOURCES_PER_INTERFACE_TARGET = 10
MAX_SOURCES_PER_INTERFACE_TARGET_LARGEST_SIZE = 100

# Protocols of a listener that receives UDP.
_UDP_LISTENER_PROTOCOLS = frozenset({"UDP", "TCP_UDP"})


class TargetKind(StrEnum):
    """Where copies go: exactly one per mirror session."""

    SENSOR = "sensor"
    """A cloudtap ``Sensor``: its own network interface becomes the target."""
    FLEET = "fleet"
    """A cloudtap ``SensorFleet``: its Network Load Balancer, or its Gateway Load Balancer
    endpoints (one per zone)."""
    NETWORK_INTERFACE = "network_interface_id"
    NETWORK_LOAD_BALANCER = "network_load_balancer_arn"
    GATEWAY_LOAD_BALANCER_ENDPOINT = "gateway_load_balancer_endpoint_id"


@dataclass(frozen=True)
class TargetChoice:
    kind: TargetKind
    value: Any
    """The Sensor, or the id/ARN (a string, or an Output created by the same program)."""


@dataclass(frozen=True)
class SourceSpec:
    """One entry of ``sources`` as written, before discovery."""

    index: int
    name: str | None
    instance_id: str | None
    instance_type: str | None
    network_interface_ids: tuple[Any, ...] | None
    """``None``: discover every interface of ``instance_id`` at preview."""

    @property
    def field(self) -> str:
        return f"sources[{self.index}]"


SOURCE_FIELDS = ("name", "instance_id", "instance_type", "network_interface_ids")


def _is_plain(value: Any) -> bool:
    return isinstance(value, str)


def check_target(
    value: Any, sensor_type: type | tuple[type, ...], fleet_type: type | tuple[type, ...] = ()
) -> TargetChoice:
    """Exactly one of ``sensor``, ``fleet``, ``network_interface_id``,
    ``network_load_balancer_arn`` and ``gateway_load_balancer_endpoint_id``."""
    kinds = [kind.value for kind in TargetKind]
    if value is None:
        raise CloudtapInputError(
            "target", None, f"a mapping with exactly one of {kinds}: mirroring needs a target"
        )
    if not isinstance(value, Mapping):
        raise CloudtapInputError("target", value, f"a mapping with exactly one of {kinds}")
    reject_unknown_fields(value, kinds, "target")
    given = [kind for kind in TargetKind if value.get(kind.value) is not None]
    if len(given) != 1:
        raise CloudtapInputError(
            "target", dict(value), f"exactly one of {kinds}, got {[k.value for k in given]}"
        )
    kind = given[0]
    target = value[kind.value]
    field = f"target.{kind.value}"
    if kind is TargetKind.SENSOR:
        if not isinstance(target, sensor_type):
            raise CloudtapInputError(field, target, "a cloudtap Sensor component")
        return TargetChoice(kind, target)
    if kind is TargetKind.FLEET:
        if not fleet_type or not isinstance(target, fleet_type):
            raise CloudtapInputError(field, target, "a cloudtap SensorFleet component")
        return TargetChoice(kind, target)
    if is_deferred(target):
        return TargetChoice(kind, target)
    check, example = {
        TargetKind.NETWORK_INTERFACE: (check_eni_id, ENI_ID_EXAMPLE),
        TargetKind.NETWORK_LOAD_BALANCER: (check_load_balancer_arn, LOAD_BALANCER_ARN_EXAMPLE),
        TargetKind.GATEWAY_LOAD_BALANCER_ENDPOINT: (
            check_vpc_endpoint_id,
            VPC_ENDPOINT_ID_EXAMPLE,
        ),
    }[kind]
    return TargetChoice(kind, check(field, target, f"an id such as {example}"))


def check_session_number(value: Any) -> int:
    return parse_int("session_number", value, SESSION_NUMBER_MIN, SESSION_NUMBER_MAX)


def check_virtual_network_id(value: Any) -> int | None:
    """``None`` lets AWS pick a random VNI, unique in the account."""
    return None if value is None else parse_vni("virtual_network_id", value)


def check_packet_length(value: Any) -> int | None:
    """``None`` copies whole packets."""
    if value is None:
        return None
    return parse_int("packet_length", value, PACKET_LENGTH_MIN, PACKET_LENGTH_MAX)


def parse_sources(value: Any, unlisted_instance_types: Collection[str] = ()) -> list[SourceSpec]:
    """``sources`` as written: a non-empty list of mappings, each explicit or by instance id.

    ``unlisted_instance_types``: types newer than the installed botocore, accepted as a
    source's ``instance_type``."""
    if value is None or (isinstance(value, Sequence) and not isinstance(value, str) and not value):
        raise CloudtapInputError(
            "sources",
            value,
            "at least one source (an instance_id, or network_interface_ids with instance_type): "
            "mirroring needs something to copy",
        )
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise CloudtapInputError("sources", value, "a list of source mappings")
    specs = [_source(index, raw, unlisted_instance_types) for index, raw in enumerate(value)]
    seen: dict[str, int] = {}
    for spec in specs:
        name = spec.name or spec.instance_id or _first_plain(spec.network_interface_ids)
        if name is None:
            continue
        if name in seen:
            raise CloudtapInputError(
                f"{spec.field}.name",
                name,
                f"a name not already used by sources[{seen[name]}]: names key the sessions",
            )
        seen[name] = spec.index
    return specs


def _first_plain(ids: tuple[Any, ...] | None) -> str | None:
    return ids[0] if ids and _is_plain(ids[0]) else None


def _source(index: int, raw: Any, unlisted_instance_types: Collection[str]) -> SourceSpec:
    field = f"sources[{index}]"
    if not isinstance(raw, Mapping):
        raise CloudtapInputError(field, raw, "a mapping with instance_id or network_interface_ids")
    reject_unknown_fields(raw, SOURCE_FIELDS, field)
    name = raw.get("name")
    if name is not None:
        parse_source_name(f"{field}.name", name)
    instance_id = raw.get("instance_id")
    if instance_id is not None:
        check_instance_id(f"{field}.instance_id", instance_id)
    instance_type = raw.get("instance_type")
    ids_raw = raw.get("network_interface_ids")
    if ids_raw is None:
        if instance_id is None:
            raise CloudtapInputError(
                field,
                dict(raw),
                "either instance_id alone (its interfaces and type are looked up at preview) "
                "or network_interface_ids with instance_type",
            )
        if instance_type is not None:
            raise CloudtapInputError(
                f"{field}.instance_type",
                instance_type,
                "no instance_type without network_interface_ids: it is looked up with the "
                "instance's interfaces",
            )
        return SourceSpec(index, name, instance_id, None, None)
    if isinstance(ids_raw, (str, bytes)) or not isinstance(ids_raw, Sequence) or not ids_raw:
        raise CloudtapInputError(
            f"{field}.network_interface_ids", ids_raw, "a non-empty list of interface ids"
        )
    for position, eni in enumerate(ids_raw):
        if _is_plain(eni):
            check_eni_id(f"{field}.network_interface_ids[{position}]", eni)
        elif not is_deferred(eni):
            raise CloudtapInputError(
                f"{field}.network_interface_ids[{position}]", eni, "an interface id"
            )
    if instance_type is None:
        raise CloudtapInputError(
            f"{field}.instance_type",
            None,
            "the instance type of the interfaces' instance (e.g. m5.large) whenever "
            "network_interface_ids are given: it decides whether AWS can mirror them",
        )
    validate_instance_type(instance_type, f"{field}.instance_type", unlisted_instance_types)
    ids = tuple(ids_raw)
    if name is None and instance_id is None and not _is_plain(ids[0]):
        raise CloudtapInputError(
            f"{field}.name",
            None,
            "a name when the interface ids are created by the same program (the name keys "
            "the sessions' child names)",
        )
    return SourceSpec(index, name, instance_id, instance_type, ids)


def check_instance_type(
    field: str, instance_type: str, *, required: bool, assumed_mirrorable: Collection[str] = ()
) -> MirrorSupport:
    """Whether AWS mirrors the type; ``required`` (``native`` mode) turns "no" into an error.

    ``assumed_mirrorable``: the ``mirrorable_instance_types`` override."""
    support = mirror_support(instance_type, assumed_mirrorable)
    if required and not support.mirrorable:
        raise NonMirrorableInstanceType(field, support)
    return support


def parse_existing_sessions(value: Any) -> tuple[int, Mapping[str, int]]:
    """``existing_sessions_per_eni``: a count for every interface, or counts by interface id."""
    field = "existing_sessions_per_eni"
    if value is None:
        return 0, {}
    if isinstance(value, Mapping):
        counts = {}
        for eni, count in value.items():
            if not is_eni_id(eni):
                raise CloudtapInputError(field, eni, f"interface ids such as {ENI_ID_EXAMPLE}")
            counts[eni] = parse_int(f"{field}.{eni}", count, 0, MAX_SESSIONS_PER_INTERFACE)
        return 0, counts
    return parse_int(field, value, 0, MAX_SESSIONS_PER_INTERFACE), {}


def check_sessions_per_interface(
    planned: Sequence[tuple[str, Any]], existing: tuple[int, Mapping[str, int]]
) -> None:
    """At most 3 sessions on any source interface: those planned here plus the existing ones.

    ``planned`` holds (field, interface id) for every session this component creates.
    """
    default, by_interface = existing
    plain_ids = {eni for _, eni in planned if _is_plain(eni)}
    for eni in by_interface:
        if eni not in plain_ids:
            raise CloudtapInputError(
                f"existing_sessions_per_eni.{eni}",
                eni,
                "an interface this mirror session copies natively",
            )
    counts: dict[str, int] = {}
    for field, eni in planned:
        key = eni if _is_plain(eni) else f"<{field}>"
        counts[key] = counts.get(key, 0) + 1
        total = counts[key] + by_interface.get(key, default)
        if total > MAX_SESSIONS_PER_INTERFACE:
            raise CloudtapInputError(
                field,
                eni,
                f"an interface with at most {MAX_SESSIONS_PER_INTERFACE} mirror sessions (AWS's "
                f"fixed quota): this one would have {total}, "
                f"{by_interface.get(key, default)} existing and {counts[key]} from this component",
            )


def check_unique_interfaces(planned: Sequence[tuple[str, Any]]) -> None:
    """An interface listed twice (by two sources, or twice in one) would get two sessions with
    the same session number, which AWS refuses."""
    seen: dict[str, str] = {}
    for field, eni in planned:
        if not _is_plain(eni):
            continue
        if eni in seen:
            raise CloudtapInputError(
                field, eni, f"an interface not already mirrored by {seen[eni]}"
            )
        seen[eni] = field


def check_rules_per_filter(filter_name: str, rules: Sequence[FilterRule]) -> None:
    if len(rules) > MAX_RULES_PER_FILTER:
        raise CloudtapInputError(
            "filter_presets",
            [rule.key for rule in rules],
            f"at most {MAX_RULES_PER_FILTER} rules in filter {filter_name} (AWS's fixed quota), "
            f"got {len(rules)}: drop a preset or give fewer health_check_cidrs",
        )


def check_not_source_and_target(target: TargetChoice, planned: Sequence[tuple[str, Any]]) -> None:
    """AWS: "An elastic network interface cannot be a traffic mirror target and a traffic mirror
    session source at the same time"."""
    if target.kind is TargetKind.SENSOR:
        target_id = target.value.network_interface_id
    elif target.kind is TargetKind.NETWORK_INTERFACE:
        target_id = target.value
    else:
        return
    if target_id is None:
        return  # a sensor being planned: its interface does not exist yet
    for field, eni in planned:
        if eni is target_id or (_is_plain(eni) and eni == target_id):
            raise CloudtapInputError(
                field,
                eni if _is_plain(eni) else "<the target's interface>",
                f"an interface other than the target ({target.kind.value}): an interface is "
                "never source and target at once",
            )


def check_sources_per_target(target: TargetChoice, count: int) -> str | None:
    """Error above 100 sources on an interface target; a warning (returned) above 10."""
    if target.kind not in (TargetKind.SENSOR, TargetKind.NETWORK_INTERFACE):
        return None
    if count > MAX_SOURCES_PER_INTERFACE_TARGET_LARGEST_SIZE:
        raise CloudtapInputError(
            "sources",
            f"{count} interfaces",
            f"at most {MAX_SOURCES_PER_INTERFACE_TARGET_LARGEST_SIZE} source interfaces on a "
            "network-interface target (AWS's quota): use a Network Load Balancer or a Gateway "
            "Load Balancer endpoint as target",
        )
    if count > MAX_SOURCES_PER_INTERFACE_TARGET:
        return (
            f"{count} source interfaces on one network-interface target: AWS accepts more than "
            f"{MAX_SOURCES_PER_INTERFACE_TARGET} only when the target is the largest size of "
            "its family (e.g. m5.24xlarge); consider a Network Load Balancer target"
        )
    return None


def check_nlb_listeners(field: str, arn: str, listeners: Sequence[Listener]) -> None:
    """AWS: "There must be UDP listeners on port 4789" — else mirroring fails without an error."""
    if any(
        item.port == VXLAN_PORT and item.protocol in _UDP_LISTENER_PROTOCOLS for item in listeners
    ):
        return
    found = ", ".join(f"{item.protocol}:{item.port}" for item in listeners) or "no listeners"
    raise CloudtapInputError(
        field,
        arn,
        f"a Network Load Balancer with a UDP (or TCP_UDP) listener on port {VXLAN_PORT}, which "
        f"mirrored VXLAN arrives on (found {found}); without it AWS drops the copies silently",
    )


def check_gateway_target(target: TargetChoice, mirror: GatewayMirror) -> str | None:
    """The gateway sends its copies to ``gateway_mirror.sensor_address``, or with ``to_fleet`` to
    each zone's fleet load balancer: the target must be that sensor, or a fleet behind an NLB.
    Returns a warning when cloudtap cannot tell (a bare interface id)."""
    if target.kind is TargetKind.FLEET:
        _check_gateway_fleet(target, mirror)
        return None
    expected = f"the sensor at gateway_mirror.sensor_address {mirror.sensor_address}"
    if mirror.to_fleet:
        raise CloudtapInputError(
            f"target.{target.kind.value}",
            target.value.private_ip if target.kind is TargetKind.SENSOR else "<target>",
            "the SensorFleet behind a Network Load Balancer, where the network's gateway mirror "
            "sends (gateway_mirror.to_fleet), when a source is copied by the gateway",
        )
    if target.kind is TargetKind.SENSOR:
        address = target.value.private_ip
        if address != str(mirror.sensor_address):
            raise CloudtapInputError(
                "target.sensor",
                address,
                f"{expected}, where the gateway sends its copies: give the Sensor that "
                "private_ip or change gateway_mirror.sensor_address",
            )
        return None
    if target.kind is TargetKind.NETWORK_INTERFACE:
        return (
            f"gateway-mirrored sources reach only {expected}; cloudtap cannot check that "
            f"the target interface holds that address"
        )
    raise CloudtapInputError(
        f"target.{target.kind.value}",
        target.value if isinstance(target.value, str) else "<output>",
        f"{expected} (a Sensor or its interface) when a source is copied by the gateway: the "
        "gateway sends VXLAN to one address",
    )


def _check_gateway_fleet(target: TargetChoice, mirror: GatewayMirror) -> None:
    fleet = target.value
    if fleet.balancer is FleetTarget.GWLB:
        raise CloudtapInputError(
            "target.fleet",
            "a SensorFleet behind a Gateway Load Balancer",
            "a SensorFleet behind a Network Load Balancer (target: nlb) when a source is copied "
            "by the gateway: a GWLB takes GENEVE through its endpoints and sends every packet "
            "back, while the gateway sends VXLAN copies one way",
        )
    if not mirror.to_fleet:
        raise CloudtapInputError(
            "network.gateway_mirror.to_fleet",
            False,
            "true when a source copied by the gateway goes to a SensorFleet: without it the "
            f"gateway sends its copies to the one sensor_address {mirror.sensor_address}, not "
            "to the fleet's load balancers",
        )


def gateway_fleet_line(fleet: Any, mirror: GatewayMirror) -> str:
    """The preview's line for the gateway mirror's copies to an NLB fleet: where, and why a
    flow's copies stay on one sensor."""
    addresses = [str(a) for a in fleet.load_balancer_addresses]
    zones = len(fleet.network.design.gateway_subnets)
    where = (
        f"each zone's gateway to its own zone's NLB address ({', '.join(addresses)})"
        if zones > 1
        else f"the gateway to its zone's NLB address {addresses[0]}"
    )
    return (
        f"gateway mirror -> sensor fleet: VXLAN VNI {mirror.vni} from {where}, UDP 4789. A "
        "flow's copies stay on one sensor: the NLB hashes each UDP flow's 5-tuple to one "
        "target, and the gateway's VXLAN device (no fixed source port) takes each copy's outer "
        "source port from the inner flow's hash: a direction's copies always share it, and "
        "both directions do where the kernel hashes the flow itself (symmetric; a NIC's own "
        "receive hash, such as ENA's, need not be). Fleet sensors expect no per-gateway "
        "heartbeats (the NLB hands each gateway's to one sensor, which counts and drops them)"
    )
