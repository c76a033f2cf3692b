"""cloudtap's security defaults as CrossGuard policies, for any stack's resources.

Each validation reads the resource's properties as the engine passes them (camelCase, as in
the provider's schema) and reports one violation per problem, naming the resource and the fix.
Every policy is ``mandatory`` by default; a policy's ``enforcementLevel`` in the pack's config
(``pulumi policy enable ... --config``, or ``--policy-pack-config`` on preview) overrides it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

SSH_PORT = 22
FEED_PORTS = {4789: "VXLAN mirror feed", 6081: "GENEVE mirror feed"}
WORLD = ("0.0.0.0/0", "::/0")
AZURE_WORLD = {"*", "0.0.0.0/0", "::/0", "internet", "any"}


def _label(args: Any) -> str:
    return f"{args.resource_type} {args.name!r}"


def _world_cidr(cidr: Any) -> bool:
    try:
        return ipaddress.ip_network(str(cidr), strict=False).prefixlen == 0
    except ValueError:
        return False


def _open_ports(protocol: Any, from_port: Any, to_port: Any) -> list[str]:
    """The guarded ports a rule of ``protocol`` over ``from_port``-``to_port`` opens."""
    protocol = str(protocol).lower()
    every = protocol in ("-1", "all", "*", "")
    low = int(from_port) if from_port not in (None, "") else 0
    high = int(to_port) if to_port not in (None, "") else 65535
    if every and low == high == 0:
        low, high = 0, 65535
    found = []
    if (every or protocol in ("tcp", "6")) and low <= SSH_PORT <= high:
        found.append("22/tcp (SSH)")
    for port, what in FEED_PORTS.items():
        if (every or protocol in ("udp", "17")) and low <= port <= high:
            found.append(f"{port}/udp ({what})")
    return found


# -- AWS ----------------------------------------------------------------------------------


def aws_security_group_world_open(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = args.props
    if args.resource_type == "aws:ec2/securityGroup:SecurityGroup":
        rules = [
            (r.get("protocol"), r.get("fromPort"), r.get("toPort"), _cidrs(r))
            for r in props.get("ingress") or []
        ]
    elif args.resource_type == "aws:ec2/securityGroupRule:SecurityGroupRule":
        if props.get("type") != "ingress":
            return
        rules = [(props.get("protocol"), props.get("fromPort"), props.get("toPort"), _cidrs(props))]
    elif args.resource_type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
        cidrs = [props.get("cidrIpv4"), props.get("cidrIpv6")]
        rules = [(props.get("ipProtocol"), props.get("fromPort"), props.get("toPort"), cidrs)]
    else:
        return
    for protocol, low, high, cidrs in rules:
        world = [c for c in cidrs if _world_cidr(c)]
        if world:
            for port in _open_ports(protocol, low, high):
                report(
                    f"{_label(args)} admits {port} from {world[0]}: limit the rule to the "
                    "management networks (SSH) or the monitored network (feeds)",
                    None,
                )


def _cidrs(rule: Mapping[str, Any]) -> list[Any]:
    return [*(rule.get("cidrBlocks") or []), *(rule.get("ipv6CidrBlocks") or [])]


def aws_imdsv2_required(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in (
        "aws:ec2/instance:Instance",
        "aws:ec2/launchTemplate:LaunchTemplate",
    ):
        return
    tokens = (args.props.get("metadataOptions") or {}).get("httpTokens")
    if tokens != "required":
        report(
            f"{_label(args)} allows IMDSv1 (httpTokens {tokens or 'unset'}): set "
            'metadata_options={"http_tokens": "required"}',
            None,
        )


def aws_volumes_encrypted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = args.props
    if args.resource_type == "aws:ebs/volume:Volume":
        if props.get("encrypted") is not True:
            report(f"{_label(args)} is not encrypted: set encrypted=True", None)
    elif args.resource_type == "aws:ec2/instance:Instance":
        if (props.get("rootBlockDevice") or {}).get("encrypted") is not True:
            report(
                f"{_label(args)} has an unencrypted root volume: set "
                'root_block_device={"encrypted": True}',
                None,
            )
        for device in props.get("ebsBlockDevices") or []:
            if device.get("encrypted") is not True:
                report(
                    f"{_label(args)}: EBS device {device.get('deviceName')} is not encrypted: "
                    "set encrypted=True on it",
                    None,
                )


_PORT_FORWARDS = re.compile(r'PORT_FORWARDS="([^"]*)"')


def gateway_ssh_port_forward(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """A cloudtap gateway (found by its settings file in the user data) never forwards SSH."""
    user_data = args.props.get("userData") or args.props.get("customData") or ""
    if not isinstance(user_data, str) or "cloudtap gateway settings" not in user_data:
        return
    for found in _PORT_FORWARDS.finditer(user_data):
        for entry in found.group(1).split():
            parts = entry.split(":")
            if len(parts) == 4 and parts[1] == str(SSH_PORT):
                report(
                    f"{_label(args)}: the cloudtap gateway forwards port 22 to {parts[2]}: remove "
                    "that port forward; reach hosts through SSM or the management tier",
                    None,
                )


# -- Azure --------------------------------------------------------------------------------


def _azure_ports(rule: Mapping[str, Any]) -> list[str]:
    ranges = [rule.get("destinationPortRange"), *(rule.get("destinationPortRanges") or [])]
    opened: list[str] = []
    for text in [r for r in ranges if r]:
        low, _, high = ("0-65535" if text == "*" else str(text)).partition("-")
        opened += _open_ports(rule.get("protocol", "*"), low, high or low)
    return opened


def azure_nsg_world_open(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == "azure-native:network:NetworkSecurityGroup":
        rules = list(args.props.get("securityRules") or [])
    elif args.resource_type == "azure-native:network:SecurityRule":
        rules = [args.props]
    else:
        return
    for rule in rules:
        if str(rule.get("direction", "")).lower() != "inbound":
            continue
        if str(rule.get("access", "")).lower() != "allow":
            continue
        sources = [rule.get("sourceAddressPrefix"), *(rule.get("sourceAddressPrefixes") or [])]
        if not any(str(s).lower() in AZURE_WORLD for s in sources if s):
            continue
        for port in _azure_ports(rule):
            report(
                f"{_label(args)}: rule {rule.get('name', '?')!r} admits {port} from anywhere: "
                "set its source to the management or monitored network",
                None,
            )


def azure_disk_not_exportable(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Azure encrypts every managed disk at rest; what can still leak one is a public export
    (a SAS download link), which ``networkAccessPolicy`` AllowAll (the default) permits."""
    if args.resource_type != "azure-native:compute:Disk":
        return
    policy = args.props.get("networkAccessPolicy")
    if policy not in ("DenyAll", "AllowPrivate"):
        report(
            f"{_label(args)} can be exported publicly (networkAccessPolicy "
            f"{policy or 'unset: AllowAll'}): set network_access_policy to DenyAll or "
            "AllowPrivate",
            None,
        )


# -- OpenStack ----------------------------------------------------------------------------


def openstack_rule_world_open(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != "openstack:networking/secGroupRule:SecGroupRule":
        return
    props = args.props
    if props.get("direction") != "ingress" or props.get("remoteGroupId"):
        return
    prefix = props.get("remoteIpPrefix") or ""
    # Neutron reads no remote prefix and no remote group as "from anywhere".
    if prefix and not _world_cidr(prefix):
        return
    for port in _open_ports(
        props.get("protocol") or "", props.get("portRangeMin"), props.get("portRangeMax")
    ):
        report(
            f"{_label(args)} admits {port} from {prefix or 'anywhere (no remote prefix)'}: set "
            "remote_ip_prefix to the management or monitored network",
            None,
        )


# -- the stack: tiers of a cloudtap network ---------------------------------------------------

_ROUTE_TARGETS = (
    "gatewayId",
    "natGatewayId",
    "transitGatewayId",
    "vpcPeeringConnectionId",
    "egressOnlyGatewayId",
    "carrierGatewayId",
    "localGatewayId",
    "vpcEndpointId",
    "coreNetworkArn",
    "networkInterfaceId",
)


def _tier_tables(resources: Iterable[Any], tier: str) -> dict[str, Any]:
    """Route tables of cloudtap networks' ``tier`` (``{name}-private-N-rt``, ``-management-rt``),
    by id: children of a ``cloudtap:aws:MonitoredVpc``, named by tier."""
    pattern = re.compile(rf".+-{tier}(-\d+)?-rt")
    return {
        r.props.get("id") or r.urn: r
        for r in resources
        if r.resource_type == "aws:ec2/routeTable:RouteTable"
        and r.parent is not None
        and r.parent.resource_type.endswith(":MonitoredVpc")
        and pattern.fullmatch(r.name)
    }


def _routes(
    resources: Iterable[Any], table_id: str, table: Any
) -> list[tuple[str, Mapping[str, Any]]]:
    found = [(table.name, route) for route in table.props.get("routes") or []]
    found += [
        (r.name, r.props)
        for r in resources
        if r.resource_type == "aws:ec2/route:Route" and r.props.get("routeTableId") == table_id
    ]
    return found


def private_tier_only_through_gateway(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = list(args.resources)
    gateway_enis = {
        r.props.get("id")
        for r in resources
        if r.resource_type == "aws:ec2/networkInterface:NetworkInterface"
        and r.name.endswith("-gateway-eni")
    }
    for table_id, table in _tier_tables(resources, "private").items():
        for route_name, route in _routes(resources, table_id, table):
            targets = {key: route.get(key) for key in _ROUTE_TARGETS if route.get(key)}
            if set(targets) == {"networkInterfaceId"} and targets["networkInterfaceId"] in (
                gateway_enis
            ):
                continue
            report(
                f"route {route_name!r} of private-tier route table {table.name!r} leaves through "
                f"{targets or 'no target'} instead of the cloudtap gateway's interface: remove "
                "it (the private tier's only way out is the gateway, which mirrors it)",
                None,
            )


def management_tier_unrouted(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = list(args.resources)
    for table_id, table in _tier_tables(resources, "management").items():
        for route_name, route in _routes(resources, table_id, table):
            destination = route.get("destinationCidrBlock") or route.get("cidrBlock") or "?"
            report(
                f"route {route_name!r} gives management-tier route table {table.name!r} a way to "
                f"{destination}: remove it (the management tier is out of band)",
                None,
            )


Validation = Callable[[Any, ReportViolation], None]

RESOURCE_POLICIES: dict[str, tuple[str, Validation]] = {
    "cloudtap-aws-security-group-world-open": (
        "No AWS security group admits SSH or the mirror feeds (UDP 4789/6081) from anywhere.",
        aws_security_group_world_open,
    ),
    "cloudtap-aws-imdsv2-required": (
        "EC2 instances and launch templates require IMDSv2 (http_tokens=required).",
        aws_imdsv2_required,
    ),
    "cloudtap-aws-volumes-encrypted": (
        "EBS volumes and instance root and EBS block devices are encrypted.",
        aws_volumes_encrypted,
    ),
    "cloudtap-gateway-no-ssh-forward": (
        "A cloudtap gateway never port-forwards SSH.",
        gateway_ssh_port_forward,
    ),
    "cloudtap-azure-nsg-world-open": (
        "No Azure NSG rule admits SSH or the mirror feeds from anywhere.",
        azure_nsg_world_open,
    ),
    "cloudtap-azure-disk-not-exportable": (
        "Azure managed disks cannot be exported publicly.",
        azure_disk_not_exportable,
    ),
    "cloudtap-openstack-rule-world-open": (
        "No OpenStack security group rule admits SSH or the mirror feeds from anywhere.",
        openstack_rule_world_open,
    ),
}
STACK_POLICIES: dict[str, tuple[str, Validation]] = {
    "cloudtap-private-tier-only-through-gateway": (
        "A cloudtap network's private tier has no way out but the gateway's interface.",
        private_tier_only_through_gateway,
    ),
    "cloudtap-management-tier-unrouted": (
        "A cloudtap network's management tier has no routes beyond the VPC.",
        management_tier_unrouted,
    ),
}


def policies() -> list[ResourceValidationPolicy | StackValidationPolicy]:
    built: list[ResourceValidationPolicy | StackValidationPolicy] = [
        ResourceValidationPolicy(name, description, validate, EnforcementLevel.MANDATORY)
        for name, (description, validate) in RESOURCE_POLICIES.items()
    ]
    built += [
        StackValidationPolicy(name, description, validate, EnforcementLevel.MANDATORY)
        for name, (description, validate) in STACK_POLICIES.items()
    ]
    return built
