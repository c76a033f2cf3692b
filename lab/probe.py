"""Tiny TCP/UDP listener and client that report the addresses they see, for lab hosts.

Run as a standalone script inside a namespace (``python -I -S probe.py ...``): it imports only the
standard library, so it needs neither the package nor the virtualenv's site-packages.

``stream`` sends ``--count`` numbered UDP datagrams to a UDP listener at ``--rate`` per second
and prints ``{"sent": ..., "answered": ...}``: how many of the listener's answers came back, each
datagram's answer counted once (a fixed stream, to count losses end to end).

``bulk`` serves (``--serve``) or fetches a bulk TCP transfer: the client sends ``--upload``
bytes, then the server answers with ``--download`` bytes and closes; the client prints
``{"sent": ..., "received": ...}``. Traffic for comparing a TCP transfer byte for byte.

``listen`` prints one JSON line ``{"event": "ready"}`` once bound, then one ``{"event": "peer",
"address": ..., "port": ...}`` per connection (TCP) or datagram (UDP), and answers each peer with
``seen <address> <port>``: the listener's view of who connected. ``connect`` prints one JSON line
``{"ok": ..., "seen": ..., "error": ...}`` where ``seen`` is the address the listener saw, and exits
0 only when it got that answer.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import sys
import time
from collections.abc import Sequence

READY = "ready"
PEER = "peer"
BUFFER = 512


def _emit(**fields: object) -> None:
    print(json.dumps(fields, sort_keys=True), flush=True)


def _answer(peer: tuple[str, int]) -> bytes:
    return f"seen {peer[0]} {peer[1]}\n".encode()


def listen(protocol: str, address: str, port: int) -> None:
    """Serve until killed: the lab stops listeners when a check or the lab ends."""
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((address, port))
        if protocol == "tcp":
            server.listen(16)
        _emit(event=READY, address=address, port=port, protocol=protocol)
        while True:
            if protocol == "tcp":
                connection, peer = server.accept()
                with connection:
                    _emit(event=PEER, address=peer[0], port=peer[1])
                    connection.settimeout(2.0)
                    # The client may have given up first; the peer line is what matters.
                    with contextlib.suppress(OSError):
                        connection.sendall(_answer(peer))
            else:
                data, peer = server.recvfrom(BUFFER)
                _emit(event=PEER, address=peer[0], port=peer[1])
                number = data.decode(errors="replace").strip()
                suffix = f" {number}" if number.isdigit() else ""
                server.sendto(_answer(peer).rstrip(b"\n") + f"{suffix}\n".encode(), peer)


def connect(protocol: str, source: str, address: str, port: int, timeout: float) -> bool:
    """One exchange with a listener; print what happened as JSON and return success."""
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    try:
        with socket.socket(socket.AF_INET, kind) as client:
            client.settimeout(timeout)
            if source:
                client.bind((source, 0))
            client.connect((address, port))
            if protocol == "udp":
                client.send(b"cloudtap lab probe\n")
            reply = client.recv(BUFFER).decode(errors="replace").split()
    except TimeoutError:
        _emit(ok=False, seen=None, error="timed out")
        return False
    except ConnectionRefusedError:
        _emit(ok=False, seen=None, error="refused")
        return False
    except OSError as error:
        _emit(ok=False, seen=None, error=error.strerror or str(error))
        return False
    if len(reply) != 3 or reply[0] != "seen":
        _emit(ok=False, seen=None, error=f"unexpected answer {' '.join(reply)!r}")
        return False
    _emit(ok=True, seen=reply[1], error=None)
    return True


def stream(
    source: str, address: str, port: int, *, count: int, rate: float, timeout: float
) -> bool:
    """A paced UDP stream to a listener; print how many datagrams were answered."""
    answered: set[int] = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        if source:
            client.bind((source, 0))
        client.connect((address, port))
        client.setblocking(False)

        def collect() -> None:
            # Each answer names the datagram it answers: "seen <address> <port> <number>".
            while True:
                try:
                    words = client.recv(BUFFER).decode(errors="replace").split()
                except (BlockingIOError, ConnectionRefusedError):
                    return
                if len(words) == 4 and words[0] == "seen" and words[3].isdigit():
                    answered.add(int(words[3]))

        started = time.monotonic()
        for number in range(count):
            client.send(f"{number}\n".encode())
            collect()
            ahead = (number + 1) / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
        deadline = time.monotonic() + timeout
        while len(answered) < count and time.monotonic() < deadline:
            time.sleep(0.01)
            collect()
    _emit(sent=count, answered=len(answered))
    return len(answered) == count


def _pattern(count: int) -> bytes:
    return bytes(index % 251 for index in range(count))


def bulk_serve(address: str, port: int, download: int) -> None:
    """Serve until killed: read what a client sends until it shuts down, then send it
    ``download`` bytes and close."""
    payload = _pattern(download)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((address, port))
        server.listen(4)
        _emit(event=READY, address=address, port=port, protocol="tcp")
        while True:
            connection, peer = server.accept()
            with connection:
                _emit(event=PEER, address=peer[0], port=peer[1])
                connection.settimeout(10.0)
                with contextlib.suppress(OSError):
                    while connection.recv(65536):
                        pass
                    connection.sendall(payload)


def bulk_fetch(source: str, address: str, port: int, upload: int, timeout: float) -> bool:
    received = 0
    try:
        with socket.create_connection((address, port), timeout, (source, 0)) as client:
            client.sendall(_pattern(upload))
            client.shutdown(socket.SHUT_WR)
            while chunk := client.recv(65536):
                received += len(chunk)
    except OSError as error:
        _emit(sent=upload, received=received, error=error.strerror or str(error))
        return False
    _emit(sent=upload, received=received, error=None)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    listener = commands.add_parser("listen")
    client = commands.add_parser("connect")
    streamer = commands.add_parser("stream")
    bulk = commands.add_parser("bulk")
    bulk.add_argument("--address", required=True)
    bulk.add_argument("--port", type=int, required=True)
    bulk.add_argument("--serve", action="store_true")
    bulk.add_argument("--source", default="")
    bulk.add_argument("--upload", type=int, default=0)
    bulk.add_argument("--download", type=int, default=0)
    bulk.add_argument("--timeout", type=float, default=10.0)
    for command in (listener, client, streamer):
        command.add_argument("--protocol", choices=("tcp", "udp"), default="tcp")
        command.add_argument("--address", required=True)
        command.add_argument("--port", type=int, required=True)
    for command in (client, streamer):
        command.add_argument("--source", default="")
        command.add_argument("--timeout", type=float, default=1.0)
    streamer.add_argument("--count", type=int, default=100)
    streamer.add_argument("--rate", type=float, default=1000.0)
    args = parser.parse_args(argv)
    if args.command == "bulk":
        if args.serve:
            bulk_serve(args.address, args.port, args.download)
            return 0
        return (
            0 if bulk_fetch(args.source, args.address, args.port, args.upload, args.timeout) else 1
        )
    if args.command == "listen":
        listen(args.protocol, args.address, args.port)
        return 0
    if args.command == "stream":
        ok = stream(
            args.source,
            args.address,
            args.port,
            count=args.count,
            rate=args.rate,
            timeout=args.timeout,
        )
        return 0 if ok else 1
    return 0 if connect(args.protocol, args.source, args.address, args.port, args.timeout) else 1


if __name__ == "__main__":
    sys.exit(main())
