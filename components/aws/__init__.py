"""AWS components of cloudtap. Importing this package loads pulumi-aws."""

from __future__ import annotations

from .mirror_session import MirrorSession, MirrorSessionArgs
from .monitored_vpc import MonitoredVpc, MonitoredVpcArgs
from .sensor import AwsSensorArgs, Sensor

__all__ = [
    "AwsSensorArgs",
    "MirrorSession",
    "MirrorSessionArgs",
    "MonitoredVpc",
    "MonitoredVpcArgs",
    "Sensor",
]
