"""The Azure MirrorSession facade under strict mocks: one TAP and one TAP configuration per source
through VirtualNetworkTapMirror, the AWS facade's names and preview lines, its refusals (nothing
registered), and the errors speaking of ``target`` rather than the TAP's ``destination``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from components import CloudtapInputError
from components.azure import mirror_session, vtap
from components.azure.mirror_session import MirrorSession
from tests.fakes.azure import (
    APP_RG,
    ILB_FRONTEND,
    SENSOR_IP_CONFIG,
    TAP,
    TAP_CONFIGURATION,
    WEB_NIC,
    args,
    azure_mocks,
    build,
)
from tests.mocks import Registration, StrictMocks, run_program

SENSOR_NIC = SENSOR_IP_CONFIG.rsplit("/ipConfigurations/", 1)[0]


@pytest.fixture
def mocks() -> StrictMocks:
    return azure_mocks()


def by_name(registrations: list[Registration]) -> dict[str, Registration]:
    return {r.name: r for r in registrations}


def capture_info(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    lines: list[str] = []
    original: Callable[..., None] = pulumi.log.info

    def record(message: str, *rest: Any, **kwargs: Any) -> None:
        lines.append(message)
        original(message, *rest, **kwargs)

    monkeypatch.setattr(pulumi.log, "info", record)
    return lines


# -- the graph -----------------------------------------------------------------------------------


def test_one_tap_to_the_sensor_nic_and_one_tap_configuration_per_source(
    mocks: StrictMocks,
) -> None:
    run = build(mocks, args())

    (tap,) = run.of_type(TAP)
    assert tap.name == "mirror-tap"
    assert tap.inputs["destinationNetworkInterfaceIPConfiguration"] == {"id": SENSOR_IP_CONFIG}
    assert tap.inputs["destinationPort"] == 4789
    assert tap.inputs["location"] == "westeurope"
    # The TAP lives next to its target unless told otherwise.
    assert tap.inputs["resourceGroupName"] == "monitoring"
    configs = by_name(run.of_type(TAP_CONFIGURATION))
    assert {
        name: (c.inputs["resourceGroupName"], c.inputs["networkInterfaceName"])
        for name, c in configs.items()
    } == {"mirror-web": ("apps", "web-nic"), "mirror-db": ("apps", "db-nic")}
    assert all(c.inputs["virtualNetworkTap"] == {"id": tap.id} for c in configs.values())
    assert all(tap.urn in c.dependencies for c in configs.values())
    assert {r.type for r in run.resources} == {TAP, TAP_CONFIGURATION} | {
        mirror_session.TYPE_TOKEN,
        vtap.TYPE_TOKEN,
    }


def test_the_facade_holds_the_tap_mirror_which_holds_the_resources(mocks: StrictMocks) -> None:
    run = build(mocks, args())

    # The facade and its child share the name "mirror": find them by type.
    (facade_reg,) = run.of_type(mirror_session.TYPE_TOKEN)
    (child,) = run.of_type(vtap.TYPE_TOKEN)
    assert child.name == "mirror"
    assert child.parent == facade_reg.urn
    assert all(r.parent == child.urn for r in run.resources if r.custom)
    session = run.result
    assert session.native_sources == ["web", "db"]
    assert session.gateway_sources == []
    assert list(session.sessions) == ["mirror-web", "mirror-db"]
    configs = by_name(run.of_type(TAP_CONFIGURATION))
    assert {key: run.resolve(c.id) for key, c in session.sessions.items()} == {
        key: configs[key].id for key in ("mirror-web", "mirror-db")
    }
    outputs = run.outputs_of(facade_reg.urn)
    assert outputs == {
        "tap_id": run.of_type(TAP)[0].id,
        "session_count": 2,
        "native_sources": ["web", "db"],
        "gateway_sources": [],
    }


def test_an_internal_load_balancer_target_keeps_the_tap_in_its_resource_group(
    mocks: StrictMocks,
) -> None:
    run = build(mocks, args(target={"load_balancer_frontend_ip_configuration_id": ILB_FRONTEND}))

    (tap,) = run.of_type(TAP)
    assert tap.inputs["destinationLoadBalancerFrontEndIPConfiguration"] == {"id": ILB_FRONTEND}
    assert "destinationNetworkInterfaceIPConfiguration" not in tap.inputs
    assert tap.inputs["resourceGroupName"] == "monitoring"


def test_sources_without_a_name_are_keyed_by_their_nic_name(mocks: StrictMocks) -> None:
    run = build(
        mocks,
        args(
            sources=[
                {"network_interface_id": WEB_NIC},
                {"network_interface_name": "db-nic", "resource_group_name": "data"},
            ]
        ),
    )

    assert {
        c.name: (c.inputs["resourceGroupName"], c.inputs["networkInterfaceName"])
        for c in run.of_type(TAP_CONFIGURATION)
    } == {"mirror-web-nic": ("apps", "web-nic"), "mirror-db-nic": ("data", "db-nic")}
    assert run.result.native_sources == ["web-nic", "db-nic"]


def test_resource_group_port_and_tags_are_passed_to_the_tap(mocks: StrictMocks) -> None:
    run = build(
        mocks,
        args(resource_group_name="taps", destination_port=4790, tags={"team": "secops"}),
    )

    (tap,) = run.of_type(TAP)
    assert tap.inputs["resourceGroupName"] == "taps"
    assert tap.inputs["destinationPort"] == 4790
    assert tap.inputs["tags"] == {"team": "secops"}


def test_without_attach_sources_only_the_tap_is_created(mocks: StrictMocks) -> None:
    run = build(mocks, args(attach_sources=False))

    assert len(run.of_type(TAP)) == 1
    assert run.of_type(TAP_CONFIGURATION) == []
    assert run.result.sessions == {}
    (facade,) = run.of_type(mirror_session.TYPE_TOKEN)
    assert run.outputs_of(facade.urn)["session_count"] == 0


def test_a_target_created_by_the_program_needs_the_resource_group(mocks: StrictMocks) -> None:
    def program() -> MirrorSession:
        deferred = pulumi.Output.from_input(SENSOR_IP_CONFIG)
        return MirrorSession(
            "mirror",
            args(  # type: ignore[arg-type]
                target={"network_interface_ip_configuration_id": deferred},
                resource_group_name="monitoring",
            ),
        )

    run = run_program(program, mocks)

    (tap,) = run.of_type(TAP)
    assert tap.inputs["destinationNetworkInterfaceIPConfiguration"] == {"id": SENSOR_IP_CONFIG}
    assert len(run.of_type(TAP_CONFIGURATION)) == 2


def test_two_sessions_in_one_program_do_not_collide(mocks: StrictMocks) -> None:
    def program() -> None:
        MirrorSession("blue", args())  # type: ignore[arg-type]
        MirrorSession(
            "green",
            args(target={"load_balancer_frontend_ip_configuration_id": ILB_FRONTEND}),  # type: ignore[arg-type]
        )

    run = run_program(program, mocks)

    assert len(run.of_type(TAP)) == 2
    assert len(run.of_type(TAP_CONFIGURATION)) == 4
    assert len({r.urn for r in run.resources}) == len(run.resources)


# -- the preview ---------------------------------------------------------------------------------


def test_preview_prints_one_line_per_source_like_the_aws_facade(
    mocks: StrictMocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = capture_info(monkeypatch)

    build(mocks, args())

    assert lines == [
        "web (Azure VM network interface): native mirroring of 1 interface (apps/web-nic) — "
        "Azure virtual network TAP to the sensor NIC sensor-nic/ipconfig1, VXLAN on UDP 4789",
        "db (Azure VM network interface): native mirroring of 1 interface (apps/db-nic) — "
        "Azure virtual network TAP to the sensor NIC sensor-nic/ipconfig1, VXLAN on UDP 4789",
    ]


def test_preview_lines_say_when_sources_are_not_attached_yet(
    mocks: StrictMocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = capture_info(monkeypatch)

    build(
        mocks,
        args(
            target={"load_balancer_frontend_ip_configuration_id": ILB_FRONTEND},
            attach_sources=False,
            sources=[{"name": "web", "network_interface_id": WEB_NIC}],
        ),
    )

    assert lines == [
        "web (Azure VM network interface): native mirroring of 1 interface (apps/web-nic) — "
        "Azure virtual network TAP to the internal load balancer frontend sensors-ilb/vxlan, "
        "VXLAN on UDP 4789; TAP only, not attached yet (attach_sources is false): deallocate "
        "and start the VM once, then set attach_sources to true"
    ]


def test_azure_s_manual_requirements_are_warned_about_once(
    mocks: StrictMocks, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)

    build(mocks, args())

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    (preview,) = [w for w in warnings if "preview feature" in w]
    assert "not on fastpath" in preview
    assert "deallocate" in preview


# -- checks: nothing is registered on error ------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "phrase"),
    [
        ({"method": "auto"}, "method", "need network (the MonitoredVNet"),
        ({"method": "gateway"}, "method", "native without network"),
        ({"method": "mirror"}, "method", "one of"),
        ({"target": None}, "target", "mirroring needs a target"),
        ({"location": None}, "location", "azure-native:location"),
        ({"location": "West Europe!"}, "location", "an Azure region name"),
        ({"network": "vnet-1"}, "network", "a cloudtap MonitoredVNet"),
        ({"filter_presets": ["drop_intra_vpc"]}, "filter_presets", "has no filter"),
        ({"session_number": 2}, "session_number", "AWS Traffic Mirroring setting"),
        ({"virtual_network_id": 7}, "virtual_network_id", "AWS Traffic Mirroring setting"),
        ({"sourcse": []}, "sourcse", "one of the fields"),
        ({"sources": []}, "sources", "a non-empty list"),
        ({"destination_port": 0}, "destination_port", "an integer from 1 to 65535"),
        ({"attach_sources": "yes"}, "attach_sources", "true or false"),
        (
            {"target": {"network_interface_ip_configuration_id": SENSOR_NIC}},
            "target.network_interface_ip_configuration_id",
            "append /ipConfigurations/<name>",
        ),
        (
            {"target": {"network_interface_ip_configuration_id": ILB_FRONTEND}},
            "target.network_interface_ip_configuration_id",
            "belongs in target.load_balancer_frontend_ip_configuration_id",
        ),
        (
            {
                "target": {
                    "network_interface_ip_configuration_id": SENSOR_IP_CONFIG,
                    "load_balancer_frontend_ip_configuration_id": ILB_FRONTEND,
                }
            },
            "target",
            "exactly one of",
        ),
        (
            {"target": {"network_interface_ip_configuration_id": SENSOR_IP_CONFIG, "port": 1}},
            "target.port",
            "one of the fields",
        ),
        (
            {
                "target": {
                    "network_interface_ip_configuration_id": SENSOR_IP_CONFIG,
                    "location": "northeurope",
                }
            },
            "target.location",
            "in one region",
        ),
        (
            {"sources": [{"name": "sensor", "network_interface_id": SENSOR_NIC}]},
            "sources[0]",
            "a loop",
        ),
        (
            {
                "sources": [
                    {"name": "web", "network_interface_id": WEB_NIC},
                    {"name": "web-again", "network_interface_id": WEB_NIC.upper()},
                ]
            },
            "sources[1]",
            "not already listed",
        ),
        (
            {
                "sources": [
                    {"network_interface_id": WEB_NIC},
                    {"network_interface_name": "web-nic", "resource_group_name": "other"},
                ]
            },
            "sources[1].name",
            "a name not used by sources[0]",
        ),
        (
            {"sources": [{"network_interface_id": f"{APP_RG}/networkInterfaces/{'n' * 70}"}]},
            "sources[0].name",
            "the NIC's name",
        ),
        (
            {"sources": [{"name": "web", "network_interface_id": "web-nic"}]},
            "sources[0].network_interface_id",
            "the ARM id of a network interface",
        ),
        ({"sources": [{"name": "web"}]}, "sources[0]", "exactly one of network_interface_id"),
    ],
)
def test_wrong_arguments_fail_before_anything_is_registered(
    mocks: StrictMocks, overrides: dict[str, Any], field: str, phrase: str
) -> None:
    session_args = {key: value for key, value in args(**overrides).items() if value is not None}

    with pytest.raises(CloudtapInputError) as error:
        build(mocks, session_args)

    assert error.value.field == field
    assert phrase in error.value.expected, error.value.expected
    assert str(error.value).startswith(f"{field}: got ")
    assert mocks.registrations == []


def test_method_native_is_the_default_and_may_be_written(mocks: StrictMocks) -> None:
    run = build(mocks, args(method="native"))

    assert len(run.of_type(TAP_CONFIGURATION)) == 2


def test_a_target_created_by_the_program_without_a_resource_group_is_refused(
    mocks: StrictMocks,
) -> None:
    def program() -> MirrorSession:
        deferred = pulumi.Output.from_input(SENSOR_IP_CONFIG)
        return MirrorSession(
            "mirror",
            args(target={"network_interface_ip_configuration_id": deferred}),  # type: ignore[arg-type]
        )

    with pytest.raises(CloudtapInputError) as error:
        run_program(program, mocks)

    assert error.value.field == "resource_group_name"
    assert "only known after deployment" in error.value.expected
    assert mocks.registrations == []


def test_components_exports_the_facade_under_a_cloud_prefixed_name() -> None:
    import components  # noqa: PLC0415
    import components.azure  # noqa: PLC0415

    assert components.AzureMirrorSession is MirrorSession
    assert components.azure.MirrorSession is MirrorSession
    assert components.AzureMirrorSessionArgs is components.azure.MirrorSessionArgs
