"""The lab's evidence tools, without root: pcap reading and comparison, and the feed builders,
whose formats an independent dissector (tshark) must recognise as each cloud's."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from lab import feeds
from lab.lab import RecorderStats, recorder_stats
from lab.pcap import FrameCounter, PcapError, compare, describe, read_pcap

SENSOR = "10.0.128.10"
SOURCE = "10.0.64.10"


def write_pcap(path: Path, packets: list[bytes], linktype: int) -> Path:
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)
    records = b"".join(struct.pack("<IIII", 0, 0, len(p), len(p)) + p for p in packets)
    path.write_bytes(header + records)
    return path


def test_compare_counts_missing_extra_and_duplicated_copies() -> None:
    verdict = compare([b"a", b"b", b"c"], [b"a", b"a", b"b", b"x"])
    assert (verdict.matched, verdict.missing, verdict.extra, verdict.duplicates) == (2, 1, 2, 1)
    assert not verdict.exact
    assert compare([b"a", b"a"], [b"a", b"a"]).exact


def test_frames_and_their_ipv4_datagrams_come_back_from_a_pcap(tmp_path: Path) -> None:
    tagged = feeds.inner_frame(4, 1518, b"TST")  # index 4: 802.1Q-tagged IPv4 UDP
    arp = feeds.inner_frame(3, 60, b"TST")
    frames = read_pcap(write_pcap(tmp_path / "x.pcap", [tagged, arp], 1))
    assert [frame.data for frame in frames] == [tagged, arp]
    datagram = frames[0].ipv4
    assert datagram is not None and len(datagram) == 1518 - 18
    assert describe(datagram) == "UDP 192.168.1.1:40004 > 192.168.2.5:53"
    assert frames[1].ipv4 is None


def test_a_file_of_another_link_type_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PcapError, match="link type 101"):
        read_pcap(write_pcap(tmp_path / "raw.pcap", [b"\x45" + b"\0" * 19], 101))


def test_aws_vxlan_source_ports_vary_per_flow_like_traffic_mirroring() -> None:
    packets = [p for p, _ in feeds.stream("aws-vxlan", 50, source=SOURCE, destination=SENSOR)]
    ports = {struct.unpack("!H", packet[20:22])[0] for packet in packets}
    assert len(ports) > 10 and all(49152 <= port <= 65535 for port in ports)
    assert {struct.unpack("!H", packet[22:24])[0] for packet in packets} == {4789}


def dissect(tmp_path: Path, kind: str, fields: list[str], vni: int = 77) -> list[list[str]]:
    """tshark's reading of the outer packets of a stream (DLT_RAW), one row per packet."""
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (apt-get install tshark)")
    packets = [p for p, _ in feeds.stream(kind, 14, source=SOURCE, destination=SENSOR, vni=vni)]
    path = write_pcap(tmp_path / f"{kind}.pcap", packets, 101)
    argv = ["tshark", "-r", str(path), "-T", "fields"]
    for field in fields:
        argv += ["-e", field]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert len(rows) == len(packets)
    return rows


def test_tshark_reads_the_aws_and_azure_streams_as_vxlan_with_their_vnis(tmp_path: Path) -> None:
    assert {row[0] for row in dissect(tmp_path, "aws-vxlan", ["vxlan.vni"])} == {"77"}
    rows = dissect(tmp_path, "azure-vxlan", ["vxlan.vni"], vni=4_000_001)
    assert {row[0] for row in rows} == {"4000001"}


def test_tshark_reads_the_gwlb_stream_as_geneve_with_amazons_options(tmp_path: Path) -> None:
    rows = dissect(tmp_path, "gwlb-geneve", ["geneve.option.class", "geneve.proto_type"])
    assert {row[0] for row in rows} == {"0x0108,0x0108,0x0108"}
    assert {row[1] for row in rows} <= {"0x0800", "0x86dd"}


def test_tshark_reads_the_openstack_streams_as_gre_and_erspan_type_2(tmp_path: Path) -> None:
    gre_rows = dissect(tmp_path, "gre", ["gre.proto", "gre.flags_and_version"])
    assert {row[0] for row in gre_rows} == {"0x6558"}
    assert len({row[1] for row in gre_rows}) == 4  # none, key, key+sequence, all three
    erspan_rows = dissect(tmp_path, "erspan", ["erspan.version", "erspan.spanid", "gre.proto"])
    assert {(row[0], row[1], row[2]) for row in erspan_rows} == {("1", "17", "0x88be")}


def test_frames_are_counted_while_tcpdump_is_still_writing_the_last_one(tmp_path: Path) -> None:
    frames = [feeds.inner_frame(index, 128, b"TST") for index in range(3)]
    whole = write_pcap(tmp_path / "w.pcap", frames, 1).read_bytes()
    path = tmp_path / "growing.pcap"
    counter = FrameCounter(path)
    assert counter.count() == 0  # not created yet
    path.write_bytes(whole[:10])
    assert counter.count() == 0  # half a file header
    path.write_bytes(whole[: 24 + 2 * (16 + 128) + 20])  # two records and a part of the third
    assert counter.count() == 2
    path.write_bytes(whole)
    assert counter.count() == 3


def test_tcpdumps_counts_are_read_from_its_sigusr1_line_and_from_its_exit_lines() -> None:
    asked = [
        "tcpdump: 479 packets captured, 500 packets received by filter, 1 packet dropped by kernel"
    ]
    stats = recorder_stats(asked)
    assert stats == RecorderStats(captured=479, received=500, dropped=1) and stats.pending == 20
    exited = [
        "500 packets captured",
        "500 packets received by filter",
        "0 packets dropped by kernel",
    ]
    stats = recorder_stats(["tcpdump: listening on cloudtap0", *asked, *exited])
    assert stats == RecorderStats(captured=500, received=500, dropped=0) and stats.pending == 0
    assert recorder_stats(["tcpdump: listening on cloudtap0"]) is None
