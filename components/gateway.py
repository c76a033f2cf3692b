"""The gateway instance's boot configuration: settings file, apply script and cloud-config.

The user data (:func:`render_boot_cloud_config`) installs the script, its unit and the settings
fetcher and names where the settings live (a
:class:`~components.settings_delivery.SettingsSource`); the settings text
(:func:`render_settings`) is delivered apart from it and applied in place, so a settings change
never replaces the instance.

Cloud-neutral: every cloud's component passes the same :class:`NetworkPlan` through here, so the
gateway behaves the same wherever it runs (and the lab runs exactly these files).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence

import yaml

from .cloud_config import (
    SettingsLine,
    WrittenFile,
    asset_text,
    net_library,
    render,
    render_settings_file,
)
from .errors import CloudtapInputError
from .mirroring import VXLAN_PORT, clamped_mss
from .network_plan import NetworkPlan, Tier
from .os_family import DEFAULT_OS_FAMILY, OsFamily
from .settings_delivery import SettingsSource, delivery_files, delivery_runcmd

SETTINGS_PATH = "/etc/cloudtap/gateway.conf"
SCRIPT_PATH = "/usr/local/sbin/cloudtap-gateway"
UNIT_PATH = "/etc/systemd/system/cloudtap-gateway.service"
SERVICE = "cloudtap-gateway.service"
HEARTBEAT_PATH = "/usr/local/lib/cloudtap/cloudtap-heartbeat"
HEARTBEAT_UNIT_PATH = "/etc/systemd/system/cloudtap-heartbeat.service"
HEARTBEAT_SERVICE = "cloudtap-heartbeat.service"
SETTINGS_KEYS = (
    "NETWORK_CIDR",
    "PUBLIC_CIDRS",
    "PRIVATE_CIDRS",
    "MONITOR_CIDRS",
    "MANAGEMENT_CIDRS",
    "PORT_FORWARDS",
    "MIRROR_MODE",
    "MIRROR_SENSOR",
    "MIRROR_SENSOR_BY_ZONE",
    "MIRROR_VNI",
    "MIRROR_VXLAN_PORT",
    "MIRROR_UNDERLAY_MTU",
    "MIRROR_CLAMP_MSS",
    "MIRROR_HEARTBEAT_INTERVAL",
)
"""Every key the settings file may set: the script's ``SETTINGS_KEYS`` (a test holds them equal)."""


_COMMENT_LINE = re.compile(r'readonly COMMENT_([A-Z_]+)="([^"$`\\]*)"')


@functools.cache
def rule_comments() -> Mapping[str, str]:
    """The comment of each rule the gateway installs, by name (``MASQUERADE``, ``ISOLATE``, ...).

    Read from the gateway script, where they are defined once: ``check``, the namespace lab and
    the tests all find rules by these strings.
    """
    found = dict(_COMMENT_LINE.findall(asset_text("gateway", "cloudtap-gateway.sh")))
    if not found:
        raise RuntimeError("cloudtap-gateway.sh defines no COMMENT_ lines")
    return found


def port_forward_comment(protocol: str, public_port: int, host: str, private_port: int) -> str:
    """The comment of one port forward's DNAT rule, as the script writes it."""
    return f"{rule_comments()['FORWARD']} {protocol}/{public_port} to {host}:{private_port}"


def _words(cidrs: Iterable[ipaddress.IPv4Network]) -> str:
    return " ".join(str(cidr) for cidr in cidrs)


AWS_VPC_MTU = 9001
"""What an AWS VPC carries between instances (jumbo frames): pass it as ``underlay_mtu`` there.
Azure virtual networks and most OpenStack tenant networks carry 1500 (or less): pass nothing."""


def _mirror_settings(plan: NetworkPlan, underlay_mtu: int | None) -> list[SettingsLine]:
    mirror = plan.gateway_mirror
    lines: list[SettingsLine] = [
        "# Gateway mirror: off, vxlan (copies encapsulated to the sensor) or tee (plain clones).",
        ("MIRROR_MODE", mirror.mode.value if mirror else "off"),
    ]
    if mirror is not None:
        by_zone = " ".join(
            f"{public}:{destination}"
            for public, destination in zip(
                plan.subnets[Tier.PUBLIC], mirror.zone_destinations, strict=False
            )
        )
        lines += [
            "# Where the copies go: one sensor, or each zone's own destination (PUBLIC_SUBNET:",
            "# ADDRESS, a sensor fleet's load balancer), picked by the subnet of the gateway's",
            "# own addresses: the same settings serve every zone's gateway.",
            ("MIRROR_SENSOR", "" if mirror.to_fleet else str(mirror.sensor_address)),
            ("MIRROR_SENSOR_BY_ZONE", by_zone),
        ]
    if mirror is not None:
        lines += [
            ("MIRROR_VNI", mirror.vni),
            ("MIRROR_VXLAN_PORT", VXLAN_PORT),
            "# What the cloud's network carries: the interface towards the sensor is raised up to",
            "# this when copies would not fit whole (empty: never change an MTU).",
            ("MIRROR_UNDERLAY_MTU", underlay_mtu or ""),
            "# The MSS forwarded TCP is clamped to so that copies fit that MTU (empty: no clamp).",
            ("MIRROR_CLAMP_MSS", clamped_mss(mirror, underlay_mtu) or ""),
            "# Seconds between the heartbeats sent through the mirror's copy path to the sensor.",
            ("MIRROR_HEARTBEAT_INTERVAL", mirror.heartbeat_interval),
        ]
    return lines


def render_settings(plan: NetworkPlan, *, underlay_mtu: int | None = None) -> str:
    """The key=value file the script reads. Values are validated addresses, ports and names.

    ``underlay_mtu``: the MTU the cloud's network carries between instances (AWS: 9001,
    :data:`AWS_VPC_MTU`); with the VXLAN mirror on, the gateway raises its interface towards the
    sensor up to it when copies (50 bytes bigger than the packets) would not fit. Default: never
    change an MTU, and say in the log when large copies travel as IP fragments.
    """
    if underlay_mtu is not None and not 1280 <= underlay_mtu <= 65535:
        raise CloudtapInputError("underlay_mtu", underlay_mtu, "an MTU from 1280 to 65535")
    forwards = " ".join(
        f"{f.protocol.value}:{f.public_port}:{f.private_host}:{f.private_port}"
        for f in plan.port_forwards
    )
    lines: list[SettingsLine] = [
        "# cloudtap gateway settings, rendered by cloudtap: edit the Pulumi stack, not this file.",
        ("NETWORK_CIDR", str(plan.cidr_block)),
        ("PUBLIC_CIDRS", _words(plan.cidrs(Tier.PUBLIC))),
        ("PRIVATE_CIDRS", _words(plan.cidrs(Tier.PRIVATE))),
        ("MONITOR_CIDRS", _words(plan.cidrs(Tier.MONITOR))),
        ("MANAGEMENT_CIDRS", _words(plan.cidrs(Tier.MANAGEMENT))),
        "# protocol:public_port:private_host:private_port",
        ("PORT_FORWARDS", forwards),
        *_mirror_settings(plan, underlay_mtu),
    ]
    return render_settings_file(lines, keys=SETTINGS_KEYS)


def gateway_files(source: SettingsSource) -> list[WrittenFile]:
    """What the gateway's user data writes: script, library, unit and the settings delivery
    (fetcher, its units, the source file), never the settings themselves."""
    return [
        WrittenFile(SCRIPT_PATH, asset_text("gateway", "cloudtap-gateway.sh"), "0755"),
        net_library(),
        WrittenFile(UNIT_PATH, asset_text("gateway", "cloudtap-gateway.service")),
        WrittenFile(HEARTBEAT_PATH, asset_text("gateway", "cloudtap_heartbeat.py"), "0755"),
        WrittenFile(HEARTBEAT_UNIT_PATH, asset_text("gateway", "cloudtap-heartbeat.service")),
        *delivery_files(source, "gateway"),
    ]


BASE_PACKAGES: Mapping[OsFamily, tuple[str, ...]] = {
    # Amazon Linux 2023 ships neither iptables nor nftables.
    OsFamily.AMAZON_LINUX: ("nftables",),
    OsFamily.DEBIAN: ("nftables",),
    OsFamily.RHEL: ("nftables",),
}
"""Installed on every gateway, by the names of its image's distribution family."""


def _render(
    source: SettingsSource,
    os_family: OsFamily,
    extra: Sequence[WrittenFile] = (),
    first_commands: Sequence[Sequence[str]] = (),
) -> str:
    skeleton = yaml.safe_load(asset_text("gateway", "cloud-config.yaml")) or {}
    runcmd = delivery_runcmd(source, SERVICE, (HEARTBEAT_SERVICE,))
    document = {
        "packages": list(BASE_PACKAGES[os_family]),
        **skeleton,
        # daemon-reload stays first: the extra commands may start units the user data wrote.
        "runcmd": [runcmd[0], *(list(command) for command in first_commands), *runcmd[1:]],
    }
    return render(yaml.safe_dump(document, sort_keys=False), [*extra, *gateway_files(source)])


def render_boot_cloud_config(
    *,
    source: SettingsSource,
    os_family: OsFamily = DEFAULT_OS_FAMILY,
    extra_files: Sequence[WrittenFile] = (),
    first_commands: Sequence[Sequence[str]] = (),
) -> str:
    """The gateway's user data for an image of ``os_family``, its settings read from ``source``.

    The same for every settings the network may have: only the image's family and the source
    change it. At boot ``cloudtap-settings`` fetches the settings and applies them
    (``cloudtap-gateway apply-settings``), then ``cloudtap-gateway.service`` applies the last
    good settings and fails the boot's ``runcmd`` if there are none or they do not check.
    ``extra_files`` and ``first_commands`` (run after ``systemctl daemon-reload``, before the
    first fetch): a cloud's own boot step, such as an AWS Auto Scaling gateway attaching its
    persistent interface (:mod:`components.aws.gateway_group`).
    """
    return _render(source, os_family, extra_files, first_commands)


def render_cloud_config(
    plan: NetworkPlan,
    *,
    underlay_mtu: int | None = None,
    os_family: OsFamily = DEFAULT_OS_FAMILY,
) -> str:
    """User data that carries its settings: the boot cloud-config with a ``file`` source at
    :data:`SETTINGS_PATH`, and that file. For a host whose settings change only with the
    instance (the real-boot test); ``underlay_mtu`` as in :func:`render_settings`."""
    settings = WrittenFile(SETTINGS_PATH, render_settings(plan, underlay_mtu=underlay_mtu))
    return _render(SettingsSource.file(SETTINGS_PATH), os_family, (settings,))
