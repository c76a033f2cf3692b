"""cloudtap: Pulumi components for passively monitored cloud networks.

Importing this package has no side effects and loads no cloud SDK: the cloud components are
imported on first use (``from components import MonitoredVpc`` loads pulumi-aws then).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import CloudtapInputError
from .network_plan import NetworkArgs, NetworkPlan, PortForwardArgs, Protocol, Tier, plan_network

if TYPE_CHECKING:
    from .aws.mirror_session import MirrorSession, MirrorSessionArgs
    from .aws.monitored_vpc import MonitoredVpc, MonitoredVpcArgs
    from .aws.sensor import AwsSensorArgs, Sensor
    from .azure.mirror_session import AzureMirrorSession, AzureMirrorSessionArgs
    from .openstack.mirror_session import (
        OpenStackMirrorBackend,
        OpenStackMirrorSession,
        OpenStackMirrorSessionArgs,
    )

# name -> module that defines it; resolved lazily so `import components` stays cheap.
_LAZY = {
    "MonitoredVpc": "components.aws.monitored_vpc",
    "MonitoredVpcArgs": "components.aws.monitored_vpc",
    "MirrorSession": "components.aws.mirror_session",
    "MirrorSessionArgs": "components.aws.mirror_session",
    "Sensor": "components.aws.sensor",
    "AwsSensorArgs": "components.aws.sensor",
    "AzureMirrorSession": "components.azure.mirror_session",
    "AzureMirrorSessionArgs": "components.azure.mirror_session",
    "OpenStackMirrorBackend": "components.openstack.mirror_session",
    "OpenStackMirrorSession": "components.openstack.mirror_session",
    "OpenStackMirrorSessionArgs": "components.openstack.mirror_session",
}

__all__ = [
    "AwsSensorArgs",
    "AzureMirrorSession",
    "AzureMirrorSessionArgs",
    "CloudtapInputError",
    "MirrorSession",
    "MirrorSessionArgs",
    "MonitoredVpc",
    "MonitoredVpcArgs",
    "NetworkArgs",
    "NetworkPlan",
    "OpenStackMirrorBackend",
    "OpenStackMirrorSession",
    "OpenStackMirrorSessionArgs",
    "PortForwardArgs",
    "Protocol",
    "Sensor",
    "Tier",
    "plan_network",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'components' has no attribute {name!r}")
