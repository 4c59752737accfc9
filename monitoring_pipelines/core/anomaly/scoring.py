"""Anomalies in operational metrics: each day's robust z against its trailing baseline.

Median and MAD of the baseline days (the same weekday's, by default), floored so that a flat
baseline or a small count does not page on noise. The trailing live days come first; while they
are fewer than the window, the reference's latest days top it up (README.md, "Anomalies").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from statistics import median
from typing import Literal

from monitoring_pipelines.core.anomaly.drivers import Driver, find_driver, parts
from monitoring_pipelines.core.anomaly.metrics import (
    AnomalyMetric,
    MetricValues,
    ReferenceDays,
    day_values,
    status_rows,
)
from monitoring_pipelines.core.checks import CheckOutcome, Finding
from monitoring_pipelines.core.config import AnomalyConfig, Severity
from monitoring_pipelines.core.stats.inference import MAD_TO_SD, median_absolute_deviation, robust_z
from monitoring_pipelines.core.wording import count

Direction = Literal["up", "both"]
Mode = Literal["weekday", "pooled"]
Status = Literal["ok", "warn", "critical", "not_evaluated"]
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

CHECK = "anomaly"
MAD_FLOOR_FRACTION = 0.02  # a metric is never steadier than +-3 % (1.4826 x 2 %) a day

DIRECTIONS: Mapping[AnomalyMetric, Direction] = {
    "cost_per_request": "up",
    "tokens_per_request": "up",
    "latency_p95_ms": "up",
    "error_rate": "up",
    "requests": "both",
    "answer_words_p50": "both",
    "answer_words_p95": "both",
}


@dataclass(frozen=True)
class Baseline:
    """What the day is compared with.

    Attributes:
        days: Baseline days with a value (all of them shape the spread).
        weekday_days: Of those, days on the day's weekday.
        mode: ``weekday`` (expected from the same weekday) or ``pooled`` (from all days).
        expected: The median the day is compared with.
        mad: The MAD the z divides by, after the floor.
        raw_mad: The MAD before the floor.
        reference_days: Of ``days``, days of the reference (topping up a short live history).
        weekday_reference_days: Of ``weekday_days``, days of the reference.
        basis: The days ``expected`` is the median of (the weekday's, or all in pooled mode).
    """

    days: int
    weekday_days: int
    mode: Mode
    expected: float
    mad: float
    raw_mad: float
    reference_days: int = 0
    weekday_reference_days: int = 0
    basis: tuple[date, ...] = ()

    @property
    def floored(self) -> bool:
        return self.mad > self.raw_mad


@dataclass(frozen=True)
class MetricAnomaly:
    """One metric's verdict on one day.

    Attributes:
        metric: The metric.
        status: ``ok``, ``warn``, ``critical`` or ``not_evaluated``.
        value: The day's value (None when the day has none).
        baseline: The baseline (None when there were too few days).
        baseline_days: Baseline days with a value, even when too few.
        z: Robust z of the day (None when not evaluated).
        relative_change: (value - expected) / |expected| (inf from a zero baseline).
        summary: One line a person reads in an alert.
        left_out: Earlier days kept out of the baseline as part of an ongoing change.
        live_only: Why the baseline has no reference days (None: it may have them).
        driver: The breakdown value that drove a failing day, where the day's parts are stored.
    """

    metric: AnomalyMetric
    status: Status
    value: float | None
    baseline: Baseline | None
    baseline_days: int
    z: float | None
    relative_change: float | None
    summary: str
    left_out: int = 0
    live_only: str | None = None
    driver: Driver | None = None

    @property
    def failing(self) -> bool:
        return self.status in ("warn", "critical")

    def finding(self, config: AnomalyConfig) -> Finding:
        """The check finding: the z against the warn (or critical) threshold."""
        limit = config.critical if self.status == "critical" else config.warn
        sign = -1.0 if self.z is not None and self.z < 0 else 1.0
        return Finding(
            subject=self.metric,
            passed=not self.failing,
            severity=Severity.CRITICAL if self.status == "critical" else Severity.WARN,
            value=self.z,
            threshold=sign * limit,
            summary=self.summary,
        )

    def numbers(self) -> dict[str, float | int | None]:
        """The numbers plotted per partition and stored, by statistic."""
        b = self.baseline
        return {
            "value": self.value,
            "median": b.expected if b else None,
            "mad": b.mad if b else None,
            "z": self.z,
            "relative_change": self.relative_change,
            "baseline_days": self.baseline_days,
            "reference_days": b.reference_days if b else 0,
            "days_left_out": self.left_out,
        }


def mad_floor(
    metric: AnomalyMetric, expected: float, sample: float | None, level: float | None = None
) -> float:
    """The smallest MAD the metric is scored with: a fraction of the expected value, and for
    counts and rates their sampling error (as a MAD: the standard error / 1.4826) at the
    larger of the expected value and the baseline's overall ``level`` (four same-weekday days
    can put a small count's median well under its rate)."""
    floor = MAD_FLOOR_FRACTION * abs(expected)
    typical = max(expected, level if level is not None else expected)
    if metric == "requests":
        floor = max(floor, math.sqrt(max(typical, 1.0)) / MAD_TO_SD)
    if metric == "error_rate" and sample:
        rate = min(max(typical, 1.0 / sample), 1.0)
        floor = max(floor, math.sqrt(rate * (1.0 - rate) / sample) / MAD_TO_SD)
    return floor


def baseline_window(
    day: date, history: Mapping[date, float], length: int
) -> list[tuple[date, float]]:
    """The ``length`` days before ``day`` that have a value, oldest first."""
    days = (day - timedelta(days=i) for i in range(length, 0, -1))
    return [(d, history[d]) for d in days if d in history]


def seeded_window(
    day: date,
    history: Mapping[date, float],
    length: int,
    seed: Mapping[date, float] | None = None,
) -> tuple[list[tuple[date, float]], list[tuple[date, float]]]:
    """The live baseline days of ``day`` (:func:`baseline_window`) and the reference days that
    top them up to ``length``: the reference's latest, wherever in time the reference lies (a
    reference date that is a live day, or the day itself, is the live day's)."""
    live = baseline_window(day, history, length)
    room = length - len(live)
    if not seed or room <= 0:
        return live, []
    usable = sorted(d for d in seed if d != day and d not in history)
    return live, [(d, seed[d]) for d in usable[max(len(usable) - room, 0) :]]


def build_baseline(
    day: date,
    history: Mapping[date, float],
    config: AnomalyConfig,
    metric: AnomalyMetric,
    sample: float | None = None,
    seed: Mapping[date, float] | None = None,
) -> Baseline | None:
    """The baseline of ``day`` from the ``baseline_days`` before it, topped up with reference
    days (``seed``) while those are fewer; None with too few days.

    Args:
        day: The day scored (excluded from its baseline).
        history: The metric's value per day; days without a value are absent.
        config: The anomaly settings.
        metric: The metric, for its MAD floor.
        sample: The day's requests behind a rate (``error_rate``), for its sampling floor.
        seed: The metric's value per reference day.
    """
    live, topped = seeded_window(day, history, config.baseline_days, seed)
    window = live + topped
    if len(window) < config.min_baseline_days:
        return None
    values = [v for _, v in window]
    level = float(median(values))
    same_days = tuple(d for d, _ in window if d.weekday() == day.weekday())
    same = [v for d, v in window if d.weekday() == day.weekday()]
    mode: Mode = "weekday" if config.weekday_aware and same else "pooled"
    if mode == "weekday":
        expected = float(median(same))
        residuals = _weekday_residuals(window)
        spreads = [median_absolute_deviation(residuals)] if residuals else []
        if len(same) > 1:
            spreads.append(median_absolute_deviation(same))
        else:
            spreads.append(math.sqrt(2.0) * median_absolute_deviation(values))
        raw = max(spreads)
    else:
        expected, raw = level, median_absolute_deviation(values)
    return Baseline(
        days=len(window),
        weekday_days=len(same),
        mode=mode,
        expected=expected,
        mad=max(raw, mad_floor(metric, expected, sample, level)),
        raw_mad=raw,
        reference_days=len(topped),
        weekday_reference_days=sum(d.weekday() == day.weekday() for d, _ in topped),
        basis=same_days if mode == "weekday" else tuple(d for d, _ in window),
    )


def ongoing_change(
    metric: AnomalyMetric,
    day: date,
    history: Mapping[date, float],
    config: AnomalyConfig,
    samples: Mapping[date, float] | None = None,
    seed: Mapping[date, float] | None = None,
) -> tuple[date, ...]:
    """The days before ``day`` kept out of its baseline: each earlier day is scored in turn
    against a baseline without the anomalous days before it, so a lasting change stays an
    anomaly instead of becoming its own baseline; after ``absorb_after_days`` anomalous days
    in a row, the change is the new normal and those days count again."""
    excluded: set[date] = set()
    run: list[date] = []
    for d in sorted(x for x in history if x < day):
        usable = {k: v for k, v in history.items() if k < d and k not in excluded}
        sample = samples.get(d) if samples else None
        if _score(metric, d, usable | {d: history[d]}, config, sample, seed).failing:
            run.append(d)
            excluded.add(d)
            if len(run) >= config.absorb_after_days:
                excluded -= set(run)
                run = []
        else:
            run = []
    return tuple(sorted(excluded))


def evaluate(
    metric: AnomalyMetric,
    day: date,
    history: Mapping[date, float],
    config: AnomalyConfig,
    sample: float | None = None,
    samples: Mapping[date, float] | None = None,
    seed: Mapping[date, float] | None = None,
) -> MetricAnomaly:
    """Score the day's value of ``metric`` (from ``history``) against its baseline, without
    the days of an ongoing change (:func:`ongoing_change`; ``samples`` are the requests
    behind each earlier day's rate; ``seed`` the reference days that top up a short
    history)."""
    left_out = ongoing_change(metric, day, history, config, samples, seed)
    if not left_out:
        return _score(metric, day, history, config, sample, seed)
    kept = {d: v for d, v in history.items() if d not in left_out}
    scored = _score(metric, day, kept, config, sample, seed)
    since = left_out[0].isoformat()
    note = f"baseline without {count(len(left_out), 'anomalous day')} since {since}"
    return replace(scored, summary=f"{scored.summary} ({note})", left_out=len(left_out))


def _score(
    metric: AnomalyMetric,
    day: date,
    history: Mapping[date, float],
    config: AnomalyConfig,
    sample: float | None = None,
    seed: Mapping[date, float] | None = None,
) -> MetricAnomaly:
    value = history.get(day)
    live, topped = seeded_window(day, history, config.baseline_days, seed)
    days = len(live) + len(topped)
    if value is None:
        return _not_evaluated(metric, None, days, "no value on the day")
    baseline = build_baseline(day, history, config, metric, sample, seed)
    if baseline is None:
        of_reference = f" ({len(topped)} of the reference)" if topped else ""
        return _not_evaluated(
            metric,
            value,
            days,
            f"{days} baseline days with a value{of_reference}, "
            f"fewer than {config.min_baseline_days}",
        )
    if baseline.mad <= 0:
        return _not_evaluated(metric, value, days, "the baseline is constant at 0")
    z = robust_z(value, baseline.expected, baseline.mad)
    change = _relative_change(value, baseline.expected)
    status = _status(metric, z, change, config)
    return MetricAnomaly(
        metric=metric,
        status=status,
        value=value,
        baseline=baseline,
        baseline_days=days,
        z=z,
        relative_change=change,
        summary=_describe(metric, day, status, value, baseline, z, change, config),
    )


def detect(
    day: date,
    service: Mapping[date, MetricValues],
    costs: Mapping[date, MetricValues],
    config: AnomalyConfig,
    metrics: Sequence[AnomalyMetric] | None = None,
    reference: ReferenceDays | None = None,
) -> list[MetricAnomaly]:
    """Every metric of ``day`` against its baseline, from the stored daily metrics.

    Args:
        day: The day scored.
        service: ``service_metrics`` rows per day (the day and its baseline days).
        costs: ``token_costs`` rows per day.
        config: The anomaly settings.
        metrics: The metrics to score (default: the configured ones).
        reference: Each metric on the reference's days, which top up a short live history
            (None: no reference days are stored).
    """
    days = sorted(set(service) | set(costs))
    values = {d: day_values(service.get(d), costs.get(d)) for d in days}
    out = []
    for metric in metrics if metrics is not None else config.metrics:
        history = {d: v[metric] for d, v in values.items() if metric in v}
        samples = None
        if metric == "error_rate":
            samples = {d: n for d in days if (n := status_rows(service.get(d))) is not None}
        sample = samples.get(day) if samples else None
        seed = reference.seed(metric) if reference else None
        result = evaluate(metric, day, history, config, sample, samples, seed)
        why = reference.reason(metric) if reference else "no reference days are stored"
        result = replace(result, live_only=why)
        if result.failing and result.baseline is not None:
            result = _with_driver(result, day, service, costs, reference)
        out.append(result)
    return out


def _with_driver(
    result: MetricAnomaly,
    day: date,
    service: Mapping[date, MetricValues],
    costs: Mapping[date, MetricValues],
    reference: ReferenceDays | None,
) -> MetricAnomaly:
    """The result naming what drove it, when the day and its baseline days have parts."""
    assert result.baseline is not None
    metric = result.metric
    today = parts(metric, service.get(day), costs.get(day))
    stored = reference.parts.get(metric, {}) if reference else {}
    usual = [
        parts(metric, service.get(d), costs.get(d))
        if d in service or d in costs
        else stored.get(d, {})
        for d in result.baseline.basis
    ]
    driver = find_driver(today, usual, rising=(result.z or 0.0) > 0)
    if driver is None:
        return result
    return replace(result, driver=driver, summary=f"{result.summary}, {driver.clause()}")


def anomaly_check(
    results: Sequence[MetricAnomaly],
    config: AnomalyConfig,
    unavailable: Mapping[AnomalyMetric, str] | None = None,
) -> CheckOutcome:
    """The ``anomaly`` check: one finding per metric scored (subject: the metric's name)."""
    failing = [r for r in results if r.failing]
    skipped = [r for r in results if r.status == "not_evaluated"]
    if failing:
        summary = f"{len(failing)} of {len(results)} metrics anomalous: " + "; ".join(
            r.summary for r in failing
        )
    else:
        summary = f"no anomaly in {len(results) - len(skipped)} metrics scored"
    if skipped:
        summary += "; " + "; ".join(r.summary for r in skipped)
    if unavailable:
        summary += "; not measured: " + ", ".join(f"{m} ({why})" for m, why in unavailable.items())
    return CheckOutcome(
        name=CHECK,
        findings=tuple(r.finding(config) for r in results),
        summary=summary,
        metadata={"metrics_anomalous": len(failing), "metrics_not_evaluated": len(skipped)},
    )


def _weekday_residuals(window: Sequence[tuple[date, float]]) -> list[float]:
    """Each day's value minus the median of the other baseline days of its weekday."""
    by_weekday: dict[int, list[float]] = {}
    for d, v in window:
        by_weekday.setdefault(d.weekday(), []).append(v)
    residuals = []
    for values in by_weekday.values():
        for i, v in enumerate(values):
            others = values[:i] + values[i + 1 :]
            if others:
                residuals.append(v - float(median(others)))
    return residuals


def _relative_change(value: float, expected: float) -> float:
    if expected == 0:
        return 0.0 if value == 0 else math.copysign(math.inf, value)
    return (value - expected) / abs(expected)


def _status(metric: AnomalyMetric, z: float, change: float, config: AnomalyConfig) -> Status:
    score, size = (z, change) if DIRECTIONS[metric] == "up" else (abs(z), abs(change))
    if score < config.warn or size < config.min_relative_change:
        return "ok"
    return "critical" if score >= config.critical else "warn"


def _not_evaluated(
    metric: AnomalyMetric, value: float | None, days: int, reason: str
) -> MetricAnomaly:
    return MetricAnomaly(
        metric=metric,
        status="not_evaluated",
        value=value,
        baseline=None,
        baseline_days=days,
        z=None,
        relative_change=None,
        summary=f"{metric} not evaluated: {reason}",
    )


def _describe(
    metric: AnomalyMetric,
    day: date,
    status: Status,
    value: float,
    baseline: Baseline,
    z: float,
    change: float,
    config: AnomalyConfig,
) -> str:
    basis = _basis(WEEKDAYS[day.weekday()], baseline)
    pct = "new" if math.isinf(change) else f"{change:+.0%}"
    text = f"{metric} {value:.4g} vs {basis} {baseline.expected:.4g} ({pct}), robust z {z:.1f}"
    if baseline.floored:
        text += " (MAD floored)"
    if status == "ok":
        return text
    limit = config.critical if status == "critical" else config.warn
    return f"{text} {'<=' if z < 0 else '>='} {'-' if z < 0 else ''}{limit:g}"


def _basis(weekday: str, baseline: Baseline) -> str:
    """What the day was compared with: ``median of 2 Saturdays of the reference``."""
    if baseline.mode == "pooled":
        days, of_reference, noun = baseline.days, baseline.reference_days, "day"
    else:
        days, of_reference, noun = baseline.weekday_days, baseline.weekday_reference_days, weekday
    if of_reference == days:
        source = " of the reference"
    elif of_reference:
        source = f" ({of_reference} of the reference)"
    else:
        source = ""
    if days == 1 and noun == weekday:
        return f"last {weekday}{source}"
    return f"median of {days} {noun}s{source}"
