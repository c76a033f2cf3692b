"""What the lab proves about the gateway mirror: the sensor sees what the app exchanges through
the gateway, every forwarded packet exactly once and byte for byte, never its own traffic or the
feed; production traffic loses nothing while the sensor is down; and ``cloudtap-gateway check``
notices each piece of the mirror going missing.
"""

from __future__ import annotations

import re
import time
from typing import Final

from components.mirroring import GatewayMirror, GatewayMirrorMode
from components.network_plan import Tier

from ..lab import COMMAND_TIMEOUT, MIRROR_DEVICE, MIRROR_TABLE, Lab, LabError
from ..pcap import addresses, compare, datagrams, describe
from ..topology import Host
from .common import (
    ANSWER_TIMEOUT,
    SERVICE_PORT,
    SETTLE,
    CheckResult,
    Damage,
    Status,
    broken,
    check_names,
    check_result,
    protocol_of,
    real_wire,
    reapply_gateway,
    reapply_sensor,
    removing,
)

STREAM_COUNT: Final = 200
STREAM_RATE: Final = 2000.0
PING_COUNT: Final = 40


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


def mirror_shows_app_traffic_at_the_sensor(lab: Lab) -> list[CheckResult]:
    """What the gateway mirror is for, seen on the sensor's capture interface: while the app
    pings the internet, both the echo request and the reply show; a port forward's connection
    too."""
    name = "mirror_shows_app_traffic_at_the_sensor"
    app, internet = lab.address(Host.APP), lab.address(Host.INTERNET)
    interface = _copies_interface(lab)
    forwards = lab.topology.plan.port_forwards[:1]
    with lab.record(Host.SENSOR, interface) as recording:
        answered = lab.ping(Host.APP, internet, timeout=ANSWER_TIMEOUT)
        forwarded = None
        for forward in forwards:
            protocol = protocol_of(forward)
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
    results = [check_result(name, "app -> internet ping, copied to the sensor", ok, detail)]
    for forward in forwards:
        host, port = forward.private_host, forward.private_port
        inbound = [line for line in lines if f" > {host}:{port} " in line]
        outbound = [
            line
            for line in lines
            if line.startswith(f"{protocol_of(forward).upper()} {host}:{port} > ")
        ]
        ok = bool(forwarded and forwarded.ok and inbound and outbound)
        detail = (
            f"connection {forwarded.describe() if forwarded else 'not tried'}; on the sensor's "
            f"{interface}: {len(inbound)} packet(s) to the app (first: "
            f"{inbound[0] if inbound else 'none'}), {len(outbound)} from it"
        )
        subject = f"internet -> {lab.address(Host.GATEWAY)}:{forward.public_port}, copied"
        results.append(check_result(name, subject, ok, detail))
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
        protocol = protocol_of(forward)
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
    with (
        real_wire(lab),
        lab.heartbeats_paused(),
        lab.record(Host.SENSOR, capture) as copies,
        lab.record(Host.APP, app_interface) as original,
    ):
        copies_before = lab.tx_packets(Host.GATEWAY, MIRROR_DEVICE)
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
    results = [check_result(name, "app <-> internet and port forwards, byte-for-byte", ok, detail)]
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
    results.append(
        check_result(name, "no amplification: own traffic and feed never copied", ok, detail)
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
    route = ["ip", "route", "replace", "default", "via", str(sensor_link.host_default_route)]
    outages = [
        Damage("sensor healthy (baseline)", Host.SENSOR, ()),
        Damage(
            "sensor link down",
            Host.SENSOR,
            ["ip", "link", "set", "dev", interface, "down"],
            repairs=(["ip", "link", "set", "dev", interface, "up"],),
        ),
        # The gateway mirror's copies are VXLAN: whatever decapsulates VXLAN on this sensor.
        Damage("sensor decapsulation removed", Host.SENSOR, removing(lab, "vxlan")),
        Damage(
            "sensor address gone",
            Host.SENSOR,
            ["ip", "addr", "del", address, "dev", interface],
            repairs=(["ip", "addr", "add", address, "dev", interface], route),
        ),
    ]
    # Tee clones leave through the monitor interface itself (there is no VXLAN device); with the
    # sensor unreachable they may not leave at all (no neighbour, no carrier), and that is fine:
    # only the healthy baseline must show copies then.
    tee = _mirror(lab).mode is GatewayMirrorMode.TEE
    device = monitor if tee else MIRROR_DEVICE
    results = []
    for outage in outages:
        with broken(lab, outage, reapply_sensor):
            before = lab.tx_packets(Host.GATEWAY, device)
            with lab.record(Host.GATEWAY, monitor, "icmp", "and", "src", "host",
                            str(sensor_link.host_addresses[0].ip)) as errors:  # fmt: skip
                ok, detail = _production_traffic(lab)
                time.sleep(SETTLE)
            copies = lab.tx_packets(Host.GATEWAY, device) - before
        icmp = len(errors.frames())
        checked = lab.sensor("check")
        copied = copies > 0 or (tee and outage.command != ())
        ok = ok and copied and icmp == 0 and checked.returncode == 0
        detail += (
            f"; the gateway sent {copies} copies meanwhile; ICMP from the sensor: {icmp}; "
            f"after apply: sensor check {'ok' if checked.returncode == 0 else 'FAILED'}"
        )
        results.append(check_result(name, outage.what, ok, detail))
    return results


def gateway_check_names_a_broken_mirror(lab: Lab) -> list[CheckResult]:
    """The mirror's pieces removed in turn: the gateway's ``check`` fails naming each."""
    name = "gateway_check_names_a_broken_mirror"
    if _mirror(lab).mode is GatewayMirrorMode.TEE:
        return [CheckResult(name, "mirror", Status.SKIP, "tee")]
    chain = ["nft", "flush", "chain", "netdev", MIRROR_TABLE]
    damages = [
        Damage("VXLAN device deleted", Host.GATEWAY, ["ip", "link", "del", "dev", MIRROR_DEVICE],
               expected="is missing"),
        Damage("mirror table deleted", Host.GATEWAY,
               ["nft", "delete", "table", "netdev", MIRROR_TABLE],
               expected=f"netdev {MIRROR_TABLE} (the mirror) is missing"),
        Damage("copies of sent packets removed", Host.GATEWAY, [*chain, "sent_1"],
               expected="does not copy what private hosts send"),
        Damage("copies of received packets removed", Host.GATEWAY, [*chain, "received_1"],
               expected="does not copy what private hosts receive"),
    ]  # fmt: skip
    return [
        check_names(
            lab,
            damage,
            lambda: lab.gateway("check"),
            reapply_gateway,
            check=name,
            subject=f"check with the mirror's {damage.what}",
        )
        for damage in damages
    ]
