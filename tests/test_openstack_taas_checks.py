"""Pure checks for OpenStack Tap-as-a-Service: no SDK, no mocks."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from typing import Any

import pytest

from components.errors import CloudtapInputError
from components.openstack.taas_checks import (
    ERSPAN_SESSION_ID_MAX,
    GRE_KEY_MAX,
    FlowDirection,
    MirrorDirection,
    MirrorType,
    TapMirrorPlan,
    allocate_tunnel_ids,
    check_distinct_tunnel_ids,
    check_tap_flow_inputs,
    check_tap_service_inputs,
    parse_flow_direction,
    parse_vlan_filter,
    plan_tap_mirror,
    tunnel_id_range,
)

SOURCE_PORT = "66666666-7777-4888-9999-aaaaaaaaaaaa"
SERVICE_ID = "0f3a1d2c-4b5e-4f60-8a7b-9c8d7e6f5a40"
IN, OUT = MirrorDirection.IN, MirrorDirection.OUT


def mirror(**changes: Any) -> dict[str, Any]:
    return {
        "port_id": SOURCE_PORT,
        "remote_ip": "10.0.128.10",
        "directions": {"IN": 1, "OUT": 2},
        **changes,
    }


def refusal(call: Any, *args: Any, **kwargs: Any) -> CloudtapInputError:
    with pytest.raises(CloudtapInputError) as raised:
        call(*args, **kwargs)
    return raised.value


# --- tap mirrors ------------------------------------------------------------------------------


def test_mirror_defaults_to_gre_and_gives_pulumi_openstack_its_direction_keys() -> None:
    plan = plan_tap_mirror(mirror())

    assert plan == TapMirrorPlan(
        port_id=SOURCE_PORT,
        remote_ip=ipaddress.IPv4Address("10.0.128.10"),
        mirror_type=MirrorType.GRE,
        directions={IN: 1, OUT: 2},
    )
    # TaasTapMirrorV2DirectionsArgsDict spells the ingress key ``in_``.
    assert plan.directions_args() == {"in_": 1, "out": 2}


def test_mirror_may_copy_a_single_direction() -> None:
    plan = plan_tap_mirror(mirror(directions={"OUT": 7}, mirror_type="erspanv1"))

    assert plan.directions_args() == {"out": 7}
    assert plan.tunnel_ids == (7,)


@pytest.mark.parametrize(
    ("mirror_type", "largest"), [("gre", GRE_KEY_MAX), ("erspanv1", ERSPAN_SESSION_ID_MAX)]
)
def test_tunnel_ids_reach_the_top_of_their_header_field(mirror_type: str, largest: int) -> None:
    plan = plan_tap_mirror(mirror(mirror_type=mirror_type, directions={"IN": 0, "OUT": largest}))

    assert plan.directions == {IN: 0, OUT: largest}


def test_erspan_session_ids_stop_at_1023() -> None:
    problem = refusal(
        plan_tap_mirror, mirror(mirror_type="erspanv1", directions={"IN": 1, "OUT": 1024})
    )

    assert str(problem) == (
        "tap_mirror.directions.OUT: got 1024; expected an integer from 0 to 1023 "
        "(the ERSPAN session id of mirror_type erspanv1)"
    )


@pytest.mark.parametrize("tunnel_id", [-1, 2**32, True, "5", 1.0])
def test_gre_keys_are_32_bit_integers(tunnel_id: Any) -> None:
    problem = refusal(plan_tap_mirror, mirror(directions={"IN": tunnel_id}))

    assert problem.field == "tap_mirror.directions.IN"
    assert problem.expected == "an integer from 0 to 4294967295 (the GRE key of mirror_type gre)"


def test_each_direction_needs_its_own_tunnel_id() -> None:
    problem = refusal(plan_tap_mirror, mirror(directions={"IN": 5, "OUT": 5}))

    assert problem.field == "tap_mirror.directions"
    assert "a different tunnel id for each direction" in problem.expected


@pytest.mark.parametrize("directions", [{}, {"BOTH": 3}, {"in": 3}, [1, 2]])
def test_directions_are_in_and_out_only(directions: Any) -> None:
    problem = refusal(plan_tap_mirror, mirror(directions=directions))

    assert problem.field.startswith("tap_mirror.directions")


@pytest.mark.parametrize(
    "remote_ip", ["fd00::10", "10.0.128.0/24", "0.0.0.0", "224.0.0.5", "127.0.0.1", None]
)
def test_remote_ip_is_a_unicast_ipv4_address(remote_ip: Any) -> None:
    problem = refusal(plan_tap_mirror, mirror(remote_ip=remote_ip))

    assert problem.field == "tap_mirror.remote_ip"


def test_mirror_type_is_gre_or_erspanv1() -> None:
    problem = refusal(plan_tap_mirror, mirror(mirror_type="erspan"))

    assert (
        str(problem) == "tap_mirror.mirror_type: got 'erspan'; expected one of ['gre', 'erspanv1']"
    )


def test_mirror_port_must_be_a_port_id_not_a_name() -> None:
    problem = refusal(plan_tap_mirror, mirror(port_id="web-1"), field="mirrors.web")

    assert problem.field == "mirrors.web.port_id"
    assert problem.expected.startswith("the source port's Neutron id: a UUID")


def test_mirror_refuses_missing_and_unknown_fields() -> None:
    assert refusal(plan_tap_mirror, {"port_id": SOURCE_PORT}).field == "tap_mirror.remote_ip"
    assert refusal(plan_tap_mirror, mirror(remote_address="x")).field == (
        "tap_mirror.remote_address"
    )


def test_tunnel_ids_must_differ_across_mirrors_as_neutron_checks_project_wide() -> None:
    mirrors = {
        "web": plan_tap_mirror(mirror(directions={"IN": 1, "OUT": 2})),
        "db": plan_tap_mirror(mirror(mirror_type="erspanv1", directions={"IN": 3, "OUT": 1})),
    }

    problem = refusal(check_distinct_tunnel_ids, mirrors, "mirrors")

    assert problem.field == "mirrors.db.directions.OUT"
    assert problem.value == 1
    assert "already used by web.directions.IN" in problem.expected


# --- allocation ---------------------------------------------------------------------------------


def test_allocation_gives_each_source_two_consecutive_ids() -> None:
    assert allocate_tunnel_ids(["web", "db", "cache"]) == {
        "web": {IN: 1, OUT: 2},
        "db": {IN: 3, OUT: 4},
        "cache": {IN: 5, OUT: 6},
    }


def test_appending_a_source_keeps_every_earlier_id() -> None:
    before = allocate_tunnel_ids(["web", "db"], first_id=100)
    after = allocate_tunnel_ids(["web", "db", "cache"], first_id=100)

    assert {key: after[key] for key in before} == before
    assert after["cache"] == {IN: 104, OUT: 105}


def test_one_direction_still_reserves_the_other_so_adding_it_renumbers_nothing() -> None:
    only_in = allocate_tunnel_ids(["web", "db"], directions=[IN])
    both = allocate_tunnel_ids(["web", "db"])

    assert only_in == {"web": {IN: 1}, "db": {IN: 3}}
    assert all(both[key][IN] == only_in[key][IN] for key in only_in)


def test_allocated_ids_make_valid_distinct_mirrors() -> None:
    ids = allocate_tunnel_ids([f"src-{n}" for n in range(40)], MirrorType.ERSPAN_V1, first_id=900)
    plans = {
        key: plan_tap_mirror(
            mirror(
                mirror_type="erspanv1",
                directions={d.value: i for d, i in directions.items()},
            )
        )
        for key, directions in ids.items()
    }

    check_distinct_tunnel_ids(plans, "mirrors")
    assert max(i for p in plans.values() for i in p.tunnel_ids) == 979


def test_erspan_allocation_stops_at_the_session_id_space() -> None:
    assert len(allocate_tunnel_ids([str(n) for n in range(511)], MirrorType.ERSPAN_V1)) == 511

    problem = refusal(allocate_tunnel_ids, [str(n) for n in range(512)], MirrorType.ERSPAN_V1)

    assert problem.field == "sources.first_id"
    assert problem.value == 1
    assert problem.expected.startswith("at most 0, so that 512 sources")
    assert "from 1, 511 sources fit" in problem.expected

    problem = refusal(allocate_tunnel_ids, [str(n) for n in range(513)], MirrorType.ERSPAN_V1)

    assert problem.field == "sources.first_id"
    assert "none fits: they need 1026 ids (two each) and erspanv1 has 1024" in problem.expected


def test_a_block_that_does_not_fit_names_the_callers_first_id_field() -> None:
    problem = refusal(
        allocate_tunnel_ids,
        ["web", "db"],
        MirrorType.ERSPAN_V1,
        first_id=1021,
        first_id_field="first_tunnel_id",
    )

    assert (problem.field, problem.value) == ("first_tunnel_id", 1021)
    assert problem.expected.startswith("at most 1020, so that 2 sources")


def test_allocation_refuses_duplicate_or_empty_source_keys() -> None:
    assert refusal(allocate_tunnel_ids, ["web", "db", "web"]).field == "sources[2]"
    assert refusal(allocate_tunnel_ids, ["web", ""]).field == "sources[1]"


def test_allocation_refuses_a_first_id_outside_the_range() -> None:
    problem = refusal(allocate_tunnel_ids, ["web"], MirrorType.ERSPAN_V1, first_id=1024)

    assert problem.field == "sources.first_id"


def test_allocation_needs_a_direction() -> None:
    assert refusal(allocate_tunnel_ids, ["web"], directions=[]).field == "sources.directions"


def test_tunnel_id_ranges() -> None:
    assert tunnel_id_range(MirrorType.GRE) == (0, 4_294_967_295)
    assert tunnel_id_range(MirrorType.ERSPAN_V1) == (0, 1023)


# --- tap services and flows ---------------------------------------------------------------------


@pytest.mark.parametrize("text", ["1", "1-5,9", "4094", "1-4094", "10,20-30,40"])
def test_vlan_filters_neutron_and_802_1q_accept(text: str) -> None:
    assert parse_vlan_filter("vlan_filter", text) == text


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("0", "outside"),
        ("4095", "outside"),
        ("1-4095", "outside"),
        ("9-3", "runs backwards"),
        ("1,,2", "no spaces"),
        (" 1", "no spaces"),
        ("1-2-3", "no spaces"),
        (5, "no spaces"),
    ],
)
def test_vlan_filters_refused_say_why(text: Any, why: str) -> None:
    problem = refusal(parse_vlan_filter, "vlan_filter", text)

    assert problem.value == text
    assert why in problem.expected


def test_flow_direction_is_upper_case() -> None:
    assert parse_flow_direction("direction", "BOTH") is FlowDirection.BOTH
    assert refusal(parse_flow_direction, "direction", "in").expected == (
        "one of ['IN', 'OUT', 'BOTH'] (upper case)"
    )


def test_flow_inputs_report_every_problem_with_the_resource_name() -> None:
    problems = check_tap_flow_inputs(
        {"tap_service_id": "svc", "source_port": SOURCE_PORT, "direction": "SIDEWAYS"},
        where="web-1",
    )

    assert [p.field for p in problems] == ["web-1.tap_service_id", "web-1.direction"]


def test_values_not_known_yet_are_left_for_later() -> None:
    problems = check_tap_flow_inputs(
        {"tap_service_id": object(), "source_port": SOURCE_PORT, "direction": "BOTH"},
        is_known=lambda value: isinstance(value, str),
    )

    assert problems == []


def test_service_names_and_descriptions_fit_neutrons_columns() -> None:
    problems = check_tap_service_inputs(
        {"port_id": SERVICE_ID, "name": "n" * 256, "description": "d" * 1025}
    )

    assert [(p.field, p.expected) for p in problems] == [
        ("name", "a string of at most 255 characters"),
        ("description", "a string of at most 1024 characters"),
    ]


def test_the_checks_import_no_cloud_sdk() -> None:
    probe = (
        "import sys, components.openstack.taas_checks; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('openstack', 'pulumi')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout

    assert loaded.strip() == "[]"
