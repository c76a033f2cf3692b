"""Azure virtual network TAP checks, run at preview before anything is registered.

Pure Python: no Pulumi, no Azure SDK. :class:`~components.azure.vtap.VirtualNetworkTapMirror`
(and later the cloud-neutral MirrorSession facade) calls :func:`plan_virtual_network_tap` with
plain arguments; every failure is a :class:`~components.errors.CloudtapInputError` naming the
field, the bad value and what is expected.

What is checked here is what an argument can prove: the shape of Azure Resource Manager (ARM)
ids, exactly one destination, no duplicate and no looping source, one region for everything
(when the user states the regions), the VXLAN port. What Azure requires beyond that — the
preview enrolment, restarting every source VM once, unsupported VM sizes and load balancers —
no argument can show and no API call made at preview can check: :func:`preview_warning` renders
it from :data:`AZURE_VTAP_FACTS`, the one place those facts are kept, with their sources.

Values that are only known after deployment (a ``pulumi.Output``: the sensor's NIC created in the
same program) are accepted where noted; the caller tells this module which values are deferred
(``is_deferred``); the component checks a deferred destination id with
:func:`check_deferred_destination` once it is known, before the TAP is created.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, TypedDict

from ..errors import CloudtapInputError
from ..fields import parse_int, reject_unknown_fields
from ..mirror_plan import parse_source_name
from ..mirroring import VXLAN_PORT, Encapsulation
from ..shapes import (
    check_azure_tags,
    is_arm_name,
    is_azure_region,
    match_lb_frontend_id,
    match_nic_id,
    match_nic_ip_configuration_id,
)

if TYPE_CHECKING:
    # For the argument types only: nothing of Pulumi is loaded at run time.
    import re

    import pulumi

# -- What Azure requires, with sources -----------------------------------------------------------

OVERVIEW_URL: Final = (
    "https://learn.microsoft.com/azure/virtual-network/virtual-network-tap-overview"
)
PORTAL_HOWTO_URL: Final = (
    "https://learn.microsoft.com/azure/virtual-network/tutorial-virtual-network-tap-portal"
)
# ARM's refusal, quoted by users in the docs repository (2020 and 2021).
FEATURE_ERROR_URLS: Final = (
    "https://github.com/MicrosoftDocs/azure-docs/issues/49196",
    "https://github.com/MicrosoftDocs/azure-docs/issues/85617",
)
PREVIEW_FEATURE: Final = "Microsoft.Network/AllowVirtualNetworkTap"


@dataclass(frozen=True)
class VtapFact:
    key: str
    text: str
    """One sentence for the preview warning."""
    source: str
    """Where it is written (URL)."""


@dataclass(frozen=True)
class VtapFacts:
    retrieved: str
    """When cloudtap last read the sources (ISO date)."""
    documents: Mapping[str, str]
    """The documents read, URL -> the version read (source file, its ``ms.date`` and commit)."""
    facts: tuple[VtapFact, ...]


# Read 2026-11-21 from the docs' source (MicrosoftDocs/azure-docs). Microsoft marks several of
# the preview limits "[Temporary] ... will be resolved at GA": re-read the overview before
# relying on any of them, and do not turn its "Supported Regions" list into a check: it has
# changed several times during the preview.
AZURE_VTAP_FACTS: Final = VtapFacts(
    retrieved="2026-11-21",
    documents={
        OVERVIEW_URL: "articles/virtual-network/virtual-network-tap-overview.md, ms.date "
        "2025-04-21, commit 03e5750af10b23b5ba437d5b333ec5e9437844f9",
        PORTAL_HOWTO_URL: "articles/virtual-network/tutorial-virtual-network-tap-portal.md, "
        "ms.date 2025-04-21, commit 7c4b5fd47769d4e41e45b2dbf7c31eef89b91c3e",
        FEATURE_ERROR_URLS[0]: "issue text: ARM's error message, 2020-02-28",
        FEATURE_ERROR_URLS[1]: "issue text: ARM's error message, 2021-12-22",
    },
    facts=(
        VtapFact(
            "preview-regions",
            "Virtual network TAP is a public preview in selected Azure regions only; the list "
            "changes, so cloudtap does not check the region: see 'Supported Regions' in the "
            "overview.",
            OVERVIEW_URL,
        ),
        VtapFact(
            "preview-enrolment",
            "The subscription must be enabled for the preview: otherwise Azure Resource Manager "
            f"refuses the TAP with 'Subscription ... is not registered for feature "
            f"{PREVIEW_FEATURE}'. See the state with `az feature show --namespace "
            "Microsoft.Network --name AllowVirtualNetworkTap`.",
            FEATURE_ERROR_URLS[1],
        ),
        VtapFact(
            "restart-sources",
            "Deploy the TAP first, then deallocate (stop) and start every source VM once, before "
            "its TAP configuration is created; otherwise Azure refuses the configuration with an "
            "error that the NIC is not on fastpath.",
            OVERVIEW_URL,
        ),
        VtapFact(
            "source-downtime",
            "Adding or removing a source can interrupt that VM's network for up to 60 seconds; "
            "live migration is disabled for source VMs.",
            OVERVIEW_URL,
        ),
        VtapFact(
            "unsupported-sources",
            "Sources are VM network interfaces only, and not: v6 VM sizes; VMs behind a Basic "
            "load balancer or a Standard load balancer with floating IP; VMs in a virtual network "
            "with encryption enabled. IPv6 is not supported, and inbound Private Link Service "
            "traffic is not mirrored.",
            OVERVIEW_URL,
        ),
        VtapFact(
            "destination",
            "The destination is one VM network interface IP configuration or an internal load "
            "balancer frontend, in the sources' virtual network or a peered one (peering enabled "
            "before the TAP is configured); the TAP, its destination and its sources are in one "
            "region.",
            PORTAL_HOWTO_URL,
        ),
        VtapFact(
            "permissions",
            "The deploying identity needs Network Contributor, or "
            "Microsoft.Network/virtualNetworkTaps/*, Microsoft.Network/networkInterfaces/read and "
            "Microsoft.Network/tapConfigurations/*.",
            OVERVIEW_URL,
        ),
    ),
)


def preview_warning(*, attach_sources: bool = True) -> str:
    """What Azure requires that no API call at preview can check: logged once per component."""
    lines = [
        "Azure virtual network TAP is a preview feature; Azure requires what cloudtap cannot "
        "check at preview:"
    ]
    lines += [f"- {fact.text}" for fact in AZURE_VTAP_FACTS.facts]
    if not attach_sources:
        lines.append(
            "- attach_sources is false: only the TAP is created. Deallocate and start each source "
            "VM once now, then set attach_sources to true and run `pulumi up` again."
        )
    sources = dict.fromkeys(fact.source for fact in AZURE_VTAP_FACTS.facts)
    lines.append(f"Sources (read {AZURE_VTAP_FACTS.retrieved}): {', '.join(sources)}")
    return "\n".join(lines)


# -- Resource ids ---------------------------------------------------------------------------------

# The ARM id patterns are in components.shapes, with every other shape rule.

EXAMPLE_SUBSCRIPTION: Final = "00000000-0000-0000-0000-000000000000"
_EXAMPLE_PREFIX = (
    f"/subscriptions/{EXAMPLE_SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.Network"
)
NIC_ID_EXAMPLE: Final = f"{_EXAMPLE_PREFIX}/networkInterfaces/app-nic"
NIC_IP_CONFIGURATION_ID_EXAMPLE: Final = (
    f"{_EXAMPLE_PREFIX}/networkInterfaces/sensor-nic/ipConfigurations/ipconfig1"
)
LB_FRONTEND_ID_EXAMPLE: Final = (
    f"{_EXAMPLE_PREFIX}/loadBalancers/sensor-ilb/frontendIPConfigurations/frontend"
)


@dataclass(frozen=True)
class NicRef:
    """A network interface as ARM names it. Names compare case-insensitively, as in ARM."""

    resource_group: Any
    """Plain text, or a deferred value."""
    name: Any
    """Plain text, or a deferred value."""
    subscription: str | None = None
    """Lower-case GUID; ``None`` when the NIC is given by name (the provider's subscription)."""

    def same_as(self, other: NicRef) -> bool:
        """True when both are known and name the same NIC (subscriptions compared if both known)."""
        names = (self.resource_group, self.name, other.resource_group, other.name)
        if not all(isinstance(part, str) for part in names):
            return False
        if self.subscription and other.subscription and self.subscription != other.subscription:
            return False
        return bool(
            self.resource_group.casefold() == other.resource_group.casefold()
            and self.name.casefold() == other.name.casefold()
        )

    def describe(self) -> str:
        return f"{self.resource_group}/{self.name}"


class DestinationKind(StrEnum):
    """Where the TAP sends its copies: exactly one per TAP."""

    NETWORK_INTERFACE_IP_CONFIGURATION = "network_interface_ip_configuration_id"
    """An IP configuration of the sensor VM's network interface
    (``.../networkInterfaces/<nic>/ipConfigurations/<name>``)."""
    LOAD_BALANCER_FRONTEND_IP_CONFIGURATION = "load_balancer_frontend_ip_configuration_id"
    """A frontend IP configuration of an *internal* load balancer in front of several sensors
    (``.../loadBalancers/<lb>/frontendIPConfigurations/<name>``). Whether the load balancer is
    internal is not visible in the id: Azure checks it."""


_DESTINATION_PATTERNS: Final = {
    DestinationKind.NETWORK_INTERFACE_IP_CONFIGURATION: (
        match_nic_ip_configuration_id,
        NIC_IP_CONFIGURATION_ID_EXAMPLE,
    ),
    DestinationKind.LOAD_BALANCER_FRONTEND_IP_CONFIGURATION: (
        match_lb_frontend_id,
        LB_FRONTEND_ID_EXAMPLE,
    ),
}


def match_destination_id(kind: DestinationKind, value: Any) -> re.Match[str] | None:
    """The destination id's parts (``resource_group``, ``child``, ``nic`` or ``lb``), or
    ``None`` when ``value`` is not an id of that kind."""
    return _DESTINATION_PATTERNS[kind][0](value)


def check_destination_id(kind: DestinationKind, value: Any, field: str) -> NicRef | None:
    """The destination id's shape; the sensor NIC it names (``None`` for a load balancer).

    Called at preview for plain values and, for a deferred id, once its value is known.
    """
    match = match_destination_id(kind, value)
    if match is None:
        example = _DESTINATION_PATTERNS[kind][1]
        raise CloudtapInputError(
            field, value, f"an ARM resource id such as {example}{_destination_hint(kind, value)}"
        )
    if kind is DestinationKind.NETWORK_INTERFACE_IP_CONFIGURATION:
        return NicRef(match["resource_group"], match["nic"], match["subscription"].lower())
    return None


def _destination_hint(kind: DestinationKind, value: Any) -> str:
    """The usual mix-ups, named: the NIC instead of its IP configuration, the wrong field."""
    if not isinstance(value, str):
        return ""
    if match_nic_id(value):
        return (
            " — this is the network interface itself; the TAP needs one of its IP configurations "
            "(append /ipConfigurations/<name>, e.g. ipconfig1)"
        )
    other = next(k for k in DestinationKind if k is not kind)
    if match_destination_id(other, value):
        return f" — this id belongs in destination.{other.value}"
    return ""


def check_source_nic_id(value: Any, field: str) -> NicRef:
    match = match_nic_id(value)
    if match is None:
        expected = f"the ARM id of a network interface, such as {NIC_ID_EXAMPLE}"
        if match_nic_ip_configuration_id(value):
            expected += " — this is one of its IP configurations: drop /ipConfigurations/<name>"
        elif isinstance(value, str) and "/virtualMachineScaleSets/" in value:
            expected += (
                " — a uniform scale set instance's NIC lives under Microsoft.Compute, and "
                "NetworkInterfaceTapConfiguration addresses a NIC only by resource group and "
                "name under Microsoft.Network"
            )
        raise CloudtapInputError(field, value, expected)
    return NicRef(match["resource_group"], match["nic"], match["subscription"].lower())


# -- Arguments ------------------------------------------------------------------------------------


class VirtualNetworkTapDestinationArgs(TypedDict, total=False):
    """Where the copies go: exactly one of the two ids."""

    network_interface_ip_configuration_id: pulumi.Input[str]
    """ARM id of the sensor NIC's IP configuration that receives the copies
    (``.../networkInterfaces/<nic>/ipConfigurations/<name>``). May be a ``pulumi.Output`` (a NIC
    created by the same program); its shape is then checked when it is known. No default."""
    load_balancer_frontend_ip_configuration_id: pulumi.Input[str]
    """ARM id of an *internal* load balancer's frontend IP configuration, in front of several
    sensors (``.../loadBalancers/<lb>/frontendIPConfigurations/<name>``). May be a
    ``pulumi.Output``. No default."""
    location: str
    """Region of the destination, when you want cloudtap to check it against the TAP's
    ``location`` (Azure requires one region). Default: not checked."""


class VirtualNetworkTapSourceArgs(TypedDict, total=False):
    """One monitored VM network interface: ``network_interface_id``, or
    ``network_interface_name`` (and ``resource_group_name``)."""

    name: str
    """Required. Stable key of this source, part of its child's name (``<component>-<name>``):
    renaming it replaces the TAP configuration. 1-63 letters, digits, '.', '_' or '-'."""
    network_interface_id: str
    """ARM id of the source NIC (``/subscriptions/<id>/resourceGroups/<rg>/providers/
    Microsoft.Network/networkInterfaces/<nic>``): plain text. Exclusive with
    ``network_interface_name``."""
    network_interface_name: pulumi.Input[str]
    """Name of the source NIC in ``resource_group_name``, in the provider's subscription. May be a
    ``pulumi.Output``. Exclusive with ``network_interface_id``."""
    resource_group_name: pulumi.Input[str]
    """Resource group of ``network_interface_name``. Default: the TAP's ``resource_group_name``.
    Not allowed with ``network_interface_id`` (the id names it)."""
    location: str
    """Region of the source VM, when you want cloudtap to check it against the TAP's
    ``location``. Default: not checked."""


class VirtualNetworkTapMirrorArgs(TypedDict, total=False):
    """Arguments of ``VirtualNetworkTapMirror``: one virtual network TAP, one TAP configuration
    per source network interface."""

    resource_group_name: pulumi.Input[str]
    """Required. Resource group of the TAP. May be a ``pulumi.Output``."""
    location: str
    """Required. Azure region of the TAP ("westeurope" or "West Europe"). Required because the
    TAP, its destination and its sources must share a region and no default can be checked."""
    destination: VirtualNetworkTapDestinationArgs
    """Required. Where the copies go; see :class:`VirtualNetworkTapDestinationArgs`."""
    destination_port: int
    """UDP port the copies are sent to, VXLAN-encapsulated. Default 4789, where cloudtap sensors
    listen; another port (1-65535) is allowed with a warning."""
    sources: Sequence[VirtualNetworkTapSourceArgs]
    """Required. At least one source NIC; no NIC twice, never the destination's own NIC."""
    attach_sources: bool
    """Create the sources' TAP configurations. Default ``True``. Set ``False`` for the first
    deployment: Azure refuses a TAP configuration on a VM that was not deallocated and started
    once after the TAP existed (see :func:`preview_warning`)."""
    tags: Mapping[str, str]
    """Tags of the TAP (TAP configurations take none). Default: none. Azure's rule: names of
    1-512 characters without ``< > % & \\ ? /``, values of at most 256, at most 50 tags."""


MIRROR_FIELDS: Final = frozenset(VirtualNetworkTapMirrorArgs.__annotations__)
DESTINATION_FIELDS: Final = frozenset(VirtualNetworkTapDestinationArgs.__annotations__)
SOURCE_FIELDS: Final = frozenset(VirtualNetworkTapSourceArgs.__annotations__)


# -- The plan -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VtapDestination:
    kind: DestinationKind
    id: Any
    """The ARM id: plain text (checked) or a deferred value (checked when known)."""
    nic: NicRef | None
    """The sensor NIC named by a plain NIC IP configuration id; else ``None``."""
    location: str | None


@dataclass(frozen=True)
class VtapSource:
    name: str
    nic: NicRef
    network_interface_id: str | None
    location: str | None

    @property
    def network_interface_name(self) -> Any:
        return self.nic.name

    @property
    def resource_group_name(self) -> Any:
        return self.nic.resource_group


@dataclass(frozen=True)
class VtapPlan:
    resource_group_name: Any
    location: str
    """Normalised region name."""
    destination: VtapDestination
    destination_port: int
    sources: tuple[VtapSource, ...]
    attach_sources: bool
    tags: dict[str, str]
    warnings: tuple[str, ...] = ()
    """Preview warnings about the arguments (the Azure facts are in :func:`preview_warning`)."""
    encapsulation: Encapsulation = Encapsulation.VXLAN
    """How the copies reach the destination: always VXLAN for a virtual network TAP."""


def _never_deferred(_value: Any) -> bool:
    return False


def normalize_location(field: str, value: Any) -> str:
    """ "West Europe", "westeurope" and "WestEurope" are one region to ARM: "westeurope"."""
    text = "".join(value.split()).lower() if isinstance(value, str) else None
    if not is_azure_region(text):
        raise CloudtapInputError(
            field, value, "an Azure region name such as 'westeurope' (or 'West Europe')"
        )
    return text


def _arm_name(field: str, value: Any, what: str, is_deferred: Callable[[Any], bool]) -> Any:
    if is_deferred(value):
        return value
    if not is_arm_name(value):
        raise CloudtapInputError(field, value, f"the name of {what} (no '/' or spaces)")
    return value


def _mapping(field: str, value: Any, example: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CloudtapInputError(field, value, f"a mapping such as {example}")
    return value


def _same_region(field: str, value: Any, tap_location: str) -> str | None:
    if value is None:
        return None
    location = normalize_location(field, value)
    if location != tap_location:
        raise CloudtapInputError(
            field,
            value,
            f"the TAP's region {tap_location!r} (location): Azure needs the TAP, its destination "
            "and every source in one region",
        )
    return location


def plan_destination(
    value: Any, tap_location: str, is_deferred: Callable[[Any], bool] = _never_deferred
) -> VtapDestination:
    raw = _mapping(
        "destination",
        value,
        f"{{network_interface_ip_configuration_id: {NIC_IP_CONFIGURATION_ID_EXAMPLE}}}",
    )
    reject_unknown_fields(raw, DESTINATION_FIELDS, "destination")
    given = [kind for kind in DestinationKind if raw.get(kind.value) is not None]
    if len(given) != 1:
        raise CloudtapInputError(
            "destination",
            dict(raw),
            "exactly one of network_interface_ip_configuration_id (a sensor NIC's IP "
            "configuration) or load_balancer_frontend_ip_configuration_id (an internal load "
            "balancer's frontend)",
        )
    kind = given[0]
    resource_id = raw[kind.value]
    nic = (
        None
        if is_deferred(resource_id)
        else check_destination_id(kind, resource_id, f"destination.{kind.value}")
    )
    location = _same_region("destination.location", raw.get("location"), tap_location)
    return VtapDestination(kind, resource_id, nic, location)


def plan_source(
    index: int,
    value: Any,
    tap_resource_group: Any,
    tap_location: str,
    is_deferred: Callable[[Any], bool] = _never_deferred,
) -> VtapSource:
    where = f"sources[{index}]"
    raw = _mapping(where, value, f"{{name: app-1, network_interface_id: {NIC_ID_EXAMPLE}}}")
    reject_unknown_fields(raw, SOURCE_FIELDS, where)
    by_id = raw.get("network_interface_id")
    by_name = raw.get("network_interface_name")
    if (by_id is None) == (by_name is None):
        raise CloudtapInputError(
            where,
            dict(raw),
            "exactly one of network_interface_id (the NIC's ARM id) or network_interface_name "
            "(with resource_group_name)",
        )
    if by_id is not None:
        if raw.get("resource_group_name") is not None:
            raise CloudtapInputError(
                f"{where}.resource_group_name",
                raw["resource_group_name"],
                "nothing: network_interface_id already names the resource group",
            )
        nic = check_source_nic_id(by_id, f"{where}.network_interface_id")
    else:
        group = raw.get("resource_group_name", tap_resource_group)
        nic = NicRef(
            _arm_name(f"{where}.resource_group_name", group, "a resource group", is_deferred),
            _arm_name(
                f"{where}.network_interface_name", by_name, "a network interface", is_deferred
            ),
        )
    # After the NIC: a facade defaults the name from the NIC, so an unnamed source with a bad
    # id is told about the id, not about the name it could not default.
    # The naming rule of every cloud's mirror sources, so a facade can pass names through.
    name = parse_source_name(f"{where}.name", raw.get("name"))
    location = _same_region(f"{where}.location", raw.get("location"), tap_location)
    return VtapSource(name, nic, by_id, location)


def check_sources(sources: Sequence[VtapSource], destination: VtapDestination) -> None:
    """Distinct names and NICs, one subscription, and no copy of the sensor's own NIC."""
    seen_names: dict[str, int] = {}
    for index, source in enumerate(sources):
        key = source.name.casefold()
        if key in seen_names:
            raise CloudtapInputError(
                f"sources[{index}].name",
                source.name,
                f"a name not used by sources[{seen_names[key]}] (names key the child resources)",
            )
        seen_names[key] = index
        for earlier_index, earlier in enumerate(sources[:index]):
            if source.nic.same_as(earlier.nic):
                raise CloudtapInputError(
                    f"sources[{index}]",
                    source.network_interface_id or source.nic.describe(),
                    f"a network interface not already listed (sources[{earlier_index}] names it): "
                    "a NIC takes one TAP configuration per TAP",
                )
        if destination.nic is not None and source.nic.same_as(destination.nic):
            raise CloudtapInputError(
                f"sources[{index}]",
                source.network_interface_id or source.nic.describe(),
                "a network interface other than the destination's own: the sensor would copy its "
                "own copies (a loop)",
            )
    subscriptions = {s.nic.subscription for s in sources if s.nic.subscription}
    if len(subscriptions) > 1:
        raise CloudtapInputError(
            "sources",
            sorted(subscriptions),
            "network interfaces of one subscription: a VirtualNetworkTapMirror creates its TAP "
            "configurations with one provider; use one component (and provider) per subscription",
        )


def check_deferred_destination(plan: VtapPlan, value: Any) -> str:
    """The checks of a destination id known only after deployment; returns the id."""
    field_name = f"destination.{plan.destination.kind.value}"
    nic = check_destination_id(plan.destination.kind, value, field_name)
    check_sources(plan.sources, VtapDestination(plan.destination.kind, value, nic, None))
    return str(value)


def plan_virtual_network_tap(
    args: Any, *, is_deferred: Callable[[Any], bool] = _never_deferred
) -> VtapPlan:
    """Validate ``VirtualNetworkTapMirrorArgs`` and resolve the defaults.

    ``is_deferred`` tells which values are only known after deployment (``pulumi.Output``); they
    are accepted where the argument's documentation says so, and skipped by the checks here.
    """
    raw = _mapping("args", args, "a mapping of VirtualNetworkTapMirrorArgs fields")
    reject_unknown_fields(raw, MIRROR_FIELDS, "")
    for required in ("resource_group_name", "location", "destination", "sources"):
        if raw.get(required) is None:
            raise CloudtapInputError(required, None, "a value: this argument has no default")
    resource_group = _arm_name(
        "resource_group_name", raw["resource_group_name"], "a resource group", is_deferred
    )
    location = normalize_location("location", raw["location"])
    destination = plan_destination(raw["destination"], location, is_deferred)

    listed = raw["sources"]
    if isinstance(listed, (str, bytes, Mapping)) or not isinstance(listed, Sequence) or not listed:
        raise CloudtapInputError(
            "sources",
            listed,
            f"a non-empty list of sources such as [{{name: app-1, network_interface_id: "
            f"{NIC_ID_EXAMPLE}}}]",
        )
    sources = tuple(
        plan_source(index, value, resource_group, location, is_deferred)
        for index, value in enumerate(listed)
    )
    check_sources(sources, destination)

    warnings: list[str] = []
    port = parse_int("destination_port", raw.get("destination_port", VXLAN_PORT), 1, 65535)
    if port != VXLAN_PORT:
        warnings.append(
            f"destination_port is {port}, not {VXLAN_PORT}: cloudtap sensors decapsulate VXLAN "
            f"on UDP {VXLAN_PORT} only; the destination must listen on UDP {port}"
        )
    attach = raw.get("attach_sources", True)
    if not isinstance(attach, bool):
        raise CloudtapInputError("attach_sources", attach, "true or false")
    return VtapPlan(
        resource_group_name=resource_group,
        location=location,
        destination=destination,
        destination_port=port,
        sources=sources,
        attach_sources=attach,
        tags=check_azure_tags("tags", raw.get("tags")),
        warnings=tuple(warnings),
    )
