"""Where Azure virtual network TAP can copy a source, as data with its source and date.

Pure Python. ``auto`` mirroring uses these facts to choose TAP or the gateway per source; a user
whose region Microsoft has added since overrides the list with the session's ``tap_regions``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ..shapes import split_azure_vm_size
from .vtap_checks import OVERVIEW_URL

RETRIEVED: Final = "2026-11-21"
TAP_REGIONS: Final = (
    "eastasia",
    "westcentralus",
    "uksouth",
    "eastus",
    "centralindia",
    "germanywestcentral",
    "centralus",
)
"""The public preview's regions ("Supported Regions" of the overview, ms.date 2025-04-21, read
2026-11-21). It changes during the preview: ``tap_regions`` replaces it."""
UNSUPPORTED_SIZE_VERSIONS: Final = frozenset({6})
"""v6 sizes cannot be TAP sources ("Limitations" of the overview)."""


@dataclass(frozen=True)
class TapSupport:
    supported: bool
    reason: str


def tap_support(location: str, vm_size: str | None, regions: Sequence[str]) -> TapSupport:
    """Whether a source VM of ``vm_size`` (``None``: not stated) in ``location`` can be a TAP
    source, by ``regions`` and the size rule; the reason names the source of the facts."""
    if location not in regions:
        return TapSupport(
            False,
            f"virtual network TAP is not offered in {location} (preview regions as of "
            f"{RETRIEVED}: {', '.join(regions)}; set tap_regions when Microsoft adds one)",
        )
    size = split_azure_vm_size(vm_size)
    if size is not None and size.version in UNSUPPORTED_SIZE_VERSIONS:
        return TapSupport(False, f"{vm_size} is a v6 size, which TAP cannot copy ({OVERVIEW_URL})")
    stated = vm_size if vm_size is not None else "a size not stated (give vm_size to check it)"
    return TapSupport(True, f"virtual network TAP is offered in {location} for {stated}")
