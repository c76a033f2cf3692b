"""Shared fixtures. Pulumi programs run in-process under strict mocks: see ``tests/mocks.py``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pulumi
import pytest

from components.aws.discovery import AwsClients
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


@dataclass
class FakeAws:
    """moto-backed EC2 and ELBv2 in the mocks' region, with helpers to create what is looked up."""

    ec2: Any
    elbv2: Any
    vpc_id: str
    subnets: dict[str, str]
    """CIDR -> subnet id: the MonitoredVpc defaults' public-1 and private-1 subnets."""
    balancers: int = 0

    @property
    def clients(self) -> AwsClients:
        return AwsClients(ec2=self.ec2, elbv2=self.elbv2)

    def instance(
        self, instance_type: str = "m5.large", subnet: str = "10.0.64.0/20", extra_enis: int = 0
    ) -> tuple[str, list[str]]:
        """A running instance with ``1 + extra_enis`` interfaces: (id, interface ids by index)."""
        subnet_id = self.subnets[subnet]
        reservation = self.ec2.run_instances(
            ImageId="ami-12c6146b",
            MinCount=1,
            MaxCount=1,
            InstanceType=instance_type,
            SubnetId=subnet_id,
        )
        instance = reservation["Instances"][0]
        enis = [instance["NetworkInterfaces"][0]["NetworkInterfaceId"]]
        for index in range(extra_enis):
            eni = self.ec2.create_network_interface(SubnetId=subnet_id)["NetworkInterface"]
            self.ec2.attach_network_interface(
                NetworkInterfaceId=eni["NetworkInterfaceId"],
                InstanceId=instance["InstanceId"],
                DeviceIndex=index + 1,
            )
            enis.append(eni["NetworkInterfaceId"])
        return instance["InstanceId"], enis

    def network_load_balancer(self, listeners: list[tuple[str, int]]) -> str:
        """A new NLB with one listener per (protocol, port); its ARN."""
        self.balancers += 1
        balancer = self.elbv2.create_load_balancer(
            Name=f"sensors-{self.balancers}",
            Subnets=[self.subnets["10.0.64.0/20"]],
            Type="network",
            Scheme="internal",
        )["LoadBalancers"][0]["LoadBalancerArn"]
        for index, (protocol, port) in enumerate(listeners):
            group = self.elbv2.create_target_group(
                Name=f"sensors-{self.balancers}-{index}",
                Protocol=protocol,
                Port=port,
                VpcId=self.vpc_id,
                TargetType="instance",
            )["TargetGroups"][0]["TargetGroupArn"]
            self.elbv2.create_listener(
                LoadBalancerArn=balancer,
                Protocol=protocol,
                Port=port,
                DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
            )
        return str(balancer)


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
