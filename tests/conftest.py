"""Shared fixtures. Pulumi programs run in-process under strict mocks: see ``tests/mocks.py``."""

from __future__ import annotations

from collections.abc import Iterator

import pulumi
import pytest

from tests.fakes.aws import FakeAws
from tests.mocks import REGION, StrictMocks


@pytest.fixture
def mocks() -> StrictMocks:
    """Fresh strict mocks (three zones in eu-west-1); pass them to ``run_program``."""
    return StrictMocks()


@pytest.fixture(autouse=True)
def _no_leftover_pulumi_config() -> Iterator[None]:
    """A test that fails inside ``run_program`` must not leak its config into the next one."""
    yield
    pulumi.runtime.set_all_config({})


@pytest.fixture(scope="session")
def _moto_session() -> Iterator[FakeAws]:
    """One moto world for the whole run: clients are slow to make (the EC2 model is large), so
    they are made once; tests create their own instances and load balancers and look up only
    those, so what earlier tests left behind does not matter."""
    import boto3  # noqa: PLC0415 - only the tests that look things up pay for boto3 and moto
    from moto import mock_aws  # noqa: PLC0415

    with pytest.MonkeyPatch.context() as patch:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            patch.setenv(key, "testing")
        with mock_aws():
            ec2 = boto3.client("ec2", region_name=REGION)
            elbv2 = boto3.client("elbv2", region_name=REGION)
            vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
            subnets = {
                cidr: ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr)["Subnet"]["SubnetId"]
                for cidr in ("10.0.0.0/20", "10.0.64.0/20")
            }
            yield FakeAws(ec2, elbv2, vpc_id, subnets)


@pytest.fixture
def fake_aws(_moto_session: FakeAws) -> FakeAws:
    """EC2 and ELBv2 under moto (no network, no credentials), in the mocks' region."""
    return _moto_session
