"""Planning of the AWS ``MirrorSession``: arguments checked, instances looked up, every source's
way decided, every AWS limit checked; registers nothing.

No pulumi-aws here, so the planning runs (and is tested) without the provider. Its cloud calls
are the read-only boto3 lookups of :mod:`.discovery`, through the :class:`~.discovery.AwsClients`
it is given; the Sensor classes a target may be come in as a parameter, because they load
pulumi-aws. :func:`components.aws.mirror_session.plan_mirror_session` fills both in.

The steps run in a fixed order, so a stack with several mistakes always reports the same one
first: the arguments, the sources (looked up and decided), the gateway's coverage, the sessions
and their quotas, the filter rules, the target.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import CloudtapInputError
from ..host_feeds import HostFeedsArgs
from ..mirror_args import session_fields
from ..mirror_host_feed import gateway_sees, host_feed_given, plan_session_host_feeds
from ..mirror_plan import (
    FilterPreset,
    FilterRule,
    FilterScope,
    MirrorInterface,
    MirrorSource,
    SourceDecision,
    check_behind_gateway,
    check_gateway_mirror_on,
    copied_by_gateway,
    decide,
    parse_method,
    parse_presets,
    plan_filter_rules,
    plan_health_checks,
)
from ..mirroring import MirrorMethod
from ..monitored_network import Cloud, MonitoredNetwork
from ..network_plan import NetworkPlan
from ..shapes import (
    MIRRORABLE_INSTANCE_TYPES,
    UNLISTED_INSTANCE_TYPES,
    check_instance_types_or_families,
)
from .discovery import AwsClients, mirrorable_interfaces
from .enrolment_plan import EnrolmentPlan, check_session_tags, parse_enrol
from .fleet_plan import FleetTarget
from .mirror_checks import (
    SourceSpec,
    TargetChoice,
    TargetKind,
    check_gateway_target,
    check_instance_type,
    check_nlb_listeners,
    check_not_source_and_target,
    check_packet_length,
    check_rules_per_filter,
    check_session_number,
    check_sessions_per_interface,
    check_sources_per_target,
    check_target,
    check_unique_interfaces,
    check_virtual_network_id,
    gateway_fleet_line,
    parse_existing_sessions,
    parse_sources,
)
from .mirror_support import RETRIEVED
from .validation import validate_tags, validate_unlisted_instance_types

DEFAULT_SESSION_NUMBER = 1


@dataclass(frozen=True)
class PlannedSession:
    """One Traffic Mirroring session: a natively mirrored source interface."""

    child_name: str
    interface: MirrorInterface
    scope: FilterScope
    source: MirrorSource
    zone: int = 0
    """The zone index of the target it goes to (a zone-local fleet endpoint); 0 otherwise."""


@dataclass(frozen=True)
class MirrorSessionPlan:
    """Everything MirrorSession builds from, checked."""

    network: NetworkPlan | None
    target: TargetChoice
    decisions: tuple[SourceDecision, ...]
    sessions: tuple[PlannedSession, ...]
    rules: Mapping[FilterScope, Sequence[FilterRule]]
    session_number: int
    vni: int | None
    packet_length: int | None
    tags: Mapping[str, str]
    warnings: tuple[str, ...]
    enrolment: EnrolmentPlan | None = None
    """The enrolment function's plan, ``None`` without ``enrol``."""
    instance_type_data: str | None = None
    """The date of the instance-type data the decisions used (``None``: method gateway, which
    consults no data)."""
    zone_local: bool = False
    """Sessions go to their own zone's target (a fleet's GWLB endpoints)."""
    host_feeds: HostFeedsArgs | None = None
    """The ``HostFeeds`` arguments of the sources decided ``host``, checked; ``None`` without."""
    notes: tuple[str, ...] = ()
    """Decisions the preview states (``pulumi.log.info``), beside the sources' own lines."""


@dataclass(frozen=True)
class _Args:
    """``MirrorSessionArgs`` as parsed, before any lookup."""

    target: TargetChoice
    specs: Sequence[SourceSpec]
    method: MirrorMethod
    plan: NetworkPlan | None
    session_number: int
    vni: int | None
    packet_length: int | None
    presets: tuple[FilterPreset, ...]
    health_cidrs: tuple[ipaddress.IPv4Network, ...]
    health_port: int | None
    existing: tuple[int, Mapping[str, int]]
    tags: Mapping[str, str]
    assumed_mirrorable: frozenset[str] = frozenset()
    enrolment: EnrolmentPlan | None = None
    zone_local: bool = False
    host_feeds: bool = False
    """``host_feed`` is given: ``host`` is a method, and ``auto`` may choose it."""


def plan_mirror_session(
    name: str,
    args: Any,
    clients: AwsClients,
    *,
    sensor_types: tuple[type, ...],
    fleet_types: tuple[type, ...] = (),
) -> MirrorSessionPlan:
    """``args`` checked into a plan (see :func:`components.aws.mirror_session.plan_mirror_session`).

    ``sensor_types``: what ``target.sensor`` may be (the Sensor component and its plan);
    ``fleet_types``: what ``target.fleet`` may be (the SensorFleet component and its plan)."""
    parsed = _parse_args(args, sensor_types, fleet_types)
    decisions = _decide_sources(parsed, clients)
    warnings, notes = _check_gateway_coverage(parsed, decisions)
    sessions = _plan_sessions(name, parsed.specs, decisions, parsed.plan)
    if parsed.zone_local:
        sessions, unplaced = _place_in_zones(sessions, parsed.plan)
        if unplaced:
            warnings.append(
                f"{', '.join(unplaced)}: zone unknown (interfaces given by id), so copied to "
                "the first zone's endpoint; give instance_id for zone-local copies"
            )
    warnings += _check_sessions(parsed, sessions)
    rules = _plan_rules(name, parsed, sessions)
    warnings += _check_target(parsed, sessions, clients)
    target = parsed.target
    host_feeds = plan_session_host_feeds(
        args,
        decisions,
        target.value.private_ip if target.kind is TargetKind.SENSOR else None,
    )
    return MirrorSessionPlan(
        network=parsed.plan,
        target=parsed.target,
        decisions=decisions,
        sessions=tuple(session for _, session in sessions),
        rules=rules,
        session_number=parsed.session_number,
        vni=parsed.vni,
        packet_length=parsed.packet_length,
        tags=parsed.tags,
        warnings=tuple(warnings),
        enrolment=parsed.enrolment,
        instance_type_data=(
            None if parsed.method in (MirrorMethod.GATEWAY, MirrorMethod.HOST) else RETRIEVED
        ),
        zone_local=parsed.zone_local,
        host_feeds=host_feeds,
        notes=tuple(notes),
    )


def by_gateway(decision: SourceDecision) -> bool:
    return decision.method is MirrorMethod.GATEWAY


def filter_child_name(name: str, scope: FilterScope, plan: NetworkPlan | None) -> str:
    # The main filter is "{name}-filter": east-west with the gateway mirror on, else all.
    main = FilterScope.EAST_WEST if _gateway_on(plan) else FilterScope.ALL
    return f"{name}-filter" if scope is main else f"{name}-filter-{scope.value}"


def _gateway_on(plan: NetworkPlan | None) -> bool:
    return plan is not None and plan.gateway_mirror is not None


def _parse_args(args: Any, sensor_types: tuple[type, ...], fleet_types: tuple[type, ...]) -> _Args:
    """Every field on its own; nothing looked up yet."""
    raw = session_fields(args, Cloud.AWS)
    target = check_target(raw.get("target"), sensor_types, fleet_types)
    zone_local = raw.get("zone_local_targets", False)
    if not isinstance(zone_local, bool):
        raise CloudtapInputError("zone_local_targets", zone_local, "true or false")
    if zone_local and not (
        target.kind is TargetKind.FLEET and target.value.balancer is FleetTarget.GWLB
    ):
        raise CloudtapInputError(
            "zone_local_targets",
            zone_local,
            "false unless target.fleet is a SensorFleet behind a Gateway Load Balancer (the "
            "one target with an endpoint per zone)",
        )
    enrolling = raw.get("enrol") is not None
    sources = raw.get("sources")
    specs = (
        []
        if enrolling and (sources is None or sources == [])
        else parse_sources(
            sources, validate_unlisted_instance_types(raw.get(UNLISTED_INSTANCE_TYPES))
        )
    )
    host_feeds = host_feed_given(raw)
    method = parse_method(raw.get("method"), host_feeds=host_feeds)
    assumed = check_instance_types_or_families(
        MIRRORABLE_INSTANCE_TYPES, raw.get(MIRRORABLE_INSTANCE_TYPES)
    )
    network = raw.get("network")
    if network is None and target.kind in (TargetKind.SENSOR, TargetKind.FLEET):
        network = target.value.network
    if network is not None and (
        not isinstance(network, MonitoredNetwork) or network.design.cloud is not Cloud.AWS
    ):
        raise CloudtapInputError("network", network, "a cloudtap MonitoredVpc")
    plan = network.design.plan if network is not None else None
    session_number = check_session_number(raw.get("session_number", DEFAULT_SESSION_NUMBER))
    vni = check_virtual_network_id(raw.get("virtual_network_id"))
    packet_length = check_packet_length(raw.get("packet_length"))
    presets = parse_presets(raw.get("filter_presets"))
    health_cidrs, health_port = plan_health_checks(raw, presets, plan)
    if FilterPreset.DROP_INTRA_VPC in presets and plan is None:
        raise CloudtapInputError(
            "filter_presets",
            [p.value for p in presets],
            "drop_intra_vpc only together with network (the VPC whose CIDR it drops)",
        )
    existing = parse_existing_sessions(raw.get("existing_sessions_per_eni"))
    tags = validate_tags(raw.get("tags"))
    enrolment = parse_enrol(raw.get("enrol"), plan, method, assumed)
    if enrolment is not None:
        check_session_tags(tags)
    return _Args(
        target=target,
        specs=specs,
        method=method,
        plan=plan,
        session_number=session_number,
        vni=vni,
        packet_length=packet_length,
        presets=presets,
        health_cidrs=health_cidrs,
        health_port=health_port,
        existing=existing,
        tags=tags,
        assumed_mirrorable=assumed,
        enrolment=enrolment,
        zone_local=zone_local,
        host_feeds=host_feeds,
    )


def _decide_sources(parsed: _Args, clients: AwsClients) -> tuple[SourceDecision, ...]:
    """Each source resolved to its interfaces, then native or the gateway, with why."""
    sources = _resolve_sources(parsed.specs, clients)
    required = parsed.method is MirrorMethod.NATIVE
    return tuple(
        decide(
            parsed.method,
            source,
            *_support(spec, source, required=required, assumed=parsed.assumed_mirrorable),
            gateway_sees=gateway_sees(source, parsed.plan, parsed.host_feeds),
        )
        for spec, source in zip(parsed.specs, sources, strict=True)
    )


def _check_gateway_coverage(
    parsed: _Args, decisions: Sequence[SourceDecision]
) -> tuple[list[str], list[str]]:
    """Sources left to the gateway: its mirror is on, they are behind it, the target is its
    sensor (or the fleet it sends to). Returns the warnings and the notes."""
    warnings: list[str] = []
    gateway = [(s, d) for s, d in zip(parsed.specs, decisions, strict=True) if by_gateway(d)]
    if not gateway:
        return warnings, []
    plan = parsed.plan
    spec, decision = gateway[0]
    mirror = check_gateway_mirror_on(spec.field, decision.source.label, plan)
    assert plan is not None
    for spec, decision in gateway:
        for interface in decision.source.interfaces:
            check_behind_gateway(f"{spec.field}.instance_id", interface.address, plan)
    warning = check_gateway_target(parsed.target, mirror)
    if warning:
        warnings.append(warning)
    notes = []
    if parsed.target.kind is TargetKind.FLEET:
        notes.append(gateway_fleet_line(parsed.target.value, mirror))
    unverified = [d.source.label for _, d in gateway if not d.source.discovered]
    if unverified:
        warnings.append(
            f"{', '.join(unverified)}: copied by the gateway only if in the private tier "
            "(cloudtap cannot check interfaces given by id: give instance_id instead)"
        )
    return warnings, notes


def _check_sessions(parsed: _Args, sessions: Sequence[tuple[str, PlannedSession]]) -> list[str]:
    """AWS's rules and quotas for the planned sessions' interfaces. Returns the warnings."""
    interfaces = [(field, s.interface.id) for field, s in sessions]
    check_unique_interfaces(interfaces)
    check_not_source_and_target(parsed.target, interfaces)
    check_sessions_per_interface(interfaces, parsed.existing)
    warning = check_sources_per_target(parsed.target, len(interfaces))
    return [warning] if warning else []


def _plan_rules(
    name: str, parsed: _Args, sessions: Sequence[tuple[str, PlannedSession]]
) -> dict[FilterScope, tuple[FilterRule, ...]]:
    """One filter per scope the sessions use, its rules within AWS's limit."""
    # The enrolment function's filters exist even before it has an instance to mirror.
    enrol_scopes = parsed.enrolment.scopes if parsed.enrolment is not None else ()
    scopes = list(dict.fromkeys([*(s.scope for _, s in sessions), *enrol_scopes]))
    presets = parsed.presets
    if FilterScope.EAST_WEST in scopes and FilterPreset.DROP_INTRA_VPC in presets:
        raise CloudtapInputError(
            "filter_presets",
            [p.value for p in presets],
            "no drop_intra_vpc while the network's gateway mirror is on: native sessions "
            "then copy only traffic inside the VPC (the gateway copies the rest), and "
            "drop_intra_vpc would leave them nothing",
        )
    network_cidr = parsed.plan.cidr_block if parsed.plan is not None else None
    rules = {
        scope: plan_filter_rules(
            scope,
            network_cidr=network_cidr,
            presets=presets,
            health_check_cidrs=parsed.health_cidrs,
            health_check_port=parsed.health_port,
        )
        for scope in scopes
    }
    for scope, scope_rules in rules.items():
        check_rules_per_filter(filter_child_name(name, scope, parsed.plan), scope_rules)
    return rules


def _check_target(
    parsed: _Args, sessions: Sequence[tuple[str, PlannedSession]], clients: AwsClients
) -> list[str]:
    """A Network Load Balancer target listens on UDP 4789 (looked up when it exists already).
    Returns the warnings."""
    target = parsed.target
    if (not sessions and parsed.enrolment is None) or (
        target.kind is not TargetKind.NETWORK_LOAD_BALANCER
    ):
        return []
    if not isinstance(target.value, str):
        return [
            "the Network Load Balancer is created by this program, so cloudtap cannot check "
            "its listeners: it needs a UDP listener on 4789 or AWS drops the copies silently"
        ]
    field = "target.network_load_balancer_arn"
    listeners = clients.listeners(target.value, field)
    check_nlb_listeners(field, target.value, listeners)
    return []


def _place_in_zones(
    sessions: Sequence[tuple[str, PlannedSession]], plan: NetworkPlan | None
) -> tuple[list[tuple[str, PlannedSession]], list[str]]:
    """Each session with the zone of its interface's address (its subnet's position in its
    tier); the sources whose zone is unknown."""
    placed, unplaced = [], []
    for field, session in sessions:
        address = session.interface.address
        zone = None
        if plan is not None and address is not None:
            zone = next(
                (
                    index
                    for cidrs in plan.subnets.values()
                    for index, cidr in enumerate(cidrs)
                    if address in cidr
                ),
                None,
            )
        if zone is None:
            unplaced.append(session.source.label)
            zone = 0
        placed.append((field, dataclasses.replace(session, zone=zone)))
    return placed, list(dict.fromkeys(unplaced))


def _resolve_sources(specs: Sequence[SourceSpec], clients: AwsClients) -> list[MirrorSource]:
    lookups = [spec for spec in specs if spec.network_interface_ids is None]
    found = {}
    if lookups:
        found = clients.instances(
            [spec.instance_id for spec in lookups if spec.instance_id is not None],
            {spec.instance_id: f"{spec.field}.instance_id" for spec in lookups if spec.instance_id},
        )
    sources = []
    for spec in specs:
        if spec.network_interface_ids is not None:
            assert spec.instance_type is not None
            ids = spec.network_interface_ids
            sources.append(
                MirrorSource(
                    name=spec.name or spec.instance_id or str(ids[0]),
                    instance_type=spec.instance_type,
                    interfaces=tuple(
                        MirrorInterface(eni, str(position + 1)) for position, eni in enumerate(ids)
                    ),
                    instance_id=spec.instance_id,
                )
            )
            continue
        assert spec.instance_id is not None
        instance = found[spec.instance_id]
        keep, skip = mirrorable_interfaces(instance)
        if not keep:
            raise CloudtapInputError(
                f"{spec.field}.instance_id",
                spec.instance_id,
                "an instance with at least one interface of type interface (AWS mirrors no "
                f"other type; found {[i.interface_type for i in instance.interfaces]})",
            )
        sources.append(
            MirrorSource(
                name=spec.name or spec.instance_id,
                instance_type=instance.instance_type,
                interfaces=tuple(MirrorInterface(i.id, i.key, i.private_ip) for i in keep),
                instance_id=spec.instance_id,
                discovered=True,
                skipped_interfaces=tuple(i.id for i in skip),
            )
        )
    return sources


def _support(
    spec: SourceSpec, source: MirrorSource, *, required: bool, assumed: frozenset[str]
) -> tuple[bool, str]:
    field = (
        f"{spec.field}.instance_type"
        if spec.instance_type is not None
        else f"{spec.field}.instance_id"
    )
    support = check_instance_type(
        field, source.instance_type, required=required, assumed_mirrorable=assumed
    )
    return support.mirrorable, support.reason


def _plan_sessions(
    name: str,
    specs: Sequence[SourceSpec],
    decisions: Sequence[SourceDecision],
    plan: NetworkPlan | None,
) -> list[tuple[str, PlannedSession]]:
    """(field naming the interface, session) for every natively mirrored interface."""
    sessions = []
    for spec, decision in zip(specs, decisions, strict=True):
        if decision.method is not MirrorMethod.NATIVE:
            continue
        source = decision.source
        for position, interface in enumerate(source.interfaces):
            field = (
                f"{spec.field}.network_interface_ids[{position}]"
                if spec.network_interface_ids is not None
                else f"{spec.field}.instance_id"
            )
            scope = FilterScope.EAST_WEST if copied_by_gateway(interface, plan) else FilterScope.ALL
            sessions.append(
                (
                    field,
                    PlannedSession(
                        f"{name}-{source.name}-{interface.key}", interface, scope, source
                    ),
                )
            )
    return sessions
