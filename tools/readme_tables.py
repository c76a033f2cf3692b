"""The README's argument tables, generated from the argument ``TypedDict``\\ s' docstrings.

Each public component (:func:`components.package.public_components`) gets a block between
``<!-- BEGIN generated: NAME -->`` and ``<!-- END generated: NAME -->``: one table of its
arguments (field, type, default, meaning) and one per argument type nested in them. A component
without a block yet gets one appended to the argument reference (before
``<!-- END argument reference -->``), so a new component needs only a regeneration. The package's
adaptations (what other languages cannot pass yet) have a block of their own.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable, Iterator
from typing import Any, get_args

from components.field_docs import FieldDoc, field_docs

ADAPTATIONS_BLOCK = "package-adaptations"
REFERENCE_END = "<!-- END argument reference -->"
_DEFAULT_SENTENCE = re.compile(r"(?:^|(?<=[.;] ))Default:?\s+.+?(?:\.\s|\.$|$)")


def _markdown(text: str) -> str:
    """One table cell: reST literals as Markdown code, roles reduced to their target, one line."""
    text = re.sub(r":\w+:`~?([^`<]*?)(?:\s*<[^>]*>)?`", r"``\1``", text)
    text = re.sub(r"``(.+?)``", r"`\1`", text)
    return " ".join(text.split()).replace("|", "\\|")


def meaning(field: FieldDoc) -> str:
    """The docstring without what the default column already says."""
    text = " ".join(field.doc.split())
    text = re.sub(r"^Required\.\s*", "", text)
    text = _DEFAULT_SENTENCE.sub("", text).strip()
    return _markdown(text)


def _nested(field: FieldDoc) -> Iterator[type]:
    """The argument ``TypedDict``\\ s a field's annotation names (``Sequence[PortForwardArgs]``)."""
    from components.package import _evaluate  # noqa: PLC0415 - loads the cloud SDKs

    stack: list[Any] = [_evaluate(field.annotation, field.owner.__module__)]
    while stack:
        typ = stack.pop()
        if typing.is_typeddict(typ):
            yield typ
        stack.extend(get_args(typ))


def table(typed_dict: type, heading: str) -> list[str]:
    lines = [
        heading,
        "",
        "| field | type | default | meaning |",
        "|---|---|---|---|",
    ]
    for field in field_docs(typed_dict):
        default = _markdown(field.default) or "—"
        annotation = field.annotation.replace("|", "\\|")
        lines.append(f"| `{field.name}` | `{annotation}` | {default} | {meaning(field)} |")
    return lines


def args_type(component: type) -> type:
    from components.package import _evaluate  # noqa: PLC0415

    constructor: Any = vars(component)["__init__"]
    written = inspect.get_annotations(constructor)["args"]
    typ = _evaluate(str(written), component.__module__)
    members = [t for t in get_args(typ) if t is not type(None)] or [typ]
    found: type = members[0]
    return found


def component_block(component: type) -> list[str]:
    top = args_type(component)
    lines = table(top, f"#### `{component.__name__}` (`{top.__name__}`, `{component.__module__}`)")
    seen = {top}
    queue = [field for field in field_docs(top)]
    while queue:
        field = queue.pop(0)
        for nested in _nested(field):
            if nested in seen:
                continue
            seen.add(nested)
            lines += ["", *table(nested, f"`{field.name}`: `{nested.__name__}`")]
            queue.extend(field_docs(nested))
    return lines


def adaptations_block() -> list[str]:
    from components import package  # noqa: PLC0415

    package.hosted_components()
    lines = [
        "| component | field | written as | in the schema | why |",
        "|---|---|---|---|---|",
    ]
    for item in package.ADAPTATIONS:
        written = item.written.replace("|", "\\|")
        lines.append(
            f"| `{item.component}` | `{item.field}` | `{written}` | {item.schema} | {item.reason} |"
        )
    return lines


USER_DATA_BLOCK = "user data sizes"


def user_data_block() -> list[str]:
    """Each role's user data as each cloud's component renders it by default (the sensor with
    a log volume, without custom rules), measured as that cloud counts it."""
    from components.user_data import LIMITS, PACKED_BOOTS, measured_user_data  # noqa: PLC0415

    lines = [
        "| cloud | what is sent | counted | limit | gateway | sensor "
        "| sensor's room for custom rules |",
        "|---|---|---|---|---|---|---|",
    ]
    for cloud, limit in LIMITS.items():
        sizes = measured_user_data(cloud)
        sent = (
            "gzip of a small cloud-config that fetches the boot bundle from S3"
            if cloud == "aws"
            else "base64 of the gzip-compressed cloud-config"
        )
        packed = sorted(role for packed_cloud, role in PACKED_BOOTS if packed_cloud == cloud)
        if packed:
            sent += (
                f"; the {' and '.join(packed)}'s files inside it as one xz-compressed tar"
                " with the unpacker that checks it"
            )
        room = (
            "any (the rules travel in the bundle)"
            if cloud == "aws"
            else f"{limit.limit - sizes['sensor']:,} {limit.counted} after compression"
        )
        lines.append(
            f"| {cloud} | {sent} | {limit.counted} | {limit.limit:,} | {sizes['gateway']:,} | "
            f"{sizes['sensor']:,} | {room} |"
        )
    return lines


def blocks() -> dict[str, list[str]]:
    from components.package import public_components  # noqa: PLC0415

    found = {component.__name__: component_block(component) for component in public_components()}
    found[ADAPTATIONS_BLOCK] = adaptations_block()
    found[USER_DATA_BLOCK] = user_data_block()
    return found


def _wrap(name: str, lines: list[str]) -> str:
    body = "\n".join(lines)
    return f"<!-- BEGIN generated: {name} -->\n{body}\n<!-- END generated: {name} -->"


def _constant(text: str) -> Callable[[re.Match[str]], str]:
    """A replacement taken as it is (``re.sub`` would read backslashes in a string)."""
    return lambda _: text


def update(readme: str) -> str:
    """``readme`` with every generated block as the code says it should be."""
    for name, lines in blocks().items():
        pattern = re.compile(
            rf"<!-- BEGIN generated: {re.escape(name)} -->\n.*?<!-- END generated: "
            rf"{re.escape(name)} -->",
            re.DOTALL,
        )
        wrapped = _wrap(name, lines)
        if pattern.search(readme):
            readme = pattern.sub(_constant(wrapped), readme)
        elif REFERENCE_END in readme:
            readme = readme.replace(REFERENCE_END, f"{wrapped}\n\n{REFERENCE_END}")
        else:
            raise LookupError(f"README.md has neither a block for {name} nor {REFERENCE_END!r}")
    return readme
