"""The contract every cloud's monitored network keeps with the sensors and mirrors built on it.

Pure Python. A :class:`NetworkDesign` is a monitored network as planned, before any resource
exists: it is what a sensor and a mirror need to plan themselves, so a program can check all of
its components before it registers the first one. Each cloud's network component
(``MonitoredVpc`` on AWS) carries its design and satisfies :class:`MonitoredNetwork`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from .mirroring import GatewayMirror, default_sensor_address
from .network_plan import NetworkPlan, Tier


class Cloud(StrEnum):
    """Where a monitored network lives; decides which backend a mirror session uses."""

    AWS = "aws"
    AZURE = "azure"
    OPENSTACK = "openstack"


@dataclass(frozen=True)
class NetworkDesign:
    """A monitored network as planned: the part every sensor and mirror on it depends on."""

    cloud: Cloud
    plan: NetworkPlan
    """The validated addressing: tiers, subnets, port forwards, the gateway mirror's settings."""
    underlay_mtu: int
    """Bytes the cloud's network carries between instances (AWS VPCs 9001, Azure 1500,
    OpenStack: the network's own ``mtu``). The gateway mirror's copies are 50 bytes bigger than
    what they copy; below that they fragment."""
    gateway_subnets: tuple[ipaddress.IPv4Network, ...] = ()
    """The public subnets gateways run in, when there is one per zone (AWS ``gateway_strategy:
    one_per_zone``): each sends the gateway mirror's copies and heartbeats. Empty: the one
    gateway, in the first public subnet."""

    @property
    def design(self) -> NetworkDesign:
        """A design is its own design: planning functions take either it or a network."""
        return self

    @property
    def gateway_mirror(self) -> GatewayMirror | None:
        """The gateway's own mirror, ``None`` when it copies nothing."""
        return self.plan.gateway_mirror

    @property
    def default_sensor_address(self) -> ipaddress.IPv4Address:
        """Where a sensor lives unless told otherwise: the gateway mirror's sensor when the
        mirror is on (so the two agree without being told), else the first monitor subnet's .10
        (also when the mirror sends to a fleet's load balancers, whose addresses no sensor
        takes)."""
        if self.plan.gateway_mirror is not None and not self.plan.gateway_mirror.to_fleet:
            return self.plan.gateway_mirror.sensor_address
        return default_sensor_address(self.plan.cidrs(Tier.MONITOR)[0])


@runtime_checkable
class MonitoredNetwork(Protocol):
    """What sensors and mirrors require of a monitored network: its design.

    Both a network component and a bare :class:`NetworkDesign` satisfy it, so the same planning
    code checks a program before anything is registered and builds it afterwards.
    """

    @property
    def design(self) -> NetworkDesign: ...
