"""Sensor under strict mocks: where it lives, what may reach it, how it boots."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

import pytest

import components
from components import CloudtapInputError, MonitoredVpc, MonitoredVpcArgs, ids
from components.aws.sensor import AwsSensorArgs, Sensor, resolve_placement
from components.cloud_config import written_files
from components.network_plan import plan_network
from components.sensor import SETTINGS_PATH
from tests.bundles import bundled_boot, same_files
from tests.cloud_init import assert_valid_cloud_config
from tests.mocks import ProgramRun, Registration, StrictMocks, run_program

INSTANCE = "aws:ec2/instance:Instance"
VOLUME = "aws:ebs/volume:Volume"
GET_AMI = "aws:ec2/getAmi:getAmi"
CHILDREN = {
    "sensor-sg",
    "sensor-eni",
    "sensor-role",
    "sensor-ssm",
    "sensor-profile",
    "sensor-settings",
    "sensor-settings-read",
    "sensor-settings-status",
    "sensor-fetch",
    "sensor-fetch-association",
    "sensor-boot-bundle",
    "sensor-boot-read",
    "sensor-instance",
}
FEED_PORTS = {("udp", 4789), ("udp", 6081), ("47", 0)}


def build(
    mocks: StrictMocks,
    args: dict[str, Any] | None = None,
    network: MonitoredVpcArgs | None = None,
    *,
    preview: bool = False,
) -> ProgramRun[Sensor]:
    def program() -> Sensor:
        vpc = MonitoredVpc("net", network)
        sensor_args: dict[str, Any] = {"network": vpc, **(args or {})}
        return Sensor("sensor", sensor_args)  # type: ignore[arg-type]

    return run_program(program, mocks, preview=preview)


def sensor_children(run: ProgramRun[Any]) -> list[Registration]:
    component = run.named("sensor")
    return run.children_of(component.urn)


def ingress(run: ProgramRun[Any]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = run.named("sensor-sg").inputs["ingress"]
    return rules


# -- structure -------------------------------------------------------------------------------


def test_sensor_registers_its_documented_children_under_the_component(mocks: StrictMocks) -> None:
    run = build(mocks)
    component = run.named("sensor")
    assert component.type == "cloudtap:aws:Sensor"
    assert {r.name for r in sensor_children(run)} == CHILDREN


def test_a_log_volume_adds_an_encrypted_gp3_volume_attached_to_the_instance(
    mocks: StrictMocks,
) -> None:
    run = build(mocks, {"log_volume_size_gb": 500})
    assert {r.name for r in sensor_children(run)} == CHILDREN | {
        "sensor-logs",
        "sensor-logs-attachment",
    }
    volume = run.named("sensor-logs")
    assert volume.inputs["encrypted"] is True
    assert volume.inputs["type"] == "gp3"
    assert volume.inputs["size"] == 500
    # Same zone as the sensor's subnet, or it cannot be attached.
    assert (
        volume.inputs["availabilityZone"] == run.named("net-monitor-1").inputs["availabilityZone"]
    )
    attachment = run.named("sensor-logs-attachment")
    assert attachment.inputs["volumeId"] == volume.id
    assert attachment.inputs["instanceId"] == run.named("sensor-instance").id
    assert run.result.plan.log_volume is True
    assert run.result.log_volume is not None


def test_without_a_log_volume_the_plan_says_so(mocks: StrictMocks) -> None:
    run = build(mocks)
    assert run.result.plan.log_volume is False
    assert run.result.log_volume is None
    assert not run.of_type(VOLUME)


def test_a_small_log_volume_warns_about_the_recommended_size(
    mocks: StrictMocks, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        build(mocks, {"log_volume_size_gb": 100})
    assert "recommends at least 500 GB" in caplog.text


# -- address ---------------------------------------------------------------------------------


def test_interface_has_the_default_fixed_address_in_the_first_monitor_subnet(
    mocks: StrictMocks,
) -> None:
    run = build(mocks)
    eni = run.named("sensor-eni")
    assert eni.inputs["subnetId"] == run.named("net-monitor-1").id
    assert eni.inputs["privateIps"] == ["10.0.128.10"]
    assert eni.state["privateIp"] == "10.0.128.10"
    assert run.result.private_ip == "10.0.128.10"
    assert run.result.availability_zone_index == 0


def test_source_dest_check_stays_on_the_sensor_interface(mocks: StrictMocks) -> None:
    eni = build(mocks).named("sensor-eni")
    assert eni.inputs["sourceDestCheck"] is True


def test_with_the_gateway_mirror_the_sensor_takes_its_sensor_address_and_zone(
    mocks: StrictMocks,
) -> None:
    run = build(mocks, None, {"gateway_mirror": {"sensor_address": "10.0.144.20"}})
    eni = run.named("sensor-eni")
    assert eni.inputs["subnetId"] == run.named("net-monitor-2").id
    assert eni.inputs["privateIps"] == ["10.0.144.20"]
    assert run.result.availability_zone_index == 1


def test_an_explicit_zone_and_address_are_used(mocks: StrictMocks) -> None:
    run = build(mocks, {"availability_zone_index": 1, "private_ip": "10.0.150.7"})
    eni = run.named("sensor-eni")
    assert eni.inputs["subnetId"] == run.named("net-monitor-2").id
    assert eni.inputs["privateIps"] == ["10.0.150.7"]


def test_the_sensor_the_gateway_mirrors_to_expects_its_heartbeats(mocks: StrictMocks) -> None:
    network: MonitoredVpcArgs = {"gateway_mirror": {"vni": 77, "heartbeat_interval": 5}}
    # The settings travel in the SSM parameter, not in the user data.
    settings = build(mocks, None, network).named("sensor-settings").inputs["insecureValue"]
    assert 'HEARTBEAT_SOURCES="10.0.0.0/20:77"' in settings
    assert 'HEARTBEAT_INTERVAL="5"' in settings


def test_a_sensor_the_gateway_mirror_does_not_send_to_expects_no_heartbeats(
    mocks: StrictMocks,
) -> None:
    run = build(mocks, {"private_ip": "10.0.128.11"}, {"gateway_mirror": {}})
    settings = run.named("sensor-settings").inputs["insecureValue"]
    assert 'HEARTBEAT_SOURCES=""' in settings


def test_an_address_other_than_the_gateway_mirrors_warns(
    mocks: StrictMocks, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        build(mocks, {"private_ip": "10.0.128.11"}, {"gateway_mirror": {}})
    assert "differs from the network's gateway_mirror.sensor_address 10.0.128.10" in caplog.text


# -- security group --------------------------------------------------------------------------


def test_feed_ports_are_open_only_from_the_monitored_network(mocks: StrictMocks) -> None:
    rules = ingress(build(mocks))
    feeds = {(r["protocol"], r["fromPort"]): r for r in rules if r["protocol"] != "tcp"}
    assert set(feeds) == FEED_PORTS
    for rule in feeds.values():
        assert rule["cidrBlocks"] == ["10.0.0.0/16"]


def test_no_rule_opens_ssh_or_a_feed_to_the_world(mocks: StrictMocks) -> None:
    rules = ingress(build(mocks, None, {"management_cidrs": ["192.0.2.0/24"]}))
    for rule in rules:
        assert "0.0.0.0/0" not in rule["cidrBlocks"], rule
        assert rule["protocol"] != "-1", rule


def test_ssh_is_open_only_from_management_cidrs(mocks: StrictMocks) -> None:
    rules = ingress(build(mocks, None, {"management_cidrs": ["192.0.2.0/24"]}))
    ssh = [r for r in rules if r["protocol"] == "tcp" and r["fromPort"] == 22]
    assert [(r["fromPort"], r["toPort"], r["cidrBlocks"]) for r in ssh] == [
        (22, 22, ["192.0.2.0/24"])
    ]


def test_without_management_cidrs_there_is_no_ssh_rule(mocks: StrictMocks) -> None:
    assert not [r for r in ingress(build(mocks)) if r["fromPort"] == 22]


def test_the_health_port_is_open_only_from_the_health_check_networks(mocks: StrictMocks) -> None:
    health = [r for r in ingress(build(mocks)) if r["protocol"] == "tcp"]
    assert [(r["fromPort"], r["toPort"], r["cidrBlocks"]) for r in health] == [
        (8480, 8480, ["10.0.0.0/16"])
    ]


def test_the_health_port_and_its_networks_can_be_chosen(mocks: StrictMocks) -> None:
    rules = ingress(build(mocks, {"health_port": 9000, "health_check_cidrs": ["10.0.0.0/20"]}))
    health = [r for r in rules if r["protocol"] == "tcp"]
    assert [(r["fromPort"], r["cidrBlocks"]) for r in health] == [(9000, ["10.0.0.0/20"])]


def test_only_the_feeds_the_sensor_accepts_are_open_from_the_given_sources(
    mocks: StrictMocks,
) -> None:
    rules = ingress(build(mocks, {"feeds": ["vxlan"], "feed_source_cidrs": ["10.0.64.0/19"]}))
    assert [(r["protocol"], r["fromPort"], r["cidrBlocks"]) for r in rules] == [
        ("udp", 4789, ["10.0.64.0/19"]),
        ("tcp", 8480, ["10.0.0.0/16"]),  # the health port, from the network
    ]


def test_egress_is_open(mocks: StrictMocks) -> None:
    egress = build(mocks).named("sensor-sg").inputs["egress"]
    assert [(r["protocol"], r["cidrBlocks"]) for r in egress] == [("-1", ["0.0.0.0/0"])]


# -- instance --------------------------------------------------------------------------------


def test_instance_boots_on_the_interface_and_leaves_it_behind(mocks: StrictMocks) -> None:
    run = build(mocks)
    instance = run.named("sensor-instance")
    assert instance.inputs["primaryNetworkInterface"] == {
        "networkInterfaceId": run.named("sensor-eni").id,
        "deleteOnTermination": False,
    }
    assert instance.delete_before_replace is True
    assert instance.inputs["instanceType"] == "c5n.large"


def test_instance_requires_imdsv2(mocks: StrictMocks) -> None:
    options = build(mocks).named("sensor-instance").inputs["metadataOptions"]
    assert options["httpTokens"] == "required"
    assert options["httpPutResponseHopLimit"] == 1


def test_root_volume_is_encrypted_gp3_and_tagged_without_volume_tags(mocks: StrictMocks) -> None:
    instance = build(mocks, {"log_volume_size_gb": 600, "tags": {"team": "soc"}}).named(
        "sensor-instance"
    )
    root = instance.inputs["rootBlockDevice"]
    assert root["encrypted"] is True
    assert root["volumeType"] == "gp3"
    assert root["tags"] == {"team": "soc", "Name": "sensor-instance"}
    # volume_tags would also claim the separately managed log volume.
    assert "volumeTags" not in instance.inputs


def test_user_data_is_the_rendered_sensor_cloud_config(mocks: StrictMocks) -> None:
    run = build(mocks, {"capture_interface": "span0"})
    instance = run.named("sensor-instance")
    _, files = bundled_boot(run, "sensor-instance", "sensor-boot-bundle")
    assert same_files(files) == same_files(written_files(run.result.user_data))
    assert instance.inputs["userDataReplaceOnChange"] is True
    assert run.result.capture_interface == "span0"


def test_user_data_passes_the_cloud_init_schema_validator(mocks: StrictMocks) -> None:
    run = build(mocks, {"log_volume_size_gb": 500, "ids_packages": ["suricata"]})
    small, _ = bundled_boot(run, "sensor-instance", "sensor-boot-bundle")
    assert_valid_cloud_config(small)
    assert_valid_cloud_config(run.result.user_data)


def test_instance_boots_after_its_way_out_and_its_ssm_policy(mocks: StrictMocks) -> None:
    run = build(mocks)
    waits = set(run.named("sensor-instance").dependencies)
    for name in ("sensor-ssm", "net-monitor-default", "net-gateway"):
        assert run.named(name).urn in waits, name


def test_instance_is_managed_through_ssm(mocks: StrictMocks) -> None:
    run = build(mocks)
    assert run.named("sensor-ssm").inputs["policyArn"] == (
        "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    )
    assert (
        run.named("sensor-instance").inputs["iamInstanceProfile"]
        == (run.named("sensor-profile").state["name"])
    )


GET_PARAMETER = "aws:ssm/getParameter:getParameter"
UBUNTU = "/aws/service/canonical/ubuntu/server/24.04/stable/current/{}/hvm/ebs-gp3/ami-id"


@pytest.mark.parametrize(
    ("instance_type", "arch"), [("c5n.large", "amd64"), ("m6g.large", "arm64")]
)
def test_default_image_is_ubuntu_2404_for_the_architecture_running_suricata(
    mocks: StrictMocks, instance_type: str, arch: str
) -> None:
    run = build(mocks, {"instance_type": instance_type})
    names = [call.args["name"] for call in run.invocations if call.token == GET_PARAMETER]
    assert names == [UBUNTU.format(arch)]
    assert "ami" in run.named("sensor-instance").ignore_changes
    user_data, files = bundled_boot(run, "sensor-instance", "sensor-boot-bundle")
    assert "- suricata\n" not in user_data.split("write_files")[0]  # not in cloud-init's packages
    # The IDS's settings travel in the SSM parameter (applied in place), not in the user data.
    settings = run.named("sensor-settings").inputs["insecureValue"]
    assert 'IDS="suricata"' in settings
    assert 'IDS_PACKAGES="suricata suricata-update"' in settings
    assert 'IDS_HOME_NET="10.0.64.0/20 10.0.80.0/20"' in settings
    assert ids.DROP_IN_PATH in files
    assert SETTINGS_PATH not in files and ids.SURICATA_CONFIG_PATH not in files
    assert_valid_cloud_config(user_data)


@pytest.mark.parametrize(
    ("instance_type", "arch"), [("c5n.large", "x86_64"), ("m6g.large", "arm64")]
)
def test_amazon_linux_2023_stays_selectable_capturing_only(
    mocks: StrictMocks, instance_type: str, arch: str
) -> None:
    run = build(mocks, {"instance_type": instance_type, "os_family": "amazon-linux"})
    names = [
        value
        for call in run.invocations
        if call.token == GET_AMI
        for entry in call.args["filters"]
        if entry["name"] == "name"
        for value in entry["values"]
    ]
    assert f"al2023-ami-2023.*-{arch}" in names
    assert run.result.plan.ids.ids is ids.Ids.NONE
    assert ids.SURICATA_CONFIG_PATH not in written_files(run.result.user_data)


def test_suricata_on_amazon_linux_is_refused_at_preview_naming_why(mocks: StrictMocks) -> None:
    with pytest.raises(CloudtapInputError) as caught:
        build(mocks, {"os_family": "amazon-linux", "ids": "suricata"}, preview=True)
    assert caught.value.field == "ids"
    assert "Amazon Linux 2023's repositories carry neither Suricata nor Zeek" in str(caught.value)


def test_preview_says_what_the_sensor_runs(
    mocks: StrictMocks, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        build(mocks, {"log_volume_size_gb": 500})
    assert (
        "sensor IDS: suricata on cloudtap0 (AF_PACKET), HOME_NET [10.0.64.0/20, 10.0.80.0/20]"
        in caplog.text
    )
    assert "EVE JSON in /var/log/cloudtap/suricata/eve.json" in caplog.text


def test_a_type_aws_may_not_mirror_is_accepted_with_a_warning(
    mocks: StrictMocks, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        run = build(mocks, {"instance_type": "t2.medium"})
    assert run.named("sensor-instance").inputs["instanceType"] == "t2.medium"
    assert "t2 is not a Nitro type" in caplog.text


# -- tags and outputs ------------------------------------------------------------------------


def test_tags_are_merged_into_every_taggable_child(mocks: StrictMocks) -> None:
    tags = {"team": "soc"}
    run = build(mocks, {"tags": tags, "log_volume_size_gb": 500})
    for resource in sensor_children(run):
        untaggable = ("sensor-ssm", "sensor-settings-read", "sensor-boot-read")
        if resource.name in (*untaggable, "sensor-logs-attachment"):
            continue
        assert resource.inputs["tags"] == {**tags, "Name": resource.name}, resource.name


def test_outputs_are_plain_where_known_and_always_present(mocks: StrictMocks) -> None:
    run = build(mocks)
    sensor = run.result
    assert isinstance(sensor.private_ip, str)
    assert isinstance(sensor.capture_interface, str)
    assert run.resolve(sensor.network_interface_id) == run.named("sensor-eni").id
    outputs = run.outputs_of(run.named("sensor").urn)
    assert outputs == {
        "instance_id": run.named("sensor-instance").id,
        "network_interface_id": run.named("sensor-eni").id,
        "private_ip": "10.0.128.10",
        "capture_interface": "cloudtap0",
        "security_group_id": run.named("sensor-sg").id,
        "settings_parameter": "/cloudtap/cloudtap/test/sensor/sensor",
        "settings_status": '{"result": "not reported yet"}',
        # log_volume_id is None without a volume: the engine drops None outputs.
    }


def test_preview_registers_the_same_children(mocks: StrictMocks) -> None:
    run = build(mocks, preview=True)
    assert {r.name for r in sensor_children(run)} == CHILDREN


# -- input errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"network": None}, "network"),
        ({"netwrok": None}, "netwrok"),
        ({"availability_zone_index": 2}, "availability_zone_index"),
        ({"private_ip": "10.0.64.10"}, "private_ip"),
        ({"private_ip": "10.0.144.10"}, "private_ip"),  # the second zone's monitor subnet
        ({"private_ip": "10.0.128.2"}, "private_ip"),  # reserved by AWS
        ({"instance_type": "c5n"}, "instance_type"),
        ({"ami_id": "latest"}, "ami_id"),
        ({"key_name": ""}, "key_name"),
        ({"log_volume_size_gb": 0}, "log_volume_size_gb"),
        ({"log_volume_size_gb": "500"}, "log_volume_size_gb"),
        ({"tags": {"Name": "x"}}, "tags.Name"),
        ({"feeds": ["sflow"]}, "feeds[0]"),
        ({"feed_source_cidrs": ["0.0.0.0/0"]}, "feed_source_cidrs[0]"),
    ],
)
def test_bad_input_fails_before_the_sensor_registers_anything(
    mocks: StrictMocks, args: dict[str, Any], field: str
) -> None:
    with pytest.raises(CloudtapInputError) as error:
        build(mocks, args)
    assert error.value.field == field
    assert str(error.value).startswith(f"{field}: got ")
    assert not [r for r in mocks.registrations if r.name.startswith("sensor")]


def test_an_address_error_names_the_subnet_expected() -> None:
    with pytest.raises(CloudtapInputError, match=r"monitor-tier subnet \(10\.0\.128\.0/20\)"):
        resolve_placement({"private_ip": "10.0.144.10"}, plan_network({}))
    zone, address, warnings = resolve_placement({}, plan_network({}))
    assert (zone, address, warnings) == (0, ipaddress.IPv4Address("10.0.128.10"), [])


def test_a_sensor_type_hint_is_exported_from_the_package() -> None:
    assert components.Sensor is Sensor
    assert components.AwsSensorArgs is AwsSensorArgs
