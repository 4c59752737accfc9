"""The canary comparison: its statistics against scipy and brute force, the choice of the
versions, and the verdict table (promote, hold, roll back, no canary)."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from monitoring_pipelines.core.canary.check import canary_check, day_rows, stored_metrics
from monitoring_pipelines.core.canary.compare import (
    DayRows,
    Selection,
    Verdict,
    choose_versions,
    compare_day,
    first_seen,
)
from monitoring_pipelines.core.canary.stats import (
    bootstrap_quantile_difference,
    bootstrap_quantiles,
    compare_means,
    prediction_distance,
    two_proportion_test,
)
from monitoring_pipelines.core.config import CanaryConfig, MonitorConfig, Severity
from monitoring_pipelines.core.dimensions import dimensions
from monitoring_pipelines.core.stats.inference import wilson_interval_at as wilson_interval
from monitoring_pipelines.core.store.results import MetricRecord

CONFIG = CanaryConfig(version_column="version")
LABELS = np.array(["positive", "neutral", "negative"], dtype=object)


# --- statistics ---------------------------------------------------------------------------------


def test_order_statistic_bootstrap_has_the_distribution_of_resampling_every_row() -> None:
    rng = np.random.default_rng(1)
    values = rng.lognormal(4.0, 0.5, 301)
    fast = bootstrap_quantiles(values, 0.95, 20_000, np.random.default_rng(2))
    index = np.random.default_rng(3).integers(0, values.size, size=(20_000, values.size))
    brute = np.quantile(values[index], 0.95, axis=1)
    probes = [0.01, 0.1, 0.5, 0.9, 0.99]
    assert np.quantile(fast, probes) == pytest.approx(np.quantile(brute, probes), rel=0.02)
    assert fast.std() == pytest.approx(brute.std(), rel=0.05)
    assert stats.ks_2samp(fast, brute).pvalue > 0.001
    # Ends of the range, where one order statistic decides it.
    assert bootstrap_quantiles(values, 1.0, 50, rng).max() <= values.max()
    assert set(bootstrap_quantiles(np.array([7.0]), 0.95, 10, rng)) == {7.0}


def test_bootstrap_interval_covers_the_true_p95_difference() -> None:
    """98 % intervals over 200 synthetic days: coverage near nominal, never far below."""
    z95 = stats.norm.ppf(0.95)
    true = (130 + 25 * z95) - (100 + 20 * z95)
    rng = np.random.default_rng(20260901)
    covered, widths = 0, []
    for _ in range(200):
        baseline = rng.normal(100, 20, 2000)
        candidate = rng.normal(130, 25, 500)
        d = bootstrap_quantile_difference(baseline, candidate, rng, samples=1000)
        covered += d.interval.low <= true <= d.interval.high
        widths.append(d.interval.high - d.interval.low)
        assert d.difference == pytest.approx(
            np.quantile(candidate, 0.95) - np.quantile(baseline, 0.95)
        )
    assert 0.94 <= covered / 200 <= 1.0
    assert 8 < np.median(widths) < 20  # about 2 x 2.33 x 2.3 ms of standard error


def test_bootstrap_is_reproducible_from_its_seed_and_rejects_an_empty_side() -> None:
    x, y = np.arange(100.0), np.arange(50.0) + 10
    first = bootstrap_quantile_difference(x, y, np.random.default_rng(7))
    assert first == bootstrap_quantile_difference(x, y, np.random.default_rng(7))
    assert first != bootstrap_quantile_difference(x, y, np.random.default_rng(8))
    with pytest.raises(ValueError, match="both sides"):
        bootstrap_quantile_difference(x, np.zeros(0), np.random.default_rng(7))


@pytest.mark.parametrize(
    ("errors_b", "n_b", "errors_c", "n_c"),
    [(12, 4000, 9, 400), (3, 5000, 40, 800), (0, 300, 0, 250), (50, 200, 20, 200)],
)
def test_two_proportion_test_matches_scipy(
    errors_b: int, n_b: int, errors_c: int, n_c: int
) -> None:
    d = two_proportion_test(errors_b, n_b, errors_c, n_c)
    table = np.array([[errors_b, n_b - errors_b], [errors_c, n_c - errors_c]])
    if errors_b + errors_c == 0:
        assert (d.z, d.p_value) == (0.0, 0.5)
        return
    chi2, p_two, _, _ = stats.chi2_contingency(table, correction=False)
    assert d.z**2 == pytest.approx(chi2)
    assert d.p_value == pytest.approx(stats.norm.sf(d.z))
    assert min(d.p_value, 1 - d.p_value) == pytest.approx(p_two / 2)
    assert d.difference == pytest.approx(errors_c / n_c - errors_b / n_b)


def test_wilson_and_newcombe_intervals_match_scipy_and_the_published_example() -> None:
    for events, trials in ((0, 300), (7, 400), (399, 400)):
        expected = stats.binomtest(events, trials).proportion_ci(0.98, method="wilson")
        got = wilson_interval(events, trials, 0.98)
        assert (got.low, got.high) == pytest.approx((expected.low, expected.high))
    # Newcombe (1998), Statistics in Medicine 17:873, table II: 56/70 - 48/80, method 10.
    d = two_proportion_test(48, 80, 56, 70, confidence=0.95)
    assert (d.interval.low, d.interval.high) == pytest.approx((0.0524, 0.3339), abs=5e-5)
    # Zero errors on both sides still leaves room for a difference.
    assert two_proportion_test(0, 300, 0, 250).interval.high > 0.01


def test_mean_ratio_matches_welch_and_refuses_what_has_no_ratio() -> None:
    rng = np.random.default_rng(4)
    b, c = rng.gamma(2.0, 0.001, 3000), rng.gamma(2.0, 0.0012, 600)
    ratio = compare_means(b, c)
    assert ratio is not None
    welch = stats.ttest_ind(c, b, equal_var=False)
    assert ratio.p_value == pytest.approx(stats.norm.sf(welch.statistic))
    assert ratio.relative_change == pytest.approx(c.mean() / b.mean() - 1)
    assert ratio.interval.low < ratio.relative_change < ratio.interval.high
    assert compare_means(b, np.array([0.001])) is None
    assert compare_means(np.zeros(10), c) is None


def test_prediction_distance_is_the_drift_engines_statistic() -> None:
    rng = np.random.default_rng(5)
    b = rng.choice(LABELS, 3000, p=[0.5, 0.2, 0.3])
    c = rng.choice(LABELS, 600, p=[0.35, 0.4, 0.25])
    d = prediction_distance(b, c, "label", rng)
    counts = [pd.Series(x).value_counts().reindex(sorted(LABELS)).to_numpy() for x in (b, c)]
    assert d.statistic == "jensen_shannon"
    assert d.score == pytest.approx(jensenshannon(counts[0], counts[1], base=2))
    assert d.p_value == pytest.approx(stats.chi2_contingency(counts, correction=False)[1])

    scores_b, scores_c = rng.normal(0.3, 0.1, 4000), rng.normal(0.35, 0.1, 800)
    w = prediction_distance(scores_b, scores_c, "score", rng)
    exact = stats.wasserstein_distance(scores_b, scores_c) / scores_b.std()
    assert w.statistic == "wasserstein"
    assert w.score == pytest.approx(exact, rel=0.05)
    assert w.p_value == pytest.approx(stats.ks_2samp(scores_b, scores_c).pvalue)


# --- choosing the versions ---------------------------------------------------------------------


def test_explicit_versions_are_compared_when_both_serve() -> None:
    config = CONFIG.model_copy(update=dict(baseline="v1", candidate="v2"))
    assert choose_versions({"v3": 900, "v1": 500, "v2": 50}, config, {}) == Selection(
        "v1", "v2", "configured"
    )
    assert choose_versions({"v1": 500}, config, {}).candidate is None


def test_candidate_is_the_newest_version_in_the_history_else_the_second_largest() -> None:
    rows = {"v2": 5000, "v1": 900, "v3": 400, "v4": 30}
    history = [
        MetricRecord(p, "version_rows", dimensions(version=v), 10.0)
        for v, p in (("v1", "2026-09-01"), ("v2", "2026-09-03"), ("v3", "2026-09-05"),
                     ("v9", "2026-09-09"))
    ]  # fmt: skip
    seen = first_seen(history, before="2026-09-08")
    assert seen == {"v1": "2026-09-01", "v2": "2026-09-03", "v3": "2026-09-05"}
    chosen = choose_versions(rows, CONFIG, seen)
    # v4 is newest but under min_rows; v3 is newer than v1.
    assert (chosen.baseline, chosen.candidate) == ("v2", "v3")
    assert (choose_versions(rows, CONFIG, {}).candidate) == "v1"
    assert choose_versions({"v1": 900, "v2": 30}, CONFIG, {}).candidate == "v2"
    assert choose_versions({"v1": 900}, CONFIG, seen).how == "only v1 served (900 rows)"
    assert choose_versions({}, CONFIG, {}).candidate is None


# --- the verdict table -------------------------------------------------------------------------


def make_day(
    rng: np.random.Generator,
    n_b: int = 5000,
    n_c: int = 5000,
    *,
    slower: float = 1.0,
    error_c: float = 0.003,
    cost_c: float = 1.0,
    labels_c: tuple[float, float, float] = (0.5, 0.2, 0.3),
) -> DayRows:
    n = n_b + n_c
    candidate = np.arange(n) >= n_b
    latency = 80 * np.exp(0.38 * rng.standard_normal(n)) * np.where(candidate, slower, 1.0)
    error = rng.random(n) < np.where(candidate, error_c, 0.003)
    cost = rng.gamma(4.0, 0.0005, n) * np.where(candidate, cost_c, 1.0)
    labels = np.where(
        candidate,
        rng.choice(LABELS, n, p=list(labels_c)),
        rng.choice(LABELS, n, p=[0.5, 0.2, 0.3]),
    )
    return DayRows(
        version=np.where(candidate, "v2", "v1").astype(object),
        latency_ms=latency,
        error=error.astype(np.float64),
        cost_usd=cost,
        prediction=labels.astype(object),
        prediction_kind="label",
    )


CASES: dict[str, tuple[dict[str, Any], Verdict, set[str]]] = {
    "same release": ({}, Verdict.PROMOTE, set()),
    "small canary: intervals straddle": ({"n_c": 300}, Verdict.HOLD, set()),
    "tiny canary": ({"n_c": 120}, Verdict.HOLD, set()),
    "slower": ({"slower": 1.5}, Verdict.ROLL_BACK, {"p95_latency"}),
    "more errors": ({"error_c": 0.02}, Verdict.ROLL_BACK, {"error_rate"}),
    "dearer": ({"cost_c": 1.3}, Verdict.ROLL_BACK, {"cost_per_request"}),
    "other predictions": ({"labels_c": (0.2, 0.5, 0.3)}, Verdict.ROLL_BACK, {"prediction_drift"}),
    "slower on a tiny canary": ({"n_c": 120, "slower": 3.0}, Verdict.HOLD, set()),
}


@pytest.mark.parametrize("case", list(CASES))
def test_verdict_table(case: str) -> None:
    kwargs, verdict, degraded = CASES[case]
    day = make_day(np.random.default_rng(11), **kwargs)
    config = CONFIG.model_copy(update=dict(bootstrap_samples=500))
    result = compare_day(day, config, np.random.default_rng(12))
    assert result.verdict is verdict, [a.summary for a in result.assessments]
    assert (result.selection.baseline, result.selection.candidate) == ("v1", "v2")
    assert {a.metric for a in result.assessments if a.status == "degraded"} == degraded
    outcome = canary_check(result)
    assert outcome.passed is (verdict is not Verdict.ROLL_BACK)
    assert outcome.summary.startswith(f"{verdict.value} v2 (vs v1): ")
    assert outcome.metadata["verdict_code"] == verdict.code
    if verdict is Verdict.ROLL_BACK:
        assert outcome.severity is Severity.CRITICAL
        assert outcome.findings[0].threshold is not None


def test_hold_names_what_is_missing() -> None:
    small = compare_day(
        make_day(np.random.default_rng(1), n_c=300), CONFIG, np.random.default_rng(2)
    )
    # 300 rows cannot bound a p95 within 20 ms, nor an error rate within half a point.
    inconclusive = [a.metric for a in small.assessments if a.status == "inconclusive"]
    assert inconclusive == ["p95_latency", "error_rate"]
    assert "p95 latency" in canary_check(small).summary
    assert "error rate" in canary_check(small).summary
    tiny = compare_day(
        make_day(np.random.default_rng(1), n_c=120), CONFIG, np.random.default_rng(2)
    )
    assert canary_check(tiny).summary.startswith("hold v2 (vs v1): too few rows: v2 120 ")


def test_roll_back_finding_carries_the_decisive_number() -> None:
    result = compare_day(
        make_day(np.random.default_rng(3), slower=2.0), CONFIG, np.random.default_rng(4)
    )
    finding = canary_check(result).findings[0]
    assert result.latency is not None
    assert (finding.subject, finding.value, finding.threshold) == (
        "", result.latency.difference, CONFIG.max_p95_increase_ms,
    )  # fmt: skip
    assert result.latency.interval.low > CONFIG.max_p95_increase_ms
    assert "p95 latency" in finding.summary


def test_one_version_only_is_no_canary_and_passes() -> None:
    day = DayRows(version=np.full(500, "v1", dtype=object), latency_ms=np.ones(500))
    result = compare_day(day, CONFIG, np.random.default_rng(0))
    outcome = canary_check(result)
    assert result.verdict is Verdict.NO_CANARY and result.verdict.code is None
    assert outcome.passed and outcome.summary == "no canary today: only v1 served (500 rows)"
    assert "verdict_code" not in outcome.metadata
    assert stored_metrics(result) == {
        ("versions_serving", ""): 1.0,
        ("version_rows", dimensions(version="v1")): 500.0,
    }


def test_tiny_and_empty_days_hold_or_say_no_canary_without_failing() -> None:
    empty = DayRows(version=np.zeros(0, dtype=object), latency_ms=np.zeros(0))
    assert compare_day(empty, CONFIG, np.random.default_rng(0)).verdict is Verdict.NO_CANARY
    tiny = DayRows(
        version=np.array(["v1", "v2", None, "v1"], dtype=object),
        latency_ms=np.array([10.0, np.nan, 30.0, 12.0]),
        error=np.array([0.0, 1.0, np.nan, 0.0]),
        prediction=np.array(["a", None, "b", "a"], dtype=object),
        prediction_kind="label",
    )
    result = compare_day(tiny, CONFIG, np.random.default_rng(0))
    assert result.verdict is Verdict.HOLD
    assert result.rows == {"v1": 2, "v2": 1}
    status = {a.metric: a.status for a in result.assessments}
    assert status == {
        "p95_latency": "not_evaluated", "error_rate": "inconclusive",
        "prediction_drift": "not_evaluated",
    }  # fmt: skip
    assert canary_check(result).passed
    bare = DayRows(version=np.array(["v1"] * 300 + ["v2"] * 300, dtype=object))
    nothing = compare_day(bare, CONFIG, np.random.default_rng(0))
    assert nothing.verdict is Verdict.HOLD and "nothing to compare" in nothing.notes[0]


# --- reading the slice's columns ---------------------------------------------------------------


def test_day_rows_converts_units_classifies_statuses_and_prices_requests() -> None:
    monitor = MonitorConfig.model_validate(
        {
            "start_date": "2026-09-01",
            "source": {"table": "t", "timestamp_column": "ts"},
            "service": {"latency_column": "latency", "latency_unit": "s", "status_column": "code"},
            "llm": {
                "model_column": "model", "prompt_tokens_column": "p",
                "completion_tokens_column": "c",
                "prices": [{"model": "m1", "input_per_1k": 1.0, "output_per_1k": 2.0,
                            "effective_from": "2026-09-05"}],
            },
            "canary": {"version_column": "version"},
        }
    )  # fmt: skip
    frame = pd.DataFrame(
        {
            "version": ["a", None, "b", "b"],
            "latency": [0.12, -1.0, None, 0.3],
            "code": ["200", "503", None, "404"],
            "model": ["m1", "m1", "m2", None],
            "p": [1000.0, -5.0, 100.0, 100.0],
            "c": [500.0, 10.0, 100.0, 100.0],
        }
    )
    rows = day_rows(frame, monitor, date(2026, 9, 5))
    assert list(rows.version) == ["a", None, "b", "b"]
    assert rows.latency_ms is not None and rows.error is not None and rows.cost_usd is not None
    np.testing.assert_allclose(rows.latency_ms, [120.0, np.nan, np.nan, 300.0])
    np.testing.assert_allclose(rows.error, [0.0, 1.0, np.nan, 0.0])
    # m1 at 1 + 2 per 1k tokens; negative tokens, an unpriced model and no model cost nothing known.
    np.testing.assert_allclose(rows.cost_usd, [2.0, np.nan, np.nan, np.nan])
    before_price = day_rows(frame, monitor, date(2026, 9, 4)).cost_usd
    assert before_price is not None and np.isnan(before_price).all()
