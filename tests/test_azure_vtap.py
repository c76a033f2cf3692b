"""VirtualNetworkTapMirror under strict mocks: the TAP's destination and port, one TAP
configuration per source pointing at the TAP, stable names, the preview warning, and nothing
registered when an argument is wrong."""

from __future__ import annotations

import logging
import pathlib
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from components import CloudtapInputError
from components.azure import VirtualNetworkTapMirror, VirtualNetworkTapMirrorArgs, vtap
from components.azure.vtap import TYPE_TOKEN
from components.azure.vtap_checks import (
    FEATURE_ERROR_URLS,
    OVERVIEW_URL,
    PREVIEW_FEATURE,
    VtapPlan,
    check_deferred_destination,
)
from tests.fakes.azure import (
    DB_NIC,
    ILB_FRONTEND,
    NETWORK,
    SENSOR_IP_CONFIG,
    SUBSCRIPTION,
    TAP,
    TAP_CONFIGURATION,
    WEB_NIC,
    AzureNetwork,
)
from tests.mocks import (
    COMPONENT_TYPES,
    ProgramRun,
    Registration,
    StrictMocks,
    run_program,
)

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
OTHER_SUBSCRIPTION = "9b2e4c1d-0a6f-4e3b-8c5d-7f1a2b3c4d5e"
# ARM ids are case-insensitive: the same NIC as WEB_NIC.
WEB_NIC_OTHER_CASE = (
    f"/subscriptions/{SUBSCRIPTION.upper()}/resourcegroups/APPS/providers/microsoft.network/"
    "networkinterfaces/WEB-NIC"
)


@pytest.fixture
def mocks() -> StrictMocks:
    azure = AzureNetwork()
    return StrictMocks(
        resources={TAP: azure.tap, TAP_CONFIGURATION: azure.tap_configuration},
        components=COMPONENT_TYPES | {TYPE_TOKEN},
    )


def args(**overrides: Any) -> VirtualNetworkTapMirrorArgs:
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
    return base  # type: ignore[return-value]


def build(
    mocks: StrictMocks, mirror_args: VirtualNetworkTapMirrorArgs, name: str = "vtap"
) -> ProgramRun[VirtualNetworkTapMirror]:
    return run_program(lambda: VirtualNetworkTapMirror(name, mirror_args), mocks)


def by_name(registrations: list[Registration]) -> dict[str, Registration]:
    # Children whose inputs wait on another output register in no fixed order.
    return {r.name: r for r in registrations}


def the_tap(run: ProgramRun[Any]) -> Registration:
    (tap,) = run.of_type(TAP)
    return tap


# -- the graph -----------------------------------------------------------------------------------


def test_tap_sends_to_the_sensor_nic_ip_configuration_on_udp_4789(mocks: StrictMocks) -> None:
    tap = the_tap(build(mocks, args()))

    assert tap.inputs["destinationNetworkInterfaceIPConfiguration"] == {"id": SENSOR_IP_CONFIG}
    assert "destinationLoadBalancerFrontEndIPConfiguration" not in tap.inputs
    assert tap.inputs["destinationPort"] == 4789
    assert tap.inputs["location"] == "westeurope"
    assert tap.inputs["resourceGroupName"] == "monitoring"


def test_tap_sends_to_an_internal_load_balancer_frontend(mocks: StrictMocks) -> None:
    run = build(
        mocks, args(destination={"load_balancer_frontend_ip_configuration_id": ILB_FRONTEND})
    )
    tap = the_tap(run)

    assert tap.inputs["destinationLoadBalancerFrontEndIPConfiguration"] == {"id": ILB_FRONTEND}
    assert "destinationNetworkInterfaceIPConfiguration" not in tap.inputs


def test_region_written_as_a_display_name_reaches_azure_normalised(mocks: StrictMocks) -> None:
    tap = the_tap(build(mocks, args(location="West Europe")))

    assert tap.inputs["location"] == "westeurope"


def test_one_tap_configuration_per_source_points_at_the_tap(mocks: StrictMocks) -> None:
    run = build(mocks, args())
    tap = the_tap(run)
    configs = by_name(run.of_type(TAP_CONFIGURATION))

    assert {
        name: (c.inputs["resourceGroupName"], c.inputs["networkInterfaceName"])
        for name, c in configs.items()
    } == {"vtap-web": ("apps", "web-nic"), "vtap-db": ("apps", "db-nic")}
    assert all(c.inputs["virtualNetworkTap"] == {"id": tap.id} for c in configs.values())
    # Each configuration waits for the TAP (and is therefore deleted before it).
    assert all(tap.urn in c.dependencies for c in configs.values())
    assert run.resolve(run.result.tap_id) == tap.id
    # The output list follows the order of `sources`.
    assert [run.resolve(c.id) for c in run.result.tap_configurations] == [
        configs["vtap-web"].id,
        configs["vtap-db"].id,
    ]


def test_source_given_by_name_defaults_to_the_tap_resource_group(mocks: StrictMocks) -> None:
    run = build(
        mocks,
        args(
            sources=[
                {"name": "web", "network_interface_name": "web-nic"},
                {"name": "db", "network_interface_name": "db-nic", "resource_group_name": "data"},
            ]
        ),
    )

    assert {
        name: (c.inputs["resourceGroupName"], c.inputs["networkInterfaceName"])
        for name, c in by_name(run.of_type(TAP_CONFIGURATION)).items()
    } == {"vtap-web": ("monitoring", "web-nic"), "vtap-db": ("data", "db-nic")}


def test_port_and_tags_reach_the_tap(mocks: StrictMocks) -> None:
    tap = the_tap(build(mocks, args(destination_port=4790, tags={"team": "secops"})))

    assert tap.inputs["destinationPort"] == 4790
    assert tap.inputs["tags"] == {"team": "secops"}


def test_child_names_are_stable_prefixed_and_parented(mocks: StrictMocks) -> None:
    run = build(mocks, args(), name="prod-vtap")
    (component,) = [r for r in run.resources if r.type == TYPE_TOKEN]

    assert {r.name for r in run.resources if r.custom} == {
        "prod-vtap-tap",
        "prod-vtap-web",
        "prod-vtap-db",
    }
    assert all(r.parent == component.urn for r in run.resources if r.custom)


def test_reordering_sources_keeps_each_source_s_child_name(mocks: StrictMocks) -> None:
    listed = args()["sources"]
    run = build(mocks, args(sources=list(reversed(listed))))

    assert {c.inputs["networkInterfaceName"]: c.name for c in run.of_type(TAP_CONFIGURATION)} == {
        "web-nic": "vtap-web",
        "db-nic": "vtap-db",
    }


def test_two_components_do_not_collide(mocks: StrictMocks) -> None:
    def program() -> list[VirtualNetworkTapMirror]:
        return [
            VirtualNetworkTapMirror("blue", args()),
            VirtualNetworkTapMirror(
                "green",
                args(destination={"load_balancer_frontend_ip_configuration_id": ILB_FRONTEND}),
            ),
        ]

    run = run_program(program, mocks)

    assert len(run.of_type(TAP)) == 2
    assert len(run.of_type(TAP_CONFIGURATION)) == 4
    assert len({r.urn for r in run.resources}) == len(run.resources)


def test_without_attach_sources_only_the_tap_exists_and_outputs_stay_present(
    mocks: StrictMocks,
) -> None:
    run = build(mocks, args(attach_sources=False))
    (component,) = [r for r in run.resources if r.type == TYPE_TOKEN]

    assert len(run.of_type(TAP)) == 1
    assert run.of_type(TAP_CONFIGURATION) == []
    assert run.result.tap_configurations == []
    outputs = run.outputs_of(component.urn)
    assert outputs["tap_configuration_ids"] == []
    assert outputs["tap_id"] == the_tap(run).id
    assert outputs["destination_port"] == 4789


def test_destination_known_only_after_deployment_is_checked_before_the_tap(
    mocks: StrictMocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the check refuses is tested without mocks (test_azure_vtap_checks.py); here: that
    # the component runs it on the resolved id and gives the TAP what it returns.
    checked: list[str] = []

    def check(plan: VtapPlan, value: str) -> str:
        checked.append(value)
        return check_deferred_destination(plan, value)

    monkeypatch.setattr(vtap, "check_deferred_destination", check)

    def program() -> VirtualNetworkTapMirror:
        deferred = pulumi.Output.from_input(SENSOR_IP_CONFIG)
        return VirtualNetworkTapMirror(
            "vtap", args(destination={"network_interface_ip_configuration_id": deferred})
        )

    tap = the_tap(run_program(program, mocks))

    assert checked == [SENSOR_IP_CONFIG]
    assert tap.inputs["destinationNetworkInterfaceIPConfiguration"] == {"id": SENSOR_IP_CONFIG}


# -- warnings ------------------------------------------------------------------------------------


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_preview_warning_is_logged_once_per_component(
    mocks: StrictMocks, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)

    def program() -> None:
        VirtualNetworkTapMirror("blue", args())
        VirtualNetworkTapMirror("green", args())

    run_program(program, mocks)

    previews = [w for w in warnings_of(caplog) if "preview feature" in w]
    assert len(previews) == 2
    text = previews[0]
    for needle in (
        PREVIEW_FEATURE,
        "not on fastpath",
        "deallocate",
        "v6 VM sizes",
        "Basic load balancer",
        "floating IP",
        "encryption",
        "IPv6",
        OVERVIEW_URL,
        FEATURE_ERROR_URLS[1],
    ):
        assert needle in text
    assert not [w for w in warnings_of(caplog) if "destination_port" in w]


def test_preview_warning_says_what_to_do_after_a_tap_only_deployment(
    mocks: StrictMocks, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)

    build(mocks, args(attach_sources=False))

    (preview,) = [w for w in warnings_of(caplog) if "preview feature" in w]
    assert "set attach_sources to true" in preview


def test_a_port_other_than_4789_is_warned_about(
    mocks: StrictMocks, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)

    build(mocks, args(destination_port=8472))

    assert [w for w in warnings_of(caplog) if "destination_port is 8472, not 4789" in w]


# -- wrong arguments register nothing ------------------------------------------------------------

WRONG: list[tuple[str, Callable[[], VirtualNetworkTapMirrorArgs], str]] = [
    ("destination", lambda: args(destination={}), "exactly one of"),
    (
        "destination",
        lambda: args(
            destination={
                "network_interface_ip_configuration_id": SENSOR_IP_CONFIG,
                "load_balancer_frontend_ip_configuration_id": ILB_FRONTEND,
            }
        ),
        "exactly one of",
    ),
    (
        "destination.network_interface_ip_configuration_id",
        lambda: args(destination={"network_interface_ip_configuration_id": "sensor-nic"}),
        "ARM resource id",
    ),
    (
        "destination.load_balancer_frontend_ip_configuration_id",
        lambda: args(destination={"load_balancer_frontend_ip_configuration_id": SENSOR_IP_CONFIG}),
        "network_interface_ip_configuration_id",
    ),
    ("sources", lambda: args(sources=[]), "non-empty list"),
    (
        "sources[1]",
        lambda: args(
            sources=[
                {"name": "a", "network_interface_id": WEB_NIC},
                {"name": "b", "network_interface_id": WEB_NIC_OTHER_CASE},
            ]
        ),
        "not already listed",
    ),
    (
        "sources[0]",
        lambda: args(
            sources=[
                {
                    "name": "sensor",
                    "network_interface_id": f"{NETWORK}/networkInterfaces/sensor-nic",
                }
            ]
        ),
        "loop",
    ),
    (
        "sources[1].location",
        lambda: args(
            sources=[
                {"name": "web", "network_interface_id": WEB_NIC, "location": "West Europe"},
                {"name": "db", "network_interface_id": DB_NIC, "location": "northeurope"},
            ]
        ),
        "one region",
    ),
    (
        "destination.location",
        lambda: args(
            destination={
                "network_interface_ip_configuration_id": SENSOR_IP_CONFIG,
                "location": "uksouth",
            }
        ),
        "one region",
    ),
    ("destination_port", lambda: args(destination_port=0), "from 1 to 65535"),
    ("destination_port", lambda: args(destination_port="4789"), "from 1 to 65535"),
    (
        "sources",
        lambda: args(
            sources=[
                {"name": "web", "network_interface_id": WEB_NIC},
                {
                    "name": "db",
                    "network_interface_id": DB_NIC.replace(SUBSCRIPTION, OTHER_SUBSCRIPTION),
                },
            ]
        ),
        "one subscription",
    ),
    ("location", lambda: args(location=None), "no default"),
]


@pytest.mark.parametrize(("field", "make_args", "expected"), WRONG)
def test_wrong_arguments_fail_before_anything_is_registered(
    mocks: StrictMocks,
    field: str,
    make_args: Callable[[], VirtualNetworkTapMirrorArgs],
    expected: str,
) -> None:
    with pytest.raises(CloudtapInputError, match=expected) as raised:
        build(mocks, make_args())

    assert raised.value.field == field
    assert mocks.registrations == []


# -- imports -------------------------------------------------------------------------------------


def test_importing_components_and_the_checks_loads_no_azure_sdk() -> None:
    code = (
        "import sys, components, components.azure, components.azure.vtap_checks\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('pulumi_azure_native'))\n"
        "assert not loaded, loaded\n"
        "components.azure.VirtualNetworkTapMirror\n"
        "assert 'pulumi_azure_native.network' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)
