"""The mirror's data plane over a small underlay, in the namespace lab: a bulk TCP transfer is
copied whole (the gateway clamps the MSS) and byte for byte with final checksums (the sensor's
tunnel devices merge nothing). Each failure mode is shown to fail the check."""

from __future__ import annotations

import pytest

from lab import Host, Lab, Status
from lab.checks.dataplane import bulk_tcp_copies_are_the_wire_packets

pytestmark = pytest.mark.lab


def test_bulk_tcp_over_a_1500_byte_underlay_arrives_whole_and_byte_for_byte(lab: Lab) -> None:
    results = bulk_tcp_copies_are_the_wire_packets(lab)
    failures = [result.line() for result in results if result.status is not Status.PASS]
    assert len(results) == 2
    assert not failures, "\n".join(failures)
    assert "forwarded TCP clamped to MSS 1410" in results[1].detail


def test_without_the_clamp_full_size_copies_fragment(lab: Lab) -> None:
    def unclamped(lab: Lab) -> None:
        lab.run(Host.GATEWAY, "nft", "flush", "chain", "ip", "cloudtap", "clamp_mss")

    _exact, whole = bulk_tcp_copies_are_the_wire_packets(lab, unclamped)
    assert whole.status is Status.FAIL, whole.line()
    assert "IpFragCreates +0" not in whole.detail


def test_merged_copies_with_checksums_left_to_the_veth_are_caught(lab: Lab) -> None:
    checked: list[str] = []

    def merging(lab: Lab) -> None:
        lab.run(Host.SENSOR, "ethtool", "-K", "cloudtap-vxlan", "gro", "on")
        lab.run(Host.SENSOR, "ethtool", "-K", "cloudtap0-tx", "tx", "on")
        checked.append(lab.sensor("check").stderr)

    exact, _whole = bulk_tcp_copies_are_the_wire_packets(lab, merging)
    assert exact.status is Status.FAIL, exact.line()
    assert "checksums not final: 0 of the copies" not in exact.detail
    assert "cloudtap-vxlan (vxlan) merges received packets (GRO is on)" in checked[0]


@pytest.mark.parametrize(
    ("what", "commands"),
    [
        # Without ethtool the sensor limits GRO to 0 bytes instead: nothing is merged.
        ("GRO size limit 0", [["ethtool", "-K", "cloudtap-vxlan", "gro", "on"],
                              ["ip", "link", "set", "dev", "cloudtap-vxlan", "gro_max_size", "0"]]),
        # Merged and cut up again, the copies still get final checksums: the feeder end does
        # not offload them, so the stack finishes each one.
        ("GRO on, checksums finished", [["ethtool", "-K", "cloudtap-vxlan", "gro", "on"]]),
    ],
)  # fmt: skip
def test_each_defence_alone_keeps_copies_exact(
    lab: Lab, what: str, commands: list[list[str]]
) -> None:
    def partly(lab: Lab) -> None:
        for command in commands:
            lab.run(Host.SENSOR, *command)

    exact, whole = bulk_tcp_copies_are_the_wire_packets(lab, partly)
    assert exact.status is Status.PASS, f"{what}: {exact.line()}"
    assert whole.status is Status.PASS, f"{what}: {whole.line()}"
