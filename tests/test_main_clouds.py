"""The program (``__main__.py``) on Azure and OpenStack: the example stacks run under strict mocks,
mirror existing interfaces to an existing sensor, export per cloud, and refuse what is not built
yet (the monitored network and the sensor of those clouds)."""

from __future__ import annotations

import copy
import logging
import runpy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from components import CloudtapInputError
from tests.fakes.azure import TAP, TAP_CONFIGURATION, azure_mocks
from tests.fakes.openstack import (
    ATTACH,
    PORT,
    TAP_FLOW,
    TAP_MIRROR,
    TAP_SERVICE,
    openstack_mocks,
)
from tests.mocks import ProgramRun, StrictMocks, run_program

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning:openstack")

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "__main__.py"
AZURE_SENSOR = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-cloudtap-dev/providers/"
    "Microsoft.Network/networkInterfaces/sensor-vm-nic/ipConfigurations/ipconfig1"
)
WEB_PORT = "5b0d3c1e-7a2f-4c8e-9d61-2f4a8b7c6e01"
DB_PORT = "a7e1c9d4-3b6f-4e20-8c5a-91d2f0b4e6c3"
NETWORK = "0e6b7d2a-9c41-4f85-a3d0-6b2e8f1c7a95"
SERVER = "8d3e5f7a-1b9c-4e26-a0d4-c7f3b2e9a618"


def stack(name: str) -> dict[str, Any]:
    """The stack file's whole config: the providers' keys matter here (location, cloud)."""
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{name}.yaml").read_text())
    return copy.deepcopy(loaded["config"])


def run_main(
    mocks: StrictMocks, config: dict[str, Any], *, preview: bool = False
) -> ProgramRun[Any]:
    return run_program(
        lambda: runpy.run_path(str(PROGRAM), run_name="__main__"),
        mocks,
        config=config,
        preview=preview,
    )


def capture_info(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    lines: list[str] = []
    original: Callable[..., None] = pulumi.log.info

    def record(message: str, *rest: Any, **kwargs: Any) -> None:
        lines.append(message)
        original(message, *rest, **kwargs)

    monkeypatch.setattr(pulumi.log, "info", record)
    return lines


# -- azure ---------------------------------------------------------------------------------------


def test_the_azure_dev_stack_creates_the_tap_first_and_says_what_comes_next(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    lines = capture_info(monkeypatch)

    run = run_main(azure_mocks(), stack("azure-existing"), preview=True)

    (tap,) = run.of_type(TAP)
    assert tap.inputs["destinationNetworkInterfaceIPConfiguration"] == {"id": AZURE_SENSOR}
    # Region from azure-native:location, resource group from the sensor's id.
    assert tap.inputs["location"] == "westeurope"
    assert tap.inputs["resourceGroupName"] == "rg-cloudtap-dev"
    assert tap.inputs["tags"] == {"project": "cloudtap"}
    assert run.of_type(TAP_CONFIGURATION) == []
    assert [line.split(" — ")[0] for line in lines] == [
        "web-vm-nic (Azure VM network interface): native mirroring of 1 interface "
        "(rg-apps-dev/web-vm-nic)",
        "db (Azure VM network interface): native mirroring of 1 interface (rg-apps-dev/db-vm-nic)",
    ]
    assert all("set attach_sources to true" in line for line in lines)
    assert [r.getMessage() for r in caplog.records if "preview feature" in r.getMessage()]
    assert run.exports == {
        "mirror_tap_id": tap.id,
        "mirror_native_sources": ["web-vm-nic", "db"],
        "mirror_gateway_sources": [],
        "mirror_session_ids": {},
    }


def test_the_azure_dev_stack_s_second_step_attaches_every_source() -> None:
    config = stack("azure-existing")
    config["cloudtap:mirror"]["attach_sources"] = True

    run = run_main(azure_mocks(), config)

    configs = {c.name: c for c in run.of_type(TAP_CONFIGURATION)}
    assert {
        name: (c.inputs["resourceGroupName"], c.inputs["networkInterfaceName"])
        for name, c in configs.items()
    } == {
        "cloudtap-mirror-web-vm-nic": ("rg-apps-dev", "web-vm-nic"),
        "cloudtap-mirror-db": ("rg-apps-dev", "db-vm-nic"),
    }
    assert run.exports["mirror_session_ids"] == {name: c.id for name, c in configs.items()}


def test_an_explicit_location_wins_over_the_provider_s() -> None:
    config = stack("azure-existing")
    config["cloudtap:mirror"]["location"] = "West Europe"
    config["azure-native:location"] = "northeurope"

    run = run_main(azure_mocks(), config)

    assert run.of_type(TAP)[0].inputs["location"] == "westeurope"


def test_azure_without_any_location_is_refused_naming_the_provider_key() -> None:
    config = stack("azure-existing")
    del config["azure-native:location"]
    mocks = azure_mocks()

    with pytest.raises(CloudtapInputError) as error:
        run_main(mocks, config)

    assert error.value.field == "cloudtap:mirror.location"
    assert "azure-native:location" in error.value.expected
    assert mocks.registrations == []


# -- openstack -----------------------------------------------------------------------------------


def test_the_openstack_existing_stack_tunnels_each_port_to_the_sensor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines = capture_info(monkeypatch)

    run = run_main(openstack_mocks(), stack("openstack-existing"), preview=True)

    mirrors = {m.name: m for m in run.of_type(TAP_MIRROR)}
    assert {name: (m.inputs["portId"], m.inputs["directions"]) for name, m in mirrors.items()} == {
        "cloudtap-mirror-web": (WEB_PORT, {"in": 1, "out": 2}),
        "cloudtap-mirror-db": (DB_PORT, {"in": 3, "out": 4}),
    }
    assert {(m.inputs["remoteIp"], m.inputs["mirrorType"]) for m in mirrors.values()} == {
        ("10.0.128.10", "gre")
    }
    assert {r.type for r in run.resources if r.custom} == {TAP_MIRROR}
    assert lines == [
        f"web (Neutron port): native mirroring of 1 interface ({WEB_PORT}) — Tap-as-a-Service "
        "tap mirror to 10.0.128.10 over GRE, tunnel ids IN 1, OUT 2",
        f"db (Neutron port): native mirroring of 1 interface ({DB_PORT}) — Tap-as-a-Service "
        "tap mirror to 10.0.128.10 over GRE, tunnel ids IN 3, OUT 4",
    ]
    assert run.exports == {
        "mirror_backend": "tap_mirror",
        "mirror_tunnel_ids": {"web": {"IN": 1, "OUT": 2}, "db": {"IN": 3, "OUT": 4}},
        "mirror_tap_service_id": None,
        "mirror_monitor_port_id": None,
        "mirror_native_sources": ["web", "db"],
        "mirror_gateway_sources": [],
        "mirror_session_ids": {name: m.id for name, m in mirrors.items()},
    }


def test_the_openstack_existing_stack_s_tap_service_alternative_creates_its_monitor_port() -> None:
    # The alternative the stack file describes in its comments, with a port cloudtap creates.
    config = stack("openstack-existing")
    mirror = config["cloudtap:mirror"]
    del mirror["mirror_type"]
    mirror["backend"] = "tap_service"
    mirror["target"] = {"monitor_port": {"network_id": NETWORK, "instance_id": SERVER}}

    run = run_main(openstack_mocks(), config)

    port = run.named("cloudtap-mirror-monitor-port")
    assert port.inputs["portSecurityEnabled"] is False
    assert port.inputs["noSecurityGroups"] is True
    assert run.named("cloudtap-mirror-monitor-port-attach").inputs["instanceId"] == SERVER
    service = run.named("cloudtap-mirror-service")
    assert service.inputs["port_id"] == port.id
    # openstack:cloud reaches the dynamic resources, which connect on their own.
    assert service.inputs["cloud"] == "devstack"
    flows = {f.name: f for f in run.of_type(TAP_FLOW)}
    assert {f.inputs["source_port"] for f in flows.values()} == {WEB_PORT, DB_PORT}
    assert all(service.urn in f.dependencies for f in flows.values())
    assert {r.type for r in run.resources if r.custom} == {PORT, ATTACH, TAP_SERVICE, TAP_FLOW}
    assert run.exports["mirror_backend"] == "tap_service"
    assert run.exports["mirror_tap_service_id"] == service.id
    assert run.exports["mirror_monitor_port_id"] == port.id
    assert run.exports["mirror_tunnel_ids"] == {}
    assert run.exports["mirror_session_ids"] == {name: f.id for name, f in flows.items()}


def test_an_existing_monitor_port_is_looked_up_with_the_stack_s_cloud() -> None:
    # No such cloud in any clouds.yaml: the preview-time lookup fails and says what to set.
    config = stack("openstack-existing")
    config["openstack:cloud"] = "cloudtap-test-no-such-cloud"
    mirror = config["cloudtap:mirror"]
    del mirror["mirror_type"]
    mirror["backend"] = "tap_service"
    mirror["target"] = {"port_id": "c41f2e8a-6d3b-4a97-b0e5-7f18d2c9a354"}
    mocks = openstack_mocks()

    with pytest.raises(CloudtapInputError) as error:
        run_main(mocks, config)

    assert error.value.field == "cloudtap:mirror.target.port_id"
    assert "cloudtap-test-no-such-cloud" in error.value.expected
    assert "openstack:cloud" in error.value.expected
    assert mocks.registrations == []


# -- what azure and openstack refuse -------------------------------------------------------------


def test_an_openstack_sensor_without_a_network_is_refused_and_says_why() -> None:
    config = stack("openstack-existing")
    config["cloudtap:sensor"] = {}
    mocks = openstack_mocks()

    with pytest.raises(CloudtapInputError) as error:
        run_main(mocks, config)

    assert error.value.field == "cloudtap:sensor"
    assert "without cloudtap:network" in error.value.expected
    assert mocks.registrations == []


def test_an_azure_sensor_without_the_network_it_lives_in_is_refused() -> None:
    config = stack("azure-existing")
    config["cloudtap:sensor"] = {}
    mocks = azure_mocks()

    with pytest.raises(CloudtapInputError) as error:
        run_main(mocks, config)

    assert error.value.field == "cloudtap:sensor"
    assert "cloudtap:network" in error.value.expected
    assert mocks.registrations == []


@pytest.mark.parametrize("cloud", ["azure", "openstack"])
def test_without_a_mirror_there_is_nothing_to_build_and_the_program_says_so(cloud: str) -> None:
    mocks = azure_mocks() if cloud == "azure" else openstack_mocks()

    with pytest.raises(CloudtapInputError) as error:
        run_main(mocks, {"cloudtap:cloud": cloud})

    assert error.value.field == "cloudtap:mirror"
    assert "existing interfaces to an existing sensor" in error.value.expected
    assert mocks.registrations == []


@pytest.mark.parametrize("cloud", [None, "gcp", "Azure", "OpenStack"])
def test_an_unknown_cloud_is_refused_listing_the_three(cloud: str | None) -> None:
    mocks = StrictMocks()

    with pytest.raises(CloudtapInputError) as error:
        run_main(mocks, {} if cloud is None else {"cloudtap:cloud": cloud})

    assert error.value.field == "cloudtap:cloud"
    assert "['aws', 'azure', 'openstack']" in error.value.expected
    assert mocks.registrations == []


def test_the_aws_path_loads_neither_azure_nor_openstack() -> None:
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    probe = (
        "import runpy, sys\n"
        "from tests.mocks import StrictMocks, run_program\n"
        "run_program(lambda: runpy.run_path('__main__.py', run_name='__main__'), StrictMocks(),"
        " config={'cloudtap:cloud': 'aws'})\n"
        "loaded = [m for m in ('pulumi_azure_native', 'pulumi_openstack', 'openstack')"
        " if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, cwd=ROOT)
