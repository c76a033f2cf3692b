"""TapService and TapFlow as a Pulumi program sees them, under the project's strict mocks.

The mocks answer the two dynamic types only; the provider itself (what reaches Neutron) is
tested in ``test_openstack_taas_provider.py``.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from pulumi.runtime import MockResourceArgs

from components.errors import CloudtapInputError
from components.openstack.taas_provider import TapFlow, TapService
from tests.mocks import StrictMocks, run_program

SERVICE_TYPE = "pulumi-python:dynamic/cloudtap-openstack:TapService"
FLOW_TYPE = "pulumi-python:dynamic/cloudtap-openstack:TapFlow"
SENSOR_PORT = "11111111-2222-4333-8444-555555555555"
SOURCE_PORT = "66666666-7777-4888-9999-aaaaaaaaaaaa"
SERVICE_ID = "0f3a1d2c-4b5e-4f60-8a7b-9c8d7e6f5a40"
FLOW_ID = "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e"


def _service(_mocks: StrictMocks, _args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
    return SERVICE_ID, {"status": "ACTIVE", "description": ""}


def _flow(_mocks: StrictMocks, _args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
    return FLOW_ID, {"status": "ACTIVE", "description": ""}


@pytest.fixture
def taas_mocks() -> StrictMocks:
    return StrictMocks(resources={SERVICE_TYPE: _service, FLOW_TYPE: _flow})


def sensor_and_flow() -> tuple[TapService, TapFlow]:
    service = TapService("sensor", {"port_id": SENSOR_PORT, "cloud": "lab"})
    flow = TapFlow(
        "web-1",
        {
            "tap_service_id": service.id,
            "source_port": SOURCE_PORT,
            "direction": "BOTH",
            "cloud": "lab",
        },
    )
    return service, flow


def test_service_registers_its_port_and_defaults_its_name_to_the_resource_name(
    taas_mocks: StrictMocks,
) -> None:
    run = run_program(sensor_and_flow, taas_mocks)

    service = run.named("sensor")
    assert service.type == SERVICE_TYPE
    assert service.custom
    assert {k: v for k, v in service.inputs.items() if k != "__provider"} == {
        "port_id": SENSOR_PORT,
        "name": "sensor",
        "cloud": "lab",
    }
    assert service.inputs["__provider"]  # the pickled provider travels with the resource
    assert run.resolve(run.result[0].status) == "ACTIVE"


def test_flow_takes_the_service_id_and_so_waits_for_the_service(taas_mocks: StrictMocks) -> None:
    run = run_program(sensor_and_flow, taas_mocks)

    service, flow = run.named("sensor"), run.named("web-1")
    assert flow.type == FLOW_TYPE
    assert flow.inputs["tap_service_id"] == SERVICE_ID
    assert flow.inputs["direction"] == "BOTH"
    # The dependency is what makes Pulumi delete the flow before the service.
    assert service.urn in flow.dependencies


def test_a_wrong_plain_value_fails_when_the_resource_is_declared(taas_mocks: StrictMocks) -> None:
    def program() -> None:
        TapFlow(
            "web-1",
            {
                "tap_service_id": SERVICE_ID,
                "source_port": SOURCE_PORT,
                "direction": "both",
            },
        )

    with pytest.raises(CloudtapInputError) as raised:
        run_program(program, taas_mocks)

    assert raised.value.field == "web-1.direction"
    assert taas_mocks.registrations == []


def test_a_misspelt_argument_is_refused(taas_mocks: StrictMocks) -> None:
    def program() -> None:
        TapService("sensor", {"port": SENSOR_PORT})  # type: ignore[typeddict-unknown-key]

    with pytest.raises(CloudtapInputError) as raised:
        run_program(program, taas_mocks)

    assert raised.value.field == "sensor.port"


def test_values_from_other_resources_are_left_to_the_provider_check(
    taas_mocks: StrictMocks,
) -> None:
    def program() -> TapFlow:
        return TapFlow(
            "web-1",
            {
                "tap_service_id": pulumi.Output.from_input(SERVICE_ID),
                "source_port": pulumi.Output.from_input(SOURCE_PORT),
                "direction": pulumi.Output.from_input("IN"),
                "vlan_filter": "100-199",
            },
        )

    run = run_program(program, taas_mocks)

    assert run.named("web-1").inputs["vlan_filter"] == "100-199"
