"""``token_costs`` materialized over several days of a small LLM log: costs by hand, intents,
unusable rows, price stamps and repricing, the monthly budget, and idempotent reruns.

Two monitors read one SQLite table: ``bot`` (a generous monthly budget) and ``bot_tight`` (a
monthly budget the first day's forecast already exceeds and the second day's spend does too).
The gpt-4o price is cut from 2026-09-03 on. ``bot`` runs 09-01, 09-02 and 09-04 (09-03 is not
materialized yet), then 09-03 and 09-04 again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from monitoring_pipelines.core.config_loading import parse_config
from monitoring_pipelines.core.costs.day import UNKNOWN_INTENT
from monitoring_pipelines.core.costs.repricing import stale_costs_report
from monitoring_pipelines.core.dimensions import dimensions
from monitoring_pipelines.core.store.results import ResultRepository
from tests.assets.conftest import (
    METADATA_REL,
    Monitoring,
    MonitoringFactory,
    check_evaluations,
    materialization,
    stored_metrics,
)

ODD = 'acme/llm "v2" δ, {x}'
UNPRICED = "local-llama"
DAYS = [date(2026, 9, 1) + timedelta(days=i) for i in range(4)]
CUT_DAY = DAYS[2]
# per model: [(effective_from, input, cached input, output)], USD per 1000 tokens
PRICES = {
    "gpt-4o": [(date(1970, 1, 1), 0.0025, 0.00125, 0.01), (CUT_DAY, 0.002, 0.001, 0.008)],
    ODD: [(date(1970, 1, 1), 0.001, 0.001, 0.002)],  # no cached price: the input price
}
MONITOR = """
  {name}:
    start_date: 2026-09-01
    source: {{table: bot_log, timestamp_column: ts, request_id_column: request_id}}
    llm:
      model_column: llm_model
      prompt_tokens_column: prompt_tokens
      completion_tokens_column: completion_tokens
      cached_tokens_column: cached_tokens
      intent_column: intent
      prices:
        - {{model: gpt-4o, input_per_1k: 0.0025, output_per_1k: 0.01, cached_input_per_1k: 0.00125}}
        - {{model: gpt-4o, input_per_1k: 0.002, output_per_1k: 0.008, cached_input_per_1k: 0.001,
           effective_from: 2026-09-03}}
        - {{model: '{odd}', input_per_1k: 0.001, output_per_1k: 0.002}}{extra}
      daily_budget_usd: 1.0
      monthly_budget_usd: {monthly}
"""


def config_text(extra_price: str = "") -> str:
    monitors = [
        MONITOR.format(name="bot", odd=ODD, extra=extra_price, monthly=1000.0),
        MONITOR.format(name="bot_tight", odd=ODD, extra=extra_price, monthly=0.4),
    ]
    return "version: 1\nmonitors:" + "".join(monitors)


# (model, intent, prompt, cached, completion, rows); day k repeats the first group 20 + 10k times
GROUPS: list[tuple[object, object, object, object, object, int]] = [
    ("gpt-4o", "billing", 2000, 1024, 300, 20),
    ("gpt-4o", "shipping", 1500, 0, 200, 10),
    (ODD, "billing", 1000, 512, 100, 5),
    (UNPRICED, "shipping", 800, 0, 50, 4),
    ("gpt-4o", None, 1000, 1000, 100, 2),
    ("gpt-4o", "billing", None, 0, 100, 1),  # no prompt count
    ("gpt-4o", "billing", 1000, 0, -3, 1),  # negative completion
    (ODD, "billing", "abc", 0, 10, 1),  # text in the numeric column
    ("gpt-4o", "shipping", 1500, None, 200, 1),  # no cached count: billed as uncached
]


def bot_day(day: date, k: int) -> pd.DataFrame:
    rows = []
    for g, (model, intent, prompt, cached, completion, n) in enumerate(GROUPS):
        rows += [(model, intent, prompt, cached, completion)] * (n + (10 * k if g == 0 else 0))
    frame = pd.DataFrame(
        rows, columns=["llm_model", "intent", "prompt_tokens", "cached_tokens", "completion_tokens"]
    ).astype(object)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    frame.insert(
        0, "ts", [(start + timedelta(seconds=60 * i)).isoformat() for i in range(len(rows))]
    )
    frame.insert(1, "request_id", [f"{day:%d}-{i:04d}" for i in range(len(rows))])
    return frame


def valid(value: object) -> float | None:
    number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return None if pd.isna(number) or number < 0 else float(number)


def expected(frame: pd.DataFrame, day: date) -> dict[tuple[str, str | None], float | None]:
    """Cost per (model, intent) and per model, row by row, as a person would bill it."""
    out: dict[tuple[str, str | None], float | None] = {}
    for row in frame.itertuples():
        model, intent = row.llm_model, row.intent or UNKNOWN_INTENT
        prompt, completion = valid(row.prompt_tokens), valid(row.completion_tokens)
        cost = None
        if model in PRICES:
            cost = 0.0
            if prompt is not None and completion is not None:
                cached = valid(row.cached_tokens) or 0.0
                _, per_in, per_cached, per_out = max(
                    (p for p in PRICES[model] if p[0] <= day), key=lambda p: p[0]
                )
                cost = (
                    (prompt - cached) * per_in + cached * per_cached + completion * per_out
                ) / 1000
        for key in ((model, intent), (model, None)):
            out[key] = None if cost is None else (out.get(key) or 0.0) + cost
    return out


@dataclass(frozen=True)
class BotRuns:
    monitoring: Monitoring
    frames: Mapping[date, pd.DataFrame]
    first: Mapping[date, dg.ExecuteInProcessResult]  # 09-01, 09-02, 09-04 (09-03 missing)
    later: Mapping[date, dg.ExecuteInProcessResult]  # 09-03, then 09-04 again
    tight: Mapping[date, dg.ExecuteInProcessResult]


def install(make_monitoring: MonitoringFactory, store_url: str | None = None) -> Monitoring:
    frames = [bot_day(d, k) for k, d in enumerate(DAYS)]
    types = {
        "prompt_tokens": sa.Integer(),
        "cached_tokens": sa.Integer(),
        "completion_tokens": sa.Integer(),
    }
    return make_monitoring(
        config_text(),
        {"bot_log": pd.concat(frames, ignore_index=True)},
        {"bot_log": types},
        store_url=store_url,
    )


@pytest.fixture(scope="module")
def bot(make_monitoring: MonitoringFactory) -> BotRuns:
    monitoring = install(make_monitoring)
    first = {d: monitoring.day("bot", d) for d in (DAYS[0], DAYS[1], DAYS[3])}
    later = {d: monitoring.day("bot", d) for d in (DAYS[2], DAYS[3])}
    tight = {d: monitoring.day("bot_tight", d) for d in DAYS[:2]}
    frames = {d: bot_day(d, k) for k, d in enumerate(DAYS)}
    return BotRuns(monitoring, frames, first, later, tight)


def key(name: str, **dims: str) -> str:
    return name + dimensions(**dims)


@pytest.mark.parametrize("k", range(4))
def test_costs_per_model_and_intent_are_billed_as_by_hand(bot: BotRuns, k: int) -> None:
    day = DAYS[k]
    result = bot.later[day] if day in bot.later else bot.first[day]
    stored = stored_metrics(bot.monitoring.store_url, "bot", "token_costs", day.isoformat())
    want = expected(bot.frames[day], day)
    for (model, intent), cost in want.items():
        dims = {"model": model} if intent is None else {"intent": intent, "model": model}
        got = stored[key("cost_usd", **dims)]
        assert got is None if cost is None else got == pytest.approx(cost, rel=1e-12), dims
    by_intent = {i: sum(c or 0.0 for (m, ii), c in want.items() if ii == i) for _, i in want if i}
    for intent, cost in by_intent.items():
        assert stored[key("cost_usd", intent=intent)] == pytest.approx(cost, rel=1e-12)
    total = sum(c or 0.0 for (_, i), c in want.items() if i is None)
    assert stored["cost_usd"] == pytest.approx(total, rel=1e-12)
    assert stored[key("unpriced_requests", intent="shipping")] == 4
    meta = materialization(result, "bot/token_costs")
    assert meta["cost_usd"] == pytest.approx(total, rel=METADATA_REL)
    assert meta[f"cost_usd/{ODD}"] == pytest.approx(want[(ODD, None)], rel=METADATA_REL)
    assert meta["cost_usd@intent=billing"] == pytest.approx(by_intent["billing"], rel=METADATA_REL)
    assert f"cost_usd/{UNPRICED}" not in meta and meta["unpriced_models"] == 1
    rows = 45 + 10 * k
    assert meta["requests"] == stored["requests"] == rows
    # cached: 1024 x (20 + 10k) + 512 x 5 + 1000 x 2 of 2000 x (20 + 10k) + 1500 x 10 + ...
    assert stored["cached_tokens"] == 1024 * (20 + 10 * k) + 512 * 5 + 2000
    assert meta["cached_share"] == pytest.approx(
        stored["cached_tokens"] / stored["prompt_tokens"], rel=METADATA_REL
    )


def test_unusable_counts_are_counted_per_model_and_shown(bot: BotRuns) -> None:
    day = DAYS[0]
    stored = stored_metrics(bot.monitoring.store_url, "bot", "token_costs", day.isoformat())
    assert stored[key("rows_missing_tokens", model="gpt-4o")] == 2
    assert stored[key("rows_missing_tokens", model=ODD)] == 1
    assert stored[key("rows_bad_cached_tokens", model="gpt-4o")] == 1
    assert stored[key("rows_missing_tokens", intent="billing")] == 3
    meta = materialization(bot.first[day], "bot/token_costs")
    assert (meta["rows_missing_tokens"], meta["rows_bad_cached_tokens"]) == (3, 1)
    by_model = {m["model"]: m for m in meta["by_model"]}
    assert by_model[ODD]["rows_missing_tokens"] == 1
    assert by_model[UNPRICED]["priced"] is False and by_model[UNPRICED]["cost_usd"] is None
    assert materialization(bot.first[day], "bot/live_slice")["findings"]["values"][
        "prompt_tokens"
    ] == {"null": 1, "non_numeric": 1}
    summary = check_evaluations(bot.first[day], "bot/token_costs")["cost_budget"].summary
    assert f"unpriced (not counted): {UNPRICED}" in summary
    assert "3 rows without token counts (gpt-4o 2, " in summary


def test_each_day_records_the_price_entry_it_used_and_a_change_names_its_days(
    bot: BotRuns,
) -> None:
    url = bot.monitoring.store_url
    for day in DAYS:
        stored = stored_metrics(url, "bot", "token_costs", day.isoformat())
        entry = "2026-09-03" if day >= CUT_DAY else "1970-01-01"
        assert stored[key("price_input_per_1k", model="gpt-4o", price_from=entry)] == (
            0.002 if day >= CUT_DAY else 0.0025
        )
        assert stored[key("price_cached_input_per_1k", model=ODD, price_from="1970-01-01")] == 0.001
    store = ResultRepository.connect(url)
    try:
        text, count = stale_costs_report(bot.monitoring.config, store, ["bot"])
        assert (count, text) == (0, "bot: all 4 stored days are costed at the current prices")
        cut = (
            "\n        - {model: gpt-4o, input_per_1k: 0.0016, output_per_1k: 0.0064, "
            "effective_from: 2026-09-04}"
        )
        changed = parse_config(config_text(cut), {}, source="changed.yaml")
        text, count = stale_costs_report(changed, store, ["bot"])
    finally:
        store.dispose()
    assert count == 1
    assert text.splitlines()[1].startswith("  2026-09-04  gpt-4o: 2026-09-03 entry (in 0.002, ")
    assert text.endswith(
        "reprice: monitoring backfill --monitor bot --start 2026-09-04 --end 2026-09-04"
    )


def test_monthly_budget_names_missing_days_then_counts_them(bot: BotRuns) -> None:
    costs = {
        d: sum(c or 0.0 for (_, i), c in expected(bot.frames[d], d).items() if i is None)
        for d in DAYS
    }
    early = check_evaluations(bot.first[DAYS[3]], "bot/token_costs")["monthly_budget"]
    assert early.passed
    assert early.metadata["missing_days"] == "2026-09-03"
    assert "1 day of the month not materialized yet (2026-09-03)" in early.summary
    assert early.metadata["month_to_date_usd"] == pytest.approx(
        costs[DAYS[0]] + costs[DAYS[1]] + costs[DAYS[3]], rel=METADATA_REL
    )
    late = check_evaluations(bot.later[DAYS[3]], "bot/token_costs")["monthly_budget"]
    assert "missing_days" not in late.metadata and "not materialized" not in late.summary
    level = sum(costs.values()) / 4  # four days: the trailing average, flat
    assert late.metadata["level_usd_per_day"] == pytest.approx(level, rel=METADATA_REL)
    assert late.metadata["projected_usd"] == pytest.approx(
        sum(costs.values()) + 26 * level, rel=METADATA_REL
    )
    assert (
        late.metadata["forecast_basis"] == f"level ${level:.2f}/day from 4 of the last 7 days, flat"
    )


def test_monthly_budget_warns_on_the_forecast_and_is_critical_once_spent(bot: BotRuns) -> None:
    first = check_evaluations(bot.tight[DAYS[0]], "bot_tight/token_costs")["monthly_budget"]
    second = check_evaluations(bot.tight[DAYS[1]], "bot_tight/token_costs")["monthly_budget"]
    spent = first.metadata["month_to_date_usd"]
    assert spent < 0.4 < first.metadata["projected_usd"]
    assert not first.passed and first.severity == dg.AssetCheckSeverity.WARN
    assert first.summary.startswith("projected $")
    assert second.metadata["month_to_date_usd"] > 0.4
    assert not second.passed and second.severity == dg.AssetCheckSeverity.ERROR
    assert second.summary.startswith(
        f"month to date ${second.metadata['month_to_date_usd']:.2f} > monthly budget $0.40"
    )
    assert [f["severity"] for f in second.findings] == ["critical"]


def metric_rows(url: str, partition: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [
                tuple(r)
                for r in conn.execute(
                    sa.text(
                        "select monitor, name, dimensions, value from metrics where "
                        "asset = 'token_costs' and partition_key = :p order by monitor, name, "
                        "dimensions"
                    ),
                    {"p": partition},
                )
            ]
    finally:
        engine.dispose()


def test_rerun_replaces_the_day_on_both_backends(
    make_monitoring: MonitoringFactory, store_url: str
) -> None:
    monitoring = install(make_monitoring, store_url)
    monitoring.day("bot", DAYS[0])
    first = monitoring.day("bot", DAYS[1])
    before = metric_rows(store_url, DAYS[1].isoformat())
    again = monitoring.day("bot", DAYS[1])
    assert metric_rows(store_url, DAYS[1].isoformat()) == before
    # 12 groups (the day, 3 models, 3 intents, 5 model-intent pairs) of 7 values, unpriced
    # requests of the day and the intents, 3 price-stamp values of the 2 priced models
    assert len(before) == 12 * 7 + 4 + 2 * 3
    assert len({(m, n, d) for m, n, d, _ in before}) == len(before)
    odd = [v for _, n, d, v in before if n == "cost_usd" and d == dimensions(model=ODD)]
    assert len(odd) == 1 and odd[0] is not None and math.isfinite(odd[0])
    checks = [check_evaluations(r, "bot/token_costs") for r in (first, again)]
    assert {n: (c.passed, c.metadata) for n, c in checks[0].items()} == {
        n: (c.passed, c.metadata) for n, c in checks[1].items()
    }
    assert checks[1]["monthly_budget"].metadata["days_counted"] == 2
