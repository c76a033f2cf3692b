"""Arguments of the AWS mirror session, apart from the component so that other clouds' sessions
can name (and refuse) AWS's fields without loading pulumi-aws."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TypedDict

import pulumi

from ..mirror_host_feed import MirrorHostFeedArgs

if TYPE_CHECKING:
    from .monitored_vpc import MonitoredVpc
    from .sensor import Sensor
    from .sensor_fleet import SensorFleet


class MirrorTargetArgs(TypedDict, total=False):
    """Where copies go: exactly one field."""

    sensor: Sensor
    """A cloudtap Sensor: its interface becomes the target (and gateway-mirrored sources need
    it, at ``gateway_mirror.sensor_address``)."""
    fleet: SensorFleet
    """A cloudtap SensorFleet: its Network Load Balancer (one target), or its Gateway Load
    Balancer endpoints (see ``zone_local_targets``)."""
    network_interface_id: pulumi.Input[str]
    """An interface of type ``interface``; 10 sources at most (100 on a family's largest size)."""
    network_load_balancer_arn: pulumi.Input[str]
    """A Network Load Balancer with a UDP listener on 4789 (checked at preview when the ARN is a
    plain string)."""
    gateway_load_balancer_endpoint_id: pulumi.Input[str]
    """A Gateway Load Balancer endpoint (``vpce-...``); appliances receive GENEVE on 6081."""


class MirrorSourceArgs(TypedDict, total=False):
    """One source: either ``instance_id`` alone, or ``network_interface_ids`` and
    ``instance_type``."""

    name: str
    """Stable key in child names. Default: ``instance_id``, else the first interface id.
    Required when the interface ids are Outputs of the same program."""
    instance_id: str
    """Alone: every interface of the instance and its type are looked up at preview (one
    DescribeInstances call for all sources)."""
    instance_type: str
    """With ``network_interface_ids``: the type of their instance (decides native vs gateway),
    one the installed botocore's EC2 model lists or the session's ``unlisted_instance_types``
    names."""
    network_interface_ids: Sequence[pulumi.Input[str]]
    """Explicit interfaces, no lookup."""


class EnrolArgs(TypedDict, total=False):
    """What the enrolment function mirrors: instances launched after ``pulumi up`` too."""

    tags: Mapping[str, str]
    """Instances carrying every one of these tags. Default: none, every instance in ``subnets``."""
    subnets: str | Sequence[str]
    """A tier of the network (``private``, ``public`` or ``management``) or a list of subnet
    ids; an instance's interfaces in them are mirrored. Default: ``private``."""


class MirrorSessionArgs(TypedDict, total=False):
    """Arguments of :class:`MirrorSession`. ``target`` and ``sources`` are required."""

    target: MirrorTargetArgs
    """Required. Exactly one target."""
    sources: Sequence[MirrorSourceArgs]
    """Required, at least one (none is allowed with ``enrol``)."""
    method: str
    """``"auto"`` (default), ``"native"``, ``"gateway"`` or (with ``host_feed``) ``"host"``;
    see :class:`~components.mirroring.MirrorMethod`."""
    host_feed: MirrorHostFeedArgs
    """Host feeds for the sources decided ``host`` (given so, or chosen by ``auto`` for a
    source AWS cannot mirror and no gateway sees): ``host_feeds.user_data_parts`` by source,
    and for a ``vxlan`` source given by ``instance_id`` an SSM document and association that
    install it. Default: none, ``host`` refused."""
    network: MonitoredVpc
    """The monitored VPC. Default: the target sensor's network, else none. Needed for gateway
    mirroring (and ``auto`` sources AWS cannot mirror), ``drop_intra_vpc`` and the default
    ``health_check_cidrs``."""
    zone_local_targets: bool
    """With a ``target.fleet`` behind a Gateway Load Balancer: each source's sessions go to the
    endpoint in the source's own zone (saves cross-zone data charges; the zone is known for
    sources given by ``instance_id``, the first zone's endpoint is used for the others).
    Default false: every session goes to the first zone's endpoint."""
    session_number: int
    """Priority of the sessions on their interfaces, 1-32766 (lowest first). Default 1."""
    virtual_network_id: int
    """VXLAN network identifier of the copies, 1-16777215. Default: unset, AWS picks a random
    one unique in the account."""
    packet_length: int
    """Bytes of each packet to copy, 1-8500. Default: unset, the whole packet."""
    filter_presets: Sequence[str]
    """Any of ``drop_intra_vpc`` and ``drop_health_checks``
    (:class:`~components.mirror_plan.FilterPreset`). Default: none."""
    health_check_cidrs: Sequence[str]
    """Networks whose traffic ``drop_health_checks`` drops. Default: the network's public-tier
    subnets (where load balancers live), merged into as few CIDRs as possible."""
    health_check_port: int
    """With ``drop_health_checks``: drop only TCP to/from this port on the source. Default:
    unset, every protocol and port exchanged with ``health_check_cidrs``."""
    existing_sessions_per_eni: int | Mapping[str, int]
    """Sessions that other tools already hold on the source interfaces (AWS allows 3 per
    interface): one count for all, or counts by interface id. Default 0."""
    unlisted_instance_types: Sequence[str]
    """Instance types newer than the installed botocore, accepted as sources' ``instance_type``
    although botocore does not list them (each still ``family.size``). cloudtap's mirroring
    data cannot know them either: ``auto`` copies such sources at the gateway. Default: none."""
    tags: Mapping[str, str]
    """Tags merged into every resource's tags; ``Name`` may not be given. IAM's tag rule
    applies, as on the network and the sensor, so one set of tags fits every component.
    Default: none."""
    mirrorable_instance_types: Sequence[str]
    """Instance types or families (``m7i``, ``c7i.large``) that AWS mirrors although cloudtap's
    instance-type data (:mod:`components.aws.mirror_support`, dated) calls them unsupported or
    unconfirmed: an override for when AWS widens its support first. Default: none."""
    enrol: EnrolArgs
    """Deploy the enrolment function (:mod:`components.aws.enrolment`): it mirrors every
    interface of matching instances as they start and removes its sessions as they terminate.
    With ``enrol``, ``sources`` may be empty. Default: off."""


FIELDS = frozenset(MirrorSessionArgs.__annotations__)
