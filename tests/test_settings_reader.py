"""The gateway and sensor scripts read their settings file as data: nothing in it ever runs, and a
file that is not exactly cloudtap's settings stops the script before it touches the host.

The scripts run as rendered from Python, with PATH holding only stand-ins for the tools that
change a host (ip, nft, sysctl, ...): each records that it ran, so "refused before anything was
touched" is observed, not assumed. The same stand-ins make running ``apply`` here harmless.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from components import gateway, sensor
from components.cloud_config import NET_LIBRARY_PATH, SETTINGS_VALUE, written_files
from components.network_plan import plan_network
from tests.shell import write_rendered

ROOT = Path(__file__).resolve().parent.parent
BASH = shutil.which("bash") or "/bin/bash"
# What the scripts call to look at or change the host (and to install packages).
HOST_TOOLS = (
    "ip",
    "nft",
    "sysctl",
    "tc",
    "ethtool",
    "systemctl",
    "journalctl",
    "setsid",
    "mountpoint",
    "dnf",
    "apt-get",
    "rpm",
    "dpkg",
    "python3",
)


@dataclass(frozen=True)
class Script:
    name: str
    script_path: str
    settings_path: str
    conf_variable: str
    commands: tuple[str, ...]
    keys: tuple[str, ...]
    cloud_config: Callable[[], str]
    target_key: str
    """The key the hostile lines below take the place of."""


def gateway_cloud_config() -> str:
    stack = yaml.safe_load((ROOT / "stacks" / "Pulumi.aws-dev.yaml").read_text())
    network = {**stack["config"]["cloudtap:network"], "gateway_mirror": {}}
    return gateway.render_cloud_config(plan_network(network), underlay_mtu=gateway.AWS_VPC_MTU)


def sensor_plan() -> sensor.SensorPlan:
    return sensor.plan_sensor(
        {
            "ids_packages": ["suricata", "zeek"],
            "feed_source_cidrs": ["10.0.0.0/16", "10.9.0.0/24"],
            "vlan_by_vni": {4243: 101, "4242": 100},
        },
        default_feed_sources=[],
        log_volume=True,
    )


def sensor_cloud_config() -> str:
    return sensor.render_cloud_config(sensor_plan())


GATEWAY = Script(
    "gateway",
    gateway.SCRIPT_PATH,
    gateway.SETTINGS_PATH,
    "CLOUDTAP_GATEWAY_CONF",
    ("check", "render", "apply", "heartbeat"),
    gateway.SETTINGS_KEYS,
    gateway_cloud_config,
    "PRIVATE_CIDRS",
)
SENSOR = Script(
    "sensor",
    sensor.SCRIPT_PATH,
    sensor.SETTINGS_PATH,
    "CLOUDTAP_SENSOR_CONF",
    ("check", "render", "apply", "install-ids"),
    sensor.SETTINGS_KEYS,
    sensor_cloud_config,
    "LOG_MOUNT_POINT",
)
SCRIPTS = (GATEWAY, SENSOR)


@dataclass
class Rendered:
    """One script's rendered files in a directory, run against a settings file of our choice."""

    script: Script
    directory: Path
    files: dict[str, Path]
    environment: dict[str, str]
    marker: Path
    """What the hostile lines try to create."""
    touched: Path
    """Where the host-tool stand-ins record that they ran."""

    @property
    def settings(self) -> str:
        return self.files[self.script.settings_path].read_text()

    def run(self, command: str, settings: str | bytes) -> subprocess.CompletedProcess[str]:
        conf = self.directory / "hostile.conf"
        if isinstance(settings, bytes):
            conf.write_bytes(settings)
        else:
            conf.write_text(settings)
        return subprocess.run(
            [BASH, str(self.files[self.script.script_path]), command],
            capture_output=True,
            text=True,
            check=False,
            cwd=self.directory,
            env={**self.environment, self.script.conf_variable: str(conf)},
            timeout=30,
        )


def render_into(script: Script, directory: Path) -> Rendered:
    files, environment = write_rendered(script.cloud_config(), directory)
    tools = directory / "tools"
    tools.mkdir()
    touched = directory / "touched"
    for tool in HOST_TOOLS:
        stand_in = tools / tool
        stand_in.write_text(f'#!/bin/sh\necho "$0 $*" >>{touched}\n')
        stand_in.chmod(0o755)
    # The real touch: were any hostile line run, it would leave the marker.
    (tools / "touch").symlink_to(shutil.which("touch") or "/usr/bin/touch")
    run_dir = directory / "run"
    run_dir.mkdir()
    environment = {
        **environment,
        "PATH": str(tools),
        "CLOUDTAP_SENSOR_RUN_DIR": str(run_dir),
        "CLOUDTAP_SENSOR_SUPERVISOR": "process",
    }
    return Rendered(script, directory, files, environment, directory / "MARKER", touched)


def line_number(text: str, key: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith(f"{key}="):
            return number
    raise AssertionError(f"{key} is not in the rendered settings")


def replace_line(text: str, key: str, replacement: str) -> str:
    lines = text.splitlines()
    lines[line_number(text, key) - 1] = replacement
    return "\n".join(lines) + "\n"


def value_of(text: str, key: str) -> str:
    line = text.splitlines()[line_number(text, key) - 1]
    return line.split("=", 1)[1].strip('"')


# Hostile files: each takes the rendered settings, the key to attack and the marker, and returns
# the file's contents and what the refusal must say.

Hostile = Callable[[str, str, Path], tuple[str | bytes, str]]


def replaced(line: Callable[[str, Path], str], says: str) -> Hostile:
    def build(text: str, key: str, marker: Path) -> tuple[str | bytes, str]:
        number = line_number(text, key)
        return replace_line(text, key, line(key, marker)), says.format(n=number, key=key)

    return build


def appended(line: Callable[[str, str, Path], str], says: str) -> Hostile:
    def build(text: str, key: str, marker: Path) -> tuple[str | bytes, str]:
        hostile = text + line(text, key, marker) + "\n"
        last = len(hostile.splitlines())
        return hostile, says.format(n=last, first=line_number(text, key), key=key)

    return build


def newline_after_a_valid_line(text: str, key: str, marker: Path) -> tuple[str | bytes, str]:
    # What a renderer that let "\n" into a value would write: a valid line, then a command.
    value = value_of(text, key)
    hostile = replace_line(text, key, f'{key}="{value}"\ntouch {marker} #"')
    return hostile, f"line {line_number(text, key) + 1}: expected KEY=value"


def crlf(text: str, key: str, marker: Path) -> tuple[str | bytes, str]:
    first_key = next(line.split("=")[0] for line in text.splitlines() if line[:1].isupper())
    number = line_number(text, first_key)
    return text.replace("\n", "\r\n"), f"line {number}: {first_key}:"


def nul_byte(text: str, key: str, marker: Path) -> tuple[str | bytes, str]:
    hostile = replace_line(text, key, f'{key}="/var/log\x00$(touch {marker})"')
    return hostile.encode(), "holds a NUL byte"


def path_to_stand_ins(text: str, key: str, marker: Path) -> str:
    # Were PATH taken from the file, the next `nft` or `ip` would be this directory's.
    evil = marker.parent / "evil"
    evil.mkdir(exist_ok=True)
    for tool in HOST_TOOLS:
        (evil / tool).write_text(f"#!/bin/sh\n: >{marker}\n")
        (evil / tool).chmod(0o755)
    return f'PATH="{evil}"'


HOSTILE: dict[str, Hostile] = {
    "command-substitution": replaced(
        lambda key, marker: f'{key}="/var/log/$(touch {marker})"', "line {n}: {key}: the value"
    ),
    "backticks": replaced(
        lambda key, marker: f'{key}="`touch {marker}`"', "line {n}: {key}: the value"
    ),
    "semicolon": replaced(
        lambda key, marker: f"{key}=off;touch {marker}",
        "line {n}: {key}: a value with spaces must be in double quotes",
    ),
    "and-and": replaced(
        lambda key, marker: f'{key}="off"&&touch {marker}',
        "line {n}: {key}: a value with spaces must be in double quotes",
    ),
    "pipe": replaced(lambda key, marker: f'{key}="x|touch {marker}"', "line {n}: {key}: the value"),
    "quote-breaks-out": replaced(
        lambda key, marker: f'{key}="10.0.64.0/20"; touch {marker}; X="',
        "line {n}: {key}: a double quote inside the value or an unbalanced one",
    ),
    "newline-in-value": replaced(
        lambda key, marker: f'{key}="10.0.64.0/20\n$(touch {marker})"',
        "line {n}: {key}: a double quote inside the value or an unbalanced one",
    ),
    "newline-then-command": newline_after_a_valid_line,
    "single-quotes": replaced(
        lambda key, marker: f"{key}='$(touch {marker})'",
        "line {n}: {key}: a value with spaces must be in double quotes",
    ),
    "redirect": replaced(lambda key, marker: f'{key}=">{marker}"', "line {n}: {key}: the value"),
    "tab": replaced(lambda key, marker: f'{key}="\t/var/log"', "line {n}: {key}: the value"),
    "command-line": appended(
        lambda text, key, marker: f"touch {marker}", "line {n}: expected KEY=value"
    ),
    "unknown-key": appended(lambda text, key, marker: "EVIL=1", "line {n}: unknown key EVIL"),
    "path-key": appended(path_to_stand_ins, "line {n}: unknown key PATH"),
    "duplicate-key": appended(
        lambda text, key, marker: f'{key}="{value_of(text, key)}"',
        "line {n}: {key} is set twice (first on line {first})",
    ),
    "crlf": crlf,
    "nul-byte": nul_byte,
}


COMMANDS = [(script, command) for script in SCRIPTS for command in script.commands]
COMMAND_IDS = [f"{script.name}-{command}" for script, command in COMMANDS]


def assert_refused_before_touching(
    rendered: Rendered, result: subprocess.CompletedProcess[str], says: str
) -> None:
    assert not rendered.marker.exists(), f"a line of the settings file ran: {result.stderr}"
    touched = rendered.touched.read_text() if rendered.touched.exists() else ""
    assert not touched, f"the script went on to the host's tools:\n{touched}"
    assert result.returncode == 1, result.stderr
    assert f"cloudtap-{rendered.script.name}: FAILED: " in result.stderr
    assert says in result.stderr, result.stderr
    # printf %q escapes spaces: the hostile command never appears as it was written.
    assert f"touch {rendered.marker}" not in result.stderr


@pytest.mark.parametrize("hostile", HOSTILE)
@pytest.mark.parametrize(("script", "command"), COMMANDS, ids=COMMAND_IDS)
def test_a_hostile_settings_file_is_refused_before_anything_runs(
    script: Script, command: str, hostile: str, tmp_path: Path
) -> None:
    rendered = render_into(script, tmp_path)
    settings, says = HOSTILE[hostile](rendered.settings, script.target_key, rendered.marker)
    result = rendered.run(command, settings)
    assert_refused_before_touching(rendered, result, says)


BAD_VALUES: dict[str, list[tuple[str, str, str]]] = {
    "gateway": [
        ("NETWORK_CIDR", "10.0.0.256/16", "NETWORK_CIDR must be an IPv4 network a.b.c.d/n"),
        ("PUBLIC_CIDRS", "010.0.0.0/20", "'010.0.0.0/20' is not one"),
        ("PRIVATE_CIDRS", "10.0.64.0/20 10.0.80.0/33", "'10.0.80.0/33' is not one"),
        ("MONITOR_CIDRS", "10.0.128.0/20,10.0.144.0/20", "MONITOR_CIDRS must list IPv4 networks"),
        ("MANAGEMENT_CIDRS", "10.0.192.0", "'10.0.192.0' is not one"),
        ("PORT_FORWARDS", "tcp:3389:10.0.64.10:65536", "PORT_FORWARDS must list port forwards"),
        ("PORT_FORWARDS", "icmp:1:10.0.64.10:1", "'icmp:1:10.0.64.10:1' is not one"),
        ("PORT_FORWARDS", "tcp:80:10.0.64.10", "'tcp:80:10.0.64.10' is not one"),
        ("MIRROR_MODE", "span", "MIRROR_MODE must be off, vxlan or tee, not 'span'"),
        ("MIRROR_SENSOR", "10.0.128", "MIRROR_SENSOR must be an IPv4 address, not '10.0.128'"),
        ("MIRROR_VNI", "0", "MIRROR_VNI must be a VXLAN network identifier from 1 to 16777215"),
        ("MIRROR_VNI", "16777216", "not '16777216'"),
        ("MIRROR_VXLAN_PORT", "0", "MIRROR_VXLAN_PORT must be a UDP port from 1 to 65535"),
        ("MIRROR_UNDERLAY_MTU", "576", "MIRROR_UNDERLAY_MTU must be empty or an MTU"),
        ("MIRROR_UNDERLAY_MTU", "9001.5", "not '9001.5'"),
        ("MIRROR_CLAMP_MSS", "535", "MIRROR_CLAMP_MSS must be empty or a TCP MSS from 536"),
        ("MIRROR_CLAMP_MSS", "1410 1400", "not '1410 1400'"),
        ("MIRROR_HEARTBEAT_INTERVAL", "0", "MIRROR_HEARTBEAT_INTERVAL must be seconds from 1"),
        ("MIRROR_HEARTBEAT_INTERVAL", "3601", "not '3601'"),
        ("PRIVATE_CIDRS", "", "does not set PRIVATE_CIDRS"),
    ],
    "sensor": [
        ("FEEDS", "vxlan span", "FEEDS must list feeds vxlan, geneve, gre or erspan; 'span'"),
        ("FEED_SOURCE_CIDRS", "10.0.0.0/16 0.0.0.0/-1", "'0.0.0.0/-1' is not one"),
        ("CAPTURE_INTERFACE", "../x", "CAPTURE_INTERFACE must be an interface name"),
        ("CAPTURE_INTERFACE", "..", "not '..'"),
        ("CAPTURE_INTERFACE", "capture-name0", "not 'capture-name0'"),
        ("CAPTURE_MTU", "1499", "CAPTURE_MTU must be an MTU from 1500 to 65535"),
        ("CAPTURE_MTU", "99999", "not '99999'"),
        ("VXLAN_PORT", "65536", "VXLAN_PORT must be a UDP port from 1 to 65535"),
        ("GENEVE_PORT", "6081 6082", "GENEVE_PORT must be a UDP port"),
        ("IDS_PACKAGES", "suricata --allow-unauthenticated", "'--allow-unauthenticated' is not"),
        ("LOG_VOLUME", "true", "LOG_VOLUME must be yes or no, not 'true'"),
        ("LOG_MOUNT_POINT", "/", "LOG_MOUNT_POINT must be an absolute directory other than /"),
        ("LOG_MOUNT_POINT", "var/log", "not 'var/log'"),
        ("LOG_MOUNT_POINT", "/var/log/a:b", "not '/var/log/a:b'"),
        ("HEALTH_PORT", "22", "HEALTH_PORT must be a TCP port from 1 to 65535 other than 22"),
        ("HEALTH_PORT", "65536", "not '65536'"),
        ("HEALTH_SOURCE_CIDRS", "10.0.0.0/16 0.0.0.0/0", "'0.0.0.0/0' is not one"),
        ("HEARTBEAT_SOURCES", "10.0.0.0/20", "HEARTBEAT_SOURCES must list gateway mirrors"),
        ("HEARTBEAT_SOURCES", "10.0.0.0/20:0", "'10.0.0.0/20:0' is not one"),
        ("HEARTBEAT_SOURCES", "10.0.0.0/4:tee", "'10.0.0.0/4:tee' is not one"),
        ("HEARTBEAT_SOURCES", "10.0.0.0/20:span", "'10.0.0.0/20:span' is not one"),
        ("HEARTBEAT_INTERVAL", "0", "HEARTBEAT_INTERVAL must be seconds from 1 to 3600"),
        ("HEARTBEAT_MISSED", "101", "HEARTBEAT_MISSED must be a count from 1 to 100"),
        ("CAPTURE_INTERFACE", "", "does not set CAPTURE_INTERFACE"),
        ("VLAN_BY_VNI", "4242", "VLAN_BY_VNI must list VNI:VLAN pairs"),
        ("VLAN_BY_VNI", "4242:4095", "'4242:4095' is not one"),
        ("VLAN_BY_VNI", "4242:0", "'4242:0' is not one"),
        ("VLAN_BY_VNI", "0:100", "'0:100' is not one"),
        ("VLAN_BY_VNI", "16777216:100", "'16777216:100' is not one"),
        ("VLAN_BY_VNI", "4242:0100", "'4242:0100' is not one"),
        ("VLAN_BY_VNI", "4242:100:1", "'4242:100:1' is not one"),
        ("VLAN_BY_VNI", "4242:100 4242:101", "must list each VNI once; 4242 is there twice"),
        ("VLAN_BY_VNI", "4242:100 4243:100", "VNIs 4242 and 4243 share VLAN 100"),
        (
            "VLAN_BY_VNI",
            " ".join(f"{vni}:{vni}" for vni in range(1, 66)),
            "VLAN_BY_VNI must list at most 64 pairs, not 65",
        ),
    ],
}


@pytest.mark.parametrize(
    ("script", "key", "value", "says"),
    [(s, *case) for s in SCRIPTS for case in BAD_VALUES[s.name]],
    ids=[f"{s.name}-{key}={value}" for s in SCRIPTS for key, value, _ in BAD_VALUES[s.name]],
)
def test_a_value_of_the_wrong_shape_is_refused_naming_the_key(
    script: Script, key: str, value: str, says: str, tmp_path: Path
) -> None:
    rendered = render_into(script, tmp_path)
    settings = replace_line(rendered.settings, key, f'{key}="{value}"')
    for command in script.commands:
        result = rendered.run(command, settings)
        assert_refused_before_touching(rendered, result, says)


@pytest.mark.parametrize(("script", "command"), COMMANDS, ids=COMMAND_IDS)
def test_the_rendered_settings_pass_and_the_script_goes_on_to_the_host(
    script: Script, command: str, tmp_path: Path
) -> None:
    """The control for the tests above: with its own settings, each command gets past reading
    them and reaches the host's tools (here the stand-ins), so a refusal above is the reader's."""
    rendered = render_into(script, tmp_path)
    result = rendered.run(command, rendered.settings)
    assert " line " not in result.stderr and " must " not in result.stderr, result.stderr
    assert rendered.touched.exists(), result.stderr


def read_with_the_library(
    library: Path, settings: Path, keys: Iterable[str], environment: dict[str, str] | None = None
) -> dict[str, str]:
    """What ``read_settings`` sets, each variable exactly (NUL-separated, so nothing is lost)."""
    driver = (
        'set -euo pipefail; CLOUDTAP_TAG=test; . "$1"; file=$2; shift 2\n'
        'read_settings "$file" "$@"\n'
        'for key in "$@"; do printf "%s=%s\\0" "$key" "${!key}"; done\n'
    )
    result = subprocess.run(
        [BASH, "-c", driver, "driver", str(library), str(settings), *keys],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": os.environ["PATH"], **(environment or {})},
    )
    assert result.returncode == 0, result.stderr
    return dict(entry.split("=", 1) for entry in result.stdout.split("\0") if entry)


def test_the_gateway_settings_come_through_exactly(tmp_path: Path) -> None:
    rendered = render_into(GATEWAY, tmp_path)
    values = read_with_the_library(
        rendered.files[NET_LIBRARY_PATH], rendered.files[GATEWAY.settings_path], GATEWAY.keys
    )
    assert values == {
        "NETWORK_CIDR": "10.0.0.0/16",
        "PUBLIC_CIDRS": "10.0.0.0/20 10.0.16.0/20",
        "PRIVATE_CIDRS": "10.0.64.0/20 10.0.80.0/20",
        "MONITOR_CIDRS": "10.0.128.0/20 10.0.144.0/20",
        "MANAGEMENT_CIDRS": "10.0.192.0/20 10.0.208.0/20",
        "PORT_FORWARDS": "tcp:3389:10.0.64.10:3389",
        "MIRROR_MODE": "vxlan",
        "MIRROR_SENSOR": "10.0.128.10",
        "MIRROR_SENSOR_BY_ZONE": "",  # empty: every gateway sends to MIRROR_SENSOR
        "MIRROR_VNI": "4242",
        "MIRROR_VXLAN_PORT": "4789",
        "MIRROR_UNDERLAY_MTU": "9001",
        "MIRROR_CLAMP_MSS": "",
        "MIRROR_HEARTBEAT_INTERVAL": "10",
    }


def test_the_sensor_settings_come_through_exactly(tmp_path: Path) -> None:
    rendered = render_into(SENSOR, tmp_path)
    values = read_with_the_library(
        rendered.files[NET_LIBRARY_PATH], rendered.files[SENSOR.settings_path], SENSOR.keys
    )
    assert values == {
        "FEEDS": "vxlan geneve gre erspan",
        "FEED_SOURCE_CIDRS": "10.0.0.0/16 10.9.0.0/24",
        "CAPTURE_INTERFACE": "cloudtap0",
        "CAPTURE_MTU": "9216",
        "VXLAN_PORT": "4789",
        "GENEVE_PORT": "6081",
        "IDS_PACKAGES": "suricata zeek",
        "LOG_VOLUME": "yes",
        "LOG_MOUNT_POINT": "/var/log/cloudtap",
        "HEALTH_PORT": "8480",
        "HEALTH_SOURCE_CIDRS": "10.0.0.0/16 10.9.0.0/24",
        "HEARTBEAT_SOURCES": "",
        "HEARTBEAT_INTERVAL": "10",
        "HEARTBEAT_MISSED": "3",
        "IDS": "none",
        "IDS_LOG_DIR": "/var/log/cloudtap/suricata",
        "IDS_HOME_NET": "10.0.0.0/16 10.9.0.0/24",
        "IDS_EVE_TYPES": "alert anomaly http dns tls ssh flow",
        "IDS_RULE_SOURCES": "",
        "IDS_CUSTOM_RULES_SHA256": "",
        "IDS_EVENT_MAX_AGE": "300",
        "VLAN_BY_VNI": "4242:100 4243:101",
    }


def test_keys_the_file_does_not_set_are_empty_whatever_the_environment_holds(
    tmp_path: Path,
) -> None:
    library = tmp_path / "cloudtap-net.sh"
    library.write_text(written_files(gateway_cloud_config())[NET_LIBRARY_PATH].content)
    settings = tmp_path / "partial.conf"
    settings.write_text('# only one key\n\nMODE=off\n   \n  # indented comment\nLIST="a b"')
    environment = {"CIDRS": "from the environment", "MODE": "vxlan"}
    values = read_with_the_library(library, settings, ["MODE", "CIDRS", "LIST"], environment)
    assert values == {"MODE": "off", "CIDRS": "", "LIST": "a b"}


# Every ASCII character (NUL and newline included) and a few others: the shell reader and the
# Python renderer must agree on each, in the C locale and in UTF-8.
CHARACTERS = [chr(code) for code in range(128)] + ["\u00e9", "\u00a0", "\u2028", "\U0001f600"]


@pytest.mark.parametrize("locale", ["C", "C.UTF-8"])
def test_the_reader_and_the_renderer_accept_the_same_characters(
    locale: str, tmp_path: Path
) -> None:
    library = tmp_path / "cloudtap-net.sh"
    library.write_text(written_files(gateway_cloud_config())[NET_LIBRARY_PATH].content)
    files = []
    for index, character in enumerate(CHARACTERS):
        path = tmp_path / f"{index}.conf"
        path.write_bytes(f'VALUE="a{character}b"\n'.encode())
        files.append(str(path))
    driver = (
        'CLOUDTAP_TAG=test; . "$1"; shift\n'
        'for file in "$@"; do\n'
        '    if (read_settings "$file" VALUE 2>/dev/null && [ "$VALUE" != "" ]); then\n'
        '        echo "${file##*/} accepted"\n'
        "    fi\n"
        "done\n"
    )
    result = subprocess.run(
        [BASH, "-c", driver, "driver", str(library), *files],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": os.environ["PATH"], "LC_ALL": locale},
    )
    assert result.returncode == 0, result.stderr
    accepted_by_the_reader = {
        CHARACTERS[int(line.split(".")[0])] for line in result.stdout.splitlines()
    }
    accepted_by_the_renderer = {c for c in CHARACTERS if SETTINGS_VALUE.fullmatch(f"a{c}b")}
    assert accepted_by_the_reader == accepted_by_the_renderer
    assert len(accepted_by_the_renderer) == 26 + 26 + 10 + 8  # letters, digits, " ._/:,+-"


def script_settings_keys(script_text: str) -> list[str]:
    match = re.search(r"^readonly SETTINGS_KEYS=\(([^)]*)\)", script_text, re.MULTILINE)
    assert match, "the script has no SETTINGS_KEYS array"
    return match.group(1).split()


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_the_script_reads_exactly_the_keys_python_renders(script: Script) -> None:
    files = written_files(script.cloud_config())
    script_keys = script_settings_keys(files[script.script_path].content)
    assert len(set(script_keys)) == len(script_keys)
    assert set(script_keys) == set(script.keys)
    # The cloud-configs above set every optional part, so every key is rendered.
    rendered = files[script.settings_path].content
    rendered_keys = [line.split("=")[0] for line in rendered.splitlines() if "=" in line]
    assert set(rendered_keys) == set(script.keys)


def sourced(text: str) -> list[str]:
    """Lines that source a file (`. FILE` or `source FILE`, alone or after ; && ||)."""
    command = re.compile(r"(^|[;&|])\s*(\.|source)\s")
    return [line.strip() for line in text.splitlines() if command.search(line)]


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_the_script_sources_nothing_but_the_shell_library(script: Script) -> None:
    files = written_files(script.cloud_config())
    assert sourced(files[script.script_path].content) == ['. "$NET_LIBRARY"']
    assert sourced(files[NET_LIBRARY_PATH].content) == []
    for path in (script.script_path, NET_LIBRARY_PATH):
        assert not re.search(r"\beval\b", files[path].content), path
