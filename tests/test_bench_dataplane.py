"""The data-plane bench runs end to end in the lab (smoke run: one rep, one-second runs).

Nothing about speed or completeness is asserted: the bench measures, and a missed target is its
output, not a failure. Only that every row is there, and that it refuses politely without root.
"""

from __future__ import annotations

import os

import pytest

from bench import BENCHES, dataplane
from tests.lab.environment import require_lab

SMOKE = ["--reps", "1", "--seconds", "1", "--omit", "0", "--udp-mbps", "20"]
SMOKE += ["--udp-seconds", "1", "--pings", "10", "--quiet"]


@pytest.mark.lab
def test_a_smoke_run_prints_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    require_lab(dataplane.bench_unavailable_reason(), os.environ)
    assert dataplane.main(SMOKE) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("Data plane:")
    assert any(line.startswith("machine: ") and "(nproc)" in line for line in lines)
    assert any("1 reps" in line for line in lines)
    assert any(line.startswith("completeness load: iperf3 UDP 20 Mbit/s") for line in lines)
    header = next(line for line in lines if line.startswith("case "))
    assert all(column in header for column in dataplane.COLUMNS)
    labels = [setup.label for setup in dataplane.SETUPS]
    labels += ["capture completeness", "duplicate copies"]
    for label in labels:
        assert sum(line.startswith(label) for line in lines) == 1, label
    assert "MISSED: " in out or "every target met." in out


def test_without_root_it_says_why_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert dataplane.main([]) == 2
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "needs root" in out
    assert "dataplane" in BENCHES


@pytest.mark.lab
def test_the_host_feed_bench_measures_both_transports(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import hostfeed  # noqa: PLC0415 - beside the data-plane bench's own test

    require_lab(hostfeed.bench_unavailable_reason(), os.environ)
    assert "hostfeed" in BENCHES
    assert hostfeed.main(["--reps", "1", "--seconds", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Host feeds:")
    assert sum(line.startswith("vxlan ") for line in lines) == 1
    tls = next(line for line in lines if line.startswith("tls "))
    assert tls.split()[5].isdigit() and int(tls.split()[5]) > 0  # copies per CPU-second
