"""The gateway mirror to a SensorFleet behind an NLB, under strict mocks: the NLB's fixed address
per monitor subnet, the one settings text every zone's gateway reads and the destination each
picks from it (the shipped script, run), the preview's line, and what is refused (a GWLB fleet,
a mirror not sent to the fleet, ``to_fleet`` where it cannot work)."""

from __future__ import annotations

import ipaddress
import logging
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from components import CloudtapInputError, MonitoredVpc, Sensor
from components.aws.mirror_session import MirrorSession
from components.aws.sensor_fleet import SensorFleet, plan_sensor_fleet
from components.gateway import SCRIPT_PATH, render_cloud_config
from components.mirroring import (
    DEFAULT_SENSOR_HOST_OFFSET,
    FLEET_LOAD_BALANCER_HOST_OFFSET,
    fleet_load_balancer_address,
)
from components.network_plan import SMALLEST_PREFIX, plan_network
from tests.fakes.aws import NoAws
from tests.mocks import ProgramRun, StrictMocks, run_program
from tests.shell import write_rendered

GROUP = "aws:autoscaling/group:Group"
GATEWAY_SOURCE: Any = {
    "name": "legacy",
    "instance_type": "t2.micro",
    "network_interface_ids": ["eni-0a1b2c3d"],
}
FLEET_MIRROR: Any = {"gateway_mirror": {"to_fleet": True}, "availability_zone_count": 2}


def fleet_program(
    mocks: StrictMocks,
    network: dict[str, Any],
    fleet_args: dict[str, Any] | None = None,
    mirror_args: dict[str, Any] | None = None,
) -> ProgramRun[tuple[MonitoredVpc, SensorFleet]]:
    def program() -> tuple[MonitoredVpc, SensorFleet]:
        vpc = MonitoredVpc("net", network)  # type: ignore[arg-type]
        fleet = SensorFleet("fleet", {"network": vpc, **(fleet_args or {})})  # type: ignore[typeddict-item]
        if mirror_args is not None:
            MirrorSession(
                "mirror",
                {"target": {"fleet": fleet}, **mirror_args},  # type: ignore[typeddict-item]
                clients=NoAws(),
            )
        return vpc, fleet

    return run_program(program, mocks)


# -- the NLB's fixed addresses ------------------------------------------------------------------


def test_the_offset_clears_reserved_addresses_and_the_sensor_in_the_smallest_subnet() -> None:
    smallest = ipaddress.IPv4Network(f"10.0.0.0/{SMALLEST_PREFIX}")
    address = fleet_load_balancer_address(smallest)
    # AWS reserves the first four addresses and the last of every subnet.
    reserved = {*list(smallest)[:4], smallest.broadcast_address}
    assert address in smallest and address not in reserved
    assert FLEET_LOAD_BALANCER_HOST_OFFSET != DEFAULT_SENSOR_HOST_OFFSET
    assert fleet_load_balancer_address(ipaddress.IPv4Network("10.0.144.0/20")) == (
        ipaddress.IPv4Address("10.0.144.11")
    )


def test_an_nlb_sits_at_a_fixed_address_in_each_monitor_subnet(mocks: StrictMocks) -> None:
    run = fleet_program(mocks, {"availability_zone_count": 3})
    balancer = run.named("fleet-lb")
    monitor = [run.named(f"net-monitor-{zone}") for zone in (1, 2, 3)]
    expected = [
        str(ipaddress.IPv4Network(subnet.inputs["cidrBlock"]).network_address + 11)
        for subnet in monitor
    ]
    assert balancer.inputs["subnetMappings"] == [
        {"subnetId": subnet.id, "privateIpv4Address": address}
        for subnet, address in zip(monitor, expected, strict=True)
    ]
    assert "subnets" not in balancer.inputs  # the mappings name the subnets
    assert run.result[1].load_balancer_addresses == expected
    assert [str(a) for a in run.result[1].plan.load_balancer_addresses] == expected
    outputs = run.outputs_of(run.named("fleet").urn)
    assert run.resolve(outputs["load_balancer_addresses"]) == expected
    # The NLB takes its addresses before any sensor of the group can take one of them.
    assert balancer.urn in run.named("fleet-group").dependencies


def test_a_gwlb_has_no_fixed_addresses(mocks: StrictMocks) -> None:
    run = fleet_program(mocks, {"availability_zone_count": 2}, {"target": "gwlb"})
    balancer = run.named("fleet-lb")
    assert "subnetMappings" not in balancer.inputs
    assert balancer.inputs["subnets"] == [run.named(f"net-monitor-{z}").id for z in (1, 2)]
    assert run.result[1].load_balancer_addresses == []


def test_a_gateway_mirror_sensor_on_the_nlb_address_is_refused(mocks: StrictMocks) -> None:
    network = {"gateway_mirror": {"sensor_address": "10.0.144.11"}}
    with pytest.raises(CloudtapInputError) as error:
        fleet_program(mocks, network)
    assert error.value.field == "network.gateway_mirror.sensor_address"
    assert "10.0.144.11" in str(error.value)


# -- the gateway's destination, per zone --------------------------------------------------------


def destination(
    settings: str, directory: Path, own_addresses: str
) -> subprocess.CompletedProcess[str]:
    """``cloudtap-gateway destination`` of the shipped script, for a gateway holding
    ``own_addresses``, reading ``settings``."""
    directory.mkdir(exist_ok=True)
    local, env = write_rendered(render_cloud_config(plan_network()), directory)
    conf = directory / "settings.conf"
    conf.write_text(settings)
    return subprocess.run(
        ["bash", str(local[SCRIPT_PATH]), "destination", "--own-addresses", own_addresses],
        env={"PATH": os.environ["PATH"], **env, "CLOUDTAP_GATEWAY_CONF": str(conf)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_every_zones_gateway_reads_one_settings_text_and_sends_to_its_own_zones_nlb(
    mocks: StrictMocks, tmp_path: Path
) -> None:
    network = {**FLEET_MIRROR, "gateway_strategy": "one_per_zone", "availability_zone_count": 3}
    run = fleet_program(mocks, network)
    settings = run.named("net-gateway-settings").inputs["insecureValue"]
    assert 'MIRROR_SENSOR=""' in settings
    assert (
        'MIRROR_SENSOR_BY_ZONE="10.0.0.0/20:10.0.128.11 10.0.16.0/20:10.0.144.11 '
        '10.0.32.0/20:10.0.160.11"'
    ) in settings
    # One parameter for every zone's gateway, and the user data holds none of it.
    assert len(run.of_type("aws:ssm/parameter:Parameter")) >= 1
    templates = {run.named(f"net-gateway-{z}-lt").inputs["userData"] for z in (1, 2, 3)}
    assert not any("10.0.144.11" in text for text in templates)
    nlb = run.result[1].load_balancer_addresses
    for zone, own in enumerate(["10.0.0.7 10.0.0.200", "10.0.16.9", "10.0.32.44 10.0.32.45"]):
        picked = destination(settings, tmp_path / f"zone-{zone}", own)
        assert picked.returncode == 0, picked.stderr
        assert picked.stdout.strip() == nlb[zone]


def test_a_single_gateway_sends_to_its_zones_nlb_and_a_stranger_gets_none(
    mocks: StrictMocks, tmp_path: Path
) -> None:
    run = fleet_program(mocks, FLEET_MIRROR)
    settings = run.named("net-gateway-settings").inputs["insecureValue"]
    picked = destination(settings, tmp_path / "a", "10.0.0.5")
    assert picked.stdout.strip() == "10.0.128.11", picked.stderr
    stranger = destination(settings, tmp_path / "b", "192.0.2.1")
    assert stranger.returncode != 0
    assert "no destination for its zone" in stranger.stderr


def test_without_to_fleet_the_gateway_keeps_its_one_sensor(tmp_path: Path) -> None:
    from components.gateway import render_settings  # noqa: PLC0415

    settings = render_settings(plan_network({"gateway_mirror": {}}))
    assert 'MIRROR_SENSOR="10.0.128.10"' in settings and 'MIRROR_SENSOR_BY_ZONE=""' in settings
    picked = destination(settings, tmp_path, "10.0.16.5")  # any zone: the one sensor
    assert picked.stdout.strip() == "10.0.128.10", picked.stderr


def test_the_script_refuses_both_destination_rules_at_once(tmp_path: Path) -> None:
    from components.gateway import render_settings  # noqa: PLC0415

    settings = render_settings(plan_network({"gateway_mirror": {}})).replace(
        'MIRROR_SENSOR_BY_ZONE=""', 'MIRROR_SENSOR_BY_ZONE="10.0.0.0/20:10.0.128.11"'
    )
    refused = destination(settings, tmp_path, "10.0.0.5")
    assert refused.returncode != 0
    assert "both MIRROR_SENSOR and MIRROR_SENSOR_BY_ZONE" in refused.stderr


# -- the mirror session -------------------------------------------------------------------------


def test_gateway_copies_to_an_nlb_fleet_say_where_they_go_and_why(
    mocks: StrictMocks, caplog: pytest.LogCaptureFixture
) -> None:
    network = {**FLEET_MIRROR, "gateway_strategy": "one_per_zone"}
    with caplog.at_level(logging.INFO):
        run = fleet_program(
            mocks, network, mirror_args={"sources": [GATEWAY_SOURCE], "method": "gateway"}
        )
    line = next(
        r.getMessage() for r in caplog.records if "gateway mirror -> sensor fleet" in r.getMessage()
    )
    assert "each zone's gateway to its own zone's NLB address (10.0.128.11, 10.0.144.11)" in line
    assert "5-tuple" in line and "source port" in line and "heartbeats" in line
    assert "ENA's, need not be" in line  # the claim's limit, said where the claim is made
    assert not run.of_type("aws:ec2/trafficMirrorSession:TrafficMirrorSession")


def test_a_single_gateway_line_names_its_zones_address(
    mocks: StrictMocks, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        fleet_program(
            mocks, FLEET_MIRROR, mirror_args={"sources": [GATEWAY_SOURCE], "method": "gateway"}
        )
    assert "from the gateway to its zone's NLB address 10.0.128.11, UDP 4789" in caplog.text


def test_a_gwlb_fleet_cannot_take_the_gateways_copies(mocks: StrictMocks) -> None:
    with pytest.raises(CloudtapInputError) as error:
        fleet_program(
            mocks,
            {"gateway_mirror": {}},
            {"target": "gwlb"},
            {"sources": [GATEWAY_SOURCE], "method": "gateway"},
        )
    assert error.value.field == "target.fleet"
    assert "GENEVE" in str(error.value)


def test_a_fleet_target_needs_the_gateway_mirror_sent_to_the_fleet(mocks: StrictMocks) -> None:
    with pytest.raises(CloudtapInputError) as error:
        fleet_program(
            mocks,
            {"gateway_mirror": {}},
            mirror_args={"sources": [GATEWAY_SOURCE], "method": "gateway"},
        )
    assert error.value.field == "network.gateway_mirror.to_fleet"


def test_a_sensor_target_is_refused_when_the_gateway_sends_to_the_fleet(
    mocks: StrictMocks,
) -> None:
    def program() -> None:
        vpc = MonitoredVpc("net", FLEET_MIRROR)
        sensor = Sensor("sensor", {"network": vpc})
        MirrorSession(
            "mirror",
            {"target": {"sensor": sensor}, "sources": [GATEWAY_SOURCE], "method": "gateway"},
            clients=NoAws(),
        )

    with pytest.raises(CloudtapInputError) as error:
        run_program(program, mocks)
    assert error.value.field == "target.sensor"


# -- heartbeats ---------------------------------------------------------------------------------


def test_no_sensor_expects_heartbeats_the_nlb_hands_to_one_of_them(mocks: StrictMocks) -> None:
    def program() -> tuple[SensorFleet, Sensor]:
        vpc = MonitoredVpc("net", {**FLEET_MIRROR, "gateway_strategy": "one_per_zone"})  # type: ignore[arg-type]
        return SensorFleet("fleet", {"network": vpc}), Sensor("sensor", {"network": vpc})

    run = run_program(program, mocks)
    assert 'HEARTBEAT_SOURCES=""' in run.named("fleet-settings").inputs["insecureValue"]
    # A lone sensor keeps the default .10 (the NLB has .11) and expects nothing either.
    assert run.result[1].private_ip == "10.0.128.10"
    assert 'HEARTBEAT_SOURCES=""' in run.named("sensor-settings").inputs["insecureValue"]


# -- to_fleet where it cannot work ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("mirror", "field"),
    [
        ({"to_fleet": True, "sensor_address": "10.0.128.20"}, "gateway_mirror.sensor_address"),
        ({"to_fleet": True, "mode": "tee"}, "gateway_mirror.mode"),
        ({"to_fleet": "yes"}, "gateway_mirror.to_fleet"),
    ],
)
def test_to_fleet_refuses_what_contradicts_it(mirror: dict[str, Any], field: str) -> None:
    with pytest.raises(CloudtapInputError) as error:
        plan_network({"gateway_mirror": mirror}, fleets=True)
    assert error.value.field == field


def test_to_fleet_is_refused_where_there_are_no_fleets() -> None:
    with pytest.raises(CloudtapInputError) as error:
        plan_network({"gateway_mirror": {"to_fleet": True}})
    assert error.value.field == "gateway_mirror.to_fleet"


def test_the_fleet_plan_exposes_the_addresses_before_anything_exists(mocks: StrictMocks) -> None:
    from components.aws.monitored_vpc import plan_monitored_vpc  # noqa: PLC0415

    def program() -> Any:
        design = plan_monitored_vpc({"availability_zone_count": 2}).design
        return plan_sensor_fleet({"network": design})

    planned = run_program(program, mocks).result
    assert [str(a) for a in planned.load_balancer_addresses] == ["10.0.128.11", "10.0.144.11"]
    assert not mocks.registrations
