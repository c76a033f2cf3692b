"""Network-namespace lab: the gateway's rendered boot files, run and checked on this machine.

``with Lab.create(plan) as lab:`` builds the hosts of :mod:`~lab.topology` (internet,
gateway, app, sensor, management) as network namespaces, runs the rendered ``cloudtap-gateway``
script in the gateway, and removes everything afterwards. :mod:`~lab.checks` holds the
behaviours it proves; ``python -m lab`` prints them as a report. Needs root, iproute2,
nftables, tcpdump and ping: :func:`unavailable_reason` says why it cannot run, or ``None``.

Importing this package does nothing but import: no namespaces, no processes.
"""

from __future__ import annotations

from .checks import CHECKS, CheckResult, Status, run_checks
from .lab import (
    Background,
    Lab,
    LabCommandError,
    LabError,
    Listener,
    ProbeResult,
    unavailable_reason,
)
from .topology import Host, Link, Topology, plan_topology

__all__ = [
    "CHECKS",
    "Background",
    "CheckResult",
    "Host",
    "Lab",
    "LabCommandError",
    "LabError",
    "Link",
    "Listener",
    "ProbeResult",
    "Status",
    "Topology",
    "plan_topology",
    "run_checks",
    "unavailable_reason",
]
