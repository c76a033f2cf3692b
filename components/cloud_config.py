"""Rendering of ``#cloud-config`` documents from skeletons and script files in the package."""

from __future__ import annotations

import base64
import gzip
import io
import re
import tarfile
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

HEADER = "#cloud-config\n"
# Shell helpers that the gateway's and the sensor's scripts both source.
NET_LIBRARY_PATH = "/usr/local/lib/cloudtap/cloudtap-net.sh"

SETTINGS_VALUE_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ._/:,+-"
"""What a value in a settings file may hold: enough for every value cloudtap writes (networks,
port forwards, names, paths, numbers) and nothing a shell interprets. The boot scripts' reader,
``read_settings`` in ``assets/common/cloudtap-net.sh``, accepts exactly these (a test holds the
two to each other)."""
SETTINGS_KEY = re.compile(r"[A-Z][A-Z0-9_]*")
SETTINGS_VALUE = re.compile(f"[{re.escape(SETTINGS_VALUE_CHARACTERS)}]*")

SettingsLine = str | tuple[str, str | int]
"""A ``# comment`` line, or a ``(KEY, value)`` entry."""


def asset_text(*path: str) -> str:
    """Text of a file shipped in ``components/assets``."""
    return asset_bytes(*path).decode("utf-8")


def asset_bytes(*path: str) -> bytes:
    """Bytes of a file shipped in ``components/assets``."""
    node = resources.files(__package__).joinpath("assets")
    for part in path:
        node = node.joinpath(part)
    return node.read_bytes()


@dataclass(frozen=True)
class WrittenFile:
    """One ``write_files`` entry: what cloud-init writes before ``runcmd`` starts the services."""

    path: str
    content: str
    permissions: str = "0644"
    encoding: str | None = None
    """``b64`` for a binary file, whose ``content`` is then its base64 text (cloud-init
    decodes it); ``gz+b64`` for base64 of its gzip (a binary that compresses: base64 text
    would cost the user data more); ``None`` for text written as it is."""

    def data(self) -> bytes:
        """The bytes cloud-init writes."""
        if self.encoding == "b64":
            return base64.b64decode(self.content, validate=True)
        if self.encoding == "gz+b64":
            return gzip.decompress(base64.b64decode(self.content, validate=True))
        return self.content.encode("utf-8")


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
        | ({"encoding": f.encoding} if f.encoding else {})
        for f in files
    ]
    body = yaml.dump(document, Dumper=_LiteralDumper, sort_keys=False, width=100)
    return HEADER + body


def written_files(cloud_config: str) -> dict[str, WrittenFile]:
    """The files a rendered cloud-config would write, by path (for the lab and for tests)."""
    document = yaml.safe_load(cloud_config)
    return {
        entry["path"]: WrittenFile(
            entry["path"], entry["content"], entry["permissions"], entry.get("encoding")
        )
        for entry in document.get("write_files", [])
    }


def deterministic_tar(files: Sequence[WrittenFile]) -> bytes:
    """An uncompressed tar whose bytes depend on the files only (no times, owners or host
    names): members named by path without the leading ``/``, at the files' modes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in files:
            data = entry.data()
            info = tarfile.TarInfo(entry.path.lstrip("/"))
            info.size = len(data)
            info.mode = int(entry.permissions, 8)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def net_library() -> WrittenFile:
    """The ``write_files`` entry of the shell library both boot scripts source."""
    return WrittenFile(NET_LIBRARY_PATH, asset_text("common", "cloudtap-net.sh"))


def render_settings_file(lines: Iterable[SettingsLine], *, keys: Collection[str]) -> str:
    """A settings file for the boot scripts: comments and ``KEY="value"`` lines.

    ``keys`` are the keys the script reads. Every value must already be validated; one the
    scripts would refuse (an unknown or repeated key, a character outside
    :data:`SETTINGS_VALUE_CHARACTERS`) is a bug upstream, so it raises :class:`ValueError` here
    rather than reach an instance.
    """
    rendered: list[str] = []
    seen: set[str] = set()
    for line in lines:
        if isinstance(line, str):
            if not line.startswith("#") or "\n" in line or "\r" in line:
                raise ValueError(f"settings comment {line!r}: expected one line starting with #")
            rendered.append(line)
            continue
        key, value = line
        if isinstance(value, bool):  # str() would write True: say yes or no
            raise ValueError(f"settings value for {key!r}: {value!r} is a bool, not a str or int")
        text = str(value)
        if not SETTINGS_KEY.fullmatch(key) or key not in keys:
            raise ValueError(f"settings key {key!r}: not one of {sorted(keys)}")
        if key in seen:
            raise ValueError(f"settings key {key!r}: given twice")
        seen.add(key)
        if not SETTINGS_VALUE.fullmatch(text):
            raise ValueError(
                f"settings value for {key!r}: {text!r} holds a character other than letters, "
                "digits, space and . / : _ - , + (it should never have passed validation)"
            )
        rendered.append(f'{key}="{text}"')
    return "\n".join(rendered) + "\n"
