"""Which stored days a price-table change reprices, and the backfill that reprices them.

A day is stale when, for one of its models, the entry the table now gives for that day differs
from the price stamp its ``token_costs`` partition stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from monitoring_pipelines.core.config import MonitorFile, PriceConfig
from monitoring_pipelines.core.costs.day import AppliedPrice, applied_price
from monitoring_pipelines.core.costs.stored import PriceStamp, load_price_stamps, stored_value
from monitoring_pipelines.core.store.results import ResultRepository
from monitoring_pipelines.core.wording import count


@dataclass(frozen=True)
class PriceChange:
    """One model of a stored day whose price the current table changes."""

    model: str
    stored: PriceStamp
    current: AppliedPrice | None

    def describe(self) -> str:
        if not self.stored.recorded:
            before = "costed before price stamps were recorded"
        else:
            before = "unpriced" if self.stored.price is None else self.stored.price.describe()
        after = "unpriced" if self.current is None else self.current.describe()
        return f"{self.model}: {before} -> {after}"


@dataclass(frozen=True)
class StaleDay:
    """A stored day whose cost the current price table changes, and why."""

    day: date
    changes: tuple[PriceChange, ...]


def stale_days(
    prices: Sequence[PriceConfig],
    stamps: Mapping[date, Mapping[str, PriceStamp]],
    *,
    cached_priced: bool,
) -> list[StaleDay]:
    """The stored days whose cost would change under ``prices``, oldest first.

    Args:
        prices: The current price table.
        stamps: Per stored day, per model as stored, the price it was costed at.
        cached_priced: Whether cached tokens are priced apart now (a cached-token column is
            configured); the stamps record whether they were.

    Returns:
        One entry per day to reprice, naming each model whose price changes.
    """
    names = {stored_value(p.model): p.model for p in prices}
    out = []
    for day in sorted(stamps):
        changes = []
        for model, stamp in sorted(stamps[day].items()):
            name = names.get(model, model)
            current = applied_price(prices, name, day, cached_priced=cached_priced)
            if not stamp.recorded or current != stamp.price:
                changes.append(PriceChange(model, stamp, current))
        if changes:
            out.append(StaleDay(day, tuple(changes)))
    return out


def day_ranges(days: Sequence[date]) -> list[tuple[date, date]]:
    """Runs of consecutive days as (first, last), in order."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(days):
        if ranges and day == ranges[-1][1] + timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def format_stale(monitor: str, stale: Sequence[StaleDay], stored_days: int) -> list[str]:
    """Lines for a person: the days, why, and the backfill commands that reprice them."""
    if not stale:
        return [
            f"{monitor}: all {count(stored_days, 'stored day')} are costed at the current prices"
        ]
    lines = [
        f"{monitor}: {len(stale)} of {count(stored_days, 'stored day')} would cost differently "
        "under the current price table"
    ]
    groups: list[tuple[list[date], tuple[str, ...]]] = []
    for item in stale:
        reasons = tuple(c.describe() for c in item.changes)
        last = groups[-1] if groups else None
        if last and last[1] == reasons and item.day == last[0][-1] + timedelta(days=1):
            last[0].append(item.day)
        else:
            groups.append(([item.day], reasons))
    for days, reasons in groups:
        span = _span(days[0], days[-1])
        lines += [f"  {span}  {reasons[0]}", *(f"  {' ' * len(span)}  {r}" for r in reasons[1:])]
    lines += [
        f"  reprice: monitoring backfill --monitor {monitor} --start {first} --end {last}"
        for first, last in day_ranges([s.day for s in stale])
    ]
    return lines


def _span(first: date, last: date) -> str:
    return first.isoformat() if first == last else f"{first}..{last}"


def stale_costs_report(
    config: MonitorFile, store: ResultRepository, monitors: Sequence[str] | None = None
) -> tuple[str, int]:
    """``monitoring costs stale``: per LLM monitor, the stored days to reprice.

    Args:
        config: The monitor file (its current price tables).
        store: The result store holding the stamps.
        monitors: Monitors to look at; None: every monitor with ``llm`` settings.

    Returns:
        The report text and the number of days to reprice over all monitors.
    """
    lines: list[str] = []
    total = 0
    for name in monitors or list(config.monitors):
        llm = config.monitors[name].llm
        if llm is None:
            if monitors:
                lines.append(f"{name}: no llm settings, so no token costs")
            continue
        stamps = load_price_stamps(store, name)
        if not stamps:
            lines.append(f"{name}: no token costs stored yet")
            continue
        stale = stale_days(llm.prices, stamps, cached_priced=llm.cached_tokens_column is not None)
        total += len(stale)
        lines += format_stale(name, stale, len(stamps))
    return "\n".join(lines), total
