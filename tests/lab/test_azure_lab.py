"""The lab's Azure shape: a one-armed gateway behind the fabric's router, on 1500-byte links.

The plan tests run anywhere; the others build the lab (root, namespaces) and run its checks, and
show the checks fail when the fabric or the gateway is broken on purpose.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from components.azure.vnet_plan import AZURE_NETWORK_FIELDS, AZURE_VNET_MTU, FIELDS
from components.network_plan import NETWORK_FIELDS
from lab import Lab
from lab.checks import ONE_ARMED_CHECKS, Status, run_checks
from lab.checks.one_armed import fabric_isolates_the_tiers, one_armed_copies_are_byte_identical
from lab.one_armed import TABLES, plan_one_armed_topology, router_commands, router_namespace
from lab.stack import load_stack
from lab.topology import Host
from tests.lab.environment import ROOT, machine_namespaces

AZURE_DEV = ROOT / "stacks" / "Pulumi.azure-dev.yaml"


def ip(text: str) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(text)


def test_the_azure_stack_plans_the_one_armed_shape_on_1500_byte_links() -> None:
    stack = load_stack(AZURE_DEV)
    assert stack.one_armed
    topology = plan_one_armed_topology(stack.plan)
    assert topology.one_armed
    assert topology.address(Host.GATEWAY) == ip("10.0.0.10")
    assert topology.gateway_addresses == (ip("10.0.0.10"),)
    assert {link.mtu for link in topology.links} == {1500}
    # Rendered as Azure's component renders it: with its VNets' MTU, so the MSS clamp is on.
    assert topology.gateway_underlay_mtu == AZURE_VNET_MTU
    assert topology.link_of(Host.GATEWAY).host_default_route == ip("10.0.0.1")
    assert topology.link_of(Host.APP).host_default_route == ip("10.0.64.1")
    assert AZURE_NETWORK_FIELDS == FIELDS - NETWORK_FIELDS
    assert set(stack.unmodelled) == {"cloudtap:network.tags", "cloudtap:network.zones"}


def test_the_router_applies_the_networks_route_tables_per_ingress_link() -> None:
    topology = plan_one_armed_topology(load_stack(AZURE_DEV).plan)
    commands = [" ".join(argv) for argv in router_commands(topology, "ns")]
    private, monitor, management = (TABLES[t] for t in TABLES if t.value != "public")
    assert f"ip -n ns route add 0.0.0.0/0 via 10.0.0.10 table {private}" in commands
    assert f"ip -n ns route add blackhole 10.0.128.0/20 table {private}" in commands
    assert f"ip -n ns route add blackhole 10.0.192.0/20 table {private}" in commands
    assert f"ip -n ns route add 0.0.0.0/0 via 10.0.0.10 table {monitor}" in commands
    assert f"ip -n ns route add blackhole 10.0.64.0/20 table {monitor}" in commands
    assert f"ip -n ns route add blackhole 0.0.0.0/0 table {management}" in commands
    assert f"ip -n ns rule add iif rt-priv lookup {private} pref {private}" in commands
    # The private table does not also route the monitor subnet to its link.
    assert f"ip -n ns route add 10.0.128.0/20 dev rt-mon table {private}" not in commands
    assert any("TTL --ttl-inc 1" in command for command in commands)


@pytest.fixture(scope="module")
def azure_lab(lab_environment: None) -> Iterator[Lab]:
    with Lab.create(load_stack(AZURE_DEV).plan, one_armed=True) as lab:
        yield lab


def _healthy(lab: Lab) -> Lab:
    assert lab.gateway("check").returncode == 0
    assert lab.sensor("check").returncode == 0
    return lab


@pytest.mark.lab
def test_every_check_of_the_azure_shape_passes(azure_lab: Lab) -> None:
    results = list(run_checks(_healthy(azure_lab), ONE_ARMED_CHECKS))
    failed = [r.line() for r in results if r.status is not Status.PASS]
    assert failed == []
    lines = [r.line() for r in results]
    assert any("(masqueraded)" in line for line in lines)
    assert any(
        line.startswith("PASS  internet -> 10.0.0.10:3389/tcp: reached app") for line in lines
    )
    assert any("(the drop is the routes')" in line for line in lines)
    copies = next(line for line in lines if "byte-for-byte (L3)" in line)
    match = re.search(r"L3 (\d+)/(\d+) byte-identical, 0 missing, 0 extra, 0 duplicated", copies)
    assert match is not None and match[1] == match[2], copies
    # Copies of 1500-byte packets cannot cross a 1500-byte underlay whole: counted, not hidden.
    fragments = re.search(r"(\d+) copies arrived fragmented, (\d+) IP fragments", copies)
    assert fragments is not None and int(fragments[1]) > 0, copies
    # TCP's copies do not: the gateway clamps its MSS to what fits the 1500-byte network.
    bulk = next(line for line in lines if "copies unfragmented" in line)
    # The app's own SYN offers 1460; what comes back through the gateway offers 1410.
    assert "MSS announced on the app's wire [1410, 1460]" in bulk, bulk
    assert "largest packet 1450 bytes (copy 1500)" in bulk, bulk
    assert "forwarded TCP clamped to MSS 1410" in bulk, bulk
    assert "gateway IpFragCreates +0, sensor IpReasmReqds +0" in bulk, bulk
    assert any("1500-byte underlay, byte-for-byte" in line for line in lines)


@pytest.mark.lab
def test_the_isolation_check_fails_when_a_none_route_is_gone(azure_lab: Lab) -> None:
    router = router_namespace(_healthy(azure_lab))
    table = str(TABLES[next(t for t in TABLES if t.value == "monitor")])
    route = ["ip", "-n", router, "route", "replace"]
    subprocess.run([*route, "10.0.64.0/20", "dev", "rt-priv", "table", table], check=True)
    private = str(TABLES[next(t for t in TABLES if t.value == "private")])
    subprocess.run([*route, "10.0.128.0/20", "dev", "rt-mon", "table", private], check=True)
    try:
        results = fabric_isolates_the_tiers(azure_lab)
    finally:
        subprocess.run([*route, "blackhole", "10.0.64.0/20", "table", table], check=True)
        subprocess.run([*route, "blackhole", "10.0.128.0/20", "table", private], check=True)
    failed = [r for r in results if r.status is Status.FAIL]
    # The first pair through the opened routes fails; its own control puts the None routes back.
    assert [r.subject for r in failed] == ["sensor -> app"]
    assert "NOT dropped" in failed[0].detail


@pytest.mark.lab
def test_the_copies_check_fails_when_the_fabric_counts_as_a_hop(azure_lab: Lab) -> None:
    router = router_namespace(_healthy(azure_lab))
    ttl = ["iptables", "-t", "mangle"]
    rule = ["PREROUTING", "-j", "TTL", "--ttl-inc", "1"]
    run = ["ip", "netns", "exec", router]
    subprocess.run([*run, *ttl, "-D", *rule], check=True)
    try:
        results = one_armed_copies_are_byte_identical(azure_lab)
    finally:
        subprocess.run([*run, *ttl, "-A", *rule], check=True)
    # Each packet the app sends reaches the gateway one TTL lower than it left: not identical.
    assert [r.status for r in results] == [Status.FAIL]
    missing = re.search(r"(?<!\d)(\d+) missing", results[0].detail)
    assert missing is not None and int(missing.group(1)) > 0, results[0].detail


@pytest.mark.lab
def test_the_lab_command_runs_the_azure_stack_and_leaves_no_namespace(
    lab_environment: None,
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lab", "--stack", str(AZURE_DEV)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(the cloud's fabric)" in report[1]
    assert any("eth0 10.0.0.10/20 (one-armed)" in line for line in report)
    assert "0 failed" in report[-1]
    created = {line.split()[1] for line in report[1:8] if line.startswith("  ")}
    assert created and not created & machine_namespaces()
