#!/usr/bin/env python3
"""cloudtap-settings: fetch this host's settings from where the stack keeps them; apply changes.

Run by cloudtap-settings.timer (at boot before the role's unit, then every minute) and, on AWS,
at once by the SSM association when the parameter changes. Reads the static source file the
user data writes (``/etc/cloudtap/settings-source.conf``, ``KEY="value"`` lines, read as data
with the same grammar as the shell library's ``read_settings``), fetches the settings text, and
when its sha256 is neither the one in force nor the one last offered (a rolled-back text is not
retried until it changes) hands it to ``cloudtap-ROLE apply-settings FILE``, which preflights,
applies, checks and rolls back. Standard library only: cloud-init's own interpreter is on every
image, boto3 and the AWS CLI are not.

Sources (``SOURCE=``):
  aws-ssm             SSM GetParameter of SSM_PARAMETER, signed (SigV4) with the instance
                      role's credentials from IMDSv2, in the instance's own region
  openstack-metadata  Nova metadata keys cloudtap_settings_00..NN (255 characters each) and
                      cloudtap_settings_sha256; a text whose sha256 does not match is ignored
  file                the file FILE (the namespace lab)
  pushed              nothing to fetch: Azure's run-command pushes the settings

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
import fcntl
import hashlib
import hmac
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

TAG = "cloudtap-settings"
SOURCE_FILE = "/etc/cloudtap/settings-source.conf"
SOURCE_KEYS = ("ROLE", "SOURCE", "SSM_PARAMETER", "FILE")
ROLES = ("gateway", "sensor")
SOURCES = ("aws-ssm", "openstack-metadata", "file", "pushed")
# The shell library's SETTINGS_VALUE_CHARACTERS: the same grammar, so one file reads the same.
VALUE_CHARACTERS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ._/:,+-"
)
KEY = re.compile(r"[A-Z][A-Z0-9_]*")
SSM_PARAMETER = re.compile(r"/[A-Za-z0-9_.\-/]{1,1010}")
ABSOLUTE_PATH = re.compile(r"/[A-Za-z0-9._/-]*")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")
DOMAIN = re.compile(r"[a-z0-9.-]+")
METADATA_PREFIX = "cloudtap_settings_"
METADATA_SHA256 = "cloudtap_settings_sha256"
METADATA_CHUNK = re.compile(r"cloudtap_settings_([0-9]{2})")
MAX_SETTINGS_BYTES = 65536
"""Far above what any stack renders (SSM's Standard tier holds 4096): a bigger text is not ours."""
MAX_BUNDLE_BYTES = 4 << 20
"""Far above any boot bundle (about 50 KB, 64 KiB more with the largest custom rules)."""
TIMEOUT = 5.0
BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")  # no dots: the TLS name must match
BUNDLE_KEY = re.compile(r"(gateway|sensor)/([0-9a-f]{64})\.tar\.gz")
# Components start with a letter, digit or _: no "..", no ".", no empty ones.
BUNDLE_PATH = re.compile(r"(/[A-Za-z0-9_][A-Za-z0-9._-]{0,254}){2,16}")
BUNDLE_ROOTS = ("/etc/", "/usr/local/", "/var/lib/cloudtap/")
BUNDLE_MODES = frozenset({"0600", "0644", "0700", "0755"})
BUNDLE_DEADLINE = 600.0


class SettingsError(Exception):
    """Why this run applies nothing; logged, exit status 1."""


def log(message: str) -> None:
    print(f"{TAG}: {message}", file=sys.stderr, flush=True)


# -- the source file ---------------------------------------------------------------------------


def read_settings_text(text: str, keys: Sequence[str], name: str) -> dict[str, str]:
    """``read_settings`` of the shell library, in Python: known keys once, values of the
    allowed characters, ``"..."`` needed around spaces; anything else refused, naming the line."""
    values: dict[str, str] = {}
    if "\0" in text:
        raise SettingsError(f"{name}: holds a NUL byte")
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        if "=" not in line:
            raise SettingsError(f"{name} line {number}: expected KEY=value, not {line!r}")
        key, value = line.split("=", 1)
        if not KEY.fullmatch(key) or key not in keys:
            raise SettingsError(f"{name} line {number}: unknown key {key!r}")
        if key in values:
            raise SettingsError(f"{name} line {number}: {key} is set twice")
        if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
            value = value[1:-1]
        elif " " in value:
            raise SettingsError(f"{name} line {number}: {key}: a value with spaces needs quotes")
        if '"' in value or not set(value) <= VALUE_CHARACTERS:
            raise SettingsError(
                f"{name} line {number}: {key}: {value!r} holds a character other than "
                "letters, digits, space and . / : _ - , +"
            )
        values[key] = value
    return {key: values.get(key, "") for key in keys}


@dataclass(frozen=True)
class Source:
    role: str
    kind: str
    ssm_parameter: str = ""
    file: str = ""


def parse_source(text: str, name: str = SOURCE_FILE) -> Source:
    values = read_settings_text(text, SOURCE_KEYS, name)
    if values["ROLE"] not in ROLES:
        raise SettingsError(f"{name}: ROLE must be one of {', '.join(ROLES)}")
    if values["SOURCE"] not in SOURCES:
        raise SettingsError(f"{name}: SOURCE must be one of {', '.join(SOURCES)}")
    source = Source(values["ROLE"], values["SOURCE"], values["SSM_PARAMETER"], values["FILE"])
    if source.kind == "aws-ssm" and not SSM_PARAMETER.fullmatch(source.ssm_parameter):
        raise SettingsError(f"{name}: SSM_PARAMETER must be an SSM parameter name /a/b")
    if source.kind == "file" and not ABSOLUTE_PATH.fullmatch(source.file):
        raise SettingsError(f"{name}: FILE must be an absolute path")
    return source


# -- HTTP --------------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Metadata and SSM never redirect; following one could send credentials elsewhere."""

    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(
    _NoRedirect,
    urllib.request.ProxyHandler({}),  # the link-local services are never proxied
)


def http(
    method: str,
    url: str,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    limit: int = MAX_SETTINGS_BYTES * 2,
) -> bytes:
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with _OPENER.open(request, timeout=TIMEOUT) as response:
            data: bytes = response.read(limit + 1)
            if len(data) > limit:
                raise SettingsError(f"{method} {url}: more than {limit} bytes")
    except urllib.error.HTTPError as error:
        detail = error.read(512).decode("utf-8", "replace")
        raise SettingsError(f"{method} {url}: HTTP {error.code} {detail}") from None
    except (urllib.error.URLError, OSError) as error:
        raise SettingsError(f"{method} {url}: {error}") from None
    return data


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
    timestamp = now.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
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


def fetch_ssm(parameter: str, environ: Mapping[str, str]) -> str:
    imds, region, domain = instance_region(environ)
    endpoint = environ.get("CLOUDTAP_SSM_ENDPOINT", f"https://ssm.{region}.{domain}/")
    body = json.dumps({"Name": parameter}).encode("utf-8")
    headers = sigv4_headers(
        method="POST",
        url=endpoint,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AmazonSSM.GetParameter",
        },
        body=body,
        credentials=imds.credentials(),
        region=region,
        service="ssm",
        now=datetime.datetime.now(datetime.UTC),
    )
    answer = json.loads(http("POST", endpoint, headers, body))
    value = answer["Parameter"]["Value"]
    if not isinstance(value, str):
        raise SettingsError(f"SSM parameter {parameter}: no string value")
    return value


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
        now=datetime.datetime.now(datetime.UTC),
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


# -- OpenStack: Nova instance metadata ---------------------------------------------------------


def reassemble_metadata(meta: Mapping[str, object]) -> str:
    """The settings text from ``cloudtap_settings_00..NN``, verified against its sha256."""
    chunks: dict[int, str] = {}
    for key, value in meta.items():
        found = METADATA_CHUNK.fullmatch(key)
        if found and isinstance(value, str):
            chunks[int(found.group(1))] = value
    if not chunks:
        raise SettingsError(f"the instance metadata holds no {METADATA_PREFIX}NN keys")
    if sorted(chunks) != list(range(len(chunks))):
        raise SettingsError(f"the instance metadata's {METADATA_PREFIX}NN keys have gaps")
    text = "".join(chunks[index] for index in range(len(chunks)))
    expected = meta.get(METADATA_SHA256)
    actual = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if expected != actual:
        raise SettingsError(
            f"the settings in the instance metadata do not match {METADATA_SHA256} "
            f"({actual} != {expected!r}): ignored (a change still arriving?)"
        )
    return text


def fetch_openstack(environ: Mapping[str, str]) -> str:
    url = environ.get(
        "CLOUDTAP_OPENSTACK_METADATA_URL",
        "http://169.254.169.254/openstack/latest/meta_data.json",
    )
    document = json.loads(http("GET", url))
    meta = document.get("meta") if isinstance(document, dict) else None
    if not isinstance(meta, dict):
        raise SettingsError(f"{url}: no 'meta' object")
    return reassemble_metadata(meta)


# -- applying ----------------------------------------------------------------------------------


def fetch(source: Source, environ: Mapping[str, str]) -> str | None:
    """The settings text the source holds now; None for a pushed source."""
    if source.kind == "aws-ssm":
        return fetch_ssm(source.ssm_parameter, environ)
    if source.kind == "openstack-metadata":
        return fetch_openstack(environ)
    if source.kind == "file":
        try:
            with open(source.file, "rb") as handle:
                data = handle.read(MAX_SETTINGS_BYTES + 1)
        except OSError as error:
            raise SettingsError(f"cannot read {source.file}: {error}") from None
        return data.decode("utf-8", "replace")
    return None


def known_hashes(status_file: str) -> set[str]:
    """The sha256 in force and the one last offered (applied, refused or rolled back)."""
    try:
        with open(status_file, encoding="utf-8") as handle:
            status = json.load(handle)
    except (OSError, ValueError):
        return set()
    return {str(status.get(key)) for key in ("sha256", "offered_sha256") if status.get(key)}


@contextlib.contextmanager
def locked(state_dir: str) -> Iterator[None]:
    """One run at a time: the timer and the SSM association may fire together."""
    os.makedirs(state_dir, mode=0o755, exist_ok=True)
    with open(os.path.join(state_dir, "settings.lock"), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def offer(text: str, source: Source, state_dir: str, environ: Mapping[str, str]) -> int:
    """Hand ``text`` to ``cloudtap-ROLE apply-settings`` unless it is known; its exit status."""
    data = text.encode("utf-8")
    if len(data) > MAX_SETTINGS_BYTES:
        raise SettingsError(f"the settings are {len(data)} bytes: not cloudtap's")
    digest = hashlib.sha256(data).hexdigest()
    if digest in known_hashes(os.path.join(state_dir, f"{source.role}.status")):
        return 0
    script = environ.get("CLOUDTAP_ROLE_SCRIPT", f"/usr/local/sbin/cloudtap-{source.role}")
    with tempfile.NamedTemporaryFile(
        "wb", dir=state_dir, prefix=f"{source.role}.offered.", delete=False
    ) as offered:
        offered.write(data)
    try:
        log(f"new settings {digest}: cloudtap-{source.role} apply-settings")
        # bash by name, so the script needs no exec permission where it lies (the lab's tmp).
        command = ["bash", script, "apply-settings", offered.name]
        return subprocess.run(command, check=False).returncode
    finally:
        os.unlink(offered.name)


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    if len(argv) == 3 and argv[1] == "bundle":
        try:
            return install_bundle(argv[2], environ)
        except (OSError, SettingsError, ValueError, KeyError, IndexError) as error:
            log(f"bundle FAILED: {error}")
            return 1
    if len(argv) > 1:
        log(f"usage: cloudtap-settings [bundle MANIFEST] (the source is named in {SOURCE_FILE})")
        return 2
    source_file = environ.get("CLOUDTAP_SETTINGS_SOURCE", SOURCE_FILE)
    state_dir = environ.get("CLOUDTAP_STATE_DIR", "/var/lib/cloudtap")
    try:
        with open(source_file, encoding="utf-8") as handle:
            source = parse_source(handle.read(), source_file)
        with locked(state_dir):
            text = fetch(source, environ)
            if text is None:
                log(f"source {source.kind}: the settings are pushed, nothing to fetch")
                return 0
            return offer(text, source, state_dir, environ)
    except (OSError, SettingsError, ValueError, KeyError) as error:
        log(f"FAILED: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv, os.environ))
