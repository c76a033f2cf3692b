"""What the lab proves about the rendered gateway: forwarding, masquerade, port forwards, tier
isolation, and that ``cloudtap-gateway check`` notices each piece going missing.

Negative results are always paired with a positive one on the same path (a listener that is
shown to be up, the same connection succeeding once cloudtap's table is removed), so that
"nothing arrived" cannot pass for the wrong reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Final

from components.network_plan import Tier

from ..lab import MIRROR_TABLE, TABLE, Lab, LabError
from ..topology import Host
from .common import (
    ANSWER_TIMEOUT,
    DROP_TIMEOUT,
    SERVICE_PORT,
    SSH_PORT,
    CheckResult,
    Damage,
    Status,
    broken,
    check_names,
    check_result,
    failure_message,
    protocol_of,
    reapply_gateway,
)

_PACKET = re.compile(r" IP (?P<source>[\d.]+) > (?P<destination>[\d.]+): ")


def _packet_sources(lines: Sequence[str]) -> list[str]:
    return [match["source"] for line in lines if (match := _PACKET.search(line))]


def _egress_seen_as(lab: Lab, host: Host) -> tuple[bool, str]:
    """TCP from ``host`` to the internet host; (masqueraded?, evidence)."""
    internet = lab.address(Host.INTERNET)
    public = str(lab.address(Host.GATEWAY))
    with lab.listen(Host.INTERNET, SERVICE_PORT, address=str(internet)) as listener:
        probe = lab.connect(host, internet, SERVICE_PORT, timeout=ANSWER_TIMEOUT)
        peers = listener.peers(at_least=1 if probe.ok else 0)
    ok = probe.ok and probe.seen == public and peers == [public]
    return ok, f"TCP {internet}:{SERVICE_PORT} {probe.describe()}"


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
    return [check_result("egress_is_masqueraded", "app -> internet", ok, detail)]


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
        protocol = protocol_of(forward)
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
        results.append(check_result(name, subject, ok, detail))
    return results


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
    return [
        check_result("ssh_is_not_forwarded", f"internet -> {public}:{SSH_PORT}/tcp", ok, detail)
    ]


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
    removed = Damage("table removed", Host.GATEWAY, ["nft", "delete", "table", "ip", TABLE])
    with broken(lab, removed, reapply_gateway):
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
        results.append(check_result(name, f"{source.value} -> {target.value}", ok, detail))
    results.append(
        check_result(
            name,
            "mgmt -> internet",
            management_up and not management_out.ok,
            f"TCP {lab.address(Host.INTERNET)}:{SERVICE_PORT} {management_out.describe()}: "
            "the management tier is out of band, never routed by the gateway",
        )
    )
    return results


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
        detail = f"apply exited {failed[0].returncode}: {failure_message(failed[0].stderr)}"
    else:
        changed = [
            name
            for name, old, new in zip(
                (f"ip {TABLE}", f"netdev {MIRROR_TABLE}"), before, after, strict=True
            )
            if old != new
        ]
        detail = f"table {' and '.join(changed)} changed between runs"
    return [check_result("apply_is_idempotent", "apply twice", ok, detail)]


def check_detects_a_flush_and_apply_restores(lab: Lab) -> list[CheckResult]:
    """After ``nft flush ruleset``: ``check`` fails naming the table; ``apply`` restores it all."""
    before = lab.gateway_table()
    flushed = Damage("nft flush ruleset", Host.GATEWAY, ["nft", "flush", "ruleset"])
    with broken(lab, flushed, reapply_gateway):
        checked = lab.gateway("check")
        applied = lab.gateway("apply")
    message = failure_message(checked.stderr)
    named = checked.returncode != 0 and "missing" in message and TABLE in message
    identical = applied.returncode == 0 and lab.gateway_table() == before
    egress_ok, egress_detail = _egress_seen_as(lab, Host.APP)
    forwards = port_forwards_reach_the_app(lab)[:1]
    forward_ok = all(result.passed for result in forwards)
    results = [
        check_result(
            "check_detects_a_flush_and_apply_restores",
            "check after nft flush ruleset",
            named,
            f"exit {checked.returncode}: {message}",
        ),
        check_result(
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


def _deleting(lab: Lab, chain: str, comment: str) -> Callable[[], list[str]]:
    """The command deleting that rule, looked up in the table as it is when the command runs."""
    return lambda: ["nft", *rule_deletion(lab, chain, comment)]


def check_names_each_missing_rule(lab: Lab) -> list[CheckResult]:
    """Removing one rule (or the drop policy) makes ``check`` fail and name that piece."""
    policy = ["nft", f"chain ip {TABLE} forwarding {{ policy accept; }}"]
    damages = [
        Damage(
            "masquerade rule deleted",
            Host.GATEWAY,
            _deleting(lab, "outbound_snat", "cloudtap: masquerade"),
            expected="masquerade",
        ),
        Damage("forward policy set to accept", Host.GATEWAY, policy, expected="drop"),
        Damage(
            "an isolation rule deleted",
            Host.GATEWAY,
            _deleting(lab, "forwarding", "cloudtap: isolate private tier"),
            expected="isolating the private tier",
        ),
    ]
    for forward in lab.topology.plan.port_forwards:
        protocol, port = forward.protocol.value, forward.public_port
        server = f"{forward.private_host}:{forward.private_port}"
        damages.append(
            Damage(
                f"port forward {protocol}:{port} deleted",
                Host.GATEWAY,
                _deleting(lab, "inbound_dnat", f"cloudtap: forward {protocol}/{port} to {server}"),
                expected=f"{protocol}:{port}:{server}",
            )
        )
    return [
        check_names(
            lab,
            damage,
            lambda: lab.gateway("check"),
            reapply_gateway,
            check="check_names_each_missing_rule",
            subject=f"check with {damage.what}",
        )
        for damage in damages
    ]


def check_fails_when_forwarding_is_off(lab: Lab) -> list[CheckResult]:
    """With ``net.ipv4.ip_forward = 0`` ``check`` fails and says so; ``apply`` turns it back on."""
    key = "net.ipv4.ip_forward"
    off = Damage(f"{key}=0", Host.GATEWAY, ["sysctl", "-qw", f"{key}=0"])
    with broken(lab, off, reapply_gateway):
        checked = lab.gateway("check")
    message = failure_message(checked.stderr)
    after = lab.sysctl(Host.GATEWAY, key)
    ok = checked.returncode != 0 and "ip_forward" in message and after == "1"
    detail = f"exit {checked.returncode}: {message}; after apply {key} = {after}"
    return [check_result("check_fails_when_forwarding_is_off", f"check with {key}=0", ok, detail)]


def own_traffic_to_a_forwarded_port_is_not_looped_back(lab: Lab) -> list[CheckResult]:
    """Port forwards translate only traffic from outside the network (``! -s <vpc>``): a
    one-armed gateway receives its private hosts' traffic on the same interface as the
    internet's, and without that guard the network's own connections to a published port would
    be translated back to the server instead of going where they were sent.

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
        protocol = protocol_of(forward)
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
        results.append(
            check_result(name, f"app -> internet {internet}:{port}/{protocol}", ok, detail)
        )
        ok = not from_inside.ok and not inside_reached and from_outside.ok
        detail = (
            f"not forwarded to {server} ({from_inside.describe()}; the app saw "
            f"{', '.join(inside_reached) or 'nothing'}); from the internet host the same port "
            f"{'is' if from_outside.ok else 'is NOT'} forwarded"
        )
        subject = f"network address {inside} -> {public}:{port}/{protocol}"
        results.append(check_result(name, subject, ok, detail))
    return results
