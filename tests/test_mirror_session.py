"""MirrorSession under strict mocks: each mode's resources, its filters, its checks, its preview."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pulumi
import pytest

from components import CloudtapInputError
from components.aws.mirror_session import MirrorSession
from components.aws.mirror_support import NonMirrorableInstanceType
from tests.fakes.aws import ENI, LEGACY, WEB, FakeAws, NoAws, mirror
from tests.mocks import ProgramRun, Registration, StrictMocks, run_program

TARGET = "aws:ec2/trafficMirrorTarget:TrafficMirrorTarget"
FILTER = "aws:ec2/trafficMirrorFilter:TrafficMirrorFilter"
RULE = "aws:ec2/trafficMirrorFilterRule:TrafficMirrorFilterRule"
SESSION = "aws:ec2/trafficMirrorSession:TrafficMirrorSession"
MIRROR_TYPES = {TARGET, FILTER, RULE, SESSION}
SENSOR_ENI = "eni-0ffffffffffffffff"
NLB = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/sensors/0123abcd"
VPCE = "vpce-0123456789abcdef0"


def of(run: ProgramRun[Any], *types: str) -> list[Registration]:
    return [r for r in run.resources if r.type in types]


def names(resources: Iterable[Registration]) -> set[str]:
    return {r.name for r in resources}


def rules_of(run: ProgramRun[Any], filter_name: str) -> list[dict[str, Any]]:
    filter_id = run.named(filter_name).id
    return [r.inputs for r in of(run, RULE) if r.inputs["trafficMirrorFilterId"] == filter_id]


def copied(
    rules: Iterable[Mapping[str, Any]],
    direction: str,
    remote: str,
    protocol: int,
    *,
    source_port: int = 40000,
    destination_port: int = 443,
) -> bool:
    """What AWS does with a packet at a source: the lowest-numbered matching rule of its
    direction decides; no match is not copied. ``remote`` is the other end's address."""
    local = "10.0.64.20"
    source, destination = (remote, local) if direction == "ingress" else (local, remote)
    for rule in sorted(
        (r for r in rules if r["trafficDirection"] == direction), key=lambda r: r["ruleNumber"]
    ):
        if ipaddress.IPv4Address(source) not in ipaddress.IPv4Network(rule["sourceCidrBlock"]):
            continue
        if ipaddress.IPv4Address(destination) not in ipaddress.IPv4Network(
            rule["destinationCidrBlock"]
        ):
            continue
        if rule.get("protocol") is not None and int(rule["protocol"]) != protocol:
            continue
        ranges = (("sourcePortRange", source_port), ("destinationPortRange", destination_port))
        if any(
            key in rule and not rule[key]["fromPort"] <= port <= rule[key]["toPort"]
            for key, port in ranges
        ):
            continue
        return bool(rule["ruleAction"] == "accept")
    return False


def capture_info(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    lines: list[str] = []
    original: Callable[..., None] = pulumi.log.info

    def record(message: str, *args: Any, **kwargs: Any) -> None:
        if not message.startswith("sensor IDS:"):  # the sensor's line: tests/test_ids_render.py
            lines.append(message)
        original(message, *args, **kwargs)

    monkeypatch.setattr(pulumi.log, "info", record)
    return lines


def nothing_mirrored(mocks: StrictMocks) -> None:
    assert not [r for r in mocks.registrations if r.type in MIRROR_TYPES]
    assert not [r for r in mocks.registrations if r.name.startswith("mirror")]


def expect_error(
    error: pytest.ExceptionInfo[CloudtapInputError], field: str, value: Any, *phrases: str
) -> None:
    assert error.value.field == field
    assert error.value.value == value
    assert str(error.value).startswith(f"{field}: got ")
    for phrase in phrases:
        assert phrase in error.value.expected, error.value.expected


# -- resource graphs of each mode ------------------------------------------------------------


def test_native_to_an_interface_target_builds_target_filter_rules_and_a_session_per_eni(
    mocks: StrictMocks,
) -> None:
    run = mirror(mocks, {"target": {"network_interface_id": SENSOR_ENI}, "sources": [WEB]})
    component = run.named("mirror")
    assert component.type == "cloudtap:aws:MirrorSession"
    children = run.children_of(component.urn)
    assert {r.type for r in children} == MIRROR_TYPES
    assert names(of(run, TARGET, FILTER, SESSION)) == {
        "mirror-target",
        "mirror-filter",
        "mirror-web-1",
        "mirror-web-2",
    }
    assert len(of(run, RULE)) == 6
    target = run.named("mirror-target")
    assert target.inputs["networkInterfaceId"] == SENSOR_ENI
    for position, session in enumerate((run.named("mirror-web-1"), run.named("mirror-web-2"))):
        assert session.inputs["networkInterfaceId"] == ENI[position]
        assert session.inputs["trafficMirrorTargetId"] == target.id
        assert session.inputs["trafficMirrorFilterId"] == run.named("mirror-filter").id
        assert session.inputs["sessionNumber"] == 1
        assert "virtualNetworkId" not in session.inputs  # AWS picks one
        assert "packetLength" not in session.inputs  # whole packets
    assert run.named("mirror-filter").inputs["networkServices"] == ["amazon-dns"]
    outputs = run.outputs_of(component.urn)
    assert outputs == {
        "target_id": target.id,
        "filter_ids": {"all": run.named("mirror-filter").id},
        "session_count": 2,
        "native_sources": ["web"],
        "gateway_sources": [],
    }


def test_a_network_load_balancer_target_is_checked_for_its_udp_4789_listener(
    mocks: StrictMocks, fake_aws: FakeAws
) -> None:
    arn = fake_aws.network_load_balancer([("UDP", 4789)])
    run = mirror(
        mocks,
        {"target": {"network_load_balancer_arn": arn}, "sources": [WEB]},
        clients=fake_aws.clients,
    )
    target = run.named("mirror-target")
    assert target.inputs["networkLoadBalancerArn"] == arn
    assert "networkInterfaceId" not in target.inputs
    assert len(of(run, SESSION)) == 2


def test_a_load_balancer_created_by_the_program_is_not_looked_up_but_warned_about(
    mocks: StrictMocks, caplog: pytest.LogCaptureFixture
) -> None:
    def program() -> MirrorSession:
        arn = pulumi.Output.from_input(NLB)
        return MirrorSession(
            "mirror",
            {"target": {"network_load_balancer_arn": arn}, "sources": [WEB]},  # type: ignore[list-item]
            clients=NoAws(),  # a lookup would fail the test
        )

    with caplog.at_level(logging.WARNING):
        run = run_program(program, mocks)
    assert run.named("mirror-target").inputs["networkLoadBalancerArn"] == NLB
    assert "needs a UDP listener on 4789" in caplog.text


def test_a_gateway_load_balancer_endpoint_target(mocks: StrictMocks) -> None:
    run = mirror(mocks, {"target": {"gateway_load_balancer_endpoint_id": VPCE}, "sources": [WEB]})
    assert run.named("mirror-target").inputs["gatewayLoadBalancerEndpointId"] == VPCE
    assert names(of(run, SESSION)) == {"mirror-web-1", "mirror-web-2"}


def test_a_sensor_target_uses_the_sensors_interface(mocks: StrictMocks) -> None:
    run = mirror(mocks, {"target": {"sensor": True}, "sources": [WEB]}, sensor={})
    assert run.named("mirror-target").inputs["networkInterfaceId"] == run.named("sensor-eni").id


def test_gateway_mode_registers_no_mirror_resources_and_says_what_is_seen(
    mocks: StrictMocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = capture_info(monkeypatch)
    run = mirror(
        mocks,
        {"target": {"sensor": True}, "sources": [WEB, LEGACY], "method": "gateway"},
        network={"gateway_mirror": {}},
        sensor={},
    )
    assert not of(run, *MIRROR_TYPES)
    assert run.result.gateway_sources == ["web", "legacy"]
    assert run.result.target is None and run.result.sessions == {}
    assert [line.split(":")[0] for line in lines] == ["web (m5.large)", "legacy (t2.micro)"]
    assert all("gateway mirror — method is gateway; only traffic crossing" in x for x in lines)
    outputs = run.outputs_of(run.named("mirror").urn)
    assert outputs["gateway_sources"] == ["web", "legacy"]
    assert outputs["session_count"] == 0


def test_auto_mode_mirrors_nitro_natively_and_the_rest_at_the_gateway(
    mocks: StrictMocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = capture_info(monkeypatch)
    run = mirror(
        mocks,
        {"target": {"sensor": True}, "sources": [WEB, LEGACY]},
        network={"gateway_mirror": {}},
        sensor={},
        preview=True,
    )
    assert names(of(run, SESSION)) == {"mirror-web-1", "mirror-web-2"}
    assert run.result.native_sources == ["web"]
    assert run.result.gateway_sources == ["legacy"]
    assert lines == [
        f"web (m5.large): native mirroring of 2 interfaces ({ENI[0]}, {ENI[1]}) — m5 is a Nitro "
        "type AWS mirrors; east-west traffic only, because the gateway mirror already copies "
        "everything crossing the gateway (instance-type data of 2026-11-21)",
        "legacy (t2.micro): gateway mirror — t2 is not a Nitro type and not in AWS's allowed "
        "non-Nitro list; only traffic crossing the gateway (north-south) is seen "
        "(instance-type data of 2026-11-21)",
    ]


def test_auto_preview_lines_name_discovered_instances_by_id(
    mocks: StrictMocks, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, _ = fake_aws.instance("t2.micro")
    lines = capture_info(monkeypatch)
    mirror(
        mocks,
        {"target": {"sensor": True}, "sources": [{"instance_id": old}]},
        network={"gateway_mirror": {}},
        sensor={},
        clients=fake_aws.clients,
        preview=True,
    )
    assert lines == [
        f"{old} (t2.micro): gateway mirror — t2 is not a Nitro type and not in AWS's allowed "
        "non-Nitro list; only traffic crossing the gateway (north-south) is seen "
        "(instance-type data of 2026-11-21)"
    ]


def test_sessions_cover_every_interface_of_a_discovered_instance(
    mocks: StrictMocks, fake_aws: FakeAws
) -> None:
    instance_id, enis = fake_aws.instance("m5.large", extra_enis=2)
    run = mirror(
        mocks,
        {"target": {"network_interface_id": SENSOR_ENI}, "sources": [{"instance_id": instance_id}]},
        clients=fake_aws.clients,
    )
    sessions = {r.name: r.inputs["networkInterfaceId"] for r in of(run, SESSION)}
    assert sessions == {
        f"mirror-{instance_id}-1": enis[0],
        f"mirror-{instance_id}-2": enis[1],
        f"mirror-{instance_id}-3": enis[2],
    }


def test_explicit_interfaces_make_no_aws_call(mocks: StrictMocks) -> None:
    # NoAws fails the program on any lookup.
    run = mirror(mocks, {"target": {"network_interface_id": SENSOR_ENI}, "sources": [WEB]})
    assert len(of(run, SESSION)) == 2


def test_preview_registers_the_same_resources(mocks: StrictMocks) -> None:
    args = {"target": {"network_interface_id": SENSOR_ENI}, "sources": [WEB, LEGACY]}
    up = mirror(StrictMocks(), args, network={"gateway_mirror": {}})
    preview = mirror(mocks, args, network={"gateway_mirror": {}}, preview=True)
    assert names(up.resources) == names(preview.resources)


# -- stable names ----------------------------------------------------------------------------


def test_session_names_do_not_depend_on_other_sources_or_their_order(mocks: StrictMocks) -> None:
    target = {"network_interface_id": SENSOR_ENI}
    db = {"name": "db", "instance_type": "r5.large", "network_interface_ids": [ENI[5]]}
    alone = mirror(StrictMocks(), {"target": target, "sources": [WEB]})
    more = mirror(mocks, {"target": target, "sources": [db, WEB]})
    assert names(of(alone, SESSION)) < names(of(more, SESSION))
    for name in ("mirror-web-1", "mirror-web-2"):
        assert (
            alone.named(name).inputs["networkInterfaceId"]
            == more.named(name).inputs["networkInterfaceId"]
        )


def test_a_source_without_a_name_is_keyed_by_its_first_interface(mocks: StrictMocks) -> None:
    source = {"instance_type": "m5.large", "network_interface_ids": [ENI[7]]}
    run = mirror(mocks, {"target": {"network_interface_id": SENSOR_ENI}, "sources": [source]})
    assert names(of(run, SESSION)) == {f"mirror-{ENI[7]}-1"}


def test_two_mirror_sessions_in_one_program_do_not_collide(mocks: StrictMocks) -> None:
    def program() -> None:
        for name, eni in (("blue", ENI[0]), ("green", ENI[1])):
            MirrorSession(
                name,
                {
                    "target": {"gateway_load_balancer_endpoint_id": VPCE},
                    "sources": [
                        {"name": "a", "instance_type": "m5.large", "network_interface_ids": [eni]}
                    ],
                },
                clients=NoAws(),
            )

    run = run_program(program, mocks)
    assert {"blue-a-1", "green-a-1", "blue-filter", "green-filter"} <= names(run.resources)


# -- filters ---------------------------------------------------------------------------------


def test_the_filter_never_copies_a_mirror_feed_and_copies_everything_else(
    mocks: StrictMocks,
) -> None:
    run = mirror(mocks, {"target": {"network_interface_id": SENSOR_ENI}, "sources": [WEB]})
    rules = rules_of(run, "mirror-filter")
    for port in (4789, 6081):
        assert not copied(rules, "ingress", "10.0.0.10", 17, destination_port=port)
        assert not copied(rules, "egress", "10.0.128.10", 17, destination_port=port)
    for direction in ("ingress", "egress"):
        assert copied(rules, direction, "198.51.100.7", 6)
        assert copied(rules, direction, "10.0.80.9", 6)
        assert copied(rules, direction, "10.0.80.9", 17, destination_port=53)


def test_with_the_gateway_mirror_native_sessions_copy_only_traffic_inside_the_vpc(
    mocks: StrictMocks,
) -> None:
    run = mirror(
        mocks,
        {"target": {"network_interface_id": SENSOR_ENI}, "sources": [WEB]},
        network={"gateway_mirror": {}},
    )
    rules = rules_of(run, "mirror-filter")
    for direction in ("ingress", "egress"):
        assert copied(rules, direction, "10.0.80.9", 6)  # east-west: only native sees it
        assert not copied(rules, direction, "198.51.100.7", 6)  # north-south: the gateway's
    assert not copied(rules, "ingress", "10.0.0.10", 17, destination_port=4789)


def test_a_discovered_source_outside_the_gateways_path_keeps_a_full_filter(
    mocks: StrictMocks, fake_aws: FakeAws
) -> None:
    private, _ = fake_aws.instance("m5.large", subnet="10.0.64.0/20")
    public, _ = fake_aws.instance("m5.large", subnet="10.0.0.0/20")
    run = mirror(
        mocks,
        {
            "target": {"network_interface_id": SENSOR_ENI},
            "sources": [{"instance_id": private}, {"instance_id": public}],
        },
        network={"gateway_mirror": {}},
        clients=fake_aws.clients,
    )
    east_west, full = run.named("mirror-filter"), run.named("mirror-filter-all")
    assert run.named(f"mirror-{private}-1").inputs["trafficMirrorFilterId"] == east_west.id
    assert run.named(f"mirror-{public}-1").inputs["trafficMirrorFilterId"] == full.id
    assert copied(rules_of(run, "mirror-filter-all"), "ingress", "198.51.100.7", 6)
    assert not copied(rules_of(run, "mirror-filter"), "ingress", "198.51.100.7", 6)


def test_drop_intra_vpc_copies_only_north_south(mocks: StrictMocks) -> None:
    run = mirror(
        mocks,
        {
            "target": {"network_interface_id": SENSOR_ENI},
            "sources": [WEB],
            "filter_presets": ["drop_intra_vpc"],
        },
        network={},
    )
    rules = rules_of(run, "mirror-filter")
    assert not copied(rules, "ingress", "10.0.80.9", 6)
    assert copied(rules, "ingress", "198.51.100.7", 6)


def test_drop_health_checks_defaults_to_the_public_tier_merged_into_one_rule_pair(
    mocks: StrictMocks,
) -> None:
    run = mirror(
        mocks,
        {
            "target": {"network_interface_id": SENSOR_ENI},
            "sources": [WEB],
            "filter_presets": ["drop_health_checks"],
            "health_check_port": 8080,
        },
        network={},
    )
    rules = rules_of(run, "mirror-filter")
    dropping = [r for r in rules if r["sourceCidrBlock"] == "10.0.0.0/19"]
    assert len(dropping) == 1  # ingress; the egress twin names it as destination
    assert not copied(rules, "ingress", "10.0.3.4", 6, destination_port=8080)
    assert not copied(rules, "egress", "10.0.3.4", 6, source_port=8080, destination_port=40000)
    assert copied(rules, "ingress", "10.0.3.4", 6, destination_port=443)
    assert len(rules) == 8


def test_filter_rules_have_stable_purpose_names(mocks: StrictMocks) -> None:
    run = mirror(mocks, {"target": {"network_interface_id": SENSOR_ENI}, "sources": [WEB]})
    assert names(of(run, RULE)) == {
        f"mirror-filter-{direction}-{key}"
        for direction in ("ingress", "egress")
        for key in ("reject-vxlan", "reject-geneve", "accept-all")
    }


# -- checks: each fails before anything of the mirror is registered --------------------------


def test_no_target_is_an_error(mocks: StrictMocks) -> None:
    with pytest.raises(CloudtapInputError) as error:
        mirror(mocks, {"sources": [WEB]})
    expect_error(error, "target", None, "mirroring needs a target")
    assert mocks.registrations == []


def test_no_source_is_an_error(mocks: StrictMocks) -> None:
    with pytest.raises(CloudtapInputError) as error:
        mirror(mocks, {"target": {"network_interface_id": SENSOR_ENI}, "sources": []})
    expect_error(error, "sources", [], "at least one source")
    assert mocks.registrations == []


def test_two_targets_are_an_error(mocks: StrictMocks) -> None:
    target = {"network_interface_id": SENSOR_ENI, "gateway_load_balancer_endpoint_id": VPCE}
    with pytest.raises(CloudtapInputError) as error:
        mirror(mocks, {"target": target, "sources": [WEB]})
    expect_error(error, "target", target, "exactly one of")
    assert mocks.registrations == []


def test_native_mode_refuses_a_type_aws_cannot_mirror_with_the_named_exception(
    mocks: StrictMocks,
) -> None:
    with pytest.raises(NonMirrorableInstanceType) as error:
        mirror(
            mocks,
            {
                "target": {"network_interface_id": SENSOR_ENI},
                "sources": [WEB, LEGACY],
                "method": "native",
            },
        )
    expect_error(error, "sources[1].instance_type", "t2.micro", "not a Nitro type")
    assert mocks.registrations == []


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("session_number", 0, "from 1 to 32766"),
        ("session_number", 32767, "from 1 to 32766"),
        ("virtual_network_id", 0, "from 1 to 16777215"),
        ("virtual_network_id", 16_777_216, "from 1 to 16777215"),
        ("packet_length", 0, "from 1 to 8500"),
        ("packet_length", 8501, "from 1 to 8500"),
        ("method", "span", "one of"),
        ("filter_presets", "drop_intra_vpc", "a list"),
        ("existing_sessions_per_eni", 4, "from 0 to 3"),
        ("targt", {}, "one of the fields"),
    ],
)
def test_out_of_range_settings_are_refused(
    mocks: StrictMocks, field: str, value: Any, expected: str
) -> None:
    args = {"target": {"network_interface_id": SENSOR_ENI}, "sources": [WEB], field: value}
    with pytest.raises(CloudtapInputError) as error:
        mirror(mocks, args)
    expect_error(error, field, field if field == "targt" else value, expected)
    assert mocks.registrations == []


def test_settings_in_range_reach_every_session(mocks: StrictMocks) -> None:
    run = mirror(
        mocks,
        {
            "target": {"network_interface_id": SENSOR_ENI},
            "sources": [WEB],
            "session_number": 32766,
            "virtual_network_id": 16_777_215,
            "packet_length": 8500,
            "tags": {"team": "soc"},
        },
    )
    for session in of(run, SESSION):
        assert session.inputs["sessionNumber"] == 32766
        assert session.inputs["virtualNetworkId"] == 16_777_215
        assert session.inputs["packetLength"] == 8500
        assert session.inputs["tags"] == {"team": "soc", "Name": session.name}


def test_more_than_three_sessions_on_an_interface_is_refused(mocks: StrictMocks) -> None:
    with pytest.raises(CloudtapInputError) as error:
        mirror(
            mocks,
            {
                "target": {"network_interface_id": SENSOR_ENI},
                "sources": [WEB],
                "existing_sessions_per_eni": {ENI[1]: 3},
            },
        )
    expect_error(error, "sources[0].network_interface_ids[1]", ENI[1], "at most 3")
    assert mocks.registrations == []


def test_more_than_ten_filter_rules_are_refused(mocks: StrictMocks) -> None:
    with pytest.raises(CloudtapInputError) as error:
        mirror(
            mocks,
            {
                "target": {"network_interface_id": SENSOR_ENI},
                "sources": [WEB],
                "filter_presets": ["drop_intra_vpc", "drop_health_checks"],
                "health_check_cidrs": ["10.0.0.0/24", "10.0.2.0/24"],
            },
            network={},
        )
    assert error.value.field == "filter_presets"
    assert "at most 10 rules in filter mirror-filter" in error.value.expected
    nothing_mirrored(mocks)


def test_an_interface_as_source_and_target_is_refused(mocks: StrictMocks) -> None:
    with pytest.raises(CloudtapInputError) as error:
        mirror(mocks, {"target": {"network_interface_id": ENI[1]}, "sources": [WEB]})
    expect_error(error, "sources[0].network_interface_ids[1]", ENI[1], "never source and target")
    assert mocks.registrations == []


def test_an_interface_listed_twice_is_refused(mocks: StrictMocks) -> None:
    twice = {"name": "again", "instance_type": "m5.large", "network_interface_ids": [ENI[0]]}
    with pytest.raises(CloudtapInputError) as error:
        mirror(mocks, {"target": {"network_interface_id": SENSOR_ENI}, "sources": [WEB, twice]})
    expect_error(error, "sources[1].network_interface_ids[0]", ENI[0], "not already mirrored")
    assert mocks.registrations == []


def test_a_load_balancer_without_a_udp_4789_listener_is_refused(
    mocks: StrictMocks, fake_aws: FakeAws
) -> None:
    arn = fake_aws.network_load_balancer([("TCP", 4789), ("UDP", 53)])
    with pytest.raises(CloudtapInputError) as error:
        mirror(
            mocks,
            {"target": {"network_load_balancer_arn": arn}, "sources": [WEB]},
            clients=fake_aws.clients,
        )
    expect_error(error, "target.network_load_balancer_arn", arn, "UDP (or TCP_UDP) listener")
    assert "found TCP:4789, UDP:53" in error.value.expected or "found UDP:53, TCP:4789" in (
        error.value.expected
    )
    assert mocks.registrations == []


def test_a_load_balancer_that_does_not_exist_is_refused(
    mocks: StrictMocks, fake_aws: FakeAws
) -> None:
    with pytest.raises(CloudtapInputError) as error:
        mirror(
            mocks,
            {"target": {"network_load_balancer_arn": NLB}, "sources": [WEB]},
            clients=fake_aws.clients,
        )
    expect_error(error, "target.network_load_balancer_arn", NLB, "existing Network Load Balancer")
    assert mocks.registrations == []


def test_an_instance_that_does_not_exist_is_refused(mocks: StrictMocks, fake_aws: FakeAws) -> None:
    with pytest.raises(CloudtapInputError) as error:
        mirror(
            mocks,
            {
                "target": {"network_interface_id": SENSOR_ENI},
                "sources": [{"instance_id": "i-0123456789abcdef0"}],
            },
            clients=fake_aws.clients,
        )
    expect_error(error, "sources[0].instance_id", "i-0123456789abcdef0", "exists")
    assert mocks.registrations == []


def test_gateway_sources_without_a_network_are_refused(mocks: StrictMocks) -> None:
    with pytest.raises(CloudtapInputError) as error:
        mirror(mocks, {"target": {"network_interface_id": SENSOR_ENI}, "sources": [LEGACY]})
    expect_error(error, "network", None, "set gateway_mirror")
    assert mocks.registrations == []


def test_gateway_sources_without_the_gateway_mirror_are_refused(mocks: StrictMocks) -> None:
    with pytest.raises(CloudtapInputError) as error:
        mirror(
            mocks,
            {"target": {"sensor": True}, "sources": [LEGACY], "method": "gateway"},
            sensor={},
        )
    expect_error(error, "network.gateway_mirror", None, "set gateway_mirror on the MonitoredVpc")
    nothing_mirrored(mocks)


def test_gateway_sources_outside_the_private_tier_are_refused(
    mocks: StrictMocks, fake_aws: FakeAws
) -> None:
    public, _ = fake_aws.instance("t2.micro", subnet="10.0.0.0/20")
    with pytest.raises(CloudtapInputError) as error:
        mirror(
            mocks,
            {"target": {"sensor": True}, "sources": [{"instance_id": public}]},
            network={"gateway_mirror": {}},
            sensor={},
            clients=fake_aws.clients,
        )
    assert error.value.field == "sources[0].instance_id"
    assert "private tier" in error.value.expected
    assert "the public tier" in error.value.expected
    nothing_mirrored(mocks)


def test_gateway_sources_need_the_sensor_the_gateway_sends_to(mocks: StrictMocks) -> None:
    with pytest.raises(CloudtapInputError) as error:
        mirror(
            mocks,
            {"target": {"sensor": True}, "sources": [LEGACY]},
            network={"gateway_mirror": {}},
            sensor={"private_ip": "10.0.128.11"},
        )
    expect_error(error, "target.sensor", "10.0.128.11", "gateway_mirror.sensor_address 10.0.128.10")
    nothing_mirrored(mocks)


def test_gateway_sources_cannot_use_a_load_balancer_target(mocks: StrictMocks) -> None:
    with pytest.raises(CloudtapInputError) as error:
        mirror(
            mocks,
            {"target": {"gateway_load_balancer_endpoint_id": VPCE}, "sources": [LEGACY]},
            network={"gateway_mirror": {}},
        )
    expect_error(error, "target.gateway_load_balancer_endpoint_id", VPCE, "VXLAN to one address")
    nothing_mirrored(mocks)


def test_drop_intra_vpc_with_the_gateway_mirror_is_refused(mocks: StrictMocks) -> None:
    with pytest.raises(CloudtapInputError) as error:
        mirror(
            mocks,
            {
                "target": {"network_interface_id": SENSOR_ENI},
                "sources": [WEB],
                "filter_presets": ["drop_intra_vpc"],
            },
            network={"gateway_mirror": {}},
        )
    expect_error(error, "filter_presets", ["drop_intra_vpc"], "would leave them nothing")
    nothing_mirrored(mocks)


def test_health_check_settings_without_the_preset_are_refused(mocks: StrictMocks) -> None:
    with pytest.raises(CloudtapInputError) as error:
        mirror(
            mocks,
            {
                "target": {"network_interface_id": SENSOR_ENI},
                "sources": [WEB],
                "health_check_port": 8080,
            },
        )
    expect_error(error, "health_check_port", 8080, "unless filter_presets has drop_health_checks")
    assert mocks.registrations == []


def test_presets_that_need_the_network_say_so_without_one(mocks: StrictMocks) -> None:
    for presets, field in (
        (["drop_intra_vpc"], "filter_presets"),
        (["drop_health_checks"], "health_check_cidrs"),
    ):
        with pytest.raises(CloudtapInputError) as error:
            mirror(
                StrictMocks(),
                {
                    "target": {"network_interface_id": SENSOR_ENI},
                    "sources": [WEB],
                    "filter_presets": presets,
                },
            )
        assert error.value.field == field
        assert "network" in error.value.expected


def test_the_mocks_refuse_a_fourth_session_like_aws_would(mocks: StrictMocks) -> None:
    # Three components on one interface pass; a fourth fails as AWS would at `up`.
    def program(count: int) -> Callable[[], None]:
        def build() -> None:
            for index in range(count):
                MirrorSession(
                    f"m{index}",
                    {
                        "target": {"gateway_load_balancer_endpoint_id": VPCE},
                        "sources": [
                            {
                                "name": "web",
                                "instance_type": "m5.large",
                                "network_interface_ids": [ENI[0]],
                            }
                        ],
                        "session_number": index + 1,
                    },
                    clients=NoAws(),
                )

        return build

    run_program(program(3), StrictMocks())
    with pytest.raises(LookupError, match="more than 3 sessions"):
        run_program(program(4), mocks)
