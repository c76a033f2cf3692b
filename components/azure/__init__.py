"""Azure building blocks of cloudtap: virtual network TAP.

:mod:`.vtap_checks` is pure Python. :mod:`.vtap` loads pulumi-azure-native's ``network`` module;
it is imported on first use of one of its names, so importing this package (or the checks)
loads no cloud SDK and creates nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .vtap_checks import (
    AZURE_VTAP_FACTS,
    DestinationKind,
    VirtualNetworkTapDestinationArgs,
    VirtualNetworkTapMirrorArgs,
    VirtualNetworkTapSourceArgs,
    VtapPlan,
    plan_virtual_network_tap,
    preview_warning,
)

if TYPE_CHECKING:
    from .vtap import VirtualNetworkTapMirror

_COMPONENT_NAMES = frozenset({"VirtualNetworkTapMirror"})

__all__ = [
    "AZURE_VTAP_FACTS",
    "DestinationKind",
    "VirtualNetworkTapDestinationArgs",
    "VirtualNetworkTapMirror",
    "VirtualNetworkTapMirrorArgs",
    "VirtualNetworkTapSourceArgs",
    "VtapPlan",
    "plan_virtual_network_tap",
    "preview_warning",
]


def __getattr__(name: str) -> Any:
    if name in _COMPONENT_NAMES:
        return getattr(importlib.import_module(".vtap", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
