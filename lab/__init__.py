"""Network-namespace lab: the gateway's and the sensor's rendered boot files, run and checked on
this machine.

A test harness beside the library, not part of it: it lives in the checkout (``lab/``, next to
``components/`` and ``stacks/``), runs as root, and is never installed with ``cloudtap``.

``with Lab.create(plan) as lab:`` builds the hosts of :mod:`~lab.topology` (internet, gateway,
app, sensor, management) as network namespaces, runs the rendered ``cloudtap-sensor`` and
``cloudtap-gateway`` scripts in them, and removes everything afterwards. :mod:`~lab.checks`
holds the behaviours it proves; ``python -m lab`` prints them as a report. Needs root, iproute2,
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
