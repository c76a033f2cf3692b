"""The AWS and OpenStack MirrorSession planning modules: they load no cloud SDK, and OpenStack's
takes its one preview-time lookup as a parameter, so both plan without a cloud."""

from __future__ import annotations

import subprocess
import sys

import pytest

from components.errors import CloudtapInputError
from components.openstack.mirror_planning import plan_mirror_session

CLOUD_SDKS = ("pulumi_aws", "pulumi_azure_native", "pulumi_openstack", "openstack")
MONITOR_PORT = "c41f2e8a-6d3b-4a97-b0e5-7f18d2c9a354"
WEB_PORT = "5b0c3a7e-2f4d-4e8a-9c61-0d7b8e2f4a13"


@pytest.mark.parametrize(
    "module", ["components.aws.mirror_planning", "components.openstack.mirror_planning"]
)
def test_the_planning_modules_load_no_cloud_sdk(module: str) -> None:
    code = f"import sys, {module}; print([m for m in {CLOUD_SDKS!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_openstack_planning_checks_the_monitor_port_through_the_lookup_it_is_given() -> None:
    asked: list[tuple[str | None, str]] = []

    def check(cloud: str | None, port_id: str) -> None:
        asked.append((cloud, port_id))
        if len(asked) > 1:
            raise CloudtapInputError("target.port_id", port_id, "a monitor port")

    session_args = {
        "backend": "tap_service",
        "target": {"port_id": MONITOR_PORT},
        "sources": [{"name": "web", "port_id": WEB_PORT}],
    }
    planned = plan_mirror_session("mirror", session_args, check)
    assert asked == [(None, MONITOR_PORT)]
    assert [d.source.name for d in planned.decisions] == ["web"]
    with pytest.raises(CloudtapInputError) as error:
        plan_mirror_session("mirror", {**session_args, "cloud": "lab"}, check)
    assert asked[-1] == ("lab", MONITOR_PORT)
    assert error.value.field == "target.port_id"
