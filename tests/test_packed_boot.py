"""The packed boot (the OpenStack sensor's): the real unpacker, run as the boot runs it, writes
exactly the boot's files at their modes; every archive it should not trust is refused with
nothing written; the packed cloud-config keeps every other key and passes cloud-init's schema."""

from __future__ import annotations

import base64
import io
import lzma
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from components.cloud_config import WrittenFile, written_files
from components.os_family import OsFamily
from components.packed_boot import (
    ARCHIVE_PATH,
    UNPACK_COMMAND,
    UNPACKER_PATH,
    packed_boot,
    xz_deterministic,
)
from components.sensor import LogVolume, render_boot_cloud_config
from components.settings_delivery import SettingsSource
from components.user_data import PACKED_BOOTS, gzip_base64, sent_cloud_config
from tests.bundles import same_files, unpacked_files
from tests.cloud_init import assert_valid_cloud_config
from tests.test_settings_fetcher import aws_half, load_module

UNPACKER = Path(__file__).resolve().parent.parent / "components/assets/common/cloudtap_unpack.py"
RULES = 'alert tcp any any -> any 8080 (msg:"local"; sid:1000001; rev:1;)\n'


def openstack_sensor_boot(family: OsFamily = OsFamily.DEBIAN) -> str:
    return render_boot_cloud_config(
        source=SettingsSource.openstack_metadata(),
        os_family=family,
        log_volume=LogVolume(),
        ids_custom_rules=RULES,
    )


def unpack(archive: bytes, root: Path) -> subprocess.CompletedProcess[str]:
    """The shipped unpacker, as the boot's runcmd runs it, writing under ``root``."""
    path = root.parent / "boot-files.tar.xz"
    path.write_bytes(archive)
    return subprocess.run(
        [sys.executable, "-I", str(UNPACKER), str(path)],
        env={**os.environ, "CLOUDTAP_UNPACK_ROOT": str(root)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def on_disk(root: Path) -> dict[str, tuple[bytes, str]]:
    """Path -> (bytes, mode) of every file under ``root``, as :func:`same_files` has them."""
    found = {}
    for path in root.rglob("*"):
        if path.is_file():
            mode = f"{stat.S_IMODE(path.stat().st_mode):04o}"
            found["/" + str(path.relative_to(root))] = (path.read_bytes(), mode)
    return found


def archive_of(cloud_config: str) -> bytes:
    return written_files(cloud_config)[ARCHIVE_PATH].data()


@pytest.mark.parametrize("family", list(OsFamily))
def test_the_unpacker_writes_exactly_the_boot_s_files_at_their_modes(
    family: OsFamily, tmp_path: Path
) -> None:
    boot = openstack_sensor_boot(family)
    packed = packed_boot(boot)
    root = tmp_path / "root"
    result = unpack(archive_of(packed), root)
    assert result.returncode == 0, result.stderr
    expected = same_files(written_files(boot))
    assert on_disk(root) == expected
    assert expected["/var/lib/cloudtap/rules/custom.rules"] == (RULES.encode(), "0644")
    # The binary (the tc BPF object) comes out as the bytes the plain boot would write.
    assert any(f.encoding for f in written_files(boot).values())
    assert f"{len(expected)} files written" in result.stderr
    # The tests' own reading of a packed boot agrees with the real unpacker.
    assert same_files(unpacked_files(packed)) == expected


def test_the_packed_config_keeps_every_other_key_and_unpacks_first() -> None:
    boot = openstack_sensor_boot()
    packed = packed_boot(boot)
    plain, sent = yaml.safe_load(boot), yaml.safe_load(packed)
    assert sent["runcmd"] == [UNPACK_COMMAND, *plain["runcmd"]]
    for key in set(plain) - {"write_files", "runcmd"}:
        assert sent[key] == plain[key], key
    assert set(sent) == set(plain)
    own = written_files(packed)
    assert list(own) == [UNPACKER_PATH, ARCHIVE_PATH]
    assert own[UNPACKER_PATH].content == UNPACKER.read_text()
    assert own[UNPACKER_PATH].permissions == "0755"
    assert (own[ARCHIVE_PATH].encoding, own[ARCHIVE_PATH].permissions) == ("b64", "0600")
    assert packed_boot(boot) == packed  # no time stamp: the same boot, the same user data
    assert_valid_cloud_config(packed)


def test_only_the_openstack_sensor_is_packed_and_packing_makes_it_smaller() -> None:
    assert sorted(PACKED_BOOTS) == [("openstack", "sensor")]
    boot = openstack_sensor_boot()
    assert sent_cloud_config("openstack", "sensor", boot) == packed_boot(boot)
    assert sent_cloud_config("azure", "sensor", boot) == boot
    assert sent_cloud_config("openstack", "gateway", boot) == boot
    plain, packed = len(gzip_base64(boot)), len(gzip_base64(packed_boot(boot)))
    assert packed < plain - 4000, (plain, packed)


def test_a_config_that_writes_nothing_or_the_packer_s_own_paths_is_refused() -> None:
    with pytest.raises(ValueError, match="writes no files"):
        packed_boot("#cloud-config\nruncmd: [[true]]\n")
    with pytest.raises(ValueError, match="packed boot's own"):
        packed_boot(packed_boot(openstack_sensor_boot()))


def tar_xz(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return xz_deterministic(buffer.getvalue())


def member(name: str, mode: int = 0o644, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode, info.type = mode, kind
    if kind == tarfile.SYMTYPE:
        info.linkname = "/etc/shadow"
    return info


GOOD = (member("etc/cloudtap/good.conf"), b"good\n")


@pytest.mark.parametrize(
    ("archive", "reason"),
    [
        (tar_xz(GOOD, (member("root/.ssh/authorized_keys"), b"x")), "not a path under"),
        (tar_xz(GOOD, (member("etc/../root/x"), b"x")), "not a path under"),
        (tar_xz(GOOD, (member("etc/cloudtap/link", kind=tarfile.SYMTYPE), b"")), "regular"),
        (tar_xz(GOOD, (member("etc/cloudtap/dir", kind=tarfile.DIRTYPE), b"")), "regular"),
        (tar_xz(GOOD, (member("usr/local/sbin/x", mode=0o4755), b"x")), "mode 4755"),
        (tar_xz(GOOD, (member("usr/local/sbin/x", mode=0o777), b"x")), "mode 0777"),
        (tar_xz(GOOD, GOOD), "comes twice"),
        (tar_xz(), "holds no files"),
        (lzma.compress(b"not a tar", format=lzma.FORMAT_XZ)[:-8], "not an xz tar"),
        (base64.b64encode(b"plain text"), "not an xz tar"),
    ],
)
def test_an_archive_it_should_not_trust_is_refused_whole(
    archive: bytes, reason: str, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    result = unpack(archive, root)
    assert result.returncode == 1
    assert "cloudtap-unpack: FAILED:" in result.stderr and reason in result.stderr, result.stderr
    assert not root.exists()  # nothing written, not even the good member


def test_a_good_archive_overwrites_files_whole(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc/cloudtap").mkdir(parents=True)
    (root / "etc/cloudtap/good.conf").write_text("old, longer than the new\n")
    result = unpack(tar_xz(GOOD, (member("usr/local/sbin/run", mode=0o755), b"#!/bin/sh\n")), root)
    assert result.returncode == 0, result.stderr
    assert on_disk(root) == {
        "/etc/cloudtap/good.conf": (b"good\n", "0644"),
        "/usr/local/sbin/run": (b"#!/bin/sh\n", "0755"),
    }


def test_the_unpacker_wants_one_argument(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-I", str(UNPACKER)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2 and "usage: cloudtap-unpack ARCHIVE" in result.stderr


def test_a_written_file_is_the_same_either_way() -> None:
    # The tests' helper reads a plain boot as it is.
    boot = openstack_sensor_boot()
    assert unpacked_files(boot) == written_files(boot)
    assert isinstance(next(iter(unpacked_files(boot).values())), WrittenFile)


def test_the_unpacker_admits_exactly_the_paths_and_modes_the_aws_bundle_admits() -> None:
    """Each boot ships only its own unpacking code, so neither script can import the other's
    grammar (and a comment saying so would cost the OpenStack sensor's user data room)."""
    unpacker_module = load_module("cloudtap_unpack", UNPACKER)
    assert unpacker_module.PATH.pattern == aws_half.BUNDLE_PATH.pattern
    assert unpacker_module.ROOTS == aws_half.BUNDLE_ROOTS
    assert {f"{mode:04o}" for mode in unpacker_module.MODES} == aws_half.BUNDLE_MODES
