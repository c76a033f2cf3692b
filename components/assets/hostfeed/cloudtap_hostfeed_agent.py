#!/usr/bin/env python3
"""cloudtap-hostfeed-agent: a host copies its own traffic to the sensor over mutual TLS.

Installed as ``/usr/local/lib/cloudtap/cloudtap-hostfeed-agent`` and started by
``cloudtap-hostfeed apply`` (through ``cloudtap-hostfeed-agent.service`` where systemd runs),
which checks the host's settings and writes this program's own to
``/run/cloudtap/hostfeed-agent.conf``.

- Capture: an AF_PACKET socket on the host's interface sees every frame it sends and receives,
  whole. The agent's own TLS connection (TCP to the sensor's feed port, both directions) is
  never copied (the MetaFlows agent's ``not port 3005``), nor what the settings exclude
  (networks, ports): the filter is code below, not a BPF string.
- Transport: each frame as a 4-byte big-endian length and the frame's bytes, over TLS 1.2+ with
  mutual authentication: the sensor's certificate must chain to the stack's CA and carry the
  sensor's name or address; the host presents its own certificate, issued by the same CA.
- Never in the host's way: frames wait in a bounded queue; when it is full (the sensor slow,
  down or unreachable) the copy is dropped and counted (``dropped``), and the host's own traffic
  is untouched. Copies the kernel dropped because the agent fell behind are ``dropped_kernel``.
  The connection is retried with exponential backoff (0.5 s doubling to 30 s).
- Counters (captured, sent, dropped, excluded, connections, the last error) go to a JSON status
  file every second and at exit; ``cloudtap-hostfeed check`` reads it.

Only the standard library of Python 3.9 (Amazon Linux 2023's) is used.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import ipaddress
import json
import os
import select
import signal
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Sequence

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_8021Q = 0x8100
IPPROTO_TCP = 6
IPPROTO_UDP = 17
FRAME_HEADER = struct.Struct("!I")
CAPTURE_BUFFER = 262144
"""Larger than any frame a capture returns (a GSO super-packet is at most 64 KiB + headers)."""
SEND_BATCH = 512
"""Frames joined into one TLS write."""
BACKOFF_FIRST = 0.5
BACKOFF_LAST = 30.0
SEND_TIMEOUT = 10.0
"""Seconds a stalled sensor may hold one write before the connection is dropped and retried."""
STATUS_INTERVAL = 1.0
SO_RCVBUFFORCE = 33
SOL_PACKET = 263
PACKET_STATISTICS = 6
KEYS = frozenset(
    {
        "INTERFACE",
        "SENSOR_ADDRESS",
        "SENSOR_NAME",
        "FEED_PORT",
        "EXCLUDE_CIDRS",
        "EXCLUDE_PORTS",
        "QUEUE_FRAMES",
        "CA_FILE",
        "CERT_FILE",
        "KEY_FILE",
        "STATUS_FILE",
    }
)


def read_config(path: str) -> dict[str, str]:
    """``KEY="value"`` lines as ``cloudtap-hostfeed apply`` writes them; anything else refused."""
    settings: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            key, equals, value = line.partition("=")
            if not equals or key not in KEYS or key in settings:
                raise ValueError(f"{path} line {number}: unknown, repeated or malformed key")
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            settings[key] = value
    return settings


class Exclusions:
    """What is never copied: the feed itself, excluded networks and ports (either end)."""

    def __init__(
        self,
        sensor: str,
        feed_port: int,
        networks: Sequence[ipaddress.IPv4Network],
        ports: frozenset[int],
    ) -> None:
        self.sensor = ipaddress.IPv4Address(sensor).packed
        self.feed_port = feed_port
        self.networks = tuple(networks)
        self.ports = ports
        self._cache: dict[bytes, bool] = {}

    def _excluded_address(self, address: bytes) -> bool:
        known = self._cache.get(address)
        if known is None:
            host = ipaddress.IPv4Address(address)
            known = any(host in network for network in self.networks)
            if len(self._cache) >= 65536:
                self._cache.clear()
            self._cache[address] = known
        return known

    def excluded(self, frame: memoryview, length: int) -> bool:
        offset = 12
        if length < offset + 2:
            return False
        ethertype = (frame[offset] << 8) | frame[offset + 1]
        if ethertype == ETH_P_8021Q and length >= 18:
            offset += 4
            ethertype = (frame[offset] << 8) | frame[offset + 1]
        offset += 2
        if ethertype != ETH_P_IP or length < offset + 20:
            return False
        header = (frame[offset] & 0x0F) * 4
        protocol = frame[offset + 9]
        source = bytes(frame[offset + 12 : offset + 16])
        destination = bytes(frame[offset + 16 : offset + 20])
        fragment = ((frame[offset + 6] & 0x1F) << 8) | frame[offset + 7]
        ports: tuple[int, int] = (-1, -1)
        if protocol in (IPPROTO_TCP, IPPROTO_UDP) and fragment == 0:
            at = offset + header
            if length >= at + 4:
                ports = ((frame[at] << 8) | frame[at + 1], (frame[at + 2] << 8) | frame[at + 3])
        if protocol == IPPROTO_TCP and self.sensor in (source, destination):
            if fragment:  # a fragment of the feed has no ports to tell it by
                return True
            if (destination == self.sensor and ports[1] == self.feed_port) or (
                source == self.sensor and ports[0] == self.feed_port
            ):
                return True
        if self.ports and (ports[0] in self.ports or ports[1] in self.ports):
            return True
        return bool(self.networks) and (
            self._excluded_address(source) or self._excluded_address(destination)
        )


class Feed:
    """The bounded queue between capture and the TLS sender, and the counters."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.frames: collections.deque[bytes] = collections.deque()
        self.ready = threading.Event()
        self.counters: dict[str, int] = {
            "captured": 0,
            "excluded": 0,
            "queued": 0,
            "dropped": 0,
            "dropped_kernel": 0,
            "sent": 0,
            "sent_bytes": 0,
            "connections": 0,
            "connect_failures": 0,
        }
        self.connected = False
        self.last_error = ""

    def offer(self, frame: bytes) -> None:
        if len(self.frames) >= self.limit:
            self.counters["dropped"] += 1
            return
        self.frames.append(frame)
        self.counters["queued"] += 1
        self.ready.set()

    def status(self) -> str:
        return json.dumps(
            {
                "pid": os.getpid(),
                "connected": self.connected,
                "queue": len(self.frames),
                "queue_limit": self.limit,
                "counters": dict(self.counters),
                "last_error": self.last_error,
                "time": round(time.time(), 3),
            },
            sort_keys=True,
        )


def tls_context(ca_file: str, cert_file: str, key_file: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the name
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cafile=ca_file)
    context.load_cert_chain(cert_file, key_file)
    return context


def peer_closed(connection: ssl.SSLSocket) -> bool:
    """The sensor never sends data: anything readable is its close (or an alert)."""
    readable, _, _ = select.select([connection], [], [], 0.5)
    if not readable:
        return False
    # Readable is also a TLS 1.3 session ticket, which carries no data: read without waiting.
    connection.settimeout(0)
    try:
        return connection.recv(1) == b""
    except (ssl.SSLWantReadError, BlockingIOError):
        return False
    except OSError:
        return True
    finally:
        connection.settimeout(SEND_TIMEOUT)


def send_frames(feed: Feed, args: argparse.Namespace, running: list[bool]) -> None:
    context = tls_context(args.ca_file, args.cert_file, args.key_file)
    backoff = BACKOFF_FIRST
    while running[0]:
        try:
            raw = socket.create_connection((args.sensor_address, args.feed_port), timeout=10)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = context.wrap_socket(raw, server_hostname=args.sensor_name)
        except (OSError, ssl.SSLError) as error:
            feed.counters["connect_failures"] += 1
            feed.last_error = f"connect to {args.sensor_address}:{args.feed_port}: {error}"
            print(f"cloudtap-hostfeed-agent: {feed.last_error}", file=sys.stderr, flush=True)
            deadline = time.monotonic() + backoff
            while running[0] and time.monotonic() < deadline:
                time.sleep(0.1)
            backoff = min(backoff * 2, BACKOFF_LAST)
            continue
        backoff = BACKOFF_FIRST
        feed.counters["connections"] += 1
        feed.connected = True
        feed.last_error = ""
        print(
            f"cloudtap-hostfeed-agent: connected to {args.sensor_name} "
            f"({args.sensor_address}:{args.feed_port}, {connection.version()})",
            file=sys.stderr,
            flush=True,
        )
        connection.settimeout(SEND_TIMEOUT)
        try:
            while running[0]:
                if not feed.frames:
                    feed.ready.clear()
                    if not feed.frames and not feed.ready.wait(0.2):
                        if peer_closed(connection):
                            raise ConnectionResetError("the sensor closed the connection")
                        continue
                batch: list[bytes] = []
                while feed.frames and len(batch) < SEND_BATCH:
                    frame = feed.frames.popleft()
                    batch.append(FRAME_HEADER.pack(len(frame)))
                    batch.append(frame)
                data = b"".join(batch)
                connection.sendall(data)
                feed.counters["sent"] += len(batch) // 2
                feed.counters["sent_bytes"] += len(data)
        except (OSError, ssl.SSLError) as error:
            feed.last_error = f"connection to {args.sensor_address}:{args.feed_port}: {error}"
            print(f"cloudtap-hostfeed-agent: {feed.last_error}", file=sys.stderr, flush=True)
        finally:
            feed.connected = False
            with contextlib.suppress(OSError):
                connection.close()


def write_status(path: str, feed: Feed) -> None:
    temporary = f"{path}.{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(feed.status() + "\n")
    os.replace(temporary, path)


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cloudtap-hostfeed-agent", description=__doc__)
    parser.add_argument("--config", required=True, help="settings file (KEY=value)")
    args = parser.parse_args(argv)
    try:
        settings = read_config(args.config)
        args.interface = settings["INTERFACE"]
        args.sensor_address = str(ipaddress.IPv4Address(settings["SENSOR_ADDRESS"]))
        args.sensor_name = settings.get("SENSOR_NAME") or args.sensor_address
        args.feed_port = int(settings["FEED_PORT"])
        args.exclude = [
            ipaddress.IPv4Network(text) for text in settings.get("EXCLUDE_CIDRS", "").split()
        ]
        args.exclude_ports = frozenset(
            int(text) for text in settings.get("EXCLUDE_PORTS", "").split()
        )
        args.queue_frames = int(settings.get("QUEUE_FRAMES", "4096"))
        args.ca_file = settings["CA_FILE"]
        args.cert_file = settings["CERT_FILE"]
        args.key_file = settings["KEY_FILE"]
        args.status_file = settings["STATUS_FILE"]
    except (KeyError, ValueError) as error:
        parser.error(f"{args.config}: {error}")
    return args


def run(args: argparse.Namespace) -> int:
    feed = Feed(args.queue_frames)
    exclusions = Exclusions(args.sensor_address, args.feed_port, args.exclude, args.exclude_ports)
    try:
        capture = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        with contextlib.suppress(OSError):
            capture.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
        capture.bind((args.interface, 0))
        # Wakes the loop for the status file and for a stop signal.
        capture.settimeout(STATUS_INTERVAL)
    except OSError as error:
        print(f"cloudtap-hostfeed-agent: cannot capture {args.interface}: {error}", file=sys.stderr)
        return 1
    running = [True]

    def stop(*_: object) -> None:
        running[0] = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sender = threading.Thread(target=send_frames, args=(feed, args, running), daemon=True)
    sender.start()
    print(
        f"cloudtap-hostfeed-agent: copying {args.interface} to {args.sensor_name} "
        f"({args.sensor_address}:{args.feed_port}) over mutual TLS; queue {args.queue_frames}",
        file=sys.stderr,
        flush=True,
    )
    buffer = bytearray(CAPTURE_BUFFER)
    view = memoryview(buffer)
    receive = capture.recv_into
    counters = feed.counters
    next_status = 0.0
    try:
        while running[0]:
            try:
                length = receive(buffer)
            except TimeoutError:
                length = 0
            except InterruptedError:
                continue
            if length:
                counters["captured"] += 1
                if exclusions.excluded(view, length):
                    counters["excluded"] += 1
                else:
                    feed.offer(bytes(view[:length]))
            now = time.monotonic()
            if now >= next_status:
                # Copies the kernel dropped before the agent read them (its socket buffer full):
                # the statistics reset on every read.
                with contextlib.suppress(OSError):
                    _packets, drops = struct.unpack(
                        "II", capture.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
                    )
                    counters["dropped_kernel"] += drops
                write_status(args.status_file, feed)
                next_status = now + STATUS_INTERVAL
    finally:
        running[0] = False
        write_status(args.status_file, feed)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(parse_arguments(argv))


if __name__ == "__main__":
    sys.exit(main())
