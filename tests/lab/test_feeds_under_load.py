"""The sensor's feeds on a busy machine: nothing is lost, by the sensor or by the lab's recorder.

A shared machine (other test suites forking, compiling) runs the recorder and the decapsulator
late. These tests load every CPU while they run, or stop the recorder outright during a burst,
to show that neither loses a frame: a recording that lost one would fail the feed checks. The
last test shows that the burst check fails a sensor that does lose part of a burst.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence

import pytest

from lab import CheckResult, Host, Lab, Status, checks

pytestmark = pytest.mark.lab

LOAD_SECONDS = 300
"""The longest any load process may live, should this test process die without stopping it."""


def assert_passed(results: Sequence[CheckResult]) -> None:
    assert results, "the check produced no result"
    failures = [result.line() for result in results if result.status is not Status.PASS]
    assert not failures, "\n".join(failures)


@pytest.fixture
def busy_machine() -> Iterator[None]:
    """One more process than there are CPUs, each forking as fast as it can (what a test suite
    does), for the test's length; stopped by their own process group ids."""
    loads = [
        subprocess.Popen(
            ["timeout", str(LOAD_SECONDS), "sh", "-c", "while :; do /bin/true; done"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range((os.cpu_count() or 1) + 1)
    ]
    try:
        yield
    finally:
        for load in loads:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(load.pid, signal.SIGTERM)
        for load in loads:
            load.wait(10)


def test_the_recorder_keeps_a_whole_burst_while_tcpdump_is_stopped(lab: Lab) -> None:
    """The worst a busy machine can do to the recorder: not run it at all during a burst."""
    capture = lab.sensor_plan.capture_interface
    with lab.record(Host.SENSOR, capture, frames=600) as recording:
        assert recording.recorder is not None
        recording.recorder.signal(signal.SIGSTOP)
        try:
            source = lab.address(Host.APP)
            lab.send_feed(Host.GATEWAY, "gwlb-geneve", source=source, count=500, rate=0)
            time.sleep(0.5)
            assert recording.count() == 0  # tcpdump really was stopped
        finally:
            recording.recorder.signal(signal.SIGCONT)
    assert len(recording.frames()) == 500, recording.stats


def test_every_feed_arrives_whole_every_time_on_a_busy_machine(
    lab: Lab, busy_machine: None
) -> None:
    for _ in range(5):
        assert_passed(checks.sensor_decapsulates_every_feed(lab))


def test_a_burst_of_2000_packets_per_feed_loses_nothing_on_a_busy_machine(
    lab: Lab, busy_machine: None
) -> None:
    results = checks.sensor_loses_nothing_in_a_burst(lab)
    assert_passed(results)
    assert len(results) == 7
    # GENEVE never has a kernel device: the tc BPF program takes it.
    assert "the tc BPF program decapsulated 2000, dropped 0" in results[2].detail


def test_a_decapsulator_that_drops_part_of_a_burst_fails_the_burst_check(lab: Lab) -> None:
    """The control: cloudtap-decap with a 64 KiB receive buffer instead of 64 MiB cannot hold a
    burst sent faster than it reads, and the check says so."""
    lab.sensor_paths = "kernel python"  # cloudtap-decap takes GENEVE, not the BPF program
    lab.sensor("apply", check=True)
    pid = lab.decap_pid()
    assert pid is not None
    run_dir = lab.sensor_run_dir
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while lab.decap_pid() is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    small = (
        f"exec {lab.python} -I {lab.decap_path} --config {run_dir / 'decap.conf'} "
        f"--rcvbuf 65536 >>{run_dir / 'decap.log'} 2>&1"
    )
    try:
        with lab.background(Host.SENSOR, "sh", "-c", small):
            deadline = time.monotonic() + 10
            while lab.decap_pid() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert lab.decap_pid() is not None, "the small-buffer decapsulator did not start"
            results = {
                result.subject: result
                for result in checks.sensor_loses_nothing_in_a_burst(lab, arrival_timeout=2.0)
            }
    finally:
        lab.sensor_paths = None
        lab.sensor("apply", check=True)
    geneve = next(result for subject, result in results.items() if "GENEVE" in subject)
    assert geneve.status is Status.FAIL, geneve.line()
    assert "cloudtap-decap wrote 2000" not in geneve.detail, geneve.line()
    assert "overflowed 0 times" not in geneve.detail, geneve.line()
