"""What the lab proves, one function per behaviour, and the registry of them all (:data:`CHECKS`).

Each check takes a running :class:`~lab.lab.Lab`, sends real traffic, and returns
:class:`CheckResult` lines with the evidence in ``detail``. A check that breaks something on
purpose does it through :func:`~lab.checks.common.broken`, which repairs the host and re-runs
``apply`` before the check returns, so the checks can run in any order against one lab.
``python -m lab`` and ``tests/lab`` both run these functions.

- :mod:`~lab.checks.gateway`: forwarding, masquerade, port forwards, tier isolation, and the
  gateway's ``check`` naming each missing rule;
- :mod:`~lab.checks.mirror`: the gateway mirror's copies at the sensor, exact and complete,
  production traffic through a sensor outage, and the gateway's ``check`` naming a broken mirror;
- :mod:`~lab.checks.dataplane`: a bulk TCP transfer over a 1500-byte underlay, copied whole
  (the MSS clamp) and byte for byte, checksums included;
- :mod:`~lab.checks.sensor`: every cloud's feed decapsulated onto the capture interface, in
  bursts too, and the sensor's ``check`` and ``apply``;
- :mod:`~lab.checks.common`: the report line (:class:`CheckResult`) and breaking a host on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Final

from ..lab import Lab, LabError
from .common import Check, CheckResult, Status
from .dataplane import bulk_tcp_copies_are_the_wire_packets
from .gateway import (
    apply_is_idempotent,
    check_detects_a_flush_and_apply_restores,
    check_fails_when_forwarding_is_off,
    check_names_each_missing_rule,
    egress_is_masqueraded,
    isolated_tiers_cannot_reach_the_private_tier,
    own_traffic_to_a_forwarded_port_is_not_looped_back,
    port_forwards_reach_the_app,
    rule_deletion,
    ssh_is_not_forwarded,
)
from .mirror import (
    gateway_check_names_a_broken_mirror,
    mirror_copies_every_forwarded_packet_exactly,
    mirror_shows_app_traffic_at_the_sensor,
    production_survives_a_sensor_outage,
)
from .one_armed import (
    fabric_isolates_the_tiers,
    one_armed_bulk_tcp_copies_are_the_wire_packets,
    one_armed_copies_are_byte_identical,
)
from .sensor import (
    sensor_apply_is_idempotent,
    sensor_check_names_what_is_missing,
    sensor_decapsulates_every_feed,
    sensor_loses_nothing_in_a_burst,
    sensor_tags_copies_by_vni,
)

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
    bulk_tcp_copies_are_the_wire_packets,
    sensor_decapsulates_every_feed,
    sensor_loses_nothing_in_a_burst,
    production_survives_a_sensor_outage,
    gateway_check_names_a_broken_mirror,
    sensor_check_names_what_is_missing,
    sensor_apply_is_idempotent,
)
"""Every check, in report order: what the gateway does for the network's traffic first (egress,
port forwards, SSH, isolation), then how its ``apply`` and ``check`` behave, then the gateway
mirror and the sensor that receives it; the checks that break the sensor come last of those."""


_ONE_ARMED_INSTEAD: Final[dict[Check, Check]] = {
    isolated_tiers_cannot_reach_the_private_tier: fabric_isolates_the_tiers,
    mirror_copies_every_forwarded_packet_exactly: one_armed_copies_are_byte_identical,
    bulk_tcp_copies_are_the_wire_packets: one_armed_bulk_tcp_copies_are_the_wire_packets,
}
ONE_ARMED_CHECKS: Final[tuple[Check, ...]] = tuple(
    _ONE_ARMED_INSTEAD.get(check, check)
    for check in CHECKS
    # Multi-homed machinery: feeds sent from the gateway's private-tier address, the sensor's
    # outage through the gateway's monitor interface. The sensor runs the same files either way.
    if check
    not in (sensor_decapsulates_every_feed, sensor_loses_nothing_in_a_burst,
            production_survives_a_sensor_outage)
)  # fmt: skip
"""The checks of the Azure shape (:mod:`lab.one_armed`): isolation is the fabric's routes, copies
are compared as IPv4 datagrams (the fabric sits between the app and the gateway) with full-size
packets and the feed's fragments counted, bulk TCP crosses the shape's own 1500-byte network
whole; the sensor-feed checks that need a multi-homed gateway are left to the multi-homed lab."""


def checks_for(lab: Lab) -> tuple[Check, ...]:
    """The checks of the lab's shape."""
    return ONE_ARMED_CHECKS if lab.topology.one_armed else CHECKS


def run_checks(lab: Lab, checks: Sequence[Check] = CHECKS) -> Iterator[CheckResult]:
    """Results of ``checks`` as they come; a check the lab cannot carry out is a FAIL line."""
    for check in checks:
        try:
            yield from check(lab)
        except LabError as error:
            name = getattr(check, "__name__", "check")
            yield CheckResult(name, name.replace("_", " "), Status.FAIL, f"lab error: {error}")


__all__ = [
    "CHECKS",
    "ONE_ARMED_CHECKS",
    "Check",
    "CheckResult",
    "Status",
    "apply_is_idempotent",
    "bulk_tcp_copies_are_the_wire_packets",
    "check_detects_a_flush_and_apply_restores",
    "check_fails_when_forwarding_is_off",
    "check_names_each_missing_rule",
    "checks_for",
    "egress_is_masqueraded",
    "gateway_check_names_a_broken_mirror",
    "isolated_tiers_cannot_reach_the_private_tier",
    "mirror_copies_every_forwarded_packet_exactly",
    "mirror_shows_app_traffic_at_the_sensor",
    "own_traffic_to_a_forwarded_port_is_not_looped_back",
    "port_forwards_reach_the_app",
    "production_survives_a_sensor_outage",
    "rule_deletion",
    "run_checks",
    "sensor_apply_is_idempotent",
    "sensor_check_names_what_is_missing",
    "sensor_decapsulates_every_feed",
    "sensor_loses_nothing_in_a_burst",
    "sensor_tags_copies_by_vni",
    "ssh_is_not_forwarded",
]
