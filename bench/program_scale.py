"""Program scale: what ``MirrorSession`` costs over the same raw pulumi-aws resources.

For N mirrored interfaces (explicit ids, so no AWS lookup) the program is run under the strict
mocks twice: once with the component, once registering the same target, filter, rules and N
sessions directly, with the same inputs. The two are measured side by side in one process,
interleaved (alternating which goes first), repeated, and compared by medians.

Targets: component / raw <= 1.2 at every size, and linear growth: the per-interface time at the
largest size within 1.5x of the middle size's, measured with the garbage collector paused (see
below and :func:`linearity`); the growth with it running is reported next to the raw resources'.

The target is a Gateway Load Balancer endpoint: an interface target takes at most 100 sources,
and a Network Load Balancer given by ARN would be looked up with boto3.

Observed while building it (2026-11-21): per-interface time grows from 100 to 1000 interfaces
for the raw resources as much as for the component. Profiled call counts per interface are flat;
with Python's cyclic garbage collector off the growth disappears, so it is the collector scanning
a larger heap, not work the component or the SDK repeats. The component's own overhead was the
one-entry-per-session map it registered as outputs (now a count) and per-source planning
(instance-type verdicts are cached).
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi_aws as aws

from components.aws.discovery import AwsClients
from components.aws.mirror_session import NETWORK_SERVICES, MirrorSession
from components.mirror_plan import FilterScope, plan_filter_rules
from tests.mocks import StrictMocks, run_program

from . import Report, Summary

SIZES = (10, 100, 1000)
# Every size gets at least MIN_REPEATS runs of each program, and small sizes more, up to about
# BUDGET_S seconds per program: a 20 ms run jitters by more than the 20% being measured.
MIN_REPEATS = 5
MAX_REPEATS = 60
BUDGET_S = 1.5
QUICK_SIZES = (2, 4)
TARGET_RATIO = 1.2
LINEARITY = 1.5
GC_PAUSED_RUNS = 3
ENDPOINT = "vpce-0123456789abcdef0"
NAME = "bench"


class _NoLookups(AwsClients):
    def ec2_client(self) -> Any:
        raise AssertionError("the bench gives interface ids: no lookup expected")

    def elbv2_client(self) -> Any:
        raise AssertionError("the bench uses no load balancer ARN")


def interface_ids(count: int) -> list[str]:
    return [f"eni-{index:017x}" for index in range(1, count + 1)]


def component_program(count: int) -> Callable[[], object]:
    sources = [
        {"name": f"s{index}", "instance_type": "m5.large", "network_interface_ids": [eni]}
        for index, eni in enumerate(interface_ids(count))
    ]

    def program() -> object:
        return MirrorSession(
            NAME,
            {"target": {"gateway_load_balancer_endpoint_id": ENDPOINT}, "sources": sources},  # type: ignore[typeddict-item]
            clients=_NoLookups(),
        )

    return program


def raw_program(count: int) -> Callable[[], object]:
    """The resources MirrorSession registers, with the same inputs, without the component."""
    rules = plan_filter_rules(FilterScope.ALL, network_cidr=None)
    enis = interface_ids(count)

    def program() -> object:
        target = aws.ec2.TrafficMirrorTarget(
            f"{NAME}-target",
            description=f"cloudtap {NAME}: appliances behind a Gateway Load Balancer",
            gateway_load_balancer_endpoint_id=ENDPOINT,
            tags={"Name": f"{NAME}-target"},
        )
        mirror_filter = aws.ec2.TrafficMirrorFilter(
            f"{NAME}-filter",
            description=f"cloudtap {NAME}: everything but the mirror feeds",
            network_services=NETWORK_SERVICES,
            tags={"Name": f"{NAME}-filter"},
        )
        for rule in rules:
            ingress = rule.direction.value == "ingress"
            local, remote = rule.local_port, rule.remote_port
            source_port, destination_port = (remote, local) if ingress else (local, remote)
            aws.ec2.TrafficMirrorFilterRule(
                f"{NAME}-filter-{rule.direction.value}-{rule.key}",
                traffic_mirror_filter_id=mirror_filter.id,
                description=rule.description,
                rule_number=rule.order,
                rule_action=rule.action.value,
                traffic_direction=rule.direction.value,
                protocol=rule.protocol,
                source_cidr_block=str(rule.remote) if ingress else "0.0.0.0/0",
                destination_cidr_block="0.0.0.0/0" if ingress else str(rule.remote),
                source_port_range=(
                    None
                    if source_port is None
                    else {"from_port": source_port, "to_port": source_port}
                ),
                destination_port_range=(
                    None
                    if destination_port is None
                    else {"from_port": destination_port, "to_port": destination_port}
                ),
            )
        for index, eni in enumerate(enis):
            child = f"{NAME}-s{index}-1"
            aws.ec2.TrafficMirrorSession(
                child,
                description=f"cloudtap {NAME}: s{index} #1",
                network_interface_id=eni,
                traffic_mirror_filter_id=mirror_filter.id,
                traffic_mirror_target_id=target.id,
                session_number=1,
                tags={"Name": child},
            )
        return target

    return program


def _time(
    program: Callable[[], object], expected_sessions: int, *, gc_paused: bool = False
) -> float:
    mocks = StrictMocks()
    gc.collect()
    if gc_paused:
        gc.disable()
    try:
        start = time.perf_counter()
        run_program(program, mocks)
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    sessions = [r for r in mocks.registrations if r.type.endswith("TrafficMirrorSession")]
    if len(sessions) != expected_sessions:
        raise AssertionError(f"expected {expected_sessions} sessions, got {len(sessions)}")
    return elapsed


@dataclass(frozen=True)
class Measurement:
    interfaces: int
    component: float
    """Median seconds for the program with MirrorSession."""
    raw: float
    """Median seconds for the same resources registered directly."""
    repeats: int

    @property
    def ratio(self) -> float:
        return self.component / self.raw

    @property
    def per_interface_ms(self) -> float:
        return self.component / self.interfaces * 1000

    @property
    def raw_per_interface_ms(self) -> float:
        return self.raw / self.interfaces * 1000


def repeats_for(seconds: float, minimum: int, maximum: int) -> int:
    return max(minimum, min(maximum, math.ceil(BUDGET_S / max(seconds, 1e-6))))


def measure(
    sizes: Sequence[int] = SIZES,
    min_repeats: int = MIN_REPEATS,
    max_repeats: int = MAX_REPEATS,
) -> list[Measurement]:
    """Per size: a calibration run of both programs (which also warms up that size), then
    interleaved pairs, alternating which program goes first; medians of each."""
    # Warm-up: imports, the provider's schema, the mocks' first-call costs.
    _time(component_program(2), 2)
    _time(raw_program(2), 2)
    results = []
    for size in sizes:
        programs = {"component": component_program(size), "raw": raw_program(size)}
        calibration = max(_time(program, size) for program in programs.values())
        times: dict[str, list[float]] = {"component": [], "raw": []}
        for repeat in range(repeats_for(calibration, min_repeats, max_repeats)):
            order = list(programs) if repeat % 2 == 0 else list(reversed(programs))
            for label in order:
                times[label].append(_time(programs[label], size))
        results.append(
            Measurement(
                size,
                statistics.median(times["component"]),
                statistics.median(times["raw"]),
                len(times["raw"]),
            )
        )
    return results


def linearity(middle: int, largest: int, runs: int) -> float:
    """Per-interface time at ``largest`` over that at ``middle``, with Python's cyclic garbage
    collector paused during each run: its full collections scan the whole heap, so with it on
    *any* program that keeps N objects alive grows faster than N, the raw resources too."""
    per_interface = []
    for size in (middle, largest):
        program = component_program(size)
        runs_s = [_time(program, size, gc_paused=True) for _ in range(runs)]
        per_interface.append(statistics.median(runs_s) / size)
    return per_interface[1] / per_interface[0]


def run(quick: bool = False) -> Report:
    results = measure(QUICK_SIZES, 1, 1) if quick else measure(SIZES, MIN_REPEATS, MAX_REPEATS)
    rows = [
        [
            str(m.interfaces),
            f"{m.component:.3f}",
            f"{m.raw:.3f}",
            f"{m.ratio:.2f}",
            f"{m.per_interface_ms:.2f}",
            str(m.repeats),
        ]
        for m in results
    ]
    summary = [
        Summary(
            f"{m.interfaces} ENIs",
            f"ratio {m.ratio:.2f} ({m.component:.2f} s vs {m.raw:.2f} s raw)",
            f"<= {TARGET_RATIO}",
            m.ratio <= TARGET_RATIO,
        )
        for m in results
    ]
    notes = [
        "medians of interleaved runs (the runs column), strict mocks, explicit ENI ids, a "
        "Gateway Load Balancer endpoint target"
    ]
    if len(results) >= 2:
        middle, largest = results[-2], results[-1]
        growth = largest.per_interface_ms / middle.per_interface_ms
        raw_growth = largest.raw_per_interface_ms / middle.raw_per_interface_ms
        paused = linearity(middle.interfaces, largest.interfaces, 1 if quick else GC_PAUSED_RUNS)
        summary.append(
            Summary(
                f"{middle.interfaces}->{largest.interfaces} ENIs, GC paused",
                f"per-ENI time x{paused:.2f}",
                f"<= x{LINEARITY} (linear)",
                paused <= LINEARITY,
            )
        )
        notes.append(
            f"with the garbage collector running, per-ENI time grows x{growth:.2f} from "
            f"{middle.interfaces} to {largest.interfaces} ENIs ({middle.per_interface_ms:.2f} -> "
            f"{largest.per_interface_ms:.2f} ms), and x{raw_growth:.2f} for the same resources "
            f"without the component; paused, the component's grows x{paused:.2f}"
        )
    return Report(
        name="program-scale",
        title="Program scale: MirrorSession vs the same raw pulumi-aws resources",
        columns=["ENIs", "component s", "raw s", "ratio", "per-ENI ms", "runs"],
        rows=rows,
        summary=summary,
        notes=notes,
    )
