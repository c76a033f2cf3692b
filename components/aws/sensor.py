"""``Sensor``: an EC2 instance in the monitor tier that receives every mirror feed.

It decapsulates VXLAN (Traffic Mirroring, the gateway mirror), GENEVE (Gateway Load Balancer),
GRE and ERSPAN onto one capture interface for Zeek, Suricata, Arkime or tcpdump; the boot files
come from :func:`components.sensor.render_cloud_config`, the same on every cloud.

The sensor owns a network interface with a fixed address, so that

- the gateway mirror can be told where to send its copies before the sensor exists
  (``gateway_mirror.sensor_address`` defaults to the same address as the sensor), and
- a :class:`~components.aws.mirror_session.MirrorSession` target (the interface) survives a
  replacement of the instance (a new image or instance type).

Its settings (feeds, feed sources, capture interface, IDS packages) live in an SSM parameter the
instance applies in place (``cloudtap-sensor apply-settings``): changing them never re-creates
the sensor and never touches its log volume.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from ..boot_bundle import BootBundle, boot_bundle, with_files
from ..errors import CloudtapInputError
from ..fields import parse_host_in_zone, parse_int
from ..host_feed import ListenerPlan, SensorCredentials, listener_files
from ..host_feeds import HostFeeds, plan_host_feeds
from ..mirroring import default_sensor_address
from ..monitored_network import Cloud, MonitoredNetwork
from ..network_plan import NetworkPlan, Tier
from ..os_family import OsFamily, parse_os_family
from ..sensor import (
    SENSOR_FIELDS,
    LogVolume,
    SensorArgs,
    SensorPlan,
    gateway_heartbeats,
    plan_sensor,
    render_boot_cloud_config,
    render_settings,
    replace_heartbeats,
    user_data_field,
)
from ..settings_delivery import SettingsSource, check_fits_ssm_parameter
from ..shapes import UNLISTED_INSTANCE_TYPES
from .boot_bundle import check_bundled_user_data, store_bundle
from .instances import (
    METADATA_OPTIONS,
    latest_al2023,
    latest_ubuntu_2404,
    settings_names,
    settings_parameter,
    settings_push,
    ssm_instance_profile,
)
from .mirror_support import mirror_support
from .monitored_vpc import MonitoredVpc, sg_entry
from .rules import SecurityGroupRule, sensor_egress_rules, sensor_ingress_rules
from .validation import (
    architecture_of,
    validate_ami_id,
    validate_instance_type,
    validate_key_name,
    validate_tags,
    validate_unlisted_instance_types,
)

TYPE_TOKEN = "cloudtap:aws:Sensor"
# Network-optimized Nitro v3 ("n": up to 25 Gbit/s, a higher baseline than c5.large), on no
# Traffic Mirroring exclusion list, so its interface is a valid mirror target *and* a valid
# source. A sensor handles about 2 Gbit/s of feeds; copies count twice against bandwidth.
DEFAULT_INSTANCE_TYPE = "c5n.large"
# IDS logs of a busy sensor fill hundreds of gigabytes; gp3 volumes go up to 16 TiB.
RECOMMENDED_LOG_VOLUME_GB = 500
MAX_LOG_VOLUME_GB = 16_384
# Where the log volume is attached, and where the boot files look for it. Nitro instances expose
# it as an NVMe disk; Amazon Linux 2023's udev rules link this name to it. The boot files format
# it (label cloudtap-logs) unless it already carries that label, and mount it with nofail.
LOG_VOLUME_DEVICE = "/dev/sdf"


class AwsSensorArgs(SensorArgs, total=False):
    """Arguments of :class:`Sensor`: the cloud-neutral ``SensorArgs`` plus AWS fields.

    Only ``network`` is required.
    """

    network: MonitoredVpc
    """Required. The monitored VPC whose monitor tier the sensor lives in. Feeds are accepted
    from its whole CIDR unless ``feed_source_cidrs`` says otherwise."""
    availability_zone_index: int
    """Which zone's monitor subnet, 0-based. Default: the zone of the gateway mirror's
    ``sensor_address`` when the network's gateway mirror is on and ``private_ip`` is not given,
    else 0."""
    private_ip: str
    """The sensor's fixed address, a usable host in that monitor subnet. Default: the gateway
    mirror's ``sensor_address`` when it is on, else the subnet's .10
    (:func:`~components.mirroring.default_sensor_address`) — the address the gateway mirror
    assumes by default."""
    instance_type: str
    """Default ``"c5n.large"``: Nitro, network-optimized, and not on any AWS Traffic Mirroring
    exclusion list, so it is a valid mirror target. A type cloudtap cannot confirm for
    mirroring is accepted with a warning. It must be one the installed botocore's EC2 model
    lists, or one of ``unlisted_instance_types``."""
    unlisted_instance_types: Sequence[str]
    """Instance types newer than the installed botocore, accepted for ``instance_type`` although
    botocore does not list them (each still ``family.size``). Default: none."""
    ami_id: pulumi.Input[str]
    """Default: the latest Ubuntu 24.04 LTS for the instance type's architecture (Canonical's
    public SSM parameter), or the latest Amazon Linux 2023 with ``os_family: amazon-linux``;
    looked up when the sensor is first created (a newer image does not replace a running
    sensor)."""
    os_family: str
    """Distribution family of the image, for the names of the packages its boot installs and
    the IDS it can run: ``"debian"`` (default; Debian and Ubuntu, which carry Suricata),
    ``"amazon-linux"`` (Amazon Linux 2023: no Suricata, so ``ids`` must be ``none``) or
    ``"rhel"`` (RHEL, Rocky, Alma; needs ``ami_id``)."""
    log_volume_size_gb: int
    """Size of an extra encrypted gp3 volume for logs, mounted at ``log_mount_point``, 1-16384.
    Default: none (logs stay on the root volume). At least 500 is recommended."""
    key_name: pulumi.Input[str]
    """EC2 key pair for SSH. Default: none (SSM Session Manager). SSH is open only from the
    network's ``management_cidrs``."""
    tags: Mapping[str, str]
    """Tags merged into every resource's tags. Default: none; ``Name`` may not be given. The
    sensor's IAM role carries them too, so IAM's rule applies (see
    :attr:`MonitoredVpcArgs.tags <components.aws.monitored_vpc.MonitoredVpcArgs.tags>`)."""
    host_feeds: HostFeeds
    """Host feeds over mutual TLS to this sensor (a :class:`~components.host_feeds.HostFeeds`
    with ``tls`` hosts, ``sensor_address`` this sensor's ``private_ip`` and no
    ``sensor_security_group_id``): the listener's files go in the boot bundle, and the security
    group admits the listener's port from the feeds' ``host_cidrs`` only. Default: none."""


FIELDS = frozenset(AwsSensorArgs.__annotations__)
"""Every field, the cloud-neutral ``SensorArgs`` ones included."""


class Sensor(pulumi.ComponentResource):
    """A sensor instance with its own interface, security group, SSM role and optional log volume.

    Children: ``{name}-sg``, ``{name}-eni``, ``{name}-role``, ``{name}-ssm``,
    ``{name}-profile``, ``{name}-settings`` (the SSM parameter), ``{name}-settings-status``
    (what the instance reports back), ``{name}-settings-read``, ``{name}-fetch``,
    ``{name}-fetch-association``, ``{name}-boot-bundle`` (its boot files, in
    the network's boot bucket), ``{name}-boot-read``, ``{name}-instance`` and, with a log
    volume, ``{name}-logs`` and ``{name}-logs-attachment``.
    """

    plan: SensorPlan
    network: MonitoredVpc
    availability_zone_index: int
    private_ip: str
    """The interface's fixed address (known at preview)."""
    capture_interface: str
    """The interface the IDS watches, e.g. ``cloudtap0``."""
    user_data: str
    """The whole boot cloud-config: the same whatever the settings. Too big for EC2's user
    data, it reaches the instance as :attr:`boot_bundle`."""
    boot_bundle: BootBundle
    """The boot's files, stored in the network's boot bucket, and the small user data."""
    boot_object: aws.s3.BucketObjectv2
    settings: str
    """The settings file, as the SSM parameter holds it."""
    settings_parameter: aws.ssm.Parameter
    settings_status: aws.ssm.Parameter
    """What the sensor reports after each apply-settings (JSON); read back by refresh."""
    settings_association: aws.ssm.Association
    security_group: aws.ec2.SecurityGroup
    network_interface: aws.ec2.NetworkInterface
    network_interface_id: pulumi.Output[str]
    """A mirror target: survives replacement of the instance."""
    instance: aws.ec2.Instance
    log_volume: aws.ebs.Volume | None
    """``None`` without ``log_volume_size_gb``."""

    def __init__(
        self,
        name: str,
        args: AwsSensorArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        planned = plan_aws_sensor(args, name)
        network = planned.network
        if not isinstance(network, MonitoredVpc):
            raise CloudtapInputError(
                "network", network, "the MonitoredVpc whose monitor tier the sensor lives in"
            )
        plan = network.plan
        self.plan = planned.plan
        names = settings_names(name, "sensor")
        self.settings = planned.settings
        if planned.boot_bundle is None:
            raise AssertionError("plan_aws_sensor bundles the boot when given the name")
        self.boot_bundle = planned.boot_bundle
        self.user_data = self.boot_bundle.boot_config
        self._user_data_field = user_data_field(args)
        zone, address, warnings = (
            planned.availability_zone_index,
            planned.private_ip,
            planned.warnings,
        )
        instance_type, ami_id, key_name = planned.instance_type, planned.ami_id, planned.key_name
        size, tags = planned.log_volume_size_gb, planned.tags

        super().__init__(TYPE_TOKEN, name, None, opts)
        for warning in warnings:
            pulumi.log.warn(warning, resource=self)
        pulumi.log.info(self.plan.describe_ids(), resource=self)
        self.network = network
        self.availability_zone_index = zone
        self.private_ip = address
        self.capture_interface = self.plan.capture_interface
        self._tags_base = tags

        child = pulumi.ResourceOptions(parent=self)
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=network.vpc_id,
            # The description cannot change without replacing the group: keep it fixed.
            description="cloudtap sensor: mirror feeds from the monitored network, SSH from mgmt",
            ingress=[
                sg_entry(rule)
                for rule in (
                    *sensor_ingress_rules(self.plan, plan.management_cidrs),
                    *host_feed_rules(planned.listener),
                )
            ],
            egress=[sg_entry(rule) for rule in sensor_egress_rules()],
            tags=self._tags(f"{name}-sg"),
            opts=child,
        )
        monitor_subnet = network.subnets[Tier.MONITOR.value][zone]
        self.network_interface = aws.ec2.NetworkInterface(
            f"{name}-eni",
            subnet_id=monitor_subnet.id,
            private_ips=[self.private_ip],
            security_groups=[self.security_group.id],
            # The sensor only receives: copies are addressed to it, so the check stays on.
            source_dest_check=True,
            description=f"cloudtap sensor {name}",
            tags=self._tags(f"{name}-eni"),
            opts=child,
        )
        self.network_interface_id = self.network_interface.id
        ssm = ssm_instance_profile(
            name, f"cloudtap sensor {name}: managed through SSM", parent=self, tags=self._tags
        )
        settings = settings_parameter(
            name,
            parameter_name=names.parameter,
            settings_text=self.settings,
            role=ssm.role,
            parent=self,
            tags=self._tags,
        )
        self.settings_parameter = settings.parameter
        self.settings_status = settings.status
        stored: BootBundle | pulumi.Output[BootBundle] = self.boot_bundle
        feeds = args.get("host_feeds")
        if feeds is not None and feeds.listener_files is not None:
            # The listener's certificate exists only once issued: the bundle follows it.
            stored = feeds.listener_files.apply(
                lambda files: with_files(planned.boot_bundle, files)  # type: ignore[arg-type]
            )
        bundle = store_bundle(
            name,
            stored,
            bucket=network.boot_bucket,
            role=ssm.role,
            parent=self,
            tags=self._tags,
            field=self._user_data_field[0],
            value=self._user_data_field[1],
        )
        self.boot_object = bundle.object
        self.instance = aws.ec2.Instance(
            f"{name}-instance",
            ami=ami_id
            if ami_id is not None
            else (
                latest_al2023(architecture_of(instance_type), self)
                if self.plan.os_family is OsFamily.AMAZON_LINUX
                else latest_ubuntu_2404(architecture_of(instance_type), self)
            ),
            instance_type=instance_type,
            primary_network_interface={
                "network_interface_id": self.network_interface.id,
                "delete_on_termination": False,
            },
            iam_instance_profile=ssm.profile.name,
            key_name=key_name,
            metadata_options=METADATA_OPTIONS,
            # Tags on the root device itself: instance-wide volume_tags would also claim the
            # separately managed log volume and fight its own tags.
            root_block_device={
                "encrypted": True,
                "volume_type": "gp3",
                "delete_on_termination": True,
                "tags": self._tags(f"{name}-instance"),
            },
            # Small and gzip-compressed: the fetcher and the bundle's key, which holds its sha256.
            user_data_base64=bundle.user_data_base64,
            # The user data holds no settings (see MonitoredVpc's gateway): it changes only with
            # cloudtap's scripts, the image's family or the log volume, and cloud-init writes
            # files once per instance.
            user_data_replace_on_change=True,
            tags=self._tags(f"{name}-instance"),
            opts=pulumi.ResourceOptions(
                parent=self,
                # The interface can be attached to one instance only: the old one goes first.
                delete_before_replace=True,
                ignore_changes=["ami"] if ami_id is None else [],
                # The boot installs packages through the gateway; SSM needs its policy.
                depends_on=[
                    ssm.policy_attachment,
                    settings.read_policy,
                    bundle.object,
                    bundle.read_policy,
                    network.monitor_default_routes[
                        min(zone, len(network.monitor_default_routes) - 1)
                    ],
                    *network.gateway_ready,
                ],
            ),
        )
        self.settings_association = settings_push(
            name,
            document_name=names.document,
            parameter=settings.parameter,
            instance=self.instance,
            parent=self,
            tags=self._tags,
        ).association
        self.log_volume = None
        if size is not None:
            self.log_volume = aws.ebs.Volume(
                f"{name}-logs",
                availability_zone=monitor_subnet.availability_zone,
                size=size,
                type="gp3",
                encrypted=True,
                tags=self._tags(f"{name}-logs"),
                # Logs outlive the instance: a replaced sensor mounts the same volume again.
                opts=child,
            )
            aws.ec2.VolumeAttachment(
                f"{name}-logs-attachment",
                device_name=LOG_VOLUME_DEVICE,
                volume_id=self.log_volume.id,
                instance_id=self.instance.id,
                opts=child,
            )
        self.register_outputs(
            {
                "instance_id": self.instance.id,
                "network_interface_id": self.network_interface_id,
                "private_ip": self.private_ip,
                "capture_interface": self.capture_interface,
                "security_group_id": self.security_group.id,
                "log_volume_id": self.log_volume.id if self.log_volume is not None else None,
                "settings_parameter": self.settings_parameter.name,
                "settings_status": self.settings_status.insecure_value,
            }
        )

    def _tags(self, child_name: str) -> dict[str, str]:
        return {**self._tags_base, "Name": child_name}


@dataclass(frozen=True)
class AwsSensorPlan:
    """A sensor as planned, before any resource: what :class:`Sensor` builds, and what a
    :class:`~components.aws.mirror_session.MirrorSession` needs of its target sensor."""

    network: MonitoredNetwork
    """The network given (a MonitoredVpc, or its design when planning a whole program)."""
    plan: SensorPlan
    availability_zone_index: int
    private_ip: str
    instance_type: str
    ami_id: pulumi.Input[str] | None
    key_name: pulumi.Input[str] | None
    log_volume_size_gb: int | None
    tags: Mapping[str, str]
    settings: str
    """The settings file the SSM parameter delivers (checked to fit its 4096 bytes)."""
    os_family: OsFamily
    log_volume: LogVolume | None
    warnings: tuple[str, ...]
    boot_bundle: BootBundle | None = None
    """The boot's files (:func:`sensor_boot_bundle`), when planned under the component's name."""
    listener: ListenerPlan | None = None
    """The host-feed listener of ``host_feeds``: its port and the networks it admits."""

    @property
    def network_interface_id(self) -> None:
        """The sensor's interface does not exist yet, so no mirror source can be it."""
        return None


def sensor_boot_bundle(
    name: str, sensor_plan: SensorPlan, log_volume: LogVolume | None
) -> BootBundle:
    """The boot of the sensor named ``name`` (its settings in its SSM parameter), bundled."""
    boot = render_boot_cloud_config(
        source=SettingsSource.aws_ssm(settings_names(name, "sensor").parameter),
        os_family=sensor_plan.os_family,
        log_volume=log_volume,
        ids_custom_rules=sensor_plan.ids.custom_rules,
    )
    return boot_bundle("sensor", boot)


def plan_aws_sensor(
    args: AwsSensorArgs | Mapping[str, Any], name: str | None = None
) -> AwsSensorPlan:
    """Check ``AwsSensorArgs`` and resolve every default; registers nothing.

    ``network`` may be a :class:`MonitoredVpc` or its design (a
    :class:`~components.monitored_network.NetworkDesign` of an AWS network), so a program can
    check a sensor before the network it lives in is built. With the component's ``name`` the
    boot is bundled too, and its user data checked against EC2's limit.
    """
    raw: Any = args
    if not isinstance(raw, Mapping):
        raise CloudtapInputError("args", raw, "a mapping of AwsSensorArgs fields")
    network = raw.get("network")
    if not isinstance(network, MonitoredNetwork) or network.design.cloud is not Cloud.AWS:
        raise CloudtapInputError(
            "network", network, "the MonitoredVpc whose monitor tier the sensor lives in"
        )
    plan = network.design.plan
    size = raw.get("log_volume_size_gb")
    if size is not None:
        size = parse_int("log_volume_size_gb", size, 1, MAX_LOG_VOLUME_GB)
    ami_id = validate_ami_id(raw.get("ami_id"), "ami_id")
    # Refuses every key that is neither a SensorArgs field nor one of this module's.
    sensor_plan = plan_sensor(
        raw,
        cloud_fields=FIELDS - SENSOR_FIELDS,
        default_feed_sources=(plan.cidr_block,),
        log_volume=size is not None,
        os_family=sensor_os_family(raw.get("os_family"), ami_id),
        home_networks=plan.subnets[Tier.PRIVATE],
    )
    zone, address, warnings = resolve_placement(raw, plan)
    # Only the sensor the gateway mirror sends to expects its heartbeats.
    sensor_plan = replace_heartbeats(
        sensor_plan, gateway_heartbeats(plan, address, network.design.gateway_subnets)
    )

    instance_type = validate_instance_type(
        raw.get("instance_type", DEFAULT_INSTANCE_TYPE),
        "instance_type",
        validate_unlisted_instance_types(raw.get(UNLISTED_INSTANCE_TYPES)),
    )
    support = mirror_support(instance_type)
    if not support.mirrorable:
        warnings.append(
            f"instance_type {instance_type}: {support.reason}; AWS documents its limits for "
            f"mirror sources only, but prefer a type it mirrors (e.g. {DEFAULT_INSTANCE_TYPE})"
            " so the target is certain to work"
        )
    key_name = validate_key_name(raw.get("key_name"), "key_name")
    if size is not None and size < RECOMMENDED_LOG_VOLUME_GB:
        warnings.append(
            f"log_volume_size_gb {size}: cloudtap recommends at least "
            f"{RECOMMENDED_LOG_VOLUME_GB} GB for IDS logs"
        )
    if key_name is not None and not plan.management_cidrs:
        warnings.append(
            "key_name is set but the network's management_cidrs is empty: SSH to the sensor "
            "stays closed; use SSM Session Manager or add management_cidrs"
        )
    tags = validate_tags(raw.get("tags"))
    settings = render_settings(sensor_plan)
    # The lists are what grows: name the longer one.
    longest = max(
        ("feed_source_cidrs", "ids_packages", "home_net_cidrs", "ids_rule_sources"),
        key=lambda f: len(str(raw.get(f, ""))),
    )
    check_fits_ssm_parameter(settings, longest, raw.get(longest))
    log_volume = (
        LogVolume(sensor_plan.log_mount_point, LOG_VOLUME_DEVICE) if size is not None else None
    )
    listener = _host_feed_listener(raw.get("host_feeds"), address, sensor_plan)
    bundle = None
    if name is not None:
        bundle = sensor_boot_bundle(name, sensor_plan, log_volume)
        # The listener's files add only their paths to the user data (the manifest): measured
        # with stand-in certificates, as their content never reaches it.
        measured = (
            with_files(bundle, listener_files(listener, _STAND_IN_CREDENTIALS))
            if listener is not None
            else bundle
        )
        check_bundled_user_data(measured, *user_data_field(raw))
    return AwsSensorPlan(
        network=network,
        plan=sensor_plan,
        availability_zone_index=zone,
        private_ip=str(address),
        instance_type=instance_type,
        ami_id=ami_id,
        key_name=key_name,
        log_volume_size_gb=size,
        tags=tags,
        settings=settings,
        os_family=sensor_plan.os_family,
        log_volume=log_volume,
        warnings=tuple(warnings),
        boot_bundle=bundle,
        listener=listener,
    )


_STAND_IN_PEM = "-----BEGIN {0}-----\nAAAA\n-----END {0}-----\n"
_STAND_IN_CREDENTIALS = SensorCredentials(
    _STAND_IN_PEM.format("CERTIFICATE"),
    _STAND_IN_PEM.format("CERTIFICATE"),
    _STAND_IN_PEM.format("PRIVATE KEY"),
)


def _host_feed_listener(
    feeds: Any, address: ipaddress.IPv4Address, sensor_plan: SensorPlan
) -> ListenerPlan | None:
    """The listener of ``host_feeds`` (a HostFeeds, or its ``HostFeedsArgs`` when planning a
    whole program), checked against this sensor."""
    if feeds is None:
        return None
    if isinstance(feeds, Mapping):
        listener = plan_host_feeds(feeds)[1]
        sensor_address = str(feeds.get("sensor_address"))
        writes_rules = listener is not None and "sensor_security_group_id" in feeds
    elif isinstance(feeds, HostFeeds):
        listener, sensor_address = feeds.listener, feeds.sensor_address
        writes_rules = feeds.writes_security_group_rules
    else:
        listener = None
    if listener is None:
        raise CloudtapInputError(
            "host_feeds",
            feeds,
            "a HostFeeds with tls hosts (vxlan host feeds need nothing of the sensor)",
        )
    if sensor_address != str(address):
        raise CloudtapInputError(
            "host_feeds",
            sensor_address,
            f"host feeds to this sensor's address {address} (their certificates name it)",
        )
    if writes_rules:
        raise CloudtapInputError(
            "host_feeds",
            "sensor_security_group_id",
            "host feeds without sensor_security_group_id: the sensor's own group admits them "
            "(its rules are inline, and would undo a separate rule)",
        )
    if listener.capture_interface != sensor_plan.capture_interface:
        raise CloudtapInputError(
            "host_feeds",
            listener.capture_interface,
            f"host feeds onto the sensor's capture interface {sensor_plan.capture_interface}",
        )
    return listener


DEFAULT_SENSOR_OS_FAMILY = OsFamily.DEBIAN
"""The default image is Ubuntu 24.04 LTS: its archive carries Suricata."""


def sensor_os_family(value: Any, ami_id: pulumi.Input[str] | None) -> OsFamily:
    """The sensor image's family: Ubuntu 24.04 (``debian``) or Amazon Linux 2023 without an
    AMI id (cloudtap looks both up), any family with one."""
    family = DEFAULT_SENSOR_OS_FAMILY if value is None else parse_os_family("os_family", value)
    if ami_id is None and family is OsFamily.RHEL:
        raise CloudtapInputError(
            "os_family",
            value,
            "debian (the default image, Ubuntu 24.04 LTS) or amazon-linux (Amazon Linux 2023) "
            "while no AMI id is given; give the AMI of a RHEL-family image too",
        )
    return family


def host_feed_rules(listener: ListenerPlan | None) -> tuple[SecurityGroupRule, ...]:
    """The listener's port, from the host feeds' networks only (none without a listener)."""
    if listener is None:
        return ()
    networks = tuple(str(network) for network in listener.host_networks)
    return (
        SecurityGroupRule(
            "tcp", listener.port, listener.port, networks, "cloudtap: host feeds (mutual TLS)"
        ),
    )


def resolve_placement(
    args: Mapping[str, Any], plan: NetworkPlan
) -> tuple[int, ipaddress.IPv4Address, list[str]]:
    """(zone index, address, warnings) of a sensor from ``availability_zone_index`` and
    ``private_ip``, defaulting to where the network's gateway mirror sends its copies."""
    mirror = plan.gateway_mirror
    if mirror is not None and mirror.to_fleet:
        # The gateway sends to the fleet's load balancers: a sensor's address is its own.
        mirror = None
    monitor = plan.subnets[Tier.MONITOR]
    if args.get("availability_zone_index") is not None:
        zone = parse_int(
            "availability_zone_index",
            args["availability_zone_index"],
            0,
            plan.availability_zone_count - 1,
        )
    elif mirror is not None and args.get("private_ip") is None:
        zone = next(i for i, cidr in enumerate(monitor) if mirror.sensor_address in cidr)
    else:
        zone = 0
    subnet = monitor[zone]
    warnings = []
    if args.get("private_ip") is not None:
        address = parse_host_in_zone(
            "private_ip",
            args["private_ip"],
            monitor,
            zone=zone,
            tier="monitor",
            zone_field="availability_zone_index",
        )
        if mirror is not None and address != mirror.sensor_address:
            warnings.append(
                f"private_ip {address} differs from the network's gateway_mirror.sensor_address "
                f"{mirror.sensor_address}: the gateway's copies go to another host"
            )
    elif mirror is not None and mirror.sensor_address in subnet:
        address = mirror.sensor_address
    else:
        address = default_sensor_address(subnet)
    return zone, address, warnings
