"""A block device for a booted container: a sparse file on the host behind a loop device.

The cloud's separate log volume, as the sensor's user data sees it: a device node, empty at
the first boot, that the sensor formats and mounts. ``losetup --find`` picks a free loop device
(the kernel makes more through ``/dev/loop-control`` when all are taken); :meth:`close` detaches
it and removes the file, and :func:`remove_volume_leftovers` does it for a killed run's.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path

from tests.boot.machine import WORK_BASE, BootError, alive

DEFAULT_SIZE = 256 * 1024 * 1024
"""Bytes: room for Suricata's EVE of a test run (ext4 takes about 13 MB of it)."""
IMAGE_SUFFIX = ".volume"


def _losetup(*argv: str) -> str:
    result = subprocess.run(
        ["losetup", *argv], capture_output=True, text=True, timeout=30, check=False
    )
    if result.returncode != 0:
        raise BootError(f"losetup {' '.join(argv)} exited {result.returncode}: {result.stderr}")
    return result.stdout


def attached() -> dict[Path, Path]:
    """Backing file -> loop device, for every loop device the kernel has attached."""
    listing = json.loads(_losetup("--list", "--json", "--output", "NAME,BACK-FILE") or "{}")
    return {
        Path(device["back-file"]): Path(device["name"])
        for device in listing.get("loopdevices", [])
        if device.get("back-file")
    }


class LoopVolume:
    """``size`` bytes of zeros (sparse) at a free ``/dev/loopN``; call :meth:`close` when done."""

    def __init__(self, name: str, size: int = DEFAULT_SIZE) -> None:
        WORK_BASE.mkdir(parents=True, exist_ok=True)
        self.image = WORK_BASE / f"{os.getpid()}-{name}{IMAGE_SUFFIX}"
        self.image.unlink(missing_ok=True)
        with self.image.open("wb") as handle:
            handle.truncate(size)
        try:
            self.device = Path(_losetup("--find", "--show", str(self.image)).strip())
        except BaseException:
            self.image.unlink(missing_ok=True)
            raise

    def close(self) -> None:
        """Detach the loop device (a container still holding it must be gone), remove the file."""
        try:
            if attached().get(self.image) == self.device:
                _losetup("--detach", str(self.device))
        finally:
            self.image.unlink(missing_ok=True)

    def __enter__(self) -> LoopVolume:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def remove_volume_leftovers() -> None:
    """Loop devices and files of volumes whose test run is gone (killed runs)."""
    for image, device in attached().items():
        owner = image.name.split("-", 1)[0]
        if image.parent == WORK_BASE and owner.isdigit() and not alive(int(owner)):
            with contextlib.suppress(BootError):
                _losetup("--detach", str(device))
    if WORK_BASE.is_dir():
        for image in WORK_BASE.glob(f"*{IMAGE_SUFFIX}"):
            owner = image.name.split("-", 1)[0]
            if owner.isdigit() and not alive(int(owner)):
                image.unlink(missing_ok=True)
