"""Token costs: prices by effective date, cached tokens, bad rows, intents, odd model names."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from monitoring_pipelines.core.config import PriceConfig, Severity
from monitoring_pipelines.core.costs.day import (
    UNKNOWN_INTENT,
    UNKNOWN_MODEL,
    AppliedPrice,
    DayCosts,
    applied_price,
    budget_check,
    compute_costs,
    row_costs,
)
from monitoring_pipelines.core.costs.stored import (
    MAX_VALUE_CHARS,
    PriceStamp,
    cost_metrics,
    metric_dims,
    price_stamps,
    stored_value,
)
from monitoring_pipelines.core.store.results import MetricRecord

BEFORE, CUT = date(2026, 10, 14), date(2026, 10, 15)
ODD = 'acme/llm "v2" \u2013 \u03b4, {x}'
PRICES = [
    PriceConfig(
        model="gpt-4o", input_per_1k=0.0025, output_per_1k=0.01, cached_input_per_1k=0.00125
    ),
    PriceConfig(
        model="gpt-4o",
        input_per_1k=0.002,
        output_per_1k=0.008,
        cached_input_per_1k=0.001,
        effective_from=CUT,
    ),
    PriceConfig(model="gpt-4o-mini", input_per_1k=0.00015, output_per_1k=0.0006),
    PriceConfig(model=ODD, input_per_1k=0.001, output_per_1k=0.002),
    PriceConfig(model="next-gen", input_per_1k=0.01, output_per_1k=0.03, effective_from=CUT),
]


def frame(rows: list[tuple[object, object, object, object, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["model", "intent", "prompt", "cached", "completion"])


def costs_of(
    data: pd.DataFrame, day: date, *, cached: bool = True, intents: bool = True
) -> DayCosts:
    return compute_costs(
        data["model"],
        data["prompt"],
        data["completion"],
        PRICES,
        day,
        cached_tokens=data["cached"] if cached else None,
        intents=data["intent"] if intents else None,
    )


def test_cached_tokens_are_priced_apart_and_the_entry_follows_the_day() -> None:
    data = frame(
        [("gpt-4o", "billing", 2000, 1024, 300), ("gpt-4o-mini", "billing", 1000, 600, 100)]
    )
    before, after = costs_of(data, BEFORE), costs_of(data, CUT)
    # 976 uncached at 0.0025, 1024 cached at 0.00125, 300 out at 0.01 (per 1000)
    assert before.by_model["gpt-4o"].cost_usd == pytest.approx(0.00672, rel=1e-12)
    # the 20 % cut applies from its effective day on, to every component
    assert after.by_model["gpt-4o"].cost_usd == pytest.approx(0.005376, rel=1e-12)
    # no cached price: cached tokens cost the input price
    assert before.by_model["gpt-4o-mini"].cost_usd == pytest.approx(0.00021, rel=1e-12)
    assert before.prices["gpt-4o"] == AppliedPrice(date(1970, 1, 1), 0.0025, 0.01, 0.00125)
    assert after.prices["gpt-4o"] == AppliedPrice(CUT, 0.002, 0.008, 0.001)
    assert before.prices["gpt-4o-mini"] == AppliedPrice(date(1970, 1, 1), 0.00015, 0.0006, 0.00015)
    assert before.total.cached_tokens == 1624 and before.total.prompt_tokens == 3000

    plain = costs_of(data, BEFORE, cached=False)
    assert plain.by_model["gpt-4o"].cost_usd == pytest.approx(0.008, rel=1e-12)
    assert plain.total.cached_tokens == 0
    assert plain.prices["gpt-4o"] == AppliedPrice(date(1970, 1, 1), 0.0025, 0.01, None)


def test_an_entry_in_the_future_leaves_the_model_unpriced_until_then() -> None:
    assert applied_price(PRICES, "next-gen", BEFORE, cached_priced=True) is None
    assert applied_price(PRICES, "next-gen", CUT, cached_priced=False) == AppliedPrice(
        CUT, 0.01, 0.03, None
    )
    data = frame([("next-gen", "billing", 1000, 0, 1000), ("gpt-4o", "billing", 1000, 0, 0)])
    day = costs_of(data, BEFORE)
    assert day.by_model["next-gen"].cost_usd is None  # unpriced, not $0
    assert day.by_model["next-gen"].unpriced_requests == 1
    assert day.unpriced_models == ["next-gen"]
    assert list(day.by_model) == ["gpt-4o", "next-gen"]  # unpriced last
    # the intent's cost is its priced part, and says how many requests are not in it
    assert day.by_intent["billing"].cost_usd == pytest.approx(0.0025)
    assert day.by_intent["billing"].unpriced_requests == 1
    assert day.total.cost_usd == pytest.approx(0.0025)
    assert costs_of(data, CUT).by_model["next-gen"].cost_usd == pytest.approx(0.04)


def test_unusable_token_counts_are_counted_per_model_and_never_a_silent_zero() -> None:
    data = frame(
        [
            ("gpt-4o", "a", 1000, 0, 100),
            ("gpt-4o", "a", None, 0, 100),  # missing
            ("gpt-4o", "a", -5, 0, 100),  # negative
            ("gpt-4o", "b", "abc", 0, 100),  # not a number
            ("gpt-4o-mini", "a", 1000, 0, float("inf")),  # infinite
            ("gpt-4o-mini", "a", 1000, 200, 10),
            # unusable cached counts: billed as uncached, counted
            ("gpt-4o", "b", 1000, None, 0),
            ("gpt-4o", "b", 1000, 1500, 0),  # more than the prompt
            ("gpt-4o", "b", 1000, -1, 0),
        ]
    )
    day = costs_of(data, BEFORE)
    gpt, mini = day.by_model["gpt-4o"], day.by_model["gpt-4o-mini"]
    assert (gpt.requests, gpt.rows_missing_tokens, gpt.rows_bad_cached_tokens) == (7, 3, 3)
    assert (mini.requests, mini.rows_missing_tokens, mini.rows_bad_cached_tokens) == (2, 1, 0)
    assert (gpt.prompt_tokens, gpt.completion_tokens, gpt.cached_tokens) == (4000, 100, 0)
    assert gpt.cost_usd == pytest.approx((4000 * 0.0025 + 100 * 0.01) / 1000, rel=1e-12)
    assert (mini.prompt_tokens, mini.cached_tokens) == (1000, 200)
    assert day.by_intent["b"].rows_missing_tokens == 1
    assert day.total.rows_missing_tokens == 4
    check = budget_check(day, daily_budget_usd=1.0)
    assert check.passed
    assert "4 rows without token counts (gpt-4o 3, gpt-4o-mini 1)" in check.summary
    assert "3 rows with an unusable cached count (billed as uncached)" in check.summary
    assert check.metadata["rows_missing_tokens"] == 4


def test_sums_per_intent_and_per_model_and_intent_add_up() -> None:
    rng = np.random.default_rng(11)
    n = 2000
    data = frame(
        list(
            zip(
                rng.choice(["gpt-4o", "gpt-4o-mini", "local", ODD], n),
                rng.choice(np.array(["billing", "shipping", "returns", None], dtype=object), n),
                rng.integers(100, 4000, n),
                rng.integers(0, 100, n),
                rng.integers(10, 800, n),
                strict=True,
            )
        )
    )
    day = costs_of(data, BEFORE)
    assert set(day.by_intent) == {"billing", "shipping", "returns", UNKNOWN_INTENT}
    for intent, usage in day.by_intent.items():
        rows = data[data["intent"].fillna(UNKNOWN_INTENT) == intent]
        assert usage.requests == len(rows)
        assert usage.prompt_tokens == rows["prompt"].sum()
        assert usage.unpriced_requests == (rows["model"] == "local").sum()
        expected = sum(
            day.by_model_intent[(m, intent)].cost_usd or 0.0 for m in ("gpt-4o", "gpt-4o-mini", ODD)
        )
        assert usage.cost_usd == pytest.approx(expected, rel=1e-12)
    for model, usage in day.by_model.items():
        parts = [u for (m, _), u in day.by_model_intent.items() if m == model]
        assert usage.requests == sum(p.requests for p in parts)
        assert usage.completion_tokens == sum(p.completion_tokens for p in parts)
        if model == "local":
            assert usage.cost_usd is None and all(p.cost_usd is None for p in parts)
        else:
            assert usage.cost_usd == pytest.approx(sum(p.cost_usd or 0 for p in parts), rel=1e-12)
    intents_total = sum(u.cost_usd or 0.0 for u in day.by_intent.values())
    assert day.total.cost_usd == pytest.approx(intents_total, rel=1e-12)
    # the per-request costs price every row as the day's sums do
    per_row = row_costs(
        data["model"],
        data["prompt"],
        data["completion"],
        PRICES,
        BEFORE,
        cached_tokens=data["cached"],
    )
    assert np.isnan(per_row[(data["model"] == "local").to_numpy()]).all()
    assert np.nansum(per_row) == pytest.approx(day.total.cost_usd, rel=1e-12)
    no_intents = costs_of(data, BEFORE, intents=False)
    assert no_intents.by_intent == {} and no_intents.by_model_intent == {}
    assert no_intents.total == day.total


def test_missing_model_and_an_empty_day() -> None:
    day = costs_of(frame([(None, "a", 10, 0, 10)]), BEFORE)
    assert day.unpriced_models == [UNKNOWN_MODEL]
    empty = costs_of(frame([]), BEFORE)
    assert (empty.total.requests, empty.total.cost_usd, dict(empty.by_model)) == (0, 0.0, {})
    assert cost_metrics(empty)[("cost_usd", "")] == 0.0


def test_odd_model_names_are_stored_and_read_back() -> None:
    long_name = "projects/p/locations/us/publishers/acme/models/" + "東" * 200
    data = frame([(ODD, "billing", 1000, 0, 100), (long_name, "billing", 10, 0, 10)])
    day = costs_of(data, BEFORE)
    assert day.by_model[ODD].cost_usd == pytest.approx((1000 * 0.001 + 100 * 0.002) / 1000)
    metrics = cost_metrics(day)
    assert metrics[("cost_usd", metric_dims(model=ODD))] == day.by_model[ODD].cost_usd
    assert json.loads(metric_dims(model=ODD)) == {"model": ODD}
    assert all(len(dims) <= 255 for _, dims in metrics)
    short = stored_value(long_name)
    assert short != long_name and len(json.dumps(short)) - 2 <= MAX_VALUE_CHARS
    assert stored_value(long_name + "x") != short  # the hash keeps distinct names apart
    assert metrics[("cost_usd", metric_dims(intent="billing", model=long_name))] is None
    rows = [MetricRecord("2026-10-14", n, d, v) for (n, d), v in metrics.items()]
    stamps = price_stamps(rows)[BEFORE]
    assert stamps == {
        ODD: PriceStamp(AppliedPrice(date(1970, 1, 1), 0.001, 0.002, 0.001)),
        short: PriceStamp(None),
    }


def test_daily_budget_check_names_the_largest_and_the_unpriced() -> None:
    data = frame([("gpt-4o", "a", 400_000, 0, 100_000), ("local", "a", 10, 0, 10)])
    day = costs_of(data, BEFORE)  # $2 of gpt-4o
    warn, critical = budget_check(day, 1.5), budget_check(day, 1.0)
    assert not warn.passed and warn.severity is Severity.WARN
    assert not critical.passed and critical.severity is Severity.CRITICAL
    assert warn.summary == (
        "cost $2.00 > daily budget $1.50; largest: gpt-4o $2.00; unpriced (not counted): local"
    )
    assert budget_check(day, 2.0).passed
