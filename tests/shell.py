"""Running and linting the rendered boot scripts outside a cloud."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from components.cloud_config import NET_LIBRARY_PATH, written_files


def write_rendered(cloud_config: str, directory: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """Write every file ``cloud_config`` writes into ``directory`` (by base name).

    Returns where each rendered path went, and the environment that points the scripts at the
    shell library they source.
    """
    local: dict[str, Path] = {}
    for path, entry in written_files(cloud_config).items():
        target = directory / Path(path).name
        target.write_text(entry.content)
        target.chmod(int(entry.permissions, 8))
        local[path] = target
    return local, {"CLOUDTAP_NET_LIBRARY": str(local[NET_LIBRARY_PATH])}


def assert_passes_shellcheck(cloud_config: str, script_path: str, directory: Path) -> None:
    """shellcheck the rendered script, following the library it sources."""
    if shutil.which("shellcheck") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("shellcheck is not installed: CI must lint the rendered scripts")
        pytest.skip("shellcheck is not installed")
    files = written_files(cloud_config)
    # The script's `# shellcheck source=../common/cloudtap-net.sh`, as laid out in the package.
    (directory / "scripts").mkdir()
    (directory / "common").mkdir()
    script = directory / "scripts" / Path(script_path).name
    script.write_text(files[script_path].content)
    library = directory / "common" / Path(NET_LIBRARY_PATH).name
    library.write_text(files[NET_LIBRARY_PATH].content)
    result = subprocess.run(
        ["shellcheck", "-x", "-P", "SCRIPTDIR", str(script), str(library)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
