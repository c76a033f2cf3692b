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
from collections.abc import Mapping
from typing import Any

from pulumi.runtime import MockResourceArgs

from components.azure import mirror_session, vtap
from components.azure.mirror_session import MirrorSession
from tests.mocks import COMPONENT_TYPES, ProgramRun, StrictMockError, StrictMocks, run_program

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
