"""The TaaS dynamic provider against a fake Neutron: openstacksdk is real, only HTTP is faked.

The fake is ``tests/fakes/openstack.py``'s :class:`~tests.fakes.openstack.FakeNeutron` (how it
works is said there): each request the real connection sends is answered or refused, and recorded.
The request bodies come from openstacksdk's resource classes
(``openstack/network/v2/tap_service.py``, ``tap_flow.py``); the response bodies follow
tap-as-a-service's ``_make_tap_service_dict`` / ``_make_tap_flow_dict`` (``neutron_taas/db``).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import dill  # type: ignore[import-untyped]
import pytest
import requests_mock
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime.rpc import UNKNOWN

from components.openstack.taas_provider import (
    MISSING_TAAS,
    MISSING_VLAN_FILTER,
    TaasConflictError,
    TaasExtensionMissingError,
    TaasNotFoundError,
    TapFlowProvider,
    TapServiceProvider,
    connect_from_config,
)
from tests.fakes.openstack import NEUTRON, FakeNeutron, Request

# openstacksdk warns about its own future removals on every call; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning:openstack")

PROJECT = "5e0a2d7b6f0c4a6f9d8e7c6b5a493827"
SENSOR_PORT = "11111111-2222-4333-8444-555555555555"
SOURCE_PORT = "66666666-7777-4888-9999-aaaaaaaaaaaa"
SERVICE_ID = "0f3a1d2c-4b5e-4f60-8a7b-9c8d7e6f5a40"
FLOW_ID = "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e"
SERVICES = f"{NEUTRON}/v2.0/taas/tap_services"
FLOWS = f"{NEUTRON}/v2.0/taas/tap_flows"


def neutron_error(kind: str, message: str) -> dict[str, Any]:
    return {"NeutronError": {"type": kind, "message": message, "detail": ""}}


def service_body(**changes: Any) -> dict[str, Any]:
    service = {
        "id": SERVICE_ID,
        "tenant_id": PROJECT,
        "name": "sensor",
        "description": "",
        "port_id": SENSOR_PORT,
        "status": "DOWN",
    }
    return {"tap_service": {**service, **changes}}


def flow_body(**changes: Any) -> dict[str, Any]:
    flow = {
        "id": FLOW_ID,
        "tenant_id": PROJECT,
        "tap_service_id": SERVICE_ID,
        "name": "web-1",
        "description": "",
        "source_port": SOURCE_PORT,
        "direction": "BOTH",
        "status": "DOWN",
        "vlan_filter": None,
    }
    return {"tap_flow": {**flow, **changes}}


@pytest.fixture
def neutron() -> Iterator[FakeNeutron]:
    with requests_mock.Mocker() as mocker:
        yield FakeNeutron(mocker)


@pytest.fixture
def services(neutron: FakeNeutron) -> TapServiceProvider:
    return TapServiceProvider(neutron.connect)


@pytest.fixture
def flows(neutron: FakeNeutron) -> TapFlowProvider:
    return TapFlowProvider(neutron.connect)


LIST_EXTENSIONS: Request = ("GET", "/v2.0/extensions", None)


# --- tap services ---------------------------------------------------------------------------------


def test_service_create_checks_the_extension_then_posts_the_port(
    neutron: FakeNeutron, services: TapServiceProvider
) -> None:
    neutron.mocker.post(SERVICES, status_code=201, json=service_body(description="copies"))

    result = services.create({"port_id": SENSOR_PORT, "name": "sensor", "description": "copies"})

    assert neutron.requests() == [
        LIST_EXTENSIONS,
        (
            "POST",
            "/v2.0/taas/tap_services",
            {"tap_service": {"port_id": SENSOR_PORT, "name": "sensor", "description": "copies"}},
        ),
    ]
    assert result.id == SERVICE_ID
    assert result.outs == {
        "port_id": SENSOR_PORT,
        "name": "sensor",
        "description": "copies",
        "status": "DOWN",
        "project_id": PROJECT,
        "cloud": None,
    }


def test_service_create_leaves_out_what_was_not_set(
    neutron: FakeNeutron, services: TapServiceProvider
) -> None:
    neutron.mocker.post(SERVICES, status_code=201, json=service_body())

    services.create({"port_id": SENSOR_PORT, "name": "sensor"})

    assert neutron.requests()[-1][2] == {"tap_service": {"port_id": SENSOR_PORT, "name": "sensor"}}


def test_service_create_on_a_cloud_without_taas_fails_before_posting(
    neutron: FakeNeutron, services: TapServiceProvider
) -> None:
    neutron.extensions(["port-security", "router"])

    with pytest.raises(TaasExtensionMissingError) as raised:
        services.create({"port_id": SENSOR_PORT, "name": "sensor"})

    assert str(raised.value) == MISSING_TAAS
    assert "ask the operator to enable it, or use tap mirrors" in str(raised.value)
    assert neutron.requests() == [LIST_EXTENSIONS]


def test_service_create_conflict_names_the_tap_service_quota(
    neutron: FakeNeutron, services: TapServiceProvider
) -> None:
    neutron.mocker.post(
        SERVICES,
        status_code=409,
        json=neutron_error("TapServiceLimitReached", "Reached the maximum quota for Tap Services"),
    )

    with pytest.raises(TaasConflictError) as raised:
        services.create({"port_id": SENSOR_PORT, "name": "sensor"})

    message = str(raised.value)
    assert message.startswith("create tap service 'sensor': Neutron refused with 409 Conflict")
    assert "Reached the maximum quota for Tap Services" in message
    assert "quota_tap_service" in message


def test_service_create_for_a_missing_port_says_so(
    neutron: FakeNeutron, services: TapServiceProvider
) -> None:
    neutron.mocker.post(
        SERVICES,
        status_code=404,
        json=neutron_error("PortNotFound", f"Port {SENSOR_PORT} could not be found."),
    )

    with pytest.raises(TaasNotFoundError, match=f"Port {SENSOR_PORT} could not be found"):
        services.create({"port_id": SENSOR_PORT, "name": "sensor"})


def test_service_read_reports_what_neutron_has(
    neutron: FakeNeutron, services: TapServiceProvider
) -> None:
    neutron.mocker.get(f"{SERVICES}/{SERVICE_ID}", json=service_body(status="ACTIVE"))

    result = services.read(SERVICE_ID, {"port_id": SENSOR_PORT, "cloud": "lab"})

    assert neutron.requests() == [("GET", f"/v2.0/taas/tap_services/{SERVICE_ID}", None)]
    assert result.id == SERVICE_ID
    assert result.outs is not None
    assert result.outs["status"] == "ACTIVE"
    assert result.outs["cloud"] == "lab"
    assert neutron.clouds == ["lab"]


def test_service_read_of_a_deleted_service_tells_pulumi_it_is_gone(
    neutron: FakeNeutron, services: TapServiceProvider
) -> None:
    neutron.mocker.get(
        f"{SERVICES}/{SERVICE_ID}",
        status_code=404,
        json=neutron_error("TapServiceNotFound", f"Tap Service  {SERVICE_ID} does not exist"),
    )

    result = services.read(SERVICE_ID, {"port_id": SENSOR_PORT})

    assert (result.id, result.outs) == ("", {})
    assert neutron.requests() == [
        ("GET", f"/v2.0/taas/tap_services/{SERVICE_ID}", None),
        LIST_EXTENSIONS,
    ]


def test_service_read_404_from_a_cloud_without_taas_is_an_error_not_gone(
    neutron: FakeNeutron, services: TapServiceProvider
) -> None:
    neutron.extensions(["port-security"])
    neutron.mocker.get(
        f"{SERVICES}/{SERVICE_ID}",
        status_code=404,
        json=neutron_error("HTTPNotFound", "The resource could not be found."),
    )

    with pytest.raises(TaasExtensionMissingError, match="neutron 'taas'"):
        services.read(SERVICE_ID, {"port_id": SENSOR_PORT})


def test_service_update_puts_only_the_changed_name_and_description(
    neutron: FakeNeutron, services: TapServiceProvider
) -> None:
    neutron.mocker.put(
        f"{SERVICES}/{SERVICE_ID}", json=service_body(name="sensor-a", description="")
    )
    olds = {"port_id": SENSOR_PORT, "name": "sensor", "description": "old", "status": "ACTIVE"}
    news = {"port_id": SENSOR_PORT, "name": "sensor-a"}

    result = services.update(SERVICE_ID, olds, news)

    assert neutron.requests() == [
        (
            "PUT",
            f"/v2.0/taas/tap_services/{SERVICE_ID}",
            {"tap_service": {"name": "sensor-a", "description": ""}},
        )
    ]
    assert result.outs is not None
    assert result.outs["name"] == "sensor-a"


def test_service_update_of_a_vanished_service_asks_for_a_refresh(
    neutron: FakeNeutron, services: TapServiceProvider
) -> None:
    neutron.mocker.put(
        f"{SERVICES}/{SERVICE_ID}",
        status_code=404,
        json=neutron_error("TapServiceNotFound", "gone"),
    )

    with pytest.raises(TaasNotFoundError, match="pulumi refresh"):
        services.update(SERVICE_ID, {"name": "a"}, {"name": "b"})


def test_service_delete_sends_delete(neutron: FakeNeutron, services: TapServiceProvider) -> None:
    neutron.mocker.delete(f"{SERVICES}/{SERVICE_ID}", status_code=204)

    services.delete(SERVICE_ID, {"port_id": SENSOR_PORT})

    assert neutron.requests() == [("DELETE", f"/v2.0/taas/tap_services/{SERVICE_ID}", None)]


def test_service_delete_of_an_already_deleted_service_succeeds(
    neutron: FakeNeutron, services: TapServiceProvider
) -> None:
    neutron.mocker.delete(
        f"{SERVICES}/{SERVICE_ID}",
        status_code=404,
        json=neutron_error("TapServiceNotFound", f"Tap Service  {SERVICE_ID} does not exist"),
    )

    services.delete(SERVICE_ID, {"port_id": SENSOR_PORT})

    assert neutron.requests() == [
        ("DELETE", f"/v2.0/taas/tap_services/{SERVICE_ID}", None),
        LIST_EXTENSIONS,
    ]


def test_service_delete_404_from_a_cloud_without_taas_is_not_success(
    neutron: FakeNeutron, services: TapServiceProvider
) -> None:
    neutron.extensions([])
    neutron.mocker.delete(f"{SERVICES}/{SERVICE_ID}", status_code=404)

    with pytest.raises(TaasExtensionMissingError):
        services.delete(SERVICE_ID, {"port_id": SENSOR_PORT})


def test_service_delete_conflict_explains_that_flows_go_first(
    neutron: FakeNeutron, services: TapServiceProvider
) -> None:
    neutron.mocker.delete(
        f"{SERVICES}/{SERVICE_ID}",
        status_code=409,
        json=neutron_error("Conflict", "Tap service is in use by tap flows"),
    )

    with pytest.raises(TaasConflictError) as raised:
        services.delete(SERVICE_ID, {"port_id": SENSOR_PORT})

    message = str(raised.value)
    assert f"delete tap service {SERVICE_ID}: Neutron refused with 409 Conflict" in message
    assert "Tap service is in use by tap flows" in message
    assert "tap_service_id=service.id" in message


def test_every_call_opens_its_own_connection_to_the_named_cloud_and_closes_it(
    neutron: FakeNeutron, services: TapServiceProvider
) -> None:
    neutron.mocker.get(f"{SERVICES}/{SERVICE_ID}", json=service_body())
    neutron.mocker.delete(f"{SERVICES}/{SERVICE_ID}", status_code=204)

    services.read(SERVICE_ID, {"cloud": "lab"})
    services.delete(SERVICE_ID, {"cloud": "lab"})
    services.delete(SERVICE_ID, {})

    assert neutron.clouds == ["lab", "lab", None]
    discoveries = [r for r in neutron.mocker.request_history if r.path == "/"]
    assert len(discoveries) == 3
    assert [conn.closed for conn in neutron.connections] == [True, True, True]


# --- tap flows ------------------------------------------------------------------------------------

FLOW_INPUTS = {
    "tap_service_id": SERVICE_ID,
    "source_port": SOURCE_PORT,
    "direction": "BOTH",
    "name": "web-1",
}


def test_flow_create_posts_service_source_and_direction(
    neutron: FakeNeutron, flows: TapFlowProvider
) -> None:
    neutron.mocker.post(FLOWS, status_code=201, json=flow_body())

    result = flows.create(dict(FLOW_INPUTS))

    assert neutron.requests() == [
        LIST_EXTENSIONS,
        (
            "POST",
            "/v2.0/taas/tap_flows",
            {
                "tap_flow": {
                    "tap_service_id": SERVICE_ID,
                    "source_port": SOURCE_PORT,
                    "direction": "BOTH",
                    "name": "web-1",
                }
            },
        ),
    ]
    assert result.id == FLOW_ID
    assert result.outs == {
        "tap_service_id": SERVICE_ID,
        "source_port": SOURCE_PORT,
        "direction": "BOTH",
        "vlan_filter": None,
        "name": "web-1",
        "description": "",
        "status": "DOWN",
        "project_id": PROJECT,
        "cloud": None,
    }


def test_flow_create_sends_the_vlan_filter(neutron: FakeNeutron, flows: TapFlowProvider) -> None:
    neutron.mocker.post(FLOWS, status_code=201, json=flow_body(vlan_filter="1-5,9"))

    result = flows.create({**FLOW_INPUTS, "vlan_filter": "1-5,9"})

    assert neutron.requests()[-1] == (
        "POST",
        "/v2.0/taas/tap_flows",
        {
            "tap_flow": {
                "tap_service_id": SERVICE_ID,
                "source_port": SOURCE_PORT,
                "direction": "BOTH",
                "vlan_filter": "1-5,9",
                "name": "web-1",
            }
        },
    )
    assert result.outs is not None
    assert result.outs["vlan_filter"] == "1-5,9"


def test_flow_with_a_vlan_filter_needs_the_vlan_filter_extension(
    neutron: FakeNeutron, flows: TapFlowProvider
) -> None:
    neutron.extensions(["taas"])

    with pytest.raises(TaasExtensionMissingError) as raised:
        flows.create({**FLOW_INPUTS, "vlan_filter": "10"})

    assert str(raised.value) == MISSING_VLAN_FILTER
    assert neutron.requests() == [LIST_EXTENSIONS]


def test_flow_create_without_taas_fails_before_posting(
    neutron: FakeNeutron, flows: TapFlowProvider
) -> None:
    neutron.extensions(["taas-vlan-filter"])

    with pytest.raises(TaasExtensionMissingError, match="use tap mirrors"):
        flows.create(dict(FLOW_INPUTS))

    assert neutron.requests() == [LIST_EXTENSIONS]


def test_flow_create_conflict_names_the_tap_flow_quota(
    neutron: FakeNeutron, flows: TapFlowProvider
) -> None:
    neutron.mocker.post(
        FLOWS, status_code=409, json=neutron_error("OverQuota", "Quota exceeded for tap_flow")
    )

    with pytest.raises(TaasConflictError, match="quota_tap_flow"):
        flows.create(dict(FLOW_INPUTS))


def test_flow_create_for_a_missing_service_says_so(
    neutron: FakeNeutron, flows: TapFlowProvider
) -> None:
    neutron.mocker.post(
        FLOWS,
        status_code=404,
        json=neutron_error("TapServiceNotFound", f"Tap Service  {SERVICE_ID} does not exist"),
    )

    with pytest.raises(TaasNotFoundError) as raised:
        flows.create(dict(FLOW_INPUTS))

    assert "create tap flow 'web-1': Neutron answered 404" in str(raised.value)
    assert f"Tap Service  {SERVICE_ID} does not exist" in str(raised.value)


def test_flow_read_reports_what_neutron_has(neutron: FakeNeutron, flows: TapFlowProvider) -> None:
    neutron.mocker.get(f"{FLOWS}/{FLOW_ID}", json=flow_body(status="ACTIVE", vlan_filter="7"))

    result = flows.read(FLOW_ID, dict(FLOW_INPUTS))

    assert neutron.requests() == [("GET", f"/v2.0/taas/tap_flows/{FLOW_ID}", None)]
    assert result.id == FLOW_ID
    assert result.outs is not None
    assert (result.outs["status"], result.outs["vlan_filter"]) == ("ACTIVE", "7")


def test_flow_read_of_a_deleted_flow_tells_pulumi_it_is_gone(
    neutron: FakeNeutron, flows: TapFlowProvider
) -> None:
    neutron.mocker.get(
        f"{FLOWS}/{FLOW_ID}",
        status_code=404,
        json=neutron_error("TapFlowNotFound", f"Tap Flow  {FLOW_ID} does not exist"),
    )

    result = flows.read(FLOW_ID, dict(FLOW_INPUTS))

    assert (result.id, result.outs) == ("", {})


def test_flow_update_puts_the_new_name(neutron: FakeNeutron, flows: TapFlowProvider) -> None:
    neutron.mocker.put(f"{FLOWS}/{FLOW_ID}", json=flow_body(name="web-1-both"))

    flows.update(FLOW_ID, {**FLOW_INPUTS, "description": ""}, {**FLOW_INPUTS, "name": "web-1-both"})

    assert neutron.requests() == [
        ("PUT", f"/v2.0/taas/tap_flows/{FLOW_ID}", {"tap_flow": {"name": "web-1-both"}})
    ]


def test_flow_delete_sends_delete(neutron: FakeNeutron, flows: TapFlowProvider) -> None:
    neutron.mocker.delete(f"{FLOWS}/{FLOW_ID}", status_code=204)

    flows.delete(FLOW_ID, dict(FLOW_INPUTS))

    assert neutron.requests() == [("DELETE", f"/v2.0/taas/tap_flows/{FLOW_ID}", None)]


def test_flow_delete_after_its_service_took_it_along_succeeds(
    neutron: FakeNeutron, flows: TapFlowProvider
) -> None:
    neutron.mocker.delete(
        f"{FLOWS}/{FLOW_ID}",
        status_code=404,
        json=neutron_error("TapFlowNotFound", f"Tap Flow  {FLOW_ID} does not exist"),
    )

    flows.delete(FLOW_ID, dict(FLOW_INPUTS))

    assert neutron.requests() == [
        ("DELETE", f"/v2.0/taas/tap_flows/{FLOW_ID}", None),
        LIST_EXTENSIONS,
    ]


# --- diff: what updates and what replaces ---------------------------------------------------------

SERVICE_STATE = {
    "port_id": SENSOR_PORT,
    "name": "sensor",
    "description": "",
    "status": "ACTIVE",
    "project_id": PROJECT,
    "__provider": "serialized",
}


def test_service_diff_is_empty_when_neutron_filled_in_an_empty_description(
    services: TapServiceProvider,
) -> None:
    diff = services.diff(SERVICE_ID, SERVICE_STATE, {"port_id": SENSOR_PORT, "name": "sensor"})

    assert (diff.changes, diff.replaces) == (False, [])


def test_service_name_and_description_update_in_place(services: TapServiceProvider) -> None:
    news = {"port_id": SENSOR_PORT, "name": "sensor-a", "description": "copies"}

    diff = services.diff(SERVICE_ID, SERVICE_STATE, news)

    assert (diff.changes, diff.replaces, diff.delete_before_replace) == (True, [], None)


def test_service_new_port_replaces_it_deleting_first(services: TapServiceProvider) -> None:
    diff = services.diff(SERVICE_ID, SERVICE_STATE, {"port_id": SOURCE_PORT, "name": "sensor"})

    assert (diff.changes, diff.replaces, diff.delete_before_replace) == (True, ["port_id"], True)


def test_service_moving_to_another_cloud_replaces_it(services: TapServiceProvider) -> None:
    news = {"port_id": SENSOR_PORT, "name": "sensor", "cloud": "other"}

    assert services.diff(SERVICE_ID, SERVICE_STATE, news).replaces == ["cloud"]


FLOW_STATE = {**FLOW_INPUTS, "description": "", "status": "ACTIVE", "vlan_filter": None}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tap_service_id", UNKNOWN),
        ("source_port", SENSOR_PORT),
        ("direction", "IN"),
        ("vlan_filter", "1-5"),
    ],
)
def test_flow_fields_neutron_cannot_update_replace_it_creating_first(
    flows: TapFlowProvider, field: str, value: str
) -> None:
    diff = flows.diff(FLOW_ID, FLOW_STATE, {**FLOW_INPUTS, field: value})

    assert (diff.changes, diff.replaces, diff.delete_before_replace) == (True, [field], False)


def test_flow_description_updates_in_place(flows: TapFlowProvider) -> None:
    diff = flows.diff(FLOW_ID, FLOW_STATE, {**FLOW_INPUTS, "description": "web tier"})

    assert (diff.changes, diff.replaces) == (True, [])


def test_flow_unchanged_has_no_diff(flows: TapFlowProvider) -> None:
    diff = flows.diff(FLOW_ID, FLOW_STATE, dict(FLOW_INPUTS))

    assert (diff.changes, diff.replaces) == (False, [])


# --- check: the inputs, before any call -----------------------------------------------------------


def failures(provider: TapServiceProvider | TapFlowProvider, news: dict[str, Any]) -> list[str]:
    result = provider.check({}, {**news, "__provider": "serialized"})
    assert result.inputs["__provider"] == "serialized"
    return [f"{failure.property}| {failure.reason}" for failure in result.failures]


def test_flow_check_accepts_good_inputs(flows: TapFlowProvider) -> None:
    assert failures(flows, {**FLOW_INPUTS, "vlan_filter": "1-5,9,4094"}) == []


def test_flow_check_names_field_value_and_expectation(flows: TapFlowProvider) -> None:
    news = {
        **FLOW_INPUTS,
        "direction": "both",
        "vlan_filter": "0-5",
        "source_port": "web-1-port",
    }

    assert failures(flows, news) == [
        "source_port| source_port: got 'web-1-port'; expected the source port's Neutron id: "
        "a UUID such as 3f1c6a52-8d5b-4d0e-9a57-0c2b1e6f7a10",
        "direction| direction: got 'both'; expected one of ['IN', 'OUT', 'BOTH'] (upper case)",
        "vlan_filter| vlan_filter: got '0-5'; expected VLAN ids and ranges separated by commas, "
        "such as \"1-5,9\", each id from 1 to 4094, no spaces ('0-5' is outside)",
    ]


@pytest.mark.parametrize("vlan_filter", ["4095", "1-5,", "1 - 5", "9-3", "", "a"])
def test_flow_check_refuses_bad_vlan_filters(flows: TapFlowProvider, vlan_filter: str) -> None:
    found = failures(flows, {**FLOW_INPUTS, "vlan_filter": vlan_filter})

    assert len(found) == 1
    assert found[0].startswith(f"vlan_filter| vlan_filter: got {vlan_filter!r}; expected VLAN ids")


def test_flow_check_requires_service_source_and_direction(flows: TapFlowProvider) -> None:
    assert failures(flows, {"name": "x"}) == [
        "tap_service_id| tap_service_id: got None; expected a value: the field is required",
        "source_port| source_port: got None; expected a value: the field is required",
        "direction| direction: got None; expected a value: the field is required",
    ]


def test_check_skips_values_unknown_at_preview(flows: TapFlowProvider) -> None:
    news = {**FLOW_INPUTS, "tap_service_id": UNKNOWN, "direction": UNKNOWN}

    assert failures(flows, news) == []


def test_service_check_refuses_a_port_name(services: TapServiceProvider) -> None:
    assert failures(services, {"port_id": "sensor-port", "cloud": ""}) == [
        "port_id| port_id: got 'sensor-port'; expected the sensor port's Neutron id: a UUID such "
        "as 3f1c6a52-8d5b-4d0e-9a57-0c2b1e6f7a10",
        "cloud| cloud: got ''; expected the name of a cloud in clouds.yaml",
    ]


# --- what the engine stores -------------------------------------------------------------------


def test_providers_pickle_by_reference_and_connect_nothing_while_pickled() -> None:
    for provider in (TapServiceProvider(), TapFlowProvider()):
        pickled = serialize_provider(provider)
        restored = dill.loads(base64.b64decode(pickled))

        assert type(restored) is type(provider)
        assert restored.connect is connect_from_config
        # By reference: the state holds a class path, not the class's code.
        assert len(pickled) < 400
