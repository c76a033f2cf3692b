"""The shared shape checks through the components, under strict mocks: what each cloud refuses at
preview (naming the field, keeping the value) and what the ways out let through."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

import pytest

from components import CloudtapInputError, MonitoredVpc
from components.aws.sensor import Sensor, resolve_placement
from components.network_plan import plan_network
from components.sensor import plan_sensor
from components.shapes import ec2_instance_types
from tests.fakes import azure, openstack
from tests.fakes.aws import LEGACY, WEB, mirror
from tests.fakes.azure import WEB_NIC
from tests.mocks import ProgramRun, StrictMocks, run_program

INSTANCE = "aws:ec2/instance:Instance"
GET_PARAMETER = "aws:ssm/getParameter:getParameter"
GET_AMI = "aws:ec2/getAmi:getAmi"
NEWER_THAN_BOTOCORE = "m99z.large"


def network(mocks: StrictMocks, args: dict[str, Any]) -> ProgramRun[MonitoredVpc]:
    return run_program(lambda: MonitoredVpc("net", args), mocks)  # type: ignore[arg-type]


def sensor(
    mocks: StrictMocks, args: dict[str, Any], net: dict[str, Any] | None = None
) -> ProgramRun[Sensor]:
    def program() -> Sensor:
        vpc = MonitoredVpc("net", net)  # type: ignore[arg-type]
        return Sensor("sensor", {"network": vpc, **args})  # type: ignore[typeddict-item]

    return run_program(program, mocks)


def refusal(build: Any, *args: Any) -> CloudtapInputError:
    with pytest.raises(CloudtapInputError) as raised:
        build(*args)
    return raised.value


def sensor_registered(mocks: StrictMocks) -> list[str]:
    return [r.name for r in mocks.registrations if r.name.startswith("sensor")]


# -- instance types -----------------------------------------------------------------------------


def test_a_gateway_type_botocore_does_not_know_fails_before_anything_is_registered(
    mocks: StrictMocks,
) -> None:
    error = refusal(network, mocks, {"gateway_instance_type": "m5.superlarge"})

    assert (error.field, error.value) == ("gateway_instance_type", "m5.superlarge")
    version = ec2_instance_types().botocore_version
    assert f"the installed botocore (version {version}) knows" in error.expected
    assert "list it in unlisted_instance_types" in error.expected
    assert mocks.registrations == []


def test_a_sensor_type_botocore_does_not_know_fails_before_the_sensor_registers(
    mocks: StrictMocks,
) -> None:
    error = refusal(sensor, mocks, {"instance_type": "m5.superlarge"})

    assert (error.field, error.value) == ("instance_type", "m5.superlarge")
    assert "unlisted_instance_types" in error.expected
    assert sensor_registered(mocks) == []


def test_a_source_type_botocore_does_not_know_is_refused(mocks: StrictMocks) -> None:
    source = {**WEB, "instance_type": "m5.superlarge"}
    error = refusal(
        mirror, mocks, {"target": {"network_interface_id": "eni-0" + "f" * 16}, "sources": [source]}
    )

    assert (error.field, error.value) == ("sources[0].instance_type", "m5.superlarge")


@pytest.mark.parametrize("value", ["t3.small\n", " t3.small", "t3.small ", "t3.small;", 3, None])
def test_a_padded_or_hostile_gateway_type_is_refused(mocks: StrictMocks, value: Any) -> None:
    error = refusal(network, mocks, {"gateway_instance_type": value})

    assert (error.field, error.value) == ("gateway_instance_type", value)
    assert "family.size" in error.expected


def test_unlisted_instance_types_let_a_new_type_through_the_gateway(mocks: StrictMocks) -> None:
    assert NEWER_THAN_BOTOCORE not in ec2_instance_types().names
    run = network(
        mocks,
        {
            "gateway_instance_type": NEWER_THAN_BOTOCORE,
            "unlisted_instance_types": [NEWER_THAN_BOTOCORE],
        },
    )

    assert run.named("net-gateway").inputs["instanceType"] == NEWER_THAN_BOTOCORE


def test_unlisted_instance_types_let_a_new_type_through_the_sensor(
    mocks: StrictMocks, caplog: pytest.LogCaptureFixture
) -> None:
    # A Graviton-looking family: the image follows the family, as for a listed type.
    with caplog.at_level(logging.WARNING):
        run = sensor(
            mocks, {"instance_type": "c99g.large", "unlisted_instance_types": ["c99g.large"]}
        )

    assert run.named("sensor-instance").inputs["instanceType"] == "c99g.large"
    parameters = [i.args["name"] for i in run.invocations if i.token == GET_PARAMETER]
    assert parameters == [
        "/aws/service/canonical/ubuntu/server/24.04/stable/current/arm64/hvm/ebs-gp3/ami-id"
    ]
    # cloudtap's mirroring data cannot know the family either: a warning, not a failure.
    assert "c99g is not in cloudtap's instance-type data" in caplog.text


def test_unlisted_instance_types_let_a_new_type_through_a_mirror_source(
    mocks: StrictMocks,
) -> None:
    source = {**LEGACY, "instance_type": NEWER_THAN_BOTOCORE}
    run = mirror(
        mocks,
        {
            "target": {"sensor": True},
            "sources": [source],
            "unlisted_instance_types": [NEWER_THAN_BOTOCORE],
        },
        network={"gateway_mirror": {}},
        sensor={},
    )

    # Unknown to cloudtap's mirroring data too, so auto copies it at the gateway.
    assert run.result.gateway_sources == ["legacy"]


def test_an_unlisted_type_still_needs_the_family_size_shape(mocks: StrictMocks) -> None:
    error = refusal(network, mocks, {"unlisted_instance_types": ["m99z.large", "M99Z.LARGE\n"]})

    assert (error.field, error.value) == ("unlisted_instance_types[1]", "M99Z.LARGE\n")
    assert "family.size" in error.expected
    error = refusal(sensor, mocks, {"unlisted_instance_types": "c99g.large"})
    assert error.field == "unlisted_instance_types"


# -- zones ----------------------------------------------------------------------------------------


def test_a_zone_of_another_region_is_refused_naming_the_region_and_its_zones(
    mocks: StrictMocks,
) -> None:
    error = refusal(network, mocks, {"availability_zones": ["eu-west-1a", "us-east-1a"]})

    assert (error.field, error.value) == ("availability_zones[1]", "us-east-1a")
    assert error.expected == (
        "a zone of the provider's region eu-west-1: one of "
        "['eu-west-1a', 'eu-west-1b', 'eu-west-1c']"
    )
    assert mocks.registrations == []  # checked before the component registers


@pytest.mark.parametrize("zone", ["eu-west-1a\n", " eu-west-1a", "EU-WEST-1A", "eu-west-1a;"])
def test_a_zone_name_that_is_not_one_fails_before_any_lookup(mocks: StrictMocks, zone: str) -> None:
    error = refusal(network, mocks, {"availability_zones": ["eu-west-1b", zone]})

    assert (error.field, error.value) == ("availability_zones[1]", zone)
    assert mocks.registrations == []
    assert mocks.invocations == []


def test_a_sensor_address_in_another_zones_subnet_names_that_zone() -> None:
    plan = plan_network({"availability_zone_count": 3})
    error = refusal(
        resolve_placement, {"availability_zone_index": 2, "private_ip": "10.0.144.10"}, plan
    )

    assert (error.field, error.value) == ("private_ip", "10.0.144.10")
    assert error.expected == (
        "an address in the monitor-tier subnet (10.0.160.0/20) of availability_zone_index 2: "
        "10.0.144.10 is in the monitor subnet of availability_zone_index 1 (10.0.144.0/20); set "
        "availability_zone_index to 1 or choose an address in 10.0.160.0/20"
    )


def test_the_zone_index_named_for_a_sensor_address_is_the_one_that_fits(mocks: StrictMocks) -> None:
    error = refusal(sensor, mocks, {"private_ip": "10.0.144.10"})

    assert "set availability_zone_index to 1" in error.expected
    run = sensor(StrictMocks(), {"private_ip": "10.0.144.10", "availability_zone_index": 1})
    assert run.result.private_ip == "10.0.144.10"
    assert resolve_placement({"private_ip": "10.0.128.20"}, plan_network({}))[1] == (
        ipaddress.IPv4Address("10.0.128.20")
    )


# -- tags -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["a#b", "ok!", "line\nbreak", "$(id)"])
def test_tags_outside_iams_rule_are_refused_for_the_network(mocks: StrictMocks, value: str) -> None:
    error = refusal(network, mocks, {"tags": {"team": value}})

    assert (error.field, error.value) == ("tags.team", value)
    assert "IAM's tag rule" in error.expected
    assert "letters, digits, spaces and _ . : / = + - @" in error.expected
    assert mocks.registrations == []


def test_tags_outside_iams_rule_are_refused_for_the_sensor_and_the_mirror(
    mocks: StrictMocks,
) -> None:
    error = refusal(sensor, mocks, {"tags": {"owner": "me!"}})
    assert (error.field, error.value) == ("tags.owner", "me!")
    assert sensor_registered(mocks) == []

    bad_key = refusal(
        mirror,
        StrictMocks(),
        {
            "target": {"network_interface_id": "eni-0" + "f" * 16},
            "sources": [WEB],
            "tags": {"a#b": "x"},
        },
    )
    assert (bad_key.field, bad_key.value) == ("tags", "a#b")


def test_tags_iam_accepts_reach_every_resource(mocks: StrictMocks) -> None:
    tags = {"cost-center": "SOC/blue team", "owner": "ops@example.org", "Équipe": "sécurité"}
    run = network(mocks, {"tags": tags})

    assert run.named("net-gateway-role").inputs["tags"] == {**tags, "Name": "net-gateway-role"}


def test_azure_tags_follow_azures_rule() -> None:
    azure_mocks = azure.azure_mocks()
    error = refusal(azure.build, azure_mocks, azure.args(tags={"a/b": "x"}))

    assert (error.field, error.value) == ("tags", "a/b")
    assert "Azure's tag rule" in error.expected
    assert azure_mocks.registrations == []


# -- the sensor's boot files ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "mount", ["/var/log/my logs", "/var/log/cloudtap\n", "/var/log/$(id)", "/var/../etc", "//"]
)
def test_a_log_mount_point_fstab_would_split_is_refused(mocks: StrictMocks, mount: str) -> None:
    error = refusal(sensor, mocks, {"log_mount_point": mount, "log_volume_size_gb": 500})

    assert (error.field, error.value) == ("log_mount_point", mount)
    assert "fstab splits its entries on whitespace" in error.expected
    assert sensor_registered(mocks) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("capture_interface", "ids0\n"),
        ("capture_interface", "ids 0"),
        ("ids_packages", ["suricata\n"]),
        ("ids_packages", ["suricata; reboot"]),
    ],
)
def test_sensor_names_written_into_boot_files_are_matched_whole(
    mocks: StrictMocks, field: str, value: Any
) -> None:
    error = refusal(sensor, mocks, {field: value})

    assert error.field == (f"{field}[0]" if field == "ids_packages" else field)
    assert sensor_registered(mocks) == []


def test_plan_sensor_refuses_keys_it_does_not_know() -> None:
    sources = [ipaddress.IPv4Network("10.0.0.0/16")]
    error = refusal(lambda: plan_sensor({"bogus": 1}, default_feed_sources=sources))

    assert (error.field, error.value) == ("bogus", "bogus")
    assert error.expected.startswith("one of the fields ['capture_interface', 'capture_mtu'")


def test_plan_sensor_accepts_the_keys_its_caller_owns_and_only_those() -> None:
    sources = [ipaddress.IPv4Network("10.0.0.0/16")]
    plan = plan_sensor(
        {"instance_type": "c5n.large", "feeds": ["vxlan"]},
        default_feed_sources=sources,
        cloud_fields=frozenset({"instance_type"}),
    )
    assert [feed.value for feed in plan.feeds] == ["vxlan"]

    error = refusal(
        lambda: plan_sensor(
            {"instance_typo": "c5n.large"},
            default_feed_sources=sources,
            cloud_fields=frozenset({"instance_type"}),
        )
    )
    assert error.field == "instance_typo"
    assert "instance_type" in error.expected


def test_an_unknown_sensor_key_fails_through_the_aws_sensor(mocks: StrictMocks) -> None:
    error = refusal(sensor, mocks, {"log_mount_pont": "/srv/logs"})

    assert error.field == "log_mount_pont"
    assert sensor_registered(mocks) == []


# -- mirror sources and ids -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ({**WEB, "name": "web\n"}, "sources[0].name"),
        (
            {**WEB, "network_interface_ids": ["eni-0123456789abcdef0\n"]},
            "sources[0].network_interface_ids[0]",
        ),
        ({"instance_id": "i-0123456789abcdef0\n"}, "sources[0].instance_id"),
    ],
)
def test_aws_source_names_and_ids_are_matched_whole(
    mocks: StrictMocks, source: dict[str, Any], field: str
) -> None:
    target = {"network_interface_id": "eni-0" + "f" * 16}
    error = refusal(mirror, mocks, {"target": target, "sources": [source]})

    assert error.field == field


def test_an_unnamed_azure_source_with_a_bad_id_is_told_about_the_id() -> None:
    bad = WEB_NIC + "\n"
    mocks = azure.azure_mocks()
    error = refusal(azure.build, mocks, azure.args(sources=[{"network_interface_id": bad}]))

    assert (error.field, error.value) == ("sources[0].network_interface_id", bad)
    assert "the ARM id of a network interface" in error.expected
    assert mocks.registrations == []


def test_an_unnamed_azure_source_with_a_bad_nic_name_is_told_about_the_name() -> None:
    mocks = azure.azure_mocks()
    error = refusal(
        azure.build,
        mocks,
        azure.args(sources=[{"network_interface_name": "web nic", "resource_group_name": "apps"}]),
    )

    assert (error.field, error.value) == ("sources[0].network_interface_name", "web nic")


def test_openstack_ids_with_a_trailing_newline_are_refused() -> None:
    mocks = openstack.openstack_mocks()
    port = openstack.WEB_PORT + "\n"
    error = refusal(
        openstack.build, mocks, openstack.args(sources=[{"name": "web", "port_id": port}])
    )

    assert (error.field, error.value) == ("sources[0].port_id", port)
    assert mocks.registrations == []


def test_openstack_vlan_filters_are_matched_whole() -> None:
    error = refusal(
        openstack.build, openstack.openstack_mocks(), openstack.service_args(vlan_filter="1-5\n")
    )

    assert (error.field, error.value) == ("vlan_filter", "1-5\n")
