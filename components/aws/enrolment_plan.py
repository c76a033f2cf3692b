"""The enrolment function's plan: which instances it mirrors, with what, under which policy.

Pure Python, no pulumi-aws: the ``enrol`` argument of the AWS MirrorSession checked into a plan,
the configuration the function reads (a JSON environment variable), the EventBridge pattern and
schedule, and its IAM policy document. :mod:`components.aws.enrolment` builds the resources; the
function itself is ``components/assets/enrolment/handler.py``.

Who owns what: the sessions Pulumi creates at ``up`` carry the user's tags and ``Name`` only; the
sessions the function creates carry ``cloudtap:owner=<project>/<stack>/<component>`` and
``cloudtap:enrolled-by=function``. The function reads every session but deletes only those with
its owner tag (its IAM policy allows nothing else), and never adds a session to an interface that
is already mirrored to the same target (a Pulumi session, or a session of another tool).
"""

from __future__ import annotations

import importlib.util
import ipaddress
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import CloudtapInputError
from ..fields import reject_unknown_fields
from ..mirror_plan import FilterScope
from ..mirroring import MirrorMethod
from ..network_plan import NetworkPlan, Tier
from ..shapes import SUBNET_ID_EXAMPLE, check_aws_tags, is_subnet_id

OWNER_TAG = "cloudtap:owner"
ENROLLED_BY_TAG = "cloudtap:enrolled-by"
ENROLLED_BY = "function"
OWNERSHIP_TAGS = frozenset({OWNER_TAG, ENROLLED_BY_TAG})

SCHEDULE = "rate(5 minutes)"
"""The reconcile that catches what EventBridge did not deliver (events are best effort)."""
STATES = ("running", "terminated")
LOG_RETENTION_DAYS = 30
FUNCTION_TIMEOUT_SECONDS = 120
CONFIG_VARIABLE = "CLOUDTAP_ENROL"
"""The environment variable holding the function's configuration (JSON)."""

FIELDS = frozenset({"tags", "subnets"})
TIERS = (Tier.PRIVATE, Tier.PUBLIC, Tier.MANAGEMENT)
"""Tiers the function may enrol: not the monitor tier, whose sensors receive the copies."""
DEFAULT_TIER = Tier.PRIVATE

EVENT_PATTERN: Mapping[str, Any] = {
    "source": ["aws.ec2"],
    "detail-type": ["EC2 Instance State-change Notification"],
    "detail": {"state": list(STATES)},
}


@dataclass(frozen=True)
class EnrolmentPlan:
    """What the function selects and how it mirrors it, checked at preview."""

    tags: Mapping[str, str]
    """Instances carrying every one of these tags (none: every instance in the subnets)."""
    tier: Tier | None
    """The network's tier whose subnets are selected, or ``None`` for ``subnet_ids``."""
    subnet_cidrs: tuple[ipaddress.IPv4Network, ...]
    """The tier's subnets (interfaces are selected by address when a tier is given)."""
    subnet_ids: tuple[str, ...]
    gateway_cidrs: tuple[ipaddress.IPv4Network, ...]
    """Where the gateway mirror copies north-south traffic; empty when it is off."""
    scopes: tuple[FilterScope, ...]
    """The filters the function may need: the component builds each one."""
    method: MirrorMethod
    """``auto``: an instance AWS cannot mirror is left to the gateway; ``native``: uncovered."""
    mirrorable_instance_types: tuple[str, ...]


def parse_enrol(
    value: Any,
    plan: NetworkPlan | None,
    method: MirrorMethod,
    mirrorable_instance_types: Collection[str],
) -> EnrolmentPlan | None:
    """``enrol`` (default: off): ``{tags: {...}, subnets: tier | [subnet ids]}``."""
    if value is None:
        return None
    field = "enrol"
    if not isinstance(value, Mapping):
        raise CloudtapInputError(
            field, value, "a mapping with tags and/or subnets ({} = the private tier, any tags)"
        )
    reject_unknown_fields(value, FIELDS, field)
    if method is MirrorMethod.GATEWAY:
        raise CloudtapInputError(
            field,
            dict(value),
            "no value with method gateway: the function creates Traffic Mirroring sessions "
            "(use method auto or native)",
        )
    tags = check_aws_tags(f"{field}.tags", value.get("tags"))
    tier, subnet_ids = _parse_subnets(value.get("subnets"), plan)
    subnet_cidrs = tuple(plan.subnets[tier]) if tier is not None and plan is not None else ()
    gateway_on = plan is not None and plan.gateway_mirror is not None
    gateway_cidrs = (
        tuple(plan.subnets[Tier.PRIVATE]) + tuple(plan.subnets[Tier.MONITOR])
        if gateway_on and plan is not None
        else ()
    )
    if not gateway_on:
        scopes: tuple[FilterScope, ...] = (FilterScope.ALL,)
    elif tier is Tier.PRIVATE:
        scopes = (FilterScope.EAST_WEST,)
    else:
        scopes = (FilterScope.ALL, FilterScope.EAST_WEST)
    return EnrolmentPlan(
        tags=tags,
        tier=tier,
        subnet_cidrs=subnet_cidrs,
        subnet_ids=subnet_ids,
        gateway_cidrs=gateway_cidrs,
        scopes=scopes,
        method=method,
        mirrorable_instance_types=tuple(sorted(mirrorable_instance_types)),
    )


def _parse_subnets(value: Any, plan: NetworkPlan | None) -> tuple[Tier | None, tuple[str, ...]]:
    field = "enrol.subnets"
    tiers = [t.value for t in TIERS]
    if value is None:
        if plan is None:
            raise CloudtapInputError(
                field,
                value,
                f"subnet ids such as [{SUBNET_ID_EXAMPLE}]: without a cloudtap network there is "
                "no tier to default to",
            )
        return DEFAULT_TIER, ()
    if isinstance(value, str):
        if value not in tiers:
            raise CloudtapInputError(
                field,
                value,
                f"one of the network's tiers {tiers} (not monitor: its sensors receive the "
                f"copies), or a list of subnet ids such as [{SUBNET_ID_EXAMPLE}]",
            )
        if plan is None:
            raise CloudtapInputError(
                field, value, "subnet ids: a tier needs the network (cloudtap's MonitoredVpc)"
            )
        return Tier(value), ()
    if not isinstance(value, Sequence) or not value:
        raise CloudtapInputError(
            field, value, f"a tier name {tiers} or a non-empty list of subnet ids"
        )
    for index, subnet in enumerate(value):
        if not is_subnet_id(subnet):
            raise CloudtapInputError(
                f"{field}[{index}]", subnet, f"a subnet id such as {SUBNET_ID_EXAMPLE}"
            )
    return None, tuple(dict.fromkeys(value))


def check_session_tags(tags: Mapping[str, str]) -> None:
    """The component's own sessions must never look like the function's."""
    for key in tags:
        if key in OWNERSHIP_TAGS:
            raise CloudtapInputError(
                f"tags.{key}",
                tags[key],
                f"no {key} tag with enrol: the enrolment function marks its own sessions with "
                f"{sorted(OWNERSHIP_TAGS)} and deletes what carries them",
            )


def function_config(
    plan: EnrolmentPlan,
    *,
    owner: str,
    vpc_id: str | None,
    target_id: str,
    filter_ids: Mapping[str, str],
    session_number: int,
    vni: int | None,
    packet_length: int | None,
    session_tags: Mapping[str, str],
    zone_target_ids: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The function's configuration (JSON-ready), every value resolved. ``zone_target_ids``:
    availability zone name -> that zone's mirror target (zone-local targets); ``target_id`` is
    then the first zone's, for an instance in a zone without one."""
    return {
        "owner": owner,
        "vpc_id": vpc_id,
        "tags": dict(plan.tags),
        "subnet_cidrs": [str(c) for c in plan.subnet_cidrs],
        "subnet_ids": list(plan.subnet_ids),
        "gateway_cidrs": [str(c) for c in plan.gateway_cidrs],
        "method": plan.method.value,
        "mirrorable_instance_types": list(plan.mirrorable_instance_types),
        "target_id": target_id,
        "filter_ids": dict(filter_ids),
        "session_number": session_number,
        "virtual_network_id": vni,
        "packet_length": packet_length,
        "session_tags": dict(session_tags),
        "zone_target_ids": dict(zone_target_ids or {}),
    }


def function_policy(
    *,
    owner: str,
    target_arn: str,
    filter_arns: Sequence[str],
    log_group_arn: str,
    zone_target_arns: Sequence[str] = (),
) -> dict[str, Any]:
    """The function's least-privilege policy: the calls its handler makes and no other.

    Describe calls take no resource-level permissions (``*`` is the only resource AWS accepts).
    Creating a session names four resources: any interface (the function's point is interfaces
    that do not exist yet), this component's target and filters only, and a new session that
    must carry the owner tags (``aws:RequestTag``). Deleting is allowed only on sessions that
    carry the owner tag (``aws:ResourceTag``). Logs go to the function's own group only.
    """
    ec2 = target_arn.rsplit(":", 1)[0]  # arn:<partition>:ec2:<region>:<account>
    sessions = f"{ec2}:traffic-mirror-session/*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadInstancesAndSessions",
                "Effect": "Allow",
                "Action": [
                    "ec2:DescribeInstances",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeTrafficMirrorSessions",
                ],
                "Resource": "*",
            },
            {
                "Sid": "MirrorAnyInterfaceToThisTargetOnly",
                "Effect": "Allow",
                "Action": "ec2:CreateTrafficMirrorSession",
                "Resource": [
                    f"{ec2}:network-interface/*",
                    *dict.fromkeys([target_arn, *zone_target_arns]),
                    *filter_arns,
                ],
            },
            {
                "Sid": "CreateOnlyOwnedSessions",
                "Effect": "Allow",
                "Action": "ec2:CreateTrafficMirrorSession",
                "Resource": sessions,
                "Condition": {
                    "StringEquals": {
                        f"aws:RequestTag/{OWNER_TAG}": owner,
                        f"aws:RequestTag/{ENROLLED_BY_TAG}": ENROLLED_BY,
                    }
                },
            },
            {
                "Sid": "TagSessionsOnlyWhenCreating",
                "Effect": "Allow",
                "Action": "ec2:CreateTags",
                "Resource": sessions,
                "Condition": {"StringEquals": {"ec2:CreateAction": "CreateTrafficMirrorSession"}},
            },
            {
                "Sid": "DeleteOnlyOwnedSessions",
                "Effect": "Allow",
                "Action": "ec2:DeleteTrafficMirrorSession",
                "Resource": sessions,
                "Condition": {"StringEquals": {f"aws:ResourceTag/{OWNER_TAG}": owner}},
            },
            {
                "Sid": "OwnLogGroupOnly",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [log_group_arn, f"{log_group_arn}:*"],
            },
        ],
    }


def handler_module() -> ModuleType:
    """The function's code (``components/assets/enrolment/handler.py``) as a module, for the
    destroy-time cleanup and the tests: the same file the function's archive ships."""
    path = Path(str(resources.files("components") / "assets" / "enrolment" / "handler.py"))
    spec = importlib.util.spec_from_file_location("cloudtap_enrolment_handler", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
