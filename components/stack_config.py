"""The ``cloudtap:*`` keys of a stack file, read strictly: every key known, every value its shape.

Pulumi hands a program its stack configuration as strings (structured values as JSON). Read key by
key with ``pulumi.Config``, a misspelt key is simply never asked for and a string where a mapping
belongs ends in Pulumi's own ``ConfigTypeError``; here both are :class:`CloudtapInputError`\\ s
whose field starts at the stack key, and errors raised further down get that key as prefix
(:func:`under`), so the user reads ``cloudtap:sensor.instance_type``, not ``instance_type``.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .errors import CloudtapInputError

NAMESPACE = "cloudtap"

STACK_KEYS: Mapping[str, str] = {
    "cloud": "which cloud to build on: aws, azure or openstack",
    "network": "the monitored network's arguments (a mapping)",
    "sensor": "a sensor in the monitor tier (a mapping; {} for the defaults)",
    "mirror": "what to mirror and how (a mapping)",
    "fleet": "AWS only: a sensor fleet behind a load balancer (a mapping; {} for the defaults)",
    "host_feeds": "AWS only: hosts that copy their own traffic to the stack's sensor (a mapping)",
}
"""Every key the program reads, with what it holds (used in the error for an unknown key)."""

MAPPING_KEYS = ("network", "sensor", "mirror", "fleet", "host_feeds")


@dataclass(frozen=True)
class StackConfig:
    """The program's ``cloudtap:*`` keys, shape-checked; ``None`` for a key the stack omits."""

    cloud: str | None
    sections: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    """``network``, ``sensor``, ``mirror``, ``fleet`` and ``host_feeds``: only the ones the
    stack sets."""

    def section(self, key: str) -> dict[str, Any] | None:
        found = self.sections.get(key)
        return dict(found) if found is not None else None


def full_key(key: str) -> str:
    return f"{NAMESPACE}:{key}"


def _unknown_key_message(key: str) -> str:
    known = sorted(STACK_KEYS)
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {full_key(close[0])}?)" if close else ""
    listed = ", ".join(f"{full_key(k)} ({STACK_KEYS[k]})" for k in known)
    return f"one of the keys cloudtap reads{hint}: {listed}"


def _parse_mapping(key: str, text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        # Not JSON: the stack file holds a plain string, e.g. `cloudtap:network: 10.0.0.0/16`.
        value = text
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise CloudtapInputError(
            full_key(key), value, f"a mapping of {key} fields (see the README), e.g. {{}}"
        )
    return dict(value)


def parse_stack_config(values: Mapping[str, str]) -> StackConfig:
    """Check the ``cloudtap:*`` entries of ``values`` (full key -> the engine's string).

    Keys of other namespaces (``aws:region``, ``azure-native:location``) belong to providers and
    are ignored here.
    """
    sections: dict[str, dict[str, Any]] = {}
    for name in sorted(values):
        namespace, _, key = name.partition(":")
        if namespace != NAMESPACE:
            continue
        if key not in STACK_KEYS:
            raise CloudtapInputError(name, values[name], _unknown_key_message(key))
        if key in MAPPING_KEYS:
            parsed = _parse_mapping(key, values[name])
            if parsed is not None:
                sections[key] = parsed
    cloud = values.get(full_key("cloud"))
    return StackConfig(cloud=cloud, sections=sections)


def current_values() -> dict[str, str]:
    """Every configuration value the Pulumi engine gave this program, by full key."""
    # pulumi.Config reads one known key at a time; finding keys nobody asks for needs the whole
    # table, which the SDK keeps in its runtime config module (set by the language host, or from
    # PULUMI_CONFIG).
    from pulumi.runtime import config as runtime_config  # noqa: PLC0415 - no SDK on import

    merged: dict[str, str] = dict(runtime_config.get_config_env() or {})
    merged.update(runtime_config.CONFIG.get())
    return {
        key: value if isinstance(value, str) else json.dumps(value) for key, value in merged.items()
    }


def _joined(prefix: str, inner: str, passed: Mapping[str, str]) -> str:
    if inner.startswith(f"{NAMESPACE}:"):
        return inner  # already a stack path
    head = inner.split(".", 1)[0].split("[", 1)[0]
    if head in passed:
        # A field of an argument the program filled in from another stack key.
        return full_key(passed[head]) + inner[len(head) :]
    if inner in ("", "args"):
        return prefix  # the component's whole argument mapping is the stack key itself
    return f"{prefix}{inner}" if inner.startswith("[") else f"{prefix}.{inner}"


@contextmanager
def under(key: str, passed: Mapping[str, str] | None = None) -> Iterator[None]:
    """Re-raise the :class:`CloudtapInputError` of the block with the stack key as its prefix.

    ``passed``: arguments the program filled in from other stack keys (``{"network":
    "network"}``: the sensor's ``network`` is what ``cloudtap:network`` built), so an error about
    ``network.gateway_mirror`` names ``cloudtap:network.gateway_mirror``, where the user can fix it.
    """
    prefix = full_key(key)
    try:
        yield
    except CloudtapInputError as error:
        error.refield(_joined(prefix, error.field, passed or {}))
        raise
