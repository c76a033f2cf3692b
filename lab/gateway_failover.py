"""A gateway replaced under load, in network namespaces: how long forwarding stops, and whether
forwarding and the gateway mirror come back, when a new gateway takes over the "ENI".

The model of ``gateway_strategy: one_per_zone``: the routes and the public address belong to
the interfaces (the ENI), not to the gateway instance. The lab's gateway has one interface per
tier (``gw-pub``, ``gw-priv``, ``gw-mon``: the ENI)::

    inet (203.0.113.10; router 10.0.0.1) --- gw-pub 10.0.0.10   [gateway A, then B]
    app (10.0.64.10)                     --- gw-priv 10.0.64.1
    sensor (10.0.128.10, UDP 4789)       --- gw-mon 10.0.128.1

While ``app`` pings the internet host every 10 ms, gateway A is killed: its interfaces are
detached (moved to a parking namespace, as AWS detaches an ENI from a terminated instance) and
its namespace deleted (its conntrack and rules die with it). Gateway B, a fresh namespace,
attaches them, gets their addresses back (AWS's DHCP on the ENI) and runs the rendered
``cloudtap-gateway apply`` (the boot path's last step). Measured: the longest gap between two
answered pings (the outage seen by a client), and whether the mirror's copies reach the sensor
again. Not in this figure: what AWS adds (detecting the dead instance, launching and booting the
replacement, the attach call), which takes minutes, not milliseconds.

``run_takeover`` is the make-before-break replacement (an instance refresh at 100% healthy):
gateway B exists and is ready first (its settings preflighted, ``nft -c``, while A forwards),
then takes the interfaces from gateway A, which keeps running (its namespace, rules and
processes stay: it is only superseded), and applies. The outage is the takeover alone; on AWS
it adds the forced detach, the attach and the interface appearing (seconds), never a boot.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from components.cloud_config import NET_LIBRARY_PATH, written_files
from components.gateway import SCRIPT_PATH, render_cloud_config, render_settings
from components.network_plan import plan_network

INTERNET = "203.0.113.10"
SENSOR = "10.0.128.10"
# The gateway's interfaces, their addresses (the ENI's), and the host on the other end.
GATEWAY_LINKS = {
    "gw-pub": ("10.0.0.10/20", "inet", "10.0.0.1/20"),
    "gw-priv": ("10.0.64.1/20", "app", "10.0.64.10/20"),
    "gw-mon": ("10.0.128.1/20", "sensor", "10.0.128.10/20"),
}
COMMAND_TIMEOUT = 20.0
PING_INTERVAL = 0.01

# Counts the gateway mirror's copies at the sensor, with the time each arrived.
COPY_LISTENER = textwrap.dedent(
    """
    import json, socket, sys, time
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    sock.bind(("0.0.0.0", 4789))
    sock.settimeout(0.2)
    print("ready", flush=True)
    deadline = time.time() + float(sys.argv[1])
    stamps = []
    while time.time() < deadline:
        try:
            sock.recv(65535)
        except socket.timeout:
            continue
        stamps.append(time.time())
    print(json.dumps(stamps), flush=True)
    """
)


@dataclass(frozen=True)
class FailoverResult:
    killed_at: float
    """When gateway A lost the interfaces (killed, or superseded by a takeover)."""
    applied_at: float
    """When gateway B's ``cloudtap-gateway apply`` returned."""
    replies: tuple[float, ...]
    """Times of the answered pings."""
    copies: tuple[float, ...]
    """Times the sensor received a mirror copy."""
    apply_output: str

    @property
    def outage_seconds(self) -> float:
        """The longest gap between two answered pings: what a client saw."""
        gaps = [b - a for a, b in zip(self.replies, self.replies[1:], strict=False)]
        return max(gaps, default=float("inf"))

    @property
    def forwarding_back(self) -> bool:
        return any(stamp > self.applied_at for stamp in self.replies)

    @property
    def mirroring_back(self) -> bool:
        return any(stamp > self.applied_at for stamp in self.copies)

    @property
    def mirrored_before(self) -> bool:
        return any(stamp < self.killed_at for stamp in self.copies)

    old_gateway_running: bool = False
    """After a takeover: gateway A's namespace and its cloudtap table still there."""
    ready_output: str = ""
    """Gateway B's preflight before the takeover."""


def _run(argv: list[str], *, env: Mapping[str, str] | None = None) -> str:
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False, env=env
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr}")
    return result.stdout + result.stderr


class Namespaces:
    def __init__(self) -> None:
        self.prefix = f"ctgf{secrets.token_hex(2)}-"
        self.made: list[str] = []

    def name(self, host: str) -> str:
        return f"{self.prefix}{host}"

    def add(self, host: str) -> str:
        namespace = self.name(host)
        _run(["ip", "netns", "add", namespace])
        self.made.append(namespace)
        _run(["ip", "-n", namespace, "link", "set", "lo", "up"])
        return namespace

    def delete(self, host: str) -> None:
        namespace = self.name(host)
        _run(["ip", "netns", "del", namespace])
        self.made.remove(namespace)

    def ip(self, host: str, *argv: str) -> str:
        return _run(["ip", "-n", self.name(host), *argv])

    def exec(self, host: str, *argv: str, env: Mapping[str, str] | None = None) -> str:
        return _run(["ip", "netns", "exec", self.name(host), *argv], env=env)

    def cleanup(self) -> None:
        for namespace in list(self.made):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)
        self.made.clear()


def _rendered_gateway(directory: Path) -> dict[str, str]:
    """The rendered script, library and settings (gateway mirror on) in ``directory``; the
    environment that points the script at them."""
    plan = plan_network({"gateway_mirror": {}})
    files = written_files(render_cloud_config(plan))
    script, library = directory / "cloudtap-gateway", directory / "cloudtap-net.sh"
    script.write_text(files[SCRIPT_PATH].content)
    library.write_text(files[NET_LIBRARY_PATH].content)
    settings = directory / "gateway.conf"
    settings.write_text(render_settings(plan))
    return {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "CLOUDTAP_GATEWAY_CONF": str(settings),
        "CLOUDTAP_NET_LIBRARY": str(library),
        "CLOUDTAP_STATE_DIR": str(directory / "state"),
        "CLOUDTAP_GATEWAY_SUPERVISOR": "none",
        "SCRIPT": str(script),
    }


def _attach(lab: Namespaces, gateway: str, env: Mapping[str, str]) -> str:
    """The ENI's interfaces into ``gateway``, their addresses, then the boot path's apply."""
    for device, (address, _host, _peer) in GATEWAY_LINKS.items():
        lab.ip("park", "link", "set", device, "netns", lab.name(gateway))
        lab.ip(gateway, "addr", "add", address, "dev", device)
        lab.ip(gateway, "link", "set", device, "up")
    lab.ip(gateway, "route", "add", "default", "via", "10.0.0.1")
    script_env = {key: value for key, value in env.items() if key != "SCRIPT"}
    return lab.exec(gateway, "bash", env["SCRIPT"], "apply", env=script_env)


def _preflight(lab: Namespaces, gateway: str, env: Mapping[str, str]) -> str:
    """Ready before the takeover: B's rule set for the interfaces it will hold, checked by
    ``nft -c`` in its own namespace (nothing changes), as the boot preflights before detaching."""
    script_env = {key: value for key, value in env.items() if key != "SCRIPT"}
    addresses = " ".join(address.split("/")[0] for address, _h, _p in GATEWAY_LINKS.values())
    rules = lab.exec(
        gateway, "bash", env["SCRIPT"], "render", "--wan", "gw-pub", "--mirrored",
        "gw-priv gw-mon", "--own-addresses", addresses, env=script_env,
    )  # fmt: skip
    # As ``cloudtap-gateway preflight`` checks: table ip cloudtap, not the mirror's netdev
    # table, whose rules name the VXLAN device that only ``apply`` creates.
    rules = rules.split("\ntable netdev ", 1)[0]
    result = subprocess.run(
        ["ip", "netns", "exec", lab.name(gateway), "nft", "-c", "-f", "-"],
        input=rules, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"gateway B's preflight failed: {result.stderr}")
    return rules


def _detach(lab: Namespaces, gateway: str) -> None:
    for device in GATEWAY_LINKS:
        lab.ip(gateway, "link", "set", device, "netns", lab.name("park"))


@contextlib.contextmanager
def failover_lab() -> Iterator[tuple[Namespaces, dict[str, str]]]:
    lab = Namespaces()
    with tempfile.TemporaryDirectory(prefix="cloudtap-failover-") as directory:
        try:
            env = _rendered_gateway(Path(directory))
            for host in ("inet", "app", "sensor", "park", "gw-a"):
                lab.add(host)
            lab.ip("inet", "addr", "add", f"{INTERNET}/32", "dev", "lo")
            for device, (_address, host, peer) in GATEWAY_LINKS.items():
                lab.ip("park", "link", "add", device, "type", "veth", "peer", "eth0",
                       "netns", lab.name(host))  # fmt: skip
                lab.ip(host, "addr", "add", peer, "dev", "eth0")
                lab.ip(host, "link", "set", "eth0", "up")
                if host != "inet":
                    gateway = GATEWAY_LINKS[device][0].split("/")[0]
                    lab.ip(host, "route", "add", "default", "via", gateway)
            yield lab, env
        finally:
            lab.cleanup()


def run_failover(settle: float = 1.0) -> FailoverResult:
    """Gateway A up; ping through it; kill it; gateway B takes over; ping on."""
    return _replace(settle, make_before_break=False)


def run_takeover(settle: float = 1.0) -> FailoverResult:
    """Gateway A up; ping through it; gateway B made ready beside it, then takes the interfaces
    from A, which keeps running; ping on."""
    return _replace(settle, make_before_break=True)


def _replace(settle: float, *, make_before_break: bool) -> FailoverResult:
    with failover_lab() as (lab, env):
        _attach(lab, "gw-a", env)
        duration = settle * 2 + 8.0
        listener = subprocess.Popen(
            ["ip", "netns", "exec", lab.name("sensor"), sys.executable, "-c", COPY_LISTENER,
             str(duration)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert listener.stdout is not None
        if listener.stdout.readline().strip() != "ready":
            raise RuntimeError("the sensor's copy listener did not start")
        count = int(duration / PING_INTERVAL)
        pinger = subprocess.Popen(
            ["ip", "netns", "exec", lab.name("app"), "ping", "-D", "-n", "-i", str(PING_INTERVAL),
             "-W", "1", "-c", str(count), INTERNET],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        ready_output, old_running = "", False
        try:
            if make_before_break:
                lab.add("gw-b")
                ready_output = _preflight(lab, "gw-b", env)
            time.sleep(settle)
            killed_at = time.time()
            _detach(lab, "gw-a")
            if not make_before_break:
                lab.delete("gw-a")
                lab.add("gw-b")
            output = _attach(lab, "gw-b", env)
            applied_at = time.time()
            if make_before_break:
                old_running = "table ip cloudtap" in lab.exec(
                    "gw-a", "nft", "list", "table", "ip", "cloudtap"
                )
            out, _ = pinger.communicate(timeout=duration + 30)
            copies_out, _ = listener.communicate(timeout=duration + 30)
        finally:
            for process in (pinger, listener):
                if process.poll() is None:
                    process.kill()
                    process.wait()
    replies = tuple(
        float(stamp) for stamp in re.findall(r"^\[(\d+\.\d+)\] \d+ bytes from", out, re.M)
    )
    copies = tuple(json.loads(copies_out.splitlines()[-1]))
    return FailoverResult(killed_at, applied_at, replies, copies, output, old_running, ready_output)
