"""cloudtap-decap, the sensor's userspace decapsulator: parsing, settings, portability.

Packets are built by the lab's feed builders (``lab.feeds``), the same bytes the lab
sends; here the parsers are fed directly, without sockets or root.
"""

from __future__ import annotations

import ast
import ipaddress
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from components.assets.sensor import cloudtap_decap as decap
from lab import feeds

DECAP = Path(decap.__file__)
EVERYTHING = frozenset({decap.GRE, decap.ERSPAN})


def frame(index: int = 3, size: int = 128) -> bytes:
    return feeds.inner_frame(index, size, b"TST", "udp4")


def inner(packet: bytes, parsed: decap.Decapsulated) -> bytes:
    offset, header, _ = parsed
    assert offset >= 0, parsed
    return header + packet[offset:]


def outer_payload(kind: str, index: int = 0) -> tuple[bytes, bytes]:
    """(what the receiving socket hands over, the frame expected on the capture interface):
    the UDP payload for VXLAN and GENEVE, the whole IPv4 packet for GRE (raw sockets)."""
    packet, expected = list(
        feeds.stream(kind, index + 1, source="10.0.64.10", destination="10.0.128.10")
    )[index]
    if kind in ("aws-vxlan", "azure-vxlan", "gwlb-geneve", "gwlb-inline"):
        return packet[28:], expected
    return packet, expected


@pytest.mark.parametrize("index", range(7))
def test_vxlan_gives_back_the_inner_frame_of_any_size_and_vni(index: int) -> None:
    payload, expected = outer_payload("aws-vxlan", index)
    assert inner(payload, decap.parse_vxlan(payload, len(payload))) == expected


def test_vxlan_without_the_vni_flag_is_refused() -> None:
    payload = b"\x00" * 8 + frame()
    assert decap.parse_vxlan(payload, len(payload)) == (-1, b"", "vxlan_no_vni_flag")


@pytest.mark.parametrize("index", range(6))
def test_gwlb_inline_geneve_gets_the_fixed_ethernet_header_in_front_of_the_bare_ip_packet(
    index: int,
) -> None:
    payload, expected = outer_payload("gwlb-inline", index)
    assert payload[8:10] == b"\x01\x08"  # the first option's class: Amazon
    parsed = decap.parse_geneve(payload, len(payload))
    assert inner(payload, parsed) == expected
    assert expected[:12] == decap.SYNTHETIC_DESTINATION + decap.SYNTHETIC_SOURCE


@pytest.mark.parametrize("index", range(7))
def test_a_mirror_to_a_gwlb_endpoint_gives_the_mirrored_frame_from_inside_both_layers(
    index: int,
) -> None:
    payload, expected = outer_payload("gwlb-geneve", index)
    assert payload[8:10] == b"\x01\x08"  # the first option's class: Amazon
    parsed = decap.parse_geneve(payload, len(payload))
    assert inner(payload, parsed) == expected
    assert payload[-len(expected) :] == expected  # written as received: nothing recomputed


def test_a_vxlan_mirror_packet_to_another_port_is_only_decapsulated_on_that_port() -> None:
    payload, expected = outer_payload("gwlb-geneve", 2)
    udp = 8 + 32 + 20  # GENEVE header and options, then the inner IPv4 header
    moved = payload[: udp + 2] + (4790).to_bytes(2, "big") + payload[udp + 4 :]
    assert inner(moved, decap.parse_geneve(moved, len(moved)))[:12] == (
        decap.SYNTHETIC_DESTINATION + decap.SYNTHETIC_SOURCE
    )
    assert inner(moved, decap.parse_geneve(moved, len(moved), frozenset({4790}))) == expected


def test_a_fragment_of_a_vxlan_mirror_packet_stays_an_ip_packet() -> None:
    payload, _ = outer_payload("gwlb-geneve", 2)
    ip = 8 + 32
    fragment = payload[: ip + 6] + b"\x20\x00" + payload[ip + 8 :]  # more fragments
    assert decap.parse_geneve(fragment, len(fragment))[1] == decap.SYNTHETIC_HEADERS[decap.ETH_P_IP]


def test_geneve_with_an_ethernet_payload_is_passed_whole() -> None:
    payload = struct.pack("!BBHI", 0, 0, decap.ETH_P_TEB, 5 << 8) + frame()
    assert inner(payload, decap.parse_geneve(payload, len(payload))) == frame()


@pytest.mark.parametrize(
    ("first_bytes", "reason"),
    [(b"\x40\x00", "geneve_version"), (b"\x00\x80", "geneve_oam")],
    ids=["version-1", "oam"],
)
def test_geneve_control_and_unknown_versions_are_refused(first_bytes: bytes, reason: str) -> None:
    payload = first_bytes + struct.pack("!HI", decap.ETH_P_IP, 0) + frame()[14:]
    assert decap.parse_geneve(payload, len(payload)) == (-1, b"", reason)


@pytest.mark.parametrize("index", range(4))
def test_gre_teb_with_and_without_key_sequence_and_checksum(index: int) -> None:
    packet, expected = outer_payload("gre", index)
    assert inner(packet, decap.parse_gre(packet, len(packet), 20, EVERYTHING)) == expected


@pytest.mark.parametrize("index", [0, 4, 5])  # udp4, a tagged frame (en=3), full size
def test_erspan_type_2_as_linux_and_openstack_send_it(index: int) -> None:
    packet, expected = outer_payload("erspan", index)
    assert inner(packet, decap.parse_gre(packet, len(packet), 20, EVERYTHING)) == expected


def test_erspan_type_1_has_no_erspan_header() -> None:
    packet = feeds.gre(decap.ETH_P_ERSPAN, frame(), None, None, False)
    assert inner(packet, decap.parse_gre(packet, len(packet), 0, EVERYTHING)) == frame()


@pytest.mark.parametrize("subheader", [False, True], ids=["plain", "platform-subheader"])
def test_erspan_type_3_with_and_without_the_platform_subheader(subheader: bool) -> None:
    word = (3 << 1) | (1 if subheader else 0)  # gra=3, O bit
    header = struct.pack("!HHIHH", 2 << 12, 17, 1234, 0, word)
    header += struct.pack("!II", 0x18000011, 7) if subheader else b""
    packet = feeds.gre(decap.ETH_P_ERSPAN3, header + frame(), None, 9, False)
    assert inner(packet, decap.parse_gre(packet, len(packet), 0, EVERYTHING)) == frame()


def test_erspan_type_3_carrying_ip_gets_the_fixed_ethernet_header() -> None:
    header = struct.pack("!HHIHH", 2 << 12, 17, 1234, 0, (2 << 10) | (3 << 1))  # frame type 2
    packet = feeds.gre(decap.ETH_P_ERSPAN3, header + frame()[14:], None, 9, False)
    parsed = decap.parse_gre(packet, len(packet), 0, EVERYTHING)
    assert inner(packet, parsed) == decap.SYNTHETIC_HEADERS[decap.ETH_P_IP] + frame()[14:]


def test_gre_protocols_the_kernel_terminates_are_left_to_it() -> None:
    teb, _ = outer_payload("gre", 0)
    erspan, _ = outer_payload("erspan", 0)
    only_erspan = frozenset({decap.ERSPAN})
    assert decap.parse_gre(teb, len(teb), 20, only_erspan)[2] == "gre_not_served"
    assert decap.parse_gre(erspan, len(erspan), 20, frozenset({decap.GRE}))[2] == (
        "erspan_not_served"
    )


@pytest.mark.parametrize(
    ("flags", "protocol", "reason"),
    [(0x4000, decap.ETH_P_TEB, "gre_flags"), (0x0001, decap.ETH_P_TEB, "gre_flags"),
     (0x0000, 0x0800, "gre_protocol")],
    ids=["routing-bit", "version-1-pptp", "plain-ip"],
)  # fmt: skip
def test_gre_the_sensor_does_not_understand_is_refused(
    flags: int, protocol: int, reason: str
) -> None:
    packet = struct.pack("!HH", flags, protocol) + frame()
    assert decap.parse_gre(packet, len(packet), 0, EVERYTHING) == (-1, b"", reason)


def test_truncated_packets_are_refused_not_sent() -> None:
    payload, _ = outer_payload("aws-vxlan", 0)
    assert decap.parse_vxlan(payload, 20)[0] == -1
    packet, _ = outer_payload("erspan", 0)
    assert decap.parse_gre(packet, 30, 20, EVERYTHING)[0] == -1


def test_only_the_feed_sources_are_allowed() -> None:
    sources = decap.Sources([ipaddress.IPv4Network("10.0.0.0/16")])
    assert sources.allowed("10.0.64.10")
    assert not sources.allowed("198.51.100.7")
    assert sources.allowed("10.0.64.10")  # cached answer, same result


def test_settings_come_from_the_file_cloudtap_sensor_writes(tmp_path: Path) -> None:
    config = tmp_path / "decap.conf"
    config.write_text(
        "# written by cloudtap-sensor apply\n"
        'DEVICE="cloudtap0-tx"\nFEEDS="geneve gre erspan"\nALLOW="10.0.0.0/16 10.9.0.0/24"\n'
        'VXLAN_PORT="4789"\nGENEVE_PORT="6081"\nREADY_FILE="/run/cloudtap/decap.ready"\n'
    )
    args = decap.parse_arguments(["--config", str(config), "--geneve-port", "16081"])
    assert args.device == "cloudtap0-tx"
    assert args.feeds == ["geneve", "gre", "erspan"]
    assert [str(network) for network in args.allow] == ["10.0.0.0/16", "10.9.0.0/24"]
    assert args.geneve_port == 16081  # an option overrides the file
    assert args.ready_file == "/run/cloudtap/decap.ready"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--feeds", "geneve", "--allow", "10.0.0.0/16"], "--device"),
        (["--device", "x", "--feeds", "sflow", "--allow", "10.0.0.0/16"], "--feeds"),
        (["--device", "x", "--feeds", "geneve"], "at least one network"),
    ],
    ids=["no-device", "unknown-feed", "no-sources"],
)
def test_bad_settings_are_refused_naming_the_option(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        decap.parse_arguments(argv)
    assert message in capsys.readouterr().err


def test_the_decapsulator_parses_as_python_3_9_amazon_linux_2023s_python() -> None:
    ast.parse(DECAP.read_text(), feature_version=(3, 9))


def test_the_decapsulator_runs_with_the_standard_library_alone() -> None:
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(DECAP), "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "cloudtap-decap" in result.stdout


def test_the_decapsulator_runs_under_python_3_9_where_installed() -> None:
    python39 = shutil.which("python3.9")
    if python39 is None:
        pytest.skip("no python3.9 here (Amazon Linux 2023's Python)")
    result = subprocess.run(
        [python39, "-I", "-S", str(DECAP), "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if "command not found" in result.stderr:  # a pyenv shim without that version selected
        pytest.skip("python3.9 is a shim without an installed interpreter behind it")
    assert result.returncode == 0, result.stderr
