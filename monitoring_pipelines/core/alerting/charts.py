"""PNG charts attached to alerts, drawn from stored results only.

Drift alerts get the reference against the day's distribution; latency, error-rate, cost and
hallucination-rate alerts the recent trend with its threshold (the daily report's plots).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select

from monitoring_pipelines.core.catalog import Asset, Chart
from monitoring_pipelines.core.catalog import check as check_entry
from monitoring_pipelines.core.dimensions import dimensions
from monitoring_pipelines.core.report import plots
from monitoring_pipelines.core.report.inputs import (
    load_daily_metrics,
    load_day_sketches,
    load_drift_rows,
    load_reference_sketches,
)
from monitoring_pipelines.core.segments import base_column
from monitoring_pipelines.core.service.slo import THRESHOLD
from monitoring_pipelines.core.store import tables as t
from monitoring_pipelines.core.store.results import ResultRepository

# The report's figures are laid out in inches at 90 dpi; at this density they are about
# 800 x 400 pixels, which Slack shows legibly.
ALERT_DPI = 148
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ChartImage:
    """A chart to attach to an alert.

    Attributes:
        png: The image.
        filename: A file name naming the monitor, check, subject and partition (``.png``).
        title: One line shown above the image.
        alt_text: What the image shows, for screen readers and clients without images.
    """

    png: bytes
    filename: str
    title: str
    alt_text: str


@dataclass(frozen=True)
class _Trend:
    """How a check's trend is drawn: its daily series and the threshold line.

    Attributes:
        asset: The asset whose stored metrics hold the series.
        title: What the series measure.
        series: ``(label, metric name, dimensions)``; the first is the alerted one.
        fmt: A value with its unit, for the legend and the alt text.
        ylabel: The y axis's unit.
        limit_name: What the threshold is (``SLO``, ``budget``...).
        limit_check: The check whose stored finding holds the threshold for the partition.
        limit_subject: That finding's subject.
        limit_metric: Else a metric of ``asset`` on the partition holding it.
        month_to_date: Plot the running total since the month's first day.
    """

    asset: str
    title: str
    series: tuple[tuple[str, str, str], ...]
    fmt: Callable[[float], str]
    ylabel: str = ""
    limit_name: str = ""
    limit_check: str | None = None
    limit_subject: str = ""
    limit_metric: tuple[str, str] | None = None
    month_to_date: bool = False


def _ms(v: float) -> str:
    return f"{v:,.0f} ms"


def _share(v: float) -> str:
    return f"{v:.2%}"


def _usd(v: float) -> str:
    return f"{v:,.2f} USD"


def _number(v: float) -> str:
    return f"{v:.4g}"


_LATENCY = _Trend(
    Asset.SERVICE_METRICS,
    "latency",
    (("SLO percentile", "slo_percentile_ms", ""), ("p50", "p50_ms", "")),
    fmt=_ms,
    ylabel="ms",
    limit_name="SLO",
    limit_check="latency_slo",
    limit_metric=(THRESHOLD, dimensions(sli="latency")),
)
_ERRORS = _Trend(
    Asset.SERVICE_METRICS,
    "error rate",
    (("error rate", "error_rate", ""),),
    fmt=_share,
    limit_name="SLO",
    limit_check="error_rate",
)
_DAILY_COST = _Trend(
    Asset.TOKEN_COSTS,
    "daily LLM cost",
    (("cost", "cost_usd", ""),),
    fmt=_usd,
    ylabel="USD",
    limit_name="budget",
    limit_check="cost_budget",
)
_MONTHLY_COST = _Trend(
    Asset.TOKEN_COSTS,
    "LLM cost, month to date",
    (("month to date", "cost_usd", ""),),
    fmt=_usd,
    ylabel="USD",
    limit_name="monthly budget",
    limit_check="monthly_budget",
    month_to_date=True,
)
_TRENDS = {
    Chart.LATENCY: _LATENCY,
    Chart.ERRORS: _ERRORS,
    Chart.DAILY_COST: _DAILY_COST,
    Chart.MONTHLY_COST: _MONTHLY_COST,
}
_ANOMALY_UNITS: Mapping[str, tuple[Callable[[float], str], str]] = {
    "cost_per_request": (lambda v: f"{v:.4g} USD", "USD"),
    "latency_p95_ms": (_ms, "ms"),
    "error_rate": (_share, ""),
}


def has_chart(check: str, subject: str) -> bool:
    """Whether a finding of ``check`` about ``subject`` gets a chart (when its data is stored)."""
    chart = check_entry(check).chart_of(subject)
    if chart is Chart.DISTRIBUTION:
        return bool(subject)
    return _trend_of(check, subject) is not None


def _trend_of(check: str, subject: str) -> _Trend | None:
    """How the trend of a check's finding is drawn; None when it has no trend chart."""
    chart = check_entry(check).chart_of(subject)
    if chart in _TRENDS:
        return _TRENDS[chart]
    if chart is Chart.ANOMALY and subject:
        fmt, unit = _ANOMALY_UNITS.get(subject, (_number, ""))
        dims = dimensions(metric=subject)
        series = (("day", "value", dims), ("baseline median", "median", dims))
        return _Trend(Asset.ANOMALIES, f"{subject} against its baseline", series, fmt, unit)
    if chart is Chart.HALLUCINATION:
        scope, _, value = subject.partition("=")
        dims = dimensions(**{scope: value}) if subject else ""
        rate, baseline = ("rate", "hallucination_rate", dims), ("baseline", "baseline_rate", dims)
        if subject:
            return _Trend(
                Asset.HALLUCINATION_RATE, f"hallucination rate, {subject}", (rate, baseline), _share
            )
        # The overall rate fails when its lower bound is above max_rate.
        overall = (rate, ("95% lower bound", "ci_low", ""), baseline)
        return _Trend(
            Asset.HALLUCINATION_RATE,
            "hallucination rate",
            overall,
            _share,
            limit_name="max rate",
            limit_check=check,
        )
    return None


def render_alert_chart(
    store: ResultRepository,
    monitor: str,
    check: str,
    subject: str,
    partition: str,
    days: int = 28,
) -> ChartImage | None:
    """The chart of an alert's finding, from the result store.

    Args:
        store: The result store the assets wrote.
        monitor: The monitor's name.
        check: The check (``feature_drift``, ``latency_slo``...).
        subject: The finding's subject (a column, ``column@segment=value``, ``latency:fast``,
            an anomaly metric, ``intent=billing``; ``""`` for the whole partition).
        partition: The alert's partition, a UTC day ``YYYY-MM-DD``.
        days: Days a trend shows, ending on the partition (a month-to-date cost shows the
            month).

    Returns:
        The chart, or None when the check has no chart, the partition is not a day, or the
        store lacks the data (no sketches, sketches over an older reference's bins, no value
        stored for the partition).

    Raises:
        StoreError: The result store could not be read.
        ValueError: ``days`` is less than 1.
    """
    if days < 1:
        raise ValueError(f"an alert chart shows at least 1 day, not {days}")
    try:
        day = date.fromisoformat(partition)
    except ValueError:
        return None
    if check_entry(check).chart_of(subject) is Chart.DISTRIBUTION:
        return _drift_chart(store, monitor, check, subject, day) if subject else None
    trend = _trend_of(check, subject)
    return _trend_chart(store, monitor, check, subject, day, days, trend) if trend else None


def _drift_chart(
    store: ResultRepository, monitor: str, check: str, subject: str, day: date
) -> ChartImage | None:
    column, partition = base_column(subject), day.isoformat()
    reference = load_reference_sketches(store, monitor, [column]).get(column)
    current = load_day_sketches(store, monitor, partition, [subject]).get(subject)
    if reference is None or current is None or not plots.comparable(reference, current):
        return None
    png = plots.distribution_png(reference, current, day, title=subject, dpi=ALERT_DPI)
    kind = "share of rows per bin" if reference.kind == "numeric" else "share of rows per category"
    alt = (
        f"Distribution of {subject} ({kind}) in the reference (n={reference.n:,}) and on "
        f"{partition} (n={current.n:,}) for monitor {monitor}"
    )
    row = next((r for r in load_drift_rows(store, monitor, partition) if r.column == subject), None)
    if row is not None and row.score is not None:
        alt += (
            f"; {row.statistic} {row.score:.3g} against warn {row.warn:g} and critical "
            f"{row.critical:g} ({row.verdict})"
        )
    return ChartImage(
        png=png,
        filename=_filename(monitor, check, subject, partition),
        title=f"{monitor} · {check} · {subject}: reference against {partition}",
        alt_text=alt + ".",
    )


def _trend_chart(
    store: ResultRepository,
    monitor: str,
    check: str,
    subject: str,
    day: date,
    days: int,
    trend: _Trend,
) -> ChartImage | None:
    first = day.replace(day=1) if trend.month_to_date else day - timedelta(days=days - 1)
    window = [first + timedelta(days=i) for i in range((day - first).days + 1)]
    stored = load_daily_metrics(store, monitor, trend.asset, first.isoformat(), day.isoformat())
    series = {
        label: {d: stored.get(d, {}).get((name, dims)) for d in window}
        for label, name, dims in trend.series
    }
    if trend.month_to_date:
        series = {label: _running_total(values, window) for label, values in series.items()}
    alerted = series[trend.series[0][0]]
    value = alerted.get(day)
    if value is None:
        return None
    limit = _limit(store, monitor, day, trend, stored.get(day, {}))
    drawn = (f"{trend.limit_name} {trend.fmt(limit)}", limit) if limit is not None else None
    png = plots.series_png(
        trend.title, window, series, drawn, trend.ylabel, highlight=day, dpi=ALERT_DPI
    )
    span = f"{first} to {day}"
    alt = (
        f"Line chart of {trend.title} per day, {span}, for monitor {monitor} "
        f"({', '.join(series)}); on {day} (shaded) {trend.fmt(value)}"
    )
    alt += f" against the {drawn[0]} line" if drawn else ""
    where = f" · {subject}" if subject else ""
    return ChartImage(
        png=png,
        filename=_filename(monitor, check, subject, day.isoformat()),
        title=f"{monitor} · {check}{where}: {trend.title}, {span}",
        alt_text=alt + ".",
    )


def _limit(
    store: ResultRepository,
    monitor: str,
    day: date,
    trend: _Trend,
    stored_today: Mapping[tuple[str, str], float | None],
) -> float | None:
    """The threshold the check used on the day: its stored finding's, else a stored metric."""
    if trend.limit_check is not None:
        c = t.check_results.c
        query = select(c.threshold).where(
            c.monitor == monitor,
            c.check_name == trend.limit_check,
            c.subject == trend.limit_subject,
            c.partition_key == day.isoformat(),
        )
        with store.transaction() as conn:
            threshold = conn.execute(query).scalar()
        if threshold is not None:
            return float(threshold)
    return stored_today.get(trend.limit_metric) if trend.limit_metric else None


def _running_total(
    values: Mapping[date, float | None], window: list[date]
) -> dict[date, float | None]:
    """The total so far on each day that has a value (days without one stay gaps)."""
    total, out = 0.0, {}
    for d in window:
        v = values.get(d)
        if v is not None:
            total += v
        out[d] = total if v is not None else None
    return out


def _filename(monitor: str, check: str, subject: str, partition: str) -> str:
    parts = [monitor, check, *([subject] if subject else []), partition]
    return _UNSAFE_FILENAME.sub("_", "_".join(parts)).strip("_") + ".png"
