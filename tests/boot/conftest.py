"""Fixtures for the real-boot tests: skipped where they cannot run, failed instead under CI=true."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.boot import image
from tests.boot.archive_proxy import ArchiveProxy
from tests.boot.machine import WORK_BASE, remove_leftovers
from tests.boot.volume import remove_volume_leftovers

# Tool -> the Debian package that has it (scripts/bootstrap installs them).
REQUIRED_TOOLS = {
    "systemd-nspawn": "systemd-container",
    "debootstrap": "debootstrap",
    "socat": "socat",
    "nsenter": "util-linux",
    "ip": "iproute2",
}


def unavailable_reason() -> str | None:
    """Why containers cannot be booted here, in one sentence; ``None`` when they can."""
    if os.geteuid() != 0:
        return "booting containers needs root (network namespaces, mounts, systemd-nspawn)"
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        packages = " ".join(dict.fromkeys(REQUIRED_TOOLS[tool] for tool in missing))
        return f"booting containers needs {', '.join(missing)} (apt-get install {packages})"
    return None


@pytest.fixture(scope="session")
def boot_environment() -> None:
    reason = unavailable_reason()
    if reason is None:
        remove_leftovers()
        remove_volume_leftovers()
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"the real-boot tests must run under CI=true, but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def debian_root(boot_environment: None) -> Path:
    """The cached Debian 12 root (built on first use, a minute or more)."""
    return image.ensure_root()


@pytest.fixture(scope="session")
def archive_proxy(boot_environment: None) -> Iterator[ArchiveProxy]:
    WORK_BASE.mkdir(parents=True, exist_ok=True)
    with ArchiveProxy(
        WORK_BASE / f"{os.getpid()}-archive.sock", image.cache_directory() / "archive"
    ) as proxy:
        yield proxy
