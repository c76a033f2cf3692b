"""What cloudtap knows of Azure VM sizes, as data with its source: accelerated networking.

Pure Python. Read 2026-11-21 from "Accelerated Networking overview" (learn.microsoft.com/azure/
virtual-network/accelerated-networking-overview, "Supported VM instances") and the size pages:
most general-purpose and compute-optimized sizes with 2 or more vCPUs support it; the A-series,
the first B-series (``Standard_B2s``...; the v2 B-series supports it) and 1-vCPU sizes do not.
Azure refuses a NIC with accelerated networking on a size without it, at ``up``; checking here
moves that refusal to the preview, and a size this table does not cover defaults to off.
"""

from __future__ import annotations

from typing import Final

from ..shapes import split_azure_vm_size

SOURCE: Final = (
    "https://learn.microsoft.com/azure/virtual-network/accelerated-networking-overview "
    "(read 2026-11-21)"
)
SUPPORTED_FAMILIES: Final = frozenset(
    {"B", "D", "DC", "E", "EC", "F", "FX", "HB", "HC", "L", "M", "NC", "ND", "NV"}
)
"""Families with accelerated networking from 2 vCPUs (the B-series from its v2)."""


def accelerated_networking(vm_size: str) -> tuple[bool, str]:
    """(supported, why) for ``vm_size``, by the table above."""
    size = split_azure_vm_size(vm_size)
    if size is None:
        return False, f"{vm_size} is not a size cloudtap's table describes ({SOURCE})"
    if size.family == "B" and size.version < 2:
        return False, "the first B-series (no _v2) has no accelerated networking"
    if size.vcpus < 2:
        return False, "1-vCPU sizes have no accelerated networking"
    if size.family not in SUPPORTED_FAMILIES:
        return False, f"the {size.family}-series is not one with accelerated networking ({SOURCE})"
    return True, f"the {size.family}-series with {size.vcpus} vCPUs has it"
