#!/usr/bin/env python3
"""cloudtap-health: a sensor's answer to load balancer health checks (TCP or HTTP).

Installed as ``/usr/local/lib/cloudtap/cloudtap-health`` and started by
``cloudtap-sensor health`` (``cloudtap-health.service``), which reads the sensor's settings and
passes the port and the check command as options.

It runs the check command (``cloudtap-sensor check``) every ``--every`` seconds, never per
probe, and follows its verdict:

- passing: it listens on ``--port``; a connection is accepted (a TCP check passes) and a
  ``GET`` or ``HEAD`` request, any path, gets ``200`` with the check's last line;
- failing: it does not listen at all, so a TCP check is refused and an HTTP check fails too.

The sensor's nftables table admits the port from its health-check networks only. Only the
standard library of Python 3.9 is used.
"""

from __future__ import annotations

import argparse
import contextlib
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

REQUEST_TIMEOUT = 2.0
"""Seconds a client has to send its request line; a TCP check sends nothing and closes."""
MAX_REQUEST = 4096


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="cloudtap-health", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between checks")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds a check may take")
    parser.add_argument("check", nargs=argparse.REMAINDER, help="-- the check command")
    args = parser.parse_args(argv)
    if args.check[:1] == ["--"]:
        args.check = args.check[1:]
    if not args.check:
        parser.error("the check command is missing (after --)")
    if not 1 <= args.port <= 65535 or args.every <= 0:
        parser.error("--port must be 1-65535 and --every positive")
    return args


def run_check(command: Sequence[str], timeout: float) -> tuple[bool, str]:
    """(passed, its last line) of the check command."""
    try:
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, f"check could not run: {error}"
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return result.returncode == 0, lines[-1] if lines else f"exit {result.returncode}"


def response(request: bytes, verdict: str) -> bytes:
    method = request.split(b" ", 1)[0]
    if method not in (b"GET", b"HEAD"):
        body = b"cloudtap-health answers GET and HEAD\n"
        head = b"HTTP/1.0 405 Method Not Allowed\r\n"
    else:
        body = verdict.encode("utf-8", "replace") + b"\n"
        head = b"HTTP/1.0 200 OK\r\n"
    head += b"Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
    head += b"Content-Length: %d\r\n\r\n" % len(body)
    return head + (b"" if method == b"HEAD" else body)


def serve(client: socket.socket, verdict: str) -> None:
    with client:
        client.settimeout(REQUEST_TIMEOUT)
        request = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in request and b"\n\n" not in request:
                chunk = client.recv(MAX_REQUEST)
                if not chunk:
                    break
                request += chunk
                if len(request) >= MAX_REQUEST:
                    break
            if request:
                client.sendall(response(request, verdict))


def listener(bind: str, port: int) -> socket.socket:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((bind, port))
    server.listen(64)
    server.setblocking(False)
    return server


def run(args: argparse.Namespace) -> int:
    running = [True]

    def stop(*_: object) -> None:
        running[0] = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    selector = selectors.DefaultSelector()
    server: socket.socket | None = None
    healthy: bool | None = None
    verdict = ""
    next_check = time.monotonic()
    try:
        while running[0]:
            if time.monotonic() >= next_check:
                passed, verdict = run_check(args.check, args.timeout)
                next_check = time.monotonic() + args.every
                if passed and server is None:
                    try:
                        server = listener(args.bind, args.port)
                    except OSError as error:
                        print(
                            f"cloudtap-health: cannot listen on {args.port}: {error}",
                            file=sys.stderr,
                            flush=True,
                        )
                        return 1
                    selector.register(server, selectors.EVENT_READ)
                elif not passed and server is not None:
                    selector.unregister(server)
                    server.close()
                    server = None
                if passed is not healthy:
                    state = f"listening on TCP {args.port}" if passed else "not listening"
                    print(f"cloudtap-health: {state}: {verdict}", file=sys.stderr, flush=True)
                    healthy = passed
            timeout = max(0.0, next_check - time.monotonic())
            if server is None:
                time.sleep(min(timeout, 1.0))
                continue
            for _key, _mask in selector.select(min(timeout, 1.0)):
                with contextlib.suppress(BlockingIOError, InterruptedError):
                    client, _peer = server.accept()
                    client.setblocking(True)
                    serve(client, verdict)
    finally:
        if server is not None:
            server.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(parse_arguments(argv))


if __name__ == "__main__":
    sys.exit(main())
