"""Settings delivered apart from the boot: where an instance finds its settings, and how.

The user data (see ``render_boot_cloud_config`` in :mod:`components.gateway` and
:mod:`components.sensor`) installs the scripts, the units and ``cloudtap-settings`` and names a
:class:`SettingsSource`; it holds no settings, so it (and the instance) stays the same when they
change. The settings text itself (``render_settings``) goes to the source, and the instance
applies a new one in place with ``cloudtap-ROLE apply-settings`` (preflight, apply, check, roll
back to the last good settings on failure). Cloud-neutral: each cloud's module puts the text
where its source reads it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from .cloud_config import WrittenFile, asset_text, render_settings_file
from .errors import CloudtapInputError
from .shapes import check_ssm_parameter_name

SOURCE_PATH = "/etc/cloudtap/settings-source.conf"
FETCHER_PATH = "/usr/local/sbin/cloudtap-settings"
AWS_HALF_PATH = "/usr/local/lib/cloudtap/cloudtap_aws.py"
"""The fetcher's AWS half (IMDSv2, SigV4, SSM, the S3 boot bundle): written for an ``aws-ssm``
source only, so no other cloud's user data carries it."""
FETCHER_UNIT_PATH = "/etc/systemd/system/cloudtap-settings.service"
FETCHER_TIMER_PATH = "/etc/systemd/system/cloudtap-settings.timer"
FETCHER_SERVICE = "cloudtap-settings.service"
FETCHER_TIMER = "cloudtap-settings.timer"
STATE_DIR = "/var/lib/cloudtap"
"""Where each role keeps its last good settings (``ROLE.conf.good``) and the status of the last
settings offered (``ROLE.status``: JSON with ``result`` applied, refused, rolled-back or
failed, ``sha256`` in force, ``offered_sha256``, ``message``, ``time``)."""
SOURCE_KEYS = ("ROLE", "SOURCE", "SSM_PARAMETER", "FILE")
"""The keys of the source file: ``cloudtap_settings.py``'s ``SOURCE_KEYS`` (a test holds them)."""

SSM_STANDARD_VALUE_LIMIT = 4096
"""Bytes an SSM parameter of the Standard tier holds."""
OPENSTACK_METADATA_VALUE_LIMIT = 255
"""Characters Nova allows in one instance metadata value (and in a key)."""
OPENSTACK_METADATA_PREFIX = "cloudtap_settings_"
OPENSTACK_METADATA_SHA256 = "cloudtap_settings_sha256"
OPENSTACK_METADATA_MAX_CHUNKS = 100
"""Keys ``cloudtap_settings_00..99``: two digits, and far below Nova's default quota of 128
metadata items per instance even with the sha256 key and the user's own."""
AZURE_SETTINGS_PARAMETER = "CLOUDTAP_SETTINGS_B64"
AZURE_SHA256_PARAMETER = "CLOUDTAP_SETTINGS_SHA256"


class SourceKind(StrEnum):
    """Where an instance's ``cloudtap-settings`` finds the settings."""

    AWS_SSM = "aws-ssm"
    """An SSM parameter, read with the instance role's credentials (SigV4, IMDSv2); an SSM
    association runs the fetch at once when the parameter changes, the timer every minute."""
    OPENSTACK_METADATA = "openstack-metadata"
    """Nova instance metadata (``cloudtap_settings_NN`` + ``cloudtap_settings_sha256``), which
    Nova changes in place; polled every minute."""
    PUSHED = "pushed"
    """Nothing polls: Azure's VM run-command pushes the settings
    (:func:`azure_run_command_script`, :func:`azure_run_command_parameters`)."""
    FILE = "file"
    """A file on the host (the namespace lab, or settings managed by other means)."""


@dataclass(frozen=True)
class SettingsSource:
    """Where one instance's settings live; build it with the class methods."""

    kind: SourceKind
    ssm_parameter: str = ""
    """``AWS_SSM``: the parameter's name (``/cloudtap/...``)."""
    path: str = ""
    """``FILE``: the absolute path of the settings file."""

    @classmethod
    def aws_ssm(cls, parameter_name: str) -> SettingsSource:
        return cls(SourceKind.AWS_SSM, ssm_parameter=parameter_name)

    @classmethod
    def openstack_metadata(cls) -> SettingsSource:
        return cls(SourceKind.OPENSTACK_METADATA)

    @classmethod
    def pushed(cls) -> SettingsSource:
        return cls(SourceKind.PUSHED)

    @classmethod
    def file(cls, path: str) -> SettingsSource:
        return cls(SourceKind.FILE, path=path)

    @property
    def polled(self) -> bool:
        """Whether the instance fetches (a timer and the boot's first fetch) at all."""
        return self.kind is not SourceKind.PUSHED


def render_source_file(source: SettingsSource, role: str) -> str:
    """``/etc/cloudtap/settings-source.conf``: the role and where its settings live."""
    lines: list[str | tuple[str, str | int]] = [
        "# Where cloudtap-settings finds this host's settings; written once, by the user data.",
        ("ROLE", role),
        ("SOURCE", source.kind.value),
    ]
    if source.kind is SourceKind.AWS_SSM:
        lines.append(
            ("SSM_PARAMETER", check_ssm_parameter_name("ssm_parameter", source.ssm_parameter))
        )
    if source.kind is SourceKind.FILE:
        if not source.path.startswith("/"):
            raise ValueError(f"a file settings source needs an absolute path, not {source.path!r}")
        lines.append(("FILE", source.path))
    return render_settings_file(lines, keys=SOURCE_KEYS)


def delivery_files(source: SettingsSource, role: str) -> list[WrittenFile]:
    """The fetcher, its units and the source file (no timer or fetch for a pushed source)."""
    files = [WrittenFile(SOURCE_PATH, render_source_file(source, role))]
    if source.polled:
        files += [
            WrittenFile(FETCHER_PATH, asset_text("common", "cloudtap_settings.py"), "0755"),
            WrittenFile(FETCHER_UNIT_PATH, asset_text("common", "cloudtap-settings.service")),
            WrittenFile(FETCHER_TIMER_PATH, asset_text("common", "cloudtap-settings.timer")),
        ]
    if source.kind is SourceKind.AWS_SSM:
        files.append(WrittenFile(AWS_HALF_PATH, asset_text("common", "cloudtap_aws.py"), "0644"))
    return files


def delivery_runcmd(
    source: SettingsSource, role_service: str, companions: tuple[str, ...] = ()
) -> list[list[str]]:
    """The boot's commands up to and including the role's unit, which must stay last: its
    failure is the boot's (``cloud-init status --long``). ``companions``: units ordered after
    the role's (the heartbeat sender, the health responder), enabled before it without waiting
    for them, so that only the role's own failure fails the boot."""
    commands = [["systemctl", "daemon-reload"]]
    if source.polled:
        commands += [
            ["systemctl", "enable", FETCHER_SERVICE, FETCHER_TIMER],
            # The first fetch applies the settings (apply-settings); a fetch that fails here
            # leaves the role's unit to say so, and the timer tries again every minute.
            ["systemctl", "start", FETCHER_SERVICE],
            ["systemctl", "start", FETCHER_TIMER],
        ]
        commands += [["systemctl", "enable", "--now", "--no-block", unit] for unit in companions]
        commands.append(["systemctl", "enable", "--now", role_service])
    else:
        # Pushed settings arrive after the boot and apply themselves (apply-settings); the unit
        # applies the last good ones at every later boot. Started now, with nothing to apply
        # yet, it would only fail the boot.
        commands += [["systemctl", "enable", unit] for unit in (*companions, role_service)]
    return commands


def settings_sha256(settings_text: str) -> str:
    return hashlib.sha256(settings_text.encode("utf-8")).hexdigest()


def check_fits_ssm_parameter(settings_text: str, field: str, value: object) -> None:
    """A Standard-tier SSM parameter holds 4096 bytes: fail the preview, naming ``field``."""
    size = len(settings_text.encode("utf-8"))
    if size > SSM_STANDARD_VALUE_LIMIT:
        raise CloudtapInputError(
            field,
            value,
            f"fewer entries: the settings they render are {size} bytes, and the SSM parameter "
            f"that delivers them (Standard tier) holds at most {SSM_STANDARD_VALUE_LIMIT}",
        )


def openstack_metadata_items(settings_text: str) -> dict[str, str]:
    """Nova instance metadata carrying ``settings_text``: ``cloudtap_settings_00..NN`` of at
    most 255 characters each, and ``cloudtap_settings_sha256``. The instance reassembles them
    in key order and ignores (and logs) a text whose sha256 does not match, such as one whose
    keys Nova has only partly updated."""
    limit = OPENSTACK_METADATA_VALUE_LIMIT
    chunks = [settings_text[start : start + limit] for start in range(0, len(settings_text), limit)]
    if not chunks:
        raise ValueError("empty settings")
    if len(chunks) > OPENSTACK_METADATA_MAX_CHUNKS:
        raise ValueError(
            f"settings of {len(settings_text)} characters need {len(chunks)} metadata keys; "
            f"at most {OPENSTACK_METADATA_MAX_CHUNKS} are used"
        )
    items = {f"{OPENSTACK_METADATA_PREFIX}{index:02d}": chunk for index, chunk in enumerate(chunks)}
    items[OPENSTACK_METADATA_SHA256] = settings_sha256(settings_text)
    return items


def azure_run_command_script() -> str:
    """The script of the Azure VM run-command that pushes settings (Linux: bash). It reads
    :func:`azure_run_command_parameters` from its environment, checks and decodes them as data
    and runs ``cloudtap-ROLE apply-settings``."""
    return asset_text("common", "cloudtap-settings-push.sh")


def azure_run_command_parameters(settings_text: str) -> list[Mapping[str, str]]:
    """The run-command's ``parameters`` (``[{name, value}]``): the settings, base64, and their
    sha256. Plain parameters, not protected ones: the settings hold no secret, and a change of
    them must show in the diff that makes Azure run the command again."""
    encoded = base64.b64encode(settings_text.encode("utf-8")).decode("ascii")
    return [
        {"name": AZURE_SETTINGS_PARAMETER, "value": encoded},
        {"name": AZURE_SHA256_PARAMETER, "value": settings_sha256(settings_text)},
    ]
