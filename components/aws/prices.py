"""AWS on-demand list prices that cloudtap's cost estimate uses: data, with source and date.

US dollars; Linux on-demand; regions where a price differs have their own entry. The figures
were transcribed by hand from the pages below on ``AS_OF`` (the program never fetches prices);
AWS changes prices without notice, so the estimate says this date. A price missing here is
reported as unpriced, never guessed. Update ``AS_OF`` with the figures.
"""

from __future__ import annotations

from collections.abc import Mapping

AS_OF = "2026-12-01"
SOURCES: Mapping[str, str] = {
    "ec2": "https://aws.amazon.com/ec2/pricing/on-demand/",
    "ebs": "https://aws.amazon.com/ebs/pricing/",
    "public_ipv4": "https://aws.amazon.com/vpc/pricing/",
    "traffic_mirroring": "https://aws.amazon.com/vpc/pricing/",
    "lambda": "https://aws.amazon.com/lambda/pricing/",
    "cloudwatch_logs": "https://aws.amazon.com/cloudwatch/pricing/",
}
DEFAULT_REGION = "us-east-1"
"""Whose prices are used for a region this data does not hold (the estimate says so)."""

INSTANCE_HOURLY: Mapping[str, Mapping[str, float]] = {
    "us-east-1": {
        "t3.micro": 0.0104,
        "t3.small": 0.0208,
        "t3.medium": 0.0416,
        "t4g.small": 0.0168,
        "c5.large": 0.085,
        "c5n.large": 0.108,
        "c5n.xlarge": 0.216,
        "m5.large": 0.096,
        "m5.xlarge": 0.192,
    },
    "eu-west-1": {
        "t3.micro": 0.0114,
        "t3.small": 0.0228,
        "t3.medium": 0.0456,
        "t4g.small": 0.0184,
        "c5.large": 0.096,
        "c5n.large": 0.122,
        "c5n.xlarge": 0.244,
        "m5.large": 0.107,
        "m5.xlarge": 0.214,
    },
}
GP3_GB_MONTH: Mapping[str, float] = {"us-east-1": 0.08, "eu-west-1": 0.088}
PUBLIC_IPV4_HOURLY: Mapping[str, float] = {"us-east-1": 0.005, "eu-west-1": 0.005}
MIRROR_SESSION_HOURLY: Mapping[str, float] = {"us-east-1": 0.015, "eu-west-1": 0.015}
"""Per session (one per mirrored interface)."""
LAMBDA_PER_MILLION_REQUESTS: Mapping[str, float] = {"us-east-1": 0.20, "eu-west-1": 0.20}
LAMBDA_GB_SECOND: Mapping[str, float] = {"us-east-1": 0.0000166667, "eu-west-1": 0.0000166667}
LOGS_INGESTED_GB: Mapping[str, float] = {"us-east-1": 0.50, "eu-west-1": 0.57}

ROOT_VOLUME_GB = 8
"""The root volume cloudtap's instances get from the default image (Amazon Linux 2023: 8 GiB)."""


def price_region(region: str | None) -> str:
    """The region whose prices apply: ``region`` when the data has it, else the default."""
    return region if region is not None and region in INSTANCE_HOURLY else DEFAULT_REGION
