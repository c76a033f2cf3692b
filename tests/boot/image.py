"""The Debian 12 root file system the boot test's containers start from, built once and cached.

``debootstrap`` makes a minimal bookworm with systemd, cloud-init and what a Debian cloud image
carries for them; the result lives outside the repository, named after what went into it, so a
second run finds it. Containers never write to it: each boot runs on an overlay of its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

SUITE = "bookworm"
ARCHIVE = "http://deb.debian.org/debian"
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "cloud-init",
    # debootstrap does not resolve virtual packages: cloud-init needs python3-cryptography,
    # which needs the cffi backend by a virtual name.
    "python3-cffi-backend",
    "iproute2",
    "python3",
)
IMAGE_REVISION = 3
"""Raise when :func:`configure` changes, so a root built the old way is not reused."""
DEFAULT_CACHE = Path("/var/cache/cloudtap/boot")
BUILD_TIMEOUT = 900.0

# What a Debian cloud image's apt reads (Debian's cloud images list backports, where Debian 12
# carries Suricata); the boot's own apt-get update fetches the lists.
SOURCES_LIST = f"""deb {ARCHIVE} {SUITE} main
deb {ARCHIVE} {SUITE}-updates main
deb {ARCHIVE} {SUITE}-backports main
deb http://deb.debian.org/debian-security {SUITE}-security main
"""
# NoCloud is the only source of user data here: skip probing for cloud metadata services.
CLOUD_CFG = "datasource_list: [NoCloud, None]\n"
# cloud-init's default locale on Debian. Its locale module asks locale-gen for it, but Debian's
# locale-gen ignores arguments and builds what /etc/locale.gen lists, so an image must list it.
LOCALE = "en_US.UTF-8"


def cache_directory() -> Path:
    return Path(os.environ.get("CLOUDTAP_BOOT_CACHE", str(DEFAULT_CACHE)))


def image_name() -> str:
    """``bookworm-<hash>`` of the suite, archive, package list and revision."""
    recipe = "\n".join([SUITE, ARCHIVE, *PACKAGES, str(IMAGE_REVISION)])
    return f"{SUITE}-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _chroot(root: Path, *argv: str) -> None:
    subprocess.run(
        ["chroot", str(root), *argv],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
    )


def configure(root: Path) -> None:
    """Make the debootstrapped ``root`` look like a Debian cloud image to cloud-init."""
    (root / "etc/apt/sources.list").write_text(SOURCES_LIST)
    (root / "etc/cloud/cloud.cfg.d/90-cloudtap-boot-test.cfg").write_text(CLOUD_CFG)
    locale_gen = root / "etc/locale.gen"
    locale_gen.write_text(f"{LOCALE} UTF-8\n")
    _chroot(root, "locale-gen")
    # Already the system's locale: cloud-init does not generate it again at every first boot.
    (root / "etc/default/locale").write_text(f"LANG={LOCALE}\n")
    # cloud-init renders the seed's network-config for systemd-networkd (the image has no
    # ifupdown or netplan); its wait-online service is what network-online.target waits for.
    _chroot(root, "systemctl", "enable", "systemd-networkd.service")
    shutil.rmtree(root / "var/lib/apt/lists", ignore_errors=True)
    (root / "var/lib/apt/lists/partial").mkdir(parents=True)
    shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
    (root / "var/cache/apt/archives/partial").mkdir(parents=True)


def _audit(root: Path) -> None:
    """debootstrap reports success with packages left unconfigured: refuse such a root."""
    audit = subprocess.run(
        ["chroot", str(root), "dpkg", "--audit"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if audit.returncode != 0 or audit.stdout.strip():
        raise RuntimeError(f"debootstrap left a broken root:\n{audit.stdout}{audit.stderr}")


def ensure_root(cache: Path | None = None) -> Path:
    """The cached root, built first when missing (a few minutes; seconds once cached)."""
    cache = cache or cache_directory()
    final = cache / image_name()
    if final.is_dir():
        return final
    with _locked(cache / f".{image_name()}.lock"):
        if final.is_dir():  # another run built it while this one waited
            return final
        build = cache / f".build-{image_name()}-{os.getpid()}"
        shutil.rmtree(build, ignore_errors=True)
        try:
            result = subprocess.run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(PACKAGES)}",
                    SUITE,
                    str(build),
                    ARCHIVE,
                ],
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT,
                check=False,
            )
            if result.returncode != 0:
                log = build / "debootstrap/debootstrap.log"
                details = log.read_text()[-4000:] if log.exists() else result.stderr[-4000:]
                raise RuntimeError(f"debootstrap {SUITE} failed:\n{result.stdout[-2000:]}{details}")
            _audit(build)
            configure(build)
            build.rename(final)  # atomic: a root that exists is complete
        finally:
            shutil.rmtree(build, ignore_errors=True)
    return final
