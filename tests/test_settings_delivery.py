"""Settings delivered apart from the boot: the user data stays byte-identical across settings
changes (strict mocks), the instance role reads exactly its parameter, the association follows
the parameter's version, and Azure's run-command script decodes and hands over what it is given."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from components import CloudtapInputError, MonitoredVpc, gateway, sensor
from components import settings_delivery as delivery
from components.aws.instances import fetch_document, settings_names
from components.aws.sensor import Sensor
from components.cloud_config import asset_text, written_files
from tests.cloud_init import assert_valid_cloud_config
from tests.mocks import ProgramRun, StrictMocks, run_program

INSTANCE_INPUTS = ("userData", "ami", "instanceType", "userDataReplaceOnChange")
RDP = {"public_port": 3389, "private_host": "10.0.64.10"}
WEB = {"public_port": 8080, "private_host": "10.0.80.20", "private_port": 80}


def build(
    mocks: StrictMocks, network: dict[str, Any], sensor_args: dict[str, Any]
) -> ProgramRun[Any]:
    def program() -> None:
        vpc = MonitoredVpc("net", network)  # type: ignore[arg-type]
        Sensor("sensor", {"network": vpc, **sensor_args})  # type: ignore[typeddict-item]

    return run_program(program, mocks)


def changed(before: ProgramRun[Any], after: ProgramRun[Any]) -> set[str]:
    """Names of resources whose inputs differ between two runs (same names in both)."""
    old = {r.name: r.inputs for r in before.resources}
    new = {r.name: r.inputs for r in after.resources}
    assert set(old) == set(new)
    return {name for name in old if old[name] != new[name]}


CHANGES: dict[str, tuple[dict[str, Any], dict[str, Any], set[str]]] = {
    # name: (network args after, sensor args after, what else may change beside the parameter)
    "a new port forward": ({"port_forwards": [RDP, WEB]}, {}, {"net-gateway-sg"}),
    "no port forwards": ({}, {}, {"net-gateway-sg"}),
    "the gateway mirror on": (
        {"port_forwards": [RDP], "gateway_mirror": {}},
        {},
        {"net-monitor-nacl"},
    ),
    "another mirror VNI": (
        {"port_forwards": [RDP], "gateway_mirror": {"vni": 77}},
        {},
        {"net-monitor-nacl"},
    ),
    "the sensor's feeds": ({"port_forwards": [RDP]}, {"feeds": ["vxlan"]}, {"sensor-sg"}),
    "the sensor's IDS packages": ({"port_forwards": [RDP]}, {"ids_packages": ["tcpflow"]}, set()),
    # Every IDS setting travels in the settings: HOME_NET, rule sources, EVE types, the IDS.
    "the sensor's IDS settings": (
        {"port_forwards": [RDP]},
        {
            "home_net_cidrs": ["192.168.0.0/16"],
            "ids_rule_sources": ["oisf/trafficid"],
            "ids_eve_types": ["alert"],
            "ids_event_max_age_s": 600,
        },
        set(),
    ),
    "the sensor's IDS off": ({"port_forwards": [RDP]}, {"ids": "none"}, set()),
}


@pytest.mark.parametrize("case", sorted(CHANGES))
def test_a_settings_change_leaves_both_instances_byte_identical_and_changes_the_parameter(
    case: str,
) -> None:
    network, sensor_args, also = CHANGES[case]
    before = build(StrictMocks(), {"port_forwards": [RDP]}, {})
    after = build(StrictMocks(), network, sensor_args)
    for instance in ("net-gateway", "sensor-instance"):
        for key in INSTANCE_INPUTS:
            assert before.named(instance).inputs.get(key) == after.named(instance).inputs.get(key)
    different = changed(before, after)
    settings = {"net-gateway-settings", "sensor-settings"} & different
    assert settings, f"{case}: no settings parameter changed"
    assert different - settings <= also, different
    assert "net-gateway" not in different and "sensor-instance" not in different


def test_the_instance_roles_may_read_exactly_their_own_parameter(mocks: StrictMocks) -> None:
    run = build(mocks, {}, {})
    for role, parameter in (("net-gateway", "net-gateway-settings"), ("sensor", "sensor-settings")):
        policy = run.named(f"{parameter}-read")
        assert policy.inputs["role"] == run.named(f"{role}-role").id
        arn = f"arn:aws:ssm:eu-west-1:123456789012:parameter{run.named(parameter).inputs['name']}"
        status = run.named(f"{parameter}-status").inputs["name"]
        assert json.loads(policy.inputs["policy"]) == {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": arn},
                # ... and write exactly its status parameter, nothing else.
                {
                    "Effect": "Allow",
                    "Action": "ssm:PutParameter",
                    "Resource": f"arn:aws:ssm:eu-west-1:123456789012:parameter{status}",
                },
            ],
        }
    # Boot fetches need the permission: each instance waits for its policy.
    for instance, reader in (
        ("net-gateway", "net-gateway-settings-read"),
        ("sensor-instance", "sensor-settings-read"),
    ):
        assert run.named(reader).urn in run.named(instance).dependencies


def test_the_association_targets_the_instance_and_carries_the_parameter_version(
    mocks: StrictMocks,
) -> None:
    run = build(mocks, {}, {})
    for prefix, instance in (("net-gateway", "net-gateway"), ("sensor", "sensor-instance")):
        association = run.named(f"{prefix}-fetch-association")
        document = run.named(f"{prefix}-fetch")
        assert association.inputs["name"] == document.inputs["name"]
        assert association.inputs["targets"] == [
            {"key": "InstanceIds", "values": [run.named(instance).id]}
        ]
        assert association.inputs["parameters"] == {"settingsVersion": "1"}
        assert document.inputs["documentType"] == "Command"
        assert document.inputs["content"] == fetch_document()


def test_the_fetch_document_runs_only_the_fetcher() -> None:
    document = json.loads(fetch_document())
    (step,) = document["mainSteps"]
    assert step["inputs"]["runCommand"] == ["/usr/bin/python3 -I /usr/local/sbin/cloudtap-settings"]
    assert "{{" not in json.dumps(step)  # no parameter ever reaches the shell


def test_a_component_name_that_cannot_name_a_parameter_fails_before_registering(
    mocks: StrictMocks,
) -> None:
    with pytest.raises(CloudtapInputError, match="name: got 'my net'"):
        run_program(lambda: settings_names("my net", "gateway"), mocks)
    with pytest.raises(CloudtapInputError, match="name: got 'x"):
        run_program(lambda: settings_names("x" * 120, "gateway"), mocks)


@pytest.mark.parametrize(
    "source",
    [
        delivery.SettingsSource.aws_ssm("/cloudtap/p/s/net/gateway"),
        delivery.SettingsSource.openstack_metadata(),
        delivery.SettingsSource.pushed(),
        delivery.SettingsSource.file("/etc/cloudtap/gateway.conf"),
    ],
    ids=lambda source: source.kind.value,
)
def test_boot_cloud_configs_pass_cloud_init_schema_and_hold_no_settings(
    source: delivery.SettingsSource,
) -> None:
    for text, settings_path in (
        (gateway.render_boot_cloud_config(source=source), gateway.SETTINGS_PATH),
        (
            sensor.render_boot_cloud_config(source=source, log_volume=sensor.LogVolume()),
            sensor.SETTINGS_PATH,
        ),
    ):
        assert_valid_cloud_config(text)
        files = written_files(text)
        assert settings_path not in files
        assert f'SOURCE="{source.kind.value}"' in files[delivery.SOURCE_PATH].content
        assert (delivery.FETCHER_TIMER_PATH in files) is source.polled


def test_a_source_parameter_name_is_checked_whole() -> None:
    with pytest.raises(CloudtapInputError, match="ssm_parameter"):
        delivery.render_source_file(delivery.SettingsSource.aws_ssm("/a/b\n"), "gateway")
    with pytest.raises(CloudtapInputError, match="ssm_parameter"):
        delivery.render_source_file(delivery.SettingsSource.aws_ssm("/aws/x"), "gateway")


# -- Azure: the run-command script ---------------------------------------------------------------

SETTINGS = '# pushed\nNETWORK_CIDR="10.0.0.0/16"\n'


def push_root(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "cloudtap-net.sh").write_text(asset_text("common", "cloudtap-net.sh"))
    source = delivery.render_source_file(delivery.SettingsSource.pushed(), "gateway")
    (tmp_path / "settings-source.conf").write_text(source)
    role = tmp_path / "role.sh"
    role.write_text(f'#!/usr/bin/env bash\n[ "$1" = apply-settings ]\ncp "$2" {tmp_path}/offered\n')
    return {
        "PATH": os.environ["PATH"],
        "CLOUDTAP_NET_LIBRARY": str(tmp_path / "cloudtap-net.sh"),
        "CLOUDTAP_SETTINGS_SOURCE": str(tmp_path / "settings-source.conf"),
        "CLOUDTAP_STATE_DIR": str(tmp_path / "state"),
        "CLOUDTAP_ROLE_SCRIPT": str(role),
    }


def run_push(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "push.sh"
    script.write_text(delivery.azure_run_command_script())
    return subprocess.run(
        ["bash", str(script)], env=env, capture_output=True, text=True, check=False
    )


def test_the_run_command_hands_the_decoded_settings_to_apply_settings(tmp_path: Path) -> None:
    env = push_root(tmp_path)
    parameters = delivery.azure_run_command_parameters(SETTINGS)
    env |= {p["name"]: p["value"] for p in parameters}
    result = run_push(tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "offered").read_text() == SETTINGS
    assert list((tmp_path / "state").iterdir()) == []  # the pushed copy is removed


@pytest.mark.parametrize(
    ("encoded", "sha256", "refusal"),
    [
        ("$(touch MARKER)", None, "is not base64"),
        (base64.b64encode(b"x").decode() + "\n", None, "is not base64"),
        (base64.b64encode(SETTINGS.encode()).decode(), "0" * 64, "nothing applied"),
        ("", None, "is empty"),
    ],
    ids=["command", "newline", "wrong-sha256", "empty"],
)
def test_the_run_command_refuses_what_is_not_the_settings_it_claims(
    tmp_path: Path, encoded: str, sha256: str | None, refusal: str
) -> None:
    env = push_root(tmp_path)
    env |= {p["name"]: p["value"] for p in delivery.azure_run_command_parameters(SETTINGS)}
    env["CLOUDTAP_SETTINGS_B64"] = encoded
    if sha256 is not None:
        env["CLOUDTAP_SETTINGS_SHA256"] = sha256
    result = subprocess.run(
        ["bash", "-c", delivery.azure_run_command_script()],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert refusal in result.stderr
    assert not (tmp_path / "offered").exists()
    assert not (tmp_path / "MARKER").exists()


def test_the_status_parameter_starts_unreported_and_is_the_instances_to_write(
    mocks: StrictMocks,
) -> None:
    run = build(mocks, {}, {})
    for parameter, component, output in (
        ("net-gateway-settings", "net", "gateway_settings_status"),
        ("sensor-settings", "sensor", "settings_status"),
    ):
        status = run.named(f"{parameter}-status")
        assert status.inputs["name"] == run.named(parameter).inputs["name"] + "-status"
        assert (status.inputs["type"], status.inputs["tier"]) == ("String", "Standard")
        assert json.loads(status.inputs["insecureValue"]) == {"result": "not reported yet"}
        # An up never writes the initial value over what the instances reported.
        assert status.ignore_changes == ("insecureValue",)
        outputs = run.outputs_of(run.named(component).urn)
        assert json.loads(outputs[output]) == {"result": "not reported yet"}
