"""The mirror and sensor checks are not vacuous: each fails against the breakage it guards.

Every test damages the gateway's mirror or the sensor (as an operator or a faulty script might),
runs one check, expects FAIL with the evidence that shows why, then ``apply`` restores both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from lab import Host, Lab, Status, checks
from lab.checks.common import feed_paths, kernel_device
from lab.lab import MIRROR_TABLE, SENSOR_TABLE

pytestmark = pytest.mark.lab


@contextmanager
def broken(lab: Lab, host: Host, *commands: list[str]) -> Iterator[None]:
    """Run each command in ``host`` for the block's length, then re-apply sensor and gateway."""
    try:
        for argv in commands:
            lab.run(host, *argv)
        yield
    finally:
        lab.sensor("apply", check=True)
        lab.gateway("apply", check=True)


def exact(lab: Lab) -> checks.CheckResult:
    return checks.mirror_copies_every_forwarded_packet_exactly(lab)[0]


def test_a_mirror_that_misses_what_private_hosts_receive_fails_the_exact_copy_check(
    lab: Lab,
) -> None:
    with broken(lab, Host.GATEWAY, ["nft", "flush", "chain", "netdev", MIRROR_TABLE, "received_1"]):
        result = exact(lab)
    assert result.status is Status.FAIL, result.line()
    assert " 0 missing" not in result.detail


def test_a_mirror_that_copies_twice_fails_the_exact_copy_check(lab: Lab) -> None:
    twice = ["nft", "add", "rule", "netdev", MIRROR_TABLE, "sent_1", "ip", "saddr",
             "10.0.64.0/20", "dup", "to", "cloudtap-mirror"]  # fmt: skip
    with broken(lab, Host.GATEWAY, twice):
        result = exact(lab)
    assert result.status is Status.FAIL, result.line()
    assert " 0 duplicated" not in result.detail
    assert " 0 missing" in result.detail


def test_a_mirror_that_copies_the_gateways_own_traffic_fails_the_exact_copy_check(
    lab: Lab,
) -> None:
    everything = ["nft", "add", "rule", "netdev", MIRROR_TABLE, "sent_1", "ip", "saddr",
                  "10.0.64.0/20", "dup", "to", "cloudtap-mirror"]  # fmt: skip
    with broken(lab, Host.GATEWAY, ["nft", "flush", "chain", "netdev", MIRROR_TABLE, "sent_1"],
                everything):  # fmt: skip
        result = exact(lab)
    assert result.status is Status.FAIL, result.line()
    assert " 0 extra" not in result.detail
    assert " 0 missing" in result.detail  # only the gateway's own exchange is too much


def test_a_capture_interface_too_small_for_jumbo_frames_fails_the_feed_check(lab: Lab) -> None:
    capture = lab.sensor_plan.capture_interface
    shrink = [
        ["ip", "link", "set", "dev", name, "mtu", "1500"] for name in (capture, f"{capture}-tx")
    ]
    with broken(lab, Host.SENSOR, *shrink):
        results = checks.sensor_decapsulates_every_feed(lab)
    aws = results[0]
    assert aws.status is Status.FAIL, aws.line()
    assert aws.detail.startswith("86/100 inner frames")  # the 14 frames of 8000 bytes dropped


def test_a_sensor_open_to_any_feed_source_fails_the_feed_check(lab: Lab) -> None:
    with broken(lab, Host.SENSOR, ["nft", "flush", "chain", "inet", SENSOR_TABLE, "feeds_in"]):
        results = checks.sensor_decapsulates_every_feed(lab)
    outsider = results[-1]
    assert outsider.status is Status.FAIL, outsider.line()
    assert "20 unexpected frame(s)" in outsider.detail


def test_without_its_icmp_rule_a_sensor_without_decapsulation_answers_every_copy(
    lab: Lab,
) -> None:
    """The control for the outage check's "ICMP from the sensor: 0": the rule is what keeps
    a sensor whose VXLAN device is gone from answering the gateway's copies."""
    sensor = str(lab.address(Host.SENSOR))
    with broken(
        lab,
        Host.SENSOR,
        ["nft", "flush", "chain", "inet", SENSOR_TABLE, "feed_errors_out"],
        ["ip", "link", "del", "dev", "cloudtap-vxlan"],
    ):
        with lab.record(Host.GATEWAY, "gw-mon", "icmp", "and", "src", "host", sensor) as errors:
            assert lab.ping(Host.APP, lab.address(Host.INTERNET), timeout=2.0)
            lab.run(Host.APP, "sleep", "0.3")
        unreachables = errors.frames()
    assert unreachables, "the sensor sent no ICMP error even without the rule"


def test_a_sensor_apply_that_repairs_a_redirect_fails_the_idempotence_check(lab: Lab) -> None:
    """The idempotence check compares the tc filters of the device that really decapsulates
    VXLAN here: a second redirect on it, which ``apply`` replaces by one, is a change."""
    device = kernel_device(feed_paths(lab)["vxlan"])
    if device is None:
        pytest.skip("this kernel has no VXLAN driver: cloudtap-decap takes VXLAN")
    feeder = f"{lab.sensor_plan.capture_interface}-tx"
    second = ["tc", "filter", "add", "dev", device, "ingress", "pref", "2", "protocol", "all",
              "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev",
              feeder]  # fmt: skip
    with broken(lab, Host.SENSOR, second):
        results = checks.sensor_apply_is_idempotent(lab)
    assert [result.status for result in results] == [Status.FAIL], results
    assert "tc filters" in results[0].detail
