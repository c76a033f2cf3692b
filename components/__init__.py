"""cloudtap: Pulumi components for passively monitored cloud networks.

Importing this package has no side effects and loads no cloud SDK: the cloud components are
imported on first use (``from components import MonitoredVpc`` loads pulumi-aws then).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import CloudtapInputError
from .monitored_network import Cloud, MonitoredNetwork, NetworkDesign
from .network_plan import NetworkArgs, NetworkPlan, PortForwardArgs, Protocol, Tier, plan_network

if TYPE_CHECKING:
    from .aws.mirror_args import MirrorSessionArgs
    from .aws.mirror_session import AwsMirrorSession
    from .aws.monitored_vpc import MonitoredVpc, MonitoredVpcArgs
    from .aws.sensor import AwsSensorArgs, Sensor
    from .aws.sensor_fleet import SensorFleet, SensorFleetArgs
    from .azure.mirror_args import AzureMirrorSessionArgs
    from .azure.mirror_session import AzureMirrorSession
    from .azure.monitored_vnet import MonitoredVNet
    from .azure.sensor import AzureSensor, AzureSensorArgs
    from .azure.vnet_plan import MonitoredVNetArgs
    from .host_feeds import HostFeeds, HostFeedsArgs
    from .mirror_session import MirrorSession
    from .openstack.mirror_args import OpenStackMirrorBackend, OpenStackMirrorSessionArgs
    from .openstack.mirror_session import OpenStackMirrorSession
    from .openstack.monitored_network import MonitoredOpenStackNetwork
    from .openstack.network_args import OpenStackNetworkArgs, OpenStackSensorArgs
    from .openstack.sensor import OpenStackSensor

# name -> module that defines it; resolved lazily so `import components` stays cheap.
_LAZY = {
    "MonitoredVpc": "components.aws.monitored_vpc",
    "MonitoredVpcArgs": "components.aws.monitored_vpc",
    "MirrorSession": "components.mirror_session",
    # The AWS session's arguments, under the name they had when MirrorSession was AWS only.
    "MirrorSessionArgs": "components.aws.mirror_args",
    "AwsMirrorSession": "components.aws.mirror_session",
    "Sensor": "components.aws.sensor",
    "AwsSensorArgs": "components.aws.sensor",
    "SensorFleet": "components.aws.sensor_fleet",
    "SensorFleetArgs": "components.aws.sensor_fleet",
    "HostFeeds": "components.host_feeds",
    "HostFeedsArgs": "components.host_feeds",
    "AzureMirrorSession": "components.azure.mirror_session",
    "AzureMirrorSessionArgs": "components.azure.mirror_args",
    "AzureSensor": "components.azure.sensor",
    "AzureSensorArgs": "components.azure.sensor",
    "MonitoredVNet": "components.azure.monitored_vnet",
    "MonitoredVNetArgs": "components.azure.vnet_plan",
    "OpenStackMirrorBackend": "components.openstack.mirror_args",
    "OpenStackMirrorSession": "components.openstack.mirror_session",
    "OpenStackMirrorSessionArgs": "components.openstack.mirror_args",
    "MonitoredOpenStackNetwork": "components.openstack.monitored_network",
    "OpenStackNetworkArgs": "components.openstack.network_args",
    "OpenStackSensor": "components.openstack.sensor",
    "OpenStackSensorArgs": "components.openstack.network_args",
}

__all__ = [
    "AwsMirrorSession",
    "AwsSensorArgs",
    "AzureMirrorSession",
    "AzureMirrorSessionArgs",
    "AzureSensor",
    "AzureSensorArgs",
    "Cloud",
    "CloudtapInputError",
    "HostFeeds",
    "HostFeedsArgs",
    "MirrorSession",
    "MirrorSessionArgs",
    "MonitoredNetwork",
    "MonitoredOpenStackNetwork",
    "MonitoredVNet",
    "MonitoredVNetArgs",
    "MonitoredVpc",
    "MonitoredVpcArgs",
    "NetworkArgs",
    "NetworkDesign",
    "NetworkPlan",
    "OpenStackMirrorBackend",
    "OpenStackMirrorSession",
    "OpenStackMirrorSessionArgs",
    "OpenStackNetworkArgs",
    "OpenStackSensor",
    "OpenStackSensorArgs",
    "PortForwardArgs",
    "Protocol",
    "Sensor",
    "SensorFleet",
    "SensorFleetArgs",
    "Tier",
    "plan_network",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'components' has no attribute {name!r}")
