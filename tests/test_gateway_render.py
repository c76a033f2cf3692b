"""The gateway's rendered boot files: settings, script and cloud-config."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from components import gateway
from components.cloud_config import NET_LIBRARY_PATH, written_files
from components.errors import CloudtapInputError
from components.network_plan import plan_network
from components.settings_delivery import SettingsSource, delivery_files
from tests.cloud_init import assert_valid_cloud_config
from tests.shell import assert_passes_shellcheck, write_rendered

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"


def aws_dev_network() -> dict[str, object]:
    stack = yaml.safe_load((ROOT / "stacks" / "Pulumi.aws-dev.yaml").read_text())
    network: dict[str, object] = stack["config"]["cloudtap:network"]
    return network


def test_settings_for_the_aws_dev_stack_match_the_golden_file() -> None:
    rendered = gateway.render_settings(plan_network(aws_dev_network()))
    assert rendered == (GOLDEN / "aws-dev-gateway.conf").read_text()


def test_cloud_config_passes_the_real_cloud_init_schema_validator() -> None:
    assert_valid_cloud_config(gateway.render_cloud_config(plan_network(aws_dev_network())))


def test_cloud_config_installs_nftables_and_starts_the_unit_at_boot() -> None:
    text = gateway.render_cloud_config(plan_network())
    assert text.startswith("#cloud-config\n")
    document = yaml.safe_load(text)
    assert "nftables" in document["packages"]
    assert ["systemctl", "enable", "--now", gateway.SERVICE] in document["runcmd"]
    files = written_files(text)
    assert set(files) == {
        gateway.SETTINGS_PATH,
        gateway.SCRIPT_PATH,
        gateway.UNIT_PATH,
        NET_LIBRARY_PATH,
        *(
            file.path
            for file in delivery_files(SettingsSource.file(gateway.SETTINGS_PATH), "gateway")
        ),
    }
    assert files[gateway.SCRIPT_PATH].permissions == "0755"
    assert f"ExecStart={gateway.SCRIPT_PATH} apply" in files[gateway.UNIT_PATH].content


def test_settings_list_every_port_forward() -> None:
    plan = plan_network(
        {
            "port_forwards": [
                {"public_port": 80, "private_host": "10.0.64.10"},
                {"protocol": "udp", "public_port": 5060, "private_host": "10.0.80.20"},
            ]
        }
    )
    settings = gateway.render_settings(plan)
    assert 'PORT_FORWARDS="tcp:80:10.0.64.10:80 udp:5060:10.0.80.20:5060"' in settings


def test_gateway_script_is_valid_bash() -> None:
    script = written_files(gateway.render_cloud_config(plan_network()))[gateway.SCRIPT_PATH]
    result = subprocess.run(
        ["bash", "-n"], input=script.content, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_gateway_script_passes_shellcheck(tmp_path: Path) -> None:
    assert_passes_shellcheck(
        gateway.render_cloud_config(plan_network()), gateway.SCRIPT_PATH, tmp_path
    )


def mirrored_network(**mirror: object) -> dict[str, object]:
    return {**aws_dev_network(), "gateway_mirror": mirror}


def test_mirror_settings_for_the_aws_dev_stack_match_the_golden_file() -> None:
    rendered = gateway.render_settings(
        plan_network(mirrored_network()), underlay_mtu=gateway.AWS_VPC_MTU
    )
    assert rendered == (GOLDEN / "aws-dev-gateway-mirror.conf").read_text()


def test_without_a_mirror_the_settings_say_off_and_nothing_else() -> None:
    settings = gateway.render_settings(plan_network(aws_dev_network()))
    assert settings.endswith('MIRROR_MODE="off"\n')
    assert "MIRROR_SENSOR" not in settings


def test_tee_mirror_settings_name_the_sensor_as_next_hop() -> None:
    settings = gateway.render_settings(
        plan_network(mirrored_network(mode="tee", sensor_address="10.0.144.20"))
    )
    assert 'MIRROR_MODE="tee"' in settings
    assert 'MIRROR_SENSOR="10.0.144.20"' in settings
    assert 'MIRROR_UNDERLAY_MTU=""' in settings  # by default an MTU is never changed


def test_mirror_settings_carry_the_vni() -> None:
    settings = gateway.render_settings(plan_network(mirrored_network(vni=77)))
    assert 'MIRROR_VNI="77"' in settings
    assert 'MIRROR_VXLAN_PORT="4789"' in settings


@pytest.mark.parametrize("mtu", [576, 70000])
def test_an_impossible_underlay_mtu_is_refused(mtu: int) -> None:
    with pytest.raises(CloudtapInputError, match=f"underlay_mtu: got {mtu}"):
        gateway.render_settings(plan_network(mirrored_network()), underlay_mtu=mtu)


def test_mirrored_cloud_config_passes_the_real_cloud_init_schema_validator() -> None:
    text = gateway.render_cloud_config(plan_network(mirrored_network()), underlay_mtu=9001)
    assert_valid_cloud_config(text)
    assert 'MIRROR_UNDERLAY_MTU="9001"' in written_files(text)[gateway.SETTINGS_PATH].content


def test_gateway_script_refuses_an_unknown_mirror_mode(tmp_path: Path) -> None:
    files, env = write_rendered(
        gateway.render_cloud_config(plan_network(mirrored_network())), tmp_path
    )
    settings = files[gateway.SETTINGS_PATH]
    settings.write_text(settings.read_text().replace('"vxlan"', '"span"'))
    result = subprocess.run(
        ["bash", str(files[gateway.SCRIPT_PATH]), "check"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env, "CLOUDTAP_GATEWAY_CONF": str(settings)},
    )
    assert result.returncode == 1
    assert "MIRROR_MODE must be off, vxlan or tee, not 'span'" in result.stderr


@pytest.mark.parametrize(
    ("clamp", "underlay_mtu", "expected"),
    [
        (None, 1500, "1410"),  # Azure: a full-size packet's copy is 1550 bytes
        (None, 1450, "1360"),  # an OpenStack VXLAN tenant network
        (None, 1549, "1459"),
        (None, 1550, ""),  # a full-size packet's copy fits
        (None, gateway.AWS_VPC_MTU, ""),
        (None, None, ""),  # nothing is assumed about an unknown network
        (True, gateway.AWS_VPC_MTU, "8911"),
        (False, 1500, ""),
        (1200, 1500, "1200"),
        (1200, None, "1200"),
    ],
)
def test_forwarded_tcp_is_clamped_where_copies_would_not_fit(
    clamp: bool | int | None, underlay_mtu: int | None, expected: str
) -> None:
    mirror = {} if clamp is None else {"clamp_mss": clamp}
    settings = gateway.render_settings(
        plan_network(mirrored_network(**mirror)), underlay_mtu=underlay_mtu
    )
    assert f'MIRROR_CLAMP_MSS="{expected}"' in settings


def test_a_forced_clamp_needs_the_network_mtu() -> None:
    with pytest.raises(CloudtapInputError, match="underlay_mtu: got None"):
        gateway.render_settings(plan_network(mirrored_network(clamp_mss=True)))


@pytest.mark.parametrize("clamp", ["yes", 535, 65496, 1.5, [1410]])
def test_a_clamp_that_is_no_mss_is_refused(clamp: object) -> None:
    with pytest.raises(CloudtapInputError, match=r"gateway_mirror\.clamp_mss: got"):
        plan_network(mirrored_network(clamp_mss=clamp))


def test_a_tee_mirror_cannot_clamp() -> None:
    with pytest.raises(CloudtapInputError, match="only the vxlan mode encapsulates"):
        plan_network(mirrored_network(mode="tee", clamp_mss=True))
    tee = plan_network(mirrored_network(mode="tee", clamp_mss=False))
    assert 'MIRROR_CLAMP_MSS=""' in gateway.render_settings(tee, underlay_mtu=1500)
