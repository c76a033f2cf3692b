"""cloudtap-settings, the instance's fetcher: its SigV4 against botocore's, a whole SSM fetch
against a loopback fake of IMDSv2 and SSM (never an AWS address), Nova metadata reassembly, the
source file's grammar against the shell library's, and when it hands settings over."""

from __future__ import annotations

import datetime
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from components import settings_delivery as delivery
from components.cloud_config import asset_text

FETCHER = Path(__file__).resolve().parent.parent / "components/assets/common/cloudtap_settings.py"
ACCESS_KEY, SECRET_KEY, TOKEN = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "tok=en"
REGION = "eu-west-1"
SETTINGS = '# settings\nNETWORK_CIDR="10.0.0.0/16"\nPORT_FORWARDS="tcp:80:10.0.64.10:80"\n'


AWS_HALF = FETCHER.with_name("cloudtap_aws.py")
"""Installed beside the shell library on AWS instances; the fetcher imports it by name."""


def load_module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


fetcher = load_module("cloudtap_settings", FETCHER)
aws_half = load_module("cloudtap_aws", AWS_HALF)  # after the fetcher: it imports it


def botocore_authorization(
    url: str,
    headers: dict[str, str],
    body: bytes,
    when: datetime.datetime,
    secret: str = SECRET_KEY,
) -> str:
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        SigV4Auth(Credentials(ACCESS_KEY, secret, TOKEN), "ssm", REGION).add_auth(request)
    return str(request.headers["Authorization"])


@pytest.mark.parametrize(
    "url", ["https://ssm.eu-west-1.amazonaws.com/", "http://127.0.0.1:8123/", "https://h/x y"]
)
def test_the_signature_is_botocores_for_fixed_credentials_and_time(url: str) -> None:
    when = datetime.datetime(2026, 12, 1, 19, 40, 7, tzinfo=datetime.UTC)
    body = b'{"Name": "/cloudtap/p/s/net/gateway"}'
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AmazonSSM.GetParameter",
    }
    ours = aws_half.sigv4_headers(
        method="POST",
        url=url,
        headers=headers,
        body=body,
        credentials=aws_half.Credentials(ACCESS_KEY, SECRET_KEY, TOKEN),
        region=REGION,
        service="ssm",
        now=when,
    )
    assert ours["Authorization"] == botocore_authorization(url, headers, body, when)
    assert ours["X-Amz-Security-Token"] == TOKEN
    # A different body, region or time signs differently: the comparison can fail.
    assert ours["Authorization"] != botocore_authorization(url, headers, b"{}", when)


class FakeAws(BaseHTTPRequestHandler):
    """IMDSv2 and SSM GetParameter on loopback; SSM checks the signature with botocore."""

    parameter_value = SETTINGS
    verifying_secret = SECRET_KEY
    calls: list[str] = []  # noqa: RUF012  (one fake per test, reset by the fixture)
    puts: list[dict[str, Any]] = []  # noqa: RUF012  (PutParameter requests, as sent)
    refuse_puts = False
    requests: list[dict[str, Any]] = []  # noqa: RUF012  (SSM request bodies, as above)

    def log_message(self, *_args: Any) -> None:
        pass

    def _answer(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self) -> None:
        self.calls.append(f"PUT {self.path}")
        if (
            self.path == "/latest/api/token"
            and self.headers["X-aws-ec2-metadata-token-ttl-seconds"]
        ):
            self._answer(200, "IMDS-TOKEN")
        else:
            self._answer(400, "bad token request")

    def do_GET(self) -> None:
        self.calls.append(f"GET {self.path}")
        if self.headers["X-aws-ec2-metadata-token"] != "IMDS-TOKEN":
            self._answer(401, "IMDSv2 token required")
            return
        answers = {
            "/latest/meta-data/placement/region": REGION,
            "/latest/meta-data/services/domain": "amazonaws.com",
            "/latest/meta-data/instance-id": "i-0123456789abcdef0",
            "/latest/meta-data/iam/security-credentials/": "cloudtap-gateway-role\n",
            "/latest/meta-data/iam/security-credentials/cloudtap-gateway-role": json.dumps(
                {"AccessKeyId": ACCESS_KEY, "SecretAccessKey": SECRET_KEY, "Token": TOKEN}
            ),
        }
        if self.path in answers:
            self._answer(200, answers[self.path])
        else:
            self._answer(404, "not found")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.calls.append(f"POST {self.path} {self.headers['X-Amz-Target']}")
        when = datetime.datetime.strptime(self.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.UTC
        )
        host = self.headers["Host"]
        expected = botocore_authorization(
            f"http://{host}/",
            {
                "Content-Type": self.headers["Content-Type"],
                "X-Amz-Target": self.headers["X-Amz-Target"],
            },
            body,
            when,
            self.verifying_secret,
        )
        if (
            self.headers["Authorization"] != expected
            or self.headers["X-Amz-Security-Token"] != TOKEN
        ):
            self._answer(403, '{"__type": "InvalidSignatureException"}')
            return
        self.requests.append(json.loads(body))
        if self.headers["X-Amz-Target"] == "AmazonSSM.PutParameter":
            if self.refuse_puts:
                self._answer(400, '{"__type": "ThrottlingException"}')
                return
            self.puts.append(json.loads(body))
            self._answer(200, json.dumps({"Version": len(self.puts) + 1, "Tier": "Standard"}))
            return
        name = json.loads(body)["Name"]
        answer = {"Parameter": {"Name": name, "Value": self.parameter_value, "Version": 3}}
        self._answer(200, json.dumps(answer))


@pytest.fixture
def fake_aws() -> Iterator[str]:
    FakeAws.calls = []
    FakeAws.puts = []
    FakeAws.refuse_puts = False
    FakeAws.requests = []
    FakeAws.parameter_value = SETTINGS
    FakeAws.verifying_secret = SECRET_KEY
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeAws)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def instance_root(
    tmp_path: Path, source: delivery.SettingsSource, role: str = "gateway"
) -> dict[str, str]:
    """A source file, a state directory and a role script that records what it was offered."""
    (tmp_path / "settings-source.conf").write_text(delivery.render_source_file(source, role))
    record = tmp_path / "offered.conf"
    script = tmp_path / "role.sh"
    script.write_text(f'#!/usr/bin/env bash\n[ "$1" = apply-settings ]\ncp "$2" {record}\n')
    return {
        "PATH": os.environ["PATH"],
        "CLOUDTAP_SETTINGS_SOURCE": str(tmp_path / "settings-source.conf"),
        "CLOUDTAP_STATE_DIR": str(tmp_path / "state"),
        "CLOUDTAP_ROLE_SCRIPT": str(script),
        "CLOUDTAP_LIBRARY_DIR": str(AWS_HALF.parent),
    }


def run_fetcher(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", str(FETCHER)], env=env, capture_output=True, text=True, check=False
    )


def test_a_whole_ssm_fetch_signs_with_imdsv2_role_credentials_and_offers_the_text(
    fake_aws: str, tmp_path: Path
) -> None:
    env = instance_root(tmp_path, delivery.SettingsSource.aws_ssm("/cloudtap/p/s/net/gateway"))
    env |= {"CLOUDTAP_IMDS_URL": fake_aws, "CLOUDTAP_SSM_ENDPOINT": f"{fake_aws}/"}
    result = run_fetcher(env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "offered.conf").read_text() == SETTINGS
    assert FakeAws.calls[0] == "PUT /latest/api/token"
    assert FakeAws.calls[-1] == "POST / AmazonSSM.GetParameter"
    # The temporary file handed over is gone afterwards.
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["settings.lock"]


def test_a_signature_with_other_credentials_is_refused_so_the_check_can_fail(
    fake_aws: str, tmp_path: Path
) -> None:
    env = instance_root(tmp_path, delivery.SettingsSource.aws_ssm("/cloudtap/p/s/net/gateway"))
    env |= {"CLOUDTAP_IMDS_URL": fake_aws, "CLOUDTAP_SSM_ENDPOINT": f"{fake_aws}/"}
    FakeAws.verifying_secret = "another-secret"
    result = run_fetcher(env)
    assert result.returncode == 1
    assert "HTTP 403" in result.stderr and "InvalidSignatureException" in result.stderr
    assert not (tmp_path / "offered.conf").exists()


STATUS_WRITER = """#!/usr/bin/env bash
# The role script: records what it was offered, and writes its status as apply-settings does.
[ "$1" = apply-settings ]
sum=$(sha256sum <"$2"); sum=${sum%% *}
printf '{"result": "applied", "sha256": "%s", "offered_sha256": "%s", ' "$sum" "$sum" \\
    > "$CLOUDTAP_STATE_DIR/gateway.status"
printf '"message": "applied and checked", "time": "2026-12-01T23:40:00Z"}' \\
    >> "$CLOUDTAP_STATE_DIR/gateway.status"
"""


def test_each_new_status_is_put_to_the_status_parameter_signed(
    fake_aws: str, tmp_path: Path
) -> None:
    env = instance_root(tmp_path, delivery.SettingsSource.aws_ssm("/cloudtap/p/s/net/gateway"))
    env |= {"CLOUDTAP_IMDS_URL": fake_aws, "CLOUDTAP_SSM_ENDPOINT": f"{fake_aws}/"}
    Path(env["CLOUDTAP_ROLE_SCRIPT"]).write_text(STATUS_WRITER)
    result = run_fetcher(env)
    assert result.returncode == 0, result.stderr
    # Signed like the fetch (the fake checks each request's signature with botocore).
    assert FakeAws.calls[-1] == "POST / AmazonSSM.PutParameter"
    [put] = FakeAws.puts
    assert put["Name"] == "/cloudtap/p/s/net/gateway-status" and put["Overwrite"] is True
    assert "Type" not in put  # the stack created it as a String; Overwrite keeps that
    status = json.loads(put["Value"])
    digest = hashlib.sha256(SETTINGS.encode()).hexdigest()
    assert status == {
        "result": "applied",
        "sha256": digest,
        "offered_sha256": digest,
        "message": "applied and checked",
        "time": "2026-12-01T23:40:00Z",
        "instance": "i-0123456789abcdef0",
    }
    # Nothing new: nothing offered, nothing put.
    assert run_fetcher(env).returncode == 0
    assert len(FakeAws.puts) == 1


def test_a_failed_status_report_fails_nothing_and_is_sent_at_the_next_run(
    fake_aws: str, tmp_path: Path
) -> None:
    env = instance_root(tmp_path, delivery.SettingsSource.aws_ssm("/cloudtap/p/s/net/gateway"))
    env |= {"CLOUDTAP_IMDS_URL": fake_aws, "CLOUDTAP_SSM_ENDPOINT": f"{fake_aws}/"}
    Path(env["CLOUDTAP_ROLE_SCRIPT"]).write_text(STATUS_WRITER)
    FakeAws.refuse_puts = True
    result = run_fetcher(env)
    assert result.returncode == 0, result.stderr
    assert "status not reported (again at the next run)" in result.stderr
    assert FakeAws.puts == []
    FakeAws.refuse_puts = False
    assert run_fetcher(env).returncode == 0
    [put] = FakeAws.puts
    assert json.loads(put["Value"])["result"] == "applied"


def test_a_long_status_message_is_cut_to_fit_the_parameter(fake_aws: str, tmp_path: Path) -> None:
    env = instance_root(tmp_path, delivery.SettingsSource.aws_ssm("/cloudtap/p/s/net/gateway"))
    env |= {"CLOUDTAP_IMDS_URL": fake_aws, "CLOUDTAP_SSM_ENDPOINT": f"{fake_aws}/"}
    write_status(env, result="rolled-back", message="nft: " + "x" * 9000)
    status_file = str(Path(env["CLOUDTAP_STATE_DIR"]) / "gateway.status")
    assert aws_half.report_status("/cloudtap/p/s/net/gateway", status_file, env) is True
    [put] = FakeAws.puts
    assert len(put["Value"].encode()) <= aws_half.STATUS_VALUE_LIMIT
    assert json.loads(put["Value"])["message"].startswith("nft: xxx")
    assert aws_half.report_status("/cloudtap/p/s/net/gateway", status_file, env) is False


def write_status(env: dict[str, str], **fields: str) -> None:
    state = Path(env["CLOUDTAP_STATE_DIR"])
    state.mkdir(exist_ok=True)
    (state / "gateway.status").write_text(json.dumps(fields))


@pytest.mark.parametrize("key", ["sha256", "offered_sha256"])
def test_settings_in_force_or_last_offered_are_not_offered_again(tmp_path: Path, key: str) -> None:
    settings = tmp_path / "gateway.conf"
    settings.write_text(SETTINGS)
    env = instance_root(tmp_path, delivery.SettingsSource.file(str(settings)))
    write_status(env, **{key: hashlib.sha256(SETTINGS.encode()).hexdigest()})
    assert run_fetcher(env).returncode == 0
    assert not (tmp_path / "offered.conf").exists()
    settings.write_text(SETTINGS + "# changed\n")
    assert run_fetcher(env).returncode == 0
    assert (tmp_path / "offered.conf").read_text() == SETTINGS + "# changed\n"


def test_a_pushed_source_fetches_nothing(tmp_path: Path) -> None:
    env = instance_root(tmp_path, delivery.SettingsSource.pushed())
    result = run_fetcher(env)
    assert result.returncode == 0
    assert "pushed" in result.stderr
    assert not (tmp_path / "offered.conf").exists()


@pytest.mark.parametrize("length", [1, 254, 255, 256, 4096])
def test_openstack_metadata_items_reassemble_to_the_text(length: int) -> None:
    text = ('PORT_FORWARDS="tcp:80:10.0.64.10:80"\n' * 200)[:length]
    items = delivery.openstack_metadata_items(text)
    assert all(len(key) <= 255 and len(value) <= 255 for key, value in items.items())
    assert list(items)[:-1] == [f"cloudtap_settings_{i:02d}" for i in range(len(items) - 1)]
    assert fetcher.reassemble_metadata({**items, "user_key": "x"}) == text


def test_openstack_metadata_with_a_stale_chunk_or_a_gap_is_ignored() -> None:
    items = delivery.openstack_metadata_items("A" * 600)
    with pytest.raises(fetcher.SettingsError, match="do not match"):
        fetcher.reassemble_metadata({**items, "cloudtap_settings_01": "B" * 255})
    del items["cloudtap_settings_01"]
    with pytest.raises(fetcher.SettingsError, match="gaps"):
        fetcher.reassemble_metadata(items)


def test_the_openstack_source_reads_nova_metadata_over_http(tmp_path: Path) -> None:
    document = {"uuid": "x", "meta": delivery.openstack_metadata_items(SETTINGS)}
    (tmp_path / "meta_data.json").write_text(json.dumps(document))
    env = instance_root(tmp_path, delivery.SettingsSource.openstack_metadata())
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1", "-d", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = server.stdout.readline().split("port ")[1].split()[0]
        env["CLOUDTAP_OPENSTACK_METADATA_URL"] = f"http://127.0.0.1:{port}/meta_data.json"
        result = run_fetcher(env)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "offered.conf").read_text() == SETTINGS


SOURCE_FILES = {
    "plain": ('ROLE="gateway"\nSOURCE="file"\nFILE="/etc/x.conf"\n', True),
    "unquoted": ("ROLE=sensor\nSOURCE=pushed\n", True),
    "comment-and-blank": ('# c\n\n  # d\nROLE="gateway"\nSOURCE="pushed"\n', True),
    "unknown-key": ('ROLE="gateway"\nEVIL="1"\n', False),
    "twice": ('ROLE="gateway"\nROLE="sensor"\n', False),
    "command": ('ROLE="$(reboot)"\n', False),
    "unquoted-space": ("ROLE=gate way\n", False),
    "no-equals": ("ROLE\n", False),
    "inner-quote": ('ROLE="a"b"\n', False),
    "lowercase-key": ('role="gateway"\n', False),
}


@pytest.mark.parametrize("case", sorted(SOURCE_FILES))
def test_the_source_file_grammar_is_the_shell_librarys(case: str, tmp_path: Path) -> None:
    text, accepted = SOURCE_FILES[case]
    path = tmp_path / "source.conf"
    path.write_text(text)
    library = tmp_path / "cloudtap-net.sh"
    library.write_text(asset_text("common", "cloudtap-net.sh"))
    keys = " ".join(delivery.SOURCE_KEYS)
    shell = subprocess.run(
        ["bash", "-c", f'set -eu; . "{library}"; read_settings "{path}" {keys}'],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        fetcher.read_settings_text(text, fetcher.SOURCE_KEYS, str(path))
        python_accepts = True
    except fetcher.SettingsError:
        python_accepts = False
    assert (shell.returncode == 0, python_accepts) == (accepted, accepted), shell.stderr


def test_the_source_keys_are_the_fetchers() -> None:
    assert tuple(fetcher.SOURCE_KEYS) == delivery.SOURCE_KEYS


def test_a_source_naming_no_valid_parameter_is_refused() -> None:
    with pytest.raises(fetcher.SettingsError, match="SSM_PARAMETER"):
        fetcher.parse_source('ROLE="gateway"\nSOURCE="aws-ssm"\nSSM_PARAMETER="x"\n')
