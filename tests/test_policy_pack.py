"""The policy pack: every rule with resources in the engine's shape, and the example stacks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)

from components import MonitoredVpc, Sensor
from policy import cloudtap_policies as pack
from tests.mocks import ProgramRun, Registration, StrictMocks, run_program


def _opts(parent: str | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], parent)


def _collect(into: list[str]) -> Callable[[str, str | None], None]:
    def report(message: str, urn: str | None = None) -> None:
        into.append(message)

    return report


def resource_violations(policy: str, typ: str, props: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    args = ResourceValidationArgs(typ, props, f"urn:pulumi:s::p::{typ}::res", "res", _opts(), None)
    pack.RESOURCE_POLICIES[policy][1](args, _collect(found))
    return found


def stack_violations(resources: list[PolicyResource]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, (_, validate) in pack.STACK_POLICIES.items():
        messages: list[str] = []
        validate(StackValidationArgs(resources), _collect(messages))
        found[name] = messages
    return found


SG = "aws:ec2/securityGroup:SecurityGroup"
WORLD_SSH = {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}


@pytest.mark.parametrize(
    ("policy", "typ", "props", "expected"),
    [
        ("cloudtap-aws-security-group-world-open", SG, {"ingress": [WORLD_SSH]}, "22/tcp (SSH)"),
        (
            "cloudtap-aws-security-group-world-open",
            SG,
            {
                "ingress": [
                    {"protocol": "-1", "fromPort": 0, "toPort": 0, "ipv6CidrBlocks": ["::/0"]}
                ]
            },
            "4789/udp (VXLAN mirror feed)",
        ),
        (
            "cloudtap-aws-security-group-world-open",
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            {"ipProtocol": "udp", "fromPort": 6081, "toPort": 6081, "cidrIpv4": "0.0.0.0/0"},
            "6081/udp",
        ),
        (
            "cloudtap-aws-imdsv2-required",
            "aws:ec2/instance:Instance",
            {"metadataOptions": {"httpTokens": "optional"}},
            'http_tokens": "required"',
        ),
        (
            "cloudtap-aws-volumes-encrypted",
            "aws:ebs/volume:Volume",
            {"size": 500},
            "set encrypted=True",
        ),
        (
            "cloudtap-aws-volumes-encrypted",
            "aws:ec2/instance:Instance",
            {"rootBlockDevice": {"encrypted": False}},
            "unencrypted root volume",
        ),
        (
            "cloudtap-gateway-no-ssh-forward",
            "aws:ec2/instance:Instance",
            {"userData": '# cloudtap gateway settings\nPORT_FORWARDS="tcp:22:10.0.64.10:22"\n'},
            "forwards port 22 to 10.0.64.10",
        ),
        (
            "cloudtap-azure-nsg-world-open",
            "azure-native:network:NetworkSecurityGroup",
            {
                "securityRules": [
                    {
                        "name": "ssh",
                        "direction": "Inbound",
                        "access": "Allow",
                        "protocol": "Tcp",
                        "sourceAddressPrefix": "Internet",
                        "destinationPortRange": "22",
                    }
                ]
            },
            "rule 'ssh' admits 22/tcp (SSH) from anywhere",
        ),
        (
            "cloudtap-azure-disk-not-exportable",
            "azure-native:compute:Disk",
            {"diskSizeGB": 64},
            "set network_access_policy to DenyAll",
        ),
        (
            "cloudtap-openstack-rule-world-open",
            "openstack:networking/secGroupRule:SecGroupRule",
            {"direction": "ingress", "protocol": "udp", "portRangeMin": 4789, "portRangeMax": 4789},
            "anywhere (no remote prefix)",
        ),
    ],
)
def test_each_resource_rule_reports_a_violation_naming_resource_and_fix(
    policy: str, typ: str, props: Mapping[str, Any], expected: str
) -> None:
    messages = resource_violations(policy, typ, props)
    assert any(expected in message for message in messages), messages
    assert all(f"{typ} 'res'" in message for message in messages)


@pytest.mark.parametrize(
    ("policy", "typ", "props"),
    [
        (
            "cloudtap-aws-security-group-world-open",
            SG,
            {
                "ingress": [
                    {**WORLD_SSH, "cidrBlocks": ["10.0.192.0/20"]},
                    {**WORLD_SSH, "fromPort": 443, "toPort": 443},
                ]
            },
        ),
        (
            "cloudtap-aws-imdsv2-required",
            "aws:ec2/instance:Instance",
            {"metadataOptions": {"httpTokens": "required"}, "rootBlockDevice": {"encrypted": True}},
        ),
        ("cloudtap-aws-volumes-encrypted", "aws:ebs/volume:Volume", {"encrypted": True}),
        (
            "cloudtap-aws-volumes-encrypted",
            "aws:ec2/instance:Instance",
            {"rootBlockDevice": {"encrypted": True}, "ebsBlockDevices": [{"encrypted": True}]},
        ),
        (
            "cloudtap-gateway-no-ssh-forward",
            "aws:ec2/instance:Instance",
            {"userData": '# cloudtap gateway settings\nPORT_FORWARDS="tcp:3389:10.0.64.10:22"\n'},
        ),
        (
            "cloudtap-azure-nsg-world-open",
            "azure-native:network:SecurityRule",
            {
                "direction": "Inbound",
                "access": "Allow",
                "protocol": "Udp",
                "sourceAddressPrefix": "10.1.0.0/16",
                "destinationPortRange": "4789",
            },
        ),
        (
            "cloudtap-azure-disk-not-exportable",
            "azure-native:compute:Disk",
            {"networkAccessPolicy": "DenyAll"},
        ),
        (
            "cloudtap-openstack-rule-world-open",
            "openstack:networking/secGroupRule:SecGroupRule",
            {
                "direction": "ingress",
                "protocol": "tcp",
                "portRangeMin": 22,
                "portRangeMax": 22,
                "remoteIpPrefix": "192.0.2.0/24",
            },
        ),
    ],
)
def test_each_resource_rule_passes_a_compliant_resource(
    policy: str, typ: str, props: Mapping[str, Any]
) -> None:
    assert resource_violations(policy, typ, props) == []


# -- the example stack's resources, as the engine would pass them ---------------------------


def _policy_resources(run: ProgramRun[Any]) -> list[PolicyResource]:
    by_urn: dict[str, PolicyResource] = {}
    for registration in run.resources:
        parent = by_urn.get(registration.parent)
        props = {**registration.inputs, **registration.state, "id": registration.id}
        by_urn[registration.urn] = PolicyResource(
            registration.type,
            props,
            registration.urn,
            registration.name,
            _opts(registration.parent),
            None,
            parent,
            [],
            {},
        )
    return list(by_urn.values())


def _example(mocks: StrictMocks) -> ProgramRun[Any]:
    def program() -> None:
        network = MonitoredVpc(
            "cloudtap",
            {
                "port_forwards": [{"public_port": 3389, "private_host": "10.0.64.10"}],
                "management_cidrs": ["192.0.2.0/24"],
                "gateway_mirror": {},
            },
        )
        Sensor("sensor", {"network": network, "log_volume_size_gb": 500})

    return run_program(program, mocks)


def _all_violations(resources: list[PolicyResource]) -> list[str]:
    found: list[str] = []
    for resource in resources:
        if not resource.resource_type.startswith(("aws:", "azure-native:", "openstack:")):
            continue
        for policy in pack.RESOURCE_POLICIES:
            found += resource_violations(policy, resource.resource_type, resource.props)
    for messages in stack_violations(resources).values():
        found += messages
    return found


def test_the_example_stack_passes_the_pack(mocks: StrictMocks) -> None:
    resources = _policy_resources(_example(mocks))
    assert len(resources) > 40
    assert _all_violations(resources) == []


def test_a_private_route_around_the_gateway_fails_the_stack_policy(mocks: StrictMocks) -> None:
    resources = _policy_resources(_example(mocks))
    private = next(r for r in resources if r.name == "cloudtap-private-1-rt")
    management = next(r for r in resources if r.name == "cloudtap-management-rt")
    igw = next(r for r in resources if r.name == "cloudtap-igw")
    for name, table in (("escape", private), ("mgmt", management)):
        resources.append(
            PolicyResource(
                "aws:ec2/route:Route",
                {
                    "routeTableId": table.props["id"],
                    "destinationCidrBlock": "0.0.0.0/0",
                    "gatewayId": igw.props["id"],
                },
                f"urn:{name}",
                name,
                _opts(),
                None,
                None,
                [],
                {},
            )
        )
    found = stack_violations(resources)
    (escape,) = found["cloudtap-private-tier-only-through-gateway"]
    assert "route 'escape' of private-tier route table 'cloudtap-private-1-rt'" in escape
    assert "gatewayId" in escape
    (mgmt,) = found["cloudtap-management-tier-unrouted"]
    assert "route 'mgmt'" in mgmt and "0.0.0.0/0" in mgmt


def test_every_policy_is_mandatory_by_default_and_named_once() -> None:
    built = pack.policies()
    assert len({p.name for p in built}) == len(built) == 9
    assert all(p.enforcement_level.value == "mandatory" for p in built)  # type: ignore[union-attr]


def test_registration_shape_is_the_engines(mocks: StrictMocks) -> None:
    # The mocks record camelCase inputs, as the engine passes them to the analyzer.
    run = _example(mocks)
    instance: Registration = next(r for r in run.resources if r.type == "aws:ec2/instance:Instance")
    assert "metadataOptions" in instance.inputs
