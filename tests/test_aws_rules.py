"""AWS-specific pure functions: argument checks, image architecture, firewall tables."""

from __future__ import annotations

import pytest

from components.aws.rules import (
    ALLOW_REST_RULE_NO,
    isolation_nacl,
)
from components.aws.validation import (
    choose_availability_zones,
    gateway_architecture,
    validate_instance_type,
)
from components.errors import CloudtapInputError
from components.network_plan import Tier, plan_network

# EC2 default quota: 20 rules per direction in one network ACL.
NACL_RULES_PER_DIRECTION = 20


@pytest.mark.parametrize(
    ("instance_type", "architecture"),
    [
        ("t3.small", "x86_64"),
        ("t3a.nano", "x86_64"),
        ("m5.large", "x86_64"),
        ("c6i.xlarge", "x86_64"),
        ("c5n.large", "x86_64"),
        ("g4dn.xlarge", "x86_64"),  # "g" family, Intel
        ("m7i-flex.large", "x86_64"),
        ("t4g.small", "arm64"),
        ("c7g.large", "arm64"),
        ("m6gd.xlarge", "arm64"),
        ("c6gn.medium", "arm64"),
        ("r8g.2xlarge", "arm64"),
        ("im4gn.large", "arm64"),
        ("is4gen.medium", "arm64"),
        ("g5g.xlarge", "arm64"),
        ("a1.large", "arm64"),
    ],
)
def test_graviton_families_get_arm64_and_every_other_family_x86_64(
    instance_type: str, architecture: str
) -> None:
    assert validate_instance_type(instance_type) == instance_type
    assert gateway_architecture(instance_type) == architecture


@pytest.mark.parametrize("bad", ["t3", "t3.", ".small", "t3 small", "T3.small", "t3.small.x", None])
def test_instance_types_must_be_family_dot_size(bad: object) -> None:
    with pytest.raises(CloudtapInputError, match=r"^gateway_instance_type: got .*family\.size"):
        validate_instance_type(bad)


def test_zone_choice_takes_the_first_zones_in_order() -> None:
    assert choose_availability_zones(["b", "a", "c"], 2) == ("b", "a")


def test_zone_shortage_names_availability_zone_count_and_the_zones() -> None:
    with pytest.raises(CloudtapInputError) as error:
        choose_availability_zones(["il-central-1a"], 3)
    assert error.value.field == "availability_zone_count"
    assert "at most 1" in str(error.value)
    assert "il-central-1a" in str(error.value)


def test_monitor_nacl_fits_the_default_quota_with_six_zones() -> None:
    # Six zones: the most any AWS region offers.
    plan = plan_network(
        {"availability_zone_count": 6, "subnet_prefix_length": 22, "gateway_mirror": {}}
    )
    for tier in (Tier.MONITOR, Tier.MANAGEMENT):
        table = isolation_nacl(plan, tier)
        assert len(table.ingress) <= NACL_RULES_PER_DIRECTION
        assert len(table.egress) <= NACL_RULES_PER_DIRECTION
        numbers = [rule.rule_no for rule in (*table.ingress, *table.egress)]
        assert all(0 < number <= 32766 for number in numbers)
        assert len(set(r.rule_no for r in table.ingress)) == len(table.ingress)
        assert max(r.rule_no for r in table.ingress) == ALLOW_REST_RULE_NO


def test_isolation_nacls_are_only_for_the_isolated_tiers() -> None:
    with pytest.raises(ValueError, match="monitor and management"):
        isolation_nacl(plan_network(), Tier.PRIVATE)
