"""``vlan_by_vni``: which mirror session a copy came from survives decapsulation as an 802.1Q
tag on the capture interface. Pure parts here (the field's checks, the settings line, the
Python decapsulator's bytes, the map tool's arguments); the lab proves every path on real
interfaces (tests/lab/test_vlan_by_vni_in_lab.py)."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from components import sensor
from components.assets.sensor import cloudtap_decap as decap
from components.errors import CloudtapInputError
from lab import feeds

ROOT = Path(__file__).resolve().parent.parent
SOURCES = (ipaddress.IPv4Network("10.0.0.0/16"),)


def plan(args: dict[str, Any] | None = None) -> sensor.SensorPlan:
    return sensor.plan_sensor(args, default_feed_sources=SOURCES)


def test_by_default_nothing_is_tagged_and_the_settings_file_is_todays() -> None:
    default = plan()
    assert default.vlan_by_vni == ()
    rendered = sensor.render_settings(default)
    assert "VLAN_BY_VNI" not in rendered
    assert sensor.render_settings(plan({"vlan_by_vni": {}})) == rendered
    assert sensor.render_settings(plan({"vlan_by_vni": None})) == rendered


def test_the_settings_carry_one_line_of_vni_vlan_pairs_in_vni_order() -> None:
    planned = plan({"vlan_by_vni": {4243: 101, "4242": 100, 16777215: 4094, 1: 1}})
    assert planned.vlan_by_vni == ((1, 1), (4242, 100), (4243, 101), (16777215, 4094))
    lines = sensor.render_settings(planned).splitlines()
    assert lines[-1] == 'VLAN_BY_VNI="1:1 4242:100 4243:101 16777215:4094"'
    assert lines[-2].startswith("# ")
    # Everything before the new key is the file a sensor without it gets.
    assert "\n".join(lines[:-2]) + "\n" == sensor.render_settings(plan())


def test_sixty_four_entries_fit() -> None:
    pairs = {vni: vni for vni in range(1, sensor.MAX_VLAN_BY_VNI + 1)}
    assert len(plan({"vlan_by_vni": pairs}).vlan_by_vni) == sensor.MAX_VLAN_BY_VNI


BAD: list[tuple[Any, str, Any, str]] = [
    ([4242, 100], "vlan_by_vni", [4242, 100], "a mapping of VNI to 802.1Q VLAN id"),
    ("4242:100", "vlan_by_vni", "4242:100", "a mapping of VNI to 802.1Q VLAN id"),
    ({0: 100}, "vlan_by_vni", 0, "VNIs (the keys) from 1 to 16777215"),
    ({16777216: 100}, "vlan_by_vni", 16777216, "VNIs (the keys) from 1 to 16777215"),
    ({True: 100}, "vlan_by_vni", True, "VNIs (the keys) from 1 to 16777215"),
    ({4242.0: 100}, "vlan_by_vni", 4242.0, "VNIs (the keys) from 1 to 16777215"),
    ({"4242 ": 100}, "vlan_by_vni", "4242 ", "VNIs (the keys) from 1 to 16777215"),
    ({"4242\n": 100}, "vlan_by_vni", "4242\n", "VNIs (the keys) from 1 to 16777215"),
    ({"+4242": 100}, "vlan_by_vni", "+4242", "VNIs (the keys) from 1 to 16777215"),
    ({"-1": 100}, "vlan_by_vni", "-1", "VNIs (the keys) from 1 to 16777215"),
    ({"0x10": 100}, "vlan_by_vni", "0x10", "VNIs (the keys) from 1 to 16777215"),
    ({"٤٢": 100}, "vlan_by_vni", "٤٢", "VNIs (the keys) from 1 to 16777215"),
    ({4242: 0}, "vlan_by_vni.4242", 0, "an 802.1Q VLAN id from 1 to 4094"),
    ({4242: 4095}, "vlan_by_vni.4242", 4095, "an 802.1Q VLAN id from 1 to 4094"),
    ({4242: "100"}, "vlan_by_vni.4242", "100", "an 802.1Q VLAN id from 1 to 4094"),
    ({4242: True}, "vlan_by_vni.4242", True, "an 802.1Q VLAN id from 1 to 4094"),
    ({4242: None}, "vlan_by_vni.4242", None, "an 802.1Q VLAN id from 1 to 4094"),
    ({4242: 100, "4242": 101}, "vlan_by_vni.4242", "4242", "each VNI once"),
    ({4242: 100, 4243: 100}, "vlan_by_vni.4243", 100, "VNI 4242 is on VLAN 100 already"),
    (
        {vni: vni for vni in range(1, 66)},
        "vlan_by_vni",
        "65 entries",
        "at most 64 entries",
    ),
]


@pytest.mark.parametrize(
    ("value", "field", "got", "expected"), BAD, ids=[repr(case[0])[:40] for case in BAD]
)
def test_a_bad_mapping_is_refused_naming_the_field_and_the_value(
    value: Any, field: str, got: Any, expected: str
) -> None:
    with pytest.raises(CloudtapInputError) as error:
        plan({"vlan_by_vni": value})
    assert error.value.field == field
    assert error.value.value == got
    assert expected in error.value.expected
    assert str(error.value).startswith(f"{field}: got {got!r}; expected ")


def test_a_plan_forced_to_hold_a_bad_pair_is_never_rendered() -> None:
    forced = dataclasses.replace(plan(), vlan_by_vni=((4242, 5000),))
    with pytest.raises(ValueError, match=re.escape("vlan_by_vni.4242")):
        sensor.render_cloud_config(forced)
    twice = dataclasses.replace(plan(), vlan_by_vni=((4242, 100), (4242, 101)))
    with pytest.raises(ValueError, match="vlan_by_vni"):
        sensor.render_cloud_config(twice)


# -- the Python decapsulator: the same bytes the kernel and the BPF program deliver ------------


def tag(vlan: int) -> bytes:
    return struct.pack("!HH", 0x8100, vlan)


def with_tag(frame: bytes, vlan: int) -> bytes:
    """The frame with an 802.1Q tag after its MAC addresses: what the lab expects."""
    return frame[:12] + tag(vlan) + frame[12:]


def decapsulated(kind: str, index: int, vni: int, vlans: dict[int, bytes]) -> tuple[bytes, bytes]:
    """(what cloudtap-decap writes for frame ``index`` of ``kind``, the frame untagged)."""
    packet, expected = list(
        feeds.stream(kind, index + 1, source="10.0.64.10", destination="10.0.128.10", vni=vni)
    )[index]
    if kind in ("aws-vxlan", "azure-vxlan"):
        payload, name = packet[28:], decap.VXLAN
        offset, header, _ = decap.parse_vxlan(payload, len(payload))
    elif kind in ("gwlb-geneve", "gwlb-inline"):
        payload, name = packet[28:], decap.GENEVE
        offset, header, _ = decap.parse_geneve(payload, len(payload))
    else:
        payload, name = packet, decap.GRE
        everything = frozenset({decap.GRE, decap.ERSPAN})
        offset, header, _ = decap.parse_gre(payload, len(payload), 20, everything)
    assert offset >= 0
    found = vlans.get(decap.vni_of(name, payload, offset, header))
    if found is None:
        return header + payload[offset:], expected
    return decap.tagged(payload[offset:], header, found), expected


@pytest.mark.parametrize("kind", ["aws-vxlan", "azure-vxlan", "gwlb-geneve"])
@pytest.mark.parametrize("index", range(7))
def test_a_listed_vni_gets_its_tag_after_the_macs_outermost_on_a_tagged_frame(
    kind: str, index: int
) -> None:
    vlans = decap.parse_vlans("4242:100 77:3000")
    written, frame = decapsulated(kind, index, 4242, vlans)
    assert written == with_tag(frame, 100)
    if frame[12:14] == b"\x81\x00":  # the stream's tagged frames: the new tag comes first
        assert written[12:20] == tag(100) + frame[12:16]


@pytest.mark.parametrize("kind", feeds.KINDS)
@pytest.mark.parametrize("index", range(7))
def test_unlisted_vnis_gre_and_erspan_stay_byte_identical(kind: str, index: int) -> None:
    vlans = decap.parse_vlans("4243:100")
    written, frame = decapsulated(kind, index, 4242, vlans)
    assert written == frame


def test_gwlb_geneve_is_tagged_by_the_inner_vxlan_vni_not_geneves() -> None:
    # The stream's GENEVE VNI is 0; the session's VNI is the inner VXLAN's.
    packet = next(
        feeds.stream("gwlb-geneve", 1, source="10.0.64.10", destination="10.0.128.10", vni=4242)
    )[0]
    payload = packet[28:]
    assert payload[4:7] == b"\0\0\0"
    offset, header, _ = decap.parse_geneve(payload, len(payload))
    assert decap.vni_of(decap.GENEVE, payload, offset, header) == 4242


def test_geneve_carrying_ethernet_or_bare_ip_is_tagged_by_geneves_own_vni() -> None:
    frame = feeds.inner_frame(0, 128, b"TST", "udp4")
    ethernet = struct.pack("!BBHI", 0, 0, 0x6558, 4242 << 8) + frame
    offset, header, _ = decap.parse_geneve(ethernet, len(ethernet))
    assert decap.vni_of(decap.GENEVE, ethernet, offset, header) == 4242
    bare = struct.pack("!BBHI", 0, 0, 0x0800, 4243 << 8) + frame[14:]
    offset, header, _ = decap.parse_geneve(bare, len(bare))
    assert decap.vni_of(decap.GENEVE, bare, offset, header) == 4243
    tagged = decap.tagged(bare[offset:], header, decap.vlan_tag(7))
    assert tagged == with_tag(feeds.SYNTHETIC_HEADER[0x0800] + frame[14:], 7)


def test_the_tag_is_tpid_8100_pcp_0_dei_0() -> None:
    assert decap.vlan_tag(1) == bytes.fromhex("81000001")
    assert decap.vlan_tag(4094) == bytes.fromhex("81000ffe")


@pytest.mark.parametrize(
    "words",
    ["4242", "4242:0", "4242:4095", "0:1", "16777216:1", "4242:1 4242:2", "1:7 2:7", "a:b"],
)
def test_the_decapsulator_and_the_map_tool_refuse_pairs_the_script_would(words: str) -> None:
    with pytest.raises(ValueError):
        decap.parse_vlans(words)
    helper = ROOT / "components" / "assets" / "sensor" / "cloudtap_bpf.py"
    argv = [sys.executable, "-I", str(helper), "configure-tagger", "--prog-id", "1"]
    result = subprocess.run(
        [*argv, "--feeder", "lo", "--vlans", words],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "--vlans" in result.stderr


def test_the_decapsulator_reads_the_pairs_from_its_config(tmp_path: Path) -> None:
    config = tmp_path / "decap.conf"
    config.write_text('DEVICE="cloudtap0-tx"\nFEEDS="geneve"\nALLOW="10.0.0.0/16"\n'
                      'VLAN_BY_VNI="4242:100 4243:101"\n')  # fmt: skip
    args = decap.parse_arguments(["--config", str(config)])
    assert args.vlans == {4242: tag(100), 4243: tag(101)}
    assert args.vlan_words == "4242:100 4243:101"
    untagged = tmp_path / "untagged.conf"
    untagged.write_text('DEVICE="cloudtap0-tx"\nFEEDS="geneve"\nALLOW="10.0.0.0/16"\n')
    assert decap.parse_arguments(["--config", str(untagged)]).vlans == {}


def test_the_bound_is_the_same_in_every_place() -> None:
    script = (ROOT / "components" / "assets" / "sensor" / "cloudtap-sensor.sh").read_text()
    source = (
        ROOT / "components" / "assets" / "sensor" / "bpf" / "cloudtap_decap.bpf.c"
    ).read_text()
    helper = (ROOT / "components" / "assets" / "sensor" / "cloudtap_bpf.py").read_text()
    bound = sensor.MAX_VLAN_BY_VNI
    assert f"readonly MAX_VLAN_BY_VNI={bound} " in script
    assert f"#define MAX_VLANS {bound}\n" in source
    assert f"MAX_VLANS = {bound}  " in helper
    assert bound == decap.MAX_VLANS
