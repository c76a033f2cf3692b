"""A user's program (``tests/example_program``) runs under the strict mocks, as Pulumi runs it."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

from tests.mocks import StrictMocks, run_program

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = Path(__file__).resolve().parent / "example_program" / "__main__.py"


def test_the_example_program_registers_a_complete_monitored_vpc(mocks: StrictMocks) -> None:
    run = run_program(lambda: runpy.run_path(str(PROGRAM), run_name="__main__"), mocks)
    component = run.named("example")
    assert component.type == "cloudtap:aws:MonitoredVpc"
    children = run.children_of(component.urn)
    # settings parameter, its status parameter, its read policy, fetch document, association;
    # boot bucket (4), bundle, its read policy
    assert len(children) == 51
    assert all(child.name.startswith("example-") for child in children)
    assert run.named("example-vpc").inputs["cidrBlock"] == "10.20.0.0/16"
    assert run.named("example-private-1").inputs["cidrBlock"] == "10.20.64.0/20"
    sg = run.named("example-gateway-sg").inputs
    assert {(r["protocol"], r["fromPort"]) for r in sg["ingress"]} >= {("tcp", 443)}
    assert run.named("example-gateway").inputs["tags"] == {
        "project": "cloudtap-example",
        "Name": "example-gateway",
    }
    assert run.exports == {
        "vpc_id": run.named("example-vpc").id,
        "gateway_public_ip": "203.0.113.10",
    }


def test_importing_components_loads_no_cloud_sdk_until_a_component_is_used() -> None:
    probe = (
        "import sys, components\n"
        "assert 'pulumi_aws' not in sys.modules, 'import components loaded pulumi_aws'\n"
        "components.MonitoredVpc\n"
        "assert 'pulumi_aws' in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
