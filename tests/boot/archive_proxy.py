"""A caching HTTP proxy to Debian's archive, for the apt of the boot test's containers.

The containers' network namespaces have no route out of the machine. This proxy listens on a
Unix socket in the host's namespace (a ``socat`` inside the container's network bridges a TCP
address to it) and fetches from Debian's archive hosts only, nothing else. Files the archive
never changes once published (``pool/``, ``by-hash/``) are kept, so a warm run installs packages
without downloading them again; everything else (the ``InRelease`` files) is fetched every time
and served from the cache only when the archive cannot be reached.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socketserver
import tempfile
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

ARCHIVE_HOSTS = frozenset({"deb.debian.org", "security.debian.org"})
UPSTREAM_TIMEOUT = 60.0


def is_immutable(path: str) -> bool:
    """Whether the archive serves the same bytes at ``path`` forever (packages, hashed indices)."""
    return "/pool/" in path or "/by-hash/" in path


def cache_file(cache: Path, host: str, path: str) -> Path | None:
    """Where ``http://host/path`` is kept; ``None`` for a path that could leave the cache."""
    parts = [part for part in path.split("/") if part]
    if not parts or any(part in (".", "..") for part in parts):
        return None
    return cache.joinpath(host, *parts)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    cache: Path
    log: list[str]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        self.server.log.append(format % args)

    def _reply(self, status: int, body: bytes, *, head: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _refuse(self, status: int, why: str) -> None:
        self._reply(status, f"{why}\n".encode())

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _serve(self, *, head: bool) -> None:
        url = urlsplit(self.path)
        host = url.hostname or ""
        if url.scheme != "http" or host not in ARCHIVE_HOSTS or url.port not in (None, 80):
            self._refuse(403, f"only http://{{{','.join(sorted(ARCHIVE_HOSTS))}}}/ is proxied")
            return
        kept = cache_file(self.server.cache, host, url.path)
        if kept is None:
            self._refuse(400, f"not an archive path: {url.path}")
            return
        if is_immutable(url.path) and kept.is_file():
            self._reply(200, kept.read_bytes(), head=head)
            return
        try:
            status, body = self._fetch(host, url.path + (f"?{url.query}" if url.query else ""))
        except (OSError, http.client.HTTPException) as error:
            status, body = 502, f"{host}: {error}\n".encode()
        if status >= 500 and kept.is_file():  # the archive is unreachable: the copy is signed
            status, body = 200, kept.read_bytes()
        elif status == 200:
            _store(kept, body)
        self._reply(status, body, head=head)

    @staticmethod
    def _fetch(host: str, target: str) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection(host, 80, timeout=UPSTREAM_TIMEOUT)
        try:
            connection.request("GET", target, headers={"User-Agent": "cloudtap-boot-test"})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()


def _store(target: Path, body: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    with os.fdopen(handle, "wb") as output:
        output.write(body)
    os.replace(temporary, target)


class ArchiveProxy:
    """The proxy, serving on ``socket_path`` in a thread until :meth:`close`."""

    def __init__(self, socket_path: Path, cache: Path) -> None:
        cache.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            socket_path.unlink()
        self.socket_path = socket_path
        self._server = _Server(str(socket_path), _Handler)
        self._server.cache = cache
        self._server.log = []
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="archive-proxy", daemon=True
        )
        self._thread.start()

    @property
    def requests(self) -> list[str]:
        """One line per request served, as http.server logs them (for failure messages)."""
        return list(self._server.log)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    def __enter__(self) -> ArchiveProxy:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
