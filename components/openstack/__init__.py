"""OpenStack building blocks of cloudtap: Tap-as-a-Service.

:mod:`.taas_checks` is pure Python: importing this package loads no cloud SDK and creates nothing.
"""

from __future__ import annotations

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

__all__ = [
    "FlowDirection",
    "MirrorDirection",
    "MirrorType",
    "TapMirrorArgs",
    "TapMirrorPlan",
    "allocate_tunnel_ids",
    "check_distinct_tunnel_ids",
    "plan_tap_mirror",
]
