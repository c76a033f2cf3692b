"""The aws-dev stack's rendered gateway, run in network namespaces: one test per behaviour.

The tests call the same check functions as ``python -m lab``; each result carries its
evidence, which becomes the assertion message.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from components import gateway
from components.cloud_config import asset_text, written_files
from lab import CheckResult, Host, Lab, Status, checks
from lab.topology import VPC_MTU

pytestmark = pytest.mark.lab


def assert_passed(results: Sequence[CheckResult]) -> None:
    assert results, "the check produced no result"
    failures = [result.line() for result in results if result.status is not Status.PASS]
    assert not failures, "\n".join(failures)


def test_gateway_runs_the_files_its_cloud_config_writes(lab: Lab) -> None:
    rendered = written_files(gateway.render_cloud_config(lab.topology.plan))
    assert lab.script_path.read_text() == rendered[gateway.SCRIPT_PATH].content
    assert lab.script_path.read_text() == asset_text("gateway", "cloudtap-gateway.sh")
    assert lab.settings_path.read_text() == gateway.render_settings(
        lab.topology.plan, underlay_mtu=VPC_MTU
    )
    checked = lab.gateway("check")
    assert checked.returncode == 0, checked.stderr
    assert "1 port forward(s)" in checked.stderr


def test_private_host_reaches_the_internet_masqueraded_as_the_gateway(lab: Lab) -> None:
    results = checks.egress_is_masqueraded(lab)
    assert_passed(results)
    assert f"source seen by internet host: {lab.address(Host.GATEWAY)}" in results[0].detail


def test_each_port_forward_reaches_the_app_with_the_callers_own_address(lab: Lab) -> None:
    results = checks.port_forwards_reach_the_app(lab)
    assert_passed(results)
    assert len(results) == len(lab.topology.plan.port_forwards) == 1
    assert f"saw the internet host's own address {lab.address(Host.INTERNET)}" in results[0].detail


def test_ssh_is_not_forwarded_to_the_app(lab: Lab) -> None:
    assert_passed(checks.ssh_is_not_forwarded(lab))


def test_monitor_and_management_tiers_cannot_reach_the_private_tier(lab: Lab) -> None:
    results = checks.isolated_tiers_cannot_reach_the_private_tier(lab)
    assert_passed(results)
    subjects = {result.subject for result in results}
    assert {"sensor -> app", "mgmt -> app", "app -> sensor", "app -> mgmt"} <= subjects


def test_apply_again_leaves_the_table_byte_identical(lab: Lab) -> None:
    assert_passed(checks.apply_is_idempotent(lab))


def test_check_detects_a_flushed_ruleset_and_apply_restores_it(lab: Lab) -> None:
    results = checks.check_detects_a_flush_and_apply_restores(lab)
    assert_passed(results)
    assert "table ip cloudtap is missing" in results[0].detail


def test_check_names_each_missing_rule(lab: Lab) -> None:
    results = checks.check_names_each_missing_rule(lab)
    assert_passed(results)
    assert len(results) == 3 + len(lab.topology.plan.port_forwards)


def test_check_fails_when_ip_forward_is_off(lab: Lab) -> None:
    results = checks.check_fails_when_forwarding_is_off(lab)
    assert_passed(results)
    assert "net.ipv4.ip_forward is not 1" in results[0].detail


def test_private_hosts_own_traffic_to_a_forwarded_port_is_not_looped_back(lab: Lab) -> None:
    assert_passed(checks.own_traffic_to_a_forwarded_port_is_not_looped_back(lab))
