"""Two sensors behind a stand-in for the NLB's flow hash (nftables ``jhash udp sport``): every
copy of a flow, both directions, reaches exactly one sensor, none is lost, both sensors are used.
A per-packet balancer is caught splitting flows, so the check can fail."""

from __future__ import annotations

from lab.fleet import PER_PACKET, judge, run_fleet_lab


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
