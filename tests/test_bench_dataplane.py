"""The data-plane bench runs end to end in the lab (smoke run: one rep, one-second runs).

Nothing about speed or completeness is asserted: the bench measures, and a missed target is its
output, not a failure. Only that every row is there, and that it refuses politely without root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from bench import BENCHES, dataplane, decap, profile
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


@pytest.mark.lab
def test_each_attribution_variant_changes_what_reaches_the_sensor() -> None:
    """The variants are what their rows say: no copies with the chains empty or dropped leaving
    the gateway, the copies back with tc mirred, none with the mirror off and the clamp on."""
    require_lab(dataplane.bench_unavailable_reason(), os.environ)
    options = replace(dataplane.QUICK, attribution=True)
    copies = {result.setup.key: result.copies for result in dataplane.measure(options).throughput}
    assert list(copies) == [setup.key for setup in dataplane.ATTRIBUTION]
    assert copies["gateway"] > 0.9 and copies["tcmirred"] > 0.9
    assert copies["hooks"] == copies["gwdrop"] == copies["clamp"] == copies["off"] == 0.0


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


@pytest.mark.lab
def test_the_decap_bench_sends_with_its_c_sender_and_counts_every_path(
    capsys: pytest.CaptureFixture[str],
) -> None:
    require_lab(decap.unavailable(), os.environ)
    assert decap.main(["--count", "4000", "--rates", "200000"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.startswith("path "))
    assert all(column in header for column in decap.COLUMNS)
    for path, _paths, kind in decap.CASES:
        cells = [_cells(line) for line in lines if line.split()[:2] == [path, kind]]
        # The offered rate, then flat out with one sender per CPU.
        assert [cell[2] for cell in cells] == ["200000", f"max x{decap.PARALLEL}"], (path, kind)
        for cell in cells:
            assert int(cell[3]) == 4000  # sent
            if path == "bpf":  # the fast path loses nothing of so few frames
                assert int(cell[4]) == 4000, cell


def _cells(line: str) -> list[str]:
    """A table line's cells; "max x2" is one."""
    words = line.split()
    if words[2] == "max" and words[3].startswith("x"):
        words[2:4] = [f"max {words[3]}"]
    return words


def _row(path: str, *, sent: int, delivered: int, receive_cpu: float) -> decap.Row:
    kind = "gwlb-geneve"
    return decap.Row(path, kind, 0, 2, sent, delivered, seconds=1.0, receive_cpu=receive_cpu)


@pytest.mark.parametrize(
    ("delivered", "receive_cpu", "met"),
    [
        (1_000_000, 0.5, True),  # 2 M per CPU-second, nothing lost
        (999_999, 0.5, False),  # one frame lost at the highest rate
        (1_000_000, 1.25, False),  # 800 k per CPU-second
        (1_000_000, 0.0, False),  # perf saw nothing: no rate, not a pass
    ],
)
def test_the_bpf_target_needs_no_loss_and_1_mpps_per_cpu_second(
    delivered: int, receive_cpu: float, met: bool
) -> None:
    rows = [_row("bpf", sent=1_000_000, delivered=delivered, receive_cpu=receive_cpu)]
    (summary,) = decap.summarize(rows)
    assert summary.met is met
    assert summary.case == "decap bpf gwlb-geneve"


def test_the_sender_compiles_and_refuses_a_bad_count(tmp_path: Path) -> None:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    sender = decap.compile_sender(tmp_path)
    result = subprocess.run(
        [str(sender), "lo", str(tmp_path / "none"), "ten", "0"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert result.returncode == 2
    assert "COUNT: got ten" in result.stderr


@pytest.mark.lab
def test_the_profile_bench_prints_each_group_for_both_states(
    capsys: pytest.CaptureFixture[str],
) -> None:
    require_lab(profile.perf_unavailable(), os.environ)
    assert profile.main(["--seconds", "1", "--reps", "1", "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Profile: the gateway mirror's CPU")
    groups = [name for name, _pattern in profile.SELF_GROUPS + profile.INCLUSIVE_GROUPS]
    for group in groups:
        assert any(group in line for line in lines), group
    dup = next(line for line in lines if "nft dup to the VXLAN device" in line).split()
    # Mirror off has no dup at all; with it on, the copies' transmit shows.
    assert float(dup[-5]) == 0.0 and float(dup[-4]) > 0.0, dup
    assert sum(line.startswith("symbol ") for line in lines) == 3
