"""cloudtap's Pulumi program: a monitored network, a sensor and mirroring, from stack config.

    cloudtap:cloud    which cloud to build on: ``aws``, ``azure`` or ``openstack``

On ``aws``:

    cloudtap:network  the network's arguments (``MonitoredVpcArgs``); every field is optional
    cloudtap:sensor   optional: a sensor in the monitor tier (``AwsSensorArgs`` without
                      ``network``, which is the network above)
    cloudtap:mirror   optional: what to mirror (``MirrorSessionArgs`` without ``network``);
                      ``target`` defaults to the sensor, else the fleet
    cloudtap:fleet    optional: a sensor fleet behind a load balancer (``SensorFleetArgs``
                      without ``network``); AWS only
    cloudtap:host_feeds  optional: hosts that copy their own traffic (``HostFeedsArgs``;
                      ``sensor_address`` defaults to the sensor's, which then carries the
                      listener and admits it); AWS only

On ``azure`` the same three keys (``MonitoredVNetArgs``, ``AzureSensorArgs``,
``AzureMirrorSessionArgs``; every ``location`` defaults to ``azure-native:location``); without
``cloudtap:network`` the program mirrors EXISTING NICs to an EXISTING sensor by virtual network
TAP (``cloudtap:mirror`` only).

On ``openstack`` the same three keys build the seeds' design (``OpenStackNetworkArgs``,
``OpenStackSensorArgs``, ``OpenStackMirrorSessionArgs`` with ``method`` auto by default); without
``cloudtap:network`` the program mirrors EXISTING ports to an EXISTING sensor.

Any other ``cloudtap:*`` key, or a value of the wrong shape, fails the preview naming the key;
errors inside a component name their field from the stack key down
(``cloudtap:sensor.instance_type``).

    cloudtap:mirror   required: ``AzureMirrorSessionArgs`` (``location`` defaults to
                      ``azure-native:location``) or ``OpenStackMirrorSessionArgs`` (``cloud``
                      defaults to ``openstack:cloud``)

Everything else (validation, defaults, resources) lives in the ``components`` package, whose
cloud modules are imported only for the stack's cloud.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import Any, cast

import pulumi

import components
from components import Cloud, CloudtapInputError, MirrorSession
from components.stack_config import StackConfig, current_values, parse_stack_config, under

# The program's component names: child names derive from them, so they never change.
NETWORK_NAME = "cloudtap"
SENSOR_NAME = "cloudtap-sensor"
MIRROR_NAME = "cloudtap-mirror"
FLEET_NAME = "cloudtap-fleet"
HOST_FEEDS_NAME = "cloudtap-host-feeds"


def _reject_network(key: str, args: Mapping[str, Any]) -> None:
    if "network" in args:
        raise CloudtapInputError(
            f"cloudtap:{key}.network",
            args["network"],
            "no value: the program passes the network built from cloudtap:network",
        )


def _sections(
    stack: StackConfig, targets: str, *, fleet: bool = False
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]:
    """``cloudtap:network``, ``cloudtap:sensor`` and ``cloudtap:mirror`` of a cloud that builds
    its network: the latter two may not name a network, and a mirror needs a target (``targets``
    says which) or the sensor (or, where ``fleet`` says a cloud has them, the fleet)."""
    network = stack.section("network") or {}
    sensor_args = stack.section("sensor")
    mirror_args = stack.section("mirror")
    fleet_args = stack.section("fleet") if fleet else None
    for key, args in (("sensor", sensor_args), ("mirror", mirror_args), ("fleet", fleet_args)):
        if args is not None:
            _reject_network(key, args)
    if (
        mirror_args is not None
        and mirror_args.get("target") is None
        and sensor_args is None
        and fleet_args is None
    ):
        raise CloudtapInputError("cloudtap:mirror.target", None, targets)
    return network, sensor_args, mirror_args


def _aws(stack: StackConfig) -> pulumi.ComponentResource:
    from components.aws.cost_estimate import estimate_aws  # noqa: PLC0415 - only AWS stacks
    from components.aws.discovery import AwsClients  # noqa: PLC0415 - only AWS stacks load it
    from components.aws.gateway_group import GatewayStrategy  # noqa: PLC0415
    from components.aws.mirror_session import plan_mirror_session  # noqa: PLC0415
    from components.aws.monitored_vpc import plan_monitored_vpc  # noqa: PLC0415
    from components.aws.sensor import plan_aws_sensor  # noqa: PLC0415
    from components.aws.sensor_fleet import plan_sensor_fleet  # noqa: PLC0415
    from components.host_feeds import plan_host_feeds  # noqa: PLC0415

    network, sensor_args, mirror_args = _sections(
        stack,
        "a target (network_interface_id, network_load_balancer_arn or "
        "gateway_load_balancer_endpoint_id), or a sensor in cloudtap:sensor (or a fleet in "
        "cloudtap:fleet) to mirror to",
        fleet=True,
    )
    fleet_args = stack.section("fleet")
    feeds_args = stack.section("host_feeds")
    network = _gateway_mirror_to_fleet(network, sensor_args, fleet_args, mirror_args)

    # Every component is planned, and so checked, before the first one registers: a mistake in
    # cloudtap:mirror must not leave a network half-created by `pulumi up`.
    clients = AwsClients()
    with under("network"):
        network_plan = plan_monitored_vpc(network)
    design = network_plan.design
    sensor_design = None
    if sensor_args is not None:
        with under("sensor", passed={"network": "network"}):
            sensor_design = plan_aws_sensor({**sensor_args, "network": design}, SENSOR_NAME)
    sensor_takes_feeds = False
    if feeds_args is not None:
        if sensor_design is not None:
            feeds_args = {"sensor_address": sensor_design.private_ip, **feeds_args}
        with under("host_feeds"):
            listener = plan_host_feeds(feeds_args)[1]
        sensor_takes_feeds = sensor_args is not None and listener is not None
        if sensor_args is not None and listener is not None:
            # Again with the feeds: they must fit it, and its user data must still fit EC2's.
            passed = {"network": "network", "host_feeds": "host_feeds"}
            with under("sensor", passed=passed):
                sensor_design = plan_aws_sensor(
                    {**sensor_args, "network": design, "host_feeds": feeds_args}, SENSOR_NAME
                )
    fleet_design = None
    if fleet_args is not None:
        with under("fleet", passed={"network": "network"}):
            fleet_design = plan_sensor_fleet({**fleet_args, "network": design})
    if sensor_design is not None and fleet_design is not None:
        taken = fleet_design.load_balancer_addresses
        if ipaddress.IPv4Address(sensor_design.private_ip) in taken:
            raise CloudtapInputError(
                "cloudtap:sensor.private_ip",
                sensor_design.private_ip,
                "an address other than the fleet's load balancer addresses "
                f"({', '.join(str(a) for a in taken)}): each monitor subnet's .11",
            )
    mirror_plan = None
    if mirror_args is not None:
        target = mirror_args.get("target") or _default_target(sensor_design, fleet_design)
        with under("mirror", passed={"network": "network"}):
            mirror_plan = plan_mirror_session(
                MIRROR_NAME, {**mirror_args, "target": target, "network": design}, clients
            )
    # One line for the whole stack, from the plans: the program is the one place that knows
    # every component the stack creates.
    one_gateway = network_plan.gateway_strategy is GatewayStrategy.SINGLE
    estimate = estimate_aws(
        pulumi.Config("aws").get("region"),
        gateway_instance_type=network_plan.options.instance_type,
        sensor=sensor_design,
        mirror=mirror_plan,
        gateways=1 if one_gateway else len(network_plan.zones),
        auto_scaling_gateways=not one_gateway,
        fleet=fleet_design,
    )
    pulumi.log.info(estimate.line())
    pulumi.export("cost_estimate", estimate.as_output())

    with under("network"):
        vpc = components.MonitoredVpc(NETWORK_NAME, cast(components.MonitoredVpcArgs, network))
    pulumi.export("vpc_id", vpc.vpc_id)
    pulumi.export("subnet_ids", vpc.subnet_ids)
    pulumi.export("gateway_network_interface_id", vpc.gateway_network_interface_id)
    pulumi.export("gateway_public_ip", vpc.gateway_public_ip)

    feeds = None
    if feeds_args is not None:
        with under("host_feeds"):
            feeds = components.HostFeeds(HOST_FEEDS_NAME, cast(Any, feeds_args))
        pulumi.export("host_feed_user_data_parts", feeds.user_data_parts)

    sensor = None
    if sensor_args is not None:
        with_feeds = {"host_feeds": feeds} if sensor_takes_feeds else {}
        with under("sensor", passed={"network": "network", "host_feeds": "host_feeds"}):
            sensor = components.Sensor(
                SENSOR_NAME,
                cast(components.AwsSensorArgs, {**sensor_args, "network": vpc, **with_feeds}),
            )
        pulumi.export("sensor_private_ip", sensor.private_ip)
        pulumi.export("sensor_network_interface_id", sensor.network_interface_id)
        pulumi.export("sensor_capture_interface", sensor.capture_interface)

    fleet = None
    if fleet_args is not None:
        with under("fleet", passed={"network": "network"}):
            fleet = components.SensorFleet(
                FLEET_NAME, cast(components.SensorFleetArgs, {**fleet_args, "network": vpc})
            )
        pulumi.export("fleet_load_balancer_arn", fleet.load_balancer.arn)
        pulumi.export("fleet_endpoint_ids", [endpoint.id for endpoint in fleet.endpoints])
        pulumi.export("fleet_load_balancer_addresses", fleet.load_balancer_addresses)

    if mirror_args is not None:
        target = mirror_args.get("target") or _default_target(sensor, fleet)
        with under("mirror", passed={"network": "network"}):
            mirror = components.MirrorSession(
                MIRROR_NAME,
                cast(
                    components.MirrorSessionArgs,
                    {**mirror_args, "target": target, "network": vpc},
                ),
                clients=clients,
            )
        _export_sessions(mirror)
    return vpc


def _gateway_mirror_to_fleet(
    network: dict[str, Any],
    sensor_args: object,
    fleet_args: Mapping[str, Any] | None,
    mirror_args: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """A stack whose gateway mirror has no sensor to send to (no cloudtap:sensor, no
    sensor_address) but a fleet behind an NLB, which cloudtap:mirror (if any) targets by default:
    the gateway sends its copies to the fleet."""
    mirror = network.get("gateway_mirror")
    if (
        not isinstance(mirror, Mapping)
        or sensor_args is not None
        or (mirror_args is not None and mirror_args.get("target") is not None)
        or fleet_args is None
        or fleet_args.get("target", "nlb") != "nlb"
        or "sensor_address" in mirror
        or "to_fleet" in mirror
    ):
        return network
    pulumi.log.info(
        "cloudtap:network.gateway_mirror.to_fleet: true (the stack has a fleet behind an NLB "
        "and no cloudtap:sensor, so the gateway sends its copies to the fleet)"
    )
    return {**network, "gateway_mirror": {**mirror, "to_fleet": True}}


def _default_target(sensor: object, fleet: object) -> dict[str, object]:
    """A mirror without a target copies to the stack's sensor, else to its fleet."""
    return {"sensor": sensor} if sensor is not None else {"fleet": fleet}


def _existing_only(stack: StackConfig, cloud: str) -> dict[str, Any]:
    """``cloudtap:mirror`` of a cloud whose monitored network and sensor are not built yet."""
    for key in ("network", "sensor"):
        value = stack.section(key)
        if value is not None:
            raise CloudtapInputError(
                f"cloudtap:{key}",
                value,
                f"no value with cloudtap:cloud {cloud}: its monitored network and sensor are not "
                "built by cloudtap yet; name the existing sensor in cloudtap:mirror.target and "
                "the existing sources in cloudtap:mirror.sources",
            )
    mirror_args = stack.section("mirror")
    if mirror_args is None:
        raise CloudtapInputError(
            "cloudtap:mirror",
            None,
            f"a mapping with target and sources: with cloudtap:cloud {cloud} the program mirrors "
            "existing interfaces to an existing sensor, and there is nothing else to build",
        )
    return mirror_args


def _export_sessions(mirror: MirrorSession) -> None:
    """What every cloud's mirror exports, under one set of names, then its cloud's own."""
    pulumi.export("mirror_native_sources", mirror.native_sources)
    pulumi.export("mirror_gateway_sources", mirror.gateway_sources)
    pulumi.export("mirror_session_ids", {child: s.id for child, s in mirror.sessions.items()})
    for key, value in mirror.cloud_outputs.items():
        pulumi.export(f"mirror_{key}", value)


def _existing_interfaces(
    stack: StackConfig, cloud: Cloud, provider_key: str, field: str
) -> MirrorSession:
    """A mirror of existing interfaces to an existing sensor; ``field`` defaults to the
    provider's ``provider_key`` (the region, the clouds.yaml entry)."""
    mirror_args = _existing_only(stack, cloud.value)
    namespace, _, key = provider_key.partition(":")
    provider_value = pulumi.Config(namespace).get(key)
    if mirror_args.get(field) is None and provider_value is not None:
        mirror_args[field] = provider_value
    with under("mirror"):
        mirror = components.MirrorSession(MIRROR_NAME, mirror_args, cloud=cloud.value)
    _export_sessions(mirror)
    return mirror


def _azure(stack: StackConfig) -> pulumi.ComponentResource:
    """A monitored virtual network, a sensor and mirroring; without ``cloudtap:network``, a TAP
    of existing NICs to an existing sensor."""
    if stack.section("network") is None:
        if stack.section("sensor") is not None:
            raise CloudtapInputError(
                "cloudtap:sensor",
                stack.section("sensor"),
                "no value without cloudtap:network: an Azure sensor lives in the monitor tier of "
                "the monitored network cloudtap:network describes (cloudtap:network: {} for the "
                "defaults); to mirror to an existing sensor, name it in cloudtap:mirror.target",
            )
        return _existing_interfaces(stack, Cloud.AZURE, "azure-native:location", "location")
    from components.azure.mirror_session import plan_mirror_session  # noqa: PLC0415
    from components.azure.monitored_vnet import MonitoredVNet, MonitoredVNetArgs  # noqa: PLC0415
    from components.azure.monitored_vnet import plan as plan_vnet  # noqa: PLC0415
    from components.azure.sensor import (  # noqa: PLC0415
        AzureSensor,
        AzureSensorArgs,
        plan_azure_sensor,
    )

    network, sensor_args, mirror_args = _sections(
        stack,
        "a target (network_interface_ip_configuration_id or "
        "load_balancer_frontend_ip_configuration_id), or a sensor in cloudtap:sensor",
    )

    # Every component planned (so checked) before the first registers, as on AWS.
    with under("network"):
        planned = plan_vnet(network)
    design, location = planned.design, planned.options.location
    sensor_design = None
    if sensor_args is not None:
        with under("sensor", passed={"network": "network"}):
            sensor_design = plan_azure_sensor(
                {**sensor_args, "network": design}, network_zones=planned.options.zones
            )
    if mirror_args is not None:
        target = mirror_args.get("target") or {"sensor": sensor_design}
        with under("mirror", passed={"network": "network"}):
            plan_mirror_session(
                {**mirror_args, "target": target, "network": design}, network_location=location
            )

    with under("network"):
        vnet = MonitoredVNet(NETWORK_NAME, cast(MonitoredVNetArgs, network))
    pulumi.export("resource_group_name", vnet.resource_group_name)
    pulumi.export("virtual_network_id", vnet.virtual_network_id)
    pulumi.export("subnet_ids", vnet.subnet_ids)
    pulumi.export("gateway_network_interface_id", vnet.gateway_network_interface_id)
    pulumi.export("gateway_private_ip", vnet.gateway_private_ip)
    pulumi.export("gateway_public_ip", vnet.gateway_public_address)
    if vnet.ssh_private_key is not None:
        pulumi.export("ssh_private_key", vnet.ssh_private_key)

    sensor = None
    if sensor_args is not None:
        with under("sensor", passed={"network": "network"}):
            sensor = AzureSensor(
                SENSOR_NAME, cast(AzureSensorArgs, {**sensor_args, "network": vnet})
            )
        pulumi.export("sensor_private_ip", sensor.private_ip)
        pulumi.export("sensor_network_interface_id", sensor.network_interface_id)
        pulumi.export("sensor_ip_configuration_id", sensor.network_interface_ip_configuration_id)
        pulumi.export("sensor_capture_interface", sensor.capture_interface)

    if mirror_args is not None:
        target = mirror_args.get("target") or {"sensor": sensor}
        with under("mirror", passed={"network": "network"}):
            mirror = components.MirrorSession(
                MIRROR_NAME,
                cast(Any, {**mirror_args, "target": target, "network": vnet}),
            )
        _export_sessions(mirror)
    return vnet


def _openstack(stack: StackConfig) -> pulumi.ComponentResource:
    """The seeds' design (network, gateway, sensor, mirror) with ``cloudtap:network``; without
    it, tap mirrors or flows of existing ports to an existing sensor."""
    if stack.section("network") is None:
        if stack.section("sensor") is not None:
            raise CloudtapInputError(
                "cloudtap:sensor",
                stack.section("sensor"),
                "no value without cloudtap:network: a cloudtap sensor lives in the monitor tier "
                "of the network cloudtap builds; give cloudtap:network, or name an existing "
                "sensor in cloudtap:mirror.target",
            )
        return _existing_interfaces(stack, Cloud.OPENSTACK, "openstack:cloud", "cloud")
    # Only OpenStack stacks load pulumi-openstack and openstacksdk.
    from components.openstack.mirror_session import (  # noqa: PLC0415
        OpenStackMirrorSession,
        plan_openstack_mirror_session,
    )
    from components.openstack.monitored_network import (  # noqa: PLC0415
        MonitoredOpenStackNetwork,
        plan_monitored_openstack_network,
    )
    from components.openstack.sensor import (  # noqa: PLC0415
        OpenStackSensor,
        plan_openstack_sensor,
    )

    network_args = dict(stack.section("network") or {})
    sensor_args = stack.section("sensor")
    mirror_args = stack.section("mirror")
    for key, args in (("sensor", sensor_args), ("mirror", mirror_args)):
        if args is not None:
            _reject_network(key, args)
    if mirror_args is not None and mirror_args.get("target") is None and sensor_args is None:
        raise CloudtapInputError(
            "cloudtap:mirror.target",
            None,
            "a target (sensor_ip, port_id or monitor_port), or a sensor in cloudtap:sensor to "
            "mirror to",
        )
    provider_cloud = pulumi.Config("openstack").get("cloud")
    if provider_cloud is not None:
        network_args.setdefault("cloud", provider_cloud)
        if mirror_args is not None:
            mirror_args = {"cloud": provider_cloud, **mirror_args}

    # Every component is planned, and so checked, before the first one registers.
    with under("network"):
        design = plan_monitored_openstack_network(network_args).design
    sensor_design = None
    if sensor_args is not None:
        with under("sensor", passed={"network": "network"}):
            sensor_design = plan_openstack_sensor({**sensor_args, "network": design})
    if mirror_args is not None:
        target = mirror_args.get("target") or {"sensor": sensor_design}
        with under("mirror", passed={"network": "network"}):
            plan_openstack_mirror_session(
                MIRROR_NAME, {**mirror_args, "target": target, "network": design}
            )

    with under("network"):
        network = MonitoredOpenStackNetwork(NETWORK_NAME, cast(Any, network_args))
    pulumi.export("network_ids", network.network_ids)
    pulumi.export("subnet_ids", network.subnet_ids)
    pulumi.export("gateway_port_ids", network.gateway_port_ids)
    pulumi.export("gateway_public_ip", network.gateway_public_ip)

    sensor = None
    if sensor_args is not None:
        with under("sensor", passed={"network": "network"}):
            sensor = OpenStackSensor(SENSOR_NAME, cast(Any, {**sensor_args, "network": network}))
        pulumi.export("sensor_private_ip", sensor.private_ip)
        pulumi.export("sensor_monitor_port_id", sensor.monitor_port_id)
        pulumi.export("sensor_capture_interface", sensor.capture_interface)

    if mirror_args is not None:
        target = mirror_args.get("target") or {"sensor": sensor}
        with under("mirror", passed={"network": "network"}):
            mirror = OpenStackMirrorSession(
                MIRROR_NAME, cast(Any, {**mirror_args, "target": target, "network": network})
            )
        _export_sessions(mirror)
    return network


CLOUDS: Mapping[str, Callable[[StackConfig], pulumi.ComponentResource]] = {
    "aws": _aws,
    "azure": _azure,
    "openstack": _openstack,
}
"""``cloudtap:cloud`` -> what the program builds there."""


def main() -> pulumi.ComponentResource:
    stack = parse_stack_config(current_values())
    build = CLOUDS.get(stack.cloud or "")
    if build is None:
        raise CloudtapInputError(
            "cloudtap:cloud",
            stack.cloud,
            f"one of {list(CLOUDS)}, e.g. `pulumi config set cloudtap:cloud aws`",
        )
    if stack.cloud != "aws" and stack.section("fleet") is not None:
        raise CloudtapInputError(
            "cloudtap:fleet",
            stack.section("fleet"),
            f"no value with cloudtap:cloud {stack.cloud}: sensor fleets are built on AWS only",
        )
    if stack.cloud != "aws" and stack.section("host_feeds") is not None:
        raise CloudtapInputError(
            "cloudtap:host_feeds",
            stack.section("host_feeds"),
            f"no value with cloudtap:cloud {stack.cloud}: the program wires host feeds on AWS "
            "only (elsewhere use cloudtap:mirror.host_feed, or HostFeeds in a program)",
        )
    return build(stack)


if __name__ == "__main__":
    main()
