"""The OpenStack monitored network, sensor and auto mirror, built by the real program from the
openstack-dev stack (the seeds' design) under the strict mocks, with the preview-time lookups
answered by a fake Neutron over HTTP (real openstacksdk, the program's own clouds.yaml entry)."""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import ipaddress
import re
import runpy
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pulumi
import pytest
import requests_mock
import yaml

from components import CloudtapInputError
from components.gateway import SETTINGS_PATH
from components.openstack.monitored_network import MonitoredOpenStackNetwork
from components.openstack.network_planning import allocation_pools, choose_underlay_mtu
from components.replacement_warning import ENGINE_REPLACES, recreation_warning
from components.sensor import SETTINGS_PATH as SENSOR_SETTINGS_PATH
from components.user_data import LIMITS
from tests.bundles import unpacked_files
from tests.cloud_init import assert_valid_cloud_config
from tests.fakes.openstack import (
    EXTERNAL_NETWORK,
    FLOATING_IP,
    NETWORK_TYPE,
    PORT,
    ROUTER,
    ROUTER_INTERFACE,
    SECURITY_GROUP_RULE,
    SUBNET_TYPE,
    TAP_FLOW,
    TAP_MIRROR,
    TAP_SERVICE,
    VOLUME,
    FakeCloud,
    openstack_mocks,
)
from tests.mocks import ProgramRun, StrictMocks, run_program

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning:openstack")

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "__main__.py"
RDP_PORT = "5b0d3c1e-7a2f-4c8e-9d61-2f4a8b7c6e01"


def dev_stack() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "stacks" / "Pulumi.openstack-dev.yaml").read_text())
    config: dict[str, Any] = copy.deepcopy(loaded["config"])
    return config


@pytest.fixture
def cloud_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., FakeCloud]]:
    """Makes the fake cloud (its extensions, its internal networks' MTUs) the program reaches."""
    with requests_mock.Mocker() as mocker:

        def make(extensions: Sequence[str] = (), internal_mtus: Sequence[int] = ()) -> FakeCloud:
            fake = FakeCloud(mocker, extensions=extensions, internal_mtus=internal_mtus)
            monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(fake.clouds_yaml(tmp_path)))
            return fake

        yield make


def run_main(config: dict[str, Any], mocks: StrictMocks | None = None) -> ProgramRun[Any]:
    return run_program(
        lambda: runpy.run_path(str(PROGRAM), run_name="__main__"),
        mocks if mocks is not None else openstack_mocks(),
        config=config,
    )


def capture_info(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    lines: list[str] = []
    original: Callable[..., None] = pulumi.log.info

    def record(message: str, *rest: Any, **kwargs: Any) -> None:
        if not message.startswith("sensor IDS:"):  # the sensor's line: tests/test_ids_render.py
            lines.append(message)
        original(message, *rest, **kwargs)

    monkeypatch.setattr(pulumi.log, "info", record)
    return lines


def cloud_config_of(instance: dict[str, Any]) -> str:
    """The cloud-config in an instance's user data: base64(gzip), within Nova's limit."""
    encoded = instance["userData"]
    assert len(encoded) <= LIMITS["openstack"].limit
    return gzip.decompress(base64.b64decode(encoded, validate=True)).decode()


def settings_text(instance: dict[str, Any]) -> str:
    """The settings an instance reads from its Nova metadata, reassembled as it does; never in
    its user data (which stays the same when they change)."""
    assert not {SETTINGS_PATH, SENSOR_SETTINGS_PATH} & set(
        unpacked_files(cloud_config_of(instance))
    )
    metadata = instance["metadata"]
    chunks = sorted(k for k in metadata if re.fullmatch(r"cloudtap_settings_\d\d", k))
    text = "".join(metadata[key] for key in chunks)
    assert all(len(metadata[key]) <= 255 for key in chunks)
    assert hashlib.sha256(text.encode()).hexdigest() == metadata["cloudtap_settings_sha256"]
    return text


def settings_of(instance: dict[str, Any]) -> dict[str, str]:
    written = settings_text(instance)
    pairs = (line.split("=", 1) for line in written.splitlines() if line and line[0] != "#")
    return {key: value.strip('"') for key, value in pairs}


# -- the network --------------------------------------------------------------------------------


def test_private_and_monitor_subnets_hand_out_the_gateway_s_ports_and_management_none(
    cloud_with: Callable[..., FakeCloud],
) -> None:
    cloud_with(internal_mtus=(1450,))
    run = run_main(dev_stack())

    subnets = {s.name: s.inputs for s in run.of_type(SUBNET_TYPE)}
    ports = {p.name: p.inputs for p in run.of_type(PORT)}
    gateway_address = {
        tier: ports[f"cloudtap-gateway-{tier}"]["fixedIps"][0]["ipAddress"]
        for tier in ("public", "private", "monitor", "management")
    }
    assert gateway_address == {
        "public": "192.168.2.10",
        "private": "192.168.3.1",
        "monitor": "192.168.4.1",
        "management": "192.168.5.1",
    }
    assert subnets["cloudtap-private-1"]["gatewayIp"] == gateway_address["private"]
    assert subnets["cloudtap-monitor-1"]["gatewayIp"] == gateway_address["monitor"]
    assert subnets["cloudtap-management-1"]["noGateway"] is True
    assert "gatewayIp" not in subnets["cloudtap-management-1"]
    # The public subnet's gateway is the router, the only one, on the public subnet only.
    assert subnets["cloudtap-public-1"]["gatewayIp"] == "192.168.2.1"
    (router,) = run.of_type(ROUTER)
    assert router.inputs["externalNetworkId"] == EXTERNAL_NETWORK
    (interface,) = run.of_type(ROUTER_INTERFACE)
    assert interface.inputs["subnetId"] == run.named("cloudtap-public-1").id
    # DHCP never hands out an address cloudtap pins: the gateway, the sensor, the RDP server.
    for name, pinned in (
        ("cloudtap-private-1", ("192.168.3.1", "192.168.3.10")),
        ("cloudtap-monitor-1", ("192.168.4.1", "192.168.4.10")),
        ("cloudtap-public-1", ("192.168.2.1", "192.168.2.10")),
    ):
        pools = subnets[name]["allocationPools"]
        for address in pinned:
            assert not any(
                ipaddress.IPv4Address(p["start"])
                <= ipaddress.IPv4Address(address)
                <= ipaddress.IPv4Address(p["end"])
                for p in pools
            ), (name, address, pools)
    assert {s["cidr"] for s in subnets.values()} == {
        "192.168.2.0/24",
        "192.168.3.0/24",
        "192.168.4.0/24",
        "192.168.5.0/24",
    }


def test_port_security_is_off_exactly_where_foreign_addresses_pass(
    cloud_with: Callable[..., FakeCloud],
) -> None:
    cloud_with()
    run = run_main(dev_stack())

    ports = {p.name: p.inputs for p in run.of_type(PORT)}
    off = {name for name, inputs in ports.items() if inputs.get("portSecurityEnabled") is False}
    assert off == {
        "cloudtap-gateway-private",
        "cloudtap-gateway-monitor",
        "cloudtap-sensor-monitor-port",
    }
    for name, inputs in ports.items():
        if name in off:
            assert inputs.get("noSecurityGroups") is True, name
            assert not inputs.get("securityGroupIds"), name
        else:
            assert inputs["portSecurityEnabled"] is True, name
            assert inputs["securityGroupIds"], name
            assert not inputs.get("allowedAddressPairs"), name


def test_a_floating_ip_only_on_the_gateway_s_public_port_and_nothing_world_open(
    cloud_with: Callable[..., FakeCloud],
) -> None:
    cloud_with()
    run = run_main(dev_stack())

    (floating,) = run.of_type(FLOATING_IP)
    assert floating.inputs["portId"] == run.named("cloudtap-gateway-public").id
    assert floating.inputs["pool"] == "public"
    assert run.exports["gateway_public_ip"] == "203.0.113.50"
    world = [
        r.inputs
        for r in run.of_type(SECURITY_GROUP_RULE)
        if r.inputs["direction"] == "ingress" and r.inputs["remoteIpPrefix"] == "0.0.0.0/0"
    ]
    # Only the published RDP port is open to the world, on the gateway's public group.
    assert [(w["protocol"], w["portRangeMin"], w["portRangeMax"]) for w in world] == [
        ("tcp", 3389, 3389)
    ]
    ssh = [r for r in run.of_type(SECURITY_GROUP_RULE) if r.inputs.get("portRangeMin") == 22]
    assert {r.inputs["remoteIpPrefix"] for r in ssh} == {"192.168.5.0/24"}


def test_management_cidrs_open_ssh_on_the_public_port_from_them_only(
    cloud_with: Callable[..., FakeCloud],
) -> None:
    cloud_with()
    config = dev_stack()
    config["cloudtap:network"]["management_cidrs"] = ["198.51.100.0/24"]
    run = run_main(config)

    public = run.named("cloudtap-gateway-public-sg").id
    ssh = {
        r.inputs["remoteIpPrefix"]
        for r in run.of_type(SECURITY_GROUP_RULE)
        if r.inputs["securityGroupId"] == public and r.inputs.get("portRangeMin") == 22
    }
    assert ssh == {"198.51.100.0/24"}


def test_user_data_passes_cloud_init_schema_and_tees_on_the_monitor_segment(
    cloud_with: Callable[..., FakeCloud],
) -> None:
    cloud_with(internal_mtus=(1500, 1450))
    run = run_main(dev_stack())

    gateway = run.named("cloudtap-gateway").inputs
    sensor = run.named("cloudtap-sensor-instance").inputs
    for instance in (gateway, sensor):
        assert_valid_cloud_config(cloud_config_of(instance))
        assert instance["configDrive"] is True
    settings = settings_of(gateway)
    assert settings["MIRROR_MODE"] == "tee"
    assert settings["MIRROR_SENSOR"] == "192.168.4.10"
    assert settings["PRIVATE_CIDRS"] == "192.168.3.0/24"
    assert settings["PORT_FORWARDS"] == "tcp:3389:192.168.3.10:3389"
    # The smallest MTU of the project's internal networks: what a new tenant network gets.
    assert settings["MIRROR_UNDERLAY_MTU"] == "1450"
    # No explicit MTU on the networks unless asked.
    assert all("mtu" not in n.inputs for n in run.of_type(NETWORK_TYPE))
    assert [n["port"] for n in gateway["networks"]] == [
        run.named(f"cloudtap-gateway-{tier}").id
        for tier in ("public", "private", "monitor", "management")
    ]
    assert gateway["imageName"] == "ubuntu-24.04"
    assert gateway["flavorName"] == "m1.small"


def test_the_log_volume_is_attached_at_boot_beside_the_image(
    cloud_with: Callable[..., FakeCloud],
) -> None:
    cloud_with()
    run = run_main(dev_stack())

    (volume,) = run.of_type(VOLUME)
    assert volume.inputs["size"] == 500
    devices = run.named("cloudtap-sensor-instance").inputs["blockDevices"]
    assert [(d["sourceType"], d["bootIndex"]) for d in devices] == [("image", 0), ("volume", -1)]
    assert devices[1]["uuid"] == volume.id
    assert devices[1]["deleteOnTermination"] is False
    user_data = yaml.safe_load(cloud_config_of(run.named("cloudtap-sensor-instance").inputs))
    assert user_data["fs_setup"][0]["device"] == "/dev/vdb"
    assert user_data["mounts"][0][0] == "/dev/disk/by-label/cloudtap-logs"


def test_an_explicit_network_mtu_is_set_on_every_network_and_rendered(
    cloud_with: Callable[..., FakeCloud],
) -> None:
    cloud_with(internal_mtus=(1450,))
    config = dev_stack()
    config["cloudtap:network"]["network_mtu"] = 8950
    run = run_main(config)

    assert {n.inputs["mtu"] for n in run.of_type(NETWORK_TYPE)} == {8950}
    settings = settings_of(run.named("cloudtap-gateway").inputs)
    assert settings["MIRROR_UNDERLAY_MTU"] == "8950"


def test_the_underlay_mtu_defaults_to_vxlan_s_when_the_project_has_no_network() -> None:
    assert choose_underlay_mtu(None, ()) == 1450
    assert choose_underlay_mtu(None, (1500, 1442)) == 1442
    assert choose_underlay_mtu(9000, (1450,)) == 9000


def test_allocation_pools_skip_every_pinned_address() -> None:
    cidr = ipaddress.IPv4Network("192.168.3.0/28")
    pinned = [ipaddress.IPv4Address(a) for a in ("192.168.3.1", "192.168.3.10")]
    assert [(str(a), str(b)) for a, b in allocation_pools(cidr, pinned)] == [
        ("192.168.3.2", "192.168.3.9"),
        ("192.168.3.11", "192.168.3.14"),
    ]


def test_child_names_derive_from_the_component_name_and_tier_only(
    cloud_with: Callable[..., FakeCloud],
) -> None:
    cloud_with()
    network_args = dev_stack()["cloudtap:network"]
    network_args["cloud"] = "devstack"
    run = run_program(lambda: MonitoredOpenStackNetwork("edge", network_args), openstack_mocks())

    names = sorted(r.name for r in run.resources if r.custom)
    assert names == sorted(
        [
            *(f"edge-{tier}" for tier in ("public", "private", "monitor", "management")),
            *(f"edge-{tier}-1" for tier in ("public", "private", "monitor", "management")),
            *(f"edge-gateway-{tier}" for tier in ("public", "private", "monitor", "management")),
            "edge-router",
            "edge-router-public",
            "edge-gateway-public-sg",
            "edge-gateway-public-sg-ingress-1",
            "edge-gateway-public-sg-egress-1",
            "edge-gateway-management-sg",
            "edge-gateway-management-sg-ingress-1",
            "edge-gateway-management-sg-egress-1",
            "edge-gateway-fip",
            "edge-gateway",
        ]
    )
    outputs = run.outputs_of(run.named("edge").urn)
    assert set(outputs) == {
        "network_ids",
        "subnet_ids",
        "router_id",
        "gateway_port_ids",
        "gateway_addresses",
        "gateway_instance_id",
        "floating_ip_id",
        "gateway_public_ip",
    }


@pytest.mark.parametrize(
    ("external", "phrase"),
    [("no-such-net", "an existing external network"), ("private", "is internal")],
)
def test_the_external_network_is_checked_at_preview(
    cloud_with: Callable[..., FakeCloud], external: str, phrase: str
) -> None:
    cloud_with()
    config = dev_stack()
    config["cloudtap:network"]["external_network"] = external
    mocks = openstack_mocks()

    with pytest.raises(CloudtapInputError) as error:
        run_main(config, mocks)

    assert error.value.field == "cloudtap:network.external_network"
    assert phrase in error.value.expected
    assert mocks.registrations == []


def test_the_external_network_is_found_by_id_too(cloud_with: Callable[..., FakeCloud]) -> None:
    cloud_with()
    config = dev_stack()
    config["cloudtap:network"]["external_network"] = EXTERNAL_NETWORK
    run = run_main(config)
    assert run.named("cloudtap-router").inputs["externalNetworkId"] == EXTERNAL_NETWORK


# -- auto: by the cloud's extensions ------------------------------------------------------------


def test_auto_without_tap_as_a_service_copies_at_the_gateway_and_says_why(
    cloud_with: Callable[..., FakeCloud], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = cloud_with(extensions=("port-security",))
    lines = capture_info(monkeypatch)
    run = run_main(dev_stack())

    assert not run.of_type(TAP_MIRROR) and not run.of_type(TAP_SERVICE)
    assert run.exports["mirror_gateway_sources"] == ["rdp-server"]
    assert run.exports["mirror_native_sources"] == []
    assert lines == [
        "rdp-server (Neutron port): gateway mirror — the cloud's Neutron has neither "
        "'tap-mirror' nor 'taas' (no Tap-as-a-Service): the gateway tees it to the sensor "
        "192.168.4.10; only traffic crossing the gateway (north-south) is seen"
    ]
    assert ("GET", "/v2.0/extensions", None) in fake.requests()


def test_auto_with_tap_mirror_tunnels_to_the_sensor_s_monitor_address(
    cloud_with: Callable[..., FakeCloud], monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud_with(extensions=("tap-mirror", "taas"))
    lines = capture_info(monkeypatch)
    run = run_main(dev_stack())

    (mirror,) = run.of_type(TAP_MIRROR)
    assert mirror.inputs["remoteIp"] == "192.168.4.10"
    assert mirror.inputs["portId"] == RDP_PORT
    assert run.exports["mirror_native_sources"] == ["rdp-server"]
    assert lines == [
        f"rdp-server (Neutron port): native mirroring of 1 interface ({RDP_PORT}) — Neutron "
        "has 'tap-mirror': Tap-as-a-Service tap mirror to 192.168.4.10 over GRE, tunnel ids "
        "IN 1, OUT 2"
    ]


def test_auto_with_classic_taas_puts_the_service_on_the_sensor_s_monitor_port(
    cloud_with: Callable[..., FakeCloud], monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud_with(extensions=("taas",))
    lines = capture_info(monkeypatch)
    run = run_main(dev_stack())

    service = run.named("cloudtap-mirror-service")
    assert service.inputs["port_id"] == run.named("cloudtap-sensor-monitor-port").id
    (flow,) = run.of_type(TAP_FLOW)
    assert flow.inputs["source_port"] == RDP_PORT
    assert lines == [
        f"rdp-server (Neutron port): native mirroring of 1 interface ({RDP_PORT}) — Neutron "
        "has 'taas': Tap-as-a-Service tap flow (BOTH) to the tap service on the sensor's "
        "monitor port"
    ]


def test_native_on_a_cloud_without_tap_as_a_service_fails_the_preview_clearly(
    cloud_with: Callable[..., FakeCloud],
) -> None:
    cloud_with(extensions=("port-security",))
    config = dev_stack()
    config["cloudtap:mirror"]["method"] = "native"
    mocks = openstack_mocks()

    with pytest.raises(CloudtapInputError) as error:
        run_main(config, mocks)

    assert error.value.field == "cloudtap:mirror.method"
    assert "neither 'tap-mirror' nor 'taas'" in error.value.expected
    assert mocks.registrations == []


def test_a_backend_the_cloud_lacks_fails_the_preview(cloud_with: Callable[..., FakeCloud]) -> None:
    cloud_with(extensions=("taas",))
    config = dev_stack()
    config["cloudtap:mirror"]["backend"] = "tap_mirror"
    mocks = openstack_mocks()

    with pytest.raises(CloudtapInputError) as error:
        run_main(config, mocks)

    assert error.value.field == "cloudtap:mirror.backend"
    assert "no 'tap-mirror' extension" in error.value.expected
    assert mocks.registrations == []


def test_gateway_sources_need_the_gateway_mirror(cloud_with: Callable[..., FakeCloud]) -> None:
    cloud_with()
    config = dev_stack()
    del config["cloudtap:network"]["gateway_mirror"]
    mocks = openstack_mocks()

    with pytest.raises(CloudtapInputError) as error:
        run_main(config, mocks)

    assert error.value.field == "cloudtap:network.gateway_mirror"
    assert mocks.registrations == []


def test_a_settings_change_changes_only_the_metadata_never_the_instances(
    cloud_with: Callable[..., FakeCloud],
) -> None:
    """Another port forward, the mirror in vxlan mode, other feeds: Nova changes metadata in
    place, so the gateway's and the sensor's user data, image and flavor stay byte-identical."""
    cloud_with()
    before = run_main(dev_stack())
    config = dev_stack()
    config["cloudtap:network"]["port_forwards"].append(
        {"public_port": 8443, "private_host": "192.168.3.10"}
    )
    config["cloudtap:network"]["gateway_mirror"]["mode"] = "vxlan"
    config["cloudtap:sensor"]["feeds"] = ["vxlan", "gre"]
    after = run_main(config)
    for name in ("cloudtap-gateway", "cloudtap-sensor-instance"):
        old, new = before.named(name).inputs, after.named(name).inputs
        assert settings_text(old) != settings_text(new), name
        for key in ("userData", "imageName", "imageId", "flavorName", "flavorId", "networks"):
            assert old.get(key) == new.get(key), (name, key)


def test_an_explicit_vxlan_mode_is_kept(cloud_with: Callable[..., FakeCloud]) -> None:
    cloud_with()
    config = dev_stack()
    config["cloudtap:network"]["gateway_mirror"]["mode"] = "vxlan"
    run = run_main(config)
    settings = settings_of(run.named("cloudtap-gateway").inputs)
    assert settings["MIRROR_MODE"] == "vxlan"


def test_the_rhel_family_names_its_own_packages(cloud_with: Callable[..., FakeCloud]) -> None:
    cloud_with()
    config = dev_stack()
    config["cloudtap:network"]["gateway_os_family"] = "rhel"
    config["cloudtap:sensor"]["os_family"] = "rhel"
    config["cloudtap:sensor"]["ids"] = "none"  # RHEL carries Suricata only in EPEL
    run = run_main(config)
    sensor = yaml.safe_load(cloud_config_of(run.named("cloudtap-sensor-instance").inputs))
    assert "iproute-tc" in sensor["packages"]


def test_components_exports_the_openstack_network_and_sensor_lazily() -> None:
    import components  # noqa: PLC0415
    from components.openstack.sensor import OpenStackSensor  # noqa: PLC0415

    assert components.MonitoredOpenStackNetwork is MonitoredOpenStackNetwork
    assert components.OpenStackSensor is OpenStackSensor
    assert "network" in components.OpenStackSensorArgs.__annotations__


@pytest.mark.parametrize("recreated", [False, True])
def test_openstack_warns_exactly_when_the_gateway_instance_is_made_anew(
    recreated: bool, cloud_with: Callable[..., FakeCloud], monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud_with()
    lines: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *_, **__: lines.append(message))
    args = dev_stack()["cloudtap:network"]
    args["cloud"] = "devstack"
    mocks = openstack_mocks()
    if recreated:
        mocks.recreated.add("edge-gateway")
    run = run_program(lambda: MonitoredOpenStackNetwork("edge", args), mocks, preview=True)
    assert run.resolve(run.result.gateway_disruption) == ([ENGINE_REPLACES] if recreated else [])
    assert [line for line in lines if "creates the gateway instance anew" in line] == (
        [recreation_warning("edge", "instance", None)] if recreated else []
    )
