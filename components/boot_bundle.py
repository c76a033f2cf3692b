"""The boot bundle: a boot's files in an archive beside the instance, its user data made small.

EC2 takes 16 KB of user data and the gateway's boot files gzip to about 22 KB (the sensor's to 49
KB). So on AWS the files go into a deterministic ``tar.gz`` (an S3 object whose key holds its
sha256), and the user data keeps only what cloud-init itself needs: the fetcher
(``cloudtap-settings`` and its AWS half), a manifest (bucket, key, sha256, every path and its mode),
the packages, the log volume and the runcmd, which starts with ``cloudtap-settings bundle``. The
fetcher checks the archive against the sha256 and writes exactly the manifest's files with the
manifest's modes. A new bundle is a new key, so the user data (and with
``user_data_replace_on_change`` the instance) changes with it, and a running instance's object is
never overwritten.

Cloud-neutral and pure: :mod:`components.aws.boot_bundle` stores it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from .cloud_config import WrittenFile, deterministic_tar, render, written_files
from .settings_delivery import AWS_HALF_PATH, FETCHER_PATH
from .user_data import gzip_deterministic

MANIFEST_PATH = "/etc/cloudtap/boot-bundle.json"
FETCHER_FILES = (FETCHER_PATH, AWS_HALF_PATH)
"""What the user data carries itself: the fetcher and its AWS half, which fetch the rest."""
BUNDLE_COMMAND = ["python3", "-I", FETCHER_PATH, "bundle", MANIFEST_PATH]
ROLES = ("gateway", "sensor")
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
"""What the fetcher accepts: S3's rule without dots (a dotted name breaks the TLS name)."""
LONGEST_BUCKET_NAME = "cloudtap-boot-" + hashlib.sha256(b"bucket").hexdigest()[:49]
"""63 characters that compress badly: sizes measured with it bound the real bucket's (shorter,
``cloudtap-boot-`` and a suffix), so the preview can check the limit before the name exists."""


@dataclass(frozen=True)
class BootBundle:
    """The files of one role's boot, packed; build it with :func:`boot_bundle`."""

    role: str
    boot_config: str
    """The whole cloud-config the bundle stands for (what the lab and the tests read)."""
    files: tuple[WrittenFile, ...]
    """What the archive holds: every file of :attr:`boot_config` but :data:`FETCHER_FILES`."""
    archive: bytes
    """``tar.gz``: members named by path without the leading ``/``, owner root, time 0."""
    direct_paths: tuple[str, ...] = ()
    """Files the user data writes itself, not the archive: those that differ between
    instances sharing the bundle (a zone gateway's ENI)."""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.archive).hexdigest()

    @property
    def key(self) -> str:
        """The S3 object key: a new bundle is a new object, never an overwrite."""
        return f"{self.role}/{self.sha256}.tar.gz"

    def manifest(self, bucket: str) -> str:
        """The manifest the user data writes, which the fetcher reads (JSON, as data)."""
        if not BUCKET_NAME.fullmatch(bucket):
            raise ValueError(f"bucket {bucket!r}: expected an S3 bucket name without dots")
        files = [{"path": f.path, "mode": f.permissions} for f in self.files]
        document = {"bucket": bucket, "key": self.key, "sha256": self.sha256, "files": files}
        return json.dumps(document, indent=1) + "\n"

    def user_data(self, bucket: str, direct: Sequence[WrittenFile] = ()) -> str:
        """The small cloud-config: everything of :attr:`boot_config` but its files, which the
        runcmd's first command fetches; the fetcher and the manifest written directly, and
        :attr:`direct_paths`, from ``direct`` (this instance's own) or else the boot config."""
        document: dict[str, Any] = yaml.safe_load(self.boot_config)
        boot_files = written_files(self.boot_config)
        own = {entry.path: entry for entry in direct}
        if not set(own) <= set(self.direct_paths):
            raise ValueError(f"only {self.direct_paths} are written directly, not {sorted(own)}")
        document.pop("write_files")
        document["runcmd"] = [BUNDLE_COMMAND, *document["runcmd"]]
        direct = [
            *(boot_files[path] for path in FETCHER_FILES),
            WrittenFile(MANIFEST_PATH, self.manifest(bucket)),
            *(own.get(path, boot_files[path]) for path in self.direct_paths),
        ]
        return render(yaml.safe_dump(document, sort_keys=False), direct)


def with_files(bundle: BootBundle, extra: Sequence[WrittenFile]) -> BootBundle:
    """``bundle`` with ``extra`` files too (a sensor's host-feed listener, known only once its
    certificate is issued); a path already in the boot is refused."""
    every = written_files(bundle.boot_config)
    clashing = sorted(entry.path for entry in extra if entry.path in every)
    if clashing:
        raise ValueError(f"{clashing}: already written by the boot config")
    document: dict[str, Any] = yaml.safe_load(bundle.boot_config)
    document.pop("write_files")
    config = render(yaml.safe_dump(document, sort_keys=False), [*every.values(), *extra])
    return boot_bundle(bundle.role, config, bundle.direct_paths)


def boot_bundle(role: str, boot_config: str, direct_paths: tuple[str, ...] = ()) -> BootBundle:
    """``boot_config``'s files as a bundle, but the fetcher's (which the user data carries) and
    ``direct_paths`` (which it writes itself)."""
    if role not in ROLES:
        raise ValueError(f"role {role!r}: expected one of {ROLES}")
    every = written_files(boot_config)
    if any(path not in every for path in FETCHER_FILES):
        raise ValueError("a boot bundle needs an aws-ssm settings source: its fetcher fetches it")
    if any(path not in every for path in direct_paths):
        raise ValueError(f"{direct_paths}: not all written by the boot config")
    kept = (*FETCHER_FILES, *direct_paths)
    files = tuple(f for path, f in every.items() if path not in kept)
    return BootBundle(
        role, boot_config, files, gzip_deterministic(deterministic_tar(files)), direct_paths
    )
