"""The cloud-neutral network plan: derived CIDRs and every input check, without mocks."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from components.errors import CloudtapInputError
from components.network_plan import Protocol, Tier, plan_network


def nets(*cidrs: str) -> tuple[ipaddress.IPv4Network, ...]:
    return tuple(ipaddress.IPv4Network(c) for c in cidrs)


def test_defaults_give_two_zones_of_four_tiers_in_10_0_0_0_16() -> None:
    plan = plan_network()
    assert plan.cidr_block == ipaddress.IPv4Network("10.0.0.0/16")
    assert plan.subnets == {
        Tier.PUBLIC: nets("10.0.0.0/20", "10.0.16.0/20"),
        Tier.PRIVATE: nets("10.0.64.0/20", "10.0.80.0/20"),
        Tier.MONITOR: nets("10.0.128.0/20", "10.0.144.0/20"),
        Tier.MANAGEMENT: nets("10.0.192.0/20", "10.0.208.0/20"),
    }
    assert plan.port_forwards == ()
    assert plan.management_cidrs == ()


def test_adding_a_zone_never_moves_an_existing_subnet() -> None:
    two = plan_network({"availability_zone_count": 2})
    four = plan_network({"availability_zone_count": 4})
    for tier in Tier:
        assert four.subnets[tier][:2] == two.subnets[tier]
    every = four.cidrs(*Tier)
    assert len(set(every)) == 16
    assert all(not a.overlaps(b) for i, a in enumerate(every) for b in every[i + 1 :])


def test_small_block_gets_28s() -> None:
    plan = plan_network({"cidr_block": "192.168.5.0/24", "availability_zone_count": 4})
    assert plan.subnets[Tier.MANAGEMENT][3] == ipaddress.IPv4Network("192.168.5.240/28")


def test_explicit_subnets_are_used_as_given() -> None:
    subnets = {
        "public": ["10.1.100.0/24"],
        "private": ["10.1.1.0/24"],
        "monitor": ["10.1.2.0/24"],
        "management": ["10.1.3.0/24"],
    }
    plan = plan_network(
        {"cidr_block": "10.1.0.0/16", "availability_zone_count": 1, "subnet_cidrs": subnets}
    )
    assert plan.subnets[Tier.PUBLIC] == nets("10.1.100.0/24")
    assert plan.tier_of(ipaddress.IPv4Address("10.1.1.7")) is Tier.PRIVATE


def test_port_forward_defaults_to_tcp_and_the_same_port() -> None:
    plan = plan_network({"port_forwards": [{"public_port": 3389, "private_host": "10.0.64.10"}]})
    (forward,) = plan.port_forwards
    assert forward.protocol is Protocol.TCP
    assert forward.private_port == 3389
    assert forward.private_host == ipaddress.IPv4Address("10.0.64.10")


def one_zone_subnets(**override: list[str]) -> dict[str, list[str]]:
    subnets = {
        "public": ["10.0.0.0/24"],
        "private": ["10.0.1.0/24"],
        "monitor": ["10.0.2.0/24"],
        "management": ["10.0.3.0/24"],
    }
    subnets.update(override)
    return subnets


BAD_INPUTS: list[tuple[str, dict[str, Any], str, str]] = [
    ("not a cidr", {"cidr_block": "10.0.0.300/16"}, "cidr_block", "IPv4 network"),
    ("host bits", {"cidr_block": "10.0.0.1/16"}, "cidr_block", "no host bits"),
    ("vpc too large", {"cidr_block": "10.0.0.0/8"}, "cidr_block", "/16 to /28"),
    ("zero zones", {"availability_zone_count": 0}, "availability_zone_count", "1 to 16"),
    ("bool zones", {"availability_zone_count": True}, "availability_zone_count", "integer"),
    (
        "more zones than fit",
        {"availability_zone_count": 5},
        "availability_zone_count",
        "at most 4",
    ),
    (
        "block too small for four tiers",
        {"cidr_block": "10.0.0.0/27", "availability_zone_count": 1},
        "cidr_block",
        "at most /26: /26 is the smallest network that holds the four tiers",
    ),
    (
        "subnets too large for four tiers",
        {"cidr_block": "10.0.0.0/16", "subnet_prefix_length": 17},
        "subnet_prefix_length",
        "from /18 to /28: the four tiers need four subnets",
    ),
    (
        "overlapping subnets",
        {
            "availability_zone_count": 1,
            "subnet_cidrs": one_zone_subnets(monitor=["10.0.1.128/25"]),
        },
        "subnet_cidrs.monitor[0]",
        "does not overlap subnet_cidrs.private[0]",
    ),
    (
        "subnet outside the vpc",
        {
            "availability_zone_count": 1,
            "subnet_cidrs": one_zone_subnets(private=["172.16.0.0/24"]),
        },
        "subnet_cidrs.private[0]",
        "inside 10.0.0.0/16",
    ),
    (
        "wrong number of subnets",
        {"availability_zone_count": 2, "subnet_cidrs": one_zone_subnets()},
        "subnet_cidrs.public",
        "2 CIDR(s)",
    ),
    (
        "missing tier",
        {"availability_zone_count": 1, "subnet_cidrs": {"public": ["10.0.0.0/24"]}},
        "subnet_cidrs.private",
        "1 CIDR(s)",
    ),
    (
        "unknown tier",
        {"availability_zone_count": 1, "subnet_cidrs": one_zone_subnets(dmz=["10.0.9.0/24"])},
        "subnet_cidrs.dmz",
        "one of the fields",
    ),
    (
        "ssh forward",
        {"port_forwards": [{"public_port": 22, "private_host": "10.0.64.10"}]},
        "port_forwards[0].public_port",
        "SSH is never forwarded",
    ),
    (
        "ssh forward to a private port 22",
        {
            "port_forwards": [
                {"public_port": 2222, "private_port": 22, "private_host": "10.0.64.10"}
            ]
        },
        "port_forwards[0].private_port",
        "SSH is never forwarded",
    ),
    (
        "udp port 22",
        {"port_forwards": [{"protocol": "udp", "public_port": 22, "private_host": "10.0.64.10"}]},
        "port_forwards[0].public_port",
        "never forwarded",
    ),
    (
        "port zero",
        {"port_forwards": [{"public_port": 0, "private_host": "10.0.64.10"}]},
        "port_forwards[0].public_port",
        "1 to 65535",
    ),
    (
        "port too high",
        {
            "port_forwards": [
                {"public_port": 80, "private_port": 70000, "private_host": "10.0.64.10"}
            ]
        },
        "port_forwards[0].private_port",
        "1 to 65535",
    ),
    (
        "unknown protocol",
        {"port_forwards": [{"protocol": "icmp", "public_port": 80, "private_host": "10.0.64.10"}]},
        "port_forwards[0].protocol",
        "['tcp', 'udp']",
    ),
    (
        "private host outside the private tier",
        {"port_forwards": [{"public_port": 80, "private_host": "10.0.128.10"}]},
        "port_forwards[0].private_host",
        "private-tier subnet",
    ),
    (
        "private host is a reserved address",
        {"port_forwards": [{"public_port": 80, "private_host": "10.0.64.1"}]},
        "port_forwards[0].private_host",
        "usable host address",
    ),
    (
        "port published twice",
        {
            "port_forwards": [
                {"public_port": 80, "private_host": "10.0.64.10"},
                {"public_port": 80, "private_host": "10.0.64.11"},
            ]
        },
        "port_forwards[1].public_port",
        "already published by port_forwards[0]",
    ),
    (
        "typo in a port forward",
        {"port_forwards": [{"public_prot": 80, "private_host": "10.0.64.10"}]},
        "port_forwards[0].public_prot",
        "one of the fields",
    ),
    (
        "ssh open to the world",
        {"management_cidrs": ["0.0.0.0/0"]},
        "management_cidrs[0]",
        "never open to the world",
    ),
    (
        "management cidr as a string",
        {"management_cidrs": "10.9.0.0/16"},
        "management_cidrs",
        "list",
    ),
]


@pytest.mark.parametrize(
    ("args", "field", "expected"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_names_field_value_and_expectation(
    args: dict[str, Any], field: str, expected: str
) -> None:
    with pytest.raises(CloudtapInputError) as caught:
        plan_network(args)
    assert caught.value.field == field
    message = str(caught.value)
    assert message.startswith(f"{field}: got ")
    assert expected in message


def test_gateway_mirror_is_off_by_default_and_on_with_defaults_when_given() -> None:
    assert plan_network().gateway_mirror is None
    mirror = plan_network({"gateway_mirror": {}}).gateway_mirror
    assert mirror is not None
    assert mirror.sensor_address == ipaddress.IPv4Address("10.0.128.10")
    assert mirror.mode == "vxlan"
    assert mirror.vni == 4242


@pytest.mark.parametrize(
    ("mirror", "field", "expected"),
    [
        ({"sensor_address": "10.0.64.10"}, "gateway_mirror.sensor_address", "monitor-tier"),
        ({"sensor_address": "10.0.128.2"}, "gateway_mirror.sensor_address", "usable host"),
        ({"sensor_address": "sensor"}, "gateway_mirror.sensor_address", "IPv4 address"),
        ({"mode": "span"}, "gateway_mirror.mode", "['vxlan', 'tee']"),
        ({"vni": 0}, "gateway_mirror.vni", "1 to 16777215"),
        ({"vni": 16_777_216}, "gateway_mirror.vni", "1 to 16777215"),
        ({"sensor": "10.0.128.10"}, "gateway_mirror.sensor", "one of the fields"),
        ("10.0.128.10", "gateway_mirror", "a mapping"),
    ],
)
def test_bad_gateway_mirror_names_field_value_and_expectation(
    mirror: Any, field: str, expected: str
) -> None:
    with pytest.raises(CloudtapInputError) as caught:
        plan_network({"gateway_mirror": mirror})
    assert caught.value.field == field
    assert expected in str(caught.value)
