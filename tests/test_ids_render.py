"""The sensor's IDS: planned against the image's family, rendered, and tested by Suricata itself."""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import ids, sensor
from components.cloud_config import written_files
from components.errors import CloudtapInputError
from components.os_family import OsFamily
from tests.cloud_init import assert_valid_cloud_config

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
        ids.SURICATA_CONFIG_PATH,
        ids.DROP_IN_PATH,
        ids.UPDATE_SERVICE_PATH,
        ids.UPDATE_TIMER_PATH,
        ids.LOGROTATE_PATH,
        f"{ids.RULES_DIR}/{ids.CUSTOM_RULES}",
    ):
        assert path in files, path
    assert files[f"{ids.RULES_DIR}/{ids.CUSTOM_RULES}"].content == LAB_RULES.read_text()
    drop_in = files[ids.DROP_IN_PATH].content
    assert "After=cloudtap-sensor.service" in drop_in
    assert "Restart=on-failure" in drop_in
    assert f"-c {ids.SURICATA_CONFIG_PATH}" in drop_in
    settings = files[sensor.SETTINGS_PATH].content
    assert 'IDS="suricata"' in settings
    assert 'IDS_LOG_DIR="/var/log/cloudtap/suricata"' in settings
    runcmd = yaml.safe_load(text)["runcmd"]
    assert runcmd[-1] == [sensor.SCRIPT_PATH, "setup-ids"]
    assert [sensor.SCRIPT_PATH, "install-ids"] in runcmd


def test_eve_goes_to_the_distribution_log_dir_without_a_log_volume() -> None:
    assert plan(log_volume=False).ids_log_dir == "/var/log/suricata"
    assert plan(log_volume=True).ids_log_dir == "/var/log/cloudtap/suricata"


def test_capture_only_renders_no_ids_files() -> None:
    files = written_files(sensor.render_cloud_config(plan({"ids": "none"})))
    assert ids.SURICATA_CONFIG_PATH not in files
    assert 'IDS="none"' in files[sensor.SETTINGS_PATH].content


def _rendered_config(tmp_path: Path) -> tuple[Path, Path]:
    the_plan = plan({"ids_custom_rules": str(LAB_RULES), "home_net_cidrs": ["192.168.0.0/16"]})
    files = written_files(sensor.render_cloud_config(the_plan))
    config = tmp_path / "suricata.yaml"
    config.write_text(files[ids.SURICATA_CONFIG_PATH].content)
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
