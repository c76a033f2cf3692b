"""``gateway_strategy``: ``single`` keeps the one gateway; ``one_per_zone`` builds a gateway per
zone as an Auto Scaling group of one that attaches its zone's persistent ENI, routed per zone,
under policies scoped to that ENI and that group (strict mocks)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import yaml

from components import CloudtapInputError, MonitoredVpc, MonitoredVpcArgs
from components.aws.gateway_group import (
    ENI_CONFIG_PATH,
    ENI_SCRIPT_PATH,
    ENI_SERVICE,
    GATEWAY_TAG,
    READY_HOOK,
    READY_TIMEOUT_SECONDS,
    WATCH_TIMER,
)
from components.aws.sensor import Sensor
from components.cloud_config import WrittenFile, asset_text
from components.settings_delivery import FETCHER_SERVICE
from tests.bundles import boot_files, small_cloud_config
from tests.cloud_init import assert_valid_cloud_config
from tests.mocks import ProgramRun, Registration, StrictMocks, run_program

ENI = "aws:ec2/networkInterface:NetworkInterface"
EIP = "aws:ec2/eip:Eip"
ROUTE = "aws:ec2/route:Route"
ROUTE_TABLE_ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
GROUP = "aws:autoscaling/group:Group"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ASSOCIATION = "aws:ssm/association:Association"
PARAMETER = "aws:ssm/parameter:Parameter"
PER_ZONE: MonitoredVpcArgs = {"gateway_strategy": "one_per_zone", "availability_zone_count": 3}


def build(mocks: StrictMocks, args: MonitoredVpcArgs | None = None) -> ProgramRun[MonitoredVpc]:
    return run_program(lambda: MonitoredVpc("cloudtap", args), mocks)


def by_id(run: ProgramRun[Any], resource_id: str) -> Registration:
    return run.with_id(resource_id)


def user_data(run: ProgramRun[Any], zone: int) -> tuple[str, dict[str, WrittenFile]]:
    """(the small cloud-config, every file the boot writes) of a zone's launch template: the
    zones share one bundle, each user data writes its own ENI config."""
    small = small_cloud_config(run.named(f"cloudtap-gateway-{zone}-lt").inputs["userData"])
    bundle = run.named("cloudtap-gateway-boot-bundle").inputs["contentBase64"]
    return small, boot_files(small, base64.b64decode(bundle, validate=True))


def test_single_is_the_default_and_builds_the_same_graph(mocks: StrictMocks) -> None:
    default = build(mocks)
    single = build(StrictMocks(), {"gateway_strategy": "single"})

    def shape(run: ProgramRun[Any]) -> list[tuple[str, str, str, int]]:
        # Registration order is the event loop's: compare sorted.
        return sorted(
            (r.type, r.name, r.parent.split("::")[-1], len(r.dependencies)) for r in run.resources
        )

    assert shape(default) == shape(single)
    assert not default.of_type(GROUP) and not default.of_type(LAUNCH_TEMPLATE)
    assert [r.name for r in default.of_type(INSTANCE)] == ["cloudtap-gateway"]
    assert [r.name for r in default.of_type(ENI)] == ["cloudtap-gateway-eni"]


def test_one_per_zone_routes_each_zone_through_its_own_gateway_eni(mocks: StrictMocks) -> None:
    run = build(mocks, PER_ZONE)
    assert not run.of_type(INSTANCE)
    enis = [run.named(f"cloudtap-gateway-{zone}-eni") for zone in (1, 2, 3)]
    for zone, eni in enumerate(enis, start=1):
        assert run.with_id(eni.inputs["subnetId"]).name == f"cloudtap-public-{zone}"
        assert eni.inputs["sourceDestCheck"] is False
        eip = run.named(f"cloudtap-gateway-{zone}-eip")
        assert eip.inputs["networkInterface"] == eni.id
        for tier in ("private", "monitor"):
            route = run.named(f"cloudtap-{tier}-{zone}-default")
            assert route.inputs["destinationCidrBlock"] == "0.0.0.0/0"
            assert route.inputs["networkInterfaceId"] == eni.id
            table = run.named(f"cloudtap-{tier}-{zone}-rt")
            assert route.inputs["routeTableId"] == table.id
            association = run.named(f"cloudtap-{tier}-{zone}-rta")
            assert association.inputs["routeTableId"] == table.id
            assert run.with_id(association.inputs["subnetId"]).name == f"cloudtap-{tier}-{zone}"
    # The management tier still has no way out at all.
    assert not [r for r in run.of_type(ROUTE) if "management" in r.name]
    assert len(set(run.resolve(run.result.gateway_public_ips))) == 3


def test_each_gateway_is_a_group_of_one_from_a_hardened_template(mocks: StrictMocks) -> None:
    run = build(mocks, PER_ZONE)
    security_group = run.named("cloudtap-gateway-sg").id
    for zone in (1, 2, 3):
        group = run.named(f"cloudtap-gateway-{zone}")
        assert group.type == GROUP
        # Room for a replacement beside the old instance, made before the old one goes.
        assert (group.inputs["minSize"], group.inputs["maxSize"]) == (1, 2)
        assert group.inputs["desiredCapacity"] == 1
        assert group.inputs["instanceRefresh"] == {
            "strategy": "Rolling",
            "preferences": {"minHealthyPercentage": 100, "maxHealthyPercentage": 200},
        }
        [hook] = group.inputs["initialLifecycleHooks"]
        assert hook == {
            "name": READY_HOOK,
            "lifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
            "defaultResult": "ABANDON",
            "heartbeatTimeout": READY_TIMEOUT_SECONDS,
        }
        assert group.inputs["healthCheckType"] == "EC2"
        assert group.inputs["healthCheckGracePeriod"] >= 120
        [subnet] = group.inputs["vpcZoneIdentifiers"]
        assert run.with_id(subnet).name == f"cloudtap-public-{zone}"
        template = run.named(f"cloudtap-gateway-{zone}-lt")
        assert group.inputs["launchTemplate"]["id"] == template.id
        assert group.inputs["name"] == f"cloudtap-cloudtap-test-cloudtap-gateway-{zone}"
        inputs = template.inputs
        assert inputs["metadataOptions"]["httpTokens"] == "required"
        assert inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1
        [volume] = inputs["blockDeviceMappings"]
        assert volume["deviceName"] == "/dev/xvda"  # AL2023's, from the image lookup
        assert volume["ebs"] == {
            "encrypted": "true",
            "volumeType": "gp3",
            "deleteOnTermination": "true",
        }
        [primary] = inputs["networkInterfaces"]
        assert primary["securityGroups"] == [security_group]
        assert primary["deviceIndex"] == 0
        profile = run.named(f"cloudtap-gateway-{zone}-profile")
        assert inputs["iamInstanceProfile"] == {"arn": profile.state["arn"]}
        instance_tags = next(
            spec["tags"]
            for spec in inputs["tagSpecifications"]
            if spec["resourceType"] == "instance"
        )
        assert instance_tags[GATEWAY_TAG] == group.inputs["name"]
        # The group starts only once its instance may attach the ENI and the EIP is on it.
        for needed in (f"cloudtap-gateway-{zone}-eni-attach", f"cloudtap-gateway-{zone}-eip"):
            assert run.named(needed).urn in group.dependencies


def test_the_attach_policy_allows_exactly_that_eni_and_the_groups_instances(
    mocks: StrictMocks,
) -> None:
    run = build(mocks, PER_ZONE)
    for zone in (1, 2, 3):
        eni = run.named(f"cloudtap-gateway-{zone}-eni")
        group = run.named(f"cloudtap-gateway-{zone}")
        role = run.named(f"cloudtap-gateway-{zone}-role")
        policy = run.named(f"cloudtap-gateway-{zone}-eni-attach")
        assert policy.inputs["role"] == role.id
        statements = json.loads(policy.inputs["policy"])["Statement"]
        assert all(s["Effect"] == "Allow" for s in statements)
        take_over = ["ec2:AttachNetworkInterface", "ec2:DetachNetworkInterface"]
        [on_eni] = [s for s in statements if s["Resource"] == eni.state["arn"]]
        assert on_eni["Action"] == take_over and "Condition" not in on_eni
        [on_instance] = [s for s in statements if s["Resource"].endswith(":instance/*")]
        assert on_instance["Action"] == take_over
        assert on_instance["Resource"] == "arn:aws:ec2:eu-west-1:123456789012:instance/*"
        assert on_instance["Condition"] == {
            "StringEquals": {f"aws:ResourceTag/{GATEWAY_TAG}": group.inputs["name"]}
        }
        [describe] = [s for s in statements if s["Resource"] == "*"]
        assert describe["Action"] == "ec2:DescribeNetworkInterfaces"  # read only
        [ready] = [s for s in statements if s["Action"] == "autoscaling:CompleteLifecycleAction"]
        # Named before the group exists: the group waits for its first instance's hook.
        assert ready["Resource"] == (
            "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:*:"
            f"autoScalingGroupName/{group.inputs['name']}"
        )
        assert len(statements) == 4
        assert policy.urn in group.dependencies
        health = json.loads(run.named(f"cloudtap-gateway-{zone}-health").inputs["policy"])
        assert health["Statement"] == [
            {
                "Effect": "Allow",
                "Action": "autoscaling:SetInstanceHealth",
                "Resource": group.state["arn"],
            }
        ]
        assert run.named(f"cloudtap-gateway-{zone}-health").inputs["role"] == role.id
    # No zone's role can touch another zone's ENI.
    policies = [r for r in run.of_type(ROLE_POLICY) if r.name.endswith("-eni-attach")]
    assert len({p.inputs["role"] for p in policies}) == 3


def test_the_boot_claims_the_eni_before_the_first_settings_fetch(mocks: StrictMocks) -> None:
    run = build(mocks, PER_ZONE)
    for zone in (1, 3):
        text, files = user_data(run, zone)
        assert_valid_cloud_config(text)
        assert files[ENI_SCRIPT_PATH].content == asset_text("gateway", "cloudtap_gateway_eni.py")
        eni_id = run.named(f"cloudtap-gateway-{zone}-eni").id
        group = run.named(f"cloudtap-gateway-{zone}").inputs["name"]
        assert files[ENI_CONFIG_PATH].content.splitlines()[1:] == [
            f'ENI_ID="{eni_id}"',
            f'AUTO_SCALING_GROUP="{group}"',
        ]
        runcmd = yaml.safe_load(text)["runcmd"]
        claim = runcmd.index(["systemctl", "enable", "--now", ENI_SERVICE])
        assert ["systemctl", "enable", "--now", WATCH_TIMER] in runcmd
        assert claim < runcmd.index(["systemctl", "start", FETCHER_SERVICE])
        # No settings in the user data: they come from the one shared parameter.
        assert "/etc/cloudtap/gateway.conf" not in files


def test_one_settings_push_reaches_every_groups_instances_by_tag(mocks: StrictMocks) -> None:
    run = build(mocks, PER_ZONE)
    [association] = run.of_type(ASSOCIATION)
    groups = [run.named(f"cloudtap-gateway-{zone}").inputs["name"] for zone in (1, 2, 3)]
    assert association.inputs["targets"] == [{"key": f"tag:{GATEWAY_TAG}", "values": groups}]
    parameter = run.named("cloudtap-gateway-settings")
    status = run.named("cloudtap-gateway-settings-status")
    reads = [r for r in run.of_type(ROLE_POLICY) if r.name.endswith("settings-read")]
    assert len(reads) == 3
    for read in reads:
        get, put = json.loads(read.inputs["policy"])["Statement"]
        assert (get["Action"], get["Resource"]) == ("ssm:GetParameter", parameter.state["arn"])
        assert (put["Action"], put["Resource"]) == ("ssm:PutParameter", status.state["arn"])
    # Every zone's gateway reports to the one status parameter the stack reads back.
    assert len([r for r in run.of_type(PARAMETER) if r.name.endswith("-status")]) == 1
    outputs = run.outputs_of(run.named("cloudtap").urn)
    assert json.loads(outputs["gateway_settings_status"]) == {"result": "not reported yet"}


def test_a_sensor_waits_for_every_zones_gateway(mocks: StrictMocks) -> None:
    def program() -> Sensor:
        return Sensor("sensor", {"network": MonitoredVpc("cloudtap", PER_ZONE)})

    run = run_program(program, mocks)
    instance = run.named("sensor-instance")
    for zone in (1, 2, 3):
        assert run.named(f"cloudtap-gateway-{zone}").urn in instance.dependencies


def test_a_pinned_image_is_looked_up_for_its_root_device(mocks: StrictMocks) -> None:
    run = build(mocks, {**PER_ZONE, "gateway_ami_id": "ami-0123456789abcdef0"})
    template = run.named("cloudtap-gateway-1-lt")
    assert template.inputs["imageId"] == "ami-0123456789abcdef0"
    assert template.inputs["blockDeviceMappings"][0]["deviceName"] == "/dev/sda1"
    assert "imageId" not in template.ignore_changes
    default = build(StrictMocks(), PER_ZONE).named("cloudtap-gateway-1-lt")
    assert "imageId" in default.ignore_changes


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"gateway_strategy": "per_zone"}, "one of ['single', 'one_per_zone']"),
        ({"gateway_strategy": 2}, "one of ['single', 'one_per_zone']"),
        (
            {
                "gateway_strategy": "one_per_zone",
                "gateway_mirror": {},
                "availability_zone_count": 5,
                "subnet_prefix_length": 22,
            },
            "at most 4 with gateway_strategy one_per_zone",
        ),
    ],
)
def test_bad_strategies_fail_at_preview_naming_the_field(
    mocks: StrictMocks, args: MonitoredVpcArgs, expected: str
) -> None:
    with pytest.raises(CloudtapInputError) as error:
        build(mocks, args)
    assert error.value.field in ("gateway_strategy", "availability_zone_count")
    assert expected in str(error.value)
    assert not mocks.registrations


def test_with_the_gateway_mirror_every_zones_gateway_may_feed_the_sensor(
    mocks: StrictMocks,
) -> None:
    args: MonitoredVpcArgs = {**PER_ZONE, "gateway_mirror": {}}

    def program() -> Sensor:
        return Sensor("sensor", {"network": MonitoredVpc("cloudtap", args)})

    run = run_program(program, mocks)
    public = [str(run.named(f"cloudtap-public-{zone}").inputs["cidrBlock"]) for zone in (1, 2, 3)]
    ingress = run.named("cloudtap-monitor-nacl").inputs["ingress"]
    feeds = sorted(
        (rule["ruleNo"], rule["cidrBlock"])
        for rule in ingress
        if rule["fromPort"] == 4789 and rule["cidrBlock"] in public
    )
    assert feeds == [(50, public[0]), (51, public[1]), (52, public[2])]
    assert len(ingress) <= 20
    # The sensor expects each gateway's heartbeats.
    settings = run.named("sensor-settings").inputs["insecureValue"]
    assert f'HEARTBEAT_SOURCES="{" ".join(f"{cidr}:4242" for cidr in public)}"' in settings
    # A sensor in zone 1 waits for its own zone's monitor route.
    instance = run.named("sensor-instance")
    assert run.named("cloudtap-monitor-1-default").urn in instance.dependencies
