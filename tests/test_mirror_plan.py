"""Cloud-neutral mirror planning: which way a source is copied and what a filter copies."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest

from components.errors import CloudtapInputError
from components.mirror_plan import (
    Action,
    Direction,
    FilterPreset,
    FilterRule,
    FilterScope,
    MirrorInterface,
    MirrorSource,
    check_behind_gateway,
    check_gateway_mirror_on,
    decide,
    parse_health_check_cidrs,
    parse_method,
    parse_presets,
    parse_source_name,
    plan_filter_rules,
    preview_line,
)
from components.mirroring import MirrorMethod
from components.network_plan import plan_network

VPC = ipaddress.IPv4Network("10.0.0.0/16")
WEB = MirrorSource(
    "web", "m5.large", (MirrorInterface("eni-0aaaaaaaaaaaaaaaa", "1"),), instance_id="i-0abc"
)
LEGACY = MirrorSource("legacy", "t2.micro", (MirrorInterface("eni-0bbbbbbbbbbbbbbbb", "1"),))


def verdict(
    rules: Sequence[FilterRule],
    direction: Direction,
    remote: str,
    protocol: int,
    *,
    local_port: int | None = None,
    remote_port: int | None = None,
) -> Action | None:
    """What a filter does with a packet: the lowest-ordered matching rule wins; none: not copied."""
    for rule in sorted((r for r in rules if r.direction is direction), key=lambda r: r.order):
        if ipaddress.IPv4Address(remote) not in rule.remote:
            continue
        if rule.protocol is not None and rule.protocol != protocol:
            continue
        if rule.local_port is not None and rule.local_port != local_port:
            continue
        if rule.remote_port is not None and rule.remote_port != remote_port:
            continue
        return rule.action
    return None


# -- decisions -------------------------------------------------------------------------------


def test_auto_mirrors_natively_what_the_cloud_can_and_the_rest_at_the_gateway() -> None:
    assert decide(MirrorMethod.AUTO, WEB, True, "ok").method is MirrorMethod.NATIVE
    fallback = decide(MirrorMethod.AUTO, LEGACY, False, "t2 is not a Nitro type")
    assert fallback.method is MirrorMethod.GATEWAY
    assert fallback.reason == "t2 is not a Nitro type"


def test_gateway_method_sends_every_source_through_the_gateway() -> None:
    assert decide(MirrorMethod.GATEWAY, WEB, True, "ok").method is MirrorMethod.GATEWAY


def test_native_method_never_silently_falls_back() -> None:
    with pytest.raises(CloudtapInputError, match="because method is native: t2"):
        decide(MirrorMethod.NATIVE, LEGACY, False, "t2")


def test_preview_lines_say_which_way_and_why() -> None:
    gateway = preview_line(decide(MirrorMethod.AUTO, LEGACY, False, "t2 is not a Nitro type"))
    assert gateway == (
        "legacy (t2.micro): gateway mirror — t2 is not a Nitro type; only traffic crossing the "
        "gateway (north-south) is seen"
    )
    native = preview_line(decide(MirrorMethod.AUTO, WEB, True, "m5 is a Nitro type AWS mirrors"))
    assert native.startswith("i-0abc (m5.large): native mirroring of 1 interface ")
    assert "eni-0aaaaaaaaaaaaaaaa" in native
    east_west = preview_line(decide(MirrorMethod.AUTO, WEB, True, "ok"), east_west_only=True)
    assert "east-west traffic only" in east_west


def test_method_and_names_are_parsed_with_named_errors() -> None:
    assert parse_method(None) is MirrorMethod.AUTO
    with pytest.raises(CloudtapInputError, match=r"^method: got 'span'"):
        parse_method("span")
    with pytest.raises(CloudtapInputError, match=r"^sources\[0\]\.name: got 'a b'"):
        parse_source_name("sources[0].name", "a b")


# -- filters ---------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", list(FilterScope))
@pytest.mark.parametrize("port", [4789, 6081])
def test_no_filter_ever_copies_a_mirror_feed_either_way(scope: FilterScope, port: int) -> None:
    rules = plan_filter_rules(scope, network_cidr=VPC)
    for remote in ("10.0.64.10", "198.51.100.7"):
        # A feed arriving at the source (a sensor or relay) and one it sends (the gateway).
        assert verdict(rules, Direction.INGRESS, remote, 17, local_port=port) is Action.REJECT
        assert verdict(rules, Direction.EGRESS, remote, 17, remote_port=port) is Action.REJECT


def test_the_default_filter_copies_everything_else() -> None:
    rules = plan_filter_rules(FilterScope.ALL, network_cidr=None)
    assert len(rules) == 6
    for direction in Direction:
        for remote in ("10.0.64.10", "198.51.100.7"):
            assert (
                verdict(rules, direction, remote, 6, local_port=443, remote_port=50000)
                is Action.ACCEPT
            )
            assert (
                verdict(rules, direction, remote, 17, local_port=53, remote_port=53)
                is Action.ACCEPT
            )


def test_the_east_west_filter_leaves_north_south_to_the_gateway() -> None:
    rules = plan_filter_rules(FilterScope.EAST_WEST, network_cidr=VPC)
    for direction in Direction:
        assert verdict(rules, direction, "10.0.80.5", 6, local_port=443) is Action.ACCEPT
        assert verdict(rules, direction, "198.51.100.7", 6, local_port=443) is None


def test_drop_intra_vpc_keeps_only_north_south() -> None:
    rules = plan_filter_rules(
        FilterScope.ALL, network_cidr=VPC, presets=[FilterPreset.DROP_INTRA_VPC]
    )
    for direction in Direction:
        assert verdict(rules, direction, "10.0.80.5", 6, local_port=443) is Action.REJECT
        assert verdict(rules, direction, "198.51.100.7", 6, local_port=443) is Action.ACCEPT


def test_drop_health_checks_without_a_port_drops_everything_with_those_networks() -> None:
    public = ipaddress.IPv4Network("10.0.0.0/19")
    rules = plan_filter_rules(
        FilterScope.ALL,
        network_cidr=VPC,
        presets=[FilterPreset.DROP_HEALTH_CHECKS],
        health_check_cidrs=[public],
    )
    for direction in Direction:
        assert verdict(rules, direction, "10.0.3.4", 6, local_port=8080) is Action.REJECT
        assert verdict(rules, direction, "10.0.64.4", 6, local_port=8080) is Action.ACCEPT


def test_drop_health_checks_with_a_port_drops_only_tcp_on_that_port_of_the_source() -> None:
    public = ipaddress.IPv4Network("10.0.0.0/19")
    rules = plan_filter_rules(
        FilterScope.ALL,
        network_cidr=VPC,
        presets=[FilterPreset.DROP_HEALTH_CHECKS],
        health_check_cidrs=[public],
        health_check_port=8080,
    )
    # The probe arrives on the source's 8080; the answer leaves from it.
    assert verdict(rules, Direction.INGRESS, "10.0.3.4", 6, local_port=8080) is Action.REJECT
    assert verdict(rules, Direction.EGRESS, "10.0.3.4", 6, local_port=8080) is Action.REJECT
    assert verdict(rules, Direction.INGRESS, "10.0.3.4", 6, local_port=443) is Action.ACCEPT
    assert verdict(rules, Direction.INGRESS, "10.0.3.4", 17, local_port=8080) is Action.ACCEPT


def test_rule_keys_and_orders_are_unique_per_direction_and_stable() -> None:
    rules = plan_filter_rules(
        FilterScope.ALL,
        network_cidr=VPC,
        presets=[FilterPreset.DROP_INTRA_VPC, FilterPreset.DROP_HEALTH_CHECKS],
        health_check_cidrs=[ipaddress.IPv4Network("10.0.0.0/19")],
    )
    for direction in Direction:
        mine = [r for r in rules if r.direction is direction]
        assert len({r.key for r in mine}) == len({r.order for r in mine}) == len(mine)
    assert [r.key for r in rules if r.direction is Direction.INGRESS] == [
        "reject-vxlan",
        "reject-geneve",
        "reject-health-checks-1",
        "reject-intra-vpc",
        "accept-all",
    ]


def test_presets_and_health_check_networks_are_parsed_with_named_errors() -> None:
    assert parse_presets(["drop_intra_vpc", "drop_intra_vpc"]) == (FilterPreset.DROP_INTRA_VPC,)
    with pytest.raises(CloudtapInputError, match=r"^filter_presets\[0\]: got 'drop_dns'"):
        parse_presets(["drop_dns"])
    assert parse_health_check_cidrs(["10.0.0.0/20", "10.0.16.0/20"]) == (
        ipaddress.IPv4Network("10.0.0.0/19"),
    )
    with pytest.raises(CloudtapInputError, match=r"^health_check_cidrs\[0\]: got '0\.0\.0\.0/0'"):
        parse_health_check_cidrs(["0.0.0.0/0"])


def expect(error: pytest.ExceptionInfo[CloudtapInputError], field: str, *parts: str) -> None:
    assert error.value.field == field
    for part in parts:
        assert part in error.value.expected


def test_gateway_sources_need_the_network_and_its_gateway_mirror() -> None:
    with pytest.raises(CloudtapInputError) as error:
        check_gateway_mirror_on("sources[0]", "i-0abc", None)
    expect(error, "network", "set gateway_mirror")
    with pytest.raises(CloudtapInputError) as error:
        check_gateway_mirror_on("sources[0]", "i-0abc", plan_network({}))
    expect(error, "network.gateway_mirror", "set gateway_mirror on the MonitoredVpc")


def test_gateway_sources_must_live_in_the_private_tier() -> None:
    plan = plan_network({"gateway_mirror": {}})
    check_behind_gateway("f", ipaddress.IPv4Address("10.0.64.20"), plan)
    check_behind_gateway("f", None, plan)  # unknown address: not checkable
    with pytest.raises(CloudtapInputError) as error:
        check_behind_gateway("sources[0].instance_id", ipaddress.IPv4Address("10.0.0.20"), plan)
    expect(error, "sources[0].instance_id", "private tier", "the public tier")
