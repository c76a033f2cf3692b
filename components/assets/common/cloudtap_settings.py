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
                      role's credentials from IMDSv2, in the instance's own region; the
                      status goes back to SSM_PARAMETER-status (cloudtap_aws.py)
  openstack-metadata  Nova metadata keys cloudtap_settings_00..NN (255 characters each) and
                      cloudtap_settings_sha256; a text whose sha256 does not match is ignored
  file                the file FILE (the namespace lab)
  pushed              nothing to fetch: Azure's run-command pushes the settings

``cloudtap-settings bundle MANIFEST`` (AWS, once, first in the boot's runcmd): the boot files
that do not fit EC2's 16 KB of user data, from S3 (see cloudtap_aws.py).

The AWS half (IMDSv2, SigV4, SSM, the S3 boot bundle) is ``cloudtap_aws.py`` beside the shell
library, written on AWS instances only: the other clouds' user data, which must fit their own
limits, does not carry it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the repository's path of the AWS half
    from types import ModuleType as AwsHalf

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
METADATA_PREFIX = "cloudtap_settings_"
METADATA_SHA256 = "cloudtap_settings_sha256"
METADATA_CHUNK = re.compile(r"cloudtap_settings_([0-9]{2})")
MAX_SETTINGS_BYTES = 65536
"""Far above what any stack renders (SSM's Standard tier holds 4096): a bigger text is not ours."""
TIMEOUT = 5.0
LIBRARY_DIR = "/usr/local/lib/cloudtap"
"""Where the user data writes ``cloudtap_aws.py`` (and the shell library)."""


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


def aws(environ: Mapping[str, str]) -> AwsHalf:
    """The AWS half, imported from the library directory on first use."""
    # Run as a script this module is __main__: registered under its own name too, so the AWS
    # half's ``import cloudtap_settings`` is this module, not a second copy whose SettingsError
    # main() would not catch.
    sys.modules.setdefault("cloudtap_settings", sys.modules[__name__])
    directory = environ.get("CLOUDTAP_LIBRARY_DIR", LIBRARY_DIR)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    import cloudtap_aws  # type: ignore[import-not-found]  # noqa: PLC0415 (on AWS only)

    half: AwsHalf = cloudtap_aws
    return half


def fetch(source: Source, environ: Mapping[str, str]) -> str | None:
    """The settings text the source holds now; None for a pushed source."""
    if source.kind == "aws-ssm":
        text: str = aws(environ).fetch_ssm(source.ssm_parameter, environ)
        return text
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
    aws_commands = {"bundle": "install_bundle", "host-key": "install_host_key"}
    if len(argv) == 3 and argv[1] in aws_commands:
        try:
            status: int = getattr(aws(environ), aws_commands[argv[1]])(argv[2], environ)
            return status
        except (OSError, SettingsError, ValueError, KeyError, IndexError, TypeError) as error:
            log(f"{argv[1]} FAILED: {error}")
            return 1
    if len(argv) > 1:
        log(
            "usage: cloudtap-settings [bundle MANIFEST | host-key PARAMETER] (the source is "
            f"named in {SOURCE_FILE})"
        )
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
            status = offer(text, source, state_dir, environ)
            if source.kind == "aws-ssm":  # the status back to the stack
                aws(environ).report(source.role, source.ssm_parameter, state_dir, environ)
            return status
    except (OSError, SettingsError, ValueError, KeyError) as error:
        log(f"FAILED: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv, os.environ))
