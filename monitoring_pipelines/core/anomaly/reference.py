"""The reference's days as anomaly baseline days: each metric measured on every logged day of the
reference by the same code as a live day (README.md, "Anomalies").

A reference that holds whole days of the usual traffic (with their timestamps and the service
and LLM columns) gives a new monitor the baseline its first weeks lack.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date

import numpy as np
import pandas as pd

from monitoring_pipelines.core.anomaly.drivers import parts
from monitoring_pipelines.core.anomaly.metrics import (
    NOT_SEEDED,
    AnomalyMetric,
    MetricValues,
    Part,
    ReferenceDays,
    day_values,
)
from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.costs.day import compute_costs
from monitoring_pipelines.core.costs.stored import cost_metrics
from monitoring_pipelines.core.service.day import compute_service_day, service_day_rows
from monitoring_pipelines.core.wording import count


def metric_columns(monitor: MonitorConfig) -> dict[AnomalyMetric, list[str]]:
    """The reference columns each metric is measured from (those the live day reads)."""
    service, llm = monitor.service, monitor.llm
    out: dict[AnomalyMetric, list[str]] = {}
    if service and service.latency_column:
        out["latency_p95_ms"] = [service.latency_column]
    if service and service.status_column:
        out["error_rate"] = [service.status_column]
    if llm:
        tokens = [llm.model_column, llm.prompt_tokens_column, llm.completion_tokens_column]
        if llm.cached_tokens_column:
            tokens.append(llm.cached_tokens_column)
        out["tokens_per_request"] = tokens
        if llm.prices:
            out["cost_per_request"] = tokens
    return out


def readable_columns(
    monitor: MonitorConfig,
    metrics: Sequence[AnomalyMetric],
    time_column: str | None,
    available: Sequence[str] | None,
) -> tuple[list[str], dict[AnomalyMetric, str]]:
    """The reference columns to read for ``metrics``, and why each metric that cannot be
    measured on the reference cannot.

    Args:
        monitor: The monitor.
        metrics: The metrics scored.
        time_column: The reference's timestamp column (None: it has none).
        available: The reference's columns (None: unknown until read, as for a query).
    """
    wanted = metric_columns(monitor)
    reasons: dict[AnomalyMetric, str] = {}
    columns: list[str] = []
    for metric in metrics:
        if metric in NOT_SEEDED:
            reasons[metric] = NOT_SEEDED[metric]
        elif time_column is None:
            reasons[metric] = "the reference has no timestamp column"
        elif metric not in wanted:
            reasons[metric] = "the monitor does not measure it"
        else:
            missing = [c for c in wanted[metric] if available is not None and c not in available]
            if missing:
                names = ", ".join(repr(c) for c in missing)
                reasons[metric] = f"the reference has no column {names}"
            else:
                columns += [c for c in wanted[metric] if c not in columns]
    llm = monitor.llm
    optional = [llm.intent_column] if llm and llm.intent_column else []
    if llm and llm.model_column in columns:  # the intent only names what drove a change
        columns += [c for c in optional if available is not None and c in available]
    if columns and time_column is not None:
        columns.append(time_column)
    return columns, reasons


def reference_days(
    frame: pd.DataFrame,
    monitor: MonitorConfig,
    metrics: Sequence[AnomalyMetric],
    time_column: str | None,
    reasons: Mapping[AnomalyMetric, str] | None = None,
) -> ReferenceDays:
    """Each metric on each reference day, as :func:`~.metrics.day_values` computes a live day
    from the stored service metrics and token costs of its rows.

    Args:
        frame: The reference rows, with ``time_column`` and the columns of the metrics.
        monitor: The monitor.
        metrics: The metrics to measure.
        time_column: The reference's timestamp column; rows without a readable one belong to
            no day.
        reasons: Metrics already known not to be measurable, with why (left out).
    """
    known = dict(reasons or {})
    todo = [m for m in metrics if m not in known]
    if todo and frame.empty:
        return ReferenceDays({}, known | {m: "the reference has no rows" for m in todo})
    if not todo or time_column is None or time_column not in frame:
        why = "the reference has no timestamp column"
        return ReferenceDays({}, known | {m: why for m in todo})
    stamps = pd.to_datetime(frame[time_column], utc=True, errors="coerce", format="mixed")
    days = stamps.dt.date
    readable = stamps.notna().to_numpy()
    if not readable.any():
        why = f"no readable timestamp in the reference's {count(len(frame), 'row')}"
        return ReferenceDays({}, known | {m: why for m in todo})
    values: dict[AnomalyMetric, dict[date, float]] = {m: {} for m in todo}
    day_parts: dict[AnomalyMetric, dict[date, dict[Part, float]]] = {}
    for day, rows in frame[readable].groupby(days[readable], sort=True):
        service = _service_rows(rows, monitor) if _needs_service(todo) else None
        costs = _cost_rows(rows, monitor, day) if _needs_costs(todo) else None
        measured = day_values(service, costs)
        for metric in todo:
            if metric in measured:
                values[metric][day] = measured[metric]
                if found := parts(metric, service, costs):
                    day_parts.setdefault(metric, {})[day] = found
    for metric in todo:
        if not values[metric]:
            known[metric] = "the reference has no day with a value"
    return ReferenceDays({m: v for m, v in values.items() if v}, known, day_parts)


def measure_reference(
    chunks: Iterable[pd.DataFrame],
    monitor: MonitorConfig,
    metrics: Sequence[AnomalyMetric],
    time_column: str | None,
    reasons: Mapping[AnomalyMetric, str] | None = None,
) -> ReferenceDays:
    """:func:`reference_days` of the reference read in chunks."""
    frames = list(chunks)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return reference_days(frame, monitor, metrics, time_column, reasons)


def _needs_service(metrics: Sequence[AnomalyMetric]) -> bool:
    return any(m in ("latency_p95_ms", "error_rate") for m in metrics)


def _needs_costs(metrics: Sequence[AnomalyMetric]) -> bool:
    return any(m in ("cost_per_request", "tokens_per_request") for m in metrics)


def _service_rows(rows: pd.DataFrame, monitor: MonitorConfig) -> MetricValues | None:
    service = monitor.service
    if service is None:
        return None
    latency = status = None
    if service.latency_column and service.latency_column in rows:
        numbers = pd.to_numeric(rows[service.latency_column], errors="coerce")
        latency = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    if service.status_column and service.status_column in rows:
        status = rows[service.status_column].to_numpy(dtype=object)
    if latency is None and status is None:
        return None
    return service_day_rows(compute_service_day(latency, status, service, len(rows)))


def _cost_rows(rows: pd.DataFrame, monitor: MonitorConfig, day: date) -> MetricValues | None:
    llm = monitor.llm
    columns = (
        (llm.model_column, llm.prompt_tokens_column, llm.completion_tokens_column) if llm else ()
    )
    if llm is None or not all(c in rows for c in columns):
        return None
    cached, intent = llm.cached_tokens_column, llm.intent_column
    costs = compute_costs(
        rows[llm.model_column],
        rows[llm.prompt_tokens_column],
        rows[llm.completion_tokens_column],
        llm.prices,
        day,
        cached_tokens=rows[cached] if cached and cached in rows else None,
        intents=rows[intent] if intent and intent in rows else None,
    )
    return cost_metrics(costs)
