"""The enrolment function's handler, in-process against moto (EC2 and Traffic Mirroring)."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

from components.aws import mirror_support
from components.aws.enrolment_plan import (
    ENROLLED_BY_TAG,
    OWNER_TAG,
    handler_module,
)
from components.shapes import split_instance_type
from tests.fakes.aws import FakeAws

HANDLER: ModuleType = handler_module()
SUPPORT = HANDLER.load_support()
_COUNTER = itertools.count(1)


@dataclass
class World:
    """One test's corner of the shared moto account: its own target, filters, owner and tag."""

    aws: FakeAws
    config: dict[str, Any]
    selector: str

    @property
    def ec2(self) -> Any:
        return self.aws.ec2

    def launch(
        self, instance_type: str = "m5.large", extra_enis: int = 0, selected: bool = True
    ) -> tuple[str, list[str]]:
        subnet = self.aws.subnets["10.0.64.0/20"]
        tags = [{"Key": "enrol", "Value": self.selector if selected else "no"}]
        instance = self.ec2.run_instances(
            ImageId="ami-12c6146b",
            MinCount=1,
            MaxCount=1,
            InstanceType=instance_type,
            SubnetId=subnet,
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        )["Instances"][0]
        enis = [instance["NetworkInterfaces"][0]["NetworkInterfaceId"]]
        for index in range(extra_enis):
            eni = self.ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]
            self.ec2.attach_network_interface(
                NetworkInterfaceId=eni["NetworkInterfaceId"],
                InstanceId=instance["InstanceId"],
                DeviceIndex=index + 1,
            )
            enis.append(eni["NetworkInterfaceId"])
        return instance["InstanceId"], enis

    def sessions(self, eni: str | None = None) -> list[dict[str, Any]]:
        found = self.ec2.describe_traffic_mirror_sessions()["TrafficMirrorSessions"]
        return [s for s in found if eni is None or s["NetworkInterfaceId"] == eni]

    def owned(self) -> list[dict[str, Any]]:
        return [s for s in self.sessions() if HANDLER.owned(s, self.config["owner"])]

    def foreign_session(self, eni: str, number: int, target: str | None = None) -> str:
        session = self.ec2.create_traffic_mirror_session(
            NetworkInterfaceId=eni,
            TrafficMirrorTargetId=target or self.other_target(),
            TrafficMirrorFilterId=self.config["filter_ids"]["all"],
            SessionNumber=number,
            TagSpecifications=[
                {"ResourceType": "traffic-mirror-session", "Tags": [{"Key": "by", "Value": "x"}]}
            ],
        )["TrafficMirrorSession"]
        return str(session["TrafficMirrorSessionId"])

    def other_target(self) -> str:
        eni = self.ec2.create_network_interface(SubnetId=self.aws.subnets["10.0.0.0/20"])
        return str(
            self.ec2.create_traffic_mirror_target(
                NetworkInterfaceId=eni["NetworkInterface"]["NetworkInterfaceId"]
            )["TrafficMirrorTarget"]["TrafficMirrorTargetId"]
        )

    def event(self, instance_id: str, state: str) -> dict[str, Any]:
        return {
            "source": "aws.ec2",
            "detail-type": "EC2 Instance State-change Notification",
            "detail": {"instance-id": instance_id, "state": state},
        }

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = HANDLER.handle(event, self.ec2, self.config, SUPPORT)
        return result


@pytest.fixture
def world(fake_aws: FakeAws) -> Iterator[World]:
    number = next(_COUNTER)
    target = fake_aws.ec2.create_traffic_mirror_target(
        NetworkInterfaceId=fake_aws.ec2.create_network_interface(
            SubnetId=fake_aws.subnets["10.0.0.0/20"]
        )["NetworkInterface"]["NetworkInterfaceId"]
    )["TrafficMirrorTarget"]["TrafficMirrorTargetId"]
    mirror_filter = fake_aws.ec2.create_traffic_mirror_filter()["TrafficMirrorFilter"]
    config = {
        "owner": f"cloudtap/test/mirror-{number}",
        "vpc_id": fake_aws.vpc_id,
        "tags": {"enrol": f"world-{number}"},
        "subnet_cidrs": ["10.0.64.0/20"],
        "subnet_ids": [],
        "gateway_cidrs": [],
        "method": "auto",
        "mirrorable_instance_types": [],
        "target_id": target,
        "filter_ids": {"all": mirror_filter["TrafficMirrorFilterId"]},
        "session_number": 1,
        "virtual_network_id": 4242,
        "packet_length": None,
        "session_tags": {"team": "net"},
    }
    yield World(fake_aws, config, f"world-{number}")


def test_a_launch_event_mirrors_every_interface_of_the_instance(world: World) -> None:
    instance, enis = world.launch(extra_enis=2)
    result = world.handle(world.event(instance, "running"))
    sessions = world.owned()
    assert sorted(s["NetworkInterfaceId"] for s in sessions) == sorted(enis)
    assert len(result["created"]) == 3
    for session in sessions:
        assert session["TrafficMirrorTargetId"] == world.config["target_id"]
        assert session["TrafficMirrorFilterId"] == world.config["filter_ids"]["all"]
        assert session["VirtualNetworkId"] == 4242
        assert session["SessionNumber"] == 1
        tags = {t["Key"]: t["Value"] for t in session["Tags"]}
        assert tags == {
            OWNER_TAG: world.config["owner"],
            ENROLLED_BY_TAG: "function",
            "team": "net",
        }


def test_a_second_identical_event_creates_no_second_session(world: World) -> None:
    instance, _ = world.launch(extra_enis=1)
    world.handle(world.event(instance, "running"))
    again = world.handle(world.event(instance, "running"))
    assert again["created"] == [] and again["deleted"] == []
    assert len(world.owned()) == 2


def test_an_instance_not_carrying_the_selector_tags_is_left_alone(world: World) -> None:
    instance, enis = world.launch(selected=False)
    world.handle(world.event(instance, "running"))
    assert world.sessions(enis[0]) == []


def test_an_unsupported_type_gets_no_session_and_the_reason_is_logged(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    instance, enis = world.launch("t2.micro")
    with caplog.at_level(logging.INFO, logger="cloudtap.enrol"):
        result = world.handle(world.event(instance, "running"))
    assert world.sessions(enis[0]) == []
    assert "t2 is not a Nitro type" in result["uncovered"][enis[0]]
    assert any(
        enis[0] in r.getMessage() and "not covered" in r.getMessage() for r in caplog.records
    )


def test_an_unsupported_type_behind_the_gateway_mirror_is_left_to_the_gateway(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.config["gateway_cidrs"] = ["10.0.64.0/20"]
    instance, enis = world.launch("t2.micro")
    with caplog.at_level(logging.INFO, logger="cloudtap.enrol"):
        result = world.handle(world.event(instance, "running"))
    assert world.sessions(enis[0]) == []
    assert enis[0] in result["gateway"] and result["uncovered"] == {}
    assert any("gateway mirror, north-south only" in r.getMessage() for r in caplog.records)


def test_the_override_lets_a_type_the_data_refuses_be_mirrored(world: World) -> None:
    world.config["mirrorable_instance_types"] = ["t2"]
    instance, enis = world.launch("t2.micro")
    world.handle(world.event(instance, "running"))
    assert [s["NetworkInterfaceId"] for s in world.owned()] == enis


def test_terminate_removes_the_instance_s_sessions_and_no_one_else_s(world: World) -> None:
    doomed, doomed_enis = world.launch(extra_enis=1)
    kept, kept_enis = world.launch()
    world.handle(world.event(doomed, "running"))
    world.handle(world.event(kept, "running"))
    foreign_on_doomed = world.foreign_session(doomed_enis[1], 2)
    foreign_elsewhere = world.foreign_session(kept_enis[0], 2)
    world.ec2.terminate_instances(InstanceIds=[doomed])
    result = world.handle(world.event(doomed, "terminated"))
    assert len(result["deleted"]) == 2
    assert [s["NetworkInterfaceId"] for s in world.owned()] == kept_enis
    ids = {s["TrafficMirrorSessionId"] for s in world.sessions()}
    assert {foreign_on_doomed, foreign_elsewhere} <= ids


def test_an_interface_with_three_sessions_is_skipped_with_the_reason(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    instance, enis = world.launch()
    for number in (1, 2, 3):
        world.foreign_session(enis[0], number)
    with caplog.at_level(logging.INFO, logger="cloudtap.enrol"):
        result = world.handle(world.event(instance, "running"))
    assert len(world.sessions(enis[0])) == 3
    assert "3 sessions, AWS's limit" in result["skipped"][enis[0]]
    assert any("skipped" in r.getMessage() for r in caplog.records)


def test_the_next_free_session_number_is_taken(world: World) -> None:
    instance, enis = world.launch()
    world.foreign_session(enis[0], 1)
    world.foreign_session(enis[0], 2)
    world.handle(world.event(instance, "running"))
    assert [s["SessionNumber"] for s in world.owned()] == [3]


def test_an_interface_already_mirrored_to_the_target_by_pulumi_is_not_mirrored_twice(
    world: World,
) -> None:
    instance, enis = world.launch()
    pulumi_session = world.foreign_session(enis[0], 1, target=world.config["target_id"])
    result = world.handle(world.event(instance, "running"))
    assert world.owned() == []
    assert pulumi_session in result["skipped"][enis[0]]


def test_a_reconcile_after_missed_events_converges(world: World) -> None:
    gone, _ = world.launch()
    world.handle(world.event(gone, "running"))
    # Missed: gone's termination, two launches.
    world.ec2.terminate_instances(InstanceIds=[gone])
    _, first_enis = world.launch(extra_enis=1)
    _, second_enis = world.launch()
    scheduled = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    result = world.handle(scheduled)
    assert len(result["created"]) == 3 and len(result["deleted"]) == 1
    assert sorted(s["NetworkInterfaceId"] for s in world.owned()) == sorted(
        first_enis + second_enis
    )
    again = world.handle(scheduled)
    assert again["created"] == [] and again["deleted"] == []


def test_a_session_on_an_old_target_is_replaced(world: World) -> None:
    instance, _ = world.launch()
    world.handle(world.event(instance, "running"))
    old = world.owned()[0]["TrafficMirrorSessionId"]
    world.config["target_id"] = world.other_target()
    result = world.handle({"detail-type": "Scheduled Event"})
    assert result["deleted"] == [old]
    assert [s["TrafficMirrorTargetId"] for s in world.owned()] == [world.config["target_id"]]


def test_remove_owned_deletes_only_the_owner_s_sessions(world: World) -> None:
    instance, enis = world.launch()
    world.handle(world.event(instance, "running"))
    foreign = world.foreign_session(enis[0], 2)
    deleted = HANDLER.remove_owned(world.ec2, world.config["owner"])
    assert len(deleted) == 1
    assert [s["TrafficMirrorSessionId"] for s in world.sessions(enis[0])] == [foreign]


def test_the_shipped_support_data_is_the_preview_s_data() -> None:
    shipped = json.loads((HANDLER.SUPPORT_FILE).read_text())
    assert shipped == mirror_support.support_data()
    assert HANDLER.SUPPORT_FILE.read_text() == mirror_support.support_json()


def _every_family() -> list[str]:
    data = mirror_support.support_data()
    families = {f for value in data.values() if isinstance(value, list) for f in value}
    return sorted(families | {"zz9", "m5"})


@pytest.mark.parametrize("family", _every_family())
def test_the_function_s_verdict_is_the_preview_s(family: str) -> None:
    for size in ("large", "metal", "metal-24xl"):
        instance_type = f"{family}.{size}"
        if split_instance_type(instance_type) is None:
            continue
        kind, _ = HANDLER.verdict(instance_type, SUPPORT)
        assert kind == mirror_support.mirror_support(instance_type).verdict.value, instance_type
        overridden, _ = HANDLER.verdict(instance_type, SUPPORT, [family])
        assert overridden == mirror_support.mirror_support(instance_type, [family]).verdict.value


def test_subnet_ids_select_interfaces_by_subnet(world: World) -> None:
    world.config["subnet_cidrs"] = []
    world.config["subnet_ids"] = [world.aws.subnets["10.0.0.0/20"]]
    instance, enis = world.launch()
    world.handle(world.event(instance, "running"))
    assert world.sessions(enis[0]) == []
    outside = world.ec2.create_network_interface(SubnetId=world.aws.subnets["10.0.0.0/20"])
    eni = outside["NetworkInterface"]["NetworkInterfaceId"]
    world.ec2.attach_network_interface(NetworkInterfaceId=eni, InstanceId=instance, DeviceIndex=1)
    world.handle(world.event(instance, "running"))
    assert [s["NetworkInterfaceId"] for s in world.owned()] == [eni]


def test_the_lambda_entry_point_reads_its_configuration_from_the_environment(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("CLOUDTAP_ENROL", json.dumps(world.config))
    instance, enis = world.launch()
    result = HANDLER.handler(world.event(instance, "running"), None)
    assert len(result["created"]) == 1
    assert [s["NetworkInterfaceId"] for s in world.owned()] == enis


def test_the_override_wins_only_where_the_data_says_no() -> None:
    assert mirror_support.mirror_support("t2.micro").verdict is mirror_support.Verdict.UNSUPPORTED
    overridden = mirror_support.mirror_support("t2.micro", ["t2"])
    assert overridden.mirrorable
    assert overridden.reason == (
        "t2.micro is in mirrorable_instance_types, which overrides cloudtap's data "
        "(retrieved 2026-11-21: unsupported)"
    )
    assert mirror_support.mirror_support("m5.large", ["m5"]).reason == (
        "m5 is a Nitro type AWS mirrors"
    )
    assert mirror_support.mirror_support("m7i.large", ["m7i.large"]).mirrorable


def _zone_subnet(world: World, cidr: str, zone: str) -> str:
    """A subnet of ``cidr`` in availability zone ``zone`` (made once for the shared world)."""
    found = world.ec2.describe_subnets(Filters=[{"Name": "cidr-block", "Values": [cidr]}])
    if found["Subnets"]:
        assert found["Subnets"][0]["AvailabilityZone"] == zone
        return str(found["Subnets"][0]["SubnetId"])
    created = world.ec2.create_subnet(VpcId=world.aws.vpc_id, CidrBlock=cidr, AvailabilityZone=zone)
    return str(created["Subnet"]["SubnetId"])


def _launch_in(world: World, subnet: str) -> tuple[str, str]:
    instance = world.ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        InstanceType="m5.large",
        SubnetId=subnet,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "enrol", "Value": world.selector}]}
        ],
    )["Instances"][0]
    return instance["InstanceId"], instance["NetworkInterfaces"][0]["NetworkInterfaceId"]


def test_zone_local_targets_mirror_a_later_instance_to_its_own_zones_target(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    zone_a, zone_b, zone_c = (f"{world.ec2.meta.region_name}{z}" for z in "abc")
    in_a = _zone_subnet(world, "10.0.96.0/20", zone_a)
    in_b = _zone_subnet(world, "10.0.112.0/20", zone_b)
    in_c = _zone_subnet(world, "10.0.240.0/20", zone_c)
    first, second = world.config["target_id"], world.other_target()
    world.config["subnet_cidrs"] = ["10.0.96.0/20", "10.0.112.0/20", "10.0.240.0/20"]
    world.config["zone_target_ids"] = {zone_a: first, zone_b: second}
    instance_b, eni_b = _launch_in(world, in_b)
    instance_a, eni_a = _launch_in(world, in_a)
    world.handle(world.event(instance_b, "running"))
    world.handle(world.event(instance_a, "running"))
    targets = {s["NetworkInterfaceId"]: s["TrafficMirrorTargetId"] for s in world.owned()}
    assert targets == {eni_b: second, eni_a: first}  # zone B's own, not the first zone's
    # A zone without a target of its own gets the first zone's, and the log says so.
    instance_c, eni_c = _launch_in(world, in_c)
    with caplog.at_level(logging.WARNING, logger="cloudtap.enrol"):
        world.handle(world.event(instance_c, "running"))
    assert {s["TrafficMirrorTargetId"] for s in world.sessions(eni_c)} == {first}
    assert f"{instance_c}: its zone {zone_c} has no target of its own" in caplog.text
    # A session of the function on another zone's target is moved to the instance's own.
    world.config["zone_target_ids"] = {zone_a: second, zone_b: first}
    result = world.handle({"source": "aws.events"})
    assert len(result["deleted"]) == 2 and len(result["created"]) == 2
    moved = {s["NetworkInterfaceId"]: s["TrafficMirrorTargetId"] for s in world.owned()}
    assert moved == {eni_a: second, eni_b: first, eni_c: first}
