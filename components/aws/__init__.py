"""AWS components of cloudtap. Importing this package loads pulumi-aws."""

from __future__ import annotations

from .monitored_vpc import MonitoredVpc, MonitoredVpcArgs
from .sensor import AwsSensorArgs, Sensor

__all__ = ["AwsSensorArgs", "MonitoredVpc", "MonitoredVpcArgs", "Sensor"]
