"""A network-namespace lab that runs the gateway's and the sensor's rendered boot files here.

``Lab.create(plan)`` builds one namespace per :class:`~lab.topology.Host`, wires them
with veth pairs as :func:`~lab.topology.plan_topology` says, writes the settings files,
scripts and decapsulator exactly as the gateway's and the sensor's cloud-configs would
(``render_boot_cloud_config`` and ``render_settings``: never a hand-written copy), runs
``cloudtap-sensor apply`` in the sensor namespace and ``cloudtap-gateway apply`` (with the
gateway mirror on, towards that sensor) in the gateway namespace. Everything it creates
(namespaces, veth pairs, the temporary directory, background processes, the sensor's
decapsulator) is removed when the ``with`` block ends, however it ends: an exception, Ctrl-C,
SIGTERM or SIGHUP (see :class:`_SignalGuard`). Every command runs with a timeout.

Traffic never leaves the lab: every address lives on an interface inside its namespaces, and no
namespace has a link to the machine's own network.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Final, Literal

from components import ids, sensor, settings_delivery
from components.cloud_config import NET_LIBRARY_PATH, written_files
from components.gateway import (
    HEARTBEAT_PATH,
    SCRIPT_PATH,
    SETTINGS_PATH,
    render_boot_cloud_config,
    render_settings,
)
from components.network_plan import NetworkPlan, Tier
from components.os_family import DEFAULT_OS_FAMILY, OsFamily

from .one_armed import (
    OneArmedTopology,
    plan_one_armed_topology,
    router_commands,
    router_namespace,
)
from .pcap import Frame, FrameCounter, read_pcap
from .topology import Host, Topology, plan_topology

NAME_PREFIX: Final = "ct"
"""Namespace names are ``ct<4 random hex>-<host>``: random per lab, so labs run side by side."""
COMMAND_TIMEOUT: Final = 10.0
"""Seconds any single command may take unless the caller says otherwise."""
STOP_TIMEOUT: Final = 2.0
"""Seconds a background process gets after SIGTERM before SIGKILL."""
ANSWER_TIMEOUT_STREAM: Final = 2.0
"""Seconds a UDP stream waits for its last answers."""
TABLE: Final = "cloudtap"
"""The nftables table (family ip) that the gateway script owns."""
MIRROR_TABLE: Final = "cloudtap_mirror"
"""The nftables table (family netdev) of the gateway's VXLAN mirror."""
MIRROR_DEVICE: Final = "cloudtap-mirror"
"""The gateway's VXLAN device towards the sensor."""
SENSOR_TABLE: Final = "cloudtap_sensor"
"""The nftables table (family inet) that the sensor script owns."""
REQUIRED_TOOLS: Final = {
    "ip": "iproute2",
    "nft": "nftables",
    "tcpdump": "tcpdump",
    "ping": "iputils-ping",
    "sysctl": "procps",  # the gateway script itself needs it
    "ethtool": "ethtool",  # offloads off, so the wire packets are real packets
}
"""Commands the lab runs, and the Debian/Ubuntu package that provides each."""
RECORD_FRAMES: Final = 1024
"""Frames a recording's ring holds with tcpdump not scheduled at all (more than any one burst a
check sends before it waits for the recording to catch up): on a busy machine tcpdump runs
late, and what its ring cannot hold the kernel drops."""
RECORD_FRAME_OVERHEAD: Final = 256
"""Bytes libpcap adds to each ring slot beyond the snapshot length (its headers, alignment),
rounded up, so that ``frames`` slots fit in the buffer asked for."""
RECORD_DRAIN_TIMEOUT: Final = 10.0
"""Seconds a recording gets, once its block ends, to write out what its ring still holds."""
ETHERNET_OVERHEAD: Final = 18
"""An Ethernet header and one 802.1Q tag: the largest frame a link carries is its MTU plus this."""
PROBE: Final = Path(__file__).with_name("probe.py")
FEEDS: Final = Path(__file__).with_name("feeds.py")

GatewayCommand = Literal["apply", "check", "render", "preflight", "apply-settings", "destination"]
SensorCommand = Literal["apply", "check", "render", "preflight", "apply-settings"]
Protocol = Literal["tcp", "udp"]


class LabError(RuntimeError):
    """The lab could not be built, used or removed."""


class LabCommandError(LabError):
    """A command inside the lab failed or ran out of time."""

    def __init__(self, host: str, argv: Sequence[str], returncode: int | None, output: str):
        self.host = host
        self.argv = tuple(argv)
        self.returncode = returncode
        self.output = output
        status = "timed out" if returncode is None else f"exited {returncode}"
        super().__init__(f"{host}: `{' '.join(argv)}` {status}: {output.strip()}")


def _completed_output(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stdout or "") + (result.stderr or "")


def _run(
    argv: Sequence[str],
    *,
    timeout: float = COMMAND_TIMEOUT,
    env: Mapping[str, str] | None = None,
    host: str = "machine",
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=None if env is None else dict(env),
            check=False,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a terminal's Ctrl-C reaches only us: clean-up stays in order
        )
    except subprocess.TimeoutExpired as expired:
        output = expired.output if isinstance(expired.output, str) else ""
        raise LabCommandError(host, argv, None, output) from None
    if check and result.returncode != 0:
        raise LabCommandError(host, argv, result.returncode, _completed_output(result))
    return result


def _new_prefix() -> str:
    return f"{NAME_PREFIX}{secrets.token_hex(2)}-"


def unavailable_reason() -> str | None:
    """Why the lab cannot run here, in one sentence; ``None`` when it can."""
    if os.geteuid() != 0:
        return "the lab needs root to create network namespaces and nftables rules"
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        packages = " ".join(dict.fromkeys(REQUIRED_TOOLS[tool] for tool in missing))
        return f"the lab needs {', '.join(missing)} on PATH (apt-get install {packages})"
    probe = f"{_new_prefix()}probe"
    try:
        _run(["ip", "netns", "add", probe], timeout=5.0)
    except LabError as error:
        return f"cannot create a network namespace ({error})"
    try:
        veth = ["type", "veth", "peer", "name", "probe1"]
        _run(["ip", "-n", probe, "link", "add", "name", "probe0", *veth])
    except LabError as error:
        return f"cannot create a veth pair inside a network namespace ({error})"
    finally:
        with contextlib.suppress(LabError):
            _run(["ip", "netns", "del", probe], timeout=5.0)
    return None


def _process_state(pid: int) -> str:
    """The state letter of process ``pid`` (``T`` once stopped); ``""`` once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


class Background:
    """A process running inside a lab host; its output is collected line by line."""

    def __init__(self, host: Host, argv: Sequence[str], process: subprocess.Popen[str]):
        self.host = host
        self.argv = tuple(argv)
        self.process = process
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self._lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def lines(self) -> list[str]:
        """Everything printed so far (stdout and stderr, in order)."""
        with self._changed:
            return list(self._lines)

    def wait_until(self, predicate: Callable[[list[str]], bool], timeout: float) -> list[str]:
        """All lines so far, once ``predicate(lines)`` holds, the process ends or ``timeout`` s
        pass (the caller checks which)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                lines = list(self._lines)
                remaining = deadline - time.monotonic()
                if predicate(lines) or remaining <= 0 or not self._reader.is_alive():
                    return lines
                self._changed.wait(remaining)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float) -> str | None:
        """The first line (old or new) matching ``predicate``; ``None`` after ``timeout`` s."""
        lines = self.wait_until(lambda lines: any(map(predicate, lines)), timeout)
        return next((line for line in lines if predicate(line)), None)

    def wait(self, timeout: float) -> int | None:
        """Exit status once the process ends by itself; ``None`` if it still runs."""
        try:
            returncode = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._reader.join(timeout)
        return returncode

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the process (``ip netns exec`` execs it: the pid is its own)."""
        if self.process.poll() is None:
            self.process.send_signal(signum)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT`; idempotent."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        self._reader.join(STOP_TIMEOUT)


@dataclass(frozen=True)
class ProbeResult:
    """What a client saw: ``seen`` is the client's address as the listener saw it."""

    ok: bool
    seen: str | None
    error: str | None

    def describe(self) -> str:
        return f"answered, seen as {self.seen}" if self.ok else f"failed ({self.error})"


class Listener:
    """A TCP or UDP listener on a lab host, reporting every peer's address."""

    def __init__(self, background: Background, protocol: Protocol, address: str, port: int):
        self.background = background
        self.protocol = protocol
        self.address = address
        self.port = port

    @staticmethod
    def _addresses(lines: list[str]) -> list[str]:
        found = []
        for line in lines:
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict) and event.get("event") == "peer":
                    found.append(str(event["address"]))
        return found

    def peers(self, *, at_least: int = 0, settle: float = 0.0) -> list[str]:
        """Addresses that reached this listener so far.

        ``at_least``: wait (up to :data:`COMMAND_TIMEOUT`) until that many have been reported,
        for peers known to have been answered. ``settle``: wait that long first, so that a
        peer that should *not* arrive has had its chance.
        """
        if settle > 0:
            time.sleep(settle)
        lines = self.background.wait_until(
            lambda lines: len(self._addresses(lines)) >= at_least, COMMAND_TIMEOUT
        )
        return self._addresses(lines)

    def wait_for_peer(self, timeout: float) -> str | None:
        """The first peer's address, waiting up to ``timeout`` s for one."""
        lines = self.background.wait_until(lambda lines: bool(self._addresses(lines)), timeout)
        return next(iter(self._addresses(lines)), None)


@dataclass(frozen=True)
class RecorderStats:
    """tcpdump's own account of a recording (the kernel's, for the last two)."""

    captured: int
    """Frames tcpdump wrote to the file."""
    received: int
    """Frames that reached its socket (after the filter), dropped ones included."""
    dropped: int
    """Frames the kernel dropped because the ring was full."""

    @property
    def pending(self) -> int:
        """Frames in the ring that tcpdump has yet to write."""
        return self.received - self.dropped - self.captured

    def describe(self) -> str:
        return (
            f"{self.captured} written, {self.received} received, {self.dropped} dropped by the "
            f"kernel, {self.pending} unwritten"
        )


_STATS = {
    name: re.compile(rf"(\d+) packets? {text}")
    for name, text in (
        ("captured", "captured"),
        ("received", "received by filter"),
        ("dropped", "dropped by kernel"),
    )
}


def recorder_stats(lines: Sequence[str]) -> RecorderStats | None:
    """The last counts tcpdump printed (on SIGUSR1, one line; at exit, one line each)."""
    found: dict[str, int] = {}
    for line in lines:
        for name, pattern in _STATS.items():
            if match := pattern.search(line):
                found[name] = int(match[1])
    if len(found) < len(_STATS):
        return None
    return RecorderStats(**found)


def _counts_since(start: int) -> Callable[[list[str]], bool]:
    return lambda lines: recorder_stats(lines[start:]) is not None


class Recording:
    """A ``tcpdump -w`` of one lab interface; :meth:`frames` once its block has ended."""

    def __init__(self, host: Host, interface: str, path: Path):
        self.host = host
        self.interface = interface
        self.path = path
        self.stats: RecorderStats | None = None
        """tcpdump's counts once it has stopped."""
        self.recorder: Background | None = None
        """The tcpdump process, while it runs."""
        self._counter = FrameCounter(path)

    def count(self) -> int:
        """Frames written so far (while recording too)."""
        return self._counter.count()

    def wait_for_frames(self, count: int, timeout: float) -> int:
        """Frames written, once there are ``count`` or ``timeout`` s have passed: how long the
        copies take to arrive depends on how busy the machine is, not on a fixed settle time."""
        deadline = time.monotonic() + timeout
        while (written := self.count()) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return written

    def frames(self) -> list[Frame]:
        """Every frame recorded; :class:`LabError` if the recording is incomplete (the kernel
        dropped frames its ring could not hold, or tcpdump stopped before writing them all):
        such a recording proves nothing either way."""
        where = f"{self.host.value}: tcpdump on {self.interface}"
        if self.stats is None:
            raise LabError(f"{where} has not stopped (or printed no counts): read it afterwards")
        if self.stats.dropped or self.stats.pending:
            raise LabError(
                f"{where} lost frames, the recording is incomplete: {self.stats.describe()}"
            )
        return read_pcap(self.path)


class _SignalGuard:
    """Turns process signals into orderly unwinding while at least one lab exists.

    The first SIGINT raises ``KeyboardInterrupt`` and the first SIGTERM or SIGHUP raises
    ``SystemExit(128 + signal)``, so the ``with`` block unwinds and the lab is removed. Any signal
    after that one, or during a clean-up, is held and delivered again once the last lab is gone:
    a second Ctrl-C cannot cut a clean-up short. Only default handlers are taken over (someone
    else's handler is left alone), and only from the main thread, the one place Python allows.
    """

    SIGNALS: Final = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self._labs = 0
        self._holding = 0
        self._raised = False
        self._pending: list[int] = []
        self._previous: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {}

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self._raised or self._holding:
            self._pending.append(signum)
            return
        self._raised = True
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)

    @staticmethod
    def _is_default(signum: int, handler: object) -> bool:
        if signum == signal.SIGINT:
            return handler is signal.default_int_handler
        return handler in (signal.SIG_DFL, None)

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """For the lifetime of one lab."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        if self._labs == 0:
            self._raised, self._pending = False, []
            for signum in self.SIGNALS:
                if self._is_default(signum, signal.getsignal(signum)):
                    self._previous[signum] = signal.signal(signum, self._handle)
        self._labs += 1
        try:
            yield
        finally:
            self._labs -= 1
            if self._labs == 0:
                for number, handler in self._previous.items():
                    signal.signal(number, handler if handler is not None else signal.SIG_DFL)
                self._previous.clear()
                for number in dict.fromkeys(self._pending):
                    signal.raise_signal(number)  # to the handler in place before the lab

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """For a clean-up: signals wait until the last lab is gone."""
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1


_SIGNALS = _SignalGuard()


class Lab:
    """A running lab. Build it with ``with Lab.create(plan) as lab:``."""

    def __init__(
        self,
        topology: Topology,
        prefix: str,
        workdir: Path,
        python: str,
        sensor_args: Mapping[str, Any] | None = None,
        *,
        sensor_os_family: OsFamily = DEFAULT_OS_FAMILY,
    ):
        self.topology = topology
        self.prefix = prefix
        self.workdir = workdir
        self.python = python
        self.settings_path = workdir / Path(SETTINGS_PATH).name
        """The gateway's settings: its ``file`` settings source, and ``CLOUDTAP_GATEWAY_CONF``."""
        self.fetcher_path = workdir / Path(settings_delivery.FETCHER_PATH).name
        self.settings_source_path = workdir / Path(settings_delivery.SOURCE_PATH).name
        self.script_path = workdir / Path(SCRIPT_PATH).name
        self.net_library_path = workdir / Path(NET_LIBRARY_PATH).name
        """The shell library both scripts source (``CLOUDTAP_NET_LIBRARY``)."""
        self.heartbeat_path = workdir / Path(HEARTBEAT_PATH).name
        self.sensor_plan = sensor.plan_sensor(
            sensor_args,
            default_feed_sources=[topology.plan.cidr_block],
            heartbeats=sensor.gateway_heartbeats(topology.plan, topology.address(Host.SENSOR)),
            os_family=sensor_os_family,
            home_networks=topology.plan.subnets[Tier.PRIVATE],
        )
        """The lab sensor's plan: by default every feed, accepted from the whole network, the
        gateway mirror's heartbeats expected, and no IDS (the default family, Amazon Linux, has
        none)."""
        self.health_path = workdir / Path(sensor.HEALTH_PATH).name
        self.heartbeats: Background | None = None
        """The gateway's ``cloudtap-gateway heartbeat``, running as its unit would."""
        self.ids_config_path = workdir / Path(ids.SURICATA_CONFIG_PATH).name
        """The Suricata config (``/etc/cloudtap/suricata.yaml``) that the sensor script's
        ``apply`` writes from the settings, when they name an IDS; it points Suricata at
        :attr:`ids_rules_dir` and :attr:`ids_log_dir` (the script's overrides of them)."""
        self.ids_rules_dir = workdir / "ids-rules"
        self.ids_log_dir = workdir / "ids-log"
        self.ids_logrotate_path = workdir / Path(ids.LOGROTATE_PATH).name
        self.ids_pid_file = workdir / "suricata.pid"
        self.sensor_settings_path = workdir / Path(sensor.SETTINGS_PATH).name
        self.sensor_script_path = workdir / Path(sensor.SCRIPT_PATH).name
        self.decap_path = workdir / Path(sensor.DECAP_PATH).name
        self.bpf_object_path = workdir / Path(sensor.BPF_OBJECT_PATH).name
        self.bpf_helper_path = workdir / Path(sensor.BPF_HELPER_PATH).name
        self.sensor_paths: str | None = None
        """``CLOUDTAP_SENSOR_PATHS`` for the sensor script (the decapsulation paths it may
        use, fastest first); ``None``: the script's default, ``kernel bpf python``."""
        self.sensor_run_dir = workdir / "sensor-run"
        """The sensor's /run/cloudtap: cloudtap-decap's settings, ready file and log."""
        self.gateway_state_dir = workdir / "gateway-state"
        """The gateway's /var/lib/cloudtap: last good settings and the status of the last offer."""
        self.sensor_state_dir = workdir / "sensor-state"
        """The sensor's /var/lib/cloudtap."""
        self._namespaces: list[str] = []
        self._background: list[Background] = []
        self._recordings = 0

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    @contextlib.contextmanager
    def create(
        cls,
        plan: NetworkPlan,
        *,
        apply_gateway: bool = True,
        apply_sensor: bool = True,
        sensor_args: Mapping[str, Any] | None = None,
        sensor_os_family: OsFamily = DEFAULT_OS_FAMILY,
        python: str = sys.executable,
        one_armed: bool = False,
    ) -> Iterator[Lab]:
        """Build the lab for ``plan`` (gateway mirror on: see
        :func:`~lab.topology.with_gateway_mirror`), run ``apply`` on the sensor and
        then the gateway, and remove it all on exit.

        ``apply_gateway=False`` / ``apply_sensor=False`` leave that host fresh (no rules, no
        devices) for the caller to apply and report on. ``sensor_args`` are the sensor's
        :class:`~components.sensor.SensorArgs` (default: all defaults, feeds accepted from the
        whole network). ``python`` runs the probes and the
        sensor's decapsulator inside the namespaces (default: this interpreter; only its
        standard library is used). ``one_armed``: the Azure shape (:mod:`lab.one_armed`), a
        gateway with one interface behind a router, on 1500-byte links.
        """
        topology = plan_one_armed_topology(plan) if one_armed else plan_topology(plan)
        with _SIGNALS.active():
            workdir = Path(tempfile.mkdtemp(prefix="cloudtap-lab-"))
            try:
                lab = cls(
                    topology, "", workdir, python, sensor_args, sensor_os_family=sensor_os_family
                )
            except BaseException:
                shutil.rmtree(workdir, ignore_errors=True)
                raise
            try:
                lab._build()
                if apply_sensor:
                    lab.sensor("apply", check=True)
                if apply_gateway:
                    # As at boot: the first fetch applies the settings, then the unit's apply.
                    lab.fetch_gateway_settings(check=True)
                    lab.gateway("apply", check=True)
                    lab.start_heartbeats()
                yield lab
            except BaseException:
                lab._cleanup(strict=False)
                raise
            lab._cleanup(strict=True)

    def _build(self) -> None:
        self._write_gateway_files()
        self._write_sensor_files()
        self._add_namespaces()
        for host in Host:
            ns = self.namespace(host)
            _run(["ip", "-n", ns, "link", "set", "lo", "up"], host=ns)
            # IPv6 plays no part here: turning it off keeps router solicitations out of captures.
            no_ipv6 = ["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]
            _run(["ip", "netns", "exec", ns, *no_ipv6], host=ns, check=False)
        gw = self.namespace(Host.GATEWAY)
        # The links hang off the gateway, or off the router when it is one-armed.
        hub, links = gw, list(self.topology.links)
        if self.topology.one_armed:
            hub = router_namespace(self)
            _run(["ip", "netns", "add", hub], host=hub)
            self._namespaces.append(hub)
            _run(["ip", "-n", hub, "link", "set", "lo", "up"], host=hub)
            links.append(self.topology.link_of(Host.INTERNET))
        for link in links:
            peer = self.namespace(link.host)
            # Created inside the namespaces, so the names never meet another lab's (or anyone's).
            mtu = ["mtu", str(link.mtu)]
            veth = ["type", "veth", "peer", "name", link.host_interface, *mtu, "netns", peer]
            _run(
                ["ip", "-n", hub, "link", "add", "name", link.gateway_interface, *mtu, *veth],
                host=hub,
            )
            for ns, device, addresses in (
                (hub, link.gateway_interface, link.gateway_addresses),
                (peer, link.host_interface, link.host_addresses),
            ):
                for address in addresses:
                    _run(["ip", "-n", ns, "addr", "add", str(address), "dev", device], host=ns)
                _run(["ip", "-n", ns, "link", "set", device, "up"], host=ns)
            if link.host_default_route is not None:
                via = str(link.host_default_route)
                _run(["ip", "-n", peer, "route", "add", "default", "via", via], host=peer)
        inet = self.namespace(Host.INTERNET)
        _run(["ip", "-n", inet, "addr", "add", f"{self.topology.internet_address}/32", "dev", "lo"])
        if self.topology.one_armed:
            assert isinstance(self.topology, OneArmedTopology)
            for argv in router_commands(self.topology, hub):
                _run(argv, host=hub)
            return
        via = str(self.topology.gateway_default_route)
        _run(["ip", "-n", gw, "route", "add", "default", "via", via], host=gw)

    def _write_gateway_files(self) -> None:
        # The boot cloud-config, its settings from a file (the lab's source); the settings
        # themselves as a cloud would deliver them. The multi-homed lab's links model a VPC,
        # whose network carries jumbo frames (as AWS's does); the one-armed lab's model Azure's
        # 1500 bytes.
        source = settings_delivery.SettingsSource.file(str(self.settings_path))
        files = written_files(render_boot_cloud_config(source=source))
        for rendered, local in (
            (SCRIPT_PATH, self.script_path),
            (NET_LIBRARY_PATH, self.net_library_path),
            (settings_delivery.FETCHER_PATH, self.fetcher_path),
            (settings_delivery.SOURCE_PATH, self.settings_source_path),
            (HEARTBEAT_PATH, self.heartbeat_path),
        ):
            local.write_text(files[rendered].content, encoding="utf-8")
            local.chmod(int(files[rendered].permissions, 8))
        settings = render_settings(
            self.topology.plan, underlay_mtu=self.topology.gateway_underlay_mtu
        )
        self.settings_path.write_text(settings, encoding="utf-8")

    def _write_sensor_files(self) -> None:
        files = written_files(sensor.render_cloud_config(self.sensor_plan))
        for rendered, local in (
            (sensor.SETTINGS_PATH, self.sensor_settings_path),
            (sensor.SCRIPT_PATH, self.sensor_script_path),
            (sensor.DECAP_PATH, self.decap_path),
            (sensor.BPF_OBJECT_PATH, self.bpf_object_path),
            (sensor.BPF_HELPER_PATH, self.bpf_helper_path),
            (sensor.HEALTH_PATH, self.health_path),
            (NET_LIBRARY_PATH, self.net_library_path),
        ):
            local.write_bytes(files[rendered].data())
            local.chmod(int(files[rendered].permissions, 8))
        self.sensor_run_dir.mkdir()
        if self.sensor_plan.ids.runs:
            self.ids_rules_dir.mkdir()
            self.ids_log_dir.mkdir()
            # The stack's rules file is the one IDS file the user data writes.
            custom = files.get(f"{ids.RULES_DIR}/{ids.CUSTOM_RULES}")
            if custom is not None:
                (self.ids_rules_dir / ids.CUSTOM_RULES).write_text(custom.content)

    def _add_namespaces(self) -> None:
        hosts = list(Host)
        for _attempt in range(8):
            self.prefix = _new_prefix()
            first = self.namespace(hosts[0])
            result = _run(["ip", "netns", "add", first], check=False)
            if result.returncode == 0:
                self._namespaces.append(first)
                break
            if "exists" not in result.stderr:
                output = _completed_output(result)
                raise LabCommandError("machine", result.args, result.returncode, output)
        else:
            raise LabError("could not find a free namespace prefix in 8 random tries")
        for host in hosts[1:]:
            _run(["ip", "netns", "add", self.namespace(host)])
            self._namespaces.append(self.namespace(host))

    def _cleanup(self, *, strict: bool) -> None:
        """Stop background processes, delete namespaces and files; report what stayed."""
        problems: list[str] = []
        with _SIGNALS.held():
            for background in reversed(self._background):
                try:
                    background.stop()
                except (OSError, subprocess.SubprocessError) as error:
                    problems.append(f"{background.argv[0]} in {background.host.value}: {error}")
            self._background.clear()
            for ns in reversed(self._namespaces):
                problems.extend(self._remove_namespace(ns))
            self._namespaces.clear()
            shutil.rmtree(self.workdir, ignore_errors=True)
        if problems:
            message = "lab clean-up left things behind: " + "; ".join(problems)
            if strict:
                raise LabError(message)
            print(f"warning: {message}", file=sys.stderr)

    @staticmethod
    def _remove_namespace(ns: str) -> list[str]:
        problems = []
        # Anything still inside is a probe of ours that outlived its timeout: only our own
        # namespaces are searched, so only processes this lab started are signalled.
        with contextlib.suppress(LabError):
            pids = _run(["ip", "netns", "pids", ns], timeout=5.0, check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
        try:
            _run(["ip", "netns", "del", ns], timeout=5.0)
        except LabError as error:
            problems.append(str(error))
        return problems

    # -- using the lab ---------------------------------------------------------------------

    @property
    def namespaces(self) -> tuple[str, ...]:
        """The namespaces this lab created (empty once it is cleaned up)."""
        return tuple(self._namespaces)

    def namespace(self, host: Host) -> str:
        return f"{self.prefix}{host.value}"

    def address(self, host: Host) -> ipaddress.IPv4Address:
        """The host's own address (the internet host's; the gateway's public one)."""
        return self.topology.address(host)

    def run(
        self,
        host: Host,
        *argv: str,
        check: bool = True,
        timeout: float = COMMAND_TIMEOUT,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside ``host``; :class:`LabCommandError` on failure if ``check``."""
        return _run(
            ["ip", "netns", "exec", self.namespace(host), *argv],
            timeout=timeout,
            env=env,
            host=host.value,
            check=check,
        )

    def start(self, host: Host, *argv: str) -> Background:
        """Start ``argv`` in the background inside ``host``; it is stopped when the lab ends."""
        command = ["ip", "netns", "exec", self.namespace(host), *argv]
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,  # a terminal's Ctrl-C reaches us, and we stop it in order
        )
        background = Background(host, argv, process)
        self._background.append(background)
        return background

    @contextlib.contextmanager
    def background(self, host: Host, *argv: str) -> Iterator[Background]:
        """:meth:`start`, stopped when the block ends rather than with the lab."""
        process = self.start(host, *argv)
        try:
            yield process
        finally:
            process.stop()
            self._background.remove(process)

    @contextlib.contextmanager
    def listen(
        self, host: Host, port: int, protocol: Protocol = "tcp", address: str | None = None
    ) -> Iterator[Listener]:
        """A probe listener on ``host`` (all its addresses by default) for the block's length."""
        bind = address if address is not None else "0.0.0.0"
        argv = [self.python, "-I", "-S", str(PROBE), "listen"]
        argv += ["--protocol", protocol, "--address", bind, "--port", str(port)]
        with self.background(host, *argv) as process:
            if process.wait_for(lambda line: '"event": "ready"' in line, COMMAND_TIMEOUT) is None:
                raise LabError(
                    f"{host.value}: listener on {bind}:{port}/{protocol} did not start: "
                    + " | ".join(process.lines)
                )
            yield Listener(process, protocol, bind, port)

    def connect(
        self,
        host: Host,
        address: ipaddress.IPv4Address | str,
        port: int,
        *,
        protocol: Protocol = "tcp",
        timeout: float = 1.0,
        source: ipaddress.IPv4Address | None = None,
    ) -> ProbeResult:
        """One exchange from ``host`` with a listener at address:port.

        The client binds ``source``, by default the host's own address (:meth:`address`).
        """
        source = source if source is not None else self.address(host)
        argv = [self.python, "-I", "-S", str(PROBE), "connect", "--protocol", protocol]
        argv += ["--source", str(source), "--address", str(address)]
        argv += ["--port", str(port), "--timeout", str(timeout)]
        result = self.run(host, *argv, check=False, timeout=timeout + COMMAND_TIMEOUT)
        try:
            answer = json.loads(result.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise LabCommandError(
                host.value, argv, result.returncode, _completed_output(result)
            ) from None
        return ProbeResult(bool(answer["ok"]), answer.get("seen"), answer.get("error"))

    def ping(self, host: Host, address: ipaddress.IPv4Address, timeout: float = 1.0) -> bool:
        """One echo request from ``host``'s own address; True if the reply came back in time."""
        argv = ["ping", "-n", "-q", "-c", "1", "-W", f"{timeout:g}"]
        argv += ["-I", str(self.address(host)), str(address)]
        result = self.run(host, *argv, check=False, timeout=timeout + COMMAND_TIMEOUT)
        return result.returncode == 0

    @contextlib.contextmanager
    def capture(self, host: Host, *expression: str, count: int = 1) -> Iterator[Background]:
        """tcpdump on ``host``'s lab interface until ``count`` packets match ``expression``."""
        interface = (
            self.topology.gateway_interface
            if host is Host.GATEWAY
            else self.topology.link_of(host).host_interface
        )
        argv = ["tcpdump", "-l", "-n", "--immediate-mode", "-i", interface, "-c", str(count)]
        with self.background(host, *argv, *expression) as process:
            if (
                process.wait_for(lambda line: line.startswith("listening on"), COMMAND_TIMEOUT)
                is None
            ):
                raise LabError(f"{host.value}: tcpdump did not start: " + " | ".join(process.lines))
            yield process

    @contextlib.contextmanager
    def record(
        self, host: Host, interface: str, *expression: str, frames: int = RECORD_FRAMES
    ) -> Iterator[Recording]:
        """``tcpdump -w`` on ``host``'s ``interface`` for the block's length: whole frames up
        to the interface's MTU and an Ethernet header with one VLAN tag (a larger one, which only
        segmentation offload could make, shows as truncated).

        Its ring holds ``frames`` frames of the largest size the interface carries, so that a
        recorder the machine is too busy to run loses nothing: tcpdump's default 2 MiB ring holds
        only 32 frames on a veth, which advertises segmentation offload (libpcap then sizes each
        slot for a 64 KiB frame). When the block ends, tcpdump first writes out what its ring
        still holds, then stops. Read :meth:`Recording.frames` after the block: it refuses a
        recording that lost frames. Whatever should be recorded must have arrived before the
        block ends (:meth:`Recording.wait_for_frames`).
        """
        self._recordings += 1
        path = self.workdir / f"{self._recordings}-{host.value}-{interface}.pcap"
        snaplen = self.mtu(host, interface) + ETHERNET_OVERHEAD
        ring_kib = -(-frames * (snaplen + RECORD_FRAME_OVERHEAD) // 1024)
        argv = ["tcpdump", "-n", "-s", str(snaplen), "-B", str(ring_kib), "-U", "--immediate-mode"]
        argv += ["-Z", "root", "-i", interface, "-w", str(path), *expression]
        recording = Recording(host, interface, path)
        with self.background(host, *argv) as process:
            if process.wait_for(lambda line: "listening on" in line, COMMAND_TIMEOUT) is None:
                raise LabError(f"{host.value}: tcpdump did not start: " + " | ".join(process.lines))
            recording.recorder = process
            yield recording
            self._drain(process)
            drained = len(process.lines)
        recording.stats = recorder_stats(process.lines[drained:])  # the counts it exits with

    @staticmethod
    def _drain(process: Background) -> None:
        """Until tcpdump has written every frame that reached its ring (it prints its counts on
        SIGUSR1), at most :data:`RECORD_DRAIN_TIMEOUT` s: SIGTERM makes it leave the rest."""
        deadline = time.monotonic() + RECORD_DRAIN_TIMEOUT
        while time.monotonic() < deadline:
            before = len(process.lines)
            process.signal(signal.SIGUSR1)
            lines = process.wait_until(_counts_since(before), deadline - time.monotonic())
            stats = recorder_stats(lines[before:])
            if stats is None or stats.pending <= 0:
                return
            time.sleep(0.02)

    def stream(
        self,
        host: Host,
        address: ipaddress.IPv4Address,
        port: int,
        *,
        count: int,
        rate: float,
        timeout: float = ANSWER_TIMEOUT_STREAM,
    ) -> tuple[int, int]:
        """A UDP stream from ``host`` to a listener (see :meth:`listen`): (sent, answered)."""
        argv = [self.python, "-I", "-S", str(PROBE), "stream", "--protocol", "udp"]
        argv += ["--source", str(self.address(host)), "--address", str(address)]
        argv += ["--port", str(port), "--count", str(count), "--rate", str(rate)]
        argv += ["--timeout", str(timeout)]
        result = self.run(host, *argv, check=False, timeout=count / rate + timeout + 10)
        try:
            answer = json.loads(result.stdout.strip().splitlines()[-1])
            return int(answer["sent"]), int(answer["answered"])
        except (IndexError, KeyError, ValueError):
            raise LabCommandError(
                host.value, argv, result.returncode, _completed_output(result)
            ) from None

    def send_feed(
        self,
        host: Host,
        kind: str,
        *,
        source: ipaddress.IPv4Address,
        count: int,
        vni: int = 77,
        rate: float = 5000.0,
        signature: tuple[ipaddress.IPv4Address, ipaddress.IPv4Address] | None = None,
    ) -> float:
        """Send a mirror feed of ``kind`` (see :mod:`~lab.feeds`) from ``host``,
        with outer source ``source``, to the sensor, ``rate`` packets a second (0: back to
        back); the seconds the sending took. ``signature`` (private host, remote host): the
        inner frames are :func:`~lab.feeds.signature_frames` instead."""
        argv = [self.python, "-I", "-S", str(FEEDS), kind, "--source", str(source)]
        argv += ["--destination", str(self.address(Host.SENSOR)), "--count", str(count)]
        argv += ["--vni", str(vni), "--rate", str(rate)]
        if signature is not None:
            argv += ["--signature", f"{signature[0]},{signature[1]}"]
        result = self.run(host, *argv, timeout=(count / rate if rate > 0 else 0) + COMMAND_TIMEOUT)
        try:
            return float(json.loads(result.stdout.strip().splitlines()[-1])["seconds"])
        except (IndexError, KeyError, ValueError):
            raise LabCommandError(host.value, argv, 0, _completed_output(result)) from None

    def _link(self, host: Host, device: str) -> dict[str, Any]:
        listing = json.loads(self.run(host, "ip", "-s", "-j", "link", "show", "dev", device).stdout)
        return dict(listing[0])

    def tx_packets(self, host: Host, device: str) -> int:
        """Packets ``device`` in ``host`` has sent so far."""
        return int(self._link(host, device)["stats64"]["tx"]["packets"])

    def rx_counters(self, host: Host, device: str) -> tuple[int, int]:
        """(packets received, packets dropped on receipt) by ``device`` in ``host`` so far."""
        received = self._link(host, device)["stats64"]["rx"]
        return int(received["packets"]), int(received["dropped"])

    def receive_buffer_overflows(self, host: Host) -> int:
        """Datagrams ``host`` dropped so far because a socket's receive buffer was full: UDP's
        RcvbufErrors and every raw socket's drops (cloudtap-decap's GRE socket is one)."""
        snmp = self.run(host, "cat", "/proc/net/snmp").stdout.splitlines()
        udp = [line.split()[1:] for line in snmp if line.startswith("Udp: ")]
        overflows = int(dict(zip(udp[0], udp[1], strict=True))["RcvbufErrors"])
        raw = self.run(host, "cat", "/proc/net/raw").stdout.splitlines()[1:]
        return overflows + sum(int(line.split()[-1]) for line in raw if line.strip())  # drops

    def offloads(self, host: Host, device: str, *, on: bool) -> None:
        """Segmentation, receive merging and checksum offload of ``device`` on or off: off, every
        packet on the wire is a real packet with its final checksums (a veth otherwise passes
        64 KiB super-packets with unfinished checksums between namespaces)."""
        state = "on" if on else "off"
        settings = [word for feature in ("tx", "tso", "gso", "gro") for word in (feature, state)]
        self.run(host, "ethtool", "-K", device, *settings)

    def use_underlay(self, mtu: int) -> None:
        """The network between the gateway and the sensor carries ``mtu`` bytes (both ends of
        the monitor link), and the gateway runs the settings its cloud-config would write for
        such a network (``underlay_mtu=mtu``), applied again."""
        link = self.topology.link_of(Host.SENSOR)
        self.run(Host.SENSOR, "ip", "link", "set", "dev", link.host_interface, "mtu", str(mtu))
        self.run(Host.GATEWAY, "ip", "link", "set", "dev", link.gateway_interface, "mtu", str(mtu))
        settings = render_settings(self.topology.plan, underlay_mtu=mtu)
        self.settings_path.write_text(settings, encoding="utf-8")
        for host in (Host.APP, Host.GATEWAY, Host.INTERNET):
            self.run(host, "ip", "route", "flush", "cache", check=False)
        self.gateway("apply", check=True)
        # The mirror device is made anew for the new MTU: the sender starts on it again.
        self._restart_heartbeats()

    def snmp(self, host: Host, *names: str) -> dict[str, int]:
        """The kernel's SNMP counters ``names`` (``IpFragCreates``, ...) in ``host``, from
        /proc/net/snmp (0 for a name it does not have)."""
        lines = self.run(host, "cat", "/proc/net/snmp").stdout.splitlines()
        values = {name: 0 for name in names}
        for header, row in zip(lines[::2], lines[1::2], strict=False):
            prefix = header.split(":")[0]
            for key, value in zip(header.split()[1:], row.split()[1:], strict=False):
                if f"{prefix}{key}" in values:
                    values[f"{prefix}{key}"] = int(value)
        return values

    def bulk(
        self,
        host: Host,
        address: ipaddress.IPv4Address,
        port: int,
        *,
        upload: int,
        timeout: float = COMMAND_TIMEOUT,
    ) -> tuple[int, int]:
        """A bulk TCP transfer from ``host`` with a :meth:`bulk_server`: (bytes sent, received)."""
        argv = [self.python, "-I", "-S", str(PROBE), "bulk", "--address", str(address)]
        argv += ["--port", str(port), "--source", str(self.address(host))]
        argv += ["--upload", str(upload), "--timeout", str(timeout)]
        result = self.run(host, *argv, check=False, timeout=timeout + COMMAND_TIMEOUT)
        try:
            answer = json.loads(result.stdout.strip().splitlines()[-1])
            return int(answer["sent"]), int(answer["received"])
        except (IndexError, KeyError, ValueError):
            raise LabCommandError(
                host.value, argv, result.returncode, _completed_output(result)
            ) from None

    @contextlib.contextmanager
    def bulk_server(
        self, host: Host, address: ipaddress.IPv4Address, port: int, *, download: int
    ) -> Iterator[Background]:
        """A bulk TCP server on ``host`` for the block: it reads each client's upload, then sends
        ``download`` bytes."""
        argv = [self.python, "-I", "-S", str(PROBE), "bulk", "--serve", "--address", str(address)]
        argv += ["--port", str(port), "--download", str(download)]
        with self.background(host, *argv) as process:
            if process.wait_for(lambda line: '"event": "ready"' in line, COMMAND_TIMEOUT) is None:
                raise LabError(
                    f"{host.value}: bulk server did not start: " + " | ".join(process.lines)
                )
            yield process

    def mtu(self, host: Host, device: str) -> int:
        return int(self._link(host, device)["mtu"])

    def decap_pid(self) -> int | None:
        """The sensor's cloudtap-decap, from its ready file; ``None`` when there is none."""
        with contextlib.suppress(OSError):
            ready = (self.sensor_run_dir / "decap.ready").read_text(encoding="utf-8")
            if found := re.search(r"^PID=(\d+)$", ready, re.MULTILINE):
                return int(found[1])
        return None

    def bpf_program(self) -> tuple[str, int] | None:
        """(underlay interface, program id) of the sensor's tc BPF decapsulator; ``None``
        when none is loaded."""
        device = self.topology.link_of(Host.SENSOR).host_interface
        listing = self.run(Host.SENSOR, "tc", "filter", "show", "dev", device, "ingress").stdout
        found = re.search(r" id (\d+) name cloudtap_decap ", listing)
        return (device, int(found[1])) if found else None

    def bpf_counters(self) -> dict[str, int]:
        """The tc BPF decapsulator's packet counters (``<feed>_<outcome>``), as
        ``cloudtap-bpf counters`` reads them; ``{}`` when no program is loaded."""
        program = self.bpf_program()
        if program is None:
            return {}
        argv = [self.python, "-I", str(self.bpf_helper_path), "counters"]
        output = self.run(Host.SENSOR, *argv, "--prog-id", str(program[1])).stdout
        return {name: int(value["packets"]) for name, value in json.loads(output).items()}

    def decap_counters(self) -> dict[str, int]:
        """cloudtap-decap's counters (frames written per feed, refusals, send errors), from the
        line it logs on SIGUSR1; ``{}`` when it is not running."""
        pid = self.decap_pid()
        log = self.sensor_run_dir / "decap.log"
        start = log.stat().st_size if log.exists() else 0
        if pid is None:
            return {}
        try:
            os.kill(pid, signal.SIGUSR1)
        except ProcessLookupError:
            return {}
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while time.monotonic() < deadline:
            with log.open("rb") as handle:
                handle.seek(start)
                text = handle.read().decode("utf-8", "replace")
            for line in text.splitlines():
                with contextlib.suppress(ValueError, AttributeError):
                    counters = json.loads(line).get("counters")
                    if isinstance(counters, dict):
                        return {str(key): int(value) for key, value in counters.items()}
            time.sleep(0.02)
        raise LabError(f"cloudtap-decap (pid {pid}) logged no counters on SIGUSR1")

    # -- the gateway -----------------------------------------------------------------------

    def _script(
        self,
        host: Host,
        script: Path,
        command: str,
        arguments: Sequence[str],
        *,
        env: Mapping[str, str],
        check: bool,
        timeout: float,
    ) -> subprocess.CompletedProcess[str]:
        """Run a rendered script through its own ``#!`` line, as ``exec`` would, so a
        ``noexec`` temporary directory does not matter."""
        first_line = script.read_text(encoding="utf-8").splitlines()[0]
        if not first_line.startswith("#!"):
            raise LabError(f"the rendered {script.name} has no #! line: {first_line!r}")
        interpreter = first_line[2:].strip().split(maxsplit=1)
        return self.run(
            host,
            *interpreter,
            str(script),
            command,
            *arguments,
            check=check,
            timeout=timeout,
            env={**os.environ, **env},
        )

    def gateway_env(self) -> dict[str, str]:
        """What points the rendered gateway script at the lab's files instead of /etc and
        /var/lib (``apply-settings`` keeps its last good settings and status there)."""
        return {
            "CLOUDTAP_GATEWAY_CONF": str(self.settings_path),
            "CLOUDTAP_NET_LIBRARY": str(self.net_library_path),
            "CLOUDTAP_STATE_DIR": str(self.gateway_state_dir),
            "CLOUDTAP_GATEWAY_HEARTBEAT": str(self.heartbeat_path),
            "CLOUDTAP_GATEWAY_PYTHON": self.python,
        }

    def sensor_env(self) -> dict[str, str]:
        """What points the rendered sensor script at the lab's files (state, decapsulators,
        health responder) instead of /etc, /run and /var/lib."""
        env = {
            "CLOUDTAP_SENSOR_CONF": str(self.sensor_settings_path),
            "CLOUDTAP_NET_LIBRARY": str(self.net_library_path),
            "CLOUDTAP_SENSOR_RUN_DIR": str(self.sensor_run_dir),
            "CLOUDTAP_SENSOR_DECAP": str(self.decap_path),
            "CLOUDTAP_SENSOR_HEALTH": str(self.health_path),
            "CLOUDTAP_SENSOR_HEALTH_EVERY": "0.5",
            "CLOUDTAP_SENSOR_PYTHON": self.python,
            "CLOUDTAP_SENSOR_SUPERVISOR": "process",
            "CLOUDTAP_SENSOR_IDS_CONFIG": str(self.ids_config_path),
            "CLOUDTAP_SENSOR_IDS_PID_FILE": str(self.ids_pid_file),
            "CLOUDTAP_SENSOR_IDS_LOG_DIR": str(self.ids_log_dir),
            "CLOUDTAP_SENSOR_IDS_RULES_DIR": str(self.ids_rules_dir),
            "CLOUDTAP_SENSOR_IDS_LOGROTATE": str(self.ids_logrotate_path),
            "CLOUDTAP_STATE_DIR": str(self.sensor_state_dir),
            "CLOUDTAP_SENSOR_BPF_OBJECT": str(self.bpf_object_path),
            "CLOUDTAP_SENSOR_BPF_HELPER": str(self.bpf_helper_path),
        }
        if self.sensor_paths is not None:
            env["CLOUDTAP_SENSOR_PATHS"] = self.sensor_paths
        return env

    def _service(
        self, host: Host, script: Path, command: str, env: Mapping[str, str]
    ) -> Background:
        """A rendered script's long-running command, started as its systemd unit would."""
        interpreter = script.read_text(encoding="utf-8").splitlines()[0][2:].strip().split()
        settings = [f"{key}={value}" for key, value in env.items()]
        return self.start(host, "env", *settings, *interpreter, str(script), command)

    def start_heartbeats(self) -> Background:
        """``cloudtap-gateway heartbeat`` in the background (as cloudtap-heartbeat.service runs
        it), once; stopped with the lab or by :meth:`stop_heartbeats`."""
        if self.heartbeats is None:
            self.heartbeats = self._service(
                Host.GATEWAY, self.script_path, "heartbeat", self.gateway_env()
            )
        return self.heartbeats

    def stop_heartbeats(self) -> None:
        if self.heartbeats is not None:
            self.heartbeats.stop()
            self._background.remove(self.heartbeats)
            self.heartbeats = None

    @contextlib.contextmanager
    def health_responder(self) -> Iterator[Background]:
        """``cloudtap-sensor health`` (cloudtap-health.service) for the block's length, checking
        every half second."""
        process = self._service(Host.SENSOR, self.sensor_script_path, "health", self.sensor_env())
        try:
            yield process
        finally:
            process.stop()
            self._background.remove(process)

    def gateway(
        self,
        command: GatewayCommand,
        *arguments: str,
        check: bool = False,
        timeout: float = 30.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run the rendered ``cloudtap-gateway <command> [arguments]`` in the gateway namespace."""
        result = self._script(
            Host.GATEWAY,
            self.script_path,
            command,
            arguments,
            env=self.gateway_env(),
            check=check,
            timeout=timeout,
        )
        if command == "apply-settings":
            self._restart_heartbeats()
        return result

    @contextlib.contextmanager
    def heartbeats_paused(self) -> Iterator[None]:
        """For the block, the heartbeat sender stopped (SIGSTOP, then SIGCONT): each heartbeat
        crosses the gateway's mirror device like a copy, so a check counting that device's
        copies against the forwarded packets counts only those while it is paused. The sender
        catches up at once when it continues."""
        heartbeats = self.heartbeats
        if heartbeats is None or heartbeats.process.poll() is not None:
            yield
            return
        pid = heartbeats.process.pid
        heartbeats.signal(signal.SIGSTOP)
        try:
            deadline = time.monotonic() + 5.0
            while _process_state(pid) not in ("T", "") and time.monotonic() < deadline:
                time.sleep(0.01)
            yield
        finally:
            heartbeats.signal(signal.SIGCONT)

    def _restart_heartbeats(self) -> None:
        """As ``apply-settings`` restarts cloudtap-heartbeat.service under systemd: the sender
        takes its settings when it starts."""
        if self.heartbeats is not None:
            self.stop_heartbeats()
            self.start_heartbeats()

    def fetch_gateway_settings(
        self, *, check: bool = False, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run the rendered ``cloudtap-settings`` in the gateway, as its timer would: it reads
        :attr:`settings_path` (the ``file`` source) and applies a change with
        ``cloudtap-gateway apply-settings``."""
        env = {
            **os.environ,
            **self.gateway_env(),
            "CLOUDTAP_SETTINGS_SOURCE": str(self.settings_source_path),
            "CLOUDTAP_ROLE_SCRIPT": str(self.script_path),
        }
        result = self.run(
            Host.GATEWAY,
            self.python,
            "-I",
            str(self.fetcher_path),
            check=check,
            timeout=timeout,
            env=env,
        )
        self._restart_heartbeats()
        return result

    def gateway_status(self) -> dict[str, Any]:
        """The gateway's status file (``{}`` before any settings were offered)."""
        path = self.gateway_state_dir / "gateway.status"
        if not path.exists():
            return {}
        status: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return status

    def sensor(
        self,
        command: SensorCommand,
        *arguments: str,
        check: bool = False,
        timeout: float = 30.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run the rendered ``cloudtap-sensor <command>`` in the sensor namespace.

        There is no systemd in a namespace: the script starts the rendered decapsulator itself
        (``CLOUDTAP_SENSOR_SUPERVISOR=process``) with :attr:`python`, and keeps its state in
        :attr:`sensor_run_dir` instead of ``/run/cloudtap``.
        """
        env = self.sensor_env()
        return self._script(
            Host.SENSOR,
            self.sensor_script_path,
            command,
            arguments,
            env=env,
            check=check,
            timeout=timeout,
        )

    def start_ids(self, timeout: float = 120.0) -> Background:
        """Suricata in the sensor namespace on the rendered config, pointed at the lab's rule
        and log directories (as ``suricata.service`` runs it, less ``-D``); returns once
        ``cloudtap-sensor check`` finds it reading the capture interface."""
        process = self.start(
            Host.SENSOR,
            "suricata", "--af-packet", "-c", str(self.ids_config_path),
            "--pidfile", str(self.ids_pid_file),
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            checked = self.sensor("check")
            if checked.returncode == 0:
                return process
            if time.monotonic() > deadline or process.wait(0.0) is not None:
                raise LabError(
                    f"suricata did not come up: {checked.stderr.strip()} | "
                    + " | ".join(process.lines[-5:])
                )
            time.sleep(1.0)

    def ids_events(self) -> list[dict[str, Any]]:
        """Every EVE JSON event the lab's IDS wrote."""
        path = self.ids_log_dir / ids.EVE_FILE
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def mirror_table(self) -> str:
        """``nft list table netdev cloudtap_mirror`` in the gateway ("" when it is missing)."""
        return self.run(
            Host.GATEWAY, "nft", "list", "table", "netdev", MIRROR_TABLE, check=False
        ).stdout

    def sensor_table(self) -> str:
        """``nft list table inet cloudtap_sensor`` in the sensor ("" when it is missing)."""
        return self.run(
            Host.SENSOR, "nft", "list", "table", "inet", SENSOR_TABLE, check=False
        ).stdout

    def gateway_table(self) -> str:
        """``nft list table ip cloudtap`` in the gateway: the rule set the script owns."""
        return self.run(Host.GATEWAY, "nft", "list", "table", "ip", TABLE).stdout

    def sysctl(self, host: Host, key: str, value: str | None = None) -> str:
        """Read (or set, then read) a sysctl inside ``host``."""
        if value is not None:
            self.run(host, "sysctl", "-qw", f"{key}={value}")
        return self.run(host, "sysctl", "-n", key).stdout.strip()
