"""Reference days as anomaly baseline: measured like a live day, topping up a short live history
by weekday, and scoring a change on its first day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring_pipelines.core.anomaly.metrics import ReferenceDays
from monitoring_pipelines.core.anomaly.reference import readable_columns, reference_days
from monitoring_pipelines.core.anomaly.scoring import (
    build_baseline,
    detect,
    evaluate,
    seeded_window,
)
from monitoring_pipelines.core.config import AnomalyConfig, MonitorConfig

CONFIG = AnomalyConfig()
MONDAY = date(2026, 9, 7)
WEEKEND_FACTOR = 0.5
MONITOR = MonitorConfig.model_validate(
    {
        "start_date": "2026-09-07",
        "source": {"table": "log", "timestamp_column": "ts", "request_id_column": "id"},
        "reference": {"table": "ref"},
        "service": {"latency_column": "latency", "status_column": "status"},
        "llm": {
            "model_column": "model",
            "prompt_tokens_column": "prompt",
            "completion_tokens_column": "completion",
            "prices": [
                {"model": "small", "input_per_1k": 0.001, "output_per_1k": 0.002},
                {"model": "large", "input_per_1k": 0.004, "output_per_1k": 0.008},
            ],
        },
    }
)


def level(d: date, base: float) -> float:
    return base * (WEEKEND_FACTOR if d.weekday() >= 5 else 1.0)


def weekly(first: date, days: int, base: float, rng: np.random.Generator) -> dict[date, float]:
    """``days`` days from ``first`` at ``base`` (weekends at half), with 3 % noise."""
    out = {}
    for i in range(days):
        d = first + timedelta(days=i)
        out[d] = level(d, base) * (1.0 + rng.normal(0.0, 0.03))
    return out


# -- the window --------------------------------------------------------------------------------


def test_live_days_come_first_and_the_reference_latest_days_top_them_up() -> None:
    live = {MONDAY - timedelta(days=i): 1.0 for i in range(1, 6)}
    reference = {MONDAY - timedelta(days=i): 2.0 for i in range(6, 40)}
    kept, topped = seeded_window(MONDAY, live, 28, reference)
    assert [d for d, _ in kept] == sorted(live)
    assert [d for d, _ in topped] == [MONDAY - timedelta(days=i) for i in range(28, 5, -1)]
    full = {MONDAY - timedelta(days=i): 1.0 for i in range(1, 29)}
    assert seeded_window(MONDAY, full, 28, reference)[1] == []


def test_a_reference_date_that_is_a_live_day_is_the_live_days() -> None:
    live = {MONDAY - timedelta(days=i): 1.0 for i in range(1, 4)}
    reference = {MONDAY - timedelta(days=i): 5.0 for i in range(0, 10)}
    _, topped = seeded_window(MONDAY, live, 28, reference)
    assert all(d not in live and d != MONDAY for d, _ in topped)
    assert len(topped) == 6


@settings(max_examples=60, deadline=None)
@given(
    live_days=st.integers(0, 40),
    reference_days=st.integers(0, 40),
    offset=st.integers(-400, 400),
    length=st.integers(7, 40),
)
def test_the_window_never_exceeds_its_length_nor_repeats_a_day(
    live_days: int, reference_days: int, offset: int, length: int
) -> None:
    live = {MONDAY - timedelta(days=i): 1.0 for i in range(1, live_days + 1)}
    start = MONDAY + timedelta(days=offset)
    reference = {start + timedelta(days=i): 2.0 for i in range(reference_days)}
    kept, topped = seeded_window(MONDAY, live, length, reference)
    days = [d for d, _ in kept + topped]
    assert len(days) == len(set(days)) <= length
    assert MONDAY not in days
    assert len(kept) == min(live_days, length)
    usable = [d for d in reference if d not in live and d != MONDAY]
    assert len(topped) == min(len(usable), length - len(kept))
    if topped and len(topped) < len(usable):  # the latest reference days
        assert min(d for d, _ in topped) >= max(d for d in usable if d not in dict(topped))


# -- first-day detection -----------------------------------------------------------------------


@pytest.mark.parametrize("first_changed", range(7))
def test_a_change_is_found_on_its_first_day_whatever_the_weekday(first_changed: int) -> None:
    rng = np.random.default_rng(100 + first_changed)
    reference = weekly(MONDAY - timedelta(days=14), 14, 0.01, rng)
    live = weekly(MONDAY, 14, 0.01, rng)
    for d in live:
        if (d - MONDAY).days >= first_changed:
            live[d] *= 1.6
    change = MONDAY + timedelta(days=first_changed)
    seeded = evaluate("cost_per_request", change, live, CONFIG, seed=reference)
    assert seeded.status in ("warn", "critical"), seeded.summary
    assert seeded.baseline is not None and seeded.baseline.weekday_reference_days == 2
    assert "of the reference" in seeded.summary
    for quiet in range(first_changed):
        day = MONDAY + timedelta(days=quiet)
        assert evaluate("cost_per_request", day, live, CONFIG, seed=reference).status == "ok"
    # Without the reference the first week has too few baseline days to score.
    assert evaluate("cost_per_request", change, live, CONFIG).status == "not_evaluated"


def test_a_lasting_change_stays_anomalous_over_the_reference_baseline() -> None:
    rng = np.random.default_rng(7)
    reference = weekly(MONDAY - timedelta(days=14), 14, 0.01, rng)
    live = {
        d: v * 1.6 if d >= MONDAY + timedelta(days=2) else v
        for d, v in weekly(MONDAY, 10, 0.01, rng).items()
    }
    for offset in range(2, 10):
        day = MONDAY + timedelta(days=offset)
        result = evaluate("cost_per_request", day, live, CONFIG, seed=reference)
        assert result.failing, result.summary


def test_a_reference_months_earlier_seeds_by_weekday() -> None:
    rng = np.random.default_rng(11)
    reference = weekly(date(2026, 3, 2), 14, 100.0, rng)  # six months before, Mondays first
    saturday = MONDAY + timedelta(days=5)
    live = weekly(MONDAY, 5, 100.0, rng)
    usual = evaluate("latency_p95_ms", saturday, live | {saturday: 50.0}, CONFIG, seed=reference)
    assert usual.status == "ok", usual.summary
    assert usual.baseline is not None
    ref_saturdays = [v for d, v in reference.items() if d.weekday() == 5]
    assert usual.baseline.expected == pytest.approx(float(np.median(ref_saturdays)))
    assert f"median of 2 Saturdays of the reference {usual.baseline.expected:.4g}" in usual.summary
    busy = evaluate("latency_p95_ms", saturday, live | {saturday: 100.0}, CONFIG, seed=reference)
    assert busy.failing, busy.summary


def test_the_message_counts_live_and_reference_days_of_the_weekday() -> None:
    rng = np.random.default_rng(5)
    reference = weekly(MONDAY - timedelta(days=14), 14, 1.0, rng)
    live = weekly(MONDAY, 14, 1.0, rng)
    day = MONDAY + timedelta(days=14)
    result = evaluate("latency_p95_ms", day, live | {day: 1.0}, CONFIG, seed=reference)
    assert result.baseline is not None
    assert (result.baseline.weekday_days, result.baseline.weekday_reference_days) == (4, 2)
    assert "median of 4 Mondays (2 of the reference)" in result.summary


def test_a_seeded_baseline_matches_a_live_one_of_the_same_values() -> None:
    rng = np.random.default_rng(9)
    values = weekly(MONDAY - timedelta(days=28), 28, 3.0, rng)
    live = build_baseline(MONDAY, values, CONFIG, "latency_p95_ms")
    seeded = build_baseline(MONDAY, {}, CONFIG, "latency_p95_ms", seed=values)
    assert live is not None and seeded is not None
    assert (seeded.expected, seeded.mad, seeded.days) == (live.expected, live.mad, live.days)
    assert seeded.reference_days == 28 and live.reference_days == 0


def test_detect_says_why_a_baseline_is_live_only() -> None:
    days = ReferenceDays(
        values={"latency_p95_ms": {MONDAY - timedelta(days=7): 1.0}},
        reasons={"error_rate": "the reference has no column 'status'"},
    )
    service = {MONDAY: {("p95_ms", ""): 1.0, ("error_rate", ""): 0.01, ("requests", ""): 100.0}}
    results = {r.metric: r for r in detect(MONDAY, service, {}, CONFIG, None, days)}
    assert results["latency_p95_ms"].live_only is None
    assert results["error_rate"].live_only == "the reference has no column 'status'"
    unseeded = detect(MONDAY, service, {}, CONFIG, ["latency_p95_ms"], None)
    assert unseeded[0].live_only == "no reference days are stored"


# -- measuring the reference's days ------------------------------------------------------------


def reference_frame(rng: np.random.Generator, first: date, days: int, n: int) -> pd.DataFrame:
    frames = []
    for i in range(days):
        day = first + timedelta(days=i)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        frames.append(
            pd.DataFrame(
                {
                    "ts": [start + timedelta(seconds=int(s)) for s in rng.integers(0, 86_400, n)],
                    "latency": rng.gamma(4.0, 100.0, n),
                    "status": rng.choice([200, 200, 200, 500], n),
                    "model": rng.choice(["small", "large"], n),
                    "prompt": rng.integers(100, 1000, n),
                    "completion": rng.integers(10, 300, n),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_reference_days_are_measured_like_a_live_day() -> None:
    rng = np.random.default_rng(3)
    frame = reference_frame(rng, date(2026, 4, 6), 3, 200)
    metrics = ["cost_per_request", "tokens_per_request", "latency_p95_ms", "error_rate"]
    days = reference_days(frame, MONITOR, metrics, "ts")  # type: ignore[arg-type]
    assert days.reasons == {}
    price = {"small": (0.001, 0.002), "large": (0.004, 0.008)}
    for day, rows in frame.groupby(frame["ts"].dt.date):
        cost = sum(
            r.prompt / 1000 * price[r.model][0] + r.completion / 1000 * price[r.model][1]
            for r in rows.itertuples()
        )
        assert days.seed("cost_per_request")[day] == pytest.approx(cost / len(rows))
        tokens = (rows["prompt"] + rows["completion"]).mean()
        assert days.seed("tokens_per_request")[day] == pytest.approx(tokens)
        p95 = np.percentile(rows["latency"], 95)
        assert days.seed("latency_p95_ms")[day] == pytest.approx(p95)
        assert days.seed("error_rate")[day] == pytest.approx((rows["status"] == 500).mean())


def test_rows_without_a_readable_timestamp_belong_to_no_day() -> None:
    frame = reference_frame(np.random.default_rng(4), date(2026, 4, 6), 2, 50)
    frame["ts"] = frame["ts"].astype(str)
    frame.loc[:9, "ts"] = "not a time"
    days = reference_days(frame, MONITOR, ["latency_p95_ms"], "ts")
    assert sorted(days.seed("latency_p95_ms")) == [date(2026, 4, 6), date(2026, 4, 7)]
    expected = np.percentile(frame.loc[10:49, "latency"], 95)
    assert days.seed("latency_p95_ms")[date(2026, 4, 6)] == pytest.approx(expected)


def test_a_reference_without_timestamps_or_columns_seeds_nothing_and_says_why() -> None:
    metrics = ["cost_per_request", "latency_p95_ms", "error_rate", "requests"]
    columns, reasons = readable_columns(MONITOR, metrics, None, ["latency", "status"])  # type: ignore[arg-type]
    assert columns == []
    assert reasons["latency_p95_ms"] == "the reference has no timestamp column"
    assert reasons["requests"] == "the reference's row count is not the live traffic"
    columns, reasons = readable_columns(MONITOR, metrics, "ts", ["ts", "latency"])  # type: ignore[arg-type]
    assert columns == ["latency", "ts"]
    assert reasons["error_rate"] == "the reference has no column 'status'"
    assert "'model'" in reasons["cost_per_request"]
    assert "latency_p95_ms" not in reasons
    frame = reference_frame(np.random.default_rng(1), date(2026, 4, 6), 1, 20)
    days = reference_days(frame, MONITOR, ["latency_p95_ms"], None)
    assert days.values == {}
    assert days.reason("latency_p95_ms") == "the reference has no timestamp column"


def test_stored_form_round_trips() -> None:
    days = ReferenceDays(
        values={"error_rate": {date(2026, 4, 6): 0.01, date(2026, 4, 7): 0.02}},
        reasons={"requests": "the reference's row count is not the live traffic"},
        parts={"error_rate": {date(2026, 4, 6): {("error_status", "503"): 0.01}}},
    )
    values, notes = days.stored()
    assert values == {
        ("error_rate", "2026-04-06", ""): 0.01,
        ("error_rate", "2026-04-07", ""): 0.02,
        ("error_rate", "2026-04-06", '{"error_status":"503"}'): 0.01,
    }
    assert ReferenceDays.from_stored(values, notes | {"retired_metric": "x"}) == days
