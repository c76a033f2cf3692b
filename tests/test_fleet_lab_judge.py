"""The fleet lab's verdict (pure, no root): what counts as a split, lost or doubled flow."""

from __future__ import annotations

import dataclasses

from lab.fleet import SOURCE, VNI, Copy, FleetLabResult, balancer_ruleset, judge


def copies(sensor_of: dict[int, str], per_direction: int = 2, port: int = 40000) -> list[Copy]:
    return [
        Copy(sensor, SOURCE, port + flow, VNI, flow, direction, seq)
        for flow, sensor in sensor_of.items()
        for direction in (0, 1)
        for seq in range(per_direction)
    ]


def test_whole_flows_spread_over_both_sensors_pass() -> None:
    result = FleetLabResult(tuple(copies({0: "s1", 1: "s2"})), flows=2, copies_per_direction=2)
    assert judge(result) == []
    assert result.flows_per_sensor == {"s1": 1, "s2": 1}


def test_a_lost_a_doubled_and_a_split_copy_are_each_named() -> None:
    good = copies({0: "s1", 1: "s2", 2: "s1"})
    lost = [c for c in good if not (c.flow == 0 and c.seq == 1 and c.direction == 1)]
    doubled = [*lost, lost[-1]]
    # Flow 1's second direction goes to the other sensor.
    split = [
        dataclasses.replace(c, sensor="s1") if c.flow == 1 and c.direction == 1 else c
        for c in doubled
    ]
    problems = judge(FleetLabResult(tuple(split), flows=3, copies_per_direction=2))
    assert "flow 0: 1 copies lost, 0 doubled" in problems
    assert "flow 2: 0 copies lost, 1 doubled" in problems
    assert "flow 1: copies reached ['s1', 's2']" in problems


def test_one_idle_sensor_fails_the_spread() -> None:
    result = FleetLabResult(tuple(copies({0: "s1", 1: "s1"})), flows=2, copies_per_direction=2)
    assert judge(result) == ["sensor(s) ['s2'] received no flow: the hash does not spread"]


def test_the_balancer_hashes_the_outer_source_port_statelessly() -> None:
    rules = balancer_ruleset()
    assert (
        "notrack ip daddr set jhash udp sport mod 2 map { 0 : 10.99.1.10, 1 : 10.99.2.10 }" in rules
    )
