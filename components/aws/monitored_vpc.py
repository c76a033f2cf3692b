"""``MonitoredVpc``: a VPC whose private and monitor tiers reach the internet through a gateway.

Layout (one subnet per tier per zone; the tiers and their CIDRs come from
:func:`~components.network_plan.plan_network`):

- public: default route to the internet gateway; holds the gateway's network interface (ENI).
- private: one route table per subnet, default route to the gateway ENI.
- monitor: default route to the gateway ENI (sensors install packages through it); a network ACL
  denies the private tier both ways except the VXLAN/GENEVE mirror feeds coming in, and names
  the gateway mirror's VXLAN feed from the first public subnet when ``gateway_mirror`` is on.
- management: no default route at all; the same network ACL without the mirror exception.

The routes and the Elastic IP point at the gateway's ENI, not at its instance, so replacing the
instance (a new image or instance type) keeps every route and the public address. With
``gateway_strategy: one_per_zone`` every zone has its own gateway, ENI and Elastic IP, and its
private and monitor route tables point at that zone's ENI; each gateway is an Auto Scaling group
of one whose instance attaches the ENI at boot (:mod:`components.aws.gateway_group`). Settings
(port forwards, tiers, the gateway mirror) never replace it: they live in an SSM parameter that
the instance applies in place (``cloudtap-gateway apply-settings``), pushed at once by an SSM
association and polled every minute by the instance's timer.

The boot files are too big for EC2's 16 KB of user data: they live in the network's boot bucket
(``{name}-boot``: private, TLS only, SSE-S3; :mod:`components.aws.boot_bundle`), which holds the
gateway's bundle and those of the sensors in the network, and the user data fetches them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from ..boot_bundle import BootBundle, boot_bundle
from ..errors import CloudtapInputError
from ..fields import parse_enum, reject_unknown_fields
from ..gateway import AWS_VPC_MTU, render_boot_cloud_config, render_settings
from ..monitored_network import Cloud, NetworkDesign
from ..network_plan import (
    NETWORK_FIELDS,
    NetworkArgs,
    NetworkPlan,
    Tier,
    plan_network,
)
from ..os_family import OsFamily
from ..settings_delivery import SettingsSource, check_fits_ssm_parameter
from ..user_data import OWN_BOOT_FILES
from .boot_bundle import (
    BootBucket,
    boot_bucket,
    check_bundled_user_data,
    store_bundle,
    store_bundle_object,
)
from .gateway_disruption import warn_before_disruption
from .gateway_group import (
    GATEWAY_TAG,
    GatewayStrategy,
    ZoneGateway,
    build_zone_gateway,
    gateway_image,
    group_name,
    zone_gateway_boot_bundle,
)
from .instances import (
    METADATA_OPTIONS,
    latest_al2023,
    settings_names,
    settings_parameter,
    settings_push,
    settings_read,
    ssm_instance_profile,
)
from .rules import (
    ANYWHERE,
    NaclRule,
    SecurityGroupRule,
    gateway_egress_rules,
    gateway_ingress_rules,
    isolation_nacl,
)
from .validation import (
    AwsOptions,
    check_zones_in_region,
    choose_availability_zones,
    resolve_aws_options,
    validate_os_family,
)

TYPE_TOKEN = "cloudtap:aws:MonitoredVpc"
MAX_MIRRORED_GATEWAY_ZONES = 4
"""Zones a gateway per zone with the gateway mirror fits in the monitor ACL's 20 ingress rules."""


class MonitoredVpcArgs(NetworkArgs, total=False):
    """Arguments of :class:`MonitoredVpc`: the cloud-neutral ``NetworkArgs`` plus AWS fields.

    Every field is optional.
    """

    availability_zones: Sequence[str]
    """Zone names to place the subnets in, one per ``availability_zone_count``, in order; each
    must be one that ``aws.get_availability_zones(state="available")`` reports for the
    provider's region, opted-in Local Zones included (checked at preview). Default: the first
    ``availability_zone_count`` zones that lookup reports (Local and Wavelength Zones excluded);
    a region with fewer zones is an error at preview."""
    gateway_instance_type: str
    """EC2 instance type of the gateway, ``family.size``, one that the installed botocore's EC2
    model lists (or that ``unlisted_instance_types`` names), so a typo fails at preview. Default
    ``"t3.small"``. Graviton families (``t4g``, ``c7g``, ``m6gd``, ...) get the arm64 image."""
    unlisted_instance_types: Sequence[str]
    """Instance types newer than the installed botocore, accepted for ``gateway_instance_type``
    although botocore does not list them (each still ``family.size``). Default: none; upgrading
    botocore (``boto3``) makes them unnecessary."""
    gateway_ami_id: pulumi.Input[str]
    """Image of the gateway: a systemd distribution with cloud-init whose package manager has
    ``nftables``. Default: the latest Amazon Linux 2023 for the instance type's architecture,
    looked up when the gateway is first created. A newer image does not replace a running
    gateway (forwarding would stop for the reboot): it is taken when the instance is replaced for
    another reason, or by ``pulumi up --replace`` on the gateway. Pin an id to control it."""
    gateway_os_family: str
    """Distribution family of ``gateway_ami_id``, for the names of the packages its boot
    installs: ``"amazon-linux"`` (default), ``"debian"`` (Debian and Ubuntu) or ``"rhel"``
    (RHEL, Rocky, Alma). Anything but the default needs ``gateway_ami_id``."""
    gateway_strategy: str
    """How many gateways, and how they run: ``"single"`` (one instance in the first zone, every
    private route table points at its ENI; cheapest, but the private tier loses the internet
    while it is down) or ``"one_per_zone"`` (a gateway per zone, each an Auto Scaling group of
    one whose instance attaches the zone's persistent ENI at boot, replaced when EC2 or its own
    check finds it broken; each zone's private and monitor route tables point at their own
    zone's ENI; with ``gateway_mirror`` every gateway sends copies). Default ``"single"``."""
    gateway_key_name: pulumi.Input[str]
    """EC2 key pair for SSH to the gateway. Default: none (manage it through SSM Session
    Manager). Only useful together with ``management_cidrs``: SSH is closed without them."""
    tags: Mapping[str, str]
    """Tags merged into every resource's tags. Default: none. Each resource also gets a ``Name``
    tag equal to its Pulumi name, so ``Name`` itself may not be given. The gateway's IAM role
    carries them too, so IAM's rule applies: keys of 1-128 and values of at most 256 Unicode
    letters, digits, spaces and ``_ . : / = + - @``, no key starting with ``aws:``, at most 49
    tags."""


FIELDS = frozenset(MonitoredVpcArgs.__annotations__)


@dataclass(frozen=True)
class MonitoredVpcPlan:
    """A monitored VPC as planned, before any resource: what :class:`MonitoredVpc` builds."""

    design: NetworkDesign
    """The cloud-neutral part, enough to plan the sensors and mirrors on this VPC."""
    options: AwsOptions
    zones: tuple[str, ...]
    """One zone per ``availability_zone_count``, checked against the provider's region."""
    gateway_settings: str
    """The gateway's settings file, delivered through SSM (checked to fit its 4096 bytes)."""
    gateway_os_family: OsFamily
    gateway_strategy: GatewayStrategy = GatewayStrategy.SINGLE


def plan_monitored_vpc(
    args: MonitoredVpcArgs | Mapping[str, Any] | None,
    opts: pulumi.ResourceOptions | None = None,
) -> MonitoredVpcPlan:
    """Check ``MonitoredVpcArgs`` and resolve every default, zones included; registers nothing.

    ``opts``: the options the component will get; the zone lookup uses the AWS provider they
    name (or inherit from their parent), hence that provider's region.
    """
    raw: Any = args if args is not None else {}
    if not isinstance(raw, Mapping):
        raise CloudtapInputError("args", raw, "a mapping of MonitoredVpcArgs fields")
    reject_unknown_fields(raw, FIELDS, "")
    plan = plan_network({key: raw[key] for key in raw if key in NETWORK_FIELDS}, fleets=True)
    options = resolve_aws_options(raw, plan)
    os_family = validate_os_family(
        raw.get("gateway_os_family"), "gateway_os_family", options.ami_id
    )
    strategy = parse_enum(
        "gateway_strategy",
        raw.get("gateway_strategy", GatewayStrategy.SINGLE.value),
        GatewayStrategy,
    )
    if (
        strategy is GatewayStrategy.ONE_PER_ZONE
        and plan.gateway_mirror is not None
        and plan.availability_zone_count > MAX_MIRRORED_GATEWAY_ZONES
    ):
        # The monitor ACL names each gateway's feed: 4 ingress rules per zone, plus 1, of 20.
        raise CloudtapInputError(
            "availability_zone_count",
            plan.availability_zone_count,
            f"at most {MAX_MIRRORED_GATEWAY_ZONES} with gateway_strategy one_per_zone and the "
            "gateway mirror on: the monitor tier's network ACL needs 4 ingress rules per zone "
            "then, and AWS allows 20",
        )
    lookup = _zone_lookup_options(opts)
    if options.availability_zones is not None:
        # Every zone the account may use in the region, opted-in Local Zones included: one of
        # them may be chosen on purpose, which the default's lookup leaves out.
        found = aws.get_availability_zones(state="available", opts=lookup)
        zones = check_zones_in_region(options.availability_zones, _region_of(found), found.names)
    else:
        found = aws.get_availability_zones(
            state="available",
            filters=[{"name": "opt-in-status", "values": ["opt-in-not-required"]}],
            opts=lookup,
        )
        zones = choose_availability_zones(found.names, plan.availability_zone_count)
    # Instances in a VPC exchange 9001-byte frames: the gateway mirror's copies (50 bytes
    # bigger than what they copy) then reach the sensor whole instead of as fragments.
    settings = render_settings(plan, underlay_mtu=AWS_VPC_MTU)
    # Port forwards are what grows without bound; the tiers are at most 4 zones each.
    check_fits_ssm_parameter(settings, "port_forwards", len(plan.port_forwards))
    return MonitoredVpcPlan(
        design=NetworkDesign(
            cloud=Cloud.AWS,
            plan=plan,
            underlay_mtu=AWS_VPC_MTU,
            # Every zone's gateway sends the gateway mirror's copies and heartbeats.
            gateway_subnets=(
                plan.subnets[Tier.PUBLIC] if strategy is GatewayStrategy.ONE_PER_ZONE else ()
            ),
        ),
        options=options,
        zones=zones,
        gateway_settings=settings,
        gateway_os_family=os_family,
        gateway_strategy=strategy,
    )


def _zone_lookup_options(opts: pulumi.ResourceOptions | None) -> pulumi.InvokeOptions:
    """The provider the component's children will use, for a lookup made before it exists.

    A plain (not Output) invoke, because the zone count must be checked before any child
    exists; the component cannot be the invoke's parent yet, so its provider is passed on.
    """
    if opts is None:
        return pulumi.InvokeOptions()
    provider = opts.provider
    if provider is None and opts.providers is not None:
        providers = opts.providers
        if isinstance(providers, Mapping):
            provider = providers.get("aws")
        else:
            provider = next((p for p in providers if p.package == "aws"), None)
    return pulumi.InvokeOptions(parent=opts.parent, provider=provider)


class MonitoredVpc(pulumi.ComponentResource):
    """A four-tier VPC with a NAT gateway instance that the private and monitor tiers route through.

    Children are named ``f"{name}-..."`` from tier names and zone indexes only (never from zone
    names or tags), so changing a tag or a zone's name never replaces a subnet.
    """

    design: NetworkDesign
    """The network as planned (cloud, addressing, MTU): what sensors and mirrors plan from."""
    plan: NetworkPlan
    """The validated addressing every child is built from (``design.plan``)."""
    vpc: aws.ec2.Vpc
    vpc_id: pulumi.Output[str]
    internet_gateway: aws.ec2.InternetGateway
    subnets: dict[str, list[aws.ec2.Subnet]]
    """Tier value (``"public"``, ``"private"``, ``"monitor"``, ``"management"``) -> subnets in
    zone order. Every tier is present."""
    subnet_ids: dict[str, list[pulumi.Output[str]]]
    public_route_table: aws.ec2.RouteTable
    private_route_tables: list[aws.ec2.RouteTable]
    """One per private subnet, in zone order."""
    monitor_route_table: aws.ec2.RouteTable
    monitor_default_route: aws.ec2.Route
    """The monitor tier's way out (through the gateway): sensors install packages through it.
    The first zone's with ``one_per_zone``."""
    monitor_route_tables: list[aws.ec2.RouteTable]
    """One per zone with ``one_per_zone``; the one shared table with ``single``."""
    monitor_default_routes: list[aws.ec2.Route]
    """Each monitor route table's default route, in the order of ``monitor_route_tables``."""
    management_route_table: aws.ec2.RouteTable
    """Has no routes but the VPC-local one: the management tier reaches nothing outside."""
    monitor_network_acl: aws.ec2.NetworkAcl
    management_network_acl: aws.ec2.NetworkAcl
    gateway_security_group: aws.ec2.SecurityGroup
    gateway_network_interface: aws.ec2.NetworkInterface
    gateway_network_interface_id: pulumi.Output[str]
    """The routes' target; survives replacement of the gateway instance."""
    gateway_elastic_ip: aws.ec2.Eip
    gateway_role: aws.iam.Role
    """The first zone's gateway role with ``one_per_zone`` (each zone has its own)."""
    gateway_instance: aws.ec2.Instance | None
    """The single gateway's instance; ``None`` with ``one_per_zone`` (the groups launch them)."""
    gateway_disruption: pulumi.Output[list[str]] | None
    """At preview, with a ``single`` gateway that is already deployed: why this update takes it
    down, one phrase per cause (empty when it does not); a preview warning says so too. Not set
    outside a preview or with ``one_per_zone``."""
    gateway_strategy: GatewayStrategy
    gateway_network_interface_ids: list[pulumi.Output[str]]
    """Each gateway's ENI, in zone order (one with ``single``)."""
    gateway_public_ips: list[pulumi.Output[str]]
    """Each gateway's Elastic IP, in zone order (one with ``single``)."""
    gateway_private_ip: pulumi.Output[str]
    """The (first zone's) gateway ENI's address."""
    gateway_public_ip: pulumi.Output[str]
    """The (first zone's) gateway's Elastic IP."""
    gateway_user_data: str
    """The gateway's whole boot cloud-config (script, unit, settings fetcher, the SSM
    parameter's name): the same whatever the settings. Too big for EC2's user data, it reaches
    the instance as :attr:`gateway_boot_bundle`."""
    gateway_boot_bundle: BootBundle
    """The boot's files in S3 and the small user data that fetches them."""
    boot_bucket: BootBucket
    """The private bucket of the gateway's and the sensors' boot bundles."""
    gateway_settings: str
    """The gateway's settings file, as the SSM parameter holds it."""
    gateway_settings_parameter: aws.ssm.Parameter
    """Where the gateway reads its settings; a change is applied in place."""
    gateway_settings_association: aws.ssm.Association
    """Runs the gateway's fetch as soon as the parameter's version changes."""
    gateway_settings_status: aws.ssm.Parameter
    """What the gateways report after each apply-settings (JSON: result, sha256s, message,
    time, instance; with one_per_zone the last gateway to report); read back by refresh."""

    def __init__(
        self,
        name: str,
        args: MonitoredVpcArgs | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        # Everything the user wrote is checked before the first registration, so a typo in a
        # stack file fails the preview with nothing half-created.
        planned = plan_monitored_vpc(args, opts)
        self.design = planned.design
        self.plan = planned.design.plan
        self._settings_names = settings_names(name, "gateway")
        self.gateway_settings = planned.gateway_settings
        gateway_source = SettingsSource.aws_ssm(self._settings_names.parameter)
        if planned.gateway_strategy is GatewayStrategy.SINGLE:
            self.gateway_boot_bundle = boot_bundle(
                "gateway",
                render_boot_cloud_config(
                    source=gateway_source, os_family=planned.gateway_os_family
                ),
            )
        else:
            self.gateway_boot_bundle = zone_gateway_boot_bundle(
                source=gateway_source,
                os_family=planned.gateway_os_family,
                group=group_name(self._settings_names.parameter, 0),
            )
        self.gateway_user_data = self.gateway_boot_bundle.boot_config
        check_bundled_user_data(self.gateway_boot_bundle, *OWN_BOOT_FILES)
        options = planned.options
        self.gateway_strategy = planned.gateway_strategy
        self._gateway_os_family = planned.gateway_os_family

        super().__init__(TYPE_TOKEN, name, None, opts)
        self._prefix = name
        self._aws_options = options
        if options.key_name is not None and not self.plan.management_cidrs:
            pulumi.log.warn(
                "gateway_key_name is set but management_cidrs is empty: SSH to the gateway stays "
                "closed; use SSM Session Manager or add management_cidrs",
                resource=self,
            )
        zones = planned.zones

        self._build_network(zones)
        self._build_isolation()
        self._zone_gateways: list[ZoneGateway] = []
        if self.gateway_strategy is GatewayStrategy.SINGLE:
            self._build_gateway(options)
            self._build_routes()
        else:
            self._build_zone_gateways(options)
            self._build_zone_routes()

        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "subnet_ids": self.subnet_ids,
                "public_route_table_id": self.public_route_table.id,
                "private_route_table_ids": [table.id for table in self.private_route_tables],
                "monitor_route_table_id": self.monitor_route_table.id,
                "management_route_table_id": self.management_route_table.id,
                "gateway_security_group_id": self.gateway_security_group.id,
                "gateway_network_interface_id": self.gateway_network_interface_id,
                "gateway_private_ip": self.gateway_private_ip,
                "gateway_public_ip": self.gateway_public_ip,
                "gateway_settings_parameter": self.gateway_settings_parameter.name,
                "gateway_settings_status": self.gateway_settings_status.insecure_value,
                **(
                    {"gateway_instance_id": self.gateway_instance.id}
                    if self.gateway_instance is not None
                    else {
                        "gateway_network_interface_ids": self.gateway_network_interface_ids,
                        "gateway_public_ips": self.gateway_public_ips,
                        "gateway_group_names": [z.group_name for z in self.zone_gateways],
                    }
                ),
            }
        )

    # -- helpers ---------------------------------------------------------------------------

    @property
    def zone_gateways(self) -> list[ZoneGateway]:
        """With ``one_per_zone``, one per zone in zone order; empty with ``single``."""
        return self._zone_gateways

    @property
    def gateway_ready(self) -> list[pulumi.Resource]:
        """What an instance of the monitor tier waits for before it boots (it installs packages
        through the gateway): the instance, or every zone's group."""
        return self._gateway_ready

    def _child(self, **kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _tags(self, child_name: str) -> dict[str, str]:
        return {**self._aws_options.tags, "Name": child_name}

    # -- network ---------------------------------------------------------------------------

    def _build_network(self, zones: Sequence[str]) -> None:
        name = self._prefix
        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=str(self.plan.cidr_block),
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=self._tags(f"{name}-vpc"),
            opts=self._child(),
        )
        self.vpc_id = self.vpc.id
        self.internet_gateway = aws.ec2.InternetGateway(
            f"{name}-igw",
            vpc_id=self.vpc.id,
            tags=self._tags(f"{name}-igw"),
            opts=self._child(),
        )
        self.subnets = {}
        for tier in Tier:
            self.subnets[tier.value] = [
                aws.ec2.Subnet(
                    f"{name}-{tier.value}-{index + 1}",
                    vpc_id=self.vpc.id,
                    cidr_block=str(cidr),
                    availability_zone=zones[index],
                    # Nothing gets a public address by itself; the gateway has its Elastic IP.
                    map_public_ip_on_launch=False,
                    tags=self._tags(f"{name}-{tier.value}-{index + 1}"),
                    opts=self._child(),
                )
                for index, cidr in enumerate(self.plan.subnets[tier])
            ]
        self.subnet_ids = {
            tier: [subnet.id for subnet in subnets] for tier, subnets in self.subnets.items()
        }
        self.public_route_table = self._route_table(f"{name}-public-rt")
        self._public_default_route = aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=self.public_route_table.id,
            destination_cidr_block=ANYWHERE,
            gateway_id=self.internet_gateway.id,
            opts=self._child(),
        )
        for index in range(self.plan.availability_zone_count):
            self._associate(Tier.PUBLIC, self.public_route_table, index)

    def _route_table(self, child_name: str) -> aws.ec2.RouteTable:
        # No inline routes: the routes are separate resources, so the table never fights them.
        return aws.ec2.RouteTable(
            child_name, vpc_id=self.vpc.id, tags=self._tags(child_name), opts=self._child()
        )

    def _associate(self, tier: Tier, table: aws.ec2.RouteTable, index: int) -> None:
        child_name = f"{self._prefix}-{tier.value}-{index + 1}-rta"
        aws.ec2.RouteTableAssociation(
            child_name,
            subnet_id=self.subnets[tier.value][index].id,
            route_table_id=table.id,
            opts=self._child(),
        )

    def _build_isolation(self) -> None:
        self.monitor_network_acl = self._isolation_acl(Tier.MONITOR)
        self.management_network_acl = self._isolation_acl(Tier.MANAGEMENT)

    def _isolation_acl(self, tier: Tier) -> aws.ec2.NetworkAcl:
        child_name = f"{self._prefix}-{tier.value}-nacl"
        table = isolation_nacl(self.plan, tier, self.design.gateway_subnets)
        acl = aws.ec2.NetworkAcl(
            child_name,
            vpc_id=self.vpc.id,
            ingress=[_nacl_entry(rule) for rule in table.ingress],
            egress=[_nacl_entry(rule) for rule in table.egress],
            tags=self._tags(child_name),
            opts=self._child(),
        )
        for index, subnet in enumerate(self.subnets[tier.value]):
            aws.ec2.NetworkAclAssociation(
                f"{self._prefix}-{tier.value}-{index + 1}-nacl-assoc",
                network_acl_id=acl.id,
                subnet_id=subnet.id,
                opts=self._child(),
            )
        return acl

    # -- gateway ---------------------------------------------------------------------------

    def _gateway_security_group(self) -> aws.ec2.SecurityGroup:
        name = self._prefix
        return aws.ec2.SecurityGroup(
            f"{name}-gateway-sg",
            vpc_id=self.vpc.id,
            # The description cannot change without replacing the group: keep it fixed.
            description="cloudtap gateway: forwarded tiers, port forwards, SSH from management",
            ingress=[sg_entry(rule) for rule in gateway_ingress_rules(self.plan)],
            egress=[sg_entry(rule) for rule in gateway_egress_rules()],
            tags=self._tags(f"{name}-gateway-sg"),
            opts=self._child(),
        )

    def _build_gateway(self, options: AwsOptions) -> None:
        name = self._prefix
        self.gateway_security_group = self._gateway_security_group()
        # The ENI is the gateway's identity: routes and the Elastic IP point at it, and it
        # outlives the instance (delete_on_termination False below).
        self.gateway_network_interface = aws.ec2.NetworkInterface(
            f"{name}-gateway-eni",
            subnet_id=self.subnets[Tier.PUBLIC.value][0].id,
            security_groups=[self.gateway_security_group.id],
            source_dest_check=False,
            description=f"cloudtap gateway of {name}",
            tags=self._tags(f"{name}-gateway-eni"),
            opts=self._child(),
        )
        self.gateway_network_interface_id = self.gateway_network_interface.id
        self.gateway_elastic_ip = aws.ec2.Eip(
            f"{name}-gateway-eip",
            domain="vpc",
            network_interface=self.gateway_network_interface.id,
            tags=self._tags(f"{name}-gateway-eip"),
            # AWS refuses to associate an Elastic IP in a VPC without an internet gateway.
            opts=self._child(depends_on=[self.internet_gateway]),
        )
        self.gateway_private_ip = self.gateway_network_interface.private_ip
        self.gateway_public_ip = self.gateway_elastic_ip.public_ip
        self.gateway_network_interface_ids = [self.gateway_network_interface_id]
        self.gateway_public_ips = [self.gateway_public_ip]

        ssm = ssm_instance_profile(
            f"{name}-gateway",
            f"cloudtap gateway of {name}: managed through SSM",
            parent=self,
            tags=self._tags,
        )
        self.gateway_role = ssm.role
        settings = settings_parameter(
            f"{name}-gateway",
            parameter_name=self._settings_names.parameter,
            settings_text=self.gateway_settings,
            role=ssm.role,
            parent=self,
            tags=self._tags,
        )
        self.gateway_settings_parameter = settings.parameter
        self.gateway_settings_status = settings.status
        self.boot_bucket = boot_bucket(name, parent=self, tags=self._tags)
        bundle = store_bundle(
            f"{name}-gateway",
            self.gateway_boot_bundle,
            bucket=self.boot_bucket,
            role=ssm.role,
            parent=self,
            tags=self._tags,
        )
        self.gateway_instance = aws.ec2.Instance(
            f"{name}-gateway",
            ami=(
                options.ami_id
                if options.ami_id is not None
                else latest_al2023(options.architecture, parent=self)
            ),
            instance_type=options.instance_type,
            primary_network_interface={
                "network_interface_id": self.gateway_network_interface.id,
                "delete_on_termination": False,
            },
            iam_instance_profile=ssm.profile.name,
            key_name=options.key_name,
            metadata_options=METADATA_OPTIONS,
            root_block_device={
                "encrypted": True,
                "volume_type": "gp3",
                "delete_on_termination": True,
            },
            # Small and gzip-compressed: the fetcher and the bundle's key, which holds its sha256.
            user_data_base64=bundle.user_data_base64,
            # The user data holds no settings: it changes only with cloudtap's own scripts or
            # the image's family. cloud-init writes files once per instance, so such a change
            # needs a new instance (an in-place update would stop and start the gateway and
            # install nothing).
            user_data_replace_on_change=True,
            volume_tags=self._tags(f"{name}-gateway"),
            tags=self._tags(f"{name}-gateway"),
            opts=self._child(
                # The ENI can be attached to one instance only: the old one must go first.
                delete_before_replace=True,
                # The ENI owns source/dest checking. The provider reads the instance's value from
                # the ENI but defaults it to true, and "correcting" it would switch the check back
                # on and break forwarding (terraform-provider-aws#44768).
                # A newer default image must not reboot a live gateway: see gateway_ami_id.
                ignore_changes=["sourceDestCheck"] + (["ami"] if options.ami_id is None else []),
                # The boot installs nftables from the internet: the public route and the Elastic
                # IP must exist before the instance starts; SSM needs its policy.
                # The first fetch at boot reads the settings parameter.
                depends_on=[
                    self.gateway_elastic_ip,
                    self._public_default_route,
                    ssm.policy_attachment,
                    settings.read_policy,
                    bundle.object,
                    bundle.read_policy,
                ],
            ),
        )
        self._gateway_ready: list[pulumi.Resource] = [self.gateway_instance]
        self.gateway_disruption = None
        if pulumi.runtime.is_dry_run():
            self.gateway_disruption = warn_before_disruption(
                self,
                name,
                instance=self.gateway_instance,
                network_interface_id=self.gateway_network_interface.id,
                ami=options.ami_id,
                instance_type=options.instance_type,
                key_name=options.key_name,
                user_data_base64=bundle.user_data_base64,
            )
        self.gateway_settings_association = settings_push(
            f"{name}-gateway",
            document_name=self._settings_names.document,
            parameter=settings.parameter,
            instance=self.gateway_instance,
            parent=self,
            tags=self._tags,
        ).association

    def _build_zone_gateways(self, options: AwsOptions) -> None:
        """A gateway per zone: ENI, Elastic IP, role and Auto Scaling group of one each; one
        security group, settings parameter and push for all (their settings are the same)."""
        name = self._prefix
        self.gateway_instance = None
        self.gateway_disruption = None
        self.gateway_security_group = self._gateway_security_group()
        self.boot_bucket = boot_bucket(name, parent=self, tags=self._tags)
        bundle_object = store_bundle_object(
            f"{name}-gateway",
            self.gateway_boot_bundle,
            bucket=self.boot_bucket,
            parent=self,
            tags=self._tags,
        )
        image = gateway_image(options.ami_id, options.architecture, parent=self)
        source = SettingsSource.aws_ssm(self._settings_names.parameter)
        parameter: aws.ssm.Parameter | None = None
        status: aws.ssm.Parameter | None = None
        for index in range(self.plan.availability_zone_count):
            stem = f"{name}-gateway-{index + 1}"
            ssm = ssm_instance_profile(
                stem,
                f"cloudtap gateway of {name}, zone {index + 1}: managed through SSM",
                parent=self,
                tags=self._tags,
            )
            if parameter is None:
                settings = settings_parameter(
                    f"{name}-gateway",
                    parameter_name=self._settings_names.parameter,
                    settings_text=self.gateway_settings,
                    role=ssm.role,
                    parent=self,
                    tags=self._tags,
                )
                parameter, status = settings.parameter, settings.status
                read = settings.read_policy
            else:
                assert status is not None
                read = settings_read(stem, parameter, status, ssm.role, parent=self)
            self._zone_gateways.append(
                build_zone_gateway(
                    name,
                    index,
                    parent=self,
                    tags=self._tags,
                    subnet=self.subnets[Tier.PUBLIC.value][index],
                    security_group=self.gateway_security_group,
                    image=image,
                    pin_image=options.ami_id is not None,
                    instance_type=options.instance_type,
                    key_name=options.key_name,
                    source=source,
                    os_family=self._gateway_os_family,
                    settings_group=group_name(self._settings_names.parameter, index),
                    role=ssm.role,
                    profile=ssm.profile,
                    internet_gateway=self.internet_gateway,
                    # The boot installs nftables through the public route; SSM needs its
                    # policy; the first fetch reads the settings parameter.
                    depends_on=[self._public_default_route, ssm.policy_attachment, read],
                    bundle=self.gateway_boot_bundle,
                    bundle_object=bundle_object,
                    bucket=self.boot_bucket,
                )
            )
        assert parameter is not None and status is not None
        self.gateway_settings_parameter = parameter
        self.gateway_settings_status = status
        first = self.zone_gateways[0]
        self.gateway_role = first.role
        self.gateway_network_interface = first.network_interface
        self.gateway_network_interface_id = first.network_interface.id
        self.gateway_elastic_ip = first.elastic_ip
        self.gateway_private_ip = first.network_interface.private_ip
        self.gateway_public_ip = first.elastic_ip.public_ip
        self.gateway_network_interface_ids = [z.network_interface.id for z in self.zone_gateways]
        self.gateway_public_ips = [z.elastic_ip.public_ip for z in self.zone_gateways]
        self._gateway_ready = [z.group for z in self.zone_gateways]
        self.gateway_settings_association = settings_push(
            f"{name}-gateway",
            document_name=self._settings_names.document,
            parameter=parameter,
            parent=self,
            tags=self._tags,
            # Whatever instances the groups launch now or later, by the tag their template sets.
            targets=[
                {
                    "key": f"tag:{GATEWAY_TAG}",
                    "values": [z.group_name for z in self.zone_gateways],
                }
            ],
        ).association

    # -- routes through the gateway --------------------------------------------------------

    def _default_route_via_gateway(
        self,
        child_name: str,
        table: aws.ec2.RouteTable,
        interface: aws.ec2.NetworkInterface | None = None,
    ) -> aws.ec2.Route:
        return aws.ec2.Route(
            child_name,
            route_table_id=table.id,
            destination_cidr_block=ANYWHERE,
            network_interface_id=(interface or self.gateway_network_interface).id,
            opts=self._child(),
        )

    def _build_routes(self) -> None:
        name = self._prefix
        self.private_route_tables = []
        for index in range(self.plan.availability_zone_count):
            table = self._route_table(f"{name}-private-{index + 1}-rt")
            self._default_route_via_gateway(f"{name}-private-{index + 1}-default", table)
            self._associate(Tier.PRIVATE, table, index)
            self.private_route_tables.append(table)

        self.monitor_route_table = self._route_table(f"{name}-monitor-rt")
        self.monitor_default_route = self._default_route_via_gateway(
            f"{name}-monitor-default", self.monitor_route_table
        )
        self.management_route_table = self._route_table(f"{name}-management-rt")
        self.monitor_route_tables = [self.monitor_route_table]
        self.monitor_default_routes = [self.monitor_default_route]
        for index in range(self.plan.availability_zone_count):
            self._associate(Tier.MONITOR, self.monitor_route_table, index)
            self._associate(Tier.MANAGEMENT, self.management_route_table, index)

    def _build_zone_routes(self) -> None:
        """Each zone's private and monitor tables send their default route to that zone's ENI:
        a zone keeps its way out whatever happens to another zone's gateway."""
        name = self._prefix
        self.private_route_tables = []
        self.monitor_route_tables = []
        self.monitor_default_routes = []
        for index, zone_gateway in enumerate(self.zone_gateways):
            interface = zone_gateway.network_interface
            for tier, tables in (
                (Tier.PRIVATE, self.private_route_tables),
                (Tier.MONITOR, self.monitor_route_tables),
            ):
                table = self._route_table(f"{name}-{tier.value}-{index + 1}-rt")
                route = self._default_route_via_gateway(
                    f"{name}-{tier.value}-{index + 1}-default", table, interface
                )
                self._associate(tier, table, index)
                tables.append(table)
                if tier is Tier.MONITOR:
                    self.monitor_default_routes.append(route)
        self.monitor_route_table = self.monitor_route_tables[0]
        self.monitor_default_route = self.monitor_default_routes[0]
        self.management_route_table = self._route_table(f"{name}-management-rt")
        for index in range(self.plan.availability_zone_count):
            self._associate(Tier.MANAGEMENT, self.management_route_table, index)


def _region_of(found: aws.GetAvailabilityZonesResult) -> str:
    # The provider sets the lookup's id to its region; pulumi-aws 7 also reports it as region.
    return str(getattr(found, "region", None) or found.id)


def _nacl_entry(rule: NaclRule) -> aws.ec2.NetworkAclIngressArgsDict:
    # Ingress and egress entries have the same shape.
    return {
        "rule_no": rule.rule_no,
        "action": rule.action,
        "protocol": rule.protocol,
        "cidr_block": rule.cidr_block,
        "from_port": rule.from_port,
        "to_port": rule.to_port,
    }


def sg_entry(rule: SecurityGroupRule) -> aws.ec2.SecurityGroupIngressArgsDict:
    return {
        "protocol": rule.protocol,
        "from_port": rule.from_port,
        "to_port": rule.to_port,
        "cidr_blocks": list(rule.cidr_blocks),
        "description": rule.description,
    }
