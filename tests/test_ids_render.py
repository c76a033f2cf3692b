"""The sensor's IDS: planned against the image's family, rendered, and tested by Suricata itself."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import ids, sensor
from components.cloud_config import asset_text, written_files
from components.errors import CloudtapInputError
from components.os_family import OsFamily
from components.settings_delivery import SettingsSource
from tests.cloud_init import assert_valid_cloud_config
from tests.shell import write_rendered

NETWORK = ipaddress.IPv4Network("10.0.0.0/16")
PRIVATE = (ipaddress.IPv4Network("10.0.64.0/20"), ipaddress.IPv4Network("10.0.80.0/20"))
LAB_RULES = Path(__file__).resolve().parents[1] / "lab" / "ids" / "lab.rules"


def plan(
    args: dict[str, Any] | None = None,
    *,
    family: OsFamily = OsFamily.DEBIAN,
    log_volume: bool = True,
) -> sensor.SensorPlan:
    return sensor.plan_sensor(
        args,
        default_feed_sources=[NETWORK],
        log_volume=log_volume,
        os_family=family,
        home_networks=PRIVATE,
    )


def suricata() -> str:
    """Suricata's path; CI installs it (scripts/bootstrap), so there it must be found."""
    path = shutil.which("suricata")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("suricata must be installed under CI=true (scripts/bootstrap)")
        pytest.skip("suricata is not installed")
    return path


def test_suricata_is_the_default_where_the_family_carries_it() -> None:
    assert plan().ids.ids is ids.Ids.SURICATA
    assert plan().ids_packages == ("suricata", "suricata-update")
    for family in (OsFamily.AMAZON_LINUX, OsFamily.RHEL):
        assert plan(family=family).ids.ids is ids.Ids.NONE


@pytest.mark.parametrize(
    ("family", "wanted", "why"),
    [
        (OsFamily.AMAZON_LINUX, "suricata", "Amazon Linux 2023's repositories carry neither"),
        (OsFamily.RHEL, "suricata", "only in EPEL"),
        (OsFamily.DEBIAN, "zeek", "Debian and Ubuntu carry Suricata only"),
        (OsFamily.DEBIAN, "arkime", "Debian and Ubuntu carry Suricata only"),
    ],
)
def test_an_ids_the_image_cannot_install_is_refused_at_preview(
    family: OsFamily, wanted: str, why: str
) -> None:
    with pytest.raises(CloudtapInputError) as caught:
        plan({"ids": wanted}, family=family)
    assert caught.value.field == "ids"
    assert why in str(caught.value)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"ids": "snort"}, "ids"),
        ({"home_net_cidrs": ["0.0.0.0/0"]}, "home_net_cidrs[0]"),
        ({"home_net_cidrs": ["10.0.0.1/16"]}, "home_net_cidrs[0]"),
        ({"home_net_cidrs": "10.0.0.0/8"}, "home_net_cidrs"),
        ({"ids_rule_sources": ["et/open; reboot"]}, "ids_rule_sources[0]"),
        ({"ids_rule_sources": ["https://example.com/rules.tar.gz"]}, "ids_rule_sources[0]"),
        ({"ids_rule_sources": ["oisf/trafficid\n"]}, "ids_rule_sources[0]"),
        ({"ids_eve_types": ["alert", "shell"]}, "ids_eve_types[1]"),
        ({"ids_event_max_age_s": 5}, "ids_event_max_age_s"),
        ({"ids_custom_rules": "/nonexistent/cloudtap.rules"}, "ids_custom_rules"),
        ({"ids": "none", "ids_rule_sources": ["oisf/trafficid"]}, "ids_rule_sources"),
    ],
)
def test_ids_fields_are_checked_whole(args: dict[str, Any], field: str) -> None:
    with pytest.raises(CloudtapInputError) as caught:
        plan(args)
    assert caught.value.field == field


@pytest.mark.parametrize(
    "line",
    [
        'alert ip any any -> any any (msg:"x"; lua:evil.lua; sid:1;)',
        'alert http any any -> any any (msg:"x"; dataset:set,x,type string,save /etc/x; sid:2;)',
        'alert tcp any any -> any any (msg:"no sid";)',
        "include /etc/shadow",
        'alert tcp any any -> any any (msg:"x"; sid:3;)\r',
    ],
)
def test_custom_rules_refuse_anything_but_plain_rules(tmp_path: Path, line: str) -> None:
    rules = tmp_path / "custom.rules"
    rules.write_text("# fine\n" + line + "\n")
    with pytest.raises(CloudtapInputError) as caught:
        plan({"ids_custom_rules": str(rules)})
    assert caught.value.field == "ids_custom_rules line 2"


def test_ids_files_are_rendered_and_started_last_at_boot() -> None:
    text = sensor.render_cloud_config(plan({"ids_custom_rules": str(LAB_RULES)}))
    assert_valid_cloud_config(text)
    files = written_files(text)
    for path in (
        ids.DROP_IN_PATH,
        ids.UPDATE_SERVICE_PATH,
        ids.UPDATE_TIMER_PATH,
        f"{ids.RULES_DIR}/{ids.CUSTOM_RULES}",
    ):
        assert path in files, path
    # These depend on the settings: the sensor script writes them from the settings in force.
    assert ids.SURICATA_CONFIG_PATH not in files and ids.LOGROTATE_PATH not in files
    assert files[f"{ids.RULES_DIR}/{ids.CUSTOM_RULES}"].content == LAB_RULES.read_text()
    drop_in = files[ids.DROP_IN_PATH].content
    assert "After=cloudtap-sensor.service" in drop_in
    assert "Restart=on-failure" in drop_in
    assert f"-c {ids.SURICATA_CONFIG_PATH}" in drop_in
    settings = files[sensor.SETTINGS_PATH].content
    assert 'IDS="suricata"' in settings
    assert 'IDS_LOG_DIR="/var/log/cloudtap/suricata"' in settings
    assert 'IDS_HOME_NET="10.0.64.0/20 10.0.80.0/20"' in settings
    sha = hashlib.sha256(LAB_RULES.read_bytes()).hexdigest()
    assert f'IDS_CUSTOM_RULES_SHA256="{sha}"' in settings
    runcmd = yaml.safe_load(text)["runcmd"]
    assert runcmd[-1] == [sensor.SCRIPT_PATH, "setup-ids"]
    assert [sensor.SCRIPT_PATH, "install-ids"] in runcmd


def test_an_ids_setting_changes_the_settings_only_and_the_rules_file_changes_the_boot() -> None:
    source = SettingsSource.aws_ssm("/cloudtap/p/s/sensor/sensor")
    before, after = plan(), plan({"home_net_cidrs": ["192.168.0.0/16"], "ids_eve_types": ["alert"]})
    assert sensor.render_settings(before) != sensor.render_settings(after)
    boot = sensor.render_boot_cloud_config(source=source, os_family=OsFamily.DEBIAN)
    assert boot == sensor.render_boot_cloud_config(source=source, os_family=OsFamily.DEBIAN)
    with_rules = sensor.render_boot_cloud_config(
        source=source, os_family=OsFamily.DEBIAN, ids_custom_rules=LAB_RULES.read_text()
    )
    assert with_rules != boot


def test_eve_goes_to_the_distribution_log_dir_without_a_log_volume() -> None:
    assert plan(log_volume=False).ids_log_dir == "/var/log/suricata"
    assert plan(log_volume=True).ids_log_dir == "/var/log/cloudtap/suricata"


def test_capture_only_renders_no_ids_files() -> None:
    files = written_files(sensor.render_cloud_config(plan({"ids": "none"})))
    assert ids.SURICATA_CONFIG_PATH not in files
    assert f"{ids.RULES_DIR}/{ids.CUSTOM_RULES}" not in files
    assert 'IDS="none"' in files[sensor.SETTINGS_PATH].content


def script_render_ids(the_plan: sensor.SensorPlan, directory: Path) -> str:
    """What ``cloudtap-sensor render-ids`` writes from ``the_plan``'s rendered settings."""
    local, env = write_rendered(sensor.render_cloud_config(the_plan), directory)
    result = subprocess.run(
        ["bash", str(local[sensor.SCRIPT_PATH]), "render-ids"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env, "CLOUDTAP_SENSOR_CONF": str(local[sensor.SETTINGS_PATH])},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    "args",
    [
        {},
        {"ids_custom_rules": str(LAB_RULES), "home_net_cidrs": ["192.168.0.0/16"]},
        {"ids_eve_types": ["alert", "bittorrent-dht"], "capture_interface": "mon_1"},
    ],
)
def test_the_script_writes_the_config_suricata_config_renders(
    tmp_path: Path, args: dict[str, Any]
) -> None:
    the_plan = plan(args)
    expected = ids.suricata_config(
        the_plan.ids, capture_interface=the_plan.capture_interface, log_dir=the_plan.ids_log_dir
    )
    assert script_render_ids(the_plan, tmp_path) == expected


def test_the_script_knows_the_same_eve_types() -> None:
    script = asset_text("sensor", "cloudtap-sensor.sh")
    choices = re.search(r"readonly IDS_EVE_CHOICES=\(([^)]*)\)", script)
    assert choices is not None
    assert tuple(choices.group(1).split()) == ids.EVE_TYPES


def _script_functions(*names: str) -> str:
    script = asset_text("sensor", "cloudtap-sensor.sh")
    return "\n".join(
        f"{name}() {{" + script.split(f"\n{name}() {{", 1)[1].split("\n}\n", 1)[0] + "\n}"
        for name in names
    )


@pytest.mark.parametrize(
    ("os_release", "suite"),
    [
        *[(f'ID=debian\nVERSION_CODENAME={codename}\n', s) for codename, s in
          ids.APT_IDS_SUITES.items()],
        ('ID=debian\nVERSION_CODENAME="bookworm"\n', "bookworm-backports"),
        ("ID=debian\nVERSION_CODENAME=trixie\n", ""),
        ("ID=ubuntu\nVERSION_CODENAME=noble\n", ""),
        # Read as data: a value that is not a plain codename is no codename.
        ("VERSION_CODENAME=$(echo bookworm)\n", ""),
        ("VERSION_CODENAME=bookworm-x\n", ""),
        ("", ""),
    ],
)  # fmt: skip
def test_install_ids_takes_the_ids_from_the_suite_apt_ids_suites_names(
    tmp_path: Path, os_release: str, suite: str
) -> None:
    (tmp_path / "os-release").write_text(os_release)
    os_release_file = str(tmp_path / "os-release")
    result = subprocess.run(
        ["bash", "-c", f"set -euo pipefail\n{_script_functions('os_codename', 'ids_apt_suite')}"
         "\nids_apt_suite"],
        capture_output=True, text=True, check=True,
        env={"PATH": os.environ["PATH"], "CLOUDTAP_SENSOR_OS_RELEASE": os_release_file},
    )  # fmt: skip
    assert (result.stdout.strip(), result.stderr) == (suite, "")


def test_the_script_knows_the_same_apt_suites() -> None:
    body = _script_functions("ids_apt_suite")
    cases = dict(re.findall(r"^ +([a-z]+)\) echo ([a-z-]+) ;;$", body, re.MULTILINE))
    assert cases == ids.APT_IDS_SUITES


def test_the_script_writes_the_logrotate_file_logrotate_config_renders() -> None:
    script = asset_text("sensor", "cloudtap-sensor.sh")
    body = script.split("render_ids_logrotate() {", 1)[1].split("\n}\n", 1)[0]
    rendered = subprocess.run(
        ["bash", "-c", f"IDS_LOG_DIR=/x/y\nf() {{{body}\n}}\nf"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert rendered == ids.logrotate_config("/x/y")


def _rendered_config(tmp_path: Path) -> tuple[Path, Path]:
    the_plan = plan({"ids_custom_rules": str(LAB_RULES), "home_net_cidrs": ["192.168.0.0/16"]})
    files = written_files(sensor.render_cloud_config(the_plan))
    config = tmp_path / "suricata.yaml"
    (tmp_path / "files").mkdir()
    config.write_text(script_render_ids(the_plan, tmp_path / "files"))
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / ids.CUSTOM_RULES).write_text(files[f"{ids.RULES_DIR}/{ids.CUSTOM_RULES}"].content)
    # What suricata-update writes; -T fails on a rule file that is missing.
    (rules / ids.UPDATED_RULES).write_text("")
    (tmp_path / "log").mkdir()
    return config, rules


def test_suricata_accepts_the_rendered_config_and_rules(tmp_path: Path) -> None:
    config, rules = _rendered_config(tmp_path)
    result = subprocess.run(
        [suricata(), "-T", "-v", "-c", str(config), "-l", str(tmp_path / "log"),
         "--set", f"default-rule-path={rules}"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 rule files processed. 3 rules successfully loaded, 0 rules failed" in (
        result.stdout + result.stderr
    )


def test_the_rendered_config_overrides_only_what_cloudtap_owns(tmp_path: Path) -> None:
    config, _ = _rendered_config(tmp_path)
    dump = subprocess.run(
        [suricata(), "--dump-config", "-c", str(config)],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    values = dict(line.split(" = ", 1) for line in dump.splitlines() if " = " in line)
    assert values["vars.address-groups.HOME_NET"] == "[10.0.64.0/20,10.0.80.0/20,192.168.0.0/16]"
    assert values["af-packet.0.interface"] == "cloudtap0"
    assert values["af-packet.0.checksum-checks"] == "yes"
    assert values["stream.checksum-validation"] == "yes"
    assert values["outputs.0"] == "eve-log"
    assert "outputs.1" not in values  # the distribution's outputs are replaced whole
    assert "af-packet.1" not in values
    # Dotted keys merge: the distribution's other variables and stream settings stay.
    assert values["vars.address-groups.HTTP_SERVERS"] == "$HOME_NET"
    assert "stream.memcap" in values
    assert values["default-log-dir"] == "/var/log/cloudtap/suricata"
