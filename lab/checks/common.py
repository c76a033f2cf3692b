"""What every check shares: the report line, timeouts, and breaking a host on purpose.

:func:`broken` is the one way a check damages the lab (deletes a rule, takes the sensor's link
down, kills its decapsulator): the damage lasts for a ``with`` block, in which the check looks at
what the damage does, and whatever happens inside, the block ends by repairing the host and
running ``apply`` again, so the next check starts from a healthy lab. :func:`check_names` is the
commonest use: break one piece, expect the script's own ``check`` to fail naming it.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from components.network_plan import PortForward, Tier

from ..lab import Lab, LabError, Protocol
from ..topology import Host

SERVICE_PORT: Final = 8080
"""A plain service port for listeners that are not port forwards (egress and isolation tests)."""
SSH_PORT: Final = 22
DROP_TIMEOUT: Final = 0.5
"""Seconds to wait for an answer that must not come; a veth round trip takes microseconds."""
ANSWER_TIMEOUT: Final = 2.0
"""Seconds to wait for an answer that must come."""
SETTLE: Final = 0.3
"""Seconds for the last copies to cross the lab before a recording stops."""


class Status(StrEnum):
    """Outcome of one check line."""

    PASS = "PASS"
    """The behaviour was observed."""
    FAIL = "FAIL"
    """It was not; ``detail`` says what was seen instead."""
    SKIP = "SKIP"
    """The stack gives nothing to test (e.g. no port forwards)."""


@dataclass(frozen=True)
class CheckResult:
    """One line of the lab report."""

    check: str
    """Name of the check function that produced it."""
    subject: str
    """What was tried, e.g. ``app -> internet``."""
    status: Status
    detail: str
    """The evidence: addresses seen, messages printed, what differed."""

    @property
    def passed(self) -> bool:
        """True unless the check failed (a skip is not a failure)."""
        return self.status is not Status.FAIL

    def line(self) -> str:
        return f"{self.status.value:<5} {self.subject}: {self.detail}"


Check = Callable[[Lab], list[CheckResult]]
"""A check: runs against a lab, returns its report lines."""


def check_result(check: str, subject: str, ok: bool, detail: str) -> CheckResult:
    """A PASS line if ``ok``, else a FAIL line."""
    return CheckResult(check, subject, Status.PASS if ok else Status.FAIL, detail)


def protocol_of(forward: PortForward) -> Protocol:
    return "udp" if forward.protocol.value == "udp" else "tcp"


def failure_message(text: str) -> str:
    """The line of a script's output that says what failed (its last ``FAILED`` line)."""
    lines = [line for line in text.splitlines() if line.strip()]
    failed = [line for line in lines if "FAILED" in line]
    return (failed or lines or ["(no message)"])[-1].strip()


def feed_paths(lab: Lab) -> dict[str, str]:
    """How the sensor decapsulates each feed now, from ``cloudtap-sensor check``:
    ``kernel <device>`` where this kernel has the driver, ``bpf <underlay>`` where the tc
    program serves it, else ``cloudtap-decap``."""
    checked = lab.sensor("check")
    paths = {}
    for feed, path in re.findall(
        r"(vxlan|geneve|gre|erspan): (kernel \S+|bpf \S+|cloudtap-decap)", checked.stderr
    ):
        paths[feed] = path.rstrip(",;")
    return paths


KERNEL_PATH: Final = "kernel "
"""How :func:`feed_paths` starts a path through a kernel device, before the device's name."""


def kernel_device(path: str) -> str | None:
    """The device of a ``kernel <device>`` path; ``None`` for cloudtap-decap."""
    return path.removeprefix(KERNEL_PATH) if path.startswith(KERNEL_PATH) else None


def decap_pid(lab: Lab) -> str:
    """The sensor's cloudtap-decap process, from its ready file."""
    ready = (lab.sensor_run_dir / "decap.ready").read_text(encoding="utf-8")
    found = re.search(r"^PID=(\d+)$", ready, re.MULTILINE)
    if found is None:
        raise LabError(f"cloudtap-decap's ready file names no process: {ready!r}")
    return found[1]


@contextlib.contextmanager
def real_wire(lab: Lab) -> Iterator[None]:
    """For the block, the forwarding hosts' offloads off (app, internet, the gateway's two
    interfaces between them): every packet on their wire is a real packet with final checksums,
    as a NIC would send it, so a copy can be compared with it byte for byte. A veth otherwise
    hands on super-packets whose checksums nobody finishes, and records them so."""
    interfaces = [
        (Host.APP, lab.topology.link_of(Host.APP).host_interface),
        (Host.INTERNET, lab.topology.link_of(Host.INTERNET).host_interface),
        (Host.GATEWAY, lab.topology.link(Tier.PRIVATE).gateway_interface),
        (Host.GATEWAY, lab.topology.link(Tier.PUBLIC).gateway_interface),
    ]
    try:
        for host, interface in interfaces:
            lab.offloads(host, interface, on=False)
        yield
    finally:
        for host, interface in interfaces:
            lab.offloads(host, interface, on=True)


# -- breaking a host on purpose ----------------------------------------------------------------

Command = Sequence[str]


@dataclass(frozen=True)
class Damage:
    """One way to break a lab host, and what the host's own ``check`` must then say."""

    what: str
    """What is broken, as the report line names it."""
    host: Host
    command: Command | Callable[[], Command]
    """Run in ``host`` to break it (empty: nothing is broken, a baseline); a callable builds the
    command only when it runs, for what exists only then (a rule's handle in the current table,
    the decapsulator's pid)."""
    expected: str = ""
    """Text the script's ``check`` message must contain (see :func:`check_names`)."""
    repairs: tuple[Command, ...] = ()
    """Run in ``host`` before ``apply``, for what ``apply`` does not own: the host's link and
    address are the cloud's, not the script's."""

    def argv(self) -> list[str]:
        return list(self.command() if callable(self.command) else self.command)


Restore = Callable[[Lab], None]
"""How a host is brought back after a damage: ``apply`` again."""


def reapply_gateway(lab: Lab) -> None:
    """``cloudtap-gateway apply``."""
    lab.gateway("apply", check=True)


def reapply_sensor(lab: Lab) -> None:
    """``cloudtap-sensor apply``, then ``cloudtap-gateway apply`` (the gateway's mirror sends to
    the sensor, so it is re-applied against the repaired sensor too)."""
    lab.sensor("apply", check=True)
    lab.gateway("apply", check=True)


@contextlib.contextmanager
def broken(lab: Lab, damage: Damage, restore: Restore) -> Iterator[None]:
    """``damage`` done for the block's length, where the check looks at its effect; then, however
    the block ends, the damage's repairs and ``restore``."""
    try:
        argv = damage.argv()
        if argv:
            lab.run(damage.host, *argv)
        yield
    finally:
        for repair in damage.repairs:
            lab.run(damage.host, *repair)
        restore(lab)


def removing(lab: Lab, feed: str) -> Callable[[], Command]:
    """The command taking away what decapsulates ``feed`` on the sensor when it runs: its
    kernel device, or cloudtap-decap where no kernel device serves it."""

    def command() -> Command:
        path = feed_paths(lab).get(feed)
        if path is None:
            raise LabError(f"the sensor's check names no decapsulation path for {feed}")
        device = kernel_device(path)
        return ["ip", "link", "del", "dev", device] if device else ["kill", "-9", decap_pid(lab)]

    return command


def check_names(
    lab: Lab,
    damage: Damage,
    script: Callable[[], subprocess.CompletedProcess[str]],
    restore: Restore,
    *,
    check: str,
    subject: str,
    settle: float = 0.0,
) -> CheckResult:
    """Break ``damage``, run ``script`` (the host's ``check``), restore: a line for ``check``
    about ``subject`` that passes when the script fails with a message containing
    ``damage.expected``. ``settle``: seconds the damage may take to show (a killed process
    takes a moment to go)."""
    with broken(lab, damage, restore):
        if settle:
            time.sleep(settle)
        checked = script()
    message = failure_message(checked.stderr)
    ok = checked.returncode != 0 and damage.expected in message
    return check_result(check, subject, ok, f"exit {checked.returncode}: {message}")
