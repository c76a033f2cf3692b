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
    "elastic_load_balancing": "https://aws.amazon.com/elasticloadbalancing/pricing/",
    "gateway_load_balancer_endpoint": "https://aws.amazon.com/privatelink/pricing/",
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

LOAD_BALANCER_AS_OF = "2026-12-02"
"""The load balancer figures below: us-east-1 only (the list prices of the ELB and PrivateLink
pricing pages, as also tabulated by third-party price guides); other regions' were not
transcribed, so a fleet there shows them unpriced rather than guessed."""
NLB_HOURLY: Mapping[str, float] = {"us-east-1": 0.0225}
"""Per Network Load Balancer hour."""
NLCU_HOURLY: Mapping[str, float] = {"us-east-1": 0.006}
"""Per NLB capacity unit hour. For mirrored copies the processed-bytes dimension rules: one unit
per GB an hour (:data:`GB_PER_CAPACITY_UNIT_HOUR`; new and active UDP flows, the other two, are
few: one mirrored flow per source flow)."""
GWLB_HOURLY: Mapping[str, float] = {"us-east-1": 0.0125}
"""Per Gateway Load Balancer hour."""
GLCU_HOURLY: Mapping[str, float] = {"us-east-1": 0.004}
"""Per GWLB capacity unit hour: one per GB an hour, as for the NLB."""
GWLB_ENDPOINT_HOURLY: Mapping[str, float] = {"us-east-1": 0.01}
"""Per Gateway Load Balancer endpoint (one per zone) hour."""
GWLB_ENDPOINT_GB: Mapping[str, float] = {"us-east-1": 0.0035}
"""Per GB a Gateway Load Balancer endpoint processes."""
GB_PER_CAPACITY_UNIT_HOUR = 1.0
"""The processed-bytes dimension of an NLB's and a GWLB's capacity unit: 1 GB in an hour."""

ROOT_VOLUME_GB = 8
"""The root volume cloudtap's instances get from the default image (Amazon Linux 2023: 8 GiB)."""


def price_region(region: str | None) -> str:
    """The region whose prices apply: ``region`` when the data has it, else the default."""
    return region if region is not None and region in INSTANCE_HOURLY else DEFAULT_REGION
