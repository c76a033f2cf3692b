"""Arguments of the Azure mirror session, apart from the component so that other clouds' sessions
can name (and refuse) Azure's fields without loading pulumi-azure-native."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, TypedDict

import pulumi


class MirrorTargetArgs(TypedDict, total=False):
    """Where copies go: exactly one of the two ids (VXLAN on ``destination_port``)."""

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


class MirrorSessionArgs(TypedDict, total=False):
    """Arguments of :class:`MirrorSession`. ``target``, ``sources`` and ``location`` are
    required."""

    target: MirrorTargetArgs
    """Required. Exactly one target."""
    sources: Sequence[MirrorSourceArgs]
    """Required, at least one; no NIC twice, never the target's own NIC."""
    method: str
    """``"native"`` (default; the only method for now). ``"auto"`` and ``"gateway"`` need the
    Azure monitored network's gateway, which cloudtap does not build yet, and are refused."""
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


# The names ``components`` exports next to the other clouds'.
AzureMirrorSessionArgs = MirrorSessionArgs
