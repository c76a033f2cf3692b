"""The real cloud-init schema validator (Debian's cloud-init package), for any rendered config."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest


def assert_valid_cloud_config(text: str) -> None:
    """Fail unless ``cloud-init schema`` accepts ``text``; skip only off CI without cloud-init."""
    if shutil.which("cloud-init") is None:
        reason = "cloud-init is not installed (apt-get install cloud-init)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: CI must validate every rendered cloud-config")
        pytest.skip(reason)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as handle:
        handle.write(text)
        handle.flush()
        result = subprocess.run(
            ["cloud-init", "schema", "--config-file", handle.name],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, f"cloud-init schema rejected it:\n{result.stdout}{result.stderr}"
    assert "Valid cloud-config" in result.stdout
