"""Two sensors behind a stand-in for the NLB's flow hash (nftables ``jhash udp sport``): every
copy of a flow, both directions, reaches exactly one sensor, none is lost, both sensors are used.
A per-packet balancer is caught splitting flows, so the check can fail."""

from __future__ import annotations

import time

from components.network_plan import NetworkPlan
from lab.fleet import PER_PACKET, judge, run_fleet_lab
from lab.fleet_gateway import (
    SILENCE_SECONDS,
    checks,
    expect_gateway_heartbeats,
    fleet_gateway_lab,
    send_flows,
)
from lab.fleet_gateway import judge as judge_gateway


def test_each_flows_copies_reach_exactly_one_sensor_and_both_are_used(
    lab_environment: None,
) -> None:
    result = run_fleet_lab(flows=32, copies_per_direction=10)
    assert judge(result) == []
    assert len(result.copies) == 32 * 2 * 10
    print(f"flows per sensor: {result.flows_per_sensor}")


def test_a_balancer_that_ignores_flows_is_caught_splitting_them(lab_environment: None) -> None:
    result = run_fleet_lab(flows=8, copies_per_direction=4, selector=PER_PACKET)
    problems = judge(result)
    assert any("copies reached ['s1', 's2']" in problem for problem in problems)
    assert len(result.copies) == 8 * 2 * 4  # split, yet none lost


def test_the_gateways_copies_through_a_stand_in_nlb_keep_each_flow_on_one_sensor(
    lab_environment: None, aws_dev_plan: NetworkPlan
) -> None:
    """The rendered gateway (to_fleet) to zone 1's NLB address, a jhash balancer there, two
    rendered fleet sensors behind it: each flow, both directions, on one sensor, none lost;
    the gateway's heartbeats all on one sensor, dropped before its capture interface; both
    checks pass. Had the fleet's sensors expected the gateway's heartbeats (as a lone sensor
    does), the one the NLB never hands them to would fail its check."""
    with fleet_gateway_lab(aws_dev_plan) as (lab, sensors):
        result = send_flows(lab, sensors, flows=24, copies_per_direction=4)
        assert result.destination == "10.0.128.11"
        assert judge_gateway(result) == []
        print(f"flows per sensor: {result.flows_per_sensor}; heartbeats {result.other_heartbeats}")
        expect_gateway_heartbeats(sensors, lab.topology.plan)
        time.sleep(SILENCE_SECONDS)
        outcome = {name: c.returncode for name, c in checks(sensors).items()}
        starved = [name for name, count in result.other_heartbeats.items() if count == 0]
        assert [name for name, code in outcome.items() if code != 0] == starved
