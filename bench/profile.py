"""Where the gateway's cycles go with the mirror on and off: a whole-machine perf profile.

Runs in the namespace lab with the data-plane bench's setups (:mod:`bench.dataplane`): the (b)
state, jumbo underlay and the sensor dropping the feed on arrival, against mirror off, each
while one iperf3 TCP stream runs through the gateway. ``perf record -a -g`` samples every CPU
(cpu-clock: this VM has no hardware counters) for ``--seconds`` in the middle of each run; the
states alternate for ``--reps`` repetitions and their recordings are reported together.

Only the samples of the lab's traffic are counted: those taken in the two iperf3 processes and
in the ksoftirqd threads. The lab's hosts are namespaces joined by veth pairs, so the gateway's
forwarding, its mirror and the sensor's drop all run in softirq right after a veth transmit, in
the context of the process that sent (an iperf3) or in ksoftirqd when deferred; other work on the
machine (the 2 CPUs are shared) is left out that way.

The table gives, per state, the CPU time of each group of kernel functions in CPU-milliseconds
per GB forwarded (the samples over the sampling frequency, over the bytes through the gateway's
private interface meanwhile), so that a state that forwards more is not charged for it:

self       samples *in* the group's functions (``perf report --no-children``).
inclusive  samples with one of the group's entry points on the call stack (``--children``):
           what the mirror's dup costs with everything it calls, for instance.

``python -m bench profile`` (defaults) or ``python -m bench.profile [--seconds S --reps N
--direction up|down]``. Needs root and perf; the recordings go to a temporary directory and are
deleted (perf.data files are never kept).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from lab import Host, Lab
from lab.stack import default_stack_path, load_plan
from lab.topology import VPC_MTU

from . import Report, Summary
from .dataplane import GATEWAY, OFF, Bench, Direction, Setup, bench_unavailable_reason

FREQUENCY: Final = 999
"""Samples per second and CPU (odd, so as not to beat with the 250 Hz tick)."""
STATES: Final = (OFF, GATEWAY)
FORMER: Final = Setup("former", "(b), oversize rule first", VPC_MTU, "project", "drop")
"""``--former``: (b) with the mirror chains' oversize rule as it was before 2026-12-02, its two
set lookups before its header tests: side by side with (b), what the reorder saves."""
OVERSIZE: Final = re.compile(
    r"ip protocol != tcp ip length > (\d+) (ip [sd]addr @private ip [sd]addr != @not_copied) "
)

SELF_GROUPS: Final[tuple[tuple[str, str], ...]] = (
    ("spinlock unlock (irqs back on)", r"^_raw_spin_unlock_irqrestore$"),
    ("copy to/from user (iperf3)", r"^(_?copy_(to|from)_user.*|rep_movs_alternative|"
                                   r"copy_user_.*|_copy_(to|from)_iter|__copy_user.*)$"),
    ("checksum", r"csum"),
    ("memcpy/memmove/memset", r"^__?mem(cpy|move|set).*"),
    ("nftables rule evaluation", r"^(nft_|__nft_|nf_tables_|nf_dup_|nft_do_chain)"),
    ("conntrack/NAT", r"^(nf_conntrack|__nf_conntrack|nf_ct_|nf_nat|__nf_nat|hash_conntrack)"),
    ("GSO segmentation", r"(gso|skb_segment|segment)"),
    ("skb alloc/clone/free", r"^(__?skb_clone|skb_clone|__copy_skb_header|skb_release|"
                             r"kfree_skb|__kfree_skb|consume_skb|__alloc_skb|kmem_cache_|"
                             r"skb_free_head|napi_consume_skb|__build_skb|pskb_expand_head|"
                             r"skb_copy|skb_gro_|kfree|__kmalloc|kmalloc|__slab_|___slab_)"),
    ("VXLAN/UDP tunnel", r"^(vxlan_|udp_tunnel|iptunnel_|udp_set_csum|__udp4_lib_rcv)"),
    ("veth", r"^veth_"),
    ("TCP", r"^(tcp_|__tcp_)"),
)  # fmt: skip
"""Self time: each symbol goes to the first group whose pattern it matches (``re.search``);
the rest is "other"."""

INCLUSIVE_GROUPS: Final[tuple[tuple[str, str], ...]] = (
    ("nft netdev chains (mirror copy, sensor drop)", r"^nft_do_chain_netdev$"),
    ("nft ip chains (filter, clamp, NAT)", r"^nft_do_chain_ipv4$"),
    # The dup expression's eval is a tail call: nf_do_netdev_egress is what stays on the stack.
    (
        "nft dup to the VXLAN device",
        r"^(nft_dup_netdev_eval|nf_dup_netdev_egress|"
        r"nf_do_netdev_egress)$",
    ),
    ("VXLAN transmit", r"^vxlan_xmit$"),
    ("the sensor's tc BPF program (passes VXLAN on)", r"^bpf_prog_\w+_cloudtap_decap$"),
    ("skb clone", r"^skb_clone$"),
    ("GSO segmentation", r"^(__skb_gso_segment|skb_segment)$"),
    ("checksum", r"^(csum_partial|do_csum|csum_partial_copy_generic|skb_checksum_help)$"),
)
"""Inclusive time: the largest children share among each group's entry points (they nest)."""


@dataclass(frozen=True)
class Profile:
    setup: Setup
    samples: int
    seconds: float
    forwarded_bytes: int
    gbps: list[float]
    self_percent: dict[str, float]
    """Symbol -> percent of all samples, self time."""
    children_percent: dict[str, float]
    """Symbol -> percent of all samples with it on the stack."""

    def ms_per_gb(self, percent: float) -> float:
        cpu_seconds = self.samples * percent / 100 / FREQUENCY
        gigabytes = self.forwarded_bytes / 1e9
        return 1000 * cpu_seconds / gigabytes if gigabytes else 0.0


def perf_unavailable() -> str | None:
    reason = bench_unavailable_reason()
    if reason is not None:
        return reason
    if shutil.which("perf") is None:
        return "the profile needs perf on PATH (apt-get install linux-perf)"
    return None


LINE: Final = re.compile(r"^\s*([\d.]+)%\s+([\d.]+)%\s+(\d+)\s+\[[k.]\]\s+(\S+)")
"""``perf report --children -n`` lines: children %, self %, self samples, [k] or [.], symbol."""


def softirq_threads() -> list[int]:
    threads = []
    for path in Path("/proc").glob("[0-9]*/comm"):
        try:
            name = path.read_text(encoding="utf-8")
        except (FileNotFoundError, ProcessLookupError):
            continue  # a process of other work on the machine ended meanwhile
        if name.startswith("ksoftirqd/"):
            threads.append(int(path.parent.name))
    return threads


def read_profile(data: Path, pids: Sequence[int]) -> tuple[int, dict[str, float], dict[str, float]]:
    """(samples, self samples, children samples) per symbol of the samples of ``pids`` in one
    recording."""
    argv = ["perf", "report", "-i", str(data), "--stdio", "--children", "--sort", "sym", "-n"]
    argv += ["-g", "none", "--percent-limit", "0", "--percentage", "relative"]
    argv += ["--pid", ",".join(str(pid) for pid in pids)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=True)
    lines = [found for line in result.stdout.splitlines() if (found := LINE.match(line))]
    total = sum(int(found[3]) for found in lines)
    self_samples: dict[str, float] = defaultdict(float)
    children: dict[str, float] = defaultdict(float)
    for found in lines:
        # Percentages are of the shown samples (relative): children as samples from them.
        children[found[4]] += float(found[1]) * total / 100
        self_samples[found[4]] += int(found[3])
    return total, dict(self_samples), dict(children)


def group_self(profile: Profile) -> dict[str, float]:
    """Percent of all samples per self group (plus "other")."""
    groups: dict[str, float] = defaultdict(float)
    for symbol, percent in profile.self_percent.items():
        name = next((g for g, pattern in SELF_GROUPS if re.search(pattern, symbol)), "other")
        groups[name] += percent
    return groups


def group_inclusive(profile: Profile) -> dict[str, float]:
    return {
        name: max(
            (p for s, p in profile.children_percent.items() if re.search(pattern, s)),
            default=0.0,
        )
        for name, pattern in INCLUSIVE_GROUPS
    }


def former_rule_order(bench: Bench) -> None:
    """Reload the gateway's mirror table with each oversize rule's set lookups first."""
    table = ["table", "netdev", "cloudtap_mirror"]
    listing = bench.lab.run(Host.GATEWAY, "nft", "list", *table).stdout
    former, count = OVERSIZE.subn(r"\2 ip protocol != tcp ip length > \1 ", listing)
    if count == 0:
        raise RuntimeError(f"no oversize rule in the mirror table:\n{listing}")
    bench.nft(Host.GATEWAY, f"delete {' '.join(table)}\n{former}")


def record(
    bench: Bench, setup: Setup, direction: Direction, seconds: int, data: Path
) -> tuple[float, int, int]:
    """One iperf3 run with ``perf record`` in its middle: (Gbit/s, bytes forwarded while
    sampling, the iperf3 client's pid)."""
    lab = bench.lab
    bench.apply(setup)
    if setup is FORMER:
        former_rule_order(bench)
    reverse = ["-R"] if direction == "down" else []
    argv = ["iperf3", "-c", bench.internet, "-B", bench.app, "-t", str(seconds + 3), "-J"]
    with lab.background(Host.APP, *argv, *reverse) as client:
        time.sleep(1.5)  # past TCP's ramp-up
        before = sum(bench.link_bytes(Host.GATEWAY)[bench.private_interface])
        perf = ["perf", "record", "-a", "-g", "-F", str(FREQUENCY), "-o", str(data), "-q"]
        subprocess.run(
            [*perf, "--", "sleep", str(seconds)],
            capture_output=True,
            timeout=seconds + 60,
            check=True,
        )
        forwarded = sum(bench.link_bytes(Host.GATEWAY)[bench.private_interface]) - before
        client.process.wait(timeout=seconds + 30)
    output = "\n".join(client.lines)
    found = re.search(r'"sum_received":\s*{[^}]*"bits_per_second":\s*([\d.e+]+)', output)
    return (float(found[1]) / 1e9 if found else 0.0), forwarded, client.process.pid


def measure(
    seconds: int, reps: int, direction: Direction, states: Sequence[Setup] = STATES
) -> tuple[list[Profile], str]:
    load_before = Path("/proc/loadavg").read_text(encoding="utf-8").split()[0]
    profiles: dict[str, list[tuple[Path, float, int, list[int]]]] = {s.key: [] for s in states}
    with tempfile.TemporaryDirectory(prefix="cloudtap-profile-") as temporary:
        with Lab.create(load_plan(default_stack_path())) as lab:
            bench = Bench(lab)
            server = lab.start(Host.INTERNET, "iperf3", "-s", "-B", bench.internet, "--forceflush")
            if server.wait_for(lambda line: "listening" in line, 10.0) is None:
                raise RuntimeError(f"iperf3 server did not start: {' | '.join(server.lines)}")
            for rep in range(reps):
                for setup in states if rep % 2 == 0 else states[::-1]:
                    data = Path(temporary) / f"{setup.key}-{rep}.data"
                    gbps, forwarded, client = record(bench, setup, direction, seconds, data)
                    pids = [client, server.process.pid, *softirq_threads()]
                    profiles[setup.key].append((data, gbps, forwarded, pids))
                    print(f"  rep {rep + 1}/{reps} {setup.key}: {gbps:.2f} Gbit/s", file=sys.stderr)
        results = []
        for setup in states:
            total = 0
            self_percent: dict[str, float] = defaultdict(float)
            children: dict[str, float] = defaultdict(float)
            for data, _gbps, _forwarded, pids in profiles[setup.key]:
                samples, mine, inclusive = read_profile(data, pids)
                for symbol, count in mine.items():
                    self_percent[symbol] += 100 * count
                for symbol, count in inclusive.items():
                    children[symbol] += 100 * count
                total += samples
            results.append(
                Profile(
                    setup=setup,
                    samples=total,
                    seconds=float(seconds * reps),
                    forwarded_bytes=sum(f for _d, _g, f, _p in profiles[setup.key]),
                    gbps=[g for _d, g, _f, _p in profiles[setup.key]],
                    self_percent={s: v / total for s, v in self_percent.items()} if total else {},
                    children_percent={s: v / total for s, v in children.items()} if total else {},
                )
            )
    load_after = Path("/proc/loadavg").read_text(encoding="utf-8").split()[0]
    return results, f"{load_before} before, {load_after} after"


COLUMNS: Final = ("kind", "group", "off ms/GB", "on ms/GB", "on - off", "off %", "on %")
FORMER_COLUMNS: Final = ("former ms/GB", "former - on")


def report(profiles: Sequence[Profile], direction: Direction, load: str, top: int = 12) -> Report:
    off, on, *others = profiles
    former = others[0] if others else None
    rows: list[list[str]] = []

    def add(kind: str, name: str, off_percent: float, on_percent: float) -> None:
        extra = on.ms_per_gb(on_percent) - off.ms_per_gb(off_percent)
        row = [
            kind, name,
            f"{off.ms_per_gb(off_percent):.1f}", f"{on.ms_per_gb(on_percent):.1f}",
            f"{extra:+.1f}", f"{off_percent:.1f}", f"{on_percent:.1f}",
        ]  # fmt: skip
        if former is not None:
            percent = lookup(former, kind, name)
            row += [
                f"{former.ms_per_gb(percent):.1f}",
                f"{former.ms_per_gb(percent) - on.ms_per_gb(on_percent):+.1f}",
            ]
        rows.append(row)

    def lookup(profile: Profile, kind: str, name: str) -> float:
        if kind == "self":
            return 100.0 if name == "all the lab's samples" else group_self(profile).get(name, 0.0)
        if kind == "inclusive":
            return group_inclusive(profile)[name]
        return profile.self_percent.get(name, 0.0)

    off_self, on_self = group_self(off), group_self(on)
    names = [g for g, _p in SELF_GROUPS] + ["other"]
    for name in names:
        add("self", name, off_self.get(name, 0.0), on_self.get(name, 0.0))
    busy_off = busy_on = 100.0
    add("self", "all the lab's samples", busy_off, busy_on)
    off_inclusive, on_inclusive = group_inclusive(off), group_inclusive(on)
    for name, _pattern in INCLUSIVE_GROUPS:
        add("inclusive", name, off_inclusive[name], on_inclusive[name])

    def growth(symbol: str) -> float:
        return on.ms_per_gb(on.self_percent.get(symbol, 0.0)) - off.ms_per_gb(
            off.self_percent.get(symbol, 0.0)
        )

    symbols = sorted(set(off.self_percent) | set(on.self_percent), key=growth, reverse=True)
    for symbol in symbols[:top]:
        add("symbol", symbol, off.self_percent.get(symbol, 0.0), on.self_percent.get(symbol, 0.0))
    extra = on.ms_per_gb(busy_on) - off.ms_per_gb(busy_off)
    summary = [
        Summary(
            "mirror's extra CPU per GB forwarded",
            f"{extra:+.1f} ms/GB ({off.ms_per_gb(busy_off):.1f} off, "
            f"{on.ms_per_gb(busy_on):.1f} on)",
            "-",
            None,
        )
    ]
    notes = [
        f"{direction} (the {'app' if direction == 'up' else 'internet host'} sends); "
        f"perf record -a -g -F {FREQUENCY} (cpu-clock), {off.seconds:.0f} s per state in "
        f"{len(off.gbps)} recordings, the states alternating; samples off {off.samples}, on "
        f"{on.samples}. Gbit/s while recorded: off "
        f"{' '.join(f'{g:.2f}' for g in off.gbps)}, on {' '.join(f'{g:.2f}' for g in on.gbps)}; "
        f"GB forwarded off {off.forwarded_bytes / 1e9:.1f}, on {on.forwarded_bytes / 1e9:.1f}.",
        "ms/GB = CPU-milliseconds of the lab's traffic (samples in both iperf3 processes and in "
        "ksoftirqd, every CPU: the gateway, the sensor's drop and both iperf3 ends) per GB "
        "through the gateway's private interface; % = share of all samples. self: in the "
        "group's functions; inclusive: with its entry point on the stack (groups overlap). "
        f"symbol: the {top} functions whose self time grew most per GB with the mirror on. "
        "cpu-clock samples are taken by a timer interrupt: time with interrupts off is counted "
        "where they come back on (_raw_spin_unlock_irqrestore, mostly waking the other iperf3).",
        f"1-minute load average {load}.",
    ]
    if former is not None:
        notes.insert(
            1,
            f"former = {FORMER.label}: (b) with the oversize rule's set lookups before its header "
            f"tests, as before 2026-12-02; recorded alternating with the others, samples "
            f"{former.samples}, Gbit/s {' '.join(f'{g:.2f}' for g in former.gbps)}, GB "
            f"forwarded {former.forwarded_bytes / 1e9:.1f}.",
        )
    return Report(
        name="profile",
        title=f"Profile: the gateway mirror's CPU, (b) jumbo underlay vs mirror off, {direction}",
        columns=[*COLUMNS, *(FORMER_COLUMNS if former is not None else ())],
        rows=rows,
        summary=summary,
        notes=[textwrap.fill(note, 98, subsequent_indent="  ") for note in notes],
    )


def unavailable_report(reason: str) -> Report:
    return Report(
        name="profile",
        title="Profile: not run",
        columns=["case", "measured"],
        rows=[["profile", f"not run: {reason}"]],
        summary=[Summary("not run", reason, "-", None)],
    )


def run(quick: bool) -> Report:
    reason = perf_unavailable()
    if reason is not None:
        return unavailable_report(reason)
    seconds, reps = (1, 1) if quick else (5, 3)
    profiles, load = measure(seconds, reps, "up")
    return report(profiles, "up", load)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--seconds", type=int, default=5, help="sampled per recording")
    parser.add_argument("--reps", type=int, default=3, help="recordings per state")
    parser.add_argument("--direction", choices=("up", "down"), default="up")
    parser.add_argument("--top", type=int, default=12, help="symbols listed")
    parser.add_argument(
        "--former", action="store_true", help="also (b) with the oversize rule in its former order"
    )
    args = parser.parse_args(argv)
    reason = perf_unavailable()
    if reason is not None:
        print(f"bench.profile cannot run: {reason}.")
        return 2
    direction: Direction = "up" if args.direction == "up" else "down"
    states = (*STATES, FORMER) if args.former else STATES
    profiles, load = measure(args.seconds, args.reps, direction, states)
    print(report(profiles, direction, load, args.top).detail())
    return 0


if __name__ == "__main__":
    sys.exit(main())
