"""The lab's addressing and its decision to run, skip or fail: pure, no root needed."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.errors import CloudtapInputError
from components.monitored_network import Cloud
from components.network_plan import NETWORK_FIELDS, Tier, plan_network
from lab import Host, plan_topology
from lab import lab as lab_module
from lab.stack import AWS_NETWORK_FIELDS, default_stack_path, load_plan, load_stack
from lab.topology import (
    GATEWAY_INTERFACES,
    INTERNET_MTU,
    MAX_INTERFACE_NAME,
    VPC_MTU,
    with_gateway_mirror,
)
from tests.lab.environment import AWS_DEV_STACK, ROOT, require_lab

AZURE_DEV_STACK = ROOT / "stacks" / "Pulumi.azure-dev.yaml"


def ip(text: str) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(text)


def test_aws_dev_lab_puts_the_app_on_the_first_port_forward_server() -> None:
    topology = plan_topology(load_plan(AWS_DEV_STACK))
    assert topology.address(Host.APP) == ip("10.0.64.10")
    assert topology.address(Host.GATEWAY) == ip("10.0.0.10")
    assert topology.address(Host.INTERNET) == ip("203.0.113.10")
    assert topology.gateway_default_route == ip("10.0.0.1")
    assert topology.address(Host.SENSOR) == ip("10.0.128.10")
    assert topology.address(Host.MANAGEMENT) == ip("10.0.192.10")


def test_without_port_forwards_the_app_is_private_dot_10() -> None:
    topology = plan_topology(plan_network({"cidr_block": "10.8.0.0/16"}))
    assert topology.address(Host.APP) == ip("10.8.64.10")


def test_inner_hosts_route_through_the_gateways_router_address_on_their_tier() -> None:
    topology = plan_topology(plan_network())
    for tier, host in ((Tier.PRIVATE, Host.APP), (Tier.MONITOR, Host.SENSOR)):
        link = topology.link(tier)
        assert link.host is host
        assert link.host_default_route == topology.gateway_address(tier)
        assert topology.gateway_address(tier) == topology.plan.subnets[tier][0][1]
    assert topology.link(Tier.PUBLIC).host_default_route is None  # the internet routes nothing


def test_gateway_interfaces_are_not_eth_style_and_fit_the_kernels_limit() -> None:
    topology = plan_topology(plan_network())
    names = [link.gateway_interface for link in topology.links]
    assert names == [GATEWAY_INTERFACES[tier] for tier in Tier]
    assert not any(name.startswith("eth") for name in names)
    assert all(len(name) <= MAX_INTERFACE_NAME for name in names)


def test_servers_in_another_zone_bring_their_subnet_onto_the_app_link() -> None:
    plan = plan_network(
        {
            "port_forwards": [
                {"public_port": 80, "private_host": "10.0.80.20"},
                {"public_port": 443, "private_host": "10.0.64.30"},
            ]
        }
    )
    link = plan_topology(plan).link(Tier.PRIVATE)
    assert [str(a) for a in link.host_addresses] == ["10.0.80.20/20", "10.0.64.30/20"]
    assert [str(a) for a in link.gateway_addresses] == ["10.0.80.1/20", "10.0.64.1/20"]
    assert link.host_default_route == ip("10.0.80.1")


def test_the_lab_always_mirrors_and_keeps_a_mirror_the_stack_sets() -> None:
    plan = plan_network()
    assert plan.gateway_mirror is None
    mirrored = with_gateway_mirror(plan)
    assert mirrored.gateway_mirror is not None
    assert mirrored.gateway_mirror.sensor_address == ip("10.0.128.10")
    assert plan_topology(plan).plan == mirrored
    own = plan_network({"gateway_mirror": {"mode": "tee", "vni": 9}})
    assert with_gateway_mirror(own) is own


def test_the_sensor_sits_at_the_mirrors_sensor_address_in_its_own_subnet() -> None:
    topology = plan_topology(plan_network({"gateway_mirror": {"sensor_address": "10.0.144.20"}}))
    link = topology.link(Tier.MONITOR)
    assert [str(a) for a in link.host_addresses] == ["10.0.144.20/20"]
    assert [str(a) for a in link.gateway_addresses] == ["10.0.144.1/20"]
    assert topology.address(Host.SENSOR) == ip("10.0.144.20")


def test_links_inside_the_network_carry_jumbo_frames_and_the_internet_link_does_not() -> None:
    topology = plan_topology(plan_network())
    mtus = {link.tier: link.mtu for link in topology.links}
    assert mtus == {
        Tier.PUBLIC: INTERNET_MTU,
        Tier.PRIVATE: VPC_MTU,
        Tier.MONITOR: VPC_MTU,
        Tier.MANAGEMENT: VPC_MTU,
    }
    assert VPC_MTU == 9001


def test_the_gateways_addresses_are_listed_for_every_link() -> None:
    addresses = plan_topology(plan_network()).gateway_addresses
    assert addresses == (ip("10.0.0.10"), ip("10.0.64.1"), ip("10.0.128.1"), ip("10.0.192.1"))


def test_namespace_prefixes_are_random_and_short() -> None:
    prefixes = {lab_module._new_prefix() for _ in range(20)}
    assert len(prefixes) > 1
    assert all(len(f"{prefix}sensor") <= MAX_INTERFACE_NAME for prefix in prefixes)


def test_the_default_stack_is_the_repositorys_aws_dev_stack() -> None:
    assert default_stack_path() == AWS_DEV_STACK


def test_a_stack_without_network_config_plans_the_defaults(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.empty.yaml"
    stack.write_text("config:\n  aws:region: eu-west-1\n")
    assert load_plan(stack) == plan_network()


def test_unknown_network_fields_are_refused(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.typo.yaml"
    stack.write_text("config:\n  cloudtap:network:\n    port_forward: []\n")
    with pytest.raises(CloudtapInputError, match=r"cloudtap:network\.port_forward"):
        load_plan(stack)


def test_the_labs_aws_network_fields_are_what_monitored_vpc_takes_beyond_network_args() -> None:
    from components.aws.monitored_vpc import MonitoredVpcArgs  # noqa: PLC0415 - pulumi-aws

    assert set(MonitoredVpcArgs.__annotations__) - NETWORK_FIELDS == AWS_NETWORK_FIELDS


def test_reading_a_stack_file_imports_no_cloud_sdk() -> None:
    program = (
        "import sys; from lab.stack import load_stack; from lab import cli; "
        f"load_stack(__import__('pathlib').Path({str(AWS_DEV_STACK)!r})); "
        f"load_stack(__import__('pathlib').Path({str(AZURE_DEV_STACK)!r})); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pulumi', 'pulumi_aws', 'pulumi_azure_native', 'pulumi_openstack', 'boto3', "
        "'botocore', 'openstack')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        cwd=AWS_DEV_STACK.parents[1],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("path", sorted(AWS_DEV_STACK.parent.glob("Pulumi.*.yaml")), ids=str)
def test_every_example_stack_is_accepted(path: Path) -> None:
    """A stack without ``cloudtap:network`` (existing interfaces mirrored to an existing
    sensor) gets the default network; one with it gets its own addressing; the azure ones get
    the Azure shape (one subnet per tier, a one-armed gateway)."""
    stack = load_stack(path)
    network = (yaml.safe_load(path.read_text(encoding="utf-8"))["config"]).get("cloudtap:network")
    assert str(stack.plan.cidr_block) == (network or {}).get("cidr_block", "10.0.0.0/16")
    # OpenStack and Azure default to one zone (their networks span zones).
    if network is None and stack.cloud not in (Cloud.OPENSTACK, Cloud.AZURE):
        assert stack.plan == plan_network()
    if stack.cloud is not None and stack.cloud.value == "azure":
        assert stack.one_armed and stack.plan.availability_zone_count == 1


def test_an_unknown_cloud_is_refused(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.gcp.yaml"
    stack.write_text("config:\n  cloudtap:cloud: gcp\n")
    with pytest.raises(CloudtapInputError, match=r"cloudtap:cloud: .*'aws', 'azure', 'openstack'"):
        load_stack(stack)


def test_an_aws_field_needs_the_stack_to_say_it_is_aws(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.nocloud.yaml"
    stack.write_text("config:\n  cloudtap:network:\n    gateway_instance_type: t3.micro\n")
    with pytest.raises(CloudtapInputError, match=r"cloudtap:network\.gateway_instance_type"):
        load_stack(stack)


def test_errors_inside_the_network_are_named_from_the_stack_key(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.bad.yaml"
    stack.write_text(
        "config:\n  cloudtap:cloud: aws\n  cloudtap:network:\n    cidr_block: 10.0.0.1/16\n"
    )
    with pytest.raises(CloudtapInputError, match=r"^cloudtap:network\.cidr_block: "):
        load_stack(stack)


def test_without_root_the_lab_says_it_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert lab_module.unavailable_reason() == (
        "the lab needs root to create network namespaces and nftables rules"
    )


def test_a_missing_tool_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", lambda tool: None if tool == "nft" else "/bin/x")
    reason = lab_module.unavailable_reason()
    assert reason == "the lab needs nft on PATH (apt-get install nftables)"


def test_lab_tests_skip_where_the_lab_cannot_run() -> None:
    with pytest.raises(pytest.skip.Exception, match="needs root"):
        require_lab("the lab needs root", {})
    with pytest.raises(pytest.skip.Exception):
        require_lab("the lab needs root", {"CI": "false"})


def test_lab_tests_fail_under_ci_where_the_lab_cannot_run() -> None:
    with pytest.raises(pytest.fail.Exception, match="must run under CI=true, but the lab needs"):
        require_lab("the lab needs root", {"CI": "true"})


def test_lab_tests_run_where_the_lab_can() -> None:
    require_lab(None, {"CI": "true"})


@pytest.mark.parametrize("protocol", ["tcp", "udp"])
def test_the_probe_reports_the_peer_address_with_only_the_standard_library(protocol: str) -> None:
    """Loopback, no namespaces: the probe runs as the lab runs it, ``python -I -S probe.py``."""
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as spare:
        spare.bind(("127.0.0.1", 0))
        port = str(spare.getsockname()[1])
    probe = [sys.executable, "-I", "-S", str(lab_module.PROBE)]
    common = ["--protocol", protocol, "--address", "127.0.0.1", "--port", port]
    listener = subprocess.Popen([*probe, "listen", *common], stdout=subprocess.PIPE, text=True)
    try:
        assert listener.stdout is not None
        assert json.loads(listener.stdout.readline())["event"] == "ready"
        client = subprocess.run(
            [*probe, "connect", *common, "--source", "127.0.0.1", "--timeout", "5"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert client.returncode == 0, client.stdout + client.stderr
        assert json.loads(client.stdout) == {"error": None, "ok": True, "seen": "127.0.0.1"}
        peer = json.loads(listener.stdout.readline())
        assert (peer["event"], peer["address"]) == ("peer", "127.0.0.1")
    finally:
        listener.kill()
        listener.wait(10)
