"""AWS fakes: moto in place of EC2 and ELBv2, clients that refuse any lookup, and the workload
sources and MirrorSession program that several test modules build on.

- :class:`FakeAws` stands for the account's EC2 and ELBv2 APIs at preview time (what
  ``components.aws.discovery`` looks up), backed by moto in the strict mocks' region; the
  ``fake_aws`` fixture in ``tests/conftest.py`` hands out one.
- :class:`NoAws` stands for an account that must not be asked anything: any lookup fails the test.
- :data:`WEB` and :data:`LEGACY` are two mirror sources given by interface ids (:data:`ENI`), one
  Nitro instance type AWS can mirror and one it cannot.
- :func:`mirror` runs ``MirrorSession("mirror", args)`` as a program under the strict mocks,
  optionally beside a MonitoredVpc and a Sensor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components import MonitoredVpc
from components.aws.discovery import AwsClients
from components.aws.mirror_session import MirrorSession
from components.aws.sensor import Sensor
from tests.mocks import ProgramRun, StrictMocks, run_program

ENI = [f"eni-0{index:016x}" for index in range(1, 20)]
WEB: dict[str, Any] = {
    "name": "web",
    "instance_type": "m5.large",
    "network_interface_ids": [ENI[0], ENI[1]],
}
LEGACY: dict[str, Any] = {
    "name": "legacy",
    "instance_type": "t2.micro",
    "network_interface_ids": [ENI[2]],
}


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


class NoAws(AwsClients):
    """Clients that fail the test if anything is looked up."""

    def ec2_client(self) -> Any:
        raise AssertionError("no EC2 lookup expected")

    def elbv2_client(self) -> Any:
        raise AssertionError("no ELBv2 lookup expected")


def mirror(
    mocks: StrictMocks,
    args: Mapping[str, Any],
    *,
    network: Mapping[str, Any] | None = None,
    sensor: Mapping[str, Any] | None = None,
    clients: AwsClients | None = None,
    preview: bool = False,
) -> ProgramRun[MirrorSession]:
    """Build ``MirrorSession("mirror", args)``; ``network``/``sensor`` add a MonitoredVpc
    ("net") and a Sensor ("sensor"), and a target of ``{"sensor": True}`` points at it."""

    def program() -> MirrorSession:
        full = dict(args)
        vpc = MonitoredVpc("net", network) if network is not None or sensor is not None else None  # type: ignore[arg-type]
        if vpc is not None and "network" not in full:
            full["network"] = vpc
        if sensor is not None:
            assert vpc is not None
            built = Sensor("sensor", {"network": vpc, **sensor})  # type: ignore[typeddict-item]
            if full.get("target") == {"sensor": True}:
                full["target"] = {"sensor": built}
        return MirrorSession("mirror", full, clients=clients or NoAws())  # type: ignore[arg-type]

    return run_program(program, mocks, preview=preview)
