"""The sensor's boot configuration: every mirror feed decapsulated onto one capture interface.

Cloud-neutral: the AWS, Azure and OpenStack sensors all render their user data here, and the lab
runs exactly these files.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from .errors import CloudtapInputError
from .fields import parse_int, parse_network, reject_unknown_fields
from .mirroring import Encapsulation

DEFAULT_CAPTURE_INTERFACE = "cloudtap0"
# Big enough for a 9001-byte cloud jumbo frame plus a VLAN tag: copies arrive whole.
DEFAULT_CAPTURE_MTU = 9216
DEFAULT_LOG_MOUNT_POINT = "/var/log/cloudtap"
LOG_VOLUME_LABEL = "cloudtap-logs"
# Linux interface names: at most 15 bytes, no slash or whitespace.
_INTERFACE_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_-]{0,11}$")
# Distribution package names (dnf/apt): letters, digits and + - . _
_PACKAGE_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9+._-]*$")


class SensorArgs(TypedDict, total=False):
    """What a sensor receives and how it hands it to the IDS. Every field is optional."""

    feeds: Sequence[str]
    """Encapsulations to accept: any of ``vxlan``, ``geneve``, ``gre``, ``erspan``. Default: all
    four, so one sensor serves every mirroring backend."""
    feed_source_cidrs: Sequence[str]
    """Networks allowed to send feeds. Default: the whole monitored network (the cloud module
    fills it in); never 0.0.0.0/0."""
    capture_interface: str
    """Name of the interface Zeek, Suricata or tcpdump watch. Default ``cloudtap0``."""
    capture_mtu: int
    """MTU of the capture interface, 1500-65535. Default 9216: a cloud jumbo frame (9001) and a
    VLAN tag arrive whole. Lower it only to truncate on purpose."""
    ids_packages: Sequence[str]
    """Distribution packages to install at first boot, e.g. ``["suricata"]``. Default: none
    (capture with tcpdump, which cloudtap installs)."""
    log_mount_point: str
    """Where the log volume is mounted, when the cloud module attaches one. Default
    ``/var/log/cloudtap``."""


@dataclass(frozen=True)
class SensorPlan:
    feeds: tuple[Encapsulation, ...]
    feed_source_cidrs: tuple[ipaddress.IPv4Network, ...]
    capture_interface: str
    capture_mtu: int
    ids_packages: tuple[str, ...]
    log_mount_point: str
    log_volume: bool
    """Whether a separate log volume (filesystem label ``cloudtap-logs``) is formatted and
    mounted at ``log_mount_point``."""


SENSOR_FIELDS = frozenset(SensorArgs.__annotations__)


def _string_list(field: str, value: Any) -> Sequence[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise CloudtapInputError(field, value, "a list")
    return value


def plan_sensor(
    args: Mapping[str, Any] | None,
    *,
    default_feed_sources: Sequence[ipaddress.IPv4Network],
    log_volume: bool = False,
) -> SensorPlan:
    """Validate ``SensorArgs`` (other keys are the caller's) and resolve defaults."""
    args = args or {}
    reject_unknown_fields(
        {key: value for key, value in args.items() if key in SENSOR_FIELDS}, SENSOR_FIELDS, ""
    )
    feeds_raw = _string_list("feeds", args.get("feeds", [e.value for e in Encapsulation]))
    feeds: list[Encapsulation] = []
    for index, text in enumerate(feeds_raw):
        try:
            feed = Encapsulation(text)
        except ValueError:
            raise CloudtapInputError(
                f"feeds[{index}]", text, f"one of {[e.value for e in Encapsulation]}"
            ) from None
        if feed not in feeds:
            feeds.append(feed)
    if not feeds:
        raise CloudtapInputError("feeds", list(feeds_raw), "at least one encapsulation")

    if "feed_source_cidrs" in args:
        sources = tuple(
            parse_network(f"feed_source_cidrs[{i}]", text)
            for i, text in enumerate(_string_list("feed_source_cidrs", args["feed_source_cidrs"]))
        )
    else:
        sources = tuple(default_feed_sources)
    for index, cidr in enumerate(sources):
        if cidr.prefixlen < 8:
            raise CloudtapInputError(
                f"feed_source_cidrs[{index}]",
                str(cidr),
                "the networks the mirror sources live in (prefix /8 or longer): a feed port "
                "open to the world lets anyone inject traffic into the IDS",
            )
    if not sources:
        raise CloudtapInputError("feed_source_cidrs", [], "at least one network")

    interface = args.get("capture_interface", DEFAULT_CAPTURE_INTERFACE)
    if not isinstance(interface, str) or not _INTERFACE_NAME.match(interface):
        raise CloudtapInputError(
            "capture_interface",
            interface,
            "an interface name of 1-12 letters, digits, - or _ starting with a letter "
            "(the feeder end adds a 3-character suffix within Linux's 15)",
        )
    mtu = parse_int("capture_mtu", args.get("capture_mtu", DEFAULT_CAPTURE_MTU), 1500, 65535)
    packages = tuple(_string_list("ids_packages", args.get("ids_packages", [])))
    for index, package in enumerate(packages):
        if not isinstance(package, str) or not _PACKAGE_NAME.match(package):
            raise CloudtapInputError(
                f"ids_packages[{index}]", package, "a distribution package name, e.g. suricata"
            )
    mount = args.get("log_mount_point", DEFAULT_LOG_MOUNT_POINT)
    if not isinstance(mount, str) or not mount.startswith("/") or mount.rstrip("/") == "":
        raise CloudtapInputError(
            "log_mount_point", mount, "an absolute directory path other than /"
        )
    return SensorPlan(
        feeds=tuple(feeds),
        feed_source_cidrs=sources,
        capture_interface=interface,
        capture_mtu=mtu,
        ids_packages=packages,
        log_mount_point=mount.rstrip("/"),
        log_volume=log_volume,
    )


def render_cloud_config(plan: SensorPlan) -> str:
    """The sensor's user data (``#cloud-config``)."""
    raise NotImplementedError("the sensor's boot files are being written (issue 3)")
