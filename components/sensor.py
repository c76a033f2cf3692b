"""The sensor's boot configuration: every mirror feed decapsulated onto one capture interface.

Cloud-neutral: the AWS, Azure and OpenStack sensors all render their user data here, and the lab
runs exactly these files. The user data (:func:`render_boot_cloud_config`) holds no settings: they
(:func:`render_settings`) are delivered apart and applied in place (``cloudtap-sensor
apply-settings``), so a change of feeds never re-creates the sensor or touches its log volume.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import yaml

from .cloud_config import (
    SettingsLine,
    WrittenFile,
    asset_bytes,
    asset_text,
    net_library,
    render,
    render_settings_file,
)
from .errors import CloudtapInputError
from .fields import parse_enum, parse_int, parse_network, reject_unknown_fields
from .ids import (
    FALLBACK_LOG_DIR,
    IdsPlan,
    check_rules_text,
    custom_rules_sha256,
    ids_boot_files,
    plan_ids,
)
from .mirroring import (
    DEFAULT_HEARTBEAT_INTERVAL,
    GENEVE_PORT,
    HEARTBEAT_MISSED,
    VNI_MAX,
    VNI_MIN,
    VXLAN_PORT,
    Encapsulation,
    GatewayMirrorMode,
)
from .network_plan import SSH_PORT, NetworkPlan, Tier
from .os_family import DEFAULT_OS_FAMILY, OsFamily
from .settings_delivery import SettingsSource, delivery_files, delivery_runcmd
from .shapes import check_capture_interface_name, check_mount_point, check_package_name
from .user_data import OWN_BOOT_FILES, gzip_base64_bytes

DEFAULT_CAPTURE_INTERFACE = "cloudtap0"
# Big enough for a 9001-byte cloud jumbo frame plus a VLAN tag: copies arrive whole.
DEFAULT_CAPTURE_MTU = 9216
DEFAULT_LOG_MOUNT_POINT = "/var/log/cloudtap"
DEFAULT_HEALTH_PORT = 8480
"""TCP port of the health responder: no IDS or capture tool listens there (Zeek's cluster and
Broker use 27760-27780, 47760-47761 and 9999, Arkime's viewer 8005, Suricata none)."""
LOG_VOLUME_LABEL = "cloudtap-logs"
VLAN_MIN = 1
VLAN_MAX = 4094
"""802.1Q VLAN ids a sensor tags copies with (0 means no VLAN, 4095 is reserved)."""
MAX_VLAN_BY_VNI = 64
"""Entries ``vlan_by_vni`` may hold: the size of the BPF decapsulator's hash map, and a settings
line of at most 64 * 14 characters (``16777215:4094``), far inside what the settings file and
the user's tooling take."""
_DIGITS = re.compile(r"[0-9]+")


class SensorArgs(TypedDict, total=False):
    """What a sensor receives and how it hands it to the IDS. Every field is optional."""

    feeds: Sequence[str]
    """Encapsulations to accept: any of ``vxlan``, ``geneve``, ``gre``, ``erspan``. Default: all
    four, so one sensor serves every mirroring backend."""
    feed_source_cidrs: Sequence[str]
    """Networks allowed to send feeds. Default: the whole monitored network (the cloud module
    fills it in); never 0.0.0.0/0."""
    capture_interface: str
    """Name of the interface Zeek, Suricata or tcpdump watch: 1-12 letters, digits, ``-`` or
    ``_`` starting with a letter (its feeder end adds ``-tx``). Default ``cloudtap0``."""
    capture_mtu: int
    """MTU of the capture interface, 1500-65535. Default 9216: a cloud jumbo frame (9001) and a
    VLAN tag arrive whole. Lower it only to truncate on purpose."""
    ids: str
    """What analyses the copies on the capture interface: ``"suricata"`` (installed from the
    image's own repositories, configured from this plan and started at first boot), ``"zeek"``
    or ``"arkime"`` (refused: no supported family packages them), or ``"none"`` (capture
    only). Default: ``"suricata"`` where the image's family carries it (Debian, Ubuntu), else
    ``"none"``; an IDS the family cannot install is refused at preview."""
    home_net_cidrs: Sequence[str]
    """Networks added to Suricata's ``HOME_NET`` (each /8 or longer). Default: none; ``HOME_NET``
    is always the monitored network's private tiers."""
    ids_rule_sources: Sequence[str]
    """``suricata-update`` sources enabled beside ET Open, by their index names (``vendor/name``,
    e.g. ``oisf/trafficid``). Default: none (ET Open only)."""
    ids_custom_rules: str
    """Path (from the Pulumi program's directory) of a Suricata rules file shipped with the
    stack, at most 64 KiB of ASCII: one rule per line or ``#`` comments, no ``lua``,
    ``luajit``, ``dataset``, ``datarep`` or ``filestore`` options. Checked line by line at
    preview, written to ``/var/lib/cloudtap/rules/custom.rules``. Default: none."""
    ids_eve_types: Sequence[str]
    """EVE JSON event types Suricata writes (``stats`` always: the health check reads it).
    Default: ``alert``, ``anomaly``, ``http``, ``dns``, ``tls``, ``ssh``, ``flow``."""
    ids_event_max_age_s: int
    """``cloudtap-sensor check`` fails when the IDS wrote no EVE event for this many seconds,
    30-86400. Default 300 (Suricata writes a ``stats`` event every 8 s)."""
    ids_packages: Sequence[str]
    """Advanced: more distribution packages installed at first boot beside ``ids``'s own, by
    their names (RPM's or Debian's grammar: no versions, globs or options). cloudtap installs
    them only; it configures nothing but ``ids``. Default: none."""
    log_mount_point: str
    """Where the log volume is mounted, when the cloud module attaches one: an absolute path of
    letters, digits, ``.``, ``_``, ``-`` and ``/`` (it goes into fstab and a sourced settings
    file). Default ``/var/log/cloudtap``."""
    health_port: int
    """TCP port of the health responder, for load balancer target groups (NLB, GWLB) checking
    TCP or HTTP: while ``cloudtap-sensor check`` passes it accepts connections and answers
    ``GET``/``HEAD`` with ``200``; while it fails it does not listen at all. 1-65535, not 22.
    Default 8480."""
    health_check_cidrs: Sequence[str]
    """Networks allowed to reach ``health_port`` (a load balancer's nodes live in them). Default:
    the whole monitored network (the cloud module fills it in); never 0.0.0.0/0."""
    vlan_by_vni: Mapping[str, int]
    """Keeps mirror sessions apart after decapsulation: a mapping of VNI (1-16777215) to 802.1Q
    VLAN id (1-4094), at most 64 entries, each VLAN id used once (two sessions on one VLAN would
    merge again). A copy whose VNI is listed (VXLAN's; GENEVE's; for AWS's mirror to a Gateway
    Load Balancer endpoint, GENEVE around VXLAN, the inner VXLAN's, the mirror session's) reaches
    the capture interface with one tag (TPID 0x8100, PCP 0, DEI 0, that VLAN id) after the
    mirrored frame's MAC addresses; a frame already tagged gets the new tag outermost (stacked,
    both 0x8100). Unlisted VNIs, GRE, ERSPAN, tee and host feeds stay untagged. Suricata
    (``vlan.use-for-tracking``, on by default) then keeps overlapping address ranges of
    different sessions apart, and Zeek with ``vlan_fivetuple`` loaded (``vlan`` in
    ``conn.log`` with ``vlan-logging``). A key is the VNI as an integer
    (YAML's ``4242: 100``) or a string of digits only (``"4242": 100``; map keys are strings in
    the typed SDKs). Changed in place, like every setting. Default: none, nothing tagged."""


@dataclass(frozen=True)
class SensorPlan:
    feeds: tuple[Encapsulation, ...]
    feed_source_cidrs: tuple[ipaddress.IPv4Network, ...]
    capture_interface: str
    capture_mtu: int
    ids_packages: tuple[str, ...]
    """Every package ``install-ids`` installs: ``ids``'s own, then the user's extra ones."""
    log_mount_point: str
    log_volume: bool
    """Whether a separate log volume (filesystem label ``cloudtap-logs``) is formatted and
    mounted at ``log_mount_point``."""
    ids: IdsPlan
    os_family: OsFamily
    """The image's distribution family that ``ids`` was checked against."""
    health_port: int = DEFAULT_HEALTH_PORT
    """TCP port of the health responder. Every cloud's sensor admits it, from
    ``health_check_cidrs`` only, in its firewall (AWS security group, Azure NSG, OpenStack
    security group); the sensor's own nftables table refuses it from anywhere else too."""
    health_check_cidrs: tuple[ipaddress.IPv4Network, ...] = ()
    heartbeat_sources: tuple[HeartbeatSource, ...] = ()
    """The gateway mirrors whose heartbeats this sensor expects (from the network's design)."""
    heartbeat_interval: int = DEFAULT_HEARTBEAT_INTERVAL
    vlan_by_vni: tuple[tuple[int, int], ...] = ()
    """(VNI, VLAN id) pairs in VNI order: the copies of these VNIs reach the capture interface
    with that 802.1Q tag. Empty: nothing is tagged."""

    @property
    def ids_log_dir(self) -> str:
        """Where the IDS writes its EVE JSON: on the log volume when there is one."""
        return f"{self.log_mount_point}/suricata" if self.log_volume else FALLBACK_LOG_DIR

    def describe_ids(self) -> str:
        """The preview line saying what the sensor runs."""
        return self.ids.describe(self.capture_interface, self.ids_log_dir)


@dataclass(frozen=True)
class HeartbeatSource:
    """A gateway mirror that sends this sensor heartbeats: from an address in ``network`` (the
    gateway's public-tier address), inside VXLAN with ``vni``, or teed (``vni`` ``None``)."""

    network: ipaddress.IPv4Network
    vni: int | None

    @property
    def setting(self) -> str:
        """``NETWORK:VNI`` or ``NETWORK:tee``, as the sensor's settings file lists it."""
        return f"{self.network}:{'tee' if self.vni is None else self.vni}"


def gateway_heartbeats(
    plan: NetworkPlan,
    sensor_address: ipaddress.IPv4Address,
    gateway_subnets: Sequence[ipaddress.IPv4Network] = (),
) -> tuple[tuple[HeartbeatSource, ...], int]:
    """(sources, interval) of the heartbeats a sensor at ``sensor_address`` receives: the
    network's gateway mirror's, when it sends its copies there; none otherwise.
    ``gateway_subnets``: where the gateways live, one heartbeat source each (a gateway per
    zone); default the first public subnet, where the one gateway lives."""
    mirror = plan.gateway_mirror
    # A fleet's load balancer hands each gateway's heartbeats to one sensor: none expects them.
    if mirror is None or mirror.to_fleet or mirror.sensor_address != sensor_address:
        return (), DEFAULT_HEARTBEAT_INTERVAL
    vni = mirror.vni if mirror.mode is GatewayMirrorMode.VXLAN else None
    subnets = tuple(gateway_subnets) or (plan.subnets[Tier.PUBLIC][0],)
    return tuple(HeartbeatSource(subnet, vni) for subnet in subnets), mirror.heartbeat_interval


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
    cloud_fields: Iterable[str] = frozenset(),
    heartbeats: tuple[tuple[HeartbeatSource, ...], int] = ((), DEFAULT_HEARTBEAT_INTERVAL),
    os_family: OsFamily = DEFAULT_OS_FAMILY,
    home_networks: Sequence[ipaddress.IPv4Network] = (),
) -> SensorPlan:
    """Validate ``SensorArgs`` and resolve defaults.

    ``heartbeats``: what :func:`gateway_heartbeats` says this sensor receives.

    ``cloud_fields`` are the keys the calling cloud module checks itself (``network``,
    ``instance_type``...); any other key that is not a ``SensorArgs`` field is refused here.
    ``os_family`` is the image's family (which IDS it can install); ``home_networks`` the
    monitored network's private tiers, Suricata's ``HOME_NET`` (default: the feed sources).
    """
    args = args or {}
    reject_unknown_fields(args, SENSOR_FIELDS | frozenset(cloud_fields), "")
    feeds_raw = _string_list("feeds", args.get("feeds", [e.value for e in Encapsulation]))
    feeds: list[Encapsulation] = []
    for index, text in enumerate(feeds_raw):
        feed = parse_enum(f"feeds[{index}]", text, Encapsulation)
        if feed not in feeds:
            feeds.append(feed)
    if not feeds:
        raise CloudtapInputError("feeds", list(feeds_raw), "at least one encapsulation")

    sources = _source_networks(
        args,
        "feed_source_cidrs",
        default_feed_sources,
        "the networks the mirror sources live in (prefix /8 or longer): a feed port "
        "open to the world lets anyone inject traffic into the IDS",
    )
    health_sources = _source_networks(
        args,
        "health_check_cidrs",
        # A caller without a network to default to: the feed sources, as given.
        default_feed_sources or sources,
        "the networks a load balancer checks from (prefix /8 or longer): the health port "
        "is never open to the world",
    )
    health_port = parse_int("health_port", args.get("health_port", DEFAULT_HEALTH_PORT), 1, 65535)
    if health_port == SSH_PORT:
        raise CloudtapInputError("health_port", health_port, "any TCP port but 22 (SSH's)")

    interface = check_capture_interface_name(
        "capture_interface",
        args.get("capture_interface", DEFAULT_CAPTURE_INTERFACE),
        len(FEEDER_SUFFIX),
    )
    mtu = parse_int("capture_mtu", args.get("capture_mtu", DEFAULT_CAPTURE_MTU), 1500, 65535)
    # The sensor installs them with dnf or apt-get, whichever its image has.
    ids = plan_ids(args, os_family=os_family, home_networks=home_networks or sources)
    extra = tuple(
        check_package_name(f"ids_packages[{index}]", package)
        for index, package in enumerate(_string_list("ids_packages", args.get("ids_packages", [])))
    )
    packages = ids.packages + tuple(p for p in dict.fromkeys(extra) if p not in ids.packages)
    mount = check_mount_point(
        "log_mount_point", args.get("log_mount_point", DEFAULT_LOG_MOUNT_POINT)
    )
    vlans = parse_vlan_by_vni("vlan_by_vni", args.get("vlan_by_vni", {}))
    return SensorPlan(
        feeds=tuple(feeds),
        feed_source_cidrs=sources,
        capture_interface=interface,
        capture_mtu=mtu,
        ids_packages=packages,
        log_mount_point=mount,
        log_volume=log_volume,
        health_port=health_port,
        health_check_cidrs=health_sources,
        heartbeat_sources=heartbeats[0],
        heartbeat_interval=heartbeats[1],
        ids=ids,
        os_family=os_family,
        vlan_by_vni=vlans,
    )


def parse_vlan_by_vni(field: str, value: Any) -> tuple[tuple[int, int], ...]:
    """``vlan_by_vni``'s (VNI, VLAN id) pairs in VNI order, each checked; see
    :class:`SensorArgs`. A key may be a string of digits only (YAML's ``"4242":``)."""
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise CloudtapInputError(
            field, value, "a mapping of VNI to 802.1Q VLAN id, e.g. {4242: 100}"
        )
    if len(value) > MAX_VLAN_BY_VNI:
        raise CloudtapInputError(
            field,
            f"{len(value)} entries",
            f"at most {MAX_VLAN_BY_VNI} entries (the sensor's BPF map holds {MAX_VLAN_BY_VNI})",
        )
    pairs: dict[int, int] = {}
    vni_of_vlan: dict[int, int] = {}
    for key, vlan in value.items():
        vni = key
        if isinstance(key, str) and _DIGITS.fullmatch(key):
            vni = int(key)
        if isinstance(vni, bool) or not isinstance(vni, int) or not VNI_MIN <= vni <= VNI_MAX:
            raise CloudtapInputError(
                field, key, f"VNIs (the keys) from {VNI_MIN} to {VNI_MAX}, as integers"
            )
        if vni in pairs:
            raise CloudtapInputError(f"{field}.{key}", key, f"each VNI once: {vni} is listed twice")
        if isinstance(vlan, bool) or not isinstance(vlan, int) or not VLAN_MIN <= vlan <= VLAN_MAX:
            raise CloudtapInputError(
                f"{field}.{vni}", vlan, f"an 802.1Q VLAN id from {VLAN_MIN} to {VLAN_MAX}"
            )
        if vlan in vni_of_vlan:
            raise CloudtapInputError(
                f"{field}.{vni}",
                vlan,
                f"a VLAN id no other VNI has: VNI {vni_of_vlan[vlan]} is on VLAN {vlan} "
                "already, and one VLAN would merge the two sessions again",
            )
        pairs[vni] = vlan
        vni_of_vlan[vlan] = vni
    return tuple(sorted(pairs.items()))


def vlan_by_vni_setting(pairs: Sequence[tuple[int, int]]) -> str:
    """``VNI:VLAN`` words, as the sensor's settings file lists them (``4242:100 4243:101``)."""
    return " ".join(f"{vni}:{vlan}" for vni, vlan in pairs)


def replace_heartbeats(
    plan: SensorPlan, heartbeats: tuple[tuple[HeartbeatSource, ...], int]
) -> SensorPlan:
    """``plan`` expecting ``heartbeats`` (what :func:`gateway_heartbeats` says), for a cloud
    module that learns the sensor's address only after :func:`plan_sensor` checked the rest."""
    return dataclasses.replace(
        plan, heartbeat_sources=heartbeats[0], heartbeat_interval=heartbeats[1]
    )


def _source_networks(
    args: Mapping[str, Any],
    field: str,
    default: Sequence[ipaddress.IPv4Network],
    expected: str,
) -> tuple[ipaddress.IPv4Network, ...]:
    if field in args:
        networks = tuple(
            parse_network(f"{field}[{i}]", text)
            for i, text in enumerate(_string_list(field, args[field]))
        )
    else:
        networks = tuple(default)
    for index, cidr in enumerate(networks):
        if cidr.prefixlen < 8:
            raise CloudtapInputError(f"{field}[{index}]", str(cidr), expected)
    if not networks:
        raise CloudtapInputError(field, [], "at least one network")
    return networks


SETTINGS_PATH = "/etc/cloudtap/sensor.conf"
SCRIPT_PATH = "/usr/local/sbin/cloudtap-sensor"
DECAP_PATH = "/usr/local/lib/cloudtap/cloudtap-decap"
BPF_OBJECT_PATH = "/usr/local/lib/cloudtap/cloudtap_decap.bpf.o"
"""The tc decapsulator, built from ``assets/sensor/bpf/cloudtap_decap.bpf.c`` by
``scripts/build-bpf`` and shipped compiled: a sensor needs no compiler."""
BPF_HELPER_PATH = "/usr/local/lib/cloudtap/cloudtap-bpf"
UNIT_PATH = "/etc/systemd/system/cloudtap-sensor.service"
DECAP_UNIT_PATH = "/etc/systemd/system/cloudtap-decap.service"
HEALTH_PATH = "/usr/local/lib/cloudtap/cloudtap-health"
HEALTH_UNIT_PATH = "/etc/systemd/system/cloudtap-health.service"
SERVICE = "cloudtap-sensor.service"
DECAP_SERVICE = "cloudtap-decap.service"
HEALTH_SERVICE = "cloudtap-health.service"
SETTINGS_KEYS = (
    "FEEDS",
    "FEED_SOURCE_CIDRS",
    "CAPTURE_INTERFACE",
    "CAPTURE_MTU",
    "VXLAN_PORT",
    "GENEVE_PORT",
    "IDS_PACKAGES",
    "LOG_VOLUME",
    "LOG_MOUNT_POINT",
    "HEALTH_PORT",
    "HEALTH_SOURCE_CIDRS",
    "HEARTBEAT_SOURCES",
    "HEARTBEAT_INTERVAL",
    "HEARTBEAT_MISSED",
    "IDS",
    "IDS_LOG_DIR",
    "IDS_HOME_NET",
    "IDS_EVE_TYPES",
    "IDS_RULE_SOURCES",
    "IDS_CUSTOM_RULES_SHA256",
    "IDS_EVENT_MAX_AGE",
    "VLAN_BY_VNI",
)
"""Every key the settings file may set: the script's ``SETTINGS_KEYS`` (a test holds them equal)."""
FEEDER_SUFFIX = "-tx"
"""The feeder end of the capture veth is the capture interface's name plus this."""
BASE_PACKAGES: Mapping[OsFamily, tuple[str, ...]] = {
    # AL2023 ships neither nftables nor tc; python3 and ethtool are part of its image.
    OsFamily.AMAZON_LINUX: ("tcpdump", "nftables", "iproute-tc"),
    # tc is part of iproute2 here; ethtool (GRO off on the capture path) is not in every image.
    OsFamily.DEBIAN: ("tcpdump", "nftables", "iproute2", "ethtool"),
    OsFamily.RHEL: ("tcpdump", "nftables", "iproute-tc", "ethtool"),
}
"""Installed on every sensor, by the names of its image's distribution family. ``python3`` (for
cloudtap-decap) is on every image that runs cloud-init, which is written in it."""
DEFAULT_LOG_DEVICE = "/dev/sdf"
"""Where the cloud attaches the log volume. On AWS this is the block device mapping's name;
Amazon Linux 2023's udev rules link it to the NVMe device of Nitro instances."""
LOG_MOUNT_OPTIONS = "defaults,nofail,x-systemd.device-timeout=30s"
"""``nofail``: a sensor whose log volume is missing still boots and captures."""


def render_settings(plan: SensorPlan) -> str:
    """The key=value file ``cloudtap-sensor`` reads. Values are validated names and numbers."""
    lines: list[SettingsLine] = [
        "# cloudtap sensor settings, rendered by cloudtap: edit the Pulumi stack, not this file.",
        "# Encapsulations accepted: vxlan (UDP VXLAN_PORT), geneve (UDP GENEVE_PORT), gre, erspan.",
        ("FEEDS", " ".join(feed.value for feed in plan.feeds)),
        "# Only these networks may send feeds; the sensor never answers a feed.",
        ("FEED_SOURCE_CIDRS", " ".join(str(cidr) for cidr in plan.feed_source_cidrs)),
        "# The IDS watches CAPTURE_INTERFACE; frames are written into CAPTURE_INTERFACE-tx.",
        ("CAPTURE_INTERFACE", plan.capture_interface),
        ("CAPTURE_MTU", plan.capture_mtu),
        ("VXLAN_PORT", VXLAN_PORT),
        ("GENEVE_PORT", GENEVE_PORT),
        "# Installed by `cloudtap-sensor install-ids` at first boot (distribution names).",
        ("IDS_PACKAGES", " ".join(plan.ids_packages)),
        ("LOG_VOLUME", "yes" if plan.log_volume else "no"),
        ("LOG_MOUNT_POINT", plan.log_mount_point),
        "# The health responder (cloudtap-health.service) answers on TCP HEALTH_PORT, from these",
        "# networks only, while `cloudtap-sensor check` passes.",
        ("HEALTH_PORT", plan.health_port),
        ("HEALTH_SOURCE_CIDRS", " ".join(str(cidr) for cidr in plan.health_check_cidrs)),
        "# Gateway mirrors sending heartbeats (NETWORK:VNI, or NETWORK:tee), every",
        "# HEARTBEAT_INTERVAL seconds; check names one silent for more than HEARTBEAT_MISSED.",
        ("HEARTBEAT_SOURCES", " ".join(source.setting for source in plan.heartbeat_sources)),
        ("HEARTBEAT_INTERVAL", plan.heartbeat_interval),
        ("HEARTBEAT_MISSED", HEARTBEAT_MISSED),
        "# The IDS cloudtap configures (apply writes /etc/cloudtap/suricata.yaml from these) and",
        "# starts with setup-ids; check fails when it stops, leaves CAPTURE_INTERFACE or writes",
        "# no event for IDS_EVENT_MAX_AGE seconds. IDS_RULE_SOURCES: suricata-update sources",
        "# beside ET Open. IDS_CUSTOM_RULES_SHA256: the stack's rules file, which the user data",
        "# writes (too big for this file); the sensor refuses settings naming rules it lacks.",
        ("IDS", plan.ids.ids.value),
        ("IDS_LOG_DIR", plan.ids_log_dir),
        ("IDS_HOME_NET", " ".join(str(cidr) for cidr in plan.ids.home_networks)),
        ("IDS_EVE_TYPES", " ".join(plan.ids.eve_types)),
        ("IDS_RULE_SOURCES", " ".join(plan.ids.rule_sources)),
        ("IDS_CUSTOM_RULES_SHA256", custom_rules_sha256(plan.ids.custom_rules)),
        ("IDS_EVENT_MAX_AGE", plan.ids.event_max_age_s),
    ]
    if plan.vlan_by_vni:
        # Only when set: a sensor without it keeps today's settings file, byte for byte.
        lines += [
            "# Copies of these VNIs reach CAPTURE_INTERFACE with an 802.1Q tag (VNI:VLAN).",
            ("VLAN_BY_VNI", vlan_by_vni_setting(plan.vlan_by_vni)),
        ]
    return render_settings_file(lines, keys=SETTINGS_KEYS)


def _check_written_text(plan: SensorPlan) -> None:
    """The plan's free text, checked again where it is written.

    :func:`plan_sensor` already checked it, but a plan can be made another way
    (``dataclasses.replace``, a caller's own code), and these values land in the settings file
    and in fstab of a host that runs them as root at every boot.
    """
    try:
        check_capture_interface_name(
            "capture_interface", plan.capture_interface, len(FEEDER_SUFFIX)
        )
        check_mount_point("log_mount_point", plan.log_mount_point)
        for index, package in enumerate(plan.ids_packages):
            check_package_name(f"ids_packages[{index}]", package)
        for index, cidr in enumerate(plan.ids.home_networks):
            parse_network(f"home_net_cidrs[{index}]", str(cidr))
        if plan.ids.runs:
            check_mount_point("ids_log_dir", plan.ids_log_dir)
        parse_vlan_by_vni("vlan_by_vni", dict(plan.vlan_by_vni))
        if len(dict(plan.vlan_by_vni)) != len(plan.vlan_by_vni):
            raise CloudtapInputError("vlan_by_vni", plan.vlan_by_vni, "each VNI once")
    except CloudtapInputError as error:
        raise ValueError(f"a SensorPlan that plan_sensor would refuse: {error}") from None


def sensor_files(source: SettingsSource, ids_custom_rules: str | None = None) -> list[WrittenFile]:
    """What the sensor's user data writes: script, library, decapsulators (tc BPF object and its
    map tool, the Python fallback), units, the IDS's static files (its unit drop-in, the rules
    update service and timer; :func:`~components.ids.ids_boot_files`) and the settings delivery
    (fetcher, its units, the source file), never the settings themselves. The IDS files that
    depend on the settings (``suricata.yaml``, logrotate) are written by ``cloudtap-sensor``
    from the settings in force; ``ids_custom_rules``, the stack's rules file, is the one IDS
    input too big for the settings (see :func:`render_boot_cloud_config`)."""
    return [
        WrittenFile(SCRIPT_PATH, asset_text("sensor", "cloudtap-sensor.sh"), "0755"),
        net_library(),
        WrittenFile(DECAP_PATH, asset_text("sensor", "cloudtap_decap.py"), "0755"),
        WrittenFile(
            BPF_OBJECT_PATH,
            # Compressed on its own: base64 of the raw object would cost ~3 KB more user data.
            gzip_base64_bytes(asset_bytes("sensor", "bpf", "cloudtap_decap.bpf.o")),
            encoding="gz+b64",
        ),
        WrittenFile(BPF_HELPER_PATH, asset_text("sensor", "cloudtap_bpf.py"), "0755"),
        WrittenFile(UNIT_PATH, asset_text("sensor", "cloudtap-sensor.service")),
        WrittenFile(DECAP_UNIT_PATH, asset_text("sensor", "cloudtap-decap.service")),
        WrittenFile(HEALTH_PATH, asset_text("sensor", "cloudtap_health.py"), "0755"),
        WrittenFile(HEALTH_UNIT_PATH, asset_text("sensor", "cloudtap-health.service")),
        *ids_boot_files(ids_custom_rules),
        *delivery_files(source, "sensor"),
    ]


def user_data_field(args: Mapping[str, Any]) -> tuple[str, Any]:
    """(field, value) to blame when the sensor's user data is over the cloud's limit: the
    stack's rules file (the one input that makes it grow, up to 64 KiB) when it is given;
    otherwise cloudtap's own boot files are too big, which no stack field can fix."""
    if args.get("ids_custom_rules") is not None:
        return "ids_custom_rules", args["ids_custom_rules"]
    return OWN_BOOT_FILES


@dataclass(frozen=True)
class LogVolume:
    """The sensor's separate log volume, a boot matter (formatted and mounted by cloud-init)."""

    mount_point: str = DEFAULT_LOG_MOUNT_POINT
    device: str = DEFAULT_LOG_DEVICE


def render_boot_cloud_config(
    *,
    source: SettingsSource,
    os_family: OsFamily = DEFAULT_OS_FAMILY,
    log_volume: LogVolume | None = None,
    ids_custom_rules: str | None = None,
    extra_files: Sequence[WrittenFile] = (),
) -> str:
    """The sensor's user data (``#cloud-config``) for an image of ``os_family``, its settings
    read from ``source``: the same for every feed, capture and IDS setting but one.

    Installs the family's :data:`BASE_PACKAGES` and writes :func:`sensor_files`. At boot
    ``cloudtap-settings`` fetches the settings and applies them, ``cloudtap-sensor
    install-ids`` installs ``IDS_PACKAGES`` (apart from cloud-init's ``packages``, which
    installs all of its list or none: an IDS package the distribution lacks, such as
    ``suricata`` on Amazon Linux 2023 without its supplementary repository, must not cost the
    sensor its capture tools; nothing without packages), then ``cloudtap-sensor.service``
    applies the last good settings and fails the boot's ``runcmd`` (visible in
    ``cloud-init status --long``) if the capture interface or a feed's decapsulation is missing.
    ``cloudtap-sensor setup-ids`` comes last (with ``IDS=none`` it only checks): rules update,
    the daily timer, the IDS unit enabled and started, and the check that it reads the capture
    interface (it checks the capture path first, so its result still fails the boot when the
    capture interface is missing).
    ``ids_custom_rules`` (the stack's checked rules file, up to 64 KiB: more than an SSM
    parameter holds) is written here; the settings carry its sha256, and the sensor refuses
    settings naming rules it does not hold, so changing the file changes the user data.
    With ``log_volume`` the volume at its ``device`` gets an ext4 file system labelled
    ``cloudtap-logs`` unless it already carries one (a volume moved from a replaced sensor keeps
    its logs; a volume holding any other file system is left alone), mounted at its
    ``mount_point`` through ``/dev/disk/by-label/cloudtap-logs`` with ``nofail`` (cloud-init's
    ``mounts`` silently drops ``LABEL=`` entries); ``cloudtap-sensor apply`` mounts it when
    it is not mounted yet (systemd orders a ``nofail`` mount before nothing), before the IDS.

    ``extra_files`` are written too: the host-feed listener's
    (:func:`components.host_feed.listener_files`), which ``cloudtap-sensor apply`` starts when
    its settings file is there.
    """
    return _render(source, os_family, log_volume, ids_custom_rules, tuple(extra_files))


def render_cloud_config(
    plan: SensorPlan,
    *,
    log_device: str = DEFAULT_LOG_DEVICE,
    os_family: OsFamily | None = None,
    extra_files: Sequence[WrittenFile] = (),
) -> str:
    """User data that carries its settings: the boot cloud-config with a ``file`` source at
    :data:`SETTINGS_PATH`, and that file (for a host whose settings change only with the
    instance, such as the real-boot test). ``plan.log_volume`` says whether the volume at
    ``log_device`` is formatted and mounted at ``plan.log_mount_point``; ``os_family``
    defaults to the family the plan's IDS was checked against. ``extra_files`` as in
    :func:`render_boot_cloud_config`."""
    _check_written_text(plan)
    family = plan.os_family if os_family is None else os_family
    if plan.ids.runs and family is not plan.os_family:
        raise ValueError(
            f"the plan's IDS was checked against {plan.os_family.value}, not {family.value}"
        )
    volume = LogVolume(plan.log_mount_point, log_device) if plan.log_volume else None
    settings = WrittenFile(SETTINGS_PATH, render_settings(plan))
    extra = (settings, *extra_files)
    return _render(SettingsSource.file(SETTINGS_PATH), family, volume, plan.ids.custom_rules, extra)


def _render(
    source: SettingsSource,
    os_family: OsFamily,
    log_volume: LogVolume | None,
    ids_custom_rules: str | None,
    extra: tuple[WrittenFile, ...] = (),
) -> str:
    if log_volume is not None:
        if not log_volume.device.startswith("/dev/"):
            raise CloudtapInputError(
                "log_device", log_volume.device, "a device path such as /dev/sdf"
            )
        try:
            check_mount_point("log_mount_point", log_volume.mount_point)
        except CloudtapInputError as error:
            raise ValueError(f"a LogVolume that plan_sensor would refuse: {error}") from None
    if ids_custom_rules is not None:
        try:
            check_rules_text("ids_custom_rules", ids_custom_rules)
        except CloudtapInputError as error:
            raise ValueError(f"rules that plan_sensor would refuse: {error}") from None
    skeleton: dict[str, Any] = yaml.safe_load(asset_text("sensor", "cloud-config.yaml")) or {}
    document: dict[str, Any] = {"packages": list(BASE_PACKAGES[os_family])}
    if log_volume is not None:
        document["fs_setup"] = [
            {
                "label": LOG_VOLUME_LABEL,
                "filesystem": "ext4",
                "device": log_volume.device,
                # "auto": reuse a file system with this label, format only an empty device.
                "partition": "auto",
            }
        ]
        document["mounts"] = [
            [
                f"/dev/disk/by-label/{LOG_VOLUME_LABEL}",
                log_volume.mount_point,
                "ext4",
                LOG_MOUNT_OPTIONS,
                "0",
                "2",
            ]
        ]
    runcmd = delivery_runcmd(source, SERVICE, (HEALTH_SERVICE,))
    if source.polled:
        # After the first fetch, before the health responder and the unit: the sensor's own
        # failure stays the decisive one. Pushed settings install and set up their IDS when
        # they arrive (apply-settings).
        runcmd.insert(len(runcmd) - 2, [SCRIPT_PATH, "install-ids"])
        # Last: it checks the capture path before the IDS, so its failure is still the sensor's.
        runcmd.append([SCRIPT_PATH, "setup-ids"])
    document.update({**skeleton, "runcmd": runcmd})
    files = [*extra, *sensor_files(source, ids_custom_rules)]
    return render(yaml.safe_dump(document, sort_keys=False), files)
