#!/usr/bin/env python3
"""cloudtap-decap: the sensor's userspace decapsulator, for feeds the kernel does not terminate.

Installed as ``/usr/local/lib/cloudtap/cloudtap-decap`` and started by ``cloudtap-sensor apply``
(through ``cloudtap-decap.service`` where systemd runs), which writes its settings to
``/run/cloudtap/decap.conf``. It receives

- GENEVE on UDP 6081 (RFC 8926): always here, because an AWS Gateway Load Balancer sends IP
  packets (protocol 0x0800/0x86DD with class-0x0108 options), which the kernel's ``geneve
  external`` device drops. When Traffic Mirroring targets a GWLB endpoint, that IP packet is the
  VXLAN mirror packet (IPv4, UDP 4789, VXLAN, Ethernet): both layers are taken off and the
  mirrored Ethernet frame is written. Any other IP packet (a GWLB used inline) gets the fixed
  Ethernet header below; Ethernet payloads (0x6558) are accepted too;
- VXLAN on UDP 4789 (RFC 7348), only on hosts without the kernel vxlan driver;
- GRE transparent Ethernet bridging (0x6558) and ERSPAN type I/II (0x88BE) and III (0x22EB),
  through one raw IP-protocol-47 socket, only on hosts without the kernel ip_gre driver;

and writes each inner Ethernet frame, unchanged, onto the feeder end of the capture interface
(``cloudtap0-tx``) with an AF_PACKET socket; the IDS reads the other end. Payloads without an
Ethernet header (GWLB GENEVE, ERSPAN III with frame type 2) get a fixed one,
``02:00:00:00:00:01 -> 02:00:00:00:00:02``. Nothing is ever sent back to a feed's source.

``VLAN_BY_VNI`` (``VNI:VLAN``): frames of a listed VNI get that 802.1Q tag after the MACs.

Only the standard library of Python 3.9 (Amazon Linux 2023's) is used. Counters are printed as a
JSON line on stderr on SIGUSR1, every ``--stats`` seconds and at exit. Once every socket is open,
a ready file (``KEY=value`` lines: PID, FEEDS, DEVICE, VLAN_BY_VNI) tells ``cloudtap-sensor
check`` what this process serves; it is removed at exit.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import ipaddress
import json
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Sequence
from typing import Union

VXLAN = "vxlan"
GENEVE = "geneve"
GRE = "gre"
ERSPAN = "erspan"
FEEDS = (VXLAN, GENEVE, GRE, ERSPAN)
DEFAULT_VXLAN_PORT = 4789
DEFAULT_GENEVE_PORT = 6081
IPPROTO_GRE = 47
IPPROTO_UDP = 17

ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
ETH_P_TEB = 0x6558
ETH_P_ERSPAN = 0x88BE
ETH_P_ERSPAN3 = 0x22EB
ETHERNET_HEADER = 14
MAC_ADDRESSES = 12
ETH_P_8021Q = 0x8100
MAX_VLANS = 64  # components/sensor.py
SYNTHETIC_DESTINATION = bytes.fromhex("020000000002")
SYNTHETIC_SOURCE = bytes.fromhex("020000000001")
SYNTHETIC_HEADERS = {
    ETH_P_IP: SYNTHETIC_DESTINATION + SYNTHETIC_SOURCE + b"\x08\x00",
    ETH_P_IPV6: SYNTHETIC_DESTINATION + SYNTHETIC_SOURCE + b"\x86\xdd",
}
"""Ethernet headers for payloads that arrive as bare IP packets."""

# GRE flag bits (RFC 2784/2890): checksum, key, sequence number present; everything else in the
# first 16 bits (routing, strict source route, recursion, reserved, version) must be zero.
GRE_CHECKSUM = 0x8000
GRE_KEY = 0x2000
GRE_SEQUENCE = 0x1000
GRE_UNSUPPORTED = 0x4FFF

SOL_PACKET = 263
PACKET_QDISC_BYPASS = 20
SO_RCVBUFFORCE = 33
BATCH = 256
"""Packets read from one socket before looking at the others, so no feed starves another."""

# Runtime aliases: Python 3.9 has tuple[...] but not X | Y outside annotations.
Buffer = Union[bytes, bytearray, memoryview]  # noqa: UP007
Decapsulated = tuple[int, bytes, str]
"""(offset of the inner payload, Ethernet header to put in front of it, counter name). An offset
of -1 means the packet was refused, and the counter names why."""


def _refused(reason: str) -> Decapsulated:
    return -1, b"", reason


def parse_vxlan(packet: Buffer, length: int) -> Decapsulated:
    """A VXLAN UDP payload: 8-byte header with the I flag, then an Ethernet frame. Any VNI."""
    if length < 8 + ETHERNET_HEADER:
        return _refused("vxlan_short")
    if not packet[0] & 0x08:
        return _refused("vxlan_no_vni_flag")
    return 8, b"", VXLAN


def mirrored_vxlan(packet: Buffer, length: int, offset: int, vxlan_ports: frozenset[int]) -> int:
    """Where the Ethernet frame starts if an IPv4 packet at ``offset`` is a whole VXLAN mirror
    packet (UDP to a VXLAN port, not a fragment, the VNI flag set); -1 otherwise."""
    if length < offset + 20 or packet[offset] >> 4 != 4 or packet[offset + 9] != IPPROTO_UDP:
        return -1
    if ((packet[offset + 6] << 8) | packet[offset + 7]) & 0x3FFF:  # more fragments, or one
        return -1
    udp = offset + (packet[offset] & 0x0F) * 4
    if length < udp + 16 + ETHERNET_HEADER:
        return -1
    if (packet[udp + 2] << 8) | packet[udp + 3] not in vxlan_ports or not packet[udp + 8] & 0x08:
        return -1
    return udp + 16


def parse_geneve(  # noqa: PLR0911 (one per reason)
    packet: Buffer, length: int, vxlan_ports: frozenset[int] = frozenset({DEFAULT_VXLAN_PORT})
) -> Decapsulated:
    """A GENEVE UDP payload: version 0, options skipped whole, OAM packets refused; an IPv4
    VXLAN mirror packet inside (to one of ``vxlan_ports``) gives its Ethernet frame."""
    if length < 8:
        return _refused("geneve_short")
    if packet[0] >> 6:
        return _refused("geneve_version")
    if packet[1] & 0x80:
        return _refused("geneve_oam")
    offset = 8 + (packet[0] & 0x3F) * 4
    protocol = (packet[2] << 8) | packet[3]
    if protocol == ETH_P_TEB:
        if length < offset + ETHERNET_HEADER:
            return _refused("geneve_short")
        return offset, b"", GENEVE
    header = SYNTHETIC_HEADERS.get(protocol)
    if header is None:
        return _refused("geneve_protocol")
    if length <= offset:
        return _refused("geneve_short")
    if protocol == ETH_P_IP:
        frame = mirrored_vxlan(packet, length, offset, vxlan_ports)
        if frame >= 0:
            return frame, b"", GENEVE
    return offset, header, GENEVE


def parse_gre(  # noqa: PLR0911 (one return per reason a packet is refused)
    packet: Buffer, length: int, offset: int, accept: frozenset[str]
) -> Decapsulated:
    """GRE at ``offset`` of ``packet`` (after the IPv4 header a raw socket delivers).

    ``accept`` holds ``gre`` (transparent Ethernet bridging) and/or ``erspan`` (types I, II,
    III): the others are left to the kernel devices that terminate them.
    """
    if length < offset + 4:
        return _refused("gre_short")
    flags = (packet[offset] << 8) | packet[offset + 1]
    protocol = (packet[offset + 2] << 8) | packet[offset + 3]
    if flags & GRE_UNSUPPORTED:
        return _refused("gre_flags")
    sequenced = bool(flags & GRE_SEQUENCE)
    offset += 4
    offset += 4 if flags & GRE_CHECKSUM else 0
    offset += 4 if flags & GRE_KEY else 0
    offset += 4 if sequenced else 0
    if protocol == ETH_P_TEB:
        if GRE not in accept:
            return _refused("gre_not_served")
        if length < offset + ETHERNET_HEADER:
            return _refused("gre_short")
        return offset, b"", GRE
    if protocol not in (ETH_P_ERSPAN, ETH_P_ERSPAN3):
        return _refused("gre_protocol")
    if ERSPAN not in accept:
        return _refused("erspan_not_served")
    if protocol == ETH_P_ERSPAN:
        if not sequenced:
            # Type I: no ERSPAN header at all (and no sequence number in the GRE header).
            start = offset
        elif length < offset + 8 or packet[offset] >> 4 != 1:
            return _refused("erspan2_header")
        else:
            # Type II (what Linux erspan_ver 1, Open vSwitch and OpenStack TaaS send).
            start = offset + 8
        if length < start + ETHERNET_HEADER:
            return _refused("erspan_short")
        return start, b"", ERSPAN
    # Type III: 12-byte header, 8 more with the platform-specific subheader (O bit).
    if length < offset + 12 or packet[offset] >> 4 != 2:
        return _refused("erspan3_header")
    word = (packet[offset + 10] << 8) | packet[offset + 11]
    frame_type = (word >> 10) & 0x1F
    start = offset + 12 + (8 if word & 1 else 0)
    if frame_type == 0:
        if length < start + ETHERNET_HEADER:
            return _refused("erspan_short")
        return start, b"", ERSPAN
    if frame_type == 2 and length > start:
        version = packet[start] >> 4
        return start, SYNTHETIC_HEADERS[ETH_P_IP if version == 4 else ETH_P_IPV6], ERSPAN
    return _refused("erspan3_frame_type")


def vlan_tag(vlan: int) -> bytes:
    """TPID 0x8100, PCP 0, DEI 0, ``vlan``."""
    return bytes(((ETH_P_8021Q >> 8), ETH_P_8021Q & 0xFF, (vlan >> 8) & 0x0F, vlan & 0xFF))


def parse_vlans(text: str) -> dict[int, bytes]:
    """``VNI:VLAN`` words -> the tag of each VNI."""
    vlans: dict[int, int] = {}
    for word in text.replace(",", " ").split():
        vni, _, vlan = word.partition(":")
        if not (vni.isascii() and vni.isdigit() and vlan.isascii() and vlan.isdigit()):
            raise ValueError(f"got {word!r}; expected VNI:VLAN")
        if not (1 <= int(vni) <= 16777215 and 1 <= int(vlan) <= 4094):
            raise ValueError(f"got {word!r}; expected VNI 1-16777215 and VLAN 1-4094")
        if int(vni) in vlans or int(vlan) in vlans.values():
            raise ValueError(f"{word!r} repeats a VNI or a VLAN")
        vlans[int(vni)] = int(vlan)
    if len(vlans) > MAX_VLANS:
        raise ValueError(f"more than {MAX_VLANS}")
    return {vni: vlan_tag(vlan) for vni, vlan in vlans.items()}


def vni_of(kind: str, packet: Buffer, offset: int, header: bytes) -> int:
    """VXLAN's VNI, GENEVE's, or for GENEVE around VXLAN the inner one; 0 for GRE."""
    if kind == VXLAN:
        return (packet[4] << 16) | (packet[5] << 8) | packet[6]
    if kind != GENEVE:
        return 0
    if not header and ((packet[2] << 8) | packet[3]) == ETH_P_IP:
        return (packet[offset - 4] << 16) | (packet[offset - 3] << 8) | packet[offset - 2]
    return (packet[4] << 16) | (packet[5] << 8) | packet[6]


def tagged(frame: Buffer, header: bytes, tag: bytes) -> bytes:
    if header:
        return b"".join((header[:MAC_ADDRESSES], tag, header[MAC_ADDRESSES:], frame))
    return b"".join((frame[:MAC_ADDRESSES], tag, frame[MAC_ADDRESSES:]))


class Sources:
    """The networks feeds may come from (the nftables table of the sensor drops the rest first)."""

    def __init__(self, networks: Sequence[ipaddress.IPv4Network]) -> None:
        self.networks = tuple(networks)
        self._cache: dict[str, bool] = {}

    def allowed(self, address: str) -> bool:
        known = self._cache.get(address)
        if known is None:
            host = ipaddress.ip_address(address)
            known = any(host in network for network in self.networks)
            if len(self._cache) >= 65536:
                self._cache.clear()
            self._cache[address] = known
        return known


class Counters:
    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def add(self, name: str) -> None:
        self.values[name] = self.values.get(name, 0) + 1

    def line(self) -> str:
        return json.dumps({"counters": self.values, "time": round(time.time(), 3)}, sort_keys=True)


def read_config(path: str) -> dict[str, str]:
    """``KEY=value`` lines (values optionally in double quotes), as ``cloudtap-sensor`` writes."""
    settings: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for raw in handle:
            line = raw.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, value = line.split("=", 1)
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            settings[key.strip()] = value
    return settings


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="cloudtap-decap",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--config", help="settings file (KEY=value); options override it")
    parser.add_argument("--device", help="feeder end of the capture interface, e.g. cloudtap0-tx")
    parser.add_argument("--feeds", help="comma- or space-separated: geneve, vxlan, gre, erspan")
    parser.add_argument("--allow", help="networks feeds may come from, comma- or space-separated")
    parser.add_argument("--vxlan-port", type=int)
    parser.add_argument("--geneve-port", type=int)
    parser.add_argument("--bind", help="local address of the UDP sockets (default: all)")
    parser.add_argument("--ready-file", help="written once every socket is open")
    parser.add_argument("--rcvbuf", type=int, help="receive buffer per socket, bytes")
    parser.add_argument("--stats", type=float, help="print counters every N seconds (0: never)")
    parser.add_argument("--vlans", help="VNI:VLAN words")
    args = parser.parse_args(argv)
    settings = read_config(args.config) if args.config else {}

    def pick(value: object, key: str, default: str) -> str:
        return str(value) if value is not None else settings.get(key, default)

    args.device = pick(args.device, "DEVICE", "")
    args.feeds = pick(args.feeds, "FEEDS", "").replace(",", " ").split()
    args.allow = pick(args.allow, "ALLOW", "").replace(",", " ").split()
    args.vxlan_port = int(pick(args.vxlan_port, "VXLAN_PORT", str(DEFAULT_VXLAN_PORT)))
    args.geneve_port = int(pick(args.geneve_port, "GENEVE_PORT", str(DEFAULT_GENEVE_PORT)))
    args.bind = pick(args.bind, "BIND", "0.0.0.0")
    args.ready_file = pick(args.ready_file, "READY_FILE", "")
    args.rcvbuf = int(pick(args.rcvbuf, "RCVBUF", str(64 << 20)))
    args.stats = float(pick(args.stats, "STATS", "0"))
    args.vlan_words = " ".join(pick(args.vlans, "VLAN_BY_VNI", "").split())
    try:
        args.vlans = parse_vlans(args.vlan_words)
    except ValueError as error:
        parser.error(f"--vlans: {error}")
    if not args.device:
        parser.error("--device (or DEVICE= in --config) is required")
    unknown = [feed for feed in args.feeds if feed not in FEEDS]
    if unknown or not args.feeds:
        parser.error(f"--feeds: got {args.feeds}; expected some of {list(FEEDS)}")
    try:
        args.allow = [ipaddress.IPv4Network(text) for text in args.allow]
    except ValueError as error:
        parser.error(f"--allow: {error}")
    if not args.allow:
        parser.error("--allow: at least one network (feeds are never taken from anywhere)")
    return args


def _receiver(kind: int, protocol: int, buffer_size: int) -> socket.socket:
    receiver = socket.socket(socket.AF_INET, kind, protocol)
    try:
        receiver.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, buffer_size)
    except OSError:
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer_size)
    receiver.setblocking(False)
    return receiver


def write_ready_file(path: str, feeds: Sequence[str], device: str, vlans: str = "") -> None:
    temporary = f"{path}.{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(f'PID={os.getpid()}\nFEEDS="{" ".join(feeds)}"\nDEVICE="{device}"\n')
        handle.write(f'VLAN_BY_VNI="{vlans}"\n')
    os.replace(temporary, path)


def remove_ready_file(path: str) -> None:
    """Remove the ready file if it is this process's (a successor may have written its own)."""
    if not path:
        return
    with contextlib.suppress(OSError):
        if read_config(path).get("PID") == str(os.getpid()):
            os.unlink(path)


def run(args: argparse.Namespace) -> int:
    counters = Counters()
    sources = Sources(args.allow)
    feeds: list[str] = list(dict.fromkeys(args.feeds))
    try:
        output = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # protocol 0: sends only
        output.bind((args.device, 0))
    except OSError as error:
        print(f"cloudtap-decap: cannot write to {args.device}: {error}", file=sys.stderr)
        return 1
    output.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    with contextlib.suppress(OSError):  # an older kernel: the veth has no queue anyway
        output.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)

    selector = selectors.DefaultSelector()
    served: list[str] = []
    try:
        if GENEVE in feeds:
            receiver = _receiver(socket.SOCK_DGRAM, 0, args.rcvbuf)
            receiver.bind((args.bind, args.geneve_port))
            selector.register(receiver, selectors.EVENT_READ, GENEVE)
            served.append(f"geneve (UDP {args.geneve_port})")
        if VXLAN in feeds:
            receiver = _receiver(socket.SOCK_DGRAM, 0, args.rcvbuf)
            receiver.bind((args.bind, args.vxlan_port))
            selector.register(receiver, selectors.EVENT_READ, VXLAN)
            served.append(f"vxlan (UDP {args.vxlan_port})")
        gre_feeds = frozenset(feed for feed in feeds if feed in (GRE, ERSPAN))
        if gre_feeds:
            receiver = _receiver(socket.SOCK_RAW, IPPROTO_GRE, args.rcvbuf)
            selector.register(receiver, selectors.EVENT_READ, GRE)
            served.append(f"{'+'.join(sorted(gre_feeds))} (IP protocol 47)")
    except OSError as error:
        print(f"cloudtap-decap: cannot open the feed sockets: {error}", file=sys.stderr)
        return 1

    running = [True]

    def dump(*_: object) -> None:
        print(counters.line(), file=sys.stderr, flush=True)

    def stop(*_: object) -> None:
        running[0] = False

    signal.signal(signal.SIGUSR1, dump)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    networks = ", ".join(str(network) for network in sources.networks)
    tags = f"; 802.1Q tags by VNI {args.vlan_words}" if args.vlan_words else ""
    print(
        f"cloudtap-decap: {', '.join(served)} -> {args.device}; feeds only from {networks}{tags}",
        file=sys.stderr,
        flush=True,
    )
    if args.ready_file:
        write_ready_file(args.ready_file, feeds, args.device, args.vlan_words)

    # AWS mirrors to 4789 whatever this sensor's own VXLAN port is.
    vxlan_ports = frozenset({DEFAULT_VXLAN_PORT, args.vxlan_port})
    buffer = bytearray(65536)
    view = memoryview(buffer)
    send = output.send
    vlans: dict[int, bytes] = args.vlans
    next_stats = time.monotonic() + args.stats if args.stats > 0 else None
    status = 0
    try:
        while running[0]:
            try:
                events = selector.select(1.0)
            except InterruptedError:
                continue
            for key, _mask in events:
                receiver = key.fileobj  # type: ignore[assignment]
                kind: str = key.data
                receive = receiver.recvfrom_into
                for _ in range(BATCH):
                    try:
                        length, peer = receive(buffer)
                    except (BlockingIOError, InterruptedError):
                        break
                    if not sources.allowed(peer[0]):
                        counters.add("refused_source")
                        continue
                    if kind == GENEVE:
                        offset, header, name = parse_geneve(buffer, length, vxlan_ports)
                    elif kind == VXLAN:
                        offset, header, name = parse_vxlan(buffer, length)
                    else:
                        ip_header = (buffer[0] & 0x0F) * 4
                        offset, header, name = parse_gre(buffer, length, ip_header, gre_feeds)
                    if offset < 0:
                        counters.add(name)
                        continue
                    try:
                        tag = vlans.get(vni_of(kind, buffer, offset, header)) if vlans else None
                        if tag is not None:
                            send(tagged(view[offset:length], header, tag))
                        elif header:
                            send(header + view[offset:length])
                        else:
                            send(view[offset:length])
                        counters.add(name)
                    except OSError as error:
                        if error.errno in (errno.ENODEV, errno.ENXIO, errno.ENETDOWN):
                            # The capture interface was replaced: the supervisor starts us again.
                            print(f"cloudtap-decap: {args.device}: {error}", file=sys.stderr)
                            running[0] = False
                            status = 1
                            break
                        counters.add(
                            f"send_error_{errno.errorcode.get(error.errno or 0, error.errno)}"
                        )
            if next_stats is not None and time.monotonic() >= next_stats:
                dump()
                next_stats += args.stats
    finally:
        remove_ready_file(args.ready_file)
        dump()
    return status


def main(argv: Sequence[str] | None = None) -> int:
    return run(parse_arguments(argv))


if __name__ == "__main__":
    sys.exit(main())
