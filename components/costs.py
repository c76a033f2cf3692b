"""Monthly cost estimates: line items priced from dated data, summed, said in one line.

Cloud-neutral and pure: each cloud lists what a stack creates with its prices (AWS:
:mod:`components.aws.cost_estimate` from :mod:`components.aws.prices`); this module only does
the arithmetic and the wording. An estimate is never a quote: on-demand list prices, a 730-hour
month, no free tier, no discounts, no data transfer, no traffic-dependent charges unless named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

HOURS_PER_MONTH = 730
"""AWS's own convention for monthly figures (8760 hours / 12)."""


@dataclass(frozen=True)
class CostItem:
    label: str
    """What is priced, e.g. ``gateway t3.small``."""
    monthly: float | None
    """US dollars a month; ``None`` when the data has no price for it."""

    def dollars(self) -> str:
        return "no price in the data" if self.monthly is None else f"${self.monthly:.2f}"


def hourly(label: str, hourly_price: float | None, count: float = 1) -> CostItem:
    monthly = None if hourly_price is None else hourly_price * count * HOURS_PER_MONTH
    return CostItem(label, monthly)


def per_month(label: str, monthly_price: float | None, count: float = 1) -> CostItem:
    return CostItem(label, None if monthly_price is None else monthly_price * count)


@dataclass(frozen=True)
class Estimate:
    items: tuple[CostItem, ...]
    region: str
    """The region whose prices were used."""
    prices_as_of: str
    source: str
    """Where the prices come from (a module path: its data names each page)."""
    notes: tuple[str, ...] = ()

    @property
    def total(self) -> float:
        return round(sum(item.monthly for item in self.items if item.monthly is not None), 2)

    @property
    def unpriced(self) -> list[str]:
        return [item.label for item in self.items if item.monthly is None]

    def line(self) -> str:
        """The preview's line: the total, each item, the prices' date and source."""
        parts = ", ".join(f"{item.label} {item.dollars()}" for item in self.items)
        unpriced = f" plus {', '.join(self.unpriced)} (unpriced)" if self.unpriced else ""
        notes = "".join(f"; {note}" for note in self.notes)
        return (
            f"cost estimate (not a quote): about ${self.total:.2f}/month{unpriced} in "
            f"{self.region} — {parts}{notes} (on-demand list prices of {self.prices_as_of}, "
            f"{self.source})"
        )

    def as_output(self) -> dict[str, object]:
        """The figures as a stack output."""
        return {
            "monthly_usd": self.total,
            "region": self.region,
            "prices_as_of": self.prices_as_of,
            "items": {
                item.label: None if item.monthly is None else round(item.monthly, 2)
                for item in self.items
            },
        }


def readme_table(estimates: Mapping[str, Mapping[str, object]]) -> str:
    """The README's table, from each example stack's ``cost_estimate`` output."""
    lines = ["| stack | region | about, per month | of which |", "|---|---|---|---|"]
    for stack, estimate in estimates.items():
        items = estimate["items"]
        assert isinstance(items, Mapping)
        parts = ", ".join(
            f"{label} {'?' if value is None else f'${value:.2f}'}" for label, value in items.items()
        )
        total = estimate["monthly_usd"]
        assert isinstance(total, float | int)
        lines.append(f"| `{stack}` | {estimate['region']} | ${total:.2f} | {parts} |")
    return "\n".join(lines)
