"""The Azure shape of the lab: a one-armed gateway behind a router that plays Azure's fabric.

An Azure VM has one NIC, and Azure's network routes between subnets itself. So here the gateway
namespace has a single interface in the public subnet (its static address, .10), and a router
namespace stands for the virtual network: one link per subnet, carrying the subnet's .1 (Azure's
own gateway address in every subnet), and a transit link to the internet host. Every link is
1500 bytes, as Azure's network is::

    inet (203.0.113.10) --- rt-inet    router (the fabric)
                            rt-pub  (public .1)     --- gw      (public .10, one NIC)
                            rt-priv (private .1)    --- app     (private .10)
                            rt-mon  (monitor .1)    --- sensor  (monitor .10)
                            rt-mgmt (management .1) --- mgmt    (management .10)

The router applies the network's own route tables (:func:`~components.azure.vnet_plan.
plan_route_tables`), one per ingress link like Azure's per-subnet tables: the private and
monitor tiers' ``0.0.0.0/0 -> VirtualAppliance`` to the gateway, the ``None`` routes as
blackholes, the management tier's ``0.0.0.0/0 -> None``; the public subnet keeps the system
routes (the internet), and from the internet only the gateway's address is reachable (its public
IP). Like Azure's fabric, the router does not count as a hop: it gives back the TTL it takes
(``iptables ... TTL --ttl-inc 1``), so a packet arrives as its sender sent it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from components.azure.vnet_plan import (
    AZURE_VNET_MTU,
    GATEWAY_HOST_OFFSET,
    ISOLATED_FROM,
    NextHop,
    plan_route_tables,
)
from components.network_plan import NetworkPlan, Tier

from .topology import (
    HOST_INTERFACE,
    HOST_OFFSET,
    INTERNET_HOST,
    ROUTER_OFFSET,
    TIER_HOSTS,
    Host,
    Link,
    Topology,
    _app_addresses,
    _nth,
    _private_subnets,
    _sensor_address,
    with_gateway_mirror,
)

if TYPE_CHECKING:
    from .lab import Lab

ROUTER: Final = "rt"
"""The router's namespace suffix (beside the hosts')."""
ROUTER_INTERFACES: Final = {
    Tier.PUBLIC: "rt-pub",
    Tier.PRIVATE: "rt-priv",
    Tier.MONITOR: "rt-mon",
    Tier.MANAGEMENT: "rt-mgmt",
}
INTERNET_INTERFACE: Final = "rt-inet"
TRANSIT: Final = ipaddress.IPv4Network("198.18.0.0/30")
"""The router <-> internet link (RFC 2544 benchmarking space: routed nowhere)."""
TABLES: Final = {Tier.PUBLIC: 100, Tier.PRIVATE: 101, Tier.MONITOR: 102, Tier.MANAGEMENT: 103}
INTERNET_TABLE: Final = 110


@dataclass(frozen=True)
class OneArmedTopology(Topology):
    """Links hang off the router (their ``gateway_*`` fields are the router's end); the gateway
    is the host of the public link."""

    internet_link: Link | None = None
    """router <-> internet host."""

    @property
    def one_armed(self) -> bool:
        return True

    def link_of(self, host: Host) -> Link:
        if host is Host.INTERNET and self.internet_link is not None:
            return self.internet_link
        return super().link_of(host)

    def address(self, host: Host) -> ipaddress.IPv4Address:
        if host is Host.GATEWAY:
            return self.gateway_public_address
        return super().address(host)

    @property
    def gateway_public_address(self) -> ipaddress.IPv4Address:
        """The gateway's static private address, which Azure's public IP translates to."""
        return self.link_of(Host.GATEWAY).host_addresses[0].ip

    @property
    def gateway_addresses(self) -> tuple[ipaddress.IPv4Address, ...]:
        return (self.gateway_public_address,)

    def gateway_address(self, tier: Tier) -> ipaddress.IPv4Address:
        """The gateway's one address, whichever tier asks (a tier's next hop is the router)."""
        del tier
        return self.gateway_public_address

    @property
    def gateway_interface(self) -> str:
        return HOST_INTERFACE

    @property
    def gateway_underlay_mtu(self) -> int | None:
        """The links' MTU (1500), as Azure's component passes its VNets' 1500 bytes: the
        gateway then clamps forwarded TCP's MSS so that copies fit."""
        return min(link.mtu for link in self.links)


def plan_one_armed_topology(plan: NetworkPlan) -> OneArmedTopology:
    """The Azure-shaped lab for ``plan`` (gateway mirror on, as in every lab)."""
    plan = with_gateway_mirror(plan)
    public = plan.subnets[Tier.PUBLIC][0]
    private = _private_subnets(plan)
    sensor = _sensor_address(plan)
    hosts = {
        Tier.PUBLIC: (_nth(public, GATEWAY_HOST_OFFSET),),
        Tier.PRIVATE: _app_addresses(plan, private),
        Tier.MONITOR: (sensor,),
        Tier.MANAGEMENT: (_nth(plan.subnets[Tier.MANAGEMENT][0], HOST_OFFSET),),
    }
    routers = {
        Tier.PUBLIC: (_nth(public, ROUTER_OFFSET),),
        Tier.PRIVATE: tuple(_nth(cidr, ROUTER_OFFSET) for cidr in private),
        Tier.MONITOR: (_nth(sensor.network, ROUTER_OFFSET),),
        Tier.MANAGEMENT: (_nth(plan.subnets[Tier.MANAGEMENT][0], ROUTER_OFFSET),),
    }
    links = tuple(
        Link(
            tier=tier,
            gateway_interface=ROUTER_INTERFACES[tier],
            gateway_addresses=routers[tier],
            host=Host.GATEWAY if tier is Tier.PUBLIC else TIER_HOSTS[tier],
            host_addresses=hosts[tier],
            host_default_route=routers[tier][0].ip,
            mtu=AZURE_VNET_MTU,
        )
        for tier in Tier
    )
    internet = Link(
        tier=Tier.PUBLIC,
        gateway_interface=INTERNET_INTERFACE,
        gateway_addresses=(_nth(TRANSIT, 1),),
        host=Host.INTERNET,
        host_addresses=(_nth(TRANSIT, 2),),
        host_default_route=_nth(TRANSIT, 1).ip,
        mtu=AZURE_VNET_MTU,
    )
    return OneArmedTopology(
        plan, links, INTERNET_HOST, routers[Tier.PUBLIC][0].ip, internet_link=internet
    )


def router_namespace(lab: Lab) -> str:
    return f"{lab.prefix}{ROUTER}"


def _tier_routes(topology: OneArmedTopology, tier: Tier, gateway: str) -> list[list[str]]:
    """``ip route`` argument lists of one tier's table: the network's own subnets on their links
    (Azure's VnetLocal), then the tier's user routes, which win over them."""
    plan = topology.plan
    user = plan_route_tables(plan, ipaddress.IPv4Address(gateway)).get(tier, ())
    overridden = {route.address_prefix for route in user}
    routes = []
    for link in topology.links:
        for address in link.gateway_addresses:
            prefix = str(address.network)
            if prefix not in overridden:
                routes.append([prefix, "dev", link.gateway_interface])
    for route in user:
        if route.next_hop is NextHop.VIRTUAL_APPLIANCE:
            assert route.next_hop_ip_address is not None
            routes.append([route.address_prefix, "via", route.next_hop_ip_address])
        else:
            routes.append(["blackhole", route.address_prefix])
    if tier is Tier.PUBLIC:
        # The public subnet keeps the system route to the internet.
        routes.append(["default", "via", str(_internet_host(topology))])
    return routes


def _internet_host(topology: OneArmedTopology) -> ipaddress.IPv4Address:
    assert topology.internet_link is not None
    return topology.internet_link.host_addresses[0].ip


def router_commands(topology: OneArmedTopology, namespace: str) -> list[list[str]]:
    """Everything that makes the router namespace the fabric, as argv lists (after its links
    exist)."""
    ip = ["ip", "-n", namespace]
    run = ["ip", "netns", "exec", namespace]
    commands = [
        [*run, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
        [*run, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0"],
        [*run, "sysctl", "-qw", "net.ipv4.conf.all.send_redirects=0"],
        # Azure's fabric is not a hop: what it takes from the TTL it gives back.
        [*run, "iptables", "-t", "mangle", "-A", "PREROUTING", "-j", "TTL", "--ttl-inc", "1"],
    ]
    gateway = str(topology.gateway_public_address)
    for tier, table in TABLES.items():
        for route in _tier_routes(topology, tier, gateway):
            commands.append([*ip, "route", "add", *route, "table", str(table)])
        link = topology.link(tier)
        commands.append(
            [*ip, "rule", "add", "iif", link.gateway_interface, "lookup", str(table), "pref",
             str(table)]
        )  # fmt: skip
    # From the internet, only the gateway's public IP (translated to its address) is reachable.
    commands.append(
        [*ip, "route", "add", f"{gateway}/32", "dev", ROUTER_INTERFACES[Tier.PUBLIC], "table",
         str(INTERNET_TABLE)]
    )  # fmt: skip
    commands.append(
        [*ip, "rule", "add", "iif", INTERNET_INTERFACE, "lookup", str(INTERNET_TABLE), "pref",
         str(INTERNET_TABLE)]
    )  # fmt: skip
    return commands


def isolated_pairs() -> list[tuple[Tier, Tier]]:
    """(from, to) tier pairs the network's routes drop."""
    return [(tier, other) for tier, others in ISOLATED_FROM.items() for other in others]
