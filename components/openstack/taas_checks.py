"""Pure checks for OpenStack Tap-as-a-Service (TaaS): tap services, tap flows and tap mirrors.

No cloud SDK is imported here: the dynamic provider (:mod:`.taas_provider`) and the components
that build ``pulumi_openstack.TaasTapMirrorV2`` call these functions, and the tests call them
without mocks. Every failure is a :class:`~components.errors.CloudtapInputError` naming the field,
the value and what is expected.

Sources (checked 2025, quoted by file so they can be re-read):

- neutron-lib ``neutron_lib/api/definitions/taas.py``: ``tap_services.port_id``,
  ``tap_flows.source_port`` and ``tap_flows.tap_service_id`` are ``type:uuid``; ``direction`` is
  one of ``IN``, ``OUT``, ``BOTH``; only ``name`` and ``description`` have ``allow_put``.
- neutron-lib ``neutron_lib/api/definitions/vlan_filter.py`` (extension ``taas-vlan-filter``):
  ``vlan_filter`` must match ``^([0-9]+(-[0-9]+)?)(,([0-9]+(-[0-9]+)?))*$`` and cannot be updated.
- neutron-lib ``neutron_lib/api/definitions/tap_mirror.py`` (extension ``tap-mirror``):
  ``mirror_type`` is ``gre`` or ``erspanv1``; ``remote_ip`` is ``type:ip_address``;
  ``directions`` is a dict with optional integer ``IN`` and ``OUT``. The API checks no range.
- tap-as-a-service ``neutron_taas/services/taas/tap_mirror_plugin.py``
  (``_validate_tap_tunnel_id``): a new mirror's tunnel ids must not equal *any* direction's id
  of *any* existing mirror of the project, whatever its type (``TapMirrorTunnelConflict``, 409).
- tap-as-a-service ``doc/source/tap_mirrors_under_the_hood.rst``: the OVS and OVN drivers put a
  direction's tunnel id into the tunnel port's ``key`` (and, for ERSPAN, ``erspan_idx``); the
  capture shows it as the ERSPAN type II ``SpanID``. Hence the ranges below come from the
  headers, not from the API.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypedDict

from ..errors import CloudtapInputError
from ..fields import parse_enum, reject_unknown_fields
from ..shapes import check_text, check_uuid, has_control_character, is_vlan_list

# neutron-lib's VLAN filter pattern alone lets "0-4095" and "9-3" through. 802.1Q reserves VLAN 0
# (priority tags only) and 4095, so a filter naming them is a mistake: cloudtap asks for 1-4094
# and low <= high.
VLAN_ID_MIN = 1
VLAN_ID_MAX = 4094

# GRE key: 32 bits (RFC 2890, section 2.1).
GRE_KEY_MIN = 0
GRE_KEY_MAX = 2**32 - 1
# ERSPAN type II (what TaaS's ``erspanv1`` produces) has a 10-bit Session ID. Linux refuses a
# larger key on an erspan device (net/ipv4/ip_gre.c, erspan_validate(): "ERSPAN Session ID only
# has 10-bit"), and OVS uses that datapath, so 1024 and above fail on the compute node, after the
# API has accepted them.
ERSPAN_SESSION_ID_MIN = 0
ERSPAN_SESSION_ID_MAX = 1023
# Allocated ids start at 1: some receivers treat key/session 0 as "no key".
DEFAULT_FIRST_TUNNEL_ID = 1


class FlowDirection(StrEnum):
    """Which of a source port's packets a tap flow copies (the port's point of view)."""

    IN = "IN"
    """Packets the port receives (OVN: ``to-lport``)."""
    OUT = "OUT"
    """Packets the port sends (OVN: ``from-lport``)."""
    BOTH = "BOTH"
    """Both: what a sensor normally wants."""


class MirrorType(StrEnum):
    """How a tap mirror carries its copies to ``remote_ip``."""

    GRE = "gre"
    """GRE with the tunnel id as the 32-bit key."""
    ERSPAN_V1 = "erspanv1"
    """ERSPAN type II with the tunnel id as the 10-bit session id."""


class MirrorDirection(StrEnum):
    """A tap mirror direction: each one is its own tunnel with its own id.

    The newest tap-as-a-service also accepts ``BOTH`` (extension ``tap-mirror-both-direction``,
    2025-12), but pulumi-openstack 5.x's ``TaasTapMirrorV2DirectionsArgs`` has only ``in`` and
    ``out``, so cloudtap offers these two.
    """

    IN = "IN"
    OUT = "OUT"


def tunnel_id_range(mirror_type: MirrorType) -> tuple[int, int]:
    """Inclusive bounds of a tunnel id for ``mirror_type``."""
    if mirror_type is MirrorType.ERSPAN_V1:
        return ERSPAN_SESSION_ID_MIN, ERSPAN_SESSION_ID_MAX
    return GRE_KEY_MIN, GRE_KEY_MAX


def _describe_range(mirror_type: MirrorType) -> str:
    low, high = tunnel_id_range(mirror_type)
    what = "ERSPAN session id" if mirror_type is MirrorType.ERSPAN_V1 else "GRE key"
    return f"an integer from {low} to {high} (the {what} of mirror_type {mirror_type.value})"


# --- single fields ------------------------------------------------------------------------------


def parse_uuid(field: str, value: Any, what: str = "a Neutron port id") -> str:
    return check_uuid(field, value, what)


def parse_flow_direction(field: str, value: Any) -> FlowDirection:
    return parse_enum(field, value, FlowDirection, "(upper case)")


def parse_vlan_filter(field: str, value: Any) -> str:
    """A tap flow's VLAN filter such as ``"1-5,9"``, returned unchanged: Neutron keeps the text."""
    expected = (
        f'VLAN ids and ranges separated by commas, such as "1-5,9", each id from '
        f"{VLAN_ID_MIN} to {VLAN_ID_MAX}, no spaces"
    )
    if not is_vlan_list(value):
        raise CloudtapInputError(field, value, expected)
    for part in value.split(","):
        low_text, _, high_text = part.partition("-")
        low = int(low_text)
        high = int(high_text) if high_text else low
        if not VLAN_ID_MIN <= low <= VLAN_ID_MAX or not VLAN_ID_MIN <= high <= VLAN_ID_MAX:
            raise CloudtapInputError(field, value, f"{expected} ({part!r} is outside)")
        if low > high:
            raise CloudtapInputError(field, value, f"{expected} ({part!r} runs backwards)")
    return value


def parse_optional_text(field: str, value: Any, max_length: int) -> str | None:
    """``name`` and ``description``: Neutron's columns are 255 and 1024 characters."""
    if value is None:
        return None
    return check_text(
        field, value, max_length=max_length, expected=f"a string of at most {max_length} characters"
    )


NAME_MAX_LENGTH = 255
DESCRIPTION_MAX_LENGTH = 1024


def parse_mirror_type(field: str, value: Any) -> MirrorType:
    return parse_enum(field, value, MirrorType)


def parse_remote_ip(field: str, value: Any) -> ipaddress.IPv4Address:
    """The tunnel's far end: a unicast IPv4 address (the sensor's own address)."""
    try:
        address = ipaddress.IPv4Address(value)
    except (ValueError, TypeError):
        raise CloudtapInputError(
            field, value, "an IPv4 address such as 10.0.128.10 (the sensor's address)"
        ) from None
    if (
        address.is_unspecified
        or address.is_multicast
        or address.is_loopback
        or address == ipaddress.IPv4Address("255.255.255.255")
    ):
        raise CloudtapInputError(
            field, value, "a unicast IPv4 address of the sensor, not 0.0.0.0, loopback or multicast"
        )
    return address


def parse_tunnel_id(field: str, value: Any, mirror_type: MirrorType) -> int:
    low, high = tunnel_id_range(mirror_type)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CloudtapInputError(field, value, _describe_range(mirror_type))
    return value


# --- tap services and tap flows -------------------------------------------------------------------


def _known(_value: Any) -> bool:
    return True


def _check_fields(
    values: Mapping[str, Any],
    parsers: Mapping[str, Callable[[str, Any], object]],
    required: Iterable[str],
    where: str,
    is_known: Callable[[Any], bool],
) -> list[CloudtapInputError]:
    """Every problem at once (a preview should list them all), skipping values not known yet."""
    problems: list[CloudtapInputError] = []
    prefix = f"{where}." if where else ""
    for field in required:
        if values.get(field) is None:
            problems.append(
                CloudtapInputError(f"{prefix}{field}", None, "a value: the field is required")
            )
    for field, parse in parsers.items():
        value = values.get(field)
        if value is None or not is_known(value):
            continue
        try:
            parse(f"{prefix}{field}", value)
        except CloudtapInputError as problem:
            problems.append(problem)
    return problems


def _name(field: str, value: Any) -> object:
    return parse_optional_text(field, value, NAME_MAX_LENGTH)


def _description(field: str, value: Any) -> object:
    return parse_optional_text(field, value, DESCRIPTION_MAX_LENGTH)


def parse_cloud(field: str, value: Any) -> str:
    """An entry of clouds.yaml: a non-empty name without control characters."""
    if not isinstance(value, str) or not value or has_control_character(value):
        raise CloudtapInputError(field, value, "the name of a cloud in clouds.yaml")
    return value


def _cloud(field: str, value: Any) -> object:
    return parse_cloud(field, value)


def check_tap_service_inputs(
    values: Mapping[str, Any], where: str = "", is_known: Callable[[Any], bool] = _known
) -> list[CloudtapInputError]:
    """Problems with a tap service's inputs; ``is_known`` says which values can be checked yet."""
    parsers: dict[str, Callable[[str, Any], object]] = {
        "port_id": lambda f, v: parse_uuid(f, v, "the sensor port's Neutron id"),
        "name": _name,
        "description": _description,
        "cloud": _cloud,
    }
    return _check_fields(values, parsers, ("port_id",), where, is_known)


def check_tap_flow_inputs(
    values: Mapping[str, Any], where: str = "", is_known: Callable[[Any], bool] = _known
) -> list[CloudtapInputError]:
    """Problems with a tap flow's inputs; ``is_known`` says which values can be checked yet."""
    parsers: dict[str, Callable[[str, Any], object]] = {
        "tap_service_id": lambda f, v: parse_uuid(f, v, "a tap service id"),
        "source_port": lambda f, v: parse_uuid(f, v, "the source port's Neutron id"),
        "direction": parse_flow_direction,
        "vlan_filter": parse_vlan_filter,
        "name": _name,
        "description": _description,
        "cloud": _cloud,
    }
    return _check_fields(
        values, parsers, ("tap_service_id", "source_port", "direction"), where, is_known
    )


# --- tap mirrors ----------------------------------------------------------------------------------


class TapMirrorArgs(TypedDict, total=False):
    """A tap mirror (``pulumi_openstack.TaasTapMirrorV2``): copies of one port's packets sent
    over GRE or ERSPAN to a remote address. Unlike a tap service, no port receives them."""

    port_id: str
    """Required. The Neutron port whose packets are copied (the *source*, not the sensor)."""
    remote_ip: str
    """Required. IPv4 address of the sensor that terminates the tunnels."""
    mirror_type: str
    """``"gre"`` (default) or ``"erspanv1"``."""
    directions: Mapping[str, int]
    """Required. ``{"IN": id, "OUT": id}``, at least one of the two, with distinct tunnel ids:
    GRE keys 0-4294967295, ERSPAN session ids 0-1023. Ids must also differ from every other tap
    mirror's in the project; :func:`allocate_tunnel_ids` hands out such ids."""
    name: str
    """Neutron name, at most 255 characters. Default: Pulumi's resource name."""
    description: str
    """At most 1024 characters. Default: empty."""


@dataclass(frozen=True)
class TapMirrorPlan:
    """A validated tap mirror: what a component passes to ``TaasTapMirrorV2``."""

    port_id: str
    remote_ip: ipaddress.IPv4Address
    mirror_type: MirrorType
    directions: Mapping[MirrorDirection, int]
    name: str | None = None
    description: str | None = None

    def directions_args(self) -> dict[str, int]:
        """``TaasTapMirrorV2DirectionsArgsDict``: the Python keys are ``in_`` and ``out``."""
        keys = {MirrorDirection.IN: "in_", MirrorDirection.OUT: "out"}
        return {keys[direction]: tunnel_id for direction, tunnel_id in self.directions.items()}

    @property
    def tunnel_ids(self) -> tuple[int, ...]:
        return tuple(self.directions.values())


def parse_mirror_directions(
    field: str, value: Any, mirror_type: MirrorType
) -> dict[MirrorDirection, int]:
    if not isinstance(value, Mapping) or not value:
        raise CloudtapInputError(
            field,
            value,
            'a mapping with "IN", "OUT" or both, to tunnel ids, e.g. {"IN": 1, "OUT": 2}',
        )
    directions: dict[MirrorDirection, int] = {}
    for key in sorted(value, key=str):
        try:
            direction = MirrorDirection(key)
        except ValueError:
            raise CloudtapInputError(
                f"{field}.{key}", key, f"a direction, one of {[d.value for d in MirrorDirection]}"
            ) from None
        directions[direction] = parse_tunnel_id(f"{field}.{key}", value[key], mirror_type)
    if len(set(directions.values())) != len(directions):
        raise CloudtapInputError(
            field,
            dict(value),
            "a different tunnel id for each direction: each direction is its own tunnel and "
            "the receiver tells them apart by the id",
        )
    return directions


def plan_tap_mirror(args: Any, field: str = "tap_mirror") -> TapMirrorPlan:
    """Validate :class:`TapMirrorArgs` into a :class:`TapMirrorPlan`."""
    if not isinstance(args, Mapping):
        raise CloudtapInputError(
            field, args, "a mapping with port_id, remote_ip and directions (see TapMirrorArgs)"
        )
    reject_unknown_fields(args, TapMirrorArgs.__annotations__, field)
    for required in ("port_id", "remote_ip", "directions"):
        if required not in args:
            raise CloudtapInputError(f"{field}.{required}", None, "a value: the field is required")
    mirror_type = parse_mirror_type(
        f"{field}.mirror_type", args.get("mirror_type", MirrorType.GRE.value)
    )
    return TapMirrorPlan(
        port_id=parse_uuid(f"{field}.port_id", args["port_id"], "the source port's Neutron id"),
        remote_ip=parse_remote_ip(f"{field}.remote_ip", args["remote_ip"]),
        mirror_type=mirror_type,
        directions=parse_mirror_directions(f"{field}.directions", args["directions"], mirror_type),
        name=parse_optional_text(f"{field}.name", args.get("name"), NAME_MAX_LENGTH),
        description=parse_optional_text(
            f"{field}.description", args.get("description"), DESCRIPTION_MAX_LENGTH
        ),
    )


def check_distinct_tunnel_ids(mirrors: Mapping[str, TapMirrorPlan], field: str) -> None:
    """No tunnel id twice across ``mirrors`` (keyed by their names in the user's arguments).

    Neutron refuses a mirror whose id any existing mirror of the project already uses, in any
    direction and of either type, with a 409 at apply time; this finds it at preview. Mirrors
    made outside this program are invisible here: keep ``first_id`` blocks apart.
    """
    owner: dict[int, str] = {}
    for key, plan in mirrors.items():
        for direction, tunnel_id in plan.directions.items():
            where = f"{key}.directions.{direction.value}"
            if tunnel_id in owner:
                raise CloudtapInputError(
                    f"{field}.{where}",
                    tunnel_id,
                    f"a tunnel id not already used by {owner[tunnel_id]}: Neutron rejects a "
                    "tunnel id that any tap mirror of the project uses",
                )
            owner[tunnel_id] = where


# --- allocation -----------------------------------------------------------------------------------

# Each source gets two slots (IN, then OUT) even when it mirrors one direction, so adding the
# other direction later gives it the reserved id and never renumbers another source.
_SLOTS_PER_SOURCE = len(MirrorDirection)


def allocate_tunnel_ids(
    sources: Sequence[str],
    mirror_type: MirrorType = MirrorType.GRE,
    directions: Iterable[MirrorDirection] = (MirrorDirection.IN, MirrorDirection.OUT),
    first_id: int = DEFAULT_FIRST_TUNNEL_ID,
    field: str = "sources",
    *,
    first_id_field: str | None = None,
) -> dict[str, dict[MirrorDirection, int]]:
    """Distinct tunnel ids per source port and direction, deterministic and append-stable.

    ``sources`` are stable keys of the source ports in the user's order (names from the stack
    file, not port ids, which are unknown at preview). Source ``i`` owns ids ``first_id + 2*i``
    (IN) and ``first_id + 2*i + 1`` (OUT). Appending a source never changes earlier ids; removing
    or reordering renumbers the sources after it, and since a tap mirror's ``directions`` cannot be
    updated, their mirrors are replaced. Two programs (or stacks) in one project must use
    ``first_id`` blocks that do not overlap: Neutron checks uniqueness project-wide.

    ``first_id_field`` names ``first_id`` in errors (default ``{field}.first_id``): a block that
    runs past the mirror type's largest id is the first id's to fix.
    """
    first_field = first_id_field if first_id_field is not None else f"{field}.first_id"
    wanted = tuple(dict.fromkeys(directions))
    if not wanted:
        raise CloudtapInputError(f"{field}.directions", (), "at least one of IN and OUT")
    for direction in wanted:
        if not isinstance(direction, MirrorDirection):
            raise CloudtapInputError(
                f"{field}.directions", direction, f"one of {[d.value for d in MirrorDirection]}"
            )
    low, high = tunnel_id_range(mirror_type)
    parse_tunnel_id(first_field, first_id, mirror_type)
    seen: set[str] = set()
    for index, source in enumerate(sources):
        if not isinstance(source, str) or not source:
            raise CloudtapInputError(f"{field}[{index}]", source, "a non-empty source key")
        if source in seen:
            raise CloudtapInputError(f"{field}[{index}]", source, "a key not already listed")
        seen.add(source)
    needed = _SLOTS_PER_SOURCE * len(sources)
    if first_id + needed - 1 > high:
        highest_first = high - needed + 1
        kind = mirror_type.value
        if highest_first >= low:
            expected = (
                f"at most {highest_first}, so that {len(sources)} sources (two tunnel ids each, "
                f"{needed} in all) end by {high}, the largest {kind} tunnel id; from {first_id}, "
                f"{(high - first_id + 1) // _SLOTS_PER_SOURCE} sources fit"
            )
        else:
            expected = (
                f"a first tunnel id for {len(sources)} sources, but none fits: they need "
                f"{needed} ids (two each) and {kind} has {high - low + 1} ({low}-{high})"
            )
        raise CloudtapInputError(
            first_field, first_id, f"{expected}; use fewer sources, or gre for more"
        )
    order = {MirrorDirection.IN: 0, MirrorDirection.OUT: 1}
    return {
        source: {
            direction: first_id + _SLOTS_PER_SOURCE * index + order[direction]
            for direction in sorted(wanted, key=order.__getitem__)
        }
        for index, source in enumerate(sources)
    }
