"""What a bundled (AWS) or packed (OpenStack sensor) boot ends with: the user data's files and
the archive's, for tests."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
from typing import Any

from components.boot_bundle import MANIFEST_PATH
from components.cloud_config import WrittenFile, written_files
from components.packed_boot import ARCHIVE_PATH, UNPACKER_PATH
from components.user_data import LIMITS


def small_cloud_config(user_data_base64: str) -> str:
    """The cloud-config of an instance's ``userDataBase64``: gzip, within EC2's 16 KB."""
    compressed = base64.b64decode(user_data_base64, validate=True)
    assert len(compressed) <= LIMITS["aws"].limit
    return gzip.decompress(compressed).decode("utf-8")


def boot_files(user_data: str, archive: bytes) -> dict[str, WrittenFile]:
    """Every file the boot writes, by path: the user data's (but the manifest) and the
    archive's at the manifest's modes (binary ones as ``b64``). The archive must be the
    manifest's."""
    files = written_files(user_data)
    manifest = json.loads(files.pop(MANIFEST_PATH).content)
    assert hashlib.sha256(archive).hexdigest() == manifest["sha256"]
    modes = {entry["path"]: entry["mode"] for entry in manifest["files"]}
    for path, (mode, data) in _members(archive, "r:gz").items():
        files[path] = _written(path, data, modes[path])
        assert int(modes[path], 8) == mode
    return files


def unpacked_files(cloud_config: str) -> dict[str, WrittenFile]:
    """Every file a boot writes, by path: its ``write_files``, and for a packed boot the
    archive's files (at their members' modes) in place of the unpacker and the archive."""
    files = written_files(cloud_config)
    if ARCHIVE_PATH not in files:
        return files
    del files[UNPACKER_PATH]
    archive = files.pop(ARCHIVE_PATH).data()
    for path, (mode, data) in _members(archive, "r:xz").items():
        assert path not in files
        files[path] = _written(path, data, f"{mode:04o}")
    return files


def _members(archive: bytes, mode: str) -> dict[str, tuple[int, bytes]]:
    members = {}
    with tarfile.open(fileobj=io.BytesIO(archive), mode=mode) as tar:  # type: ignore[call-overload]
        for member in tar:
            handle = tar.extractfile(member)
            assert handle is not None
            members["/" + member.name] = (member.mode, handle.read())
    return members


def _written(path: str, data: bytes, mode: str) -> WrittenFile:
    """Text files as text, binary ones as ``b64``: as :func:`same_files` compares them."""
    try:
        return WrittenFile(path, data.decode("utf-8"), mode)
    except UnicodeDecodeError:
        return WrittenFile(path, base64.b64encode(data).decode(), mode, "b64")


def same_files(files: dict[str, WrittenFile]) -> dict[str, tuple[bytes, str]]:
    """Path -> (bytes, mode): what two ways of writing the same files have in common."""
    return {path: (f.data(), f.permissions) for path, f in files.items()}


def bundled_boot(run: Any, instance: str, bundle_object: str) -> tuple[str, dict[str, WrittenFile]]:
    """(small cloud-config, every file the boot writes) of ``instance`` in a mocked run, whose
    bundle is the registered object ``bundle_object``."""
    small = small_cloud_config(run.named(instance).inputs["userDataBase64"])
    archive = base64.b64decode(run.named(bundle_object).inputs["contentBase64"], validate=True)
    return small, boot_files(small, archive)
