"""Package names per distribution family: the renderers and the AWS fields that choose one."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
import yaml

from components import CloudtapInputError, MonitoredVpc, gateway, sensor
from components.aws.sensor import Sensor
from components.cloud_config import written_files
from components.network_plan import plan_network
from components.os_family import OsFamily, parse_os_family
from components.settings_delivery import SettingsSource
from tests.bundles import bundled_boot, same_files
from tests.cloud_init import assert_valid_cloud_config
from tests.mocks import PROJECT, STACK, ProgramRun, StrictMocks, run_program

AMI = "ami-0123456789abcdef0"
ALLOWED = "['amazon-linux', 'debian', 'rhel']"


def packages(cloud_config: str) -> list[str]:
    found: list[str] = yaml.safe_load(cloud_config)["packages"]
    return found


def sensor_plan() -> sensor.SensorPlan:
    return sensor.plan_sensor({}, default_feed_sources=[ipaddress.IPv4Network("10.0.0.0/16")])


@pytest.mark.parametrize(
    ("family", "expected"),
    [
        (OsFamily.AMAZON_LINUX, ["tcpdump", "nftables", "iproute-tc"]),
        # Debian and Ubuntu have no iproute-tc: one unknown name and apt installs nothing.
        (OsFamily.DEBIAN, ["tcpdump", "nftables", "iproute2", "ethtool"]),
        (OsFamily.RHEL, ["tcpdump", "nftables", "iproute-tc", "ethtool"]),
    ],
)
def test_the_sensor_installs_its_tools_by_the_family_s_names(
    family: OsFamily, expected: list[str]
) -> None:
    rendered = sensor.render_cloud_config(sensor_plan(), os_family=family)
    assert packages(rendered) == expected
    assert_valid_cloud_config(rendered)


@pytest.mark.parametrize("family", list(OsFamily))
def test_the_gateway_installs_nftables_on_every_family(family: OsFamily) -> None:
    rendered = gateway.render_cloud_config(plan_network(), os_family=family)
    assert packages(rendered) == ["nftables"]
    assert_valid_cloud_config(rendered)


def test_without_a_family_both_roles_render_exactly_the_amazon_linux_user_data() -> None:
    assert sensor.render_cloud_config(sensor_plan()) == sensor.render_cloud_config(
        sensor_plan(), os_family=OsFamily.AMAZON_LINUX
    )
    assert gateway.render_cloud_config(plan_network()) == gateway.render_cloud_config(
        plan_network(), os_family=OsFamily.AMAZON_LINUX
    )


@pytest.mark.parametrize("value", ["ubuntu", "Debian", 7, ["debian"]])
def test_an_unknown_family_names_the_field_the_value_and_the_allowed_ones(value: Any) -> None:
    with pytest.raises(CloudtapInputError) as error:
        parse_os_family("os_family", value)
    assert error.value.field == "os_family"
    assert str(error.value).startswith(f"os_family: got {value!r}; expected one of {ALLOWED}")


def test_no_family_is_amazon_linux() -> None:
    assert parse_os_family("os_family", None) is OsFamily.AMAZON_LINUX
    assert parse_os_family("os_family", "rhel") is OsFamily.RHEL


# -- on AWS ------------------------------------------------------------------------------------


def whole_boot(run: ProgramRun[Any], instance: str, bundle: str, whole: str) -> str:
    """``whole``, the boot cloud-config, once the instance's small user data (which holds its
    packages) and its bundle are shown to write exactly its files."""
    small, files = bundled_boot(run, instance, bundle)
    assert same_files(files) == same_files(written_files(whole))
    assert packages(small) == packages(whole)
    return whole


def vpc_user_data(mocks: StrictMocks, args: dict[str, Any]) -> str:
    run = run_program(lambda: MonitoredVpc("net", args), mocks)  # type: ignore[arg-type]
    return whole_boot(run, "net-gateway", "net-gateway-boot-bundle", run.result.gateway_user_data)


def sensor_user_data(mocks: StrictMocks, args: dict[str, Any]) -> str:
    def program() -> Sensor:
        return Sensor("sensor", {"network": MonitoredVpc("net"), **args})  # type: ignore[typeddict-item]

    run = run_program(program, mocks)
    return whole_boot(run, "sensor-instance", "sensor-boot-bundle", run.result.user_data)


def test_a_gateway_on_a_debian_image_installs_debian_packages(mocks: StrictMocks) -> None:
    user_data = vpc_user_data(mocks, {"gateway_ami_id": AMI, "gateway_os_family": "debian"})
    assert user_data == gateway.render_boot_cloud_config(
        source=SettingsSource.aws_ssm(f"/cloudtap/{PROJECT}/{STACK}/net/gateway"),
        os_family=OsFamily.DEBIAN,
    )


def test_a_sensor_on_a_debian_image_installs_debian_packages(mocks: StrictMocks) -> None:
    user_data = sensor_user_data(mocks, {"ami_id": AMI, "os_family": "debian"})
    assert packages(user_data) == list(sensor.BASE_PACKAGES[OsFamily.DEBIAN])


@pytest.mark.parametrize("args", [{}, {"ami_id": AMI}], ids=["default-image", "own-image"])
def test_the_sensor_s_default_family_on_aws_is_debian_for_ubuntu_2404(
    mocks: StrictMocks, args: dict[str, Any]
) -> None:
    # Ubuntu 24.04 carries Suricata; Amazon Linux 2023 carries none.
    assert packages(sensor_user_data(mocks, args)) == list(sensor.BASE_PACKAGES[OsFamily.DEBIAN])


def test_an_amazon_linux_sensor_installs_amazon_linux_packages(mocks: StrictMocks) -> None:
    user_data = sensor_user_data(mocks, {"os_family": "amazon-linux"})
    assert packages(user_data) == ["tcpdump", "nftables", "iproute-tc"]


@pytest.mark.parametrize(
    ("role", "args", "field"),
    [
        ("gateway", {"gateway_ami_id": AMI, "gateway_os_family": "suse"}, "gateway_os_family"),
        ("sensor", {"ami_id": AMI, "os_family": "suse"}, "os_family"),
    ],
)
def test_an_unknown_family_fails_the_preview_naming_the_field(
    mocks: StrictMocks, role: str, args: dict[str, Any], field: str
) -> None:
    build = vpc_user_data if role == "gateway" else sensor_user_data
    with pytest.raises(CloudtapInputError) as error:
        build(mocks, args)
    assert error.value.field == field
    assert str(error.value).startswith(f"{field}: got 'suse'; expected one of {ALLOWED}")


@pytest.mark.parametrize(
    ("role", "args", "field"),
    [
        ("gateway", {"gateway_os_family": "debian"}, "gateway_os_family"),
        ("sensor", {"os_family": "rhel"}, "os_family"),
    ],
)
def test_another_family_than_the_default_image_s_needs_its_ami(
    mocks: StrictMocks, role: str, args: dict[str, Any], field: str
) -> None:
    build = vpc_user_data if role == "gateway" else sensor_user_data
    default = "the default image is Amazon Linux 2023" if role == "gateway" else "Ubuntu 24.04"
    with pytest.raises(CloudtapInputError, match=default) as error:
        build(mocks, args)
    assert error.value.field == field
