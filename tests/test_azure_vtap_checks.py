"""Azure virtual network TAP checks, without mocks: what each wrong argument is told, and the
facts behind the preview warning."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest

from components.azure.vtap_checks import (
    AZURE_VTAP_FACTS,
    FEATURE_ERROR_URLS,
    OVERVIEW_URL,
    PORTAL_HOWTO_URL,
    PREVIEW_FEATURE,
    DestinationKind,
    VtapPlan,
    check_deferred_destination,
    normalize_location,
    plan_virtual_network_tap,
    preview_warning,
)
from components.errors import CloudtapInputError
from components.mirroring import VXLAN_PORT, Encapsulation

SUBSCRIPTION = "3f1c6a52-8d5b-4d0e-9a57-0c2b1e6f7a10"
OTHER_SUBSCRIPTION = "9b2e4c1d-0a6f-4e3b-8c5d-7f1a2b3c4d5e"
MONITORING = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/monitoring/providers/Microsoft.Network"
APPS = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/apps/providers/Microsoft.Network"
SENSOR_NIC = f"{MONITORING}/networkInterfaces/sensor-nic"
SENSOR_IP_CONFIG = f"{SENSOR_NIC}/ipConfigurations/ipconfig1"
ILB_FRONTEND = f"{MONITORING}/loadBalancers/sensors-ilb/frontendIPConfigurations/vxlan"
WEB_NIC = f"{APPS}/networkInterfaces/web-nic"
DB_NIC = f"{APPS}/networkInterfaces/db-nic"


class Deferred:
    """Stands for a pulumi.Output: a value known only after deployment."""


def is_deferred(value: Any) -> bool:
    return isinstance(value, Deferred)


def args(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "resource_group_name": "monitoring",
        "location": "westeurope",
        "destination": {"network_interface_ip_configuration_id": SENSOR_IP_CONFIG},
        "sources": [
            {"name": "web", "network_interface_id": WEB_NIC},
            {"name": "db", "network_interface_id": DB_NIC},
        ],
    }
    base.update(overrides)
    return base


def plan(**overrides: Any) -> VtapPlan:
    return plan_virtual_network_tap(args(**overrides), is_deferred=is_deferred)


def refused(field: str, **overrides: Any) -> CloudtapInputError:
    with pytest.raises(CloudtapInputError) as raised:
        plan(**overrides)
    assert raised.value.field == field, raised.value
    return raised.value


# -- defaults ------------------------------------------------------------------------------------


def test_defaults_resolve_to_vxlan_on_4789_with_sources_attached() -> None:
    result = plan()

    assert result.destination_port == VXLAN_PORT == 4789
    assert result.encapsulation is Encapsulation.VXLAN
    assert result.attach_sources is True
    assert result.tags == {}
    assert result.warnings == ()
    assert result.destination.kind is DestinationKind.NETWORK_INTERFACE_IP_CONFIGURATION
    assert [(s.name, s.resource_group_name, s.network_interface_name) for s in result.sources] == [
        ("web", "apps", "web-nic"),
        ("db", "apps", "db-nic"),
    ]


def test_any_well_formed_region_is_accepted_no_region_list_is_kept() -> None:
    # Microsoft's list of preview regions changes; a region outside it fails at Azure, not here.
    assert plan(location="brazilsouth").location == "brazilsouth"


@pytest.mark.parametrize("text", ["West Europe", "westeurope", "WestEurope", " west  europe "])
def test_region_display_names_normalise_to_the_arm_name(text: str) -> None:
    assert normalize_location("location", text) == "westeurope"


@pytest.mark.parametrize("value", ["", "west-europe", "West Europe (Netherlands)", 42, None])
def test_a_region_that_is_not_a_region_name_is_refused(value: Any) -> None:
    error = refused("location", location=value)

    assert error.value == value
    if value is not None:
        assert "westeurope" in error.expected


# -- destination ---------------------------------------------------------------------------------


def test_an_internal_load_balancer_frontend_is_a_destination() -> None:
    result = plan(destination={"load_balancer_frontend_ip_configuration_id": ILB_FRONTEND})

    assert result.destination.kind is DestinationKind.LOAD_BALANCER_FRONTEND_IP_CONFIGURATION
    assert result.destination.id == ILB_FRONTEND
    assert result.destination.nic is None


@pytest.mark.parametrize(
    "destination",
    [
        {},
        {"location": "westeurope"},
        {"network_interface_ip_configuration_id": None},
        {
            "network_interface_ip_configuration_id": SENSOR_IP_CONFIG,
            "load_balancer_frontend_ip_configuration_id": ILB_FRONTEND,
        },
    ],
)
def test_exactly_one_destination(destination: dict[str, Any]) -> None:
    error = refused("destination", destination=destination)

    assert "exactly one of network_interface_ip_configuration_id" in error.expected
    assert "load_balancer_frontend_ip_configuration_id" in error.expected


def test_the_destination_must_be_a_mapping() -> None:
    refused("destination", destination=SENSOR_IP_CONFIG)


def test_a_misspelt_destination_field_is_refused() -> None:
    refused(
        "destination.ip_configuration_id",
        destination={"ip_configuration_id": SENSOR_IP_CONFIG},
    )


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("sensor-nic", ""),
        (SENSOR_NIC, "the network interface itself"),
        (ILB_FRONTEND, "belongs in destination.load_balancer_frontend_ip_configuration_id"),
        (SENSOR_IP_CONFIG.replace(SUBSCRIPTION, "my-subscription"), ""),
        (SENSOR_IP_CONFIG.replace("Microsoft.Network", "Microsoft.Compute"), ""),
        (SENSOR_IP_CONFIG + "/extra", ""),
        (SENSOR_IP_CONFIG.replace("sensor-nic", "sensor nic"), ""),
        (42, ""),
    ],
)
def test_a_nic_ip_configuration_id_has_its_arm_shape(value: Any, hint: str) -> None:
    error = refused(
        "destination.network_interface_ip_configuration_id",
        destination={"network_interface_ip_configuration_id": value},
    )

    assert error.value == value
    assert "/ipConfigurations/ipconfig1" in error.expected
    assert hint in error.expected


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        (SENSOR_IP_CONFIG, "belongs in destination.network_interface_ip_configuration_id"),
        (f"{MONITORING}/loadBalancers/sensors-ilb", ""),
        (ILB_FRONTEND.replace("frontendIPConfigurations", "backendAddressPools"), ""),
    ],
)
def test_a_load_balancer_frontend_id_has_its_arm_shape(value: str, hint: str) -> None:
    error = refused(
        "destination.load_balancer_frontend_ip_configuration_id",
        destination={"load_balancer_frontend_ip_configuration_id": value},
    )

    assert "/frontendIPConfigurations/" in error.expected
    assert hint in error.expected


def test_arm_ids_are_matched_case_insensitively() -> None:
    lower = SENSOR_IP_CONFIG.replace("resourceGroups", "resourcegroups").replace(
        "Microsoft.Network/networkInterfaces", "microsoft.network/networkinterfaces"
    )

    assert plan(destination={"network_interface_ip_configuration_id": lower}).destination.nic


def test_a_destination_in_another_region_is_refused() -> None:
    error = refused(
        "destination.location",
        destination={
            "network_interface_ip_configuration_id": SENSOR_IP_CONFIG,
            "location": "uk south",
        },
    )

    assert "'westeurope'" in error.expected
    assert "one region" in error.expected


def test_a_destination_in_the_same_region_written_differently_is_accepted() -> None:
    result = plan(
        destination={
            "network_interface_ip_configuration_id": SENSOR_IP_CONFIG,
            "location": "West Europe",
        }
    )

    assert result.destination.location == "westeurope"


# -- sources -------------------------------------------------------------------------------------


@pytest.mark.parametrize("sources", [[], "web-nic", {"name": "web"}, None])
def test_at_least_one_source_in_a_list(sources: Any) -> None:
    refused("sources", sources=sources)


@pytest.mark.parametrize(
    "source",
    [
        {"name": "web"},
        {"name": "web", "network_interface_id": WEB_NIC, "network_interface_name": "web-nic"},
    ],
)
def test_a_source_names_its_nic_one_way(source: dict[str, Any]) -> None:
    error = refused("sources[0]", sources=[source])

    assert "exactly one of network_interface_id" in error.expected


def test_a_source_id_already_names_its_resource_group() -> None:
    refused(
        "sources[0].resource_group_name",
        sources=[{"name": "web", "network_interface_id": WEB_NIC, "resource_group_name": "apps"}],
    )


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("web-nic", ""),
        (f"{WEB_NIC}/ipConfigurations/ipconfig1", "drop /ipConfigurations"),
        (
            f"/subscriptions/{SUBSCRIPTION}/resourceGroups/apps/providers/Microsoft.Compute/"
            "virtualMachineScaleSets/web/virtualMachines/0/networkInterfaces/web-nic",
            "scale set",
        ),
    ],
)
def test_a_source_nic_id_has_its_arm_shape(value: str, hint: str) -> None:
    error = refused(
        "sources[0].network_interface_id", sources=[{"name": "web", "network_interface_id": value}]
    )

    assert "/networkInterfaces/app-nic" in error.expected
    assert hint in error.expected


@pytest.mark.parametrize("name", [None, "", "-web", "web tier", "web/1", "w" * 64, 7])
def test_a_source_key_is_short_and_safe_for_child_names(name: Any) -> None:
    error = refused("sources[0].name", sources=[{"name": name, "network_interface_id": WEB_NIC}])

    assert "child resource names" in error.expected


def test_source_keys_are_unique_ignoring_case() -> None:
    error = refused(
        "sources[1].name",
        sources=[
            {"name": "web", "network_interface_id": WEB_NIC},
            {"name": "WEB", "network_interface_id": DB_NIC},
        ],
    )

    assert "sources[0]" in error.expected


def test_a_misspelt_source_field_is_refused() -> None:
    refused("sources[0].nic_id", sources=[{"name": "web", "nic_id": WEB_NIC}])


@pytest.mark.parametrize(
    "second",
    [
        {"network_interface_id": WEB_NIC.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/")},
        {"network_interface_name": "WEB-NIC", "resource_group_name": "Apps"},
    ],
)
def test_a_nic_is_listed_once(second: dict[str, Any]) -> None:
    error = refused(
        "sources[1]",
        sources=[{"name": "web", "network_interface_id": WEB_NIC}, {"name": "again", **second}],
    )

    assert "sources[0] names it" in error.expected


def test_the_destination_nic_is_never_a_source() -> None:
    error = refused(
        "sources[1]",
        sources=[
            {"name": "web", "network_interface_id": WEB_NIC},
            {"name": "sensor", "network_interface_id": SENSOR_NIC},
        ],
    )

    assert error.value == SENSOR_NIC
    assert "loop" in error.expected


def test_the_destination_nic_given_by_name_is_never_a_source() -> None:
    # Named in the TAP's resource group (the default), as the destination's NIC is.
    error = refused(
        "sources[0]", sources=[{"name": "sensor", "network_interface_name": "sensor-nic"}]
    )

    assert error.value == "monitoring/sensor-nic"
    assert "loop" in error.expected


def test_a_load_balancer_destination_has_no_nic_to_loop_through() -> None:
    result = plan(
        destination={"load_balancer_frontend_ip_configuration_id": ILB_FRONTEND},
        sources=[{"name": "sensor", "network_interface_id": SENSOR_NIC}],
    )

    assert len(result.sources) == 1


def test_sources_in_two_subscriptions_need_two_components() -> None:
    error = refused(
        "sources",
        sources=[
            {"name": "web", "network_interface_id": WEB_NIC},
            {
                "name": "db",
                "network_interface_id": DB_NIC.replace(SUBSCRIPTION, OTHER_SUBSCRIPTION),
            },
        ],
    )

    assert error.value == sorted([SUBSCRIPTION, OTHER_SUBSCRIPTION])
    assert "one component (and provider) per subscription" in error.expected


def test_a_source_in_another_region_is_refused() -> None:
    error = refused(
        "sources[1].location",
        sources=[
            {"name": "web", "network_interface_id": WEB_NIC, "location": "West Europe"},
            {"name": "db", "network_interface_id": DB_NIC, "location": "North Europe"},
        ],
    )

    assert error.value == "North Europe"
    assert "one region" in error.expected


def test_a_source_given_by_name_defaults_to_the_tap_resource_group() -> None:
    result = plan(
        sources=[
            {"name": "web", "network_interface_name": "web-nic"},
            {"name": "db", "network_interface_name": "db-nic", "resource_group_name": "data"},
        ]
    )

    assert [(s.resource_group_name, s.network_interface_name) for s in result.sources] == [
        ("monitoring", "web-nic"),
        ("data", "db-nic"),
    ]
    assert all(s.nic.subscription is None for s in result.sources)


@pytest.mark.parametrize("bad", ["", "web nic", "apps/web-nic", 3])
def test_a_source_nic_name_is_an_arm_name(bad: Any) -> None:
    refused(
        "sources[0].network_interface_name",
        sources=[{"name": "web", "network_interface_name": bad}],
    )


# -- deferred values -----------------------------------------------------------------------------


def test_values_known_after_deployment_pass_the_preview_checks() -> None:
    deferred_id, deferred_group, deferred_nic = Deferred(), Deferred(), Deferred()

    result = plan(
        resource_group_name=deferred_group,
        destination={"network_interface_ip_configuration_id": deferred_id},
        sources=[{"name": "web", "network_interface_name": deferred_nic}],
    )

    assert result.destination.id is deferred_id
    assert result.destination.nic is None
    assert result.sources[0].resource_group_name is deferred_group
    assert result.sources[0].network_interface_name is deferred_nic


def test_a_destination_known_after_deployment_is_checked_when_known() -> None:
    result = plan(destination={"network_interface_ip_configuration_id": Deferred()})

    assert check_deferred_destination(result, SENSOR_IP_CONFIG) == SENSOR_IP_CONFIG
    with pytest.raises(CloudtapInputError, match="the network interface itself"):
        check_deferred_destination(result, SENSOR_NIC)
    with pytest.raises(CloudtapInputError, match="loop") as raised:
        check_deferred_destination(result, f"{WEB_NIC}/ipConfigurations/ipconfig1")
    assert raised.value.field == "sources[0]"


def test_without_is_deferred_every_value_must_be_plain() -> None:
    with pytest.raises(CloudtapInputError) as raised:
        plan_virtual_network_tap(
            args(destination={"network_interface_ip_configuration_id": Deferred()})
        )

    assert raised.value.field == "destination.network_interface_ip_configuration_id"


# -- port, switches, tags, required fields -------------------------------------------------------


@pytest.mark.parametrize("port", [1, 4790, 8472, 65535])
def test_another_port_is_allowed_with_a_warning(port: int) -> None:
    result = plan(destination_port=port)

    assert result.destination_port == port
    (warning,) = result.warnings
    assert f"destination_port is {port}, not 4789" in warning
    assert f"listen on UDP {port}" in warning


@pytest.mark.parametrize("port", [0, 65536, -4789, True, "4789", 4789.0, None])
def test_a_port_outside_1_to_65535_is_refused(port: Any) -> None:
    error = refused("destination_port", destination_port=port)

    assert error.expected == "an integer from 1 to 65535"


def test_port_4789_given_explicitly_is_not_warned_about() -> None:
    assert plan(destination_port=4789).warnings == ()


@pytest.mark.parametrize("value", ["false", 0, None])
def test_attach_sources_is_a_boolean(value: Any) -> None:
    refused("attach_sources", attach_sources=value)


@pytest.mark.parametrize("tags", [["team"], {"team": 1}, {1: "x"}])
def test_tags_are_strings(tags: Any) -> None:
    refused("tags", tags=tags)


@pytest.mark.parametrize("field", ["resource_group_name", "location", "destination", "sources"])
def test_required_arguments_are_named_when_missing(field: str) -> None:
    raw = args()
    del raw[field]
    with pytest.raises(CloudtapInputError) as raised:
        plan_virtual_network_tap(raw)

    assert raised.value.field == field
    assert "no default" in raised.value.expected


def test_a_misspelt_argument_is_refused() -> None:
    raw = args()
    raw["source"] = raw.pop("sources")
    with pytest.raises(CloudtapInputError) as raised:
        plan_virtual_network_tap(raw)

    assert raised.value.field == "source"


def test_resource_group_name_is_an_arm_name() -> None:
    refused("resource_group_name", resource_group_name="rg/other")


# -- the facts and the preview warning -----------------------------------------------------------


def test_every_fact_names_a_source_that_was_read_and_when() -> None:
    assert date.fromisoformat(AZURE_VTAP_FACTS.retrieved)
    for fact in AZURE_VTAP_FACTS.facts:
        assert fact.source in AZURE_VTAP_FACTS.documents, fact.key
        assert fact.source.startswith("https://")
    for url, version in AZURE_VTAP_FACTS.documents.items():
        assert url.startswith("https://")
        assert version
    assert OVERVIEW_URL in AZURE_VTAP_FACTS.documents
    assert PORTAL_HOWTO_URL in AZURE_VTAP_FACTS.documents
    assert re.search(r"commit [0-9a-f]{40}", AZURE_VTAP_FACTS.documents[OVERVIEW_URL])


def test_the_preview_warning_lists_what_no_api_call_can_check() -> None:
    text = preview_warning()

    for fact in AZURE_VTAP_FACTS.facts:
        assert fact.text in text
    for needle in (
        PREVIEW_FEATURE,
        "az feature show --namespace Microsoft.Network --name AllowVirtualNetworkTap",
        "deallocate (stop) and start every source VM once",
        "not on fastpath",
        "v6 VM sizes",
        "Basic load balancer",
        "floating IP",
        "encryption enabled",
        "IPv6",
        "internal load balancer",
        "60 seconds",
        FEATURE_ERROR_URLS[1],
        AZURE_VTAP_FACTS.retrieved,
    ):
        assert needle in text, needle
    assert "attach_sources" not in text


def test_the_preview_warning_after_a_tap_only_deployment_says_what_to_do_next() -> None:
    text = preview_warning(attach_sources=False)

    assert "only the TAP is created" in text
    assert "set attach_sources to true" in text
