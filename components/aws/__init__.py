"""AWS components of cloudtap.

The components load pulumi-aws; they are imported on first use of one of their names, so
importing this package (or its pure modules, such as :mod:`.mirror_args`) loads no cloud SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .mirror_args import MirrorSessionArgs
    from .mirror_session import AwsMirrorSession, MirrorSession
    from .monitored_vpc import MonitoredVpc, MonitoredVpcArgs
    from .sensor import AwsSensorArgs, Sensor
    from .sensor_fleet import SensorFleet, SensorFleetArgs

# name -> module that defines it, imported on first use.
_LAZY = {
    "AwsMirrorSession": ".mirror_session",
    "AwsSensorArgs": ".sensor",
    "MirrorSession": ".mirror_session",
    "MirrorSessionArgs": ".mirror_args",
    "MonitoredVpc": ".monitored_vpc",
    "MonitoredVpcArgs": ".monitored_vpc",
    "Sensor": ".sensor",
    "SensorFleet": ".sensor_fleet",
    "SensorFleetArgs": ".sensor_fleet",
}

__all__ = [
    "AwsMirrorSession",
    "AwsSensorArgs",
    "MirrorSession",
    "MirrorSessionArgs",
    "MonitoredVpc",
    "MonitoredVpcArgs",
    "Sensor",
    "SensorFleet",
    "SensorFleetArgs",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
