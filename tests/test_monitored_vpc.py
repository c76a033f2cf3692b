"""MonitoredVpc under strict mocks: the inputs that make it route, isolate and stay safe."""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from components import CloudtapInputError, MonitoredVpc, MonitoredVpcArgs, PortForwardArgs
from components import settings_delivery as delivery
from components.boot_bundle import MANIFEST_PATH
from components.cloud_config import NET_LIBRARY_PATH, written_files
from components.gateway import (
    AWS_VPC_MTU,
    HEARTBEAT_PATH,
    HEARTBEAT_UNIT_PATH,
    SCRIPT_PATH,
    SETTINGS_PATH,
    UNIT_PATH,
    render_settings,
)
from components.network_plan import Tier
from tests.bundles import bundled_boot, same_files
from tests.cloud_init import assert_valid_cloud_config
from tests.mocks import ProgramRun, Registration, StrictMocks, run_program

VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
ROUTE = "aws:ec2/route:Route"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE_TABLE_ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
NACL = "aws:ec2/networkAcl:NetworkAcl"
NACL_ASSOCIATION = "aws:ec2/networkAclAssociation:NetworkAclAssociation"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
ENI = "aws:ec2/networkInterface:NetworkInterface"
EIP = "aws:ec2/eip:Eip"
INSTANCE = "aws:ec2/instance:Instance"
GET_AMI = "aws:ec2/getAmi:getAmi"
GET_ZONES = "aws:index/getAvailabilityZones:getAvailabilityZones"
# Resource types that AWS cannot tag.
UNTAGGABLE = {
    ROUTE,
    ROUTE_TABLE_ASSOCIATION,
    NACL_ASSOCIATION,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketPolicy:BucketPolicy",
}

PRIVATE_CIDRS = ("10.0.64.0/20", "10.0.80.0/20")
MONITOR_CIDRS = ("10.0.128.0/20", "10.0.144.0/20")
MANAGEMENT_CIDRS = ("10.0.192.0/20", "10.0.208.0/20")
PUBLIC_CIDRS = ("10.0.0.0/20", "10.0.16.0/20")
RDP_FORWARD: PortForwardArgs = {
    "protocol": "tcp",
    "public_port": 3389,
    "private_host": "10.0.64.10",
}
WIREGUARD_FORWARD: PortForwardArgs = {
    "protocol": "udp",
    "public_port": 51820,
    "private_host": "10.0.80.20",
}


def build(
    mocks: StrictMocks, args: MonitoredVpcArgs | None = None, name: str = "cloudtap"
) -> ProgramRun[MonitoredVpc]:
    return run_program(lambda: MonitoredVpc(name, args), mocks)


def custom(run: ProgramRun[Any]) -> list[Registration]:
    return [r for r in run.resources if r.custom]


def names(resources: Iterable[Registration]) -> set[str]:
    return {r.name for r in resources}


def routes_of(run: ProgramRun[Any], table: Registration) -> list[Registration]:
    return [r for r in run.of_type(ROUTE) if r.inputs["routeTableId"] == table.id]


def associated_subnets(run: ProgramRun[Any], table: Registration) -> set[str]:
    return {
        r.inputs["subnetId"]
        for r in run.of_type(ROUTE_TABLE_ASSOCIATION)
        if r.inputs["routeTableId"] == table.id
    }


def subnet_ids(run: ProgramRun[Any], tier: Tier, prefix: str = "cloudtap") -> set[str]:
    return {r.id for r in run.of_type(SUBNET) if r.name.startswith(f"{prefix}-{tier.value}-")}


def nacl_verdict(entries: Iterable[Mapping[str, Any]], protocol: str, port: int, peer: str) -> str:
    """What AWS does with a packet: the lowest-numbered matching entry wins; no match denies."""
    for entry in sorted(entries, key=lambda e: int(e["ruleNo"])):
        if ipaddress.IPv4Address(peer) not in ipaddress.IPv4Network(entry["cidrBlock"]):
            continue
        if entry["protocol"] != "-1":
            if entry["protocol"] != protocol:
                continue
            if not int(entry["fromPort"]) <= port <= int(entry["toPort"]):
                continue
        return str(entry["action"])
    return "deny"


def ingress_rules(run: ProgramRun[Any]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = run.named("cloudtap-gateway-sg").inputs["ingress"]
    return rules


def covers_port(rule: Mapping[str, Any], port: int) -> bool:
    return rule["protocol"] == "-1" or int(rule["fromPort"]) <= port <= int(rule["toPort"])


# -- names and structure ---------------------------------------------------------------------

DEFAULT_CHILD_NAMES = {
    "cloudtap-vpc",
    "cloudtap-igw",
    *(f"cloudtap-{tier.value}-{i}" for tier in Tier for i in (1, 2)),
    "cloudtap-public-rt",
    "cloudtap-public-default",
    "cloudtap-public-1-rta",
    "cloudtap-public-2-rta",
    "cloudtap-private-1-rt",
    "cloudtap-private-2-rt",
    "cloudtap-private-1-default",
    "cloudtap-private-2-default",
    "cloudtap-private-1-rta",
    "cloudtap-private-2-rta",
    "cloudtap-monitor-rt",
    "cloudtap-monitor-default",
    "cloudtap-monitor-1-rta",
    "cloudtap-monitor-2-rta",
    "cloudtap-management-rt",
    "cloudtap-management-1-rta",
    "cloudtap-management-2-rta",
    "cloudtap-monitor-nacl",
    "cloudtap-monitor-1-nacl-assoc",
    "cloudtap-monitor-2-nacl-assoc",
    "cloudtap-management-nacl",
    "cloudtap-management-1-nacl-assoc",
    "cloudtap-management-2-nacl-assoc",
    "cloudtap-gateway-sg",
    "cloudtap-gateway-eni",
    "cloudtap-gateway-eip",
    "cloudtap-gateway-role",
    "cloudtap-gateway-ssm",
    "cloudtap-gateway-profile",
    "cloudtap-gateway-settings",
    "cloudtap-gateway-settings-read",
    "cloudtap-gateway-settings-status",
    "cloudtap-gateway-fetch",
    "cloudtap-gateway-fetch-association",
    # The boot bucket (the sensors' bundles go there too) and the gateway's bundle.
    "cloudtap-boot",
    "cloudtap-boot-public-access",
    "cloudtap-boot-encryption",
    "cloudtap-boot-tls-only",
    "cloudtap-gateway-boot-bundle",
    "cloudtap-gateway-boot-read",
    "cloudtap-gateway",
}


def test_default_args_register_exactly_the_documented_children(mocks: StrictMocks) -> None:
    run = build(mocks)
    assert names(custom(run)) == DEFAULT_CHILD_NAMES
    assert len(custom(run)) == len(DEFAULT_CHILD_NAMES) == 51
    component = run.named("cloudtap")
    assert component.type == "cloudtap:aws:MonitoredVpc"
    assert not component.custom


def test_every_child_is_parented_to_the_component(mocks: StrictMocks) -> None:
    run = build(mocks)
    component = run.named("cloudtap")
    assert {r.name for r in run.children_of(component.urn)} == DEFAULT_CHILD_NAMES


def test_child_names_do_not_depend_on_zone_names_or_tags() -> None:
    first = build(StrictMocks(zones=["eu-west-1a", "eu-west-1b"]))
    second = build(StrictMocks(zones=["us-east-1d", "us-east-1f"]), {"tags": {"team": "soc"}})
    assert names(first.resources) == names(second.resources)


def test_three_zones_add_children_and_keep_the_two_zone_names(mocks: StrictMocks) -> None:
    run = build(mocks, {"availability_zone_count": 3})
    assert names(custom(run)) > DEFAULT_CHILD_NAMES
    assert "cloudtap-private-3" in names(run.resources)
    assert "cloudtap-private-3-default" in names(run.resources)


def test_two_monitored_vpcs_in_one_program_do_not_collide(mocks: StrictMocks) -> None:
    def program() -> tuple[MonitoredVpc, MonitoredVpc]:
        return MonitoredVpc("blue"), MonitoredVpc("green", {"cidr_block": "10.1.0.0/16"})

    run = run_program(program, mocks)
    blue = {r.name for r in custom(run) if r.name.startswith("blue-")}
    green = {r.name for r in custom(run) if r.name.startswith("green-")}
    assert len(blue) == len(green) == 51
    assert not blue & green
    assert len({r.urn for r in run.resources}) == len(run.resources)
    assert len(run.of_type(INSTANCE)) == 2
    assert {run.resolve(vpc.gateway_public_ip) for vpc in run.result} == {
        "203.0.113.10",
        "203.0.113.11",
    }


def test_a_child_name_registered_twice_is_refused_like_the_engine_does(
    mocks: StrictMocks,
) -> None:
    with pytest.raises(LookupError, match="duplicate resource URN"):
        run_program(lambda: (MonitoredVpc("same"), MonitoredVpc("same")), mocks)


# -- network ---------------------------------------------------------------------------------


def test_vpc_has_dns_support_and_hostnames(mocks: StrictMocks) -> None:
    vpc = build(mocks).named("cloudtap-vpc")
    assert vpc.inputs["cidrBlock"] == "10.0.0.0/16"
    assert vpc.inputs["enableDnsSupport"] is True
    assert vpc.inputs["enableDnsHostnames"] is True


def test_subnets_follow_the_plan_and_never_hand_out_public_addresses(mocks: StrictMocks) -> None:
    run = build(mocks)
    vpc_id = run.named("cloudtap-vpc").id
    expected = {
        Tier.PUBLIC: PUBLIC_CIDRS,
        Tier.PRIVATE: PRIVATE_CIDRS,
        Tier.MONITOR: MONITOR_CIDRS,
        Tier.MANAGEMENT: MANAGEMENT_CIDRS,
    }
    for tier, cidrs in expected.items():
        for index, cidr in enumerate(cidrs):
            subnet = run.named(f"cloudtap-{tier.value}-{index + 1}")
            assert subnet.inputs["cidrBlock"] == cidr
            assert subnet.inputs["vpcId"] == vpc_id
            assert subnet.inputs["availabilityZone"] == ("eu-west-1a", "eu-west-1b")[index]
            assert subnet.inputs["mapPublicIpOnLaunch"] is False


def test_zones_default_to_the_first_available_ones_without_local_zones(
    mocks: StrictMocks,
) -> None:
    run = build(mocks)
    lookups = [i for i in run.invocations if i.token == GET_ZONES]
    assert len(lookups) == 1
    assert lookups[0].args["state"] == "available"
    assert lookups[0].args["filters"] == [
        {"name": "opt-in-status", "values": ["opt-in-not-required"]}
    ]
    zones = {r.inputs["availabilityZone"] for r in run.of_type(SUBNET)}
    assert zones == {"eu-west-1a", "eu-west-1b"}


def test_explicit_zones_are_used_in_order_once_checked_against_the_region(
    mocks: StrictMocks,
) -> None:
    run = build(mocks, {"availability_zones": ["eu-west-1c", "eu-west-1a"]})
    (lookup,) = [i for i in run.invocations if i.token == GET_ZONES]
    # Every zone the account may use: an opted-in Local Zone may be chosen on purpose.
    assert lookup.args == {"state": "available"}
    assert run.named("cloudtap-private-1").inputs["availabilityZone"] == "eu-west-1c"
    assert run.named("cloudtap-private-2").inputs["availabilityZone"] == "eu-west-1a"


@pytest.mark.parametrize("preview", [False, True])
def test_a_region_with_too_few_zones_fails_naming_availability_zone_count(
    preview: bool,
) -> None:
    mocks = StrictMocks(zones=["ap-east-2a"])
    with pytest.raises(CloudtapInputError) as error:
        run_program(lambda: MonitoredVpc("cloudtap"), mocks, preview=preview)
    assert error.value.field == "availability_zone_count"
    assert "ap-east-2a" in str(error.value)
    assert mocks.registrations == []  # the zones are checked before the component registers


# -- routes ----------------------------------------------------------------------------------


def test_public_default_route_goes_to_the_internet_gateway(mocks: StrictMocks) -> None:
    run = build(mocks)
    table = run.named("cloudtap-public-rt")
    (route,) = routes_of(run, table)
    assert route.inputs["destinationCidrBlock"] == "0.0.0.0/0"
    assert route.inputs["gatewayId"] == run.named("cloudtap-igw").id
    assert "networkInterfaceId" not in route.inputs
    assert associated_subnets(run, table) == subnet_ids(run, Tier.PUBLIC)


def test_every_private_route_table_defaults_to_the_gateway_interface(mocks: StrictMocks) -> None:
    run = build(mocks)
    eni = run.named("cloudtap-gateway-eni")
    tables = [run.named(f"cloudtap-private-{i}-rt") for i in (1, 2)]
    for index, table in enumerate(tables):
        (route,) = routes_of(run, table)
        assert route.inputs["destinationCidrBlock"] == "0.0.0.0/0"
        assert route.inputs["networkInterfaceId"] == eni.id
        assert "gatewayId" not in route.inputs
        assert "natGatewayId" not in route.inputs
        assert associated_subnets(run, table) == {run.named(f"cloudtap-private-{index + 1}").id}
    assert [run.resolve(t.id) for t in run.result.private_route_tables] == [t.id for t in tables]


def test_monitor_default_route_goes_through_the_gateway_interface(mocks: StrictMocks) -> None:
    run = build(mocks)
    table = run.named("cloudtap-monitor-rt")
    (route,) = routes_of(run, table)
    assert route.inputs["destinationCidrBlock"] == "0.0.0.0/0"
    assert route.inputs["networkInterfaceId"] == run.named("cloudtap-gateway-eni").id
    assert associated_subnets(run, table) == subnet_ids(run, Tier.MONITOR)


def test_management_route_table_has_no_routes(mocks: StrictMocks) -> None:
    run = build(mocks)
    table = run.named("cloudtap-management-rt")
    assert routes_of(run, table) == []
    assert not table.inputs.get("routes")
    assert associated_subnets(run, table) == subnet_ids(run, Tier.MANAGEMENT)


def test_every_subnet_has_exactly_one_route_table(mocks: StrictMocks) -> None:
    run = build(mocks)
    associated = [r.inputs["subnetId"] for r in run.of_type(ROUTE_TABLE_ASSOCIATION)]
    assert sorted(associated) == sorted(r.id for r in run.of_type(SUBNET))


# -- isolation -------------------------------------------------------------------------------


def test_monitor_nacl_denies_the_private_tier_but_admits_the_mirror_feeds(
    mocks: StrictMocks,
) -> None:
    acl = build(mocks).named("cloudtap-monitor-nacl").inputs
    for host in ("10.0.64.10", "10.0.80.200"):  # one address in each private subnet
        assert nacl_verdict(acl["ingress"], "udp", 4789, host) == "allow"  # VXLAN
        assert nacl_verdict(acl["ingress"], "udp", 6081, host) == "allow"  # GENEVE
        assert nacl_verdict(acl["ingress"], "tcp", 22, host) == "deny"
        assert nacl_verdict(acl["ingress"], "udp", 53, host) == "deny"
        assert nacl_verdict(acl["ingress"], "tcp", 4789, host) == "deny"
        for protocol, port in (("tcp", 443), ("udp", 4789), ("icmp", 0)):
            assert nacl_verdict(acl["egress"], protocol, port, host) == "deny"
    for peer in ("1.1.1.1", "10.0.0.10", "10.0.192.5", "10.0.144.9"):  # internet, gateway, ...
        assert nacl_verdict(acl["ingress"], "tcp", 443, peer) == "allow"
        assert nacl_verdict(acl["egress"], "tcp", 443, peer) == "allow"


def test_gateway_mirror_feed_from_the_gateway_subnet_reaches_the_monitor_tier(
    mocks: StrictMocks,
) -> None:
    run = build(mocks, {"gateway_mirror": {}})
    acl = run.named("cloudtap-monitor-nacl").inputs
    gateway_subnet = run.named("cloudtap-public-1").inputs["cidrBlock"]
    explicit = [
        e
        for e in acl["ingress"]
        if e["cidrBlock"] == gateway_subnet and e["action"] == "allow" and e["protocol"] == "udp"
    ]
    assert [(e["fromPort"], e["toPort"]) for e in explicit] == [(4789, 4789)]
    # The gateway's address in the mocks (.10 of the first public subnet) gets the feed through.
    gateway_ip = run.resolve(run.result.gateway_private_ip)
    assert nacl_verdict(acl["ingress"], "udp", 4789, gateway_ip) == "allow"
    assert run.result.plan.gateway_mirror is not None
    assert str(run.result.plan.gateway_mirror.sensor_address) == "10.0.128.10"


def test_the_gateway_mirror_may_use_the_vpcs_jumbo_frames_towards_the_sensor(
    mocks: StrictMocks,
) -> None:
    run = build(mocks, {"gateway_mirror": {}})
    settings = run.named("cloudtap-gateway-settings").inputs["insecureValue"]
    assert 'MIRROR_SENSOR="10.0.128.10"' in settings
    assert 'MIRROR_UNDERLAY_MTU="9001"' in settings


def test_without_the_gateway_mirror_there_is_no_gateway_feed_rule(mocks: StrictMocks) -> None:
    acl = build(mocks).named("cloudtap-monitor-nacl").inputs
    assert not [e for e in acl["ingress"] if e["cidrBlock"] == PUBLIC_CIDRS[0]]


def test_management_nacl_denies_the_private_tier_both_ways(mocks: StrictMocks) -> None:
    acl = build(mocks).named("cloudtap-management-nacl").inputs
    for host in ("10.0.64.10", "10.0.80.200"):
        for protocol, port in (("udp", 4789), ("udp", 6081), ("tcp", 22), ("tcp", 443)):
            assert nacl_verdict(acl["ingress"], protocol, port, host) == "deny"
            assert nacl_verdict(acl["egress"], protocol, port, host) == "deny"
    assert nacl_verdict(acl["ingress"], "tcp", 22, "10.0.128.7") == "allow"
    assert nacl_verdict(acl["egress"], "tcp", 22, "10.0.128.7") == "allow"


def test_nacl_rule_numbers_are_stable_when_a_zone_is_added() -> None:
    two = build(StrictMocks()).named("cloudtap-monitor-nacl").inputs
    three = build(StrictMocks(), {"availability_zone_count": 3}).named("cloudtap-monitor-nacl")

    def entries(acl: Mapping[str, Any]) -> set[tuple[Any, ...]]:
        return {
            (e["ruleNo"], e["action"], e["cidrBlock"], e["fromPort"])
            for direction in ("ingress", "egress")
            for e in acl[direction]
        }

    assert entries(two) < entries(three.inputs)


def test_nacls_cover_exactly_the_monitor_and_management_subnets(mocks: StrictMocks) -> None:
    run = build(mocks)
    by_acl: dict[str, set[str]] = {}
    for association in run.of_type(NACL_ASSOCIATION):
        by_acl.setdefault(association.inputs["networkAclId"], set()).add(
            association.inputs["subnetId"]
        )
    assert by_acl == {
        run.named("cloudtap-monitor-nacl").id: subnet_ids(run, Tier.MONITOR),
        run.named("cloudtap-management-nacl").id: subnet_ids(run, Tier.MANAGEMENT),
    }


# -- gateway ---------------------------------------------------------------------------------


def test_gateway_interface_forwards_with_source_dest_check_off(mocks: StrictMocks) -> None:
    run = build(mocks)
    eni = run.named("cloudtap-gateway-eni")
    assert eni.inputs["sourceDestCheck"] is False
    assert eni.inputs["subnetId"] == run.named("cloudtap-public-1").id
    assert eni.inputs["securityGroups"] == [run.named("cloudtap-gateway-sg").id]
    assert run.resolve(run.result.gateway_network_interface_id) == eni.id
    assert run.resolve(run.result.gateway_private_ip) == eni.state["privateIp"]


def test_elastic_ip_belongs_to_the_interface_so_it_survives_a_new_instance(
    mocks: StrictMocks,
) -> None:
    run = build(mocks)
    eip = run.named("cloudtap-gateway-eip")
    assert eip.inputs["domain"] == "vpc"
    assert eip.inputs["networkInterface"] == run.named("cloudtap-gateway-eni").id
    assert "instance" not in eip.inputs
    assert run.named("cloudtap-igw").urn in eip.dependencies
    assert run.resolve(run.result.gateway_public_ip) == eip.state["publicIp"]


def test_gateway_instance_boots_on_the_interface_and_leaves_it_behind(mocks: StrictMocks) -> None:
    run = build(mocks)
    instance = run.named("cloudtap-gateway")
    assert instance.inputs["primaryNetworkInterface"] == {
        "networkInterfaceId": run.named("cloudtap-gateway-eni").id,
        "deleteOnTermination": False,
    }
    # The deprecated block and the settings that conflict with an existing ENI stay unset.
    for conflicting in ("networkInterfaces", "subnetId", "vpcSecurityGroupIds", "sourceDestCheck"):
        assert conflicting not in instance.inputs
    assert "sourceDestCheck" in instance.ignore_changes


def test_gateway_instance_is_replaced_when_its_user_data_changes(mocks: StrictMocks) -> None:
    instance = build(mocks).named("cloudtap-gateway")
    assert instance.inputs["userDataReplaceOnChange"] is True
    assert instance.delete_before_replace is True


def test_gateway_instance_requires_imdsv2(mocks: StrictMocks) -> None:
    options = build(mocks).named("cloudtap-gateway").inputs["metadataOptions"]
    assert options["httpTokens"] == "required"
    assert options["httpEndpoint"] == "enabled"
    assert options["httpPutResponseHopLimit"] == 1


def test_gateway_root_volume_is_encrypted_gp3(mocks: StrictMocks) -> None:
    volume = build(mocks).named("cloudtap-gateway").inputs["rootBlockDevice"]
    assert volume["encrypted"] is True
    assert volume["volumeType"] == "gp3"


def test_gateway_boots_after_its_public_route_and_address_exist(mocks: StrictMocks) -> None:
    run = build(mocks)
    instance = run.named("cloudtap-gateway")
    for needed in ("cloudtap-gateway-eip", "cloudtap-public-default", "cloudtap-gateway-ssm"):
        assert run.named(needed).urn in instance.dependencies


def test_gateway_is_managed_through_ssm(mocks: StrictMocks) -> None:
    run = build(mocks)
    role = run.named("cloudtap-gateway-role")
    policy = json.loads(role.inputs["assumeRolePolicy"])
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    attachment = run.named("cloudtap-gateway-ssm")
    assert attachment.inputs["role"] == role.state["name"]
    assert attachment.inputs["policyArn"] == "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    profile = run.named("cloudtap-gateway-profile")
    assert profile.inputs["role"] == role.state["name"]
    assert run.named("cloudtap-gateway").inputs["iamInstanceProfile"] == profile.state["name"]


def test_default_image_is_the_latest_x86_64_amazon_linux_2023(mocks: StrictMocks) -> None:
    run = build(mocks)
    (lookup,) = [i for i in run.invocations if i.token == GET_AMI]
    assert lookup.args["owners"] == ["amazon"]
    assert lookup.args["mostRecent"] is True
    assert {"name": "name", "values": ["al2023-ami-2023.*-x86_64"]} in lookup.args["filters"]
    instance = run.named("cloudtap-gateway")
    assert instance.inputs["instanceType"] == "t3.small"
    assert instance.inputs["ami"].startswith("ami-")


@pytest.mark.parametrize("instance_type", ["t4g.small", "c7g.large", "m6gd.xlarge", "c6gn.medium"])
def test_graviton_gateway_looks_up_the_arm64_image(mocks: StrictMocks, instance_type: str) -> None:
    run = build(mocks, {"gateway_instance_type": instance_type})
    (lookup,) = [i for i in run.invocations if i.token == GET_AMI]
    assert {"name": "name", "values": ["al2023-ami-2023.*-arm64"]} in lookup.args["filters"]
    assert {"name": "architecture", "values": ["arm64"]} in lookup.args["filters"]
    assert run.named("cloudtap-gateway").inputs["instanceType"] == instance_type


def test_a_pinned_image_skips_the_lookup(mocks: StrictMocks) -> None:
    run = build(mocks, {"gateway_ami_id": "ami-0123456789abcdef0"})
    assert not [i for i in run.invocations if i.token == GET_AMI]
    assert run.named("cloudtap-gateway").inputs["ami"] == "ami-0123456789abcdef0"
    assert "ami" not in run.named("cloudtap-gateway").ignore_changes


def test_a_newer_default_image_does_not_replace_a_live_gateway(mocks: StrictMocks) -> None:
    assert "ami" in build(mocks).named("cloudtap-gateway").ignore_changes


def test_key_pair_is_passed_to_the_gateway(mocks: StrictMocks) -> None:
    args: MonitoredVpcArgs = {"gateway_key_name": "ops", "management_cidrs": ["192.0.2.0/24"]}
    assert build(mocks, args).named("cloudtap-gateway").inputs["keyName"] == "ops"


def test_a_key_pair_without_management_cidrs_warns_that_ssh_stays_closed(
    mocks: StrictMocks, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        build(mocks, {"gateway_key_name": "ops"})
    assert "management_cidrs is empty" in caplog.text


# -- security group --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        {},
        {"port_forwards": [RDP_FORWARD, WIREGUARD_FORWARD]},
        {"port_forwards": [RDP_FORWARD], "management_cidrs": ["192.0.2.0/24"]},
    ],
    ids=["defaults", "port-forwards", "port-forwards-and-management"],
)
def test_no_security_group_rule_opens_ssh_to_the_world(
    mocks: StrictMocks, args: MonitoredVpcArgs
) -> None:
    for rule in ingress_rules(build(mocks, args)):
        if covers_port(rule, 22) and rule["protocol"] in ("tcp", "-1"):
            assert "0.0.0.0/0" not in rule["cidrBlocks"], rule
            for cidr in rule["cidrBlocks"]:
                assert ipaddress.IPv4Network(cidr).prefixlen >= 8


def test_without_management_cidrs_there_is_no_ssh_rule(mocks: StrictMocks) -> None:
    rules = ingress_rules(build(mocks, {"port_forwards": [RDP_FORWARD]}))
    assert not [r for r in rules if r["protocol"] == "tcp" and covers_port(r, 22)]


def test_ssh_is_open_only_from_management_cidrs(mocks: StrictMocks) -> None:
    args: MonitoredVpcArgs = {"management_cidrs": ["192.0.2.0/24", "198.51.100.0/26"]}
    rules = ingress_rules(build(mocks, args))
    (ssh,) = [r for r in rules if r["protocol"] == "tcp" and covers_port(r, 22)]
    assert (ssh["fromPort"], ssh["toPort"]) == (22, 22)
    assert ssh["cidrBlocks"] == ["192.0.2.0/24", "198.51.100.0/26"]


def test_port_forwards_open_their_public_ports(mocks: StrictMocks) -> None:
    rules = ingress_rules(build(mocks, {"port_forwards": [RDP_FORWARD, WIREGUARD_FORWARD]}))
    world = {
        (r["protocol"], r["fromPort"], r["toPort"]) for r in rules if "0.0.0.0/0" in r["cidrBlocks"]
    }
    assert world == {("tcp", 3389, 3389), ("udp", 51820, 51820)}


def test_gateway_admits_all_traffic_only_from_the_tiers_it_routes(mocks: StrictMocks) -> None:
    rules = ingress_rules(build(mocks))
    (forwarded,) = [r for r in rules if r["protocol"] == "-1"]
    assert forwarded["cidrBlocks"] == [*PRIVATE_CIDRS, *MONITOR_CIDRS]
    egress = build(StrictMocks()).named("cloudtap-gateway-sg").inputs["egress"]
    assert [(e["protocol"], e["cidrBlocks"]) for e in egress] == [("-1", ["0.0.0.0/0"])]


# -- user data -------------------------------------------------------------------------------


def test_user_data_writes_the_script_unit_and_fetcher_and_the_parameter_holds_the_settings(
    mocks: StrictMocks,
) -> None:
    run = build(mocks, {"port_forwards": [RDP_FORWARD]})
    # EC2's 16 KB hold the fetcher and the manifest; the bundle in S3 the rest, byte for byte.
    small, files = bundled_boot(run, "cloudtap-gateway", "cloudtap-gateway-boot-bundle")
    assert set(written_files(small)) == {
        delivery.FETCHER_PATH,
        delivery.AWS_HALF_PATH,
        MANIFEST_PATH,
    }
    assert same_files(files) == same_files(written_files(run.result.gateway_user_data))
    assert set(files) == {
        SCRIPT_PATH,
        UNIT_PATH,
        HEARTBEAT_PATH,
        HEARTBEAT_UNIT_PATH,
        NET_LIBRARY_PATH,
        delivery.SOURCE_PATH,
        delivery.FETCHER_PATH,
        delivery.AWS_HALF_PATH,
        delivery.FETCHER_UNIT_PATH,
        delivery.FETCHER_TIMER_PATH,
    }
    assert SETTINGS_PATH not in files
    parameter = run.named("cloudtap-gateway-settings")
    assert 'SSM_PARAMETER="/cloudtap/cloudtap/test/cloudtap/gateway"' in (
        files[delivery.SOURCE_PATH].content
    )
    assert parameter.inputs["name"] == "/cloudtap/cloudtap/test/cloudtap/gateway"
    assert (parameter.inputs["type"], parameter.inputs["tier"]) == ("String", "Standard")
    assert parameter.inputs["insecureValue"] == render_settings(
        run.result.plan, underlay_mtu=AWS_VPC_MTU
    )
    assert 'PORT_FORWARDS="tcp:3389:10.0.64.10:3389"' in parameter.inputs["insecureValue"]
    assert files[SCRIPT_PATH].content.startswith("#!/usr/bin/env bash")
    assert files[SCRIPT_PATH].permissions == "0755"


def test_user_data_passes_the_cloud_init_schema_validator(mocks: StrictMocks) -> None:
    run = build(mocks, {"port_forwards": [RDP_FORWARD], "management_cidrs": ["192.0.2.0/24"]})
    small, _ = bundled_boot(run, "cloudtap-gateway", "cloudtap-gateway-boot-bundle")
    assert_valid_cloud_config(small)
    assert_valid_cloud_config(run.result.gateway_user_data)


# -- tags and outputs ------------------------------------------------------------------------


def test_tags_are_merged_into_every_child_with_its_own_name(mocks: StrictMocks) -> None:
    tags = {"team": "soc", "cost-center": "1234"}
    run = build(mocks, {"tags": tags})
    tagged = [r for r in custom(run) if r.type not in UNTAGGABLE]
    assert len(tagged) == 29  # the boot bucket, the gateway's bundle and settings status
    for resource in tagged:
        assert resource.inputs["tags"] == {**tags, "Name": resource.name}, resource.name
    assert run.named("cloudtap-gateway").inputs["volumeTags"] == {
        **tags,
        "Name": "cloudtap-gateway",
    }


def test_outputs_are_always_present(mocks: StrictMocks) -> None:
    run = build(mocks)
    vpc = run.result
    assert set(vpc.subnets) == set(vpc.subnet_ids) == {tier.value for tier in Tier}
    for tier in Tier:
        assert len(vpc.subnets[tier.value]) == len(vpc.subnet_ids[tier.value]) == 2
    assert run.resolve(vpc.vpc_id) == run.named("cloudtap-vpc").id
    assert [run.resolve(i) for i in vpc.subnet_ids["private"]] == [
        run.named("cloudtap-private-1").id,
        run.named("cloudtap-private-2").id,
    ]
    for attribute in (
        "vpc",
        "internet_gateway",
        "public_route_table",
        "monitor_route_table",
        "management_route_table",
        "gateway_instance",
        "gateway_security_group",
    ):
        assert isinstance(getattr(vpc, attribute), pulumi.CustomResource), attribute
    assert len(vpc.private_route_tables) == 2
    assert vpc.gateway_user_data.startswith("#cloud-config\n")

    outputs = run.outputs_of(run.named("cloudtap").urn)
    assert outputs["vpc_id"] == run.named("cloudtap-vpc").id
    assert outputs["gateway_network_interface_id"] == run.named("cloudtap-gateway-eni").id
    assert outputs["gateway_instance_id"] == run.named("cloudtap-gateway").id
    assert outputs["gateway_public_ip"] == "203.0.113.10"
    assert outputs["private_route_table_ids"] == [
        run.named("cloudtap-private-1-rt").id,
        run.named("cloudtap-private-2-rt").id,
    ]
    assert set(outputs["subnet_ids"]) == {tier.value for tier in Tier}


def test_preview_registers_the_same_resources(mocks: StrictMocks) -> None:
    run = run_program(lambda: MonitoredVpc("cloudtap"), mocks, preview=True)
    assert names(custom(run)) == DEFAULT_CHILD_NAMES


def test_children_and_lookups_use_the_component_provider(mocks: StrictMocks) -> None:
    def program() -> MonitoredVpc:
        frankfurt = aws.Provider("frankfurt", region="eu-central-1")
        return MonitoredVpc("cloudtap", opts=pulumi.ResourceOptions(providers=[frankfurt]))

    run = run_program(program, mocks)
    provider = run.named("frankfurt")
    reference = f"{provider.urn}::{provider.id}"
    children = [r for r in custom(run) if r.name != "frankfurt"]
    assert {r.provider for r in children} == {reference}
    assert {i.provider for i in run.invocations} == {reference}


# -- input errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"gateway_instance": "t3.small"}, "gateway_instance"),
        ({"gateway_instance_type": "t3small"}, "gateway_instance_type"),
        ({"gateway_instance_type": "T3.SMALL"}, "gateway_instance_type"),
        ({"gateway_instance_type": 3}, "gateway_instance_type"),
        ({"availability_zones": ["eu-west-1a"]}, "availability_zones"),
        ({"availability_zones": "eu-west-1a"}, "availability_zones"),
        ({"availability_zones": ["eu-west-1a", "eu-west-1a"]}, "availability_zones[1]"),
        ({"availability_zones": ["eu-west-1a", ""]}, "availability_zones[1]"),
        ({"gateway_ami_id": "al2023"}, "gateway_ami_id"),
        ({"gateway_key_name": ""}, "gateway_key_name"),
        ({"tags": ["team"]}, "tags"),
        ({"tags": {"team": 7}}, "tags.team"),
        ({"tags": {"Name": "mine"}}, "tags.Name"),
        ({"tags": {"aws:owner": "me"}}, "tags.aws:owner"),
        ({"cidr_block": "10.0.0.0/8"}, "cidr_block"),
        ({"availability_zone_count": 7, "subnet_prefix_length": 24}, "availability_zone_count"),
        ({"management_cidrs": ["0.0.0.0/0"]}, "management_cidrs[0]"),
        ({"gateway_mirror": {"mode": "tee"}}, "gateway_mirror.mode"),
        ({"gateway_mirror": {"sensor_address": "10.0.64.10"}}, "gateway_mirror.sensor_address"),
    ],
)
def test_bad_input_fails_before_any_resource_is_registered(
    mocks: StrictMocks, args: dict[str, Any], field: str
) -> None:
    with pytest.raises(CloudtapInputError) as error:
        run_program(lambda: MonitoredVpc("cloudtap", args), mocks)  # type: ignore[arg-type]
    assert error.value.field == field
    assert str(error.value).startswith(f"{field}: got ")
    assert mocks.registrations == []
    assert mocks.invocations == []


def test_args_that_are_not_a_mapping_are_refused(mocks: StrictMocks) -> None:
    with pytest.raises(CloudtapInputError, match=r"^args: "):
        run_program(lambda: MonitoredVpc("cloudtap", ["10.0.0.0/16"]), mocks)  # type: ignore[arg-type]
    assert mocks.registrations == []
