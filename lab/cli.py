"""``python -m lab``: run the gateway's and the sensor's rendered boot files in
network namespaces, no cloud.

Exit status: 0 when every check passes, 1 when one fails (or the lab broke), 2 when the lab
cannot run here (not root, tools or namespaces missing) or the stack file is unusable, 130 on
Ctrl-C and 143 on SIGTERM (after removing the lab in both cases).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import yaml

from components.errors import CloudtapInputError
from components.network_plan import NetworkPlan

from .checks import CheckResult, Status, checks_for, run_checks
from .lab import Lab, LabError, unavailable_reason
from .one_armed import router_namespace
from .stack import default_stack_path, load_stack
from .topology import Host

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CANNOT_RUN = 2
EXIT_INTERRUPTED = 130
"""Ctrl-C, as a shell reports it (128 + SIGINT); SIGTERM exits 143 the same way."""


def describe_lab(lab: Lab) -> list[str]:
    """One line per host: namespace, addresses, default route."""
    topology = lab.topology
    lines = []
    if topology.one_armed:
        router = "; ".join(
            f"{link.gateway_interface} {', '.join(map(str, link.gateway_addresses))}"
            for link in (*topology.links, topology.link_of(Host.INTERNET))
        )
        lines.append(f"  {'router':<7} {router_namespace(lab):<14} {router} (the cloud's fabric)")
    for host in Host:
        if host is Host.GATEWAY and topology.one_armed:
            link = topology.link_of(host)
            where = (
                f"{link.host_interface} {', '.join(map(str, link.host_addresses))} (one-armed) "
                f"via {link.host_default_route}"
            )
        elif host is Host.GATEWAY:
            parts = [
                f"{link.gateway_interface} {', '.join(map(str, link.gateway_addresses))}"
                for link in topology.links
            ]
            where = "; ".join(parts) + f"; default via {topology.gateway_default_route}"
        elif host is Host.INTERNET:
            link = topology.link_of(host)
            where = (
                f"internet host {topology.internet_address}, public router "
                f"{', '.join(map(str, link.host_addresses))}"
            )
        else:
            link = topology.link_of(host)
            where = f"{', '.join(map(str, link.host_addresses))} via {link.host_default_route}"
        lines.append(f"  {host.value:<7} {lab.namespace(host):<14} {where}")
    return lines


def _emit(result: CheckResult, out: TextIO) -> CheckResult:
    print(result.line(), file=out, flush=True)
    return result


def run_lab(
    plan: NetworkPlan,
    stack: Path,
    out: TextIO,
    *,
    unmodelled: str | None = None,
    one_armed: bool = False,
) -> int:
    """Build the lab, apply the gateway, print one line per check; the exit status.

    ``unmodelled``: the sentence naming what of the stack the lab leaves out, printed after the
    lab's hosts. ``one_armed``: the Azure shape (:mod:`lab.one_armed`)."""
    started = time.monotonic()
    with Lab.create(plan, apply_gateway=False, apply_sensor=False, one_armed=one_armed) as lab:
        forwards = len(plan.port_forwards)
        mirror = lab.topology.plan.gateway_mirror
        with contextlib.suppress(ValueError):
            stack = stack.resolve().relative_to(Path.cwd())
        mirroring = (
            f", gateway mirror {mirror.mode.value} to {mirror.sensor_address}"
            f"{'' if plan.gateway_mirror else ' (on in the lab)'}"
            if mirror
            else ""
        )
        print(
            f"cloudtap lab: {stack} (network {plan.cidr_block}, {forwards} port forward(s)"
            f"{mirroring})",
            file=out,
        )
        print("\n".join(describe_lab(lab)), file=out, flush=True)
        if unmodelled is not None:
            print(f"cloudtap lab: {unmodelled}", file=out, flush=True)
        results = []
        for host, apply in (("sensor", lab.sensor), ("gateway", lab.gateway)):
            applied = apply("apply")
            message = (applied.stderr.strip().splitlines() or ["(no message)"])[-1]
            results.append(
                _emit(
                    CheckResult(
                        "apply",
                        f"{host} apply (rendered cloud-config)",
                        Status.PASS if applied.returncode == 0 else Status.FAIL,
                        f"exit {applied.returncode}: {message}",
                    ),
                    out,
                )
            )
        if all(result.passed for result in results):
            results += [_emit(result, out) for result in run_checks(lab, checks_for(lab))]
    failed = sum(result.status is Status.FAIL for result in results)
    passed = sum(result.status is Status.PASS for result in results)
    skipped = sum(result.status is Status.SKIP for result in results)
    print(
        f"{passed} passed, {failed} failed, {skipped} skipped in "
        f"{time.monotonic() - started:.1f}s; lab removed",
        file=out,
    )
    return EXIT_OK if failed == 0 else EXIT_FAILED


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout
    parser = argparse.ArgumentParser(
        prog="python -m lab",
        description="Run the cloudtap gateway's and sensor's rendered cloud-configs in network "
        "namespaces and check forwarding, masquerade, port forwards, tier isolation, the "
        "gateway mirror and the sensor's decapsulation with real traffic.",
    )
    parser.add_argument(
        "--stack",
        type=Path,
        default=None,
        help="Pulumi stack file whose cloudtap:network config to test: any stack file "
        "`pulumi preview` accepts; the cloud's own network fields (instance type, image, tags) "
        "are checked and named, not modelled (default: stacks/Pulumi.aws-dev.yaml)",
    )
    args = parser.parse_args(argv)
    stack: Path = args.stack if args.stack is not None else default_stack_path()
    try:
        loaded = load_stack(stack)
    except (OSError, yaml.YAMLError, CloudtapInputError) as error:
        print(f"cloudtap lab: cannot use {stack}: {error}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    reason = unavailable_reason()
    if reason is not None:
        print(f"cloudtap lab cannot run here: {reason}.", file=sys.stderr)
        return EXIT_CANNOT_RUN
    try:
        return run_lab(
            loaded.plan,
            stack,
            out,
            unmodelled=loaded.describe_unmodelled(),
            one_armed=loaded.one_armed,
        )
    except LabError as error:
        print(f"FAIL  lab: {error}", file=out)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("cloudtap lab: interrupted; the lab was removed", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SystemExit:
        print("cloudtap lab: terminated; the lab was removed", file=sys.stderr)
        raise
