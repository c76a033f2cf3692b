"""Whether lab tests may run here, and what to do when they cannot."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AWS_DEV_STACK = ROOT / "stacks" / "Pulumi.aws-dev.yaml"


def require_lab(reason: str | None, environ: Mapping[str, str]) -> None:
    """Skip when the lab cannot run (``reason``); under ``CI=true`` fail instead: CI must run it."""
    if reason is None:
        return
    if environ.get("CI") == "true":
        pytest.fail(f"the lab tests must run under CI=true, but {reason}", pytrace=False)
    pytest.skip(reason)


def machine_namespaces() -> set[str]:
    """Names of all network namespaces on the machine (ours and anyone else's)."""
    listing = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, timeout=10, check=True
    ).stdout
    return {line.split()[0] for line in listing.splitlines() if line.strip()}
