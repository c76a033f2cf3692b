"""What every cloudtap EC2 instance shares: its default image, its SSM role and its hardening.

Used by the gateway (:class:`~components.aws.monitored_vpc.MonitoredVpc`) and by
:class:`~components.aws.sensor.Sensor`, so both boot the same way and are managed the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from ..errors import CloudtapInputError
from ..shapes import check_ssm_parameter_name, is_ssm_document_name

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


# -- settings delivered apart from the boot (SSM) ----------------------------------------------

FETCH_COMMAND = "/usr/bin/python3 -I /usr/local/sbin/cloudtap-settings"
"""What the association runs on the instance: the fetcher, which applies a changed parameter."""
SETTINGS_VERSION_PARAMETER = "settingsVersion"


@dataclass(frozen=True)
class SettingsNames:
    parameter: str
    """``/cloudtap/PROJECT/STACK/COMPONENT/ROLE``: one per stack and component, so two stacks
    in one account and region never share a parameter."""
    document: str
    """The parameter's name without slashes, ``-fetch`` added."""


def settings_names(component: str, role: str) -> SettingsNames:
    """The names of a component's settings parameter and fetch document, checked at preview."""
    parameter = f"/cloudtap/{pulumi.get_project()}/{pulumi.get_stack()}/{component}/{role}"
    document = parameter.strip("/").replace("/", "-") + "-fetch"
    try:
        check_ssm_parameter_name("name", parameter)
    except CloudtapInputError:
        pass
    else:
        if is_ssm_document_name(document):
            return SettingsNames(parameter, document)
    raise CloudtapInputError(
        "name",
        component,
        "a component name of letters, digits, '_', '.' and '-' short enough to name the SSM "
        f"parameter holding its settings ({parameter!r}) and its fetch document (128 at most)",
    )


def parameter_read_policy(parameter_arn: str) -> str:
    """The instance role may read exactly this parameter (a host feed's key), nothing else."""
    statement = {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": parameter_arn}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def settings_read_policy(parameter_arn: str, status_arn: str) -> str:
    """The instance role may read exactly its own settings parameter and write exactly its
    status parameter, nothing else."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": parameter_arn},
                {"Effect": "Allow", "Action": "ssm:PutParameter", "Resource": status_arn},
            ],
        }
    )


STATUS_SUFFIX = "-status"
"""The status parameter is the settings parameter's name plus this (cloudtap_aws.py adds it)."""
NOT_REPORTED = json.dumps({"result": "not reported yet"})
"""The status parameter's value until an instance has applied settings and reported."""


def fetch_document() -> str:
    """The Command document the association runs. ``settingsVersion`` is not used by the
    command: it is there so that a new parameter version changes the association, which makes
    SSM run it at once. Its pattern keeps it digits, though nothing reads it."""
    return json.dumps(
        {
            "schemaVersion": "2.2",
            "description": "cloudtap: fetch this instance's settings and apply a change in place",
            "parameters": {
                SETTINGS_VERSION_PARAMETER: {
                    "type": "String",
                    "description": "The settings parameter's version (changes the association)",
                    "allowedPattern": "^[0-9]+$",
                    "default": "0",
                }
            },
            "mainSteps": [
                {
                    "action": "aws:runShellScript",
                    "name": "fetchSettings",
                    "inputs": {"runCommand": [FETCH_COMMAND], "timeoutSeconds": "300"},
                }
            ],
        },
        sort_keys=True,
    )


@dataclass(frozen=True)
class SettingsParameter:
    """The settings text in SSM, the status the instances report back, and the instance role's
    permission to read the one and write the other."""

    parameter: aws.ssm.Parameter
    status: aws.ssm.Parameter
    """JSON (result, sha256s, message, time, instance) that the instances write after each
    apply-settings; the stack reads it back with ``pulumi refresh`` (``up --refresh``)."""
    read_policy: aws.iam.RolePolicy
    """Instances depend on it: the first fetch at boot needs it."""


def settings_parameter(
    prefix: str,
    *,
    parameter_name: str,
    settings_text: str,
    role: aws.iam.Role,
    parent: pulumi.Resource,
    tags: Callable[[str], dict[str, str]],
) -> SettingsParameter:
    """``{prefix}-settings`` (a Standard String parameter), ``{prefix}-settings-status`` and
    ``{prefix}-settings-read``."""
    child = pulumi.ResourceOptions(parent=parent)
    parameter = aws.ssm.Parameter(
        f"{prefix}-settings",
        name=parameter_name,
        type="String",
        tier="Standard",
        data_type="text",
        # Not a secret, and a change must show in the preview's diff: insecure_value, not value.
        insecure_value=settings_text,
        description="cloudtap settings, applied in place by cloudtap-settings on the instance",
        tags=tags(f"{prefix}-settings"),
        opts=child,
    )
    status = aws.ssm.Parameter(
        f"{prefix}-settings-status",
        name=f"{parameter_name}{STATUS_SUFFIX}",
        type="String",
        tier="Standard",
        data_type="text",
        # insecure_value (no secret in it) so refresh shows it in the outputs in clear text.
        insecure_value=NOT_REPORTED,
        description="cloudtap: the status the instances report after applying their settings",
        tags=tags(f"{prefix}-settings-status"),
        # The instances write it: an up must not put the initial value back.
        opts=pulumi.ResourceOptions(parent=parent, ignore_changes=["insecureValue"]),
    )
    read = settings_read(prefix, parameter, status, role, parent)
    return SettingsParameter(parameter, status, read)


def settings_read(
    prefix: str,
    parameter: aws.ssm.Parameter,
    status: aws.ssm.Parameter,
    role: aws.iam.Role,
    parent: pulumi.Resource,
) -> aws.iam.RolePolicy:
    """``{prefix}-settings-read``: ``role`` may read ``parameter`` and write ``status`` (and
    nothing else)."""
    return aws.iam.RolePolicy(
        f"{prefix}-settings-read",
        role=role.id,
        policy=pulumi.Output.all(parameter.arn, status.arn).apply(
            lambda arns: settings_read_policy(arns[0], arns[1])
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )


@dataclass(frozen=True)
class SettingsPush:
    document: aws.ssm.Document
    association: aws.ssm.Association


def settings_push(
    prefix: str,
    *,
    document_name: str,
    parameter: aws.ssm.Parameter,
    instance: aws.ec2.Instance | None = None,
    parent: pulumi.Resource,
    tags: Callable[[str], dict[str, str]],
    targets: Sequence[aws.ssm.AssociationTargetArgsDict] = (),
) -> SettingsPush:
    """``{prefix}-fetch`` (Command document) and ``{prefix}-fetch-association``: the fetch runs
    as soon as the parameter's version changes; the instance's timer is the backstop (an image
    without the SSM agent, an association that fails). The association runs on ``instance``,
    or on ``targets`` (instances an Auto Scaling group launches, by tag)."""
    if (instance is None) == (not targets):
        raise ValueError("settings_push needs an instance or targets, not both")
    child = pulumi.ResourceOptions(parent=parent)
    document = aws.ssm.Document(
        f"{prefix}-fetch",
        name=document_name,
        document_type="Command",
        document_format="JSON",
        content=fetch_document(),
        tags=tags(f"{prefix}-fetch"),
        opts=child,
    )
    association = aws.ssm.Association(
        f"{prefix}-fetch-association",
        name=document.name,
        targets=(
            [{"key": "InstanceIds", "values": [instance.id]}]
            if instance is not None
            else list(targets)
        ),
        parameters={SETTINGS_VERSION_PARAMETER: parameter.version.apply(str)},
        tags=tags(f"{prefix}-fetch-association"),
        opts=child,
    )
    return SettingsPush(document, association)
