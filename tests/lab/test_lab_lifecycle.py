"""The lab leaves nothing behind: namespaces, files and processes go, however it ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from components.network_plan import plan_network
from lab import Host, Lab
from tests.lab.environment import ROOT, machine_namespaces

pytestmark = pytest.mark.lab


def test_namespaces_files_and_processes_are_removed_when_the_block_ends(
    lab_environment: None,
) -> None:
    with Lab.create(plan_network()) as lab:
        namespaces = set(lab.namespaces)
        workdir = lab.workdir
        sleeper = lab.start(Host.APP, "sleep", "60")
        assert namespaces <= machine_namespaces()
        assert lab.settings_path.is_file()
        assert all(name.startswith(lab.prefix) and len(name) <= 15 for name in namespaces)
    assert not namespaces & machine_namespaces()
    assert not workdir.exists()
    assert sleeper.process.poll() is not None


def test_the_lab_is_removed_when_the_block_raises(lab_environment: None) -> None:
    with pytest.raises(RuntimeError, match="boom"), Lab.create(plan_network()) as lab:
        namespaces = set(lab.namespaces)
        raise RuntimeError("boom")
    assert not namespaces & machine_namespaces()


def test_two_labs_run_side_by_side(lab_environment: None) -> None:
    with Lab.create(plan_network()) as first, Lab.create(plan_network()) as second:
        assert first.prefix != second.prefix
        assert first.gateway("check").returncode == 0
        assert second.gateway("check").returncode == 0


# `python -m lab`, but with Ctrl-C handled as in a terminal even when this test runs
# as a background job of a non-interactive shell, which starts with SIGINT ignored (and Python
# rightly keeps it ignored).
COMMAND = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv = ['lab']; runpy.run_module('lab', run_name='__main__')"
)


def _namespaces_in_report(lines: list[str]) -> set[str]:
    return {line.split()[1] for line in lines if line.startswith("  ") and "-" in line.split()[1]}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_the_command_cleans_up_when_it_is_interrupted(
    lab_environment: None, signum: signal.Signals
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", COMMAND],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        for line in process.stdout:  # the first check line: the lab is built and busy
            lines.append(line.rstrip("\n"))
            if line.startswith("PASS") or time.monotonic() > deadline:
                break
        namespaces = _namespaces_in_report(lines)
        assert len(namespaces) == 5, lines
        os.kill(process.pid, signum)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 128 + signum, lines
    assert not namespaces & machine_namespaces()
