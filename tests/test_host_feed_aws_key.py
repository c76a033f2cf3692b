"""A ``tls`` host's key on AWS (``aws_host_roles``): an SSM SecureString that only its instance's
role may read, kept out of its user-data part, and fetched at each start of the feed by the
fetcher's AWS half (against a loopback IMDSv2 and SSM: never an AWS address)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from components.cloud_config import written_files
from components.errors import CloudtapInputError
from components.host_feed import CERT_DIR, KEY_DROP_IN_PATH
from components.host_feeds import HostFeeds, HostFeedsArgs
from components.settings_delivery import AWS_HALF_PATH, FETCHER_PATH
from tests.cloud_init import assert_valid_cloud_config
from tests.mocks import StrictMocks, run_program
from tests.test_settings_fetcher import AWS_HALF, FETCHER, FakeAws, fake_aws  # noqa: F401

ARGS: HostFeedsArgs = {
    "sensor_address": "10.0.128.10",
    "hosts": {"web-1": {"transport": "tls"}, "web-2": {"transport": "tls"}},
    "host_cidrs": ["10.0.64.0/20"],
    "aws_host_roles": {"web-1": "web-1-role"},
}
PARAMETER = "/cloudtap/cloudtap/test/feeds/web-1/hostfeed-key"
KEY = (
    "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n"
    "-----END PRIVATE KEY-----\n"
)


def test_the_key_goes_to_a_securestring_its_role_alone_reads(mocks: StrictMocks) -> None:
    run = run_program(lambda: HostFeeds("feeds", ARGS), mocks)
    (credentials,) = run.of_type("pulumi-python:dynamic:Resource")
    (parameter,) = run.of_type("aws:ssm/parameter:Parameter")
    assert parameter.name == "feeds-web-1-key"
    assert (parameter.inputs["name"], parameter.inputs["type"]) == (PARAMETER, "SecureString")
    value = parameter.inputs["value"]
    assert isinstance(value, dict)  # the engine's secret envelope
    assert value["value"] == credentials.state["host_keys"]["web-1"]
    (policy,) = run.of_type("aws:iam/rolePolicy:RolePolicy")
    assert policy.inputs["role"] == "web-1-role"
    statement = json.loads(policy.inputs["policy"])["Statement"]
    assert statement == [
        {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": parameter.state["arn"]}
    ]


def test_the_part_carries_the_fetcher_and_no_key(mocks: StrictMocks) -> None:
    run = run_program(lambda: HostFeeds("feeds", ARGS), mocks)
    parts = run.resolve(run.result.user_data_parts)
    fetched = written_files(parts["web-1"])
    assert_valid_cloud_config(parts["web-1"])
    assert f"{CERT_DIR}/host.key" not in fetched
    (credentials,) = run.of_type("pulumi-python:dynamic:Resource")
    key_body = credentials.state["host_keys"]["web-1"].splitlines()[1]
    assert key_body not in parts["web-1"]
    assert {FETCHER_PATH, AWS_HALF_PATH, KEY_DROP_IN_PATH} <= set(fetched)
    assert f"host-key {PARAMETER}\n" in fetched[KEY_DROP_IN_PATH].content
    # A host without a role keeps its key in its (secret) part.
    assert f"{CERT_DIR}/host.key" in written_files(parts["web-2"])


@pytest.mark.parametrize(
    ("roles", "field"),
    [({"db-1": "r"}, "aws_host_roles.db-1"), ("web-1-role", "aws_host_roles")],
)
def test_roles_of_hosts_without_tls_are_refused(mocks: StrictMocks, roles: Any, field: str) -> None:
    args = {**ARGS, "hosts": {**ARGS["hosts"], "db-1": {}}, "aws_host_roles": roles}
    with pytest.raises(CloudtapInputError) as raised:
        run_program(lambda: HostFeeds("feeds", args), mocks)  # type: ignore[arg-type]
    assert raised.value.field == field
    assert not mocks.registrations


def host_key(env: dict[str, str], parameter: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", str(FETCHER), "host-key", parameter],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def environment(fake: str, tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "CLOUDTAP_LIBRARY_DIR": str(AWS_HALF.parent),
        "CLOUDTAP_IMDS_URL": fake,
        "CLOUDTAP_SSM_ENDPOINT": f"{fake}/",
        "CLOUDTAP_HOST_KEY_PATH": str(tmp_path / "hostfeed" / "host.key"),
        "CLOUDTAP_HOST_KEY_DEADLINE": "0",
    }


def test_the_fetcher_writes_the_decrypted_key_for_root_alone(
    fake_aws: str,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    FakeAws.parameter_value = KEY
    result = host_key(environment(fake_aws, tmp_path), PARAMETER)
    assert result.returncode == 0, result.stderr
    written = tmp_path / "hostfeed" / "host.key"
    assert written.read_text() == KEY
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert FakeAws.requests == [{"Name": PARAMETER, "WithDecryption": True}]


@pytest.mark.parametrize(
    ("value", "parameter"),
    [
        ("not a key", PARAMETER),
        (KEY + "$(reboot)\n", PARAMETER),
        (KEY, "/cloudtap/p/s/net/gateway"),  # not a host-feed key's name: never fetched
    ],
)
def test_the_fetcher_writes_nothing_but_one_pem_key_of_a_key_parameter(
    fake_aws: str,  # noqa: F811
    tmp_path: Path,
    value: str,
    parameter: str,
) -> None:
    FakeAws.parameter_value = value
    result = host_key(environment(fake_aws, tmp_path), parameter)
    assert result.returncode == 1
    assert "host-key FAILED" in result.stderr
    assert not (tmp_path / "hostfeed" / "host.key").exists()
