"""Canary and shadow comparison: two model versions serving the same day, and a verdict.

The baseline and candidate are configured, else the version with most rows and the newest other
one. The candidate's p95 latency, error rate, cost per request and predictions against the
baseline's give *roll back*, *hold* or *promote*; a day served by one version has *no canary*.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from monitoring_pipelines.core.canary.stats import (
    CONFIDENCE,
    SIGNIFICANCE,
    Distance,
    MeanRatio,
    ProportionDifference,
    QuantileDifference,
    bootstrap_quantile_difference,
    compare_means,
    prediction_distance,
    two_proportion_test,
)
from monitoring_pipelines.core.config import CanaryConfig
from monitoring_pipelines.core.dimensions import decode
from monitoring_pipelines.core.store.results import MetricRecord

FloatArray = npt.NDArray[np.float64]
ObjectArray = npt.NDArray[np.object_]
Status = Literal["ok", "inconclusive", "degraded", "not_evaluated"]
MAX_VERSIONS_STORED = 20  # per day, largest first: the history candidates are chosen from


class Verdict(StrEnum):
    """What to do with the candidate."""

    PROMOTE = "promote"
    HOLD = "hold"
    ROLL_BACK = "roll back"
    NO_CANARY = "no canary"

    @property
    def code(self) -> int | None:
        """0 promote, 1 hold, 2 roll back (plotted per partition); None without a canary."""
        return {"promote": 0, "hold": 1, "roll back": 2}.get(self.value)


@dataclass(frozen=True)
class DayRows:
    """The day's rows, one entry per row in every array.

    Attributes:
        version: The version that served the row (None when missing).
        latency_ms: Latency in milliseconds (NaN when missing).
        error: 1.0 for an error, 0.0 otherwise, NaN without a status.
        cost_usd: Cost of the request (NaN when its model is unpriced or tokens are missing).
        prediction: The prediction: text labels (None missing) or scores (NaN missing).
        prediction_kind: ``label`` or ``score``, with ``prediction``.
    """

    version: ObjectArray
    latency_ms: FloatArray | None = None
    error: FloatArray | None = None
    cost_usd: FloatArray | None = None
    prediction: npt.NDArray[Any] | None = None
    prediction_kind: Literal["label", "score"] | None = None

    def version_rows(self) -> dict[str, int]:
        """Rows per version, largest first (rows without a version are not counted)."""
        present = self.version[np.array([v is not None for v in self.version], dtype=bool)]
        names, counts = np.unique(present.astype(str), return_counts=True)
        ranked = sorted(zip(names, counts, strict=True), key=lambda nc: (-nc[1], nc[0]))
        return {str(n): int(c) for n, c in ranked}


@dataclass(frozen=True)
class Selection:
    """The versions compared, or why nothing is."""

    baseline: str | None
    candidate: str | None
    how: str


def first_seen(history: Iterable[MetricRecord], before: str) -> dict[str, str]:
    """First partition each version was stored in, among the partitions before ``before``.

    Args:
        history: The stored ``canary_comparison`` metrics.
        before: The partition being computed (ISO date); it and later ones are ignored.
    """
    seen: dict[str, str] = {}
    for row in history:
        partition = row.partition_key
        if row.name != "version_rows" or partition >= before or not row.value:
            continue
        version = decode(row.dimensions).get("version")
        if version is not None and partition < seen.get(version, "9999"):
            seen[version] = partition
    return seen


def choose_versions(
    rows: Mapping[str, int], config: CanaryConfig, seen: Mapping[str, str]
) -> Selection:
    """The baseline and candidate of the day (see the module docstring)."""
    if config.baseline and config.candidate:
        missing = [v for v in (config.baseline, config.candidate) if not rows.get(v)]
        if missing:
            return Selection(None, None, f"{' and '.join(missing)} served no rows")
        return Selection(config.baseline, config.candidate, "configured")
    others = {v: n for v, n in rows.items() if v != config.candidate}
    # Ties go to the name sorting first as baseline and last as candidate (v1 before v2).
    baseline = config.baseline or min(others, key=lambda v: (-others[v], v), default=None)
    if baseline is None or not rows.get(baseline):
        return Selection(None, None, f"{baseline or 'no version'} served no rows")
    if config.candidate:
        if not rows.get(config.candidate):
            return Selection(None, None, f"{config.candidate} served no rows")
        return Selection(baseline, config.candidate, "configured candidate, baseline by rows")
    rivals = {v: n for v, n in rows.items() if v != baseline}
    if not rivals:
        return Selection(None, None, f"only {baseline} served ({rows[baseline]} rows)")
    eligible = {v: n for v, n in rivals.items() if n >= config.min_rows} or rivals
    if any(v in seen for v in eligible):
        today = "9999"  # a version not in the history first appears today: the newest
        candidate = max(eligible, key=lambda v: (seen.get(v, today), eligible[v], v))
        return Selection(baseline, candidate, "baseline by rows, candidate newest in history")
    candidate = max(eligible, key=lambda v: (eligible[v], v))
    return Selection(baseline, candidate, "baseline by rows, candidate second by rows")


@dataclass(frozen=True)
class Assessment:
    """One metric's reading of the candidate against its tolerance."""

    metric: str
    status: Status
    summary: str
    value: float | None = None
    tolerance: float | None = None


@dataclass(frozen=True)
class CanaryResult:
    """The day's comparison and verdict."""

    verdict: Verdict
    selection: Selection
    rows: Mapping[str, int]
    assessments: tuple[Assessment, ...] = ()
    latency: QuantileDifference | None = None
    errors: ProportionDifference | None = None
    cost: MeanRatio | None = None
    prediction: Distance | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def baseline_rows(self) -> int:
        return self.rows.get(self.selection.baseline or "", 0)

    @property
    def candidate_rows(self) -> int:
        return self.rows.get(self.selection.candidate or "", 0)


def compare_day(
    day: DayRows,
    config: CanaryConfig,
    rng: np.random.Generator,
    *,
    seen: Mapping[str, str] | None = None,
    bins: int = 20,
    sample_rows: int = 10_000,
) -> CanaryResult:
    """Compare the day's candidate with its baseline and reach a verdict.

    Args:
        day: The day's rows.
        config: The monitor's canary configuration.
        rng: Random generator for the bootstrap and the samples; seed it from the day.
        seen: First partition each version appeared in (:func:`first_seen`).
        bins: Quantile bins for score predictions (the monitor's ``drift.bins``).
        sample_rows: Values per side for the prediction p-value (``drift.p_value_sample``).
    """
    rows = day.version_rows()
    selection = choose_versions(rows, config, seen or {})
    if selection.baseline is None or selection.candidate is None:
        return CanaryResult(Verdict.NO_CANARY, selection, rows)
    is_b = day.version == selection.baseline
    is_c = day.version == selection.candidate
    latency = errors = cost = prediction = None
    assessments: list[Assessment] = []
    if day.latency_ms is not None:
        b, c = _usable(day.latency_ms[is_b]), _usable(day.latency_ms[is_c])
        if b.size and c.size:
            latency = bootstrap_quantile_difference(b, c, rng, samples=config.bootstrap_samples)
        assessments.append(_assess_latency(latency, (b.size, c.size), config))
    if day.error is not None:
        b, c = _usable(day.error[is_b]), _usable(day.error[is_c])
        if b.size and c.size:
            errors = two_proportion_test(int(b.sum()), b.size, int(c.sum()), c.size)
        assessments.append(_assess_errors(errors, (b.size, c.size), config))
    if day.cost_usd is not None:
        b, c = _usable(day.cost_usd[is_b]), _usable(day.cost_usd[is_c])
        cost = compare_means(b, c)
        assessments.append(_assess_cost(cost, (b.size, c.size), config))
    if day.prediction is not None and day.prediction_kind is not None:
        b, c = _predictions(day.prediction[is_b]), _predictions(day.prediction[is_c])
        if b.size and c.size:
            prediction = prediction_distance(
                b, c, day.prediction_kind, rng, bins=bins, sample_rows=sample_rows
            )
        assessments.append(_assess_prediction(prediction, (b.size, c.size), config))
    verdict, notes = _verdict(rows, selection, assessments, config.min_rows)
    return CanaryResult(
        verdict, selection, rows, tuple(assessments), latency, errors, cost, prediction, notes
    )


def _verdict(
    rows: Mapping[str, int],
    selection: Selection,
    assessments: Sequence[Assessment],
    min_rows: int,
) -> tuple[Verdict, tuple[str, ...]]:
    """Too few rows holds; else a degraded metric rolls back, an inconclusive one holds."""
    pair = (selection.baseline or "", selection.candidate or "")
    too_few = [f"{v} {rows.get(v, 0)}" for v in pair if rows.get(v, 0) < min_rows]
    if too_few:
        return Verdict.HOLD, (f"too few rows: {', '.join(too_few)} (canary.min_rows={min_rows})",)
    statuses = {a.status for a in assessments}
    if "degraded" in statuses:
        return Verdict.ROLL_BACK, ()
    if statuses <= {"not_evaluated"}:
        return Verdict.HOLD, ("nothing to compare: no latency, status, cost or prediction values",)
    if "inconclusive" in statuses:
        return Verdict.HOLD, ()
    return Verdict.PROMOTE, ()


def _usable(values: FloatArray) -> FloatArray:
    kept: FloatArray = values[np.isfinite(values)]
    return kept


def _predictions(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    if values.dtype == object:
        kept: npt.NDArray[Any] = values[np.array([v is not None for v in values], dtype=bool)]
        return kept
    return _usable(values.astype(np.float64))


def _few(metric: str, sizes: tuple[int, int], min_rows: int) -> Assessment | None:
    if min(sizes) == 0:
        return Assessment(metric, "not_evaluated", f"{metric}: no values for one version")
    if min(sizes) < min_rows:
        return Assessment(metric, "inconclusive", f"{metric}: {min(sizes)} values, fewer than "
                          f"canary.min_rows={min_rows}")  # fmt: skip
    return None


def _band(low: float, high: float, tolerance: float) -> Status:
    """Degraded when the interval lies above the tolerance, ok when it lies at or below it,
    inconclusive when it straddles it."""
    if low > tolerance:
        return "degraded"
    return "ok" if high <= tolerance else "inconclusive"


def _assess_latency(
    d: QuantileDifference | None, sizes: tuple[int, int], config: CanaryConfig
) -> Assessment:
    tol = config.max_p95_increase_ms
    few = _few("p95_latency", sizes, config.min_rows)
    if few is not None or d is None:
        return few or Assessment("p95_latency", "not_evaluated", "p95_latency: no values")
    lo, hi = d.interval.low, d.interval.high
    text = (f"p95 latency {d.baseline:.0f} -> {d.candidate:.0f} ms ({d.difference:+.0f} ms, "
            f"{CONFIDENCE:.0%} CI {lo:+.0f}..{hi:+.0f}; tolerance +{tol:g} ms)")  # fmt: skip
    return Assessment("p95_latency", _band(lo, hi, tol), text, d.difference, tol)


def _assess_errors(
    d: ProportionDifference | None, sizes: tuple[int, int], config: CanaryConfig
) -> Assessment:
    tol = config.max_error_rate_increase
    few = _few("error_rate", sizes, config.min_rows)
    if few is not None or d is None:
        return few or Assessment("error_rate", "not_evaluated", "error_rate: no statuses")
    significant = d.p_value < SIGNIFICANCE
    status: Status = "degraded" if d.difference > tol and significant else "ok"
    if status == "ok" and d.interval.high > tol:
        status = "inconclusive"
    text = (f"error rate {d.baseline_rate:.2%} -> {d.candidate_rate:.2%} "
            f"({d.difference:+.2%}, CI {d.interval.low:+.2%}..{d.interval.high:+.2%}, "
            f"p {d.p_value:.2g}; tolerance +{tol:.2%})")  # fmt: skip
    return Assessment("error_rate", status, text, d.difference, tol)


def _assess_cost(d: MeanRatio | None, sizes: tuple[int, int], config: CanaryConfig) -> Assessment:
    tol = config.max_cost_increase
    few = _few("cost_per_request", sizes, config.min_rows)
    if few is not None or d is None:
        return few or Assessment(
            "cost_per_request", "not_evaluated", "cost_per_request: no positive priced cost"
        )
    significant = d.p_value < SIGNIFICANCE
    status: Status = "degraded" if d.relative_change > tol and significant else "ok"
    if status == "ok" and d.interval.high > tol:
        status = "inconclusive"
    text = (f"cost per request ${d.baseline_mean:.5f} -> ${d.candidate_mean:.5f} "
            f"({d.relative_change:+.1%}, CI {d.interval.low:+.1%}..{d.interval.high:+.1%}, "
            f"p {d.p_value:.2g}; tolerance +{tol:.0%})")  # fmt: skip
    return Assessment("cost_per_request", status, text, d.relative_change, tol)


def _assess_prediction(
    d: Distance | None, sizes: tuple[int, int], config: CanaryConfig
) -> Assessment:
    tol = config.max_prediction_drift
    few = _few("prediction_drift", sizes, config.min_rows)
    if few is not None or d is None:
        return few or Assessment("prediction_drift", "not_evaluated", "prediction: no values")
    significant = d.p_value is not None and d.p_value < SIGNIFICANCE
    status: Status = "ok"
    if d.score > tol:
        status = "degraded" if significant else "inconclusive"
    p = "no p-value" if d.p_value is None else f"p {d.p_value:.2g}"
    text = f"predictions {d.statistic} {d.score:.3f} ({p}; tolerance {tol:g})"
    return Assessment("prediction_drift", status, text, d.score, tol)
