"""What the lab proves in the Azure shape (:mod:`lab.one_armed`), where the gateway has one
interface behind a router that plays Azure's fabric.

- The tiers are kept apart by the network's routes, not by the gateway: the ``None`` routes drop
  monitor/management <-> private traffic in the fabric, and the same connections succeed once
  those routes are replaced by the subnet's own (evidence that the drop is the routes').
- The gateway mirror's copies arrive byte-identical at the sensor (IPv4 datagrams; the Ethernet
  headers differ, as they do on Azure, since a packet crosses the fabric between the app and the
  gateway), full-size packets included; the copies of those do not fit a 1500-byte underlay, so
  the report counts the feed's IP fragments: full-size ICMP and UDP always fragment.
- TCP does not: the gateway is rendered with the network's 1500 bytes, as Azure's component
  renders it, so it clamps the MSS of forwarded TCP, and a bulk transfer's copies arrive
  unfragmented and byte-identical, checksums included.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from components.azure.vnet_plan import ISOLATED_FROM
from components.network_plan import Tier

from ..lab import MIRROR_DEVICE, Lab, LabError
from ..one_armed import TABLES, OneArmedTopology, router_namespace
from ..pcap import addresses, compare, datagrams
from ..topology import TIER_HOSTS, Host
from .common import (
    ANSWER_TIMEOUT,
    DROP_TIMEOUT,
    SERVICE_PORT,
    SETTLE,
    CheckResult,
    check_result,
    protocol_of,
)
from .dataplane import bulk_tcp_results

FULL_SIZE_PAYLOAD: Final = 1472
"""An ICMP echo of this payload is a 1500-byte IP packet: the largest a 1500 link carries."""
FULL_SIZE_PINGS: Final = 10
_FRAGMENTS: Final = "ip[6:2] & 0x3fff != 0"
"""tcpdump: an IPv4 fragment (more-fragments set, or a non-zero offset)."""


def _topology(lab: Lab) -> OneArmedTopology:
    if not isinstance(lab.topology, OneArmedTopology):
        raise LabError("this check needs the one-armed (Azure) lab")
    return lab.topology


def _reaches(lab: Lab, source: Host, target: Host, timeout: float) -> bool:
    with lab.listen(target, SERVICE_PORT) as listener:
        probe = lab.connect(source, lab.address(target), SERVICE_PORT, timeout=timeout)
        return probe.ok or bool(listener.peers(settle=0.1))


def _pairs(topology: OneArmedTopology) -> list[tuple[Host, Host, Tier]]:
    """(source, target, the source's tier) for every route-isolated pair of lab hosts."""
    return [
        (TIER_HOSTS[tier], TIER_HOSTS[other], tier)
        for tier, other in (
            (Tier.MONITOR, Tier.PRIVATE),
            (Tier.MANAGEMENT, Tier.PRIVATE),
            (Tier.PRIVATE, Tier.MONITOR),
            (Tier.PRIVATE, Tier.MANAGEMENT),
        )
    ]


@contextmanager
def _routes_opened(lab: Lab, tier: Tier, target: Tier) -> Iterator[None]:
    """The ``None`` routes between the two tiers, both ways, replaced by the subnets' own
    (VnetLocal) for the block, then put back: a reply takes the other tier's table."""
    topology = _topology(lab)
    route = ["ip", "-n", router_namespace(lab), "route", "replace"]
    opened = []
    for source, destination in ((tier, target), (target, tier)):
        if destination not in ISOLATED_FROM[source]:
            continue
        link = topology.link(destination)
        prefix, table = str(link.gateway_addresses[0].network), str(TABLES[source])
        # The router is no Host: its routes are changed with `ip -n` from the machine.
        _router([*route, prefix, "dev", link.gateway_interface, "table", table])
        opened.append((prefix, table))
    try:
        yield
    finally:
        for prefix, table in opened:
            _router([*route, "blackhole", prefix, "table", table])


def _router(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    if result.returncode != 0:
        raise LabError(f"router: {' '.join(argv)}: {result.stderr.strip()}")


def fabric_isolates_the_tiers(lab: Lab) -> list[CheckResult]:
    """Monitor and management hosts and the app cannot reach each other: the network's ``None``
    routes drop it in the fabric. Evidence: each connection succeeds while that one route is
    the subnet's own instead; the sensor still reaches the internet through the gateway; the
    management tier reaches nothing outside the network."""
    name = "fabric_isolates_the_tiers"
    topology = _topology(lab)
    results = []
    for source, target, tier in _pairs(topology):
        blocked = not _reaches(lab, source, target, DROP_TIMEOUT)
        pinged = lab.ping(source, lab.address(target), DROP_TIMEOUT)
        target_tier = next(t for t, host in TIER_HOSTS.items() if host is target)
        with _routes_opened(lab, tier, target_tier):
            opened = _reaches(lab, source, target, ANSWER_TIMEOUT)
        ok = blocked and not pinged and opened
        detail = (
            f"TCP and ping to {lab.address(target)} "
            + ("dropped" if blocked and not pinged else "NOT dropped")
            + f"; with the None routes between {tier.value} and {target_tier.value} replaced "
            f"by the subnets' own, TCP {'answered' if opened else 'STILL fails'}"
            + (" (the drop is the routes')" if opened else "")
        )
        results.append(check_result(name, f"{source.value} -> {target.value}", ok, detail))
    with lab.listen(Host.INTERNET, SERVICE_PORT, address=str(lab.address(Host.INTERNET))) as seen:
        sensor_out = lab.connect(
            Host.SENSOR, lab.address(Host.INTERNET), SERVICE_PORT, timeout=ANSWER_TIMEOUT
        )
        sensor_peers = seen.peers(at_least=1) if sensor_out.ok else []
    management_out = lab.connect(
        Host.MANAGEMENT, lab.address(Host.INTERNET), SERVICE_PORT, timeout=DROP_TIMEOUT
    )
    gateway = str(topology.gateway_public_address)
    ok = sensor_out.ok and sensor_peers == [gateway] and not management_out.ok
    detail = (
        f"sensor -> internet {sensor_out.describe()} (through the gateway {gateway}); "
        "mgmt -> internet "
        f"{'REACHED it' if management_out.ok else 'dropped (0.0.0.0/0 -> None)'}"
    )
    subject = "monitor out through the gateway, management nowhere"
    results.append(check_result(name, subject, ok, detail))
    return results


@contextmanager
def _real_wire(lab: Lab, topology: OneArmedTopology) -> Iterator[None]:
    """For the block, the offloads of the app, the internet host and the gateway's one interface
    off: every packet on their wire is a real one with final checksums, as the sensor's copies
    are (a veth otherwise passes super-packets whose checksums nobody finishes)."""
    interfaces = [
        (Host.APP, topology.link_of(Host.APP).host_interface),
        (Host.INTERNET, topology.link_of(Host.INTERNET).host_interface),
        (Host.GATEWAY, topology.gateway_interface),
    ]
    try:
        for host, interface in interfaces:
            lab.offloads(host, interface, on=False)
        yield
    finally:
        for host, interface in interfaces:
            lab.offloads(host, interface, on=True)


def one_armed_copies_are_byte_identical(lab: Lab) -> list[CheckResult]:
    """Every packet the gateway forwards to or from the app, full-size ones included, arrives on
    the sensor's capture interface as an IPv4 datagram byte-identical to what the app sent or
    received, exactly once; the feed's IP fragments on the 1500-byte underlay are counted."""
    name = "one_armed_copies_are_byte_identical"
    topology = _topology(lab)
    capture = lab.sensor_plan.capture_interface
    gateway = set(topology.gateway_addresses)
    internet = lab.address(Host.INTERNET)
    app_link = topology.link_of(Host.APP)
    sensor_link = topology.link_of(Host.SENSOR)
    source = str(lab.address(Host.APP))
    feed = f"src host {next(iter(gateway))} and (udp port 4789 or {_FRAGMENTS})"
    with (
        _real_wire(lab, topology),
        lab.heartbeats_paused(),
        lab.record(Host.SENSOR, capture) as copies,
        lab.record(Host.APP, app_link.host_interface) as original,
        lab.record(Host.SENSOR, sensor_link.host_interface, feed) as underlay,
    ):
        copies_before = lab.tx_packets(Host.GATEWAY, MIRROR_DEVICE)
        small = lab.ping(Host.APP, internet, timeout=ANSWER_TIMEOUT)
        full = lab.run(
            Host.APP, "ping", "-n", "-q", "-M", "do", "-s", str(FULL_SIZE_PAYLOAD),
            "-c", str(FULL_SIZE_PINGS), "-i", "0.05", "-W", "1", "-I", source, str(internet),
            check=False,
        )  # fmt: skip
        with lab.listen(Host.INTERNET, SERVICE_PORT, address=str(internet)):
            tcp = lab.connect(Host.APP, internet, SERVICE_PORT, timeout=ANSWER_TIMEOUT)
        forwards = []
        for forward in topology.plan.port_forwards:
            address, protocol = str(forward.private_host), protocol_of(forward)
            with lab.listen(Host.APP, forward.private_port, protocol, address=address):
                probe = lab.connect(
                    Host.INTERNET,
                    lab.address(Host.GATEWAY),
                    forward.public_port,
                    protocol=protocol,
                    timeout=ANSWER_TIMEOUT,
                )
            forwards.append(f"{protocol}/{forward.public_port} {'ok' if probe.ok else 'FAILED'}")
        time.sleep(SETTLE)
        copies_sent = lab.tx_packets(Host.GATEWAY, MIRROR_DEVICE) - copies_before
    app_frames = [
        frame
        for frame in original.frames()
        if (datagram := frame.ipv4) is not None and not gateway & set(addresses(datagram))
    ]
    expected = datagrams(app_frames)
    l3 = compare(expected, datagrams(copies.frames()))
    full_size = sum(len(datagram) >= 1500 for datagram in expected)
    feed_frames = [frame.ipv4 for frame in underlay.frames() if frame.ipv4 is not None]
    fragments = [d for d in feed_frames if int.from_bytes(d[6:8], "big") & 0x3FFF]
    fragmented = sum(1 for d in fragments if int.from_bytes(d[6:8], "big") & 0x1FFF == 0)
    ok = l3.exact and l3.expected > 0 and copies_sent == l3.expected and full_size > 0
    detail = (
        f"ping {'ok' if small else 'FAILED'}, {FULL_SIZE_PINGS} full-size pings "
        f"{'ok' if full.returncode == 0 else 'FAILED'}, TCP {'ok' if tcp.ok else 'FAILED'}, "
        f"forwards: {', '.join(forwards) or 'none'}: {l3.expected} packets forwarded "
        f"({full_size} of 1500 bytes); on the sensor's {capture}: L3 {l3.describe()}; the "
        f"gateway's {MIRROR_DEVICE} sent {copies_sent} copies; on the sensor's "
        f"{sensor_link.host_interface} (1500-byte underlay): {fragmented} copies arrived "
        f"fragmented, {len(fragments)} IP fragments of {len(feed_frames)} feed frames"
    )
    return [check_result(name, "app <-> internet, full-size too, byte-for-byte (L3)", ok, detail)]


def one_armed_bulk_tcp_copies_are_the_wire_packets(lab: Lab) -> list[CheckResult]:
    """A bulk TCP transfer app <-> internet: the network carries 1500 bytes already, and the
    gateway, rendered with that MTU, clamps the MSS, so every copy arrives whole, byte-identical
    to the app's wire (checksums final) and unfragmented."""
    topology = _topology(lab)
    mtu = topology.gateway_underlay_mtu
    if mtu is None:
        raise LabError("the one-armed shape renders its gateway with the links' MTU")
    with _real_wire(lab, topology):
        return bulk_tcp_results(lab, "one_armed_bulk_tcp_copies_are_the_wire_packets", mtu)
