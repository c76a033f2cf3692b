"""Arguments of the Azure mirror session, apart from the component so that other clouds' sessions
can name (and refuse) Azure's fields without loading pulumi-azure-native."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, TypedDict

import pulumi

from ..mirror_host_feed import MirrorHostFeedArgs


class MirrorTargetArgs(TypedDict, total=False):
    """Where copies go: exactly one of ``sensor`` or the two ids (VXLAN on ``destination_port``)."""

    sensor: Any
    """An ``AzureSensor`` of the session's ``network`` (or its plan, when a program plans
    before building): its NIC's IP configuration is the TAP's destination, and the gateway
    mirror's copies must go to its address."""

    network_interface_ip_configuration_id: pulumi.Input[str]
    """ARM id of the sensor NIC's IP configuration
    (``.../networkInterfaces/<nic>/ipConfigurations/<name>``). May be a ``pulumi.Output``; its
    shape is then checked once known. The AWS facade's ``network_interface_id``."""
    load_balancer_frontend_ip_configuration_id: pulumi.Input[str]
    """ARM id of an *internal* load balancer's frontend in front of several sensors
    (``.../loadBalancers/<lb>/frontendIPConfigurations/<name>``). May be a ``pulumi.Output``.
    The AWS facade's ``network_load_balancer_arn``."""
    location: str
    """Region of the target, to have it checked against ``location``. Default: not checked."""


class MirrorSourceArgs(TypedDict, total=False):
    """One existing VM network interface: ``network_interface_id``, or ``network_interface_name``
    (with ``resource_group_name``)."""

    name: str
    """Stable key in its child's name (``{component}-{name}``): renaming it replaces the TAP
    configuration. 1-63 letters, digits, '.', '_' or '-'. Default: the NIC's name. Required when
    ``network_interface_name`` is a ``pulumi.Output``."""
    network_interface_id: str
    """ARM id of the NIC (``.../Microsoft.Network/networkInterfaces/<nic>``), plain text."""
    network_interface_name: pulumi.Input[str]
    """Name of the NIC in ``resource_group_name``, in the provider's subscription."""
    resource_group_name: pulumi.Input[str]
    """Resource group of ``network_interface_name``. Default: the TAP's."""
    location: str
    """Region of the source VM, to have it checked against ``location``. Default: not checked."""
    vm_size: str
    """The source VM's size, for ``auto`` on a ``network``: v6 sizes cannot be TAP sources and
    are copied at the gateway. Default: not stated (taken as one TAP can copy; the preview says
    so)."""
    private_ip: str
    """The source's address, for a session on a ``network``: a source the gateway copies must be
    in the private tier, and one the gateway mirror already covers is left to it. Default: not
    stated (taken to be in the private tier, cloudtap's place for workloads)."""


class MirrorSessionArgs(TypedDict, total=False):
    """Arguments of :class:`MirrorSession`. ``target``, ``sources`` and ``location`` are
    required."""

    target: MirrorTargetArgs
    """Required. Exactly one target."""
    sources: Sequence[MirrorSourceArgs]
    """Required, at least one; no NIC twice, never the target's own NIC."""
    network: Any
    """The ``MonitoredVNet`` (or its design) the sources live in. Default: none (existing NICs to
    an existing sensor, ``native`` only). With it, ``location`` and ``resource_group_name``
    default to the network's, ``target`` may be ``{sensor: ...}``, and ``auto`` and ``gateway``
    are offered."""
    method: str
    """With ``network``: ``"auto"`` (TAP where :mod:`~components.azure.tap_support` says it can
    copy the source and the gateway mirror does not already, else the gateway), ``"native"`` or
    ``"gateway"``. Without: ``"native"`` only. Default: ``"auto"`` with ``network``,
    ``"native"`` without."""
    host_feed: MirrorHostFeedArgs
    """With ``network``: host feeds for the sources decided ``host`` (given so, or chosen by
    ``auto`` for a source no TAP copies and no gateway sees): ``host_feeds.user_data_parts``
    by source for their user data; the sensor's NSG must admit ``host_feeds.firewall_rule``
    (said in the preview). Default: none, ``host`` refused."""
    tap_regions: Sequence[str]
    """Regions where virtual network TAP is offered, replacing cloudtap's list (the public
    preview's, dated in :data:`~components.azure.tap_support.TAP_REGIONS`) once Microsoft widens
    it. Default: that list."""
    location: str
    """Required. Azure region of the TAP, its target and its sources (``"westeurope"``). The
    program (``__main__.py``) defaults it to the stack's ``azure-native:location``."""
    resource_group_name: pulumi.Input[str]
    """Resource group of the TAP. Default: the target's (read from its ARM id); required when the
    target id is a ``pulumi.Output``."""
    destination_port: int
    """UDP port of the VXLAN copies. Default 4789, where cloudtap sensors listen."""
    attach_sources: bool
    """Create the sources' TAP configurations. Default ``True``. Deploy first with ``False``:
    Azure refuses a TAP configuration on a VM that was not deallocated and started once after
    the TAP existed."""
    tags: Mapping[str, str]
    """Tags of the TAP (TAP configurations take none). Default: none. Azure's rule: names of
    1-512 characters without ``< > % & \\ ? /``, values of at most 256, at most 50 tags."""


FIELDS: Final = frozenset(MirrorSessionArgs.__annotations__)
TARGET_FIELDS: Final = frozenset(MirrorTargetArgs.__annotations__)
SOURCE_FIELDS: Final = frozenset(MirrorSourceArgs.__annotations__)


# The names ``components`` exports next to the other clouds'.
AzureMirrorSessionArgs = MirrorSessionArgs
