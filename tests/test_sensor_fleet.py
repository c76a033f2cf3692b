"""SensorFleet under strict mocks: the load balancer's protocols, ports, health checks and zones,
the group's size from ``expected_gbps``, the shared sensor boot, and MirrorSession targeting the
fleet (one NLB target, or the GWLB endpoint of each source's own zone)."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest

from components import CloudtapInputError, MonitoredVpc
from components.aws.fleet_plan import (
    CAPACITY_AS_OF,
    SENSOR_CAPACITY_GBPS,
    TARGET_UTILISATION,
    FleetTarget,
    plan_sizing,
)
from components.aws.mirror_session import MirrorSession
from components.aws.sensor_fleet import FLEET_TAG, SensorFleet, plan_sensor_fleet
from components.cloud_config import written_files
from components.os_family import OsFamily
from components.sensor import render_boot_cloud_config
from components.settings_delivery import SettingsSource
from tests.bundles import boot_files, same_files, small_cloud_config
from tests.cloud_init import assert_valid_cloud_config
from tests.fakes.aws import FakeAws, NoAws
from tests.mocks import ProgramRun, StrictMocks, run_program

LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
LISTENER = "aws:lb/listener:Listener"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
MIRROR_TARGET = "aws:ec2/trafficMirrorTarget:TrafficMirrorTarget"
MIRROR_SESSION = "aws:ec2/trafficMirrorSession:TrafficMirrorSession"
ASSOCIATION = "aws:ssm/association:Association"


def fleet(
    mocks: StrictMocks, args: dict[str, Any] | None = None, network: dict[str, Any] | None = None
) -> ProgramRun[SensorFleet]:
    def program() -> SensorFleet:
        vpc = MonitoredVpc("net", network or {"availability_zone_count": 2})  # type: ignore[arg-type]
        return SensorFleet("fleet", {"network": vpc, **(args or {})})  # type: ignore[typeddict-item]

    return run_program(program, mocks)


def monitor_subnet_ids(run: ProgramRun[Any]) -> list[str]:
    return [run.named(f"net-monitor-{zone}").id for zone in (1, 2)]


# -- sizing (pure) ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "zones", "bounds", "per_zone", "needed"),
    [
        (2.0, 2, {}, 1, 1),  # 1 Gbit/s a zone: one c5n.large each
        (7.0, 2, {}, 2, 2),  # 3.5 a zone: two
        (8.0, 2, {}, 2, 2),  # exactly 4 a zone: two, not three
        (0.1, 3, {"min_per_zone": 2}, 2, 1),  # the floor wins
        (100.0, 2, {}, 4, 25),  # the ceiling wins (default max 4)
        (100.0, 2, {"max_per_zone": 30}, 25, 25),
    ],
)
def test_the_size_per_zone_follows_expected_traffic_within_bounds(
    expected: float, zones: int, bounds: dict[str, int], per_zone: int, needed: int
) -> None:
    sizing = plan_sizing({"expected_gbps": expected, **bounds}, "c5n.large", zones)
    assert (sizing.per_zone, sizing.needed_per_zone) == (per_zone, needed)
    assert sizing.desired == per_zone * zones
    assert sizing.minimum <= sizing.desired <= sizing.maximum


def test_capacity_comes_from_the_dated_table_or_the_override() -> None:
    assert SENSOR_CAPACITY_GBPS["c5n.large"] == 2.0 and CAPACITY_AS_OF
    assert plan_sizing({"expected_gbps": 16}, "c5n.2xlarge", 2).per_zone == 1
    assert plan_sizing({"expected_gbps": 16, "capacity_gbps_per_sensor": 1}, "c5n.2xlarge", 2)
    with pytest.raises(CloudtapInputError, match="capacity_gbps_per_sensor") as error:
        plan_sizing({}, "r6i.large", 2)
    assert error.value.field == "instance_type"
    sizing = plan_sizing({"expected_gbps": 4, "capacity_gbps_per_sensor": 0.5}, "r6i.large", 2)
    assert sizing.per_zone == 4


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"expected_gbps": 0}, "expected_gbps"),
        ({"expected_gbps": -3}, "expected_gbps"),
        ({"expected_gbps": "lots"}, "expected_gbps"),
        ({"expected_gbps": True}, "expected_gbps"),
        ({"min_per_zone": 0}, "min_per_zone"),
        ({"min_per_zone": 3, "max_per_zone": 2}, "max_per_zone"),
        ({"capacity_gbps_per_sensor": 0}, "capacity_gbps_per_sensor"),
    ],
)
def test_bad_sizes_fail_naming_the_field(args: dict[str, Any], field: str) -> None:
    with pytest.raises(CloudtapInputError) as error:
        plan_sizing(args, "c5n.large", 2)
    assert error.value.field == field


# -- the fleet's resources ----------------------------------------------------------------------


def test_an_nlb_fleet_listens_on_udp_4789_and_checks_the_health_responder(
    mocks: StrictMocks,
) -> None:
    run = fleet(mocks)
    balancer = run.named("fleet-lb")
    assert balancer.inputs["loadBalancerType"] == "network"
    assert balancer.inputs["internal"] is True
    assert balancer.inputs["enableCrossZoneLoadBalancing"] is False
    assert [m["subnetId"] for m in balancer.inputs["subnetMappings"]] == monitor_subnet_ids(run)
    group = run.named("fleet-tg")
    assert (group.inputs["protocol"], group.inputs["port"]) == ("UDP", 4789)
    assert group.inputs["loadBalancingCrossZoneEnabled"] == "false"
    assert group.inputs["targetType"] == "instance"
    assert group.inputs["healthCheck"] == {
        "protocol": "HTTP",
        "port": "8480",
        "path": "/",
        "matcher": "200",
        "interval": 10,
        "timeout": 5,
        "healthyThreshold": 3,
        "unhealthyThreshold": 3,
    }
    [listener] = run.of_type(LISTENER)
    assert (listener.inputs["protocol"], listener.inputs["port"]) == ("UDP", 4789)
    assert listener.inputs["loadBalancerArn"] == balancer.id
    assert listener.inputs["defaultActions"] == [{"type": "forward", "targetGroupArn": group.id}]
    assert not run.of_type(ENDPOINT)


def test_the_health_port_follows_the_sensor_setting(mocks: StrictMocks) -> None:
    run = fleet(mocks, {"health_port": 9100})
    assert run.named("fleet-tg").inputs["healthCheck"]["port"] == "9100"
    rules = run.named("fleet-sg").inputs["ingress"]
    assert any(rule["fromPort"] == 9100 and rule["protocol"] == "tcp" for rule in rules)


def test_a_gwlb_fleet_takes_geneve_and_has_an_endpoint_per_zone(mocks: StrictMocks) -> None:
    run = fleet(mocks, {"target": "gwlb"})
    balancer = run.named("fleet-lb")
    assert balancer.inputs["loadBalancerType"] == "gateway"
    assert balancer.inputs["enableCrossZoneLoadBalancing"] is False
    group = run.named("fleet-tg")
    assert (group.inputs["protocol"], group.inputs["port"]) == ("GENEVE", 6081)
    assert group.inputs["healthCheck"]["port"] == "8480"
    [listener] = run.of_type(LISTENER)
    assert "port" not in listener.inputs and "protocol" not in listener.inputs
    service = run.named("fleet-endpoint-service")
    assert service.inputs["gatewayLoadBalancerArns"] == [balancer.id]
    assert service.inputs["acceptanceRequired"] is False
    endpoints = [run.named(f"fleet-endpoint-{zone}") for zone in (1, 2)]
    assert [e.inputs["subnetIds"] for e in endpoints] == [[s] for s in monitor_subnet_ids(run)]
    assert {e.inputs["vpcEndpointType"] for e in endpoints} == {"GatewayLoadBalancer"}
    assert {e.inputs["serviceName"] for e in endpoints} == {service.state["serviceName"]}


def test_the_group_is_sized_from_expected_gbps_and_spread_over_the_monitor_subnets(
    mocks: StrictMocks,
) -> None:
    run = fleet(mocks, {"expected_gbps": 7, "max_per_zone": 3})
    group = run.named("fleet-group")
    assert (group.inputs["minSize"], group.inputs["desiredCapacity"]) == (2, 4)
    assert group.inputs["maxSize"] == 6
    assert group.inputs["vpcZoneIdentifiers"] == monitor_subnet_ids(run)
    assert group.inputs["targetGroupArns"] == [run.named("fleet-tg").id]
    assert group.inputs["healthCheckType"] == "ELB"
    assert "desiredCapacity" in group.ignore_changes  # target tracking owns it
    policy = run.named("fleet-scaling")
    tracking = policy.inputs["targetTrackingConfiguration"]
    assert tracking["predefinedMetricSpecification"] == {
        "predefinedMetricType": "ASGAverageNetworkIn"
    }
    assert tracking["targetValue"] == pytest.approx(2.0 * TARGET_UTILISATION * 1e9 / 8 * 60)
    assert policy.inputs["autoscalingGroupName"] == group.id


def test_without_scaling_the_group_keeps_its_planned_size(mocks: StrictMocks) -> None:
    run = fleet(mocks, {"scale_on_network_in": False})
    assert not [r for r in run.resources if r.name == "fleet-scaling"]
    assert "desiredCapacity" not in run.named("fleet-group").ignore_changes


def test_the_launch_template_boots_the_shared_sensor_config_hardened(mocks: StrictMocks) -> None:
    run = fleet(mocks)
    template = run.named("fleet-lt")
    small = small_cloud_config(template.inputs["userData"])  # EC2's 16 KB: the bundle the rest
    assert_valid_cloud_config(small)
    archive = base64.b64decode(run.named("fleet-boot-bundle").inputs["contentBase64"])
    parameter = run.named("fleet-settings")
    # What a single sensor on the default image boots, its settings read from the parameter.
    expected = render_boot_cloud_config(
        source=SettingsSource.aws_ssm(parameter.inputs["name"]), os_family=OsFamily.DEBIAN
    )
    assert same_files(boot_files(small, archive)) == same_files(written_files(expected))
    assert expected == run.result.user_data
    [read] = [
        r for r in run.of_type("aws:iam/rolePolicy:RolePolicy") if r.name == "fleet-boot-read"
    ]
    [statement] = json.loads(read.inputs["policy"])["Statement"]
    assert statement["Action"] == "s3:GetObject"
    assert statement["Resource"].endswith("/" + run.named("fleet-boot-bundle").inputs["key"])
    inputs = template.inputs
    assert inputs["metadataOptions"]["httpTokens"] == "required"
    assert inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1
    assert inputs["blockDeviceMappings"][0]["ebs"]["encrypted"] == "true"
    assert inputs["blockDeviceMappings"][0]["ebs"]["volumeType"] == "gp3"
    assert inputs["vpcSecurityGroupIds"] == [run.named("fleet-sg").id]
    assert inputs["iamInstanceProfile"] == {"arn": run.named("fleet-profile").state["arn"]}
    assert inputs["monitoring"] == {"enabled": True}
    # Settings reach every instance the group launches, by the tag its template gives them.
    [instance_tags] = [
        s["tags"] for s in inputs["tagSpecifications"] if s["resourceType"] == "instance"
    ]
    association = next(r for r in run.of_type(ASSOCIATION) if r.name == "fleet-fetch-association")
    assert association.inputs["targets"] == [
        {"key": f"tag:{FLEET_TAG}", "values": [instance_tags[FLEET_TAG]]}
    ]
    assert instance_tags[FLEET_TAG] == parameter.inputs["name"]


def test_the_preview_says_the_size_and_why(
    mocks: StrictMocks, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        fleet(mocks, {"expected_gbps": 100})
    text = caplog.text
    assert "100 Gbit/s expected over 2 zone(s) -> 4 c5n.large per zone" in text
    assert "needs 25, bounded to 1-4 per zone" in text
    assert f"capacity data of {CAPACITY_AS_OF}" in text


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"target": "alb"}, "target"),
        ({"feeds": ["gre"]}, "feeds"),
        ({"target": "gwlb", "feeds": ["vxlan"]}, "feeds"),
        ({"scale_on_network_in": "yes"}, "scale_on_network_in"),
        ({"private_ip": "10.0.128.10"}, "private_ip"),
    ],
)
def test_bad_fleet_args_fail_before_anything_registers(
    mocks: StrictMocks, args: dict[str, Any], field: str
) -> None:
    with pytest.raises(CloudtapInputError) as error:
        fleet(mocks, args)
    assert error.value.field == field
    assert not [r for r in mocks.registrations if r.name.startswith("fleet")]


def test_a_fleet_plan_needs_an_aws_network() -> None:
    with pytest.raises(CloudtapInputError) as error:
        plan_sensor_fleet({"network": "vpc-1"})
    assert error.value.field == "network"


# -- MirrorSession with the fleet as target -----------------------------------------------------


def fleet_mirror(
    mocks: StrictMocks,
    fleet_args: dict[str, Any],
    mirror_args: dict[str, Any],
    clients: Any = None,
) -> ProgramRun[tuple[SensorFleet, MirrorSession]]:
    def program() -> tuple[SensorFleet, MirrorSession]:
        vpc = MonitoredVpc("net", {"availability_zone_count": 2})
        built = SensorFleet("fleet", {"network": vpc, **fleet_args})  # type: ignore[typeddict-item]
        args = {"target": {"fleet": built}, **mirror_args}
        return built, MirrorSession("mirror", args, clients=clients or NoAws())  # type: ignore[arg-type]

    return run_program(program, mocks)


SOURCE: Any = {
    "name": "web",
    "instance_type": "m5.large",
    "network_interface_ids": ["eni-0a1b2c3d"],
}


def test_a_mirror_to_an_nlb_fleet_targets_its_load_balancer(mocks: StrictMocks) -> None:
    run = fleet_mirror(mocks, {}, {"sources": [SOURCE]})
    [target] = run.of_type(MIRROR_TARGET)
    assert target.inputs["networkLoadBalancerArn"] == run.named("fleet-lb").id
    [session] = run.of_type(MIRROR_SESSION)
    assert session.inputs["trafficMirrorTargetId"] == target.id


def test_a_mirror_to_a_gwlb_fleet_targets_the_first_endpoint_unless_zone_local(
    mocks: StrictMocks,
) -> None:
    run = fleet_mirror(mocks, {"target": "gwlb"}, {"sources": [SOURCE]})
    [target] = run.of_type(MIRROR_TARGET)
    assert target.inputs["gatewayLoadBalancerEndpointId"] == run.named("fleet-endpoint-1").id


def _subnet(fake_aws: FakeAws, cidr: str) -> None:
    found = fake_aws.ec2.describe_subnets(Filters=[{"Name": "cidr-block", "Values": [cidr]}])
    if found["Subnets"]:
        fake_aws.subnets[cidr] = found["Subnets"][0]["SubnetId"]
    else:
        created = fake_aws.ec2.create_subnet(VpcId=fake_aws.vpc_id, CidrBlock=cidr)
        fake_aws.subnets[cidr] = created["Subnet"]["SubnetId"]


def test_zone_local_sessions_go_to_their_own_zones_endpoint(
    mocks: StrictMocks, fake_aws: FakeAws, caplog: pytest.LogCaptureFixture
) -> None:
    _subnet(fake_aws, "10.0.80.0/20")  # the second zone's private subnet
    first, _ = fake_aws.instance("m5.large", subnet="10.0.64.0/20")
    second, _ = fake_aws.instance("m5.large", subnet="10.0.80.0/20")
    with caplog.at_level(logging.WARNING):
        run = fleet_mirror(
            mocks,
            {"target": "gwlb"},
            {
                "sources": [
                    {"name": "a", "instance_id": first},
                    {"name": "b", "instance_id": second},
                    SOURCE,
                ],
                "zone_local_targets": True,
            },
            clients=fake_aws.clients,
        )
    targets = {
        zone: run.named(f"mirror-target-{zone}") for zone in (1, 2)
    }  # one per zone, each on its zone's endpoint
    for zone, target in targets.items():
        endpoint = run.named(f"fleet-endpoint-{zone}")
        assert target.inputs["gatewayLoadBalancerEndpointId"] == endpoint.id
    sessions = {s.name: s.inputs["trafficMirrorTargetId"] for s in run.of_type(MIRROR_SESSION)}
    assert sessions == {
        "mirror-a-1": targets[1].id,
        "mirror-b-1": targets[2].id,
        "mirror-web-1": targets[1].id,  # zone unknown: the first zone's
    }
    assert "web: zone unknown" in caplog.text


@pytest.mark.parametrize("fleet_target", [FleetTarget.NLB.value, None])
def test_zone_local_is_refused_without_a_gwlb_fleet(
    mocks: StrictMocks, fleet_target: str | None
) -> None:
    with pytest.raises(CloudtapInputError) as error:
        if fleet_target is None:
            run_program(
                lambda: MirrorSession(
                    "mirror",
                    {
                        "target": {"network_interface_id": "eni-0123456789abcdef9"},
                        "sources": [SOURCE],
                        "zone_local_targets": True,
                    },
                    clients=NoAws(),
                ),
                mocks,
            )
        else:
            fleet_mirror(
                mocks, {"target": fleet_target}, {"sources": [SOURCE], "zone_local_targets": True}
            )
    assert error.value.field == "zone_local_targets"


def test_a_fleet_target_must_be_a_fleet(mocks: StrictMocks) -> None:
    with pytest.raises(CloudtapInputError) as error:
        run_program(
            lambda: MirrorSession(
                "mirror",
                {"target": {"fleet": "my-nlb"}, "sources": [SOURCE]},  # type: ignore[typeddict-item]
                clients=NoAws(),
            ),
            mocks,
        )
    assert error.value.field == "target.fleet"


def test_the_readme_sizing_table_says_what_the_data_says() -> None:
    import re  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    rows = re.findall(
        r"^\| ((?:`[a-z0-9.]+`(?: / `?\.?[a-z0-9.]+`?)*)[^|]*) \| ([0-9./ ]+)", readme, re.M
    )
    found: dict[str, float] = {}
    for names, figures in rows:
        types = re.findall(r"`([a-z0-9.]+)`", names)
        family = types[0].split(".")[0]
        full = [t if "." in t and not t.startswith(".") else f"{family}{t}" for t in types]
        for instance_type, figure in zip(full, figures.split(" / "), strict=True):
            found[instance_type] = float(figure)
    assert found == dict(SENSOR_CAPACITY_GBPS)


def test_the_enrolment_function_gets_each_zones_target_with_zone_local_targets(
    mocks: StrictMocks,
) -> None:
    run = fleet_mirror(
        mocks,
        {"target": "gwlb"},
        {"sources": [], "enrol": {"tags": {"team": "web"}}, "zone_local_targets": True},
    )
    targets = [run.named(f"mirror-target-{zone}") for zone in (1, 2)]
    zones = [run.named(f"net-monitor-{zone}").inputs["availabilityZone"] for zone in (1, 2)]
    assert len(set(zones)) == 2
    function = run.named("mirror-enrol-function")
    config = json.loads(function.inputs["environment"]["variables"]["CLOUDTAP_ENROL"])
    assert config["zone_target_ids"] == {zones[0]: targets[0].id, zones[1]: targets[1].id}
    assert config["target_id"] == targets[0].id  # a zone without its own: the first zone's
    policy = json.loads(run.named("mirror-enrol-policy").inputs["policy"])
    [create] = [s for s in policy["Statement"] if s["Sid"] == "MirrorAnyInterfaceToThisTargetOnly"]
    assert {t.state["arn"] for t in targets} <= set(create["Resource"])


def test_without_zone_local_targets_the_function_has_one_target(mocks: StrictMocks) -> None:
    run = fleet_mirror(mocks, {"target": "gwlb"}, {"sources": [], "enrol": {}})
    function = run.named("mirror-enrol-function")
    config = json.loads(function.inputs["environment"]["variables"]["CLOUDTAP_ENROL"])
    assert config["zone_target_ids"] == {}
    assert config["target_id"] == run.named("mirror-target").id
