"""A catalogue of wrong stack files, the way new users write them, across the three clouds.

Each case is a whole stack configuration: one of the example stacks in ``stacks/`` with one
mistake made in it (a wrong type, a typo at some level, a value out of range, a bad CIDR, or a
hostile string in a field that reaches a script, a settings file or a resource name). The test
(``tests/test_bad_stacks.py``) runs the real program on each under the strict mocks.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent

DELETE = object()
"""As a value: remove the key instead of setting it."""


@dataclass(frozen=True)
class BadStack:
    id: str
    config: dict[str, Any]
    field: str
    """The field path the error must name, from the stack key down."""
    hostile: str | None = None
    """Text that must never reach a registered resource's inputs."""

    @property
    def cloud(self) -> str:
        return str(self.config.get("cloudtap:cloud"))


def example(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{name}.yaml").read_text())
    config: dict[str, Any] = loaded["config"]
    return config


_STEP = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]")


def _steps(path: str) -> list[str | int]:
    """``cloudtap:mirror.sources[0].name`` -> ["cloudtap:mirror", "sources", 0, "name"]."""
    key, _, rest = path.partition(".")
    if "[" in key:
        key, bracket, tail = key.partition("[")
        rest = bracket + tail + ("." + rest if rest else "")
    steps: list[str | int] = [key]
    position = 0
    while position < len(rest):
        match = _STEP.match(rest, position)
        if match is None:
            raise ValueError(f"bad path {path!r} at {rest[position:]!r}")
        steps.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        position = match.end()
    return steps


def with_value(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``base`` with the value at ``path`` set (``DELETE``: removed)."""
    config = copy.deepcopy(base)
    steps = _steps(path)
    node: Any = config
    for step, following in itertools.pairwise(steps):
        if isinstance(step, str) and node.get(step) is None:
            node[step] = [] if isinstance(following, int) else {}
        node = node[step]
    last = steps[-1]
    if value is DELETE:
        del node[last]
    elif isinstance(last, int) and last == len(node):
        node.append(copy.deepcopy(value))
    else:
        node[last] = copy.deepcopy(value)
    return config


AWS_DEV = example("aws-dev")
AWS_GATEWAY = example("aws-gateway")
AZURE_DEV = example("azure-dev")
OPENSTACK_DEV = example("openstack-dev")
AWS_FULL = example("aws-dev")
"""aws-dev with every optional field a catalogue case changes written out with a good value."""
AWS_FULL["cloudtap:network"].update(
    availability_zones=["eu-west-1a", "eu-west-1b"],
    gateway_instance_type="t3.small",
    gateway_ami_id="ami-0123456789abcdef0",
    management_cidrs=["10.9.0.0/16"],
    tags={"team": "netsec"},
)
AWS_FULL["cloudtap:sensor"].update(
    capture_interface="ids0",
    log_mount_point="/var/log/ids",
    feeds=["vxlan", "gre"],
    feed_source_cidrs=["10.0.0.0/16"],
    health_check_cidrs=["10.0.0.0/20"],
    instance_type="c5n.large",
    private_ip="10.0.128.10",
    tags={"team": "netsec"},
)
AWS_FULL["cloudtap:mirror"].update(
    target={"network_interface_id": "eni-0123456789abcdef9"}, tags={"team": "netsec"}
)
BASES = {
    "aws-dev": AWS_DEV,
    "aws-full": AWS_FULL,
    "aws-gateway": AWS_GATEWAY,
    "azure-dev": AZURE_DEV,
    "openstack-dev": OPENSTACK_DEV,
}

# -- wrong types, typos, ranges, CIDRs: (base, path, value, the field the error names) -----------

MISTAKES: list[tuple[str, str, Any, str]] = [
    # the stack keys themselves
    ("aws-dev", "cloudtap:netwrok", {"cidr_block": "10.0.0.0/16"}, "cloudtap:netwrok"),
    ("aws-dev", "cloudtap:sensors", {}, "cloudtap:sensors"),
    ("aws-dev", "cloudtap:Mirror", {}, "cloudtap:Mirror"),
    ("aws-dev", "cloudtap:region", "eu-west-1", "cloudtap:region"),
    ("azure-dev", "cloudtap:location", "westeurope", "cloudtap:location"),
    ("aws-dev", "cloudtap:network", "10.0.0.0/16", "cloudtap:network"),
    ("aws-dev", "cloudtap:network", ["10.0.0.0/16"], "cloudtap:network"),
    ("aws-dev", "cloudtap:sensor", "c5n.large", "cloudtap:sensor"),
    ("aws-dev", "cloudtap:sensor", 1, "cloudtap:sensor"),
    ("aws-dev", "cloudtap:mirror", ["native"], "cloudtap:mirror"),
    ("aws-dev", "cloudtap:cloud", "gcp", "cloudtap:cloud"),
    ("aws-dev", "cloudtap:cloud", "Aws", "cloudtap:cloud"),
    ("aws-dev", "cloudtap:cloud", DELETE, "cloudtap:cloud"),
    ("azure-dev", "cloudtap:mirror", DELETE, "cloudtap:mirror"),
    ("openstack-dev", "cloudtap:network", {}, "cloudtap:network"),
    ("azure-dev", "cloudtap:sensor", {}, "cloudtap:sensor"),
    # network: typos at every level
    ("aws-dev", "cloudtap:network.cidr", "10.0.0.0/16", "cloudtap:network.cidr"),
    (
        "aws-dev",
        "cloudtap:network.port_forwards[0].port",
        3389,
        "cloudtap:network.port_forwards[0].port",
    ),
    (
        "aws-dev",
        "cloudtap:network.gateway_mirror",
        {"sensor": "10.0.128.10"},
        "cloudtap:network.gateway_mirror.sensor",
    ),
    (
        "aws-dev",
        "cloudtap:network.subnet_cidrs",
        {"publc": ["10.0.0.0/20"]},
        "cloudtap:network.subnet_cidrs.publc",
    ),
    # network: types
    ("aws-dev", "cloudtap:network.cidr_block", 10, "cloudtap:network.cidr_block"),
    ("aws-dev", "cloudtap:network.cidr_block", ["10.0.0.0/16"], "cloudtap:network.cidr_block"),
    (
        "aws-dev",
        "cloudtap:network.availability_zone_count",
        "2",
        "cloudtap:network.availability_zone_count",
    ),
    (
        "aws-dev",
        "cloudtap:network.availability_zone_count",
        True,
        "cloudtap:network.availability_zone_count",
    ),
    (
        "aws-dev",
        "cloudtap:network.availability_zone_count",
        2.5,
        "cloudtap:network.availability_zone_count",
    ),
    (
        "aws-dev",
        "cloudtap:network.port_forwards",
        {"protocol": "tcp"},
        "cloudtap:network.port_forwards",
    ),
    (
        "aws-dev",
        "cloudtap:network.port_forwards[0]",
        "tcp:3389",
        "cloudtap:network.port_forwards[0]",
    ),
    (
        "aws-dev",
        "cloudtap:network.port_forwards[0].public_port",
        "3389",
        "cloudtap:network.port_forwards[0].public_port",
    ),
    (
        "aws-dev",
        "cloudtap:network.management_cidrs",
        "10.9.0.0/16",
        "cloudtap:network.management_cidrs",
    ),
    ("aws-dev", "cloudtap:network.tags", ["project"], "cloudtap:network.tags"),
    ("aws-dev", "cloudtap:network.tags", {"project": 7}, "cloudtap:network.tags.project"),
    ("aws-dev", "cloudtap:network.gateway_mirror", "on", "cloudtap:network.gateway_mirror"),
    ("aws-dev", "cloudtap:network.gateway_mirror", True, "cloudtap:network.gateway_mirror"),
    # network: ranges and CIDRs
    ("aws-full", "cloudtap:network.cidr_block", "10.0.0.0/33", "cloudtap:network.cidr_block"),
    ("aws-full", "cloudtap:network.cidr_block", "10.0.0.1/16", "cloudtap:network.cidr_block"),
    ("aws-full", "cloudtap:network.cidr_block", "10.0.0.0/8", "cloudtap:network.cidr_block"),
    ("aws-full", "cloudtap:network.cidr_block", "10.0.0.0/29", "cloudtap:network.cidr_block"),
    ("aws-full", "cloudtap:network.cidr_block", "fd00::/48", "cloudtap:network.cidr_block"),
    ("aws-full", "cloudtap:network.cidr_block", "10.0.0.0", "cloudtap:network.cidr_block"),
    (
        "aws-dev",
        "cloudtap:network.availability_zone_count",
        0,
        "cloudtap:network.availability_zone_count",
    ),
    (
        "aws-dev",
        "cloudtap:network.availability_zone_count",
        7,
        "cloudtap:network.availability_zone_count",
    ),
    (
        "aws-dev",
        "cloudtap:network.availability_zone_count",
        4,
        "cloudtap:network.availability_zone_count",
    ),
    (
        "aws-dev",
        "cloudtap:network.subnet_prefix_length",
        29,
        "cloudtap:network.subnet_prefix_length",
    ),
    (
        "aws-dev",
        "cloudtap:network.subnet_prefix_length",
        16,
        "cloudtap:network.subnet_prefix_length",
    ),
    (
        "aws-dev",
        "cloudtap:network.port_forwards[0].public_port",
        22,
        "cloudtap:network.port_forwards[0].public_port",
    ),
    (
        "aws-dev",
        "cloudtap:network.port_forwards[0].public_port",
        0,
        "cloudtap:network.port_forwards[0].public_port",
    ),
    (
        "aws-dev",
        "cloudtap:network.port_forwards[0].public_port",
        65536,
        "cloudtap:network.port_forwards[0].public_port",
    ),
    (
        "aws-dev",
        "cloudtap:network.port_forwards[0].private_port",
        -1,
        "cloudtap:network.port_forwards[0].private_port",
    ),
    (
        "aws-dev",
        "cloudtap:network.port_forwards[0].protocol",
        "icmp",
        "cloudtap:network.port_forwards[0].protocol",
    ),
    (
        "aws-dev",
        "cloudtap:network.port_forwards[0].protocol",
        "TCP",
        "cloudtap:network.port_forwards[0].protocol",
    ),
    (
        "aws-dev",
        "cloudtap:network.port_forwards[0].private_host",
        "10.0.128.10",
        "cloudtap:network.port_forwards[0].private_host",
    ),
    (
        "aws-dev",
        "cloudtap:network.port_forwards[0].private_host",
        "10.0.64.0",
        "cloudtap:network.port_forwards[0].private_host",
    ),
    (
        "aws-dev",
        "cloudtap:network.port_forwards[0].private_host",
        "8.8.8.8",
        "cloudtap:network.port_forwards[0].private_host",
    ),
    (
        "aws-dev",
        "cloudtap:network.port_forwards[0].private_host",
        DELETE,
        "cloudtap:network.port_forwards[0].private_host",
    ),
    (
        "aws-dev",
        "cloudtap:network.management_cidrs",
        ["0.0.0.0/0"],
        "cloudtap:network.management_cidrs[0]",
    ),
    (
        "aws-dev",
        "cloudtap:network.management_cidrs",
        ["10.9.0.1/16"],
        "cloudtap:network.management_cidrs[0]",
    ),
    (
        "aws-dev",
        "cloudtap:network.subnet_cidrs",
        {"public": ["10.0.0.0/20"]},
        "cloudtap:network.subnet_cidrs.public",
    ),
    (
        "aws-dev",
        "cloudtap:network.gateway_mirror",
        {"vni": 0},
        "cloudtap:network.gateway_mirror.vni",
    ),
    (
        "aws-dev",
        "cloudtap:network.gateway_mirror",
        {"vni": 16777216},
        "cloudtap:network.gateway_mirror.vni",
    ),
    (
        "aws-dev",
        "cloudtap:network.gateway_mirror",
        {"clamp_mss": "1410"},
        "cloudtap:network.gateway_mirror.clamp_mss",
    ),
    (
        "aws-dev",
        "cloudtap:network.gateway_mirror",
        {"clamp_mss": 535},
        "cloudtap:network.gateway_mirror.clamp_mss",
    ),
    (
        "aws-dev",
        "cloudtap:network.gateway_mirror",
        {"clamp_mss": 1410.5},
        "cloudtap:network.gateway_mirror.clamp_mss",
    ),
    (
        "aws-dev",
        "cloudtap:network.gateway_mirror",
        {"mode": "tee", "clamp_mss": True},
        "cloudtap:network.gateway_mirror.clamp_mss",
    ),
    (
        "aws-dev",
        "cloudtap:network.gateway_mirror",
        {"mode": "span"},
        "cloudtap:network.gateway_mirror.mode",
    ),
    (
        "aws-dev",
        "cloudtap:network.gateway_mirror",
        {"heartbeat_interval": 0},
        "cloudtap:network.gateway_mirror.heartbeat_interval",
    ),
    (
        "aws-dev",
        "cloudtap:network.gateway_mirror",
        {"heartbeat_interval": 3601},
        "cloudtap:network.gateway_mirror.heartbeat_interval",
    ),
    (
        "aws-dev",
        "cloudtap:network.gateway_mirror",
        {"heartbeat_interval": "10"},
        "cloudtap:network.gateway_mirror.heartbeat_interval",
    ),
    (
        "aws-dev",
        "cloudtap:network.gateway_mirror",
        {"heartbeat_interval": True},
        "cloudtap:network.gateway_mirror.heartbeat_interval",
    ),
    (
        "aws-dev",
        "cloudtap:network.gateway_mirror",
        {"mode": "tee"},
        "cloudtap:network.gateway_mirror.mode",
    ),
    (
        "aws-dev",
        "cloudtap:network.gateway_mirror",
        {"sensor_address": "10.0.64.10"},
        "cloudtap:network.gateway_mirror.sensor_address",
    ),
    (
        "aws-dev",
        "cloudtap:network.availability_zones",
        ["eu-west-1a"],
        "cloudtap:network.availability_zones",
    ),
    (
        "aws-dev",
        "cloudtap:network.availability_zones",
        ["eu-west-1a", "eu-west-1a"],
        "cloudtap:network.availability_zones[1]",
    ),
    (
        "aws-dev",
        "cloudtap:network.availability_zones",
        ["us-east-1a", "us-east-1b"],
        "cloudtap:network.availability_zones[0]",
    ),
    (
        "aws-dev",
        "cloudtap:network.availability_zones",
        ["eu-west-1a", "eu-west-1z"],
        "cloudtap:network.availability_zones[1]",
    ),
    (
        "aws-full",
        "cloudtap:network.gateway_instance_type",
        "m5.superlarge",
        "cloudtap:network.gateway_instance_type",
    ),
    (
        "aws-full",
        "cloudtap:network.gateway_instance_type",
        "t3small",
        "cloudtap:network.gateway_instance_type",
    ),
    (
        "aws-full",
        "cloudtap:network.gateway_instance_type",
        "T3.small",
        "cloudtap:network.gateway_instance_type",
    ),
    ("aws-full", "cloudtap:network.gateway_ami_id", "ami-123", "cloudtap:network.gateway_ami_id"),
    ("aws-dev", "cloudtap:network.gateway_key_name", "", "cloudtap:network.gateway_key_name"),
    ("aws-dev", "cloudtap:network.tags", {"aws:owner": "me"}, "cloudtap:network.tags.aws:owner"),
    ("aws-dev", "cloudtap:network.tags", {"Name": "gw"}, "cloudtap:network.tags.Name"),
    ("aws-dev", "cloudtap:network.tags", {"team": "a#b"}, "cloudtap:network.tags.team"),
    ("aws-dev", "cloudtap:network.tags", {"team": "x" * 257}, "cloudtap:network.tags.team"),
    ("aws-dev", "cloudtap:network.tags", {"k" * 129: "v"}, "cloudtap:network.tags"),
    # sensor
    ("aws-dev", "cloudtap:sensor.instance", "c5n.large", "cloudtap:sensor.instance"),
    ("aws-dev", "cloudtap:sensor.network", "vpc-1", "cloudtap:sensor.network"),
    ("aws-full", "cloudtap:sensor.instance_type", "m5.superlarge", "cloudtap:sensor.instance_type"),
    ("aws-dev", "cloudtap:sensor.instance_type", 5, "cloudtap:sensor.instance_type"),
    ("aws-dev", "cloudtap:sensor.log_volume_size_gb", 0, "cloudtap:sensor.log_volume_size_gb"),
    ("aws-dev", "cloudtap:sensor.log_volume_size_gb", 20000, "cloudtap:sensor.log_volume_size_gb"),
    ("aws-dev", "cloudtap:sensor.log_volume_size_gb", "500", "cloudtap:sensor.log_volume_size_gb"),
    ("aws-dev", "cloudtap:sensor.feeds", "vxlan", "cloudtap:sensor.feeds"),
    ("aws-dev", "cloudtap:sensor.feeds", [], "cloudtap:sensor.feeds"),
    ("aws-dev", "cloudtap:sensor.feeds", ["vxlan", "sflow"], "cloudtap:sensor.feeds[1]"),
    (
        "aws-dev",
        "cloudtap:sensor.feed_source_cidrs",
        ["0.0.0.0/0"],
        "cloudtap:sensor.feed_source_cidrs[0]",
    ),
    ("aws-dev", "cloudtap:sensor.feed_source_cidrs", [], "cloudtap:sensor.feed_source_cidrs"),
    (
        "aws-dev",
        "cloudtap:sensor.feed_source_cidrs",
        ["10.0.0.0/33"],
        "cloudtap:sensor.feed_source_cidrs[0]",
    ),
    ("aws-dev", "cloudtap:sensor.health_port", 22, "cloudtap:sensor.health_port"),
    ("aws-dev", "cloudtap:sensor.health_port", 0, "cloudtap:sensor.health_port"),
    ("aws-dev", "cloudtap:sensor.health_port", 65536, "cloudtap:sensor.health_port"),
    ("aws-dev", "cloudtap:sensor.health_port", "8480", "cloudtap:sensor.health_port"),
    ("aws-dev", "cloudtap:sensor.health_port", True, "cloudtap:sensor.health_port"),
    (
        "aws-dev",
        "cloudtap:sensor.health_check_cidrs",
        ["0.0.0.0/0"],
        "cloudtap:sensor.health_check_cidrs[0]",
    ),
    ("aws-dev", "cloudtap:sensor.health_check_cidrs", [], "cloudtap:sensor.health_check_cidrs"),
    (
        "aws-dev",
        "cloudtap:sensor.health_check_cidrs",
        "10.0.0.0/16",
        "cloudtap:sensor.health_check_cidrs",
    ),
    (
        "aws-dev",
        "cloudtap:sensor.health_check_cidrs",
        ["10.0.0.1/16"],
        "cloudtap:sensor.health_check_cidrs[0]",
    ),
    ("aws-dev", "cloudtap:sensor.capture_mtu", 1000, "cloudtap:sensor.capture_mtu"),
    ("aws-dev", "cloudtap:sensor.capture_mtu", 70000, "cloudtap:sensor.capture_mtu"),
    (
        "aws-full",
        "cloudtap:sensor.capture_interface",
        "a-very-long-interface-name",
        "cloudtap:sensor.capture_interface",
    ),
    ("aws-full", "cloudtap:sensor.capture_interface", "", "cloudtap:sensor.capture_interface"),
    ("aws-dev", "cloudtap:sensor.ids_packages", "suricata", "cloudtap:sensor.ids_packages"),
    (
        "aws-full",
        "cloudtap:sensor.log_mount_point",
        "var/log/cloudtap",
        "cloudtap:sensor.log_mount_point",
    ),
    ("aws-full", "cloudtap:sensor.log_mount_point", "/", "cloudtap:sensor.log_mount_point"),
    (
        "aws-full",
        "cloudtap:sensor.log_mount_point",
        "/var/log/../../etc",
        "cloudtap:sensor.log_mount_point",
    ),
    ("aws-full", "cloudtap:sensor.private_ip", "10.0.64.10", "cloudtap:sensor.private_ip"),
    ("aws-full", "cloudtap:sensor.private_ip", "10.0.128.1", "cloudtap:sensor.private_ip"),
    (
        "aws-dev",
        "cloudtap:sensor.availability_zone_index",
        2,
        "cloudtap:sensor.availability_zone_index",
    ),
    (
        "aws-dev",
        "cloudtap:sensor.availability_zone_index",
        -1,
        "cloudtap:sensor.availability_zone_index",
    ),
    ("aws-dev", "cloudtap:sensor.ami_id", "ami-xyz", "cloudtap:sensor.ami_id"),
    ("aws-dev", "cloudtap:sensor.tags", {"Name": "s"}, "cloudtap:sensor.tags.Name"),
    # mirror (aws)
    ("aws-dev", "cloudtap:mirror.methd", "native", "cloudtap:mirror.methd"),
    ("aws-dev", "cloudtap:mirror.method", "span", "cloudtap:mirror.method"),
    ("aws-dev", "cloudtap:mirror.method", "Native", "cloudtap:mirror.method"),
    ("aws-dev", "cloudtap:mirror.sources", [], "cloudtap:mirror.sources"),
    ("aws-dev", "cloudtap:mirror.sources", {"name": "x"}, "cloudtap:mirror.sources"),
    ("aws-dev", "cloudtap:mirror.sources", DELETE, "cloudtap:mirror.sources"),
    (
        "aws-dev",
        "cloudtap:mirror.sources[0].eni",
        ["eni-0123456789abcdef0"],
        "cloudtap:mirror.sources[0].eni",
    ),
    (
        "aws-dev",
        "cloudtap:mirror.sources[0].network_interface_ids",
        "eni-0123456789abcdef0",
        "cloudtap:mirror.sources[0].network_interface_ids",
    ),
    (
        "aws-dev",
        "cloudtap:mirror.sources[0].network_interface_ids",
        ["eni-12"],
        "cloudtap:mirror.sources[0].network_interface_ids[0]",
    ),
    (
        "aws-dev",
        "cloudtap:mirror.sources[0].instance_type",
        "t2.micro",
        "cloudtap:mirror.sources[0].instance_type",
    ),
    (
        "aws-dev",
        "cloudtap:mirror.sources[0].instance_type",
        "m5.superlarge",
        "cloudtap:mirror.sources[0].instance_type",
    ),
    ("aws-dev", "cloudtap:mirror.target", "sensor", "cloudtap:mirror.target"),
    (
        "aws-dev",
        "cloudtap:mirror.target",
        {"network_interface_id": "eni-1"},
        "cloudtap:mirror.target.network_interface_id",
    ),
    (
        "aws-dev",
        "cloudtap:mirror.target",
        {"sensor": "cloudtap-sensor"},
        "cloudtap:mirror.target.sensor",
    ),
    ("aws-dev", "cloudtap:mirror.session_number", 0, "cloudtap:mirror.session_number"),
    ("aws-dev", "cloudtap:mirror.session_number", 32767, "cloudtap:mirror.session_number"),
    (
        "aws-dev",
        "cloudtap:mirror.virtual_network_id",
        16777216,
        "cloudtap:mirror.virtual_network_id",
    ),
    ("aws-dev", "cloudtap:mirror.packet_length", 9000, "cloudtap:mirror.packet_length"),
    (
        "aws-dev",
        "cloudtap:mirror.filter_presets",
        ["drop_dns"],
        "cloudtap:mirror.filter_presets[0]",
    ),
    (
        "aws-dev",
        "cloudtap:mirror.existing_sessions_per_eni",
        3,
        "cloudtap:mirror.sources[0].network_interface_ids[0]",
    ),
    (
        "aws-dev",
        "cloudtap:mirror.existing_sessions_per_eni",
        -1,
        "cloudtap:mirror.existing_sessions_per_eni",
    ),
    ("aws-dev", "cloudtap:mirror.network", "vpc-1", "cloudtap:mirror.network"),
    ("aws-gateway", "cloudtap:network.gateway_mirror", DELETE, "cloudtap:network.gateway_mirror"),
    ("aws-gateway", "cloudtap:mirror.method", "native", "cloudtap:mirror.sources[0].instance_type"),
    # azure
    ("azure-dev", "cloudtap:mirror.target", {}, "cloudtap:mirror.target"),
    (
        "azure-dev",
        "cloudtap:mirror.target.network_interface_ip_configuration_id",
        "/subscriptions/x",
        "cloudtap:mirror.target.network_interface_ip_configuration_id",
    ),
    (
        "azure-dev",
        "cloudtap:mirror.sources[0].network_interface_id",
        "web-vm-nic",
        "cloudtap:mirror.sources[0].network_interface_id",
    ),
    ("azure-dev", "cloudtap:mirror.sources[0].nic", "web-vm-nic", "cloudtap:mirror.sources[0].nic"),
    ("azure-dev", "cloudtap:mirror.sources", [], "cloudtap:mirror.sources"),
    ("azure-dev", "cloudtap:mirror.method", "gateway", "cloudtap:mirror.method"),
    ("azure-dev", "cloudtap:mirror.destination_port", 0, "cloudtap:mirror.destination_port"),
    ("azure-dev", "cloudtap:mirror.attach_sources", "yes", "cloudtap:mirror.attach_sources"),
    ("azure-dev", "cloudtap:mirror.session_number", 1, "cloudtap:mirror.session_number"),
    ("azure-dev", "cloudtap:mirror.tags", {"a<b": "x"}, "cloudtap:mirror.tags"),
    ("azure-dev", "cloudtap:mirror.tags", {"team": "x" * 257}, "cloudtap:mirror.tags.team"),
    ("azure-dev", "cloudtap:mirror.location", "West Europe!", "cloudtap:mirror.location"),
    ("azure-dev", "azure-native:location", DELETE, "cloudtap:mirror.location"),
    # openstack
    ("openstack-dev", "cloudtap:mirror.target", {}, "cloudtap:mirror.target"),
    (
        "openstack-dev",
        "cloudtap:mirror.target.sensor_ip",
        "10.0.128.300",
        "cloudtap:mirror.target.sensor_ip",
    ),
    (
        "openstack-dev",
        "cloudtap:mirror.target.sensor_ip",
        "224.0.0.1",
        "cloudtap:mirror.target.sensor_ip",
    ),
    (
        "openstack-dev",
        "cloudtap:mirror.sources[0].port_id",
        "5b0d3c1e",
        "cloudtap:mirror.sources[0].port_id",
    ),
    (
        "openstack-dev",
        "cloudtap:mirror.sources[0].port",
        "5b0d3c1e",
        "cloudtap:mirror.sources[0].port",
    ),
    (
        "openstack-dev",
        "cloudtap:mirror.sources[1].port_id",
        "5b0d3c1e-7a2f-4c8e-9d61-2f4a8b7c6e01",
        "cloudtap:mirror.sources[1].port_id",
    ),
    ("openstack-dev", "cloudtap:mirror.mirror_type", "erspan", "cloudtap:mirror.mirror_type"),
    ("openstack-dev", "cloudtap:mirror.backend", "taas", "cloudtap:mirror.backend"),
    ("openstack-dev", "cloudtap:mirror.direction", "both", "cloudtap:mirror.direction"),
    ("openstack-dev", "cloudtap:mirror.first_tunnel_id", -1, "cloudtap:mirror.first_tunnel_id"),
    ("openstack-dev", "cloudtap:mirror.first_tunnel_id", "1", "cloudtap:mirror.first_tunnel_id"),
    (
        "openstack-dev",
        "cloudtap:mirror.first_tunnel_id",
        4294967295,
        "cloudtap:mirror.first_tunnel_id",
    ),
    ("openstack-dev", "cloudtap:mirror.vlan_filter", "1-5", "cloudtap:mirror.vlan_filter"),
    ("openstack-dev", "cloudtap:mirror.method", "auto", "cloudtap:mirror.method"),
    (
        "openstack-dev",
        "cloudtap:mirror.sources[0].direction",
        "SIDEWAYS",
        "cloudtap:mirror.sources[0].direction",
    ),
]

# -- hostile strings in every field that reaches a script, a settings file or a resource name ----

HOSTILE = {
    "command": "$(touch /tmp/cloudtap-pwned)",
    "backticks": "`touch /tmp/cloudtap-pwned`",
    "quote": '"; touch /tmp/cloudtap-pwned; "',
    "newline": "ok\ntouch /tmp/cloudtap-pwned",
    "space": "a b",
}
"""Every one of these must be refused by each field of ``SHAPED_FIELDS``."""

_ANCHOR = {
    "trailing-newline": "\n",
}
"""Appended to a value that is otherwise right: ``re.match`` with ``$`` would let it through."""

SHAPED_FIELDS: list[tuple[str, str, str]] = [
    # (base, path, a good value of the field to append the anchor cases to)
    ("aws-full", "cloudtap:network.cidr_block", "10.0.0.0/16"),
    ("aws-dev", "cloudtap:network.port_forwards[0].protocol", "tcp"),
    ("aws-dev", "cloudtap:network.port_forwards[0].private_host", "10.0.64.10"),
    ("aws-full", "cloudtap:network.management_cidrs[0]", "10.9.0.0/16"),
    ("aws-gateway", "cloudtap:network.gateway_mirror.sensor_address", "10.0.128.10"),
    ("aws-gateway", "cloudtap:network.gateway_mirror.mode", "vxlan"),
    ("aws-full", "cloudtap:network.gateway_instance_type", "t3.small"),
    ("aws-full", "cloudtap:network.gateway_ami_id", "ami-0123456789abcdef0"),
    ("aws-full", "cloudtap:network.availability_zones[0]", "eu-west-1a"),
    ("aws-full", "cloudtap:sensor.capture_interface", "ids0"),
    ("aws-full", "cloudtap:sensor.ids_packages[0]", "suricata"),
    ("aws-full", "cloudtap:sensor.log_mount_point", "/var/log/ids"),
    ("aws-full", "cloudtap:sensor.feeds[0]", "vxlan"),
    ("aws-full", "cloudtap:sensor.feed_source_cidrs[0]", "10.0.0.0/16"),
    ("aws-full", "cloudtap:sensor.health_check_cidrs[0]", "10.0.0.0/20"),
    ("aws-full", "cloudtap:sensor.instance_type", "c5n.large"),
    ("aws-full", "cloudtap:sensor.private_ip", "10.0.128.10"),
    ("aws-dev", "cloudtap:mirror.method", "native"),
    ("aws-dev", "cloudtap:mirror.sources[0].name", "rdp-server"),
    ("aws-dev", "cloudtap:mirror.sources[0].instance_type", "m5.large"),
    ("aws-dev", "cloudtap:mirror.sources[0].network_interface_ids[0]", "eni-0123456789abcdef0"),
    ("aws-full", "cloudtap:mirror.target.network_interface_id", "eni-0123456789abcdef9"),
    (
        "azure-dev",
        "cloudtap:mirror.sources[0].network_interface_id",
        AZURE_DEV["cloudtap:mirror"]["sources"][0]["network_interface_id"],
    ),
    ("azure-dev", "cloudtap:mirror.sources[1].name", "db"),
    ("azure-dev", "cloudtap:mirror.sources[1].network_interface_name", "db-vm-nic"),
    ("azure-dev", "cloudtap:mirror.sources[1].resource_group_name", "rg-apps-dev"),
    ("openstack-dev", "cloudtap:mirror.target.sensor_ip", "10.0.128.10"),
    ("openstack-dev", "cloudtap:mirror.sources[0].name", "web"),
    (
        "openstack-dev",
        "cloudtap:mirror.sources[0].port_id",
        OPENSTACK_DEV["cloudtap:mirror"]["sources"][0]["port_id"],
    ),
    ("openstack-dev", "cloudtap:mirror.mirror_type", "gre"),
]

# Tag values may hold spaces. AWS's tags also go onto IAM roles, whose character rule refuses
# `$`, backticks and quotes; Azure's tag values only refuse control characters (newline).
_IAM_REFUSES = ("command", "backticks", "quote", "newline")
TAG_FIELDS: list[tuple[str, str, tuple[str, ...]]] = [
    ("aws-full", "cloudtap:network.tags.team", _IAM_REFUSES),
    ("aws-full", "cloudtap:sensor.tags.team", _IAM_REFUSES),
    ("aws-full", "cloudtap:mirror.tags.team", _IAM_REFUSES),
    ("azure-dev", "cloudtap:mirror.tags.project", ("newline",)),
]


def _slug(*parts: Any) -> str:
    text = " ".join("DELETE" if part is DELETE else str(part) for part in parts)
    return re.sub(r"[^A-Za-z0-9]+", "-", text)[:100].strip("-")


def cases() -> Iterator[BadStack]:
    seen: set[str] = set()
    for case in _cases():
        # Two mistakes may read alike once reduced to an id (10.0.0.0/16 as a string or a list).
        unique, count = case.id, 1
        while unique in seen:
            count += 1
            unique = f"{case.id}-{count}"
        seen.add(unique)
        yield BadStack(unique, case.config, case.field, case.hostile)


def _cases() -> Iterator[BadStack]:
    for base, path, value, field in MISTAKES:
        slug = _slug(
            base, path, value if isinstance(value, str) or value is DELETE else repr(value)
        )
        yield BadStack(slug, with_value(BASES[base], path, value), field)
    for base, path, good in SHAPED_FIELDS:
        stem = _slug(base, path)
        for name, text in HOSTILE.items():
            yield BadStack(f"{stem}-{name}", with_value(BASES[base], path, text), path, text)
        for name, suffix in _ANCHOR.items():
            text = good + suffix
            yield BadStack(f"{stem}-{name}", with_value(BASES[base], path, text), path, text)
    for base, path, refused in TAG_FIELDS:
        stem = _slug(base, path)
        for name in refused:
            text = HOSTILE[name]
            yield BadStack(f"{stem}-{name}", with_value(BASES[base], path, text), path, text)
