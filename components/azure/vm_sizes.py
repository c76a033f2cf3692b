"""What cloudtap knows of Azure VM sizes, as data with its source: accelerated networking.

Pure Python. Read 2026-11-21 from "Accelerated Networking overview" (learn.microsoft.com/azure/
virtual-network/accelerated-networking-overview, "Supported VM instances") and the size pages:
most general-purpose and compute-optimized sizes with 2 or more vCPUs support it; the A-series,
the first B-series (``Standard_B2s``...; the v2 B-series supports it) and 1-vCPU sizes do not.
Azure refuses a NIC with accelerated networking on a size without it, at ``up``; checking here
moves that refusal to the preview, and a size this table does not cover defaults to off.
"""

from __future__ import annotations

import re
from typing import Final

SOURCE: Final = (
    "https://learn.microsoft.com/azure/virtual-network/accelerated-networking-overview "
    "(read 2026-11-21)"
)
# Standard_<family letters><vCPUs><features>[_v<version>]
_SIZE: Final = re.compile(
    r"Standard_(?P<family>[A-Z]+)(?P<vcpus>[0-9]+)(?P<features>[a-z-0-9]*)(_v(?P<version>[0-9]+))?"
)
SUPPORTED_FAMILIES: Final = frozenset(
    {"B", "D", "DC", "E", "EC", "F", "FX", "HB", "HC", "L", "M", "NC", "ND", "NV"}
)
"""Families with accelerated networking from 2 vCPUs (the B-series from its v2)."""


def accelerated_networking(vm_size: str) -> tuple[bool, str]:
    """(supported, why) for ``vm_size``, by the table above."""
    match = _SIZE.fullmatch(vm_size)
    if match is None:
        return False, f"{vm_size} is not a size cloudtap's table describes ({SOURCE})"
    family, version = match["family"], int(match["version"] or 1)
    if family == "B" and version < 2:
        return False, "the first B-series (no _v2) has no accelerated networking"
    if int(match["vcpus"]) < 2:
        return False, "1-vCPU sizes have no accelerated networking"
    if family not in SUPPORTED_FAMILIES:
        return False, f"the {family}-series is not one with accelerated networking ({SOURCE})"
    return True, f"the {family}-series with {match['vcpus']} vCPUs has it"
