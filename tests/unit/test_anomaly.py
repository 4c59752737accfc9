"""Anomalies against a trailing baseline: robust z, weekdays, MAD floor, direction, gates."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, timedelta

import numpy as np
import pytest
from scipy import stats

from monitoring_pipelines.core.anomaly.metrics import (
    AnomalyMetric,
    MetricValues,
    available_metrics,
    day_values,
    status_rows,
)
from monitoring_pipelines.core.anomaly.scoring import (
    MAD_FLOOR_FRACTION,
    anomaly_check,
    detect,
    evaluate,
    mad_floor,
)
from monitoring_pipelines.core.config import AnomalyConfig, MonitorConfig, Severity
from monitoring_pipelines.core.stats.inference import MAD_TO_SD, median_absolute_deviation, robust_z

CONFIG = AnomalyConfig()
POOLED = AnomalyConfig(weekday_aware=False)
MONDAY = date(2026, 9, 7)
WEEKEND_FACTOR = 0.75


def series(values: list[float], end: date) -> dict[date, float]:
    """``values`` on the days ending the day before ``end``, oldest first."""
    return {end - timedelta(days=len(values) - i): v for i, v in enumerate(values)}


def weekly(
    rng: np.random.Generator, end: date, days: int, level: float, noise: float
) -> dict[date, float]:
    """``days`` days before ``end`` at ``level``, weekends at 0.75, with relative noise."""
    out = {}
    for i in range(days, 0, -1):
        d = end - timedelta(days=i)
        factor = WEEKEND_FACTOR if d.weekday() >= 5 else 1.0
        out[d] = level * factor * (1.0 + rng.normal(0.0, noise))
    return out


# -- the statistic -----------------------------------------------------------------------------


def test_robust_z_by_hand() -> None:
    # median 11; |deviations| 1,1,0,2,2,1,3 -> MAD 1; z = (20 - 11) / 1.4826
    history = series([10, 12, 11, 13, 9, 10, 14], MONDAY) | {MONDAY: 20.0}
    result = evaluate("latency_p95_ms", MONDAY, history, POOLED)
    assert result.baseline is not None
    assert (result.baseline.expected, result.baseline.mad) == (11.0, 1.0)
    assert result.z == pytest.approx(9 / 1.4826)
    assert result.relative_change == pytest.approx(9 / 11)
    assert result.status == "warn" and result.baseline_days == 7


def test_mad_and_z_match_scipy() -> None:
    values = np.random.default_rng(3).lognormal(5.0, 0.3, 28)
    scale = stats.median_abs_deviation(values, scale="normal")
    assert median_absolute_deviation(list(values)) * MAD_TO_SD == pytest.approx(scale, rel=1e-5)
    mad = median_absolute_deviation(list(values))
    expected = (400.0 - np.median(values)) / scale
    assert robust_z(400.0, float(np.median(values)), mad) == pytest.approx(expected, rel=1e-5)


# -- weekdays ----------------------------------------------------------------------------------


def test_weekday_mode_compares_a_saturday_with_saturdays() -> None:
    saturday = date(2026, 10, 3)
    history = weekly(np.random.default_rng(1), saturday, 28, 10_000.0, 0.02)
    history[saturday] = 10_000.0 * WEEKEND_FACTOR
    aware = evaluate("requests", saturday, history, CONFIG)
    assert aware.baseline is not None and aware.baseline.mode == "weekday"
    assert aware.baseline.weekday_days == 4
    saturdays = sorted(v for d, v in history.items() if d < saturday and d.weekday() == 5)
    assert aware.baseline.expected == pytest.approx((saturdays[1] + saturdays[2]) / 2)
    # the spread is the noise (2 %), not the weekly pattern (25 %)
    assert aware.baseline.mad < 0.03 * aware.baseline.expected
    assert aware.status == "ok"
    # pooled, the quiet weekend day is a 30 % "drop" from the weekday median and pages
    pooled = evaluate("requests", saturday, history, POOLED)
    assert pooled.baseline is not None and pooled.baseline.mode == "pooled"
    assert pooled.status != "ok" and pooled.relative_change is not None
    assert pooled.relative_change < -0.2


def test_a_single_same_weekday_day_by_hand() -> None:
    # Sun 100, Mon 120, Tue 100, Wed 102, Thu 98, Fri 100, Sat 104, Sun 96, then Monday 150.
    history = series([100.0, 120.0, 100.0, 102.0, 98.0, 100.0, 104.0, 96.0], MONDAY)
    result = evaluate("latency_p95_ms", MONDAY, history | {MONDAY: 150.0}, CONFIG)
    assert result.baseline is not None
    assert (result.baseline.mode, result.baseline.weekday_days) == ("weekday", 1)
    assert result.baseline.expected == 120.0  # last Monday
    # spreads: Sunday residuals +-4 -> MAD 4; all days: MAD 2, times sqrt(2) 2.83 -> 4 wins
    assert result.baseline.mad == pytest.approx(4.0)
    assert result.z == pytest.approx(30.0 / (MAD_TO_SD * 4.0))
    assert result.status == "warn"
    # without that Monday there is no weekday to compare with: all days, pooled
    del history[MONDAY - timedelta(days=7)]
    pooled = evaluate("latency_p95_ms", MONDAY, history | {MONDAY: 150.0}, CONFIG)
    assert pooled.baseline is not None and pooled.baseline.mode == "pooled"
    assert pooled.baseline.expected == 100.0


def test_a_weekday_whose_days_disagree_scores_softly() -> None:
    """19 days into a level change (100 -> 200) two of the four Mondays are new: their median
    sits halfway while most weekdays agree again. The Mondays' own MAD is the spread, so the
    new normal does not fire again on its third Monday."""
    history = {
        MONDAY - timedelta(days=k): (200.0 if k <= 19 else 100.0) + (k % 3) * 0.5
        for k in range(1, 29)
    }
    result = evaluate("latency_p95_ms", MONDAY, history | {MONDAY: 200.0}, CONFIG)
    assert result.baseline is not None and result.baseline.weekday_days == 4
    assert result.baseline.expected == 150.5  # Mondays 100, 100.5, 200.5, 201
    assert result.baseline.mad == pytest.approx(50.25)
    assert result.status == "ok" and result.z is not None and result.z < 1.0


def test_weekday_z_is_calibrated_on_noise() -> None:
    """Scored against the other days of its weekday, a normal day's z is about N(0, 1): the
    MAD of three or four same-weekday values alone would put one day in nine above 4."""
    rng = np.random.default_rng(11)
    zs = []
    for trial in range(1500):
        end = MONDAY + timedelta(days=trial % 7)
        history = weekly(rng, end + timedelta(days=1), 29, 1000.0, 0.1)
        result = evaluate("latency_p95_ms", end, history, CONFIG)
        assert result.baseline is not None and result.baseline.mode == "weekday"
        assert result.z is not None
        zs.append(result.z)
    iqr_sd = np.subtract(*np.percentile(zs, [75, 25])) / 1.349
    assert 0.8 < iqr_sd < 1.1
    assert np.mean(np.abs(zs) >= 4.0) < 0.01


# -- floor, practical size, direction ----------------------------------------------------------


def test_mad_floor_on_a_flat_baseline() -> None:
    flat = series([100.0] * 28, MONDAY)
    tiny = evaluate("latency_p95_ms", MONDAY, flat | {MONDAY: 101.0}, CONFIG)
    assert tiny.baseline is not None and tiny.baseline.raw_mad == 0.0
    assert tiny.baseline.mad == pytest.approx(MAD_FLOOR_FRACTION * 100.0)
    assert tiny.z == pytest.approx(1.0 / (MAD_TO_SD * 2.0))
    assert tiny.status == "ok"
    jump = evaluate("latency_p95_ms", MONDAY, flat | {MONDAY: 130.0}, CONFIG)
    assert jump.z == pytest.approx(30.0 / (MAD_TO_SD * 2.0)) and jump.status == "critical"
    assert "MAD floored" in jump.summary


def test_a_small_change_on_a_steady_metric_does_not_page() -> None:
    steady = series([1000.0, 1001.0, 999.0, 1000.5] * 7, MONDAY)
    small = evaluate("tokens_per_request", MONDAY, steady | {MONDAY: 1150.0}, CONFIG)
    assert small.z is not None and small.z > CONFIG.warn  # significant ...
    assert small.status == "ok"  # ... but 15 % is under min_relative_change
    large = evaluate("tokens_per_request", MONDAY, steady | {MONDAY: 1250.0}, CONFIG)
    assert large.status == "critical"
    relaxed = AnomalyConfig(min_relative_change=0.1)
    assert evaluate("tokens_per_request", MONDAY, steady | {MONDAY: 1150.0}, relaxed).failing


@pytest.mark.parametrize(
    ("metric", "level", "pages"),
    [
        ("latency_p95_ms", 200.0, False),
        ("error_rate", 0.01, False),
        ("cost_per_request", 0.002, False),
        ("tokens_per_request", 1150.0, False),
        ("requests", 10_000.0, True),
    ],
)
def test_only_requests_alert_on_a_drop(metric: AnomalyMetric, level: float, pages: bool) -> None:
    noise = [1.0, 0.98, 1.02, 1.01, 0.99, 1.0, 1.0] * 4
    history = series([level * x for x in noise], MONDAY)
    drop = evaluate(metric, MONDAY, history | {MONDAY: level / 2}, CONFIG)
    assert drop.z is not None and drop.z < -CONFIG.critical
    assert drop.failing is pages
    rise = evaluate(metric, MONDAY, history | {MONDAY: level * 2}, CONFIG)
    assert rise.status == "critical"


def test_error_rate_floor_is_its_sampling_error() -> None:
    """After weeks without errors, one 503 in 2,500 requests is noise; 50 are not."""
    clean = series([0.0] * 28, MONDAY)
    one = evaluate("error_rate", MONDAY, clean | {MONDAY: 1 / 2500}, CONFIG, sample=2500)
    assert one.z == pytest.approx(1.0, rel=0.01) and one.status == "ok"
    burst = evaluate("error_rate", MONDAY, clean | {MONDAY: 50 / 2500}, CONFIG, sample=2500)
    assert burst.status == "critical" and burst.relative_change == float("inf")
    assert "(new)" in burst.summary
    # four Mondays can put a small count's median under the rate of the whole baseline
    assert mad_floor("error_rate", 0.001, 1000, level=0.004) == pytest.approx(
        math.sqrt(0.004 * 0.996 / 1000) / MAD_TO_SD
    )
    unknown = evaluate("error_rate", MONDAY, clean | {MONDAY: 50 / 2500}, CONFIG)
    assert unknown.status == "not_evaluated" and "constant at 0" in unknown.summary


# -- too little history ------------------------------------------------------------------------


def test_too_few_baseline_days_are_not_evaluated() -> None:
    history = series([100.0] * 6, MONDAY) | {MONDAY: 500.0}
    result = evaluate("latency_p95_ms", MONDAY, history, CONFIG)
    assert result.status == "not_evaluated" and not result.failing
    assert result.z is None and result.baseline_days == 6
    assert "6 baseline days with a value, fewer than 7" in result.summary
    finding = result.finding(CONFIG)
    assert finding.passed and finding.subject == "latency_p95_ms"


def test_missing_days_are_skipped_and_the_day_itself_is_never_baseline() -> None:
    history = {d: v for d, v in series([100.0] * 28, MONDAY).items() if d.day % 3}
    result = evaluate("latency_p95_ms", MONDAY, history | {MONDAY: 100.0}, CONFIG)
    assert result.baseline_days == len(history) < 28
    assert evaluate("latency_p95_ms", MONDAY, history, CONFIG).summary.endswith(
        "no value on the day"
    )
    older = series([100.0] * 10, MONDAY - timedelta(days=28))
    assert evaluate("latency_p95_ms", MONDAY, older | {MONDAY: 1.0}, CONFIG).baseline_days == 0


# -- the stories the issue asks for --------------------------------------------------------------


def m(model: str) -> str:
    """The dimensions of a per-model ``token_costs`` row."""
    return json.dumps({"model": model}, separators=(",", ":"))


def chatbot_day(rng: np.random.Generator, day: date, context: float = 1.0) -> MetricValues:
    """``token_costs`` rows of a chatbot day: two priced models and an unpriced one."""
    requests = round(
        1200 * (WEEKEND_FACTOR if day.weekday() >= 5 else 1.0) * rng.lognormal(0, 0.03)
    )
    rows: dict[tuple[str, str], float | None] = {}
    cost = 0.0
    for model, share, price in (("gpt-4o-mini", 0.7, 0.00015), ("gpt-4o", 0.2, 0.0025)):
        n = round(requests * share)
        prompt = n * 900.0 * context * rng.lognormal(0, 0.02)
        completion = n * 250.0 * rng.lognormal(0, 0.02)
        dims = m(model)
        rows[("requests", dims)] = n
        rows[("prompt_tokens", dims)] = prompt
        rows[("completion_tokens", dims)] = completion
        rows[("cost_usd", dims)] = (prompt + completion) / 1000 * price
        cost += rows[("cost_usd", dims)] or 0.0
    unpriced = m("local-llama")
    rest = requests - sum(v or 0.0 for (name, _), v in rows.items() if name == "requests")
    rows |= {("requests", unpriced): rest, ("cost_usd", unpriced): None}
    rows[("prompt_tokens", unpriced)] = rest * 900.0 * context
    rows[("completion_tokens", unpriced)] = rest * 250.0
    rows[("cost_usd", "")] = cost
    return rows


def test_a_template_change_that_doubles_context_is_caught_on_its_first_day() -> None:
    rng = np.random.default_rng(2026)
    first = date(2026, 9, 1)
    change = first + timedelta(days=28)
    costs = {
        first + timedelta(days=i): chatbot_day(rng, first + timedelta(days=i)) for i in range(28)
    }
    costs[change] = chatbot_day(rng, change, context=2.0)
    results = {r.metric: r for r in detect(change, {}, costs, CONFIG)}
    tokens = results["tokens_per_request"]
    assert tokens.status == "critical" and tokens.baseline_days == 28
    assert tokens.baseline is not None and tokens.baseline.mode == "weekday"
    assert tokens.relative_change == pytest.approx(900 / 1150, rel=0.05)
    assert results["cost_per_request"].status == "critical"
    # the 28 days before were all quiet
    for day in [first + timedelta(days=i) for i in range(7, 28)]:
        assert not any(r.failing for r in detect(day, {}, costs, CONFIG)), day


def test_a_spike_in_the_baseline_does_not_hide_the_next_one() -> None:
    """Anomalous days stay in later baselines: five spike days of 28 move neither the median
    nor the MAD enough to hide a second spike."""
    rng = np.random.default_rng(9)
    start = date(2026, 9, 1)
    history = {start + timedelta(days=i): 1150.0 * rng.lognormal(0, 0.01) for i in range(29)}
    for i in range(14, 19):
        history[start + timedelta(days=i)] *= 2.0
    day = start + timedelta(days=28)
    history[day] *= 2.0
    result = evaluate("tokens_per_request", day, history, CONFIG)
    assert result.baseline is not None
    assert result.baseline.expected == pytest.approx(1150.0, rel=0.03)
    assert result.status == "critical"
    assert evaluate("tokens_per_request", day, history | {day: 1150.0}, CONFIG).status == "ok"


def test_a_traffic_drop_pages_and_a_quiet_weekend_does_not() -> None:
    rng = np.random.default_rng(5)
    wednesday = date(2026, 10, 7)
    history = weekly(rng, wednesday, 28, 2500.0, 0.025)
    drop = evaluate("requests", wednesday, history | {wednesday: 1200.0}, CONFIG)
    assert drop.status == "critical" and drop.z is not None and drop.z < -CONFIG.critical
    finding = drop.finding(CONFIG)
    assert not finding.passed and finding.threshold == -CONFIG.critical
    sunday = date(2026, 10, 4)
    quiet = evaluate("requests", sunday, history | {sunday: 2500.0 * WEEKEND_FACTOR}, CONFIG)
    assert quiet.status == "ok"


def test_a_persistent_change_fires_for_days_then_becomes_the_baseline() -> None:
    rng = np.random.default_rng(8)
    start = date(2026, 9, 1)
    history = {start + timedelta(days=i): 150.0 * rng.lognormal(0, 0.03) for i in range(28)}
    shift = start + timedelta(days=28)
    for i in range(40):
        history[shift + timedelta(days=i)] = 300.0 * rng.lognormal(0, 0.03)
    firing = [
        i
        for i in range(40)
        if evaluate("latency_p95_ms", shift + timedelta(days=i), history, CONFIG).failing
    ]
    # from the first day until the weekdays have seen the new level twice (the spread of the
    # same-weekday residuals widens), well before the level is half the baseline
    assert firing == list(range(len(firing)))
    assert 7 <= len(firing) <= 14


# -- inputs and the check ----------------------------------------------------------------------


def test_day_values_from_stored_rows() -> None:
    service: Mapping[tuple[str, str], float | None] = {
        ("p95_ms", ""): 250.0,
        ("error_rate", ""): 0.01,
        ("requests", ""): 1000.0,
        ("p99_ms", ""): 400.0,
        ("queue_depth_new_metric", ""): 7.0,
    }
    costs: dict[tuple[str, str], float | None] = {
        ("cost_usd", ""): 3.0,
        ("cost_usd", m("a")): 3.0,
        ("requests", m("a")): 100.0,
        ("prompt_tokens", m("a")): 80_000.0,
        ("completion_tokens", m("a")): 20_000.0,
        ("cost_usd", m("b")): None,  # unpriced: not in cost per request
        ("requests", m("b")): 100.0,
        ("prompt_tokens", m("b")): 40_000.0,
        ("completion_tokens", m("b")): 10_000.0,
        # breakdowns by something else and price stamps are not summed into the day
        ("requests", json.dumps({"intent": "billing", "model": "a"})): 50.0,
        ("cost_usd", json.dumps({"intent": "billing", "model": "a"})): 99.0,
        ("cost_usd", json.dumps({"intent": "billing"})): 99.0,
        ("price_input_per_1k", json.dumps({"model": "a", "price_from": "2026-01-01"})): 0.1,
    }
    values = day_values(service, costs)
    assert values == {
        "latency_p95_ms": 250.0,
        "error_rate": 0.01,
        "tokens_per_request": 150_000.0 / 200.0,
        "cost_per_request": 3.0 / 100.0,
        "requests": 1000.0,
    }
    # whole-day token rows win over per-model ones; LLM requests stand in for the service's
    costs[("prompt_tokens", "")] = 1.0
    costs[("completion_tokens", "")] = 1.0
    assert day_values(None, costs)["tokens_per_request"] == 2.0 / 200.0
    assert day_values(None, costs)["requests"] == 200.0
    assert day_values({("p95_ms", ""): None}, None) == {}


def test_the_error_rate_sample_is_the_requests_with_a_known_status() -> None:
    service = {("requests", ""): 1000.0, ("status_missing", ""): 30.0}
    assert status_rows(service) == 970.0
    assert status_rows(service | {("status_unknown", ""): 20.0}) == 950.0
    assert status_rows({("p95_ms", ""): 1.0}) is None


def test_the_check_has_one_finding_per_metric() -> None:
    flat = series([100.0] * 28, MONDAY)
    results = [
        evaluate("latency_p95_ms", MONDAY, flat | {MONDAY: 300.0}, CONFIG),
        evaluate("tokens_per_request", MONDAY, flat | {MONDAY: 100.0}, CONFIG),
        evaluate("cost_per_request", MONDAY, series([1.0] * 3, MONDAY) | {MONDAY: 1.0}, CONFIG),
    ]
    outcome = anomaly_check(results, CONFIG, {"error_rate": "no status column"})
    assert outcome.name == "anomaly" and not outcome.passed
    assert outcome.severity is Severity.CRITICAL
    assert [f.subject for f in outcome.findings] == [
        "latency_p95_ms",
        "tokens_per_request",
        "cost_per_request",
    ]
    assert [f.passed for f in outcome.findings] == [False, True, True]
    assert outcome.summary.startswith("1 of 3 metrics anomalous: latency_p95_ms 300")
    assert "cost_per_request not evaluated" in outcome.summary
    assert "not measured: error_rate (no status column)" in outcome.summary
    assert outcome.metadata == {"metrics_anomalous": 1, "metrics_not_evaluated": 1}
    quiet = anomaly_check(results[1:], CONFIG)
    assert quiet.passed and quiet.summary.startswith("no anomaly in 1 metrics scored")


def test_available_metrics_follow_the_monitor() -> None:
    monitor = MonitorConfig.model_validate(
        {
            "start_date": "2026-09-01",
            "source": {"table": "t", "timestamp_column": "ts"},
            "service": {"latency_column": "latency_ms"},
            "anomalies": {"metrics": ["latency_p95_ms", "error_rate", "cost_per_request"]},
        }
    )
    assert available_metrics(monitor) == {
        "latency_p95_ms": None,
        "error_rate": "no status column",
        "cost_per_request": "no llm prices",
    }
    # the default list keeps only what the monitor measures
    defaults = monitor.model_copy(update={"anomalies": AnomalyConfig()})
    assert available_metrics(defaults) == {"latency_p95_ms": None}


# -- a lasting change --------------------------------------------------------------------------


def test_a_lasting_change_stays_an_anomaly_until_it_is_absorbed() -> None:
    rng = np.random.default_rng(3)
    start = MONDAY - timedelta(days=28)
    before = weekly(rng, MONDAY, 28, level=1.0, noise=0.03)
    # cost per request +54 % from MONDAY on, lasting
    after = {
        MONDAY + timedelta(days=i): v * 1.54
        for i, v in enumerate(weekly(rng, MONDAY + timedelta(days=30), 30, 1.0, 0.03).values())
    }
    history = before | after
    assert min(history) == start
    verdicts = {d: evaluate("cost_per_request", d, history, CONFIG) for d in sorted(after)[:20]}
    failing = [d for d, r in verdicts.items() if r.failing]
    # every day of the change fails until absorb_after_days (14) anomalous days in a row
    assert failing == sorted(after)[: CONFIG.absorb_after_days]
    eighth = verdicts[MONDAY + timedelta(days=7)]
    assert eighth.left_out == 7 and "baseline without 7 anomalous days since" in eighth.summary
    # the old behaviour (no exclusion) lets the change become its own baseline in week two
    no_memory = AnomalyConfig(absorb_after_days=1)
    assert not evaluate("cost_per_request", MONDAY + timedelta(days=10), history, no_memory).failing


def test_a_one_day_spike_does_not_shift_later_baselines() -> None:
    rng = np.random.default_rng(4)
    history = weekly(rng, MONDAY, 35, level=100.0, noise=0.03)
    spike = MONDAY - timedelta(days=7)
    history[spike] = 400.0
    result = evaluate("latency_p95_ms", MONDAY, history | {MONDAY: 101.0}, CONFIG)
    assert not result.failing and result.left_out == 1


def test_anomalies_are_on_by_default_for_the_metrics_a_monitor_has() -> None:
    base = {
        "start_date": "2026-09-01",
        "source": {"table": "t", "timestamp_column": "ts"},
        "service": {"latency_column": "latency_ms"},
    }
    monitor = MonitorConfig.model_validate(base)
    assert monitor.anomalies is not None and monitor.anomalies.enabled
    assert list(available_metrics(monitor)) == ["latency_p95_ms"]
    off = MonitorConfig.model_validate(base | {"anomalies": {"enabled": False}})
    assert off.anomalies is not None and not off.anomalies.enabled
    reference_only = {
        "start_date": "2026-09-01",
        "source": {"table": "t", "timestamp_column": "ts"},
        "reference": {"table": "r"},
        "features": {"numeric": ["x"]},
    }
    MonitorConfig.model_validate(reference_only)  # no service: no anomalies, no error
    with pytest.raises(ValueError, match="anomalies are measured on service or llm"):
        MonitorConfig.model_validate(reference_only | {"anomalies": {"warn": 5}})
