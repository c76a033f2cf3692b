#!/usr/bin/env python3
"""cloudtap-hostfeed-listener: the sensor's end of the host feeds sent over mutual TLS.

Installed as ``/usr/local/lib/cloudtap/cloudtap-hostfeed-listener`` with its settings in
``/etc/cloudtap/hostfeed-listener.conf``; ``cloudtap-sensor apply`` starts it (through
``cloudtap-hostfeed-listener.service`` where systemd runs) when that file exists.

- Accepts TCP on ``PORT`` (default 3005, as MetaFlows uses) only from ``ALLOW`` networks, then
  only TLS clients whose certificate chains to the stack's CA (``CA_FILE``) and is a client
  certificate; it presents the sensor's own (``CERT_FILE``/``KEY_FILE``). A plain-TCP client,
  a certificate from another CA or none at all fails the handshake and is counted.
- Each client sends frames as a 4-byte big-endian length and the frame's bytes; every frame is
  written, byte for byte, into the feeder end of the capture interface (``DEVICE``, e.g.
  ``cloudtap0-tx``) with an AF_PACKET socket, as cloudtap-decap writes the decapsulated feeds:
  the IDS on ``cloudtap0`` sees the host's frames as received frames. Nothing is ever sent back.
- Per client (by its certificate's common name): address, connected or not, frames, bytes, the
  last frame's time, in a JSON status file (``STATUS_FILE``) every second.
  ``--report`` prints one line per host from that file, naming hosts that went silent (no frame
  for ``SILENT_AFTER`` seconds, or disconnected).

Only the standard library of Python 3.9 (Amazon Linux 2023's) is used.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import ipaddress
import json
import os
import signal
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

FRAME_HEADER = struct.Struct("!I")
MAX_FRAME = 65535 + 14 + 8
"""The largest frame a host captures (a 64 KiB IP packet, its Ethernet header and two tags);
a longer length is a broken or hostile stream and ends the connection."""
HANDSHAKE_TIMEOUT = 10.0
STATUS_INTERVAL = 1.0
SOL_PACKET = 263
PACKET_QDISC_BYPASS = 20
KEYS = frozenset(
    {
        "DEVICE",
        "PORT",
        "ALLOW",
        "CA_FILE",
        "CERT_FILE",
        "KEY_FILE",
        "STATUS_FILE",
        "READY_FILE",
        "SILENT_AFTER",
    }
)


def read_config(path: str) -> dict[str, str]:
    """``KEY="value"`` lines as cloudtap renders them; unknown or repeated keys are refused."""
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


class Clients:
    """Per-host counters, shared by the connection threads and the status writer."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.hosts: dict[str, dict[str, Any]] = {}
        self.refused: dict[str, int] = {}

    def refuse(self, reason: str) -> None:
        with self.lock:
            self.refused[reason] = self.refused.get(reason, 0) + 1

    def connected(self, name: str, address: str) -> dict[str, Any]:
        with self.lock:
            host = self.hosts.setdefault(
                name, {"frames": 0, "bytes": 0, "last_frame": None, "connections": 0}
            )
            host.update(address=address, connected=True, since=round(time.time(), 3))
            host["connections"] += 1
            return host

    def snapshot(self) -> str:
        with self.lock:
            return json.dumps(
                {
                    "pid": os.getpid(),
                    "hosts": self.hosts,
                    "refused": self.refused,
                    "time": round(time.time(), 3),
                },
                sort_keys=True,
            )


def receive_exactly(connection: ssl.SSLSocket, buffer: memoryview, length: int) -> bool:
    got = 0
    while got < length:
        count = connection.recv_into(buffer[got:length])
        if count == 0:
            return False
        got += count
    return True


def client_name(connection: ssl.SSLSocket) -> str:
    certificate = connection.getpeercert() or {}
    for field in certificate.get("subject", ()):
        for pair in field:
            if pair[0] == "commonName":
                return str(pair[1])
    return "unnamed"


def serve_client(
    raw: socket.socket,
    address: str,
    context: ssl.SSLContext,
    output: socket.socket,
    clients: Clients,
) -> None:
    raw.settimeout(HANDSHAKE_TIMEOUT)
    try:
        connection = context.wrap_socket(raw, server_side=True)
    except (OSError, ssl.SSLError) as error:
        reason = getattr(error, "reason", None) or type(error).__name__
        clients.refuse(f"handshake_{str(reason).lower()}")
        print(f"cloudtap-hostfeed-listener: {address}: refused: {error}", file=sys.stderr)
        with contextlib.suppress(OSError):
            raw.close()
        return
    name = client_name(connection)
    host = clients.connected(name, address)
    print(f"cloudtap-hostfeed-listener: {name} connected from {address}", file=sys.stderr)
    connection.settimeout(None)  # a quiet host is not an error: `--report` names it
    header = bytearray(FRAME_HEADER.size)
    header_view = memoryview(header)
    buffer = bytearray(MAX_FRAME)
    view = memoryview(buffer)
    reason = "closed"
    try:
        while True:
            if not receive_exactly(connection, header_view, FRAME_HEADER.size):
                break
            (length,) = FRAME_HEADER.unpack(header)
            if not 14 <= length <= MAX_FRAME:
                reason = f"protocol error: a frame of {length} bytes"
                break
            if not receive_exactly(connection, view, length):
                break
            try:
                output.send(view[:length])
            except OSError as error:
                if error.errno in (errno.ENODEV, errno.ENXIO, errno.ENETDOWN):
                    # The capture interface was replaced: the supervisor starts us again.
                    print(f"cloudtap-hostfeed-listener: {error}", file=sys.stderr, flush=True)
                    os._exit(1)
                with clients.lock:
                    key = f"send_error_{errno.errorcode.get(error.errno or 0, error.errno)}"
                    host[key] = host.get(key, 0) + 1
                continue
            with clients.lock:
                host["frames"] += 1
                host["bytes"] += length
                host["last_frame"] = round(time.time(), 3)
    except (OSError, ssl.SSLError) as error:
        reason = str(error)
    finally:
        with clients.lock:
            host["connected"] = False
        print(f"cloudtap-hostfeed-listener: {name} ({address}): {reason}", file=sys.stderr)
        with contextlib.suppress(OSError):
            connection.close()


def write_file(path: str, text: str) -> None:
    temporary = f"{path}.{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


def serve(args: argparse.Namespace) -> int:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED  # no certificate, no feed
    context.load_verify_locations(cafile=args.ca_file)
    context.load_cert_chain(args.cert_file, args.key_file)
    clients = Clients()
    try:
        output = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # protocol 0: sends only
        output.bind((args.device, 0))
        output.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        with contextlib.suppress(OSError):
            output.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("0.0.0.0", args.port))
        server.listen(64)
        server.settimeout(STATUS_INTERVAL)
    except OSError as error:
        print(f"cloudtap-hostfeed-listener: cannot start: {error}", file=sys.stderr)
        return 1
    running = [True]

    def stop(*_: object) -> None:
        running[0] = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    networks = ", ".join(str(network) for network in args.allow)
    print(
        f"cloudtap-hostfeed-listener: TLS on TCP {args.port} -> {args.device}; "
        f"hosts only from {networks}, only with certificates of the stack's CA",
        file=sys.stderr,
        flush=True,
    )
    write_file(args.status_file, clients.snapshot() + "\n")  # before ready: check reads it
    if args.ready_file:
        write_file(args.ready_file, f'PID={os.getpid()}\nDEVICE="{args.device}"\n')
    next_status = 0.0
    try:
        while running[0]:
            try:
                raw, peer = server.accept()
            except TimeoutError:
                raw = None
            except InterruptedError:
                continue
            if raw is not None:
                source = ipaddress.IPv4Address(peer[0])
                if not any(source in network for network in args.allow):
                    clients.refuse("source")
                    raw.close()
                else:
                    threading.Thread(
                        target=serve_client,
                        args=(raw, peer[0], context, output, clients),
                        daemon=True,
                    ).start()
            now = time.monotonic()
            if now >= next_status:
                write_file(args.status_file, clients.snapshot() + "\n")
                next_status = now + STATUS_INTERVAL
    finally:
        write_file(args.status_file, clients.snapshot() + "\n")
        if args.ready_file:
            with contextlib.suppress(OSError):
                os.unlink(args.ready_file)
    return 0


def report(args: argparse.Namespace) -> int:
    """One line per host; exit 0 (silent hosts are a warning, not a broken sensor)."""
    try:
        with open(args.status_file, encoding="utf-8") as handle:
            status = json.load(handle)
    except (OSError, ValueError) as error:
        print(f"host feeds: no status yet ({error})")
        return 1
    now = time.time()
    hosts = status.get("hosts", {})
    if not hosts:
        print("host feeds: no host has connected")
    for name in sorted(hosts):
        host = hosts[name]
        last = host.get("last_frame")
        idle = None if last is None else now - float(last)
        silent = not host.get("connected") or idle is None or idle > args.silent_after
        state = "connected" if host.get("connected") else "disconnected"
        since = "never" if idle is None else f"{idle:.0f}s ago"
        print(
            f"host feed {name} ({host.get('address')}): {state}, {host.get('frames', 0)} frames, "
            f"last frame {since}{' - SILENT' if silent else ''}"
        )
    refused = status.get("refused", {})
    if refused:
        print("host feeds refused: " + ", ".join(f"{k} {v}" for k, v in sorted(refused.items())))
    return 0


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cloudtap-hostfeed-listener", description=__doc__)
    parser.add_argument("--config", required=True, help="settings file (KEY=value)")
    parser.add_argument("--report", action="store_true", help="print the hosts and exit")
    args = parser.parse_args(argv)
    try:
        settings = read_config(args.config)
        args.device = settings["DEVICE"]
        args.port = int(settings.get("PORT") or "3005")
        args.allow = [ipaddress.IPv4Network(text) for text in settings["ALLOW"].split()]
        args.ca_file = settings["CA_FILE"]
        args.cert_file = settings["CERT_FILE"]
        args.key_file = settings["KEY_FILE"]
        args.status_file = settings["STATUS_FILE"]
        args.ready_file = settings.get("READY_FILE", "")
        args.silent_after = float(settings.get("SILENT_AFTER") or "60")
    except (KeyError, ValueError) as error:
        parser.error(f"{args.config}: {error}")
    if not args.allow:
        parser.error("ALLOW: at least one network")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    return report(args) if args.report else serve(args)


if __name__ == "__main__":
    sys.exit(main())


__all__: list[str] = ["main"]
