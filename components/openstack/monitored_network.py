"""``MonitoredOpenStackNetwork``: the seeds' design on OpenStack — four tier networks and a
multi-homed gateway instance that masquerades, publishes ports and clones to the monitor segment.

Layout (addresses from :func:`~components.openstack.network_planning.plan_openstack_network`)::

    external network --- router --- public  (gateway port .10, floating IP; port security on)
                                    private (DHCP gateway: the gateway's .1; port security off)
                                    monitor (DHCP gateway: the gateway's .1; port security off)
                                    management (no gateway; the gateway's .1, SSH only)

Only the public network has a Neutron router: the private and monitor tiers reach anything
outside through the gateway instance, and no router joins the tiers, so the gateway's nftables
decide what crosses between them. The gateway's ports are separate resources: replacing the
instance (new user data) keeps its addresses and the floating IP.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Final

import pulumi

from ..monitored_network import NetworkDesign
from ..network_plan import NetworkPlan, Tier
from ..replacement_warning import warn_if_recreated
from ..settings_delivery import openstack_metadata_items
from .discovery import discover_cloud
from .network_args import OpenStackNetworkArgs
from .network_planning import OpenStackNetworkPlan, RulePlan, plan_openstack_network
from .taas_provider import ConnectFn, connect_from_config

with warnings.catch_warnings():
    # pulumi-openstack warns about its own deprecated modules on import; cloudtap uses none.
    warnings.simplefilter("ignore", DeprecationWarning)
    from pulumi_openstack import compute, networking

TYPE_TOKEN: Final = "cloudtap:openstack:MonitoredNetwork"


def plan_monitored_openstack_network(
    args: OpenStackNetworkArgs | Mapping[str, Any] | None,
    connect: ConnectFn | None = None,
) -> OpenStackNetworkPlan:
    """Check the arguments and look the cloud up (``connect``: default clouds.yaml / ``OS_*``);
    registers nothing."""
    return plan_openstack_network(
        args,
        functools.partial(discover_cloud, connect if connect is not None else connect_from_config),
    )


def security_group(
    name: str, description: str, rules: Sequence[RulePlan], parent: pulumi.Resource
) -> networking.SecGroup:
    """A group holding exactly ``rules`` (Neutron's default egress rules deleted)."""
    child = pulumi.ResourceOptions(parent=parent)
    group = networking.SecGroup(
        name, name=name, description=description, delete_default_rules=True, opts=child
    )
    counts: dict[str, int] = {}
    for rule in rules:
        # Numbered per direction: a new published port never renames the egress rules.
        counts[rule.direction] = counts.get(rule.direction, 0) + 1
        networking.SecGroupRule(
            f"{name}-{rule.direction}-{counts[rule.direction]}",
            security_group_id=group.id,
            direction=rule.direction,
            ethertype="IPv4",
            protocol=rule.protocol,
            port_range_min=rule.port,
            port_range_max=rule.port,
            remote_ip_prefix=str(rule.remote),
            description=rule.description,
            opts=child,
        )
    return group


class MonitoredOpenStackNetwork(pulumi.ComponentResource):
    """Four tier networks, a router on the public one, and a gateway instance with one port per
    tier. Children are named ``f"{name}-{tier}"``, ``f"{name}-{tier}-1"`` (subnets) and
    ``f"{name}-gateway-..."``: from the component's name and the tier only."""

    design: NetworkDesign
    plan: NetworkPlan
    planned: OpenStackNetworkPlan
    networks: dict[str, networking.Network]
    """Tier value -> its network; every tier present."""
    subnets: dict[str, list[networking.Subnet]]
    """Tier value -> its subnets (one); every tier present."""
    network_ids: dict[str, pulumi.Output[str]]
    subnet_ids: dict[str, list[pulumi.Output[str]]]
    router: networking.Router
    router_interface: networking.RouterInterface
    gateway_public_security_group: networking.SecGroup
    gateway_management_security_group: networking.SecGroup
    gateway_ports: dict[str, networking.Port]
    """Tier value -> the gateway's port on it."""
    gateway_port_ids: dict[str, pulumi.Output[str]]
    gateway_addresses: dict[str, str]
    """Tier value -> the gateway's fixed address (known at preview)."""
    gateway_instance: compute.Instance
    gateway_disruption: pulumi.Output[list[str]] | None
    """At preview: why this update takes the gateway down (the engine creates its instance anew
    while its public port lives on), empty when it does not; a preview warning says so too. Not set
    outside a preview."""
    floating_ip: networking.FloatingIp
    gateway_public_ip: pulumi.Output[str]
    gateway_user_data: str

    def __init__(
        self,
        name: str,
        args: OpenStackNetworkArgs | None = None,
        opts: pulumi.ResourceOptions | None = None,
        *,
        connect: ConnectFn | None = None,
    ) -> None:
        """``connect``: opens the connection for the preview-time lookups (default: clouds.yaml
        entry ``cloud``, else ``OS_*``)."""
        planned = plan_monitored_openstack_network(args, connect)
        super().__init__(TYPE_TOKEN, name, None, opts)
        self.planned = planned
        self.design = planned.design
        self.plan = planned.plan
        self.gateway_user_data = planned.gateway_user_data
        self._prefix = name
        self._build_networks()
        self._build_router()
        self._build_gateway()
        self.register_outputs(
            {
                "network_ids": self.network_ids,
                "subnet_ids": self.subnet_ids,
                "router_id": self.router.id,
                "gateway_port_ids": self.gateway_port_ids,
                "gateway_addresses": self.gateway_addresses,
                "gateway_instance_id": self.gateway_instance.id,
                "floating_ip_id": self.floating_ip.id,
                "gateway_public_ip": self.gateway_public_ip,
            }
        )

    def _child(self, **kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _build_networks(self) -> None:
        name, planned = self._prefix, self.planned
        self.networks, self.subnets = {}, {}
        for tier in Tier:
            network_name = f"{name}-{tier.value}"
            self.networks[tier.value] = networking.Network(
                network_name,
                name=network_name,
                description=f"cloudtap {name}: {tier.value} tier",
                admin_state_up=True,
                mtu=planned.network_mtu,
                opts=self._child(),
            )
            subnet = planned.subnets[tier]
            subnet_name = f"{network_name}-1"
            self.subnets[tier.value] = [
                networking.Subnet(
                    subnet_name,
                    name=subnet_name,
                    network_id=self.networks[tier.value].id,
                    cidr=str(subnet.cidr),
                    ip_version=4,
                    enable_dhcp=True,
                    gateway_ip=str(subnet.gateway_ip) if subnet.gateway_ip is not None else None,
                    # Out of band: DHCP gives management hosts no default route at all.
                    no_gateway=subnet.gateway_ip is None,
                    allocation_pools=[
                        {"start": str(start), "end": str(end)}
                        for start, end in subnet.allocation_pools
                    ],
                    dns_nameservers=[str(server) for server in planned.dns_nameservers],
                    opts=self._child(),
                )
            ]
        self.network_ids = {tier: network.id for tier, network in self.networks.items()}
        self.subnet_ids = {tier: [s.id for s in subnets] for tier, subnets in self.subnets.items()}

    def _build_router(self) -> None:
        name = self._prefix
        self.router = networking.Router(
            f"{name}-router",
            name=f"{name}-router",
            description=f"cloudtap {name}: the public tier's way to the external network",
            external_network_id=self.planned.facts.external_network_id,
            admin_state_up=True,
            opts=self._child(),
        )
        self.router_interface = networking.RouterInterface(
            f"{name}-router-public",
            router_id=self.router.id,
            subnet_id=self.subnets[Tier.PUBLIC.value][0].id,
            opts=self._child(),
        )

    def _build_gateway(self) -> None:
        name, planned = self._prefix, self.planned
        self.gateway_public_security_group = security_group(
            f"{name}-gateway-public-sg",
            "cloudtap gateway, public port: published ports, SSH from management_cidrs",
            planned.public_rules,
            self,
        )
        self.gateway_management_security_group = security_group(
            f"{name}-gateway-management-sg",
            "cloudtap gateway, management port: SSH from the management tier",
            planned.management_rules,
            self,
        )
        groups = {
            Tier.PUBLIC: self.gateway_public_security_group,
            Tier.MANAGEMENT: self.gateway_management_security_group,
        }
        self.gateway_ports, self.gateway_addresses = {}, {}
        for tier in Tier:
            address = planned.gateway_addresses[tier]
            port_name = f"{name}-gateway-{tier.value}"
            forwards = tier not in groups
            group = groups.get(tier)
            self.gateway_ports[tier.value] = networking.Port(
                port_name,
                name=port_name,
                description=f"cloudtap gateway of {name}: {tier.value} tier",
                network_id=self.networks[tier.value].id,
                fixed_ips=[
                    {"subnet_id": self.subnets[tier.value][0].id, "ip_address": str(address)}
                ],
                admin_state_up=True,
                # See PORT_SECURITY_OFF: these ports forward foreign addresses; nftables filters.
                port_security_enabled=not forwards,
                no_security_groups=True if forwards else None,
                security_group_ids=[group.id] if group is not None else None,
                opts=self._child(),
            )
            self.gateway_addresses[tier.value] = str(address)
        self.gateway_port_ids = {tier: port.id for tier, port in self.gateway_ports.items()}
        public_port = self.gateway_ports[Tier.PUBLIC.value]
        self.floating_ip = networking.FloatingIp(
            f"{name}-gateway-fip",
            pool=planned.facts.external_network_name,
            port_id=public_port.id,
            fixed_ip=self.gateway_addresses[Tier.PUBLIC.value],
            description=f"cloudtap gateway of {name}",
            # Neutron associates a floating IP only with a port its router reaches.
            opts=self._child(depends_on=[self.router_interface]),
        )
        self.gateway_public_ip = self.floating_ip.address
        self.gateway_instance = compute.Instance(
            f"{name}-gateway",
            name=f"{name}-gateway",
            image_id=planned.image.value if planned.image.is_id else None,
            image_name=None if planned.image.is_id else planned.image.value,
            flavor_id=planned.flavor.value if planned.flavor.is_id else None,
            flavor_name=None if planned.flavor.is_id else planned.flavor.value,
            key_pair=planned.key_pair,
            # Public first: the image's first interface is the one it configures first.
            networks=[{"port": self.gateway_ports[tier.value].id} for tier in Tier],
            # Nova writes the user data and the ports' addresses to a config drive, so the boot
            # itself needs no metadata service (only the settings, fetched once it is up).
            config_drive=True,
            # base64(gzip): the provider passes base64 text to Nova as it is.
            user_data=self.planned.gateway_user_data_encoded,
            # The settings: Nova changes metadata in place, and the gateway's cloudtap-settings
            # timer reads it from the metadata service (its public port's router serves it).
            metadata={
                "cloudtap-role": "gateway",
                **openstack_metadata_items(planned.gateway_settings),
            },
            opts=self._child(
                # The boot installs nftables from the internet: its way out exists first.
                depends_on=[self.router_interface, self.floating_ip],
            ),
        )
        self.gateway_disruption = (
            warn_if_recreated(
                self,
                name,
                instance=self.gateway_instance,
                interface=public_port,
                instance_kind="instance",
            )
            if pulumi.runtime.is_dry_run()
            else None
        )
