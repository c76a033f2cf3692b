"""MirrorSession on a MonitoredVNet: auto per region and size, gateway and native, no duplicates."""

from __future__ import annotations

from typing import Any

import pytest

from components import CloudtapInputError, MirrorSession
from components.azure.mirror_session import AzureMirrorSession, plan_mirror_session
from components.azure.monitored_vnet import MonitoredVNet
from components.azure.sensor import AzureSensor, plan_azure_sensor
from components.azure.tap_support import TAP_REGIONS
from components.azure.vnet_plan import plan_monitored_vnet
from components.mirroring import MirrorMethod
from tests.fakes.azure import TAP, TAP_CONFIGURATION, WEB_NIC, vnet_mocks
from tests.mocks import ProgramRun, run_program

WEB = {"name": "web", "network_interface_id": WEB_NIC, "vm_size": "Standard_D2s_v5"}
DB = {
    "name": "db",
    "network_interface_name": "db-nic",
    "resource_group_name": "apps",
    "vm_size": "Standard_E4s_v6",
    "private_ip": "10.0.64.20",
}


def run(
    location: str,
    network_args: dict[str, Any],
    mirror_args: dict[str, Any],
    logs: list[str] | None = None,
) -> ProgramRun[Any]:
    def program() -> Any:
        network = MonitoredVNet("net", network_args)  # type: ignore[arg-type]
        sensor = AzureSensor("sensor", {"network": network})
        return MirrorSession(
            "mirror",
            {"network": network, "target": {"sensor": sensor}, **mirror_args},
        )

    return run_program(program, vnet_mocks(), config={"azure-native:location": location})


def methods(session: AzureMirrorSession) -> dict[str, str]:
    return {d.source.name: d.method.value for d in session.decisions}


def test_auto_in_a_tap_region_taps_what_it_can_and_leaves_v6_sizes_to_the_gateway() -> None:
    result = run("eastus", {"gateway_mirror": {}}, {"sources": [WEB, DB]})
    session = result.result

    assert isinstance(session, AzureMirrorSession)
    # web: no address stated, taken to be behind the mirroring gateway -> the gateway, to avoid
    # copying its north-south traffic twice; db: a v6 size.
    assert methods(session) == {"web": "gateway", "db": "gateway"}
    assert "would copy that again" in session.decisions[0].reason
    assert "v6" in session.decisions[1].reason
    assert result.of_type(TAP) == []
    assert session.gateway_sources == ["web", "db"]


def test_auto_without_the_gateway_mirror_taps_every_supported_source() -> None:
    web_only = {"sources": [WEB, {**WEB, "name": "web2", "network_interface_id": WEB_NIC + "2"}]}
    result = run("eastus", {}, web_only)
    session = result.result

    assert methods(session) == {"web": "native", "web2": "native"}
    assert "offered in eastus for Standard_D2s_v5" in session.decisions[0].reason
    tap = result.of_type(TAP)[0]
    sensor_nic = result.named("sensor-nic")
    destination = tap.inputs["destinationNetworkInterfaceIPConfiguration"]["id"]
    assert destination == f"{sensor_nic.id}/ipConfigurations/ipconfig1"
    assert tap.inputs["location"] == "eastus"
    assert tap.inputs["resourceGroupName"] == result.named("net-rg").id.rsplit("/", 1)[1]
    # Registered as their NICs resolve, in no fixed order.
    configurations = sorted(c.name for c in result.of_type(TAP_CONFIGURATION))
    assert configurations == ["mirror-web", "mirror-web2"]


def test_auto_outside_the_tap_regions_needs_the_gateway_mirror() -> None:
    mocks = vnet_mocks()
    with pytest.raises(CloudtapInputError) as error:
        run_program(
            lambda: MirrorSession(
                "mirror",
                {
                    "network": MonitoredVNet("net"),
                    "target": {"network_interface_ip_configuration_id": _ip_config()},
                    "sources": [WEB],
                },
            ),
            mocks,
            config={"azure-native:location": "westeurope"},
        )
    assert error.value.field == "network.gateway_mirror"
    assert "MonitoredVNet" in error.value.expected
    # The session registered nothing (the network before it did, as its own component).
    assert [r for r in mocks.registrations if r.name.startswith("mirror")] == []


def test_tap_regions_overrides_the_dated_list() -> None:
    assert "westeurope" not in TAP_REGIONS
    session = run("westeurope", {}, {"sources": [WEB], "tap_regions": ["westeurope"]}).result
    assert methods(session) == {"web": "native"}


def test_a_source_outside_the_private_tier_may_be_tapped_while_the_gateway_mirrors() -> None:
    public = {**WEB, "private_ip": "10.0.0.20"}
    session = run("eastus", {"gateway_mirror": {}}, {"sources": [public]}).result
    assert methods(session) == {"web": "native"}


def test_native_is_refused_for_a_source_the_gateway_mirror_already_copies() -> None:
    with pytest.raises(CloudtapInputError) as error:
        run("eastus", {"gateway_mirror": {}}, {"sources": [WEB], "method": "native"})
    assert error.value.field == "sources[0]"
    assert "would copy that again" in error.value.expected


def test_gateway_needs_its_sources_behind_the_gateway() -> None:
    monitor = {**WEB, "private_ip": "10.0.128.30"}
    with pytest.raises(CloudtapInputError) as error:
        run("eastus", {"gateway_mirror": {}}, {"sources": [monitor], "method": "gateway"})
    assert error.value.field == "sources[0].private_ip"


def test_the_preview_says_per_source_which_way_and_why() -> None:
    design = plan_monitored_vnet({"gateway_mirror": {}}, default_location="eastus").design
    sensor = plan_azure_sensor({"network": design})
    planned = plan_mirror_session(
        {"network": design, "target": {"sensor": sensor}, "sources": [WEB, DB]},
        network_location="eastus",
    )
    assert [d.method for d in planned.decisions] == [MirrorMethod.GATEWAY, MirrorMethod.GATEWAY]
    assert planned.vtap_args is None
    assert any("private tier" in warning for warning in planned.warnings)


def test_the_target_sensor_must_be_one_of_the_sessions_network() -> None:
    design = plan_monitored_vnet({}, default_location="eastus").design
    other = plan_monitored_vnet({"cidr_block": "10.1.0.0/16"}, default_location="eastus").design
    with pytest.raises(CloudtapInputError) as error:
        plan_mirror_session(
            {
                "network": design,
                "target": {"sensor": plan_azure_sensor({"network": other})},
                "sources": [WEB],
            },
            network_location="eastus",
        )
    assert error.value.field == "target.sensor"


def _ip_config() -> str:
    from tests.fakes.azure import SENSOR_IP_CONFIG  # noqa: PLC0415

    return SENSOR_IP_CONFIG
