"""``SensorFleet``: an Auto Scaling group of sensors behind a Network or Gateway Load Balancer.

One sensor handles about 2 Gbit/s of copies; a fleet handles what the user expects, sized from
``expected_gbps`` (:mod:`components.aws.fleet_plan`) and scaled on network-in. Every sensor boots
the shared sensor cloud-config (:func:`components.sensor.render_boot_cloud_config`) and reads
its settings from one SSM parameter, applied in place like a single sensor's; the launch
template holds no settings.

- ``target: nlb`` (default): an internal Network Load Balancer in the monitor subnets, with a UDP
  4789 listener (AWS drops mirrored copies silently without one) and a UDP target group health
  checked over HTTP on the sensor's health responder (port 8480 by default, answering only
  while ``cloudtap-sensor check`` passes). Cross-zone load balancing is off, so copies stay in
  their zone. The NLB hashes each flow's 5-tuple to one sensor; Traffic Mirroring derives the
  VXLAN source port from the mirrored flow, so every copy of one flow, both directions'
  sessions included, reaches the same sensor (a sensor sees whole conversations).
  The NLB listens at a fixed address in each monitor subnet (its .11,
  :func:`~components.mirroring.fleet_load_balancer_address`), so the gateway mirror can send its
  VXLAN copies to its own zone's (``gateway_mirror.to_fleet``); fleet sensors expect no
  per-gateway heartbeats, which the NLB would hand to one sensor only.
- ``target: gwlb``: a Gateway Load Balancer in the monitor subnets, a GENEVE 6081 target group
  health checked the same way, an endpoint service and one Gateway Load Balancer endpoint per
  zone; a mirror session can target each source's own zone's endpoint (``zone_local_targets``),
  which saves cross-zone data charges.

A :class:`~components.aws.mirror_session.MirrorSession` takes the fleet as ``target.fleet``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from ..boot_bundle import BootBundle, boot_bundle
from ..errors import CloudtapInputError
from ..fields import reject_unknown_fields
from ..mirroring import fleet_load_balancer_address
from ..monitored_network import Cloud, MonitoredNetwork
from ..network_plan import NetworkPlan, Tier
from ..sensor import (
    SENSOR_FIELDS,
    SensorArgs,
    SensorPlan,
    plan_sensor,
    render_boot_cloud_config,
    render_settings,
)
from ..settings_delivery import SettingsSource, check_fits_ssm_parameter
from ..shapes import UNLISTED_INSTANCE_TYPES
from ..user_data import OWN_BOOT_FILES
from .boot_bundle import check_bundled_user_data, store_bundle
from .fleet_plan import (
    DEFAULT_EXPECTED_GBPS,
    DEFAULT_INSTANCE_TYPE,
    FleetSizing,
    FleetTarget,
    parse_expected_gbps,
    parse_target,
    plan_sizing,
    preview_line,
)
from .gateway_group import gateway_image
from .instances import (
    SsmProfile,
    latest_ubuntu_2404,
    settings_names,
    settings_parameter,
    settings_push,
    ssm_instance_profile,
)
from .mirror_support import mirror_support
from .monitored_vpc import MonitoredVpc, sg_entry
from .rules import sensor_egress_rules, sensor_ingress_rules
from .sensor import sensor_os_family
from .validation import (
    architecture_of,
    validate_ami_id,
    validate_instance_type,
    validate_key_name,
    validate_tags,
    validate_unlisted_instance_types,
)

TYPE_TOKEN = "cloudtap:aws:SensorFleet"
FLEET_TAG = "cloudtap-fleet"
"""Instance tag naming the fleet: the settings push finds the group's instances by it."""
VXLAN_PORT = 4789
GENEVE_PORT = 6081
HEALTH_CHECK_GRACE_SECONDS = 900
"""A sensor's boot installs its capture tools, the IDS and its rules before it reports healthy."""


def health_check(port: int) -> aws.lb.TargetGroupHealthCheckArgsDict:
    """The health responder answers 200 on any path while the sensor's check passes, and does
    not listen at all while it fails: three misses 10 s apart take a sensor out."""
    return {
        "protocol": "HTTP",
        "port": str(port),
        "path": "/",
        "matcher": "200",
        "interval": 10,
        "timeout": 5,
        "healthy_threshold": 3,
        "unhealthy_threshold": 3,
    }


DEREGISTRATION_DELAY_SECONDS = 30
"""Copies are one-way: nothing to drain for long once a sensor is on its way out."""


class SensorFleetArgs(SensorArgs, total=False):
    """Arguments of :class:`SensorFleet`: the cloud-neutral ``SensorArgs`` (every sensor gets
    the same settings) plus the fleet's. Only ``network`` is required."""

    network: MonitoredVpc
    """Required. The monitored VPC whose monitor subnets the sensors spread over."""
    target: str
    """``"nlb"`` (a Network Load Balancer with a UDP 4789 listener, one mirror target for the
    fleet) or ``"gwlb"`` (a Gateway Load Balancer, GENEVE 6081, an endpoint per zone). Default
    ``"nlb"``."""
    expected_gbps: float
    """Mirrored traffic the fleet must inspect, Gbit/s, above 0. Default 2.0. Sizes the fleet:
    per zone, this divided by the zones and by one sensor's capacity, rounded up."""
    capacity_gbps_per_sensor: float
    """What one sensor of ``instance_type`` handles, Gbit/s. Default: cloudtap's dated capacity
    table (:data:`~components.aws.fleet_plan.SENSOR_CAPACITY_GBPS`); required for a type the
    table lacks."""
    min_per_zone: int
    """Fewest sensors per zone, 1-100. Default 1."""
    max_per_zone: int
    """Most sensors per zone, from ``min_per_zone`` to 100. Default 4 (or ``min_per_zone``)."""
    scale_on_network_in: bool
    """Target tracking on the group's average network-in, at 70% of one sensor's capacity.
    Default true. Scaling in moves the flows of the sensor that leaves to the others."""
    instance_type: str
    """Default ``"c5n.large"`` (see :class:`~components.aws.sensor.AwsSensorArgs`)."""
    unlisted_instance_types: Sequence[str]
    """Instance types newer than the installed botocore, accepted for ``instance_type``.
    Default: none."""
    ami_id: pulumi.Input[str]
    """Default: the latest Ubuntu 24.04 LTS (Canonical's public SSM parameter); a newer one is
    taken when an instance is next replaced, never by replacing running sensors."""
    os_family: str
    """As for a single sensor: ``"debian"`` (default), ``"amazon-linux"`` or ``"rhel"``."""
    key_name: pulumi.Input[str]
    """EC2 key pair for SSH. Default: none (SSM Session Manager)."""
    tags: Mapping[str, str]
    """Tags merged into every resource's tags. Default: none; ``Name`` may not be given."""


FIELDS = frozenset(SensorFleetArgs.__annotations__)
_FLEET_FIELDS = FIELDS - SENSOR_FIELDS


@dataclass(frozen=True)
class SensorFleetPlan:
    """A fleet as planned, before any resource (what a MirrorSession needs of its target)."""

    network: MonitoredNetwork
    plan: SensorPlan
    target: FleetTarget
    expected_gbps: float
    sizing: FleetSizing
    scale_on_network_in: bool
    instance_type: str
    ami_id: pulumi.Input[str] | None
    key_name: pulumi.Input[str] | None
    tags: Mapping[str, str]
    settings: str
    warnings: tuple[str, ...]

    @property
    def zones(self) -> int:
        return self.sizing.zones

    @property
    def balancer(self) -> FleetTarget:
        """What the fleet sits behind (a MirrorSession plans its targets from it)."""
        return self.target

    @property
    def load_balancer_addresses(self) -> tuple[ipaddress.IPv4Address, ...]:
        """Behind an NLB, its fixed address in each monitor subnet, in zone order (the subnet's
        .11: :func:`~components.mirroring.fleet_load_balancer_address`), where the gateway
        mirror's copies can go; empty behind a GWLB (its nodes' addresses are AWS's choice)."""
        if self.target is not FleetTarget.NLB:
            return ()
        monitor = self.network.design.plan.subnets[Tier.MONITOR]
        return tuple(fleet_load_balancer_address(subnet) for subnet in monitor)


def plan_sensor_fleet(args: SensorFleetArgs | Mapping[str, Any]) -> SensorFleetPlan:
    """Check ``SensorFleetArgs``, size the fleet; registers nothing. ``network`` may be a
    MonitoredVpc or its design."""
    raw: Any = args
    if not isinstance(raw, Mapping):
        raise CloudtapInputError("args", raw, "a mapping of SensorFleetArgs fields")
    reject_unknown_fields(raw, FIELDS, "")
    network = raw.get("network")
    if not isinstance(network, MonitoredNetwork) or network.design.cloud is not Cloud.AWS:
        raise CloudtapInputError(
            "network", network, "the MonitoredVpc whose monitor subnets the sensors spread over"
        )
    plan = network.design.plan
    target = parse_target(raw.get("target"))
    ami_id = validate_ami_id(raw.get("ami_id"), "ami_id")
    sensor_plan = plan_sensor(
        raw,
        cloud_fields=_FLEET_FIELDS,
        default_feed_sources=(plan.cidr_block,),
        os_family=sensor_os_family(raw.get("os_family"), ami_id),
        home_networks=plan.subnets[Tier.PRIVATE],
    )
    instance_type = validate_instance_type(
        raw.get("instance_type", DEFAULT_INSTANCE_TYPE),
        "instance_type",
        validate_unlisted_instance_types(raw.get(UNLISTED_INSTANCE_TYPES)),
    )
    warnings = []
    support = mirror_support(instance_type)
    if not support.mirrorable:
        warnings.append(f"instance_type {instance_type}: {support.reason}")
    feed = {FleetTarget.NLB: "vxlan", FleetTarget.GWLB: "geneve"}[target]
    if feed not in {encapsulation.value for encapsulation in sensor_plan.feeds}:
        raise CloudtapInputError(
            "feeds",
            [encapsulation.value for encapsulation in sensor_plan.feeds],
            f"a list with {feed}: a fleet behind a {target.value.upper()} receives {feed}",
        )
    if target is FleetTarget.NLB:
        _check_load_balancer_addresses(network.design.plan)
    sizing = plan_sizing(raw, instance_type, plan.availability_zone_count)
    if sizing.needed_per_zone > sizing.max_per_zone:
        warnings.append(
            f"expected_gbps needs {sizing.needed_per_zone} sensors per zone, more than "
            f"max_per_zone {sizing.max_per_zone}: copies beyond what they handle are dropped"
        )
    scale = raw.get("scale_on_network_in", True)
    if not isinstance(scale, bool):
        raise CloudtapInputError("scale_on_network_in", scale, "true or false")
    settings = render_settings(sensor_plan)
    check_fits_ssm_parameter(settings, "ids_packages", raw.get("ids_packages"))
    return SensorFleetPlan(
        network=network,
        plan=sensor_plan,
        target=target,
        expected_gbps=parse_expected_gbps(raw.get("expected_gbps", DEFAULT_EXPECTED_GBPS)),
        sizing=sizing,
        scale_on_network_in=scale,
        instance_type=instance_type,
        ami_id=ami_id,
        key_name=validate_key_name(raw.get("key_name"), "key_name"),
        tags=validate_tags(raw.get("tags")),
        settings=settings,
        warnings=tuple(warnings),
    )


def _check_load_balancer_addresses(plan: NetworkPlan) -> None:
    """The NLB's fixed addresses must be free: the gateway mirror's sensor may not be on one."""
    mirror = plan.gateway_mirror
    if mirror is None or mirror.to_fleet:
        return
    for subnet in plan.subnets[Tier.MONITOR]:
        if mirror.sensor_address == fleet_load_balancer_address(subnet):
            raise CloudtapInputError(
                "network.gateway_mirror.sensor_address",
                str(mirror.sensor_address),
                f"an address other than {mirror.sensor_address}: a sensor fleet's Network Load "
                "Balancer takes each monitor subnet's .11",
            )


class SensorFleet(pulumi.ComponentResource):
    """Sensors in an Auto Scaling group behind a load balancer; a mirror target as a whole.

    Children: ``{name}-sg``, ``{name}-role``/``-ssm``/``-profile``, ``{name}-settings`` (+
    ``-settings-status``, ``-settings-read``, ``-fetch``, ``-fetch-association``),
    ``{name}-lt``, ``{name}-group``,
    ``{name}-lb``, ``{name}-tg``, ``{name}-listener``, ``{name}-scaling`` (with
    ``scale_on_network_in``) and, behind a GWLB, ``{name}-endpoint-service`` and
    ``{name}-endpoint-N`` per zone.
    """

    plan: SensorFleetPlan
    network: MonitoredVpc
    user_data: str
    """The shared sensor boot cloud-config (the same whatever the settings); it reaches the
    instances as :attr:`boot_bundle`."""
    boot_bundle: BootBundle
    settings: str
    security_group: aws.ec2.SecurityGroup
    launch_template: aws.ec2.LaunchTemplate
    group: aws.autoscaling.Group
    load_balancer: aws.lb.LoadBalancer
    target_group: aws.lb.TargetGroup
    listener: aws.lb.Listener
    endpoint_service: aws.ec2.VpcEndpointService | None
    """Behind a GWLB only."""
    endpoints: list[aws.ec2.VpcEndpoint]
    """Behind a GWLB, one per zone in zone order; empty behind an NLB."""
    load_balancer_addresses: list[str]
    """Behind an NLB, its fixed address in each monitor subnet, in zone order; empty behind a
    GWLB."""

    def __init__(
        self, name: str, args: SensorFleetArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        planned = plan_sensor_fleet(args)
        network = planned.network
        if not isinstance(network, MonitoredVpc):
            raise CloudtapInputError(
                "network", network, "the MonitoredVpc whose monitor subnets the sensors use"
            )
        names = settings_names(name, "sensor")
        self._settings_parameter_name = names.parameter
        self.plan = planned
        self.network = network
        self.load_balancer_addresses = [str(a) for a in planned.load_balancer_addresses]
        self.settings = planned.settings
        self.user_data = render_boot_cloud_config(
            source=SettingsSource.aws_ssm(names.parameter),
            os_family=planned.plan.os_family,
            ids_custom_rules=planned.plan.ids.custom_rules,
        )
        # EC2's 16 KB do not hold the sensor's boot: its files go in the network's boot bucket.
        self.boot_bundle = boot_bundle("sensor", self.user_data)
        check_bundled_user_data(self.boot_bundle, *OWN_BOOT_FILES)
        super().__init__(TYPE_TOKEN, name, None, opts)
        self._tags_base = planned.tags
        for warning in planned.warnings:
            pulumi.log.warn(warning, resource=self)
        pulumi.log.info(
            preview_line(
                planned.sizing, planned.expected_gbps, planned.instance_type, planned.target
            ),
            resource=self,
        )
        child = pulumi.ResourceOptions(parent=self)
        monitor = network.subnets[Tier.MONITOR.value]
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=network.vpc_id,
            description="cloudtap sensor fleet: mirror feeds, health checks, SSH from mgmt",
            ingress=[
                sg_entry(rule)
                for rule in sensor_ingress_rules(planned.plan, network.plan.management_cidrs)
            ],
            egress=[sg_entry(rule) for rule in sensor_egress_rules()],
            tags=self._tags(f"{name}-sg"),
            opts=child,
        )
        ssm = ssm_instance_profile(
            name, f"cloudtap sensor fleet {name}: managed through SSM", parent=self, tags=self._tags
        )
        settings = settings_parameter(
            name,
            parameter_name=names.parameter,
            settings_text=self.settings,
            role=ssm.role,
            parent=self,
            tags=self._tags,
        )
        self._build_load_balancer(name, planned, network)
        self._build_group(
            name,
            planned=planned,
            network=network,
            ssm=ssm,
            read_policy=settings.read_policy,
            monitor=monitor,
        )
        settings_push(
            name,
            document_name=names.document,
            parameter=settings.parameter,
            parent=self,
            tags=self._tags,
            targets=[{"key": f"tag:{FLEET_TAG}", "values": [names.parameter]}],
        )
        self.register_outputs(
            {
                "group_name": self.group.name,
                "load_balancer_arn": self.load_balancer.arn,
                "target_group_arn": self.target_group.arn,
                "load_balancer_addresses": self.load_balancer_addresses,
                "endpoint_ids": [endpoint.id for endpoint in self.endpoints],
            }
        )

    @property
    def balancer(self) -> FleetTarget:
        """What the fleet sits behind: ``nlb`` or ``gwlb``."""
        return self.plan.target

    def _tags(self, child_name: str) -> dict[str, str]:
        return {**self._tags_base, "Name": child_name}

    def _build_load_balancer(
        self, name: str, planned: SensorFleetPlan, network: MonitoredVpc
    ) -> None:
        child = pulumi.ResourceOptions(parent=self)
        gateway = planned.target is FleetTarget.GWLB
        health_port = planned.plan.health_port
        self.load_balancer = aws.lb.LoadBalancer(
            f"{name}-lb",
            load_balancer_type="gateway" if gateway else "network",
            internal=None if gateway else True,
            # An NLB at a fixed address per monitor subnet, so the gateway mirror can send to its
            # own zone's (changing these mappings replaces the NLB; its name stays the same).
            subnet_mappings=[
                {"subnet_id": subnet.id, "private_ipv4_address": str(address)}
                for subnet, address in zip(
                    network.subnets[Tier.MONITOR.value],
                    planned.load_balancer_addresses,
                    strict=True,
                )
            ]
            if not gateway
            else None,
            subnets=[subnet.id for subnet in network.subnets[Tier.MONITOR.value]]
            if gateway
            else None,
            # Copies stay in their zone: no cross-zone data charges, a zone's loss stays its own.
            enable_cross_zone_load_balancing=False,
            tags=self._tags(f"{name}-lb"),
            opts=child,
        )
        self.target_group = aws.lb.TargetGroup(
            f"{name}-tg",
            vpc_id=network.vpc_id,
            target_type="instance",
            protocol="GENEVE" if gateway else "UDP",
            port=GENEVE_PORT if gateway else VXLAN_PORT,
            health_check=health_check(health_port),
            # The target group's own cross-zone switch: NLB target groups have one, GWLB's not.
            load_balancing_cross_zone_enabled=None if gateway else "false",
            deregistration_delay=DEREGISTRATION_DELAY_SECONDS,
            tags=self._tags(f"{name}-tg"),
            opts=child,
        )
        forward: list[aws.lb.ListenerDefaultActionArgsDict] = [
            {"type": "forward", "target_group_arn": self.target_group.arn}
        ]
        self.listener = aws.lb.Listener(
            f"{name}-listener",
            load_balancer_arn=self.load_balancer.arn,
            # A GWLB listener takes every packet: it has neither port nor protocol.
            port=None if gateway else VXLAN_PORT,
            protocol=None if gateway else "UDP",
            default_actions=forward,
            tags=self._tags(f"{name}-listener"),
            opts=child,
        )
        self.endpoint_service = None
        self.endpoints = []
        if not gateway:
            return
        self.endpoint_service = aws.ec2.VpcEndpointService(
            f"{name}-endpoint-service",
            acceptance_required=False,
            gateway_load_balancer_arns=[self.load_balancer.arn],
            tags=self._tags(f"{name}-endpoint-service"),
            opts=child,
        )
        for index, subnet in enumerate(network.subnets[Tier.MONITOR.value]):
            self.endpoints.append(
                aws.ec2.VpcEndpoint(
                    f"{name}-endpoint-{index + 1}",
                    vpc_id=network.vpc_id,
                    vpc_endpoint_type="GatewayLoadBalancer",
                    service_name=self.endpoint_service.service_name,
                    subnet_ids=[subnet.id],
                    tags=self._tags(f"{name}-endpoint-{index + 1}"),
                    opts=child,
                )
            )

    def _build_group(
        self,
        name: str,
        *,
        planned: SensorFleetPlan,
        network: MonitoredVpc,
        ssm: SsmProfile,
        read_policy: aws.iam.RolePolicy,
        monitor: Sequence[aws.ec2.Subnet],
    ) -> None:
        bundle = store_bundle(
            name,
            self.boot_bundle,
            bucket=network.boot_bucket,
            role=ssm.role,
            parent=self,
            tags=self._tags,
        )
        architecture = architecture_of(planned.instance_type)
        ubuntu = planned.ami_id is None and planned.plan.os_family.value == "debian"
        image_id: pulumi.Input[str]
        if ubuntu:
            image_id = latest_ubuntu_2404(architecture, self)
            # Canonical's EC2 images boot from this device name.
            root_device: pulumi.Input[str] = "/dev/sda1"
        else:
            image = gateway_image(planned.ami_id, architecture, parent=self)
            image_id, root_device = image.image_id, image.root_device_name
        sizing = planned.sizing
        self.launch_template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            description=f"cloudtap sensor fleet {name}",
            image_id=image_id,
            instance_type=planned.instance_type,
            key_name=planned.key_name,
            iam_instance_profile={"arn": ssm.profile.arn},
            metadata_options={
                "http_tokens": "required",
                "http_endpoint": "enabled",
                "http_put_response_hop_limit": 1,
            },
            # One-minute network-in for target tracking.
            monitoring={"enabled": True},
            vpc_security_group_ids=[self.security_group.id],
            block_device_mappings=[
                {
                    "device_name": root_device,
                    "ebs": {
                        "encrypted": "true",
                        "volume_type": "gp3",
                        "delete_on_termination": "true",
                    },
                }
            ],
            # Small and gzip-compressed: the fetcher and the bundle's key, which holds its sha256.
            user_data=bundle.user_data_base64,
            tag_specifications=[
                {
                    "resource_type": "instance",
                    # The settings parameter's name: unique per stack, as the push's target.
                    "tags": {**self._tags(name), FLEET_TAG: self._settings_parameter_name},
                },
                {"resource_type": "volume", "tags": self._tags(name)},
            ],
            update_default_version=True,
            tags=self._tags(f"{name}-lt"),
            opts=pulumi.ResourceOptions(
                parent=self, ignore_changes=["imageId"] if planned.ami_id is None else []
            ),
        )
        self.group = aws.autoscaling.Group(
            f"{name}-group",
            min_size=sizing.minimum,
            max_size=sizing.maximum,
            desired_capacity=sizing.desired,
            vpc_zone_identifiers=[subnet.id for subnet in monitor],
            launch_template={
                "id": self.launch_template.id,
                "version": self.launch_template.latest_version.apply(str),
            },
            target_group_arns=[self.target_group.arn],
            # The load balancer's health check is the sensor's own check (its health responder).
            health_check_type="ELB",
            health_check_grace_period=HEALTH_CHECK_GRACE_SECONDS,
            # Spare sensors exist: replace them a few at a time, half the fleet always serving.
            instance_refresh={"strategy": "Rolling", "preferences": {"min_healthy_percentage": 50}},
            tags=[
                {"key": key, "value": value, "propagate_at_launch": False}
                for key, value in self._tags(name).items()
            ],
            opts=pulumi.ResourceOptions(
                parent=self,
                # Target tracking owns the desired count once the group exists.
                ignore_changes=["desiredCapacity"] if planned.scale_on_network_in else [],
                # Sensors install packages through the gateway; SSM needs the policy first.
                depends_on=[
                    ssm.policy_attachment,
                    read_policy,
                    bundle.object,
                    bundle.read_policy,
                    *network.monitor_default_routes,
                    *network.gateway_ready,
                    # The NLB's fixed addresses first: a sensor must not take one of them.
                    self.load_balancer,
                ],
            ),
        )
        if planned.scale_on_network_in:
            aws.autoscaling.Policy(
                f"{name}-scaling",
                autoscaling_group_name=self.group.name,
                policy_type="TargetTrackingScaling",
                estimated_instance_warmup=HEALTH_CHECK_GRACE_SECONDS,
                target_tracking_configuration={
                    "predefined_metric_specification": {
                        "predefined_metric_type": "ASGAverageNetworkIn"
                    },
                    "target_value": sizing.network_in_target_bytes_per_minute,
                },
                opts=pulumi.ResourceOptions(parent=self),
            )
