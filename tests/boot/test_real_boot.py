"""The rendered user data of both roles, booted for real: Debian 12 under systemd as PID 1,
cloud-init reading it from a NoCloud seed and doing all of its work (packages from Debian's
archive, files, runcmd), then a reboot, on which the units must come up without cloud-init's
runcmd. Addresses are the aws-gateway stack's: the gateway in the public tier, the sensor at
the gateway mirror's address in the monitor tier. The gateway boots its files as cloud-init's
``write_files``; the sensor boots them packed, as OpenStack sends it (an xz tar unpacked by
``cloudtap-unpack`` as runcmd's first command), so both ways of writing them are proven here.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from components import gateway, sensor
from components.cloud_config import WrittenFile, written_files
from components.mirroring import default_sensor_address
from components.network_plan import NetworkPlan, Tier
from components.os_family import OsFamily
from components.packed_boot import packed_boot
from lab.stack import load_plan
from tests.boot.archive_proxy import ArchiveProxy
from tests.boot.machine import Interface, Machine

pytestmark = pytest.mark.boot

STACK = Path(__file__).resolve().parents[2] / "stacks" / "Pulumi.aws-gateway.yaml"
HOST_OFFSET = 10
"""The gateway takes the public subnet's .10, as the sensor takes the monitor subnet's."""


@dataclass(frozen=True)
class Role:
    name: str
    user_data: str
    interface: Interface
    service: str
    script: str
    units: tuple[str, ...]
    files: dict[str, WrittenFile]
    """The files the boot must leave on the machine, whichever way the user data carries them."""


def _interface(subnet: ipaddress.IPv4Network, host: ipaddress.IPv4Address, mac: str) -> Interface:
    return Interface(
        name="ens5",
        mac=mac,
        address=ipaddress.IPv4Interface(f"{host}/{subnet.prefixlen}"),
        router=subnet.network_address + 1,
    )


def gateway_role(plan: NetworkPlan) -> Role:
    public = plan.subnets[Tier.PUBLIC][0]
    boot = gateway.render_cloud_config(
        plan, underlay_mtu=gateway.AWS_VPC_MTU, os_family=OsFamily.DEBIAN
    )
    return Role(
        name="gateway",
        user_data=boot,
        interface=_interface(public, public.network_address + HOST_OFFSET, "02:c7:00:00:00:0a"),
        service=gateway.SERVICE,
        script=gateway.SCRIPT_PATH,
        units=(gateway.UNIT_PATH, gateway.HEARTBEAT_UNIT_PATH),
        files=written_files(boot),
    )


def sensor_role(plan: NetworkPlan) -> Role:
    monitor = plan.subnets[Tier.MONITOR][0]
    sensor_plan = sensor.plan_sensor({}, default_feed_sources=(plan.cidr_block,))
    boot = sensor.render_cloud_config(sensor_plan, os_family=OsFamily.DEBIAN)
    return Role(
        name="sensor",
        user_data=packed_boot(boot),
        interface=_interface(monitor, default_sensor_address(monitor), "02:c7:00:00:80:0a"),
        service=sensor.SERVICE,
        script=sensor.SCRIPT_PATH,
        units=(sensor.UNIT_PATH, sensor.DECAP_UNIT_PATH, sensor.HEALTH_UNIT_PATH),
        files=written_files(boot),
    )


ROLES: dict[str, Callable[[NetworkPlan], Role]] = {"gateway": gateway_role, "sensor": sensor_role}


@dataclass
class Booted:
    role: Role
    machine: Machine
    instance_id: str
    proxy: ArchiveProxy


@pytest.fixture(scope="module", params=list(ROLES))
def booted(
    request: pytest.FixtureRequest, debian_root: Path, archive_proxy: ArchiveProxy
) -> Iterator[Booted]:
    """One role's first boot, with a fresh instance id; the machine is removed afterwards."""
    role = ROLES[request.param](load_plan(STACK))
    instance_id = f"i-{uuid.uuid4().hex[:17]}"
    with Machine(
        role.name,
        debian_root,
        interface=role.interface,
        proxy_socket=archive_proxy.socket_path,
        user_data=role.user_data,
        instance_id=instance_id,
    ) as machine:
        machine.boot()
        yield Booted(role, machine, instance_id, archive_proxy)


def diagnostics(booted: Booted) -> str:
    machine, role = booted.machine, booted.role
    parts = []
    for argv in (
        ["cloud-init", "status", "--long"],
        ["systemctl", "list-units", "--failed", "--plain", "--no-legend"],
        ["journalctl", "-b", "--no-pager", "-o", "short-monotonic", "-u", "cloud-final",
         "-u", "cloud-config", "-u", role.service, "-u", "cloudtap-decap.service", "-n", "80"],
        ["tail", "-n", "40", "/var/log/cloud-init-output.log"],
    ):  # fmt: skip
        result = machine.run(*argv, check=False)
        parts.append(f"$ {' '.join(argv)}\n{result.stdout}{result.stderr}")
    parts.append("archive proxy, last requests:\n" + "\n".join(booted.proxy.requests[-15:]))
    return "\n".join(parts)


def assert_up(booted: Booted) -> None:
    """cloud-init finished without errors, the role's unit is active, applied without a warning
    and its check passes."""
    machine, role = booted.machine, booted.role
    assert machine.run("cat", "/proc/1/comm").stdout == "systemd\n"
    status = machine.run("cloud-init", "status", "--long", check=False)
    assert status.returncode == 0, diagnostics(booted)
    assert "status: done" in status.stdout.splitlines(), diagnostics(booted)
    result = json.loads(machine.run("cat", "/run/cloud-init/result.json").stdout)
    assert result["v1"]["errors"] == [], diagnostics(booted)
    assert result["v1"]["datasource"].startswith("DataSourceNoCloud"), result
    instance = machine.run("cloud-init", "query", "instance_id").stdout.strip()
    assert instance == booted.instance_id
    active = machine.run("systemctl", "is-active", role.service, check=False).stdout.strip()
    assert active == "active", diagnostics(booted)
    check = machine.run(role.script, "check", check=False)
    assert check.returncode == 0, f"{check.stderr}\n{diagnostics(booted)}"
    failed = machine.run("systemctl", "list-units", "--failed", "--plain", "--no-legend")
    assert failed.stdout.strip() == "", diagnostics(booted)
    verified = machine.run("systemd-analyze", "verify", *role.units, check=False)
    assert (verified.returncode, verified.stderr) == (0, ""), verified.stderr
    journal = machine.run("journalctl", "-b", "--no-pager", "-o", "cat", "-u", role.service).stdout
    assert f"cloudtap-{role.name}: ok:" in journal, journal
    assert "warning:" not in journal, journal


def yaml_packages(user_data: str) -> list[str]:
    packages: list[str] = yaml.safe_load(user_data)["packages"]
    return packages


def runcmd_record(booted: Booted) -> str:
    """cloud-init's once-per-instance record that it ran the user's commands (runcmd)."""
    path = f"/var/lib/cloud/instances/{booted.instance_id}/sem/config_scripts_user"
    return booted.machine.run("cat", path).stdout


def test_first_boot_installs_the_packages_and_brings_the_role_up(booted: Booted) -> None:
    assert_up(booted)
    for package in yaml_packages(booted.role.user_data):
        installed = booted.machine.run("dpkg-query", "-W", "-f=${Status}", package, check=False)
        assert installed.stdout == "install ok installed", f"{package}: {installed.stderr}"


def test_after_a_reboot_the_unit_comes_up_again_without_runcmd(booted: Booted) -> None:
    ran_commands = runcmd_record(booted)
    booted.machine.reboot()
    assert booted.machine.boots == 2
    assert_up(booted)
    assert runcmd_record(booted) == ran_commands, "cloud-init ran runcmd again on the reboot"


def test_every_boot_file_is_on_the_machine_with_its_content_and_mode(booted: Booted) -> None:
    paths = sorted(booted.role.files)
    sums = booted.machine.run("sha256sum", "--", *paths).stdout.splitlines()
    on_machine = {path: digest for digest, path in (line.split(maxsplit=1) for line in sums)}
    modes = booted.machine.run("stat", "-c", "%n %a", "--", *paths).stdout.splitlines()
    mode_on_machine = dict(line.rsplit(" ", 1) for line in modes)
    expected = {path: hashlib.sha256(f.data()).hexdigest() for path, f in booted.role.files.items()}
    assert on_machine == expected
    assert mode_on_machine == {
        path: f.permissions.lstrip("0") for path, f in booted.role.files.items()
    }
