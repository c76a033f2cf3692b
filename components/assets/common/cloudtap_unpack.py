#!/usr/bin/env python3
"""cloudtap-unpack ARCHIVE: write the boot's files out of the xz tar the user data carries.

Run once, first in the boot's runcmd, on clouds whose user data limit the boot's files would
otherwise fill (OpenStack). cloud-init writes this script and ARCHIVE; this writes every member
of ARCHIVE at its path, with its mode, owned by root, each file whole (a temporary file renamed
over it). The archive is checked whole before the first file is written: a member that is not a
regular file, lies outside the roots cloudtap writes, comes twice or has another mode refuses it
all, so a boot never runs on half its files. Standard library only.
"""

from __future__ import annotations

import lzma
import os
import re
import sys
import tarfile
import tempfile
from collections.abc import Mapping, Sequence

TAG = "cloudtap-unpack"
PATH = re.compile(r"(/[A-Za-z0-9_][A-Za-z0-9._-]{0,254}){2,16}")
ROOTS = ("/etc/", "/usr/local/", "/var/lib/cloudtap/")
MODES = frozenset({0o600, 0o644, 0o700, 0o755})
MAX_BYTES = 16 * 1024 * 1024
"""Far above a boot's files (a few hundred KB unpacked): a bigger archive is not ours."""


class UnpackError(Exception):
    """Why nothing was written; logged, exit status 1."""


def log(message: str) -> None:
    print(f"{TAG}: {message}", file=sys.stderr, flush=True)


def read_members(archive_path: str) -> dict[str, tuple[int, bytes]]:
    """Path -> (mode, content) of every member, or UnpackError before anything is written."""
    members: dict[str, tuple[int, bytes]] = {}
    total = 0
    try:
        with tarfile.open(archive_path, mode="r:xz") as tar:
            for member in tar:
                path = "/" + member.name
                mode = member.mode & 0o7777
                if not member.isreg():
                    raise UnpackError(f"member {member.name!r}: not a regular file")
                if not PATH.fullmatch(path) or not path.startswith(ROOTS):
                    raise UnpackError(f"member {member.name!r}: not a path under {ROOTS}")
                if path in members:
                    raise UnpackError(f"member {member.name!r}: comes twice")
                if mode not in MODES:
                    raise UnpackError(f"member {member.name!r}: mode {mode:04o} is not ours")
                total += member.size
                if total > MAX_BYTES:
                    raise UnpackError(f"more than {MAX_BYTES} bytes unpacked")
                handle = tar.extractfile(member)
                if handle is None:
                    raise UnpackError(f"member {member.name!r}: unreadable")
                members[path] = (mode, handle.read())
    except (tarfile.TarError, lzma.LZMAError, EOFError, OSError) as error:
        raise UnpackError(f"{archive_path}: not an xz tar archive: {error}") from None
    if not members:
        raise UnpackError(f"{archive_path}: holds no files")
    return members


def write_members(members: Mapping[str, tuple[int, bytes]], root: str) -> None:
    for path, (mode, data) in members.items():
        target = root.rstrip("/") + path
        directory = os.path.dirname(target)
        os.makedirs(directory, mode=0o755, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=directory, delete=False) as handle:
            handle.write(data)
            os.fchmod(handle.fileno(), mode)
        os.replace(handle.name, target)


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    if len(argv) != 2:
        log("usage: cloudtap-unpack ARCHIVE")
        return 2
    try:
        members = read_members(argv[1])
        write_members(members, environ.get("CLOUDTAP_UNPACK_ROOT", "/"))
    except (UnpackError, OSError) as error:
        log(f"FAILED: {error}")
        return 1
    log(f"{argv[1]}: {len(members)} files written")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv, os.environ))
