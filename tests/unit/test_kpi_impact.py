"""The KPI impact of the hallucination rate: lag search, slope interval and edge cases,
against scipy on the same pairs."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pytest
from scipy import stats

from monitoring_pipelines.core.hallucination.kpi_impact import kpi_impact

START = date(2024, 3, 1)
TRUE_SLOPE = 400.0  # tickets per unit of rate: +40 tickets per 10 percentage points
TRUE_LAG = 2


def days(n: int) -> list[date]:
    return [START + timedelta(days=i) for i in range(n)]


def lagged_series(
    n: int = 120, seed: int = 7, slope: float = TRUE_SLOPE, noise: float = 8.0
) -> tuple[dict[date, float], dict[date, float]]:
    """Rates around 5 %; tickets two days later rise with them, plus noise."""
    rng = np.random.default_rng(seed)
    rate = rng.uniform(0.02, 0.10, size=n)
    kpi = {
        day + timedelta(days=TRUE_LAG): 100.0 + slope * rate[i] + rng.normal(0.0, noise)
        for i, day in enumerate(days(n))
    }
    return dict(zip(days(n), rate.tolist(), strict=True)), kpi


def pairs(rates: dict[date, float], kpi: dict[date, float], lag: int) -> tuple[list[float], ...]:
    shift = timedelta(days=lag)
    common = sorted(d for d in rates if d + shift in kpi and math.isfinite(rates[d]))
    common = [d for d in common if math.isfinite(kpi[d + shift])]
    return [rates[d] for d in common], [kpi[d + shift] for d in common]


def test_known_effect_at_lag_two_is_found_and_matches_scipy() -> None:
    rates, kpi = lagged_series()
    impact = kpi_impact(rates, kpi, max_lag_days=7)

    assert impact.status == "ok"
    fit = impact.fit
    assert fit is not None
    assert fit.lag_days == TRUE_LAG
    assert fit.lags_tested == 8
    assert fit.slope_low < TRUE_SLOPE < fit.slope_high
    assert fit.significant

    x, y = pairs(rates, kpi, TRUE_LAG)
    assert fit.n == len(x) == 120
    pearson = stats.pearsonr(x, y)
    assert fit.r == pytest.approx(pearson.statistic, rel=1e-12)
    assert fit.p_value == pytest.approx(pearson.pvalue, rel=1e-9)
    assert fit.p_value_adjusted == pytest.approx(min(1.0, 8 * pearson.pvalue), rel=1e-9)
    reg = stats.linregress(x, y)
    assert fit.slope == pytest.approx(reg.slope, rel=1e-12)
    assert fit.slope_stderr == pytest.approx(reg.stderr, rel=1e-12)
    assert fit.intercept == pytest.approx(reg.intercept, rel=1e-12)
    assert fit.r_squared == pytest.approx(reg.rvalue**2, rel=1e-12)
    half = stats.t.ppf(1 - 0.05 / (2 * 8), len(x) - 2) * reg.stderr
    assert (fit.slope_low, fit.slope_high) == pytest.approx(
        (reg.slope - half, reg.slope + half), rel=1e-12
    )

    # Every lag's r and p are scipy's on that lag's pairs.
    for lag in impact.lags:
        lx, ly = pairs(rates, kpi, lag.lag_days)
        assert lag.n == len(lx)
        expected = stats.pearsonr(lx, ly)
        assert lag.r == pytest.approx(expected.statistic, rel=1e-12)
        assert lag.p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)


def test_headline_effects_in_absolute_and_relative_terms() -> None:
    rates, kpi = lagged_series()
    fit = kpi_impact(rates, kpi, max_lag_days=7).fit
    assert fit is not None

    assert fit.effect_10pp == pytest.approx(0.1 * fit.slope)
    assert (fit.effect_10pp_low, fit.effect_10pp_high) == pytest.approx(
        (0.1 * fit.slope_low, 0.1 * fit.slope_high)
    )
    assert fit.effect_10pp == pytest.approx(0.1 * TRUE_SLOPE, rel=0.15)
    x, y = pairs(rates, kpi, TRUE_LAG)
    # A 10 % relative rise of a ~6 % rate is ~0.6 pp: ~2.4 tickets of ~124.
    expected = fit.slope * 0.1 * np.mean(x) / np.mean(y)
    assert fit.relative_effect == pytest.approx(expected, rel=1e-12)
    assert fit.relative_effect_low is not None and fit.relative_effect_high is not None
    assert fit.relative_effect_low < fit.relative_effect < fit.relative_effect_high


def test_sentence_and_outputs_of_a_found_effect() -> None:
    rates, kpi = lagged_series()
    impact = kpi_impact(rates, kpi, max_lag_days=7)
    fit = impact.fit
    assert fit is not None

    sentence = impact.sentence("support tickets")
    assert sentence.startswith("A rise of 10 percentage points in the hallucination rate goes")
    assert "2 days later" in sentence
    assert f"{fit.effect_10pp:+.3g} support tickets" in sentence
    assert "95 % CI" in sentence
    assert "adjusted for 8 lags" in sentence
    assert "% of the mean support tickets" in sentence
    assert "caus" not in sentence

    metrics = impact.metrics()
    assert metrics["lag_days"] == 2
    assert metrics["slope"] == fit.slope
    assert metrics["effect_per_10pp"] == fit.effect_10pp
    assert all(isinstance(v, int | float) and math.isfinite(v) for v in metrics.values())

    table = impact.lag_table_markdown().splitlines()
    assert table[0] == "| lag (days) | n | r | p |"
    assert len(table) == 2 + 8
    assert table[2 + TRUE_LAG].startswith("| 2 (chosen) | 120 |")


def test_no_relationship_spans_zero_and_says_so() -> None:
    rates, kpi = lagged_series(slope=0.0, seed=11)
    impact = kpi_impact(rates, kpi, max_lag_days=7)
    fit = impact.fit
    assert impact.status == "ok" and fit is not None
    assert fit.slope_low < 0 < fit.slope_high
    assert not fit.significant
    assert fit.p_value_adjusted >= 0.05
    assert impact.sentence("tickets").startswith(
        "No significant relationship was found between the hallucination rate and tickets "
        "at lags of 0 to 7 days"
    )


def test_interval_excludes_zero_exactly_when_adjusted_p_is_significant() -> None:
    for seed in range(30):
        rates, kpi = lagged_series(n=30, seed=seed, slope=150.0)
        fit = kpi_impact(rates, kpi, max_lag_days=3).fit
        assert fit is not None
        assert fit.significant == (fit.p_value_adjusted < 0.05)


def test_too_few_days_at_every_lag_is_insufficient_data() -> None:
    rates, kpi = lagged_series(n=15)
    impact = kpi_impact(rates, kpi, max_lag_days=3, min_days=16)
    # 15 rate days against the 15 KPI days two days on: the overlap depends on the lag.
    assert impact.status == "insufficient data"
    assert impact.fit is None
    assert [lag.n for lag in impact.lags] == [13, 14, 15, 14]
    assert impact.max_paired_days == 15
    assert "at most 15 days" in impact.detail


def test_insufficient_data_when_no_lag_has_min_days() -> None:
    rates, kpi = lagged_series(n=10)
    impact = kpi_impact(rates, kpi, max_lag_days=2, min_days=14)
    assert impact.status == "insufficient data"
    assert impact.fit is None
    assert all(lag.r is None and lag.p_value is None for lag in impact.lags)
    assert impact.max_paired_days == 10
    assert impact.sentence("tickets") == (
        "Too few days to relate the hallucination rate to tickets: at most 10 paired days at "
        "lags of 0 to 2 days, 14 needed."
    )
    assert "pearson_r" not in impact.metrics()
    assert impact.metrics()["max_paired_days"] == 10


def test_empty_inputs_are_insufficient_data() -> None:
    impact = kpi_impact({}, {}, max_lag_days=0)
    assert impact.status == "insufficient data"
    assert impact.max_paired_days == 0


@pytest.mark.parametrize(
    ("constant", "flat_rate", "flat_kpi"),
    [("rate", True, False), ("kpi", False, True), ("rate and kpi", True, True)],
)
def test_constant_series_is_no_variation(constant: str, flat_rate: bool, flat_kpi: bool) -> None:
    rates, kpi = lagged_series(n=40)
    if flat_rate:
        rates = dict.fromkeys(rates, 0.05)
    if flat_kpi:
        kpi = dict.fromkeys(kpi, 120.0)
    impact = kpi_impact(rates, kpi, max_lag_days=3)
    assert impact.status == "no variation"
    assert impact.constant == constant
    assert impact.fit is None
    assert all(lag.r is None for lag in impact.lags)
    sentence = impact.sentence("tickets")
    assert sentence.startswith("No relationship to tickets can be measured")
    assert "constant" in sentence
    assert all(math.isfinite(v) for v in impact.metrics().values())


def test_non_finite_values_are_dropped_and_counted() -> None:
    rates, kpi = lagged_series()
    all_days = sorted(rates)
    rates[all_days[5]] = math.nan
    rates[all_days[6]] = math.inf
    kpi_days = sorted(kpi)
    kpi[kpi_days[20]] = -math.inf
    impact = kpi_impact(rates, kpi, max_lag_days=7)

    assert (impact.rate_dropped, impact.kpi_dropped) == (2, 1)
    assert (impact.rate_days, impact.kpi_days) == (118, 119)
    # Rate days 5 and 6 and the KPI of rate day 18 leave 117 of the 120 pairs at lag 2.
    fit = impact.fit
    assert fit is not None and fit.lag_days == TRUE_LAG
    x, y = pairs(rates, kpi, TRUE_LAG)
    assert fit.n == len(x) == 117
    assert fit.r == pytest.approx(stats.pearsonr(x, y).statistic, rel=1e-12)
    assert math.isfinite(fit.slope)
    metrics = impact.metrics()
    assert metrics["rate_dropped_non_finite"] == 2
    assert metrics["kpi_dropped_non_finite"] == 1


def test_gaps_in_the_kpi_are_paired_on_dates() -> None:
    rates, kpi = lagged_series()
    # Drop every weekend day from the KPI (no tickets counted on weekends).
    kpi = {day: v for day, v in kpi.items() if day.weekday() < 5}
    impact = kpi_impact(rates, kpi, max_lag_days=7)
    fit = impact.fit
    assert fit is not None and fit.lag_days == TRUE_LAG
    x, y = pairs(rates, kpi, TRUE_LAG)
    assert fit.n == len(x) < 120
    reg = stats.linregress(x, y)
    assert fit.slope == pytest.approx(reg.slope, rel=1e-12)
    assert fit.slope_low < TRUE_SLOPE < fit.slope_high
    # Shifting the KPI by two positions instead of two dates misaligns the days after each gap.
    values = [kpi[d] for d in sorted(kpi)]
    naive = stats.pearsonr([rates[d] for d in sorted(rates)][: len(values)], values)
    assert fit.r > 0.7 > abs(naive.statistic) + 0.5


def test_max_lag_zero_tests_the_same_day_only() -> None:
    rng = np.random.default_rng(3)
    rate = rng.uniform(0.02, 0.10, size=60)
    rates = dict(zip(days(60), rate.tolist(), strict=True))
    kpi = {d: 50.0 + 300.0 * r + rng.normal(0.0, 5.0) for d, r in rates.items()}
    impact = kpi_impact(rates, kpi, max_lag_days=0)

    assert len(impact.lags) == 1
    fit = impact.fit
    assert fit is not None and fit.lag_days == 0 and fit.lags_tested == 1
    assert fit.p_value_adjusted == fit.p_value
    assert fit.interval_level == pytest.approx(0.95)
    reg = stats.linregress(list(rates.values()), list(kpi.values()))
    half = stats.t.ppf(0.975, 58) * reg.stderr
    assert (fit.slope_low, fit.slope_high) == pytest.approx(
        (reg.slope - half, reg.slope + half), rel=1e-12
    )
    sentence = impact.sentence("tickets")
    assert "on the same day" in sentence
    assert "adjusted" not in sentence


def test_short_lags_are_not_tested_but_longer_ones_are() -> None:
    rates, kpi = lagged_series(n=20)
    impact = kpi_impact(rates, kpi, max_lag_days=7, min_days=15)
    tested = [lag.lag_days for lag in impact.lags if lag.r is not None]
    assert tested == [lag.lag_days for lag in impact.lags if lag.n >= 15]
    assert impact.fit is not None and impact.fit.lags_tested == len(tested)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_lag_days": -1}, "max_lag_days"),
        ({"max_lag_days": 3, "min_days": 2}, "min_days"),
        ({"max_lag_days": 3, "confidence": 1.0}, "confidence"),
    ],
)
def test_rejects_bad_arguments(kwargs: dict[str, float], message: str) -> None:
    rates, kpi = lagged_series(n=30)
    with pytest.raises(ValueError, match=message):
        kpi_impact(rates, kpi, **kwargs)  # type: ignore[arg-type]
