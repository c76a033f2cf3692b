"""``python -m lab``: the embedded default demo, end to end and when it cannot run."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from lab import cli
from tests.lab.environment import ROOT, machine_namespaces


@pytest.mark.lab
def test_the_default_demo_passes_every_check_and_leaves_no_namespace(
    lab_environment: None,
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lab"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Pulumi.aws-dev.yaml" in report[0]
    assert "gateway mirror vxlan to 10.0.128.10 (on in the lab)" in report[0]
    passes = [line for line in report if line.startswith("PASS  ")]
    assert len(passes) >= 10
    assert not [line for line in report if line.startswith("FAIL")]
    assert passes[0].startswith("PASS  sensor apply (rendered cloud-config): exit 0")
    assert passes[1].startswith("PASS  gateway apply (rendered cloud-config): exit 0")
    assert any("(masqueraded)" in line for line in passes)
    # What the gateway mirror is for, seen on the sensor: the app's echo request and reply.
    assert any(
        "on the sensor's cloudtap0: ICMP echo request 10.0.64.10 > 203.0.113.10; "
        "ICMP echo reply 203.0.113.10 > 10.0.64.10" in line
        for line in passes
    )
    assert "0 failed" in report[-1]
    created = {line.split()[1] for line in report[1:6]}
    assert all(name.startswith("ct") for name in created), report[1:6]
    assert not created & machine_namespaces()


def test_without_the_lab_the_command_says_why_in_one_sentence_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        cli, "unavailable_reason", lambda: "the lab needs root to create network namespaces"
    )
    assert cli.main([], out=io.StringIO()) == cli.EXIT_CANNOT_RUN
    message = capsys.readouterr().err.strip()
    assert message == (
        "cloudtap lab cannot run here: the lab needs root to create network namespaces."
    )


def test_a_stack_with_a_typo_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = tmp_path / "Pulumi.typo.yaml"
    stack.write_text("config:\n  cloudtap:network:\n    cidr_blok: 10.0.0.0/16\n")
    assert cli.main(["--stack", str(stack)], out=io.StringIO()) == cli.EXIT_CANNOT_RUN
    assert "cloudtap:network.cidr_blok" in capsys.readouterr().err


def test_a_missing_stack_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "Pulumi.nope.yaml"
    assert cli.main(["--stack", str(missing)], out=io.StringIO()) == cli.EXIT_CANNOT_RUN
    assert str(missing) in capsys.readouterr().err
