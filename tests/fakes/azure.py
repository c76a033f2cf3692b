"""Azure fakes: ARM's answers for a virtual network TAP and its TAP configurations, the resource
ids of a fake subscription, and the Azure MirrorSession facade's mocks, arguments and program.

- The ids (:data:`SUBSCRIPTION`, :data:`SENSOR_IP_CONFIG`, :data:`WEB_NIC`, ...) stand for a
  subscription whose ``monitoring`` resource group holds the sensor's NIC and an internal load
  balancer, and whose ``apps`` resource group holds the two workload NICs.
- :class:`AzureNetwork` stands for ARM answering the two resource types under the strict mocks.
- :func:`azure_mocks` is the strict mocks with those answers, accepting the facade's components;
  :func:`args` and :func:`build` are the facade's usual arguments and a program that builds it.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from typing import Any

from pulumi.runtime import MockResourceArgs

from components.azure import mirror_session, vtap
from components.azure.mirror_session import MirrorSession
from tests.mocks import COMPONENT_TYPES, ProgramRun, StrictMockError, StrictMocks, run_program
from tests.mocks import _dynamic as _mocks_dynamic

TAP = "azure-native:network:VirtualNetworkTap"
TAP_CONFIGURATION = "azure-native:network:NetworkInterfaceTapConfiguration"
SUBSCRIPTION = "3f1c6a52-8d5b-4d0e-9a57-0c2b1e6f7a10"
NETWORK = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/monitoring/providers/Microsoft.Network"
SENSOR_IP_CONFIG = f"{NETWORK}/networkInterfaces/sensor-nic/ipConfigurations/ipconfig1"
ILB_FRONTEND = f"{NETWORK}/loadBalancers/sensors-ilb/frontendIPConfigurations/vxlan"
APP_RG = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/apps/providers/Microsoft.Network"
WEB_NIC = f"{APP_RG}/networkInterfaces/web-nic"
DB_NIC = f"{APP_RG}/networkInterfaces/db-nic"

# Everything a facade run may register under the strict mocks, and nothing else.
AZURE_COMPONENTS = COMPONENT_TYPES | {mirror_session.TYPE_TOKEN, vtap.TYPE_TOKEN}


def _network(resource_group: str) -> str:
    return (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{resource_group}/providers/Microsoft.Network"
    )


def _compute(resource_group: str) -> str:
    return (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{resource_group}/providers/Microsoft.Compute"
    )


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:8]


class AzureNetwork:
    """Answers for the two resource types, like ARM's: full resource ids, autonamed names
    (the engine's autonaming does not run under mocks), and a TAP configuration only on a TAP
    that exists."""

    def __init__(self) -> None:
        self.taps: set[str] = set()

    def tap(self, _mocks: StrictMocks, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        name = str(args.inputs.get("tapName") or f"{args.name}{_digest(args.name)}")
        rid = f"{_network(args.inputs['resourceGroupName'])}/virtualNetworkTaps/{name}"
        self.taps.add(rid)
        return rid, {"name": name, "provisioningState": "Succeeded"}

    def tap_configuration(
        self, _mocks: StrictMocks, args: MockResourceArgs
    ) -> tuple[str, dict[str, Any]]:
        tap_id = (args.inputs.get("virtualNetworkTap") or {}).get("id")
        if tap_id not in self.taps:
            raise StrictMockError(f"TAP configuration {args.name} names unknown TAP {tap_id}")
        name = str(args.inputs.get("tapConfigurationName") or f"{args.name}{_digest(args.name)}")
        group, nic_name = args.inputs["resourceGroupName"], args.inputs["networkInterfaceName"]
        nic = f"{_network(group)}/networkInterfaces/{nic_name}"
        return f"{nic}/tapConfigurations/{name}", {"name": name, "provisioningState": "Succeeded"}


def azure_mocks() -> StrictMocks:
    """Strict mocks that also answer the two Azure types (and accept the two components)."""
    azure = AzureNetwork()
    return StrictMocks(
        resources={TAP: azure.tap, TAP_CONFIGURATION: azure.tap_configuration},
        components=AZURE_COMPONENTS,
    )


def args(**overrides: Any) -> dict[str, Any]:
    """The facade's arguments: the sensor NIC's IP configuration as target, web and db NICs as
    sources; ``overrides`` replace top-level keys."""
    base: dict[str, Any] = {
        "location": "westeurope",
        "target": {"network_interface_ip_configuration_id": SENSOR_IP_CONFIG},
        "sources": [
            {"name": "web", "network_interface_id": WEB_NIC},
            {"name": "db", "network_interface_id": DB_NIC},
        ],
    }
    base.update(overrides)
    return base


def build(
    mocks: StrictMocks, session_args: Mapping[str, Any], name: str = "mirror"
) -> ProgramRun[MirrorSession]:
    """Run ``MirrorSession(name, session_args)`` (the Azure facade) as a program under ``mocks``."""
    return run_program(lambda: MirrorSession(name, session_args), mocks)  # type: ignore[arg-type]


# -- the monitored virtual network's resources -----------------------------------------------------

RESOURCE_GROUP = "azure-native:resources:ResourceGroup"
VIRTUAL_NETWORK = "azure-native:network:VirtualNetwork"
SUBNET = "azure-native:network:Subnet"
ROUTE_TABLE = "azure-native:network:RouteTable"
SECURITY_GROUP = "azure-native:network:NetworkSecurityGroup"
PUBLIC_IP = "azure-native:network:PublicIPAddress"
NIC = "azure-native:network:NetworkInterface"
VM = "azure-native:compute:VirtualMachine"
RUN_COMMAND = "azure-native:compute:VirtualMachineRunCommandByVirtualMachine"
DISK = "azure-native:compute:Disk"
DYNAMIC = "pulumi-python:dynamic:Resource"


class AzureFabric:
    """ARM's answers for a monitored network: ids under the resource group the request names,
    subnets only in a known network, NICs only in a known subnet with a static address inside it,
    public IPs and NICs that exist before what references them."""

    def __init__(self) -> None:
        self.groups: set[str] = set()
        self.networks: dict[str, str] = {}
        """name -> id"""
        self.subnets: dict[str, ipaddress.IPv4Network] = {}
        self.public_ips: dict[str, str] = {}
        self.nics: dict[str, dict[str, Any]] = {}
        self.disks: set[str] = set()
        self.vms: set[str] = set()
        """VM names, which a run-command names."""

    @staticmethod
    def _name(args: MockResourceArgs, key: str) -> str:
        return str(args.inputs.get(key) or f"{args.name}{_digest(args.name)}")

    def _group(self, args: MockResourceArgs) -> str:
        group = args.inputs.get("resourceGroupName")
        if not isinstance(group, str) or not group:
            raise StrictMockError(f"{args.typ} {args.name} has no resourceGroupName")
        return group

    def group(self, _mocks: StrictMocks, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        name = self._name(args, "resourceGroupName")
        self.groups.add(name)
        return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{name}", {"name": name}

    def _in_group(self, args: MockResourceArgs, kind: str, name_key: str) -> tuple[str, str]:
        name = self._name(args, name_key)
        return f"{_network(self._group(args))}/{kind}/{name}", name

    def virtual_network(
        self, _m: StrictMocks, args: MockResourceArgs
    ) -> tuple[str, dict[str, Any]]:
        rid, name = self._in_group(args, "virtualNetworks", "virtualNetworkName")
        self.networks[name] = rid
        return rid, {"name": name}

    def subnet(self, _m: StrictMocks, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        network_name = args.inputs.get("virtualNetworkName")
        if network_name not in self.networks:
            raise StrictMockError(f"subnet {args.name} names unknown network {network_name}")
        name = self._name(args, "subnetName")
        rid = f"{self.networks[network_name]}/subnets/{name}"
        self.subnets[rid] = ipaddress.IPv4Network(args.inputs["addressPrefix"])
        return rid, {"name": name}

    def plain(self, kind: str, name_key: str) -> Any:
        def answer(_m: StrictMocks, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
            rid, name = self._in_group(args, kind, name_key)
            return rid, {"name": name}

        return answer

    def public_ip(self, mocks: StrictMocks, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        rid, name = self._in_group(args, "publicIPAddresses", "publicIpAddressName")
        address = str(ipaddress.IPv4Address("198.51.100.10") + len(self.public_ips))
        self.public_ips[rid] = address
        return rid, {"name": name, "ipAddress": address}

    def nic(self, _m: StrictMocks, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        rid, name = self._in_group(args, "networkInterfaces", "networkInterfaceName")
        configurations = []
        for config in args.inputs.get("ipConfigurations") or []:
            subnet = (config.get("subnet") or {}).get("id")
            if subnet not in self.subnets:
                raise StrictMockError(f"NIC {args.name} names unknown subnet {subnet}")
            address = config.get("privateIPAddress")
            if config.get("privateIPAllocationMethod") != "Static" or address is None:
                raise StrictMockError(f"NIC {args.name}: cloudtap's NICs have static addresses")
            if ipaddress.IPv4Address(address) not in self.subnets[subnet]:
                raise StrictMockError(f"NIC {args.name}: {address} is outside {subnet}")
            public = (config.get("publicIPAddress") or {}).get("id")
            if public is not None and public not in self.public_ips:
                raise StrictMockError(f"NIC {args.name} names unknown public IP {public}")
            configurations.append({**config, "id": f"{rid}/ipConfigurations/{config['name']}"})
        self.nics[rid] = {**args.inputs, "ipConfigurations": configurations}
        return rid, {"name": name, "ipConfigurations": configurations}

    def disk(self, _m: StrictMocks, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        group = self._group(args)
        name = self._name(args, "diskName")
        rid = f"{_compute(group)}/disks/{name}"
        self.disks.add(rid)
        return rid, {"name": name}

    def vm(self, _m: StrictMocks, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        group = self._group(args)
        for nic in (args.inputs.get("networkProfile") or {}).get("networkInterfaces") or []:
            if nic.get("id") not in self.nics:
                raise StrictMockError(f"VM {args.name} names unknown NIC {nic.get('id')}")
        storage = args.inputs.get("storageProfile") or {}
        for disk in storage.get("dataDisks") or []:
            if (disk.get("managedDisk") or {}).get("id") not in self.disks:
                raise StrictMockError(f"VM {args.name} attaches an unknown disk {disk}")
        name = self._name(args, "vmName")
        rid = f"{_compute(group)}/virtualMachines/{name}"
        self.vms.add(name)
        return rid, {"name": name, "vmId": _digest(rid) * 4}

    def run_command(self, _m: StrictMocks, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        group = self._group(args)
        vm = args.inputs.get("vmName")
        if vm not in self.vms:
            raise StrictMockError(f"run-command {args.name} names unknown VM {vm}")
        name = str(args.inputs.get("runCommandName") or args.name)
        rid = f"{_compute(group)}/virtualMachines/{vm}/runCommands/{name}"
        return rid, {"name": name, "provisioningState": "Succeeded"}

    def dynamic(self, _m: StrictMocks, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        # The engine would run the provider's create; the mocks run the very same code.
        from components.azure.ssh_key import Ed25519KeyProvider  # noqa: PLC0415

        if "hosts" in args.inputs:  # the host feeds' certificates: the mocks' own answer
            return _mocks_dynamic(_m, args)
        props = {k: v for k, v in args.inputs.items() if k != "__provider"}
        created = Ed25519KeyProvider().create(props)
        return str(created.id), dict(created.outs or {})


def vnet_mocks() -> StrictMocks:
    """Strict mocks answering every resource a monitored network, its sensor and its mirror
    register (the TAP types included), and accepting cloudtap's Azure components."""
    from components.azure import monitored_vnet, sensor  # noqa: PLC0415

    fabric, taps = AzureFabric(), AzureNetwork()
    mocks = StrictMocks(
        resources={
            RESOURCE_GROUP: fabric.group,
            VIRTUAL_NETWORK: fabric.virtual_network,
            SUBNET: fabric.subnet,
            ROUTE_TABLE: fabric.plain("routeTables", "routeTableName"),
            SECURITY_GROUP: fabric.plain("networkSecurityGroups", "networkSecurityGroupName"),
            PUBLIC_IP: fabric.public_ip,
            NIC: fabric.nic,
            VM: fabric.vm,
            RUN_COMMAND: fabric.run_command,
            DISK: fabric.disk,
            DYNAMIC: fabric.dynamic,
            TAP: taps.tap,
            TAP_CONFIGURATION: taps.tap_configuration,
        },
        components=AZURE_COMPONENTS | {monitored_vnet.TYPE_TOKEN, sensor.TYPE_TOKEN},
    )
    mocks.fabric = fabric  # type: ignore[attr-defined]
    return mocks
