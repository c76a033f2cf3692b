"""Firewall tables of a monitored VPC, computed from the plan (pure Python, no cloud SDK).

AWS always routes a VPC's own CIDR locally and that route cannot be removed, so "the monitor and
management tiers have no route into the private tier" is enforced with network ACLs on those
tiers' subnets. The gateway's security group admits only what the gateway serves or forwards; a
sensor's admits only its feeds, from the networks allowed to send them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from ..mirroring import GENEVE_PORT, VXLAN_PORT, Encapsulation
from ..network_plan import SSH_PORT, NetworkPlan, Tier
from ..sensor import SensorPlan

ANYWHERE = "0.0.0.0/0"
ALL_PROTOCOLS = "-1"
# Mirror feeds into the monitor tier: AWS Traffic Mirroring and the gateway's own copies arrive
# as VXLAN; Gateway Load Balancer targets deliver GENEVE.
MIRROR_PORTS = (VXLAN_PORT, GENEVE_PORT)

# NACL rule numbers: fixed per rule kind plus the private subnet's zone index (at most 16 zones),
# so adding a zone adds rules and never renumbers an existing one. Lowest number wins.
_MIRROR_RULE_BASE = {VXLAN_PORT: 100, GENEVE_PORT: 200}
# The gateway mirror's VXLAN copies come from the gateway's interface in the first public subnet.
GATEWAY_FEED_RULE_NO = 50
_DENY_PRIVATE_RULE_BASE = 300
ALLOW_REST_RULE_NO = 1000
# Default quota: 20 rules per direction per NACL (adjustable to 40). Ingress on the monitor tier
# uses 3 per private subnet + 1, + 1 with the gateway mirror: 20 with the 6 zones of the largest
# AWS region.


@dataclass(frozen=True)
class NaclRule:
    """One entry of a network ACL (the same fields as ``aws.ec2.NetworkAcl`` ingress/egress)."""

    rule_no: int
    action: str
    protocol: str
    cidr_block: str
    from_port: int = 0
    to_port: int = 0


@dataclass(frozen=True)
class NaclTable:
    ingress: tuple[NaclRule, ...]
    egress: tuple[NaclRule, ...]


@dataclass(frozen=True)
class SecurityGroupRule:
    """One ``aws.ec2.SecurityGroup`` ingress/egress entry."""

    protocol: str
    from_port: int
    to_port: int
    cidr_blocks: tuple[str, ...]
    description: str


def isolation_nacl(
    plan: NetworkPlan, tier: Tier, gateway_subnets: Sequence[ipaddress.IPv4Network] = ()
) -> NaclTable:
    """Deny the private tier both ways; the monitor tier still receives the mirror feeds from it.

    With the gateway mirror on, the monitor tier also names the gateway's VXLAN feed (UDP 4789
    from the first public subnet, where the gateway's interface lives, or from each of
    ``gateway_subnets`` with a gateway per zone) explicitly, so the feed
    survives any later tightening of the catch-all rule. Stateless rules: the VXLAN/GENEVE
    feed is one-way, so no reply path is opened.
    """
    if tier not in (Tier.MONITOR, Tier.MANAGEMENT):
        raise ValueError(f"isolation NACLs are for the monitor and management tiers, not {tier}")
    private = [str(cidr) for cidr in plan.cidrs(Tier.PRIVATE)]
    ingress: list[NaclRule] = []
    if tier is Tier.MONITOR and plan.gateway_mirror is not None:
        senders = tuple(gateway_subnets) or (plan.subnets[Tier.PUBLIC][0],)
        ingress += [
            NaclRule(GATEWAY_FEED_RULE_NO + zone, "allow", "udp", str(cidr), VXLAN_PORT, VXLAN_PORT)
            for zone, cidr in enumerate(senders)
        ]
    if tier is Tier.MONITOR:
        ingress += [
            NaclRule(_MIRROR_RULE_BASE[port] + zone, "allow", "udp", cidr, port, port)
            for port in MIRROR_PORTS
            for zone, cidr in enumerate(private)
        ]
    deny = [
        NaclRule(_DENY_PRIVATE_RULE_BASE + zone, "deny", ALL_PROTOCOLS, cidr)
        for zone, cidr in enumerate(private)
    ]
    allow_rest = NaclRule(ALLOW_REST_RULE_NO, "allow", ALL_PROTOCOLS, ANYWHERE)
    return NaclTable(
        ingress=(*ingress, *deny, allow_rest),
        egress=(*deny, allow_rest),
    )


def gateway_ingress_rules(plan: NetworkPlan) -> tuple[SecurityGroupRule, ...]:
    """What reaches the gateway: traffic it forwards, its port forwards, SSH from management."""
    forwarded = tuple(str(cidr) for cidr in plan.cidrs(Tier.PRIVATE, Tier.MONITOR))
    rules = [
        SecurityGroupRule(
            ALL_PROTOCOLS,
            0,
            0,
            forwarded,
            "cloudtap: traffic routed through the gateway (private and monitor tiers)",
        )
    ]
    rules += [
        SecurityGroupRule(
            forward.protocol.value,
            forward.public_port,
            forward.public_port,
            (ANYWHERE,),
            f"cloudtap: forward {forward.protocol.value}/{forward.public_port} to "
            f"{forward.private_host}:{forward.private_port}",
        )
        for forward in plan.port_forwards
    ]
    if plan.management_cidrs:
        rules.append(
            SecurityGroupRule(
                "tcp",
                SSH_PORT,
                SSH_PORT,
                tuple(str(cidr) for cidr in plan.management_cidrs),
                "cloudtap: SSH from management_cidrs",
            )
        )
    return tuple(rules)


def gateway_egress_rules() -> tuple[SecurityGroupRule, ...]:
    return (
        SecurityGroupRule(
            ALL_PROTOCOLS, 0, 0, (ANYWHERE,), "cloudtap: the gateway reaches the internet"
        ),
    )


# IANA protocol 47: GRE, which also carries ERSPAN. Security groups take the number as a string.
GRE_PROTOCOL = "47"


def sensor_ingress_rules(
    sensor: SensorPlan, management_cidrs: Sequence[ipaddress.IPv4Network]
) -> tuple[SecurityGroupRule, ...]:
    """What reaches a sensor: its feeds from the feed-source networks only, its health responder
    from the health-check networks only, SSH from management.

    One rule per encapsulation the sensor accepts (GRE and ERSPAN share protocol 47), so a feed
    the sensor does not decapsulate is not open either.
    """
    sources = tuple(str(cidr) for cidr in sensor.feed_source_cidrs)
    rules: list[SecurityGroupRule] = []
    if Encapsulation.VXLAN in sensor.feeds:
        rules.append(
            SecurityGroupRule(
                "udp",
                VXLAN_PORT,
                VXLAN_PORT,
                sources,
                "cloudtap: VXLAN feeds (Traffic Mirroring, gateway mirror)",
            )
        )
    if Encapsulation.GENEVE in sensor.feeds:
        rules.append(
            SecurityGroupRule(
                "udp",
                GENEVE_PORT,
                GENEVE_PORT,
                sources,
                "cloudtap: GENEVE feeds (Gateway Load Balancer)",
            )
        )
    if {Encapsulation.GRE, Encapsulation.ERSPAN} & set(sensor.feeds):
        rules.append(
            SecurityGroupRule(GRE_PROTOCOL, 0, 0, sources, "cloudtap: GRE and ERSPAN feeds")
        )
    rules.append(
        SecurityGroupRule(
            "tcp",
            sensor.health_port,
            sensor.health_port,
            tuple(str(cidr) for cidr in sensor.health_check_cidrs),
            "cloudtap: health checks (load balancer target groups)",
        )
    )
    if management_cidrs:
        rules.append(
            SecurityGroupRule(
                "tcp",
                SSH_PORT,
                SSH_PORT,
                tuple(str(cidr) for cidr in management_cidrs),
                "cloudtap: SSH from management_cidrs",
            )
        )
    return tuple(rules)


def sensor_egress_rules() -> tuple[SecurityGroupRule, ...]:
    return (
        SecurityGroupRule(
            ALL_PROTOCOLS,
            0,
            0,
            (ANYWHERE,),
            "cloudtap: the sensor installs packages and ships logs",
        ),
    )
