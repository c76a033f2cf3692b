#!/usr/bin/env python3
"""cloudtap-heartbeat: the gateway mirror proves its copy path, every few seconds.

Installed as ``/usr/local/lib/cloudtap/cloudtap-heartbeat`` and started by
``cloudtap-gateway heartbeat`` (``cloudtap-heartbeat.service``), which reads the gateway's
settings and passes everything as options: the values (address, port, magic) are defined once,
in the scripts' shared library.

Every ``--interval`` seconds one IPv4/UDP datagram from ``--source`` (the gateway's public-tier
address) to ``--address``:``--port``, whose payload starts with ``--magic``, goes through the
mirror's own copy mechanism, never around it:

- ``vxlan``: written as an Ethernet frame onto each ``--device`` facing the private tier, through
  the device's queue, so the mirror's netdev egress chain sees it like a packet delivered to a
  private host: its first rule copies it with ``dup to "cloudtap-mirror"`` (VXLAN to the
  sensor: the same device, VNI, TTL, route and feed port as every workload copy) and drops the
  original, which never reaches the wire;
- ``tee``: sent from a UDP socket; the output chain's rule clones it with ``dup to`` the sensor
  as next hop (as the tee mirror clones workload packets) and drops the original.

The sensor counts what arrives per gateway and drops it before decapsulation, so heartbeats never
reach the capture interface. Only the standard library of Python 3.9 is used.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import ipaddress
import signal
import socket
import struct
import sys
import time
from collections.abc import Sequence

ETH_P_IP = 0x0800
DESTINATION_MAC = bytes.fromhex("020000000002")
"""Locally administered and never a real host's: the frame is never meant to leave the gateway."""


def checksum(header: bytes) -> int:
    total: int = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def payload(magic: bytes, sequence: int) -> bytes:
    return magic + f" heartbeat v1 seq={sequence} time={time.time():.3f}".encode()


def ip_packet(source: str, destination: str, port: int, data: bytes) -> bytes:
    """IPv4 (no options: the sensor matches at fixed offsets) and UDP (no checksum) around
    ``data``, from and to ``port``."""
    udp = struct.pack("!HHHH", port, port, 8 + len(data), 0) + data
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(udp),
        0,
        0x4000,  # don't fragment
        64,
        socket.IPPROTO_UDP,
        0,
        ipaddress.IPv4Address(source).packed,
        ipaddress.IPv4Address(destination).packed,
    )
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + udp


def device_mac(device: str) -> bytes:
    with open(f"/sys/class/net/{device}/address", encoding="ascii") as handle:
        return bytes.fromhex(handle.read().strip().replace(":", ""))


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="cloudtap-heartbeat", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--mode", choices=("vxlan", "tee"), required=True)
    parser.add_argument(
        "--device", action="append", default=[], help="vxlan: interface facing the private tier"
    )
    parser.add_argument("--source", required=True, help="the gateway's public-tier address")
    parser.add_argument("--address", required=True, help="where the heartbeat is addressed")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--magic", required=True, help="hex, the payload's first bytes")
    parser.add_argument("--interval", type=float, required=True, help="seconds")
    parser.add_argument("--count", type=int, default=0, help="stop after N rounds (0: never)")
    args = parser.parse_args(argv)
    if args.mode == "vxlan" and not args.device:
        parser.error("--mode vxlan needs at least one --device")
    if args.interval <= 0:
        parser.error("--interval must be positive")
    args.magic = bytes.fromhex(args.magic.removeprefix("0x"))
    return args


def run(args: argparse.Namespace) -> int:
    running = [True]

    def stop(*_: object) -> None:
        running[0] = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    senders: dict[str, tuple[socket.socket, bytes] | None] = {}
    try:
        if args.mode == "vxlan":
            for device in args.device:
                senders[device] = frame_sender(device)
        else:
            sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sender.bind((args.source, 0))
            senders[""] = (sender, b"")
    except OSError as error:
        print(f"cloudtap-heartbeat: cannot open its sockets: {error}", file=sys.stderr)
        return 1
    where = ", ".join(senders) if args.mode == "vxlan" else "the tee mirror"
    print(
        f"cloudtap-heartbeat: every {args.interval:g}s from {args.source} to "
        f"{args.address}:{args.port} through {where} ({args.mode})",
        file=sys.stderr,
        flush=True,
    )
    sequence = 0
    failing: dict[str, str] = {}
    next_round = time.monotonic()
    while running[0]:
        sequence += 1
        data = payload(args.magic, sequence)
        for device in list(senders):
            problem = ""
            opened = senders[device]
            try:
                if opened is None:  # the device went away: until it is back
                    opened = senders[device] = frame_sender(device)
                sender, ethernet = opened
                if device:
                    sender.send(ethernet + ip_packet(args.source, args.address, args.port, data))
                else:
                    sender.sendto(data, (args.address, args.port))
            except OSError as error:
                if error.errno != (errno.ENOBUFS if device else errno.EPERM):
                    problem = str(error)
                # ENOBUFS / EPERM: what a socket reports when a rule drops what it sent, here
                # the copy rule's own drop once it has copied it (a missing rule is the
                # gateway check's to name).
                if device and error.errno in (errno.ENODEV, errno.ENXIO) and opened is not None:
                    opened[0].close()
                    senders[device] = None
            # Keep sending whatever fails: the sensor names the silence, and the path may heal.
            if problem != failing.get(device, ""):
                said = f"failing: {problem}" if problem else "sending again"
                print(f"cloudtap-heartbeat: {device or 'tee'}: {said}", file=sys.stderr, flush=True)
                failing[device] = problem
        if args.count and sequence >= args.count:
            break
        next_round += args.interval
        with contextlib.suppress(InterruptedError):
            time.sleep(max(0.0, next_round - time.monotonic()))
    return 0


def frame_sender(device: str) -> tuple[socket.socket, bytes]:
    """A packet socket on ``device`` and the Ethernet header of its heartbeat frames."""
    # Protocol 0: this socket only sends. No PACKET_QDISC_BYPASS: the frame must pass the
    # device's egress hook, where the mirror's copy rule is.
    sender = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        sender.bind((device, 0))
        return sender, DESTINATION_MAC + device_mac(device) + struct.pack("!H", ETH_P_IP)
    except OSError:
        sender.close()
        raise


def main(argv: Sequence[str] | None = None) -> int:
    return run(parse_arguments(argv))


if __name__ == "__main__":
    sys.exit(main())
