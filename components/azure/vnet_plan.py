"""Planning of an Azure monitored virtual network: arguments, routes and security rules.

Pure Python (no Pulumi, no Azure SDK): :func:`plan_monitored_vnet` checks ``MonitoredVNetArgs``
and resolves every default into a frozen :class:`MonitoredVNetPlan`; the component in
:mod:`.monitored_vnet` builds from it only, and the lab plans the same network from it.

Azure differs from AWS where the isolation is concerned: its system route for the virtual
network's own address space cannot be deleted, but a user route for a *longer* prefix wins over
it, so each tier's route table sends the prefixes it must not reach to next hop ``None`` (a drop),
and each tier's network security group (NSG) refuses the same traffic — the isolation the AWS
network gets from its network ACLs, said twice. NSGs also need an explicit final deny: Azure's
default ``AllowVnetInBound`` admits the ``VirtualNetwork`` service tag, which grows to cover the
prefixes of user routes, so with a ``0.0.0.0/0`` route to the gateway it would admit everything.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, TypedDict

from ..errors import CloudtapInputError
from ..fields import reject_unknown_fields
from ..mirroring import GENEVE_PORT, VXLAN_PORT
from ..monitored_network import Cloud, NetworkDesign
from ..network_plan import NETWORK_FIELDS, SSH_PORT, NetworkArgs, NetworkPlan, Tier, plan_network
from ..shapes import (
    check_azure_admin_username,
    check_azure_image_part,
    check_azure_image_version,
    check_azure_resource_group_name,
    check_azure_tags,
    check_azure_vm_size,
    check_azure_zones,
    check_ssh_public_key,
)
from .vtap_checks import normalize_location

AZURE_VNET_MTU: Final = 1500
"""What an Azure virtual network carries between VMs: the gateway mirror's copies of full-size
packets (50 bytes bigger) travel as IP fragments."""
DEFAULT_GATEWAY_VM_SIZE: Final = "Standard_B2s"
"""2 vCPUs, 4 GiB, burstable: a NAT gateway for a small network (~1 Gbit/s expected)."""
DEFAULT_ADMIN_USERNAME: Final = "cloudtap"
GATEWAY_HOST_OFFSET: Final = 10
"""The gateway's static address: the public subnet's .10 (Azure keeps .0 to .3 of every subnet)."""
DEFAULT_ZONE_COUNT: Final = 1
"""Azure subnets span the zones of their region: one subnet per tier, whatever the zones."""
LOCATION_KEY: Final = "azure-native:location"


class ImageArgs(TypedDict, total=False):
    """A marketplace image. Every field is optional; defaults: Canonical's Ubuntu 24.04 LTS."""

    publisher: str
    """Default ``Canonical``."""
    offer: str
    """Default ``ubuntu-24_04-lts``."""
    sku: str
    """Default ``server`` (generation 2)."""
    version: str
    """Default ``latest``: the newest image when the VM is created (Azure resolves it then; a
    newer image later does not replace a running VM). Pin a version to control it."""


DEFAULT_IMAGE: Final[Mapping[str, str]] = {
    "publisher": "Canonical",
    "offer": "ubuntu-24_04-lts",
    "sku": "server",
    "version": "latest",
}
IMAGE_FIELDS: Final = frozenset(ImageArgs.__annotations__)


class MonitoredVNetArgs(NetworkArgs, total=False):
    """Arguments of ``MonitoredVNet``: the cloud-neutral ``NetworkArgs`` plus Azure fields.

    Every field is optional. ``availability_zone_count`` may only be 1 and ``subnet_cidrs`` has
    one CIDR per tier: an Azure subnet spans every zone of its region (``zones`` places VMs).
    """

    resource_group_name: str
    """An existing resource group to build in. Default: a group ``{name}-rg`` is created."""
    location: str
    """Azure region (``westeurope``, or ``West Europe``). Default: the provider's
    ``azure-native:location``; without either the preview fails."""
    zones: Sequence[str]
    """Availability zones for the VMs (``"1"``, ``"2"``, ``"3"``): the gateway and its public IP
    go in the first, a sensor in the first unless told otherwise. Default: none (regional VMs,
    for regions without zones)."""
    gateway_vm_size: str
    """VM size of the gateway. Default ``Standard_B2s``. Shape-checked; whether the region offers
    it is Azure's to say at ``up``."""
    gateway_image: ImageArgs
    """Marketplace image of the gateway (a Debian-family image with cloud-init and nftables).
    Default: Canonical's Ubuntu 24.04 LTS, ``latest``."""
    admin_username: str
    """The VMs' Linux admin user. Default ``cloudtap``. Password authentication is always off."""
    ssh_public_key: str
    """OpenSSH public key (``ssh-ed25519 ...`` or ``ssh-rsa ...``) for the admin user. Default:
    an Ed25519 key cloudtap generates once and keeps in the stack's state, its private half a
    secret output. Azure requires a key even when SSH stays closed (no ``management_cidrs``):
    the serial console and run-command still reach the VMs."""
    encryption_at_host: bool
    """Encrypt the VMs' temporary disks and caches on the host too. Default ``false``: disks are
    encrypted at rest with platform-managed keys (Azure's server-side encryption, always on).
    ``true`` needs the subscription's ``Microsoft.Compute/EncryptionAtHost`` feature."""
    tags: Mapping[str, str]
    """Tags of every resource. Default: none. Azure's rule: names of 1-512 characters without
    ``< > % & \\ ? /``, values of at most 256, at most 50 tags."""


FIELDS: Final = frozenset(MonitoredVNetArgs.__annotations__)
AZURE_NETWORK_FIELDS: Final = FIELDS - NETWORK_FIELDS
"""What ``MonitoredVNetArgs`` takes beyond ``NetworkArgs`` (the lab names them, unmodelled)."""


@dataclass(frozen=True)
class Image:
    publisher: str
    offer: str
    sku: str
    version: str


@dataclass(frozen=True)
class AzureOptions:
    """The Azure fields, checked."""

    resource_group_name: str | None
    location: str
    zones: tuple[str, ...]
    gateway_vm_size: str
    gateway_image: Image
    admin_username: str
    ssh_public_key: str | None
    encryption_at_host: bool
    tags: Mapping[str, str]


class NextHop(StrEnum):
    """The next-hop types cloudtap's user routes use."""

    VIRTUAL_APPLIANCE = "VirtualAppliance"
    """The gateway VM's address: its NIC forwards (IP forwarding on)."""
    NONE = "None"
    """Drop: the isolation of a tier from another, and the management tier's only way out."""


@dataclass(frozen=True)
class PlannedRoute:
    name: str
    """Stable within its table: part of the ARM name."""
    address_prefix: str
    next_hop: NextHop
    next_hop_ip_address: str | None = None


class Access(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


class Direction(StrEnum):
    INBOUND = "Inbound"
    OUTBOUND = "Outbound"


@dataclass(frozen=True)
class SecurityRule:
    """One NSG rule, in ARM's terms. ``*`` is any address, port or protocol."""

    name: str
    priority: int
    """100-4096, lowest first; fixed per rule kind so adding a rule never renumbers another."""
    direction: Direction
    access: Access
    protocol: str
    """``Tcp``, ``Udp`` or ``*`` (Azure's NSGs know no GRE: the network does not carry it)."""
    sources: tuple[str, ...]
    destinations: tuple[str, ...]
    destination_port: str
    description: str


ANY: Final = "*"
LAST_PRIORITY: Final = 4096
"""The lowest-priority rule a user may write: the explicit deny that replaces Azure's defaults."""


@dataclass(frozen=True)
class MonitoredVNetPlan:
    """A monitored virtual network as planned, before any resource."""

    design: NetworkDesign
    options: AzureOptions
    gateway_private_ip: ipaddress.IPv4Address
    route_tables: Mapping[Tier, tuple[PlannedRoute, ...]]
    """Private, monitor and management tiers (the public tier keeps Azure's system routes)."""
    security_rules: Mapping[Tier, tuple[SecurityRule, ...]]
    """Every tier's subnet NSG."""

    @property
    def plan(self) -> NetworkPlan:
        return self.design.plan


def _mapping(field: str, value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CloudtapInputError(field, value, what)
    return value


def _bool(field: str, value: Any, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise CloudtapInputError(field, value, "true or false")
    return value


def parse_image(field: str, value: Any) -> Image:
    """A marketplace image; every part defaults to Ubuntu 24.04 LTS's."""
    raw = _mapping(
        field, value if value is not None else {}, "a mapping of publisher, offer, sku, version"
    )
    reject_unknown_fields(raw, IMAGE_FIELDS, field)
    parts = {key: raw.get(key, DEFAULT_IMAGE[key]) for key in DEFAULT_IMAGE}
    for key in ("publisher", "offer", "sku"):
        check_azure_image_part(f"{field}.{key}", parts[key])
    check_azure_image_version(f"{field}.version", parts["version"])
    return Image(**parts)


def parse_location(value: Any, default_location: str | None) -> str:
    if value is None:
        if default_location is None:
            raise CloudtapInputError(
                "location",
                None,
                f"an Azure region, e.g. westeurope: give location or set {LOCATION_KEY} "
                f"(`pulumi config set {LOCATION_KEY} westeurope`)",
            )
        return normalize_location(LOCATION_KEY, default_location)
    return normalize_location("location", value)


def _network_plan(raw: Mapping[str, Any]) -> NetworkPlan:
    count = raw.get("availability_zone_count", DEFAULT_ZONE_COUNT)
    if count != DEFAULT_ZONE_COUNT or isinstance(count, bool):
        raise CloudtapInputError(
            "availability_zone_count",
            count,
            "1 (or nothing): an Azure subnet spans every zone of its region, so each tier has "
            "one subnet; place the VMs with zones",
        )
    fields = {key: raw[key] for key in raw if key in NETWORK_FIELDS}
    fields["availability_zone_count"] = DEFAULT_ZONE_COUNT
    return plan_network(fields)


def plan_network_of(raw: Mapping[str, Any]) -> NetworkPlan:
    """Only the cloud-neutral addressing of ``MonitoredVNetArgs`` (what the lab builds)."""
    reject_unknown_fields(raw, FIELDS, "")
    return _network_plan(raw)


def plan_monitored_vnet(
    args: MonitoredVNetArgs | Mapping[str, Any] | None, *, default_location: str | None
) -> MonitoredVNetPlan:
    """Check ``MonitoredVNetArgs`` and resolve every default; registers nothing.

    ``default_location``: the provider's ``azure-native:location`` (``None`` when unset).
    """
    raw: Any = args if args is not None else {}
    if not isinstance(raw, Mapping):
        raise CloudtapInputError("args", raw, "a mapping of MonitoredVNetArgs fields")
    reject_unknown_fields(raw, FIELDS, "")
    plan = _network_plan(raw)
    group = raw.get("resource_group_name")
    key = raw.get("ssh_public_key")
    options = AzureOptions(
        resource_group_name=(
            check_azure_resource_group_name("resource_group_name", group)
            if group is not None
            else None
        ),
        location=parse_location(raw.get("location"), default_location),
        zones=check_azure_zones("zones", raw.get("zones")),
        gateway_vm_size=check_azure_vm_size(
            "gateway_vm_size", raw.get("gateway_vm_size", DEFAULT_GATEWAY_VM_SIZE)
        ),
        gateway_image=parse_image("gateway_image", raw.get("gateway_image")),
        admin_username=check_azure_admin_username(
            "admin_username", raw.get("admin_username", DEFAULT_ADMIN_USERNAME)
        ),
        ssh_public_key=check_ssh_public_key("ssh_public_key", key) if key is not None else None,
        encryption_at_host=_bool("encryption_at_host", raw.get("encryption_at_host"), False),
        tags=check_azure_tags("tags", raw.get("tags")),
    )
    gateway = plan.subnets[Tier.PUBLIC][0].network_address + GATEWAY_HOST_OFFSET
    return MonitoredVNetPlan(
        design=NetworkDesign(cloud=Cloud.AZURE, plan=plan, underlay_mtu=AZURE_VNET_MTU),
        options=options,
        gateway_private_ip=gateway,
        route_tables=plan_route_tables(plan, gateway),
        security_rules={tier: subnet_security_rules(plan, tier, gateway) for tier in Tier},
    )


# -- routes -------------------------------------------------------------------------------------

ANYWHERE: Final = "0.0.0.0/0"
# Tiers each tier must never reach, by a None route and by its NSG (the AWS network's ACLs).
ISOLATED_FROM: Final[Mapping[Tier, tuple[Tier, ...]]] = {
    Tier.PUBLIC: (),
    Tier.PRIVATE: (Tier.MONITOR, Tier.MANAGEMENT),
    Tier.MONITOR: (Tier.PRIVATE,),
    Tier.MANAGEMENT: (Tier.PRIVATE,),
}


def plan_route_tables(
    plan: NetworkPlan, gateway: ipaddress.IPv4Address
) -> dict[Tier, tuple[PlannedRoute, ...]]:
    """Private and monitor: everything else through the gateway; management: nowhere outside.
    Each drops (next hop ``None``) the prefixes of the tiers it is isolated from."""
    tables: dict[Tier, tuple[PlannedRoute, ...]] = {}
    for tier in (Tier.PRIVATE, Tier.MONITOR, Tier.MANAGEMENT):
        if tier is Tier.MANAGEMENT:
            routes = [PlannedRoute("default-none", ANYWHERE, NextHop.NONE)]
        else:
            routes = [
                PlannedRoute("default-gateway", ANYWHERE, NextHop.VIRTUAL_APPLIANCE, str(gateway))
            ]
        for other in ISOLATED_FROM[tier]:
            routes += [
                PlannedRoute(f"no-{other.value}-{zone + 1}", str(cidr), NextHop.NONE)
                for zone, cidr in enumerate(plan.subnets[other])
            ]
        tables[tier] = tuple(routes)
    return tables


# -- network security groups --------------------------------------------------------------------

# Priorities per rule kind (lowest wins).
_FEED_PRIORITY = 100
_DENY_ISOLATED_PRIORITY = 200
_FORWARDED_PRIORITY = 300
_SSH_PRIORITY = 400
_PORT_FORWARD_PRIORITY = 1000
_NETWORK_PRIORITY = 3000


def _cidrs(plan: NetworkPlan, *tiers: Tier) -> tuple[str, ...]:
    return tuple(str(cidr) for cidr in plan.cidrs(*tiers))


def _deny_all(direction: Direction) -> SecurityRule:
    return SecurityRule(
        f"deny-all-{direction.value.lower()}",
        LAST_PRIORITY,
        direction,
        Access.DENY,
        ANY,
        (ANY,),
        (ANY,),
        ANY,
        "cloudtap: nothing else (Azure's AllowVnetInBound would admit every user-route prefix)",
    )


def subnet_security_rules(
    plan: NetworkPlan, tier: Tier, gateway: ipaddress.IPv4Address
) -> tuple[SecurityRule, ...]:
    """The NSG of a tier's subnet: what may come in, and what may not go out."""
    network = (str(plan.cidr_block),)
    rules: list[SecurityRule] = []
    isolated = ISOLATED_FROM[tier]
    if tier is Tier.MONITOR:
        # The feeds: virtual network TAP copies of private hosts and the gateway's own copies.
        rules.append(
            SecurityRule(
                "mirror-feed-vxlan",
                _FEED_PRIORITY,
                Direction.INBOUND,
                Access.ALLOW,
                "Udp",
                _cidrs(plan, Tier.PRIVATE, Tier.PUBLIC),
                _cidrs(plan, Tier.MONITOR),
                str(VXLAN_PORT),
                "cloudtap: the mirror feed (VXLAN) from the TAP sources and the gateway",
            )
        )
    if isolated:
        others = _cidrs(plan, *isolated)
        names = "-".join(other.value for other in isolated)
        rules += [
            SecurityRule(
                f"deny-from-{names}",
                _DENY_ISOLATED_PRIORITY,
                Direction.INBOUND,
                Access.DENY,
                ANY,
                others,
                (ANY,),
                ANY,
                f"cloudtap: the {tier.value} tier is isolated from {', '.join(isolated)}",
            ),
            SecurityRule(
                f"deny-to-{names}",
                _DENY_ISOLATED_PRIORITY,
                Direction.OUTBOUND,
                Access.DENY,
                ANY,
                (ANY,),
                others,
                ANY,
                f"cloudtap: the {tier.value} tier is isolated from {', '.join(isolated)}",
            ),
        ]
    if tier is Tier.PUBLIC:
        rules.append(
            SecurityRule(
                "forwarded-tiers",
                _FORWARDED_PRIORITY,
                Direction.INBOUND,
                Access.ALLOW,
                ANY,
                _cidrs(plan, Tier.PRIVATE, Tier.MONITOR),
                (ANY,),
                ANY,
                "cloudtap: traffic routed through the gateway (private and monitor tiers)",
            )
        )
        rules += [
            SecurityRule(
                f"forward-{forward.protocol.value}-{forward.public_port}",
                _PORT_FORWARD_PRIORITY + index,
                Direction.INBOUND,
                Access.ALLOW,
                forward.protocol.value.capitalize(),
                (ANY,),
                (str(gateway),),
                str(forward.public_port),
                f"cloudtap: published {forward.protocol.value}/{forward.public_port}",
            )
            for index, forward in enumerate(plan.port_forwards)
        ]
    if tier is Tier.PRIVATE:
        # Forwarded connections keep the client's address: the server sees them from anywhere.
        rules += [
            SecurityRule(
                f"forwarded-{forward.protocol.value}-{forward.public_port}",
                _PORT_FORWARD_PRIORITY + index,
                Direction.INBOUND,
                Access.ALLOW,
                forward.protocol.value.capitalize(),
                (ANY,),
                (str(forward.private_host),),
                str(forward.private_port),
                f"cloudtap: {forward.protocol.value}/{forward.public_port} via the gateway",
            )
            for index, forward in enumerate(plan.port_forwards)
        ]
    if plan.management_cidrs and tier in (Tier.PUBLIC, Tier.MONITOR):
        rules.append(
            SecurityRule(
                "ssh-from-management",
                _SSH_PRIORITY,
                Direction.INBOUND,
                Access.ALLOW,
                "Tcp",
                tuple(str(cidr) for cidr in plan.management_cidrs),
                (ANY,),
                str(SSH_PORT),
                "cloudtap: SSH from management_cidrs",
            )
        )
    if tier is not Tier.PUBLIC:
        # SSH from inside the network is no exception: only management_cidrs reach port 22.
        rules.append(
            SecurityRule(
                "from-network",
                _NETWORK_PRIORITY,
                Direction.INBOUND,
                Access.ALLOW,
                ANY,
                network,
                (ANY,),
                ANY,
                "cloudtap: the rest of the network (the isolated tiers are denied above)",
            )
        )
    rules.append(_deny_all(Direction.INBOUND))
    return tuple(rules)


def sensor_security_rules(
    feeds: Sequence[str],
    feed_sources: Sequence[ipaddress.IPv4Network],
    management_cidrs: Sequence[ipaddress.IPv4Network],
) -> tuple[SecurityRule, ...]:
    """The sensor NIC's NSG: its VXLAN and GENEVE feeds from ``feed_sources``, SSH from
    management, nothing else. GRE and ERSPAN feeds have no rule: Azure's virtual networks do not
    carry GRE, and NSGs cannot name it."""
    sources = tuple(str(cidr) for cidr in feed_sources)
    rules = [
        SecurityRule(
            f"feed-{feed}",
            _FEED_PRIORITY + index,
            Direction.INBOUND,
            Access.ALLOW,
            "Udp",
            sources,
            (ANY,),
            str(port),
            f"cloudtap: {feed} feeds",
        )
        for index, (feed, port) in enumerate(
            (feed, port)
            for feed, port in (("vxlan", VXLAN_PORT), ("geneve", GENEVE_PORT))
            if feed in feeds
        )
    ]
    if management_cidrs:
        rules.append(
            SecurityRule(
                "ssh-from-management",
                _SSH_PRIORITY,
                Direction.INBOUND,
                Access.ALLOW,
                "Tcp",
                tuple(str(cidr) for cidr in management_cidrs),
                (ANY,),
                str(SSH_PORT),
                "cloudtap: SSH from management_cidrs",
            )
        )
    rules.append(_deny_all(Direction.INBOUND))
    return tuple(rules)
