"""A packed boot: the boot's files as one xz tar inside the user data, for OpenStack.

Nova counts user data in base64 characters (65,535 at most), so the sensor's boot files, which
gzip to about 49 KB, leave almost nothing for the stack's own IDS rules. cloud-init decompresses
only gzip, and xz packs the same files about a seventh smaller. So the packed cloud-config writes
two files: the unpacker (``cloudtap-unpack``, standard-library Python) and the archive (base64
of ``tar.xz``), and its ``runcmd`` starts with the unpacker, which writes every file of the
archive at its mode before anything that needs them runs. The AWS boot bundle does the same with
an archive in S3. ``cloudtap-unpack`` refuses the whole archive, writing nothing, unless every
member is a regular file under the roots cloudtap writes, at one of the modes it uses.

Cloud-neutral and pure.
"""

from __future__ import annotations

import base64
import lzma
from typing import Any

import yaml

from .cloud_config import WrittenFile, asset_text, deterministic_tar, render, written_files

UNPACKER_PATH = "/usr/local/lib/cloudtap/cloudtap-unpack"
ARCHIVE_PATH = "/var/lib/cloudtap/boot-files.tar.xz"
UNPACK_COMMAND = ["python3", "-I", UNPACKER_PATH, ARCHIVE_PATH]
XZ_PRESET = 9 | lzma.PRESET_EXTREME
"""The smallest archive liblzma makes; its output depends on the input and the preset only (no
time stamp, no name), so an unchanged boot renders the same user data."""


def xz_deterministic(data: bytes) -> bytes:
    """xz of ``data``, CRC-64 checked on unpacking (the format's default)."""
    return lzma.compress(data, format=lzma.FORMAT_XZ, preset=XZ_PRESET)


def unpacker() -> WrittenFile:
    return WrittenFile(UNPACKER_PATH, asset_text("common", "cloudtap_unpack.py"), "0755")


def packed_boot(boot_config: str) -> str:
    """``boot_config`` with its ``write_files`` packed: the same boot, the same files at the same
    modes, written first thing in ``runcmd`` instead of by cloud-init's ``write_files``.

    Every other key (packages, mounts, the rest of ``runcmd``) is kept as it is. A config that
    writes no files, or already writes the unpacker or the archive, is refused.
    """
    document: dict[str, Any] = yaml.safe_load(boot_config)
    files = list(written_files(boot_config).values())
    if not files:
        raise ValueError("nothing to pack: the cloud-config writes no files")
    if {UNPACKER_PATH, ARCHIVE_PATH} & {entry.path for entry in files}:
        raise ValueError(f"{UNPACKER_PATH} and {ARCHIVE_PATH} are the packed boot's own")
    document.pop("write_files")
    document["runcmd"] = [UNPACK_COMMAND, *document.get("runcmd", [])]
    archive = xz_deterministic(deterministic_tar(files))
    own = [
        unpacker(),
        WrittenFile(ARCHIVE_PATH, base64.b64encode(archive).decode("ascii"), "0600", "b64"),
    ]
    return render(yaml.safe_dump(document, sort_keys=False), own)
