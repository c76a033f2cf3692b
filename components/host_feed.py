"""Host feeds: a monitored host copies its own traffic to the sensor (planning and rendering).

For sources nothing else reaches: clouds without mirroring (DigitalOcean, Linode, OpenStack
without Tap-as-a-Service), hosts no gateway sees, hosts outside the monitored network. Two
transports (:class:`HostFeedTransport`): VXLAN inside the network, the feed the sensor already
decapsulates; mutual TLS across networks, to the sensor's ``cloudtap-hostfeed-listener``.

Cloud-neutral and free of the Pulumi SDK: the host's part is a cloud-config document (with
``merge_how``, so it merges with the host's own user data) or, for an existing host, the same
files installed by hand; the sensor's part is the listener's settings and files. Certificates
are made in :mod:`components.host_feed_pki`. Whoever controls the host can switch its feed off:
the preview line of the ``host`` method says so.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, TypedDict

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
from .fields import parse_enum, parse_int, parse_network, reject_unknown_fields
from .mirroring import VXLAN_PORT, parse_vni
from .os_family import DEFAULT_OS_FAMILY, OsFamily
from .settings_delivery import AWS_HALF_PATH, FETCHER_PATH
from .shapes import check_interface_name, check_mount_point, check_source_name

DEFAULT_TLS_PORT: Final = 3005
"""The listener's TCP port: the one MetaFlows' host agents use (``ncat --ssl SENSOR 3005``)."""
DEFAULT_HOST_VNI: Final = 4243
"""The VNI of host feeds, one apart from the gateway mirror's 4242 so an IDS can tell them."""
DEFAULT_QUEUE_FRAMES: Final = 4096
"""Frames the TLS agent holds while the sensor is slow or away; beyond them copies are dropped."""
DEFAULT_SILENT_AFTER: Final = 60
"""Seconds without a frame after which ``cloudtap-sensor check`` names a host silent."""
MAX_EXCLUSIONS: Final = 64

SETTINGS_PATH: Final = "/etc/cloudtap/hostfeed.conf"
SCRIPT_PATH: Final = "/usr/local/sbin/cloudtap-hostfeed"
AGENT_PATH: Final = "/usr/local/lib/cloudtap/cloudtap-hostfeed-agent"
UNIT_PATH: Final = "/etc/systemd/system/cloudtap-hostfeed.service"
AGENT_UNIT_PATH: Final = "/etc/systemd/system/cloudtap-hostfeed-agent.service"
CERT_DIR: Final = "/etc/cloudtap/hostfeed"
SETTINGS_KEYS: Final = (
    "TRANSPORT",
    "SENSOR_ADDRESS",
    "SENSOR_NAME",
    "FEED_PORT",
    "VNI",
    "INTERFACE",
    "EXCLUDE_CIDRS",
    "EXCLUDE_PORTS",
    "QUEUE_FRAMES",
    "CERT_DIR",
)
"""Every key the host's settings file may set: the script's ``SETTINGS_KEYS`` (a test holds them
equal)."""

LISTENER_SETTINGS_PATH: Final = "/etc/cloudtap/hostfeed-listener.conf"
LISTENER_PATH: Final = "/usr/local/lib/cloudtap/cloudtap-hostfeed-listener"
LISTENER_UNIT_PATH: Final = "/etc/systemd/system/cloudtap-hostfeed-listener.service"
LISTENER_CERT_DIR: Final = "/etc/cloudtap/hostfeed-listener"
LISTENER_RUN_DIR: Final = "/run/cloudtap"
LISTENER_SETTINGS_KEYS: Final = (
    "DEVICE",
    "PORT",
    "ALLOW",
    "CA_FILE",
    "CERT_FILE",
    "KEY_FILE",
    "STATUS_FILE",
    "READY_FILE",
    "SILENT_AFTER",
)
"""Every key the listener's settings file may set: the listener's ``KEYS``."""

# A DNS name the sensor's certificate carries: labels of letters, digits and '-'.
_LABEL: Final = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME: Final = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


class HostFeedTransport(StrEnum):
    """How a host's copies travel to the sensor."""

    VXLAN = "vxlan"
    """In-network: the kernel copies the host's interface both ways inside VXLAN (UDP 4789) to
    the sensor's address, as AWS Traffic Mirroring does. Unencrypted: only where the path to
    the sensor is the monitored network itself."""
    TLS = "tls"
    """Across networks: an agent streams the frames over TLS with mutual authentication (TCP
    3005), both ends' certificates issued by the stack's CA. Costs a CPU share on the host."""


class HostFeedArgs(TypedDict, total=False):
    """One host's feed. ``sensor_address`` is required."""

    transport: str
    """``vxlan`` (default) or ``tls``: see :class:`HostFeedTransport`."""
    sensor_address: str
    """The sensor's IPv4 address as the host reaches it. Required."""
    sensor_name: str
    """TLS: the DNS name the sensor's certificate carries, checked by the host. Default: the
    certificate carries ``sensor_address`` and the host checks that."""
    port: int
    """The sensor's feed port, 1-65535: default 4789 (``vxlan``, UDP) or 3005 (``tls``, TCP)."""
    vni: int
    """``vxlan``: the VXLAN network identifier, 1-16777215. Default 4243."""
    interface: str
    """The host's interface whose traffic is copied. Default: the one routing to the sensor."""
    management_cidrs: Sequence[str]
    """Networks the host is managed from (SSH, agents): never copied. Default: none."""
    exclude_cidrs: Sequence[str]
    """More networks never copied (either end). Default: none. At most 64 with the above."""
    exclude_ports: Sequence[int]
    """TCP and UDP ports never copied (either end), e.g. a backup stream. Default: none."""
    queue_frames: int
    """``tls``: frames queued while the sensor is slow or away, 16-1048576; beyond that copies
    are dropped (and counted), never the host's own traffic. Default 4096."""


HOST_FEED_FIELDS: Final = frozenset(HostFeedArgs.__annotations__)


@dataclass(frozen=True)
class HostFeedPlan:
    """A validated host feed: every value that reaches the host's files."""

    name: str
    """The host's name: its certificate's common name, and how the sensor reports it."""
    transport: HostFeedTransport
    sensor_address: ipaddress.IPv4Address
    sensor_name: str
    port: int
    vni: int | None
    interface: str | None
    excluded_networks: tuple[ipaddress.IPv4Network, ...]
    excluded_ports: tuple[int, ...]
    queue_frames: int


def _list(field: str, value: Any) -> Sequence[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise CloudtapInputError(field, value, "a list")
    return value


def check_dns_name(field: str, value: Any) -> str:
    """A DNS name (what a certificate's subjectAltName carries), checked whole."""
    if not isinstance(value, str) or len(value) > 253 or not _DNS_NAME.fullmatch(value):
        raise CloudtapInputError(
            field, value, "a DNS name: dot-separated labels of letters, digits and '-'"
        )
    return value


def plan_host_feed(name: str, args: Mapping[str, Any] | None, field: str = "") -> HostFeedPlan:
    """Validate :class:`HostFeedArgs` for the host ``name``; fields named below ``field``."""
    where = f"{field}." if field else ""
    host = check_source_name(f"{where}name" if field else "name", name)
    if not isinstance(args, Mapping):
        raise CloudtapInputError(field or "args", args, "a mapping of host feed fields")
    reject_unknown_fields(args, HOST_FEED_FIELDS, field)
    transport = parse_enum(
        f"{where}transport",
        args.get("transport", HostFeedTransport.VXLAN.value),
        HostFeedTransport,
    )
    if "sensor_address" not in args:
        raise CloudtapInputError(f"{where}sensor_address", None, "the sensor's IPv4 address")
    try:
        sensor = ipaddress.IPv4Address(args["sensor_address"])
    except (ValueError, TypeError):
        raise CloudtapInputError(
            f"{where}sensor_address", args["sensor_address"], "an IPv4 address, e.g. 10.0.128.10"
        ) from None
    if not sensor.is_private and transport is HostFeedTransport.VXLAN:
        raise CloudtapInputError(
            f"{where}sensor_address",
            str(sensor),
            "a private address for transport vxlan (unencrypted, unauthenticated copies must "
            "not cross the internet): use transport tls",
        )
    if "sensor_name" in args and transport is not HostFeedTransport.TLS:
        raise CloudtapInputError(f"{where}sensor_name", args["sensor_name"], "no value unless tls")
    sensor_name = (
        check_dns_name(f"{where}sensor_name", args["sensor_name"])
        if "sensor_name" in args
        else str(sensor)
    )
    default_port = VXLAN_PORT if transport is HostFeedTransport.VXLAN else DEFAULT_TLS_PORT
    port = parse_int(f"{where}port", args.get("port", default_port), 1, 65535)
    if "vni" in args and transport is not HostFeedTransport.VXLAN:
        raise CloudtapInputError(f"{where}vni", args["vni"], "no value unless vxlan")
    vni = (
        parse_vni(f"{where}vni", args.get("vni", DEFAULT_HOST_VNI))
        if transport is HostFeedTransport.VXLAN
        else None
    )
    interface = (
        check_interface_name(f"{where}interface", args["interface"])
        if "interface" in args
        else None
    )
    networks: list[ipaddress.IPv4Network] = []
    for key in ("management_cidrs", "exclude_cidrs"):
        for index, text in enumerate(_list(f"{where}{key}", args.get(key, []))):
            network = parse_network(f"{where}{key}[{index}]", text)
            if sensor in network:
                raise CloudtapInputError(
                    f"{where}{key}[{index}]",
                    text,
                    f"a network without the sensor {sensor}: the host's copies go there",
                )
            if network not in networks:
                networks.append(network)
    if len(networks) > MAX_EXCLUSIONS:
        raise CloudtapInputError(
            f"{where}exclude_cidrs", len(networks), f"at most {MAX_EXCLUSIONS} networks in all"
        )
    ports: list[int] = []
    for index, value in enumerate(_list(f"{where}exclude_ports", args.get("exclude_ports", []))):
        port_value = parse_int(f"{where}exclude_ports[{index}]", value, 1, 65535)
        if port_value not in ports:
            ports.append(port_value)
    if len(ports) > MAX_EXCLUSIONS:
        raise CloudtapInputError(
            f"{where}exclude_ports", len(ports), f"at most {MAX_EXCLUSIONS} ports"
        )
    if "queue_frames" in args and transport is not HostFeedTransport.TLS:
        raise CloudtapInputError(
            f"{where}queue_frames", args["queue_frames"], "no value unless tls"
        )
    queue = parse_int(
        f"{where}queue_frames", args.get("queue_frames", DEFAULT_QUEUE_FRAMES), 16, 1_048_576
    )
    return HostFeedPlan(
        name=host,
        transport=transport,
        sensor_address=sensor,
        sensor_name=sensor_name,
        port=port,
        vni=vni,
        interface=interface,
        excluded_networks=tuple(networks),
        excluded_ports=tuple(ports),
        queue_frames=queue,
    )


def _check_written_text(plan: HostFeedPlan) -> None:
    """The plan's free text checked again where it is written (a plan can be made by hand)."""
    try:
        check_source_name("name", plan.name)
        check_dns_name("sensor_name", plan.sensor_name)
        if plan.interface is not None:
            check_interface_name("interface", plan.interface)
    except CloudtapInputError as error:
        raise ValueError(f"a HostFeedPlan that plan_host_feed would refuse: {error}") from None


def render_settings(plan: HostFeedPlan, *, cert_dir: str = CERT_DIR) -> str:
    """The key=value file ``cloudtap-hostfeed`` reads. ``cert_dir``: where the certificates are
    (the lab points it elsewhere)."""
    _check_written_text(plan)
    check_mount_point("cert_dir", cert_dir)
    lines: list[SettingsLine] = [
        "# cloudtap host feed settings, rendered by cloudtap: edit the stack, not this file.",
        "# vxlan (in-network, UDP FEED_PORT) or tls (mutual TLS, TCP FEED_PORT).",
        ("TRANSPORT", plan.transport.value),
        ("SENSOR_ADDRESS", str(plan.sensor_address)),
        ("SENSOR_NAME", plan.sensor_name),
        ("FEED_PORT", plan.port),
        ("VNI", plan.vni or ""),
        "# The interface copied (empty: the one routing to the sensor).",
        ("INTERFACE", plan.interface or ""),
        "# Never copied, either end: these networks and TCP/UDP ports (and the feed itself).",
        ("EXCLUDE_CIDRS", " ".join(str(network) for network in plan.excluded_networks)),
        ("EXCLUDE_PORTS", " ".join(str(port) for port in plan.excluded_ports)),
        ("QUEUE_FRAMES", plan.queue_frames),
        ("CERT_DIR", cert_dir),
    ]
    return render_settings_file(lines, keys=SETTINGS_KEYS)


@dataclass(frozen=True)
class HostCredentials:
    """The PEM files a TLS host needs: the stack's CA and its own certificate and key."""

    ca_certificate: str
    certificate: str
    private_key: str | None
    """``None`` when the host fetches it at start (:data:`key_parameter` of its files)."""


KEY_DROP_IN_PATH: Final = "/etc/systemd/system/cloudtap-hostfeed.service.d/cloudtap-key.conf"
HOST_KEY_PARAMETER: Final = re.compile(r"/cloudtap(/[A-Za-z0-9_.-]{1,128}){3,6}/hostfeed-key")
"""The fetcher's ``HOST_KEY_PARAMETER`` (``cloudtap_aws.py``): the names it fetches."""


def key_drop_in(parameter: str) -> str:
    """The feed unit's drop-in that fetches the host's key before ``apply`` reads it."""
    if not HOST_KEY_PARAMETER.fullmatch(parameter):
        raise ValueError(f"{parameter!r}: not a host-feed key parameter name")
    return (
        "# cloudtap: this host's feed key, from its SSM SecureString (its role alone reads it)\n"
        "[Service]\n"
        f"ExecStartPre=/usr/bin/python3 -I {FETCHER_PATH} host-key {parameter}\n"
    )


def host_feed_files(
    plan: HostFeedPlan,
    credentials: HostCredentials | None = None,
    *,
    cert_dir: str = CERT_DIR,
    key_parameter: str | None = None,
) -> list[WrittenFile]:
    """Everything the host's part writes: settings, script, library, units; for ``tls`` also the
    agent and the host's credentials (the key readable by root only). With ``key_parameter``
    (AWS) the key is not among them: the fetcher and a drop-in fetch it at each start."""
    files = [
        WrittenFile(SETTINGS_PATH, render_settings(plan, cert_dir=cert_dir)),
        WrittenFile(SCRIPT_PATH, asset_text("hostfeed", "cloudtap-hostfeed.sh"), "0755"),
        net_library(),
        WrittenFile(UNIT_PATH, asset_text("hostfeed", "cloudtap-hostfeed.service")),
    ]
    if plan.transport is HostFeedTransport.TLS:
        if credentials is None:
            raise ValueError(f"host feed {plan.name}: transport tls needs its credentials")
        files += [
            WrittenFile(AGENT_PATH, asset_text("hostfeed", "cloudtap_hostfeed_agent.py"), "0755"),
            WrittenFile(AGENT_UNIT_PATH, asset_text("hostfeed", "cloudtap-hostfeed-agent.service")),
            WrittenFile(f"{cert_dir}/ca.pem", _pem(credentials.ca_certificate, "CERTIFICATE")),
            WrittenFile(f"{cert_dir}/host.pem", _pem(credentials.certificate, "CERTIFICATE")),
        ]
        if key_parameter is not None:
            if cert_dir != CERT_DIR:
                raise ValueError("a fetched key goes to the default CERT_DIR only")
            files += [
                WrittenFile(FETCHER_PATH, asset_text("common", "cloudtap_settings.py"), "0755"),
                WrittenFile(AWS_HALF_PATH, asset_text("common", "cloudtap_aws.py")),
                WrittenFile(KEY_DROP_IN_PATH, key_drop_in(key_parameter)),
            ]
        elif credentials.private_key is None:
            raise ValueError(f"host feed {plan.name}: no key, and no parameter to fetch it from")
        else:
            files.append(
                WrittenFile(
                    f"{cert_dir}/host.key", _pem(credentials.private_key, "PRIVATE KEY"), "0600"
                )
            )
    return files


_PEM_BODY: Final = re.compile(r"[A-Za-z0-9+/=\n]+")


def _pem(text: str, label: str) -> str:
    """A PEM block of ``label``, checked whole: only base64 between its armour lines reaches the
    host."""
    begin, end = f"-----BEGIN {label}-----\n", f"-----END {label}-----\n"
    body = text[len(begin) : -len(end)] if text.startswith(begin) and text.endswith(end) else ""
    if not body or not _PEM_BODY.fullmatch(body):
        raise ValueError(f"not a single PEM {label} block")
    return text


HOST_PACKAGES: Final[Mapping[OsFamily, tuple[str, ...]]] = {
    OsFamily.AMAZON_LINUX: ("nftables",),
    OsFamily.DEBIAN: ("nftables",),
    OsFamily.RHEL: ("nftables",),
}
"""Installed for the ``vxlan`` transport (``tls`` needs only python3, on every cloud-init image)."""


def render_cloud_config_part(
    plan: HostFeedPlan,
    credentials: HostCredentials | None = None,
    *,
    os_family: OsFamily = DEFAULT_OS_FAMILY,
    cert_dir: str = CERT_DIR,
    key_parameter: str | None = None,
) -> str:
    """The host's user-data part (``#cloud-config`` with ``merge_how``: lists appended, the
    host's own keys kept), to send beside the host's own part in a MIME multipart message, or
    alone."""
    skeleton: dict[str, Any] = yaml.safe_load(asset_text("hostfeed", "cloud-config.yaml"))
    document: dict[str, Any] = {}
    if plan.transport is HostFeedTransport.VXLAN:
        document["packages"] = list(HOST_PACKAGES[os_family])
    document.update(skeleton)
    files = host_feed_files(plan, credentials, cert_dir=cert_dir, key_parameter=key_parameter)
    return render(yaml.safe_dump(document, sort_keys=False), files)


# -- the sensor's side -------------------------------------------------------------------------


@dataclass(frozen=True)
class ListenerPlan:
    """The sensor's host-feed listener."""

    port: int
    host_networks: tuple[ipaddress.IPv4Network, ...]
    """Where hosts may connect from (also what the security group admits)."""
    capture_interface: str
    silent_after: int


def plan_listener(
    port: int | None,
    host_networks: Sequence[Any],
    capture_interface: str,
    *,
    silent_after: int = DEFAULT_SILENT_AFTER,
    field: str = "host_feeds",
) -> ListenerPlan:
    """Validate the listener: its port and the networks hosts connect from (never the world).
    Fields are named below ``field`` (at the top with ``field=""``)."""
    field = f"{field}." if field else ""
    listen = parse_int(f"{field}port", DEFAULT_TLS_PORT if port is None else port, 1, 65535)
    networks = tuple(
        parse_network(f"{field}host_cidrs[{index}]", text)
        for index, text in enumerate(_list(f"{field}host_cidrs", host_networks))
    )
    if not networks:
        raise CloudtapInputError(f"{field}host_cidrs", [], "at least one network hosts feed from")
    for index, network in enumerate(networks):
        if network.prefixlen < 8:
            raise CloudtapInputError(
                f"{field}host_cidrs[{index}]",
                str(network),
                "the networks the hosts live in (prefix /8 or longer): a feed port open to the "
                "world invites anyone to try",
            )
    interface = check_interface_name("capture_interface", capture_interface)
    silence = parse_int(f"{field}silent_after", silent_after, 5, 86400)
    return ListenerPlan(listen, networks, interface, silence)


def render_listener_settings(
    plan: ListenerPlan, *, cert_dir: str = LISTENER_CERT_DIR, run_dir: str = LISTENER_RUN_DIR
) -> str:
    """The listener's key=value file; it writes into the capture interface's feeder end."""
    check_mount_point("cert_dir", cert_dir)
    check_mount_point("run_dir", run_dir)
    lines: list[SettingsLine] = [
        "# cloudtap host feed listener, rendered by cloudtap: edit the stack, not this file.",
        "# Frames are written into the capture interface's feeder end, as cloudtap-decap does.",
        ("DEVICE", f"{check_interface_name('capture_interface', plan.capture_interface)}-tx"),
        ("PORT", plan.port),
        "# Hosts connect only from these networks, only with a certificate of the stack's CA.",
        ("ALLOW", " ".join(str(network) for network in plan.host_networks)),
        ("CA_FILE", f"{cert_dir}/ca.pem"),
        ("CERT_FILE", f"{cert_dir}/sensor.pem"),
        ("KEY_FILE", f"{cert_dir}/sensor.key"),
        ("STATUS_FILE", f"{run_dir}/hostfeed-listener.status"),
        ("READY_FILE", f"{run_dir}/hostfeed-listener.ready"),
        ("SILENT_AFTER", plan.silent_after),
    ]
    return render_settings_file(lines, keys=LISTENER_SETTINGS_KEYS)


@dataclass(frozen=True)
class SensorCredentials:
    ca_certificate: str
    certificate: str
    private_key: str


def listener_files(plan: ListenerPlan, credentials: SensorCredentials) -> list[WrittenFile]:
    """What the sensor's cloud-config adds for host feeds over TLS (the sensor script's hook
    starts the listener when its settings file exists)."""
    return [
        WrittenFile(LISTENER_SETTINGS_PATH, render_listener_settings(plan)),
        WrittenFile(LISTENER_PATH, asset_text("hostfeed", "cloudtap_hostfeed_listener.py"), "0755"),
        WrittenFile(
            LISTENER_UNIT_PATH, asset_text("hostfeed", "cloudtap-hostfeed-listener.service")
        ),
        WrittenFile(f"{LISTENER_CERT_DIR}/ca.pem", _pem(credentials.ca_certificate, "CERTIFICATE")),
        WrittenFile(
            f"{LISTENER_CERT_DIR}/sensor.pem", _pem(credentials.certificate, "CERTIFICATE")
        ),
        WrittenFile(
            f"{LISTENER_CERT_DIR}/sensor.key", _pem(credentials.private_key, "PRIVATE KEY"), "0600"
        ),
    ]


def listener_rule_description(plan: ListenerPlan) -> str:
    """The cloud-neutral statement of what the sensor's firewall must admit for host feeds."""
    networks = ", ".join(str(network) for network in plan.host_networks)
    return f"TCP {plan.port} (cloudtap host feeds, mutual TLS) from {networks} only"
