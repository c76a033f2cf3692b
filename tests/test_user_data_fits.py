"""Every stack's instances get user data within their cloud's limit, as the cloud counts it; a
boot that would not fit fails the preview naming the stack field that made it grow."""

from __future__ import annotations

import base64
import gzip
import hashlib
import runpy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests_mock
import yaml

from components import CloudtapInputError
from components.cloud_config import render
from components.ids import CUSTOM_RULES_MAX_BYTES
from components.user_data import (
    LIMITS,
    Counted,
    check_user_data_fits,
    gzip_base64,
    gzip_deterministic,
)
from tests.bad_stacks import BASES, example, with_value
from tests.bundles import unpacked_files
from tests.fakes.azure import vnet_mocks
from tests.fakes.openstack import FakeCloud, openstack_mocks
from tests.mocks import ProgramRun, StrictMocks, run_program
from tools.readme_tables import user_data_block

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning:openstack")

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "__main__.py"
EXAMPLE_PROGRAM = ROOT / "tests" / "example_program" / "__main__.py"
STACKS = sorted(
    path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    for path in (ROOT / "stacks").glob("Pulumi.*.yaml")
)
INSTANCE_TYPES = {
    "aws": "aws:ec2/instance:Instance",
    "azure": "azure-native:compute:VirtualMachine",
    "openstack": "openstack:compute/instance:Instance",
}


@pytest.fixture(autouse=True)
def openstack_cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with requests_mock.Mocker() as mocker:
        fake = FakeCloud(mocker, internal_mtus=(1450,))
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(fake.clouds_yaml(tmp_path)))
        yield


def mocks_for(cloud: str) -> StrictMocks:
    if cloud == "azure":
        return vnet_mocks()
    if cloud == "openstack":
        return openstack_mocks()
    return StrictMocks()


def run_stack(config: dict[str, Any], *, preview: bool = False) -> ProgramRun[Any]:
    return run_program(
        lambda: runpy.run_path(str(PROGRAM), run_name="__main__"),
        mocks_for(config["cloudtap:cloud"]),
        config=config,
        preview=preview,
    )


def user_data_sizes(run: ProgramRun[Any], cloud: str) -> dict[str, int]:
    """Instance name -> its user data's size as ``cloud`` counts it (what the API gets)."""
    sizes = {}
    for instance in run.of_type(INSTANCE_TYPES[cloud]):
        limit = LIMITS[cloud]
        if cloud == "aws":
            compressed = base64.b64decode(instance.inputs["userDataBase64"])
            assert gzip.decompress(compressed).startswith(b"#cloud-config\n")
            payload: bytes | str = compressed
        elif cloud == "azure":
            payload = instance.inputs["osProfile"]["customData"]
        else:
            payload = instance.inputs["userData"]
        sizes[instance.name] = limit.size(payload)
    return sizes


@pytest.mark.parametrize("name", STACKS)
def test_every_stack_s_instances_get_user_data_within_the_cloud_s_limit(name: str) -> None:
    config = example(name)  # the stack file as it is
    cloud = config["cloudtap:cloud"]
    sizes = user_data_sizes(run_stack(config), cloud)
    if name.endswith("-existing"):  # mirrors existing resources: no instance of cloudtap's
        assert sizes == {}
        return
    assert len(sizes) == 2, sizes  # the gateway and the sensor
    for instance, size in sizes.items():
        assert 0 < size <= LIMITS[cloud].limit, (instance, size)


def test_the_example_program_s_gateway_fits_ec2(mocks: StrictMocks) -> None:
    run = run_program(lambda: runpy.run_path(str(EXAMPLE_PROGRAM), run_name="__main__"), mocks)
    sizes = user_data_sizes(run, "aws")
    assert list(sizes) == ["example-gateway"]
    assert sizes["example-gateway"] <= LIMITS["aws"].limit


def big_rules(path: Path, size: int = CUSTOM_RULES_MAX_BYTES) -> Path:
    """Distinct rules (messages from a hash) up to ``size`` bytes: they compress badly."""
    lines, total, sid = [], 0, 1000000
    while True:
        digest = hashlib.sha256(str(sid).encode()).hexdigest()
        line = f'alert tcp any any -> any {sid % 60000 + 1} (msg:"{digest}"; sid:{sid}; rev:1;)\n'
        if total + len(line) > size:
            break
        lines.append(line)
        total += len(line)
        sid += 1
    path.write_text("".join(lines))
    return path


@pytest.mark.parametrize("name", ["azure-dev", "openstack-dev"])
def test_custom_rules_that_would_not_fit_fail_the_preview_naming_the_field(
    name: str, tmp_path: Path
) -> None:
    rules = big_rules(tmp_path / "huge.rules")
    config = with_value(BASES[name], "cloudtap:sensor.ids_custom_rules", str(rules))
    mocks = mocks_for(config["cloudtap:cloud"])
    with pytest.raises(CloudtapInputError) as caught:
        run_program(
            lambda: runpy.run_path(str(PROGRAM), run_name="__main__"),
            mocks,
            config=config,
            preview=True,
        )
    assert caught.value.field == "cloudtap:sensor.ids_custom_rules"
    assert caught.value.value == str(rules)
    limit = LIMITS[config["cloudtap:cloud"]]
    message = str(caught.value)
    assert "the sensor's user data would be " in message
    assert f"over the {limit.limit} {limit.counted}" in message
    assert mocks.registrations == []  # planned before anything registers


def local_rules(path: Path, count: int = 300) -> Path:
    """``count`` rules as a site writes them (one pattern, its own path and sid each): about
    56 KB, which compress as real rule files do."""
    paths = [hashlib.sha256(str(n).encode()).hexdigest()[:8] for n in range(count)]
    lines = [
        f'alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"LOCAL blocked path {n}"; '
        f'flow:established,to_server; http.uri; content:"/p/{path}"; '
        f"classtype:policy-violation; sid:{9000000 + n}; rev:1;)\n"
        for n, path in enumerate(paths)
    ]
    path.write_text("".join(lines))
    return path


def test_on_openstack_a_site_s_rules_fit_because_the_sensor_s_boot_is_packed(
    tmp_path: Path,
) -> None:
    rules = local_rules(tmp_path / "local.rules")
    assert len(rules.read_bytes()) > 50000
    config = with_value(BASES["openstack-dev"], "cloudtap:sensor.ids_custom_rules", str(rules))
    run = run_stack(config)
    sizes = user_data_sizes(run, "openstack")
    assert sizes["cloudtap-sensor-instance"] <= LIMITS["openstack"].limit
    sent = gzip.decompress(
        base64.b64decode(run.named("cloudtap-sensor-instance").inputs["userData"])
    ).decode()
    files = unpacked_files(sent)
    assert files["/var/lib/cloudtap/rules/custom.rules"].content == rules.read_text()
    # Sent plain (gzip only), the same boot would be over Nova's limit.
    assert len(gzip_base64(boot_config_of(sent))) > LIMITS["openstack"].limit


def boot_config_of(sent: str) -> str:
    """The plain cloud-config a packed one stands for: its files back in ``write_files``."""
    document = yaml.safe_load(sent)
    document.pop("write_files")
    document["runcmd"] = document["runcmd"][1:]
    return render(yaml.safe_dump(document, sort_keys=False), list(unpacked_files(sent).values()))


def test_on_aws_the_same_rules_travel_in_the_bundle_and_the_user_data_still_fits(
    tmp_path: Path,
) -> None:
    rules = big_rules(tmp_path / "huge.rules")
    config = with_value(BASES["aws-dev"], "cloudtap:sensor.ids_custom_rules", str(rules))
    run = run_stack(config)
    sizes = user_data_sizes(run, "aws")
    assert sizes["cloudtap-sensor-instance"] <= LIMITS["aws"].limit
    archive = base64.b64decode(run.named("cloudtap-sensor-boot-bundle").inputs["contentBase64"])
    assert len(archive) > len(gzip_deterministic(b"")) + 16384  # the rules are in there


def test_a_small_boot_with_no_room_left_names_the_field_given() -> None:
    with pytest.raises(CloudtapInputError) as caught:
        check_user_data_fits("aws", "gateway", b"x" * 16385, "user_data", "cloudtap's own")
    assert caught.value.field == "user_data"
    assert "16385 bytes" in str(caught.value) and "16384 bytes aws allows" in str(caught.value)
    assert check_user_data_fits("aws", "gateway", b"x" * 16384, "user_data") == 16384


@pytest.mark.parametrize(
    ("cloud", "payload", "size"),
    [
        ("aws", b"\x1f\x8b" + b"a" * 10, 12),
        ("azure", base64.b64encode(b"a" * 10).decode(), 10),  # what the base64 decodes to
        ("openstack", base64.b64encode(b"a" * 10).decode(), 16),  # the base64 itself
    ],
)
def test_each_cloud_counts_its_own_way(cloud: str, payload: bytes | str, size: int) -> None:
    assert LIMITS[cloud].size(payload) == size


def test_the_limits_are_the_documented_numbers() -> None:
    assert {cloud: (limit.limit, limit.counted) for cloud, limit in LIMITS.items()} == {
        "aws": (16384, Counted.BYTES),
        "azure": (65535, Counted.DECODED_BYTES),
        "openstack": (65535, Counted.BASE64_CHARACTERS),
    }
    for limit in LIMITS.values():
        assert limit.documented.startswith("https://")


def test_the_readme_table_says_every_role_fits() -> None:
    rows = [line.split(" | ") for line in user_data_block()[2:]]
    assert [row[0].removeprefix("| ") for row in rows] == list(LIMITS)
    for row in rows:
        limit, gateway, sensor = (int(cell.replace(",", "")) for cell in row[3:6])
        assert gateway <= limit and sensor <= limit, row
