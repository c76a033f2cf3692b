"""Decapsulation: each of the sensor's paths, packets per second and loss, side by side.

Runs in the namespace lab (:mod:`lab`) with the aws-dev stack's rendered sensor. For each path
(``CLOUDTAP_SENSOR_PATHS``: the kernel's VXLAN device, the tc BPF program, cloudtap-decap in
Python) and feed (the lab's AWS VXLAN stream and its GWLB stream, GENEVE around VXLAN), the
gateway host sends a fixed number of packets at each offered rate and at the sender's maximum
(back to back); delivered = frames the capture interface received (its rx counter), loss =
1 - delivered / sent, rate = delivered / the sending's seconds. The sender is the lab's own
raw-socket feed builder (Python): its maximum is the highest rate offered here, and every path
shares the VM's CPUs with it.

``python -m bench decap``; needs root (the report says why not otherwise).
"""

from __future__ import annotations

import os
import sys
import textwrap
import time
from dataclasses import dataclass
from typing import Final

from lab import Host, Lab, unavailable_reason
from lab.checks.common import feed_paths
from lab.stack import default_stack_path, load_plan

from . import Report, Summary

TARGET_PPS: Final = 1_000_000
"""Per core, for the BPF path (issue 11)."""
RATES: Final = (50_000, 100_000, 200_000, 0)
"""Offered packets per second; 0: back to back, the sender's maximum."""
CASES: Final = (
    ("kernel", "kernel bpf python", "aws-vxlan"),
    ("bpf", "bpf python", "aws-vxlan"),
    ("bpf", "bpf python", "gwlb-geneve"),
    ("python", "python", "aws-vxlan"),
    ("python", "python", "gwlb-geneve"),
)
"""(path, CLOUDTAP_SENSOR_PATHS, the lab's feed kind)."""


@dataclass(frozen=True)
class Row:
    path: str
    kind: str
    offered: int
    sent: int
    delivered: int
    seconds: float

    @property
    def loss(self) -> float:
        return 1.0 - self.delivered / self.sent if self.sent else 0.0

    @property
    def pps(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0


def measure(count: int) -> list[Row]:
    rows: list[Row] = []
    with Lab.create(load_plan(default_stack_path())) as lab:
        capture = lab.sensor_plan.capture_interface
        source = lab.address(Host.APP)
        for path, paths, kind in CASES:
            lab.sensor_paths = paths
            lab.sensor("apply", check=True)
            feed = "geneve" if "geneve" in kind else "vxlan"
            taken = feed_paths(lab).get(feed, "")
            if not taken.startswith(
                {"kernel": "kernel ", "bpf": "bpf ", "python": "cloudtap"}[path]
            ):
                print(f"  {path} {kind}: skipped, the sensor uses {taken!r}", file=sys.stderr)
                continue
            for rate in RATES:
                before = lab.rx_counters(Host.SENSOR, capture)[0]
                seconds = lab.send_feed(
                    Host.GATEWAY, kind, source=source, count=count, rate=float(rate)
                )
                time.sleep(1.0)  # the last packets through a slow path
                delivered = lab.rx_counters(Host.SENSOR, capture)[0] - before
                rows.append(Row(path, kind, rate, count, delivered, seconds))
                print(f"  {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def report(rows: list[Row], count: int) -> Report:
    table = [
        [
            row.path,
            row.kind,
            f"{row.offered}" if row.offered else "max",
            f"{row.sent}",
            f"{row.delivered}",
            f"{100 * row.loss:.2f} %",
            f"{row.pps / 1000:.0f}k",
        ]
        for row in rows
    ]
    summary = []
    for path in ("kernel", "bpf", "python"):
        mine = [row for row in rows if row.path == path]
        if not mine:
            continue
        fastest = max(row.pps for row in mine)
        lossless = all(row.delivered >= row.sent for row in mine)
        target = f">= {TARGET_PPS // 1000}k pps, 0 loss" if path == "bpf" else "0 loss"
        met = lossless and (fastest >= TARGET_PPS if path == "bpf" else True)
        summary.append(
            Summary(
                f"decap {path}",
                f"max {fastest / 1000:.0f}k pps, loss {'0' if lossless else '> 0'}",
                target,
                met,
            )
        )
    notes = [
        textwrap.fill(
            f"{count} packets per cell; the lab streams cycle 60- to 8000-byte frames. The "
            "sender is one Python process writing a raw socket: 'max' is its own limit, and "
            "the sender, the gateway's forwarding and the decapsulating path share the "
            f"machine's {len(os.sched_getaffinity(0))} CPUs, so no path here can show more "
            "than the sender reaches. The BPF target (1 Mpps per core) needs a faster sender "
            "(pktgen) to be measured at all.",
            98,
            subsequent_indent="  ",
        )
    ]
    return Report(
        name="decap",
        title="Decapsulation paths: delivered packets per second and loss on the capture interface",
        columns=["path", "feed", "offered pps", "sent", "delivered", "loss", "delivered pps"],
        rows=table,
        summary=summary,
        notes=notes,
    )


def run(quick: bool) -> Report:
    reason = unavailable_reason()
    if reason is not None:
        return Report(
            name="decap",
            title="Decapsulation paths: not run",
            columns=["case", "measured"],
            rows=[["decap", f"not run: {reason}"]],
            summary=[Summary("not run", reason, "-", None)],
        )
    count = 2_000 if quick else 100_000
    return report(measure(count), count)
