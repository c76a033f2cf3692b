"""``MirrorSession``: copy sources' packets to one target, by AWS Traffic Mirroring or the gateway.

The facade cloudtap offers for mirroring (Azure virtual network TAP and OpenStack Tap-as-a-Service
get the same shape): a target, a list of sources and a method.

- **native**: AWS Traffic Mirroring. One target and one filter per component (what is static),
  one session per source interface (what comes and goes), named
  ``f"{name}-{source name}-{interface key}"`` — the key is the interface's device index + 1 (its
  list position + 1 when the ids are given explicitly), so adding or removing another source
  never renames a session.
- **gateway**: the monitored network's gateway copies everything it forwards to the sensor at
  ``gateway_mirror.sensor_address`` (with ``gateway_mirror.to_fleet``: each zone's gateway to
  its own zone's NLB address of a sensor fleet). No resource per source: the component checks
  that the gateway mirror is on, that the source's traffic crosses the gateway (private tier)
  and that the target is that sensor, or that fleet behind an NLB (never a GWLB fleet: it
  speaks GENEVE and returns the traffic); the preview says where the copies go.
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
The checks live in :mod:`components.aws.mirror_planning`; this module builds the resources.

``enrol`` adds the enrolment function (:mod:`components.aws.enrolment`): sessions for instances
launched after ``up``, owned by the function and tagged so (never by Pulumi).
``mirrorable_instance_types`` overrides the dated instance-type data; every preview line names
that data's date.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws

from .. import mirror_session
from ..errors import CloudtapInputError
from ..host_feed import HostCredentials, HostFeedPlan, HostFeedTransport
from ..host_feeds import plan_host_feeds
from ..mirror_plan import FilterRule, FilterScope, SourceDecision, preview_line
from ..mirroring import MirrorMethod
from ..monitored_network import Cloud
from ..network_plan import Tier
from . import mirror_planning
from .discovery import AwsClients
from .enrolment import Enrolment, build_enrolment
from .fleet_plan import FleetTarget
from .host_feed_install import FILES_SHA256_PARAMETER, document_name, install_document
from .mirror_args import MirrorSessionArgs
from .mirror_checks import TargetChoice, TargetKind
from .mirror_planning import MirrorSessionPlan, by_gateway, filter_child_name
from .sensor import AwsSensorPlan, Sensor
from .sensor_fleet import SensorFleet, SensorFleetPlan

TYPE_TOKEN = "cloudtap:aws:MirrorSession"
HOST = MirrorMethod.HOST
# Mirror the VPC's DNS resolver traffic too (AWS skips it otherwise): IDSs log DNS.
NETWORK_SERVICES = ["amazon-dns"]


class AwsMirrorSession(mirror_session.MirrorSession):
    """Copies of every source's packets, to one target, without loops or duplicates.

    Children (only when at least one source is mirrored natively): ``{name}-target``,
    ``{name}-filter`` with rules ``{name}-filter-{direction}-{rule}``, ``{name}-filter-all``
    when the gateway mirror is on and a native source is outside its path, and one
    ``{name}-{source}-{key}`` session per source interface. With ``enrol``: the target and the
    filters the function needs (even with no source), and the function's ``{name}-enrol-...``
    children (:mod:`components.aws.enrolment`), whose sessions are the function's, not Pulumi's.
    """

    decisions: tuple[SourceDecision, ...]
    """Per source, in order: which way it is copied and why."""
    target: aws.ec2.TrafficMirrorTarget | None
    """``None`` when every source goes through the gateway; the first zone's with
    ``zone_local_targets``."""
    targets: list[aws.ec2.TrafficMirrorTarget]
    """Every mirror target: one, or one per zone (a fleet's GWLB endpoints with
    ``zone_local_targets``, named ``{name}-target-N``)."""
    filters: dict[str, aws.ec2.TrafficMirrorFilter]
    """Filter scope (``"all"``, ``"east-west"``) -> filter; empty without native sources."""
    filter_rules: list[aws.ec2.TrafficMirrorFilterRule]
    sessions: dict[str, aws.ec2.TrafficMirrorSession]
    """Child name -> session, one per natively mirrored interface."""
    native_sources: list[str]
    gateway_sources: list[str]
    enrolment: Enrolment | None
    """The enrolment function and its rules (``enrol``), else ``None``."""
    host_feed_installs: dict[str, aws.ssm.Association]
    """Source name -> the association installing its ``vxlan`` host feed through SSM (sources
    given by ``instance_id``; ``{name}-{source}-hostfeed`` document and ``-association``)."""

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
        _check_install_names(name, planned)
        super().__init__(TYPE_TOKEN, name, None, opts)
        self._prefix = name
        self._tags_base = planned.tags
        self.decisions = planned.decisions
        self.native_sources = [
            d.source.name for d in planned.decisions if d.method is MirrorMethod.NATIVE
        ]
        self.gateway_sources = [d.source.name for d in planned.decisions if by_gateway(d)]
        east_west = {s.source.name for s in planned.sessions if s.scope is FilterScope.EAST_WEST}
        # The type data is dated: each line says which data decided it.
        dated = (
            f" (instance-type data of {planned.instance_type_data})"
            if planned.instance_type_data
            else ""
        )
        for decision in planned.decisions:
            pulumi.log.info(
                preview_line(decision, east_west_only=decision.source.name in east_west) + dated,
                resource=self,
            )
        for note in planned.notes:
            pulumi.log.info(note, resource=self)
        for warning in planned.warnings:
            pulumi.log.warn(warning, resource=self)

        self.target = None
        self.targets = []
        self.filters = {}
        self.filter_rules = []
        self.sessions = {}
        self.enrolment = None
        self.host_feeds = None
        self.host_sources = [d.source.name for d in planned.decisions if d.method is HOST]
        self.host_feed_installs = {}
        if planned.host_feeds is not None:
            self._build_host_feeds(planned, args)
        if planned.sessions or planned.enrolment is not None:
            self._build(planned)
        if planned.enrolment is not None:
            assert self.target is not None
            network = args.get("network") or getattr(
                (args.get("target") or {}).get("sensor"), "network", None
            )
            self.enrolment = build_enrolment(
                name,
                planned.enrolment,
                parent=self,
                target=self.target,
                filters=self.filters,
                vpc_id=getattr(network, "vpc_id", None),
                session_number=planned.session_number,
                vni=planned.vni,
                packet_length=planned.packet_length,
                session_tags=planned.tags,
                tags=planned.tags,
                zone_targets=self._zone_targets(planned),
            )
        self._register_results(
            {
                "target_id": self.target.id if self.target is not None else None,
                "filter_ids": {scope: f.id for scope, f in self.filters.items()},
                **(
                    {"enrolment_function": self.enrolment.function.name}
                    if self.enrolment is not None
                    else {}
                ),
                **self._host_feed_outputs(),
            }
        )

    def _zone_targets(
        self, planned: MirrorSessionPlan
    ) -> list[tuple[pulumi.Input[str], aws.ec2.TrafficMirrorTarget]]:
        """(zone name, its target) per zone with zone-local targets: the enrolment function
        mirrors an instance launched later to its own zone's endpoint."""
        if not planned.zone_local:
            return []
        fleet = planned.target.value
        monitor = fleet.network.subnets[Tier.MONITOR.value]
        return [
            (subnet.availability_zone, target)
            for subnet, target in zip(monitor, self.targets, strict=True)
        ]

    def _build_host_feeds(self, planned: MirrorSessionPlan, args: Any) -> None:
        """The ``{name}-host-feeds`` child; for each host-fed source given by ``instance_id``
        with a ``vxlan`` feed, its install through SSM."""
        assert planned.host_feeds is not None
        # Not the target Sensor's group by default: its rules are inline, and a separate rule
        # on it would be removed by the group's next update.
        feeds_args = dict(planned.host_feeds)
        child = pulumi.ResourceOptions(parent=self)
        self.host_feeds = mirror_session.build_host_feeds(self._prefix, feeds_args, self)  # type: ignore[arg-type]
        plans = {plan.name: plan for plan in plan_host_feeds(feeds_args)[0]}
        for decision in planned.decisions:
            source, plan = decision.source, plans.get(decision.source.name)
            if plan is None or not (source.discovered and source.instance_id):
                continue
            key_parameter = self.host_feeds.key_parameters.get(plan.name)
            if plan.transport is not HostFeedTransport.VXLAN and key_parameter is None:
                pulumi.log.warn(
                    f"{source.label}: a tls host feed is not installed through SSM (its key "
                    "would sit in the document; give host_feed.aws_host_roles to keep it in a "
                    f"SecureString): install host_feeds.user_data_parts[{source.name!r}] on it "
                    "yourself",
                    resource=self,
                )
                continue
            content, digest = self._install_document(plan, key_parameter)
            stem = f"{self._prefix}-{source.name}-hostfeed"
            document = aws.ssm.Document(
                stem,
                name=str(
                    document_name(
                        pulumi.get_project(), pulumi.get_stack(), self._prefix, source.name
                    )
                ),
                document_type="Command",
                document_format="JSON",
                content=content,
                tags=self._tags(stem),
                opts=child,
            )
            self.host_feed_installs[source.name] = aws.ssm.Association(
                f"{stem}-association",
                name=document.name,
                targets=[{"key": "InstanceIds", "values": [source.instance_id]}],
                parameters={FILES_SHA256_PARAMETER: digest},
                tags=self._tags(f"{stem}-association"),
                opts=child,
            )

    def _install_document(
        self, plan: HostFeedPlan, key_parameter: str | None
    ) -> tuple[pulumi.Input[str], pulumi.Input[str]]:
        """(content, sha256) of a feed's install: known at preview for ``vxlan``, once the
        certificates are for ``tls`` (whose key stays in its SecureString)."""
        if key_parameter is None:
            return install_document(plan)
        assert self.host_feeds is not None and self.host_feeds.credentials is not None
        credentials = self.host_feeds.credentials
        both = pulumi.Output.all(credentials.ca_certificate, credentials.host_certificates).apply(
            lambda values: install_document(
                plan, HostCredentials(values[0], values[1][plan.name], None), key_parameter
            )
        )
        return both.apply(lambda pair: pair[0]), both.apply(lambda pair: pair[1])

    def _tags(self, child_name: str) -> dict[str, str]:
        return {**self._tags_base, "Name": child_name}

    def _build(self, planned: MirrorSessionPlan) -> None:
        name = self._prefix
        # One options object for every child: nothing per child differs, and building it once
        # keeps a thousand sessions as cheap as a thousand bare resources.
        child = pulumi.ResourceOptions(parent=self)
        target = planned.target
        zone_local = planned.zone_local
        for zone, inputs in enumerate(_target_inputs(target, zone_local=zone_local)):
            child_name = f"{name}-target-{zone + 1}" if zone_local else f"{name}-target"
            self.targets.append(
                aws.ec2.TrafficMirrorTarget(
                    child_name,
                    description=f"cloudtap {name}: {_describe(target)}",
                    **inputs,
                    tags=self._tags(child_name),
                    opts=child,
                )
            )
        self.target = self.targets[0]
        for scope, scope_rules in planned.rules.items():
            filter_name = filter_child_name(name, scope, planned.network)
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
        filter_ids = {scope: self.filters[scope.value].id for scope in planned.rules}
        for session in planned.sessions:
            self.sessions[session.child_name] = aws.ec2.TrafficMirrorSession(
                session.child_name,
                description=f"cloudtap {name}: {session.source.label} #{session.interface.key}",
                network_interface_id=session.interface.id,
                traffic_mirror_filter_id=filter_ids[session.scope],
                traffic_mirror_target_id=self.targets[session.zone].id,
                session_number=planned.session_number,
                virtual_network_id=planned.vni,
                packet_length=planned.packet_length,
                tags=self._tags(session.child_name),
                opts=child,
            )


def _check_install_names(name: str, planned: MirrorSessionPlan) -> None:
    for decision in planned.decisions:
        source = decision.source
        wanted = decision.method is HOST and source.instance_id and source.discovered
        if wanted and not document_name(
            pulumi.get_project(), pulumi.get_stack(), name, source.name
        ):
            raise CloudtapInputError(
                "name",
                name,
                f"a session name short enough to name {source.name}'s host feed SSM "
                "document (cloudtap-PROJECT-STACK-SESSION-SOURCE-hostfeed, 128 at most)",
            )


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
    return mirror_planning.plan_mirror_session(
        name,
        args,
        clients if clients is not None else AwsClients(),
        sensor_types=(Sensor, AwsSensorPlan),
        fleet_types=(SensorFleet, SensorFleetPlan),
    )


_SCOPE_TEXT = {
    FilterScope.ALL: "everything but the mirror feeds",
    FilterScope.EAST_WEST: "traffic inside the VPC (the gateway mirror copies the rest)",
}


def _target_inputs(target: TargetChoice, *, zone_local: bool) -> list[dict[str, Any]]:
    """The inputs of each mirror target: one, or one per zone."""
    if target.kind is TargetKind.SENSOR:
        return [{"network_interface_id": target.value.network_interface_id}]
    if target.kind is TargetKind.FLEET:
        fleet = target.value
        if fleet.balancer is FleetTarget.NLB:
            return [{"network_load_balancer_arn": fleet.load_balancer.arn}]
        endpoints = fleet.endpoints if zone_local else fleet.endpoints[:1]
        return [{"gateway_load_balancer_endpoint_id": endpoint.id} for endpoint in endpoints]
    return [{target.kind.value: target.value}]


def _describe(target: TargetChoice) -> str:
    if target.kind is TargetKind.SENSOR:
        return f"sensor {target.value.private_ip}"
    if target.kind is TargetKind.FLEET:
        return f"sensor fleet behind a {target.value.balancer.value.upper()}"
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
