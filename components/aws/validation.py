"""AWS-specific arguments of a monitored VPC: validated and resolved before anything is created.

Pure functions with user-facing messages (no pulumi-aws import): each raises
:class:`~components.errors.CloudtapInputError` naming the field, the bad value and what is expected.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import pulumi

from ..errors import CloudtapInputError
from ..mirroring import GatewayMirrorMode
from ..network_plan import NetworkPlan
from ..os_family import DEFAULT_OS_FAMILY, OsFamily, parse_os_family
from ..shapes import (
    AMI_ID_EXAMPLE,
    UNLISTED_INSTANCE_TYPES,
    check_ami_id,
    check_aws_key_name,
    check_aws_tags,
    check_aws_zone_name,
    check_instance_type,
    check_unlisted_instance_types,
    is_graviton_family,
    split_instance_type,
)

DEFAULT_INSTANCE_TYPE = "t3.small"

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
    parts = split_instance_type(instance_type)
    family = parts[0] if parts is not None else instance_type
    return ARM64 if is_graviton_family(family) else X86_64


# The gateway's name for it, kept for callers written before the sensor shared it.
gateway_architecture = architecture_of


def validate_instance_type(
    value: Any, field: str = "gateway_instance_type", unlisted: Collection[str] = ()
) -> str:
    """A ``family.size`` type the installed botocore lists, or one of ``unlisted``."""
    return check_instance_type(field, value, unlisted)


def validate_unlisted_instance_types(value: Any) -> frozenset[str]:
    return check_unlisted_instance_types(UNLISTED_INSTANCE_TYPES, value)


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
        check_aws_zone_name(f"availability_zones[{index}]", zone)
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


def check_zones_in_region(
    zones: Sequence[str], region: str, region_zones: Sequence[str]
) -> tuple[str, ...]:
    """Explicit ``availability_zones``, each one of the zones the provider's region reports: a
    zone of another region (a stack copied from elsewhere) would fail only at ``up``."""
    for index, zone in enumerate(zones):
        if zone not in region_zones:
            raise CloudtapInputError(
                f"availability_zones[{index}]",
                zone,
                f"a zone of the provider's region {region}: one of {list(region_zones)}",
            )
    return tuple(zones)


def _deferred(value: Any) -> pulumi.Output[str] | None:
    """An Output (e.g. a key pair created in the same program) is checked by AWS, not by us."""
    return cast("pulumi.Output[str]", value) if isinstance(value, pulumi.Output) else None


def validate_ami_id(value: Any, field: str = "gateway_ami_id") -> pulumi.Input[str] | None:
    if value is None:
        return None
    if (deferred := _deferred(value)) is not None:
        return deferred
    return check_ami_id(
        field,
        value,
        f"an AMI id such as {AMI_ID_EXAMPLE}, or no value for the latest Amazon Linux 2023",
    )


def validate_key_name(value: Any, field: str = "gateway_key_name") -> pulumi.Input[str] | None:
    if value is None:
        return None
    if (deferred := _deferred(value)) is not None:
        return deferred
    return check_aws_key_name(field, value)


def validate_tags(value: Any) -> dict[str, str]:
    """IAM's tag rule, the strictest of the tagged resources: see :func:`check_aws_tags`."""
    return check_aws_tags("tags", value)


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
    unlisted = validate_unlisted_instance_types(args.get(UNLISTED_INSTANCE_TYPES))
    instance_type = validate_instance_type(
        args.get("gateway_instance_type", DEFAULT_INSTANCE_TYPE), unlisted=unlisted
    )
    return AwsOptions(
        availability_zones=validate_availability_zones(args.get("availability_zones"), plan),
        instance_type=instance_type,
        architecture=architecture_of(instance_type),
        ami_id=validate_ami_id(args.get("gateway_ami_id")),
        key_name=validate_key_name(args.get("gateway_key_name")),
        tags=validate_tags(args.get("tags")),
    )


def validate_os_family(value: Any, field: str, ami_id: pulumi.Input[str] | None) -> OsFamily:
    """The distribution family of an instance's image. Without ``ami_id`` the image is the
    latest Amazon Linux 2023, so only that family fits."""
    family = parse_os_family(field, value)
    if ami_id is None and family is not DEFAULT_OS_FAMILY:
        raise CloudtapInputError(
            field,
            value,
            f"{DEFAULT_OS_FAMILY.value!r} (or no value) while no AMI id is given: the default "
            "image is Amazon Linux 2023; give the AMI of that distribution too",
        )
    return family
