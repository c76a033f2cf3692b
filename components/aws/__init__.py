"""AWS components of cloudtap. Importing this package loads pulumi-aws."""

from __future__ import annotations

from .monitored_vpc import MonitoredVpc, MonitoredVpcArgs

__all__ = ["MonitoredVpc", "MonitoredVpcArgs"]
