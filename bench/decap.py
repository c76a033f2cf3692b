"""Decapsulation: each of the sensor's paths, packets per second, loss and CPU cost, side by side.

Runs in the namespace lab (:mod:`lab`) with the aws-dev stack's rendered sensor. For each path
(``CLOUDTAP_SENSOR_PATHS``: the kernel's VXLAN device, the tc BPF program, cloudtap-decap in
Python) and feed (the lab's AWS VXLAN stream and its GWLB stream, GENEVE around VXLAN), the
gateway host sends a fixed number of frames at each offered rate and as fast as it can ("max").

The sender is ``sender.c`` (beside this module), compiled with gcc into a temporary directory
at run time: one process replaying the lab's own prebuilt frames (:func:`lab.feeds.stream`, each
behind an Ethernet header to the sensor) through an AF_PACKET socket with PACKET_QDISC_BYPASS, in
batches of ``sendmmsg``. It is a harness, not part of what cloudtap ships.

Delivered = frames the capture interface received (its rx counter), loss = 1 - delivered / sent.
Receiving CPU = what the sensor spent, in CPU-seconds, from a ``perf record -a -g`` of every CPU
(cpu-clock at :data:`PERF_FREQUENCY` Hz) while the cell runs: the samples of the sender and of the
ksoftirqd threads with ``net_rx_action`` on their stack (a veth transmit hands each frame to its
peer's receive softirq, on the same CPU, and the kernel and BPF paths do all their work there),
plus every sample of cloudtap-decap for the Python path. Its packets per CPU-second are the "per
core" rate: ``delivered / receiving CPU``. (``/proc/stat``'s softirq time was tried first: this
kernel accounts it by sampling at its 250 Hz tick, and a paced sender's sleeps beat with the tick:
1 M frames in "0.05 s".)

``python -m bench decap`` (defaults) or ``python -m bench.decap [--count N] [--rates ...]``;
needs root, gcc and perf (the report says why not otherwise).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from lab import Host, Lab, unavailable_reason
from lab.checks.common import feed_paths
from lab.feeds import stream
from lab.stack import default_stack_path, load_plan

from . import Report, Summary

TARGET_PPS: Final = 1_000_000
"""Per core, for the BPF path (issue 11), with 0 loss at the highest rate the sender reaches."""
RATES: Final = (100_000, 250_000, 500_000, 1_000_000, 0)
"""Offered packets per second; 0: as fast as the sender can."""
PARALLEL: Final = 2
"""Senders of the last cell of each case, flat out, one per CPU of this machine: one sender's
CPU also runs the receive softirq of what it sends, so one alone cannot offer more than one
CPU sends and receives."""
COUNT: Final = 500_000
"""Frames per cell: at 1 Mpps half a second, about 1000 samples of the receiving CPU."""
QUICK_COUNT: Final = 20_000
DISTINCT_FRAMES: Final = 700
"""Frames the sender replays in turn: 100 cycles of the lab streams' seven sizes."""
DRAIN_SECONDS: Final = 1.0
"""After each cell, for the last frames through a slow path."""
PERF_FREQUENCY: Final = 1999
"""Samples per second and CPU (odd, so as not to beat with the tick or the sender's pacing)."""
PERF_START_TIMEOUT: Final = 60.0
"""For perf record to start sampling (it first lists every process on the machine)."""
RECEIVE_ENTRY: Final = "net_rx_action"
SENDER_SOURCE: Final = Path(__file__).with_name("sender.c")
ETH_P_IP: Final = b"\x08\x00"
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
    senders: int
    sent: int
    delivered: int
    seconds: float
    """The sender's, from its first frame to its last."""
    receive_cpu: float
    """CPU-seconds the receiving side spent (see the module's docstring)."""

    @property
    def offered_label(self) -> str:
        if self.offered:
            return str(self.offered)
        return f"max x{self.senders}" if self.senders > 1 else "max"

    @property
    def loss(self) -> float:
        return 1.0 - self.delivered / self.sent if self.sent else 0.0

    @property
    def sent_pps(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    @property
    def pps(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0

    @property
    def per_cpu_second(self) -> float | None:
        """``None`` when perf recorded no sample of the receiving side (not a measurement)."""
        return self.delivered / self.receive_cpu if self.receive_cpu else None


@dataclass(frozen=True)
class Measurement:
    rows: list[Row]
    count: int
    load: tuple[str, str]
    seconds: float


# -- the sender ----------------------------------------------------------------------------------


def unavailable() -> str | None:
    """Why the bench cannot run here, in one sentence; ``None`` when it can."""
    reason = unavailable_reason()
    if reason is not None:
        return reason
    if shutil.which("gcc") is None:
        return "the bench compiles its sender with gcc (apt-get install gcc)"
    if shutil.which("perf") is None:
        return "the bench measures the receiving CPU with perf (apt-get install linux-perf)"
    return None


def compile_sender(directory: Path) -> Path:
    binary = directory / "sender"
    argv = ["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(binary), str(SENDER_SOURCE)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"gcc could not build {SENDER_SOURCE.name}: {result.stderr.strip()}")
    return binary


def mac(lab: Lab, host: Host, device: str) -> bytes:
    listing = json.loads(lab.run(host, "ip", "-j", "link", "show", "dev", device).stdout)
    return bytes.fromhex(str(listing[0]["address"]).replace(":", ""))


def write_frames(lab: Lab, kind: str, path: Path) -> None:
    """The lab's ``kind`` stream as Ethernet frames from the gateway's monitor interface to the
    sensor's, in the sender's format (4-byte little-endian length, then the frame)."""
    link = lab.topology.link_of(Host.SENSOR)
    header = mac(lab, Host.SENSOR, link.host_interface)
    header += mac(lab, Host.GATEWAY, link.gateway_interface) + ETH_P_IP
    packets = stream(
        kind,
        DISTINCT_FRAMES,
        source=str(lab.address(Host.APP)),
        destination=str(lab.address(Host.SENSOR)),
    )
    with path.open("wb") as file:
        for packet, _expected in packets:
            frame = header + packet
            file.write(len(frame).to_bytes(4, "little") + frame)


# -- counters ------------------------------------------------------------------------------------


def softirq_threads() -> list[int]:
    return [
        int(path.parent.name)
        for path in Path("/proc").glob("[0-9]*/comm")
        if path.read_text(encoding="utf-8").startswith("ksoftirqd/")
    ]


def perf_report(data: Path, pids: Sequence[int], *arguments: str) -> list[str]:
    argv = ["perf", "report", "-i", str(data), "--stdio", "-n", "-g", "none"]
    argv += ["--percent-limit", "0", "--pid", ",".join(str(pid) for pid in pids), *arguments]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=True)
    return result.stdout.splitlines()


SYMBOL_LINE: Final = re.compile(r"^\s*([\d.]+)%\s+([\d.]+)%\s+(\d+)\s+\[[k.]\]\s+(\S+)")
"""``perf report --children -n --sort sym``: children %, self %, self samples, symbol."""
PID_LINE: Final = re.compile(r"^\s*[\d.]+%\s+(\d+)\s+(\d+):")
"""``perf report -n --sort pid``: %, samples, pid:command."""


def receiving_samples(data: Path, senders: Sequence[int], decap: int | None) -> int:
    """Samples of the receiving side in one cell's recording."""
    lines = perf_report(data, senders, "--children", "--sort", "sym", "--percentage", "relative")
    found = [match for line in lines if (match := SYMBOL_LINE.match(line))]
    total = sum(int(match[3]) for match in found)
    # Percentages of the shown samples (relative): the receive softirq's share of them.
    share = sum(float(match[1]) for match in found if match[4] == RECEIVE_ENTRY)
    receiving = round(share * total / 100)
    if decap is not None:
        lines = perf_report(data, [decap], "--no-children", "--sort", "pid")
        receiving += sum(int(match[1]) for line in lines if (match := PID_LINE.match(line)))
    return receiving


# -- measuring -----------------------------------------------------------------------------------


@contextlib.contextmanager
def recording(data: Path) -> Iterator[None]:
    """``perf record -a -g`` into ``data`` for the block, sampling from its first line on: perf
    starts with its events off and turns them on when told, then acknowledges, so no cell can
    begin before it samples (a fixed wait did not always suffice on a busy machine)."""
    control, ack = data.with_suffix(".control"), data.with_suffix(".ack")
    for fifo in (control, ack):
        os.mkfifo(fifo)
    perf = ["perf", "record", "-a", "-g", "-F", str(PERF_FREQUENCY), "-o", str(data), "-q"]
    perf += ["--delay", "-1", "--control", f"fifo:{control},{ack}"]
    recorder = subprocess.Popen(perf, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    descriptors: list[int] = []
    try:
        deadline = time.monotonic() + PERF_START_TIMEOUT
        # Opened without blocking, so that a perf that died cannot hang the bench.
        acknowledged = os.open(ack, os.O_RDONLY | os.O_NONBLOCK)
        descriptors.append(acknowledged)
        while True:
            try:
                command = os.open(control, os.O_WRONLY | os.O_NONBLOCK)
                descriptors.append(command)
                break
            except OSError as error:  # ENXIO: perf has not opened its end yet
                if recorder.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"perf record did not start: {error}") from None
                time.sleep(0.05)
        os.write(command, b"enable\n")
        answer = b""
        while b"ack" not in answer:
            remaining = deadline - time.monotonic()
            if recorder.poll() is not None or remaining <= 0:
                raise RuntimeError("perf record did not acknowledge 'enable'")
            if select.select([acknowledged], [], [], remaining)[0]:
                answer += os.read(acknowledged, 64)
        yield
    finally:
        recorder.send_signal(signal.SIGINT)
        _out, errors = recorder.communicate(timeout=60)
        for descriptor in descriptors:
            os.close(descriptor)
        for fifo in (control, ack):
            fifo.unlink(missing_ok=True)
    # perf record ends itself with the signal it was stopped by, once it has written the file.
    if recorder.returncode not in (0, -signal.SIGINT):
        raise RuntimeError(f"perf record failed: {errors.decode(errors='replace').strip()}")


def measure_cell(
    lab: Lab,
    sender: Path,
    frames: Path,
    case: tuple[str, str],
    *,
    count: int,
    rate: int,
    senders: int = 1,
) -> Row:
    """One cell: ``count`` frames of ``frames`` at ``rate`` in all, from ``senders`` processes
    at once; ``case`` = (path, feed kind)."""
    path, kind = case
    capture = lab.sensor_plan.capture_interface
    decap = lab.decap_pid() if path == "python" else None
    data = frames.with_suffix(".perf")
    interface = lab.topology.link_of(Host.SENSOR).gateway_interface
    delivered_before = lab.rx_counters(Host.SENSOR, capture)[0]
    with recording(data):
        argv = [str(sender), interface, str(frames), str(count // senders), str(rate / senders)]
        processes = [lab.start(Host.GATEWAY, *argv) for _ in range(senders)]
        for process in processes:
            status = process.wait((count / rate if rate else 0) + 60)
            if status != 0:
                raise RuntimeError(f"the sender failed ({status}): {' | '.join(process.lines)}")
        time.sleep(DRAIN_SECONDS)
    answers = [json.loads(process.lines[-1]) for process in processes]
    delivered = lab.rx_counters(Host.SENSOR, capture)[0] - delivered_before
    pids = [process.process.pid for process in processes]
    receiving = receiving_samples(data, [*pids, *softirq_threads()], decap)
    data.unlink()
    return Row(
        path=path,
        kind=kind,
        offered=rate,
        senders=senders,
        sent=sum(int(answer["sent"]) for answer in answers),
        delivered=delivered,
        # From the first sender's first frame to the last one's last (one clock for all).
        seconds=max(float(a["ended"]) for a in answers) - min(float(a["started"]) for a in answers),
        receive_cpu=receiving / PERF_FREQUENCY,
    )


def load_average() -> str:
    return Path("/proc/loadavg").read_text(encoding="utf-8").split()[0]


def measure(count: int, rates: Sequence[int] = RATES) -> Measurement:
    started, load_before = time.monotonic(), load_average()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="cloudtap-decap-bench-") as temporary:
        directory = Path(temporary)
        sender = compile_sender(directory)
        with Lab.create(load_plan(default_stack_path())) as lab:
            for path, paths, kind in CASES:
                lab.sensor_paths = paths
                lab.sensor("apply", check=True)
                feed = "geneve" if "geneve" in kind else "vxlan"
                taken = feed_paths(lab).get(feed, "")
                expected = {"kernel": "kernel ", "bpf": "bpf ", "python": "cloudtap"}[path]
                if not taken.startswith(expected):
                    print(f"  {path} {kind}: skipped, the sensor uses {taken!r}", file=sys.stderr)
                    continue
                frames = directory / f"{kind}.frames"
                write_frames(lab, kind, frames)
                cells = [(rate, 1) for rate in rates] + [(0, PARALLEL)] * (PARALLEL > 1)
                for rate, senders in cells:
                    row = measure_cell(
                        lab, sender, frames, (path, kind), count=count, rate=rate, senders=senders
                    )
                    rows.append(row)
                    print(f"  {row}", file=sys.stderr, flush=True)
    return Measurement(rows, count, (load_before, load_average()), time.monotonic() - started)


# -- reporting -----------------------------------------------------------------------------------


COLUMNS: Final = (
    "path",
    "feed",
    "offered pps",
    "sent",
    "delivered",
    "loss",
    "sent pps",
    "delivered pps",
    "rx CPU-s",
    "pps/CPU-s",
)


def _k(value: float) -> str:
    return f"{value / 1000:.0f}k"


def _per_cpu(row: Row) -> str:
    per_cpu = row.per_cpu_second
    return "-" if per_cpu is None else _k(per_cpu)


def summarize(rows: Sequence[Row]) -> list[Summary]:
    summary = []
    for path, _paths, kind in CASES:
        mine = [row for row in rows if (row.path, row.kind) == (path, kind)]
        if not mine:
            continue
        fastest = max(mine, key=lambda row: row.sent_pps)
        lossless = [row.sent_pps for row in mine if row.delivered >= row.sent]
        measured = (
            f"sent {_k(fastest.sent_pps)} pps at most, loss {100 * fastest.loss:.2f} % there; "
            f"0 loss up to {_k(max(lossless, default=0))} pps sent; "
            f"{_per_cpu(fastest)} pps/CPU-s there"
        )
        if path == "bpf":
            target = f"0 loss at max, >= {_k(TARGET_PPS)} pps/CPU-s"
            per_cpu = fastest.per_cpu_second
            met: bool | None = fastest.loss <= 0 and per_cpu is not None and per_cpu >= TARGET_PPS
        else:
            target, met = "-", None
        summary.append(Summary(f"decap {path} {kind}", measured, target, met))
    return summary


def report(measurement: Measurement) -> Report:
    rows = measurement.rows
    table = [
        [
            row.path,
            row.kind,
            row.offered_label,
            f"{row.sent}",
            f"{row.delivered}",
            f"{100 * row.loss:.2f} %",
            _k(row.sent_pps),
            _k(row.pps),
            f"{row.receive_cpu:.2f}",
            _per_cpu(row),
        ]
        for row in rows
    ]
    notes = [
        f"{measurement.count} frames per cell, the lab streams' frames (60 to 8000 bytes inside "
        f"the tunnel, {DISTINCT_FRAMES} distinct, replayed in turn) sent from the gateway host "
        "by one C process (AF_PACKET, PACKET_QDISC_BYPASS, sendmmsg of 64). 'max' is what one "
        "CPU reaches sending *and* receiving: a veth transmit runs the receiving side's softirq "
        "on the same CPU before the next frame goes (except cloudtap-decap, a process of its "
        "own), so 'max' is bounded by the path's cost plus the sender's own, not by the "
        f"sender alone; 'max x{PARALLEL}': {PARALLEL} senders at once, one per CPU.",
        f"rx CPU-s = receiving CPU-seconds, from perf record -a -g -F {PERF_FREQUENCY} over the "
        f"cell: samples of the sender and ksoftirqd with {RECEIVE_ENTRY} on the stack, plus "
        "every sample of cloudtap-decap on the Python path; pps/CPU-s = delivered / rx CPU-s, "
        "the rate one core would sustain ('-': perf recorded no sample of the sender).",
        f"machine: {len(os.sched_getaffinity(0))} CPUs; wall time {measurement.seconds:.0f} s; "
        f"1-minute load average {measurement.load[0]} before, {measurement.load[1]} after.",
    ]
    return Report(
        name="decap",
        title="Decapsulation paths: delivered packets per second, loss and receiving CPU",
        columns=list(COLUMNS),
        rows=table,
        summary=summarize(rows),
        notes=[textwrap.fill(note, 98, subsequent_indent="  ") for note in notes],
    )


def unavailable_report(reason: str) -> Report:
    return Report(
        name="decap",
        title="Decapsulation paths: not run",
        columns=["case", "measured"],
        rows=[["decap", f"not run: {reason}"]],
        summary=[Summary("not run", reason, "-", None)],
    )


def run(quick: bool) -> Report:
    """``python -m bench``'s entry: the defaults, or :data:`QUICK_COUNT` frames per cell."""
    reason = unavailable()
    if reason is not None:
        return unavailable_report(reason)
    return report(measure(QUICK_COUNT if quick else COUNT))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.decap", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--count", type=int, default=COUNT, help="frames per cell")
    parser.add_argument(
        "--rates",
        type=int,
        nargs="+",
        default=list(RATES),
        help="offered packets per second (0: as fast as the sender can)",
    )
    args = parser.parse_args(argv)
    reason = unavailable()
    if reason is not None:
        print(f"bench.decap cannot run: {reason}.")
        return 2
    print(report(measure(args.count, args.rates)).detail())
    return 0


if __name__ == "__main__":
    sys.exit(main())
