"""A sensor whose settings say ``ids: suricata``, booted for real from its rendered user data:
Debian 12's Suricata (from bookworm-backports, as components/ids.py's ``APT_IDS_SUITES`` says)
installed by ``cloudtap-sensor install-ids``, started by ``setup-ids`` under systemd, and an
alert from the stack's own rules file (the lab's, ``ids_custom_rules``) for a packet that
reaches ``cloudtap0`` through a VXLAN, a GRE and a GENEVE feed, in Suricata's EVE on the log
volume.

The log volume is a loop device on the host (:mod:`tests.boot.volume`), empty at the first boot:
cloud-init's ``fs_setup`` formats it (ext4, labelled ``cloudtap-logs``) and ``mounts`` mounts it
through its ``/dev/disk/by-label`` link, which the machine provides as udev would. On the reboot
systemd mounts nothing in a container (its fstab generator skips device entries while ``/sys``
is read-only, and no udev announces devices), so ``cloudtap-sensor apply`` mounts it, as it
does wherever the volume is not mounted yet when the sensor's unit starts.

No rule set comes from the Internet: the container's only way out is the archive proxy, which
serves Debian's archive hosts and nothing else, so ``suricata-update``'s download of ET Open
fails (the sensor warns, naming it) and Suricata runs on the stack's rules file and the event
rules its package ships. A test holds that the proxy was asked for nothing else.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from components import ids, sensor
from components.cloud_config import written_files
from components.mirroring import default_sensor_address
from components.network_plan import NetworkPlan, Tier
from components.os_family import OsFamily
from lab.feeds import VXLAN_PORT, signature_frames, stream
from lab.stack import load_plan
from tests.boot.archive_proxy import ARCHIVE_HOSTS, ArchiveProxy
from tests.boot.machine import Machine
from tests.boot.test_real_boot import STACK, Booted, Role, _interface, assert_up, diagnostics
from tests.boot.volume import LoopVolume

pytestmark = pytest.mark.boot

RULES = Path(__file__).resolve().parents[2] / "lab" / "ids" / "lab.rules"
LOCAL_UDP_SID = 9000002
ROOT_RESPONSE_SID = 2100498
FIRST_BOOT_TIMEOUT = 600.0
"""Seconds for the first boot: Suricata and its libraries are about 60 MB from a cold cache."""
ALERT_TIMEOUT = 60.0
LOG_MOUNT_POINT = sensor.DEFAULT_LOG_MOUNT_POINT
LOG_DIR = f"{LOG_MOUNT_POINT}/suricata"
"""Where the sensor's settings send Suricata's logs: on the log volume."""
EVE = f"{LOG_DIR}/{ids.EVE_FILE}"
PYTHON_DECAP = "cloudtap-decap (Python: the slow fallback)"


def ids_sensor_role(plan: NetworkPlan, log_device: str) -> Role:
    monitor = plan.subnets[Tier.MONITOR][0]
    sensor_plan = sensor.plan_sensor(
        {"ids": "suricata", "ids_custom_rules": str(RULES)},
        default_feed_sources=(plan.cidr_block,),
        log_volume=True,
        os_family=OsFamily.DEBIAN,
    )
    boot = sensor.render_cloud_config(sensor_plan, log_device=log_device, os_family=OsFamily.DEBIAN)
    return Role(
        name="sensor",
        user_data=boot,
        interface=_interface(monitor, default_sensor_address(monitor), "02:c7:00:00:80:1a"),
        service=sensor.SERVICE,
        script=sensor.SCRIPT_PATH,
        units=(sensor.UNIT_PATH, sensor.DECAP_UNIT_PATH, sensor.HEALTH_UNIT_PATH,
               ids.UPDATE_SERVICE_PATH, ids.UPDATE_TIMER_PATH),
        files=written_files(boot),
    )  # fmt: skip


@dataclass
class IdsBooted(Booted):
    volume: LoopVolume


@pytest.fixture(scope="module")
def booted(debian_root: Path, archive_proxy: ArchiveProxy) -> Iterator[IdsBooted]:
    instance_id = f"i-{uuid.uuid4().hex[:17]}"
    # The machine is gone (and the volume unmounted with it) before the volume is detached.
    with LoopVolume("sensor-ids-logs") as volume:
        role = ids_sensor_role(load_plan(STACK), str(volume.device))
        with Machine(
            "sensor-ids",  # its own namespaces and directory beside test_real_boot's sensor
            debian_root,
            interface=role.interface,
            proxy_socket=archive_proxy.socket_path,
            user_data=role.user_data,
            instance_id=instance_id,
            devices={volume.device: sensor.LOG_VOLUME_LABEL},
        ) as machine:
            machine.boot(FIRST_BOOT_TIMEOUT)
            yield IdsBooted(role, machine, instance_id, archive_proxy, volume)


def ids_diagnostics(booted: Booted) -> str:
    parts = [diagnostics(booted)]
    for argv in (
        ["journalctl", "-b", "--no-pager", "-o", "cat", "-u", ids.IDS_UNIT, "-n", "40"],
        ["findmnt", LOG_MOUNT_POINT],
        ["tail", "-n", "30", f"{LOG_DIR}/suricata.log"],
    ):
        result = booted.machine.run(*argv, check=False)
        parts.append(f"$ {' '.join(argv)}\n{result.stdout}{result.stderr}")
    return "\n".join(parts)


def ids_pid(booted: Booted) -> str:
    return booted.machine.run("cat", ids.PID_FILE).stdout.strip()


def eve_alerts(booted: Booted, sid: int) -> list[dict[str, Any]]:
    text = booted.machine.run("cat", EVE, check=False).stdout
    events = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [
        event
        for event in events
        if event.get("event_type") == "alert" and event["alert"]["signature_id"] == sid
    ]


def volume_fields(booted: IdsBooted) -> dict[str, str]:
    """``blkid``'s view of the log volume, read on the host (not through the container)."""
    result = subprocess.run(
        ["blkid", "-p", "-o", "export", str(booted.volume.device)],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def mount_of(booted: Booted, path: str) -> dict[str, str]:
    """The mount ``path`` lies on, as the container sees it ({} when it is on none)."""
    result = booted.machine.run(
        "findmnt", "--json", "--output", "SOURCE,TARGET,FSTYPE", "--target", path, check=False
    )
    if result.returncode != 0:
        return {}
    mount: dict[str, str] = json.loads(result.stdout)["filesystems"][0]
    return mount


def send_raw(booted: Booted, packets: Sequence[bytes]) -> None:
    """Whole IPv4 packets (their own header: GRE needs no socket of its kind) from the
    subnet's router to the sensor, through a raw socket, as a cloud's mirror sends them."""
    sender = (
        "import socket, sys\n"
        "with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as s:\n"
        "    for packet in sys.argv[2:]:\n"
        "        s.sendto(bytes.fromhex(packet), (sys.argv[1], 0))\n"
    )
    address = str(booted.role.interface.address.ip)
    subprocess.run(
        ["ip", "netns", "exec", booted.machine.router_netns, "python3", "-I", "-c", sender,
         address, *[packet.hex() for packet in packets]],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip


def wait_for_alerts(
    booted: Booted, private: str, remote: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the local signature's alerts, the root response's) between ``private`` and ``remote``,
    once both are there."""
    pair = {private, remote}
    deadline = time.monotonic() + ALERT_TIMEOUT
    while time.monotonic() < deadline:
        local, root = (
            [a for a in eve_alerts(booted, sid) if {a["src_ip"], a["dest_ip"]} == pair]
            for sid in (LOCAL_UDP_SID, ROOT_RESPONSE_SID)
        )
        if local and root:
            return local, root
        time.sleep(1)
    pytest.fail(
        f"no alerts of sids {LOCAL_UDP_SID}, {ROOT_RESPONSE_SID} between {private} and "
        f"{remote} in {EVE} after {ALERT_TIMEOUT:.0f}s\n{ids_diagnostics(booted)}"
    )


def decapsulation_paths(booted: Booted) -> dict[str, str]:
    """feed -> how ``cloudtap-sensor check`` says it is decapsulated."""
    check = booted.machine.run(sensor.SCRIPT_PATH, "check")
    listed = re.search(r"\(MTU \d+\); (.*?); feeds from ", check.stderr)
    assert listed, check.stderr
    return dict(path.split(": ", 1) for path in listed.group(1).split(", "))


def send_vxlan(booted: Booted, frames: tuple[bytes, ...], vni: int = 77) -> None:
    """``frames`` in VXLAN to the sensor's feed port, from the subnet's router (a feed source:
    the stack's VPC), as AWS Traffic Mirroring sends them."""
    sender = (
        "import socket, sys\n"
        "with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:\n"
        "    for packet in sys.argv[2:]:\n"
        f"        s.sendto(bytes.fromhex(packet), (sys.argv[1], {VXLAN_PORT}))\n"
    )
    header = struct.pack("!II", 0x08000000, vni << 8)
    address = str(booted.role.interface.address.ip)
    subprocess.run(
        ["ip", "netns", "exec", booted.machine.router_netns, "python3", "-I", "-c", sender,
         address, *[(header + frame).hex() for frame in frames]],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip


def test_first_boot_installs_suricata_from_backports_and_the_sensor_is_up(booted: Booted) -> None:
    assert_up(booted)
    machine = booted.machine
    for package in ids.IDS_PACKAGES[OsFamily.DEBIAN][ids.Ids.SURICATA]:
        version = machine.run("dpkg-query", "-W", "-f=${Status} ${Version}", package, check=False)
        assert re.fullmatch(r"install ok installed \S+~bpo12\+\d+", version.stdout), (
            f"{package}: {version.stdout}{version.stderr}"
        )


def test_the_log_volume_is_formatted_labelled_and_mounted_and_holds_the_eve_log(
    booted: IdsBooted,
) -> None:
    machine, device = booted.machine, str(booted.volume.device)
    fields = volume_fields(booted)
    assert (fields.get("TYPE"), fields.get("LABEL")) == ("ext4", sensor.LOG_VOLUME_LABEL), fields
    assert mount_of(booted, LOG_MOUNT_POINT) == {
        "source": device, "target": LOG_MOUNT_POINT, "fstype": "ext4"
    }  # fmt: skip
    fstab = machine.run("cat", "/etc/fstab").stdout
    assert re.search(
        rf"^/dev/disk/by-label/{sensor.LOG_VOLUME_LABEL}\s+{LOG_MOUNT_POINT}\s+ext4\s+"
        rf"{re.escape(sensor.LOG_MOUNT_OPTIONS)}\S*\s+0\s+2$",
        fstab,
        re.MULTILINE,
    ), fstab
    settings = machine.run("cat", sensor.SETTINGS_PATH).stdout
    assert f'IDS_LOG_DIR="{LOG_DIR}"' in settings.splitlines(), settings
    # Suricata opened its EVE there (the alerts below are read from it); none on the root disk.
    assert machine.run("test", "-f", EVE, check=False).returncode == 0, ids_diagnostics(booted)
    assert mount_of(booted, EVE)["target"] == LOG_MOUNT_POINT, ids_diagnostics(booted)
    fallback = f"{ids.FALLBACK_LOG_DIR}/{ids.EVE_FILE}"
    assert machine.run("test", "-e", fallback, check=False).returncode != 0
    # cloud-init mounted it before the sensor's first apply: that apply mounted nothing.
    journal = machine.run("journalctl", "-b", "--no-pager", "-o", "cat", "-u", sensor.SERVICE)
    assert "mounted the log volume" not in journal.stdout, journal.stdout


def test_suricata_runs_reading_the_capture_interface_and_the_rules_timer_is_enabled(
    booted: Booted,
) -> None:
    machine = booted.machine
    active = machine.run("systemctl", "is-active", ids.IDS_UNIT, check=False).stdout.strip()
    assert active == "active", ids_diagnostics(booted)
    for unit in (ids.IDS_UNIT, ids.UPDATE_TIMER):
        enabled = machine.run("systemctl", "is-enabled", unit, check=False).stdout.strip()
        assert enabled == "enabled", f"{unit}: {enabled}"
    timer = machine.run("systemctl", "is-active", ids.UPDATE_TIMER, check=False).stdout.strip()
    assert timer == "active"
    # The unit runs cloudtap's config (the drop-in), and its main process is the pid check reads.
    main_pid = machine.run("systemctl", "show", "-P", "MainPID", ids.IDS_UNIT).stdout.strip()
    assert main_pid == ids_pid(booted)
    command = machine.run("cat", f"/proc/{main_pid}/cmdline").stdout.split("\0")
    assert command[command.index("-c") + 1] == ids.SURICATA_CONFIG_PATH, command
    # The package's unit with cloudtap's drop-in (its man pages are not in a minimal image).
    verified = machine.run(
        "systemd-analyze", "verify", "--man=no", f"/lib/systemd/system/{ids.IDS_UNIT}",
        check=False,
    )  # fmt: skip
    assert (verified.returncode, verified.stderr) == (0, ""), verified.stderr
    check = machine.run(sensor.SCRIPT_PATH, "check", check=False)
    assert check.returncode == 0, f"{check.stderr}\n{ids_diagnostics(booted)}"
    assert re.search(
        rf"ok: suricata \(pid {main_pid}\) reads {sensor.DEFAULT_CAPTURE_INTERFACE};", check.stderr
    ), check.stderr


def test_no_rule_set_came_from_the_internet(booted: Booted) -> None:
    """suricata-update could download nothing: the sensor says so, and its rules are
    Suricata's own event rules (from the package) beside the stack's."""
    machine = booted.machine
    # The first setup-ids runs in cloudtap-settings.service's first apply: its log is there.
    journal = machine.run("journalctl", "-b", "--no-pager", "-o", "cat").stdout
    assert re.search(
        r"warning: suricata-update could not download https://rules\.emergingthreats\.net/\S+",
        journal,
    ), journal[-3000:]
    assert "rules updated in" not in journal
    updated = machine.run("cat", f"{ids.RULES_DIR}/{ids.UPDATED_RULES}").stdout
    messages = re.findall(r'msg:"([A-Z]+) ', updated)
    assert messages and set(messages) <= {"SURICATA", "FILE", "FILEEXT", "FILEMAGIC",
                                          "FILESTORE"}, sorted(set(messages))  # fmt: skip
    custom = machine.run("cat", f"{ids.RULES_DIR}/{ids.CUSTOM_RULES}").stdout
    assert custom == RULES.read_text()
    hosts = {re.search(r'"[A-Z]+ http://([^/:]+)', line) for line in booted.proxy.requests}
    assert {match.group(1) for match in hosts if match} <= ARCHIVE_HOSTS
    assert all(match is not None for match in hosts), booted.proxy.requests


def test_a_packet_through_a_vxlan_feed_raises_the_local_rules_alert(booted: Booted) -> None:
    private, remote = "10.0.64.10", "203.0.113.10"
    outbound, response = signature_frames(private, remote)
    assert eve_alerts(booted, LOCAL_UDP_SID) == []
    send_vxlan(booted, (outbound, response))
    deadline = time.monotonic() + ALERT_TIMEOUT
    while time.monotonic() < deadline:
        local, root = eve_alerts(booted, LOCAL_UDP_SID), eve_alerts(booted, ROOT_RESPONSE_SID)
        if local and root:
            break
        time.sleep(1)
    else:
        pytest.fail(f"no alerts of sids {LOCAL_UDP_SID}, {ROOT_RESPONSE_SID} in {EVE} after "
                    f"{ALERT_TIMEOUT:.0f}s\n{ids_diagnostics(booted)}")  # fmt: skip
    assert [(a["src_ip"], a["dest_ip"], a["in_iface"]) for a in local] == [
        (private, remote, sensor.DEFAULT_CAPTURE_INTERFACE)
    ]
    assert [(a["src_ip"], a["dest_ip"]) for a in root] == [(remote, private)]


@pytest.mark.parametrize(
    ("kind", "feed", "index"), [("gre", "gre", 11), ("gwlb-geneve", "geneve", 12)]
)
def test_a_packet_through_a_gre_or_geneve_feed_raises_one_alert_per_direction(
    booted: Booted, kind: str, feed: str, index: int
) -> None:
    """GRE (OpenStack's tap mirror, Ethernet over GRE with a key) and GENEVE (AWS Traffic
    Mirroring to a Gateway Load Balancer endpoint, the VXLAN mirror packet inside). The boot
    host's kernel has neither a GRE nor a GENEVE driver, and tc cannot load the BPF
    decapsulator in a container (no BPF file system): cloudtap-decap takes both, as the
    sensor's first apply said."""
    journal = booted.machine.run("journalctl", "-b", "--no-pager", "-o", "cat", "-u",
                                 sensor.SERVICE).stdout  # fmt: skip
    if feed == "gre":
        assert "gre: the kernel cannot terminate it" in journal, journal
    assert re.search(rf"\b{feed}\b.*: the tc BPF decapsulator cannot run here", journal), journal
    assert decapsulation_paths(booted)[feed] == PYTHON_DECAP
    # Hosts of their own per feed: its alerts are told apart by address.
    private, remote = f"10.0.64.{index}", f"203.0.113.{index}"
    packets = [
        packet
        for packet, _ in stream(
            kind,
            2,
            source=str(booted.role.interface.router),
            destination=str(booted.role.interface.address.ip),
            frames=signature_frames(private, remote),
        )
    ]
    send_raw(booted, packets)
    wait_for_alerts(booted, private, remote)
    time.sleep(2)  # a second copy of either would be written by now
    local, root = wait_for_alerts(booted, private, remote)
    assert Counter((a["src_ip"], a["dest_ip"], a["in_iface"]) for a in local) == {
        (private, remote, sensor.DEFAULT_CAPTURE_INTERFACE): 1
    }
    assert Counter((a["src_ip"], a["dest_ip"]) for a in root) == {(remote, private): 1}


def test_settings_naming_rules_the_sensor_does_not_hold_are_refused(booted: Booted) -> None:
    machine = booted.machine
    settings = machine.run("cat", sensor.SETTINGS_PATH).stdout
    held = hashlib.sha256(RULES.read_bytes()).hexdigest()
    assert f'IDS_CUSTOM_RULES_SHA256="{held}"' in settings
    other = hashlib.sha256(b"alert ip any any -> any any (sid:1;)\n").hexdigest()
    offered = "/run/cloudtap-other-rules.conf"
    machine.run(
        "python3", "-I", "-c",
        "import sys; open(sys.argv[1], 'w').write(sys.argv[2])",
        offered, settings.replace(held, other),
    )  # fmt: skip
    before = ids_pid(booted)
    result = machine.run(sensor.SCRIPT_PATH, "apply-settings", offered, check=False)
    assert result.returncode != 0
    assert "refused settings" in result.stderr, result.stderr
    assert f"the settings name custom rules (sha256 {other})" in result.stderr, result.stderr
    status = json.loads(machine.run("cat", "/var/lib/cloudtap/sensor.status").stdout)
    assert status["result"] == "refused", status
    # Nothing changed: the IDS runs on, with the config and rules it had.
    assert ids_pid(booted) == before
    assert machine.run(sensor.SCRIPT_PATH, "check", check=False).returncode == 0


def test_after_a_reboot_suricata_comes_up_again_without_runcmd(booted: IdsBooted) -> None:
    """No setup-ids on a reboot: the enabled unit and timer come up after the sensor's unit,
    which mounted the log volume again (systemd does not, in a container): not re-formatted,
    the earlier EVE lines kept, Suricata writing on after them."""
    before = ids_pid(booted)
    uuid_before = volume_fields(booted)["UUID"]
    eve_before = booted.machine.run("cat", EVE).stdout
    assert eve_alerts(booted, LOCAL_UDP_SID), "no alert before the reboot"
    booted.machine.reboot()
    assert_up(booted)  # its check includes the IDS's: running, reading cloudtap0
    machine = booted.machine
    assert ids_pid(booted) != before
    assert volume_fields(booted)["UUID"] == uuid_before
    assert mount_of(booted, EVE)["source"] == str(booted.volume.device), ids_diagnostics(booted)
    journal = machine.run("journalctl", "-b", "--no-pager", "-o", "cat", "-u", sensor.SERVICE)
    assert f"mounted the log volume at {LOG_MOUNT_POINT}" in journal.stdout, journal.stdout
    booted_eve = machine.run("cat", EVE).stdout
    deadline = time.monotonic() + ALERT_TIMEOUT
    while (eve := machine.run("cat", EVE).stdout) == booted_eve and time.monotonic() < deadline:
        time.sleep(1)  # a stats event every 8 s
    assert eve.startswith(eve_before), "the EVE log lost lines over the reboot"
    assert len(eve) > len(booted_eve), f"Suricata wrote no event after the reboot to {EVE}"
    timer = machine.run("systemctl", "is-active", ids.UPDATE_TIMER, check=False).stdout.strip()
    assert timer == "active"
    sensor_up = machine.run("systemctl", "show", "-P", "ActiveEnterTimestampMonotonic",
                            sensor.SERVICE).stdout.strip()  # fmt: skip
    ids_up = machine.run("systemctl", "show", "-P", "ActiveEnterTimestampMonotonic",
                         ids.IDS_UNIT).stdout.strip()  # fmt: skip
    assert 0 < int(sensor_up) <= int(ids_up), (sensor_up, ids_up)


def test_a_reboot_without_the_log_volume_still_captures_and_runs_the_ids(
    booted: IdsBooted,
) -> None:
    """The volume detached from the instance (``nofail``): the sensor boots, warns, and
    Suricata logs under the bare mount point on the root disk, alerting as before."""
    booted.machine.devices = {}
    booted.machine.reboot()
    machine = booted.machine
    assert machine.run("test", "-e", str(booted.volume.device), check=False).returncode != 0
    for unit in (sensor.SERVICE, ids.IDS_UNIT):
        active = machine.run("systemctl", "is-active", unit, check=False).stdout.strip()
        assert active == "active", f"{unit}: {active}\n{ids_diagnostics(booted)}"
    journal = machine.run("journalctl", "-b", "--no-pager", "-o", "cat", "-u", sensor.SERVICE)
    assert f"warning: cannot mount the log volume at {LOG_MOUNT_POINT}" in journal.stdout
    check = machine.run(sensor.SCRIPT_PATH, "check", check=False)
    assert check.returncode == 0, f"{check.stderr}\n{ids_diagnostics(booted)}"
    assert f"warning: the log volume is not mounted at {LOG_MOUNT_POINT}" in check.stderr
    assert re.search(r"ok: suricata \(pid \d+\) reads cloudtap0;", check.stderr), check.stderr
    private, remote = "10.0.64.13", "203.0.113.13"
    send_vxlan(booted, signature_frames(private, remote))
    local, root = wait_for_alerts(booted, private, remote)
    assert [(a["src_ip"], a["dest_ip"]) for a in local] == [(private, remote)]
    assert [(a["src_ip"], a["dest_ip"]) for a in root] == [(remote, private)]
    assert mount_of(booted, EVE)["target"] == "/", "EVE is not on the root disk"
