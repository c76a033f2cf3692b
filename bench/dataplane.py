"""Data plane: what the gateway mirror costs forwarding, and whether the sensor sees every packet.

Runs in the namespace lab (:mod:`lab`) with the aws-dev stack's plan: the gateway and
the sensor run their *rendered* boot scripts, and every gateway state below is reached by
re-rendering the gateway's settings (with or without ``plan.gateway_mirror``) and running
``cloudtap-gateway apply`` again, so what is measured is the project's own rule set.

Throughput (iperf3 TCP, one stream, app -> internet host "up" and ``-R`` "down", through the
gateway's masquerade). Each repetition runs every setup once, in a rotated order, so the mirror-off
baseline and the mirrored setups are measured side by side; a setup's ratio is its rate divided by
the mirror-off rate *of the same repetition*, and the table gives the median of those per-rep
ratios (and each of them):

``off``        mirror off: the baseline.
``gateway``    (b) mirror on; the sensor host drops the VXLAN feed on arrival (a netdev ingress
               rule on its interface, after counting it). The gateway's cost alone: the >= 0.95x
               target applies here, because a real sensor is a separate machine, while in this
               lab it shares the gateway's two CPUs.
``shared``     (a) mirror on; the sensor decapsulates every copy onto its capture interface, on
               the same CPUs as the gateway and both iperf3 ends. Reported, no target.
``gateway1500`` (b) on a 1500-byte underlay: the project's rules where the network carries only
               1500 bytes to the sensor (as rendered for Azure or OpenStack, ``underlay_mtu=1500``):
               forwarded TCP is clamped to MSS 1410 so that its copies cross whole; the sensor
               drops the feed as in (b). The gateway's cost alone: target >= 0.90x.
``project1500`` the same with the sensor decapsulating, as (a). Reported, no target.
``noclamp1500`` the same with the clamp turned off (``gateway_mirror.clamp_mss: false``):
               copies of full-size packets travel as IP fragments. Side by side with the row
               above, what the clamp saves; against mirror off, what it costs.
``naive1500``  the naive mirror first measured here: no cloudtap mirror, a VXLAN device whose MTU
               derives from a 1500-byte underlay, ``tc ... u32 match u32 0 0 action mirred egress
               mirror dev <vxlan>`` on both directions of the private-facing interface.

Attribution (``--attribution``: instead of the rows above, the baseline, (b) and four variants
of (b), interleaved the same way), to say where (b)'s cost goes:

``hooks``      the mirror's netdev chains on the gateway's private interface, with no rules in
               them: what the hooks alone cost.
``gwdrop``     (b), but each copy is dropped as it leaves the gateway (an egress rule on its
               monitor-facing interface, after encapsulation): nothing reaches the sensor, so the
               sensor's receive no longer shares the gateway's CPUs.
``tcmirred``   the copy made by tc instead of nftables: the chains emptied and a match-all
               ``mirred egress mirror`` into the same VXLAN device on both directions.
``clamp``      mirror off, forwarded TCP clamped to the MSS the 1500-byte underlay gets (a rule in
               the bench's own table): what the clamp alone costs production traffic.

Fragments: ``IpFragCreates`` on the gateway and ``IpReasmReqds`` on the sensor (nstat), per run.

Capture completeness (mirror on, jumbo underlay, sensor decapsulating, as deployed): a fixed
offered load of iperf3 UDP (``--udp-mbps`` Mbit/s, ``--udp-length``-byte datagrams, up then
down) and pings, recorded on the app's interface and on the sensor's capture interface. Packets
forwarded = counters in a forward-hook chain of a separate table (``ip cloudtap_bench``) on the
gateway, after cloudtap's own filter; packets seen = datagrams between the app and the internet
host in the capture interface's recording; duplicates = copies of the same packet beyond the
number of times the app's own interface carried it.

``python -m bench.dataplane [--reps N --seconds S ...]``; ``python -m bench dataplane`` runs the
defaults. Needs root (exit 2 without). A missed target is printed as MISSED; the exit status stays
0: this measures, it does not test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal

from components.cloud_config import written_files
from components.gateway import SETTINGS_PATH, render_cloud_config
from components.mirroring import VXLAN_PORT, clamped_mss
from components.network_plan import Tier
from lab import Host, Lab, unavailable_reason
from lab.checks.common import real_wire
from lab.lab import MIRROR_DEVICE, MIRROR_TABLE, Background
from lab.pcap import addresses, compare, datagrams, read_pcap
from lab.stack import default_stack_path, load_plan
from lab.topology import VPC_MTU

from . import Report, Summary

TARGET_RATIO: Final = 0.90
"""(b) on a 1500-byte underlay."""
TARGET_RATIO_JUMBO: Final = 0.95
"""(b) on the jumbo underlay: the mirror's cost where nothing is clamped or fragmented."""
TARGET_COMPLETENESS: Final = 99.9
"""Percent of forwarded packets seen on the sensor's capture interface."""
PLAIN_MTU: Final = 1500
"""The underlay of clouds without jumbo frames between instances (Azure, most OpenStack)."""
NAIVE_DEVICE: Final = "ct-naive"
BENCH_TABLE: Final = "cloudtap_bench"
"""The bench's own nftables table (gateway: forward counters; sensor: the feed drop)."""
SNAPLEN: Final = 256
"""Bytes of each frame recorded for completeness: IP, UDP and iperf3 headers (sequence number)
with room to spare, so that each packet is told apart without recording gigabytes."""
REQUIRED_TOOLS: Final = {"iperf3": "iperf3", "nstat": "iproute2", "tc": "iproute2"}

Mirror = Literal["off", "project", "naive"]
Variant = Literal["", "hooks", "gwdrop", "tcmirred", "clamp"]
SensorMode = Literal["decap", "drop"]
Direction = Literal["up", "down"]
DIRECTIONS: Final[tuple[Direction, ...]] = ("up", "down")


@dataclass(frozen=True)
class Options:
    reps: int = 9
    """Interleaved repetitions: the issue asks for the median of at least 9 for (b)."""
    seconds: int = 1
    """Seconds each iperf3 TCP run is measured."""
    omit: int = 1
    """Seconds iperf3 runs first without counting (TCP ramp-up)."""
    udp_mbps: int = 300
    udp_length: int = 1472
    """UDP payload bytes: 1472 gives 1500-byte IP packets, the largest the public link carries."""
    udp_seconds: int = 4
    pings: int = 200
    stack: Path = field(default_factory=default_stack_path)
    attribution: bool = False
    """Measure :data:`ATTRIBUTION`'s setups instead of :data:`SETUPS`."""

    @property
    def setups(self) -> tuple[Setup, ...]:
        return ATTRIBUTION if self.attribution else SETUPS

    @property
    def load(self) -> str:
        ip = self.udp_length + 28
        return (
            f"iperf3 UDP {self.udp_mbps} Mbit/s of {self.udp_length}-byte datagrams ({ip}-byte "
            f"IP packets), {self.udp_seconds} s up then {self.udp_seconds} s down, then "
            f"{self.pings} pings of {ip} bytes at 5 ms"
        )


QUICK: Final = Options(reps=1, seconds=1, omit=0, udp_mbps=20, udp_seconds=1, pings=10)


@dataclass(frozen=True)
class Setup:
    key: str
    label: str
    underlay_mtu: int
    mirror: Mirror
    sensor: SensorMode
    clamp: bool = True
    """With the project's rules: the MSS clamp as rendered for the underlay (off: never)."""
    variant: Variant = ""
    """An attribution variant (``--attribution``), applied after the setup itself."""


OFF: Final = Setup("off", "mirror off (baseline)", VPC_MTU, "off", "decap")
GATEWAY: Final = Setup("gateway", "(b) mirror on, sensor drops feed", VPC_MTU, "project", "drop")
SHARED: Final = Setup("shared", "(a) mirror on, sensor decaps", VPC_MTU, "project", "decap")
GATEWAY_1500: Final = Setup(
    "gateway1500", "(b) 1500-byte underlay, drops feed", PLAIN_MTU, "project", "drop"
)
PROJECT_1500: Final = Setup(
    "project1500", "(a) 1500-byte underlay, decaps", PLAIN_MTU, "project", "decap"
)
NO_CLAMP_1500: Final = Setup(
    "noclamp1500", "same, MSS clamp off", PLAIN_MTU, "project", "decap", clamp=False
)
NAIVE_1500: Final = Setup(
    "naive1500", "naive tc mirred, 1500 underlay", PLAIN_MTU, "naive", "decap"
)
SETUPS: Final = (OFF, GATEWAY, GATEWAY_1500, SHARED, PROJECT_1500, NO_CLAMP_1500, NAIVE_1500)
"""In table order; the run order is rotated every repetition."""
HOOKS: Final = replace(
    GATEWAY, key="hooks", label="(b), the mirror's chains empty", variant="hooks"
)
GATEWAY_DROP: Final = replace(
    GATEWAY, key="gwdrop", label="(b), copies dropped leaving the gateway", variant="gwdrop"
)
TC_MIRRED: Final = replace(
    GATEWAY, key="tcmirred", label="(b), copies made by tc mirred", variant="tcmirred"
)
CLAMP_ONLY: Final = replace(
    OFF, key="clamp", label="mirror off, MSS clamped as for 1500", variant="clamp"
)
ATTRIBUTION: Final = (OFF, GATEWAY, HOOKS, GATEWAY_DROP, TC_MIRRED, CLAMP_ONLY)
"""``--attribution``'s setups, in table order."""


@dataclass(frozen=True)
class Run:
    """One iperf3 TCP run and what the counters moved meanwhile."""

    setup: str
    rep: int
    direction: Direction
    gbps: float
    forwarded_bytes: int
    """Bytes through the gateway's private-facing interface, both ways (Ethernet frames)."""
    sensor_bytes: int
    """Copies that reached the sensor: its capture interface's bytes, or the feed drop's."""
    frag_creates: int
    reasm_reqds: int


@dataclass(frozen=True)
class Throughput:
    setup: Setup
    gbps: dict[Direction, float]
    """Median rate."""
    ratios: dict[Direction, list[float]]
    """Per repetition: this setup's rate / the mirror-off rate of the same repetition."""
    copies: float
    """Sensor bytes / forwarded bytes, summed over every run."""
    frag_creates: int
    reasm_reqds: int
    """Medians per run."""

    def ratio(self, direction: Direction) -> float:
        return statistics.median(self.ratios[direction])


@dataclass(frozen=True)
class Completeness:
    forwarded: dict[Direction, int]
    seen: dict[Direction, int]
    duplicates: int
    missing: int
    """Packets the app's interface carried that no copy matched."""
    extra: int
    """Copies that matched no packet of the app's interface (duplicates included)."""
    other: int
    """Anything else on the capture interface."""
    drops: dict[str, int]
    """Packets tcpdump reported dropped by the kernel, per recording."""
    udp: dict[Direction, tuple[int, int]]
    """iperf3's (packets, lost) per direction."""
    pings: str
    interface: str
    """The sensor's capture interface."""

    def percent(self, direction: Direction) -> float:
        forwarded = self.forwarded[direction]
        return 100.0 * self.seen[direction] / forwarded if forwarded else 0.0


@dataclass
class Measurement:
    options: Options
    runs: list[Run]
    throughput: list[Throughput]
    completeness: Completeness
    seconds: float
    load: tuple[str, str]
    """The machine's 1-minute load average before and after: other work on it shows here."""


# -- the lab -------------------------------------------------------------------------------------


def bench_unavailable_reason() -> str | None:
    """Why the bench cannot run here, in one sentence; ``None`` when it can."""
    reason = unavailable_reason()
    if reason is not None:
        return reason
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        packages = " ".join(dict.fromkeys(REQUIRED_TOOLS[tool] for tool in missing))
        return f"the bench needs {', '.join(missing)} on PATH (apt-get install {packages})"
    return None


class Bench:
    """A lab and the knobs the setups turn."""

    def __init__(self, lab: Lab):
        self.lab = lab
        topology = lab.topology
        self.app = str(lab.address(Host.APP))
        self.internet = str(lab.address(Host.INTERNET))
        self.sensor = str(lab.address(Host.SENSOR))
        self.private_interface = topology.link(Tier.PRIVATE).gateway_interface
        self.monitor_interface = topology.link(Tier.MONITOR).gateway_interface
        self.monitor_address = str(topology.gateway_address(Tier.MONITOR))
        self.sensor_interface = topology.link_of(Host.SENSOR).host_interface
        self.app_interface = topology.link_of(Host.APP).host_interface
        self.capture = lab.sensor_plan.capture_interface
        self.private = ", ".join(str(cidr) for cidr in topology.plan.cidrs(Tier.PRIVATE))

    # -- setups ----------------------------------------------------------------------------

    def apply(self, setup: Setup) -> None:
        """Bring the lab to ``setup`` from whatever state it is in."""
        lab, gw, sensor = self.lab, Host.GATEWAY, Host.SENSOR
        lab.run(gw, "tc", "qdisc", "del", "dev", self.private_interface, "clsact", check=False)
        lab.run(gw, "ip", "link", "del", NAIVE_DEVICE, check=False)
        self.nft(sensor, f"table netdev {BENCH_TABLE}\ndelete table netdev {BENCH_TABLE}\n")
        for family in ("netdev", "ip"):
            self.nft(gw, f"table {family} {BENCH_TABLE}\ndelete table {family} {BENCH_TABLE}\n")
        mtu = str(setup.underlay_mtu)
        lab.run(sensor, "ip", "link", "set", "dev", self.sensor_interface, "mtu", mtu)
        lab.run(gw, "ip", "link", "set", "dev", self.monitor_interface, "mtu", mtu)
        # The gateway's settings exactly as its cloud-config writes them: with the mirror or
        # without, and with the jumbo underlay (AWS) or none (Azure, OpenStack).
        plan = lab.topology.plan
        if setup.mirror != "project":
            plan = replace(plan, gateway_mirror=None)
        elif not setup.clamp and plan.gateway_mirror is not None:
            plan = replace(plan, gateway_mirror=replace(plan.gateway_mirror, clamp_mss=False))
        files = written_files(render_cloud_config(plan, underlay_mtu=setup.underlay_mtu))
        lab.settings_path.write_text(files[SETTINGS_PATH].content, encoding="utf-8")
        lab.gateway("apply", check=True)
        if setup.mirror == "naive":
            self._naive_mirror()
        if setup.sensor == "drop":
            self.nft(
                sensor,
                f"table netdev {BENCH_TABLE} {{\n"
                f"    counter feed {{}}\n"
                f"    chain feed_in {{\n"
                f'        type filter hook ingress device "{self.sensor_interface}" '
                f"priority -500; policy accept;\n"
                f'        udp dport {VXLAN_PORT} counter name "feed" drop\n'
                f"    }}\n"
                f"}}\n",
            )
        if setup.variant:
            self._attribution_variant(setup.variant)
        for host in (Host.APP, Host.GATEWAY, Host.INTERNET):
            lab.run(host, "ip", "route", "flush", "cache", check=False)

    def _attribution_variant(self, variant: Variant) -> None:
        lab, gw = self.lab, Host.GATEWAY
        if variant in ("hooks", "tcmirred"):
            listing = lab.run(gw, "nft", "list", "table", "netdev", MIRROR_TABLE).stdout
            for chain in re.findall(r"chain ((?:sent|received)_\d+) ", listing):
                lab.run(gw, "nft", "flush", "chain", "netdev", MIRROR_TABLE, chain)
        if variant == "tcmirred":
            interface = self.private_interface
            lab.run(gw, "tc", "qdisc", "add", "dev", interface, "clsact")
            match_all = ["protocol", "ip", "u32", "match", "u32", "0", "0"]
            mirred = ["action", "mirred", "egress", "mirror", "dev", MIRROR_DEVICE]
            for hook in ("ingress", "egress"):
                lab.run(gw, "tc", "filter", "add", "dev", interface, hook, *match_all, *mirred)
        elif variant == "gwdrop":
            self.nft(
                gw,
                f"table netdev {BENCH_TABLE} {{\n"
                f"    chain copies_out {{\n"
                f'        type filter hook egress device "{self.monitor_interface}" '
                f"priority -500; policy accept;\n"
                f"        udp dport {VXLAN_PORT} drop\n"
                f"    }}\n"
                f"}}\n",
            )
        elif variant == "clamp":
            mss = clamped_mss(lab.topology.plan.gateway_mirror, PLAIN_MTU)
            self.nft(
                gw,
                f"table ip {BENCH_TABLE} {{\n"
                f"    chain clamp {{\n"
                f"        type filter hook forward priority mangle; policy accept;\n"
                f"        tcp flags syn tcp option maxseg size set {mss}\n"
                f"    }}\n"
                f"}}\n",
            )

    def _naive_mirror(self) -> None:
        """What was measured first: a VXLAN device whose MTU follows its underlay, and a
        match-all mirror of both directions of the private-facing interface into it."""
        lab, gw, interface = self.lab, Host.GATEWAY, self.private_interface
        mirror = lab.topology.plan.gateway_mirror
        vni = str(mirror.vni if mirror is not None else 1)
        vxlan = ["type", "vxlan", "id", vni, "remote", self.sensor, "local", self.monitor_address]
        vxlan += ["dstport", str(VXLAN_PORT), "dev", self.monitor_interface, "nolearning"]
        lab.run(gw, "ip", "link", "add", NAIVE_DEVICE, *vxlan)
        lab.run(gw, "ip", "link", "set", NAIVE_DEVICE, "up")
        lab.run(gw, "tc", "qdisc", "add", "dev", interface, "clsact")
        match_all = ["protocol", "all", "u32", "match", "u32", "0", "0"]
        mirred = ["action", "mirred", "egress", "mirror", "dev", NAIVE_DEVICE]
        for hook in ("ingress", "egress"):
            lab.run(gw, "tc", "filter", "add", "dev", interface, hook, *match_all, *mirred)

    def nft(self, host: Host, ruleset: str) -> None:
        """Load an nftables file in ``host`` (the bench's own tables only)."""
        path = self.lab.workdir / f"bench-{host.value}.nft"
        path.write_text(ruleset, encoding="utf-8")
        self.lab.run(host, "nft", "-f", str(path))

    # -- counters --------------------------------------------------------------------------

    def link_bytes(self, host: Host) -> dict[str, tuple[int, int]]:
        """(rx, tx) bytes of every interface of ``host``."""
        listing = json.loads(self.lab.run(host, "ip", "-s", "-j", "link", "show").stdout)
        return {
            link["ifname"]: (
                int(link["stats64"]["rx"]["bytes"]),
                int(link["stats64"]["tx"]["bytes"]),
            )
            for link in listing
        }

    def snmp(self, host: Host, *names: str) -> dict[str, int]:
        output = self.lab.run(host, "nstat", "-asz", *names).stdout
        values = {name: 0 for name in names}
        for line in output.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] in values:
                values[parts[0]] = int(parts[1])
        return values

    def counter(self, host: Host, family: str, name: str) -> tuple[int, int]:
        """(packets, bytes) of a named counter in the bench's table; (0, 0) if there is none."""
        result = self.lab.run(
            host, "nft", "list", "counter", family, BENCH_TABLE, name, check=False
        )
        found = re.search(r"packets (\d+) bytes (\d+)", result.stdout)
        return (int(found[1]), int(found[2])) if found else (0, 0)

    def _sensor_bytes(self, setup: Setup) -> int:
        if setup.sensor == "drop":
            return self.counter(Host.SENSOR, "netdev", "feed")[1]
        return self.link_bytes(Host.SENSOR)[self.capture][0]

    # -- traffic ---------------------------------------------------------------------------

    def iperf(self, *arguments: str, seconds: int, omit: int = 0) -> Any:
        """iperf3's JSON summary (``end``) of a test from the app to the internet host."""
        argv = ["iperf3", "-c", self.internet, "-B", self.app, "-J", "-t", str(seconds)]
        argv += ["-O", str(omit), *arguments]
        result = self.lab.run(Host.APP, *argv, timeout=seconds + omit + 30)
        return json.loads(result.stdout)["end"]

    def tcp_run(self, setup: Setup, rep: int, direction: Direction, options: Options) -> Run:
        gw_before = self.link_bytes(Host.GATEWAY)[self.private_interface]
        sensor_before = self._sensor_bytes(setup)
        frag_before = self.snmp(Host.GATEWAY, "IpFragCreates")["IpFragCreates"]
        reasm_before = self.snmp(Host.SENSOR, "IpReasmReqds")["IpReasmReqds"]
        reverse = ["-R"] if direction == "down" else []
        end = self.iperf(*reverse, seconds=options.seconds, omit=options.omit)
        gbps = float(end["sum_received"]["bits_per_second"]) / 1e9
        gw_after = self.link_bytes(Host.GATEWAY)[self.private_interface]
        return Run(
            setup=setup.key,
            rep=rep,
            direction=direction,
            gbps=gbps,
            forwarded_bytes=sum(gw_after) - sum(gw_before),
            sensor_bytes=self._sensor_bytes(setup) - sensor_before,
            frag_creates=self.snmp(Host.GATEWAY, "IpFragCreates")["IpFragCreates"] - frag_before,
            reasm_reqds=self.snmp(Host.SENSOR, "IpReasmReqds")["IpReasmReqds"] - reasm_before,
        )


def rotated(setups: Sequence[Setup], rep: int) -> list[Setup]:
    shift = rep % len(setups)
    return [*setups[shift:], *setups[:shift]]


def measure_throughput(
    bench: Bench, options: Options, progress: bool, setups: Sequence[Setup] = SETUPS
) -> list[Run]:
    runs: list[Run] = []
    bench.apply(OFF)
    bench.iperf(seconds=1)  # warm-up, not counted
    for rep in range(options.reps):
        for setup in rotated(setups, rep):
            bench.apply(setup)
            directions = DIRECTIONS if rep % 2 == 0 else DIRECTIONS[::-1]
            for direction in directions:
                run = bench.tcp_run(setup, rep, direction, options)
                runs.append(run)
                if progress:
                    print(
                        f"  rep {rep + 1}/{options.reps} {setup.key:<11} {direction:<4} "
                        f"{run.gbps:6.2f} Gbit/s",
                        file=sys.stderr,
                        flush=True,
                    )
    return runs


def summarize(runs: Sequence[Run], reps: int, setups: Sequence[Setup] = SETUPS) -> list[Throughput]:
    def rate(setup: str, rep: int, direction: Direction) -> float:
        return next(
            r.gbps for r in runs if (r.setup, r.rep, r.direction) == (setup, rep, direction)
        )

    results = []
    for setup in setups:
        mine = [run for run in runs if run.setup == setup.key]
        forwarded = sum(run.forwarded_bytes for run in mine)
        results.append(
            Throughput(
                setup=setup,
                gbps={
                    d: statistics.median(r.gbps for r in mine if r.direction == d)
                    for d in DIRECTIONS
                },
                ratios={
                    d: [rate(setup.key, rep, d) / rate(OFF.key, rep, d) for rep in range(reps)]
                    for d in DIRECTIONS
                },
                copies=sum(run.sensor_bytes for run in mine) / forwarded if forwarded else 0.0,
                frag_creates=round(statistics.median(run.frag_creates for run in mine)),
                reasm_reqds=round(statistics.median(run.reasm_reqds for run in mine)),
            )
        )
    return results


# -- completeness --------------------------------------------------------------------------------


def _dropped(process: Background) -> int:
    line = next((line for line in process.lines if "dropped by kernel" in line), "")
    found = re.match(r"\s*(\d+)", line)
    return int(found[1]) if found else -1


def measure_completeness(bench: Bench, options: Options) -> Completeness:
    lab = bench.lab
    bench.apply(SHARED)
    bench.nft(
        Host.GATEWAY,
        f"table ip {BENCH_TABLE}\ndelete table ip {BENCH_TABLE}\n"
        f"table ip {BENCH_TABLE} {{\n"
        f"    counter up {{}}\n"
        f"    counter down {{}}\n"
        f"    chain forwarded {{\n"
        # After cloudtap's forwarding chain (priority filter): only what it let through.
        f"        type filter hook forward priority filter + 100; policy accept;\n"
        f'        ip saddr {{ {bench.private} }} counter name "up"\n'
        f'        ip daddr {{ {bench.private} }} counter name "down"\n'
        f"    }}\n"
        f"}}\n",
    )
    sensor_pcap = lab.workdir / "completeness-sensor.pcap"
    app_pcap = lab.workdir / "completeness-app.pcap"
    tcpdump = ["tcpdump", "-n", "-s", str(SNAPLEN), "-B", "65536", "-Z", "root"]
    recordings = (
        (Host.SENSOR, [*tcpdump, "-i", bench.capture, "-w", str(sensor_pcap)]),
        (Host.APP, [*tcpdump, "-i", bench.app_interface, "-w", str(app_pcap),
                    "ip", "and", "host", bench.internet]),
    )  # fmt: skip
    processes = []
    # Offloads off on the forwarding hosts: the app's recording then holds the packets with
    # their final checksums, as the copies carry them.
    with real_wire(lab):
        try:
            for host, argv in recordings:
                process = lab.start(host, *argv)
                processes.append(process)
                if process.wait_for(lambda line: "listening on" in line, 10.0) is None:
                    raise RuntimeError(f"tcpdump did not start: {' | '.join(process.lines)}")
            udp: dict[Direction, tuple[int, int]] = {}
            for direction in DIRECTIONS:
                argv = ["-u", "-b", f"{options.udp_mbps}M", "-l", str(options.udp_length)]
                end = bench.iperf(
                    *argv, *(["-R"] if direction == "down" else []), seconds=options.udp_seconds
                )
                udp[direction] = (int(end["sum"]["packets"]), int(end["sum"]["lost_packets"]))
            ping = lab.run(
                Host.APP, "ping", "-n", "-q", "-c", str(options.pings), "-i", "0.005",
                "-s", str(options.udp_length), "-I", bench.app, bench.internet,
                check=False, timeout=options.pings * 0.05 + 10,
            )  # fmt: skip
            found = re.search(r"(\d+) packets transmitted, (\d+) received", ping.stdout)
            pings = f"{found[2]}/{found[1]} answered" if found else "no ping summary"
            time.sleep(1.0)
        finally:
            for process in processes:
                process.stop()
    forwarded: dict[Direction, int] = {
        d: bench.counter(Host.GATEWAY, "ip", d)[0] for d in DIRECTIONS
    }
    bench.nft(Host.GATEWAY, f"table ip {BENCH_TABLE}\ndelete table ip {BENCH_TABLE}\n")
    app, internet = lab.address(Host.APP), lab.address(Host.INTERNET)
    copies = datagrams(read_pcap(sensor_pcap))
    seen: dict[Direction, int] = {"up": 0, "down": 0}
    other = 0
    for datagram in copies:
        pair = addresses(datagram)
        if pair == (app, internet):
            seen["up"] += 1
        elif pair == (internet, app):
            seen["down"] += 1
        else:
            other += 1
    comparison = compare(datagrams(read_pcap(app_pcap)), copies)
    return Completeness(
        forwarded=forwarded,
        seen=seen,
        duplicates=comparison.duplicates,
        missing=comparison.missing,
        extra=comparison.extra,
        other=other,
        drops={"sensor": _dropped(processes[0]), "app": _dropped(processes[1])},
        udp=udp,
        pings=pings,
        interface=bench.capture,
    )


# -- running and reporting -----------------------------------------------------------------------


def load_average() -> str:
    return Path("/proc/loadavg").read_text(encoding="utf-8").split()[0]


def measure(options: Options, *, progress: bool = False) -> Measurement:
    started, load_before = time.monotonic(), load_average()
    with Lab.create(load_plan(options.stack)) as lab:
        bench = Bench(lab)
        server = lab.start(Host.INTERNET, "iperf3", "-s", "-B", bench.internet, "--forceflush")
        if server.wait_for(lambda line: "listening" in line, 10.0) is None:
            raise RuntimeError(f"iperf3 server did not start: {' | '.join(server.lines)}")
        runs = measure_throughput(bench, options, progress, options.setups)
        if progress:
            print("  completeness ...", file=sys.stderr, flush=True)
        completeness = measure_completeness(bench, options)
    return Measurement(
        options=options,
        runs=runs,
        throughput=summarize(runs, options.reps, options.setups),
        completeness=completeness,
        seconds=time.monotonic() - started,
        load=(load_before, load_average()),
    )


COLUMNS: Final = (
    "case",
    "underlay",
    "up (app->inet)",
    "down (inet->app)",
    "per-rep ratios up | down",
    "copies/fwd",
    "frags gw/sensor",
    "target",
    "met",
)


TARGETS: Final = {GATEWAY: TARGET_RATIO_JUMBO, GATEWAY_1500: TARGET_RATIO}
"""The gateway's cost alone (the sensor drops the feed): the rows with a target, and theirs."""


def _verdict(met: bool | None) -> str:
    return "-" if met is None else ("yes" if met else "MISSED")


def _ratio_cell(result: Throughput, direction: Direction) -> str:
    if result.setup is OFF:
        return f"{result.gbps[direction]:.2f} Gbit/s"
    return f"{result.ratio(direction):.2f}x ({result.gbps[direction]:.2f})"


def rows(measurement: Measurement) -> tuple[list[list[str]], list[Summary]]:
    table: list[list[str]] = []
    summary: list[Summary] = []
    for result in measurement.throughput:
        setup = result.setup
        target: str = "-"
        met: bool | None = None
        if setup in TARGETS:
            wanted = TARGETS[setup]
            target = f">= {wanted:.2f}x"
            met = all(result.ratio(d) >= wanted for d in DIRECTIONS)
        per_rep = " | ".join(
            " ".join(f"{ratio:.2f}" for ratio in result.ratios[d]) for d in DIRECTIONS
        )
        table.append([
            setup.label,
            str(setup.underlay_mtu),
            _ratio_cell(result, "up"),
            _ratio_cell(result, "down"),
            "-" if setup is OFF else per_rep,
            f"{result.copies:.2f}",
            f"{result.frag_creates}/{result.reasm_reqds}",
            target,
            _verdict(met),
        ])  # fmt: skip
        if setup is not OFF:
            measured = " ".join(f"{d} {result.ratio(d):.2f}x" for d in DIRECTIONS)
            summary.append(Summary(setup.label, measured, target, met))
    completeness = measurement.completeness
    percents = {d: completeness.percent(d) for d in DIRECTIONS}
    met = all(p >= TARGET_COMPLETENESS for p in percents.values())
    table.append([
        "capture completeness",
        str(VPC_MTU),
        *(f"{percents[d]:.3f} % ({completeness.seen[d]}/{completeness.forwarded[d]})"
          for d in DIRECTIONS),
        "-", "-", "-",
        f">= {TARGET_COMPLETENESS} %",
        _verdict(met),
    ])  # fmt: skip
    no_duplicates = completeness.duplicates == 0
    table.append([
        "duplicate copies", str(VPC_MTU), str(completeness.duplicates), "(both directions)",
        "-", "-", "-", "0", _verdict(no_duplicates),
    ])  # fmt: skip
    total = sum(completeness.seen.values()), sum(completeness.forwarded.values())
    summary.append(
        Summary(
            "capture completeness",
            f"{100.0 * total[0] / total[1] if total[1] else 0.0:.3f} %",
            f">= {TARGET_COMPLETENESS} %",
            met,
        )
    )
    summary.append(Summary("duplicate copies", str(completeness.duplicates), "0", no_duplicates))
    return table, summary


def machine() -> str:
    """nproc, kernel and iperf3 version, for the table's header."""
    version = (
        subprocess.run(
            ["iperf3", "--version"], capture_output=True, text=True, timeout=10, check=False
        )
        .stdout.split("(")[0]
        .strip()
    )
    return f"{len(os.sched_getaffinity(0))} CPUs (nproc), Linux {platform.release()}, {version}"


def report(measurement: Measurement) -> Report:
    options = measurement.options
    table, summary = rows(measurement)
    completeness = measurement.completeness
    title = "\n".join(
        [
            "Data plane: the gateway mirror's cost to forwarding, and capture completeness",
            f"machine: {machine()}; lab: {options.stack.name} (aws-dev plan), "
            f"the rendered gateway and sensor scripts",
            f"throughput: iperf3 TCP, 1 stream, {options.seconds} s per run "
            f"(+{options.omit} s not counted), {options.reps} reps, setups interleaved "
            "(rotated order) in each rep; ratio = rate / mirror-off rate of the same rep, "
            "median over reps",
            f"completeness load: {options.load}",
        ]
    )
    notes = [
        "up = the app sends (iperf3), down = the internet host sends (iperf3 -R). Cells: median "
        "ratio to mirror off (median Gbit/s).",
        "copies/fwd = bytes that reached the sensor (its capture interface; in (b) the feed "
        "drop's counter) / bytes through the gateway's private interface. Above 1.00 where the "
        "sensor decapsulates: it cuts super-packets into wire-size frames for the capture, each "
        "with its own headers.",
        "frags gw/sensor = median per run of the gateway's IpFragCreates / the sensor's "
        "IpReasmReqds (nstat).",
        "The targets apply to the (b) rows, the gateway's cost alone (>= 0.95x on the jumbo "
        "underlay, >= 0.90x on the 1500-byte one, MSS clamp on): a real sensor is a separate "
        "machine, while here it shares the gateway's CPUs, so the (a) rows also charge the "
        "sensor's decapsulation to the gateway. The other 1500-underlay rows have the sensor "
        "decapsulating too (without the clamp it also reassembles the fragments): compare "
        "them with the (a) rows.",
        f"completeness: forwarded = gateway forward-hook counters after cloudtap's filter; seen "
        f"= datagrams app<->internet on the sensor's capture interface "
        f"({completeness.interface}); "
        f"{completeness.missing} of the app interface's packets unmatched, "
        f"{completeness.extra} copies unmatched, {completeness.other} other packets on the "
        f"capture interface; tcpdump kernel drops sensor {completeness.drops['sensor']}, app "
        f"{completeness.drops['app']}; UDP (packets, lost) up {completeness.udp['up']}, down "
        f"{completeness.udp['down']}; pings {completeness.pings}.",
        *(
            [
                "attribution rows: (b) with one change each; the chains empty = the mirror's "
                "netdev hooks with no rules (no copies); copies dropped leaving the gateway = "
                "copies made and encapsulated, dropped on the gateway's monitor-facing egress "
                "(the sensor's receive leaves the shared CPUs); tc mirred = the same copies made "
                "by a match-all tc mirred mirror instead of nftables' dup; MSS clamped = mirror "
                "off with forwarded TCP clamped as the 1500-byte underlay clamps it."
            ]
            if options.attribution
            else []
        ),
        f"wall time {measurement.seconds:.0f} s; 1-minute load average {measurement.load[0]} "
        f"before, {measurement.load[1]} after.",
    ]
    missed = [
        f"{item.case} {item.measured} (target {item.target})"
        for item in summary
        if item.met is False
    ]
    notes.append("MISSED: " + "; ".join(missed) if missed else "every target met.")
    return Report(
        name="dataplane",
        title=title,
        columns=list(COLUMNS),
        rows=table,
        summary=summary,
        notes=[textwrap.fill(note, 98, subsequent_indent="  ") for note in notes],
    )


def unavailable_report(reason: str) -> Report:
    return Report(
        name="dataplane",
        title="Data plane: not run",
        columns=["case", "measured"],
        rows=[["dataplane", f"not run: {reason}"]],
        summary=[Summary("not run", reason, "-", None)],
    )


def run(quick: bool) -> Report:
    """``python -m bench``'s entry: the defaults, or :data:`QUICK`."""
    reason = bench_unavailable_reason()
    if reason is not None:
        return unavailable_report(reason)
    return report(measure(QUICK if quick else Options()))


def main(argv: Sequence[str] | None = None) -> int:
    defaults = Options()
    parser = argparse.ArgumentParser(
        prog="python -m bench.dataplane", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--reps", type=int, default=defaults.reps)
    parser.add_argument("--seconds", type=int, default=defaults.seconds, help="per TCP run")
    parser.add_argument("--omit", type=int, default=defaults.omit, help="TCP ramp-up not counted")
    parser.add_argument("--udp-mbps", type=int, default=defaults.udp_mbps)
    parser.add_argument("--udp-length", type=int, default=defaults.udp_length)
    parser.add_argument("--udp-seconds", type=int, default=defaults.udp_seconds)
    parser.add_argument("--pings", type=int, default=defaults.pings)
    parser.add_argument("--stack", type=Path, default=defaults.stack)
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument(
        "--attribution",
        action="store_true",
        help="the baseline, (b) and its variants that say where its cost goes",
    )
    args = parser.parse_args(argv)
    reason = bench_unavailable_reason()
    if reason is not None:
        print(f"bench.dataplane cannot run: {reason}.")
        return 2
    options = Options(
        reps=args.reps,
        seconds=args.seconds,
        omit=args.omit,
        udp_mbps=args.udp_mbps,
        udp_length=args.udp_length,
        udp_seconds=args.udp_seconds,
        pings=args.pings,
        stack=args.stack,
        attribution=args.attribution,
    )
    print(report(measure(options, progress=not args.quiet)).detail())
    return 0


if __name__ == "__main__":
    sys.exit(main())
