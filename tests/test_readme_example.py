"""The README's mirroring example runs as written (ids swapped for moto's) under strict mocks."""

from __future__ import annotations

import re
from pathlib import Path

from tests.fakes.aws import FakeAws
from tests.mocks import REGION, StrictMocks, run_program

README = Path(__file__).resolve().parent.parent / "README.md"


def mirroring_example() -> str:
    text = README.read_text()
    section = text[text.index("## Mirroring") :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the Mirroring section has a python example"
    return match.group(1)


def test_readme_mirroring_example_builds_what_it_says(
    mocks: StrictMocks, fake_aws: FakeAws
) -> None:
    instance_id, enis = fake_aws.instance("m5.large", extra_enis=1)
    _, legacy_enis = fake_aws.instance("t2.micro")
    code = mirroring_example()
    assert "i-0123456789abcdef0" in code
    assert '"eni-..."' in code
    code = code.replace("i-0123456789abcdef0", instance_id).replace(
        '"eni-..."', f'"{legacy_enis[0]}"'
    )

    run = run_program(lambda: exec(code, {}), mocks, config={"aws:region": REGION})

    sessions = run.of_type("aws:ec2/trafficMirrorSession:TrafficMirrorSession")
    # Every interface of the looked-up instance is mirrored natively; the t2 goes via the gateway.
    assert sorted(s.inputs["networkInterfaceId"] for s in sessions) == sorted(enis)
    gateway_settings = run.named("net-gateway-settings").inputs["insecureValue"]
    assert 'MIRROR_MODE="vxlan"' in gateway_settings
    assert 'MIRROR_SENSOR="10.0.128.10"' in gateway_settings
    assert run.named("sensor-eni").inputs["privateIps"] == ["10.0.128.10"]
