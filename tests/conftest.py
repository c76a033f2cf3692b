"""Shared fixtures. Pulumi programs run in-process under strict mocks: see ``tests/mocks.py``."""

from __future__ import annotations

from collections.abc import Iterator

import pulumi
import pytest

from tests.mocks import StrictMocks


@pytest.fixture
def mocks() -> StrictMocks:
    """Fresh strict mocks (three zones in eu-west-1); pass them to ``run_program``."""
    return StrictMocks()


@pytest.fixture(autouse=True)
def _no_leftover_pulumi_config() -> Iterator[None]:
    """A test that fails inside ``run_program`` must not leak its config into the next one."""
    yield
    pulumi.runtime.set_all_config({})
