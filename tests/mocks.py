"""Strict Pulumi mocks: run a program in-process, record what it registers, refuse the unknown.

Usage (``tests/conftest.py`` provides a fresh ``mocks`` fixture)::

    from tests.mocks import StrictMocks, run_program

    def test_something(mocks: StrictMocks) -> None:
        run = run_program(lambda: MonitoredVpc("cloudtap"), mocks)
        vpc = run.named("cloudtap-vpc")            # one Registration: type, name, inputs, ...
        subnets = run.of_type(SUBNET)              # every registration of a type, in order
        run.resolve(run.result.vpc_id)             # the value of an Output after the run

Every resource type and invoke token has to be in the allow-lists below (or passed to
:class:`StrictMocks`); anything else raises :class:`StrictMockError` and fails the program, so a
new provider call is a conscious change to this file and not a silent ``{}``. Answers look like
AWS's: ids with the real prefixes, ENIs with an address inside their subnet, Elastic IPs with a
public address, instances with their primary ENI. Traffic Mirroring answers enforce AWS's fixed
quotas (3 sessions per source interface, 10 rules per filter, unique rule numbers, an interface
never source and target), so a program that passes here does not fail them at ``up``.

Inputs and outputs use the engine's (camelCase) property names: ``inputs["sourceDestCheck"]``.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import dill  # type: ignore[import-untyped]
import pulumi
from pulumi.runtime import MockCallArgs, MockResourceArgs
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.rpc import deserialize_properties
from pulumi.runtime.sync_await import _sync_await

T = TypeVar("T")

PROJECT = "cloudtap"
STACK = "test"
ACCOUNT = "123456789012"
REGION = "eu-west-1"
DEFAULT_ZONES = ("eu-west-1a", "eu-west-1b", "eu-west-1c")
# What an Amazon-owned image's owner id looks like; the value is not checked by anything.
AMAZON_OWNER = "137112412989"

# Component types are answered with no state; every cloudtap component has to be listed.
COMPONENT_TYPES = frozenset(
    {
        "cloudtap:aws:MonitoredVpc",
        "cloudtap:aws:Sensor",
        "cloudtap:aws:MirrorSession",
        "cloudtap:aws:SensorFleet",
        "cloudtap:HostFeeds",
    }
)
# AWS's fixed Traffic Mirroring quotas, enforced like the API would at `up`.
SESSIONS_PER_INTERFACE = 3
RULES_PER_FILTER = 10


class StrictMockError(LookupError):
    """The program asked the mocks for something they were not told about."""


@dataclass(frozen=True)
class Registration:
    """One registered resource, as the engine saw it."""

    type: str
    name: str
    urn: str
    parent: str
    """URN of the parent ("" for none; the root stack's URN for top-level resources)."""
    custom: bool
    inputs: dict[str, Any]
    id: str
    state: dict[str, Any]
    provider: str = ""
    """Provider reference (``urn::id``); empty for the default provider."""
    dependencies: tuple[str, ...] = ()
    """URNs this resource waits for (``depends_on`` plus those of its Output inputs)."""
    delete_before_replace: bool = False
    ignore_changes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Invocation:
    token: str
    args: dict[str, Any]
    provider: str


def _digest(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def _id(prefix: str, args: MockResourceArgs) -> str:
    """Deterministic and unique per (type, name): ``vpc-0a1b2c...`` like the real thing."""
    return f"{prefix}-{_digest(args.typ, args.name)}"


def _arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


ResourceAnswer = tuple[str, dict[str, Any]]
ResourceHandler = Callable[["StrictMocks", MockResourceArgs], ResourceAnswer]
CallHandler = Callable[["StrictMocks", MockCallArgs], dict[str, Any]]


def _ec2(prefix: str, kind: str) -> ResourceHandler:
    def answer(_mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
        rid = _id(prefix, args)
        return rid, {"arn": _arn("ec2", f"{kind}/{rid}"), "ownerId": ACCOUNT}

    return answer


def _plain_id(prefix: str) -> ResourceHandler:
    def answer(_mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
        return _id(prefix, args), {}

    return answer


def _vpc(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    rid = _id("vpc", args)
    return rid, {
        "arn": _arn("ec2", f"vpc/{rid}"),
        "ownerId": ACCOUNT,
        "mainRouteTableId": f"rtb-{_digest(rid, 'main')}",
        "defaultNetworkAclId": f"acl-{_digest(rid, 'default')}",
        "defaultSecurityGroupId": f"sg-{_digest(rid, 'default')}",
    }


def _subnet(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    rid = _id("subnet", args)
    mocks.subnet_cidrs[rid] = ipaddress.IPv4Network(args.inputs["cidrBlock"])
    mocks.subnet_zones[rid] = str(args.inputs.get("availabilityZone", DEFAULT_ZONES[0]))
    return rid, {"arn": _arn("ec2", f"subnet/{rid}"), "ownerId": ACCOUNT}


def _route(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    # The provider's id: "r-" + route table id + a hash of the destination.
    table = str(args.inputs["routeTableId"])
    destination = str(args.inputs.get("destinationCidrBlock", ""))
    return f"r-{table}{int(_digest(destination, length=8), 16)}", {
        "origin": "CreateRoute",
        "state": "active",
    }


def _network_interface(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    rid = _id("eni", args)
    subnet_id = str(args.inputs["subnetId"])
    if subnet_id not in mocks.subnet_cidrs:
        raise StrictMockError(f"network interface {args.name} names unknown subnet {subnet_id}")
    subnet = mocks.subnet_cidrs[subnet_id]
    taken = sum(1 for eni in mocks.interfaces.values() if eni["subnetId"] == subnet_id)
    # AWS hands out addresses after the 4 it keeps at the start of every subnet.
    pinned = args.inputs.get("privateIp") or (args.inputs.get("privateIps") or [None])[0]
    private_ip = str(pinned or subnet.network_address + 4 + 6 + taken)
    state = {
        "arn": _arn("ec2", f"network-interface/{rid}"),
        "ownerId": ACCOUNT,
        "privateIp": private_ip,
        "privateIps": [private_ip],
        "macAddress": "02:" + ":".join(_digest(rid, length=10)[i : i + 2] for i in range(0, 10, 2)),
        "subnetId": subnet_id,
    }
    mocks.interfaces[rid] = state
    return rid, state


def _eip(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    rid = _id("eipalloc", args)
    # TEST-NET-3 (RFC 5737): documentation addresses, never routed.
    public_ip = str(ipaddress.IPv4Address("203.0.113.10") + len(mocks.public_ips))
    mocks.public_ips.append(public_ip)
    state: dict[str, Any] = {
        "allocationId": rid,
        "publicIp": public_ip,
        "publicDns": f"ec2-{public_ip.replace('.', '-')}.{REGION}.compute.amazonaws.com",
    }
    eni = args.inputs.get("networkInterface")
    if eni:
        if eni not in mocks.interfaces:
            raise StrictMockError(f"elastic IP {args.name} names unknown interface {eni}")
        state["associationId"] = f"eipassoc-{_digest(rid, str(eni))}"
        state["privateIp"] = mocks.interfaces[eni]["privateIp"]
    return rid, state


def _instance(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    rid = _id("i", args)
    primary = args.inputs.get("primaryNetworkInterface") or {}
    eni_id = primary.get("networkInterfaceId")
    if eni_id is not None:
        if eni_id not in mocks.interfaces:
            raise StrictMockError(f"instance {args.name} names unknown interface {eni_id}")
    else:
        # Launched into a subnet: AWS creates the primary interface itself.
        subnet_id = args.inputs.get("subnetId")
        if subnet_id not in mocks.subnet_cidrs:
            raise StrictMockError(f"instance {args.name} needs a known subnetId or ENI")
        eni_id = _network_interface(
            mocks, MockResourceArgs(f"{args.typ}/eni", args.name, {"subnetId": subnet_id})
        )[0]
    eni = mocks.interfaces[eni_id]
    return rid, {
        "arn": _arn("ec2", f"instance/{rid}"),
        "privateIp": eni["privateIp"],
        "primaryNetworkInterfaceId": eni_id,
        "subnetId": eni["subnetId"],
        "availabilityZone": mocks.subnet_zones[eni["subnetId"]],
        "instanceState": "running",
    }


def _iam_named(kind: str) -> ResourceHandler:
    # IAM ids are the names; the engine's autonaming does not run under mocks, so add a suffix.
    def answer(_mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
        name = str(args.inputs.get("name") or f"{args.name}-{_digest(args.name, length=7)}")
        arn = f"arn:aws:iam::{ACCOUNT}:{kind}/{name}"
        return name, {"name": name, "arn": arn, "uniqueId": f"AROA{_digest(arn, length=17)}"}

    return answer


def _ssm_parameter(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    name = args.inputs.get("name")
    if not name or args.inputs.get("type") not in ("String", "SecureString"):
        raise StrictMockError(f"SSM parameter {args.name} needs a name and type String")
    if args.inputs.get("type") == "SecureString" and "value" not in args.inputs:
        raise StrictMockError(f"SSM parameter {args.name}: a SecureString takes value")
    value = str(args.inputs.get("insecureValue", ""))
    if args.inputs.get("tier") == "Standard" and len(value.encode()) > 4096:
        raise StrictMockError(f"SSM parameter {args.name}: {len(value)} bytes > 4096 (Standard)")
    return str(name), {"arn": _arn("ssm", f"parameter{name}"), "version": 1}


def _ssm_document(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    name = args.inputs.get("name")
    if not name or args.inputs.get("documentType") != "Command":
        raise StrictMockError(f"SSM document {args.name} needs a name and type Command")
    json.loads(str(args.inputs["content"]))
    return str(name), {"arn": _arn("ssm", f"document/{name}"), "latestVersion": "1"}


def _ssm_association(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    rid = _digest(args.typ, args.name, length=32)
    return rid, {"associationId": rid, "arn": _arn("ssm", f"association/{rid}")}


def _security_group(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    rid = _id("sg", args)
    name = str(args.inputs.get("name") or f"{args.name}-{_digest(args.name, length=7)}")
    return rid, {"arn": _arn("ec2", f"security-group/{rid}"), "ownerId": ACCOUNT, "name": name}


def _volume(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    rid = _id("vol", args)
    return rid, {"arn": _arn("ec2", f"volume/{rid}"), "iops": 3000, "throughput": 125}


def _mirror_target(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    kinds = ("networkInterfaceId", "networkLoadBalancerArn", "gatewayLoadBalancerEndpointId")
    given = [kind for kind in kinds if args.inputs.get(kind)]
    if len(given) != 1:
        raise StrictMockError(f"mirror target {args.name} needs exactly one of {kinds}: {given}")
    rid = _id("tmt", args)
    mocks.mirror_targets[rid] = dict(args.inputs)
    return rid, {"arn": _arn("ec2", f"traffic-mirror-target/{rid}"), "ownerId": ACCOUNT}


def _mirror_filter(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    rid = _id("tmf", args)
    mocks.mirror_filter_rules[rid] = []
    return rid, {"arn": _arn("ec2", f"traffic-mirror-filter/{rid}")}


def _mirror_filter_rule(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    filter_id = str(args.inputs["trafficMirrorFilterId"])
    if filter_id not in mocks.mirror_filter_rules:
        raise StrictMockError(f"filter rule {args.name} names unknown filter {filter_id}")
    rules = mocks.mirror_filter_rules[filter_id]
    key = (args.inputs["trafficDirection"], int(args.inputs["ruleNumber"]))
    if key in rules:
        raise StrictMockError(f"filter rule {args.name}: rule number {key} already in use")
    if len(rules) >= RULES_PER_FILTER:
        raise StrictMockError(f"filter {filter_id} would have more than {RULES_PER_FILTER} rules")
    rules.append(key)
    rid = _id("tmfr", args)
    return rid, {"arn": _arn("ec2", f"traffic-mirror-filter-rule/{rid}")}


def _mirror_session(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    eni = str(args.inputs["networkInterfaceId"])
    target = str(args.inputs["trafficMirrorTargetId"])
    if target not in mocks.mirror_targets:
        raise StrictMockError(f"mirror session {args.name} names unknown target {target}")
    if str(args.inputs["trafficMirrorFilterId"]) not in mocks.mirror_filter_rules:
        raise StrictMockError(f"mirror session {args.name} names an unknown filter")
    if mocks.mirror_targets[target].get("networkInterfaceId") == eni:
        raise StrictMockError(f"mirror session {args.name}: {eni} is source and target at once")
    sessions = mocks.mirror_sessions.setdefault(eni, [])
    if len(sessions) >= SESSIONS_PER_INTERFACE:
        raise StrictMockError(f"{eni} would have more than {SESSIONS_PER_INTERFACE} sessions")
    sessions.append(args.name)
    rid = _id("tms", args)
    state: dict[str, Any] = {
        "arn": _arn("ec2", f"traffic-mirror-session/{rid}"),
        "ownerId": ACCOUNT,
    }
    if args.inputs.get("virtualNetworkId") is None:
        # AWS picks a random VNI, unique in the account.
        state["virtualNetworkId"] = int(_digest(rid, length=6), 16) or 1
    return rid, state


def _log_group(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    name = str(args.inputs.get("name") or f"{args.name}-{_digest(args.name, length=7)}")
    return name, {"name": name, "arn": _arn("logs", f"log-group:{name}")}


def _function(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    if not str(args.inputs.get("role", "")).startswith(f"arn:aws:iam::{ACCOUNT}:role/"):
        raise StrictMockError(f"function {args.name} needs a role ARN, got {args.inputs}")
    name = str(args.inputs.get("name") or f"{args.name}-{_digest(args.name, length=7)}")
    arn = _arn("lambda", f"function:{name}")
    return name, {"name": name, "arn": arn, "invokeArn": arn, "version": "$LATEST"}


def _event_rule(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    pattern, schedule = args.inputs.get("eventPattern"), args.inputs.get("scheduleExpression")
    if (pattern is None) == (schedule is None):
        raise StrictMockError(f"event rule {args.name} needs a pattern or a schedule, not both")
    name = str(args.inputs.get("name") or f"{args.name}-{_digest(args.name, length=7)}")
    return name, {"name": name, "arn": _arn("events", f"rule/{name}")}


def _dynamic(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    # A pulumi.dynamic resource: its provider is serialized into the inputs, its id is its own.
    if "__provider" not in args.inputs:
        raise StrictMockError(f"dynamic resource {args.name} has no serialized provider")
    serialized = args.inputs["__provider"]
    if isinstance(serialized, dict):  # the SDK sends it as a secret
        serialized = serialized["value"]
    provider = dill.loads(base64.b64decode(serialized))
    from components.host_feed_pki import HostFeedCredentialsProvider  # noqa: PLC0415

    if isinstance(provider, HostFeedCredentialsProvider):
        # Pure (it only makes keys): run its real create, as `up` would.
        props = {k: v for k, v in args.inputs.items() if k != "__provider"}
        created = provider.create(props)
        return str(created.id), dict(created.outs or {})
    return _id("dyn", args), {}


def _security_group_ingress_rule(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    for key in ("securityGroupId", "ipProtocol"):
        if key not in args.inputs:
            raise StrictMockError(f"security group rule {args.name} has no {key}")
    if args.inputs.get("cidrIpv4") == "0.0.0.0/0":
        raise StrictMockError(f"security group rule {args.name} is open to the world")
    return _id("sgr", args), {"arn": _arn("ec2", f"security-group-rule/{_id('sgr', args)}")}


def _launch_template(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    for interface in args.inputs.get("networkInterfaces") or []:
        subnet_id = interface.get("subnetId")
        if subnet_id is not None and subnet_id not in mocks.subnet_cidrs:
            raise StrictMockError(f"launch template {args.name} names unknown subnet {subnet_id}")
    rid = _id("lt", args)
    mocks.launch_templates[rid] = dict(args.inputs)
    return rid, {
        "arn": _arn("ec2", f"launch-template/{rid}"),
        "latestVersion": 1,
        "defaultVersion": 1,
    }


def _auto_scaling_group(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    template = (args.inputs.get("launchTemplate") or {}).get("id")
    if template not in mocks.launch_templates:
        raise StrictMockError(f"auto scaling group {args.name} names unknown template {template}")
    subnets = args.inputs.get("vpcZoneIdentifiers") or []
    if not subnets or any(subnet not in mocks.subnet_cidrs for subnet in subnets):
        raise StrictMockError(f"auto scaling group {args.name} needs known subnets: {subnets}")
    low, high = int(args.inputs["minSize"]), int(args.inputs["maxSize"])
    desired = int(args.inputs.get("desiredCapacity", low))
    if not 0 <= low <= desired <= high:
        raise StrictMockError(f"auto scaling group {args.name}: sizes {low} <= {desired} <= {high}")
    name = str(args.inputs.get("name") or f"{args.name}-{_digest(args.name, length=7)}")
    uuid = _digest(name, length=32)
    return name, {
        "name": name,
        "arn": _arn("autoscaling", f"autoScalingGroup:{uuid}:autoScalingGroupName/{name}"),
    }


def _load_balancer(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    kind = args.inputs.get("loadBalancerType")
    if kind not in ("network", "gateway"):
        raise StrictMockError(f"load balancer {args.name}: only network and gateway are mocked")
    subnets = args.inputs.get("subnets") or []
    zones = [mocks.subnet_zones.get(subnet) for subnet in subnets]
    if None in zones or len(set(zones)) != len(zones):
        raise StrictMockError(f"load balancer {args.name} needs known subnets, one per zone")
    name = f"{args.name}"[:32]
    short = {"network": "net", "gateway": "gwy"}[kind]
    arn = _arn("elasticloadbalancing", f"loadbalancer/{short}/{name}/{_digest(name, length=16)}")
    mocks.load_balancers[arn] = dict(args.inputs)
    return arn, {"arn": arn, "dnsName": f"{name}.elb.{REGION}.amazonaws.com"}


def _target_group(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    protocol, port = args.inputs.get("protocol"), args.inputs.get("port")
    if (protocol, port) not in (("UDP", 4789), ("TCP_UDP", 4789), ("GENEVE", 6081)):
        raise StrictMockError(f"target group {args.name}: {protocol}:{port} carries no mirror feed")
    name = f"{args.name}"[:32]
    arn = _arn("elasticloadbalancing", f"targetgroup/{name}/{_digest(name, length=16)}")
    mocks.target_groups[arn] = dict(args.inputs)
    return arn, {"arn": arn, "arnSuffix": arn.split(":")[-1]}


def _listener(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    balancer = args.inputs.get("loadBalancerArn")
    if balancer not in mocks.load_balancers:
        raise StrictMockError(f"listener {args.name} names unknown load balancer {balancer}")
    for action in args.inputs.get("defaultActions") or []:
        if action.get("targetGroupArn") not in mocks.target_groups:
            raise StrictMockError(f"listener {args.name} forwards to an unknown target group")
    gateway = mocks.load_balancers[balancer]["loadBalancerType"] == "gateway"
    if gateway != (args.inputs.get("protocol") is None):
        raise StrictMockError(f"listener {args.name}: a GWLB listener has no protocol, others do")
    arn = f"{balancer.replace(':loadbalancer/', ':listener/')}/{_digest(args.name, length=16)}"
    return arn, {"arn": arn}


def _endpoint_service(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    balancers = args.inputs.get("gatewayLoadBalancerArns") or []
    if not balancers or any(arn not in mocks.load_balancers for arn in balancers):
        raise StrictMockError(f"endpoint service {args.name} needs known gateway load balancers")
    rid = _id("vpce-svc", args)
    service = f"com.amazonaws.vpce.{REGION}.{rid}"
    mocks.endpoint_services[service] = rid
    return rid, {"serviceName": service, "serviceType": "GatewayLoadBalancer"}


def _vpc_endpoint(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    if args.inputs.get("serviceName") not in mocks.endpoint_services:
        raise StrictMockError(f"endpoint {args.name} names an unknown service")
    subnets = args.inputs.get("subnetIds") or []
    if args.inputs.get("vpcEndpointType") == "GatewayLoadBalancer" and len(subnets) != 1:
        raise StrictMockError(f"endpoint {args.name}: a GWLB endpoint lives in exactly one subnet")
    if any(subnet not in mocks.subnet_cidrs for subnet in subnets):
        raise StrictMockError(f"endpoint {args.name} names an unknown subnet")
    rid = _id("vpce", args)
    return rid, {"arn": _arn("ec2", f"vpc-endpoint/{rid}")}


def _scaling_policy(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    if not args.inputs.get("autoscalingGroupName"):
        raise StrictMockError(f"scaling policy {args.name} names no group")
    return f"{args.name}", {"arn": _arn("autoscaling", f"scalingPolicy:{args.name}")}


def _provider(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    return _digest(args.typ, args.name, length=36), {}


def _bucket(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
    # The engine's autonaming does not run under mocks: the prefix and a suffix, as S3 would.
    prefix = args.inputs.get("bucketPrefix")
    name = args.inputs.get("bucket") or (prefix and f"{prefix}{_digest(args.name, length=12)}")
    if not name or len(str(name)) > 63 or str(name) != str(name).lower():
        raise StrictMockError(f"bucket {args.name}: no valid bucket name from {args.inputs}")
    return str(name), {"bucket": name, "arn": f"arn:aws:s3:::{name}", "region": REGION}


def _bucket_child(kind: str) -> ResourceHandler:
    def answer(mocks: StrictMocks, args: MockResourceArgs) -> ResourceAnswer:
        bucket = args.inputs.get("bucket")
        if not bucket:
            raise StrictMockError(f"{kind} {args.name} names no bucket")
        if kind == "policy":
            json.loads(str(args.inputs["policy"]))
        if kind == "object" and not args.inputs.get("key"):
            raise StrictMockError(f"bucket object {args.name} has no key")
        return _digest(kind, args.name, length=20), {}

    return answer


RESOURCES: dict[str, ResourceHandler] = {
    "pulumi:providers:aws": _provider,
    "aws:ec2/vpc:Vpc": _vpc,
    "aws:ec2/internetGateway:InternetGateway": _ec2("igw", "internet-gateway"),
    "aws:ec2/subnet:Subnet": _subnet,
    "aws:ec2/routeTable:RouteTable": _ec2("rtb", "route-table"),
    "aws:ec2/route:Route": _route,
    "aws:ec2/routeTableAssociation:RouteTableAssociation": _plain_id("rtbassoc"),
    "aws:ec2/networkAcl:NetworkAcl": _ec2("acl", "network-acl"),
    "aws:ec2/networkAclAssociation:NetworkAclAssociation": _plain_id("aclassoc"),
    "aws:ec2/securityGroup:SecurityGroup": _security_group,
    "aws:ec2/networkInterface:NetworkInterface": _network_interface,
    "aws:ec2/eip:Eip": _eip,
    "aws:ec2/instance:Instance": _instance,
    "aws:iam/role:Role": _iam_named("role"),
    "aws:iam/instanceProfile:InstanceProfile": _iam_named("instance-profile"),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": _plain_id("attachment"),
    "aws:iam/rolePolicy:RolePolicy": _plain_id("policy"),
    "aws:ssm/parameter:Parameter": _ssm_parameter,
    "aws:ssm/document:Document": _ssm_document,
    "aws:ssm/association:Association": _ssm_association,
    "aws:s3/bucket:Bucket": _bucket,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _bucket_child("access block"),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        _bucket_child("encryption")
    ),
    "aws:s3/bucketPolicy:BucketPolicy": _bucket_child("policy"),
    "aws:s3/bucketObjectv2:BucketObjectv2": _bucket_child("object"),
    "aws:ebs/volume:Volume": _volume,
    "aws:ec2/volumeAttachment:VolumeAttachment": _plain_id("vai"),
    "aws:ec2/trafficMirrorTarget:TrafficMirrorTarget": _mirror_target,
    "aws:ec2/trafficMirrorFilter:TrafficMirrorFilter": _mirror_filter,
    "aws:ec2/trafficMirrorFilterRule:TrafficMirrorFilterRule": _mirror_filter_rule,
    "aws:ec2/trafficMirrorSession:TrafficMirrorSession": _mirror_session,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:lambda/function:Function": _function,
    "aws:lambda/permission:Permission": _plain_id("permission"),
    "aws:cloudwatch/eventRule:EventRule": _event_rule,
    "aws:cloudwatch/eventTarget:EventTarget": _plain_id("target"),
    "pulumi-python:dynamic:Resource": _dynamic,
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _security_group_ingress_rule,
    "aws:ec2/launchTemplate:LaunchTemplate": _launch_template,
    "aws:autoscaling/group:Group": _auto_scaling_group,
    "aws:autoscaling/policy:Policy": _scaling_policy,
    "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:lb/targetGroup:TargetGroup": _target_group,
    "aws:lb/listener:Listener": _listener,
    "aws:ec2/vpcEndpointService:VpcEndpointService": _endpoint_service,
    "aws:ec2/vpcEndpoint:VpcEndpoint": _vpc_endpoint,
}


def _availability_zones(mocks: StrictMocks, args: MockCallArgs) -> dict[str, Any]:
    zones = list(mocks.zones)
    return {
        "id": REGION,
        "names": zones,
        "zoneIds": [f"euw1-az{index + 1}" for index in range(len(zones))],
        "groupNames": [REGION] * len(zones),
    }


def _filter_values(args: MockCallArgs, name: str) -> list[str]:
    return [
        value
        for entry in args.args.get("filters") or []
        if entry.get("name") == name
        for value in entry.get("values") or []
    ]


def _ami(mocks: StrictMocks, args: MockCallArgs) -> dict[str, Any]:
    ids = _filter_values(args, "image-id")
    if ids:
        # A pinned image (gateway_ami_id) looked up for its root device name.
        return {"id": ids[0], "imageId": ids[0], "architecture": "x86_64",
                "rootDeviceName": "/dev/sda1", "rootDeviceType": "ebs", "state": "available",
                "name": "pinned", "ownerId": ACCOUNT}  # fmt: skip
    names = _filter_values(args, "name")
    known = {f"al2023-ami-2023.*-{arch}": arch for arch in ("x86_64", "arm64")}
    if args.args.get("owners") != ["amazon"] or len(names) != 1 or names[0] not in known:
        raise StrictMockError(f"getAmi: only Amazon's AL2023 lookups are mocked, got {args.args}")
    arch = known[names[0]]
    image = f"ami-{_digest('al2023', arch)}"
    return {
        "id": image,
        "imageId": image,
        "architecture": arch,
        "name": f"al2023-ami-2023.9.20251110.1-kernel-6.1-{arch}",
        "ownerId": AMAZON_OWNER,
        "imageOwnerAlias": "amazon",
        "rootDeviceName": "/dev/xvda",
        "rootDeviceType": "ebs",
        "virtualizationType": "hvm",
        "state": "available",
    }


UBUNTU_PARAMETERS = {
    f"/aws/service/canonical/ubuntu/server/24.04/stable/current/{arch}/hvm/ebs-gp3/ami-id": arch
    for arch in ("amd64", "arm64")
}


def _ssm_get_parameter(mocks: StrictMocks, args: MockCallArgs) -> dict[str, Any]:
    name = args.args.get("name")
    if name not in UBUNTU_PARAMETERS:
        raise StrictMockError(f"getParameter: only Canonical's Ubuntu 24.04 is mocked, got {name}")
    image = f"ami-{_digest('ubuntu-24.04', UBUNTU_PARAMETERS[name])}"
    return {"id": name, "name": name, "type": "String", "value": image, "insecureValue": image,
            "arn": f"arn:aws:ssm:{REGION}::parameter{name}", "version": 1,
            "withDecryption": True}  # fmt: skip


def _partition(mocks: StrictMocks, args: MockCallArgs) -> dict[str, Any]:
    return {
        "id": "aws",
        "partition": "aws",
        "dnsSuffix": "amazonaws.com",
        "reverseDnsPrefix": "com.amazonaws",
    }


def _service_principal(mocks: StrictMocks, args: MockCallArgs) -> dict[str, Any]:
    service = args.args["serviceName"]
    return {
        "id": f"{service}.{REGION}",
        "name": f"{service}.amazonaws.com",
        "region": REGION,
        "serviceName": service,
        "suffix": "amazonaws.com",
    }


def _instances(mocks: StrictMocks, args: MockCallArgs) -> dict[str, Any]:
    """Instances by the ENI they hold: only what a test deployed with ``deploy_instance``."""
    enis = _filter_values(args, "network-interface.network-interface-id")
    if not enis or len(args.args.get("filters") or []) != 1:
        raise StrictMockError(f"getInstances: only lookups by one ENI are mocked, got {args.args}")
    ids = [mocks.deployed_instances[eni]["id"] for eni in enis if eni in mocks.deployed_instances]
    return {"id": REGION, "ids": ids, "privateIps": [], "publicIps": [], "ipv6Addresses": []}


def _instance_lookup(mocks: StrictMocks, args: MockCallArgs) -> dict[str, Any]:
    wanted = args.args.get("instanceId")
    for instance in mocks.deployed_instances.values():
        if instance["id"] == wanted:
            return dict(instance)
    raise StrictMockError(f"getInstance: no deployed instance {wanted}")


CALLS: dict[str, CallHandler] = {
    "aws:ec2/getInstances:getInstances": _instances,
    "aws:ec2/getInstance:getInstance": _instance_lookup,
    "aws:index/getAvailabilityZones:getAvailabilityZones": _availability_zones,
    "aws:ec2/getAmi:getAmi": _ami,
    "aws:ssm/getParameter:getParameter": _ssm_get_parameter,
    "aws:index/getPartition:getPartition": _partition,
    "aws:index/getServicePrincipal:getServicePrincipal": _service_principal,
}


class StrictMocks(pulumi.runtime.Mocks):
    """Answers only the resource types and invokes it knows; records every registration.

    :param zones: what ``getAvailabilityZones`` reports for the region.
    :param resources: extra or replacement resource handlers, by type token.
    :param calls: extra or replacement invoke handlers, by token.
    :param components: component type tokens to accept (they get no state).
    """

    def __init__(
        self,
        *,
        zones: Iterable[str] = DEFAULT_ZONES,
        resources: Mapping[str, ResourceHandler] | None = None,
        calls: Mapping[str, CallHandler] | None = None,
        components: Iterable[str] = COMPONENT_TYPES,
    ) -> None:
        self.zones = tuple(zones)
        self.resource_handlers = {**RESOURCES, **(resources or {})}
        self.call_handlers = {**CALLS, **(calls or {})}
        self.components = frozenset(components)
        self.registrations: list[Registration] = []
        self.invocations: list[Invocation] = []
        self.registered_outputs: dict[str, dict[str, Any]] = {}
        # Cross-resource state, so answers agree with each other (ENI address in its subnet...).
        self.subnet_cidrs: dict[str, ipaddress.IPv4Network] = {}
        self.subnet_zones: dict[str, str] = {}
        self.interfaces: dict[str, dict[str, Any]] = {}
        self.public_ips: list[str] = []
        self.mirror_targets: dict[str, dict[str, Any]] = {}
        self.mirror_filter_rules: dict[str, list[tuple[str, int]]] = {}
        self.mirror_sessions: dict[str, list[str]] = {}
        self.launch_templates: dict[str, dict[str, Any]] = {}
        self.load_balancers: dict[str, dict[str, Any]] = {}
        self.target_groups: dict[str, dict[str, Any]] = {}
        self.endpoint_services: dict[str, str] = {}
        # ENI id -> what getInstance answers for the instance holding it: "already deployed".
        self.deployed_instances: dict[str, dict[str, Any]] = {}
        # Names of resources this preview replaces: registered without an id, as the engine does.
        self.recreated: set[str] = set()
        self.lock = threading.Lock()

    def deploy_instance(self, eni_type: str, eni_name: str, **attributes: Any) -> str:
        """Pretend an earlier ``up`` left an instance holding the ENI that the program registers
        as ``eni_name`` (mocked ids are deterministic per type and name); its id."""
        eni_id = _id("eni", MockResourceArgs(eni_type, eni_name, {}))
        instance_id = f"i-{_digest('deployed', eni_id)}"
        self.deployed_instances[eni_id] = {"id": instance_id, "instanceState": "running",
                                           **attributes}  # fmt: skip
        return instance_id

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if not args.custom:
            if args.typ not in self.components:
                raise StrictMockError(f"unknown component type {args.typ} ({args.name})")
            return "", {}
        handler = self.resource_handlers.get(args.typ)
        if handler is None:
            raise StrictMockError(
                f"unknown resource type {args.typ} ({args.name}): add it to tests/mocks.py"
            )
        with self.lock:
            rid, extra = handler(self, args)
        if args.name in self.recreated:
            # How the engine answers at preview for a resource it will create anew: no id yet.
            return "", {**args.inputs, **extra}
        return rid, {**args.inputs, **extra}

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        handler = self.call_handlers.get(args.token)
        if handler is None:
            raise StrictMockError(f"unknown invoke {args.token}: add it to tests/mocks.py")
        with self.lock:
            self.invocations.append(Invocation(args.token, dict(args.args), args.provider))
            # pulumi 3.272's MockMonitor iterates the failure list: an empty list, never None.
            return handler(self, args), []


class StrictMonitor(MockMonitor):
    """The SDK's mock monitor, plus: records parents and outputs, and refuses duplicate URNs
    (the real engine fails a program that registers one URN twice; the SDK's mock overwrites)."""

    mocks: StrictMocks

    def __init__(self, mocks: StrictMocks) -> None:
        super().__init__(mocks)

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method name
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type != "pulumi:pulumi:Stack" and urn in self.resources:
            raise StrictMockError(f"duplicate resource URN {urn}: child names must be unique")
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type == "pulumi:pulumi:Stack":
            return response
        registration = self.resources[urn]
        with self.mocks.lock:
            self.mocks.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=urn,
                    parent=request.parent,
                    custom=bool(request.custom),
                    inputs=deserialize_properties(request.object),
                    id=registration.id or "",
                    state=dict(registration.state),
                    provider=request.provider,
                    dependencies=tuple(request.dependencies),
                    delete_before_replace=bool(request.deleteBeforeReplace),
                    ignore_changes=tuple(request.ignoreChanges),
                )
            )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802
        with self.mocks.lock:
            self.mocks.registered_outputs[request.urn] = deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]


@dataclass
class ProgramRun(Generic[T]):
    """What a program did under :class:`StrictMocks`, after every registration finished."""

    result: T
    mocks: StrictMocks
    resources: list[Registration] = field(default_factory=list)
    exports: dict[str, Any] = field(default_factory=dict)
    """Stack outputs (``pulumi.export``), resolved."""

    def of_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_token]

    def named(self, name: str) -> Registration:
        found = [r for r in self.resources if r.name == name]
        if len(found) != 1:
            raise AssertionError(f"expected one resource named {name!r}, found {len(found)}")
        return found[0]

    def with_id(self, resource_id: str) -> Registration:
        found = [r for r in self.resources if r.id == resource_id]
        if len(found) != 1:
            raise AssertionError(f"expected one resource with id {resource_id!r}: {found}")
        return found[0]

    def children_of(self, urn: str) -> list[Registration]:
        return [r for r in self.resources if r.parent == urn]

    def outputs_of(self, urn: str) -> dict[str, Any]:
        """What a component passed to ``register_outputs``."""
        return self.mocks.registered_outputs[urn]

    @property
    def invocations(self) -> list[Invocation]:
        return list(self.mocks.invocations)

    def resolve(self, value: pulumi.Input[Any]) -> Any:
        """The value of an Output once the run is over (``None`` if unknown, as in a preview)."""
        return _resolve(value)


def _resolve(value: Any) -> Any:
    # Lists and dicts of Outputs resolve deeply. The run is over, so the futures are done.
    return _sync_await(pulumi.Output.from_input(value).future())


def _config_text(value: Any) -> str:
    # The engine hands the program strings; structured values arrive as JSON (get_object).
    return value if isinstance(value, str) else json.dumps(value)


def run_program(
    program: Callable[[], T],
    mocks: StrictMocks | None = None,
    *,
    config: Mapping[str, Any] | None = None,
    preview: bool = False,
) -> ProgramRun[T]:
    """Run ``program`` as a Pulumi program under ``mocks`` and wait for every registration.

    ``config`` maps full keys (``"cloudtap:network"``) to values. Exceptions from the program, from
    an ``apply`` or from the mocks (unknown type, unknown invoke, duplicate URN) propagate.
    """
    mocks = mocks if mocks is not None else StrictMocks()
    # A fresh root stack per run: exports and the stack URN must not leak between tests.
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_all_config({key: _config_text(v) for key, v in (config or {}).items()})
    pulumi.runtime.set_mocks(
        mocks, project=PROJECT, stack=STACK, preview=preview, monitor=StrictMonitor(mocks)
    )
    box: list[T] = []

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def run() -> None:
        # pulumi.runtime.test awaits the returned value, then every outstanding RPC and task.
        box.append(program())

    try:
        run()
    finally:
        pulumi.runtime.set_all_config({})
    stack = pulumi_settings.get_root_resource()
    exported: dict[str, Any] = getattr(stack, "outputs", {})
    exports = {key: _resolve(value) for key, value in exported.items()}
    return ProgramRun(box[0], mocks, list(mocks.registrations), exports)
