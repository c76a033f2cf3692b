"""What the lab proves about the mirror's data plane: over a network that carries only 1500
bytes, a bulk TCP transfer through the gateway reaches the sensor's capture interface as the
very packets on the wire, checksums included, and nothing is fragmented on the way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final

from components.mirroring import GatewayMirrorMode

from ..lab import Lab
from ..pcap import addresses, checksums_final, compare, datagrams, tcp_mss
from ..topology import VPC_MTU, Host
from .common import SERVICE_PORT, SETTLE, CheckResult, Status, check_result, real_wire

SMALL_UNDERLAY: Final = 1500
"""Azure's virtual networks, most OpenStack tenant networks."""
UPLOAD: Final = 256 * 1024
DOWNLOAD: Final = 1024 * 1024
"""Bytes of the bulk transfer each way: about 900 full-size segments, their ACKs, and bursts
that receive merging (GRO) would merge."""
RECORDED_FRAMES: Final = 4096
"""More than the transfer's packets, so the recordings never lose one."""


@contextmanager
def small_underlay(lab: Lab, mtu: int = SMALL_UNDERLAY) -> Iterator[None]:
    """For the block: a ``mtu``-byte network between the gateway and the sensor and a real wire
    (:func:`~lab.checks.common.real_wire`); then the lab's jumbo underlay again, both hosts
    re-applied."""
    try:
        with real_wire(lab):
            lab.use_underlay(mtu)
            yield
    finally:
        lab.use_underlay(VPC_MTU)
        time.sleep(2)  # the restarted heartbeat sender's first heartbeat
        lab.sensor("apply", check=True)


def bulk_tcp_copies_are_the_wire_packets(
    lab: Lab, damage: Callable[[Lab], None] | None = None
) -> list[CheckResult]:
    """A bulk TCP transfer app <-> internet over a 1500-byte underlay: every packet on the app's
    wire arrives on the capture interface once, byte for byte with final checksums; the
    gateway clamps the MSS so no copy is fragmented (gateway IpFragCreates and sensor
    IpReasmReqds unchanged). ``damage``, run once the underlay is small, breaks something on
    purpose (the tests show each line can fail); leaving the small underlay re-applies both
    hosts."""
    name = "bulk_tcp_copies_are_the_wire_packets"
    mirror = lab.topology.plan.gateway_mirror
    if mirror is not None and mirror.mode is GatewayMirrorMode.TEE:
        # Tee clones are the forwarded packets themselves, no bigger, so they need no clamp; and
        # taken before routing they carry the TTL minus one, so they are not byte-identical.
        return [CheckResult(name, "bulk TCP over a small underlay", Status.SKIP, "tee")]
    with small_underlay(lab):
        if damage is not None:
            damage(lab)
        return bulk_tcp_results(lab, name, SMALL_UNDERLAY)


def bulk_tcp_results(lab: Lab, name: str, underlay_mtu: int) -> list[CheckResult]:
    """The bulk transfer and its two results (byte-for-byte; unfragmented), on a lab whose
    gateway-to-sensor network already carries ``underlay_mtu`` bytes and whose hosts' wire is
    real (offloads off)."""
    capture = lab.sensor_plan.capture_interface
    internet, app = lab.address(Host.INTERNET), lab.address(Host.APP)
    app_interface = lab.topology.link_of(Host.APP).host_interface
    before = lab.snmp(Host.GATEWAY, "IpFragCreates")["IpFragCreates"]
    reassembled = lab.snmp(Host.SENSOR, "IpReasmReqds")["IpReasmReqds"]
    with (
        lab.bulk_server(Host.INTERNET, internet, SERVICE_PORT, download=DOWNLOAD),
        lab.record(Host.SENSOR, capture, frames=RECORDED_FRAMES) as copies,
        lab.record(
            Host.APP, app_interface, "host", str(internet), frames=RECORDED_FRAMES
        ) as wire,  # fmt: skip
    ):
        sent, received = lab.bulk(Host.APP, internet, SERVICE_PORT, upload=UPLOAD)
        copies.wait_for_frames(wire.count(), timeout=5.0)
        time.sleep(SETTLE)
    fragments = lab.snmp(Host.GATEWAY, "IpFragCreates")["IpFragCreates"] - before
    reassembled = lab.snmp(Host.SENSOR, "IpReasmReqds")["IpReasmReqds"] - reassembled
    clamp = lab.gateway("check").stderr
    original = datagrams(wire.frames())
    arrived = [d for d in datagrams(copies.frames()) if {app, internet} == set(addresses(d))]
    exact = compare(original, arrived)
    unfinished = sum(not checksums_final(datagram) for datagram in arrived)
    wire_unfinished = sum(not checksums_final(datagram) for datagram in original)
    largest = max((len(datagram) for datagram in original), default=0)
    announced = sorted({mss for d in original if (mss := tcp_mss(d)) is not None})
    transferred = (sent, received) == (UPLOAD, DOWNLOAD)
    ok = transferred and exact.exact and exact.expected > 0 and unfinished == wire_unfinished == 0
    results = [
        check_result(
            name,
            f"bulk TCP app <-> internet over a {underlay_mtu}-byte underlay, byte-for-byte",
            ok,
            f"{sent} bytes up, {received} down; on the sensor's {capture}: {exact.describe()}; "
            f"checksums not final: {unfinished} of the copies, {wire_unfinished} on the app's "
            f"wire",
        )
    ]
    ok = transferred and fragments == 0 and reassembled == 0 and largest + 50 <= underlay_mtu
    results.append(
        check_result(
            name,
            f"bulk TCP over a {underlay_mtu}-byte underlay, copies unfragmented",
            ok,
            f"largest packet {largest} bytes (copy {largest + 50}); MSS announced on the app's "
            f"wire {announced}; gateway IpFragCreates +{fragments}, sensor IpReasmReqds "
            f"+{reassembled}; gateway check: {clamp.strip().split('; ', 3)[-1]}",
        )
    )
    return results
