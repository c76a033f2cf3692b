"""Azure building blocks of cloudtap: the monitored virtual network (``MonitoredVNet``), its
sensor (``AzureSensor``), virtual network TAP, and the ``MirrorSession`` facade on them.

:mod:`.vtap_checks`, :mod:`.vnet_plan`, :mod:`.mirror_planning`, :mod:`.tap_support` and
:mod:`.vm_sizes` are pure Python. :mod:`.vtap`, :mod:`.monitored_vnet`, :mod:`.sensor` and
:mod:`.mirror_session` load pulumi-azure-native; they are imported on first use of one of their
names, so importing this package (or the checks) loads no cloud SDK and creates nothing.
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
    from .monitored_vnet import MonitoredVNet, MonitoredVNetArgs
    from .sensor import AzureSensor, AzureSensorArgs
    from .vtap import VirtualNetworkTapMirror

# name -> module that defines it, imported on first use.
_LAZY = {
    "VirtualNetworkTapMirror": ".vtap",
    "MirrorSession": ".mirror_session",
    "MirrorSessionArgs": ".mirror_args",
    "MonitoredVNet": ".monitored_vnet",
    "MonitoredVNetArgs": ".vnet_plan",
    "AzureSensor": ".sensor",
    "AzureSensorArgs": ".sensor",
}

__all__ = [
    "AZURE_VTAP_FACTS",
    "AzureSensor",
    "AzureSensorArgs",
    "DestinationKind",
    "MirrorSession",
    "MirrorSessionArgs",
    "MonitoredVNet",
    "MonitoredVNetArgs",
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
