"""The checks are not vacuous: each one fails against a gateway broken in the way it guards.

Every test damages the applied rule set with ``nft`` (as an operator or a faulty boot script
might), runs one check, expects FAIL, then ``apply`` restores the gateway for the next test.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from components import gateway
from lab import Host, Lab, Status, checks

pytestmark = pytest.mark.lab

FORWARD_COMMENT = gateway.port_forward_comment("tcp", 3389, "10.0.64.10", 3389)


@contextmanager
def broken(lab: Lab, *commands: str) -> Iterator[None]:
    """Run each ``nft`` command in the gateway for the block's length, then re-apply."""
    try:
        for command in commands:
            lab.run(Host.GATEWAY, "nft", command)
        yield
    finally:
        lab.gateway("apply", check=True)


def delete_rule(lab: Lab, chain: str, comment: str) -> str:
    return " ".join(checks.rule_deletion(lab, chain, comment))


def statuses(results: list[checks.CheckResult]) -> list[Status]:
    return [result.status for result in results]


def test_a_missing_masquerade_fails_the_egress_check(lab: Lab) -> None:
    with broken(lab, "flush chain ip cloudtap outbound_snat"):
        results = checks.egress_is_masqueraded(lab)
    assert statuses(results) == [Status.FAIL], results
    assert "source seen by internet host: 10.0.64.10 (expected 10.0.0.10)" in results[0].detail


def test_a_missing_dnat_fails_the_port_forward_check(lab: Lab) -> None:
    with broken(lab, delete_rule(lab, "inbound_dnat", FORWARD_COMMENT)):
        results = checks.port_forwards_reach_the_app(lab)
    assert statuses(results) == [Status.FAIL], results


def test_a_forwarded_ssh_port_fails_the_ssh_check(lab: Lab) -> None:
    ssh = 'add rule ip cloudtap inbound_dnat iifname "gw-pub" tcp dport 22 dnat to 10.0.64.10:22'
    with broken(lab, ssh):
        results = checks.ssh_is_not_forwarded(lab)
    assert statuses(results) == [Status.FAIL], results
    assert "saw 203.0.113.10" in results[0].detail


def test_an_open_forward_chain_fails_the_isolation_check(lab: Lab) -> None:
    with broken(
        lab,
        "flush chain ip cloudtap forwarding",
        "chain ip cloudtap forwarding { policy accept; }",
    ):
        results = checks.isolated_tiers_cannot_reach_the_private_tier(lab)
    by_subject = {result.subject: result for result in results}
    assert by_subject["sensor -> app"].status is Status.FAIL
    assert by_subject["mgmt -> app"].status is Status.FAIL
    assert "NOT blocked" in by_subject["sensor -> app"].detail


def test_dnat_without_the_network_source_guard_fails_the_loop_check(lab: Lab) -> None:
    unguarded = (
        'add rule ip cloudtap inbound_dnat iifname "gw-pub" fib daddr type local '
        f'tcp dport 3389 dnat to 10.0.64.10:3389 comment "{FORWARD_COMMENT}"'
    )
    with broken(lab, delete_rule(lab, "inbound_dnat", FORWARD_COMMENT), unguarded):
        results = checks.own_traffic_to_a_forwarded_port_is_not_looped_back(lab)
    by_subject = {result.subject: result.status for result in results}
    assert by_subject == {
        "app -> internet 203.0.113.10:3389/tcp": Status.PASS,
        "network address 10.0.0.1 -> 10.0.0.10:3389/tcp": Status.FAIL,
    }
