"""Preview-time lookups against moto: all interfaces of an instance, a load balancer's listeners."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from components.aws.discovery import (
    AwsClients,
    DiscoveredInterface,
    Listener,
    describe_instances,
    describe_listeners,
)
from components.errors import CloudtapInputError
from tests.fakes.aws import FakeAws
from tests.mocks import REGION


def count_calls(client: Any, operation: str) -> list[str]:
    calls: list[str] = []
    client.meta.events.register(
        f"before-call.{client.meta.service_model.service_name}.{operation}",
        lambda **_: calls.append(operation),
    )
    return calls


def test_every_interface_of_an_instance_is_found_in_device_order(fake_aws: FakeAws) -> None:
    instance_id, enis = fake_aws.instance("m5.large", extra_enis=2)
    found = describe_instances(fake_aws.ec2, [instance_id])[instance_id]
    assert found.instance_type == "m5.large"
    assert found.state == "running"
    assert [i.id for i in found.interfaces] == enis
    assert [i.key for i in found.interfaces] == ["1", "2", "3"]
    for interface in found.interfaces:
        assert interface.private_ip in ipaddress.IPv4Network("10.0.64.0/20")


def test_many_instances_take_one_describe_call(fake_aws: FakeAws) -> None:
    ids = [fake_aws.instance()[0] for _ in range(5)]
    calls = count_calls(fake_aws.ec2, "DescribeInstances")
    found = describe_instances(fake_aws.ec2, [*ids, ids[0]])
    assert list(found) == ids
    assert calls == ["DescribeInstances"]


def test_an_unknown_instance_is_named_by_the_field_it_came_from(fake_aws: FakeAws) -> None:
    known, _ = fake_aws.instance()
    with pytest.raises(CloudtapInputError) as error:
        describe_instances(
            fake_aws.ec2,
            [known, "i-0123456789abcdef0"],
            {"i-0123456789abcdef0": "sources[1].instance_id"},
        )
    assert error.value.field == "sources[1].instance_id"
    assert error.value.value == "i-0123456789abcdef0"
    assert "exists in the stack's region" in error.value.expected


def test_a_terminated_instance_is_refused(fake_aws: FakeAws) -> None:
    instance_id, _ = fake_aws.instance()
    fake_aws.ec2.terminate_instances(InstanceIds=[instance_id])
    with pytest.raises(CloudtapInputError, match="not terminated"):
        describe_instances(fake_aws.ec2, [instance_id], {instance_id: "sources[0].instance_id"})


def test_no_instances_means_no_call(fake_aws: FakeAws) -> None:
    calls = count_calls(fake_aws.ec2, "DescribeInstances")
    assert describe_instances(fake_aws.ec2, []) == {}
    assert calls == []


def test_listeners_of_a_load_balancer_are_listed(fake_aws: FakeAws) -> None:
    arn = fake_aws.network_load_balancer([("UDP", 4789), ("TCP", 443)])
    listeners = describe_listeners(fake_aws.elbv2, arn, "target.network_load_balancer_arn")
    assert sorted(listeners, key=lambda item: item.port) == [
        Listener(443, "TCP"),
        Listener(4789, "UDP"),
    ]


def test_a_missing_load_balancer_is_named_by_its_field(fake_aws: FakeAws) -> None:
    arn = fake_aws.network_load_balancer([]).replace("/sensors-", "/gone-")
    with pytest.raises(CloudtapInputError) as error:
        describe_listeners(fake_aws.elbv2, arn, "target.network_load_balancer_arn")
    assert error.value.field == "target.network_load_balancer_arn"
    assert "existing Network Load Balancer" in error.value.expected


def test_interfaces_on_a_second_network_card_get_their_own_keys() -> None:
    def interface(card: int, device: int) -> DiscoveredInterface:
        return DiscoveredInterface("eni-0", device, card, None, None, "interface")

    assert interface(0, 0).key == "1"
    assert interface(0, 1).key == "2"
    assert interface(1, 0).key == "card1-1"


def test_default_clients_are_made_on_first_use_in_the_given_region(fake_aws: FakeAws) -> None:
    clients = AwsClients(region=REGION)
    assert clients.ec2 is None
    ec2 = clients.ec2_client()
    assert ec2.meta.region_name == REGION
    assert clients.ec2_client() is ec2
    assert clients.elbv2_client().meta.region_name == REGION


def test_the_same_clients_ask_aws_once_for_the_same_instances(fake_aws: FakeAws) -> None:
    # A program checks its mirror, then builds it: both see one answer from one call.
    instance_id, _ = fake_aws.instance("m5.large")
    clients = fake_aws.clients
    calls = count_calls(fake_aws.ec2, "DescribeInstances")
    first = clients.instances([instance_id])
    second = clients.instances([instance_id, instance_id])
    assert first == second
    assert calls == ["DescribeInstances"]
    other, _ = fake_aws.instance("c5.large")
    clients.instances([other])
    assert calls == ["DescribeInstances", "DescribeInstances"]


def test_the_same_clients_ask_aws_once_for_a_load_balancer_s_listeners(fake_aws: FakeAws) -> None:
    arn = fake_aws.network_load_balancer([("UDP", 4789)])
    clients = fake_aws.clients
    calls = count_calls(fake_aws.elbv2, "DescribeListeners")
    assert clients.listeners(arn, "target") == clients.listeners(arn, "target")
    assert calls == ["DescribeListeners"]
