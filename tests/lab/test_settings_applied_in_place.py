"""New settings applied to a running gateway, in place, while traffic flows through it.

An iperf3 TCP stream and a ping run from the private tier to the internet host through the
gateway while cloudtap-settings (the ``file`` source, as the timer runs it) applies a new port
forward, turns the mirror off and on again, and is offered a broken file that parse_settings
and ``nft -c`` accept but the host refuses (a multicast MIRROR_SENSOR: ``ip`` will not make a
VXLAN device with it), which is rolled back. Nothing may be lost and the stream never stalls."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from components.network_plan import NetworkPlan
from lab import Host, Lab

pytestmark = pytest.mark.lab

STREAM_SECONDS = 45
"""Long enough for the four changes on a loaded machine (about 20 s unloaded): they must all
happen while the stream and the ping run."""
INTERVAL = 0.2
PING_INTERVAL = 0.05
NEW_FORWARD = "tcp:8080:10.0.64.10:8080"
BROKEN_FORWARD = "tcp:9090:10.0.64.10:9090"


@pytest.fixture(scope="module")
def lab(lab_environment: None, aws_dev_plan: NetworkPlan) -> Iterator[Lab]:
    with Lab.create(aws_dev_plan) as created:
        yield created


def with_setting(settings: str, key: str, value: str | None) -> str:
    """``settings`` with KEY set to value (None: the line removed)."""
    lines = [line for line in settings.splitlines() if not line.startswith(f"{key}=")]
    if value is not None:
        lines.append(f'{key}="{value}"')
    return "\n".join(lines) + "\n"


def value_of(settings: str, key: str) -> str:
    found = re.search(rf'^{key}="([^"]*)"$', settings, re.MULTILINE)
    assert found is not None, key
    return found.group(1)


@dataclass
class Step:
    name: str
    settings: str
    expect_applied: bool
    at: float = 0.0
    returncode: int = -1
    output: str = ""
    status: dict[str, Any] | None = None
    check: int = -1


def steps(original: str) -> list[Step]:
    forwards = value_of(original, "PORT_FORWARDS")
    with_forward = with_setting(original, "PORT_FORWARDS", f"{forwards} {NEW_FORWARD}")
    mirror_off = with_setting(
        with_setting(with_forward, "MIRROR_MODE", "off"), "MIRROR_SENSOR", None
    )
    broken = with_setting(
        with_setting(with_forward, "PORT_FORWARDS", f"{forwards} {NEW_FORWARD} {BROKEN_FORWARD}"),
        "MIRROR_SENSOR",
        "224.0.0.1",
    )
    return [
        Step("a new port forward", with_forward, expect_applied=True),
        Step("the mirror off", mirror_off, expect_applied=True),
        Step("the mirror on again", with_forward, expect_applied=True),
        Step("a broken file", broken, expect_applied=False),
    ]


@contextlib.contextmanager
def traffic(lab: Lab) -> Iterator[dict[str, Any]]:
    """iperf3 (TCP, app -> internet) and a ping beside it for the block; results after it."""
    internet = str(lab.address(Host.INTERNET))
    app = str(lab.address(Host.APP))
    results: dict[str, Any] = {}
    with lab.background(
        Host.INTERNET, "iperf3", "-s", "-1", "--forceflush", "-B", internet
    ) as server:
        assert server.wait_for(lambda line: "listening" in line, 10.0), " | ".join(server.lines)
        count = int(STREAM_SECONDS / PING_INTERVAL)
        ping_argv = ["ping", "-n", "-q", "-i", str(PING_INTERVAL), "-c", str(count)]
        with (
            lab.background(Host.APP, *ping_argv, "-I", app, internet) as ping,
            lab.background(
                Host.APP,
                "iperf3",
                *("-c", internet, "-B", app, "-t", str(STREAM_SECONDS)),
                *("-i", str(INTERVAL), "-J"),
            ) as client,
        ):
            time.sleep(1.0)  # the stream is up before the first change
            yield results
            assert client.wait(STREAM_SECONDS + 15.0) == 0, " | ".join(client.lines)
            assert ping.wait(STREAM_SECONDS + 15.0) == 0, " | ".join(ping.lines)
            results["iperf3"] = json.loads("\n".join(client.lines))
            results["ping"] = "\n".join(ping.lines)


def test_settings_applied_while_traffic_flows_lose_nothing_and_a_broken_one_rolls_back(
    lab: Lab,
) -> None:
    original = lab.settings_path.read_text()
    plan = steps(original)
    started = time.monotonic()
    with traffic(lab) as results:
        for step in plan:
            lab.settings_path.write_text(step.settings)
            step.at = time.monotonic() - started
            fetched = lab.fetch_gateway_settings()
            step.returncode, step.output = fetched.returncode, fetched.stderr
            step.status = lab.gateway_status()
            # check against the settings in force (the last good ones)
            good = lab.gateway_state_dir / "gateway.conf.good"
            step.check = lab.run(
                Host.GATEWAY,
                "bash",
                str(lab.script_path),
                "check",
                check=False,
                env={**os.environ, **lab.gateway_env(), "CLOUDTAP_GATEWAY_CONF": str(good)},
            ).returncode
            if step.name == "a new port forward":
                with lab.listen(Host.APP, 8080):
                    answer = lab.connect(Host.INTERNET, lab.address(Host.GATEWAY), 8080)
                assert answer.ok, f"the new forward does not answer: {answer.error}"
            time.sleep(1.5)
        finished = time.monotonic() - started
    assert finished < STREAM_SECONDS, "the changes outlasted the stream: lengthen it"

    for step in plan:
        assert step.status is not None
        if step.expect_applied:
            assert step.returncode == 0, f"{step.name}: {step.output}"
            assert step.status["result"] == "applied", step.status
        else:
            assert step.returncode == 1, f"{step.name}: {step.output}"
            assert step.status["result"] == "rolled-back", step.status
            assert "cannot create the VXLAN device" in step.status["message"]
            assert "ROLLED BACK" in step.output
        assert step.check == 0, f"check failed after {step.name}"

    # The old rules are in force after the rollback: the new forward, not the broken one.
    table = lab.gateway_table()
    assert "8080" in table and "9090" not in table
    with lab.listen(Host.APP, 8080):
        assert lab.connect(Host.INTERNET, lab.address(Host.GATEWAY), 8080).ok
    assert "cloudtap-mirror" in lab.run(Host.GATEWAY, "ip", "-o", "link", "show").stdout

    received = re.search(r"(\d+) packets transmitted, (\d+) received", results["ping"])
    assert received is not None, results["ping"]
    transmitted, answered = int(received.group(1)), int(received.group(2))
    intervals = [i["sum"] for i in results["iperf3"]["intervals"]]
    slowest = min(intervals, key=lambda i: i["bytes"])
    print(
        f"\nping: {answered}/{transmitted} answered; iperf3: {len(intervals)} intervals of "
        f"{INTERVAL}s, slowest {slowest['bytes']} bytes at {slowest['start']:.1f}s "
        f"({slowest['bits_per_second'] / 1e9:.2f} Gbit/s), "
        f"{sum(i.get('retransmits', 0) for i in intervals)} retransmits; changes at "
        + ", ".join(f"{step.at:.1f}s" for step in plan)
    )
    assert transmitted == answered, f"{transmitted - answered} pings lost"
    assert all(interval["bytes"] > 0 for interval in intervals), "the TCP stream stalled"


def applied_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_sensor_takes_new_feeds_in_place_and_refuses_a_hostile_file(lab: Lab) -> None:
    # Feeds are the subject here: the gateway's heartbeats (whose mirror the steps above leave
    # off) are tested in test_heartbeats_in_lab, so this sensor expects none.
    lab.sensor_settings_path.write_text(
        with_setting(lab.sensor_settings_path.read_text(), "HEARTBEAT_SOURCES", "")
    )
    original = lab.sensor_settings_path.read_text()
    assert "6081" in lab.sensor_table()  # GENEVE admitted from the feed sources
    vxlan_only = lab.workdir / "sensor-vxlan.conf"
    vxlan_only.write_text(with_setting(original, "FEEDS", "vxlan"))
    applied = lab.sensor("apply-settings", str(vxlan_only))
    assert applied.returncode == 0, applied.stderr
    status = json.loads((lab.sensor_state_dir / "sensor.status").read_text())
    assert status["result"] == "applied"
    assert "6081" not in lab.sensor_table()  # the GENEVE port is no feed any more
    assert lab.decap_pid() is None  # nothing left for the userspace decapsulator

    hostile = lab.workdir / "sensor-hostile.conf"
    hostile.write_text(with_setting(original, "FEEDS", "vxlan $(reboot)"))
    refused = lab.sensor("apply-settings", str(hostile))
    assert refused.returncode == 1
    status = json.loads((lab.sensor_state_dir / "sensor.status").read_text())
    assert status["result"] == "refused", status
    assert status["sha256"] == applied_sha256(vxlan_only)  # still the settings in force
    checked = lab.sensor("check")  # CLOUDTAP_SENSOR_CONF: the original, all four feeds
    assert checked.returncode == 1  # the host still has only the vxlan path: nothing changed
    assert "nothing decapsulates geneve" in checked.stderr

    restored = lab.sensor("apply-settings", str(lab.sensor_settings_path))
    assert restored.returncode == 0, restored.stderr
    assert lab.sensor("check").returncode == 0
