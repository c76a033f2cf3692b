"""A host feed installed on an existing EC2 instance through SSM: a Command document that writes
the feed's files and starts it, and an association that runs it on that instance alone.

``vxlan`` feeds, and ``tls`` feeds whose key is in an SSM SecureString (``aws_host_roles``): a
key never sits in the document, which anyone allowed ``ssm:GetDocument`` reads, so other ``tls``
hosts get their part as an output only.
The instance needs the SSM agent and an instance profile allowing it
(``AmazonSSMManagedInstanceCore``).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ..cloud_config import WrittenFile
from ..host_feed import (
    HOST_PACKAGES,
    HostCredentials,
    HostFeedPlan,
    HostFeedTransport,
    host_feed_files,
)
from ..os_family import DEFAULT_OS_FAMILY
from ..shapes import is_shell_safe_file, is_ssm_document_name

FILES_SHA256_PARAMETER: Final = "filesSha256"
"""Not read by the command: a change of the files changes the association, so SSM runs it at
once (as the settings push's ``settingsVersion``)."""
DOCUMENT_CONTENT_LIMIT: Final = 64 * 1024
"""Bytes SSM allows in a Command document's content."""
SERVICE: Final = "cloudtap-hostfeed.service"


@dataclass(frozen=True)
class HostFeedInstall:
    """One existing instance's install: which instance, and the document that installs it."""

    source: str
    instance_id: str
    document_name: str
    content: str
    files_sha256: str


def _write_command(entry: WrittenFile) -> str:
    """One file written whole from gzip+base64 (its mode set before it takes its name); path,
    mode and data are checked, so nothing but them reaches the shell."""
    packed = base64.b64encode(gzip.compress(entry.data(), mtime=0)).decode()
    if not is_shell_safe_file(entry.path, entry.permissions, packed):
        raise ValueError(f"host feed file {entry.path!r}: not a plain path, mode and content")
    return f"cloudtap_write {entry.path} {entry.permissions} '{packed}'"


def install_commands(files: Sequence[WrittenFile], packages: Sequence[str]) -> list[str]:
    """The shell lines the document runs: the packages (if missing), the files, the unit."""
    directories = sorted({posixpath.dirname(entry.path) for entry in files})
    wanted = " ".join(packages)
    install_packages = (
        [
            f"command -v nft >/dev/null || dnf -y install {wanted} || yum -y install {wanted} "
            f"|| apt-get install -y {wanted}"
        ]
        if packages
        else []
    )
    return [
        "set -eu",
        'cloudtap_write() { printf \'%s\' "$3" | base64 -d | gzip -dc > "$1.cloudtap-new"; '
        'chmod "$2" "$1.cloudtap-new"; mv -f "$1.cloudtap-new" "$1"; }',
        *install_packages,
        f"install -d -m 0755 {' '.join(directories)}",
        *(_write_command(entry) for entry in files),
        "systemctl daemon-reload",
        f"systemctl enable {SERVICE}",
        # restart, not start: a changed settings file takes effect on a host already feeding
        f"systemctl restart {SERVICE}",
    ]


def install_document(
    plan: HostFeedPlan,
    credentials: HostCredentials | None = None,
    key_parameter: str | None = None,
) -> tuple[str, str]:
    """The Command document installing ``plan``'s feed, and the sha256 of what it writes. A
    ``tls`` feed only with ``key_parameter``: the document holds its certificates, never a key
    (the host fetches that from its SecureString)."""
    if plan.transport is not HostFeedTransport.VXLAN and key_parameter is None:
        raise ValueError(f"host feed {plan.name}: a tls feed's key never goes in a document")
    if credentials is not None and credentials.private_key is not None:
        raise ValueError(f"host feed {plan.name}: a key never goes in a document")
    files = host_feed_files(plan, credentials, key_parameter=key_parameter)
    commands = install_commands(files, HOST_PACKAGES[DEFAULT_OS_FAMILY])
    digest = hashlib.sha256("\n".join(commands).encode()).hexdigest()
    content = json.dumps(
        {
            "schemaVersion": "2.2",
            "description": f"cloudtap: install and start the host feed of {plan.name}",
            "parameters": {
                FILES_SHA256_PARAMETER: {
                    "type": "String",
                    "description": "The sha256 of the installed files (changes the association)",
                    "allowedPattern": "^[0-9a-f]{64}$",
                    "default": "0" * 64,
                }
            },
            "mainSteps": [
                {
                    "action": "aws:runShellScript",
                    "name": "installHostFeed",
                    "inputs": {"runCommand": commands, "timeoutSeconds": "600"},
                }
            ],
        },
        sort_keys=True,
    )
    if len(content.encode()) > DOCUMENT_CONTENT_LIMIT:
        raise ValueError(f"host feed {plan.name}: its SSM document is over 64 KB")
    return content, digest


def document_name(project: str, stack: str, session: str, source: str) -> str | None:
    """``cloudtap-PROJECT-STACK-SESSION-SOURCE-hostfeed``, or ``None`` when SSM refuses it."""
    name = f"cloudtap-{project}-{stack}-{session}-{source}-hostfeed"
    return name if is_ssm_document_name(name) else None
