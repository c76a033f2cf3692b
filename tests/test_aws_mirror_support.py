"""Which instance types AWS Traffic Mirroring accepts as sources: the data and its verdicts."""

from __future__ import annotations

import pytest

from components.aws.mirror_support import (
    ALLOWED_NON_NITRO,
    EXCLUDED,
    NITRO_V2,
    NITRO_V3,
    NITRO_V4,
    NITRO_V5,
    NITRO_V6,
    OTHER_XEN,
    RETRIEVED,
    NonMirrorableInstanceType,
    Verdict,
    mirror_support,
)
from components.errors import CloudtapInputError

NITRO = (NITRO_V2, NITRO_V3, NITRO_V4, NITRO_V5, NITRO_V6)


@pytest.mark.parametrize(
    "instance_type",
    [
        "m5.large",
        "c5n.xlarge",
        "t3.micro",
        "t3a.small",
        "t4g.nano",
        "c6g.large",
        "r5.24xlarge",
        "p3dn.24xlarge",  # Nitro, unlike p3
        "u-6tb1.56xlarge",
        # AWS's allowed non-Nitro types
        "c4.large",
        "m4.xlarge",
        "i3.large",
        "p3.2xlarge",
        "x1e.xlarge",
        "g3s.xlarge",
        "d2.xlarge",
    ],
)
def test_nitro_v2_v3_and_the_allowed_non_nitro_types_are_mirrorable(instance_type: str) -> None:
    support = mirror_support(instance_type)
    assert support.verdict is Verdict.SUPPORTED
    assert support.mirrorable


@pytest.mark.parametrize(
    ("instance_type", "reason"),
    [
        ("t2.micro", "t2 is not a Nitro type and not in AWS's allowed non-Nitro list"),
        ("m3.medium", "not a Nitro type"),
        ("m6i.large", "m6i is on AWS's list of Nitro types it does not mirror"),
        ("m7i.large", "on AWS's list"),
        ("m7i-flex.large", "on AWS's list"),
        ("c6i.xlarge", "on AWS's list"),
        ("c7g.large", "on AWS's list"),
        ("r7g.large", "on AWS's list"),
        ("i4i.large", "on AWS's list"),
        ("p5.48xlarge", "on AWS's list"),
        ("trn1.2xlarge", "on AWS's list"),
        ("c6gd.large", "on AWS's list"),  # a Nitro v2 family, excluded nonetheless
        ("x2iezn.2xlarge", "on AWS's list"),  # Nitro v3, excluded
        ("m8g.large", "on AWS's list"),
        ("c8gd.large", "Nitro v5"),
        ("m8i.large", "Nitro v6"),
        ("m5.metal", "bare metal"),
        ("i3.metal", "bare metal"),  # i3 is allowed, its bare metal size is not
        ("m7i.metal-24xl", "bare metal"),
    ],
)
def test_excluded_non_nitro_newer_nitro_and_bare_metal_types_are_not(
    instance_type: str, reason: str
) -> None:
    support = mirror_support(instance_type)
    assert support.verdict is Verdict.UNSUPPORTED
    assert not support.mirrorable
    assert reason in support.reason


@pytest.mark.parametrize(
    ("instance_type", "reason"),
    [
        ("g6.xlarge", "Nitro v4 type missing from AWS's exclusion list"),
        ("i7i.large", "Nitro v4"),
        ("zz9.large", f"not in cloudtap's instance-type data (retrieved {RETRIEVED})"),
    ],
)
def test_types_the_data_cannot_confirm_are_not_assumed_mirrorable(
    instance_type: str, reason: str
) -> None:
    support = mirror_support(instance_type)
    assert support.verdict is Verdict.UNCONFIRMED
    assert not support.mirrorable
    assert reason in support.reason


def test_every_excluded_family_is_a_nitro_family_of_the_nitro_page() -> None:
    nitro = frozenset().union(*NITRO)
    assert nitro >= EXCLUDED


def test_nitro_versions_xen_lists_and_allowed_list_do_not_overlap() -> None:
    groups = [*NITRO, ALLOWED_NON_NITRO, OTHER_XEN]
    for index, group in enumerate(groups):
        for other in groups[index + 1 :]:
            assert not group & other


def test_the_brief_examples_of_exclusions_are_all_refused() -> None:
    for family in ("m6i", "m7i", "c6i", "c7g", "r7g", "i4i", "p5", "trn1"):
        assert mirror_support(f"{family}.xlarge").verdict is Verdict.UNSUPPORTED


def test_a_malformed_type_is_a_programming_error_not_a_verdict() -> None:
    with pytest.raises(ValueError, match=r"family\.size"):
        mirror_support("t3")


def test_the_named_exception_carries_field_value_reason_and_source() -> None:
    error = NonMirrorableInstanceType("sources[0].instance_type", mirror_support("t2.micro"))
    assert isinstance(error, CloudtapInputError)
    assert error.field == "sources[0].instance_type"
    assert error.value == "t2.micro"
    assert error.support.family == "t2"
    message = str(error)
    assert message.startswith("sources[0].instance_type: got 't2.micro'; expected ")
    assert "not a Nitro type" in message
    assert "traffic-mirroring-network-limitations" in message
    assert RETRIEVED in message
    assert "method auto or gateway" in message
