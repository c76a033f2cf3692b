"""Planning of a :class:`~components.aws.sensor_fleet.SensorFleet`: arguments checked, the fleet
sized from the expected traffic; registers nothing and loads no cloud SDK.

Sizing: ``expected_gbps`` of mirrored traffic is spread over the zones (cross-zone load
balancing is off, so each zone's sensors take that zone's copies), and each zone gets
``ceil(expected_gbps / zones / capacity)`` sensors, within ``min_per_zone`` and
``max_per_zone``. The capacity of one sensor comes from :data:`SENSOR_CAPACITY_GBPS`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..errors import CloudtapInputError
from ..fields import parse_enum, parse_int

CAPACITY_AS_OF = "2026-12-01"
CAPACITY_SOURCE = (
    "MetaFlows' sizing of about 2 Gbit/s of inspected traffic per sensor of 2 vCPUs (the figure "
    "issue 13 cites; Arkime's AWS guide sizes capture nodes the same way); other sizes assume "
    "capacity grows with vCPUs, capped at the type's baseline network bandwidth (EC2 "
    "documentation, 'Amazon EC2 instance network bandwidth'). Measure your own IDS rules."
)
SENSOR_CAPACITY_GBPS: Mapping[str, float] = {
    # type: Gbit/s of mirrored copies one sensor of this type inspects (see CAPACITY_SOURCE)
    "c5n.large": 2.0,  # 2 vCPU, 3 Gbit/s baseline
    "c5n.xlarge": 4.0,  # 4 vCPU, 5 Gbit/s baseline
    "c5n.2xlarge": 8.0,  # 8 vCPU, 10 Gbit/s baseline
    "c5n.4xlarge": 15.0,  # 16 vCPU, capped at its 15 Gbit/s baseline
    "c6in.large": 2.0,  # 2 vCPU, 3.125 Gbit/s baseline
    "c6in.xlarge": 4.0,  # 4 vCPU, 6.25 Gbit/s baseline
    "c6in.2xlarge": 8.0,  # 8 vCPU, 12.5 Gbit/s baseline
    "m5.large": 0.75,  # 2 vCPU, but only 0.75 Gbit/s baseline
    "m5.xlarge": 1.25,  # 4 vCPU, 1.25 Gbit/s baseline
}
"""Per instance type: what one sensor handles. Data, dated :data:`CAPACITY_AS_OF`."""
DEFAULT_INSTANCE_TYPE = "c5n.large"
DEFAULT_EXPECTED_GBPS = 2.0
DEFAULT_MIN_PER_ZONE = 1
DEFAULT_MAX_PER_ZONE = 4
MAX_PER_ZONE = 100
MAX_EXPECTED_GBPS = 10_000.0
TARGET_UTILISATION = 0.7
"""Target tracking keeps each sensor's network-in at this share of its capacity: headroom for
bursts while a new sensor boots (several minutes: packages, rules)."""


class FleetTarget(StrEnum):
    """What the fleet sits behind, and so what a mirror session targets."""

    NLB = "nlb"
    """A Network Load Balancer: a UDP 4789 listener takes the VXLAN copies and hashes each flow
    to one sensor; one mirror target for the whole fleet."""
    GWLB = "gwlb"
    """A Gateway Load Balancer: copies reach the sensors as GENEVE on 6081, through an endpoint
    per zone; a mirror session can target its own zone's endpoint."""


@dataclass(frozen=True)
class FleetSizing:
    zones: int
    capacity_gbps: float
    """What one sensor handles (the table's, or ``capacity_gbps_per_sensor``)."""
    needed_per_zone: int
    """What ``expected_gbps`` needs, before the bounds."""
    per_zone: int
    min_per_zone: int
    max_per_zone: int

    @property
    def desired(self) -> int:
        return self.per_zone * self.zones

    @property
    def minimum(self) -> int:
        return self.min_per_zone * self.zones

    @property
    def maximum(self) -> int:
        return self.max_per_zone * self.zones

    @property
    def network_in_target_bytes_per_minute(self) -> float:
        """Target tracking's value for ``ASGAverageNetworkIn`` with one-minute monitoring."""
        return self.capacity_gbps * TARGET_UTILISATION * 1e9 / 8 * 60


def parse_expected_gbps(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise CloudtapInputError("expected_gbps", value, "a number of Gbit/s above 0")
    if not 0 < value <= MAX_EXPECTED_GBPS:
        raise CloudtapInputError(
            "expected_gbps", value, f"a number of Gbit/s above 0 and at most {MAX_EXPECTED_GBPS:g}"
        )
    return float(value)


def sensor_capacity(instance_type: str, override: Any) -> float:
    """Gbit/s one sensor handles: ``capacity_gbps_per_sensor``, else the table's figure."""
    if override is not None:
        if isinstance(override, bool) or not isinstance(override, (int, float)):
            raise CloudtapInputError("capacity_gbps_per_sensor", override, "Gbit/s above 0")
        if not 0 < override <= 400:
            raise CloudtapInputError(
                "capacity_gbps_per_sensor", override, "Gbit/s above 0 and at most 400"
            )
        return float(override)
    if instance_type not in SENSOR_CAPACITY_GBPS:
        raise CloudtapInputError(
            "instance_type",
            instance_type,
            f"a type whose sensor capacity cloudtap knows ({', '.join(SENSOR_CAPACITY_GBPS)}), "
            "or capacity_gbps_per_sensor with what one sensor of this type handles",
        )
    return SENSOR_CAPACITY_GBPS[instance_type]


def plan_sizing(raw: Mapping[str, Any], instance_type: str, zones: int) -> FleetSizing:
    """The fleet's size per zone from ``expected_gbps``, within the bounds."""
    expected = parse_expected_gbps(raw.get("expected_gbps", DEFAULT_EXPECTED_GBPS))
    capacity = sensor_capacity(instance_type, raw.get("capacity_gbps_per_sensor"))
    low = parse_int("min_per_zone", raw.get("min_per_zone", DEFAULT_MIN_PER_ZONE), 1, MAX_PER_ZONE)
    high = parse_int(
        "max_per_zone", raw.get("max_per_zone", max(DEFAULT_MAX_PER_ZONE, low)), low, MAX_PER_ZONE
    )
    # A tiny epsilon keeps 4.0 / 2.0 at 2 whatever the float rounding.
    needed = max(1, math.ceil(expected / zones / capacity - 1e-9))
    return FleetSizing(
        zones=zones,
        capacity_gbps=capacity,
        needed_per_zone=needed,
        per_zone=min(max(needed, low), high),
        min_per_zone=low,
        max_per_zone=high,
    )


def parse_target(value: Any) -> FleetTarget:
    return parse_enum("target", FleetTarget.NLB.value if value is None else value, FleetTarget)


def preview_line(
    sizing: FleetSizing, expected_gbps: float, instance_type: str, target: FleetTarget
) -> str:
    """What the preview says about the fleet's size, and why."""
    bounded = (
        ""
        if sizing.per_zone == sizing.needed_per_zone
        else f" (needs {sizing.needed_per_zone}, bounded to {sizing.min_per_zone}-"
        f"{sizing.max_per_zone} per zone)"
    )
    return (
        f"sensor fleet behind a {target.value.upper()}: {expected_gbps:g} Gbit/s expected over "
        f"{sizing.zones} zone(s) -> {sizing.per_zone} {instance_type} per zone{bounded}, "
        f"{sizing.desired} in all, scaling {sizing.minimum}-{sizing.maximum} on network-in "
        f"(one handles about {sizing.capacity_gbps:g} Gbit/s: capacity data of {CAPACITY_AS_OF})"
    )
