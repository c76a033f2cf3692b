"""Read-only AWS lookups at preview (boto3): instances' interfaces, load balancers' listeners.

Pulumi invokes cannot do either (no invoke lists an instance's secondary interfaces with their
device indexes, and a plain invoke would make the child count depend on an Output), so these
calls run while the program runs, before any resource is registered. Every call takes its boto3
client as an argument; :class:`AwsClients` builds the default ones from the stack's ``aws:region``
and ``aws:profile`` (or the environment) and tests pass moto-backed clients.

Lookups are batched: one paginated ``DescribeInstances`` for all instances of a program, one
paginated ``DescribeListeners`` per load balancer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import CloudtapInputError

# What boto3 raises for AWS's answers and for missing credentials or endpoints.
_AWS_ERRORS = (BotoCoreError, ClientError)

# Interface types AWS Traffic Mirroring can copy: "A traffic mirror source is the network
# interface of type interface". boto3 omits InterfaceType for plain interfaces on some paths.
MIRRORABLE_INTERFACE_TYPES = frozenset({"interface", None})


@dataclass(frozen=True)
class DiscoveredInterface:
    id: str
    device_index: int
    network_card_index: int
    private_ip: ipaddress.IPv4Address | None
    subnet_id: str | None
    interface_type: str | None

    @property
    def key(self) -> str:
        """Stable suffix of child names: the attachment's device index + 1 (``"1"`` for the
        primary interface), prefixed with the network card on multi-card instances."""
        if self.network_card_index == 0:
            return str(self.device_index + 1)
        return f"card{self.network_card_index}-{self.device_index + 1}"


@dataclass(frozen=True)
class DiscoveredInstance:
    id: str
    instance_type: str
    state: str
    interfaces: tuple[DiscoveredInterface, ...]
    """All attached interfaces, ordered by network card, then device index."""


@dataclass(frozen=True)
class Listener:
    port: int
    protocol: str


def describe_instances(
    ec2: Any, instance_ids: Sequence[str], field_of: dict[str, str] | None = None
) -> dict[str, DiscoveredInstance]:
    """Every instance of ``instance_ids`` with all its interfaces, in one paginated call.

    ``field_of`` maps an instance id to the argument it came from, so an error names it.
    """
    wanted = list(dict.fromkeys(instance_ids))
    if not wanted:
        return {}
    fields = field_of or {}
    try:
        pages = ec2.get_paginator("describe_instances").paginate(InstanceIds=wanted)
        reservations = [r for page in pages for r in page.get("Reservations", [])]
    except _AWS_ERRORS as error:
        missing = [i for i in wanted if i in str(error)]
        culprit = missing[0] if missing else wanted[0]
        raise CloudtapInputError(
            fields.get(culprit, "sources.instance_id"),
            culprit,
            f"an instance that exists in the stack's region and account (AWS said: {error})",
        ) from None
    found: dict[str, DiscoveredInstance] = {}
    for reservation in reservations:
        for raw in reservation.get("Instances", []):
            instance = _instance(raw)
            found[instance.id] = instance
    for instance_id in wanted:
        if instance_id not in found:
            raise CloudtapInputError(
                fields.get(instance_id, "sources.instance_id"),
                instance_id,
                "an instance that exists in the stack's region and account",
            )
        if found[instance_id].state in ("shutting-down", "terminated"):
            raise CloudtapInputError(
                fields.get(instance_id, "sources.instance_id"),
                instance_id,
                f"an instance that is not {found[instance_id].state}",
            )
    return {instance_id: found[instance_id] for instance_id in wanted}


def _instance(raw: dict[str, Any]) -> DiscoveredInstance:
    interfaces = []
    for eni in raw.get("NetworkInterfaces", []):
        attachment = eni.get("Attachment") or {}
        address = eni.get("PrivateIpAddress")
        interfaces.append(
            DiscoveredInterface(
                id=eni["NetworkInterfaceId"],
                device_index=int(attachment.get("DeviceIndex", 0)),
                network_card_index=int(attachment.get("NetworkCardIndex", 0)),
                private_ip=ipaddress.IPv4Address(address) if address else None,
                subnet_id=eni.get("SubnetId"),
                interface_type=eni.get("InterfaceType"),
            )
        )
    interfaces.sort(key=lambda i: (i.network_card_index, i.device_index))
    return DiscoveredInstance(
        id=raw["InstanceId"],
        instance_type=raw["InstanceType"],
        state=(raw.get("State") or {}).get("Name", "unknown"),
        interfaces=tuple(interfaces),
    )


def describe_listeners(elbv2: Any, load_balancer_arn: str, field: str) -> list[Listener]:
    """The listeners of one load balancer (paginated)."""
    try:
        pages = elbv2.get_paginator("describe_listeners").paginate(
            LoadBalancerArn=load_balancer_arn
        )
        raw = [listener for page in pages for listener in page.get("Listeners", [])]
    except _AWS_ERRORS as error:
        raise CloudtapInputError(
            field,
            load_balancer_arn,
            f"the ARN of an existing Network Load Balancer in the stack's region (AWS said: "
            f"{error})",
        ) from None
    return [Listener(int(item["Port"]), str(item["Protocol"])) for item in raw]


@dataclass
class AwsClients:
    """boto3 clients for the preview-time lookups; made on first use unless given.

    :param region: default: the stack's ``aws:region``, else the environment's region.
    :param profile: default: the stack's ``aws:profile``, else the environment's credentials.
    """

    ec2: Any = None
    elbv2: Any = None
    region: str | None = None
    profile: str | None = None
    _session: Any = field(default=None, repr=False)
    _instances: dict[tuple[str, ...], dict[str, DiscoveredInstance]] = field(
        default_factory=dict, repr=False
    )
    _listeners: dict[str, list[Listener]] = field(default_factory=dict, repr=False)

    def _boto_session(self) -> Any:
        if self._session is None:
            import boto3  # noqa: PLC0415 - only programs that look something up pay for boto3
            import pulumi  # noqa: PLC0415

            config = pulumi.Config("aws")
            self._session = boto3.session.Session(
                region_name=self.region or config.get("region"),
                profile_name=self.profile or config.get("profile"),
            )
        return self._session

    def ec2_client(self) -> Any:
        if self.ec2 is None:
            self.ec2 = self._boto_session().client("ec2")
        return self.ec2

    def elbv2_client(self) -> Any:
        if self.elbv2 is None:
            self.elbv2 = self._boto_session().client("elbv2")
        return self.elbv2

    # A program checks its mirror before it builds it, with the same clients: the second look
    # is answered from the first, so AWS is asked once and both see the same answer.

    def instances(
        self, instance_ids: Sequence[str], field_of: dict[str, str] | None = None
    ) -> dict[str, DiscoveredInstance]:
        """:func:`describe_instances`, asked once per set of instances."""
        key = tuple(dict.fromkeys(instance_ids))
        if key not in self._instances:
            self._instances[key] = describe_instances(self.ec2_client(), key, field_of)
        return self._instances[key]

    def listeners(self, load_balancer_arn: str, field: str) -> list[Listener]:
        """:func:`describe_listeners`, asked once per load balancer."""
        if load_balancer_arn not in self._listeners:
            self._listeners[load_balancer_arn] = describe_listeners(
                self.elbv2_client(), load_balancer_arn, field
            )
        return self._listeners[load_balancer_arn]


def mirrorable_interfaces(
    instance: DiscoveredInstance,
) -> tuple[tuple[DiscoveredInterface, ...], tuple[DiscoveredInterface, ...]]:
    """(interfaces AWS can mirror, the others: EFA-only, trunk, ...)."""
    keep = tuple(i for i in instance.interfaces if i.interface_type in MIRRORABLE_INTERFACE_TYPES)
    skip = tuple(i for i in instance.interfaces if i not in keep)
    return keep, skip
