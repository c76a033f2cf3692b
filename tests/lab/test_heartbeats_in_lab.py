"""The gateway mirror proves itself end to end: its heartbeats cross the real copy path, and the
sensor's check names the gateway as soon as they stop, whichever way the path breaks.

The lab's gateway sends a heartbeat every second (``heartbeat_interval: 1``), so the sensor's
check fails once three seconds pass without one. Each test breaks the path as an operator or a
cloud might, waits for that, expects ``cloudtap-sensor check`` to fail naming the gateway mirror
and since when, then restores the path and expects the check to pass again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from components.mirroring import HEARTBEAT_MISSED
from components.network_plan import NetworkPlan, plan_network
from lab import Host, Lab
from lab.lab import LabError

pytestmark = pytest.mark.lab

INTERVAL = 1
SILENT_AFTER = INTERVAL * HEARTBEAT_MISSED + 1.5
"""Seconds after which a stopped heartbeat must have made the check fail."""
HEARD_WITHIN = 12.0
"""Seconds a restored path has to deliver a heartbeat again (polled, never asserted as a time)."""
GATEWAY_MIRROR = r"the gateway mirror in 10\.0\.0\.0/20 \(VXLAN VNI 4242\)"
SILENT_SINCE = re.compile(
    GATEWAY_MIRROR + r": no heartbeat since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(from 10\.0\.128\.1;"
)


def _plan(mode: str) -> NetworkPlan:
    return plan_network({"gateway_mirror": {"mode": mode, "heartbeat_interval": INTERVAL}})


@pytest.fixture(scope="module")
def vxlan_lab(lab_environment: None) -> Iterator[Lab]:
    with Lab.create(_plan("vxlan")) as lab:
        yield lab


def _wait_until_heard(lab: Lab) -> str:
    deadline = time.monotonic() + HEARD_WITHIN
    while True:
        result = lab.sensor("check")
        if result.returncode == 0 and "heard from" in result.stderr:
            return result.stderr
        if time.monotonic() > deadline:
            raise AssertionError(f"the sensor never heard the gateway mirror: {result.stderr}")
        time.sleep(0.3)


def _silent_check(lab: Lab) -> str:
    time.sleep(SILENT_AFTER)
    result = lab.sensor("check")
    assert result.returncode == 1, f"check passed with the path broken: {result.stderr}"
    return result.stderr


def _settings_with(path: Path, key: str, value: str) -> str:
    """The settings file's text with ``key`` set to ``value``; returns the original."""
    original = path.read_text(encoding="utf-8")
    changed, count = re.subn(rf"^{key}=.*$", f'{key}="{value}"', original, flags=re.MULTILINE)
    if count != 1:
        raise LabError(f"{path.name} sets {key} {count} times")
    path.write_text(changed, encoding="utf-8")
    return original


def _wrong_vni(lab: Lab) -> Callable[[], None]:
    # The gateway's own check is satisfied: its settings and its device agree with each other.
    original = _settings_with(lab.settings_path, "MIRROR_VNI", "999")
    lab.gateway("apply", check=True)

    def restore() -> None:
        lab.settings_path.write_text(original, encoding="utf-8")
        lab.gateway("apply", check=True)

    return restore


def _feed_port_blocked(lab: Lab) -> Callable[[], None]:
    # As a security group or firewall in front of the sensor would: before cloudtap's rules.
    for argv in (
        ["nft", "add", "table", "inet", "lab_block"],
        ["nft", "add", "chain", "inet", "lab_block", "input",
         "{ type filter hook input priority filter - 10; policy accept; }"],
        ["nft", "add", "rule", "inet", "lab_block", "input", "udp", "dport", "4789", "drop"],
    ):  # fmt: skip
        lab.run(Host.SENSOR, *argv)

    def restore() -> None:
        lab.run(Host.SENSOR, "nft", "delete", "table", "inet", "lab_block")

    return restore


def _mirror_device_deleted(lab: Lab) -> Callable[[], None]:
    lab.run(Host.GATEWAY, "ip", "link", "del", "dev", "cloudtap-mirror")

    def restore() -> None:
        lab.gateway("apply", check=True)

    return restore


def _ttl_one_past_a_router(lab: Lab) -> Callable[[], None]:
    # The lab's gateway and sensor share a link, where TTL 1 still arrives; in a cloud a router
    # lies between them. The sensor's ingress models that hop: it discards what a router would.
    lab.run(
        Host.GATEWAY, "ip", "link", "set", "dev", "cloudtap-mirror", "type", "vxlan", "ttl", "1"
    )
    interface = lab.topology.link_of(Host.SENSOR).host_interface
    for argv in (
        ["nft", "add", "table", "netdev", "lab_router"],
        ["nft", "add", "chain", "netdev", "lab_router", "hop",
         f'{{ type filter hook ingress device "{interface}" priority -500; policy accept; }}'],
        ["nft", "add", "rule", "netdev", "lab_router", "hop", "ip", "ttl", "1", "drop"],
    ):  # fmt: skip
        lab.run(Host.SENSOR, *argv)

    def restore() -> None:
        lab.run(Host.SENSOR, "nft", "delete", "table", "netdev", "lab_router")
        lab.gateway("apply", check=True)  # replaces a device whose TTL is not the route's

    return restore


BREAKS: dict[str, Callable[[Lab], Callable[[], None]]] = {
    "wrong VNI": _wrong_vni,
    "sensor's feed port blocked": _feed_port_blocked,
    "gateway's mirror device deleted": _mirror_device_deleted,
    "VXLAN TTL 1 behind a router": _ttl_one_past_a_router,
}


def test_the_sensor_hears_the_gateway_mirror_and_keeps_heartbeats_off_the_capture_interface(
    vxlan_lab: Lab,
) -> None:
    lab = vxlan_lab
    heard = _wait_until_heard(lab)
    assert re.search(GATEWAY_MIRROR + r" heard from 10\.0\.128\.1 \d+ s ago", heard), heard
    interface = lab.sensor_plan.capture_interface
    with lab.record(Host.SENSOR, interface) as recording:
        time.sleep(INTERVAL * 3)
    magic = b"cloudtap heartbeat"
    assert not [frame for frame in recording.frames() if magic in frame.data]
    counted = lab.run(Host.SENSOR, "nft", "list", "counter", "inet", "cloudtap_sensor",
                      "heartbeat_1").stdout  # fmt: skip
    packets = re.search(r"packets (\d+)", counted)
    assert packets and int(packets[1]) >= 3, counted


def test_a_reapplied_sensor_remembers_heartbeats_no_check_saw(lab_environment: None) -> None:
    # Replacing the table (every apply, every settings change) empties the heard sets. What
    # they held must survive even when no check ran since it arrived: as on a real sensor whose
    # last check was the boot's, before the first heartbeat. The default interval (10 s) leaves
    # the re-apply time to finish with the sender paused.
    with Lab.create(plan_network({"gateway_mirror": {"mode": "vxlan"}})) as lab:
        deadline = time.monotonic() + HEARD_WITHIN
        while _heartbeats_counted(lab) == 0:  # polled on the counter: no check sees it
            assert time.monotonic() < deadline, "no heartbeat arrived"
            time.sleep(0.2)
        with lab.heartbeats_paused():
            applied = lab.sensor("apply")
    assert applied.returncode == 0, applied.stderr
    heard = GATEWAY_MIRROR + r" heard from 10\.0\.128\.1 \d+ s ago"  # not "not heard yet"
    assert re.search(heard, applied.stderr), applied.stderr


def _heartbeats_counted(lab: Lab) -> int:
    counted = lab.run(Host.SENSOR, "nft", "list", "counter", "inet", "cloudtap_sensor",
                      "heartbeat_1").stdout  # fmt: skip
    packets = re.search(r"packets (\d+)", counted)
    return int(packets[1]) if packets else 0


@pytest.mark.parametrize("name", list(BREAKS))
def test_check_names_the_silent_gateway_mirror_and_passes_once_restored(
    vxlan_lab: Lab, name: str
) -> None:
    lab = vxlan_lab
    _wait_until_heard(lab)
    restore = BREAKS[name](lab)
    try:
        failure = _silent_check(lab)
        gateway = lab.gateway("check")
    finally:
        restore()
    assert SILENT_SINCE.search(failure), failure
    if name == "wrong VNI":
        assert "arrived from another source or with another VNI" in failure, failure
        assert gateway.returncode == 0, "the gateway's own check cannot see this break"
    _wait_until_heard(lab)


def test_a_tee_mirrors_heartbeats_are_heard_and_their_silence_named(lab_environment: None) -> None:
    with Lab.create(_plan("tee")) as lab:
        heard = _wait_until_heard(lab)
        assert "the gateway mirror in 10.0.0.0/20 (tee) heard from 10.0.0.10" in heard, heard
        # Without the clone rule the heartbeat goes its own way (to the internet) and never
        # reaches the sensor.
        lab.run(Host.GATEWAY, "nft", "flush", "chain", "ip", "cloudtap", "mirror_heartbeat")
        failure = _silent_check(lab)
        assert "the gateway mirror in 10.0.0.0/20 (tee): no heartbeat since" in failure, failure
        lab.gateway("apply", check=True)
        _wait_until_heard(lab)


def test_a_sensor_expecting_a_gateway_that_never_speaks_names_it_never_heard(
    lab_environment: None,
) -> None:
    with Lab.create(_plan("vxlan"), apply_gateway=False) as lab:
        time.sleep(SILENT_AFTER)
        result = lab.sensor("check")
    assert result.returncode == 1, result.stderr
    assert re.search(GATEWAY_MIRROR + r": never heard \(watched since \d{4}-", result.stderr), (
        result.stderr
    )
