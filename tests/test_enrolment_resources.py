"""The enrolment function's resource graph under the strict mocks, and its destroy-time cleanup."""

from __future__ import annotations

import json
import re
import runpy
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from components import CloudtapInputError
from components.aws.enrolment import CleanupProvider
from components.aws.enrolment_plan import ENROLLED_BY_TAG, OWNER_TAG, handler_module
from tests.fakes.aws import LEGACY, WEB, FakeAws, mirror
from tests.mocks import ACCOUNT, REGION, ProgramRun, StrictMocks, run_program

ROOT = Path(__file__).resolve().parent.parent

OWNER = "cloudtap/test/mirror"
ENROL = {"tags": {"team": "web"}}


def enrolled(mocks: StrictMocks, **extra: Any) -> ProgramRun[Any]:
    args = {"target": {"sensor": True}, "sources": [], "enrol": ENROL, **extra}
    return mirror(mocks, args, network={"gateway_mirror": {}}, sensor={})


def test_the_function_its_triggers_and_its_log_group_are_children_of_the_mirror(
    mocks: StrictMocks,
) -> None:
    run = enrolled(mocks)
    component = run.named("mirror")
    names = {r.name for r in run.children_of(component.urn) if "enrol" in r.name}
    assert names == {
        f"mirror-enrol-{suffix}"
        for suffix in (
            "logs",
            "role",
            "policy",
            "function",
            "events",
            "schedule",
            "events-permission",
            "schedule-permission",
            "events-target",
            "schedule-target",
            "cleanup",
        )
    }
    assert run.named("mirror-enrol-logs").inputs["retentionInDays"] == 30
    assert run.named("mirror-enrol-schedule").inputs["scheduleExpression"] == "rate(5 minutes)"
    assert json.loads(run.named("mirror-enrol-events").inputs["eventPattern"]) == {
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Instance State-change Notification"],
        "detail": {"state": ["running", "terminated"]},
    }


def test_the_function_runs_the_package_s_handler_with_its_configuration(
    mocks: StrictMocks,
) -> None:
    run = enrolled(mocks, virtual_network_id=77, tags={"project": "p"})
    function = run.named("mirror-enrol-function")
    inputs = function.inputs
    assert inputs["runtime"] == "python3.12"
    assert inputs["handler"] == "handler.handler"
    assert inputs["reservedConcurrentExecutions"] == 1
    assert inputs["role"] == run.named("mirror-enrol-role").state["arn"]
    assert inputs["loggingConfig"]["logGroup"] == run.named("mirror-enrol-logs").id
    assets = inputs["code"].assets
    assert sorted(assets) == ["handler.py", "mirror_support.json"]
    assert assets["handler.py"].path.endswith("components/assets/enrolment/handler.py")
    config = json.loads(inputs["environment"]["variables"]["CLOUDTAP_ENROL"])
    assert config["owner"] == OWNER
    assert config["target_id"] == run.named("mirror-target").id
    # The gateway mirror is on and the private tier is enrolled: east-west copies only.
    assert config["filter_ids"] == {"east-west": run.named("mirror-filter").id}
    assert config["vpc_id"] == run.named("net-vpc").id
    assert config["tags"] == {"team": "web"}
    assert config["subnet_cidrs"] == ["10.0.64.0/20", "10.0.80.0/20"]
    assert config["gateway_cidrs"] == [
        "10.0.64.0/20",
        "10.0.80.0/20",
        "10.0.128.0/20",
        "10.0.144.0/20",
    ]
    assert config["virtual_network_id"] == 77
    assert config["session_tags"] == {"project": "p"}
    urns = {r.name: r.urn for r in run.resources}
    assert urns["mirror-enrol-policy"] in function.dependencies


def test_the_role_is_for_lambda_only(mocks: StrictMocks) -> None:
    run = enrolled(mocks)
    policy = json.loads(run.named("mirror-enrol-role").inputs["assumeRolePolicy"])
    assert policy["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]


def test_the_policy_allows_each_call_the_handler_makes_and_scopes_it_by_tag(
    mocks: StrictMocks,
) -> None:
    run = enrolled(mocks)
    registration = run.named("mirror-enrol-policy")
    assert registration.inputs["role"] == run.named("mirror-enrol-role").id
    statements = {s.pop("Sid"): s for s in json.loads(registration.inputs["policy"])["Statement"]}
    ec2 = f"arn:aws:ec2:{REGION}:{ACCOUNT}"
    target = run.named("mirror-target").state["arn"]
    mirror_filter = run.named("mirror-filter").state["arn"]
    log_group = run.named("mirror-enrol-logs").state["arn"]
    assert statements == {
        "ReadInstancesAndSessions": {
            "Effect": "Allow",
            "Action": [
                "ec2:DescribeInstances",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeTrafficMirrorSessions",
            ],
            "Resource": "*",
        },
        "MirrorAnyInterfaceToThisTargetOnly": {
            "Effect": "Allow",
            "Action": "ec2:CreateTrafficMirrorSession",
            "Resource": [f"{ec2}:network-interface/*", target, mirror_filter],
        },
        "CreateOnlyOwnedSessions": {
            "Effect": "Allow",
            "Action": "ec2:CreateTrafficMirrorSession",
            "Resource": f"{ec2}:traffic-mirror-session/*",
            "Condition": {
                "StringEquals": {
                    f"aws:RequestTag/{OWNER_TAG}": OWNER,
                    f"aws:RequestTag/{ENROLLED_BY_TAG}": "function",
                }
            },
        },
        "TagSessionsOnlyWhenCreating": {
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": f"{ec2}:traffic-mirror-session/*",
            "Condition": {"StringEquals": {"ec2:CreateAction": "CreateTrafficMirrorSession"}},
        },
        "DeleteOnlyOwnedSessions": {
            "Effect": "Allow",
            "Action": "ec2:DeleteTrafficMirrorSession",
            "Resource": f"{ec2}:traffic-mirror-session/*",
            "Condition": {"StringEquals": {f"aws:ResourceTag/{OWNER_TAG}": OWNER}},
        },
        "OwnLogGroupOnly": {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [log_group, f"{log_group}:*"],
        },
    }


def test_the_handler_makes_no_call_the_policy_does_not_name() -> None:
    text = Path(handler_module().__file__ or "").read_text()
    calls = {
        "describe_instances": "ec2:DescribeInstances",
        "describe_network_interfaces": "ec2:DescribeNetworkInterfaces",
        "describe_traffic_mirror_sessions": "ec2:DescribeTrafficMirrorSessions",
        "create_traffic_mirror_session": "ec2:CreateTrafficMirrorSession",
        "delete_traffic_mirror_session": "ec2:DeleteTrafficMirrorSession",
    }
    made = set(re.findall(r'"(describe_[a-z_]+|create_[a-z_]+|delete_[a-z_]+)"', text))
    made |= set(re.findall(r"ec2\.([a-z_]+)\(", text)) - {"get_paginator"}
    assert made == set(calls)


def test_each_rule_invokes_the_function_with_its_own_permission(mocks: StrictMocks) -> None:
    run = enrolled(mocks)
    function = run.named("mirror-enrol-function")
    cleanup = run.named("mirror-enrol-cleanup")
    for key in ("events", "schedule"):
        rule = run.named(f"mirror-enrol-{key}")
        permission = run.named(f"mirror-enrol-{key}-permission").inputs
        assert permission == {
            "action": "lambda:InvokeFunction",
            "function": function.id,
            "principal": "events.amazonaws.com",
            "sourceArn": rule.state["arn"],
        }
        target = run.named(f"mirror-enrol-{key}-target")
        assert target.inputs == {"rule": rule.id, "arn": function.state["arn"]}
        # Destroy deletes the triggers before the cleanup removes the function's sessions.
        assert cleanup.urn in target.dependencies


def test_the_cleanup_runs_before_the_target_and_filters_are_deleted(mocks: StrictMocks) -> None:
    run = enrolled(mocks)
    cleanup = run.named("mirror-enrol-cleanup")
    assert run.named("mirror-target").urn in cleanup.dependencies
    assert run.named("mirror-filter").urn in cleanup.dependencies
    assert cleanup.inputs["owner"] == OWNER
    assert cleanup.inputs["region"] == REGION


def test_the_cleanup_s_delete_removes_the_function_s_sessions_only(
    fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    ec2 = fake_aws.ec2
    _, enis = fake_aws.instance()
    target = ec2.create_traffic_mirror_target(
        NetworkInterfaceId=ec2.create_network_interface(SubnetId=fake_aws.subnets["10.0.0.0/20"])[
            "NetworkInterface"
        ]["NetworkInterfaceId"]
    )["TrafficMirrorTarget"]["TrafficMirrorTargetId"]
    mirror_filter = ec2.create_traffic_mirror_filter()["TrafficMirrorFilter"][
        "TrafficMirrorFilterId"
    ]

    def session(number: int, owner: str | None) -> str:
        tags = [{"Key": OWNER_TAG, "Value": owner}] if owner else [{"Key": "Name", "Value": "p"}]
        return str(
            ec2.create_traffic_mirror_session(
                NetworkInterfaceId=enis[0],
                TrafficMirrorTargetId=target,
                TrafficMirrorFilterId=mirror_filter,
                SessionNumber=number,
                TagSpecifications=[{"ResourceType": "traffic-mirror-session", "Tags": tags}],
            )["TrafficMirrorSession"]["TrafficMirrorSessionId"]
        )

    mine = session(1, "cloudtap/cleanup-test/mirror")
    pulumis = session(2, None)
    others = session(3, "cloudtap/other-stack/mirror")
    CleanupProvider().delete("id", {"owner": "cloudtap/cleanup-test/mirror", "region": REGION})
    left = {
        s["TrafficMirrorSessionId"]
        for s in ec2.describe_traffic_mirror_sessions()["TrafficMirrorSessions"]
    }
    assert mine not in left
    assert {pulumis, others} <= left


def test_pulumi_s_own_sessions_never_carry_the_owner_tags(mocks: StrictMocks) -> None:
    run = mirror(
        mocks,
        {"target": {"sensor": True}, "sources": [WEB], "enrol": ENROL},
        network={},
        sensor={},
    )
    session = run.named("mirror-web-1")
    assert not set(session.inputs["tags"]) & {OWNER_TAG, ENROLLED_BY_TAG}
    config = json.loads(
        run.named("mirror-enrol-function").inputs["environment"]["variables"]["CLOUDTAP_ENROL"]
    )
    assert config["filter_ids"] == {"all": run.named("mirror-filter").id}


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"enrol": {"tag": {}}}, "enrol.tag"),
        ({"enrol": "private"}, "enrol"),
        ({"enrol": {"subnets": "monitor"}}, "enrol.subnets"),
        ({"enrol": {"subnets": ["subnet-1"]}}, "enrol.subnets[0]"),
        ({"enrol": {"subnets": []}}, "enrol.subnets"),
        ({"enrol": {"tags": {"aws:x": "y"}}}, "enrol.tags"),
        ({"enrol": {}, "method": "gateway"}, "enrol"),
        ({"enrol": {}, "tags": {OWNER_TAG: "x"}}, f"tags.{OWNER_TAG}"),
        ({"enrol": {}, "mirrorable_instance_types": ["t2 "]}, "mirrorable_instance_types[0]"),
        ({"enrol": {}, "mirrorable_instance_types": "t2"}, "mirrorable_instance_types"),
    ],
)
def test_bad_enrol_input_fails_before_anything_is_registered(
    mocks: StrictMocks, extra: dict[str, Any], field: str
) -> None:
    args = {"target": {"sensor": True}, "sources": [], **extra}
    with pytest.raises(CloudtapInputError) as error:
        mirror(mocks, args, network={"gateway_mirror": {}}, sensor={})
    assert error.value.field.startswith(field), error.value
    assert not [r for r in mocks.registrations if r.name.startswith("mirror")]


def test_without_enrol_sources_are_still_required(mocks: StrictMocks) -> None:
    with pytest.raises(CloudtapInputError) as error:
        mirror(mocks, {"target": {"sensor": True}, "sources": []}, network={}, sensor={})
    assert error.value.field == "sources"


def test_the_override_mirrors_a_type_the_data_refuses_and_the_preview_says_so(
    mocks: StrictMocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines: list[str] = []
    monkeypatch.setattr(
        pulumi.log,
        "info",
        lambda message, *_, **__: (
            None if message.startswith("sensor IDS:") else lines.append(message)
        ),
    )
    run = mirror(
        mocks,
        {
            "target": {"sensor": True},
            "sources": [LEGACY],
            "method": "native",
            "mirrorable_instance_types": ["t2"],
        },
        network={},
        sensor={},
    )
    assert (
        run.named("mirror-legacy-1").inputs["networkInterfaceId"]
        == LEGACY["network_interface_ids"][0]
    )
    assert len(lines) == 1
    assert "t2.micro is in mirrorable_instance_types, which overrides cloudtap's data" in lines[0]
    assert lines[0].endswith("(instance-type data of 2026-11-21)")


def test_a_stack_may_enrol_without_any_source(monkeypatch: pytest.MonkeyPatch) -> None:
    config = yaml.safe_load((ROOT / "stacks" / "Pulumi.aws-gateway.yaml").read_text())["config"]
    config["cloudtap:mirror"] = {"method": "auto", "enrol": {"tags": {"team": "web"}}}
    lines: list[str] = []
    monkeypatch.setattr(
        pulumi.log,
        "info",
        lambda message, *_, **__: (
            None if message.startswith("sensor IDS:") else lines.append(message)
        ),
    )
    run = run_program(
        lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__"),
        StrictMocks(),
        config=config,
    )
    assert not run.of_type("aws:ec2/trafficMirrorSession:TrafficMirrorSession")
    function = run.named("cloudtap-mirror-enrol-function")
    config_json = json.loads(function.inputs["environment"]["variables"]["CLOUDTAP_ENROL"])
    assert config_json["owner"] == "cloudtap/test/cloudtap-mirror"
    assert config_json["target_id"] == run.named("cloudtap-mirror-target").id
    assert (
        run.named("cloudtap-mirror-target").inputs["networkInterfaceId"]
        == run.named("cloudtap-sensor-eni").id
    )
    assert run.exports["mirror_enrolment_function"] == function.id
    (cost,) = [line for line in lines if line.startswith("cost estimate")]
    assert "enrolment function $0.05" in cost


def test_a_bad_enrol_in_a_stack_registers_nothing(mocks: StrictMocks) -> None:
    config = yaml.safe_load((ROOT / "stacks" / "Pulumi.aws-gateway.yaml").read_text())["config"]
    config["cloudtap:mirror"] = {"enrol": {"subnets": "monitor"}}
    with pytest.raises(CloudtapInputError) as error:
        run_program(
            lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__"),
            mocks,
            config=config,
        )
    assert error.value.field == "cloudtap:mirror.enrol.subnets"
    assert mocks.registrations == []
