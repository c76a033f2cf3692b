"""The fields of an argument ``TypedDict`` as written in the source: annotation, docstring, default.

Attribute docstrings exist only in the source, so they are read with :mod:`ast`; a ``TypedDict``
flattens its bases at run time (``MonitoredVpcArgs.__mro__`` no longer holds ``NetworkArgs``),
so the bases are followed by name through the source too. One reader serves the package schema
(:mod:`components.package`) and the README's argument tables (``tools/readme_tables.py``), so the
two can never describe a field differently.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
from dataclasses import dataclass
from functools import cache
from typing import Any, is_typeddict


@dataclass(frozen=True)
class FieldDoc:
    name: str
    annotation: str
    """The annotation's source text, e.g. ``Sequence[PortForwardArgs]``."""
    doc: str
    """The attribute docstring, cleaned (``inspect.cleandoc``); empty when there is none."""
    owner: type
    """The ``TypedDict`` that declares the field (a base, for inherited fields)."""

    @property
    def required(self) -> bool:
        return self.doc.startswith("Required")

    @property
    def default(self) -> str:
        """What the docstring says happens when the field is left out: ``required`` for a
        required field, else the text of its ``Default`` sentence (empty when it has none)."""
        if self.required:
            return "required"
        text = " ".join(self.doc.split())
        found = _DEFAULT.search(text) or _INLINE_DEFAULT.search(text)
        return found.group(1).strip() if found else ""


# "Default ``x``." / "Default: none (...)" up to the end of that sentence. A sentence ends at a
# full stop followed by a space or the end, so ``10.0.0.0/16`` and "e.g." inside it survive.
_DEFAULT = re.compile(r"(?:^|(?<=[.;] ))Default:?\s+(.+?)(?:\.\s|\.$|$)")
# "``"tcp"`` (default) or ``"udp"``": the value marked as the default among those listed.
_INLINE_DEFAULT = re.compile(r"(``[^`]+``) \(default[);]")


@cache
def _class_nodes(module_name: str) -> dict[str, ast.ClassDef]:
    source = inspect.getsource(sys.modules[module_name])
    return {node.name: node for node in ast.parse(source).body if isinstance(node, ast.ClassDef)}


def _own_fields(typed_dict: type) -> list[FieldDoc]:
    node = _class_nodes(typed_dict.__module__)[typed_dict.__name__]
    fields: list[FieldDoc] = []
    body = node.body
    for index, statement in enumerate(body):
        if not (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)):
            continue
        following = body[index + 1] if index + 1 < len(body) else None
        doc = ""
        if (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            doc = inspect.cleandoc(following.value.value)
        fields.append(
            FieldDoc(statement.target.id, ast.unparse(statement.annotation), doc, typed_dict)
        )
    return fields


def typed_dict_bases(typed_dict: type) -> list[type]:
    """The ``TypedDict`` classes ``typed_dict`` names as its bases in the source, in order."""
    node = _class_nodes(typed_dict.__module__)[typed_dict.__name__]
    namespace = vars(sys.modules[typed_dict.__module__])
    bases: list[type] = []
    for base in node.bases:
        found: Any = namespace.get(base.id) if isinstance(base, ast.Name) else None
        if isinstance(found, type) and is_typeddict(found):
            bases.append(found)
    return bases


def field_docs(typed_dict: type) -> list[FieldDoc]:
    """Every field of ``typed_dict``, inherited ones first (the order of ``__annotations__``)."""
    declared: dict[str, FieldDoc] = {}
    for base in typed_dict_bases(typed_dict):
        declared.update((field.name, field) for field in field_docs(base))
    declared.update((field.name, field) for field in _own_fields(typed_dict))
    missing = set(typed_dict.__annotations__) - set(declared)
    if missing:
        raise LookupError(f"{typed_dict.__qualname__}: no source for fields {sorted(missing)}")
    return [declared[name] for name in typed_dict.__annotations__]
