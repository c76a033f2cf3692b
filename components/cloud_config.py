"""Rendering of ``#cloud-config`` documents from skeletons and script files in the package."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

HEADER = "#cloud-config\n"
# Shell helpers that the gateway's and the sensor's scripts both source.
NET_LIBRARY_PATH = "/usr/local/lib/cloudtap/cloudtap-net.sh"


def asset_text(*path: str) -> str:
    """Text of a file shipped in ``components/assets``."""
    node = resources.files(__package__).joinpath("assets")
    for part in path:
        node = node.joinpath(part)
    return node.read_text(encoding="utf-8")


@dataclass(frozen=True)
class WrittenFile:
    """One ``write_files`` entry: what cloud-init writes before ``runcmd`` starts the services."""

    path: str
    content: str
    permissions: str = "0644"


class _LiteralDumper(yaml.SafeDumper):
    """Multi-line strings as ``|`` blocks, so a script in user data reads as a script."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_LiteralDumper.add_representer(str, _represent_str)


def render(skeleton: str, files: Sequence[WrittenFile]) -> str:
    """The skeleton (a cloud-config file in the package) with ``files`` added to write_files."""
    document: dict[str, Any] = yaml.safe_load(skeleton) or {}
    document.setdefault("write_files", [])
    document["write_files"] += [
        {"path": f.path, "permissions": f.permissions, "owner": "root:root", "content": f.content}
        for f in files
    ]
    body = yaml.dump(document, Dumper=_LiteralDumper, sort_keys=False, width=100)
    return HEADER + body


def written_files(cloud_config: str) -> dict[str, WrittenFile]:
    """The files a rendered cloud-config would write, by path (for the lab and for tests)."""
    document = yaml.safe_load(cloud_config)
    return {
        entry["path"]: WrittenFile(entry["path"], entry["content"], entry["permissions"])
        for entry in document.get("write_files", [])
    }


def net_library() -> WrittenFile:
    """The ``write_files`` entry of the shell library both boot scripts source."""
    return WrittenFile(NET_LIBRARY_PATH, asset_text("common", "cloudtap-net.sh"))
