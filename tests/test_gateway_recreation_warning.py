"""The preview's one-line warning on Azure, whose gateway has no make-before-break: the engine
gives a gateway VM it will create anew no id, while its NIC keeps one. (OpenStack's is in
tests/test_openstack_monitored_network.py.)"""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components.azure.monitored_vnet import MonitoredVNet
from components.replacement_warning import ENGINE_REPLACES, recreation_warning
from tests.fakes.azure import vnet_mocks
from tests.mocks import StrictMocks, run_program

LOCATION = {"azure-native:location": "westeurope"}


def warnings_of(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    lines: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *_, **__: lines.append(message))
    return lines


def test_the_line_names_the_component_the_instance_and_the_outage() -> None:
    line = recreation_warning("net", "VM", None)
    assert "\n" not in line
    assert line.startswith("net: this update creates the gateway VM anew, replacing the running")
    assert "the private tier has no internet until the new gateway has booted" in line
    assert "14 s" in line


def azure(mocks: StrictMocks, *, preview: bool) -> Any:
    return run_program(lambda: MonitoredVNet("net"), mocks, config=LOCATION, preview=preview)


@pytest.mark.parametrize("recreated", [False, True])
def test_azure_warns_exactly_when_the_gateway_vm_is_made_anew(
    recreated: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = warnings_of(monkeypatch)
    mocks = vnet_mocks()
    if recreated:
        mocks.recreated.add("net-gateway")
    run = azure(mocks, preview=True)
    expected = [ENGINE_REPLACES] if recreated else []
    assert run.resolve(run.result.gateway_disruption) == expected
    assert [line for line in lines if "creates the gateway VM anew" in line] == (
        [recreation_warning("net", "VM", None)] if recreated else []
    )


def test_azure_outside_a_preview_sets_nothing() -> None:
    assert azure(vnet_mocks(), preview=False).result.gateway_disruption is None
