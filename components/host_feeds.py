"""``HostFeeds``: the stack's host feeds, their certificates, each host's user-data part, and (on
AWS) the sensor's security-group rule admitting them.

Cloud-neutral but for the one optional AWS rule: the user-data parts are plain cloud-config
(:func:`components.host_feed.render_cloud_config_part`), sent beside the host's own in a MIME
multipart message or merged into it (``merge_how``); the listener's files are for the sensor's
user data (:attr:`HostFeeds.listener_files`). Other clouds get :attr:`HostFeeds.firewall_rule`,
the rule in words, for their own security group or NSG.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypedDict

import pulumi

from .cloud_config import WrittenFile
from .errors import CloudtapInputError
from .fields import reject_unknown_fields
from .host_feed import (
    HOST_KEY_PARAMETER,
    HostCredentials,
    HostFeedArgs,
    HostFeedPlan,
    HostFeedTransport,
    ListenerPlan,
    SensorCredentials,
    check_dns_name,
    listener_files,
    listener_rule_description,
    plan_host_feed,
    plan_listener,
    render_cloud_config_part,
)
from .host_feed_pki import HostFeedCredentials
from .shapes import check_capture_interface_name

TYPE_TOKEN = "cloudtap:HostFeeds"


class HostFeedsArgs(TypedDict, total=False):
    """Every host that copies its own traffic to one sensor. ``sensor_address``, ``hosts`` and
    (with any ``tls`` host) ``host_cidrs`` are required."""

    sensor_address: str
    """Required. The sensor's address as the hosts reach it."""
    sensor_names: Sequence[str]
    """DNS names the sensor's certificate carries besides its address. Default: none."""
    hosts: Mapping[str, HostFeedArgs]
    """Required. Host name (its certificate's common name, 1-63 letters, digits, ``.``, ``_``,
    ``-``) -> its :class:`~components.host_feed.HostFeedArgs` (``sensor_address`` comes from
    here)."""
    host_cidrs: Sequence[str]
    """Networks the ``tls`` hosts connect from: the only sources the listener and the sensor's
    security group admit (never 0.0.0.0/0). Default: none, which only feeds without ``tls``
    hosts may leave it."""
    port: int
    """The listener's TCP port. Default 3005."""
    capture_interface: str
    """The sensor's capture interface, as in its ``SensorArgs``. Default ``cloudtap0``."""
    aws_host_roles: Mapping[str, pulumi.Input[str]]
    """AWS: ``tls`` host name -> the IAM role (name) of its instance. That host's key is then
    not in its user-data part: it goes to an SSM SecureString
    ``/cloudtap/PROJECT/STACK/NAME/HOST/hostfeed-key`` that only this role may read, and the
    part's fetcher writes it (root's alone) at each start of the feed. Default: none (every
    key travels in its part, a secret output)."""
    sensor_security_group_id: pulumi.Input[str]
    """AWS: the sensor's security group, which gets an ingress rule for the listener's port from
    each of ``host_cidrs``. Default: no rule (other clouds: see ``firewall_rule``)."""


HOST_FEEDS_FIELDS = frozenset(HostFeedsArgs.__annotations__)


def plan_host_feeds(args: Mapping[str, Any]) -> tuple[list[HostFeedPlan], ListenerPlan | None]:
    """``HostFeedsArgs`` checked: each host's plan and the listener's (``None`` without a
    ``tls`` host); registers nothing."""
    reject_unknown_fields(args, HOST_FEEDS_FIELDS, "")
    if "sensor_address" not in args:
        raise CloudtapInputError("sensor_address", None, "the sensor's IPv4 address")
    hosts = args.get("hosts")
    if not isinstance(hosts, Mapping) or not hosts:
        raise CloudtapInputError("hosts", hosts, "a mapping of host name to its feed fields")
    plans: list[HostFeedPlan] = []
    for name, host_args in hosts.items():
        if isinstance(host_args, Mapping) and "sensor_address" in host_args:
            raise CloudtapInputError(
                f"hosts.{name}.sensor_address", host_args["sensor_address"], "no value: set it once"
            )
        if not isinstance(host_args, Mapping):
            raise CloudtapInputError(f"hosts.{name}", host_args, "a mapping of host feed fields")
        full = {**host_args, "sensor_address": args["sensor_address"]}
        plans.append(plan_host_feed(name, full, field=f"hosts.{name}"))
    for index, name in enumerate(args.get("sensor_names", [])):
        check_dns_name(f"sensor_names[{index}]", name)
    roles = args.get("aws_host_roles", {})
    if not isinstance(roles, Mapping):
        raise CloudtapInputError("aws_host_roles", roles, "a mapping of tls host name to role")
    tls = {plan.name for plan in plans if plan.transport is HostFeedTransport.TLS}
    for host in roles:
        if host not in tls:
            raise CloudtapInputError(
                f"aws_host_roles.{host}", roles[host], f"a role of a tls host: one of {sorted(tls)}"
            )
    capture = check_capture_interface_name(
        "capture_interface", args.get("capture_interface", "cloudtap0"), 3
    )
    if not any(plan.transport is HostFeedTransport.TLS for plan in plans):
        return plans, None
    listener = plan_listener(args.get("port"), args.get("host_cidrs", []), capture, field="")
    for plan in plans:
        if plan.transport is HostFeedTransport.TLS and plan.port != listener.port:
            raise CloudtapInputError(
                f"hosts.{plan.name}.port", plan.port, f"the listener's port {listener.port}"
            )
    return plans, listener


def key_parameter_name(component: str, host: str) -> str:
    """Where a host's key lives in SSM (AWS, with ``aws_host_roles``), checked."""
    name = f"/cloudtap/{pulumi.get_project()}/{pulumi.get_stack()}/{component}/{host}/hostfeed-key"
    if not HOST_KEY_PARAMETER.fullmatch(name) or len(name) > 1011:
        raise CloudtapInputError(
            "name", component, f"a component name that fits the SSM parameter name {name!r}"
        )
    return name


def _key_of(host: str) -> Callable[[Mapping[str, str]], str]:
    def key(keys: Mapping[str, str]) -> str:
        return keys[host]

    return key


def _tls_part(plan: HostFeedPlan, key_parameter: str | None) -> Callable[[list[Any]], str]:
    """The host's part, once its certificate and key (of every host's) are known; with
    ``key_parameter`` the key stays out of it."""

    def render(values: list[Any]) -> str:
        ca, certificates, keys = values
        key = None if key_parameter is not None else keys[plan.name]
        credentials = HostCredentials(ca, certificates[plan.name], key)
        return render_cloud_config_part(plan, credentials, key_parameter=key_parameter)

    return render


class HostFeeds(pulumi.ComponentResource):
    """Host feeds to one sensor: certificates (for ``tls`` hosts), user-data parts, rules."""

    user_data_parts: pulumi.Output[dict[str, str]]
    """Host name -> its ``#cloud-config`` part (secret: it carries the host's key)."""
    listener_files: pulumi.Output[list[WrittenFile]] | None
    """For the sensor's user data when any host uses ``tls`` (secret: the sensor's key)."""
    firewall_rule: str
    """What the sensor's firewall must admit, in words (empty without ``tls`` hosts)."""
    listener: ListenerPlan | None
    """The listener's port and host networks (``None`` without ``tls`` hosts): what an AWS
    ``Sensor`` given these feeds admits in its own security group."""
    sensor_address: str
    """The sensor's address the certificates name."""
    writes_security_group_rules: bool
    """Whether this component wrote the listener's rules (``sensor_security_group_id``)."""
    credentials: HostFeedCredentials | None
    """The CA and the certificates (``None`` without ``tls`` hosts)."""
    key_parameters: dict[str, str]
    """``tls`` host -> the SSM SecureString holding its key (``aws_host_roles``)."""

    def __init__(
        self, name: str, args: HostFeedsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        plans, listener = plan_host_feeds(args)  # every check before anything is registered
        roles: Mapping[str, pulumi.Input[str]] = args.get("aws_host_roles", {})
        key_parameters = {host: key_parameter_name(name, host) for host in roles}
        super().__init__(TYPE_TOKEN, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tls_hosts = [plan.name for plan in plans if plan.transport is HostFeedTransport.TLS]
        parts: dict[str, pulumi.Output[str]] = {
            plan.name: pulumi.Output.from_input(render_cloud_config_part(plan))
            for plan in plans
            if plan.transport is HostFeedTransport.VXLAN
        }
        self.listener_files = None
        self.firewall_rule = ""
        self.listener = listener
        self.credentials = None
        self.key_parameters = key_parameters
        self.sensor_address = str(args["sensor_address"])
        self.writes_security_group_rules = (
            listener is not None and "sensor_security_group_id" in args
        )
        if listener is not None:
            credentials = HostFeedCredentials(
                f"{name}-credentials",
                stack=pulumi.get_stack(),
                sensor_names=[args["sensor_address"], *args.get("sensor_names", [])],
                hosts=tls_hosts,
                opts=child,
            )
            self.credentials = credentials
            every = pulumi.Output.all(
                credentials.ca_certificate, credentials.host_certificates, credentials.host_keys
            )
            for plan in plans:
                if plan.transport is HostFeedTransport.TLS:
                    part = every.apply(_tls_part(plan, key_parameters.get(plan.name)))
                    parts[plan.name] = pulumi.Output.secret(part)
            if roles:
                self._aws_keys(name, credentials, roles, key_parameters, child)
            self.listener_files = pulumi.Output.secret(
                pulumi.Output.all(
                    credentials.ca_certificate,
                    credentials.sensor_certificate,
                    credentials.sensor_key,
                ).apply(
                    lambda values: listener_files(
                        listener, SensorCredentials(values[0], values[1], values[2])
                    )
                )
            )
            self.firewall_rule = listener_rule_description(listener)
            if "sensor_security_group_id" in args:
                self._aws_rules(name, listener, args["sensor_security_group_id"], child)
        self.user_data_parts = pulumi.Output.all(**parts).apply(dict)
        self.register_outputs(
            {"user_data_parts": self.user_data_parts, "firewall_rule": self.firewall_rule}
        )

    @staticmethod
    def _aws_keys(
        name: str,
        credentials: HostFeedCredentials,
        roles: Mapping[str, pulumi.Input[str]],
        parameters: Mapping[str, str],
        child: pulumi.ResourceOptions,
    ) -> None:
        """Each key in its SecureString, and its host's role allowed to read that one only."""
        import pulumi_aws as aws  # noqa: PLC0415 - only AWS hosts' keys need the AWS SDK

        from .aws.instances import parameter_read_policy  # noqa: PLC0415

        for host, role in roles.items():
            parameter = aws.ssm.Parameter(
                f"{name}-{host}-key",
                name=parameters[host],
                type="SecureString",
                tier="Standard",
                value=credentials.host_keys.apply(_key_of(host)),  # secret, as host_keys
                description=f"cloudtap host feed {host}: its private key",
                opts=child,
            )
            aws.iam.RolePolicy(
                f"{name}-{host}-key-read",
                role=role,
                policy=parameter.arn.apply(parameter_read_policy),
                opts=child,
            )

    @staticmethod
    def _aws_rules(
        name: str,
        listener: ListenerPlan,
        security_group_id: pulumi.Input[str],
        child: pulumi.ResourceOptions,
    ) -> None:
        import pulumi_aws as aws  # noqa: PLC0415 - only this optional rule needs the AWS SDK

        for index, network in enumerate(listener.host_networks):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-listener-{index + 1}",
                security_group_id=security_group_id,
                ip_protocol="tcp",
                from_port=listener.port,
                to_port=listener.port,
                cidr_ipv4=str(network),
                description="cloudtap host feeds (mutual TLS)",
                opts=child,
            )
