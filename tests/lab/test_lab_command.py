"""``python -m lab``: the embedded default demo, end to end and when it cannot run."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from components.network_plan import NetworkPlan
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
        # Only a guard against a hung lab, not a speed claim: the demo takes about a minute
        # alone and several under load on this shared machine (the bench measures speed).
        timeout=900,
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


AWS_STACK_WITH_CLOUD_FIELDS = """\
config:
  aws:region: eu-west-1
  cloudtap:cloud: aws
  cloudtap:network:
    cidr_block: 10.20.0.0/16
    gateway_instance_type: t3.micro
    availability_zones: [eu-west-1a, eu-west-1b]
    tags: {team: netops}
  cloudtap:sensor: {}
"""


def run_with_the_lab_stubbed(
    monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> tuple[int, dict[str, Any]]:
    """``cli.main(argv)`` up to building the lab: the arguments run_lab would get."""
    seen: dict[str, Any] = {}

    def run_lab(
        plan: NetworkPlan,
        stack: Path,
        out: Any,
        *,
        unmodelled: str | None = None,
        one_armed: bool = False,
    ) -> int:
        seen.update(plan=plan, stack=stack, unmodelled=unmodelled, one_armed=one_armed)
        return cli.EXIT_OK

    monkeypatch.setattr(cli, "unavailable_reason", lambda: None)
    monkeypatch.setattr(cli, "run_lab", run_lab)
    return cli.main(argv, out=io.StringIO()), seen


def test_an_azure_stack_gets_the_one_armed_lab_and_its_azure_fields_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    status, seen = run_with_the_lab_stubbed(
        monkeypatch, ["--stack", str(ROOT / "stacks" / "Pulumi.azure-dev.yaml")]
    )
    assert status == cli.EXIT_OK
    assert seen["one_armed"] is True
    assert "cloudtap:network.zones" in seen["unmodelled"]
    assert "azure fields" in seen["unmodelled"]


def test_a_stack_with_the_clouds_own_network_fields_is_accepted_and_they_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = tmp_path / "Pulumi.aws-sized.yaml"
    stack.write_text(AWS_STACK_WITH_CLOUD_FIELDS)
    status, seen = run_with_the_lab_stubbed(monkeypatch, ["--stack", str(stack)])
    assert status == cli.EXIT_OK
    assert str(seen["plan"].cidr_block) == "10.20.0.0/16"
    assert seen["unmodelled"] == (
        "not modelled: cloudtap:network.availability_zones, "
        "cloudtap:network.gateway_instance_type, cloudtap:network.tags (aws fields beyond the "
        "cloud-neutral network: the lab's gateway is a network namespace running the same "
        "script; `pulumi preview` checks their values)"
    )


def test_the_default_stack_leaves_nothing_of_its_network_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    status, seen = run_with_the_lab_stubbed(monkeypatch, [])
    assert status == cli.EXIT_OK
    assert seen["stack"] == ROOT / "stacks" / "Pulumi.aws-dev.yaml"
    assert seen["unmodelled"] is None


@pytest.mark.parametrize(
    ("typo", "field"),
    [
        ("    gateway_instance_typ: t3.micro\n", "cloudtap:network.gateway_instance_typ"),
        ("    cidr_blok: 10.0.0.0/16\n", "cloudtap:network.cidr_blok"),
    ],
)
def test_a_typo_next_to_the_clouds_own_fields_is_still_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], typo: str, field: str
) -> None:
    stack = tmp_path / "Pulumi.typo.yaml"
    tags = "    tags: {team: netops}\n"
    stack.write_text(AWS_STACK_WITH_CLOUD_FIELDS.replace(tags, tags + typo))
    assert cli.main(["--stack", str(stack)], out=io.StringIO()) == cli.EXIT_CANNOT_RUN
    assert field in capsys.readouterr().err


def test_a_misspelt_stack_key_is_refused_as_the_program_refuses_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = tmp_path / "Pulumi.typo.yaml"
    stack.write_text("config:\n  cloudtap:cloud: aws\n  cloudtap:netwrok: {}\n")
    assert cli.main(["--stack", str(stack)], out=io.StringIO()) == cli.EXIT_CANNOT_RUN
    assert "cloudtap:netwrok" in (err := capsys.readouterr().err)
    assert "did you mean cloudtap:network?" in err
