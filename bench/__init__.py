"""cloudtap's benchmarks: ``python -m bench`` runs them all and prints one table.

``python -m bench NAME [NAME...]`` runs only those and prints each one's detailed table;
``--quick`` shrinks every bench to a smoke run (for tests, not for numbers).

A bench is a module listed in :data:`BENCHES` with a ``run(quick: bool) -> Report`` function.
Benches measure; they never fail the build: a missed target is reported in the ``met`` column.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

# name -> module defining run(quick) -> Report. Add a line here to add a bench.
BENCHES: dict[str, str] = {
    "program-scale": "bench.program_scale",
    "dataplane": "bench.dataplane",
    "hostfeed": "bench.hostfeed",
    "decap": "bench.decap",
    "boot": "bench.boot",
    "profile": "bench.profile",
}


@dataclass(frozen=True)
class Summary:
    """One line of the combined table."""

    case: str
    measured: str
    target: str
    met: bool | None
    """``None`` when the case has no target."""


@dataclass
class Report:
    name: str
    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[str]]
    summary: list[Summary]
    notes: list[str] = field(default_factory=list)

    def detail(self) -> str:
        parts = [self.title, "", render_table(self.columns, self.rows)]
        parts += [f"  {note}" for note in self.notes]
        return "\n".join(parts)


def load(name: str) -> Callable[[bool], Report]:
    if name not in BENCHES:
        raise KeyError(f"unknown bench {name!r}; known: {', '.join(BENCHES)}")
    module = importlib.import_module(BENCHES[name])
    return cast("Callable[[bool], Report]", module.run)


def render_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: columns of numbers right-aligned (header included), others left."""
    widths = [max([len(str(c)), *(len(str(r[i])) for r in rows)]) for i, c in enumerate(columns)]
    numeric = [bool(rows) and all(_numeric(str(r[i])) for r in rows) for i in range(len(columns))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            str(cell).rjust(width) if right else str(cell).ljust(width)
            for cell, width, right in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(columns), rule, *(line(row) for row in rows)])


def summary_table(reports: Sequence[Report]) -> str:
    rows = [
        [report.name, item.case, item.measured, item.target, _verdict(item.met)]
        for report in reports
        for item in report.summary
    ]
    return render_table(["bench", "case", "measured", "target", "met"], rows)


def _verdict(met: bool | None) -> str:
    return "-" if met is None else ("yes" if met else "NO")


def _numeric(text: str) -> bool:
    try:
        float(text.replace("x", ""))
    except ValueError:
        return False
    return True
