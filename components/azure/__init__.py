"""Azure building blocks of cloudtap: virtual network TAP, and the ``MirrorSession`` facade on it.

:mod:`.vtap_checks` is pure Python. :mod:`.vtap` and :mod:`.mirror_session` load
pulumi-azure-native's ``network`` module; they are imported on first use of one of their names,
so importing this package (or the checks) loads no cloud SDK and creates nothing.
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
    from .mirror_args import MirrorSessionArgs
    from .mirror_session import MirrorSession
    from .vtap import VirtualNetworkTapMirror

# name -> module that defines it, imported on first use.
_LAZY = {
    "VirtualNetworkTapMirror": ".vtap",
    "MirrorSession": ".mirror_session",
    "MirrorSessionArgs": ".mirror_args",
}

__all__ = [
    "AZURE_VTAP_FACTS",
    "DestinationKind",
    "MirrorSession",
    "MirrorSessionArgs",
    "VirtualNetworkTapDestinationArgs",
    "VirtualNetworkTapMirror",
    "VirtualNetworkTapMirrorArgs",
    "VirtualNetworkTapSourceArgs",
    "VtapPlan",
    "plan_virtual_network_tap",
    "preview_warning",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
