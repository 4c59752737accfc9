"""Which stored days a price-table change reprices: exactly those whose price would change."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from monitoring_pipelines.core.config import PriceConfig
from monitoring_pipelines.core.costs.day import AppliedPrice, compute_costs
from monitoring_pipelines.core.costs.repricing import day_ranges, format_stale, stale_days
from monitoring_pipelines.core.costs.stored import PriceStamp, cost_metrics, price_stamps
from monitoring_pipelines.core.store.results import MetricRecord

MINI = PriceConfig(model="gpt-4o-mini", input_per_1k=0.00015, output_per_1k=0.0006)
GPT = PriceConfig(
    model="gpt-4o", input_per_1k=0.0025, output_per_1k=0.01, cached_input_per_1k=0.00125
)
CUT = PriceConfig(
    model="gpt-4o",
    input_per_1k=0.002,
    output_per_1k=0.008,
    cached_input_per_1k=0.001,
    effective_from=date(2026, 10, 15),
)
DAYS = [date(2026, 10, 10) + timedelta(days=i) for i in range(11)]  # 10-10 .. 10-20


def stored(
    prices: list[PriceConfig], models: tuple[str, ...] = ("gpt-4o", "gpt-4o-mini")
) -> dict[date, dict[str, PriceStamp]]:
    """The stamps of DAYS as the asset stores them when costed with ``prices``."""
    rows = []
    for day in DAYS:
        costs = compute_costs(
            pd.Series(models),
            pd.Series([1000] * len(models)),
            pd.Series([100] * len(models)),
            prices,
            day,
            cached_tokens=pd.Series([500] * len(models)),
        )
        rows += [
            MetricRecord(day.isoformat(), n, d, v) for (n, d), v in cost_metrics(costs).items()
        ]
    return price_stamps(rows)


def test_a_price_cut_reprices_exactly_the_days_from_its_date() -> None:
    stamps = stored([MINI, GPT])
    stale = stale_days([MINI, GPT, CUT], stamps, cached_priced=True)
    assert [s.day for s in stale] == DAYS[5:]  # 2026-10-15 .. 2026-10-20
    assert {c.model for s in stale for c in s.changes} == {"gpt-4o"}
    assert stale[0].changes[0].current == AppliedPrice(date(2026, 10, 15), 0.002, 0.008, 0.001)
    # once repriced, nothing is stale
    assert stale_days([MINI, GPT, CUT], stored([MINI, GPT, CUT]), cached_priced=True) == []
    # removing the cut again reprices the same days back
    back = stale_days([MINI, GPT], stored([MINI, GPT, CUT]), cached_priced=True)
    assert [s.day for s in back] == DAYS[5:]


def test_an_entry_edited_in_place_reprices_every_day_it_served() -> None:
    stamps = stored([MINI, GPT, CUT])
    edited = CUT.model_copy(update={"cached_input_per_1k": 0.0005})
    assert [s.day for s in stale_days([MINI, GPT, edited], stamps, cached_priced=True)] == DAYS[5:]
    old_edit = GPT.model_copy(update={"output_per_1k": 0.011})
    assert [s.day for s in stale_days([MINI, old_edit, CUT], stamps, cached_priced=True)] == (
        DAYS[:5]
    )
    # a price for a model these days never served changes nothing
    other = PriceConfig(model="claude", input_per_1k=0.003, output_per_1k=0.015)
    assert stale_days([MINI, GPT, CUT, other], stamps, cached_priced=True) == []


def test_a_model_priced_or_unpriced_since_and_the_cached_column() -> None:
    stamps = stored([GPT], models=("gpt-4o", "local"))
    assert all(
        s == PriceStamp(None) for day in stamps.values() for m, s in day.items() if m == "local"
    )
    local = PriceConfig(
        model="local", input_per_1k=0.0001, output_per_1k=0.0001, effective_from=date(2026, 10, 18)
    )
    stale = stale_days([GPT, local], stamps, cached_priced=True)
    assert [s.day for s in stale] == DAYS[8:]
    assert stale[0].changes[0].describe() == (
        "local: unpriced -> 2026-10-18 entry (in 0.0001, cached 0.0001, out 0.0001 USD per 1k)"
    )
    gone = stale_days([], stamps, cached_priced=True)
    assert [s.day for s in gone] == DAYS
    # dropping the cached-token column prices every prompt token as input: every day changes
    assert len(stale_days([GPT], stamps, cached_priced=False)) == len(DAYS)


def test_days_stored_before_price_stamps_are_repriced() -> None:
    stamps = {DAYS[0]: {"gpt-4o": PriceStamp(None, recorded=False)}}
    stale = stale_days([GPT], stamps, cached_priced=True)
    assert [s.day for s in stale] == [DAYS[0]]
    assert (
        stale[0]
        .changes[0]
        .describe()
        .startswith("gpt-4o: costed before price stamps were recorded -> 1970-01-01 entry")
    )


def test_report_lines_group_days_and_give_the_backfills() -> None:
    stamps = stored([MINI, GPT])
    stamps.pop(DAYS[7])  # a day never stored splits the backfill in two
    stale = stale_days([MINI, GPT, CUT], stamps, cached_priced=True)
    lines = format_stale("support_bot", stale, len(stamps))
    change = (
        "gpt-4o: 1970-01-01 entry (in 0.0025, cached 0.00125, out 0.01 USD per 1k) -> "
        "2026-10-15 entry (in 0.002, cached 0.001, out 0.008 USD per 1k)"
    )
    assert lines == [
        "support_bot: 5 of 10 stored days would cost differently under the current price table",
        f"  2026-10-15..2026-10-16  {change}",
        f"  2026-10-18..2026-10-20  {change}",
        "  reprice: monitoring backfill --monitor support_bot --start 2026-10-15 --end 2026-10-16",
        "  reprice: monitoring backfill --monitor support_bot --start 2026-10-18 --end 2026-10-20",
    ]
    assert format_stale("bot", [], 3) == ["bot: all 3 stored days are costed at the current prices"]
    assert day_ranges([DAYS[3], DAYS[1], DAYS[2], DAYS[9]]) == [
        (DAYS[1], DAYS[3]),
        (DAYS[9], DAYS[9]),
    ]
