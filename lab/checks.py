"""What the lab proves about the rendered gateway: one function per behaviour.

Each check takes a running :class:`~lab.lab.Lab`, sends real traffic, and returns
:class:`CheckResult` lines with the evidence in ``detail``. Negative results are always paired with
a positive one on the same path (a listener that is shown to be up, the same connection succeeding
once cloudtap's table is removed), so that "nothing arrived" cannot pass for the wrong reason.
Checks that disturb the gateway (flush, sysctl, table removal) re-run ``apply`` before returning,
so they can run in any order against one lab. ``python -m lab`` and ``tests/lab`` both
run these functions.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from components.mirroring import GatewayMirror, GatewayMirrorMode
from components.network_plan import PortForward, Tier

from . import feeds
from .lab import (
    COMMAND_TIMEOUT,
    MIRROR_DEVICE,
    MIRROR_TABLE,
    RECORD_FRAMES,
    SENSOR_TABLE,
    TABLE,
    Lab,
    LabError,
    Protocol,
)
from .pcap import addresses, compare, datagrams, describe
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
    """Running ``apply`` again leaves ``nft list table ip cloudtap`` byte-identical, and the
    mirror's table ``netdev cloudtap_mirror`` too."""
    before = lab.gateway_table(), lab.mirror_table()
    runs = [lab.gateway("apply") for _ in range(2)]
    after = lab.gateway_table(), lab.mirror_table()
    failed = [run for run in runs if run.returncode != 0]
    ok = not failed and before == after
    if ok:
        detail = (
            f"table ip {TABLE} byte-identical after 2 more runs ({len(before[0].splitlines())} "
            f"lines), table netdev {MIRROR_TABLE} too ({len(before[1].splitlines())} lines)"
        )
    elif failed:
        detail = f"apply exited {failed[0].returncode}: {_failure_message(failed[0].stderr)}"
    else:
        changed = [
            name
            for name, old, new in zip(
                (f"ip {TABLE}", f"netdev {MIRROR_TABLE}"), before, after, strict=True
            )
            if old != new
        ]
        detail = f"table {' and '.join(changed)} changed between runs"
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


# -- (i) the gateway mirror and the sensor -----------------------------------------------------

SETTLE: Final = 0.3
"""Seconds for the last copies to cross the lab before a recording stops."""
OUTSIDE_SOURCE: Final = ipaddress.IPv4Address("198.51.100.7")
"""TEST-NET-2 (RFC 5737): a feed source outside every network, which the sensor must refuse."""
FEED_COUNT: Final = 100
"""Packets per feed stream (the sizes cycle every 7, jumbo frames included)."""
BURST_COUNT: Final = 2000
"""Packets per feed in one unpaced burst, as a mirror session sends when a workload bursts."""
ARRIVAL_TIMEOUT: Final = 20.0
"""Seconds the inner frames of what was sent may take to arrive on the capture interface: well
under one on an idle machine, more on a busy one, where the decapsulator runs late."""
STREAM_COUNT: Final = 200
STREAM_RATE: Final = 2000.0
PING_COUNT: Final = 40


@contextlib.contextmanager
def _sensor_restored(lab: Lab) -> Iterator[None]:
    """Re-apply the sensor (then the gateway) after a check that breaks it."""
    try:
        yield
    finally:
        lab.sensor("apply", check=True)
        lab.gateway("apply", check=True)


def _mirror(lab: Lab) -> GatewayMirror:
    mirror = lab.topology.plan.gateway_mirror
    if mirror is None:  # the lab always mirrors (topology.with_gateway_mirror)
        raise LabError("the lab's plan has no gateway mirror")
    return mirror


def _copies_interface(lab: Lab) -> str:
    """Where the gateway's copies show up on the sensor: its capture interface (VXLAN,
    decapsulated by the sensor) or, for tee clones, its own interface."""
    if _mirror(lab).mode is GatewayMirrorMode.TEE:
        return lab.topology.link_of(Host.SENSOR).host_interface
    return lab.sensor_plan.capture_interface


def _feed_paths(lab: Lab) -> dict[str, str]:
    """How the sensor decapsulates each feed, from ``cloudtap-sensor check``."""
    checked = lab.sensor("check")
    paths = {}
    for feed, path in re.findall(
        r"(vxlan|geneve|gre|erspan): (kernel \S+|cloudtap-decap)", checked.stderr
    ):
        paths[feed] = path.rstrip(",;")
    return paths


def mirror_shows_app_traffic_at_the_sensor(lab: Lab) -> list[CheckResult]:
    """The seeds' validation, on the sensor's capture interface: while the app pings the
    internet, both the echo request and the reply show; a port forward's connection too."""
    name = "mirror_shows_app_traffic_at_the_sensor"
    app, internet = lab.address(Host.APP), lab.address(Host.INTERNET)
    interface = _copies_interface(lab)
    forwards = lab.topology.plan.port_forwards[:1]
    with lab.record(Host.SENSOR, interface) as recording:
        answered = lab.ping(Host.APP, internet, timeout=ANSWER_TIMEOUT)
        forwarded = None
        for forward in forwards:
            protocol = _protocol(forward)
            address = str(forward.private_host)
            with lab.listen(Host.APP, forward.private_port, protocol, address=address):
                forwarded = lab.connect(
                    Host.INTERNET,
                    lab.address(Host.GATEWAY),
                    forward.public_port,
                    protocol=protocol,
                    timeout=ANSWER_TIMEOUT,
                )
        time.sleep(SETTLE)
    lines = [describe(datagram) for datagram in datagrams(recording.frames())]
    request = f"ICMP echo request {app} > {internet}"
    reply = f"ICMP echo reply {internet} > {app}"
    seen = [line for line in (request, reply) if line in lines]
    ok = answered and seen == [request, reply]
    detail = f"ping {'answered' if answered else 'unanswered'}; on the sensor's {interface}: " + (
        "; ".join(seen) if seen else f"no echo request or reply (saw {len(lines)} packets)"
    )
    results = [_result(name, "app -> internet ping, copied to the sensor", ok, detail)]
    for forward in forwards:
        host, port = forward.private_host, forward.private_port
        inbound = [line for line in lines if f" > {host}:{port} " in line]
        outbound = [
            line
            for line in lines
            if line.startswith(f"{_protocol(forward).upper()} {host}:{port} > ")
        ]
        ok = bool(forwarded and forwarded.ok and inbound and outbound)
        detail = (
            f"connection {forwarded.describe() if forwarded else 'not tried'}; on the sensor's "
            f"{interface}: {len(inbound)} packet(s) to the app (first: "
            f"{inbound[0] if inbound else 'none'}), {len(outbound)} from it"
        )
        subject = f"internet -> {lab.address(Host.GATEWAY)}:{forward.public_port}, copied"
        results.append(_result(name, subject, ok, detail))
    return results


def _forwarded_traffic(lab: Lab) -> str:
    """Traffic through the gateway, both directions: app -> internet (ping, a UDP stream, TCP)
    and internet -> each port forward. Returns what was sent, for the report."""
    internet = lab.address(Host.INTERNET)
    pinged = lab.ping(Host.APP, internet, timeout=ANSWER_TIMEOUT)
    # Not forwarded: the app and its gateway talking to each other must not be copied.
    router = lab.topology.gateway_address(Tier.PRIVATE)
    own = lab.ping(Host.APP, router, timeout=ANSWER_TIMEOUT)
    with lab.listen(Host.INTERNET, SERVICE_PORT, "udp", address=str(internet)):
        sent, answered = lab.stream(Host.APP, internet, SERVICE_PORT, count=50, rate=STREAM_RATE)
    with lab.listen(Host.INTERNET, SERVICE_PORT, address=str(internet)):
        tcp = lab.connect(Host.APP, internet, SERVICE_PORT, timeout=ANSWER_TIMEOUT)
    forwards = []
    for forward in lab.topology.plan.port_forwards:
        protocol = _protocol(forward)
        address = str(forward.private_host)
        with lab.listen(Host.APP, forward.private_port, protocol, address=address):
            probe = lab.connect(
                Host.INTERNET,
                lab.address(Host.GATEWAY),
                forward.public_port,
                protocol=protocol,
                timeout=ANSWER_TIMEOUT,
            )
        forwards.append(f"{protocol}/{forward.public_port} {'ok' if probe.ok else 'FAILED'}")
    return (
        f"ping {'ok' if pinged else 'FAILED'}, UDP {answered}/{sent} answered, "
        f"TCP {'ok' if tcp.ok else 'FAILED'}, forwards: {', '.join(forwards) or 'none'}, "
        f"ping to the gateway itself {'ok' if own else 'FAILED'} (not forwarded)"
    )


def mirror_copies_every_forwarded_packet_exactly(lab: Lab) -> list[CheckResult]:
    """Every packet the gateway forwards to or from the app, both directions, arrives on the
    sensor's capture interface byte-for-byte as the app sent or received it, exactly once; the
    sensor's own traffic and the feed itself are never copied.

    Compared: the IPv4 datagrams (L3: IP header to the end of the IP payload, as a multiset)
    recorded on the app's interface, less those exchanged with the gateway's own addresses (a
    ping to its router address, which must not be copied), against everything recorded on the
    capture interface; then the
    whole Ethernet frames of the same packets, which match too because the copies are taken at
    the private-facing interface itself. The gateway's VXLAN device must have sent exactly as
    many copies as that.
    """
    name = "mirror_copies_every_forwarded_packet_exactly"
    if _mirror(lab).mode is GatewayMirrorMode.TEE:
        reason = "tee clones taken before routing carry the TTL minus one: not byte-identical"
        return [CheckResult(name, "byte-for-byte copies", Status.SKIP, reason)]
    capture = lab.sensor_plan.capture_interface
    gateway = set(lab.topology.gateway_addresses)
    sensor, internet = lab.address(Host.SENSOR), lab.address(Host.INTERNET)
    app_interface = lab.topology.link_of(Host.APP).host_interface
    copies_before = lab.tx_packets(Host.GATEWAY, MIRROR_DEVICE)
    with (
        lab.record(Host.SENSOR, capture) as copies,
        lab.record(Host.APP, app_interface) as original,
    ):
        traffic = _forwarded_traffic(lab)
        own = lab.run(Host.SENSOR, "ping", "-n", "-q", "-c", "3", "-i", "0.05", "-W", "1",
                      "-I", str(sensor), str(internet), check=False)  # fmt: skip
        time.sleep(SETTLE)
    copies_sent = lab.tx_packets(Host.GATEWAY, MIRROR_DEVICE) - copies_before
    app_frames = [
        frame
        for frame in original.frames()
        if (datagram := frame.ipv4) is not None and not gateway & set(addresses(datagram))
    ]
    copy_frames = copies.frames()
    l3 = compare(datagrams(app_frames), datagrams(copy_frames))
    l2 = compare([frame.data for frame in app_frames], [frame.data for frame in copy_frames])
    app = {str(address.ip) for address in lab.topology.link_of(Host.APP).host_addresses}
    sent = sum(str(addresses(d)[0]) in app for d in datagrams(app_frames))
    ok = l3.exact and l2.exact and l3.expected > 0 and copies_sent == l3.expected
    detail = (
        f"{traffic}: {l3.expected} packets forwarded ({sent} sent by the app, "
        f"{l3.expected - sent} delivered to it); on the sensor's {capture}: L3 {l3.describe()}; "
        f"whole Ethernet frames {l2.matched}/{l2.expected} identical; the gateway's "
        f"{MIRROR_DEVICE} sent {copies_sent} copies"
    )
    results = [_result(name, "app <-> internet and port forwards, byte-for-byte", ok, detail)]
    own_answered = own.returncode == 0
    stray = [
        describe(datagram)
        for datagram in datagrams(copy_frames)
        if {sensor, *gateway} & set(addresses(datagram))
    ]
    ok = own_answered and not stray and not any(frame.truncated for frame in copy_frames)
    detail = (
        f"the sensor's own 3 pings to {internet} {'answered' if own_answered else 'UNANSWERED'}"
        f" and not copied; no feed packet (gateway <-> sensor) on {capture}"
        + (f"; STRAY: {', '.join(stray[:3])}" if stray else "")
    )
    results.append(_result(name, "no amplification: own traffic and feed never copied", ok, detail))
    return results


_FEED_OF_KIND: Final = {
    "aws-vxlan": "vxlan",
    "azure-vxlan": "vxlan",
    "gwlb-geneve": "geneve",
    "gre": "gre",
    "erspan": "erspan",
}
_KIND_VNI: Final = {"aws-vxlan": 77, "azure-vxlan": 4_000_001}
_KIND_SOURCE: Final = {"aws-vxlan": Host.APP, "azure-vxlan": Host.MANAGEMENT}
_KIND_TITLE: Final = {
    "aws-vxlan": "AWS Traffic Mirroring VXLAN (VNI 77, per-flow UDP source ports)",
    "azure-vxlan": "Azure vTAP VXLAN (VNI 4000001)",
    "gwlb-geneve": "AWS GWLB GENEVE (bare IP, class-0x0108 options)",
    "gre": "OpenStack tap mirror GRE (TEB, with and without key, sequence, checksum)",
    "erspan": "OpenStack tap mirror ERSPAN type II (Linux erspan_ver 1)",
}


def sensor_decapsulates_every_feed(lab: Lab) -> list[CheckResult]:
    """Mirror feeds as AWS, Azure and OpenStack send them, from addresses in the network (sent
    from the gateway host, which routes to the sensor), arrive on the capture interface as the
    exact inner frames (bare IP from a GWLB behind the sensor's fixed Ethernet header); a feed
    from outside the feed sources arrives not at all."""
    name = "sensor_decapsulates_every_feed"
    sensor = str(lab.address(Host.SENSOR))
    paths = _feed_paths(lab)
    expected: dict[str, list[bytes]] = {}
    with lab.record(Host.SENSOR, lab.sensor_plan.capture_interface) as recording:
        for kind in feeds.KINDS:
            source = lab.address(_KIND_SOURCE.get(kind, Host.APP))
            vni = _KIND_VNI.get(kind, 77)
            lab.send_feed(Host.GATEWAY, kind, source=source, count=FEED_COUNT, vni=vni)
            expected[kind] = [
                frame
                for _, frame in feeds.stream(
                    kind, FEED_COUNT, source=str(source), destination=sensor, vni=vni
                )
            ]
        lab.send_feed(Host.GATEWAY, "aws-vxlan", source=OUTSIDE_SOURCE, count=20, vni=99)
        recording.wait_for_frames(sum(map(len, expected.values())), ARRIVAL_TIMEOUT)
        time.sleep(SETTLE)  # and the outsider's packets their chance to arrive, wrongly
    frames = recording.frames()
    arrived = Counter(frame.data for frame in frames)
    results = []
    for kind in feeds.KINDS:
        want = Counter(expected[kind])
        got = Counter({data: arrived[data] for data in want if arrived[data]})
        found = sum((want & got).values())
        duplicates = sum((got - want).values())
        largest = max(len(data) for data in want)
        ok = found == len(expected[kind]) and duplicates == 0
        path = paths.get(_FEED_OF_KIND[kind], "no decapsulation path")
        detail = (
            f"{found}/{len(expected[kind])} inner frames byte-identical (60 to {largest} bytes), "
            f"{duplicates} duplicated, via {path}"
        )
        results.append(_result(name, _KIND_TITLE[kind], ok, detail))
    wanted = Counter(data for frames_of_kind in expected.values() for data in frames_of_kind)
    extra = sum((arrived - wanted).values())
    truncated = sum(frame.truncated for frame in frames)
    ok = extra == 0 and truncated == 0
    detail = (
        f"20 VXLAN packets from {OUTSIDE_SOURCE}: none arrived; {extra} unexpected frame(s) and "
        f"{truncated} truncated on {lab.sensor_plan.capture_interface} in all"
    )
    results.append(_result(name, "a feed from outside the feed sources", ok, detail))
    return results


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key)}


def sensor_loses_nothing_in_a_burst(
    lab: Lab, *, arrival_timeout: float = ARRIVAL_TIMEOUT
) -> list[CheckResult]:
    """Each feed as one burst of :data:`BURST_COUNT` packets sent back to back: every inner
    frame arrives on the capture interface, exactly once; where cloudtap-decap serves the feed,
    its counters show each packet written and no send error; the capture interface drops none.

    The recording's ring holds a whole burst, and the next burst waits until the recording has
    caught up, so a recorder the machine runs late cannot lose a frame the sensor delivered. A
    burst the sensor lost part of costs ``arrival_timeout`` seconds of waiting."""
    name = "sensor_loses_nothing_in_a_burst"
    sensor = str(lab.address(Host.SENSOR))
    capture = lab.sensor_plan.capture_interface
    paths = _feed_paths(lab)
    expected: dict[str, list[bytes]] = {}
    evidence: dict[str, tuple[bool, str]] = {}
    with lab.record(Host.SENSOR, capture, frames=max(BURST_COUNT, RECORD_FRAMES)) as recording:
        for kind in feeds.KINDS:
            source = lab.address(_KIND_SOURCE.get(kind, Host.APP))
            vni = _KIND_VNI.get(kind, 77)
            expected[kind] = [
                frame
                for _, frame in feeds.stream(
                    kind, BURST_COUNT, source=str(source), destination=sensor, vni=vni
                )
            ]
            decap_before = lab.decap_counters()
            rx_before = lab.rx_counters(Host.SENSOR, capture)
            overflows_before = lab.receive_buffer_overflows(Host.SENSOR)
            written = recording.count()
            started = time.monotonic()
            seconds = lab.send_feed(
                Host.GATEWAY, kind, source=source, count=BURST_COUNT, vni=vni, rate=0
            )
            recorded = recording.wait_for_frames(written + BURST_COUNT, arrival_timeout) - written
            waited = time.monotonic() - started
            decap = _delta(decap_before, lab.decap_counters())
            received, dropped = (
                now - then
                for now, then in zip(lab.rx_counters(Host.SENSOR, capture), rx_before, strict=True)
            )
            overflows = lab.receive_buffer_overflows(Host.SENSOR) - overflows_before
            feed = _FEED_OF_KIND[kind]
            path = paths.get(feed, "no decapsulation path")
            errors = {key: value for key, value in decap.items() if key.startswith("send_error")}
            ok = dropped == 0 and overflows == 0 and not errors
            detail = (
                f"sent in {seconds:.2f}s, {recorded} recorded {waited:.2f}s after sending began; "
                f"the sensor's socket receive buffers overflowed {overflows} times; {capture} "
                f"received {received}, dropped {dropped}"
            )
            if path == "cloudtap-decap":
                ok = ok and decap.get(feed, 0) == BURST_COUNT
                detail += (
                    f"; cloudtap-decap wrote {decap.get(feed, 0)}, send errors: "
                    f"{', '.join(f'{key} {value}' for key, value in errors.items()) or 'none'}"
                )
            evidence[kind] = ok, f"{detail}; via {path}"
    arrived = Counter(frame.data for frame in recording.frames())
    results = []
    for kind in feeds.KINDS:
        want = Counter(expected[kind])
        got = Counter({data: arrived[data] for data in want if arrived[data]})
        found = sum((want & got).values())
        duplicates = sum((got - want).values())
        ok, detail = evidence[kind]
        ok = ok and found == BURST_COUNT and duplicates == 0
        detail = (
            f"{found}/{BURST_COUNT} inner frames byte-identical, {duplicates} duplicated; {detail}"
        )
        results.append(
            _result(name, f"{_KIND_TITLE[kind]}, {BURST_COUNT} back to back", ok, detail)
        )
    return results


def _production_traffic(lab: Lab) -> tuple[bool, str]:
    """A fixed ping and UDP stream app -> internet and back: (nothing lost?, evidence)."""
    internet = lab.address(Host.INTERNET)
    ping = lab.run(
        Host.APP, "ping", "-n", "-q", "-c", str(PING_COUNT), "-i", "0.005", "-W", "1",
        "-I", str(lab.address(Host.APP)), str(internet), check=False, timeout=COMMAND_TIMEOUT,
    )  # fmt: skip
    match = re.search(r"(\d+) packets transmitted, (\d+) received", ping.stdout)
    pings = (int(match[1]), int(match[2])) if match else (PING_COUNT, 0)
    with lab.listen(Host.INTERNET, SERVICE_PORT, "udp", address=str(internet)):
        sent, answered = lab.stream(
            Host.APP, internet, SERVICE_PORT, count=STREAM_COUNT, rate=STREAM_RATE
        )
    ok = pings == (PING_COUNT, PING_COUNT) and sent == answered == STREAM_COUNT
    return ok, (
        f"{pings[1]}/{pings[0]} pings and {answered}/{sent} UDP datagrams answered end to end"
    )


def production_survives_a_sensor_outage(lab: Lab) -> list[CheckResult]:
    """With the sensor down in three ways, the app's traffic through the gateway loses nothing
    (while the gateway keeps sending copies into the void, and a sensor without its decapsulator
    sends the gateway no ICMP errors); ``apply`` brings the sensor back."""
    name = "production_survives_a_sensor_outage"
    sensor_link = lab.topology.link_of(Host.SENSOR)
    interface = sensor_link.host_interface
    address = str(sensor_link.host_addresses[0])
    monitor = lab.topology.link(Tier.MONITOR).gateway_interface
    vxlan_device = "cloudtap-vxlan"
    outages: list[tuple[str, list[list[str]], list[list[str]]]] = [
        ("sensor healthy (baseline)", [], []),
        (
            "sensor link down",
            [["ip", "link", "set", "dev", interface, "down"]],
            [["ip", "link", "set", "dev", interface, "up"]],
        ),
        ("sensor decapsulation removed", [["ip", "link", "del", "dev", vxlan_device]], []),
        (
            "sensor address gone",
            [["ip", "addr", "del", address, "dev", interface]],
            [
                ["ip", "addr", "add", address, "dev", interface],
                ["ip", "route", "replace", "default", "via", str(sensor_link.host_default_route)],
            ],
        ),
    ]
    results = []
    for what, breaks, repairs in outages:
        with _sensor_restored(lab):
            for argv in breaks:
                lab.run(Host.SENSOR, *argv)
            before = lab.tx_packets(Host.GATEWAY, MIRROR_DEVICE)
            with lab.record(Host.GATEWAY, monitor, "icmp", "and", "src", "host",
                            str(sensor_link.host_addresses[0].ip)) as errors:  # fmt: skip
                ok, detail = _production_traffic(lab)
                time.sleep(SETTLE)
            copies = lab.tx_packets(Host.GATEWAY, MIRROR_DEVICE) - before
            for argv in repairs:
                lab.run(Host.SENSOR, *argv)
        icmp = len(errors.frames())
        checked = lab.sensor("check")
        ok = ok and copies > 0 and icmp == 0 and checked.returncode == 0
        detail += (
            f"; the gateway sent {copies} copies meanwhile; ICMP from the sensor: {icmp}; "
            f"after apply: sensor check {'ok' if checked.returncode == 0 else 'FAILED'}"
        )
        results.append(_result(name, what, ok, detail))
    return results


def _decap_pid(lab: Lab) -> str:
    ready = (lab.sensor_run_dir / "decap.ready").read_text(encoding="utf-8")
    found = re.search(r"^PID=(\d+)$", ready, re.MULTILINE)
    if found is None:
        raise LabError(f"cloudtap-decap's ready file names no process: {ready!r}")
    return found[1]


def sensor_check_names_what_is_missing(lab: Lab) -> list[CheckResult]:
    """Each piece of the sensor removed in turn: ``check`` fails naming it; ``apply`` repairs."""
    capture = lab.sensor_plan.capture_interface
    # (what was damaged, the command that damages it (built when it runs), what check must say)
    damages: list[tuple[str, Callable[[], list[str]], str]] = [
        ("capture interface deleted", lambda: ["ip", "link", "del", "dev", capture],
         "is missing"),
        ("capture interface MTU 1500", lambda: ["ip", "link", "set", "dev", capture, "mtu", "1500"],
         f"has MTU 1500, not {lab.sensor_plan.capture_mtu}"),
        ("kernel VXLAN device deleted", lambda: ["ip", "link", "del", "dev", "cloudtap-vxlan"],
         "nothing decapsulates vxlan"),
        ("cloudtap-decap killed", lambda: ["kill", "-9", _decap_pid(lab)],
         "nothing decapsulates geneve"),
        ("nftables table deleted", lambda: ["nft", "delete", "table", "inet", SENSOR_TABLE],
         f"inet {SENSOR_TABLE} is missing"),
    ]  # fmt: skip
    results = []
    for what, damage, expected in damages:
        with _sensor_restored(lab):
            lab.run(Host.SENSOR, *damage())
            time.sleep(0.1)  # a killed process takes a moment to go
            checked = lab.sensor("check")
        message = _failure_message(checked.stderr)
        ok = checked.returncode != 0 and expected in message
        results.append(
            _result(
                "sensor_check_names_what_is_missing",
                f"sensor check with {what}",
                ok,
                f"exit {checked.returncode}: {message}",
            )
        )
    return results


def gateway_check_names_a_broken_mirror(lab: Lab) -> list[CheckResult]:
    """The mirror's pieces removed in turn: the gateway's ``check`` fails naming each."""
    if _mirror(lab).mode is GatewayMirrorMode.TEE:
        return [CheckResult("gateway_check_names_a_broken_mirror", "mirror", Status.SKIP, "tee")]
    damages: list[tuple[str, list[str], str]] = [
        ("VXLAN device deleted", ["ip", "link", "del", "dev", MIRROR_DEVICE], "is missing"),
        ("mirror table deleted", ["nft", "delete", "table", "netdev", MIRROR_TABLE],
         f"netdev {MIRROR_TABLE} (the mirror) is missing"),
        ("copies of sent packets removed", ["nft", "flush", "chain", "netdev", MIRROR_TABLE,
         "sent_1"], "does not copy what private hosts send"),
        ("copies of received packets removed", ["nft", "flush", "chain", "netdev", MIRROR_TABLE,
         "received_1"], "does not copy what private hosts receive"),
    ]  # fmt: skip
    results = []
    for what, argv, expected in damages:
        with _restored(lab):
            lab.run(Host.GATEWAY, *argv)
            checked = lab.gateway("check")
        message = _failure_message(checked.stderr)
        ok = checked.returncode != 0 and expected in message
        results.append(
            _result(
                "gateway_check_names_a_broken_mirror",
                f"check with the mirror's {what}",
                ok,
                f"exit {checked.returncode}: {message}",
            )
        )
    return results


def sensor_apply_is_idempotent(lab: Lab) -> list[CheckResult]:
    """``cloudtap-sensor apply`` again: same table, same interfaces, the same decapsulator
    process (not restarted), the same tc redirect."""

    def state() -> tuple[str, str, str, str]:
        links = lab.run(Host.SENSOR, "ip", "-o", "link", "show").stdout
        links = re.sub(r"\s+link/ether \S+ brd \S+", "", links)  # MACs are stable anyway
        filters = lab.run(Host.SENSOR, "tc", "filter", "show", "dev", "cloudtap-vxlan", "ingress")
        ready = (lab.sensor_run_dir / "decap.ready").read_text(encoding="utf-8")
        return lab.sensor_table(), links, filters.stdout, ready

    before = state()
    runs = [lab.sensor("apply") for _ in range(2)]
    after = state()
    failed = [run for run in runs if run.returncode != 0]
    names = ("nftables table", "links", "tc filters", "cloudtap-decap process")
    changed = [label for label, old, new in zip(names, before, after, strict=True) if old != new]
    ok = not failed and not changed
    if failed:
        detail = f"apply exited {failed[0].returncode}: {_failure_message(failed[0].stderr)}"
    elif changed:
        detail = f"changed between runs: {', '.join(changed)}"
    else:
        detail = f"{', '.join(names)} unchanged after 2 more runs"
    return [_result("sensor_apply_is_idempotent", "sensor apply twice", ok, detail)]


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
    mirror_shows_app_traffic_at_the_sensor,
    mirror_copies_every_forwarded_packet_exactly,
    sensor_decapsulates_every_feed,
    sensor_loses_nothing_in_a_burst,
    production_survives_a_sensor_outage,
    gateway_check_names_a_broken_mirror,
    sensor_check_names_what_is_missing,
    sensor_apply_is_idempotent,
)
"""Every check, in report order (the brief's a-h, with the per-rule check after f, then the
gateway mirror and the sensor)."""


def run_checks(lab: Lab, checks: Sequence[Check] = CHECKS) -> Iterator[CheckResult]:
    """Results of ``checks`` as they come; a check the lab cannot carry out is a FAIL line."""
    for check in checks:
        try:
            yield from check(lab)
        except LabError as error:
            name = getattr(check, "__name__", "check")
            yield CheckResult(name, name.replace("_", " "), Status.FAIL, f"lab error: {error}")
