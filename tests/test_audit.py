"""``python -m components.audit`` against moto: a VPC with covered, uncovered, unsupported,
gateway-copied and dead-target interfaces."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from components import audit
from components.aws.audit import COLUMNS, Coverage, audit_vpc
from tests.fakes.aws import FakeAws

ROOT = Path(__file__).resolve().parent.parent
DEAD_TARGET = "tmt-0123456789abcdef0"


@dataclass
class MixedVpc:
    vpc_id: str
    covered: str
    uncovered: str
    unsupported: str
    gateway: str
    dead: str
    sensor: str
    dead_session: str


def _launch(ec2: Any, subnet: str, instance_type: str) -> str:
    instance = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType=instance_type, SubnetId=subnet
    )["Instances"][0]
    return str(instance["NetworkInterfaces"][0]["NetworkInterfaceId"])


def _session(ec2: Any, eni: str, target: str, mirror_filter: str) -> str:
    return str(
        ec2.create_traffic_mirror_session(
            NetworkInterfaceId=eni,
            TrafficMirrorTargetId=target,
            TrafficMirrorFilterId=mirror_filter,
            SessionNumber=1,
            TagSpecifications=[
                {"ResourceType": "traffic-mirror-session", "Tags": [{"Key": "Name", "Value": "s"}]}
            ],
        )["TrafficMirrorSession"]["TrafficMirrorSessionId"]
    )


@pytest.fixture
def mixed(fake_aws: FakeAws) -> MixedVpc:
    ec2 = fake_aws.ec2
    vpc_id = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    public = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.9.0.0/20")["Subnet"]["SubnetId"]
    private = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.9.64.0/20")["Subnet"]["SubnetId"]
    sensor = _launch(ec2, public, "c5n.large")
    target = ec2.create_traffic_mirror_target(NetworkInterfaceId=sensor)["TrafficMirrorTarget"]
    mirror_filter = ec2.create_traffic_mirror_filter()["TrafficMirrorFilter"]
    target_id, filter_id = target["TrafficMirrorTargetId"], mirror_filter["TrafficMirrorFilterId"]
    covered = _launch(ec2, public, "m5.large")
    _session(ec2, covered, target_id, filter_id)
    dead = _launch(ec2, public, "m5.large")
    dead_session = _session(ec2, dead, DEAD_TARGET, filter_id)
    return MixedVpc(
        vpc_id=vpc_id,
        covered=covered,
        uncovered=_launch(ec2, public, "m5.large"),
        unsupported=_launch(ec2, public, "t2.micro"),
        gateway=_launch(ec2, private, "t2.micro"),
        dead=dead,
        sensor=sensor,
        dead_session=dead_session,
    )


def _rows(table: str) -> dict[str, list[str]]:
    lines = table.splitlines()
    header = lines[0]
    starts = [header.index(column) for column in COLUMNS]
    rows = {}
    for line in lines[1:]:
        if not line.startswith("eni-"):
            continue
        cells = [
            line[start:end].strip()
            for start, end in zip(starts, [*starts[1:], len(line)], strict=True)
        ]
        rows[cells[0]] = cells
    return rows


def test_the_audit_tells_each_interface_s_coverage_and_fails_the_pipeline(
    fake_aws: FakeAws, mixed: MixedVpc, capsys: pytest.CaptureFixture[str]
) -> None:
    code = audit.main(
        ["--vpc-id", mixed.vpc_id, "--gateway-network", "10.9.64.0/20"], ec2=fake_aws.ec2
    )
    table = capsys.readouterr().out
    assert code == 1
    assert table.splitlines()[0].split() == list(COLUMNS)
    rows = _rows(table)
    assert len(rows) == 6
    coverage = {eni: row[4] for eni, row in rows.items()}
    assert coverage == {
        mixed.covered: "native",
        mixed.uncovered: "UNCOVERED",
        mixed.unsupported: "UNCOVERED",
        mixed.gateway: "gateway",
        mixed.dead: "UNCOVERED",
        mixed.sensor: "target",
    }
    assert rows[mixed.uncovered][5] == "no mirror session"
    assert rows[mixed.unsupported][2] == "t2.micro"
    assert rows[mixed.unsupported][5] == (
        "no mirror session; t2 is not a Nitro type and not in AWS's allowed non-Nitro list"
    )
    assert rows[mixed.gateway][5].startswith("north-south only; no mirror session")
    assert rows[mixed.dead][5] == f"session {mixed.dead_session}'s target {DEAD_TARGET} is gone"
    assert rows[mixed.covered][5].endswith("(s)")
    assert (
        f"target gone: {mixed.dead_session} on {mixed.dead} sends to {DEAD_TARGET}, which does "
        "not exist"
    ) in table
    assert table.splitlines()[-1] == (
        f"{mixed.vpc_id}: 6 interfaces, 1 native, 1 gateway, 3 uncovered, 1 target, 0 not a "
        "source; 1 sessions with no target, 0 over quota (instance-type data of 2026-11-21)"
    )


def test_the_override_and_a_covered_vpc_exit_zero(fake_aws: FakeAws) -> None:
    ec2 = fake_aws.ec2
    vpc_id = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.8.0.0/20")["Subnet"]["SubnetId"]
    sensor = _launch(ec2, subnet, "c5n.large")
    target = ec2.create_traffic_mirror_target(NetworkInterfaceId=sensor)["TrafficMirrorTarget"]
    mirror_filter = ec2.create_traffic_mirror_filter()["TrafficMirrorFilter"]
    workload = _launch(ec2, subnet, "m5.large")
    _session(ec2, workload, target["TrafficMirrorTargetId"], mirror_filter["TrafficMirrorFilterId"])
    report = audit_vpc(ec2, vpc_id)
    assert [i.coverage for i in report.interfaces if i.interface_id == workload] == [
        Coverage.NATIVE
    ]
    assert report.exit_code == 0
    legacy = _launch(ec2, subnet, "t2.micro")
    assert audit_vpc(ec2, vpc_id).exit_code == 1
    overridden = audit_vpc(ec2, vpc_id, mirrorable_instance_types=["t2"])
    row = next(i for i in overridden.interfaces if i.interface_id == legacy)
    assert row.detail == "no mirror session"


def test_bad_arguments_exit_2_without_asking_aws() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "components.audit", "--vpc-id", "vpc-1; rm -rf /"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "not a VPC id" in result.stderr


def test_an_interface_over_aws_s_session_quota_is_reported(fake_aws: FakeAws) -> None:
    ec2 = fake_aws.ec2
    vpc_id = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.7.0.0/20")["Subnet"]["SubnetId"]
    sensor = _launch(ec2, subnet, "c5n.large")
    target = ec2.create_traffic_mirror_target(NetworkInterfaceId=sensor)["TrafficMirrorTarget"]
    mirror_filter = ec2.create_traffic_mirror_filter()["TrafficMirrorFilter"]
    workload = _launch(ec2, subnet, "m5.large")
    for _ in range(4):  # moto, unlike AWS, accepts a fourth
        _session(
            ec2, workload, target["TrafficMirrorTargetId"], mirror_filter["TrafficMirrorFilterId"]
        )
    report = audit_vpc(ec2, vpc_id)
    assert report.over_quota == (f"{workload}: 4 sessions, AWS allows 3 per interface",)
    assert report.exit_code == 1
