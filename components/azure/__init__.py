"""Azure building blocks of cloudtap: virtual network TAP.

:mod:`.vtap_checks` is pure Python: importing this package loads no cloud SDK and creates
nothing.
"""

from __future__ import annotations

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

__all__ = [
    "AZURE_VTAP_FACTS",
    "DestinationKind",
    "VirtualNetworkTapDestinationArgs",
    "VirtualNetworkTapMirrorArgs",
    "VirtualNetworkTapSourceArgs",
    "VtapPlan",
    "plan_virtual_network_tap",
    "preview_warning",
]
