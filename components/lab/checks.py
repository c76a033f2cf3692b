"""What the lab proves about the rendered gateway: one function per behaviour.

Each check takes a running :class:`~components.lab.lab.Lab`, sends real traffic, and returns
:class:`CheckResult` lines with the evidence in ``detail``. Negative results are always paired with
a positive one on the same path (a listener that is shown to be up, the same connection succeeding
once cloudtap's table is removed), so that "nothing arrived" cannot pass for the wrong reason.
Checks that disturb the gateway (flush, sysctl, table removal) re-run ``apply`` before returning,
so they can run in any order against one lab. ``python -m components.lab`` and ``tests/lab`` both
run these functions.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from ..network_plan import PortForward, Tier
from .lab import TABLE, Lab, LabError, Protocol
from .topology import Host

SERVICE_PORT: Final = 8080
"""A plain service port for listeners that are not port forwards (egress and isolation tests)."""
SSH_PORT: Final = 22
DROP_TIMEOUT: Final = 0.5
"""Seconds to wait for an answer that must not come; a veth round trip takes microseconds."""
ANSWER_TIMEOUT: Final = 2.0
"""Seconds to wait for an answer that must come."""


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


def _result(check: str, subject: str, ok: bool, detail: str) -> CheckResult:
    return CheckResult(check, subject, Status.PASS if ok else Status.FAIL, detail)


def _protocol(forward: PortForward) -> Protocol:
    return "udp" if forward.protocol.value == "udp" else "tcp"


_PACKET = re.compile(r" IP (?P<source>[\d.]+) > (?P<destination>[\d.]+): ")


def _packet_sources(lines: Sequence[str]) -> list[str]:
    return [match["source"] for line in lines if (match := _PACKET.search(line))]


def _failure_message(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    failed = [line for line in lines if "FAILED" in line]
    return (failed or lines or ["(no message)"])[-1].strip()


@contextlib.contextmanager
def _restored(lab: Lab) -> Iterator[None]:
    """Re-apply the gateway after a check that breaks it, whatever the check did."""
    try:
        yield
    finally:
        lab.gateway("apply", check=True)


def _egress_seen_as(lab: Lab, host: Host) -> tuple[bool, str]:
    """TCP from ``host`` to the internet host; (masqueraded?, evidence)."""
    internet = lab.address(Host.INTERNET)
    public = str(lab.address(Host.GATEWAY))
    with lab.listen(Host.INTERNET, SERVICE_PORT, address=str(internet)) as listener:
        probe = lab.connect(host, internet, SERVICE_PORT, timeout=ANSWER_TIMEOUT)
        peers = listener.peers(at_least=1 if probe.ok else 0)
    ok = probe.ok and probe.seen == public and peers == [public]
    return ok, f"TCP {internet}:{SERVICE_PORT} {probe.describe()}"


# -- (a) ---------------------------------------------------------------------------------------


def egress_is_masqueraded(lab: Lab) -> list[CheckResult]:
    """The app reaches the internet host, which sees the gateway's public address as source."""
    internet = lab.address(Host.INTERNET)
    public = str(lab.address(Host.GATEWAY))
    expression = ["icmp[icmptype] == icmp-echo", "and", "dst", "host", str(internet)]
    with lab.capture(Host.INTERNET, *expression) as capture:
        answered = lab.ping(Host.APP, internet, timeout=ANSWER_TIMEOUT)
        capture.wait(ANSWER_TIMEOUT)
        sources = _packet_sources(capture.lines)
    tcp_ok, tcp_detail = _egress_seen_as(lab, Host.APP)
    seen = ", ".join(sources) or "nothing"
    masqueraded = sources == [public]
    ok = answered and masqueraded and tcp_ok
    detail = (
        f"ping {internet} {'answered' if answered else 'unanswered'}, source seen by internet "
        f"host: {seen} ({'masqueraded' if masqueraded else f'expected {public}'}); {tcp_detail}"
    )
    return [_result("egress_is_masqueraded", "app -> internet", ok, detail)]


# -- (b) ---------------------------------------------------------------------------------------


def port_forwards_reach_the_app(lab: Lab) -> list[CheckResult]:
    """Each forward: internet -> gateway public:port reaches the app, which sees the real source."""
    name = "port_forwards_reach_the_app"
    forwards = lab.topology.plan.port_forwards
    if not forwards:
        return [CheckResult(name, "port forwards", Status.SKIP, "the stack publishes none")]
    internet = str(lab.address(Host.INTERNET))
    public = lab.address(Host.GATEWAY)
    results = []
    for forward in forwards:
        protocol = _protocol(forward)
        server = f"{forward.private_host}:{forward.private_port}"
        address = str(forward.private_host)
        with lab.listen(Host.APP, forward.private_port, protocol, address=address) as listener:
            probe = lab.connect(
                Host.INTERNET,
                public,
                forward.public_port,
                protocol=protocol,
                timeout=ANSWER_TIMEOUT,
            )
            peer = listener.wait_for_peer(ANSWER_TIMEOUT if probe.ok else 0.1)
        ok = probe.ok and peer == internet and probe.seen == internet
        if ok:
            detail = f"reached app {server}, which saw the internet host's own address {peer}"
        else:
            detail = f"{probe.describe()}; app {server} saw {peer or 'nothing'}"
        subject = f"internet -> {public}:{forward.public_port}/{protocol}"
        results.append(_result(name, subject, ok, detail))
    return results


# -- (c) ---------------------------------------------------------------------------------------


def ssh_is_not_forwarded(lab: Lab) -> list[CheckResult]:
    """internet -> gateway public:22 never reaches an SSH-port listener on the app."""
    app = lab.address(Host.APP)
    public = lab.address(Host.GATEWAY)
    with lab.listen(Host.APP, SSH_PORT) as listener:
        # The gateway itself reaches the listener: it is up, so silence below means something.
        direct = lab.connect(Host.GATEWAY, app, SSH_PORT, timeout=ANSWER_TIMEOUT)
        before = len(listener.peers(at_least=1 if direct.ok else 0))
        probe = lab.connect(Host.INTERNET, public, SSH_PORT, timeout=DROP_TIMEOUT)
        reached = listener.peers(settle=0.1)[before:]
    ok = direct.ok and not probe.ok and not reached
    detail = (
        f"connection to {public}:{SSH_PORT} {probe.describe()}; the app's listener on "
        f"{app}:{SSH_PORT} (up: the gateway reaches it directly, {direct.describe()}) saw "
        f"{', '.join(reached) or 'nothing from the internet'}"
    )
    return [_result("ssh_is_not_forwarded", f"internet -> {public}:{SSH_PORT}/tcp", ok, detail)]


# -- (d) ---------------------------------------------------------------------------------------


_ISOLATED_PAIRS: Final = (
    (Host.SENSOR, Host.APP),
    (Host.MANAGEMENT, Host.APP),
    (Host.APP, Host.SENSOR),
    (Host.APP, Host.MANAGEMENT),
)


def _attempt(lab: Lab, source: Host, target: Host, timeout: float) -> tuple[bool, list[str]]:
    """TCP from source to a listener on target: (answered?, addresses the listener saw)."""
    with lab.listen(target, SERVICE_PORT) as listener:
        probe = lab.connect(source, lab.address(target), SERVICE_PORT, timeout=timeout)
        if probe.ok:
            return True, listener.peers(at_least=1)
        return False, listener.peers(settle=0.1)


def isolated_tiers_cannot_reach_the_private_tier(lab: Lab) -> list[CheckResult]:
    """Monitor and management hosts and the app cannot reach each other through the gateway.

    Evidence that the drop is the gateway's: the sensor reaches the internet through the same
    gateway, the management host reaches the gateway itself, and every refused connection
    succeeds while cloudtap's table is removed (then ``apply`` restores it).
    """
    name = "isolated_tiers_cannot_reach_the_private_tier"
    blocked: dict[tuple[Host, Host], str] = {}
    for source, target in _ISOLATED_PAIRS:
        answered, peers = _attempt(lab, source, target, DROP_TIMEOUT)
        pinged = target is Host.APP and lab.ping(source, lab.address(target), DROP_TIMEOUT)
        if answered or peers or pinged:
            blocked[(source, target)] = f"NOT blocked: TCP answered={answered}, ping={pinged}"
        else:
            what = "TCP and ping" if target is Host.APP else "TCP"
            blocked[(source, target)] = f"{what} to {lab.address(target)} dropped"
    sensor_out, sensor_detail = _egress_seen_as(lab, Host.SENSOR)
    management_gateway = lab.topology.gateway_address(Tier.MANAGEMENT)
    management_up = lab.ping(Host.MANAGEMENT, management_gateway, ANSWER_TIMEOUT)
    management_out = lab.connect(
        Host.MANAGEMENT, lab.address(Host.INTERNET), SERVICE_PORT, timeout=DROP_TIMEOUT
    )
    table = lab.gateway_table()
    control: dict[tuple[Host, Host], bool] = {}
    with _restored(lab):
        lab.run(Host.GATEWAY, "nft", "delete", "table", "ip", TABLE)
        for pair in _ISOLATED_PAIRS:
            control[pair] = _attempt(lab, *pair, ANSWER_TIMEOUT)[0]
    restored = lab.gateway_table() == table

    results = []
    for (source, target), evidence in blocked.items():
        ok = evidence.endswith("dropped") and control[(source, target)] and restored
        context = {
            Host.SENSOR: f"sensor -> internet: {sensor_detail}",
            Host.MANAGEMENT: f"mgmt -> gateway {management_gateway}: "
            + ("ping answered" if management_up else "ping unanswered"),
        }[target if source is Host.APP else source]
        control_text = (
            "succeeds with table ip cloudtap removed"
            if control[(source, target)]
            else "fails even without table ip cloudtap (not the gateway's drop)"
        )
        detail = f"{evidence}; the same connection {control_text}; {context}"
        if Host.SENSOR in (source, target):
            ok = ok and sensor_out
        if Host.MANAGEMENT in (source, target):
            ok = ok and management_up
        if not restored:
            detail += "; apply did NOT restore an identical table"
        results.append(_result(name, f"{source.value} -> {target.value}", ok, detail))
    results.append(
        _result(
            name,
            "mgmt -> internet",
            management_up and not management_out.ok,
            f"TCP {lab.address(Host.INTERNET)}:{SERVICE_PORT} {management_out.describe()}: "
            "the management tier is out of band, never routed by the gateway",
        )
    )
    return results


# -- (e) ---------------------------------------------------------------------------------------


def apply_is_idempotent(lab: Lab) -> list[CheckResult]:
    """Running ``apply`` again leaves ``nft list table ip cloudtap`` byte-identical."""
    before = lab.gateway_table()
    runs = [lab.gateway("apply") for _ in range(2)]
    after = lab.gateway_table()
    failed = [run for run in runs if run.returncode != 0]
    ok = not failed and before == after
    if ok:
        detail = (
            f"table ip {TABLE} byte-identical after 2 more runs ({len(before.splitlines())} lines)"
        )
    elif failed:
        detail = f"apply exited {failed[0].returncode}: {_failure_message(failed[0].stderr)}"
    else:
        detail = f"table ip {TABLE} changed between runs"
    return [_result("apply_is_idempotent", "apply twice", ok, detail)]


# -- (f) ---------------------------------------------------------------------------------------


def check_detects_a_flush_and_apply_restores(lab: Lab) -> list[CheckResult]:
    """After ``nft flush ruleset``: ``check`` fails naming the table; ``apply`` restores it all."""
    before = lab.gateway_table()
    with _restored(lab):
        lab.run(Host.GATEWAY, "nft", "flush", "ruleset")
        checked = lab.gateway("check")
        applied = lab.gateway("apply")
    message = _failure_message(checked.stderr)
    named = checked.returncode != 0 and "missing" in message and TABLE in message
    identical = applied.returncode == 0 and lab.gateway_table() == before
    egress_ok, egress_detail = _egress_seen_as(lab, Host.APP)
    forwards = port_forwards_reach_the_app(lab)[:1]
    forward_ok = all(result.passed for result in forwards)
    results = [
        _result(
            "check_detects_a_flush_and_apply_restores",
            "check after nft flush ruleset",
            named,
            f"exit {checked.returncode}: {message}",
        ),
        _result(
            "check_detects_a_flush_and_apply_restores",
            "apply after nft flush ruleset",
            identical and egress_ok and forward_ok,
            f"table {'identical to' if identical else 'DIFFERENT from'} the first apply; "
            f"app -> internet {egress_detail}"
            + "".join(f"; {result.subject} {result.detail}" for result in forwards),
        ),
    ]
    return results


def rule_deletion(lab: Lab, chain: str, comment: str) -> list[str]:
    """``nft`` arguments that delete the rule of table ip cloudtap carrying ``comment``."""
    listing = lab.run(Host.GATEWAY, "nft", "-a", "list", "chain", "ip", TABLE, chain).stdout
    for line in listing.splitlines():
        if f'comment "{comment}"' in line and "# handle " in line:
            handle = line.rsplit("# handle ", 1)[1].strip()
            return ["delete", "rule", "ip", TABLE, chain, "handle", handle]
    raise LabError(f"no rule with comment {comment!r} in chain {chain}:\n{listing}")


def check_names_each_missing_rule(lab: Lab) -> list[CheckResult]:
    """Removing one rule (or the drop policy) makes ``check`` fail and name that piece."""
    # (what was damaged, nft arguments that damage it, what check's message must name)
    damages = [
        (
            "masquerade rule deleted",
            rule_deletion(lab, "outbound_snat", "cloudtap: masquerade"),
            "masquerade",
        ),
        (
            "forward policy set to accept",
            [f"chain ip {TABLE} forwarding {{ policy accept; }}"],
            "drop",
        ),
        (
            "an isolation rule deleted",
            rule_deletion(lab, "forwarding", "cloudtap: isolate private tier"),
            "isolating the private tier",
        ),
    ]
    for forward in lab.topology.plan.port_forwards:
        protocol, port = forward.protocol.value, forward.public_port
        server = f"{forward.private_host}:{forward.private_port}"
        comment = f"cloudtap: forward {protocol}/{port} to {server}"
        damages.append(
            (
                f"port forward {protocol}:{port} deleted",
                rule_deletion(lab, "inbound_dnat", comment),
                f"{protocol}:{port}:{server}",
            )
        )
    results = []
    for what, nft_argv, expected in damages:
        with _restored(lab):
            lab.run(Host.GATEWAY, "nft", *nft_argv)
            checked = lab.gateway("check")
        message = _failure_message(checked.stderr)
        ok = checked.returncode != 0 and expected in message
        results.append(
            _result(
                "check_names_each_missing_rule",
                f"check with {what}",
                ok,
                f"exit {checked.returncode}: {message}",
            )
        )
    return results


# -- (g) ---------------------------------------------------------------------------------------


def check_fails_when_forwarding_is_off(lab: Lab) -> list[CheckResult]:
    """With ``net.ipv4.ip_forward = 0`` ``check`` fails and says so; ``apply`` turns it back on."""
    key = "net.ipv4.ip_forward"
    with _restored(lab):
        lab.sysctl(Host.GATEWAY, key, "0")
        checked = lab.gateway("check")
    message = _failure_message(checked.stderr)
    after = lab.sysctl(Host.GATEWAY, key)
    ok = checked.returncode != 0 and "ip_forward" in message and after == "1"
    detail = f"exit {checked.returncode}: {message}; after apply {key} = {after}"
    return [_result("check_fails_when_forwarding_is_off", f"check with {key}=0", ok, detail)]


# -- (h) ---------------------------------------------------------------------------------------


def own_traffic_to_a_forwarded_port_is_not_looped_back(lab: Lab) -> list[CheckResult]:
    """Seed 004's reason for DNAT-ing only traffic from outside the network (``! -s <vpc>``).

    For each forward: the app's own outbound traffic to that port on the internet goes out
    masqueraded and never comes back to the app; and a connection *sourced inside the network*
    that arrives on the gateway's public interface (what a one-armed gateway sees from its private
    hosts; here the public subnet's router address) is not forwarded, while the same port from
    the internet host is.
    """
    name = "own_traffic_to_a_forwarded_port_is_not_looped_back"
    forwards = lab.topology.plan.port_forwards
    if not forwards:
        return [CheckResult(name, "app -> internet", Status.SKIP, "the stack publishes no ports")]
    internet = lab.address(Host.INTERNET)
    public = lab.address(Host.GATEWAY)
    inside = lab.topology.gateway_default_route  # an address of the network, on the public side
    results = []
    for forward in forwards:
        protocol = _protocol(forward)
        port = forward.public_port
        server = f"{forward.private_host}:{forward.private_port}"
        with (
            lab.listen(Host.INTERNET, port, protocol, address=str(internet)) as outside,
            lab.listen(Host.APP, forward.private_port, protocol, str(forward.private_host)) as own,
        ):
            probe = lab.connect(Host.APP, internet, port, protocol=protocol, timeout=ANSWER_TIMEOUT)
            outside_peers = outside.peers(at_least=1 if probe.ok else 0)
            looped = own.peers(settle=0.1)
            from_inside = lab.connect(
                Host.INTERNET, public, port, protocol=protocol, timeout=DROP_TIMEOUT, source=inside
            )
            inside_reached = own.peers(settle=0.1)[len(looped) :]
            from_outside = lab.connect(
                Host.INTERNET, public, port, protocol=protocol, timeout=ANSWER_TIMEOUT
            )
        masqueraded = outside_peers == [str(public)]
        ok = probe.ok and probe.seen == str(public) and masqueraded and not looped
        detail = (
            f"reached the internet host, seen as {', '.join(outside_peers) or 'nothing'}"
            f" ({'masqueraded' if masqueraded else f'expected {public}'}); "
            f"the app's own listener {server} saw "
            f"{', '.join(looped) or 'nothing (not looped back)'}"
        )
        if not probe.ok:
            detail = f"{probe.describe()}; {detail}"
        results.append(_result(name, f"app -> internet {internet}:{port}/{protocol}", ok, detail))
        ok = not from_inside.ok and not inside_reached and from_outside.ok
        detail = (
            f"not forwarded to {server} ({from_inside.describe()}; the app saw "
            f"{', '.join(inside_reached) or 'nothing'}); from the internet host the same port "
            f"{'is' if from_outside.ok else 'is NOT'} forwarded"
        )
        subject = f"network address {inside} -> {public}:{port}/{protocol}"
        results.append(_result(name, subject, ok, detail))
    return results


# -- all of them -------------------------------------------------------------------------------

Check = Callable[[Lab], list[CheckResult]]

CHECKS: Final[tuple[Check, ...]] = (
    egress_is_masqueraded,
    port_forwards_reach_the_app,
    ssh_is_not_forwarded,
    isolated_tiers_cannot_reach_the_private_tier,
    apply_is_idempotent,
    check_detects_a_flush_and_apply_restores,
    check_names_each_missing_rule,
    check_fails_when_forwarding_is_off,
    own_traffic_to_a_forwarded_port_is_not_looped_back,
)
"""Every check, in report order (the brief's a-h, with the per-rule check after f)."""


def run_checks(lab: Lab, checks: Sequence[Check] = CHECKS) -> Iterator[CheckResult]:
    """Results of ``checks`` as they come; a check the lab cannot carry out is a FAIL line."""
    for check in checks:
        try:
            yield from check(lab)
        except LabError as error:
            name = getattr(check, "__name__", "check")
            yield CheckResult(name, name.replace("_", " "), Status.FAIL, f"lab error: {error}")
