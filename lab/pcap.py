"""Reading what ``tcpdump -w`` recorded in the lab: classic pcap files of Ethernet frames.

Pure Python, standard library only; no root needed to use it.
"""

from __future__ import annotations

import ipaddress
import struct
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

LINKTYPE_ETHERNET: Final = 1
ETHERTYPE_IPV4: Final = 0x0800
ETHERTYPE_VLAN: Final = 0x8100
_MAGIC: Final = {
    b"\xd4\xc3\xb2\xa1": "<",  # microseconds, little-endian
    b"\x4d\x3c\xb2\xa1": "<",  # nanoseconds, little-endian
    b"\xa1\xb2\xc3\xd4": ">",
    b"\xa1\xb2\x3c\x4d": ">",
}


class PcapError(ValueError):
    """The file is not a classic pcap file of Ethernet frames."""


@dataclass(frozen=True)
class Frame:
    """One recorded frame: its bytes and its length on the wire (more if the snapshot cut it)."""

    data: bytes
    wire_length: int

    @property
    def truncated(self) -> bool:
        return len(self.data) < self.wire_length

    @property
    def ipv4(self) -> bytes | None:
        """The IPv4 datagram inside (after any 802.1Q tag), trimmed to its total length: the L3
        bytes, without the Ethernet header or padding. ``None`` for anything else."""
        offset = 12
        ethertype = int.from_bytes(self.data[offset : offset + 2], "big")
        while ethertype == ETHERTYPE_VLAN:
            offset += 4
            ethertype = int.from_bytes(self.data[offset : offset + 2], "big")
        offset += 2
        if ethertype != ETHERTYPE_IPV4 or len(self.data) < offset + 20:
            return None
        total = int.from_bytes(self.data[offset + 2 : offset + 4], "big")
        return self.data[offset : offset + total]


def read_pcap(path: Path) -> list[Frame]:
    """Every frame of a pcap file; :class:`PcapError` unless it holds Ethernet frames."""
    data = path.read_bytes()
    if len(data) < 24:
        raise PcapError(f"{path}: {len(data)} bytes, shorter than a pcap header")
    order = _MAGIC.get(data[:4])
    if order is None:
        raise PcapError(f"{path}: not a pcap file (magic {data[:4].hex()})")
    (linktype,) = struct.unpack(order + "I", data[20:24])
    if linktype != LINKTYPE_ETHERNET:
        raise PcapError(f"{path}: link type {linktype}, expected Ethernet ({LINKTYPE_ETHERNET})")
    frames = []
    offset = 24
    while offset + 16 <= len(data):
        _seconds, _fraction, captured, wire = struct.unpack(
            order + "IIII", data[offset : offset + 16]
        )
        offset += 16
        frames.append(Frame(data[offset : offset + captured], wire))
        offset += captured
    return frames


class FrameCounter:
    """Counts the complete records of a pcap file while it is being written, reading each byte
    once however often it is asked."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.frames = 0
        self._order: str | None = None
        self._offset = 24  # the next record's header

    def count(self) -> int:
        try:
            with self.path.open("rb") as handle:
                if self._order is None:
                    self._order = _MAGIC.get(handle.read(4))
                    if self._order is None:
                        return 0  # not even the header yet
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return 0
        position = 0
        while position + 16 <= len(data):
            (captured,) = struct.unpack(self._order + "I", data[position + 8 : position + 12])
            if position + 16 + captured > len(data):
                break  # tcpdump is still writing it
            position += 16 + captured
            self.frames += 1
        self._offset += position
        return self.frames


def addresses(datagram: bytes) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    """(source, destination) of an IPv4 datagram."""
    return ipaddress.IPv4Address(datagram[12:16]), ipaddress.IPv4Address(datagram[16:20])


@dataclass(frozen=True)
class Comparison:
    """Two multisets of byte strings: what should have arrived and what did."""

    expected: int
    arrived: int
    matched: int
    missing: int
    extra: int
    duplicates: int
    """Of the extra ones: copies of byte strings that were expected, beyond how many times."""

    @property
    def exact(self) -> bool:
        return self.missing == 0 and self.extra == 0 and self.expected == self.arrived

    def describe(self) -> str:
        return (
            f"{self.matched}/{self.expected} byte-identical, {self.missing} missing, "
            f"{self.extra} extra, {self.duplicates} duplicated"
        )


def compare(expected: Iterable[bytes], arrived: Iterable[bytes]) -> Comparison:
    """Compare as multisets: order does not matter, every copy counts."""
    want, got = Counter(expected), Counter(arrived)
    extra = got - want
    duplicates = sum(count for data, count in extra.items() if want[data] > 0)
    return Comparison(
        expected=sum(want.values()),
        arrived=sum(got.values()),
        matched=sum((want & got).values()),
        missing=sum((want - got).values()),
        extra=sum(extra.values()),
        duplicates=duplicates,
    )


def datagrams(frames: Sequence[Frame]) -> list[bytes]:
    """The IPv4 datagrams among ``frames`` (ARP and the rest left out)."""
    return [datagram for frame in frames if (datagram := frame.ipv4) is not None]


_TCP_FLAGS = ((0x02, "S"), (0x10, "."), (0x08, "P"), (0x01, "F"), (0x04, "R"))
_ICMP_TYPES = {0: "echo reply", 8: "echo request", 3: "unreachable", 11: "time exceeded"}


def describe(datagram: bytes) -> str:
    """One tcpdump-like line for an IPv4 datagram, e.g. ``ICMP echo request 10.0.64.10 >
    203.0.113.10`` or ``TCP 203.0.113.10:40312 > 10.0.64.10:3389 [S]``."""
    source, destination = addresses(datagram)
    protocol = datagram[9]
    payload = datagram[(datagram[0] & 0x0F) * 4 :]
    if protocol == 1 and payload:
        kind = _ICMP_TYPES.get(payload[0], f"type {payload[0]}")
        return f"ICMP {kind} {source} > {destination}"
    if protocol in (6, 17) and len(payload) >= 4:
        ports = int.from_bytes(payload[0:2], "big"), int.from_bytes(payload[2:4], "big")
        line = f"{source}:{ports[0]} > {destination}:{ports[1]}"
        if protocol == 17:
            return f"UDP {line}"
        flags = payload[13] if len(payload) > 13 else 0
        return f"TCP {line} [{''.join(name for bit, name in _TCP_FLAGS if flags & bit)}]"
    return f"IP protocol {protocol} {source} > {destination}"


def _ones_complement_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(int.from_bytes(data[index : index + 2], "big") for index in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def checksums_final(datagram: bytes) -> bool:
    """Whether an IPv4 datagram's header checksum and, for TCP and UDP, its transport checksum
    are complete and right (a UDP checksum of 0 means none). A fragment's transport checksum
    covers the whole datagram: only its header is checked."""
    header = (datagram[0] & 0x0F) * 4
    if _ones_complement_sum(datagram[:header]) != 0xFFFF:
        return False
    protocol = datagram[9]
    fragmented = int.from_bytes(datagram[6:8], "big") & 0x3FFF
    if protocol not in (6, 17) or fragmented:
        return True
    segment = datagram[header:]
    if protocol == 17 and segment[6:8] == b"\0\0":
        return True
    pseudo = datagram[12:20] + bytes([0, protocol]) + len(segment).to_bytes(2, "big")
    return _ones_complement_sum(pseudo + segment) == 0xFFFF


def tcp_mss(datagram: bytes) -> int | None:
    """The MSS option of a TCP segment (a SYN's), ``None`` if it has none."""
    if datagram[9] != 6:
        return None
    segment = datagram[(datagram[0] & 0x0F) * 4 :]
    options = segment[20 : (segment[12] >> 4) * 4]
    index = 0
    while index < len(options):
        kind = options[index]
        if kind == 0:
            break
        if kind == 1:
            index += 1
            continue
        length = options[index + 1] if index + 1 < len(options) else 0
        if kind == 2 and length == 4:
            return int.from_bytes(options[index + 2 : index + 4], "big")
        index += max(length, 2)
    return None
