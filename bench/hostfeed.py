"""Host feeds: what copying its own traffic costs a host, per transport, and the TLS agent's rate.

Runs in the host-feed lab (:mod:`lab.hostfeed`): the host runs its *rendered* feed, the sensor
its rendered listener. Throughput: iperf3 TCP, one stream, host -> its peer (on the router),
1500-byte links. Each repetition measures feed off (``cloudtap-hostfeed stop``) and feed on
(``apply``) side by side, in a rotated order, for each transport; a ratio is on ÷ off of the same
repetition and the table gives the median. The lab's hosts share this machine's CPUs: the TLS
agent takes CPU from the very iperf3 it copies, which a real host with more cores would not.

TLS agent rate: during each feed-on TLS run, copies the agent delivered (its ``sent`` counter)
per second of its own CPU time (utime + stime from /proc): copies per second on one core, and
the share of captured copies dropped by the bounded queue because that core was not enough.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from components.host_feed import HostFeedTransport

from . import Report, Summary

TARGET_VXLAN = 0.90
"""The in-kernel copy should cost a host little: on ÷ off >= 0.90."""


@dataclass(frozen=True)
class Options:
    reps: int = 3
    seconds: int = 5


QUICK = Options(reps=1, seconds=1)


@dataclass
class TransportResult:
    transport: HostFeedTransport
    off: list[float] = field(default_factory=list)
    on: list[float] = field(default_factory=list)
    copies_per_cpu_second: list[float] = field(default_factory=list)
    dropped_share: list[float] = field(default_factory=list)

    def ratios(self) -> list[float]:
        return [on / off for on, off in zip(self.on, self.off, strict=True) if off > 0]


def bench_unavailable_reason() -> str | None:
    from lab import unavailable_reason  # noqa: PLC0415 - only a run needs the lab

    reason = unavailable_reason()
    if reason is None and shutil.which("iperf3") is None:
        return "iperf3 is not installed (apt-get install iperf3)"
    return reason


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _iperf(lab: Any, seconds: int) -> float:
    from lab.hostfeed import HOST_ADDRESS, PEER_ADDRESS, FeedHost  # noqa: PLC0415

    argv = ["iperf3", "-c", str(PEER_ADDRESS), "-B", str(HOST_ADDRESS), "-J", "-t", str(seconds)]
    result = lab.run(FeedHost.HOST, *argv, timeout=seconds + 20.0)
    end = json.loads(result.stdout)["end"]
    return float(end["sum_received"]["bits_per_second"]) / 1e6


def measure_transport(transport: HostFeedTransport, options: Options) -> TransportResult:
    from lab.hostfeed import PEER_ADDRESS, FeedHost, HostFeedLab  # noqa: PLC0415

    result = TransportResult(transport)
    with HostFeedLab.create(transport) as lab:
        server = lab.start(FeedHost.ROUTER, "iperf3", "-s", "-B", str(PEER_ADDRESS), "--forceflush")
        lab.wait_for(lambda: "listening" in server.output(), what="the iperf3 server")
        _iperf(lab, 1)  # warm-up, not counted
        for rep in range(options.reps):
            for on in (True, False) if rep % 2 else (False, True):
                if on:
                    lab.host("apply", check=True)
                    if transport is HostFeedTransport.TLS:
                        lab.wait_for(lambda: lab.agent_status()["connected"], 40, "the agent")
                        before = lab.agent_status()
                        cpu = _cpu_seconds(int(before["pid"]))
                    result.on.append(_iperf(lab, options.seconds))
                    if transport is HostFeedTransport.TLS:
                        since = before["time"] + 1
                        lab.wait_for(lambda s=since: lab.agent_status()["time"] > s, what="status")
                        after = lab.agent_status()
                        used = _cpu_seconds(int(after["pid"])) - cpu
                        sent = after["counters"]["sent"] - before["counters"]["sent"]
                        captured = after["counters"]["captured"] - before["counters"]["captured"]
                        dropped = sum(
                            after["counters"][key] - before["counters"][key]
                            for key in ("dropped", "dropped_kernel")
                        )
                        result.copies_per_cpu_second.append(sent / used if used > 0 else 0.0)
                        kernel = (
                            after["counters"]["dropped_kernel"]
                            - before["counters"]["dropped_kernel"]
                        )
                        seen = captured + kernel  # what the kernel dropped was never read
                        result.dropped_share.append(dropped / seen if seen else 0.0)
                else:
                    lab.host("stop", check=True)
                    result.off.append(_iperf(lab, options.seconds))
        server.stop()
    return result


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def report(results: Sequence[TransportResult], options: Options) -> Report:
    rows: list[list[str]] = []
    summary: list[Summary] = []
    for result in results:
        ratio = _median(result.ratios())
        tls = result.transport is HostFeedTransport.TLS
        rows.append(
            [
                result.transport.value,
                f"{_median(result.off):.0f}",
                f"{_median(result.on):.0f}",
                f"{ratio:.2f}x",
                " ".join(f"{r:.2f}" for r in result.ratios()),
                f"{_median(result.copies_per_cpu_second):.0f}" if tls else "-",
                f"{100 * _median(result.dropped_share):.1f}%" if tls else "-",
            ]
        )
        target = TARGET_VXLAN if result.transport is HostFeedTransport.VXLAN else None
        summary.append(
            Summary(
                f"host throughput feed on ÷ off, {result.transport.value}",
                f"{ratio:.2f}x",
                f">= {target:.2f}x" if target else "-",
                None if target is None else ratio >= target,
            )
        )
        if tls:
            summary.append(
                Summary(
                    "TLS copies per second on one core",
                    f"{_median(result.copies_per_cpu_second):.0f}",
                    "-",
                    None,
                )
            )
    return Report(
        name="hostfeed",
        title=f"Host feeds: iperf3 TCP host -> peer, {options.reps} reps of {options.seconds} s",
        columns=[
            "transport",
            "off Mbit/s",
            "on Mbit/s",
            "on ÷ off",
            "per rep",
            "TLS copies/CPU-s",
            "dropped",
        ],
        rows=rows,
        summary=summary,
        notes=[
            f"machine: {os.cpu_count()} CPUs (nproc) shared by host, router, sensor and iperf3",
            "dropped: share of the host's frames whose copy the TLS agent dropped (its bounded "
            "queue, or the kernel's socket buffer when the agent's core fell behind); the host's "
            "own traffic is never held back",
            "vxlan: every copy of a full-size frame is 50 bytes over the host's MTU and leaves as "
            "two IP fragments (the sensor reassembles): the in-network transport is cheap only "
            "where the host's interface MTU leaves room (a jumbo underlay, a lower host MTU)",
        ],
    )


def run(quick: bool) -> Report:
    reason = bench_unavailable_reason()
    options = QUICK if quick else Options()
    if reason is not None:
        return Report(
            "hostfeed",
            "Host feeds: not run",
            ["case", "measured"],
            [["hostfeed", reason]],
            [Summary("not run", reason, "-", None)],
        )
    return report([measure_transport(t, options) for t in HostFeedTransport], options)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hostfeed")
    parser.add_argument("--reps", type=int, default=Options.reps)
    parser.add_argument("--seconds", type=int, default=Options.seconds)
    args = parser.parse_args(argv)
    reason = bench_unavailable_reason()
    if reason is not None:
        print(f"bench.hostfeed cannot run: {reason}.")
        return 2
    options = Options(reps=args.reps, seconds=args.seconds)
    print(report([measure_transport(t, options) for t in HostFeedTransport], options).detail())
    return 0


if __name__ == "__main__":
    sys.exit(main())
