"""The monthly estimate of what an AWS stack creates, from its plans (before anything exists).

Pure: it reads the plans the program makes anyway (network, sensor, mirror) and
:mod:`.prices`. Counted: the gateway and the sensor (instance hours, root and log volumes), the
gateway's Elastic IP (public IPv4 hours), one Traffic Mirroring session per natively mirrored
interface, the enrolment function (its scheduled invocations, their compute and logs), and a
sensor fleet's load balancer hours (a GWLB's endpoint hours too), with its per-GB charges in a
note. Not counted, and said so: a target load balancer cloudtap does not create, the sessions
the enrolment function will create (each one priced in the line), the fleet's per-GB charges
(traffic varies: the note prices the expected traffic), data transfer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..costs import HOURS_PER_MONTH, CostItem, Estimate, hourly, per_month
from . import prices
from .fleet_plan import FleetTarget
from .mirror_checks import TargetKind

if TYPE_CHECKING:
    from .mirror_planning import MirrorSessionPlan
    from .sensor import AwsSensorPlan
    from .sensor_fleet import SensorFleetPlan

SOURCE = "components/aws/prices.py"
# The enrolment function's own use: one scheduled run every 5 minutes (events add a few more),
# each well under ENROL_SECONDS at 128 MB, each logging about ENROL_LOG_BYTES.
ENROL_INVOCATIONS = HOURS_PER_MONTH * 12
ENROL_SECONDS = 2.0
ENROL_MEMORY_GB = 0.125
ENROL_LOG_BYTES = 2000


def estimate_aws(
    region: str | None,
    *,
    gateway_instance_type: str,
    sensor: AwsSensorPlan | None,
    mirror: MirrorSessionPlan | None,
    gateways: int = 1,
    auto_scaling_gateways: bool = False,
    fleet: SensorFleetPlan | None = None,
) -> Estimate:
    """The stack's monthly estimate in ``region`` (``None``: unknown, default prices).

    ``gateways``: how many (``gateway_strategy: one_per_zone``: one per zone);
    ``auto_scaling_gateways``: each also has a public address on its own primary interface."""
    at = prices.price_region(region)
    instance = prices.INSTANCE_HOURLY[at]
    gp3 = prices.GP3_GB_MONTH[at]
    items = gateway_items(
        at, gateway_instance_type, gateways=gateways, auto_scaling=auto_scaling_gateways
    )
    notes = []
    if region != at:
        notes.append(f"{at} prices: the data has none for {region or 'an unknown region'}")
    if sensor is not None:
        items.append(hourly(f"sensor {sensor.instance_type}", instance.get(sensor.instance_type)))
        items.append(per_month("sensor root volume", gp3, prices.ROOT_VOLUME_GB))
        if sensor.log_volume_size_gb:
            items.append(
                per_month(
                    f"sensor {sensor.log_volume_size_gb} GB logs", gp3, sensor.log_volume_size_gb
                )
            )
    if fleet is not None:
        count = fleet.sizing.desired
        items.append(
            hourly(
                f"{count} fleet sensors {fleet.instance_type}",
                instance.get(fleet.instance_type),
                count,
            )
        )
        items.append(per_month(f"{count} fleet root volumes", gp3, prices.ROOT_VOLUME_GB * count))
        balancer_items, per_gb = fleet_balancer(at, fleet)
        items += balancer_items
        notes.append(fleet_traffic_note(fleet, per_gb))
        notes.append(f"not counted: sensors added by scaling (up to {fleet.sizing.maximum})")
    if mirror is not None:
        session = prices.MIRROR_SESSION_HOURLY[at]
        if mirror.sessions:
            count = len(mirror.sessions)
            items.append(hourly(f"{count} mirror session{'s' * (count != 1)}", session, count))
        if mirror.enrolment is not None:
            items.append(_enrolment(at))
            notes.append(
                f"each interface the enrolment function mirrors adds "
                f"${session * HOURS_PER_MONTH:.2f}"
            )
        if mirror.target.kind in (
            TargetKind.NETWORK_LOAD_BALANCER,
            TargetKind.GATEWAY_LOAD_BALANCER_ENDPOINT,
        ):
            notes.append("the target load balancer and its data processing are not counted")
    return Estimate(tuple(items), at, prices.AS_OF, SOURCE, tuple(notes))


GB_PER_GBPS_HOUR = 1e9 / 8 / 1e9 * 3600
"""GB an hour that 1 Gbit/s carries (450)."""


def fleet_balancer(at: str, fleet: SensorFleetPlan) -> tuple[list[CostItem], float | None]:
    """The fleet's load balancer hours (and a GWLB's endpoint hours, one per zone), and what
    each GB of copies through it costs (capacity units, plus a GWLB endpoint's data charge);
    ``None`` where the data has no price."""
    if fleet.target is FleetTarget.NLB:
        unit = prices.NLCU_HOURLY.get(at)
        per_gb = None if unit is None else unit / prices.GB_PER_CAPACITY_UNIT_HOUR
        return [hourly("fleet NLB", prices.NLB_HOURLY.get(at))], per_gb
    zones = fleet.zones
    unit, endpoint_gb = prices.GLCU_HOURLY.get(at), prices.GWLB_ENDPOINT_GB.get(at)
    per_gb = (
        None
        if unit is None or endpoint_gb is None
        else unit / prices.GB_PER_CAPACITY_UNIT_HOUR + endpoint_gb
    )
    return [
        hourly("fleet GWLB", prices.GWLB_HOURLY.get(at)),
        hourly(f"{zones} GWLB endpoints", prices.GWLB_ENDPOINT_HOURLY.get(at), zones),
    ], per_gb


def fleet_traffic_note(fleet: SensorFleetPlan, per_gb: float | None) -> str:
    """The per-GB charge of the fleet's load balancer, and what ``expected_gbps`` sustained for
    the whole month would add (not in the total: traffic varies)."""
    kind = fleet.target.value.upper()
    what = "capacity units" if fleet.target is FleetTarget.NLB else "capacity units and endpoints"
    if per_gb is None:
        return (
            f"the {kind}'s per-GB charges ({what}) have no price in the data "
            f"(load balancer prices of {prices.LOAD_BALANCER_AS_OF})"
        )
    sustained = fleet.expected_gbps * GB_PER_GBPS_HOUR * HOURS_PER_MONTH * per_gb
    return (
        f"+ ${per_gb:.4f} per GB of copies through the {kind} ({what}; not in the total: at "
        f"the expected {fleet.expected_gbps:g} Gbit/s all month that is ${sustained:.2f}; load "
        f"balancer prices of {prices.LOAD_BALANCER_AS_OF})"
    )


def gateway_items(
    at: str, instance_type: str, *, gateways: int, auto_scaling: bool
) -> list[CostItem]:
    """The gateways' instance hours, root volumes and public IPv4 addresses."""
    instance = prices.INSTANCE_HOURLY[at].get(instance_type)
    gp3, ipv4 = prices.GP3_GB_MONTH[at], prices.PUBLIC_IPV4_HOURLY[at]
    if gateways == 1 and not auto_scaling:
        return [
            hourly(f"gateway {instance_type}", instance),
            per_month("gateway root volume", gp3, prices.ROOT_VOLUME_GB),
            hourly("gateway Elastic IP", ipv4),
        ]
    addresses = gateways * (2 if auto_scaling else 1)
    return [
        hourly(f"{gateways} gateways {instance_type}", instance, gateways),
        per_month(f"{gateways} gateway root volumes", gp3, prices.ROOT_VOLUME_GB * gateways),
        # An Auto Scaling gateway's own primary interface has a public address too.
        hourly(f"{addresses} gateway public IPv4 addresses", ipv4, addresses),
    ]


def _enrolment(at: str) -> CostItem:
    requests = ENROL_INVOCATIONS / 1_000_000 * prices.LAMBDA_PER_MILLION_REQUESTS[at]
    compute = ENROL_INVOCATIONS * ENROL_SECONDS * ENROL_MEMORY_GB * prices.LAMBDA_GB_SECOND[at]
    logs = ENROL_INVOCATIONS * ENROL_LOG_BYTES / 1e9 * prices.LOGS_INGESTED_GB[at]
    return CostItem("enrolment function", requests + compute + logs)
