"""A namespace lab for host feeds: a monitored host, a router and a sensor, running the rendered
files of the host's cloud-config part and of the sensor (with its host-feed listener).

::

    host (10.1.0.10, eth0) --- (10.1.0.1) router (10.2.0.1) --- (10.2.0.10, eth0) sensor
                                 lo: 198.51.100.10, the host's peer ("the internet")

The host's traffic with the peer is what is copied. The host runs ``cloudtap-hostfeed``
(rendered by :func:`components.host_feed.render_cloud_config_part`), the sensor runs
``cloudtap-sensor`` (rendered by :func:`components.sensor.render_cloud_config`) whose hook starts
``cloudtap-hostfeed-listener`` (rendered by :func:`components.host_feed.listener_files`). The
certificates are issued by :mod:`components.host_feed_certs`, as the stack's dynamic resource
issues them. Links carry 1500 bytes, as between clouds. Everything is removed when the ``with``
block ends; every command runs with a timeout.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from components import host_feed, sensor
from components.cloud_config import NET_LIBRARY_PATH, written_files
from components.host_feed_certs import IssuedCertificate, issue_ca, issue_leaf

from .lab import _SIGNALS, LabError, _new_prefix, _run
from .pcap import Frame, read_pcap

HOST_ADDRESS: Final = ipaddress.IPv4Address("10.1.0.10")
ROUTER_HOST_SIDE: Final = ipaddress.IPv4Address("10.1.0.1")
ROUTER_SENSOR_SIDE: Final = ipaddress.IPv4Address("10.2.0.1")
SENSOR_ADDRESS: Final = ipaddress.IPv4Address("10.2.0.10")
PEER_ADDRESS: Final = ipaddress.IPv4Address("198.51.100.10")
HOST_NETWORK: Final = "10.1.0.0/24"
LINK_MTU: Final = 1500
HOST_NAME: Final = "app-1"
CAPTURE_INTERFACE: Final = sensor.DEFAULT_CAPTURE_INTERFACE


class FeedHost(StrEnum):
    HOST = "host"
    ROUTER = "router"
    SENSOR = "sensor"


@dataclasses.dataclass
class Process:
    """A background process in a namespace; its output goes to a file."""

    argv: tuple[str, ...]
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(2)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(2)


class HostFeedLab:
    """Build with ``with HostFeedLab.create(transport) as lab:``."""

    def __init__(self, workdir: Path, transport: host_feed.HostFeedTransport, python: str):
        self.workdir = workdir
        self.python = python
        self.prefix = ""
        self._namespaces: list[str] = []
        self._processes: list[Process] = []
        self.ca = issue_ca("lab")
        self.sensor_credentials = issue_leaf(
            self.ca, "sensor", server=True, names=(str(SENSOR_ADDRESS),)
        )
        self.host_credentials = issue_leaf(self.ca, HOST_NAME, server=False)
        self.host_dir = workdir / "host"
        self.sensor_dir = workdir / "sensor"
        self.host_run_dir = self.host_dir / "run"
        self.sensor_run_dir = self.sensor_dir / "run"
        self.sensor_state_dir = self.sensor_dir / "state"
        self.host_state_dir = self.host_dir / "state"
        self.sensor_plan = sensor.plan_sensor(
            {"feeds": ["vxlan"], "feed_source_cidrs": [HOST_NETWORK]}, default_feed_sources=[]
        )
        self.listener_plan = host_feed.plan_listener(None, [HOST_NETWORK], CAPTURE_INTERFACE)
        self.feed_plan = self.plan(transport)

    @staticmethod
    def plan(transport: host_feed.HostFeedTransport, **more: Any) -> host_feed.HostFeedPlan:
        args = {"transport": transport.value, "sensor_address": str(SENSOR_ADDRESS), **more}
        return host_feed.plan_host_feed(HOST_NAME, args)

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    @contextlib.contextmanager
    def create(
        cls, transport: host_feed.HostFeedTransport, *, python: str = sys.executable
    ) -> Iterator[HostFeedLab]:
        with _SIGNALS.active():
            workdir = Path(tempfile.mkdtemp(prefix="cloudtap-hostfeed-lab-"))
            lab = cls(workdir, transport, python)
            try:
                lab._build()
                lab.sensor("apply", check=True)
                lab.write_host_files(lab.feed_plan)
                lab.host("apply", check=True)
                yield lab
            finally:
                lab._cleanup()

    def _build(self) -> None:
        for directory in (
            self.host_dir,
            self.sensor_dir,
            self.host_run_dir,
            self.sensor_run_dir,
            self.sensor_state_dir,
            self.host_state_dir,
        ):
            directory.mkdir(parents=True, exist_ok=True)
        self._write_sensor_files()
        for _attempt in range(8):
            self.prefix = _new_prefix()
            first = self.namespace(FeedHost.HOST)
            if _run(["ip", "netns", "add", first], check=False).returncode == 0:
                self._namespaces.append(first)
                break
        else:
            raise LabError("could not find a free namespace prefix in 8 random tries")
        for host in (FeedHost.ROUTER, FeedHost.SENSOR):
            _run(["ip", "netns", "add", self.namespace(host)])
            self._namespaces.append(self.namespace(host))
        for host in FeedHost:
            self.run(host, "ip", "link", "set", "lo", "up")
            self.run(host, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", check=False)
        router = self.namespace(FeedHost.ROUTER)
        for device, peer, peer_address, router_address in (
            ("r-host", FeedHost.HOST, HOST_ADDRESS, ROUTER_HOST_SIDE),
            ("r-sensor", FeedHost.SENSOR, SENSOR_ADDRESS, ROUTER_SENSOR_SIDE),
        ):
            peer_ns = self.namespace(peer)
            veth = ["type", "veth", "peer", "name", "eth0", "mtu", str(LINK_MTU), "netns", peer_ns]
            _run(["ip", "-n", router, "link", "add", "name", device, "mtu", str(LINK_MTU), *veth])
            self.run(FeedHost.ROUTER, "ip", "addr", "add", f"{router_address}/24", "dev", device)
            self.run(FeedHost.ROUTER, "ip", "link", "set", device, "up")
            self.run(peer, "ip", "addr", "add", f"{peer_address}/24", "dev", "eth0")
            self.run(peer, "ip", "link", "set", "eth0", "up")
            self.run(peer, "ip", "route", "add", "default", "via", str(router_address))
            # Real frames on the wire: no segmentation or checksum offload on either end.
            for host, name in ((FeedHost.ROUTER, device), (peer, "eth0")):
                off = ["gro", "off", "gso", "off", "tso", "off", "tx", "off"]
                self.run(host, "ethtool", "-K", name, *off, check=False)
        self.run(FeedHost.ROUTER, "ip", "addr", "add", f"{PEER_ADDRESS}/32", "dev", "lo")
        self.run(FeedHost.ROUTER, "sysctl", "-qw", "net.ipv4.ip_forward=1")

    def _write_sensor_files(self) -> None:
        """The sensor's cloud-config, with the listener's files, written out; the listener's
        settings point at the lab's directories instead of /etc and /run."""
        cert_dir = self.sensor_dir / "certs"
        cert_dir.mkdir()
        credentials = host_feed.SensorCredentials(
            self.ca.certificate,
            self.sensor_credentials.certificate,
            self.sensor_credentials.private_key,
        )
        listener = host_feed.listener_files(self.listener_plan, credentials)
        text = sensor.render_cloud_config(self.sensor_plan, extra_files=listener)
        for entry in written_files(text).values():
            if entry.path == host_feed.LISTENER_SETTINGS_PATH:
                settings = host_feed.render_listener_settings(
                    self.listener_plan, cert_dir=str(cert_dir), run_dir=str(self.sensor_run_dir)
                )
                entry = dataclasses.replace(entry, content=settings)  # noqa: PLW2901
            inside = entry.path.startswith(f"{host_feed.LISTENER_CERT_DIR}/")
            self._write(cert_dir if inside else self.sensor_dir, entry)

    def write_host_files(
        self,
        plan: host_feed.HostFeedPlan,
        credentials: IssuedCertificate | None = None,
    ) -> None:
        """The host's cloud-config part for ``plan``, written out (``credentials``: another
        host certificate than the stack's, to show the sensor refusing it)."""
        issued = credentials or self.host_credentials
        cert_dir = self.host_dir / "certs"
        cert_dir.mkdir(exist_ok=True)
        part = host_feed.render_cloud_config_part(
            plan, self._credentials(issued), cert_dir=str(cert_dir)
        )
        for entry in written_files(part).values():
            if entry.path.startswith(f"{cert_dir}/"):
                self._write(cert_dir, entry)
            else:
                self._write(self.host_dir, entry)

    def _credentials(self, issued: IssuedCertificate) -> host_feed.HostCredentials:
        return host_feed.HostCredentials(
            self.ca.certificate, issued.certificate, issued.private_key
        )

    @staticmethod
    def _write(directory: Path, entry: Any) -> None:
        target = directory / Path(entry.path).name
        target.write_bytes(entry.data())
        target.chmod(int(entry.permissions, 8))

    def _cleanup(self) -> None:
        with _SIGNALS.held():
            for process in reversed(self._processes):
                with contextlib.suppress(OSError, subprocess.SubprocessError):
                    process.stop()
            for ns in reversed(self._namespaces):
                with contextlib.suppress(LabError):
                    pids = _run(["ip", "netns", "pids", ns], timeout=5.0, check=False).stdout
                    for pid in pids.split():
                        with contextlib.suppress(ProcessLookupError, ValueError):
                            os.kill(int(pid), signal.SIGKILL)
                    _run(["ip", "netns", "del", ns], timeout=5.0, check=False)
            self._namespaces.clear()
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- using it --------------------------------------------------------------------------

    def namespace(self, host: FeedHost) -> str:
        return f"{self.prefix}{host.value}"

    def run(
        self,
        host: FeedHost,
        *argv: str,
        check: bool = True,
        timeout: float = 10.0,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return _run(
            ["ip", "netns", "exec", self.namespace(host), *argv],
            timeout=timeout,
            env=env,
            host=host.value,
            check=check,
        )

    def start(self, host: FeedHost, *argv: str) -> Process:
        log = self.workdir / f"{host.value}-{len(self._processes)}.log"
        with log.open("wb") as output:
            popen = subprocess.Popen(
                ["ip", "netns", "exec", self.namespace(host), *argv],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = Process(tuple(argv), popen, log)
        self._processes.append(process)
        return process

    def _script(
        self,
        host: FeedHost,
        script: Path,
        command: str,
        env: Mapping[str, str],
        *,
        check: bool,
        timeout: float,
    ) -> subprocess.CompletedProcess[str]:
        interpreter = script.read_text().splitlines()[0][2:].split()
        return self.run(
            host,
            *interpreter,
            str(script),
            command,
            check=check,
            timeout=timeout,
            env={**os.environ, **env},
        )

    def host(self, command: str, *, check: bool = False) -> subprocess.CompletedProcess[str]:
        """The rendered ``cloudtap-hostfeed <command>`` on the host (no systemd: the script
        starts the agent itself)."""
        env = {
            "CLOUDTAP_HOSTFEED_CONF": str(self.host_dir / Path(host_feed.SETTINGS_PATH).name),
            "CLOUDTAP_NET_LIBRARY": str(self.host_dir / Path(NET_LIBRARY_PATH).name),
            "CLOUDTAP_HOSTFEED_RUN_DIR": str(self.host_run_dir),
            "CLOUDTAP_HOSTFEED_AGENT": str(self.host_dir / Path(host_feed.AGENT_PATH).name),
            "CLOUDTAP_HOSTFEED_PYTHON": self.python,
            "CLOUDTAP_HOSTFEED_SUPERVISOR": "process",
        }
        script = self.host_dir / Path(host_feed.SCRIPT_PATH).name
        return self._script(FeedHost.HOST, script, command, env, check=check, timeout=30.0)

    def sensor(self, command: str, *, check: bool = False) -> subprocess.CompletedProcess[str]:
        """The rendered ``cloudtap-sensor <command>`` (with its host-feed hook) on the sensor."""
        env = {
            "CLOUDTAP_SENSOR_CONF": str(self.sensor_dir / Path(sensor.SETTINGS_PATH).name),
            "CLOUDTAP_NET_LIBRARY": str(self.sensor_dir / Path(NET_LIBRARY_PATH).name),
            "CLOUDTAP_SENSOR_RUN_DIR": str(self.sensor_run_dir),
            "CLOUDTAP_SENSOR_DECAP": str(self.sensor_dir / Path(sensor.DECAP_PATH).name),
            "CLOUDTAP_SENSOR_PYTHON": self.python,
            "CLOUDTAP_SENSOR_SUPERVISOR": "process",
            "CLOUDTAP_STATE_DIR": str(self.sensor_state_dir),
            "CLOUDTAP_SENSOR_BPF_OBJECT": str(self.sensor_dir / Path(sensor.BPF_OBJECT_PATH).name),
            "CLOUDTAP_SENSOR_BPF_HELPER": str(self.sensor_dir / Path(sensor.BPF_HELPER_PATH).name),
            "CLOUDTAP_HOSTFEED_LISTENER_CONF": str(
                self.sensor_dir / Path(host_feed.LISTENER_SETTINGS_PATH).name
            ),
            "CLOUDTAP_HOSTFEED_LISTENER": str(self.sensor_dir / Path(host_feed.LISTENER_PATH).name),
        }
        script = self.sensor_dir / Path(sensor.SCRIPT_PATH).name
        return self._script(FeedHost.SENSOR, script, command, env, check=check, timeout=30.0)

    def agent_status(self) -> dict[str, Any]:
        return dict(json.loads((self.host_run_dir / "hostfeed.status").read_text()))

    def listener_status(self) -> dict[str, Any]:
        return dict(json.loads((self.sensor_run_dir / "hostfeed-listener.status").read_text()))

    def listener_pid(self) -> int:
        ready = (self.sensor_run_dir / "hostfeed-listener.ready").read_text()
        return int(ready.split("PID=")[1].split()[0])

    def wait_for(self, predicate: Any, timeout: float = 15.0, what: str = "a condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError, KeyError):
                if predicate():
                    return
            time.sleep(0.1)
        raise LabError(f"timed out after {timeout}s waiting for {what}")

    @contextlib.contextmanager
    def record(self, host: FeedHost, interface: str) -> Iterator[Path]:
        """``tcpdump -w`` of whole frames on ``host``'s ``interface`` for the block's length;
        read the file after the block."""
        path = self.workdir / f"{host.value}-{interface}-{time.monotonic_ns()}.pcap"
        argv = ["tcpdump", "-n", "-s", "0", "-B", "65536", "-U", "--immediate-mode"]
        argv += ["-Z", "root", "-i", interface, "-w", str(path)]
        process = self.start(host, *argv)
        self.wait_for(lambda: "listening on" in process.output(), what=f"tcpdump on {interface}")
        try:
            yield path
        finally:
            time.sleep(0.5)
            process.stop()

    def ping(self, *sizes: int, count: int = 3) -> int:
        """Pings of the peer from the host, ``count`` per size; the number answered."""
        answered = 0
        for size in sizes:
            result = self.run(
                FeedHost.HOST,
                "ping",
                "-n",
                "-q",
                "-c",
                str(count),
                "-i",
                "0.05",
                "-W",
                "2",
                "-s",
                str(size),
                str(PEER_ADDRESS),
                check=False,
                timeout=20.0,
            )
            for line in result.stdout.splitlines():
                if " received" in line:
                    answered += int(line.split(",")[1].split()[0])
        return answered


def frames(path: Path) -> list[Frame]:
    return read_pcap(path)


def is_feed_frame(frame: Frame, transport: host_feed.HostFeedTransport, port: int) -> bool:
    """A frame of the feed itself (host <-> sensor on the feed's port, or a fragment of it)."""
    packet = frame.ipv4
    if packet is None or len(packet) < 20:
        return False
    header = (packet[0] & 0x0F) * 4
    source, destination = packet[12:16], packet[16:20]
    if SENSOR_ADDRESS.packed not in (source, destination):
        return False
    protocol = packet[9]
    wanted = 17 if transport is host_feed.HostFeedTransport.VXLAN else 6
    if protocol != wanted:
        return False
    fragment = int.from_bytes(packet[6:8], "big") & 0x1FFF
    if fragment:
        return True
    ports = packet[header : header + 4]
    return port in (int.from_bytes(ports[:2], "big"), int.from_bytes(ports[2:], "big"))
