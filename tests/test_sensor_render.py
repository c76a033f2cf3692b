"""The sensor's rendered boot files: settings, script, decapsulator, units and cloud-config."""

from __future__ import annotations

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
from components.cloud_config import NET_LIBRARY_PATH, asset_text, written_files
from components.errors import CloudtapInputError
from components.settings_delivery import SettingsSource, delivery_files
from tests.cloud_init import assert_valid_cloud_config
from tests.shell import assert_passes_shellcheck, write_rendered

GOLDEN = Path(__file__).resolve().parent / "golden"
NETWORK = ipaddress.IPv4Network("10.0.0.0/16")


def plan(args: dict[str, Any] | None = None, *, log_volume: bool = False) -> sensor.SensorPlan:
    return sensor.plan_sensor(args, default_feed_sources=[NETWORK], log_volume=log_volume)


def document(text: str) -> dict[str, Any]:
    assert text.startswith("#cloud-config\n")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def test_default_settings_match_the_golden_file() -> None:
    assert sensor.render_settings(plan()) == (GOLDEN / "default-sensor.conf").read_text()


def test_settings_carry_the_plan() -> None:
    settings = sensor.render_settings(
        plan(
            {
                "feeds": ["vxlan", "gre"],
                "feed_source_cidrs": ["10.1.0.0/16", "192.168.10.0/24"],
                "capture_interface": "mirror1",
                "capture_mtu": 1600,
            },
            log_volume=True,
        )
    )
    assert 'FEEDS="vxlan gre"' in settings
    assert 'FEED_SOURCE_CIDRS="10.1.0.0/16 192.168.10.0/24"' in settings
    assert 'CAPTURE_INTERFACE="mirror1"' in settings
    assert 'CAPTURE_MTU="1600"' in settings
    assert 'LOG_VOLUME="yes"' in settings


@pytest.mark.parametrize(
    ("args", "log_volume"),
    [({}, False), ({"ids_packages": ["suricata", "zeek"]}, True)],
    ids=["defaults", "ids-and-log-volume"],
)
def test_cloud_config_passes_the_real_cloud_init_schema_validator(
    args: dict[str, Any], log_volume: bool
) -> None:
    assert_valid_cloud_config(sensor.render_cloud_config(plan(args, log_volume=log_volume)))


def test_cloud_config_installs_the_capture_tools_by_their_amazon_linux_names() -> None:
    rendered = document(sensor.render_cloud_config(plan()))
    assert rendered["packages"] == ["tcpdump", "nftables", "iproute-tc"]


def test_ids_packages_are_installed_apart_so_a_missing_one_cannot_cost_the_capture_tools() -> None:
    text = sensor.render_cloud_config(plan({"ids_packages": ["suricata", "zeek"]}))
    rendered = document(text)
    assert rendered["packages"] == ["tcpdump", "nftables", "iproute-tc"]
    assert rendered["runcmd"] == [
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "cloudtap-settings.service", "cloudtap-settings.timer"],
        # The first fetch applies the settings, so install-ids reads them next.
        ["systemctl", "start", "cloudtap-settings.service"],
        ["systemctl", "start", "cloudtap-settings.timer"],
        [sensor.SCRIPT_PATH, "install-ids"],
        ["systemctl", "enable", "--now", "--no-block", sensor.HEALTH_SERVICE],
        # The sensor's own failure decides the runcmd's (and cloud-init's) status: setup-ids,
        # last, checks the capture path before the IDS.
        ["systemctl", "enable", "--now", sensor.SERVICE],
        [sensor.SCRIPT_PATH, "setup-ids"],
    ]
    assert 'IDS_PACKAGES="suricata zeek"' in written_files(text)[sensor.SETTINGS_PATH].content


def test_cloud_config_writes_every_file_and_starts_the_sensor_unit_at_boot() -> None:
    text = sensor.render_cloud_config(plan())
    assert ["systemctl", "enable", "--now", sensor.SERVICE] in document(text)["runcmd"]
    files = written_files(text)
    assert set(files) == {
        sensor.SETTINGS_PATH,
        sensor.SCRIPT_PATH,
        sensor.DECAP_PATH,
        sensor.BPF_OBJECT_PATH,
        sensor.BPF_HELPER_PATH,
        sensor.UNIT_PATH,
        sensor.DECAP_UNIT_PATH,
        sensor.HEALTH_PATH,
        sensor.HEALTH_UNIT_PATH,
        NET_LIBRARY_PATH,
        # The IDS's static files, whatever the settings (capture-only images never start it).
        ids.DROP_IN_PATH,
        ids.UPDATE_SERVICE_PATH,
        ids.UPDATE_TIMER_PATH,
        *(
            file.path
            for file in delivery_files(SettingsSource.file(sensor.SETTINGS_PATH), "sensor")
        ),
    }
    assert files[sensor.SCRIPT_PATH].permissions == "0755"
    assert files[sensor.DECAP_PATH].permissions == "0755"
    assert files[sensor.HEALTH_PATH].permissions == "0755"
    assert f"ExecStart={sensor.SCRIPT_PATH} health" in files[sensor.HEALTH_UNIT_PATH].content
    assert f"ExecStart={sensor.SCRIPT_PATH} apply" in files[sensor.UNIT_PATH].content
    assert "WantedBy=multi-user.target" in files[sensor.UNIT_PATH].content


def test_the_decapsulator_unit_restarts_forever_and_is_started_only_by_the_sensor_script() -> None:
    unit = written_files(sensor.render_cloud_config(plan()))[sensor.DECAP_UNIT_PATH].content
    assert "Restart=always" in unit
    assert "StartLimitIntervalSec=0" in unit
    assert f"/usr/bin/python3 -I {sensor.DECAP_PATH} --config /run/cloudtap/decap.conf" in unit
    assert "[Install]" not in unit  # never enabled on its own: apply starts it
    script = written_files(sensor.render_cloud_config(plan()))[sensor.SCRIPT_PATH].content
    assert f"readonly DECAP_UNIT={sensor.DECAP_SERVICE}" in script


def test_without_a_log_volume_nothing_is_formatted_or_mounted() -> None:
    rendered = document(sensor.render_cloud_config(plan()))
    assert "fs_setup" not in rendered
    assert "mounts" not in rendered


def test_a_log_volume_is_formatted_only_when_empty_and_mounted_by_label_with_nofail() -> None:
    rendered = document(
        sensor.render_cloud_config(
            plan({"log_mount_point": "/srv/ids/"}, log_volume=True), log_device="/dev/xvdf"
        )
    )
    assert rendered["fs_setup"] == [
        {"label": "cloudtap-logs", "filesystem": "ext4", "device": "/dev/xvdf", "partition": "auto"}
    ]
    ((device, mount_point, kind, options, dump, passno),) = rendered["mounts"]
    assert device == "/dev/disk/by-label/cloudtap-logs"
    assert (mount_point, kind, dump, passno) == ("/srv/ids", "ext4", "0", "2")
    assert "nofail" in options.split(",")


def test_a_log_device_that_is_not_a_device_path_is_refused() -> None:
    with pytest.raises(CloudtapInputError, match="log_device: got 'sdf'"):
        sensor.render_cloud_config(plan(log_volume=True), log_device="sdf")


def test_the_script_names_the_feeder_end_with_the_suffix_the_name_check_leaves_room_for() -> None:
    script = asset_text("sensor", "cloudtap-sensor.sh")
    assert f'FEEDER="$CAPTURE_INTERFACE{sensor.FEEDER_SUFFIX}"' in script


def test_sensor_script_is_valid_bash() -> None:
    script = written_files(sensor.render_cloud_config(plan()))[sensor.SCRIPT_PATH]
    result = subprocess.run(
        ["bash", "-n"], input=script.content, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_sensor_script_passes_shellcheck(tmp_path: Path) -> None:
    assert_passes_shellcheck(sensor.render_cloud_config(plan()), sensor.SCRIPT_PATH, tmp_path)


def test_sensor_script_refuses_an_unknown_command_without_touching_anything(
    tmp_path: Path,
) -> None:
    files, env = write_rendered(sensor.render_cloud_config(plan()), tmp_path)
    result = subprocess.run(
        ["bash", str(files[sensor.SCRIPT_PATH]), "teardown"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )
    assert result.returncode == 1
    expected = (
        "apply, check, apply-settings, preflight, render, render-ids, install-ids, setup-ids, "
        "update-ids-rules or health"
    )
    assert f"unknown command 'teardown' (expected {expected})" in result.stderr


def test_sensor_script_fails_loudly_without_its_settings(tmp_path: Path) -> None:
    files, env = write_rendered(sensor.render_cloud_config(plan()), tmp_path)
    missing = tmp_path / "missing.conf"
    result = subprocess.run(
        ["bash", str(files[sensor.SCRIPT_PATH]), "check"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env, "CLOUDTAP_SENSOR_CONF": str(missing)},
    )
    assert result.returncode == 1
    assert f"FAILED: cannot read settings file {missing}" in result.stderr


def run_install_ids(tmp_path: Path, packages: str, path: str) -> subprocess.CompletedProcess[str]:
    files, env = write_rendered(
        sensor.render_cloud_config(plan({"ids_packages": ["suricata"]})), tmp_path
    )
    settings = files[sensor.SETTINGS_PATH]
    settings.write_text(settings.read_text().replace('"suricata"', f'"{packages}"'))
    return subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(files[sensor.SCRIPT_PATH]), "install-ids"],
        capture_output=True,
        text=True,
        check=False,
        env={**env, "CLOUDTAP_SENSOR_CONF": str(settings), "PATH": path},
    )


def test_install_ids_does_nothing_when_the_packages_are_there(tmp_path: Path) -> None:
    if shutil.which("dpkg") is None and shutil.which("rpm") is None:
        pytest.skip("neither dpkg nor rpm here to ask what is installed")
    result = run_install_ids(tmp_path, "bash", os.environ["PATH"])
    assert result.returncode == 0, result.stderr
    assert "installed" not in result.stderr


def test_install_ids_fails_loudly_where_it_cannot_install(tmp_path: Path) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("dpkg", "rpm"):  # what is installed can be asked; nothing can install
        found = shutil.which(tool)
        if found:
            (tools / tool).symlink_to(found)
    result = run_install_ids(tmp_path, "cloudtap-no-such-package", str(tools))
    assert result.returncode == 1
    assert "FAILED: no dnf or apt-get to install cloudtap-no-such-package" in result.stderr


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("log_mount_point", "/var/log/$(reboot)"),
        ("log_mount_point", "/var/log/ids logs"),
        ("log_mount_point", "/var/log/cloudtap\n"),
        ("capture_interface", "cloudtap0\n"),
        ("ids_packages", ["suricata\n"]),
    ],
    ids=["command-substitution", "space", "mount-newline", "interface-newline", "package-newline"],
)
def test_values_the_settings_file_cannot_carry_are_refused_at_preview(
    field: str, value: object
) -> None:
    with pytest.raises(CloudtapInputError, match=re.escape(field)):
        plan({field: value})
