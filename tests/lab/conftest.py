"""Fixtures for the namespace lab: one lab per test module, skipped (or failed under CI=true)
where the lab cannot run."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from components.network_plan import NetworkPlan
from lab import Lab, unavailable_reason
from lab.stack import load_plan
from tests.lab.environment import AWS_DEV_STACK, require_lab


@pytest.fixture(scope="session")
def lab_environment() -> None:
    """Root, iproute2, nftables, tcpdump and namespaces; skip without them, fail under CI."""
    require_lab(unavailable_reason(), os.environ)


@pytest.fixture(scope="module")
def aws_dev_plan() -> NetworkPlan:
    return load_plan(AWS_DEV_STACK)


@pytest.fixture(scope="module")
def module_lab(lab_environment: None, aws_dev_plan: NetworkPlan) -> Iterator[Lab]:
    """The aws-dev stack's lab with the rendered sensor and gateway (mirror on) applied; shared
    by a test module."""
    with Lab.create(aws_dev_plan) as lab:
        yield lab


@pytest.fixture
def lab(module_lab: Lab) -> Lab:
    """The module's lab, verified healthy first: no test inherits another's damage."""
    checked = module_lab.gateway("check")
    assert checked.returncode == 0, f"gateway left unhealthy: {checked.stderr}"
    checked = module_lab.sensor("check")
    assert checked.returncode == 0, f"sensor left unhealthy: {checked.stderr}"
    return module_lab
