"""AWS-specific arguments of a monitored VPC: validated and resolved before anything is created.

Pure functions with user-facing messages (no pulumi-aws import): each raises
:class:`~components.errors.CloudtapInputError` naming the field, the bad value and what is expected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import pulumi

from ..errors import CloudtapInputError
from ..mirroring import GatewayMirrorMode
from ..network_plan import NetworkPlan

DEFAULT_INSTANCE_TYPE = "t3.small"

# `family.size`: t3.small, c7gn.2xlarge, m7i-flex.large, u-6tb1.metal, m7i.metal-24xl.
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")
# Graviton families carry a "g" right after the generation digit (t4g, c7g, m6gd, c6gn, im4gn,
# is4gen, hpc7g); a1 is the first-generation Graviton and the one exception to the pattern.
_GRAVITON_FAMILY = re.compile(r"^(a1|[a-z]+\d+g[a-z]*)$")
_AMI_ID = re.compile(r"^ami-([0-9a-f]{8}|[0-9a-f]{17})$")
# EC2 tag limits (EC2 User Guide, "Tag restrictions"); "aws:" keys are reserved for AWS.
_TAG_KEY_MAX = 128
_TAG_VALUE_MAX = 256
_KEY_NAME_MAX = 255
# The monitor tier's network ACL takes 3 inbound rules per zone plus one; AWS allows 20 per
# direction by default, which covers the 6 zones of the largest region.
MAX_AVAILABILITY_ZONES = 6


# EC2 architecture names, as in AMI names and the AMI `architecture` attribute.
ARM64 = "arm64"
X86_64 = "x86_64"


@dataclass(frozen=True)
class AwsOptions:
    """The AWS-specific half of the arguments, validated. ``None`` means "look it up"."""

    availability_zones: tuple[str, ...] | None
    instance_type: str
    architecture: str
    ami_id: pulumi.Input[str] | None
    key_name: pulumi.Input[str] | None
    tags: Mapping[str, str]


def architecture_of(instance_type: str) -> str:
    """``arm64`` for Graviton instance families, ``x86_64`` for every other family."""
    family = instance_type.split(".", 1)[0]
    return ARM64 if _GRAVITON_FAMILY.match(family) else X86_64


# The gateway's name for it, kept for callers written before the sensor shared it.
gateway_architecture = architecture_of


def validate_instance_type(value: Any, field: str = "gateway_instance_type") -> str:
    if not isinstance(value, str) or not _INSTANCE_TYPE.match(value):
        raise CloudtapInputError(
            field,
            value,
            "an EC2 instance type of the form family.size, e.g. t3.small or t4g.small",
        )
    return value


def validate_availability_zones(value: Any, plan: NetworkPlan) -> tuple[str, ...] | None:
    if value is None:
        return None
    count = plan.availability_zone_count
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise CloudtapInputError(
            "availability_zones", value, f"a list of {count} zone name(s), e.g. ['eu-west-1a']"
        )
    if len(value) != count:
        raise CloudtapInputError(
            "availability_zones",
            list(value),
            f"exactly availability_zone_count ({count}) zone names: list {count} zone(s) or "
            f"set availability_zone_count to {len(value)}",
        )
    for index, zone in enumerate(value):
        if not isinstance(zone, str) or not zone.strip():
            raise CloudtapInputError(
                f"availability_zones[{index}]", zone, "a zone name such as eu-west-1a"
            )
        if zone in value[:index]:
            raise CloudtapInputError(
                f"availability_zones[{index}]",
                zone,
                "a zone not already listed: one subnet per tier per distinct zone",
            )
    return tuple(value)


def choose_availability_zones(available: Sequence[str], count: int) -> tuple[str, ...]:
    """The first ``count`` zones the region reports, or an error naming availability_zone_count."""
    if len(available) < count:
        raise CloudtapInputError(
            "availability_zone_count",
            count,
            f"at most {len(available)}: the region has only {len(available)} available zone(s) "
            f"({', '.join(available) or 'none'}); lower availability_zone_count",
        )
    return tuple(available[:count])


def _deferred(value: Any) -> pulumi.Output[str] | None:
    """An Output (e.g. a key pair created in the same program) is checked by AWS, not by us."""
    return cast("pulumi.Output[str]", value) if isinstance(value, pulumi.Output) else None


def validate_ami_id(value: Any, field: str = "gateway_ami_id") -> pulumi.Input[str] | None:
    if value is None:
        return None
    if (deferred := _deferred(value)) is not None:
        return deferred
    if not isinstance(value, str) or not _AMI_ID.match(value):
        raise CloudtapInputError(
            field,
            value,
            "an AMI id such as ami-0123456789abcdef0, or no value for the latest Amazon Linux 2023",
        )
    return value


def validate_key_name(value: Any, field: str = "gateway_key_name") -> pulumi.Input[str] | None:
    if value is None:
        return None
    if (deferred := _deferred(value)) is not None:
        return deferred
    if not isinstance(value, str) or not 0 < len(value) <= _KEY_NAME_MAX:
        raise CloudtapInputError(
            field, value, f"the name of an EC2 key pair (1-{_KEY_NAME_MAX} characters)"
        )
    return value


def validate_tags(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise CloudtapInputError("tags", value, "a mapping of tag name to string value")
    tags: dict[str, str] = {}
    for key, text in value.items():
        if not isinstance(key, str) or not 0 < len(key) <= _TAG_KEY_MAX:
            raise CloudtapInputError("tags", key, f"tag names of 1-{_TAG_KEY_MAX} characters")
        if key.lower().startswith("aws:"):
            raise CloudtapInputError(f"tags.{key}", key, "a tag name not starting with aws:")
        if key == "Name":
            raise CloudtapInputError(
                "tags.Name",
                text,
                "no Name tag: cloudtap names every resource itself after its Pulumi name",
            )
        if not isinstance(text, str) or len(text) > _TAG_VALUE_MAX:
            raise CloudtapInputError(
                f"tags.{key}", text, f"a string of at most {_TAG_VALUE_MAX} characters"
            )
        tags[key] = text
    return tags


def resolve_aws_options(args: Mapping[str, Any], plan: NetworkPlan) -> AwsOptions:
    """Validate the AWS fields of ``MonitoredVpcArgs``; unknown keys are rejected by the caller."""
    if plan.availability_zone_count > MAX_AVAILABILITY_ZONES:
        raise CloudtapInputError(
            "availability_zone_count",
            plan.availability_zone_count,
            f"at most {MAX_AVAILABILITY_ZONES} on AWS: the monitor tier's network ACL needs 3 "
            "rules per zone and AWS allows 20 per direction",
        )
    mirror = plan.gateway_mirror
    if mirror is not None and mirror.mode is not GatewayMirrorMode.VXLAN:
        raise CloudtapInputError(
            "gateway_mirror.mode",
            mirror.mode.value,
            '"vxlan" on AWS: the VPC forwards by IP address, so a tee clone (which keeps the '
            "original destination) never reaches the sensor",
        )
    instance_type = validate_instance_type(args.get("gateway_instance_type", DEFAULT_INSTANCE_TYPE))
    return AwsOptions(
        availability_zones=validate_availability_zones(args.get("availability_zones"), plan),
        instance_type=instance_type,
        architecture=architecture_of(instance_type),
        ami_id=validate_ami_id(args.get("gateway_ami_id")),
        key_name=validate_key_name(args.get("gateway_key_name")),
        tags=validate_tags(args.get("tags")),
    )
