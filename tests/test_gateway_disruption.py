"""The preview's one-line warning when an update takes the `single` gateway down: the running
gateway (found by its ENI) compared with what the program asks for."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pulumi
import pytest

from components import MonitoredVpc
from components.aws.gateway_disruption import (
    RunningGateway,
    WantedGateway,
    disruption_warning,
    disruptions,
    user_data_sha1,
)
from components.replacement_warning import ENGINE_REPLACES
from tests.mocks import StrictMocks, run_program

ENI_TYPE = "aws:ec2/networkInterface:NetworkInterface"
INSTANCE_TYPE = "aws:ec2/instance:Instance"
LOOKUPS = ("aws:ec2/getInstances:getInstances", "aws:ec2/getInstance:getInstance")
USER_DATA = base64.b64encode(b"\x1f\x8b gzip bytes of the boot config").decode()

RUNNING = RunningGateway(
    instance_id="i-0123456789abcdef0",
    ami="ami-0aaaaaaaaaaaaaaaa",
    instance_type="t3.micro",
    key_name="",
    user_data_sha1=user_data_sha1(USER_DATA),
)
SAME = WantedGateway(ami=None, instance_type="t3.micro", key_name="", user_data_base64=USER_DATA)


def test_the_user_data_hash_is_the_providers_sha1_of_the_decoded_bytes() -> None:
    # terraform-provider-aws's userDataHashSum: base64-decode what EC2 returns, SHA-1, hex.
    assert user_data_sha1(USER_DATA) == hashlib.sha1(base64.b64decode(USER_DATA)).hexdigest()
    assert user_data_sha1(USER_DATA) != hashlib.sha1(USER_DATA.encode()).hexdigest()


def test_nothing_changed_is_no_disruption() -> None:
    assert disruptions(RUNNING, SAME) == ()


def test_a_newer_default_image_is_no_disruption_because_a_running_gateway_ignores_it() -> None:
    # Unpinned: the program's image is whatever is newest, and ignore_changes keeps the old one.
    assert disruptions(RUNNING, SAME) == ()
    pinned_same = WantedGateway(**{**SAME.__dict__, "ami": RUNNING.ami})
    assert disruptions(RUNNING, pinned_same) == ()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"ami": "ami-0bbbbbbbbbbbbbbbb"}, "image ami-0aaaaaaaaaaaaaaaa -> ami-0bbbbbbbbbbbbbbbb"),
        ({"user_data_base64": base64.b64encode(b"other").decode()}, "new user data"),
        ({"key_name": "ops"}, "key pair (none) -> ops replaces it"),
        ({"instance_type": "t3.small"}, "instance type t3.micro -> t3.small stops and starts it"),
    ],
)
def test_each_cause_is_named(change: dict[str, Any], expected: str) -> None:
    wanted = WantedGateway(**{**SAME.__dict__, **change})
    (cause,) = disruptions(RUNNING, wanted)
    assert expected in cause


def test_the_warning_is_one_line_naming_the_instance_the_causes_and_the_way_out() -> None:
    line = disruption_warning("cloudtap", RUNNING.instance_id, ("a", "b"))
    assert "\n" not in line
    assert (
        "cloudtap: this update takes the single gateway i-0123456789abcdef0 down: a; b: the" in line
    )
    assert "gateway_strategy one_per_zone" in line


def preview(
    mocks: StrictMocks, monkeypatch: pytest.MonkeyPatch, args: dict[str, Any] | None = None
) -> tuple[list[str], MonitoredVpc, Any]:
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *_, **__: warnings.append(message))
    run = run_program(lambda: MonitoredVpc("cloudtap", args), mocks, preview=True)  # type: ignore[arg-type]
    return warnings, run.result, run


def deployed_like_this_program(
    mocks: StrictMocks, monkeypatch: pytest.MonkeyPatch, **changes: Any
) -> StrictMocks:
    """Fresh mocks whose account runs the gateway this program would boot, with ``changes``."""
    _, _, first = preview(mocks, monkeypatch)
    instance = first.named("cloudtap-gateway").inputs
    again = StrictMocks()
    again.deploy_instance(
        ENI_TYPE,
        "cloudtap-gateway-eni",
        **{
            "ami": "ami-0aaaaaaaaaaaaaaaa",
            "instanceType": instance["instanceType"],
            "keyName": "",
            "userData": user_data_sha1(instance["userDataBase64"]),
            **changes,
        },
    )
    return again


def test_a_first_deployment_looks_for_a_holder_of_the_eni_and_warns_of_nothing(
    mocks: StrictMocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    warnings, vpc, run = preview(mocks, monkeypatch)
    assert warnings == []
    assert run.resolve(vpc.gateway_disruption) == []
    tokens = [call.token for call in run.invocations]
    assert tokens.count(LOOKUPS[0]) == 1
    assert LOOKUPS[1] not in tokens


def test_the_same_gateway_again_is_no_warning(
    mocks: StrictMocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    again = deployed_like_this_program(mocks, monkeypatch)
    warnings, vpc, run = preview(again, monkeypatch)
    assert warnings == []
    assert run.resolve(vpc.gateway_disruption) == []
    assert [call.token for call in run.invocations].count(LOOKUPS[1]) == 1


def test_new_boot_files_on_the_running_gateway_warn_in_one_line(
    mocks: StrictMocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    again = deployed_like_this_program(mocks, monkeypatch, userData="0" * 40)
    warnings, vpc, run = preview(again, monkeypatch)
    (instance_id,) = [entry["id"] for entry in again.deployed_instances.values()]
    assert len(warnings) == 1
    assert f"takes the single gateway {instance_id} down: new user data" in warnings[0]
    assert len(run.resolve(vpc.gateway_disruption)) == 1


def test_another_instance_type_warns_that_it_stops_and_starts(
    mocks: StrictMocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    again = deployed_like_this_program(mocks, monkeypatch)
    warnings, _, _ = preview(again, monkeypatch, {"gateway_instance_type": "t3.medium"})
    assert len(warnings) == 1
    assert "instance type t3.small -> t3.medium stops and starts it" in warnings[0]


def test_a_pinned_image_other_than_the_running_one_warns(
    mocks: StrictMocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    again = deployed_like_this_program(mocks, monkeypatch)
    warnings, _, _ = preview(again, monkeypatch, {"gateway_ami_id": "ami-0bbbbbbbbbbbbbbbb"})
    assert len(warnings) == 1
    assert "image ami-0aaaaaaaaaaaaaaaa -> ami-0bbbbbbbbbbbbbbbb replaces it" in warnings[0]


def test_the_update_itself_looks_nothing_up(mocks: StrictMocks) -> None:
    run = run_program(lambda: MonitoredVpc("cloudtap"), mocks, preview=False)
    assert run.result.gateway_disruption is None
    assert not {call.token for call in run.invocations} & set(LOOKUPS)


def test_one_per_zone_gateways_are_replaced_before_they_break_and_are_not_looked_up(
    mocks: StrictMocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    warnings, vpc, run = preview(mocks, monkeypatch, {"gateway_strategy": "one_per_zone"})
    assert vpc.gateway_disruption is None
    assert not {call.token for call in run.invocations} & set(LOOKUPS)
    assert not [line for line in warnings if "takes the single gateway" in line]


def test_a_replacement_ec2_cannot_explain_is_still_warned_because_the_engine_gives_no_id(
    mocks: StrictMocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Same image, user data, key and type, but the engine replaces the instance anyway (a
    # provider replace rule, `--replace`): it registers it without an id at preview.
    again = deployed_like_this_program(mocks, monkeypatch)
    again.recreated.add("cloudtap-gateway")
    warnings, vpc, run = preview(again, monkeypatch)
    assert len(warnings) == 1
    assert "creates the gateway instance anew, replacing the running one" in warnings[0]
    assert "gateway_strategy one_per_zone" in warnings[0]
    assert run.resolve(vpc.gateway_disruption) == [ENGINE_REPLACES]


def test_an_instance_made_anew_where_no_gateway_holds_the_eni_is_no_warning(
    mocks: StrictMocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The old instance is already gone (terminated outside Pulumi): nothing more to take down.
    mocks.recreated.add("cloudtap-gateway")
    warnings, vpc, run = preview(mocks, monkeypatch)
    assert warnings == []
    assert run.resolve(vpc.gateway_disruption) == []
