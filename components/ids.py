"""The IDS a sensor runs on its capture interface, planned and rendered from the sensor's args.

Cloud-neutral: every cloud's sensor plans its IDS here (:func:`plan_ids`, called by
:func:`components.sensor.plan_sensor`), so AWS, Azure and OpenStack sensors come up the same way.

Suricata is configured by files cloudtap renders, never by a user string in a shell line:

- ``/etc/cloudtap/suricata.yaml``: a Suricata config that includes the distribution's own
  ``/etc/suricata/suricata.yaml`` first and then sets what cloudtap owns (the capture
  interface, ``HOME_NET``, checksum validation, the log directory, the EVE output, the rule
  files). Suricata replaces a top-level key that a later file sets again whole, and merges a
  dotted key (``vars.address-groups.HOME_NET``) into what is there: ``outputs`` and
  ``af-packet`` are therefore cloudtap's alone, and the variables, ``stream`` and ``stats``
  keep the distribution's other values (a test holds both with ``--dump-config``).
- a systemd drop-in for ``suricata.service`` that runs that config, ordered after (and
  requiring) ``cloudtap-sensor.service``, restarted on failure;
- ``cloudtap-ids-update.service`` and its daily timer (``suricata-update``, then a rule reload);
- a logrotate file for the log directory;
- the stack's own rules file, when it ships one (each line checked: a rule or a comment).

The settings carry every IDS value (``IDS``, ``IDS_HOME_NET``, ``IDS_EVE_TYPES``...) and
``cloudtap-sensor apply`` writes the two files that depend on them (``suricata.yaml``, the
logrotate file), so an IDS change is applied in place by ``apply-settings``. The user data holds
the static files and the stack's rules file (up to 64 KiB, more than a settings parameter
holds: the settings carry its sha256, so a change to it changes the user data).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import yaml

from .cloud_config import WrittenFile, asset_text
from .errors import CloudtapInputError
from .fields import parse_enum, parse_int, parse_network
from .os_family import OsFamily
from .shapes import has_control_character


class Ids(StrEnum):
    """What analyses the copies on the capture interface."""

    SURICATA = "suricata"
    """Suricata (AF_PACKET on the capture interface), from the distribution's own archive."""
    ZEEK = "zeek"
    """Zeek: no family cloudtap supports packages it in its own repositories (Debian 12,
    Ubuntu 24.04, Amazon Linux 2023 and RHEL 9 without EPEL do not), so it is refused."""
    ARKIME = "arkime"
    """Arkime: packaged by its project only, in no distribution's repositories: refused."""
    NONE = "none"
    """Capture only: the capture interface for a tool of the user's own choice."""


IDS_PACKAGES: Final[Mapping[OsFamily, Mapping[Ids, tuple[str, ...]]]] = {
    # Ubuntu 24.04 (universe) and Debian 13 carry suricata 7; Debian 12 in bookworm-backports.
    OsFamily.DEBIAN: {Ids.SURICATA: ("suricata", "suricata-update")},
    # Amazon Linux 2023 has no suricata at all; RHEL, Rocky and Alma only through EPEL.
    OsFamily.AMAZON_LINUX: {},
    OsFamily.RHEL: {},
}
"""The packages each family's own repositories hold for an IDS; an IDS missing here cannot be
installed on that family."""
APT_IDS_SUITES: Final[Mapping[str, str]] = {"bookworm": "bookworm-backports"}
"""Releases (os-release ``VERSION_CODENAME``) whose own suite lacks Suricata, and the suite
``install-ids`` takes it from (``apt-get -t``): Debian 12's main suite has no Suricata and its
backports' needs newer libraries from there too. Debian's cloud images list backports."""
WHY_NOT: Final[Mapping[OsFamily, str]] = {
    OsFamily.AMAZON_LINUX: "Amazon Linux 2023's repositories carry neither Suricata nor Zeek",
    OsFamily.RHEL: "RHEL, Rocky and Alma carry Suricata only in EPEL, which cloudtap does not add",
    OsFamily.DEBIAN: "Debian and Ubuntu carry Suricata only (no Zeek, no Arkime)",
}

SURICATA_CONFIG_PATH: Final = "/etc/cloudtap/suricata.yaml"
DISTRIBUTION_CONFIG_PATH: Final = "/etc/suricata/suricata.yaml"
RULES_DIR: Final = "/var/lib/cloudtap/rules"
"""Suricata's rule directory: ``suricata-update`` writes ``suricata.rules`` here, cloud-init
the stack's own ``custom.rules``."""
UPDATED_RULES: Final = "suricata.rules"
CUSTOM_RULES: Final = "custom.rules"
IDS_UNIT: Final = "suricata.service"
DROP_IN_PATH: Final = "/etc/systemd/system/suricata.service.d/cloudtap.conf"
UPDATE_SERVICE_PATH: Final = "/etc/systemd/system/cloudtap-ids-update.service"
UPDATE_TIMER_PATH: Final = "/etc/systemd/system/cloudtap-ids-update.timer"
UPDATE_TIMER: Final = "cloudtap-ids-update.timer"
LOGROTATE_PATH: Final = "/etc/logrotate.d/cloudtap-ids"
PID_FILE: Final = "/run/suricata.pid"
FALLBACK_LOG_DIR: Final = "/var/log/suricata"
"""The log directory without a log volume: the distribution's own."""
EVE_FILE: Final = "eve.json"
DEFAULT_EVENT_MAX_AGE_S: Final = 300
"""``ids_event_max_age_s``: Suricata writes a ``stats`` record every 8 s, so a healthy IDS on a
quiet network is never this stale; five minutes leaves room for a slow rule reload."""
AF_PACKET_CLUSTER_ID: Final = 99
STATS_INTERVAL_S: Final = 8

EVE_TYPES: Final = (
    "alert", "anomaly", "http", "dns", "tls", "files", "smtp", "ssh", "flow", "netflow",
    "dhcp", "krb5", "nfs", "smb", "ftp", "rdp", "sip", "snmp", "mqtt", "http2", "quic",
    "pgsql", "ike", "tftp", "rfb", "bittorrent-dht", "drop", "frame",
)  # fmt: skip
"""EVE event types a user may choose (Suricata 7's ``outputs.eve-log.types``); ``stats`` is
always written: the health check reads its age."""
DEFAULT_EVE_TYPES: Final = ("alert", "anomaly", "http", "dns", "tls", "ssh", "flow")

# suricata-update's index names its sources vendor/name (et/open, oisf/trafficid, tgreen/hunting).
_RULE_SOURCE: Final = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}/[a-z0-9][a-z0-9_.-]{0,63}")
RULE_SOURCE_RULE: Final = (
    "a source name from suricata-update's index, vendor/name (e.g. oisf/trafficid): lower-case "
    "letters, digits, '.', '_', '-'"
)
CUSTOM_RULES_MAX_BYTES: Final = 64 * 1024
# One Suricata rule per line: an action, a header and options in parentheses ending with sid.
_RULE_LINE: Final = re.compile(
    r"(?:alert|pass|drop|reject|rejectsrc|rejectdst|rejectboth) [^()]+ \(.*\bsid: ?[0-9]+;.*\)"
)
# Options that make Suricata run a script or write files a rule names.
_FORBIDDEN_RULE_OPTIONS: Final = re.compile(r"\b(?:lua|luajit|dataset|datarep|filestore)\s*:")


@dataclass(frozen=True)
class IdsPlan:
    ids: Ids
    packages: tuple[str, ...]
    """Distribution packages of ``ids`` for the image's family (empty for ``none``)."""
    home_networks: tuple[ipaddress.IPv4Network, ...]
    """Suricata's ``HOME_NET``: the network's private tiers and the user's additions."""
    rule_sources: tuple[str, ...]
    """suricata-update sources enabled beside its default (ET Open)."""
    custom_rules: str | None
    """The stack's rules file, checked line by line; ``None``: none shipped."""
    eve_types: tuple[str, ...]
    event_max_age_s: int

    @property
    def runs(self) -> bool:
        return self.ids is not Ids.NONE

    def describe(self, capture_interface: str, log_dir: str) -> str:
        """The preview line: what the sensor will run."""
        if not self.runs:
            return f"sensor IDS: none (capture only on {capture_interface})"
        home = ", ".join(str(cidr) for cidr in self.home_networks)
        extra = f", plus {', '.join(self.rule_sources)}" if self.rule_sources else ""
        custom = ", plus the stack's rules file" if self.custom_rules is not None else ""
        return (
            f"sensor IDS: {self.ids.value} on {capture_interface} (AF_PACKET), HOME_NET [{home}], "
            f"rules ET Open{extra}{custom} (suricata-update at boot and daily), "
            f"EVE JSON in {log_dir}/{EVE_FILE}"
        )


def _list(field: str, value: Any) -> Sequence[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise CloudtapInputError(field, value, "a list")
    return value


def default_ids(os_family: OsFamily) -> Ids:
    """Suricata where the family's repositories carry it, else capture only."""
    return Ids.SURICATA if Ids.SURICATA in IDS_PACKAGES[os_family] else Ids.NONE


def plan_ids(
    args: Mapping[str, Any],
    *,
    os_family: OsFamily,
    home_networks: Sequence[ipaddress.IPv4Network],
) -> IdsPlan:
    """Check the sensor's ``ids*`` and ``home_net_cidrs`` fields against ``os_family``."""
    ids = parse_enum("ids", args.get("ids", default_ids(os_family).value), Ids)
    packages: tuple[str, ...] = ()
    if ids is not Ids.NONE:
        if ids not in IDS_PACKAGES[os_family]:
            raise CloudtapInputError(
                "ids",
                ids.value,
                f"an IDS the image's family ({os_family.value}) installs from its own "
                f"repositories: {WHY_NOT[os_family]}; use "
                f"{'suricata with a Debian or Ubuntu image, or ' if ids is Ids.SURICATA else ''}"
                "none (capture only)",
            )
        packages = IDS_PACKAGES[os_family][ids]
    homes = list(home_networks)
    for index, text in enumerate(_list("home_net_cidrs", args.get("home_net_cidrs", []))):
        cidr = parse_network(f"home_net_cidrs[{index}]", text)
        if cidr.prefixlen < 8:
            raise CloudtapInputError(
                f"home_net_cidrs[{index}]", text, "a network of prefix /8 or longer: HOME_NET "
                "is what the IDS protects, and the whole Internet as home turns every rule off",
            )  # fmt: skip
        if cidr not in homes:
            homes.append(cidr)
    sources: list[str] = []
    for index, text in enumerate(_list("ids_rule_sources", args.get("ids_rule_sources", []))):
        if not isinstance(text, str) or _RULE_SOURCE.fullmatch(text) is None:
            raise CloudtapInputError(f"ids_rule_sources[{index}]", text, RULE_SOURCE_RULE)
        if text not in sources:
            sources.append(text)
    eve_types: list[str] = []
    raw_types = _list("ids_eve_types", args.get("ids_eve_types", list(DEFAULT_EVE_TYPES)))
    for index, text in enumerate(raw_types):
        if not isinstance(text, str) or text not in EVE_TYPES:
            raise CloudtapInputError(
                f"ids_eve_types[{index}]", text, f"one of {list(EVE_TYPES)} (stats is always on)"
            )
        if text not in eve_types:
            eve_types.append(text)
    custom = args.get("ids_custom_rules")
    rules = None if custom is None else read_custom_rules("ids_custom_rules", custom)
    max_age = parse_int(
        "ids_event_max_age_s", args.get("ids_event_max_age_s", DEFAULT_EVENT_MAX_AGE_S), 30, 86400
    )
    if ids is Ids.NONE:
        for field in ("ids_rule_sources", "ids_custom_rules", "ids_eve_types", "home_net_cidrs"):
            if args.get(field):
                raise CloudtapInputError(
                    field, args[field], "no value with ids: none (nothing would read it)"
                )
    return IdsPlan(
        ids=ids,
        packages=packages,
        home_networks=tuple(homes),
        rule_sources=tuple(sources),
        custom_rules=rules,
        eve_types=tuple(eve_types),
        event_max_age_s=max_age,
    )


def read_custom_rules(field: str, value: Any) -> str:
    """The stack's rules file (a path relative to the program's directory), checked whole:
    every line a Suricata rule or a comment, no option that runs a script or writes files."""
    if not isinstance(value, str) or not value or has_control_character(value):
        raise CloudtapInputError(field, value, "the path of a Suricata rules file")
    path = Path(value)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CloudtapInputError(
            field, value, f"a readable rules file ({error.strerror or error})"
        ) from None
    if len(data) > CUSTOM_RULES_MAX_BYTES:
        raise CloudtapInputError(
            field, value, f"a rules file of at most {CUSTOM_RULES_MAX_BYTES} bytes (user data)"
        )
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise CloudtapInputError(field, value, "a rules file of ASCII text") from None
    check_rules_text(field, text)
    return text if text.endswith("\n") else text + "\n"


def check_rules_text(field: str, text: str) -> None:
    for number, line in enumerate(text.split("\n"), 1):
        stripped = line.strip()
        if not stripped or (stripped.startswith("#") and not has_control_character(stripped)):
            continue
        if (
            has_control_character(line)
            or _RULE_LINE.fullmatch(stripped) is None
            or _FORBIDDEN_RULE_OPTIONS.search(stripped) is not None
        ):
            raise CloudtapInputError(
                f"{field} line {number}",
                line,
                "a Suricata rule on one line (action, header, options ending with sid in "
                "parentheses) or a # comment, without the lua, luajit, dataset, datarep or "
                "filestore options (they run scripts or write files on the sensor)",
            )


# -- rendering ----------------------------------------------------------------------------------


def suricata_config(plan: IdsPlan, *, capture_interface: str, log_dir: str) -> str:
    """``/etc/cloudtap/suricata.yaml``: the distribution's config, then cloudtap's settings."""
    rule_files = [UPDATED_RULES]
    if plan.custom_rules is not None:
        rule_files.append(CUSTOM_RULES)
    eve = {
        "enabled": "yes",
        "filetype": "regular",
        "filename": EVE_FILE,
        "community-id": True,
        "types": [*plan.eve_types, {"stats": {"totals": "yes", "threads": "no"}}],
    }
    document = {
        "include": DISTRIBUTION_CONFIG_PATH,
        # Dotted keys merge into the distribution's values; plain top-level keys replace them.
        "vars.address-groups.HOME_NET": "["
        + ",".join(str(cidr) for cidr in plan.home_networks)
        + "]",
        "vars.address-groups.EXTERNAL_NET": "!$HOME_NET",
        "default-log-dir": log_dir,
        "default-rule-path": RULES_DIR,
        "rule-files": rule_files,
        "outputs": [{"eve-log": eve}],
        "af-packet": [
            {
                "interface": capture_interface,
                "cluster-id": AF_PACKET_CLUSTER_ID,
                "cluster-type": "cluster_flow",
                "defrag": "yes",
                "use-mmap": "yes",
                "tpacket-v3": "yes",
                # Copies reach the capture interface with final checksums (GRO off on the
                # tunnel devices, the decapsulator writes frames as mirrored), so a bad
                # checksum is the wire's: validate it, as on a span port.
                "checksum-checks": "yes",
            }
        ],
        "stream.checksum-validation": "yes",
        "stats.enabled": "yes",
        "stats.interval": STATS_INTERVAL_S,
    }
    header = (
        "%YAML 1.1\n---\n"
        "# Rendered by cloudtap: edit the Pulumi stack, not this file. The distribution's\n"
        "# suricata.yaml comes first; what follows replaces its values.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, width=100)


def custom_rules_sha256(rules: str | None) -> str:
    """What the settings carry of the stack's rules file ("" for none): the file itself travels
    in the user data, too big for a settings parameter."""
    return "" if rules is None else hashlib.sha256(rules.encode("ascii")).hexdigest()


def ids_boot_files(custom_rules: str | None) -> list[WrittenFile]:
    """The IDS's files in the user data: the static ones (whatever the settings), and the
    stack's rules file when it ships one. ``suricata.yaml`` and the logrotate file depend on
    the settings: ``cloudtap-sensor apply`` writes them (the same as :func:`suricata_config`
    and :func:`logrotate_config`; a test holds them equal)."""
    files = [
        WrittenFile(DROP_IN_PATH, asset_text("sensor", "suricata-cloudtap.conf")),
        WrittenFile(UPDATE_SERVICE_PATH, asset_text("sensor", "cloudtap-ids-update.service")),
        WrittenFile(UPDATE_TIMER_PATH, asset_text("sensor", "cloudtap-ids-update.timer")),
    ]
    if custom_rules is not None:
        files.append(WrittenFile(f"{RULES_DIR}/{CUSTOM_RULES}", custom_rules))
    return files


def logrotate_config(log_dir: str) -> str:
    # Suricata reopens its logs on SIGHUP; the pid file is the unit's.
    return (
        "# Rendered by cloudtap.\n"
        f"{log_dir}/*.log {log_dir}/*.json {{\n"
        "    daily\n    rotate 14\n    maxsize 1G\n    missingok\n    notifempty\n"
        "    compress\n    delaycompress\n    sharedscripts\n"
        "    postrotate\n"
        f"        /bin/kill -HUP $(cat {PID_FILE} 2>/dev/null) 2>/dev/null || true\n"
        "    endscript\n}\n"
    )
