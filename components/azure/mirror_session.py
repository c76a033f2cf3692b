"""``MirrorSession`` on Azure: VM network interfaces copied to a sensor by virtual network TAP.

The same facade as :class:`components.aws.mirror_session.MirrorSession` — a ``target``, a list of
``sources`` with stable ``name`` keys, a ``method`` — built on
:class:`~components.azure.vtap.VirtualNetworkTapMirror`:

- the **target** is a sensor NIC's IP configuration or an internal load balancer's frontend (the
  AWS facade's ``network_interface_id`` / ``network_load_balancer_arn``);
- each **source** is an existing VM network interface, by ARM id or by name; it gets one TAP
  configuration named ``f"{name}-{source name}"`` (the AWS facade's per-interface session), and
  the one virtual network TAP ``f"{name}-tap"`` is what stays (the AWS facade's target);
- **method** is ``native`` only: the Azure monitored network, whose gateway would copy what
  the TAP cannot, is not built by cloudtap yet, so ``auto`` and ``gateway`` are refused with
  that reason.

A virtual network TAP has no filter: it copies every packet of its sources, as VXLAN to UDP 4789
(AWS's ``filter_presets`` and session settings have no Azure counterpart and are refused by name).
The preview prints one line per source, like the AWS facade's, and the child logs Azure's manual
requirements (preview enrolment, deallocating and starting every source VM once) as a warning.

Every check runs before the first registration (:mod:`.vtap_checks`); errors name the facade's
fields (``target...``, ``sources[i]...``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, cast

import pulumi
from pulumi_azure_native import network

from .. import mirror_session
from ..errors import CloudtapInputError
from ..fields import is_deferred
from ..mirror_args import session_fields
from ..mirror_plan import (
    MirrorInterface,
    MirrorSource,
    SourceDecision,
    decide,
    parse_method,
    parse_source_name,
    preview_line,
)
from ..mirroring import MirrorMethod
from ..monitored_network import Cloud
from ..shapes import is_arm_name, match_nic_id
from .mirror_args import (
    MirrorSessionArgs,
)
from .vtap import VirtualNetworkTapMirror
from .vtap_checks import (
    DestinationKind,
    VirtualNetworkTapMirrorArgs,
    VtapPlan,
    VtapSource,
    match_destination_id,
    normalize_location,
    plan_destination,
    plan_virtual_network_tap,
)

TYPE_TOKEN: Final = "cloudtap:azure:MirrorSession"
SOURCE_KIND: Final = "Azure VM network interface"
"""What the preview line calls a source (where the AWS facade names the instance type)."""


_NO_GATEWAY_YET = (
    "the Azure monitored network (with the gateway that copies what native mirroring cannot) "
    "is not built by cloudtap yet"
)
# Fields of the AWS facade a user may carry over, with why Azure has no such thing.
_NOT_ON_AZURE: Final = {
    "network": f"no value: {_NO_GATEWAY_YET}; mirror existing NICs to an existing sensor",
    **dict.fromkeys(
        ("filter_presets", "health_check_cidrs", "health_check_port"),
        "no value: a virtual network TAP has no filter, it copies every packet of its sources",
    ),
    **dict.fromkeys(
        ("session_number", "virtual_network_id", "packet_length", "existing_sessions_per_eni"),
        "no value: an AWS Traffic Mirroring setting; a virtual network TAP copies whole packets "
        "as VXLAN to destination_port",
    ),
}


class AzureMirrorSession(mirror_session.MirrorSession):
    """Copies of every source NIC's packets, by Azure virtual network TAP, to one target.

    Children: a :class:`~components.azure.vtap.VirtualNetworkTapMirror` of the same name, with the
    TAP ``{name}-tap`` and one TAP configuration ``{name}-{source}`` per source.
    """

    decisions: tuple[SourceDecision, ...]
    """Per source, in order: always native, with the reason the preview prints."""
    mirror: VirtualNetworkTapMirror
    tap: network.VirtualNetworkTap
    """The TAP (the static part; the AWS facade's ``target``)."""
    tap_id: pulumi.Output[str]
    sessions: dict[str, network.NetworkInterfaceTapConfiguration]
    """Child name -> TAP configuration, one per source; empty while ``attach_sources`` is
    false."""
    native_sources: list[str]
    gateway_sources: list[str]
    """Always empty (no gateway mirror on Azure yet); present so every facade has it."""

    def __init__(
        self,
        name: str,
        args: MirrorSessionArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        cloud: str | None = None,
    ) -> None:
        mirror_session.check_backend_cloud(cloud, Cloud.AZURE)
        # Every check before the first registration: nothing half-created on a wrong argument.
        planned = _plan(args)
        super().__init__(TYPE_TOKEN, name, None, opts)
        self.decisions = planned.decisions
        self.native_sources = [d.source.name for d in planned.decisions]
        self.gateway_sources = []
        for decision in planned.decisions:
            pulumi.log.info(preview_line(decision), resource=self)

        # Same name as this component, other type: its children are named "{name}-tap" and
        # "{name}-{source}", as the AWS facade's are. It logs Azure's preview requirements.
        self.mirror = VirtualNetworkTapMirror(
            name, planned.vtap_args, pulumi.ResourceOptions(parent=self)
        )
        self.tap = self.mirror.tap
        self.tap_id = self.mirror.tap_id
        self.sessions = {
            f"{name}-{source.name}": configuration
            for source, configuration in zip(
                planned.vtap.sources, self.mirror.tap_configurations, strict=False
            )
        }
        self._register_results({"tap_id": self.tap_id})


@dataclass(frozen=True)
class _AzureMirrorPlan:
    vtap_args: VirtualNetworkTapMirrorArgs
    """What the child component is given (checked: it checks again, cheaply)."""
    vtap: VtapPlan
    decisions: tuple[SourceDecision, ...]


def _plan(args: Any) -> _AzureMirrorPlan:
    """Validate ``MirrorSessionArgs`` and resolve the defaults; nothing is registered."""
    raw = session_fields(args, Cloud.AZURE, reasons=_NOT_ON_AZURE)
    method = parse_method(raw.get("method", MirrorMethod.NATIVE.value))
    if method is not MirrorMethod.NATIVE:
        raise CloudtapInputError(
            "method",
            raw.get("method"),
            f"native: Azure mirrors by virtual network TAP only for now; {_NO_GATEWAY_YET}",
        )
    target = raw.get("target")
    if target is None:
        raise CloudtapInputError(
            "target",
            None,
            "a mapping with exactly one of network_interface_ip_configuration_id (a sensor "
            "NIC's IP configuration) or load_balancer_frontend_ip_configuration_id (an internal "
            "load balancer's frontend): mirroring needs a target",
        )
    location = raw.get("location")
    if location is None:
        raise CloudtapInputError(
            "location",
            None,
            "the Azure region of the TAP, its target and its sources, e.g. westeurope (the "
            "cloudtap program defaults it to azure-native:location)",
        )
    with _facade_fields():
        resource_group = raw.get("resource_group_name")
        if resource_group is None:
            resource_group = _target_resource_group(
                target, normalize_location("location", location)
            )
        vtap_args: dict[str, Any] = {
            "resource_group_name": resource_group,
            "location": location,
            "destination": target,
            "sources": _named_sources(raw.get("sources")),
        }
        for field in ("destination_port", "attach_sources", "tags"):
            if field in raw:
                vtap_args[field] = raw[field]
        vtap = plan_virtual_network_tap(vtap_args, is_deferred=is_deferred)
    reason = _reason(vtap)
    decisions = tuple(
        decide(MirrorMethod.NATIVE, _mirror_source(source), True, reason) for source in vtap.sources
    )
    return _AzureMirrorPlan(cast(VirtualNetworkTapMirrorArgs, vtap_args), vtap, decisions)


@contextmanager
def _facade_fields() -> Iterator[None]:
    """The checks speak of the TAP's ``destination``; this facade calls it ``target``."""
    try:
        yield
    except CloudtapInputError as error:
        field = error.field
        if field == "destination" or field.startswith("destination."):
            field = "target" + field.removeprefix("destination")
        expected = error.expected.replace("destination.", "target.")
        if (field, expected) == (error.field, error.expected):
            raise
        raise CloudtapInputError(field, error.value, expected) from None


def _target_resource_group(target: Any, location: str) -> Any:
    """The TAP's default resource group: the target's, read from its plain ARM id."""
    destination = plan_destination(target, location, is_deferred)
    if is_deferred(destination.id):
        raise CloudtapInputError(
            "resource_group_name",
            None,
            "the TAP's resource group: required when the target's id is only known after "
            "deployment (otherwise it defaults to the target's resource group)",
        )
    match = match_destination_id(destination.kind, destination.id)
    assert match is not None  # plan_destination checked the shape
    return match["resource_group"]


def _named_sources(value: Any) -> Any:
    """``sources`` with each missing ``name`` defaulted to its NIC's name (other problems are left
    to the checks, which name them)."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        return value
    named: list[Any] = []
    for index, source in enumerate(value):
        if not isinstance(source, Mapping) or source.get("name") is not None:
            named.append(source)
            continue
        nic_name = _nic_name(source)
        if nic_name is None:
            named.append(source)  # the checks refuse it: no name and no plain NIC to name it by
            continue
        try:
            parse_source_name(f"sources[{index}].name", nic_name)
        except CloudtapInputError:
            raise CloudtapInputError(
                f"sources[{index}].name",
                None,
                "a stable key of 1-63 letters, digits, '.', '_' or '-' (it becomes part of child "
                f"names): the default, the NIC's name {nic_name!r}, is not one",
            ) from None
        named.append({**source, "name": nic_name})
    return named


def _nic_name(source: Mapping[str, Any]) -> str | None:
    """The NIC's name when the source names a NIC well; a bad id or name is left to the checks,
    which report it (and not the missing source name it would default)."""
    by_id = source.get("network_interface_id")
    if by_id is not None:
        match = match_nic_id(by_id)
        return match["nic"] if match else None
    by_name = source.get("network_interface_name")
    return by_name if is_arm_name(by_name) else None


def _mirror_source(source: VtapSource) -> MirrorSource:
    nic = source.nic
    # The preview names a NIC "resource group/name"; a deferred part shows as "#1".
    shown = (
        nic.describe()
        if isinstance(nic.resource_group, str) and isinstance(nic.name, str)
        else None
    )
    return MirrorSource(
        name=source.name,
        instance_type=SOURCE_KIND,
        interfaces=(MirrorInterface(shown if shown is not None else nic.name, "1"),),
    )


def _reason(plan: VtapPlan) -> str:
    destination = plan.destination
    to_nic = destination.kind is DestinationKind.NETWORK_INTERFACE_IP_CONFIGURATION
    if isinstance(destination.id, str):
        match = match_destination_id(destination.kind, destination.id)
        assert match is not None
        where = (
            f"the sensor NIC {match['nic']}/{match['child']}"
            if to_nic
            else f"the internal load balancer frontend {match['lb']}/{match['child']}"
        )
    else:
        where = "the sensor NIC" if to_nic else "an internal load balancer frontend"
    reason = f"Azure virtual network TAP to {where}, VXLAN on UDP {plan.destination_port}"
    if not plan.attach_sources:
        reason += (
            "; TAP only, not attached yet (attach_sources is false): deallocate and start the VM "
            "once, then set attach_sources to true"
        )
    return reason


MirrorSession = AzureMirrorSession
"""This class's name before every cloud shared :class:`components.MirrorSession`: programs that
import it from here keep working."""
