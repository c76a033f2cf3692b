"""The shell library's device checks read ``ip -j -d link show``, whatever iproute2 prints.

The devices are the ones the sensor and the gateway create, as iproute2 6.1 (Debian 12) and 6.15
(Debian 13) print them (``tests/iproute2_links.json``); a stand-in ``ip`` serves them.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from components.cloud_config import asset_text

LINKS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent / "iproute2_links.json").read_text()
)
VERSIONS = [key for key in LINKS if not key.startswith("_")]
FAKE_IP = """#!/bin/sh
# Only what the library asks: ip -j -d link show dev NAME
[ "$1 $2 $3 $4 $5" = "-j -d link show dev" ] || { echo "unexpected: ip $*" >&2; exit 2; }
cat "$CLOUDTAP_TEST_LINKS/$6.json" 2>/dev/null ||
    { echo "Device \\"$6\\" does not exist." >&2; exit 1; }
"""

# What the scripts require of each device (cloudtap-sensor's kernel_device_ok and
# capture_pair_ok, cloudtap-gateway's mirror_device_ok).
SENSOR_VXLAN = ("linkinfo.info_kind=vxlan", "linkinfo.info_data.external=true")
SENSOR_VXLAN_PORT = (*SENSOR_VXLAN, "linkinfo.info_data.port=4789")
GATEWAY_MIRROR = (
    "linkinfo.info_kind=vxlan",
    "linkinfo.info_data.id=4242",
    "linkinfo.info_data.remote=10.0.128.10",
    "linkinfo.info_data.port=4789",
)


@pytest.fixture(params=VERSIONS)
def shell(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Runs a snippet of bash with the library sourced and one iproute2 version's devices."""
    links = tmp_path / "links"
    links.mkdir()
    for device, shown in LINKS[request.param].items():
        (links / f"{device}.json").write_text(json.dumps(shown))
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "ip").write_text(FAKE_IP)
    (tools / "ip").chmod(0o755)
    library = tmp_path / "cloudtap-net.sh"
    library.write_text(asset_text("common", "cloudtap-net.sh"))
    environment = {
        **os.environ,
        "PATH": f"{tools}:{os.environ['PATH']}",
        "CLOUDTAP_TEST_LINKS": str(links),
    }

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", f'set -euo pipefail; . "{library}"; "$@"', "snippet", *argv],
            capture_output=True,
            text=True,
            check=False,
            env=environment,
            cwd=tmp_path,
        )

    return run


def test_a_vxlan_external_device_is_recognised_in_both_shapes(shell: Any) -> None:
    assert shell("link_matches", "cloudtap-vxlan", *SENSOR_VXLAN_PORT).returncode == 0


def test_a_vxlan_device_with_a_remote_is_not_external_in_either_shape(shell: Any) -> None:
    # 6.1 leaves "external" out for such a device, 6.15 prints false: neither is "true".
    assert shell("link_matches", "cloudtap-mirror", *SENSOR_VXLAN).returncode == 1


def test_the_gateway_mirror_device_is_recognised_by_vni_remote_and_port(shell: Any) -> None:
    assert shell("link_matches", "cloudtap-mirror", *GATEWAY_MIRROR).returncode == 0
    assert shell("link_matches", "cloudtap-vxlan", *GATEWAY_MIRROR).returncode == 1
    wrong_port = (*GATEWAY_MIRROR[:-1], "linkinfo.info_data.port=4790")
    assert shell("link_matches", "cloudtap-mirror", *wrong_port).returncode == 1


@pytest.mark.parametrize(
    ("device", "kind", "other"),
    [("cloudtap-gre", "gretap", "erspan"), ("cloudtap-erspan", "erspan", "gretap")],
)
def test_gre_devices_in_collect_metadata_mode_are_told_apart(
    shell: Any, device: str, kind: str, other: str
) -> None:
    external = "linkinfo.info_data.external=true"
    assert shell("link_matches", device, f"linkinfo.info_kind={kind}", external).returncode == 0
    assert shell("link_matches", device, f"linkinfo.info_kind={other}", external).returncode == 1


def test_the_capture_veth_pair_names_its_peer(shell: Any) -> None:
    pair = ("linkinfo.info_kind=veth", "link=cloudtap0")
    assert shell("link_matches", "cloudtap0-tx", *pair).returncode == 0
    assert shell("link_matches", "cloudtap0", *pair).returncode == 1


def test_flags_and_mtu(shell: Any) -> None:
    flags = shell("link_flags", "cloudtap0")
    assert flags.stdout == ",BROADCAST,MULTICAST,NOARP,UP,LOWER_UP,\n", flags.stderr
    assert shell("link_mtu", "cloudtap0").stdout == "9216\n"
    assert shell("link_mtu", "cloudtap-mirror").stdout == "8951\n"


def test_fields_come_one_per_line_and_an_absent_one_is_empty(shell: Any) -> None:
    result = shell("link_fields", "cloudtap-vxlan", "linkinfo.info_kind", "no.such", "mtu")
    assert result.stdout == "vxlan\n\n9216\n", result.stderr


def test_a_missing_device_fails_every_helper(shell: Any) -> None:
    for helper in ("link_fields", "link_flags", "link_mtu"):
        assert shell(helper, "cloudtap-none", "mtu").returncode == 1
    assert shell("link_matches", "cloudtap-none", "mtu=9216").returncode == 1


def test_a_field_path_is_data_never_code(shell: Any, tmp_path: Path) -> None:
    path = "x'); __import__('os').system('touch pwned'); ('"
    result = shell("link_fields", "cloudtap0", path)
    assert (result.returncode, result.stdout) == (0, "\n")
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("role", ["gateway", "sensor"])
def test_no_script_reads_the_human_link_output(role: str) -> None:
    script = asset_text(role, f"cloudtap-{role}.sh") + asset_text("common", "cloudtap-net.sh")
    assert "ip -d -o link" not in script
    assert "ip -o link" not in script
