"""What every cloudtap EC2 instance shares: its default image, its SSM role and its hardening.

Used by the gateway (:class:`~components.aws.monitored_vpc.MonitoredVpc`) and by
:class:`~components.aws.sensor.Sensor`, so both boot the same way and are managed the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

SSM_POLICY = "AmazonSSMManagedInstanceCore"

# IMDSv2 only, and a hop limit of 1 so containers on the host cannot reach the credentials.
METADATA_OPTIONS: aws.ec2.InstanceMetadataOptionsArgsDict = {
    "http_tokens": "required",
    "http_endpoint": "enabled",
    "http_put_response_hop_limit": 1,
}


@dataclass(frozen=True)
class SsmProfile:
    """An instance profile whose role may only be used by EC2 and grants SSM management."""

    role: aws.iam.Role
    policy_attachment: aws.iam.RolePolicyAttachment
    """Instances depend on it: the SSM agent registers at boot and needs the policy by then."""
    profile: aws.iam.InstanceProfile


def ssm_instance_profile(
    prefix: str,
    description: str,
    parent: pulumi.Resource,
    tags: Callable[[str], dict[str, str]],
) -> SsmProfile:
    """``{prefix}-role``, ``{prefix}-ssm`` and ``{prefix}-profile``, children of ``parent``.

    The principal and the policy ARN come from the provider's partition (aws, aws-cn,
    aws-us-gov), looked up through the parent's provider.
    """
    invoke = pulumi.InvokeOutputOptions(parent=parent)
    principal = aws.get_service_principal_output(service_name="ec2", opts=invoke)
    partition = aws.get_partition_output(opts=invoke)
    child = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(
        f"{prefix}-role",
        description=description,
        assume_role_policy=principal.apply(lambda result: _assume_role_policy(result.name)),
        tags=tags(f"{prefix}-role"),
        opts=child,
    )
    attachment = aws.iam.RolePolicyAttachment(
        f"{prefix}-ssm",
        role=role.name,
        policy_arn=partition.apply(
            lambda result: f"arn:{result.partition}:iam::aws:policy/{SSM_POLICY}"
        ),
        opts=child,
    )
    profile = aws.iam.InstanceProfile(
        f"{prefix}-profile",
        role=role.name,
        tags=tags(f"{prefix}-profile"),
        opts=child,
    )
    return SsmProfile(role, attachment, profile)


def latest_al2023(architecture: str, parent: pulumi.Resource) -> pulumi.Output[str]:
    """The newest Amazon Linux 2023 image for ``architecture`` (``x86_64`` or ``arm64``)."""
    image = aws.ec2.get_ami_output(
        most_recent=True,
        owners=["amazon"],
        filters=[
            {"name": "name", "values": [f"al2023-ami-2023.*-{architecture}"]},
            {"name": "architecture", "values": [architecture]},
            {"name": "state", "values": ["available"]},
        ],
        opts=pulumi.InvokeOutputOptions(parent=parent),
    )
    return image.apply(lambda result: result.id)


def _assume_role_policy(ec2_principal: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": ec2_principal},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


UBUNTU_PARAMETER = (
    "/aws/service/canonical/ubuntu/server/24.04/stable/current/{arch}/hvm/ebs-gp3/ami-id"
)
"""Canonical's public SSM parameter for its newest Ubuntu 24.04 LTS image, per architecture."""
_UBUNTU_ARCHITECTURES = {"x86_64": "amd64", "arm64": "arm64"}


def latest_ubuntu_2404(architecture: str, parent: pulumi.Resource) -> pulumi.Output[str]:
    """The newest Ubuntu 24.04 LTS image for ``architecture`` (``x86_64`` or ``arm64``), from
    Canonical's public parameter: its archive carries Suricata, Amazon Linux 2023's does not."""
    parameter = aws.ssm.get_parameter_output(
        name=UBUNTU_PARAMETER.format(arch=_UBUNTU_ARCHITECTURES[architecture]),
        opts=pulumi.InvokeOutputOptions(parent=parent),
    )
    return parameter.apply(lambda result: result.value)
