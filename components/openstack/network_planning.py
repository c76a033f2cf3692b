"""Planning of the OpenStack monitored network: arguments checked, addresses pinned, DHCP pools,
security-group rules and the gateway's user data resolved; registers nothing.

Pure Python: no pulumi-openstack and no openstacksdk. The one preview-time cloud lookup (the
external network, the tenant networks' MTU, the extensions:
:func:`components.openstack.discovery.discover_cloud`) comes in as a parameter.

The shape is the seeds' (a multi-homed gateway with one port per tier):

- public: the only network with a Neutron router (its gateway the external network); the
  router takes the subnet's first address, the gateway's port the subnet's .10, with the
  floating IP.
- private, monitor: DHCP hands out the gateway's port (the subnet's first address) as the
  default gateway, so workloads and sensors route through it with no change.
- management: no gateway at all (out of band); the gateway's port there only talks SSH.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ..errors import CloudtapInputError
from ..fields import parse_int, reject_unknown_fields
from ..gateway import render_boot_cloud_config, render_settings
from ..mirroring import GatewayMirrorMode, default_sensor_address
from ..monitored_network import Cloud, NetworkDesign
from ..network_plan import NETWORK_FIELDS as NEUTRAL_FIELDS
from ..network_plan import SSH_PORT, NetworkPlan, Tier, plan_network
from ..os_family import OsFamily, parse_os_family
from ..settings_delivery import SettingsSource
from ..shapes import check_text, is_uuid
from ..user_data import OWN_BOOT_FILES, compressed_user_data
from .discovery import CloudFacts
from .network_args import NETWORK_FIELDS
from .taas_checks import parse_cloud

CloudLookup = Callable[[str | None, str], CloudFacts]
"""``(cloud, external_network) -> CloudFacts``: the preview-time lookup."""

DEFAULT_OS_FAMILY: Final = OsFamily.DEBIAN
"""Ubuntu is the image most OpenStack clouds offer, and its kernels (5.15+) run both mirror
modes; the seeds' CentOS 7 is end of life, and RHEL 9's 5.14 lacks the netdev egress hook that
the VXLAN mirror needs (tee works there)."""
VXLAN_TENANT_MTU: Final = 1450
"""Neutron's MTU for a VXLAN tenant network over a 1500-byte underlay (1500 - 50): the default
when the project has no internal network to read it from."""
MTU_MIN: Final = 1280
MTU_MAX: Final = 9000
GATEWAY_PUBLIC_OFFSET: Final = 10
"""The gateway's public port takes the public subnet's .10; the router its first address."""
GATEWAY_INNER_OFFSET: Final = 1
"""On the private, monitor and management subnets the gateway takes the first address (the
seeds' 192.168.3.1): the DHCP default gateway of the private and monitor tiers."""
NAME_MAX_LENGTH: Final = 255
"""Neutron, Nova and Glance names are at most 255 characters."""
ANYWHERE: Final = ipaddress.IPv4Network("0.0.0.0/0")
PORT_SECURITY_OFF: Final = frozenset({Tier.PRIVATE, Tier.MONITOR})
"""The gateway's ports that forward foreign addresses: what private hosts send to the internet
(and its replies), what sensors send, and the tee clones (the copied packet's own addresses,
delivered to the sensor's MAC). Port security would drop them all. Allowed address pairs of
0.0.0.0/0 would let them through too, but keep a security group in the path of every forwarded
packet (a second stateful firewall, conntrack entries for every flow, rules to keep in step
with nftables) for no protection the gateway's nftables does not give: the public and
management ports, which carry only the gateway's own addresses, keep port security and a
security group instead."""


@dataclass(frozen=True)
class ImageRef:
    """An image or flavor as given: by id (a UUID) or by name."""

    value: str
    is_id: bool


@dataclass(frozen=True)
class SubnetPlan:
    tier: Tier
    cidr: ipaddress.IPv4Network
    gateway_ip: ipaddress.IPv4Address | None
    """What DHCP hands out as the default gateway; ``None``: no gateway (management)."""
    allocation_pools: tuple[tuple[ipaddress.IPv4Address, ipaddress.IPv4Address], ...]
    """DHCP's ranges: every usable address but those cloudtap pins (the gateway's ports, the
    router, the sensor's default address, port forwards' servers), so DHCP never hands one of
    them to another port first."""


@dataclass(frozen=True)
class RulePlan:
    """One ingress or egress rule of a security group."""

    direction: str
    """``"ingress"`` or ``"egress"``."""
    protocol: str | None
    """``"tcp"``, ``"udp"``, ``"icmp"``; ``None`` for every protocol."""
    port: int | None
    remote: ipaddress.IPv4Network
    description: str


@dataclass(frozen=True)
class OpenStackNetworkPlan:
    """An OpenStack monitored network as planned, before any resource."""

    design: NetworkDesign
    facts: CloudFacts
    image: ImageRef
    flavor: ImageRef
    key_pair: str | None
    dns_nameservers: tuple[ipaddress.IPv4Address, ...]
    network_mtu: int | None
    """The MTU cloudtap sets on its networks; ``None``: Neutron's default (read into
    ``design.underlay_mtu``)."""
    os_family: OsFamily
    cloud: str | None
    subnets: Mapping[Tier, SubnetPlan]
    gateway_addresses: Mapping[Tier, ipaddress.IPv4Address]
    public_rules: tuple[RulePlan, ...]
    management_rules: tuple[RulePlan, ...]
    gateway_user_data: str
    """Scripts and units only, the same whatever the settings."""
    gateway_user_data_encoded: str
    """What Nova gets: base64(gzip(:attr:`gateway_user_data`)), checked against its limit."""
    gateway_settings: str
    """The settings file, delivered in the instance's Nova metadata (changed in place)."""

    @property
    def plan(self) -> NetworkPlan:
        return self.design.plan


def parse_name_or_id(field: str, value: Any, what: str) -> ImageRef:
    """A Glance image or Nova flavor: a UUID is an id, anything else a name (no control
    characters: it reaches an API call, never a file on an instance)."""
    if value is None:
        raise CloudtapInputError(field, None, f"{what}, by name or id")
    text = check_text(
        field,
        value,
        min_length=1,
        max_length=NAME_MAX_LENGTH,
        expected=f"{what}, by name or id (1-{NAME_MAX_LENGTH} characters)",
    )
    return ImageRef(text, is_uuid(text))


def parse_os_family_on_openstack(field: str, value: Any) -> OsFamily:
    family = parse_os_family(field, value) if value is not None else DEFAULT_OS_FAMILY
    if family is OsFamily.AMAZON_LINUX:
        raise CloudtapInputError(
            field, value, "debian or rhel: Amazon Linux images exist on AWS only"
        )
    return family


def _sequence(field: str, value: Any) -> Sequence[Any]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise CloudtapInputError(field, value, "a list")
    return value


def _nameserver(field: str, value: Any) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(value)
    except (ValueError, TypeError):
        raise CloudtapInputError(field, value, "an IPv4 address such as 9.9.9.9") from None


def choose_underlay_mtu(network_mtu: int | None, internal_mtus: Sequence[int]) -> int:
    """What the networks will carry: the MTU asked for; else the smallest MTU of the project's
    internal networks (a new one gets the default of its type, and the smallest is the safe
    bet); else :data:`VXLAN_TENANT_MTU`."""
    if network_mtu is not None:
        return network_mtu
    return min(internal_mtus) if internal_mtus else VXLAN_TENANT_MTU


def _offset(cidr: ipaddress.IPv4Network, offset: int) -> ipaddress.IPv4Address:
    return cidr.network_address + offset


def allocation_pools(
    cidr: ipaddress.IPv4Network, pinned: Sequence[ipaddress.IPv4Address]
) -> tuple[tuple[ipaddress.IPv4Address, ipaddress.IPv4Address], ...]:
    """The usable addresses of ``cidr`` (network and broadcast excluded) without ``pinned``, as
    inclusive ranges in order."""
    taken = {int(address) for address in pinned}
    pools: list[tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]] = []
    start: int | None = None
    first, last = int(cidr.network_address) + 1, int(cidr.broadcast_address) - 1
    for value in range(first, last + 2):
        free = value <= last and value not in taken
        if free and start is None:
            start = value
        elif not free and start is not None:
            pools.append((ipaddress.IPv4Address(start), ipaddress.IPv4Address(value - 1)))
            start = None
    return tuple(pools)


def _gateway_addresses(plan: NetworkPlan) -> dict[Tier, ipaddress.IPv4Address]:
    return {
        tier: _offset(
            plan.subnets[tier][0],
            GATEWAY_PUBLIC_OFFSET if tier is Tier.PUBLIC else GATEWAY_INNER_OFFSET,
        )
        for tier in Tier
    }


def _subnets(
    plan: NetworkPlan, gateway: Mapping[Tier, ipaddress.IPv4Address]
) -> dict[Tier, SubnetPlan]:
    monitor = plan.subnets[Tier.MONITOR][0]
    pinned: dict[Tier, list[ipaddress.IPv4Address]] = {tier: [gateway[tier]] for tier in Tier}
    router = _offset(plan.subnets[Tier.PUBLIC][0], 1)
    pinned[Tier.PUBLIC].append(router)
    pinned[Tier.MONITOR].append(default_sensor_address(monitor))
    if plan.gateway_mirror is not None:
        pinned[Tier.MONITOR].append(plan.gateway_mirror.sensor_address)
    pinned[Tier.PRIVATE] += [forward.private_host for forward in plan.port_forwards]
    dhcp_gateway = {
        Tier.PUBLIC: router,
        Tier.PRIVATE: gateway[Tier.PRIVATE],
        Tier.MONITOR: gateway[Tier.MONITOR],
        Tier.MANAGEMENT: None,
    }
    return {
        tier: SubnetPlan(
            tier,
            plan.subnets[tier][0],
            dhcp_gateway[tier],
            allocation_pools(plan.subnets[tier][0], pinned[tier]),
        )
        for tier in Tier
    }


def public_port_rules(plan: NetworkPlan) -> tuple[RulePlan, ...]:
    """The gateway's public port: the published ports from anywhere, SSH only from
    ``management_cidrs``, everything out (masqueraded traffic leaves with its address)."""
    rules = [
        RulePlan(
            "ingress",
            forward.protocol.value,
            forward.public_port,
            ANYWHERE,
            f"cloudtap: published {forward.protocol.value}/{forward.public_port}",
        )
        for forward in plan.port_forwards
    ]
    rules += [
        RulePlan("ingress", "tcp", SSH_PORT, cidr, "cloudtap: SSH from management_cidrs")
        for cidr in plan.management_cidrs
    ]
    rules.append(RulePlan("egress", None, None, ANYWHERE, "cloudtap: the gateway's way out"))
    return tuple(rules)


def management_port_rules(plan: NetworkPlan, what: str) -> tuple[RulePlan, ...]:
    """A port on the management tier (the gateway's, a sensor's): SSH from that tier, answers
    to it, nothing else."""
    rules: list[RulePlan] = []
    for cidr in plan.cidrs(Tier.MANAGEMENT):
        rules.append(RulePlan("ingress", "tcp", SSH_PORT, cidr, f"cloudtap: SSH to {what}"))
        rules.append(RulePlan("egress", None, None, cidr, "cloudtap: management tier only"))
    return tuple(rules)


def neutral_network_args(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The ``NetworkArgs`` part of ``raw`` with OpenStack's defaults: one zone, tee clones."""
    neutral = {key: raw[key] for key in raw if key in NEUTRAL_FIELDS}
    if neutral.get("availability_zone_count", 1) != 1:
        raise CloudtapInputError(
            "availability_zone_count",
            neutral["availability_zone_count"],
            "1 (or no value): a Neutron network spans the cloud's zones, so each tier is one "
            "network with one subnet",
        )
    neutral["availability_zone_count"] = 1
    mirror = neutral.get("gateway_mirror")
    if isinstance(mirror, Mapping) and "mode" not in mirror:
        # The sensor's monitor port is on the gateway's monitor segment (the address must be in
        # the monitor subnet) with port security off (OpenStackSensor turns it off): the seeds'
        # plain clones reach it, and they are as big as what they copy, where VXLAN's 50 extra
        # bytes would fragment every full-size copy on a 1450-byte tenant network.
        neutral["gateway_mirror"] = {**mirror, "mode": GatewayMirrorMode.TEE.value}
    return neutral


def plan_openstack_network(
    args: Mapping[str, Any] | None, lookup: CloudLookup
) -> OpenStackNetworkPlan:
    """Check ``OpenStackNetworkArgs`` and resolve every default (one cloud lookup); registers
    nothing."""
    raw: Any = args if args is not None else {}
    if not isinstance(raw, Mapping):
        raise CloudtapInputError("args", raw, "a mapping of OpenStackNetworkArgs fields")
    reject_unknown_fields(raw, NETWORK_FIELDS, "")
    plan = plan_network(neutral_network_args(raw))
    image = parse_name_or_id("image", raw.get("image"), "the gateway's Glance image")
    flavor = parse_name_or_id("flavor", raw.get("flavor"), "the gateway's Nova flavor")
    key_pair = None
    if raw.get("key_pair") is not None:
        key_pair = check_text(
            "key_pair",
            raw["key_pair"],
            min_length=1,
            max_length=NAME_MAX_LENGTH,
            expected="the name of a Nova key pair (1-255 characters)",
        )
    nameservers = tuple(
        _nameserver(f"dns_nameservers[{index}]", value)
        for index, value in enumerate(_sequence("dns_nameservers", raw.get("dns_nameservers")))
    )
    network_mtu = (
        parse_int("network_mtu", raw["network_mtu"], MTU_MIN, MTU_MAX)
        if raw.get("network_mtu") is not None
        else None
    )
    os_family = parse_os_family_on_openstack("gateway_os_family", raw.get("gateway_os_family"))
    cloud = parse_cloud("cloud", raw["cloud"]) if raw.get("cloud") is not None else None
    if raw.get("external_network") is None:
        raise CloudtapInputError(
            "external_network", None, "the name or id of the cloud's external network"
        )
    external = check_text(
        "external_network",
        raw["external_network"],
        min_length=1,
        max_length=NAME_MAX_LENGTH,
        expected="the name or id of the cloud's external network (1-255 characters)",
    )
    # The one cloud call, after every check that needs none.
    facts = lookup(cloud, external)
    underlay = choose_underlay_mtu(network_mtu, facts.internal_network_mtus)
    gateway = _gateway_addresses(plan)
    boot = gateway_user_data(os_family)
    return OpenStackNetworkPlan(
        design=NetworkDesign(cloud=Cloud.OPENSTACK, plan=plan, underlay_mtu=underlay),
        facts=facts,
        image=image,
        flavor=flavor,
        key_pair=key_pair,
        dns_nameservers=nameservers,
        network_mtu=network_mtu,
        os_family=os_family,
        cloud=cloud,
        subnets=_subnets(plan, gateway),
        gateway_addresses=gateway,
        public_rules=public_port_rules(plan),
        management_rules=management_port_rules(plan, "the gateway"),
        gateway_user_data=boot,
        # Nothing in the stack makes the gateway's boot grow: over the limit is cloudtap's own.
        gateway_user_data_encoded=compressed_user_data(
            "openstack", "gateway", boot, *OWN_BOOT_FILES
        ),
        gateway_settings=render_settings(plan, underlay_mtu=underlay),
    )


def gateway_user_data(os_family: OsFamily) -> str:
    """The gateway's user data: scripts and units, its settings read from the instance's Nova
    metadata, which changes in place (no new instance, no reboot)."""
    return render_boot_cloud_config(source=SettingsSource.openstack_metadata(), os_family=os_family)
