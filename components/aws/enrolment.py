"""The enrolment function's resources: what keeps mirroring up with instances launched later.

Built by the AWS MirrorSession when ``enrol`` is given (:mod:`.enrolment_plan` plans it), as its
children, named ``{name}-enrol-...``:

- ``-logs``: the function's log group, 30 days' retention;
- ``-role`` and ``-policy``: a role only Lambda may assume, with an inline least-privilege policy
  (:func:`~.enrolment_plan.function_policy`);
- ``-function``: Python, the handler file of the package as an asset archive with the preview's
  instance-type data beside it, reserved concurrency 1 (invocations never race);
- ``-events`` (EC2 instance state changes to running or terminated) and ``-schedule``
  (``rate(5 minutes)``) rules, each with its ``-target`` and its ``-permission``;
- ``-cleanup``: at ``pulumi destroy``, removes every session the function owns. It depends on
  the mirror target and filters, so it is deleted (and the sessions removed) before them, and
  the rules' targets depend on it, so nothing invokes the function any more by then.

What destroy cannot rule out: an invocation already running when the rules' targets go (at most
one, for at most the function's timeout) may create a session after the cleanup ran; deleting
the mirror target then fails naming that session, and running ``pulumi destroy`` again after
deleting it (``aws ec2 delete-traffic-mirror-session``) finishes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import pulumi
import pulumi.dynamic
import pulumi_aws as aws

from .enrolment_plan import (
    CONFIG_VARIABLE,
    EVENT_PATTERN,
    FUNCTION_TIMEOUT_SECONDS,
    LOG_RETENTION_DAYS,
    SCHEDULE,
    EnrolmentPlan,
    function_config,
    function_policy,
    handler_module,
)

RUNTIME = "python3.12"
HANDLER = "handler.handler"
MEMORY_MB = 128
ASSET_FILES = ("handler.py", "mirror_support.json")


@dataclass(frozen=True)
class Enrolment:
    """The enrolment function and what invokes it."""

    log_group: aws.cloudwatch.LogGroup
    role: aws.iam.Role
    policy: aws.iam.RolePolicy
    function: aws.lambda_.Function
    rules: dict[str, aws.cloudwatch.EventRule]
    """``"events"``, ``"schedule"`` -> rule."""
    cleanup: EnrolmentCleanup


def owner_of(name: str) -> str:
    """The ``cloudtap:owner`` value of the component's function: unique per stack."""
    return f"{pulumi.get_project()}/{pulumi.get_stack()}/{name}"


def code_archive() -> pulumi.AssetArchive:
    """The handler and the instance-type data, from the package's files."""
    folder = resources.files("components") / "assets" / "enrolment"
    return pulumi.AssetArchive({f: pulumi.FileAsset(str(folder / f)) for f in ASSET_FILES})


def build_enrolment(
    name: str,
    plan: EnrolmentPlan,
    *,
    parent: pulumi.Resource,
    target: aws.ec2.TrafficMirrorTarget,
    filters: Mapping[str, aws.ec2.TrafficMirrorFilter],
    vpc_id: pulumi.Input[str] | None,
    session_number: int,
    vni: int | None,
    packet_length: int | None,
    session_tags: Mapping[str, str],
    tags: Mapping[str, str],
    zone_targets: Sequence[tuple[pulumi.Input[str], aws.ec2.TrafficMirrorTarget]] = (),
) -> Enrolment:
    """The function's resources, children of ``parent``; ``filters`` by scope value.
    ``zone_targets``: (availability zone name, its target) per zone with zone-local targets:
    the function then mirrors an instance to its own zone's target."""
    prefix = f"{name}-enrol"
    owner = owner_of(name)
    child = pulumi.ResourceOptions(parent=parent)

    def tagged(child_name: str) -> dict[str, str]:
        return {**tags, "Name": child_name}

    log_group = aws.cloudwatch.LogGroup(
        f"{prefix}-logs",
        retention_in_days=LOG_RETENTION_DAYS,
        tags=tagged(f"{prefix}-logs"),
        opts=child,
    )
    principal = aws.get_service_principal_output(
        service_name="lambda", opts=pulumi.InvokeOutputOptions(parent=parent)
    )
    role = aws.iam.Role(
        f"{prefix}-role",
        description=f"cloudtap {name}: the enrolment function",
        assume_role_policy=principal.apply(lambda result: _assume_role_policy(result.name)),
        tags=tagged(f"{prefix}-role"),
        opts=child,
    )
    scopes = sorted(filters)
    policy = aws.iam.RolePolicy(
        f"{prefix}-policy",
        role=role.name,
        policy=pulumi.Output.all(
            target.arn,
            log_group.arn,
            *(filters[s].arn for s in scopes),
            *(zone_target.arn for _, zone_target in zone_targets),
        ).apply(
            lambda arns: json.dumps(
                function_policy(
                    owner=owner,
                    target_arn=arns[0],
                    log_group_arn=arns[1],
                    filter_arns=list(arns[2 : 2 + len(scopes)]),
                    zone_target_arns=list(arns[2 + len(scopes) :]),
                )
            )
        ),
        opts=child,
    )
    zone_count = len(zone_targets)
    config = pulumi.Output.all(
        vpc_id,
        target.id,
        *(filters[s].id for s in scopes),
        *(zone for zone, _ in zone_targets),
        *(zone_target.id for _, zone_target in zone_targets),
    ).apply(
        lambda values: json.dumps(
            function_config(
                plan,
                owner=owner,
                vpc_id=values[0],
                target_id=values[1],
                filter_ids=dict(zip(scopes, values[2 : 2 + len(scopes)], strict=True)),
                session_number=session_number,
                vni=vni,
                packet_length=packet_length,
                session_tags=session_tags,
                zone_target_ids=dict(
                    zip(
                        values[2 + len(scopes) : 2 + len(scopes) + zone_count],
                        values[2 + len(scopes) + zone_count :],
                        strict=True,
                    )
                ),
            ),
            sort_keys=True,
        )
    )
    function = aws.lambda_.Function(
        f"{prefix}-function",
        description=f"cloudtap {name}: mirror sessions for instances launched after up",
        runtime=RUNTIME,
        handler=HANDLER,
        code=code_archive(),
        role=role.arn,
        timeout=FUNCTION_TIMEOUT_SECONDS,
        memory_size=MEMORY_MB,
        reserved_concurrent_executions=1,
        environment={"variables": {CONFIG_VARIABLE: config}},
        logging_config={"log_format": "Text", "log_group": log_group.name},
        tags=tagged(f"{prefix}-function"),
        # The policy first: the first invocation must not fail for lack of permissions.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[policy, log_group]),
    )
    cleanup = EnrolmentCleanup(
        f"{prefix}-cleanup",
        owner=owner,
        region=target.arn.apply(lambda arn: arn.split(":")[3]),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[target, *filters.values()]),
    )
    rules = {
        "events": aws.cloudwatch.EventRule(
            f"{prefix}-events",
            description=f"cloudtap {name}: EC2 instances starting or terminating",
            event_pattern=json.dumps(EVENT_PATTERN),
            tags=tagged(f"{prefix}-events"),
            opts=child,
        ),
        "schedule": aws.cloudwatch.EventRule(
            f"{prefix}-schedule",
            description=f"cloudtap {name}: reconcile, for events never delivered",
            schedule_expression=SCHEDULE,
            tags=tagged(f"{prefix}-schedule"),
            opts=child,
        ),
    }
    for key, rule in rules.items():
        permission = aws.lambda_.Permission(
            f"{prefix}-{key}-permission",
            action="lambda:InvokeFunction",
            function=function.name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{prefix}-{key}-target",
            rule=rule.name,
            arn=function.arn,
            # Deleted before the cleanup runs: nothing invokes the function after it.
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[permission, cleanup]),
        )
    return Enrolment(log_group, role, policy, function, rules, cleanup)


def _assume_role_policy(lambda_principal: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": lambda_principal},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


class CleanupProvider(pulumi.dynamic.ResourceProvider):
    """Nothing at create; at delete, every session the owner's function created is deleted
    (through the same handler code the function runs)."""

    def create(self, props: Any) -> pulumi.dynamic.CreateResult:
        return pulumi.dynamic.CreateResult(id_=str(props["owner"]), outs=dict(props))

    def update(self, _id: str, _olds: Any, news: Any) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult(outs=dict(news))

    def delete(self, _id: str, props: Any) -> None:
        import boto3  # noqa: PLC0415 - only at destroy

        ec2 = boto3.session.Session(region_name=str(props["region"])).client("ec2")
        handler_module().remove_owned(ec2, str(props["owner"]))


class EnrolmentCleanup(pulumi.dynamic.Resource):
    """Removes the function's sessions when deleted (``pulumi destroy``, or ``enrol`` dropped)."""

    def __init__(
        self,
        name: str,
        *,
        owner: str,
        region: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(CleanupProvider(), name, {"owner": owner, "region": region}, opts)
