"""What a rise in the hallucination rate goes with in a business KPI, a few days later.

Pearson's r at each lag (Bonferroni-adjusted over the lags searched), a least-squares slope at
the strongest one, and a one-sentence headline: an association, not a causal effect.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

Status = Literal["ok", "insufficient data", "no variation"]
Constant = Literal["rate", "kpi", "rate and kpi"]
RISE_PP = 0.10  # 10 percentage points, as a share
RISE_RELATIVE = 0.10  # 10 % of the mean rate
MIN_PAIRS = 3  # Pearson's p-value and the slope's interval need n - 2 >= 1

Series = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LagCorrelation:
    """Pearson's r between the rate and the KPI ``lag_days`` later.

    Attributes:
        lag_days: Days from the rate to the KPI.
        n: Days with both a rate and the KPI ``lag_days`` later.
        r: Pearson's r; None under ``min_days`` pairs or with a constant series.
        p_value: Its two-sided p-value, unadjusted; None when ``r`` is.
        constant: The series constant over the pairs, when ``n`` is enough.
    """

    lag_days: int
    n: int
    r: float | None
    p_value: float | None
    constant: Constant | None = None


@dataclass(frozen=True)
class KpiFit:
    """The KPI regressed on the rate at the chosen lag.

    Attributes:
        lag_days: The lag with the largest ``|r|``.
        n: Paired days at that lag.
        r: Pearson's r.
        p_value: Its p-value, unadjusted.
        p_value_adjusted: Bonferroni-adjusted for ``lags_tested`` (capped at 1).
        lags_tested: Lags with enough pairs and both series varying.
        interval_level: Per-lag level of the intervals, ``1 - (1 - confidence) / lags_tested``.
        slope: KPI units per unit of rate (a rate of 1.0 is 100 %).
        slope_stderr: The slope's standard error.
        slope_low: Lower bound of the slope's interval.
        slope_high: Upper bound.
        intercept: The KPI at a rate of 0.
        r_squared: Share of the KPI's variance going with the rate.
        mean_rate: Mean rate over the pairs.
        mean_kpi: Mean KPI over the pairs.
        effect_10pp: KPI units that go with a rise of 10 percentage points in the rate.
        effect_10pp_low: Lower bound.
        effect_10pp_high: Upper bound.
        relative_effect: Share of ``|mean_kpi|`` that goes with a 10 % relative rise from the
            mean rate; None when the mean KPI is 0.
        relative_effect_low: Lower bound.
        relative_effect_high: Upper bound.
    """

    lag_days: int
    n: int
    r: float
    p_value: float
    p_value_adjusted: float
    lags_tested: int
    interval_level: float
    slope: float
    slope_stderr: float
    slope_low: float
    slope_high: float
    intercept: float
    r_squared: float
    mean_rate: float
    mean_kpi: float
    effect_10pp: float
    effect_10pp_low: float
    effect_10pp_high: float
    relative_effect: float | None
    relative_effect_low: float | None
    relative_effect_high: float | None

    @property
    def significant(self) -> bool:
        """Whether the slope's (lag-adjusted) interval excludes 0."""
        return self.slope_low > 0 or self.slope_high < 0


@dataclass(frozen=True)
class KpiImpact:
    """How the KPI goes with the hallucination rate, or why that cannot be said.

    Attributes:
        status: ``ok``, ``insufficient data`` or ``no variation``.
        detail: Why, for a person, when the status is not ``ok``.
        confidence: Level of the (simultaneous) intervals.
        min_days: Pairs needed at a lag.
        max_lag_days: Largest lag tried.
        rate_days: Days with a finite rate.
        kpi_days: Days with a finite KPI.
        rate_dropped: Days whose rate was NaN or infinite.
        kpi_dropped: Days whose KPI was NaN or infinite.
        lags: Every lag tried, from 0.
        fit: The regression at the chosen lag; None unless the status is ``ok``.
        constant: The constant series when the status is ``no variation``.
    """

    status: Status
    detail: str
    confidence: float
    min_days: int
    max_lag_days: int
    rate_days: int
    kpi_days: int
    rate_dropped: int
    kpi_dropped: int
    lags: tuple[LagCorrelation, ...]
    fit: KpiFit | None = None
    constant: Constant | None = None

    @property
    def max_paired_days(self) -> int:
        return max(lag.n for lag in self.lags)

    def metrics(self) -> dict[str, float | int]:
        """Plain numbers for asset metadata; values that do not apply are left out."""
        out: dict[str, float | int] = {
            "rate_days": self.rate_days,
            "kpi_days": self.kpi_days,
            "rate_dropped_non_finite": self.rate_dropped,
            "kpi_dropped_non_finite": self.kpi_dropped,
            "max_paired_days": self.max_paired_days,
        }
        if self.fit is not None:
            fit = self.fit
            values: dict[str, float | int | None] = {
                "lag_days": fit.lag_days,
                "paired_days": fit.n,
                "pearson_r": fit.r,
                "p_value": fit.p_value,
                "p_value_adjusted": fit.p_value_adjusted,
                "lags_tested": fit.lags_tested,
                "slope": fit.slope,
                "slope_stderr": fit.slope_stderr,
                "slope_low": fit.slope_low,
                "slope_high": fit.slope_high,
                "intercept": fit.intercept,
                "r_squared": fit.r_squared,
                "mean_rate": fit.mean_rate,
                "mean_kpi": fit.mean_kpi,
                "effect_per_10pp": fit.effect_10pp,
                "effect_per_10pp_low": fit.effect_10pp_low,
                "effect_per_10pp_high": fit.effect_10pp_high,
                "relative_effect_per_10pct": fit.relative_effect,
                "relative_effect_per_10pct_low": fit.relative_effect_low,
                "relative_effect_per_10pct_high": fit.relative_effect_high,
            }
            out.update({key: value for key, value in values.items() if value is not None})
        return out

    def lag_table_markdown(self) -> str:
        """One row per lag: pairs, r and unadjusted p; the chosen lag is marked."""
        chosen = self.fit.lag_days if self.fit is not None else None
        rows = ["| lag (days) | n | r | p |", "|---:|---:|---:|---:|"]
        for lag in self.lags:
            mark = " (chosen)" if lag.lag_days == chosen else ""
            r = "—" if lag.r is None else f"{lag.r:.3f}"
            p = "—" if lag.p_value is None else f"{lag.p_value:.3g}"
            rows.append(f"| {lag.lag_days}{mark} | {lag.n} | {r} | {p} |")
        return "\n".join(rows)

    def sentence(self, kpi_name: str) -> str:
        """One sentence for a person: the effect, or that none was found, or why not measured."""
        if self.fit is None:
            if self.status == "insufficient data":
                return (
                    f"Too few days to relate the hallucination rate to {kpi_name}: at most "
                    f"{self.max_paired_days} paired days at lags of 0 to {self.max_lag_days} "
                    f"days, {self.min_days} needed."
                )
            what = _CONSTANT_DETAIL[self.constant or "rate and kpi"].replace("the KPI", kpi_name)
            return f"No relationship to {kpi_name} can be measured: {what}."
        fit = self.fit
        level = f"{self.confidence:.0%}".replace("%", " %")
        adjusted = f"adjusted for {fit.lags_tested} lags" if fit.lags_tested > 1 else ""
        interval = f"{level} CI {_num(fit.effect_10pp_low)} to {_num(fit.effect_10pp_high)}"
        interval = f"{interval}, {adjusted}" if adjusted else interval
        p = f"p = {fit.p_value_adjusted:.2g}" + (f" {adjusted}" if adjusted else "")
        if not fit.significant:
            where = (
                "on the same day: "
                if self.max_lag_days == 0
                else f"at lags of 0 to {self.max_lag_days} days: the strongest, "
                f"{_lag_phrase(fit.lag_days)}, has "
            )
            return (
                f"No significant relationship was found between the hallucination rate and "
                f"{kpi_name} {where}r = {fit.r:.2f} over {fit.n} days ({p}), and a rise of 10 "
                f"percentage points goes with {_num(fit.effect_10pp, signed=True)} {kpi_name} "
                f"({interval})."
            )
        relative = ""
        if fit.relative_effect is not None:
            low, high = fit.relative_effect_low or 0.0, fit.relative_effect_high or 0.0
            relative = (
                f"; a 10 % relative rise from the mean rate of {100 * fit.mean_rate:.3g} % goes "
                f"with {_num(100 * fit.relative_effect, signed=True)} % of the mean {kpi_name} "
                f"(CI {_num(100 * low)} to {_num(100 * high)} %)"
            )
        return (
            f"A rise of 10 percentage points in the hallucination rate goes with "
            f"{_num(fit.effect_10pp, signed=True)} {kpi_name} ({interval}) "
            f"{_lag_phrase(fit.lag_days)}{relative} (r = {fit.r:.2f} over {fit.n} days, {p})."
        )


def kpi_impact(
    rates: Mapping[date, float],
    kpi: Mapping[date, float],
    *,
    max_lag_days: int,
    min_days: int = 14,
    confidence: float = 0.95,
) -> KpiImpact:
    """Relate the daily hallucination rate to a daily KPI at the best of several lags.

    Args:
        rates: Hallucination rate (a share, 0 to 1) per day.
        kpi: KPI value per day; days may be missing.
        max_lag_days: Largest lag tried, in days from the rate to the KPI (0 = same day).
        min_days: Paired days needed for a lag to be tested.
        confidence: Level of the intervals, simultaneous over the lags tested.

    Returns:
        The chosen lag's fit with every lag's correlation, or a status saying why there is none.

    Raises:
        ValueError: If ``max_lag_days`` is negative, ``min_days`` is under 3 or ``confidence``
            is not strictly between 0 and 1.
    """
    if max_lag_days < 0:
        raise ValueError(f"max_lag_days must be 0 or more, got {max_lag_days}")
    if min_days < MIN_PAIRS:
        raise ValueError(f"min_days must be at least {MIN_PAIRS}, got {min_days}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")
    clean_rates, rate_dropped = _finite(rates)
    clean_kpi, kpi_dropped = _finite(kpi)
    pairs = {lag: _pairs(clean_rates, clean_kpi, lag) for lag in range(max_lag_days + 1)}
    lags = tuple(_correlate(lag, x, y, min_days) for lag, (x, y) in pairs.items())

    def result(
        status: Status, detail: str, fit: KpiFit | None = None, constant: Constant | None = None
    ) -> KpiImpact:
        return KpiImpact(
            status=status,
            detail=detail,
            confidence=confidence,
            min_days=min_days,
            max_lag_days=max_lag_days,
            rate_days=len(clean_rates),
            kpi_days=len(clean_kpi),
            rate_dropped=rate_dropped,
            kpi_dropped=kpi_dropped,
            lags=lags,
            fit=fit,
            constant=constant,
        )

    enough = [lag for lag in lags if lag.n >= min_days]
    if not enough:
        best = max(lag.n for lag in lags)
        return result(
            "insufficient data",
            f"at most {best} days pair a rate with the KPI at lags of 0 to {max_lag_days} days, "
            f"{min_days} needed",
        )
    tested = [lag for lag in enough if lag.r is not None]
    if not tested:
        constant = _constant([lag.constant or "" for lag in enough])
        return result("no variation", _CONSTANT_DETAIL[constant], constant=constant)
    chosen = max(tested, key=lambda lag: abs(lag.r or 0.0))  # the shortest lag on a tie
    x, y = pairs[chosen.lag_days]
    return result("ok", "", fit=_fit(chosen, x, y, len(tested), confidence))


_CONSTANT_DETAIL: dict[Constant, str] = {
    "rate": "the hallucination rate is constant over the paired days",
    "kpi": "the KPI is constant over the paired days",
    "rate and kpi": "the hallucination rate or the KPI is constant at every lag",
}


def _constant(per_lag: list[str]) -> Constant:
    """The series constant at every lag (each lag has at least one)."""
    rate = all("rate" in name for name in per_lag)
    kpi = all("kpi" in name for name in per_lag)
    if rate != kpi:
        return "rate" if rate else "kpi"
    return "rate and kpi"


def _finite(values: Mapping[date, float]) -> tuple[dict[date, float], int]:
    clean = {day: float(v) for day, v in values.items() if math.isfinite(float(v))}
    return clean, len(values) - len(clean)


def _pairs(
    rates: Mapping[date, float], kpi: Mapping[date, float], lag: int
) -> tuple[Series, Series]:
    shift = timedelta(days=lag)
    days = sorted(day for day in rates if day + shift in kpi)
    x = np.array([rates[day] for day in days], dtype=np.float64)
    y = np.array([kpi[day + shift] for day in days], dtype=np.float64)
    return x, y


def _correlate(lag: int, x: Series, y: Series, min_days: int) -> LagCorrelation:
    n = int(x.size)
    if n < min_days:
        return LagCorrelation(lag_days=lag, n=n, r=None, p_value=None)
    flat_x, flat_y = bool(np.all(x == x[0])), bool(np.all(y == y[0]))
    if flat_x or flat_y:
        constant: Constant = "rate and kpi" if flat_x and flat_y else "rate" if flat_x else "kpi"
        return LagCorrelation(lag_days=lag, n=n, r=None, p_value=None, constant=constant)
    result = stats.pearsonr(x, y)
    return LagCorrelation(
        lag_days=lag, n=n, r=float(result.statistic), p_value=float(result.pvalue)
    )


def _fit(chosen: LagCorrelation, x: Series, y: Series, tested: int, confidence: float) -> KpiFit:
    assert chosen.r is not None and chosen.p_value is not None
    reg = stats.linregress(x, y)
    slope, stderr = float(reg.slope), float(reg.stderr)
    level = 1 - (1 - confidence) / tested
    half = float(stats.t.ppf(0.5 + level / 2, chosen.n - 2)) * stderr
    low, high = slope - half, slope + half
    mean_rate, mean_kpi = float(np.mean(x)), float(np.mean(y))
    scale = RISE_RELATIVE * mean_rate / abs(mean_kpi) if mean_kpi != 0 else None
    return KpiFit(
        lag_days=chosen.lag_days,
        n=chosen.n,
        r=chosen.r,
        p_value=chosen.p_value,
        p_value_adjusted=min(1.0, chosen.p_value * tested),
        lags_tested=tested,
        interval_level=level,
        slope=slope,
        slope_stderr=stderr,
        slope_low=low,
        slope_high=high,
        intercept=float(reg.intercept),
        r_squared=float(reg.rvalue) ** 2,
        mean_rate=mean_rate,
        mean_kpi=mean_kpi,
        effect_10pp=RISE_PP * slope,
        effect_10pp_low=RISE_PP * low,
        effect_10pp_high=RISE_PP * high,
        relative_effect=None if scale is None else scale * slope,
        relative_effect_low=None if scale is None else scale * low,
        relative_effect_high=None if scale is None else scale * high,
    )


def _lag_phrase(lag: int) -> str:
    if lag == 0:
        return "on the same day"
    return "1 day later" if lag == 1 else f"{lag} days later"


def _num(x: float, *, signed: bool = False) -> str:
    sign = "+" if signed else ""
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:{sign},.0f}"
    return f"{x:{sign}.3g}"
