"""AWS Traffic Mirroring checks as pure functions: each names the field, the value, the rule."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from components.aws.discovery import Listener
from components.aws.mirror_checks import (
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
from components.aws.mirror_support import NonMirrorableInstanceType
from components.errors import CloudtapInputError
from components.mirror_plan import FilterPreset, FilterScope, plan_filter_rules
from components.network_plan import plan_network

ENI = "eni-0123456789abcdef0"
OTHER_ENI = "eni-0123456789abcdef1"
NLB = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/sensors/0123abcd"


class FakeSensor:
    """Stands in for a Sensor in pure checks: its interface id and address."""

    def __init__(self, network_interface_id: Any = "eni-0ffffffffffffffff", ip: str = "") -> None:
        self.network_interface_id = network_interface_id
        self.private_ip = ip or "10.0.128.10"


def expect(error: pytest.ExceptionInfo[CloudtapInputError], field: str, *phrases: str) -> None:
    assert error.value.field == field
    assert str(error.value).startswith(f"{field}: got ")
    for phrase in phrases:
        assert phrase in error.value.expected, error.value.expected


def test_mirroring_without_a_target_is_an_error() -> None:
    with pytest.raises(CloudtapInputError) as error:
        check_target(None, FakeSensor)
    expect(error, "target", "mirroring needs a target")


def test_a_target_must_be_exactly_one_kind() -> None:
    with pytest.raises(CloudtapInputError) as error:
        check_target({"network_interface_id": ENI, "network_load_balancer_arn": NLB}, FakeSensor)
    expect(error, "target", "exactly one of")


@pytest.mark.parametrize(
    ("target", "field"),
    [
        ({"network_interface_id": "i-0123"}, "target.network_interface_id"),
        ({"network_load_balancer_arn": "my-nlb"}, "target.network_load_balancer_arn"),
        (
            {"gateway_load_balancer_endpoint_id": "eni-x"},
            "target.gateway_load_balancer_endpoint_id",
        ),
        ({"sensor": "10.0.128.10"}, "target.sensor"),
        ({"bucket": "s3://x"}, "target.bucket"),
    ],
)
def test_a_target_value_has_the_shape_of_its_kind(target: dict[str, Any], field: str) -> None:
    with pytest.raises(CloudtapInputError) as error:
        check_target(target, FakeSensor)
    assert error.value.field == field


def test_each_target_kind_is_accepted() -> None:
    sensor = FakeSensor()
    assert check_target({"sensor": sensor}, FakeSensor) == TargetChoice(TargetKind.SENSOR, sensor)
    assert check_target({"network_interface_id": ENI}, FakeSensor).kind is (
        TargetKind.NETWORK_INTERFACE
    )
    assert check_target({"network_load_balancer_arn": NLB}, FakeSensor).value == NLB
    endpoint = check_target({"gateway_load_balancer_endpoint_id": "vpce-0123456789abcdef0"}, object)
    assert endpoint.kind is TargetKind.GATEWAY_LOAD_BALANCER_ENDPOINT


@pytest.mark.parametrize("sources", [None, []])
def test_mirroring_without_a_source_is_an_error(sources: Any) -> None:
    with pytest.raises(CloudtapInputError) as error:
        parse_sources(sources)
    expect(error, "sources", "at least one source", "mirroring needs something to copy")


def test_a_source_is_an_instance_id_alone_or_interfaces_with_their_type() -> None:
    with pytest.raises(CloudtapInputError) as error:
        parse_sources([{"network_interface_ids": [ENI]}])
    expect(error, "sources[0].instance_type", "whenever network_interface_ids are given")
    with pytest.raises(CloudtapInputError) as error:
        parse_sources([{"instance_id": "i-0123456789abcdef0", "instance_type": "m5.large"}])
    expect(error, "sources[0].instance_type", "looked up with the instance's interfaces")
    with pytest.raises(CloudtapInputError) as error:
        parse_sources([{"name": "web"}])
    expect(error, "sources[0]", "either instance_id alone")
    specs = parse_sources(
        [
            {"instance_id": "i-0123456789abcdef0"},
            {"instance_type": "t3.micro", "network_interface_ids": [ENI, OTHER_ENI]},
        ]
    )
    assert specs[0].network_interface_ids is None
    assert specs[1].network_interface_ids == (ENI, OTHER_ENI)


def test_source_names_key_the_sessions_and_must_be_unique() -> None:
    with pytest.raises(CloudtapInputError) as error:
        parse_sources(
            [
                {"name": "web", "instance_id": "i-0123456789abcdef0"},
                {"name": "web", "instance_id": "i-0123456789abcdef1"},
            ]
        )
    expect(error, "sources[1].name", "not already used by sources[0]")


def test_an_instance_type_aws_cannot_mirror_is_a_named_error_in_native_mode() -> None:
    with pytest.raises(NonMirrorableInstanceType) as error:
        check_instance_type("sources[0].instance_type", "t2.micro", required=True)
    expect(error, "sources[0].instance_type", "not a Nitro type", "method auto or gateway")
    assert not check_instance_type("f", "t2.micro", required=False).mirrorable


@pytest.mark.parametrize("value", [0, 32767, "1", True])
def test_session_number_is_1_to_32766(value: Any) -> None:
    with pytest.raises(CloudtapInputError) as error:
        check_session_number(value)
    expect(error, "session_number", "from 1 to 32766")
    assert error.value.value == value


@pytest.mark.parametrize("value", [0, 16_777_216, -1])
def test_virtual_network_id_is_1_to_16777215(value: int) -> None:
    with pytest.raises(CloudtapInputError) as error:
        check_virtual_network_id(value)
    expect(error, "virtual_network_id", "from 1 to 16777215")
    assert check_virtual_network_id(None) is None


@pytest.mark.parametrize("value", [0, 8501])
def test_packet_length_is_1_to_8500(value: int) -> None:
    with pytest.raises(CloudtapInputError) as error:
        check_packet_length(value)
    expect(error, "packet_length", "from 1 to 8500")
    assert check_packet_length(None) is None


def test_at_most_three_sessions_per_interface_counting_existing_ones() -> None:
    planned = [("sources[0].network_interface_ids[0]", ENI)]
    check_sessions_per_interface(planned, parse_existing_sessions(2))
    with pytest.raises(CloudtapInputError) as error:
        check_sessions_per_interface(planned, parse_existing_sessions({ENI: 3}))
    expect(error, "sources[0].network_interface_ids[0]", "at most 3", "3 existing and 1")
    assert error.value.value == ENI


def test_existing_session_counts_must_name_interfaces_of_this_session() -> None:
    with pytest.raises(CloudtapInputError) as error:
        check_sessions_per_interface([("f", ENI)], parse_existing_sessions({OTHER_ENI: 1}))
    expect(error, f"existing_sessions_per_eni.{OTHER_ENI}", "an interface this mirror session")


def test_an_interface_is_mirrored_once_per_component() -> None:
    with pytest.raises(CloudtapInputError) as error:
        check_unique_interfaces([("sources[0].a", ENI), ("sources[1].b", ENI)])
    expect(error, "sources[1].b", "not already mirrored by sources[0].a")


def test_at_most_ten_rules_per_filter() -> None:
    rules = plan_filter_rules(
        FilterScope.ALL,
        network_cidr=ipaddress.IPv4Network("10.0.0.0/16"),
        presets=[FilterPreset.DROP_INTRA_VPC, FilterPreset.DROP_HEALTH_CHECKS],
        health_check_cidrs=[ipaddress.IPv4Network(f"10.{i}.0.0/16") for i in (1, 3)],
    )
    assert len(rules) == 12
    with pytest.raises(CloudtapInputError) as error:
        check_rules_per_filter("mirror-filter", rules)
    expect(error, "filter_presets", "at most 10 rules in filter mirror-filter", "got 12")
    check_rules_per_filter("mirror-filter", rules[:10])


def test_an_interface_is_never_source_and_target() -> None:
    with pytest.raises(CloudtapInputError) as error:
        check_not_source_and_target(
            TargetChoice(TargetKind.NETWORK_INTERFACE, ENI), [("sources[0].x", ENI)]
        )
    expect(error, "sources[0].x", "never source and target at once")
    sensor = FakeSensor(network_interface_id=object())
    with pytest.raises(CloudtapInputError) as error:
        check_not_source_and_target(
            TargetChoice(TargetKind.SENSOR, sensor), [("sources[0].y", sensor.network_interface_id)]
        )
    assert error.value.field == "sources[0].y"


def test_a_network_load_balancer_target_needs_a_udp_4789_listener() -> None:
    check_nlb_listeners("t", NLB, [Listener(4789, "UDP")])
    check_nlb_listeners("t", NLB, [Listener(4789, "TCP_UDP")])
    for listeners in ([], [Listener(4789, "TCP")], [Listener(4790, "UDP")]):
        with pytest.raises(CloudtapInputError) as error:
            check_nlb_listeners("target.network_load_balancer_arn", NLB, listeners)
        expect(error, "target.network_load_balancer_arn", "UDP (or TCP_UDP) listener on port 4789")
        assert error.value.value == NLB


def test_an_interface_target_takes_ten_sources_and_a_hundred_at_most() -> None:
    target = TargetChoice(TargetKind.NETWORK_INTERFACE, ENI)
    assert check_sources_per_target(target, 10) is None
    warning = check_sources_per_target(target, 11)
    assert warning is not None and "largest size" in warning
    with pytest.raises(CloudtapInputError) as error:
        check_sources_per_target(target, 101)
    expect(error, "sources", "at most 100", "Network Load Balancer")
    assert (
        check_sources_per_target(TargetChoice(TargetKind.NETWORK_LOAD_BALANCER, NLB), 5000) is None
    )


def test_gateway_sources_need_the_sensor_at_the_gateway_mirrors_address() -> None:
    mirror = plan_network({"gateway_mirror": {}}).gateway_mirror
    assert mirror is not None
    assert check_gateway_target(TargetChoice(TargetKind.SENSOR, FakeSensor()), mirror) is None
    with pytest.raises(CloudtapInputError) as error:
        check_gateway_target(TargetChoice(TargetKind.SENSOR, FakeSensor(ip="10.0.128.11")), mirror)
    expect(error, "target.sensor", "gateway_mirror.sensor_address 10.0.128.10")
    with pytest.raises(CloudtapInputError) as error:
        check_gateway_target(TargetChoice(TargetKind.NETWORK_LOAD_BALANCER, NLB), mirror)
    expect(error, "target.network_load_balancer_arn", "VXLAN to one address")
    warning = check_gateway_target(TargetChoice(TargetKind.NETWORK_INTERFACE, ENI), mirror)
    assert warning is not None and "cannot check" in warning
