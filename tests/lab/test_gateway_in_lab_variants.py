"""A second stack shape in the lab: a small network, UDP and several servers in two zones."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from components.network_plan import NetworkPlan, plan_network
from lab import Host, Lab, Status, checks

pytestmark = pytest.mark.lab

VARIANT = {
    "cidr_block": "172.16.0.0/22",
    "availability_zone_count": 2,
    "port_forwards": [
        {"protocol": "udp", "public_port": 5353, "private_host": "172.16.1.20", "private_port": 53},
        {"public_port": 443, "private_host": "172.16.1.100", "private_port": 8443},
        {"public_port": 80, "private_host": "172.16.1.20", "private_port": 8080},
    ],
}


@pytest.fixture(scope="module")
def variant_lab(lab_environment: None) -> Iterator[Lab]:
    with Lab.create(plan_network(VARIANT)) as lab:
        yield lab


def test_udp_and_multi_zone_forwards_reach_their_servers(variant_lab: Lab) -> None:
    results = checks.port_forwards_reach_the_app(variant_lab)
    assert [result.status for result in results] == [Status.PASS] * 3, [
        result.line() for result in results
    ]
    assert results[0].subject == "internet -> 172.16.0.10:5353/udp"


def test_own_udp_and_tcp_traffic_to_forwarded_ports_is_masqueraded(variant_lab: Lab) -> None:
    results = checks.own_traffic_to_a_forwarded_port_is_not_looped_back(variant_lab)
    # Per forward: the app's own traffic, and a network-sourced connection on the public side.
    assert [result.status for result in results] == [Status.PASS] * 6, [
        result.line() for result in results
    ]


def test_a_variant_gateway_is_idempotent_and_masquerades(variant_lab: Lab) -> None:
    results = checks.apply_is_idempotent(variant_lab) + checks.egress_is_masqueraded(variant_lab)
    assert all(result.status is Status.PASS for result in results), results
    assert str(variant_lab.address(Host.GATEWAY)) == "172.16.0.10"


def test_a_stack_without_port_forwards_skips_forward_checks(lab_environment: None) -> None:
    plan: NetworkPlan = plan_network({"availability_zone_count": 1})
    with Lab.create(plan) as lab:
        skipped = checks.port_forwards_reach_the_app(lab)
        skipped += checks.own_traffic_to_a_forwarded_port_is_not_looped_back(lab)
        assert [result.status for result in skipped] == [Status.SKIP, Status.SKIP]
        ssh = checks.ssh_is_not_forwarded(lab)
        assert ssh[0].status is Status.PASS, ssh[0].line()
        assert str(lab.address(Host.APP)) == "10.0.64.10"  # private .10: no forward names a host
