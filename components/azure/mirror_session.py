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

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, cast

import pulumi
from pulumi_azure_native import network

from .. import mirror_session
from ..errors import CloudtapInputError
from ..fields import is_deferred
from ..host_feeds import HostFeedsArgs
from ..mirror_args import session_fields
from ..mirror_plan import (
    MirrorInterface,
    MirrorSource,
    SourceDecision,
    decide,
    parse_method,
    preview_line,
)
from ..mirroring import MirrorMethod
from ..monitored_network import Cloud
from .mirror_args import (
    MirrorSessionArgs,
)
from .mirror_planning import named_sources, plan_on_network
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
HOST: Final = MirrorMethod.HOST
SOURCE_KIND: Final = "Azure VM network interface"
"""What the preview line calls a source (where the AWS facade names the instance type)."""


_NEEDS_NETWORK = (
    "auto and gateway need network (the MonitoredVNet whose gateway copies what virtual network "
    "TAP cannot)"
)
# Fields of the AWS facade a user may carry over, with why Azure has no such thing.
_NOT_ON_AZURE: Final = {
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
    """Per source, in order: TAP (native) or the gateway, with the reason the preview prints."""
    mirror: VirtualNetworkTapMirror | None
    """``None`` when the gateway copies every source."""
    tap: network.VirtualNetworkTap | None
    """The TAP (the static part; the AWS facade's ``target``); ``None`` without TAP sources."""
    tap_id: pulumi.Output[str] | None
    sessions: dict[str, network.NetworkInterfaceTapConfiguration]
    """Child name -> TAP configuration, one per TAP source; empty while ``attach_sources`` is
    false."""
    native_sources: list[str]
    gateway_sources: list[str]
    """Sources the network's gateway mirror copies (only with ``network``)."""

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
        planned = plan_mirror_session(args)
        super().__init__(TYPE_TOKEN, name, None, opts)
        self.decisions = planned.decisions
        self.native_sources = [
            d.source.name for d in planned.decisions if d.method is MirrorMethod.NATIVE
        ]
        self.gateway_sources = [
            d.source.name for d in planned.decisions if d.method is MirrorMethod.GATEWAY
        ]
        for decision in planned.decisions:
            pulumi.log.info(preview_line(decision), resource=self)
        for warning in planned.warnings:
            pulumi.log.warn(warning, resource=self)

        self.mirror = self.tap = self.tap_id = None
        self.sessions = {}
        self.host_sources = [d.source.name for d in planned.decisions if d.method is HOST]
        self.host_feeds = None
        if planned.host_feeds is not None:
            self.host_feeds = mirror_session.build_host_feeds(name, planned.host_feeds, self)
        if planned.vtap_args is not None and planned.vtap is not None:
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
        self._register_results({"tap_id": self.tap_id, **self._host_feed_outputs()})


@dataclass(frozen=True)
class AzureMirrorPlan:
    """A session as planned: every source's way, and the TAP's arguments when one is needed."""

    vtap_args: VirtualNetworkTapMirrorArgs | None
    """What the child component is given (checked: it checks again, cheaply); ``None`` when the
    gateway copies every source."""
    vtap: VtapPlan | None
    decisions: tuple[SourceDecision, ...]
    warnings: tuple[str, ...] = ()
    host_feeds: HostFeedsArgs | None = None


def plan_mirror_session(
    args: MirrorSessionArgs | Mapping[str, Any], *, network_location: str | None = None
) -> AzureMirrorPlan:
    """Check ``MirrorSessionArgs`` and decide every source's way; registers nothing.

    ``network`` may be a :class:`~components.azure.monitored_vnet.MonitoredVNet` or its design
    (with ``network_location``, its region), and ``target.sensor`` an ``AzureSensor`` or its
    plan, so a program can check its mirror before the network and the sensor exist.
    """
    raw = session_fields(args, Cloud.AZURE, reasons=_NOT_ON_AZURE)
    if raw.get("network") is None:
        return _plan(raw)
    from .sensor import AzureSensor, AzureSensorPlan  # noqa: PLC0415 - loads compute

    with _facade_fields():
        on_network = plan_on_network(raw, (AzureSensor, AzureSensorPlan), network_location)
    return AzureMirrorPlan(
        cast(VirtualNetworkTapMirrorArgs, on_network.vtap_args),
        on_network.vtap,
        on_network.decisions,
        on_network.warnings,
        on_network.host_feeds,
    )


def _plan(raw: Mapping[str, Any]) -> AzureMirrorPlan:
    """Existing NICs to an existing target, by TAP only; nothing is registered."""
    if raw.get("host_feed") is not None:
        raise CloudtapInputError(
            "host_feed", raw["host_feed"], f"no value without network: {_NEEDS_NETWORK}"
        )
    method = parse_method(raw.get("method", MirrorMethod.NATIVE.value))
    if method is not MirrorMethod.NATIVE:
        raise CloudtapInputError(
            "method", raw.get("method"), f"native without network: {_NEEDS_NETWORK}"
        )
    if raw.get("tap_regions") is not None:
        raise CloudtapInputError(
            "tap_regions",
            raw["tap_regions"],
            "no value without network: the region list only decides auto, which needs network",
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
            "sources": named_sources(raw.get("sources")),
        }
        for field in ("destination_port", "attach_sources", "tags"):
            if field in raw:
                vtap_args[field] = raw[field]
        vtap = plan_virtual_network_tap(vtap_args, is_deferred=is_deferred)
    reason = _reason(vtap)
    decisions = tuple(
        decide(MirrorMethod.NATIVE, _mirror_source(source), True, reason) for source in vtap.sources
    )
    return AzureMirrorPlan(cast(VirtualNetworkTapMirrorArgs, vtap_args), vtap, decisions)


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
