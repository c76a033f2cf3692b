"""The AWS boot bundle: its resources under the strict mocks (private TLS-only encrypted bucket,
a sha256-keyed object, a role that reads exactly it), and the fetcher's ``bundle`` command
against a loopback S3 that checks SigV4 like botocore signs it (never an AWS address): good
bundles written with the manifest's modes, and every way a bundle can be wrong refused with
nothing written."""

from __future__ import annotations

import base64
import datetime
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from components import MonitoredVpc
from components.aws.sensor import Sensor
from components.boot_bundle import (
    BUNDLE_COMMAND,
    FETCHER_FILES,
    MANIFEST_PATH,
    BootBundle,
    boot_bundle,
)
from components.cloud_config import written_files
from components.gateway import render_boot_cloud_config
from components.settings_delivery import SettingsSource
from tests.bundles import bundled_boot, same_files, small_cloud_config
from tests.cloud_init import assert_valid_cloud_config
from tests.mocks import StrictMocks, run_program
from tests.test_settings_fetcher import (
    ACCESS_KEY,
    AWS_HALF,
    FETCHER,
    REGION,
    SECRET_KEY,
    TOKEN,
    aws_half,
    fetcher,
)

BUCKET_TYPES = {
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "net-boot-public-access",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "net-boot-encryption"
    ),
    "aws:s3/bucketPolicy:BucketPolicy": "net-boot-tls-only",
}


def build(
    mocks: StrictMocks,
    network: dict[str, Any] | None = None,
    sensor: dict[str, Any] | None = None,
) -> Any:
    def program() -> tuple[MonitoredVpc, Sensor]:
        vpc = MonitoredVpc("net", network)  # type: ignore[arg-type]
        return vpc, Sensor("sensor", {"network": vpc, **(sensor or {})})  # type: ignore[typeddict-item]

    return run_program(program, mocks)


# -- resources -------------------------------------------------------------------------------


def test_one_private_tls_only_encrypted_bucket_per_network(mocks: StrictMocks) -> None:
    run = build(mocks)
    buckets = run.of_type("aws:s3/bucket:Bucket")
    assert [b.name for b in buckets] == ["net-boot"]
    bucket = buckets[0]
    assert bucket.inputs["bucketPrefix"] == "cloudtap-boot-"
    for kind, name in BUCKET_TYPES.items():
        assert [r.name for r in run.of_type(kind)] == [name]
        assert run.named(name).inputs["bucket"] == bucket.id
    block = run.named("net-boot-public-access").inputs
    for setting in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls"):
        assert block[setting] is True, setting
    assert block["restrictPublicBuckets"] is True
    (rule,) = run.named("net-boot-encryption").inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    (statement,) = json.loads(run.named("net-boot-tls-only").inputs["policy"])["Statement"]
    arn = bucket.state["arn"]
    assert statement["Effect"] == "Deny" and statement["Action"] == "s3:*"
    assert statement["Principal"] == "*"
    assert statement["Resource"] == [arn, f"{arn}/*"]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize(
    ("role", "instance", "bundle_object", "role_name", "read"),
    [
        ("gateway", "net-gateway", "net-gateway-boot-bundle", "net-gateway-role", "net-gateway"),
        ("sensor", "sensor-instance", "sensor-boot-bundle", "sensor-role", "sensor"),
    ],
)
def test_each_role_reads_exactly_its_own_sha256_keyed_object(  # noqa: PLR0917 - parametrized
    mocks: StrictMocks, role: str, instance: str, bundle_object: str, role_name: str, read: str
) -> None:
    run = build(mocks)
    stored = run.named(bundle_object).inputs
    archive = base64.b64decode(stored["contentBase64"], validate=True)
    digest = hashlib.sha256(archive).hexdigest()
    assert stored["key"] == f"{role}/{digest}.tar.gz"
    assert stored["bucket"] == run.named("net-boot").id
    assert stored["serverSideEncryption"] == "AES256"
    # Exactly GetObject on exactly that object: not the bucket, not the other role's bundle.
    policy = run.named(f"{read}-boot-read")
    assert policy.inputs["role"] == run.named(role_name).id
    arn = run.named("net-boot").state["arn"]
    assert json.loads(policy.inputs["policy"])["Statement"] == [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{arn}/{stored['key']}"}
    ]
    # The role's inline policies: its settings parameter and its bundle, nothing else.
    inline = [
        r.name
        for r in run.of_type("aws:iam/rolePolicy:RolePolicy")
        if r.inputs["role"] == (run.named(role_name).id)
    ]
    assert sorted(inline) == [f"{read}-boot-read", f"{read}-settings-read"]
    # The instance boots after both, and its user data names the object and its sha256.
    waits = set(run.named(instance).dependencies)
    assert {run.named(bundle_object).urn, policy.urn} <= waits
    small, _ = bundled_boot(run, instance, bundle_object)
    manifest = json.loads(written_files(small)[MANIFEST_PATH].content)
    assert (manifest["key"], manifest["sha256"]) == (stored["key"], digest)
    assert manifest["bucket"] == run.named("net-boot").state["bucket"]
    assert run.named(instance).inputs["userDataReplaceOnChange"] is True
    assert "userData" not in run.named(instance).inputs
    assert_valid_cloud_config(small)
    assert yaml_runcmd(small)[0] == BUNDLE_COMMAND


def yaml_runcmd(cloud_config: str) -> list[list[str]]:
    import yaml  # noqa: PLC0415 - only here

    commands: list[list[str]] = yaml.safe_load(cloud_config)["runcmd"]
    return commands


def test_settings_change_nothing_of_the_boot_but_new_files_are_a_new_key_and_user_data(
    mocks: StrictMocks, tmp_path: Path
) -> None:
    rules = tmp_path / "local.rules"
    rules.write_text('alert tcp any any -> any 23 (msg:"telnet"; sid:1000001; rev:1;)\n')
    runs = {
        "before": build(mocks),
        "forwards": build(
            StrictMocks(), {"port_forwards": [{"public_port": 80, "private_host": "10.0.64.10"}]}
        ),
        "rules": build(StrictMocks(), sensor={"ids_custom_rules": str(rules)}),
    }

    def boot(run: str, role: str) -> tuple[str, str]:
        instance, prefix = (
            ("net-gateway", "net-gateway") if role == "gateway" else ("sensor-instance", "sensor")
        )
        registered = runs[run]
        return (
            registered.named(f"{prefix}-boot-bundle").inputs["key"],
            registered.named(instance).inputs["userDataBase64"],
        )

    # Settings travel in SSM: the same bytes, no spurious replacement.
    assert boot("forwards", "gateway") == boot("before", "gateway")
    assert boot("forwards", "sensor") == boot("before", "sensor")
    # New files (the stack's rules): a new object, and user data naming it (a new instance).
    new_key, new_data = boot("rules", "sensor")
    old_key, old_data = boot("before", "sensor")
    assert new_key != old_key and new_data != old_data
    assert new_key.removeprefix("sensor/").removesuffix(".tar.gz") in small_cloud_config(new_data)


def test_the_bundle_holds_every_boot_file_but_the_fetcher_which_the_user_data_holds() -> None:
    boot = render_boot_cloud_config(source=SettingsSource.aws_ssm("/cloudtap/p/s/net/gateway"))
    bundle = boot_bundle("gateway", boot)
    everything = written_files(boot)
    assert {f.path for f in bundle.files} == set(everything) - set(FETCHER_FILES)
    small = written_files(bundle.user_data("cloudtap-boot-abc123"))
    assert set(small) == {*FETCHER_FILES, MANIFEST_PATH}
    assert all(small[path] == everything[path] for path in FETCHER_FILES)
    assert boot_bundle("gateway", boot).archive == bundle.archive  # the same bytes every time
    with pytest.raises(ValueError, match="without dots"):
        bundle.manifest("cloudtap.boot")


def test_a_pushed_source_has_no_fetcher_to_fetch_a_bundle() -> None:
    boot = render_boot_cloud_config(source=SettingsSource.pushed())
    with pytest.raises(ValueError, match="aws-ssm settings source"):
        boot_bundle("gateway", boot)


# -- the fetcher's bundle command ------------------------------------------------------------


class FakeAwsS3(BaseHTTPRequestHandler):
    """IMDSv2 and a path-style S3 GET that checks the signature as botocore computes it."""

    objects: ClassVar[dict[str, bytes]] = {}
    calls: ClassVar[list[str]] = []

    def log_message(self, *_args: object) -> None:
        pass

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        self._answer(200, b"IMDS-TOKEN")

    def do_GET(self) -> None:
        self.calls.append(self.path)
        imds = {
            "/latest/meta-data/placement/region": REGION,
            "/latest/meta-data/services/domain": "amazonaws.com",
            "/latest/meta-data/iam/security-credentials/": "sensor-role\n",
            "/latest/meta-data/iam/security-credentials/sensor-role": json.dumps(
                {"AccessKeyId": ACCESS_KEY, "SecretAccessKey": SECRET_KEY, "Token": TOKEN}
            ),
        }
        if self.path.startswith("/latest/"):
            if self.headers["X-aws-ec2-metadata-token"] != "IMDS-TOKEN":
                self._answer(401, b"IMDSv2 token required")
            else:
                self._answer(200, imds[self.path].encode())
            return
        when = datetime.datetime.strptime(self.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
        request = AWSRequest(
            method="GET",
            url=f"http://{self.headers['Host']}{self.path}",
            headers={"x-amz-content-sha256": hashlib.sha256(b"").hexdigest()},
        )
        with mock.patch(
            "botocore.auth.get_current_datetime", return_value=when.replace(tzinfo=datetime.UTC)
        ):
            SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, TOKEN), "s3", REGION).add_auth(request)
        if self.headers["Authorization"] != request.headers["Authorization"]:
            self._answer(403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>")
        elif self.path not in self.objects:
            self._answer(404, b"<Error><Code>NoSuchKey</Code></Error>")
        else:
            self._answer(200, self.objects[self.path])


@pytest.fixture
def fake_s3() -> Iterator[str]:
    FakeAwsS3.objects = {}
    FakeAwsS3.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeAwsS3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


BUCKET = "cloudtap-boot-0123456789ab"


def sensor_bundle() -> BootBundle:
    from components import sensor  # noqa: PLC0415

    boot = sensor.render_boot_cloud_config(
        source=SettingsSource.aws_ssm("/cloudtap/p/s/sensor/sensor"),
        log_volume=sensor.LogVolume(),
    )
    return boot_bundle("sensor", boot)


def instance(tmp_path: Path, endpoint: str, manifest: str) -> dict[str, str]:
    (tmp_path / "manifest.json").write_text(manifest)
    (tmp_path / "root").mkdir()
    return {
        "CLOUDTAP_IMDS_URL": endpoint,
        "CLOUDTAP_S3_ENDPOINT": endpoint,
        "CLOUDTAP_BUNDLE_ROOT": str(tmp_path / "root"),
        "CLOUDTAP_LIBRARY_DIR": str(AWS_HALF.parent),
    }


def written(root: Path) -> dict[str, tuple[bytes, str]]:
    return {
        "/" + str(path.relative_to(root)): (
            path.read_bytes(),
            f"{path.stat().st_mode & 0o7777:04o}",
        )
        for path in root.rglob("*")
        if path.is_file()
    }


def test_a_good_bundle_is_written_whole_with_the_manifest_s_modes(
    fake_s3: str, tmp_path: Path
) -> None:
    bundle = sensor_bundle()
    FakeAwsS3.objects[f"/{BUCKET}/{bundle.key}"] = bundle.archive
    env = instance(tmp_path, fake_s3, bundle.manifest(BUCKET))
    assert fetcher.main(["cloudtap-settings", "bundle", str(tmp_path / "manifest.json")], env) == 0
    expected = same_files({f.path: f for f in bundle.files})
    assert written(tmp_path / "root") == expected
    assert expected["/usr/local/sbin/cloudtap-sensor"][1] == "0755"


def test_the_fetcher_retries_until_the_object_is_there(fake_s3: str, tmp_path: Path) -> None:
    """The sensor's way out is the gateway, which may still be booting: errors are retried."""
    bundle = sensor_bundle()
    env = instance(tmp_path, fake_s3, bundle.manifest(BUCKET))
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            FakeAwsS3.objects[f"/{BUCKET}/{bundle.key}"] = bundle.archive

    assert aws_half.install_bundle(str(tmp_path / "manifest.json"), env, sleep) == 0
    assert waits == [2.0, 4.0, 8.0]
    assert FakeAwsS3.calls.count(f"/{BUCKET}/{bundle.key}") == 4
    assert len(written(tmp_path / "root")) == len(bundle.files)


def test_the_retries_last_ten_minutes_then_give_up() -> None:
    delays = list(aws_half.retry_delays())
    assert delays[:5] == [2.0, 4.0, 8.0, 16.0, 30.0] and set(delays[4:]) == {30.0}
    assert 570 <= sum(delays) <= aws_half.BUNDLE_DEADLINE


def test_a_bundle_whose_sha256_is_not_the_manifest_s_writes_nothing(
    fake_s3: str, tmp_path: Path
) -> None:
    bundle = sensor_bundle()
    FakeAwsS3.objects[f"/{BUCKET}/{bundle.key}"] = bundle.archive + b"\0"
    env = instance(tmp_path, fake_s3, bundle.manifest(BUCKET))
    assert fetcher.main(["cloudtap-settings", "bundle", str(tmp_path / "manifest.json")], env) == 1
    assert written(tmp_path / "root") == {}


def archive_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def manifest_for(archive: bytes, paths: dict[str, str]) -> str:
    digest = hashlib.sha256(archive).hexdigest()
    files = [{"path": path, "mode": mode} for path, mode in paths.items()]
    return json.dumps(
        {"bucket": BUCKET, "key": f"sensor/{digest}.tar.gz", "sha256": digest, "files": files}
    )


@pytest.mark.parametrize(
    "extra",
    [
        "etc/cron.d/evil",  # a path the manifest does not list
        "../etc/cloudtap/x",  # out of the root
        "/etc/cloudtap/x",  # absolute
        "etc/cloudtap/../../root/x",
    ],
)
def test_an_archive_member_outside_the_manifest_refuses_the_whole_bundle(
    fake_s3: str, tmp_path: Path, extra: str
) -> None:
    archive = archive_of({"etc/cloudtap/a.conf": b"A\n", extra: b"#!/bin/sh\n"})
    FakeAwsS3.objects[f"/{BUCKET}/sensor/{hashlib.sha256(archive).hexdigest()}.tar.gz"] = archive
    env = instance(tmp_path, fake_s3, manifest_for(archive, {"/etc/cloudtap/a.conf": "0644"}))
    assert fetcher.main(["cloudtap-settings", "bundle", str(tmp_path / "manifest.json")], env) == 1
    assert written(tmp_path / "root") == {}
    assert not (tmp_path / "etc").exists()


def test_a_symlink_member_is_refused(fake_s3: str, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        link = tarfile.TarInfo("etc/cloudtap/a.conf")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
        tar.addfile(link)
    archive = buffer.getvalue()
    FakeAwsS3.objects[f"/{BUCKET}/sensor/{hashlib.sha256(archive).hexdigest()}.tar.gz"] = archive
    env = instance(tmp_path, fake_s3, manifest_for(archive, {"/etc/cloudtap/a.conf": "0644"}))
    assert fetcher.main(["cloudtap-settings", "bundle", str(tmp_path / "manifest.json")], env) == 1
    assert written(tmp_path / "root") == {}


@pytest.mark.parametrize(
    ("path", "mode"),
    [
        ("/etc/cloudtap/../../root/.ssh/authorized_keys", "0644"),
        ("/etc/./cloudtap/x", "0644"),
        ("etc/cloudtap/x", "0644"),
        ("/root/x", "0644"),  # not under /etc, /usr/local or /var/lib/cloudtap
        ("/etc/cloudtap/x\n", "0644"),
        ("/etc//cloudtap", "0644"),
        ("/etc/cloudtap/x", "4755"),  # setuid
        ("/etc/cloudtap/x", "0666"),
    ],
)
def test_a_manifest_with_a_bad_path_or_mode_is_refused(path: str, mode: str) -> None:
    manifest = manifest_for(b"archive", {path: mode})
    with pytest.raises(fetcher.SettingsError):
        aws_half.parse_manifest(manifest, "manifest.json")


def test_a_manifest_whose_key_does_not_hold_its_sha256_is_refused() -> None:
    document = json.loads(manifest_for(b"archive", {"/etc/cloudtap/a.conf": "0644"}))
    document["key"] = "sensor/" + "0" * 64 + ".tar.gz"
    with pytest.raises(fetcher.SettingsError, match="key"):
        aws_half.parse_manifest(json.dumps(document), "manifest.json")


def test_the_real_manifest_parses_with_every_path_and_mode() -> None:
    bundle = sensor_bundle()
    parsed = aws_half.parse_manifest(bundle.manifest(BUCKET), "manifest.json")
    assert dict(parsed.modes) == {f.path: f.permissions for f in bundle.files}
    assert (parsed.bucket, parsed.key, parsed.sha256) == (BUCKET, bundle.key, bundle.sha256)
    assert os.path.basename(parsed.key) == f"{bundle.sha256}.tar.gz"


def test_the_boot_s_command_line_runs_the_bundle_command(fake_s3: str, tmp_path: Path) -> None:
    """As the runcmd runs it: ``python3 -I cloudtap-settings bundle MANIFEST``."""
    bundle = sensor_bundle()
    FakeAwsS3.objects[f"/{BUCKET}/{bundle.key}"] = bundle.archive
    env = instance(tmp_path, fake_s3, bundle.manifest(BUCKET)) | {"PATH": os.environ["PATH"]}
    command = [sys.executable, "-I", str(FETCHER), "bundle", str(tmp_path / "manifest.json")]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert f"bundle {bundle.sha256}: {len(bundle.files)} files written" in result.stderr
    assert written(tmp_path / "root") == same_files({f.path: f for f in bundle.files})
