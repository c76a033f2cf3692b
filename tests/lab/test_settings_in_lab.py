"""A hostile settings file, run as root inside fresh lab hosts: refused, nothing run, nothing
applied; the real file then applies in the very same host."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.network_plan import NetworkPlan
from lab import Host, Lab

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def fresh_lab(lab_environment: None, aws_dev_plan: NetworkPlan) -> Iterator[Lab]:
    """The aws-dev lab with neither script applied: nothing of cloudtap's in any host yet."""
    with Lab.create(aws_dev_plan, apply_gateway=False, apply_sensor=False) as lab:
        yield lab


def hostile_files(settings: str, key: str, marker: Path) -> dict[str, tuple[str, str]]:
    """name -> (contents, what the refusal says), each from the real file with one change."""
    lines = settings.splitlines()
    number = next(i for i, line in enumerate(lines, start=1) if line.startswith(f"{key}="))

    def with_line(replacement: str) -> str:
        changed = [*lines[: number - 1], replacement, *lines[number:]]
        return "\n".join(changed) + "\n"

    return {
        "value": (with_line(f'{key}="$(touch {marker})"'), f"line {number}: {key}: the value"),
        "line": (with_line(f"{lines[number - 1]}\ntouch {marker}"), f"line {number + 1}: expected"),
        "unknown-key": (settings + "EVIL=1\n", f"line {len(lines) + 1}: unknown key EVIL"),
    }


def run_script(
    lab: Lab, host: Host, script: Path, command: str, env: dict[str, str]
) -> tuple[int, str]:
    result = lab.run(
        host,
        "bash",
        str(script),
        command,
        check=False,
        env={**os.environ, "CLOUDTAP_NET_LIBRARY": str(lab.net_library_path), **env},
    )
    return result.returncode, result.stderr


def test_the_gateway_refuses_a_hostile_settings_file_and_applies_nothing(
    fresh_lab: Lab, tmp_path: Path
) -> None:
    marker = tmp_path / "MARKER"
    forwarding = fresh_lab.sysctl(Host.GATEWAY, "net.ipv4.ip_forward")
    settings = fresh_lab.settings_path.read_text()
    for name, (contents, says) in hostile_files(settings, "PRIVATE_CIDRS", marker).items():
        conf = tmp_path / f"{name}.conf"
        conf.write_text(contents)
        for command in ("apply", "check", "render"):
            returncode, stderr = run_script(
                fresh_lab,
                Host.GATEWAY,
                fresh_lab.script_path,
                command,
                {"CLOUDTAP_GATEWAY_CONF": str(conf)},
            )
            assert not marker.exists(), f"{name} {command}: a line of the file ran: {stderr}"
            assert returncode == 1, f"{name} {command}: {stderr}"
            assert f"FAILED: {conf} {says}" in stderr, f"{name} {command}: {stderr}"
            tables = fresh_lab.run(Host.GATEWAY, "nft", "list", "tables").stdout
            assert "cloudtap" not in tables, f"{name} {command} applied: {tables}"
            assert fresh_lab.sysctl(Host.GATEWAY, "net.ipv4.ip_forward") == forwarding
            links = fresh_lab.run(Host.GATEWAY, "ip", "-o", "link", "show").stdout
            assert "cloudtap-mirror" not in links, f"{name} {command}: {links}"
    # The control: the real settings, in the same host, do apply.
    applied = fresh_lab.gateway("apply")
    assert applied.returncode == 0, applied.stderr
    assert "table ip cloudtap" in fresh_lab.run(Host.GATEWAY, "nft", "list", "tables").stdout


def test_the_sensor_refuses_a_hostile_settings_file_and_applies_nothing(
    fresh_lab: Lab, tmp_path: Path
) -> None:
    marker = tmp_path / "MARKER"
    settings = fresh_lab.sensor_settings_path.read_text()
    environment = {
        "CLOUDTAP_SENSOR_RUN_DIR": str(fresh_lab.sensor_run_dir),
        "CLOUDTAP_SENSOR_DECAP": str(fresh_lab.decap_path),
        "CLOUDTAP_SENSOR_PYTHON": fresh_lab.python,
        "CLOUDTAP_SENSOR_SUPERVISOR": "process",
    }
    for name, (contents, says) in hostile_files(settings, "LOG_MOUNT_POINT", marker).items():
        conf = tmp_path / f"{name}.conf"
        conf.write_text(contents)
        for command in ("apply", "check", "render", "install-ids"):
            returncode, stderr = run_script(
                fresh_lab,
                Host.SENSOR,
                fresh_lab.sensor_script_path,
                command,
                {**environment, "CLOUDTAP_SENSOR_CONF": str(conf)},
            )
            assert not marker.exists(), f"{name} {command}: a line of the file ran: {stderr}"
            assert returncode == 1, f"{name} {command}: {stderr}"
            assert f"FAILED: {conf} {says}" in stderr, f"{name} {command}: {stderr}"
            tables = fresh_lab.run(Host.SENSOR, "nft", "list", "tables").stdout
            assert "cloudtap" not in tables, f"{name} {command} applied: {tables}"
            links = fresh_lab.run(Host.SENSOR, "ip", "-o", "link", "show").stdout
            assert "cloudtap" not in links, f"{name} {command}: {links}"
            assert not list(fresh_lab.sensor_run_dir.iterdir()), f"{name} {command}"
    applied = fresh_lab.sensor("apply")
    assert applied.returncode == 0, applied.stderr
    assert (
        "table inet cloudtap_sensor" in fresh_lab.run(Host.SENSOR, "nft", "list", "tables").stdout
    )
