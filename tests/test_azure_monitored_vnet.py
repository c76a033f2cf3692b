"""MonitoredVNet and AzureSensor under the strict mocks: what the resources say, input by input."""

from __future__ import annotations

import base64
import gzip
import hashlib
import ipaddress
from typing import Any

import pytest
import yaml

from components import CloudtapInputError
from components.azure.monitored_vnet import MonitoredVNet
from components.azure.sensor import AzureSensor
from components.azure.ssh_key import Ed25519KeyProvider
from components.gateway import SETTINGS_PATH, render_settings
from components.settings_delivery import SOURCE_PATH, azure_run_command_script
from components.user_data import LIMITS
from tests.cloud_init import assert_valid_cloud_config
from tests.fakes.azure import NIC, PUBLIC_IP, ROUTE_TABLE, SECURITY_GROUP, SUBNET, VM, vnet_mocks
from tests.mocks import ProgramRun, Registration, run_program

LOCATION = {"azure-native:location": "westeurope"}
FORWARD = {"public_port": 3389, "private_host": "10.0.64.10"}


def build(
    network_args: dict[str, Any] | None = None,
    sensor_args: dict[str, Any] | None = None,
    *,
    name: str = "net",
) -> ProgramRun[tuple[MonitoredVNet, AzureSensor | None]]:
    def program() -> tuple[MonitoredVNet, AzureSensor | None]:
        network = MonitoredVNet(name, network_args)  # type: ignore[arg-type]
        sensor = None
        if sensor_args is not None:
            sensor = AzureSensor(f"{name}-sensor", {**sensor_args, "network": network})  # type: ignore[typeddict-item]
        return network, sensor

    return run_program(program, vnet_mocks(), config=LOCATION)


def routes_of(run: ProgramRun[Any], name: str) -> dict[str, tuple[str, str, str | None]]:
    table = run.named(name)
    return {
        r["name"]: (r["addressPrefix"], r["nextHopType"], r.get("nextHopIpAddress"))
        for r in table.inputs["routes"]
    }


def rules_of(run: ProgramRun[Any], name: str) -> dict[str, dict[str, Any]]:
    return {rule["name"]: rule for rule in run.named(name).inputs["securityRules"]}


def test_from_no_input_every_tier_has_one_subnet_with_no_default_outbound_access() -> None:
    run = build()

    subnets = {s.name: s.inputs for s in run.of_type(SUBNET)}
    assert {name: inputs["addressPrefix"] for name, inputs in subnets.items()} == {
        "net-public": "10.0.0.0/20",
        "net-private": "10.0.64.0/20",
        "net-monitor": "10.0.128.0/20",
        "net-management": "10.0.192.0/20",
    }
    assert all(inputs["defaultOutboundAccess"] is False for inputs in subnets.values())
    # Every subnet has its NSG; only the public one keeps Azure's system routes.
    assert all("networkSecurityGroup" in inputs for inputs in subnets.values())
    assert "routeTable" not in subnets["net-public"]
    assert {s for s, inputs in subnets.items() if "routeTable" in inputs} == {
        "net-private",
        "net-monitor",
        "net-management",
    }


def test_private_and_monitor_route_through_the_gateway_and_isolated_prefixes_go_nowhere() -> None:
    run = build()
    network, _ = run.result

    assert network.gateway_private_ip == "10.0.0.10"
    assert routes_of(run, "net-private-rt") == {
        "default-gateway": ("0.0.0.0/0", "VirtualAppliance", "10.0.0.10"),
        "no-monitor-1": ("10.0.128.0/20", "None", None),
        "no-management-1": ("10.0.192.0/20", "None", None),
    }
    assert routes_of(run, "net-monitor-rt") == {
        "default-gateway": ("0.0.0.0/0", "VirtualAppliance", "10.0.0.10"),
        "no-private-1": ("10.0.64.0/20", "None", None),
    }
    assert routes_of(run, "net-management-rt") == {
        "default-none": ("0.0.0.0/0", "None", None),
        "no-private-1": ("10.0.64.0/20", "None", None),
    }
    # The next hop is the gateway NIC's own static address.
    nic = run.named("net-gateway-nic").inputs["ipConfigurations"][0]
    assert nic["privateIPAllocationMethod"] == "Static"
    assert nic["privateIPAddress"] == "10.0.0.10"


def test_ip_forwarding_is_on_for_the_gateway_nic_only_and_only_it_has_a_public_ip() -> None:
    run = build({"gateway_mirror": {}}, {})

    forwarding = {n.name: n.inputs.get("enableIPForwarding") for n in run.of_type(NIC)}
    assert forwarding == {"net-gateway-nic": True, "net-sensor-nic": False}
    public_ips = run.of_type(PUBLIC_IP)
    assert [p.name for p in public_ips] == ["net-gateway-pip"]
    assert public_ips[0].inputs["sku"] == {"name": "Standard", "tier": "Regional"}
    assert public_ips[0].inputs["publicIPAllocationMethod"] == "Static"
    with_public = [
        n.name
        for n in run.of_type(NIC)
        for config in n.inputs["ipConfigurations"]
        if config.get("publicIPAddress")
    ]
    assert with_public == ["net-gateway-nic"]
    assert run.resolve(run.result[0].gateway_public_address) == "198.51.100.10"


def test_nsgs_isolate_the_tiers_and_admit_the_mirror_feed_into_the_monitor_tier() -> None:
    run = build()

    monitor = rules_of(run, "net-monitor-nsg")
    feed = monitor["mirror-feed-vxlan"]
    assert (feed["access"], feed["protocol"], feed["destinationPortRange"]) == (
        "Allow",
        "Udp",
        "4789",
    )
    assert feed["sourceAddressPrefixes"] == ["10.0.64.0/20", "10.0.0.0/20"]
    deny = monitor["deny-from-private"]
    assert (deny["access"], deny["direction"], deny["sourceAddressPrefixes"]) == (
        "Deny",
        "Inbound",
        ["10.0.64.0/20"],
    )
    # The feed's allow is evaluated before the private tier's deny.
    assert feed["priority"] < deny["priority"]
    assert monitor["deny-to-private"]["destinationAddressPrefixes"] == ["10.0.64.0/20"]
    private = rules_of(run, "net-private-nsg")
    assert private["deny-from-monitor-management"]["sourceAddressPrefixes"] == [
        "10.0.128.0/20",
        "10.0.192.0/20",
    ]
    management = rules_of(run, "net-management-nsg")
    assert management["deny-from-private"]["access"] == "Deny"


def _world_open(rule: dict[str, Any]) -> bool:
    sources = rule["sourceAddressPrefixes"]
    return (
        rule["access"] == "Allow"
        and rule["direction"] == "Inbound"
        and ("*" in sources or "0.0.0.0/0" in sources or "Internet" in sources)
    )


@pytest.mark.parametrize("management", [[], ["10.9.0.0/16"]])
def test_nothing_is_world_open_but_the_published_ports_and_every_nsg_ends_in_a_deny(
    management: list[str],
) -> None:
    run = build({"port_forwards": [FORWARD], "management_cidrs": management}, {})

    open_rules = {
        (group.name, rule["name"], rule["destinationPortRange"])
        for group in run.of_type(SECURITY_GROUP)
        for rule in group.inputs["securityRules"]
        if _world_open(rule)
    }
    # RDP published on the gateway and admitted to its server: nothing else, never port 22.
    assert open_rules == {
        ("net-public-nsg", "forward-tcp-3389", "3389"),
        ("net-private-nsg", "forwarded-tcp-3389", "3389"),
    }
    for group in run.of_type(SECURITY_GROUP):
        last = max(group.inputs["securityRules"], key=lambda rule: rule["priority"])
        assert (last["priority"], last["access"], last["sourceAddressPrefixes"]) == (
            4096,
            "Deny",
            ["*"],
        ), group.name
    ssh = [
        rule["sourceAddressPrefixes"]
        for group in run.of_type(SECURITY_GROUP)
        for rule in group.inputs["securityRules"]
        if rule["destinationPortRange"] == "22" and rule["access"] == "Allow"
    ]
    assert ssh == ([management] * 3 if management else [])


def _custom_data(vm: Registration) -> str:
    """The cloud-config in a VM's customData: base64 of its gzip, within Azure's limit."""
    compressed = base64.b64decode(vm.inputs["osProfile"]["customData"], validate=True)
    assert compressed[:2] == b"\x1f\x8b" and len(compressed) <= LIMITS["azure"].limit
    return gzip.decompress(compressed).decode()


def _pushed_settings(run_command: Registration) -> str:
    parameters = {item["name"]: item["value"] for item in run_command.inputs["parameters"]}
    text = base64.b64decode(parameters["CLOUDTAP_SETTINGS_B64"], validate=True).decode()
    assert hashlib.sha256(text.encode()).hexdigest() == parameters["CLOUDTAP_SETTINGS_SHA256"]
    assert run_command.inputs["source"]["script"] == azure_run_command_script()
    assert run_command.inputs["treatFailureAsDeploymentFailure"] is True
    return text


def test_a_settings_change_changes_only_the_run_commands_never_the_vms() -> None:
    """New port forwards, the gateway mirror on, the sensor's feeds: the VMs' custom data,
    image and size stay byte-identical (no new VM, no reboot), only what is pushed changes."""
    before = build({}, {})
    after = build(
        {"gateway_mirror": {}, "port_forwards": [FORWARD]}, {"feeds": ["vxlan", "geneve", "gre"]}
    )
    for vm in ("net-gateway", "net-sensor-vm"):
        old_vm, new_vm = (run.named(vm).inputs for run in (before, after))
        assert old_vm["osProfile"]["customData"] == new_vm["osProfile"]["customData"], vm
        # Everything else but the SSH key, which each mocked run generates anew (a real stack
        # keeps the one in its state).
        for key in ("hardwareProfile", "storageProfile", "networkProfile", "location"):
            assert old_vm[key] == new_vm[key], (vm, key)
    for pushed in ("net-gateway-settings", "net-sensor-settings"):
        old, new = (_pushed_settings(run.named(pushed)) for run in (before, after))
        assert old != new, pushed
        assert before.named(pushed).inputs["vmName"] == after.named(pushed).inputs["vmName"]


def test_custom_data_is_base64_of_a_gzip_cloud_config_that_cloud_init_accepts() -> None:
    run = build({"gateway_mirror": {}, "port_forwards": [FORWARD]}, {"log_disk_size_gb": 64})
    network, sensor = run.result
    assert sensor is not None

    gateway = _custom_data(run.named("net-gateway"))
    assert gateway == network.gateway_user_data
    assert gateway.startswith("#cloud-config")
    document = yaml.safe_load(gateway)
    files = {entry["path"]: entry["content"] for entry in document["write_files"]}
    # No settings in the boot: they are pushed by run-command, Azure's 1500 bytes in them.
    assert SETTINGS_PATH not in files
    assert 'SOURCE="pushed"' in files[SOURCE_PATH]
    pushed = _pushed_settings(run.named("net-gateway-settings"))
    assert pushed == render_settings(network.plan, underlay_mtu=1500)
    assert 'PORT_FORWARDS="tcp:3389:10.0.64.10:3389"' in pushed
    assert 'MIRROR_CLAMP_MSS="1410"' in pushed
    assert document["packages"] == ["nftables"]
    assert_valid_cloud_config(gateway)
    sensor_data = _custom_data(run.named("net-sensor-vm"))
    assert sensor_data == sensor.user_data
    assert "/dev/disk/azure/scsi1/lun0" in sensor_data
    assert_valid_cloud_config(sensor_data)


def test_the_vms_take_keys_only_boot_diagnostics_and_ubuntu_2404() -> None:
    run = build({}, {})
    network, _ = run.result

    key = run.resolve(network.ssh_public_key)
    assert key.startswith("ssh-ed25519 ")
    for vm in run.of_type(VM):
        linux = vm.inputs["osProfile"]["linuxConfiguration"]
        assert linux["disablePasswordAuthentication"] is True
        assert linux["ssh"]["publicKeys"][0]["keyData"] == key
        assert "adminPassword" not in vm.inputs["osProfile"]
        assert vm.inputs["diagnosticsProfile"] == {"bootDiagnostics": {"enabled": True}}
        assert vm.inputs["storageProfile"]["imageReference"] == {
            "publisher": "Canonical",
            "offer": "ubuntu-24_04-lts",
            "sku": "server",
            "version": "latest",
        }
        # Platform keys by default: no encryption at host asked for.
        assert "securityProfile" not in vm.inputs
        # Replaced (old one first: the NIC attaches to one VM) when its custom data changes.
        assert vm.delete_before_replace
    assert run.resolve(network.ssh_private_key).startswith("-----BEGIN OPENSSH PRIVATE KEY-----")


def test_encryption_at_host_and_a_given_key_reach_every_vm() -> None:
    given = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOn0tYk7sSWmVJ8K4pGdpGmrQ3t7Jb0eWQ5cI7VwWb3L me"
    run = build({"encryption_at_host": True, "ssh_public_key": given}, {})
    network, _ = run.result

    assert network.ssh_key is None and network.ssh_private_key is None
    assert "pulumi-python:dynamic:Resource" not in {r.type for r in run.resources}
    for vm in run.of_type(VM):
        assert vm.inputs["securityProfile"] == {"encryptionAtHost": True}
        keys = vm.inputs["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"]
        assert keys[0]["keyData"] == given


def test_the_generated_key_is_made_once_and_kept_by_later_runs() -> None:
    provider = Ed25519KeyProvider()
    created = provider.create({"comment": "cloudtap-net"})
    outs = dict(created.outs or {})

    assert provider.diff(str(created.id), outs, {"comment": "another"}).changes is False
    assert provider.read(str(created.id), outs).outs == outs
    again = provider.create({"comment": "cloudtap-net"})
    assert (again.outs or {})["public_key_openssh"] != outs["public_key_openssh"]


def test_the_sensor_sits_at_the_gateway_mirrors_address_with_accelerated_networking() -> None:
    run = build({"gateway_mirror": {}, "zones": ["2"]}, {"log_disk_size_gb": 256})
    _, sensor = run.result
    assert sensor is not None

    nic = run.named("net-sensor-nic").inputs
    assert nic["ipConfigurations"][0]["privateIPAddress"] == "10.0.128.10"
    assert nic["enableAcceleratedNetworking"] is True
    vm = run.named("net-sensor-vm").inputs
    assert vm["zones"] == ["2"]
    assert run.named("net-gateway").inputs["zones"] == ["2"]
    disk = run.named("net-sensor-logs").inputs
    assert disk["diskSizeGB"] == 256 and disk["zones"] == ["2"]
    assert vm["storageProfile"]["dataDisks"][0]["lun"] == 0
    config_id = run.resolve(sensor.network_interface_ip_configuration_id)
    assert config_id == f"{run.named('net-sensor-nic').id}/ipConfigurations/ipconfig1"
    feeds = rules_of(run, "net-sensor-nsg")
    assert {name for name in feeds} == {"feed-vxlan", "feed-geneve", "deny-all-inbound"}
    assert feeds["feed-vxlan"]["sourceAddressPrefixes"] == ["10.0.0.0/16"]


def test_a_size_without_accelerated_networking_gets_none() -> None:
    run = build({}, {"vm_size": "Standard_B2s"})
    assert run.named("net-sensor-nic").inputs["enableAcceleratedNetworking"] is False
    with pytest.raises(CloudtapInputError) as error:
        build({}, {"vm_size": "Standard_B2s", "accelerated_networking": True})
    assert error.value.field == "accelerated_networking"


def test_child_names_derive_from_the_component_name_and_tiers_only() -> None:
    first = build({"tags": {"team": "a"}}, {})
    second = build({"tags": {"team": "b"}, "zones": ["3"], "port_forwards": [FORWARD]}, {})

    names = sorted(r.name for r in first.resources)
    assert names == sorted(r.name for r in second.resources)
    assert all(name.startswith("net") for name in names)


def test_two_networks_in_one_program_do_not_collide() -> None:
    def program() -> tuple[MonitoredVNet, MonitoredVNet]:
        return MonitoredVNet("blue", None), MonitoredVNet("green", {"cidr_block": "10.1.0.0/16"})

    run = run_program(program, vnet_mocks(), config=LOCATION)

    names = [r.name for r in run.resources]
    assert len(names) == len(set(names))
    blue, green = run.result
    assert blue.gateway_private_ip == "10.0.0.10" and green.gateway_private_ip == "10.1.0.10"
    assert run.resolve(blue.virtual_network_id) != run.resolve(green.virtual_network_id)


def test_a_given_resource_group_is_used_and_none_is_created() -> None:
    run = build({"resource_group_name": "rg-cloudtap"})
    assert "azure-native:resources:ResourceGroup" not in {r.type for r in run.resources}
    assert {r.inputs["resourceGroupName"] for r in run.of_type(SUBNET)} == {"rg-cloudtap"}


def test_every_address_on_a_nic_is_inside_its_subnet() -> None:
    run = build({"gateway_mirror": {"sensor_address": "10.0.130.7"}}, {})
    subnets = {s.id: ipaddress.IPv4Network(s.inputs["addressPrefix"]) for s in run.of_type(SUBNET)}
    for nic in run.of_type(NIC):
        config = nic.inputs["ipConfigurations"][0]
        assert ipaddress.IPv4Address(config["privateIPAddress"]) in subnets[config["subnet"]["id"]]
    assert run.result[1] is not None and run.result[1].private_ip == "10.0.130.7"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"availability_zone_count": 2}, "availability_zone_count"),
        ({"zones": ["0"]}, "zones[0]"),
        ({"gateway_vm_size": "Standard_B2s\n"}, "gateway_vm_size"),
        ({"ssh_public_key": "ssh-ed25519 AAAA\nrm -rf /"}, "ssh_public_key"),
        ({"admin_username": "admin"}, "admin_username"),
        ({"gateway_instance_type": "t3.small"}, "gateway_instance_type"),
    ],
)
def test_bad_arguments_fail_before_anything_is_registered(args: dict[str, Any], field: str) -> None:
    mocks = vnet_mocks()
    with pytest.raises(CloudtapInputError) as error:
        run_program(lambda: MonitoredVNet("net", args), mocks, config=LOCATION)  # type: ignore[arg-type]
    assert error.value.field == field
    assert mocks.registrations == []


def test_without_a_location_the_preview_names_the_provider_key() -> None:
    mocks = vnet_mocks()
    with pytest.raises(CloudtapInputError) as error:
        run_program(lambda: MonitoredVNet("net"), mocks)
    assert error.value.field == "location"
    assert "azure-native:location" in error.value.expected
    assert mocks.registrations == []


def test_route_tables_are_typed_as_azure_names_them() -> None:
    run = build()
    assert {t.name for t in run.of_type(ROUTE_TABLE)} == {
        "net-private-rt",
        "net-monitor-rt",
        "net-management-rt",
    }
    assert all(t.inputs["disableBgpRoutePropagation"] is True for t in run.of_type(ROUTE_TABLE))
