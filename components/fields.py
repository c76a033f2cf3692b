"""Small parsers shared by every argument check: each failure names the field and the value."""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any, TypeVar

from .errors import CloudtapInputError


def reject_unknown_fields(args: Mapping[str, Any], known: Iterable[str], where: str) -> None:
    """Typos in stack files fail loudly instead of silently taking a default."""
    allowed = sorted(known)
    for key in args:
        if key not in allowed:
            raise CloudtapInputError(
                f"{where}.{key}" if where else str(key), key, f"one of the fields {allowed}"
            )


E = TypeVar("E", bound=StrEnum)


def parse_enum(field: str, value: Any, enum: type[E], note: str = "") -> E:
    """The member of ``enum`` whose value ``value`` is; else an error listing every value."""
    try:
        return enum(value)
    except ValueError:
        expected = f"one of {[member.value for member in enum]}"
        raise CloudtapInputError(field, value, f"{expected} {note}" if note else expected) from None


def is_deferred(value: Any) -> bool:
    """A value known only once deployed: a ``pulumi.Output`` (or another awaitable) from the same
    program. The cloud checks it then; cloudtap checks every plain value at preview."""
    # Without pulumi loaded no Output can exist, and this module stays free of the SDK.
    pulumi = sys.modules.get("pulumi")
    return (pulumi is not None and isinstance(value, pulumi.Output)) or hasattr(value, "__await__")


def parse_network(field: str, value: Any) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except (ValueError, TypeError):
        raise CloudtapInputError(
            field, value, "an IPv4 network in CIDR notation with no host bits set, e.g. 10.0.0.0/16"
        ) from None


def parse_int(field: str, value: Any, low: int, high: int) -> int:
    # bool is an int in Python; `true` in a stack file is never a port or a count.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CloudtapInputError(field, value, f"an integer from {low} to {high}")
    return value


# Clouds keep addresses of every subnet for themselves (AWS: the first four and the last).
RESERVED_LOW_ADDRESSES = 4


def parse_host_in(
    field: str, value: Any, subnets: Sequence[ipaddress.IPv4Network], tier: str
) -> ipaddress.IPv4Address:
    """A usable host address inside one of ``subnets`` (the subnets of ``tier``)."""
    try:
        host = ipaddress.IPv4Address(value)
    except (ValueError, TypeError):
        raise CloudtapInputError(field, value, "an IPv4 address such as 10.0.64.10") from None
    home = next((cidr for cidr in subnets if host in cidr), None)
    if home is None:
        raise CloudtapInputError(
            field, value, f"an address in a {tier}-tier subnet ({', '.join(map(str, subnets))})"
        )
    if int(host) - int(home.network_address) < RESERVED_LOW_ADDRESSES or (
        host == home.broadcast_address
    ):
        raise CloudtapInputError(
            field,
            value,
            f"a usable host address in {home}: the cloud reserves the first "
            f"{RESERVED_LOW_ADDRESSES} addresses and the last",
        )
    return host


def parse_host_in_zone(
    field: str,
    value: Any,
    zone_subnets: Sequence[ipaddress.IPv4Network],
    *,
    zone: int,
    tier: str,
    zone_field: str,
) -> ipaddress.IPv4Address:
    """A usable host address in ``zone_subnets[zone]`` (``tier``'s subnets in zone order).

    An address in another zone's subnet is the usual slip (the right address, the default zone):
    the message names the zone index that holds it.
    """
    subnet = zone_subnets[zone]
    try:
        host = ipaddress.IPv4Address(value)
    except (ValueError, TypeError):
        raise CloudtapInputError(field, value, "an IPv4 address such as 10.0.64.10") from None
    holder = next((i for i, cidr in enumerate(zone_subnets) if host in cidr), None)
    if holder is not None and holder != zone:
        raise CloudtapInputError(
            field,
            value,
            f"an address in the {tier}-tier subnet ({subnet}) of {zone_field} {zone}: {host} "
            f"is in the {tier} subnet of {zone_field} {holder} ({zone_subnets[holder]}); set "
            f"{zone_field} to {holder} or choose an address in {subnet}",
        )
    return parse_host_in(field, value, [subnet], tier)
