"""cloudtap_aws: the AWS half of cloudtap-settings, IMDSv2, SigV4, SSM and the S3 boot bundle.

Written to ``/usr/local/lib/cloudtap`` on AWS instances only, and imported by cloudtap-settings
when its source is ``aws-ssm`` or it runs ``bundle MANIFEST``. Standard library only (Python 3.9,
Amazon Linux 2023's).

``cloudtap-settings bundle MANIFEST`` (AWS, once, first in the boot's runcmd): the boot files
that do not fit EC2's 16 KB of user data, fetched from S3 (SigV4, IMDSv2 role credentials,
retried for ten minutes: the sensor's way out is the gateway, which may still be booting). The
manifest the user data writes names the bucket, the key and the archive's sha256, and every path
with its mode: the archive is checked against the sha256 before anything is written, and only
regular files at exactly the manifest's paths are written, with the manifest's modes.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import hmac
import io
import json
import os
import re
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

if TYPE_CHECKING:  # the repository's path; installed, both halves sit in one directory
    from components.assets.common.cloudtap_settings import SettingsError, http, log
else:
    from cloudtap_settings import SettingsError, http, log

# Amazon Linux 2023's python3 is 3.9, which has no datetime.UTC (3.11).
UTC = datetime.timezone.utc  # noqa: UP017

REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")
DOMAIN = re.compile(r"[a-z0-9.-]+")
MAX_BUNDLE_BYTES = 4 << 20
"""Far above any boot bundle (about 50 KB, 64 KiB more with the largest custom rules)."""
BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")  # no dots: the TLS name must match
BUNDLE_KEY = re.compile(r"(gateway|sensor)/([0-9a-f]{64})\.tar\.gz")
# Components start with a letter, digit or _: no "..", no ".", no empty ones.
BUNDLE_PATH = re.compile(r"(/[A-Za-z0-9_][A-Za-z0-9._-]{0,254}){2,16}")
BUNDLE_ROOTS = ("/etc/", "/usr/local/", "/var/lib/cloudtap/")
BUNDLE_MODES = frozenset({"0600", "0644", "0700", "0755"})
BUNDLE_DEADLINE = 600.0


# -- AWS: IMDSv2 credentials, SigV4, SSM GetParameter ------------------------------------------


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str = ""


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def sigv4_headers(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Credentials,
    region: str,
    service: str,
    now: datetime.datetime,
) -> dict[str, str]:
    """``headers`` plus ``Host``, ``X-Amz-Date``, the session token and ``Authorization``:
    AWS Signature Version 4 for a request without a query string (tested against botocore)."""
    parts = urlsplit(url)
    if parts.query:
        raise ValueError("sigv4_headers signs requests without a query string only")
    host = parts.hostname or ""
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    if parts.port is not None and parts.port != default_port:
        host = f"{host}:{parts.port}"
    timestamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    signed: dict[str, str] = {"host": host, "x-amz-date": timestamp}
    signed.update({name.lower(): value for name, value in headers.items()})
    if credentials.token:
        signed["x-amz-security-token"] = credentials.token
    names = sorted(signed)
    canonical_headers = "".join(f"{n}:{' '.join(signed[n].split())}\n" for n in names)
    signed_headers = ";".join(names)
    canonical_request = "\n".join(
        [
            method,
            quote(parts.path or "/", safe="/~"),
            "",
            canonical_headers,
            signed_headers,
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{timestamp[:8]}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            timestamp,
            scope,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        ]
    )
    key = _hmac(f"AWS4{credentials.secret_key}".encode(), timestamp[:8])
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    result = {**headers, "Host": host, "X-Amz-Date": timestamp}
    if credentials.token:
        result["X-Amz-Security-Token"] = credentials.token
    result["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    return result


class Imds:
    """IMDSv2: a session token first (the gateway's hop limit of 1 keeps containers out)."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        token = http(
            "PUT",
            f"{self.base}/latest/api/token",
            {"X-aws-ec2-metadata-token-ttl-seconds": "300"},
        )
        self.token = token.decode("ascii").strip()

    def get(self, path: str) -> str:
        data = http("GET", f"{self.base}/latest/{path}", {"X-aws-ec2-metadata-token": self.token})
        return data.decode("utf-8").strip()

    def credentials(self) -> Credentials:
        role = self.get("meta-data/iam/security-credentials/").splitlines()[0]
        document = json.loads(self.get(f"meta-data/iam/security-credentials/{role}"))
        return Credentials(document["AccessKeyId"], document["SecretAccessKey"], document["Token"])


def instance_region(environ: Mapping[str, str]) -> tuple[Imds, str, str]:
    """IMDSv2, and the instance's region and the partition's domain, checked as data."""
    imds = Imds(environ.get("CLOUDTAP_IMDS_URL", "http://169.254.169.254"))
    region = imds.get("meta-data/placement/region")
    domain = imds.get("meta-data/services/domain")
    if not REGION.fullmatch(region) or not DOMAIN.fullmatch(domain):
        raise SettingsError(f"IMDS reported an odd region {region!r} or domain {domain!r}")
    return imds, region, domain


def ssm_call(target: str, request: Mapping[str, object], environ: Mapping[str, str]) -> bytes:
    """One signed SSM JSON call (``AmazonSSM.TARGET``) with the instance role, in its region."""
    imds, region, domain = instance_region(environ)
    endpoint = environ.get("CLOUDTAP_SSM_ENDPOINT", f"https://ssm.{region}.{domain}/")
    body = json.dumps(request).encode("utf-8")
    headers = sigv4_headers(
        method="POST",
        url=endpoint,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"AmazonSSM.{target}",
        },
        body=body,
        credentials=imds.credentials(),
        region=region,
        service="ssm",
        now=datetime.datetime.now(UTC),
    )
    return http("POST", endpoint, headers, body)


def fetch_ssm(parameter: str, environ: Mapping[str, str], *, decrypt: bool = False) -> str:
    """The parameter's value (a SecureString's decrypted with ``decrypt``)."""
    request = {"Name": parameter, **({"WithDecryption": True} if decrypt else {})}
    answer = json.loads(ssm_call("GetParameter", request, environ))
    value = answer["Parameter"]["Value"]
    if not isinstance(value, str):
        raise SettingsError(f"SSM parameter {parameter}: no string value")
    return value


STATUS_VALUE_LIMIT = 4096
"""Bytes of a Standard-tier parameter: a longer message is cut to fit."""


def report_status(parameter: str, status_file: str, environ: Mapping[str, str]) -> bool:
    """The role's status file (result, sha256s, message, time: no secrets) to the parameter
    ``PARAMETER-status``, where ``pulumi refresh`` reads it; only when it changed since the last
    report, so a failed report is retried at the next run. True when something was sent."""
    with open(status_file, "rb") as handle:
        raw = handle.read(STATUS_VALUE_LIMIT * 4)
    status = json.loads(raw)
    if not isinstance(status, dict):
        raise SettingsError(f"{status_file}: not a JSON object")
    reported_file = f"{status_file}.reported"
    digest = hashlib.sha256(raw).hexdigest()
    try:
        with open(reported_file, encoding="ascii") as handle:
            if handle.read().strip() == digest:
                return False
    except OSError:
        pass
    imds, _region, _domain = instance_region(environ)
    report = {**status, "instance": imds.get("meta-data/instance-id")}
    value, message = json.dumps(report, sort_keys=True), str(report.get("message", ""))
    while len(value.encode("utf-8")) > STATUS_VALUE_LIMIT and message:
        message = message[:-256]
        value = json.dumps({**report, "message": f"{message}..."}, sort_keys=True)
    request = {"Name": f"{parameter}-status", "Value": value, "Overwrite": True}
    ssm_call("PutParameter", request, environ)
    with open(reported_file, "w", encoding="ascii") as handle:
        handle.write(digest + "\n")
    log(f"status reported to {parameter}-status: {status.get('result')}")
    return True


def report(role: str, parameter: str, state_dir: str, environ: Mapping[str, str]) -> None:
    """After each fetch: a failed report fails nothing (the settings are in force or rolled
    back either way) and is retried at the next run."""
    status_file = os.path.join(state_dir, f"{role}.status")
    if not os.path.exists(status_file):
        return
    try:
        report_status(parameter, status_file, environ)
    except (OSError, SettingsError, ValueError, KeyError, IndexError) as error:
        log(f"status not reported (again at the next run): {error}")


# -- AWS: a host feed's private key, an SSM SecureString ---------------------------------------

HOST_KEY_PARAMETER = re.compile(r"/cloudtap(/[A-Za-z0-9_.-]{1,128}){3,6}/hostfeed-key")
HOST_KEY_PATH = "/etc/cloudtap/hostfeed/host.key"
PRIVATE_KEY = re.compile(
    r"-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END PRIVATE KEY-----\n"
)


def _fetch_retried(parameter: str, environ: Mapping[str, str]) -> str:
    """Early in the boot the role's credentials may not be there yet: retried as the bundle."""
    deadline = float(environ.get("CLOUDTAP_HOST_KEY_DEADLINE", BUNDLE_DEADLINE))
    for delay in [*retry_delays(deadline), None]:
        try:
            return fetch_ssm(parameter, environ, decrypt=True)
        except (OSError, SettingsError, KeyError, ValueError) as error:
            if delay is None:
                raise
            log(f"host key {parameter}: {error}; again in {delay:.0f} s")
            time.sleep(delay)
    raise AssertionError("unreachable")


def install_host_key(parameter: str, environ: Mapping[str, str]) -> int:
    """Fetch the host's key (only its own role may read it) and write it, root's alone, where
    the agent reads it; the value is checked to be one PEM private key first."""
    if not HOST_KEY_PARAMETER.fullmatch(parameter):
        raise SettingsError(f"{parameter!r}: not a cloudtap host-feed key parameter")
    key = _fetch_retried(parameter, environ)
    if not PRIVATE_KEY.fullmatch(key):
        raise SettingsError(f"SSM parameter {parameter}: not one PEM private key")
    path = environ.get("CLOUDTAP_HOST_KEY_PATH", HOST_KEY_PATH)
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".host.key.")  # mode 0600
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(key.encode("ascii"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    log(f"host feed key from {parameter} written to {path}")
    return 0


# -- AWS: the boot bundle in S3 -----------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    bucket: str
    key: str
    sha256: str
    modes: Mapping[str, str]
    """Absolute path -> mode, e.g. ``0755``."""


def parse_manifest(text: str, name: str) -> Manifest:
    """The manifest the user data writes (JSON, read as data): every value fullmatch-checked."""
    try:
        document = json.loads(text)
    except ValueError as error:
        raise SettingsError(f"{name}: not JSON: {error}") from None
    if not isinstance(document, dict) or set(document) != {"bucket", "key", "sha256", "files"}:
        raise SettingsError(f"{name}: expected exactly bucket, key, sha256 and files")
    bucket, key, digest, files = (document[k] for k in ("bucket", "key", "sha256", "files"))
    if not isinstance(bucket, str) or not BUCKET.fullmatch(bucket):
        raise SettingsError(f"{name}: bucket {bucket!r} is not an S3 bucket name without dots")
    found = BUNDLE_KEY.fullmatch(key) if isinstance(key, str) else None
    if found is None or found.group(2) != digest:
        raise SettingsError(f"{name}: key {key!r} must be ROLE/SHA256.tar.gz of sha256 {digest!r}")
    if not isinstance(files, list) or not files:
        raise SettingsError(f"{name}: files must be a list of {{path, mode}}")
    modes: dict[str, str] = {}
    for entry in files:
        path = entry.get("path") if isinstance(entry, dict) else None
        mode = entry.get("mode") if isinstance(entry, dict) else None
        if (
            not isinstance(path, str)
            or not BUNDLE_PATH.fullmatch(path)
            or not path.startswith(BUNDLE_ROOTS)
            or path in modes
        ):
            raise SettingsError(f"{name}: path {path!r} is not a new path under {BUNDLE_ROOTS}")
        if mode not in BUNDLE_MODES:
            raise SettingsError(f"{name}: {path}: mode {mode!r} not in {sorted(BUNDLE_MODES)}")
        modes[path] = str(mode)
    return Manifest(bucket, key, digest, modes)


def retry_delays(deadline: float = BUNDLE_DEADLINE) -> Iterator[float]:
    """Seconds to wait before each retry: 2, 4, 8, 16, then 30 until ``deadline`` is spent."""
    waited, delay = 0.0, 2.0
    while waited + delay <= deadline:
        yield delay
        waited += delay
        delay = min(delay * 2, 30.0)


def get_bundle(manifest: Manifest, environ: Mapping[str, str]) -> bytes:
    """One signed GET of the bundle object (credentials fetched anew: they may be fresh)."""
    imds, region, domain = instance_region(environ)
    endpoint = environ.get("CLOUDTAP_S3_ENDPOINT")
    if endpoint:  # path style, for a local S3 (tests)
        url = f"{endpoint.rstrip('/')}/{manifest.bucket}/{manifest.key}"
    else:
        url = f"https://{manifest.bucket}.s3.{region}.{domain}/{manifest.key}"
    headers = sigv4_headers(
        method="GET",
        url=url,
        headers={"x-amz-content-sha256": hashlib.sha256(b"").hexdigest()},
        body=b"",
        credentials=imds.credentials(),
        region=region,
        service="s3",
        now=datetime.datetime.now(UTC),
    )
    return http("GET", url, headers, limit=MAX_BUNDLE_BYTES)


def unpack_bundle(archive: bytes, manifest: Manifest) -> dict[str, bytes]:
    """Path -> content of every manifest path; refused whole (nothing to write) when the
    archive's sha256 differs, or it holds anything but regular files at the manifest's paths."""
    actual = hashlib.sha256(archive).hexdigest()
    if actual != manifest.sha256:
        raise SettingsError(f"bundle sha256 {actual} is not the manifest's {manifest.sha256}")
    contents: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            for member in tar:
                path = "/" + member.name
                if path not in manifest.modes or path in contents or not member.isreg():
                    raise SettingsError(f"bundle member {member.name!r}: not a manifest file")
                handle = tar.extractfile(member)
                if handle is None:
                    raise SettingsError(f"bundle member {member.name!r}: unreadable")
                contents[path] = handle.read()
    except (tarfile.TarError, OSError, EOFError) as error:
        raise SettingsError(f"bundle: not a tar.gz archive: {error}") from None
    missing = sorted(set(manifest.modes) - set(contents))
    if missing:
        raise SettingsError(f"bundle lacks {', '.join(missing)}")
    return contents


def write_bundle(contents: Mapping[str, bytes], manifest: Manifest, root: str) -> None:
    """Each file written whole (a temporary file renamed over it) with its manifest mode."""
    for path, data in contents.items():
        target = root.rstrip("/") + path
        directory = os.path.dirname(target)
        os.makedirs(directory, mode=0o755, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=directory, delete=False) as handle:
            handle.write(data)
            os.fchmod(handle.fileno(), int(manifest.modes[path], 8))
        os.replace(handle.name, target)


def install_bundle(
    manifest_file: str,
    environ: Mapping[str, str],
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    with open(manifest_file, encoding="utf-8") as handle:
        manifest = parse_manifest(handle.read(), manifest_file)
    delays = retry_delays()
    while True:
        try:
            archive = get_bundle(manifest, environ)
            break
        # Early in the boot the role's credentials may be missing or half there: retried too.
        except (SettingsError, ValueError, KeyError, IndexError) as error:
            delay = next(delays, None)
            if delay is None:
                raise
            log(f"bundle s3://{manifest.bucket}/{manifest.key}: {error}; again in {delay:.0f}s")
            sleep(delay)
    contents = unpack_bundle(archive, manifest)
    write_bundle(contents, manifest, environ.get("CLOUDTAP_BUNDLE_ROOT", "/"))
    log(f"bundle {manifest.sha256}: {len(contents)} files written")
    return 0
