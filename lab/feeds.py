"""Mirror feeds as each cloud sends them, built byte by byte, for the lab's sensor.

Run as a standalone script inside a lab host (``python -I -S feeds.py send ...``): it imports only
the standard library, builds every outer IPv4 packet itself and sends it through a raw socket, so
the sending host needs no tunnel driver. The lab imports the same module to know, frame for
frame, what the sensor's capture interface must show. Every stream is deterministic: frame ``i``
of a kind is the same bytes on both sides.

Kinds (each format as tshark and scapy dissect it, field by field):

``aws-vxlan``
    AWS Traffic Mirroring: VXLAN (RFC 7348) to UDP 4789, flags 0x08, the session's VNI, UDP
    source port varying per inner flow (49152 + CRC32 of the inner headers), UDP checksum 0.
``azure-vxlan``
    Azure virtual network TAP: the same format with the TAP's own VNI.
``gwlb-geneve``
    AWS Traffic Mirroring to a Gateway Load Balancer endpoint, as AWS's packet-format page
    describes it: GENEVE (RFC 8926) to UDP 6081, three class-0x0108 options (endpoint 8 bytes,
    attachment 8 bytes, flow cookie 4 bytes), protocol 0x0800, a real UDP checksum; inside, the
    VXLAN mirror packet itself (IPv4, UDP 4789, VXLAN with the session's VNI) around the
    mirrored Ethernet frame. The capture interface shows that frame.
``gwlb-inline``
    A Gateway Load Balancer's own traffic (inline, not mirroring): the same GENEVE carrying the
    bare IP packet (0x0800/0x86DD). The sensor gives it a fixed Ethernet header,
    :data:`SYNTHETIC_HEADER`.
``gre``
    OpenStack tap mirror ``gre``: GRE transparent Ethernet bridging (0x6558), cycling through
    no options, key, key and sequence number, checksum and key and sequence number.
``erspan``
    OpenStack tap mirror ``erspanv1`` (Linux ``erspan_ver 1``, Open vSwitch): GRE with only the
    sequence-number flag, protocol 0x88BE, ERSPAN type II header (session, index; for a tagged
    frame en=3 and its VLAN).
``erspan3``
    ERSPAN type III (Linux ``erspan_ver 2``, Open vSwitch ``erspan_ver=2``): GRE with only the
    sequence-number flag, protocol 0x22EB, the 12-byte type III header (frame type 0), and on
    every other frame the 8-byte platform-specific subheader.

Inner frames cycle through IPv4 UDP and TCP, IPv6 UDP, ARP and 802.1Q-tagged IPv4 UDP, of
:data:`SIZES` bytes (one 8000-byte jumbo frame in every cycle); every payload carries the
stream's three-byte tag and the frame's index, so no two frames are alike.
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
import time
import zlib
from collections.abc import Iterator, Sequence
from typing import Final

ETH_P_IP: Final = 0x0800
ETH_P_IPV6: Final = 0x86DD
ETH_P_ARP: Final = 0x0806
ETH_P_8021Q: Final = 0x8100
ETH_P_TEB: Final = 0x6558
ETH_P_ERSPAN: Final = 0x88BE
ETH_P_ERSPAN3: Final = 0x22EB
VXLAN_PORT: Final = 4789
GENEVE_PORT: Final = 6081
IPPROTO_UDP: Final = 17
IPPROTO_GRE: Final = 47
SYNTHETIC_HEADER: Final = {
    ETH_P_IP: bytes.fromhex("0200000000020200000000010800"),
    ETH_P_IPV6: bytes.fromhex("02000000000202000000000186dd"),
}
"""What the sensor puts in front of a bare IP packet (GENEVE from a Gateway Load Balancer)."""
SIZES: Final = (60, 64, 128, 576, 1514, 1518, 8000)
"""Inner frame sizes, cycled: minimum, small, Internet-typical, full, tagged full, jumbo."""
INNER_KINDS: Final = ("udp4", "tcp4", "udp6", "arp", "vlan_udp4")
KINDS: Final = (
    "aws-vxlan", "azure-vxlan", "gwlb-geneve", "gwlb-inline", "gre", "erspan", "erspan3"
)  # fmt: skip
TAGS: Final = {
    "aws-vxlan": b"AWS",
    "azure-vxlan": b"AZV",
    "gwlb-geneve": b"GWL",
    "gwlb-inline": b"GWI",
    "gre": b"GRE",
    "erspan3": b"ER3",
}
"""The tag every inner payload of a kind carries (``erspan`` uses ``ERS``)."""


def tag_of(kind: str) -> bytes:
    return TAGS.get(kind, b"ERS")


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(int(word) for word in struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4_header(
    source: bytes, destination: bytes, protocol: int, payload: int, ident: int
) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + payload, ident & 0xFFFF, 0x4000, 64, protocol, 0,
        source, destination,
    )  # fmt: skip
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:]


def inner_frame(index: int, size: int, tag: bytes, kind: str | None = None) -> bytes:
    """Frame ``index`` of a stream: ``size`` bytes, no FCS, tagged ``tag + index``."""
    kind = kind or INNER_KINDS[index % len(INNER_KINDS)]
    destination = bytes([0x02, 0xAA, 0, 0, (index >> 8) & 0xFF, index & 0xFF])
    source = bytes([0x02, 0xBB, 0, 0, 0, 1])
    marker = tag + struct.pack("!I", index)
    if kind == "arp":
        arp = struct.pack(
            "!HHBBH6s4s6s4s", 1, ETH_P_IP, 6, 4, 1, source, bytes([10, 9, 0, 1]), b"\0" * 6,
            bytes([10, 9, (index >> 8) & 0xFF, index & 0xFF]),
        )  # fmt: skip
        frame = b"\xff" * 6 + source + struct.pack("!H", ETH_P_ARP) + arp + marker
        return frame + b"\0" * max(0, size - len(frame))
    link = destination + source
    if kind == "vlan_udp4":
        link += struct.pack("!HH", ETH_P_8021Q, 100 + index % 50)
    l3_length = size - len(link) - 2
    if kind == "udp6":
        l4_length = l3_length - 40
        l4 = struct.pack("!HHHH", 40000 + index % 1000, 53, l4_length, 0)
        body = marker + bytes((j * 3 + index) & 0xFF for j in range(l4_length - 8 - len(marker)))
        ip6 = struct.pack(
            "!IHBB16s16s", 0x60000000, l4_length, IPPROTO_UDP, 64,
            bytes.fromhex("fd000000000000000000000000000001"),
            bytes.fromhex(f"fd0000000000000000000000000000{index & 0xFF:02x}"),
        )  # fmt: skip
        return link + struct.pack("!H", ETH_P_IPV6) + ip6 + l4 + body
    protocol = 6 if kind == "tcp4" else IPPROTO_UDP
    l4_length = l3_length - 20
    if protocol == IPPROTO_UDP:
        l4 = struct.pack("!HHHH", 40000 + index % 1000, 53, l4_length, 0)
    else:
        l4 = struct.pack(
            "!HHIIBBHHH", 40000 + index % 1000, 443, 1000 * index, 7, 0x50, 0x18, 512, 0, 0
        )
    body = marker + bytes((j * 7 + index) & 0xFF for j in range(l4_length - len(l4) - len(marker)))
    ip = ipv4_header(
        bytes([192, 168, 1, 1]), bytes([192, 168, 2, index % 250 + 1]), protocol, l4_length, index
    )
    return link + struct.pack("!H", ETH_P_IP) + ip + l4 + body


def signature_frames(private: str, remote: str) -> tuple[bytes, bytes]:
    """Two UDP frames for the lab's IDS rules: ``private`` sends the local test signature to
    ``remote``, which answers with the classic ``uid=0(root)`` (sid 2100498)."""
    frames = []
    for source, destination, sport, dport, payload in (
        (private, remote, 40001, 53, b"cloudtap-lab-signature outbound"),
        (remote, private, 53, 40001, b"uid=0(root) gid=0(root) groups=0(root)\n"),
    ):
        addresses = (socket.inet_aton(source), socket.inet_aton(destination))
        l4 = udp(sport, dport, payload, addresses)
        ip = ipv4_header(addresses[0], addresses[1], IPPROTO_UDP, len(l4), sport)
        link = bytes.fromhex("02aa0000000102bb00000001") + struct.pack("!H", ETH_P_IP)
        frames.append(link + ip + l4)
    return frames[0], frames[1]


def udp(source_port: int, port: int, payload: bytes, pseudo: tuple[bytes, bytes] | None) -> bytes:
    """A UDP header and payload; the checksum over ``pseudo`` (source, destination) or 0."""
    header = struct.pack("!HHHH", source_port, port, 8 + len(payload), 0)
    if pseudo is not None:
        prefix = pseudo[0] + pseudo[1] + struct.pack("!BBH", 0, IPPROTO_UDP, 8 + len(payload))
        header = header[:6] + struct.pack("!H", checksum(prefix + header + payload) or 0xFFFF)
    return header + payload


def flow_port(frame: bytes) -> int:
    """AWS's (and Linux's) VXLAN source port: a hash of the inner flow, 49152-65535."""
    return 49152 + zlib.crc32(frame[14:34]) % 16384


def gre(protocol: int, payload: bytes, key: int | None, sequence: int | None, sums: bool) -> bytes:
    flags = (0x8000 if sums else 0) | (0x2000 if key is not None else 0)
    flags |= 0x1000 if sequence is not None else 0
    options = b"\0\0\0\0" if sums else b""
    options += struct.pack("!I", key) if key is not None else b""
    options += struct.pack("!I", sequence & 0xFFFFFFFF) if sequence is not None else b""
    packet = struct.pack("!HH", flags, protocol) + options + payload
    if sums:
        packet = packet[:4] + struct.pack("!H", checksum(packet)) + packet[6:]
    return packet


def erspan_type2(frame: bytes, session: int, index: int) -> bytes:
    """What Linux ``erspan_xmit`` sends with ``erspan_ver 1``: GRE with only S, no key."""
    en, vlan = 0, 0
    if frame[12:14] == b"\x81\x00":
        en, vlan = 3, struct.unpack("!H", frame[14:16])[0] & 0xFFF
    header = struct.pack("!HHI", (1 << 12) | vlan, (en << 11) | (session & 0x3FF), index & 0xFFFFF)
    return gre(ETH_P_ERSPAN, header + frame, None, index, False)


def erspan_type3(frame: bytes, session: int, index: int) -> bytes:
    """ERSPAN type III (Linux ``erspan_ver 2``, Open vSwitch): GRE with only S, protocol
    0x22EB, a 12-byte header (version 2, frame type 0: Ethernet) and, on every other frame, the
    8-byte platform-specific subheader its O bit announces."""
    vlan = struct.unpack("!H", frame[14:16])[0] & 0xFFF if frame[12:14] == b"\x81\x00" else 0
    subheader = index % 2
    word = (1 << 4) | (1 << 1) | subheader  # hardware id 1, granularity 1, O bit
    header = struct.pack("!HHIHH", (2 << 12) | vlan, session & 0x3FF, index * 1000, 0, word)
    platform = struct.pack("!II", 3 << 26, index) if subheader else b""
    return gre(ETH_P_ERSPAN3, header + platform + frame, None, index, False)


def gwlb_options(index: int) -> bytes:
    options = b""
    for option_type, data in (
        (1, struct.pack("!Q", 0x1122334455667788)),  # GWLB endpoint id
        (2, struct.pack("!Q", 0x0A0B0C0D0E0F1011 + index % 4)),  # attachment id
        (3, struct.pack("!I", 0xC0FFEE00 + index)),  # flow cookie
    ):
        options += struct.pack("!HBB", 0x0108, option_type, len(data) // 4) + data
    return options


def stream(
    kind: str,
    count: int,
    *,
    source: str,
    destination: str,
    vni: int = 77,
    session: int = 17,
    frames: Sequence[bytes] = (),
) -> Iterator[tuple[bytes, bytes]]:
    """``count`` pairs of (outer IPv4 packet to send, frame the capture interface must show);
    the inner frames are ``frames`` in turn when given."""
    if kind not in KINDS:
        raise ValueError(f"kind: got {kind!r}; expected one of {KINDS}")
    outer_source, outer_destination = socket.inet_aton(source), socket.inet_aton(destination)
    tag = tag_of(kind)
    index = sent = 0
    while sent < count:
        if frames:
            frame = frames[index % len(frames)]
        else:
            frame = inner_frame(index, SIZES[index % len(SIZES)], tag)
        index += 1
        if kind in ("aws-vxlan", "azure-vxlan"):
            vxlan = struct.pack("!II", 0x08000000, (vni & 0xFFFFFF) << 8) + frame
            protocol, payload = IPPROTO_UDP, udp(flow_port(frame), VXLAN_PORT, vxlan, None)
            expected = frame
        elif kind == "gwlb-geneve":
            vxlan = struct.pack("!II", 0x08000000, (vni & 0xFFFFFF) << 8) + frame
            mirrored = udp(flow_port(frame), VXLAN_PORT, vxlan, None)
            mirrored = (
                ipv4_header(outer_source, outer_destination, IPPROTO_UDP, len(mirrored), index)
                + mirrored
            )
            options = gwlb_options(index)
            geneve = struct.pack("!BBHI", len(options) // 4, 0, ETH_P_IP, 0) + options
            pseudo = (outer_source, outer_destination)
            payload = udp(flow_port(frame), GENEVE_PORT, geneve + mirrored, pseudo)
            protocol, expected = IPPROTO_UDP, frame
        elif kind == "gwlb-inline":
            ethertype = struct.unpack("!H", frame[12:14])[0]
            if ethertype not in SYNTHETIC_HEADER:
                continue  # a GWLB carries IP packets only
            options = gwlb_options(index)
            geneve = struct.pack("!BBHI", len(options) // 4, 0, ethertype, 0) + options
            pseudo = (outer_source, outer_destination)
            payload = udp(flow_port(frame), GENEVE_PORT, geneve + frame[14:], pseudo)
            protocol, expected = IPPROTO_UDP, SYNTHETIC_HEADER[ethertype] + frame[14:]
        elif kind == "gre":
            variant = index % 4
            key = None if variant == 0 else 1000 + index % 7
            sequence = index if variant >= 2 else None
            protocol, payload = IPPROTO_GRE, gre(ETH_P_TEB, frame, key, sequence, variant == 3)
            expected = frame
        elif kind == "erspan3":
            protocol, payload = IPPROTO_GRE, erspan_type3(frame, session, index)
            expected = frame
        else:
            protocol, payload = IPPROTO_GRE, erspan_type2(frame, session, index)
            expected = frame
        header = ipv4_header(outer_source, outer_destination, protocol, len(payload), index)
        sent += 1
        yield header + payload, expected


def send(packets: Sequence[bytes], destination: str, rate: float) -> float:
    """Send through a raw socket (the packets carry their own IPv4 header), ``rate`` packets a
    second, or back to back for 0; seconds taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as raw:
        started = time.perf_counter()
        for number, packet in enumerate(packets, 1):
            raw.sendto(packet, (destination, 0))
            ahead = number / rate - (time.perf_counter() - started) if rate > 0 else 0
            if ahead > 0:
                time.sleep(ahead)
        return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--source", required=True, help="outer source address")
    parser.add_argument("--destination", required=True, help="the sensor's address")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--vni", type=int, default=77)
    parser.add_argument(
        "--rate", type=float, default=5000.0, help="packets per second (0: back to back)"
    )
    parser.add_argument(
        "--signature",
        metavar="PRIVATE,REMOTE",
        help="send signature_frames(PRIVATE, REMOTE) in turn instead of the numbered frames",
    )
    args = parser.parse_args(argv)
    frames = signature_frames(*args.signature.split(",", 1)) if args.signature else ()
    packets = [
        packet
        for packet, _ in stream(
            args.kind,
            args.count,
            source=args.source,
            destination=args.destination,
            vni=args.vni,
            frames=frames,
        )
    ]
    seconds = send(packets, args.destination, args.rate)
    print(f'{{"kind": "{args.kind}", "sent": {len(packets)}, "seconds": {seconds:.3f}}}')
    return 0


if __name__ == "__main__":
    sys.exit(main())
