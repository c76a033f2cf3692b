"""Where every lab host sits and what it carries: pure, derived from a :class:`NetworkPlan`.

Nothing here touches the machine, so the addressing is tested without root. The lab's gateway is
multi-homed, one interface per tier, each host on its own link (the script finds its interfaces
by address, so the same script serves a one-armed cloud gateway)::

    inet (203.0.113.10, public router .1) --- gw-pub   (public .10)
                          app (private .10) --- gw-priv  (private .1)
                    sensor (monitor .10)    --- gw-mon   (monitor .1)
                    mgmt (management .10)   --- gw-mgmt  (management .1)

Only availability-zone 0's subnets are used, except that the app's link carries every private
subnet that holds a port forward's server, so each forward can be exercised, and the sensor sits
at the gateway mirror's sensor address (whose subnet the monitor link then carries).

The gateway mirror is always on in the lab (:func:`with_gateway_mirror`): the sensor runs the
rendered ``cloudtap-sensor`` and receives the gateway's copies. Links inside the network model a
VPC and carry jumbo frames (:data:`VPC_MTU`); the public link models the internet path (1500).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from enum import StrEnum

from components.mirroring import plan_gateway_mirror
from components.network_plan import NetworkPlan, Tier

INTERNET_HOST = ipaddress.IPv4Address("203.0.113.10")
"""The internet host: TEST-NET-3 (RFC 5737), routable nowhere, carried on the inet host's lo."""
HOST_OFFSET = 10
"""Hosts (and the gateway's public address) take the subnet's 11th address, e.g. 10.0.0.10."""
ROUTER_OFFSET = 1
"""Routers (the gateway on the inner tiers, the internet router on the public tier) take .1."""
HOST_INTERFACE = "eth0"
"""Name of every host's interface towards the gateway. Only the gateway must not rely on names."""
MAX_INTERFACE_NAME = 15
"""Linux's IFNAMSIZ minus the terminating NUL."""
VPC_MTU = 9001
"""MTU of the links inside the network, as in an AWS VPC (jumbo frames between instances)."""
INTERNET_MTU = 1500
"""MTU of the public link: the path to the internet."""


class Host(StrEnum):
    """The lab's hosts; each is one network namespace."""

    INTERNET = "inet"
    """The internet: the internet host's address and the public subnet's router (the IGW)."""
    GATEWAY = "gw"
    """The gateway instance, running the rendered cloudtap-gateway script."""
    APP = "app"
    """A private-tier workload: the server behind the port forwards."""
    SENSOR = "sensor"
    """A monitor-tier sensor: may reach the internet, never the private tier."""
    MANAGEMENT = "mgmt"
    """A management-tier host: routes via the gateway only so the lab can prove it is refused."""


GATEWAY_INTERFACES = {
    Tier.PUBLIC: "gw-pub",
    Tier.PRIVATE: "gw-priv",
    Tier.MONITOR: "gw-mon",
    Tier.MANAGEMENT: "gw-mgmt",
}
"""The gateway's interface per tier: deliberately not ``eth0``-style, as the script finds its
interfaces by the addresses they carry."""

TIER_HOSTS = {
    Tier.PUBLIC: Host.INTERNET,
    Tier.PRIVATE: Host.APP,
    Tier.MONITOR: Host.SENSOR,
    Tier.MANAGEMENT: Host.MANAGEMENT,
}


@dataclass(frozen=True)
class Link:
    """One veth pair: a gateway interface and the host on the other end."""

    tier: Tier
    gateway_interface: str
    gateway_addresses: tuple[ipaddress.IPv4Interface, ...]
    """The gateway's addresses on this link; the first is the one hosts route through."""
    host: Host
    host_addresses: tuple[ipaddress.IPv4Interface, ...]
    """The host's addresses; the first is its own (what :meth:`Topology.address` returns)."""
    host_default_route: ipaddress.IPv4Address | None
    """Where the host sends everything else; ``None`` for the internet, which routes nothing."""
    host_interface: str = HOST_INTERFACE
    mtu: int = VPC_MTU
    """MTU of both ends of the veth pair."""


@dataclass(frozen=True)
class Topology:
    """The whole lab: links, addresses and routes."""

    plan: NetworkPlan
    links: tuple[Link, ...]
    internet_address: ipaddress.IPv4Address
    gateway_default_route: ipaddress.IPv4Address
    """The public subnet's router, on the internet host: the gateway's route to the internet."""

    def link(self, tier: Tier) -> Link:
        return next(link for link in self.links if link.tier is tier)

    def link_of(self, host: Host) -> Link:
        return next(link for link in self.links if link.host is host)

    def address(self, host: Host) -> ipaddress.IPv4Address:
        """The address a host's traffic comes from; the gateway's is its public address."""
        if host is Host.INTERNET:
            return self.internet_address
        if host is Host.GATEWAY:
            return self.gateway_address(Tier.PUBLIC)
        return self.link_of(host).host_addresses[0].ip

    def gateway_address(self, tier: Tier) -> ipaddress.IPv4Address:
        """The gateway's address on a tier: the public address or the tier's router."""
        return self.link(tier).gateway_addresses[0].ip

    @property
    def gateway_public_address(self) -> ipaddress.IPv4Address:
        return self.gateway_address(Tier.PUBLIC)

    @property
    def gateway_addresses(self) -> tuple[ipaddress.IPv4Address, ...]:
        """Every address of the gateway, on every link."""
        return tuple(address.ip for link in self.links for address in link.gateway_addresses)

    @property
    def one_armed(self) -> bool:
        """Whether the gateway has one interface behind a router (the Azure shape,
        :mod:`lab.one_armed`) rather than one per tier."""
        return False

    @property
    def gateway_interface(self) -> str:
        """The gateway's interface towards the internet (its only one when one-armed)."""
        return self.link(Tier.PUBLIC).gateway_interface

    @property
    def gateway_underlay_mtu(self) -> int | None:
        """What the gateway's settings say the network carries: jumbo frames inside a VPC;
        ``None`` (not known: never raise an MTU, no MSS clamp) otherwise. The one-armed shape
        passes its links' 1500, as Azure's component does."""
        return VPC_MTU if all(link.mtu >= VPC_MTU for link in self.links[1:]) else None


def with_gateway_mirror(plan: NetworkPlan) -> NetworkPlan:
    """``plan`` with the gateway mirror on: as given, or with every default."""
    if plan.gateway_mirror is not None:
        return plan
    return replace(plan, gateway_mirror=plan_gateway_mirror({}, plan.subnets[Tier.MONITOR]))


def _nth(network: ipaddress.IPv4Network, offset: int) -> ipaddress.IPv4Interface:
    return ipaddress.IPv4Interface(f"{network.network_address + offset}/{network.prefixlen}")


def _private_subnets(plan: NetworkPlan) -> list[ipaddress.IPv4Network]:
    """Zone 0's private subnet, or the subnets of the forwards' servers (first forward first)."""
    subnets: list[ipaddress.IPv4Network] = []
    for forward in plan.port_forwards:
        home = next(cidr for cidr in plan.subnets[Tier.PRIVATE] if forward.private_host in cidr)
        if home not in subnets:
            subnets.append(home)
    return subnets or [plan.subnets[Tier.PRIVATE][0]]


def _app_addresses(
    plan: NetworkPlan, subnets: list[ipaddress.IPv4Network]
) -> tuple[ipaddress.IPv4Interface, ...]:
    hosts: list[ipaddress.IPv4Interface] = []
    for forward in plan.port_forwards:
        home = next(cidr for cidr in subnets if forward.private_host in cidr)
        address = ipaddress.IPv4Interface(f"{forward.private_host}/{home.prefixlen}")
        if address not in hosts:
            hosts.append(address)
    return tuple(hosts) or (_nth(subnets[0], HOST_OFFSET),)


def _sensor_address(plan: NetworkPlan) -> ipaddress.IPv4Interface:
    """The gateway mirror's sensor address, in its monitor subnet."""
    assert plan.gateway_mirror is not None
    address = plan.gateway_mirror.sensor_address
    home = next(cidr for cidr in plan.subnets[Tier.MONITOR] if address in cidr)
    return ipaddress.IPv4Interface(f"{address}/{home.prefixlen}")


def plan_topology(plan: NetworkPlan) -> Topology:
    """The lab for ``plan`` with the gateway mirror on (:func:`with_gateway_mirror`): the app is
    the first port forward's server (else private .10), the sensor the mirror's sensor."""
    plan = with_gateway_mirror(plan)
    public = plan.subnets[Tier.PUBLIC][0]
    router = _nth(public, ROUTER_OFFSET)
    links = [
        Link(
            tier=Tier.PUBLIC,
            gateway_interface=GATEWAY_INTERFACES[Tier.PUBLIC],
            gateway_addresses=(_nth(public, HOST_OFFSET),),
            host=Host.INTERNET,
            host_addresses=(router,),
            host_default_route=None,
            mtu=INTERNET_MTU,
        )
    ]
    private = _private_subnets(plan)
    links.append(
        Link(
            tier=Tier.PRIVATE,
            gateway_interface=GATEWAY_INTERFACES[Tier.PRIVATE],
            gateway_addresses=tuple(_nth(cidr, ROUTER_OFFSET) for cidr in private),
            host=Host.APP,
            host_addresses=_app_addresses(plan, private),
            host_default_route=_nth(private[0], ROUTER_OFFSET).ip,
        )
    )
    sensor = _sensor_address(plan)
    for tier in (Tier.MONITOR, Tier.MANAGEMENT):
        host = sensor if tier is Tier.MONITOR else _nth(plan.subnets[tier][0], HOST_OFFSET)
        subnet = host.network
        links.append(
            Link(
                tier=tier,
                gateway_interface=GATEWAY_INTERFACES[tier],
                gateway_addresses=(_nth(subnet, ROUTER_OFFSET),),
                host=TIER_HOSTS[tier],
                host_addresses=(host,),
                host_default_route=_nth(subnet, ROUTER_OFFSET).ip,
            )
        )
    return Topology(plan, tuple(links), INTERNET_HOST, router.ip)
