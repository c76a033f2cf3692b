"""``MirrorSession``: copy sources' packets to one target, by AWS Traffic Mirroring or the gateway.

The facade cloudtap offers for mirroring (Azure virtual network TAP and OpenStack Tap-as-a-Service
get the same shape): a target, a list of sources and a method.

- **native**: AWS Traffic Mirroring. One target and one filter per component (what is static),
  one session per source interface (what comes and goes), named
  ``f"{name}-{source name}-{interface key}"`` — the key is the interface's device index + 1 (its
  list position + 1 when the ids are given explicitly), so adding or removing another source
  never renames a session.
- **gateway**: the monitored network's gateway copies everything it forwards to the sensor at
  ``gateway_mirror.sensor_address``. No resource per source: the component checks that the
  gateway mirror is on, that the source's traffic crosses the gateway (private tier) and that
  the target is that sensor.
- **auto** (default): native where AWS can mirror the source's instance type
  (:mod:`components.aws.mirror_support`), the gateway for the rest. The preview prints one line
  per source saying which, and why.

Every packet is copied once (see :mod:`components.mirror_plan`): the filter never copies the
VXLAN/GENEVE feeds (no loops), and when the network's gateway mirror is on, native sessions of
sources behind the gateway copy only traffic whose other end is inside the VPC — the gateway
already copies everything that crosses it.

Every check runs at preview, before the first registration: instance types, AWS's quotas and
ranges, the target's UDP 4789 listener. Sources given by ``instance_id`` alone are looked up then
(:mod:`components.aws.discovery`), so *all* their interfaces are mirrored, not only the primary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from .. import mirror_session
from ..errors import CloudtapInputError
from ..mirror_args import reject_fields_of_other_clouds
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
    preview_line,
)
from ..mirroring import MirrorMethod
from ..monitored_network import Cloud, MonitoredNetwork
from ..network_plan import NetworkPlan
from ..shapes import UNLISTED_INSTANCE_TYPES
from .discovery import AwsClients, mirrorable_interfaces
from .mirror_args import (
    MirrorSessionArgs,
)
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
    parse_existing_sessions,
    parse_sources,
)
from .sensor import AwsSensorPlan, Sensor
from .validation import validate_tags, validate_unlisted_instance_types

TYPE_TOKEN = "cloudtap:aws:MirrorSession"
DEFAULT_SESSION_NUMBER = 1
# Mirror the VPC's DNS resolver traffic too (AWS skips it otherwise): IDSs log DNS.
NETWORK_SERVICES = ["amazon-dns"]


@dataclass(frozen=True)
class _Session:
    child_name: str
    interface: MirrorInterface
    scope: FilterScope
    source: MirrorSource


class AwsMirrorSession(mirror_session.MirrorSession):
    """Copies of every source's packets, to one target, without loops or duplicates.

    Children (only when at least one source is mirrored natively): ``{name}-target``,
    ``{name}-filter`` with rules ``{name}-filter-{direction}-{rule}``, ``{name}-filter-all``
    when the gateway mirror is on and a native source is outside its path, and one
    ``{name}-{source}-{key}`` session per source interface.
    """

    decisions: tuple[SourceDecision, ...]
    """Per source, in order: which way it is copied and why."""
    target: aws.ec2.TrafficMirrorTarget | None
    """``None`` when every source goes through the gateway."""
    filters: dict[str, aws.ec2.TrafficMirrorFilter]
    """Filter scope (``"all"``, ``"east-west"``) -> filter; empty without native sources."""
    filter_rules: list[aws.ec2.TrafficMirrorFilterRule]
    sessions: dict[str, aws.ec2.TrafficMirrorSession]
    """Child name -> session, one per natively mirrored interface."""
    native_sources: list[str]
    gateway_sources: list[str]

    def __init__(
        self,
        name: str,
        args: MirrorSessionArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        clients: AwsClients | None = None,
        cloud: str | None = None,
    ) -> None:
        """``clients``: boto3 clients for the preview-time lookups (default: from the stack's
        ``aws:region`` and ``aws:profile``)."""
        mirror_session.check_backend_cloud(cloud, Cloud.AWS)
        # Everything is checked (and instances looked up) before the first registration.
        planned = plan_mirror_session(name, args, clients)
        super().__init__(TYPE_TOKEN, name, None, opts)
        self._prefix = name
        self._tags_base = planned.tags
        self.decisions = planned.decisions
        self.native_sources = [d.source.name for d in planned.decisions if not _by_gateway(d)]
        self.gateway_sources = [d.source.name for d in planned.decisions if _by_gateway(d)]
        east_west = {s.source.name for s in planned.sessions if s.scope is FilterScope.EAST_WEST}
        for decision in planned.decisions:
            pulumi.log.info(
                preview_line(decision, east_west_only=decision.source.name in east_west),
                resource=self,
            )
        for warning in planned.warnings:
            pulumi.log.warn(warning, resource=self)

        self.target = None
        self.filters = {}
        self.filter_rules = []
        self.sessions = {}
        if planned.sessions:
            self._build(planned)
        self._register_results(
            {
                "target_id": self.target.id if self.target is not None else None,
                "filter_ids": {scope: f.id for scope, f in self.filters.items()},
            }
        )

    def _tags(self, child_name: str) -> dict[str, str]:
        return {**self._tags_base, "Name": child_name}

    def _build(self, planned: MirrorSessionPlan) -> None:
        name = self._prefix
        # One options object for every child: nothing per child differs, and building it once
        # keeps a thousand sessions as cheap as a thousand bare resources.
        child = pulumi.ResourceOptions(parent=self)
        target = planned.target
        self.target = aws.ec2.TrafficMirrorTarget(
            f"{name}-target",
            description=f"cloudtap {name}: {_describe(target)}",
            **_target_inputs(target),
            tags=self._tags(f"{name}-target"),
            opts=child,
        )
        for scope, scope_rules in planned.rules.items():
            filter_name = _filter_name(name, scope, planned.network)
            mirror_filter = aws.ec2.TrafficMirrorFilter(
                filter_name,
                description=f"cloudtap {name}: {_SCOPE_TEXT[scope]}",
                network_services=NETWORK_SERVICES,
                tags=self._tags(filter_name),
                opts=child,
            )
            self.filters[scope.value] = mirror_filter
            for rule in scope_rules:
                self.filter_rules.append(_filter_rule(filter_name, mirror_filter, rule, child))
        target_id = self.target.id
        filter_ids = {scope: self.filters[scope.value].id for scope in planned.rules}
        for session in planned.sessions:
            self.sessions[session.child_name] = aws.ec2.TrafficMirrorSession(
                session.child_name,
                description=f"cloudtap {name}: {session.source.label} #{session.interface.key}",
                network_interface_id=session.interface.id,
                traffic_mirror_filter_id=filter_ids[session.scope],
                traffic_mirror_target_id=target_id,
                session_number=planned.session_number,
                virtual_network_id=planned.vni,
                packet_length=planned.packet_length,
                tags=self._tags(session.child_name),
                opts=child,
            )


@dataclass(frozen=True)
class MirrorSessionPlan:
    """Everything MirrorSession builds from, checked."""

    network: NetworkPlan | None
    target: TargetChoice
    decisions: tuple[SourceDecision, ...]
    sessions: tuple[_Session, ...]
    rules: Mapping[FilterScope, Sequence[FilterRule]]
    session_number: int
    vni: int | None
    packet_length: int | None
    tags: Mapping[str, str]
    warnings: tuple[str, ...]


def plan_mirror_session(
    name: str, args: MirrorSessionArgs | Mapping[str, Any], clients: AwsClients | None = None
) -> MirrorSessionPlan:
    """Validate ``MirrorSessionArgs``, look up instances, decide every source's way, and check
    every AWS limit; registers nothing.

    ``name`` is the component's (filter names and quotas depend on it). ``network`` may be a
    MonitoredVpc or its design, and a ``target.sensor`` a Sensor or its plan
    (:func:`~components.aws.sensor.plan_aws_sensor`), so a program can check its mirror before
    the network and the sensor are built. ``clients``: as for :class:`MirrorSession`.
    """
    clients = clients if clients is not None else AwsClients()
    raw: Any = args
    if not isinstance(raw, Mapping):
        raise CloudtapInputError("args", raw, "a mapping of MirrorSessionArgs fields")
    reject_fields_of_other_clouds(raw, Cloud.AWS)
    target = check_target(raw.get("target"), (Sensor, AwsSensorPlan))
    specs = parse_sources(
        raw.get("sources"), validate_unlisted_instance_types(raw.get(UNLISTED_INSTANCE_TYPES))
    )
    method = parse_method(raw.get("method"))
    network = raw.get("network")
    if network is None and target.kind is TargetKind.SENSOR:
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

    sources = _resolve_sources(specs, clients)
    decisions = tuple(
        decide(
            method,
            source,
            *_support(spec, source, required=method is MirrorMethod.NATIVE),
        )
        for spec, source in zip(specs, sources, strict=True)
    )
    warnings: list[str] = []
    gateway = [(s, d) for s, d in zip(specs, decisions, strict=True) if _by_gateway(d)]
    if gateway:
        spec, decision = gateway[0]
        mirror = check_gateway_mirror_on(spec.field, decision.source.label, plan)
        assert plan is not None
        for spec, decision in gateway:
            for interface in decision.source.interfaces:
                check_behind_gateway(f"{spec.field}.instance_id", interface.address, plan)
        warning = check_gateway_target(target, mirror)
        if warning:
            warnings.append(warning)
        unverified = [d.source.label for _, d in gateway if not d.source.discovered]
        if unverified:
            warnings.append(
                f"{', '.join(unverified)}: copied by the gateway only if in the private tier "
                "(cloudtap cannot check interfaces given by id: give instance_id instead)"
            )

    sessions = _plan_sessions(name, specs, decisions, plan)
    interfaces = [(field, s.interface.id) for field, s in sessions]
    check_unique_interfaces(interfaces)
    check_not_source_and_target(target, interfaces)
    check_sessions_per_interface(interfaces, existing)
    warning = check_sources_per_target(target, len(interfaces))
    if warning:
        warnings.append(warning)
    scopes = list(dict.fromkeys(s.scope for _, s in sessions))
    if FilterScope.EAST_WEST in scopes and FilterPreset.DROP_INTRA_VPC in presets:
        raise CloudtapInputError(
            "filter_presets",
            [p.value for p in presets],
            "no drop_intra_vpc while the network's gateway mirror is on: native sessions "
            "then copy only traffic inside the VPC (the gateway copies the rest), and "
            "drop_intra_vpc would leave them nothing",
        )
    network_cidr = plan.cidr_block if plan is not None else None
    rules = {
        scope: plan_filter_rules(
            scope,
            network_cidr=network_cidr,
            presets=presets,
            health_check_cidrs=health_cidrs,
            health_check_port=health_port,
        )
        for scope in scopes
    }
    for scope, scope_rules in rules.items():
        check_rules_per_filter(_filter_name(name, scope, plan), scope_rules)
    if (
        sessions
        and target.kind is TargetKind.NETWORK_LOAD_BALANCER
        and isinstance(target.value, str)
    ):
        field = "target.network_load_balancer_arn"
        listeners = clients.listeners(target.value, field)
        check_nlb_listeners(field, target.value, listeners)
    if (
        sessions
        and target.kind is TargetKind.NETWORK_LOAD_BALANCER
        and not isinstance(target.value, str)
    ):
        warnings.append(
            "the Network Load Balancer is created by this program, so cloudtap cannot check "
            "its listeners: it needs a UDP listener on 4789 or AWS drops the copies silently"
        )
    return MirrorSessionPlan(
        network=plan,
        target=target,
        decisions=decisions,
        sessions=tuple(session for _, session in sessions),
        rules=rules,
        session_number=session_number,
        vni=vni,
        packet_length=packet_length,
        tags=tags,
        warnings=tuple(warnings),
    )


_SCOPE_TEXT = {
    FilterScope.ALL: "everything but the mirror feeds",
    FilterScope.EAST_WEST: "traffic inside the VPC (the gateway mirror copies the rest)",
}


def _by_gateway(decision: SourceDecision) -> bool:
    return decision.method is MirrorMethod.GATEWAY


def _filter_name(name: str, scope: FilterScope, plan: NetworkPlan | None) -> str:
    # The main filter is "{name}-filter": east-west with the gateway mirror on, else all.
    main = FilterScope.EAST_WEST if _gateway_on(plan) else FilterScope.ALL
    return f"{name}-filter" if scope is main else f"{name}-filter-{scope.value}"


def _gateway_on(plan: NetworkPlan | None) -> bool:
    return plan is not None and plan.gateway_mirror is not None


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


def _support(spec: SourceSpec, source: MirrorSource, *, required: bool) -> tuple[bool, str]:
    field = (
        f"{spec.field}.instance_type"
        if spec.instance_type is not None
        else f"{spec.field}.instance_id"
    )
    support = check_instance_type(field, source.instance_type, required=required)
    return support.mirrorable, support.reason


def _plan_sessions(
    name: str,
    specs: Sequence[SourceSpec],
    decisions: Sequence[SourceDecision],
    plan: NetworkPlan | None,
) -> list[tuple[str, _Session]]:
    """(field naming the interface, session) for every natively mirrored interface."""
    sessions = []
    for spec, decision in zip(specs, decisions, strict=True):
        if _by_gateway(decision):
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
                (field, _Session(f"{name}-{source.name}-{interface.key}", interface, scope, source))
            )
    return sessions


def _target_inputs(target: TargetChoice) -> dict[str, Any]:
    if target.kind is TargetKind.SENSOR:
        return {"network_interface_id": target.value.network_interface_id}
    return {target.kind.value: target.value}


def _describe(target: TargetChoice) -> str:
    if target.kind is TargetKind.SENSOR:
        return f"sensor {target.value.private_ip}"
    return {
        TargetKind.NETWORK_INTERFACE: "a sensor interface",
        TargetKind.NETWORK_LOAD_BALANCER: "sensors behind a Network Load Balancer",
        TargetKind.GATEWAY_LOAD_BALANCER_ENDPOINT: "appliances behind a Gateway Load Balancer",
    }[target.kind]


def _filter_rule(
    filter_name: str,
    mirror_filter: aws.ec2.TrafficMirrorFilter,
    rule: FilterRule,
    opts: pulumi.ResourceOptions,
) -> aws.ec2.TrafficMirrorFilterRule:
    # AWS speaks source/destination; the plan speaks of the source's own side and the remote.
    ingress = rule.direction.value == "ingress"
    local = "0.0.0.0/0"
    remote = str(rule.remote)
    source_port, destination_port = (
        (rule.remote_port, rule.local_port) if ingress else (rule.local_port, rule.remote_port)
    )
    return aws.ec2.TrafficMirrorFilterRule(
        f"{filter_name}-{rule.direction.value}-{rule.key}",
        traffic_mirror_filter_id=mirror_filter.id,
        description=rule.description,
        rule_number=rule.order,
        rule_action=rule.action.value,
        traffic_direction=rule.direction.value,
        protocol=rule.protocol,
        source_cidr_block=remote if ingress else local,
        destination_cidr_block=local if ingress else remote,
        source_port_range=(
            None if source_port is None else {"from_port": source_port, "to_port": source_port}
        ),
        destination_port_range=(
            None
            if destination_port is None
            else {"from_port": destination_port, "to_port": destination_port}
        ),
        opts=opts,
    )


MirrorSession = AwsMirrorSession
"""This class's name before every cloud shared :class:`components.MirrorSession`: programs that
import it from here keep working."""
