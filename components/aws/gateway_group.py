"""``gateway_strategy: one_per_zone``: a gateway per zone, each an Auto Scaling group of one.

Each zone gets a persistent network interface (ENI) in its public subnet, with source/dest
checking off and the zone's Elastic IP on it; the zone's private (and monitor) route table
sends its default route to that ENI. The group's instance launches with its own throw-away
primary interface and attaches the ENI at boot (``cloudtap-gateway-eni claim``, the design
fck-nat uses), so the routes and the public address survive every replacement unchanged.

Replacements are made before they break: a new template version (an image, an instance type,
cloudtap's scripts) starts an instance refresh at min_healthy_percentage 100 and
max_healthy_percentage 200 (max_size 2), so the new instance boots while the old one still
forwards. Its boot (``cloudtap-gateway-eni claim``) fetches and preflights the settings, then
takes the ENI over from the older instance (a forced detach of exactly that attachment, then the
attach) and applies. The group's launch lifecycle hook (``READY_HOOK``, default ABANDON) holds the
new instance in Pending:Wait until its watch's first check passes, so the refresh terminates the
old one only after the new one forwards; a new instance that never gets ready is abandoned and
the old one stays. The old instance's watch then finds a newer instance of its group holding the
ENI: it stops claiming and judging (superseded) and never reports the new one (it only ever
reports itself). Forwarding stops for the takeover only (the detach, the attach, the interface
appearing, the apply), not for a boot.

Health: the group replaces an instance EC2 reports impaired (``health_check_type: EC2``), and
``cloudtap-gateway-eni watch`` (every 20 s) runs the gateway's own ``check``: after 3 failures in
a row, on an instance whose check has passed once, it calls ``autoscaling:SetInstanceHealth``
for itself, so a gateway whose forwarding broke is replaced too, not only one whose VM died. A
gateway that never passed is left alone: its settings or image are wrong and a replacement
would fail the same way, in a loop.

What a replacement loses: the NAT state of established connections (conntrack lives on the
old instance; syncing it between two gateways, conntrackd, is the next step). Clients open new
connections through the new gateway once it has claimed the ENI.

Least privilege: each zone's role may call ``ec2:AttachNetworkInterface`` and
``ec2:DetachNetworkInterface`` on exactly its own ENI and on instances tagged as launched by its
own group (``cloudtap-gateway`` = the group's name, which only the launch template sets),
``ec2:DescribeNetworkInterfaces`` (which has no resource-level permissions: read only), and
``autoscaling:SetInstanceHealth`` and ``autoscaling:CompleteLifecycleAction`` on exactly its own
group. The primary interface has a public address: before it holds the ENI the instance reaches
the EC2 API and its package mirrors through it (the gateway's security group applies to it as
to the ENI).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pulumi
import pulumi_aws as aws

from ..boot_bundle import BootBundle, boot_bundle
from ..cloud_config import WrittenFile, asset_text, render_settings_file
from ..gateway import render_boot_cloud_config
from ..os_family import OsFamily
from ..settings_delivery import SettingsSource
from ..shapes import is_eni_id
from .boot_bundle import BootBucket, read_bundle

GATEWAY_TAG = "cloudtap-gateway"
"""Instance tag (the group's name) that the attach policy's condition names."""
ENI_SCRIPT_PATH = "/usr/local/sbin/cloudtap-gateway-eni"
ENI_CONFIG_PATH = "/etc/cloudtap/gateway-eni.conf"
ENI_UNIT_PATH = "/etc/systemd/system/cloudtap-gateway-eni.service"
WATCH_UNIT_PATH = "/etc/systemd/system/cloudtap-gateway-watch.service"
WATCH_TIMER_PATH = "/etc/systemd/system/cloudtap-gateway-watch.timer"
ENI_SERVICE = "cloudtap-gateway-eni.service"
WATCH_TIMER = "cloudtap-gateway-watch.timer"
ENI_CONFIG_KEYS = ("ENI_ID", "AUTO_SCALING_GROUP")
"""The script's ``CONFIG_KEYS`` (a test holds them equal)."""
READY_HOOK = "cloudtap-gateway-ready"
"""The launch lifecycle hook the new instance completes once ready (the script's READY_HOOK)."""
READY_TIMEOUT_SECONDS = 900
"""A boot, the takeover and the first check take minutes: an instance not ready by then is
abandoned (terminated) and the older one keeps the ENI."""
HEALTH_CHECK_GRACE_SECONDS = 300
"""The boot installs nftables and claims the ENI: no health verdict before that is done."""


class GatewayStrategy(StrEnum):
    """How many gateways a monitored VPC has, and how they are run (``gateway_strategy``)."""

    SINGLE = "single"
    """One gateway instance in the first zone; every private route table points at its ENI.
    Cheapest; when it dies the private tier loses the internet until it is replaced."""
    ONE_PER_ZONE = "one_per_zone"
    """A gateway per zone, each an Auto Scaling group of one that re-attaches the zone's
    persistent ENI: a zone's private tier keeps its own way out, and a dead or broken gateway
    is replaced without a route change."""


@dataclass(frozen=True)
class ZoneGateway:
    """One zone's gateway: what routes point at and what runs it."""

    network_interface: aws.ec2.NetworkInterface
    elastic_ip: aws.ec2.Eip
    role: aws.iam.Role
    launch_template: aws.ec2.LaunchTemplate
    group: aws.autoscaling.Group
    group_name: str


def group_name(settings_parameter: str, zone_index: int) -> str:
    """``cloudtap-PROJECT-STACK-COMPONENT-gateway-N``: named before it exists, so the user data
    and the policies can name it; unique per stack, like the settings parameter it derives from."""
    return f"{settings_parameter.strip('/').replace('/', '-')}-{zone_index + 1}"


def render_eni_config(eni_id: str, group: str) -> str:
    """``/etc/cloudtap/gateway-eni.conf``: which ENI to claim, which group to report to."""
    if not is_eni_id(eni_id):
        raise ValueError(f"not a network interface id: {eni_id!r}")
    lines: list[str | tuple[str, str | int]] = [
        "# The persistent interface this gateway attaches, and its Auto Scaling group.",
        ("ENI_ID", eni_id),
        ("AUTO_SCALING_GROUP", group),
    ]
    return render_settings_file(lines, keys=ENI_CONFIG_KEYS)


def eni_files(eni_id: str, group: str) -> list[WrittenFile]:
    return [
        WrittenFile(ENI_SCRIPT_PATH, asset_text("gateway", "cloudtap_gateway_eni.py"), "0755"),
        WrittenFile(ENI_CONFIG_PATH, render_eni_config(eni_id, group)),
        WrittenFile(ENI_UNIT_PATH, asset_text("gateway", "cloudtap-gateway-eni.service")),
        WrittenFile(WATCH_UNIT_PATH, asset_text("gateway", "cloudtap-gateway-watch.service")),
        WrittenFile(WATCH_TIMER_PATH, asset_text("gateway", "cloudtap-gateway-watch.timer")),
    ]


def render_group_cloud_config(
    *, source: SettingsSource, os_family: OsFamily, eni_id: str, group: str
) -> str:
    """The gateway's user data plus the claim: the ENI is attached and routed before the first
    fetch applies the settings (the rule set is built for the interface holding the EIP)."""
    return render_boot_cloud_config(
        source=source,
        os_family=os_family,
        extra_files=eni_files(eni_id, group),
        first_commands=[
            ["systemctl", "enable", "--now", ENI_SERVICE],
            ["systemctl", "enable", "--now", WATCH_TIMER],
        ],
    )


PLACEHOLDER_ENI_ID = "eni-00000000000000000"
"""As long as a real one: the bundle and the size check are made before any ENI exists."""


def zone_gateway_boot_bundle(
    *, source: SettingsSource, os_family: OsFamily, group: str
) -> BootBundle:
    """One bundle for every zone's gateway: their boots differ only in the ENI config, which
    each user data writes itself (``group``: the first zone's, as long as the others')."""
    config = render_group_cloud_config(
        source=source, os_family=os_family, eni_id=PLACEHOLDER_ENI_ID, group=group
    )
    return boot_bundle("gateway", config, direct_paths=(ENI_CONFIG_PATH,))


def _arn_with_resource(arn: str, resource: str) -> str:
    """The ARN of another resource in the same partition, region and account."""
    partition_to_account = arn.split(":")[:5]
    return ":".join([*partition_to_account, resource])


def group_arn_pattern(eni_arn: str, group: str) -> str:
    """The group's ARN before it exists (its middle part is a UUID AWS picks): the group waits
    for its first instance's lifecycle hook, so that instance's policy must come first."""
    partition, region, account = eni_arn.split(":")[1:2] + eni_arn.split(":")[3:5]
    resource = f"autoScalingGroup:*:autoScalingGroupName/{group}"
    return f"arn:{partition}:autoscaling:{region}:{account}:{resource}"


def attach_policy(eni_arn: str, group: str) -> str:
    """Attach and take over exactly this ENI, between instances its own group launched, and
    report its launch ready to exactly its own group."""
    eni_actions = ["ec2:AttachNetworkInterface", "ec2:DetachNetworkInterface"]
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AttachTheZonesGatewayInterface",
                    "Effect": "Allow",
                    "Action": eni_actions,
                    "Resource": eni_arn,
                },
                {
                    "Sid": "ToAnInstanceOfItsOwnGroup",
                    "Effect": "Allow",
                    "Action": eni_actions,
                    "Resource": _arn_with_resource(eni_arn, "instance/*"),
                    "Condition": {"StringEquals": {f"aws:ResourceTag/{GATEWAY_TAG}": group}},
                },
                {
                    # Who holds the ENI now; Describe calls take no resource-level permissions.
                    "Sid": "SeeWhoHoldsIt",
                    "Effect": "Allow",
                    "Action": "ec2:DescribeNetworkInterfaces",
                    "Resource": "*",
                },
                {
                    "Sid": "ReportItsLaunchReady",
                    "Effect": "Allow",
                    "Action": "autoscaling:CompleteLifecycleAction",
                    "Resource": group_arn_pattern(eni_arn, group),
                },
            ],
        },
        sort_keys=True,
    )


def health_policy(group_arn: str) -> str:
    """Report health to exactly its own group (the gateway's ``check`` failing repeatedly)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "autoscaling:SetInstanceHealth",
                    "Resource": group_arn,
                }
            ],
        },
        sort_keys=True,
    )


@dataclass(frozen=True)
class GatewayImage:
    image_id: pulumi.Input[str]
    root_device_name: pulumi.Input[str]


def gateway_image(
    ami_id: pulumi.Input[str] | None, architecture: str, parent: pulumi.Resource
) -> GatewayImage:
    """The image and its root device name (a launch template's volume is given by device)."""
    invoke = pulumi.InvokeOutputOptions(parent=parent)
    if ami_id is None:
        image = aws.ec2.get_ami_output(
            most_recent=True,
            owners=["amazon"],
            filters=[
                {"name": "name", "values": [f"al2023-ami-2023.*-{architecture}"]},
                {"name": "architecture", "values": [architecture]},
                {"name": "state", "values": ["available"]},
            ],
            opts=invoke,
        )
    else:
        # The id may be an Output of the same program: the invoke then waits for it.
        by_id: Any = [{"name": "image-id", "values": [ami_id]}]
        image = aws.ec2.get_ami_output(filters=by_id, opts=invoke)
    return GatewayImage(
        image_id=image.apply(lambda result: result.id),
        root_device_name=image.apply(lambda result: result.root_device_name),
    )


def build_zone_gateway(
    prefix: str,
    zone_index: int,
    *,
    parent: pulumi.Resource,
    tags: Callable[[str], dict[str, str]],
    subnet: aws.ec2.Subnet,
    security_group: aws.ec2.SecurityGroup,
    image: GatewayImage,
    pin_image: bool,
    instance_type: str,
    key_name: pulumi.Input[str] | None,
    source: SettingsSource,
    os_family: OsFamily,
    settings_group: str,
    role: aws.iam.Role,
    profile: aws.iam.InstanceProfile,
    internet_gateway: aws.ec2.InternetGateway,
    depends_on: Sequence[pulumi.Resource],
    bundle: BootBundle,
    bundle_object: aws.s3.BucketObjectv2,
    bucket: BootBucket,
) -> ZoneGateway:
    """``{prefix}-gateway-N-eni``, ``-eip``, ``-eni-attach``, ``-health``, ``-lt`` and the group
    ``{prefix}-gateway-N``; the role and its profile come from the caller (SSM and settings).
    ``depends_on``: what the boot needs first (the public route, the role's policies)."""
    child = pulumi.ResourceOptions(parent=parent)
    stem = f"{prefix}-gateway-{zone_index + 1}"
    eni = aws.ec2.NetworkInterface(
        f"{stem}-eni",
        subnet_id=subnet.id,
        security_groups=[security_group.id],
        source_dest_check=False,
        description=f"cloudtap gateway of {prefix}, zone {zone_index + 1}",
        tags=tags(f"{stem}-eni"),
        # Never deleted with an instance: no instance owns it, the group's instances borrow it.
        opts=child,
    )
    eip = aws.ec2.Eip(
        f"{stem}-eip",
        domain="vpc",
        network_interface=eni.id,
        tags=tags(f"{stem}-eip"),
        # AWS refuses to associate an Elastic IP in a VPC without an internet gateway.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[internet_gateway]),
    )
    attach = aws.iam.RolePolicy(
        f"{stem}-eni-attach",
        role=role.id,
        policy=eni.arn.apply(lambda arn: attach_policy(arn, settings_group)),
        opts=child,
    )
    # The zones share one bundle (:func:`zone_gateway_boot_bundle`); each user data writes
    # its own zone's ENI and group.
    stored = read_bundle(
        stem,
        bundle,
        bundle_object,
        bucket=bucket,
        role=role,
        parent=parent,
        direct=eni.id.apply(
            lambda eni_id: [WrittenFile(ENI_CONFIG_PATH, render_eni_config(eni_id, settings_group))]
        ),
    )
    user_data = stored.user_data_base64
    instance_tags = {**tags(stem), GATEWAY_TAG: settings_group}
    template = aws.ec2.LaunchTemplate(
        f"{stem}-lt",
        description=f"cloudtap gateway of {prefix}, zone {zone_index + 1}",
        image_id=image.image_id,
        instance_type=instance_type,
        key_name=key_name,
        iam_instance_profile={"arn": profile.arn},
        metadata_options={
            "http_tokens": "required",
            "http_endpoint": "enabled",
            "http_put_response_hop_limit": 1,
        },
        network_interfaces=[
            {
                "device_index": 0,
                "subnet_id": subnet.id,
                "security_groups": [security_group.id],
                # The way to the EC2 API and the package mirrors until the ENI is attached.
                "associate_public_ip_address": "true",
                "delete_on_termination": "true",
            }
        ],
        block_device_mappings=[
            {
                "device_name": image.root_device_name,
                "ebs": {"encrypted": "true", "volume_type": "gp3", "delete_on_termination": "true"},
            }
        ],
        user_data=user_data,
        tag_specifications=[
            {"resource_type": "instance", "tags": instance_tags},
            {"resource_type": "volume", "tags": tags(stem)},
        ],
        update_default_version=True,
        tags=tags(f"{stem}-lt"),
        # A newer default image waits for the next replacement (see gateway_ami_id).
        opts=pulumi.ResourceOptions(parent=parent, ignore_changes=[] if pin_image else ["imageId"]),
    )
    group = aws.autoscaling.Group(
        stem,
        name=settings_group,
        min_size=1,
        # Room for the replacement while the old one still forwards (the refresh below).
        max_size=2,
        desired_capacity=1,
        vpc_zone_identifiers=[subnet.id],
        launch_template={"id": template.id, "version": template.latest_version.apply(str)},
        health_check_type="EC2",
        health_check_grace_period=HEALTH_CHECK_GRACE_SECONDS,
        # The new instance waits in Pending:Wait until it holds the ENI and passed its check.
        initial_lifecycle_hooks=[
            {
                "name": READY_HOOK,
                "lifecycle_transition": "autoscaling:EC2_INSTANCE_LAUNCHING",
                "default_result": "ABANDON",
                "heartbeat_timeout": READY_TIMEOUT_SECONDS,
            }
        ],
        # Creation waits for the first instance's hook: its boot and first check, not a launch.
        wait_for_capacity_timeout="20m",
        # A new template version (cloudtap's scripts, the image, the instance type) launches the
        # new instance first and terminates the old one only once the new one is ready.
        instance_refresh={
            "strategy": "Rolling",
            "preferences": {"min_healthy_percentage": 100, "max_healthy_percentage": 200},
        },
        tags=[
            {"key": key, "value": value, "propagate_at_launch": False}
            for key, value in tags(stem).items()
        ],
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=[*depends_on, eip, attach, bundle_object, stored.read_policy],
        ),
    )
    aws.iam.RolePolicy(
        f"{stem}-health",
        role=role.id,
        policy=group.arn.apply(health_policy),
        opts=child,
    )
    return ZoneGateway(eni, eip, role, template, group, settings_group)
