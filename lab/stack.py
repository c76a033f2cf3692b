"""Reading a Pulumi stack file's ``cloudtap:network`` block, for the lab's command line."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml

from components.errors import CloudtapInputError
from components.fields import reject_unknown_fields
from components.network_plan import NETWORK_FIELDS, NetworkPlan, plan_network

DEFAULT_STACK: Final = Path("stacks") / "Pulumi.aws-dev.yaml"
"""The embedded default: the aws-dev stack, which needs no cloud to be exercised in the lab."""
NETWORK_KEY: Final = "cloudtap:network"


REPOSITORY: Final = Path(__file__).resolve().parent.parent
"""The checkout holding the lab: the lab is a directory beside ``components/`` and ``stacks/``,
never installed with the library."""


def default_stack_path() -> Path:
    """``stacks/Pulumi.aws-dev.yaml`` in the checkout holding this package, else under cwd."""
    candidates = [REPOSITORY / DEFAULT_STACK, Path.cwd() / DEFAULT_STACK]
    return next((path for path in candidates if path.is_file()), candidates[0])


def network_args(stack: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``cloudtap:network`` config of a parsed stack file (``{}``: all defaults)."""
    config = (stack or {}).get("config") or {}
    if not isinstance(config, Mapping):
        raise CloudtapInputError("config", config, "a mapping of configuration keys")
    network = config.get(NETWORK_KEY) or {}
    if not isinstance(network, Mapping):
        raise CloudtapInputError(NETWORK_KEY, network, "a mapping of network settings")
    reject_unknown_fields(network, NETWORK_FIELDS, NETWORK_KEY)
    return dict(network)


def load_plan(path: Path) -> NetworkPlan:
    """Plan the network a stack file describes; OSError, YAMLError or CloudtapInputError."""
    stack = yaml.safe_load(path.read_text(encoding="utf-8"))
    if stack is not None and not isinstance(stack, Mapping):
        raise CloudtapInputError(str(path), type(stack).__name__, "a YAML mapping")
    return plan_network(network_args(stack))
