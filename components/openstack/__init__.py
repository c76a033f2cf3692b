"""OpenStack building blocks of cloudtap: Tap-as-a-Service, and the ``MirrorSession`` facade on it.

:mod:`.taas_checks` and :mod:`.mirror_planning` are pure Python. :mod:`.taas_provider` and
:mod:`.discovery` load openstacksdk (the provider also Pulumi's dynamic-provider support),
:mod:`.mirror_session` also pulumi-openstack; they are imported on first use of one of their
names, so importing this package (or the pure modules) loads no cloud SDK and creates nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .taas_checks import (
    FlowDirection,
    MirrorDirection,
    MirrorType,
    TapMirrorArgs,
    TapMirrorPlan,
    allocate_tunnel_ids,
    check_distinct_tunnel_ids,
    plan_tap_mirror,
)

if TYPE_CHECKING:
    from .mirror_args import MirrorBackend, MirrorSessionArgs
    from .mirror_session import MirrorSession
    from .taas_provider import (
        TaasConflictError,
        TaasError,
        TaasExtensionMissingError,
        TaasNotFoundError,
        TaasRequestError,
        TapFlow,
        TapFlowArgs,
        TapFlowProvider,
        TapService,
        TapServiceArgs,
        TapServiceProvider,
        connect_from_config,
    )

_PROVIDER_NAMES = frozenset(
    {
        "TaasConflictError",
        "TaasError",
        "TaasExtensionMissingError",
        "TaasNotFoundError",
        "TaasRequestError",
        "TapFlow",
        "TapFlowArgs",
        "TapFlowProvider",
        "TapService",
        "TapServiceArgs",
        "TapServiceProvider",
        "connect_from_config",
    }
)
_ARGS_NAMES = frozenset({"MirrorBackend", "MirrorSessionArgs"})

__all__ = [
    "FlowDirection",
    "MirrorBackend",
    "MirrorDirection",
    "MirrorSession",
    "MirrorSessionArgs",
    "MirrorType",
    "TaasConflictError",
    "TaasError",
    "TaasExtensionMissingError",
    "TaasNotFoundError",
    "TaasRequestError",
    "TapFlow",
    "TapFlowArgs",
    "TapFlowProvider",
    "TapMirrorArgs",
    "TapMirrorPlan",
    "TapService",
    "TapServiceArgs",
    "TapServiceProvider",
    "allocate_tunnel_ids",
    "check_distinct_tunnel_ids",
    "connect_from_config",
    "plan_tap_mirror",
]


def __getattr__(name: str) -> Any:
    if name == "MirrorSession":
        return getattr(importlib.import_module(".mirror_session", __name__), name)
    if name in _ARGS_NAMES:
        return getattr(importlib.import_module(".mirror_args", __name__), name)
    if name in _PROVIDER_NAMES:
        return getattr(importlib.import_module(".taas_provider", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
