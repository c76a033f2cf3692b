"""What every cloud's mirror session takes, and the one rule for another cloud's fields.

Pure Python: each cloud keeps its argument types in an SDK-free ``mirror_args`` module, so a
session on one cloud can recognise (and refuse by name) the fields of the others without loading
their SDKs.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from .errors import CloudtapInputError
from .fields import reject_unknown_fields
from .monitored_network import Cloud

ARGS_MODULES: Mapping[Cloud, str] = {
    Cloud.AWS: "components.aws.mirror_args",
    Cloud.AZURE: "components.azure.mirror_args",
    Cloud.OPENSTACK: "components.openstack.mirror_args",
}
"""Where each cloud's ``FIELDS`` (the keys its ``MirrorSessionArgs`` declares) live."""


def fields_of(cloud: Cloud) -> frozenset[str]:
    """The argument names of ``cloud``'s mirror session."""
    fields: frozenset[str] = importlib.import_module(ARGS_MODULES[cloud]).FIELDS
    return fields


def parse_cloud(field: str, value: Any) -> Cloud:
    try:
        return Cloud(value)
    except ValueError:
        raise CloudtapInputError(field, value, f"one of {[c.value for c in Cloud]}") from None


def reject_fields_of_other_clouds(
    args: Mapping[str, Any], cloud: Cloud, reasons: Mapping[str, str] | None = None
) -> None:
    """Refuse, by name, what ``cloud``'s session does not take: another cloud's field with the
    reason it has no counterpart here (``reasons``, else which clouds have it), anything else
    as an unknown field."""
    own = fields_of(cloud)
    for key, value in args.items():
        if key in own:
            continue
        if reasons and key in reasons:
            raise CloudtapInputError(key, value, reasons[key])
        elsewhere = [
            other.value for other in Cloud if other is not cloud and key in fields_of(other)
        ]
        if elsewhere:
            raise CloudtapInputError(
                key,
                value,
                f"no value on {cloud.value}: {key} is a field of {' and '.join(elsewhere)} mirror "
                f"sessions; {cloud.value} takes {sorted(own)}",
            )
    reject_unknown_fields(args, own, "")


def session_fields(
    args: Any, cloud: Cloud, reasons: Mapping[str, str] | None = None
) -> Mapping[str, Any]:
    """``args`` of ``cloud``'s mirror session: a mapping holding only that cloud's fields."""
    if not isinstance(args, Mapping):
        raise CloudtapInputError("args", args, "a mapping of MirrorSessionArgs fields")
    reject_fields_of_other_clouds(args, cloud, reasons)
    return args
