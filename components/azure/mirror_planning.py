"""Planning of the Azure ``MirrorSession`` on a monitored virtual network: every source's way.

Pure Python (no Pulumi, no Azure SDK): the Sensor classes a target may be come in as a
parameter. Per source, ``auto`` takes virtual network TAP where :mod:`.tap_support` says it can
copy the source *and* the network's gateway mirror does not already copy it, else the gateway:

- TAP copies every packet of a source and has no filter, while the gateway mirror copies every
  packet it forwards. A source behind a gateway that mirrors would have its north-south traffic
  copied twice, so such a source is left to the gateway (the AWS rule, "no duplicates", kept the
  only way a filterless TAP allows); ``native`` for it is refused.
- A source the gateway copies must be behind it (private tier) and the gateway mirror must be on
  (:func:`~components.mirror_plan.check_gateway_mirror_on`, ``check_behind_gateway``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ..errors import CloudtapInputError
from ..fields import is_deferred, reject_unknown_fields
from ..host_feeds import HostFeedsArgs
from ..mirror_host_feed import gateway_sees, host_feed_given, plan_session_host_feeds
from ..mirror_plan import (
    MirrorInterface,
    MirrorSource,
    SourceDecision,
    check_behind_gateway,
    check_gateway_mirror_on,
    copied_by_gateway,
    decide,
    parse_method,
    parse_source_name,
)
from ..mirroring import MirrorMethod
from ..monitored_network import Cloud, MonitoredNetwork, NetworkDesign
from ..shapes import check_azure_vm_size, is_arm_name, is_azure_region, match_nic_id
from .mirror_args import SOURCE_FIELDS, TARGET_FIELDS
from .tap_support import TAP_REGIONS, tap_support
from .vtap_checks import (
    SOURCE_FIELDS as TAP_SOURCE_FIELDS,
)
from .vtap_checks import (
    VtapPlan,
    normalize_location,
    plan_source,
    plan_virtual_network_tap,
)

NETWORK_KIND: Final = "MonitoredVNet"


class Pending:
    """A value that exists only once the program's resources do (planning before building)."""

    def __repr__(self) -> str:
        return "<known after deployment>"


PENDING: Final = Pending()


def deferred(value: Any) -> bool:
    return value is PENDING or is_deferred(value)


@dataclass(frozen=True)
class NetworkMirrorPlan:
    decisions: tuple[SourceDecision, ...]
    vtap_args: Mapping[str, Any] | None
    """The native sources' ``VirtualNetworkTapMirror`` arguments; ``None`` when the gateway
    copies every source."""
    vtap: VtapPlan | None
    warnings: tuple[str, ...]
    host_feeds: HostFeedsArgs | None = None
    """The ``HostFeeds`` arguments of the sources decided ``host``; ``None`` without."""


def named_sources(value: Any) -> Any:
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
    by_id = source.get("network_interface_id")
    if by_id is not None:
        match = match_nic_id(by_id)
        return match["nic"] if match else None
    by_name = source.get("network_interface_name")
    return by_name if is_arm_name(by_name) else None


def parse_regions(value: Any) -> tuple[str, ...]:
    if value is None:
        return TAP_REGIONS
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise CloudtapInputError("tap_regions", value, "a list of Azure regions, e.g. [westeurope]")
    regions = []
    for index, text in enumerate(value):
        # Written as ARM spells a region: the list is compared, never normalised.
        if not is_azure_region(text):
            raise CloudtapInputError(
                f"tap_regions[{index}]", text, "a region as ARM spells it, e.g. westeurope"
            )
        regions.append(text)
    return tuple(regions)


def _location(raw: Mapping[str, Any], network: Any, network_location: str | None) -> str:
    own = getattr(network, "location", network_location)
    given = raw.get("location")
    if given is None:
        if own is None:
            raise CloudtapInputError(
                "location",
                None,
                "the network's Azure region (the program fills it in from cloudtap:network)",
            )
        return str(own)
    location = normalize_location("location", given)
    if own is not None and location != own:
        raise CloudtapInputError(
            "location", given, f"the network's region {own!r}, or nothing: one region for all"
        )
    return location


def _target(
    raw: Mapping[str, Any], design: NetworkDesign, sensor_types: tuple[type, ...]
) -> tuple[Mapping[str, Any], Any]:
    """(the TAP's destination arguments, the sensor or ``None``)."""
    target = raw.get("target")
    if not isinstance(target, Mapping):
        raise CloudtapInputError(
            "target",
            target,
            "{sensor: <an AzureSensor of the network>}, or a NIC IP configuration id",
        )
    reject_unknown_fields(target, TARGET_FIELDS, "target")
    if "sensor" not in target:
        return target, None
    sensor: Any = target["sensor"]
    if len(target) != 1:
        raise CloudtapInputError("target", dict(target), "sensor alone, or one of the ids")
    if not isinstance(sensor, sensor_types) or getattr(sensor, "network", None) is None:
        raise CloudtapInputError("target.sensor", sensor, "an AzureSensor (or its plan)")
    sensor = target["sensor"]  # isinstance with a tuple of types narrows it to object
    if sensor.network.design != design:
        raise CloudtapInputError(
            "target.sensor", sensor, "a sensor of the session's network, whose tiers it mirrors"
        )
    destination = sensor.network_interface_ip_configuration_id
    return {
        "network_interface_ip_configuration_id": destination if destination is not None else PENDING
    }, sensor


@dataclass(frozen=True)
class _Source:
    field: str
    tap_args: Mapping[str, Any]
    vm_size: str | None
    address: ipaddress.IPv4Address | None


def _sources(value: Any) -> list[_Source]:
    listed = named_sources(value)
    if isinstance(listed, (str, bytes, Mapping)) or not isinstance(listed, Sequence) or not listed:
        raise CloudtapInputError("sources", listed, "a non-empty list of sources")
    parsed = []
    for index, source in enumerate(listed):
        field = f"sources[{index}]"
        if not isinstance(source, Mapping):
            raise CloudtapInputError(field, source, "a mapping with name and network_interface_id")
        reject_unknown_fields(source, SOURCE_FIELDS, field)
        size = source.get("vm_size")
        address = source.get("private_ip")
        try:
            parsed_address = ipaddress.IPv4Address(address) if address is not None else None
        except ValueError:
            raise CloudtapInputError(f"{field}.private_ip", address, "an IPv4 address") from None
        parsed.append(
            _Source(
                field,
                {k: v for k, v in source.items() if k in TAP_SOURCE_FIELDS},
                check_azure_vm_size(f"{field}.vm_size", size) if size is not None else None,
                parsed_address,
            )
        )
    return parsed


def plan_on_network(
    raw: Mapping[str, Any],
    sensor_types: tuple[type, ...],
    network_location: str | None = None,
) -> NetworkMirrorPlan:
    """``MirrorSessionArgs`` with a ``network``, checked and decided; registers nothing.

    ``network_location``: the region of a network given as its design (a built
    ``MonitoredVNet`` knows its own)."""
    network = raw["network"]
    if not isinstance(network, MonitoredNetwork) or network.design.cloud is not Cloud.AZURE:
        raise CloudtapInputError("network", network, f"a cloudtap {NETWORK_KIND}")
    design = network.design
    plan = design.plan
    location = _location(raw, network, network_location)
    host_feeds = host_feed_given(raw)
    method = parse_method(raw.get("method"), host_feeds=host_feeds)
    regions = parse_regions(raw.get("tap_regions"))
    destination, sensor = _target(raw, design, sensor_types)
    group = raw.get("resource_group_name", getattr(network, "resource_group_name", PENDING))
    sources = _sources(raw.get("sources"))
    planned = [plan_source(i, s.tap_args, group, location, deferred) for i, s in enumerate(sources)]

    decisions = []
    for source, tap_source in zip(sources, planned, strict=True):
        interface = MirrorInterface(tap_source.nic.describe(), "1", source.address)
        mirror_source = MirrorSource(
            name=tap_source.name,
            instance_type=source.vm_size or "VM size not stated",
            interfaces=(interface,),
        )
        support = tap_support(location, source.vm_size, regions)
        mirrorable, reason = support.supported, support.reason
        if mirrorable and copied_by_gateway(interface, plan):
            mirrorable = False
            reason = (
                "the network's gateway mirror already copies its traffic through the gateway, "
                "and a virtual network TAP (which has no filter) would copy that again"
            )
        decisions.append(
            decide(
                method,
                mirror_source,
                mirrorable,
                reason,
                field=source.field,
                gateway_sees=gateway_sees(mirror_source, plan, host_feeds),
            )
        )

    warnings = _check_gateway_coverage(sources, decisions, design, sensor)
    host_args = plan_session_host_feeds(
        raw,
        decisions,
        str(sensor.private_ip) if sensor is not None else None,
        security_groups=False,
    )
    native = [
        s.tap_args
        for s, d in zip(sources, decisions, strict=True)
        if d.method is MirrorMethod.NATIVE
    ]
    if not native:
        return NetworkMirrorPlan(tuple(decisions), None, None, tuple(warnings), host_args)
    vtap_args: dict[str, Any] = {
        "resource_group_name": group,
        "location": location,
        "destination": destination,
        "sources": native,
    }
    for field in ("destination_port", "attach_sources", "tags"):
        if field in raw:
            vtap_args[field] = raw[field]
    vtap = plan_virtual_network_tap(vtap_args, is_deferred=deferred)
    return NetworkMirrorPlan(tuple(decisions), vtap_args, vtap, tuple(warnings), host_args)


def _check_gateway_coverage(
    sources: Sequence[_Source],
    decisions: Sequence[SourceDecision],
    design: NetworkDesign,
    sensor: Any,
) -> list[str]:
    gateway = [
        (s, d) for s, d in zip(sources, decisions, strict=True) if d.method is MirrorMethod.GATEWAY
    ]
    if not gateway:
        return []
    plan = design.plan
    first, decision = gateway[0]
    mirror = check_gateway_mirror_on(first.field, decision.source.label, plan, NETWORK_KIND)
    for source, _ in gateway:
        check_behind_gateway(f"{source.field}.private_ip", source.address, plan)
    warnings = []
    if sensor is None:
        warnings.append(
            f"the gateway mirror sends its copies to {mirror.sensor_address}: cloudtap cannot "
            "check that the target given by id is that sensor"
        )
    elif str(sensor.private_ip) != str(mirror.sensor_address):
        warnings.append(
            f"the target sensor is at {sensor.private_ip}, but the gateway mirror sends its "
            f"copies to {mirror.sensor_address}"
        )
    unstated = [d.source.name for s, d in gateway if s.address is None]
    if unstated:
        warnings.append(
            f"{', '.join(unstated)}: copied by the gateway only if in the private tier (give "
            "private_ip to have it checked)"
        )
    return warnings
