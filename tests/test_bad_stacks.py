"""Every stack in the catalogue of mistakes fails the preview, naming the field from the stack key
down, before anything is registered; hostile text never reaches a resource."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import runpy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests_mock

from components import CloudtapInputError, sensor
from components.sensor import plan_sensor
from tests.bad_stacks import BASES, HOSTILE, BadStack, cases
from tests.fakes.azure import vnet_mocks
from tests.fakes.openstack import FakeCloud, openstack_mocks
from tests.mocks import StrictMocks, run_program

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning:openstack")

PROGRAM = Path(__file__).resolve().parent.parent / "__main__.py"
CATALOGUE = list(cases())


@pytest.fixture(autouse=True)
def openstack_cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fake cloud for the OpenStack stacks' preview-time lookups, reached through the
    program's own clouds.yaml entry (no extension: the gateway mirrors)."""
    with requests_mock.Mocker() as mocker:
        fake = FakeCloud(mocker, internal_mtus=(1450,))
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(fake.clouds_yaml(tmp_path)))
        yield


def mocks_for(case: BadStack) -> StrictMocks:
    if case.cloud == "azure":
        return vnet_mocks()
    if case.cloud == "openstack":
        return openstack_mocks()
    return StrictMocks()


def test_the_catalogue_is_large_and_spans_the_three_clouds() -> None:
    assert len(CATALOGUE) >= 150
    clouds = {case.config.get("cloudtap:cloud") for case in CATALOGUE}
    assert {"aws", "azure", "openstack"} <= clouds
    assert len({case.id for case in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.parametrize("base", sorted(BASES))
def test_every_base_stack_runs_so_each_case_fails_by_its_one_mistake(base: str) -> None:
    case = BadStack(base, BASES[base], "")
    run = run_program(
        lambda: runpy.run_path(str(PROGRAM), run_name="__main__"),
        mocks_for(case),
        config=case.config,
        preview=True,
    )
    assert run.mocks.registrations


@pytest.mark.parametrize("case", CATALOGUE, ids=[case.id for case in CATALOGUE])
def test_a_bad_stack_fails_the_preview_naming_its_field(case: BadStack) -> None:
    mocks = mocks_for(case)
    with pytest.raises(CloudtapInputError) as error:
        run_program(
            lambda: runpy.run_path(str(PROGRAM), run_name="__main__"),
            mocks,
            config=case.config,
            preview=True,
        )
    assert error.value.field == case.field, str(error.value)
    assert mocks.registrations == [], [r.name for r in mocks.registrations]
    if case.hostile is not None:
        registered: list[dict[str, Any]] = [r.inputs for r in mocks.registrations]
        assert case.hostile not in json.dumps(registered)


# The second line of defence: a hostile value that got past validation into a plan is still
# never written. Only the plan fields that hold free text can carry one; addresses, networks,
# ports and enums are parsed into types that cannot.
_PLAN_FIELDS: dict[str, Callable[[str], dict[str, Any]]] = {
    "capture_interface": lambda text: {"capture_interface": text},
    "log_mount_point": lambda text: {"log_mount_point": text, "log_volume": True},
    "ids_packages": lambda text: {"ids_packages": ("suricata", text)},
}


@pytest.mark.parametrize("field", sorted(_PLAN_FIELDS))
@pytest.mark.parametrize("hostile", sorted(HOSTILE.values()))
def test_a_hostile_value_forced_into_a_sensor_plan_is_never_rendered(
    field: str, hostile: str
) -> None:
    good = plan_sensor({}, default_feed_sources=(ipaddress.IPv4Network("10.0.0.0/16"),))
    forced = dataclasses.replace(good, **_PLAN_FIELDS[field](hostile))
    try:
        rendered = sensor.render_cloud_config(forced)
    except ValueError:
        return
    assert hostile not in rendered
