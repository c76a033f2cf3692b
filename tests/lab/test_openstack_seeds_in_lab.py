"""The seeds' own test, from the openstack-dev stack: their addressing, the rendered gateway
multi-homed with plain tee clones onto the layer-2 monitor segment, and the sensor's tcpdump
seeing both the app's echo request and the reply; then every check the AWS lab makes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lab.stack import OPENSTACK_NETWORK_FIELDS, load_stack
from tests.lab.environment import ROOT, machine_namespaces

STACK = ROOT / "stacks" / "Pulumi.openstack-dev.yaml"


def test_the_lab_reads_the_openstack_fields_the_component_takes() -> None:
    from components.openstack.network_args import OWN_NETWORK_FIELDS  # noqa: PLC0415

    assert OPENSTACK_NETWORK_FIELDS == OWN_NETWORK_FIELDS
    loaded = load_stack(STACK)
    mirror = loaded.plan.gateway_mirror
    assert mirror is not None and mirror.mode.value == "tee"
    assert [str(c) for c in loaded.plan.cidrs(*loaded.plan.subnets)] == [
        "192.168.2.0/24",
        "192.168.3.0/24",
        "192.168.4.0/24",
        "192.168.5.0/24",
    ]


@pytest.mark.lab
def test_the_seeds_design_passes_every_check_with_tee_clones(lab_environment: None) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lab", "--stack", str(STACK)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    report = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gateway mirror tee to 192.168.4.10" in report[0]
    assert not [line for line in report if line.startswith("FAIL")], result.stdout
    passes = [line for line in report if line.startswith("PASS  ")]
    # The seeds' proof: tcpdump on the sensor's monitor interface sees both directions.
    assert any(
        "on the sensor's eth0: ICMP echo request 192.168.3.10 > 203.0.113.10; "
        "ICMP echo reply 203.0.113.10 > 192.168.3.10" in line
        for line in passes
    ), passes
    for phrase in (
        "(masqueraded)",
        "internet -> 192.168.2.10:3389/tcp: reached app 192.168.3.10:3389",
        "internet -> 192.168.2.10:22/tcp: connection to 192.168.2.10:22 failed",
        "sensor -> app: TCP and ping to 192.168.3.10 dropped",
        "app -> sensor: TCP to 192.168.4.10 dropped",
        "mgmt -> app: TCP and ping to 192.168.3.10 dropped",
        "mgmt -> internet: TCP 203.0.113.10:8080 failed",
        "apply twice: table ip cloudtap byte-identical",
    ):
        assert any(phrase in line for line in passes), phrase
    # Sensor down in three ways: the app's traffic loses nothing.
    for outage in (
        "sensor healthy (baseline)",
        "sensor link down",
        "sensor decapsulation removed",
        "sensor address gone",
    ):
        assert any(line.startswith(f"PASS  {outage}: ") for line in passes), outage
    # Tee clones carry the TTL minus one: the lab says so rather than claim byte-identity.
    assert any(line.startswith("SKIP  byte-for-byte copies: tee") for line in report)
    assert "0 failed" in report[-1]
    created = {line.split()[1] for line in report[1:6]}
    assert not created & machine_namespaces()
