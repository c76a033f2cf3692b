"""The shared shell library's log: stderr always, syslog only where stderr is not the journal."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from components.cloud_config import asset_text


@pytest.mark.parametrize(("journal", "via_logger"), [(None, True), ("8:12345", False)])
def test_a_line_reaches_the_journal_once(
    tmp_path: Path, journal: str | None, via_logger: bool
) -> None:
    library = tmp_path / "cloudtap-net.sh"
    library.write_text(asset_text("common", "cloudtap-net.sh"))
    tools = tmp_path / "bin"
    tools.mkdir()
    record = tmp_path / "logger.calls"
    logger = tools / "logger"
    logger.write_text(f'#!/bin/sh\necho "$*" >> {record}\n')
    logger.chmod(0o755)
    env = {"PATH": f"{tools}:{os.environ['PATH']}", "CLOUDTAP_TAG": "cloudtap-test"}
    if journal is not None:
        env["JOURNAL_STREAM"] = journal
    result = subprocess.run(
        ["bash", "-c", f'. "{library}"; log "hello there"'],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stderr == "cloudtap-test: hello there\n"
    assert record.exists() is via_logger
    if via_logger:
        assert record.read_text() == "-t cloudtap-test -- hello there\n"
