"""The repository's Pulumi program (``__main__.py``), run the way Pulumi's Python host runs it."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import CloudtapInputError
from tests.mocks import StrictMocks, run_program

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "__main__.py"


def run_main(mocks: StrictMocks, config: dict[str, Any]) -> Any:
    return run_program(
        lambda: runpy.run_path(str(PROGRAM), run_name="__main__"), mocks, config=config
    )


def test_the_aws_dev_stack_builds_and_exports_ids_and_the_public_address(
    mocks: StrictMocks,
) -> None:
    stack = yaml.safe_load((ROOT / "stacks" / "Pulumi.aws-dev.yaml").read_text())
    config = {key: value for key, value in stack["config"].items() if key.startswith("cloudtap:")}
    run = run_main(mocks, config)
    instance = run.named("cloudtap-gateway")
    assert "tcp:3389:10.0.64.10:3389" in instance.inputs["userData"]
    assert run.exports["vpc_id"] == run.named("cloudtap-vpc").id
    assert run.exports["gateway_network_interface_id"] == run.named("cloudtap-gateway-eni").id
    assert run.exports["gateway_public_ip"] == "203.0.113.10"
    assert run.exports["subnet_ids"]["private"] == [
        run.named("cloudtap-private-1").id,
        run.named("cloudtap-private-2").id,
    ]
    assert set(run.exports["subnet_ids"]) == {"public", "private", "monitor", "management"}


def test_without_network_config_the_defaults_are_built(mocks: StrictMocks) -> None:
    run = run_main(mocks, {"cloudtap:cloud": "aws"})
    assert run.named("cloudtap-vpc").inputs["cidrBlock"] == "10.0.0.0/16"


@pytest.mark.parametrize("cloud", [None, "azure", "AWS"])
def test_an_unsupported_cloud_is_refused_naming_the_config_key(
    mocks: StrictMocks, cloud: str | None
) -> None:
    config = {} if cloud is None else {"cloudtap:cloud": cloud}
    with pytest.raises(CloudtapInputError) as error:
        run_main(mocks, config)
    assert error.value.field == "cloudtap:cloud"
    assert mocks.registrations == []


def test_a_network_that_is_not_a_mapping_is_refused_naming_the_config_key(
    mocks: StrictMocks,
) -> None:
    with pytest.raises(CloudtapInputError) as error:
        run_main(mocks, {"cloudtap:cloud": "aws", "cloudtap:network": ["10.0.0.0/16"]})
    assert error.value.field == "cloudtap:network"
    assert mocks.registrations == []
