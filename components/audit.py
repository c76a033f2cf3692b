"""``python -m components.audit``: what a VPC's mirroring covers, and what it misses.

    python -m components.audit --vpc-id vpc-0123456789abcdef0 [--region eu-west-1]
        [--profile NAME] [--gateway-network 10.0.64.0/20 ...] [--mirrorable-instance-type m7i ...]

Read-only (Describe calls only). Prints one row per network interface of the VPC — ``native``,
``gateway`` (north-south only), ``UNCOVERED`` with the reason, ``target`` or ``not a source`` —
then every session whose target is gone and everything over AWS's quotas. Exit code 0 when every
source interface is covered and no session is broken, 1 otherwise (so a pipeline can run it),
2 for a usage or AWS error. ``--gateway-network``: the networks a cloudtap gateway mirror copies
(the monitored VPC's private and monitor subnets, when its ``gateway_mirror`` is on).
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from collections.abc import Sequence
from typing import Any

from .shapes import is_vpc_id


def _network(text: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not an IPv4 network: {text!r} ({error})") from None


def _vpc_id(text: str) -> str:
    if not is_vpc_id(text):
        raise argparse.ArgumentTypeError(f"not a VPC id such as vpc-0123456789abcdef0: {text!r}")
    return text


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(
        prog="python -m components.audit", description=__doc__.split("\n\n")[0]
    )
    parse.add_argument("--vpc-id", required=True, type=_vpc_id)
    parse.add_argument("--region", help="default: the environment's (AWS_REGION, profile)")
    parse.add_argument("--profile", help="default: the environment's credentials")
    parse.add_argument(
        "--gateway-network",
        action="append",
        type=_network,
        default=[],
        help="a network whose north-south traffic the gateway mirror copies (repeatable)",
    )
    parse.add_argument(
        "--mirrorable-instance-type",
        action="append",
        default=[],
        help="a type or family AWS mirrors although cloudtap's data says not (repeatable)",
    )
    return parse


def main(argv: Sequence[str] | None = None, *, ec2: Any = None) -> int:
    """Run the audit; ``ec2``: a boto3 EC2 client (default: from ``--region``/``--profile``)."""
    args = parser().parse_args(argv)
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    from .aws.audit import audit_vpc, render_table  # noqa: PLC0415

    try:
        if ec2 is None:
            import boto3  # noqa: PLC0415

            session = boto3.session.Session(region_name=args.region, profile_name=args.profile)
            ec2 = session.client("ec2")
        report = audit_vpc(
            ec2,
            args.vpc_id,
            gateway_networks=args.gateway_network,
            mirrorable_instance_types=args.mirrorable_instance_type,
        )
    except (BotoCoreError, ClientError) as error:
        print(f"audit failed: AWS said: {error}", file=sys.stderr)
        return 2
    print(render_table(report))
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
