"""The sensor's tc BPF decapsulator as shipped: the committed object is what its source builds,
its C source and its map tool agree on the counters, and the cloud-config writes both whole."""

from __future__ import annotations

import base64
import gzip
import hashlib
import ipaddress
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from components import sensor
from components.cloud_config import asset_bytes, asset_text, written_files

ROOT = Path(__file__).resolve().parents[1]
BPF_DIR = ROOT / "components" / "assets" / "sensor" / "bpf"
OBJECT = BPF_DIR / "cloudtap_decap.bpf.o"
SOURCE = BPF_DIR / "cloudtap_decap.bpf.c"
NETWORK = "10.0.0.0/16"


def _plan() -> sensor.SensorPlan:
    return sensor.plan_sensor(None, default_feed_sources=[ipaddress.IPv4Network(NETWORK)])


def test_rebuilding_the_object_from_its_source_gives_the_committed_bytes(tmp_path: Path) -> None:
    """The committed object is the build of the committed source, so no one ships a program
    nobody can read. The build is byte-for-byte reproducible with Debian's clang 14; without
    it the test skips (and fails under CI=true, whose bootstrap installs it)."""
    missing = [tool for tool in ("clang-14", "llvm-strip-14") if shutil.which(tool) is None]
    if missing or not Path("/usr/include/bpf/bpf_helpers.h").exists():
        reason = f"scripts/build-bpf needs clang-14, llvm-strip-14 and libbpf-dev ({missing})"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    rebuilt = tmp_path / "rebuilt.o"
    result = subprocess.run(
        [str(ROOT / "scripts" / "build-bpf"), str(rebuilt)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (
        hashlib.sha256(rebuilt.read_bytes()).hexdigest()
        == hashlib.sha256(OBJECT.read_bytes()).hexdigest()
    ), "the committed object is stale: run scripts/build-bpf and commit it"


def test_the_object_is_a_bpf_program_in_the_section_the_sensor_loads() -> None:
    data = OBJECT.read_bytes()
    assert data[:4] == b"\x7fELF" and data[18:20] == (247).to_bytes(2, "little")  # EM_BPF
    assert b"cloudtap_decap" in data and b"\0tc\0" in data  # the function and `sec tc`
    script = asset_text("sensor", "cloudtap-sensor.sh")
    assert 'obj "$BPF_OBJECT" sec tc' in script
    assert "readonly BPF_NAME=cloudtap_decap" in script


def _enum(name: str) -> list[str]:
    found = re.search(r"enum " + name + r" \{(.*?)\};", SOURCE.read_text(), re.DOTALL)
    assert found is not None
    body = re.sub(r"/\*.*?\*/", "", found[1], flags=re.DOTALL)
    return [word.strip() for word in body.split(",") if word.strip()][:-1]  # the count last


def test_the_map_tool_names_the_counters_in_the_programs_order() -> None:
    namespace: dict[str, object] = {}
    exec(compile(asset_text("sensor", "cloudtap_bpf.py"), "cloudtap_bpf.py", "exec"), namespace)
    assert [f"FEED_{feed.upper()}" for feed in namespace["FEEDS"]] == _enum("feed")  # type: ignore[attr-defined]
    assert [o.upper() for o in namespace["OUTCOMES"]] == _enum("outcome")  # type: ignore[attr-defined]
    for name in ("CONFIG_MAP", "SOURCES_MAP", "COUNTERS_MAP"):
        map_name = str(namespace[name])
        assert len(map_name) < 16  # the kernel keeps 15 characters of a map's name
        assert f'}} {map_name} SEC(".maps");' in SOURCE.read_text()


def test_the_cloud_config_writes_the_object_byte_for_byte_and_its_map_tool() -> None:
    files = written_files(sensor.render_cloud_config(_plan()))
    shipped = files[sensor.BPF_OBJECT_PATH]
    # cloud-init's gz+b64: the object compressed on its own, which the user data's gzip cannot do
    assert shipped.encoding == "gz+b64"
    assert gzip.decompress(base64.b64decode(shipped.content)) == asset_bytes(
        "sensor", "bpf", "cloudtap_decap.bpf.o"
    )
    assert shipped.data() == OBJECT.read_bytes()
    helper = files[sensor.BPF_HELPER_PATH]
    assert helper.permissions == "0755" and helper.content == asset_text(
        "sensor", "cloudtap_bpf.py"
    )


def test_the_map_tool_refuses_arguments_it_cannot_put_in_the_maps() -> None:
    helper = ROOT / "components" / "assets" / "sensor" / "cloudtap_bpf.py"
    base = ["python3", "-I", str(helper), "configure", "--prog-id", "1", "--feeder", "x"]
    for extra, expected in (
        (["--feeds", "vxlan bogus", "--allow", NETWORK], "--feeds"),
        (["--feeds", "vxlan", "--allow", "10.0.0.1/16"], "--allow"),
        (["--feeds", "vxlan"], "--allow: at least one network"),
    ):
        result = subprocess.run(
            [*base, *extra], capture_output=True, text=True, timeout=30, check=False
        )
        assert result.returncode == 2 and expected in result.stderr, result.stderr
