"""The sensor's feeds on a busy machine: nothing is lost, by the sensor or by the lab's recorder.

A shared machine (other test suites forking, compiling) runs the recorder and the decapsulator
late. These tests load every CPU while they run, or stop the recorder outright during a burst,
to show that neither loses a frame: a recording that lost one would fail the feed checks.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence

import pytest

from components.lab import CheckResult, Host, Lab, Status, checks

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
            lab.send_feed(Host.GATEWAY, "gwlb-geneve", source=source, count=500, rate=50_000)
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
