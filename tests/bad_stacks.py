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
AZURE_EXISTING = example("azure-existing")
AZURE_DEV = example("azure-dev")
OPENSTACK_DEV = example("openstack-dev")
OPENSTACK_EXISTING = example("openstack-existing")
AWS_FULL = example("aws-dev")
"""aws-dev with every optional field a catalogue case changes written out with a good value."""
AWS_FULL["cloudtap:network"].update(
    availability_zones=["eu-west-1a", "eu-west-1b"],
    gateway_instance_type="t3.small",
    gateway_ami_id="ami-0123456789abcdef0",
    gateway_strategy="single",
    management_cidrs=["10.9.0.0/16"],
    tags={"team": "netsec"},
)
AWS_FULL["cloudtap:sensor"].update(
    capture_interface="ids0",
    log_mount_point="/var/log/ids",
    ids="suricata",
    ids_packages=["suricata"],
    home_net_cidrs=["10.9.0.0/16"],
    ids_rule_sources=["oisf/trafficid"],
    ids_eve_types=["alert", "dns"],
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
AWS_GATEWAY_PER_ZONE = example("aws-gateway")
"""aws-gateway with a gateway per zone (each one mirroring), /22 subnets (room for 16 zones)."""
AWS_GATEWAY_PER_ZONE["cloudtap:network"].update(
    gateway_strategy="one_per_zone", subnet_prefix_length=22
)
AWS_ENROL = example("aws-dev")
"""aws-dev with the enrolment function and the instance-type override."""
AWS_ENROL["cloudtap:mirror"].update(
    enrol={"tags": {"team": "web"}, "subnets": ["subnet-0123456789abcdef0"]},
    mirrorable_instance_types=["m7i", "c7i.large"],
)

AZURE_FULL = example("azure-dev")
"""azure-dev with a sensor size that has no accelerated networking, and an existing group."""
AZURE_FULL["cloudtap:sensor"].update(vm_size="Standard_B2s")
AZURE_FULL["cloudtap:network"].update(resource_group_name="rg-cloudtap")
BASES = {
    "aws-dev": AWS_DEV,
    "aws-enrol": AWS_ENROL,
    "aws-full": AWS_FULL,
    "aws-gateway": AWS_GATEWAY,
    "aws-gateway-per-zone": AWS_GATEWAY_PER_ZONE,
    "azure-dev": AZURE_DEV,
    "azure-existing": AZURE_EXISTING,
    "azure-full": AZURE_FULL,
    "openstack-dev": OPENSTACK_DEV,
    "openstack-existing": OPENSTACK_EXISTING,
}

# -- wrong types, typos, ranges, CIDRs: (base, path, value, the field the error names) -----------

_TLS_FEEDS = {"hosts": {"web-1": {"transport": "tls"}}, "host_cidrs": ["198.51.100.0/24"]}

MISTAKES: list[tuple[str, str, Any, str]] = [
    # cloudtap:host_feeds (AWS only; sensor_address defaults to the stack's sensor)
    ("aws-dev", "cloudtap:host_feeds", "web-1", "cloudtap:host_feeds"),
    ("aws-dev", "cloudtap:host_feeds", {"hosts": {}}, "cloudtap:host_feeds.hosts"),
    (
        "aws-dev",
        "cloudtap:host_feeds",
        {**_TLS_FEEDS, "host_cidrs": ["0.0.0.0/0"]},
        "cloudtap:host_feeds.host_cidrs[0]",
    ),
    (
        "aws-dev",
        "cloudtap:host_feeds",
        {**_TLS_FEEDS, "sensor_address": "10.0.128.11"},
        "cloudtap:host_feeds",
    ),
    (
        "aws-dev",
        "cloudtap:host_feeds",
        {"hosts": {"web-1": {"exclude_ports": ["22; reboot"]}}},
        "cloudtap:host_feeds.hosts.web-1.exclude_ports[0]",
    ),
    ("azure-dev", "cloudtap:host_feeds", _TLS_FEEDS, "cloudtap:host_feeds"),
    ("openstack-dev", "cloudtap:host_feeds", _TLS_FEEDS, "cloudtap:host_feeds"),
    # the stack keys themselves
    ("aws-dev", "cloudtap:netwrok", {"cidr_block": "10.0.0.0/16"}, "cloudtap:netwrok"),
    ("aws-dev", "cloudtap:sensors", {}, "cloudtap:sensors"),
    ("aws-dev", "cloudtap:Mirror", {}, "cloudtap:Mirror"),
    ("aws-dev", "cloudtap:region", "eu-west-1", "cloudtap:region"),
    ("azure-existing", "cloudtap:location", "westeurope", "cloudtap:location"),
    ("aws-dev", "cloudtap:network", "10.0.0.0/16", "cloudtap:network"),
    ("aws-dev", "cloudtap:network", ["10.0.0.0/16"], "cloudtap:network"),
    ("aws-dev", "cloudtap:sensor", "c5n.large", "cloudtap:sensor"),
    ("aws-dev", "cloudtap:sensor", 1, "cloudtap:sensor"),
    ("aws-dev", "cloudtap:mirror", ["native"], "cloudtap:mirror"),
    ("aws-dev", "cloudtap:cloud", "gcp", "cloudtap:cloud"),
    ("aws-dev", "cloudtap:cloud", "Aws", "cloudtap:cloud"),
    ("aws-dev", "cloudtap:cloud", DELETE, "cloudtap:cloud"),
    ("azure-existing", "cloudtap:mirror", DELETE, "cloudtap:mirror"),
    ("azure-existing", "cloudtap:sensor", {}, "cloudtap:sensor"),
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
    (
        "aws-dev",
        "cloudtap:network.gateway_strategy",
        "per_zone",
        "cloudtap:network.gateway_strategy",
    ),
    (
        "aws-dev",
        "cloudtap:network.gateway_strategy",
        ["single"],
        "cloudtap:network.gateway_strategy",
    ),
    (
        "aws-gateway-per-zone",
        "cloudtap:network.availability_zone_count",
        5,
        "cloudtap:network.availability_zone_count",
    ),
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
    # vlan_by_vni: VNI -> 802.1Q VLAN id, checked key by key
    ("aws-dev", "cloudtap:sensor.vlan_by_vni", [4242, 100], "cloudtap:sensor.vlan_by_vni"),
    ("aws-dev", "cloudtap:sensor.vlan_by_vni", {0: 100}, "cloudtap:sensor.vlan_by_vni"),
    ("aws-dev", "cloudtap:sensor.vlan_by_vni", {"42x": 100}, "cloudtap:sensor.vlan_by_vni"),
    ("aws-dev", "cloudtap:sensor.vlan_by_vni", {"$(reboot)": 1}, "cloudtap:sensor.vlan_by_vni"),
    ("aws-dev", "cloudtap:sensor.vlan_by_vni", {4242: 4095}, "cloudtap:sensor.vlan_by_vni.4242"),
    ("aws-dev", "cloudtap:sensor.vlan_by_vni", {4242: "100"}, "cloudtap:sensor.vlan_by_vni.4242"),
    (
        "aws-dev",
        "cloudtap:sensor.vlan_by_vni",
        {4242: 100, 4243: 100},
        "cloudtap:sensor.vlan_by_vni.4243",
    ),
    ("aws-dev", "cloudtap:sensor.capture_mtu", 70000, "cloudtap:sensor.capture_mtu"),
    (
        "aws-full",
        "cloudtap:sensor.capture_interface",
        "a-very-long-interface-name",
        "cloudtap:sensor.capture_interface",
    ),
    ("aws-full", "cloudtap:sensor.capture_interface", "", "cloudtap:sensor.capture_interface"),
    ("aws-dev", "cloudtap:sensor.ids_packages", "suricata", "cloudtap:sensor.ids_packages"),
    # the IDS: what the image's family can install, and every IDS field checked whole
    ("aws-dev", "cloudtap:sensor.ids", "zeek", "cloudtap:sensor.ids"),
    ("aws-dev", "cloudtap:sensor.ids", "snort", "cloudtap:sensor.ids"),
    ("aws-dev", "cloudtap:sensor.os_family", "amazon-linux", "cloudtap:sensor.ids"),
    ("aws-dev", "cloudtap:sensor.os_family", "rhel", "cloudtap:sensor.os_family"),
    ("openstack-dev", "cloudtap:sensor.ids", "arkime", "cloudtap:sensor.ids"),
    ("openstack-dev", "cloudtap:sensor.os_family", "rhel", "cloudtap:sensor.ids"),
    (
        "aws-dev",
        "cloudtap:sensor.home_net_cidrs",
        ["0.0.0.0/0"],
        "cloudtap:sensor.home_net_cidrs[0]",
    ),
    ("aws-dev", "cloudtap:sensor.home_net_cidrs", "10.9.0.0/16", "cloudtap:sensor.home_net_cidrs"),
    (
        "aws-dev",
        "cloudtap:sensor.ids_rule_sources",
        ["$(reboot)/rules"],
        "cloudtap:sensor.ids_rule_sources[0]",
    ),
    (
        "aws-dev",
        "cloudtap:sensor.ids_rule_sources",
        ["https://example.com/x.tar.gz"],
        "cloudtap:sensor.ids_rule_sources[0]",
    ),
    ("aws-dev", "cloudtap:sensor.ids_eve_types", ["pcap"], "cloudtap:sensor.ids_eve_types[0]"),
    ("aws-dev", "cloudtap:sensor.ids_event_max_age_s", 1, "cloudtap:sensor.ids_event_max_age_s"),
    (
        "aws-dev",
        "cloudtap:sensor.ids_custom_rules",
        "/nonexistent/cloudtap.rules",
        "cloudtap:sensor.ids_custom_rules",
    ),
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
    # the enrolment function and the instance-type override
    ("aws-enrol", "cloudtap:mirror.enrol", "private", "cloudtap:mirror.enrol"),
    ("aws-enrol", "cloudtap:mirror.enrol", ["private"], "cloudtap:mirror.enrol"),
    ("aws-enrol", "cloudtap:mirror.enrol.tag", {"team": "web"}, "cloudtap:mirror.enrol.tag"),
    ("aws-enrol", "cloudtap:mirror.enrol.tags", ["team"], "cloudtap:mirror.enrol.tags"),
    ("aws-enrol", "cloudtap:mirror.enrol.subnets", "monitor", "cloudtap:mirror.enrol.subnets"),
    ("aws-enrol", "cloudtap:mirror.enrol.subnets", "Private", "cloudtap:mirror.enrol.subnets"),
    ("aws-enrol", "cloudtap:mirror.enrol.subnets", [], "cloudtap:mirror.enrol.subnets"),
    ("aws-enrol", "cloudtap:mirror.enrol.subnets", 3, "cloudtap:mirror.enrol.subnets"),
    (
        "aws-enrol",
        "cloudtap:mirror.enrol.subnets[0]",
        "subnet-1",
        "cloudtap:mirror.enrol.subnets[0]",
    ),
    ("aws-enrol", "cloudtap:mirror.method", "gateway", "cloudtap:mirror.enrol"),
    (
        "aws-enrol",
        "cloudtap:mirror.tags",
        {"cloudtap:owner": "x"},
        "cloudtap:mirror.tags.cloudtap:owner",
    ),
    (
        "aws-enrol",
        "cloudtap:mirror.mirrorable_instance_types",
        "m7i",
        "cloudtap:mirror.mirrorable_instance_types",
    ),
    (
        "aws-enrol",
        "cloudtap:mirror.mirrorable_instance_types[0]",
        7,
        "cloudtap:mirror.mirrorable_instance_types[0]",
    ),
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
    ("azure-existing", "cloudtap:mirror.target", {}, "cloudtap:mirror.target"),
    (
        "azure-existing",
        "cloudtap:mirror.target.network_interface_ip_configuration_id",
        "/subscriptions/x",
        "cloudtap:mirror.target.network_interface_ip_configuration_id",
    ),
    (
        "azure-existing",
        "cloudtap:mirror.sources[0].network_interface_id",
        "web-vm-nic",
        "cloudtap:mirror.sources[0].network_interface_id",
    ),
    (
        "azure-existing",
        "cloudtap:mirror.sources[0].nic",
        "web-vm-nic",
        "cloudtap:mirror.sources[0].nic",
    ),
    ("azure-existing", "cloudtap:mirror.sources", [], "cloudtap:mirror.sources"),
    ("azure-existing", "cloudtap:mirror.method", "gateway", "cloudtap:mirror.method"),
    ("azure-existing", "cloudtap:mirror.destination_port", 0, "cloudtap:mirror.destination_port"),
    ("azure-existing", "cloudtap:mirror.attach_sources", "yes", "cloudtap:mirror.attach_sources"),
    ("azure-existing", "cloudtap:mirror.session_number", 1, "cloudtap:mirror.session_number"),
    ("azure-existing", "cloudtap:mirror.tags", {"a<b": "x"}, "cloudtap:mirror.tags"),
    ("azure-existing", "cloudtap:mirror.tags", {"team": "x" * 257}, "cloudtap:mirror.tags.team"),
    ("azure-existing", "cloudtap:mirror.location", "West Europe!", "cloudtap:mirror.location"),
    ("azure-existing", "azure-native:location", DELETE, "cloudtap:mirror.location"),
    # azure: the monitored virtual network, its sensor and mirror
    (
        "azure-dev",
        "cloudtap:network.availability_zone_count",
        2,
        "cloudtap:network.availability_zone_count",
    ),
    ("azure-dev", "cloudtap:network.zones", ["4"], "cloudtap:network.zones[0]"),
    ("azure-dev", "cloudtap:network.zones", [1], "cloudtap:network.zones[0]"),
    ("azure-dev", "cloudtap:network.zones", "1", "cloudtap:network.zones"),
    ("azure-dev", "cloudtap:network.zones", ["1", "1"], "cloudtap:network.zones[1]"),
    ("azure-dev", "cloudtap:network.gateway_vm_size", "B2s", "cloudtap:network.gateway_vm_size"),
    ("azure-dev", "cloudtap:network.gateway_vm_size", 2, "cloudtap:network.gateway_vm_size"),
    ("azure-dev", "cloudtap:network.gateway_image", "ubuntu", "cloudtap:network.gateway_image"),
    (
        "azure-dev",
        "cloudtap:network.gateway_image.os",
        "linux",
        "cloudtap:network.gateway_image.os",
    ),
    (
        "azure-dev",
        "cloudtap:network.gateway_image.version",
        "24.04",
        "cloudtap:network.gateway_image.version",
    ),
    ("azure-dev", "cloudtap:network.admin_username", "root", "cloudtap:network.admin_username"),
    (
        "azure-dev",
        "cloudtap:network.admin_username",
        "Admin User",
        "cloudtap:network.admin_username",
    ),
    (
        "azure-dev",
        "cloudtap:network.ssh_public_key",
        "AAAAC3Nza",
        "cloudtap:network.ssh_public_key",
    ),
    (
        "azure-dev",
        "cloudtap:network.ssh_public_key",
        "ssh-dss AAAAB3Nza",
        "cloudtap:network.ssh_public_key",
    ),
    (
        "azure-dev",
        "cloudtap:network.encryption_at_host",
        "yes",
        "cloudtap:network.encryption_at_host",
    ),
    (
        "azure-dev",
        "cloudtap:network.resource_group_name",
        "rg.",
        "cloudtap:network.resource_group_name",
    ),
    (
        "azure-dev",
        "cloudtap:network.resource_group_name",
        "rg/apps",
        "cloudtap:network.resource_group_name",
    ),
    ("azure-dev", "cloudtap:network.location", "West Europe!", "cloudtap:network.location"),
    ("azure-dev", "azure-native:location", DELETE, "cloudtap:network.location"),
    ("azure-dev", "cloudtap:network.tags", {"a/b": "x"}, "cloudtap:network.tags"),
    (
        "azure-dev",
        "cloudtap:network.gateway_instance_type",
        "t3.small",
        "cloudtap:network.gateway_instance_type",
    ),
    (
        "azure-dev",
        "cloudtap:network.subnet_cidrs",
        {"public": ["10.0.0.0/20", "10.0.16.0/20"]},
        "cloudtap:network.subnet_cidrs.public",
    ),
    (
        "azure-dev",
        "cloudtap:network.port_forwards[0].public_port",
        22,
        "cloudtap:network.port_forwards[0].public_port",
    ),
    (
        "azure-dev",
        "cloudtap:network.management_cidrs",
        ["0.0.0.0/0"],
        "cloudtap:network.management_cidrs[0]",
    ),
    ("azure-dev", "cloudtap:sensor.vm_size", "D2s_v5", "cloudtap:sensor.vm_size"),
    ("azure-dev", "cloudtap:sensor.instance_type", "c5n.large", "cloudtap:sensor.instance_type"),
    ("azure-dev", "cloudtap:sensor.zone", "2", "cloudtap:sensor.zone"),
    ("azure-dev", "cloudtap:sensor.private_ip", "10.0.64.10", "cloudtap:sensor.private_ip"),
    ("azure-dev", "cloudtap:sensor.log_disk_size_gb", 0, "cloudtap:sensor.log_disk_size_gb"),
    ("azure-dev", "cloudtap:sensor.log_disk_size_gb", "256", "cloudtap:sensor.log_disk_size_gb"),
    (
        "azure-dev",
        "cloudtap:sensor.accelerated_networking",
        "on",
        "cloudtap:sensor.accelerated_networking",
    ),
    (
        "azure-full",
        "cloudtap:sensor.accelerated_networking",
        True,
        "cloudtap:sensor.accelerated_networking",
    ),
    (
        "azure-dev",
        "cloudtap:sensor.feed_source_cidrs",
        ["0.0.0.0/0"],
        "cloudtap:sensor.feed_source_cidrs[0]",
    ),
    ("azure-dev", "cloudtap:sensor.network", "vnet", "cloudtap:sensor.network"),
    ("azure-dev", "cloudtap:mirror.method", "mirror", "cloudtap:mirror.method"),
    ("azure-dev", "cloudtap:mirror.method", "native", "cloudtap:mirror.sources[0]"),
    ("azure-dev", "cloudtap:mirror.tap_regions", "westeurope", "cloudtap:mirror.tap_regions"),
    (
        "azure-dev",
        "cloudtap:mirror.tap_regions",
        ["west europe!"],
        "cloudtap:mirror.tap_regions[0]",
    ),
    ("azure-dev", "cloudtap:mirror.location", "eastus", "cloudtap:mirror.location"),
    (
        "azure-dev",
        "cloudtap:mirror.sources[0].vm_size",
        "D2s",
        "cloudtap:mirror.sources[0].vm_size",
    ),
    (
        "azure-dev",
        "cloudtap:mirror.sources[0].private_ip",
        "10.0.64",
        "cloudtap:mirror.sources[0].private_ip",
    ),
    (
        "azure-dev",
        "cloudtap:mirror.sources[0].private_ip",
        "10.0.128.20",
        "cloudtap:mirror.sources[0].private_ip",
    ),
    (
        "azure-dev",
        "cloudtap:mirror.sources[0].instance_type",
        "m5.large",
        "cloudtap:mirror.sources[0].instance_type",
    ),
    ("azure-dev", "cloudtap:mirror.sources", [], "cloudtap:mirror.sources"),
    (
        "azure-dev",
        "cloudtap:mirror.target",
        {"sensor": "x", "network_interface_ip_configuration_id": "y"},
        "cloudtap:mirror.target",
    ),
    ("azure-dev", "cloudtap:network.gateway_mirror", DELETE, "cloudtap:network.gateway_mirror"),
    ("azure-dev", "cloudtap:mirror.network", "vnet", "cloudtap:mirror.network"),
    # openstack
    ("openstack-existing", "cloudtap:mirror.target", {}, "cloudtap:mirror.target"),
    (
        "openstack-existing",
        "cloudtap:mirror.target.sensor_ip",
        "10.0.128.300",
        "cloudtap:mirror.target.sensor_ip",
    ),
    (
        "openstack-existing",
        "cloudtap:mirror.target.sensor_ip",
        "224.0.0.1",
        "cloudtap:mirror.target.sensor_ip",
    ),
    (
        "openstack-existing",
        "cloudtap:mirror.sources[0].port_id",
        "5b0d3c1e",
        "cloudtap:mirror.sources[0].port_id",
    ),
    (
        "openstack-existing",
        "cloudtap:mirror.sources[0].port",
        "5b0d3c1e",
        "cloudtap:mirror.sources[0].port",
    ),
    (
        "openstack-existing",
        "cloudtap:mirror.sources[1].port_id",
        "5b0d3c1e-7a2f-4c8e-9d61-2f4a8b7c6e01",
        "cloudtap:mirror.sources[1].port_id",
    ),
    ("openstack-existing", "cloudtap:mirror.mirror_type", "erspan", "cloudtap:mirror.mirror_type"),
    ("openstack-existing", "cloudtap:mirror.backend", "taas", "cloudtap:mirror.backend"),
    ("openstack-existing", "cloudtap:mirror.direction", "both", "cloudtap:mirror.direction"),
    (
        "openstack-existing",
        "cloudtap:mirror.first_tunnel_id",
        -1,
        "cloudtap:mirror.first_tunnel_id",
    ),
    (
        "openstack-existing",
        "cloudtap:mirror.first_tunnel_id",
        "1",
        "cloudtap:mirror.first_tunnel_id",
    ),
    (
        "openstack-existing",
        "cloudtap:mirror.first_tunnel_id",
        4294967295,
        "cloudtap:mirror.first_tunnel_id",
    ),
    ("openstack-existing", "cloudtap:mirror.vlan_filter", "1-5", "cloudtap:mirror.vlan_filter"),
    ("openstack-existing", "cloudtap:mirror.method", "auto", "cloudtap:mirror.method"),
    (
        "openstack-existing",
        "cloudtap:mirror.sources[0].direction",
        "SIDEWAYS",
        "cloudtap:mirror.sources[0].direction",
    ),
    # openstack, the seeds' design (network, sensor, mirror)
    (
        "openstack-dev",
        "cloudtap:network.external_network",
        DELETE,
        "cloudtap:network.external_network",
    ),
    ("openstack-dev", "cloudtap:network.external_network", "", "cloudtap:network.external_network"),
    (
        "openstack-dev",
        "cloudtap:network.external_network",
        "private",
        "cloudtap:network.external_network",
    ),
    ("openstack-dev", "cloudtap:network.image", DELETE, "cloudtap:network.image"),
    ("openstack-dev", "cloudtap:network.image", 7, "cloudtap:network.image"),
    ("openstack-dev", "cloudtap:network.flavor", DELETE, "cloudtap:network.flavor"),
    ("openstack-dev", "cloudtap:network.flavour", "m1.small", "cloudtap:network.flavour"),
    ("openstack-dev", "cloudtap:network.network_mtu", 1000, "cloudtap:network.network_mtu"),
    ("openstack-dev", "cloudtap:network.network_mtu", "1450", "cloudtap:network.network_mtu"),
    (
        "openstack-dev",
        "cloudtap:network.dns_nameservers",
        "9.9.9.9",
        "cloudtap:network.dns_nameservers",
    ),
    (
        "openstack-dev",
        "cloudtap:network.dns_nameservers[0]",
        "dns.quad9.net",
        "cloudtap:network.dns_nameservers[0]",
    ),
    (
        "openstack-dev",
        "cloudtap:network.gateway_os_family",
        "amazon-linux",
        "cloudtap:network.gateway_os_family",
    ),
    (
        "openstack-dev",
        "cloudtap:network.gateway_os_family",
        "centos",
        "cloudtap:network.gateway_os_family",
    ),
    (
        "openstack-dev",
        "cloudtap:network.availability_zone_count",
        2,
        "cloudtap:network.availability_zone_count",
    ),
    ("openstack-dev", "cloudtap:network.key_pair", "", "cloudtap:network.key_pair"),
    # Names of cloud objects reach API calls only (spaces are fine), never a control character.
    ("openstack-dev", "cloudtap:network.image", "ubuntu\n", "cloudtap:network.image"),
    ("openstack-dev", "cloudtap:network.flavor", "m1.small\n", "cloudtap:network.flavor"),
    (
        "openstack-dev",
        "cloudtap:network.external_network",
        "public\n",
        "cloudtap:network.external_network",
    ),
    ("openstack-dev", "cloudtap:network.key_pair", "ops\nkey", "cloudtap:network.key_pair"),
    (
        "openstack-dev",
        "cloudtap:sensor.log_volume_type",
        "LUKS\n",
        "cloudtap:sensor.log_volume_type",
    ),
    (
        "openstack-dev",
        "cloudtap:network.subnet_cidrs.private[0]",
        "192.168.4.0/24",
        "cloudtap:network.subnet_cidrs.monitor[0]",
    ),
    (
        "openstack-dev",
        "cloudtap:network.port_forwards[0].private_host",
        "192.168.4.10",
        "cloudtap:network.port_forwards[0].private_host",
    ),
    (
        "openstack-dev",
        "cloudtap:network.port_forwards[0].public_port",
        22,
        "cloudtap:network.port_forwards[0].public_port",
    ),
    (
        "openstack-dev",
        "cloudtap:network.management_cidrs[0]",
        "0.0.0.0/0",
        "cloudtap:network.management_cidrs[0]",
    ),
    (
        "openstack-dev",
        "cloudtap:network.gateway_mirror.mode",
        "span",
        "cloudtap:network.gateway_mirror.mode",
    ),
    (
        "openstack-dev",
        "cloudtap:network.gateway_mirror.sensor_address",
        "192.168.3.10",
        "cloudtap:network.gateway_mirror.sensor_address",
    ),
    (
        "openstack-dev",
        "cloudtap:network.gateway_instance_type",
        "t3.small",
        "cloudtap:network.gateway_instance_type",
    ),
    ("openstack-dev", "cloudtap:sensor.image", DELETE, "cloudtap:sensor.image"),
    ("openstack-dev", "cloudtap:sensor.image", "ubuntu-24.04", "cloudtap:sensor.image"),
    ("openstack-dev", "cloudtap:sensor.flavor", DELETE, "cloudtap:sensor.flavor"),
    ("openstack-dev", "cloudtap:sensor.private_ip", "192.168.4.11", "cloudtap:sensor.private_ip"),
    ("openstack-dev", "cloudtap:sensor.private_ip", "192.168.3.10", "cloudtap:sensor.private_ip"),
    (
        "openstack-dev",
        "cloudtap:sensor.log_volume_size_gb",
        0,
        "cloudtap:sensor.log_volume_size_gb",
    ),
    (
        "openstack-dev",
        "cloudtap:sensor.log_volume_size_gb",
        True,
        "cloudtap:sensor.log_volume_size_gb",
    ),
    (
        "openstack-dev",
        "cloudtap:sensor.instance_type",
        "c5n.large",
        "cloudtap:sensor.instance_type",
    ),
    ("openstack-dev", "cloudtap:sensor.os_family", "windows", "cloudtap:sensor.os_family"),
    ("openstack-dev", "cloudtap:sensor.network", "cloudtap", "cloudtap:sensor.network"),
    ("openstack-dev", "cloudtap:mirror.method", "native", "cloudtap:mirror.method"),
    ("openstack-dev", "cloudtap:mirror.method", "span", "cloudtap:mirror.method"),
    ("openstack-dev", "cloudtap:mirror.backend", "tap_mirror", "cloudtap:mirror.backend"),
    ("openstack-dev", "cloudtap:mirror.network", "cloudtap", "cloudtap:mirror.network"),
    ("openstack-dev", "cloudtap:mirror.direction", "IN", "cloudtap:mirror.direction"),
    (
        "openstack-dev",
        "cloudtap:mirror.sources[0].port_id",
        "rdp-port",
        "cloudtap:mirror.sources[0].port_id",
    ),
    ("openstack-dev", "cloudtap:mirror.target.sensor_ip", "192.168.4.10", "cloudtap:mirror.target"),
    ("openstack-dev", "cloudtap:network.gateway_mirror", DELETE, "cloudtap:network.gateway_mirror"),
    ("openstack-existing", "cloudtap:sensor", {}, "cloudtap:sensor"),
    # settings too big for the 4096-byte SSM parameter that delivers them (AWS)
    (
        "aws-dev",
        "cloudtap:network.port_forwards",
        [{"public_port": 10000 + i, "private_host": "10.0.64.10"} for i in range(200)],
        "cloudtap:network.port_forwards",
    ),
    (
        "aws-dev",
        "cloudtap:sensor.ids_packages",
        [f"ids-package-number-{i}" for i in range(250)],
        "cloudtap:sensor.ids_packages",
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
    ("aws-full", "cloudtap:network.gateway_strategy", "single"),
    ("aws-full", "cloudtap:network.availability_zones[0]", "eu-west-1a"),
    ("aws-full", "cloudtap:sensor.capture_interface", "ids0"),
    ("aws-full", "cloudtap:sensor.ids_packages[0]", "suricata"),
    ("aws-full", "cloudtap:sensor.ids", "suricata"),
    ("aws-full", "cloudtap:sensor.home_net_cidrs[0]", "10.9.0.0/16"),
    ("aws-full", "cloudtap:sensor.ids_rule_sources[0]", "oisf/trafficid"),
    ("aws-full", "cloudtap:sensor.ids_eve_types[0]", "alert"),
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
    ("aws-enrol", "cloudtap:mirror.enrol.subnets[0]", "subnet-0123456789abcdef0"),
    ("aws-enrol", "cloudtap:mirror.mirrorable_instance_types[0]", "m7i"),
    ("aws-enrol", "cloudtap:mirror.mirrorable_instance_types[1]", "c7i.large"),
    (
        "azure-existing",
        "cloudtap:mirror.sources[0].network_interface_id",
        AZURE_EXISTING["cloudtap:mirror"]["sources"][0]["network_interface_id"],
    ),
    ("azure-existing", "cloudtap:mirror.sources[1].name", "db"),
    ("azure-existing", "cloudtap:mirror.sources[1].network_interface_name", "db-vm-nic"),
    ("azure-existing", "cloudtap:mirror.sources[1].resource_group_name", "rg-apps-dev"),
    ("azure-dev", "cloudtap:network.cidr_block", "10.0.0.0/16"),
    ("azure-dev", "cloudtap:network.port_forwards[0].private_host", "10.0.64.10"),
    ("azure-dev", "cloudtap:network.gateway_vm_size", "Standard_B2s"),
    ("azure-dev", "cloudtap:network.gateway_image.publisher", "Canonical"),
    ("azure-dev", "cloudtap:network.gateway_image.offer", "ubuntu-24_04-lts"),
    ("azure-dev", "cloudtap:network.gateway_image.sku", "server"),
    ("azure-dev", "cloudtap:network.gateway_image.version", "latest"),
    ("azure-dev", "cloudtap:network.admin_username", "cloudtap"),
    ("azure-dev", "cloudtap:network.resource_group_name", "rg-cloudtap"),
    ("azure-dev", "cloudtap:network.zones[0]", "1"),
    ("azure-dev", "cloudtap:sensor.vm_size", "Standard_D2s_v5"),
    ("azure-dev", "cloudtap:sensor.capture_interface", "cloudtap0"),
    ("azure-dev", "cloudtap:sensor.ids_packages[0]", "suricata"),
    ("azure-dev", "cloudtap:sensor.log_mount_point", "/var/log/cloudtap"),
    ("azure-dev", "cloudtap:sensor.private_ip", "10.0.128.10"),
    ("azure-dev", "cloudtap:mirror.sources[0].name", "rdp-server"),
    ("azure-dev", "cloudtap:mirror.sources[0].vm_size", "Standard_D2s_v5"),
    ("azure-dev", "cloudtap:mirror.sources[0].private_ip", "10.0.64.10"),
    ("azure-dev", "cloudtap:mirror.sources[1].network_interface_name", "db-vm-nic"),
    ("azure-existing", "cloudtap:mirror.sources[1].resource_group_name", "rg-apps-dev"),
    ("azure-dev", "cloudtap:mirror.tap_regions[0]", "westeurope"),
    ("openstack-existing", "cloudtap:mirror.target.sensor_ip", "10.0.128.10"),
    ("openstack-existing", "cloudtap:mirror.sources[0].name", "web"),
    (
        "openstack-existing",
        "cloudtap:mirror.sources[0].port_id",
        OPENSTACK_EXISTING["cloudtap:mirror"]["sources"][0]["port_id"],
    ),
    ("openstack-existing", "cloudtap:mirror.mirror_type", "gre"),
    ("openstack-dev", "cloudtap:network.subnet_cidrs.private[0]", "192.168.3.0/24"),
    ("openstack-dev", "cloudtap:network.port_forwards[0].private_host", "192.168.3.10"),
    ("openstack-dev", "cloudtap:network.gateway_mirror.sensor_address", "192.168.4.10"),
    ("openstack-dev", "cloudtap:network.gateway_os_family", "debian"),
    ("openstack-dev", "cloudtap:network.dns_nameservers[0]", "9.9.9.9"),
    ("openstack-dev", "cloudtap:sensor.ids", "suricata"),
    ("openstack-dev", "cloudtap:sensor.private_ip", "192.168.4.10"),
    ("openstack-dev", "cloudtap:sensor.log_mount_point", "/var/log/cloudtap"),
    ("openstack-dev", "cloudtap:sensor.capture_interface", "cloudtap0"),
    ("openstack-dev", "cloudtap:mirror.sources[0].name", "rdp-server"),
]

# Tag values may hold spaces. AWS's tags also go onto IAM roles, whose character rule refuses
# `$`, backticks and quotes; Azure's tag values only refuse control characters (newline).
_IAM_REFUSES = ("command", "backticks", "quote", "newline")
TAG_FIELDS: list[tuple[str, str, tuple[str, ...]]] = [
    ("aws-full", "cloudtap:network.tags.team", _IAM_REFUSES),
    ("aws-full", "cloudtap:sensor.tags.team", _IAM_REFUSES),
    ("aws-full", "cloudtap:mirror.tags.team", _IAM_REFUSES),
    ("aws-enrol", "cloudtap:mirror.enrol.tags.team", _IAM_REFUSES),
    ("azure-existing", "cloudtap:mirror.tags.project", ("newline",)),
    ("azure-dev", "cloudtap:network.tags.project", ("newline",)),
    ("azure-dev", "cloudtap:sensor.tags.team", ("newline",)),
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
