"""Everything ``<monitor>/service_metrics`` computes for a day, and how it is stored and shown.

One classification of the day's requests gives the whole day, each dimension value and each UTC
hour (requests, p50/p95/p99, errors, error rate), stored with the SLO counts per objective that
the error budget sums.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from monitoring_pipelines.core.config import ServiceConfig
from monitoring_pipelines.core.dimensions import dimensions as dims_of
from monitoring_pipelines.core.ingest.statuses import status_text
from monitoring_pipelines.core.service.breakdown import (
    MAX_DIMENSION_VALUES,
    OTHER,
    Folding,
    Grouping,
    GroupMetrics,
    fold_values,
    group_metrics,
    group_rows,
    hour_grouping,
    stored_value,
)
from monitoring_pipelines.core.service.drivers import (
    STATUS,
    ServiceDriver,
    ServiceUsual,
    error_driver,
    latency_driver,
)
from monitoring_pipelines.core.service.metrics import (
    FloatArray,
    Requests,
    ServiceMetrics,
    classify_requests,
    day_metrics,
    slo_counts,
)
from monitoring_pipelines.core.service.slo import Sli, SloCounts, count_rows


@dataclass(frozen=True)
class ServiceDay:
    """Everything ``service_metrics`` computes for a day.

    Attributes:
        metrics: The whole day.
        slo: Events and bad events of each objective.
        groups: Per dimension column, its values (the largest, ``(other)``, ``(missing)``).
        hours: The 24 hours of the day (UTC), when timestamps are given.
        foldings: Per dimension column, how its values were grouped.
        unknown_examples: Up to five distinct unknown statuses.
        by_status: Errors per error status (the largest, the rest ``(other)``).
        latency_driver: What drove the day's SLO percentile against its usual, when known.
        error_driver: What drove the day's error rate against its usual, when known.
    """

    metrics: ServiceMetrics
    slo: Mapping[Sli, SloCounts]
    groups: tuple[GroupMetrics, ...] = ()
    hours: tuple[GroupMetrics, ...] = ()
    foldings: tuple[Folding, ...] = ()
    unknown_examples: tuple[str, ...] = ()
    by_status: Mapping[str, int] = field(default_factory=dict)
    latency_driver: ServiceDriver | None = None
    error_driver: ServiceDriver | None = None


def compute_service_day(
    latency: FloatArray | None,
    status: npt.NDArray[np.object_] | None,
    config: ServiceConfig,
    requests: int,
    *,
    hours: npt.NDArray[np.integer[Any]] | None = None,
    dimensions: Mapping[str, npt.NDArray[Any]] | None = None,
    max_values: int = MAX_DIMENSION_VALUES,
    usual: ServiceUsual | None = None,
) -> ServiceDay:
    """The day's metrics, per dimension value and per hour, and its SLO counts.

    Args:
        latency: Latency per request in ``config.latency_unit`` (NaN where missing).
        status: Status per request (text, numbers or None).
        config: The monitor's service section.
        requests: Rows of the day.
        hours: UTC hour (0-23) per request.
        dimensions: Values per request of each dimension column (None where missing).
        max_values: Values kept per dimension column; the rest are ``(other)``.
        usual: The usual of the trailing days that met the objectives; with it, the day's
            drivers are named (see :mod:`.drivers`).
    """
    req = classify_requests(latency, status, config, requests)
    percentile = config.slo.latency_percentile if config.slo.latency_ms is not None else None
    groups: list[GroupMetrics] = []
    groupings: dict[str, Grouping] = {}
    foldings = []
    for column, values in (dimensions or {}).items():
        if len(values) != requests:
            raise ValueError(
                f"dimension '{column}' has {len(values)} values for {requests} requests"
            )
        grouping, folding = fold_values(column, values, max_values)
        foldings.append(folding)
        groupings[column] = grouping
        groups += _groups(column, grouping, req, percentile)
    hourly: list[GroupMetrics] = []
    if hours is not None:
        hours = np.asarray(hours)
        if len(hours) != requests or (len(hours) and not 0 <= hours.min() <= hours.max() < 24):
            raise ValueError(f"hours must be {requests} values from 0 to 23")
        hourly = _groups("hour", hour_grouping(hours), req)
    metrics = day_metrics(req, config)
    by_status = errors_by_status(status, req, max_values) if status is not None else {}
    latency_cause = error_cause = None
    if usual is not None:
        if percentile is not None and _over(metrics.slo_percentile_ms, config.slo.latency_ms):
            latency_cause = latency_driver(groups, groupings, req, usual, percentile)
        if _over(metrics.error_rate, config.slo.error_rate):
            error_cause = error_driver(groups, by_status, metrics.status_rows, usual)
    return ServiceDay(
        metrics=metrics,
        slo=slo_counts(req, config),
        groups=tuple(groups),
        hours=tuple(hourly),
        foldings=tuple(foldings),
        unknown_examples=req.unknown_examples,
        by_status=by_status,
        latency_driver=latency_cause,
        error_driver=error_cause,
    )


def _over(value: float | None, threshold: float | None) -> bool:
    return value is not None and threshold is not None and value > threshold


def errors_by_status(
    status: npt.NDArray[np.object_], req: Requests, limit: int = MAX_DIMENSION_VALUES
) -> dict[str, int]:
    """The day's errors per error status (``503``), its ``limit`` largest, the rest
    ``(other)``; each status as the store keeps it."""
    if req.is_error is None or not req.is_error.any():
        return {}
    counts = pd.Series(status[req.is_error], dtype=object).map(status_text).value_counts()
    ranked = sorted(counts.items(), key=lambda item: (-int(item[1]), str(item[0])))
    out = {stored_value(STATUS, str(s)): int(n) for s, n in ranked[:limit]}
    if len(ranked) > limit:
        out[OTHER] = sum(int(n) for _, n in ranked[limit:])
    return out


def _groups(
    column: str, grouping: Grouping, req: Requests, percentile: float | None = None
) -> list[GroupMetrics]:
    return group_metrics(
        column,
        grouping,
        req.usable_rows,
        req.sorted_latency,
        req.is_error,
        req.known_status,
        percentile,
    )


def service_day_rows(day: ServiceDay) -> dict[tuple[str, str], float | None]:
    """Every number of the day as result-store rows (see the module docstring)."""
    rows: dict[tuple[str, str], float | None] = {
        (k, dims_of()): (float(v) if v is not None else None)
        for k, v in day.metrics.to_dict().items()
    }
    rows |= group_rows(day.groups) | group_rows(day.hours) | count_rows(day.slo)
    for status, errors in day.by_status.items():
        rows[("errors", dims_of(**{STATUS: status}))] = float(errors)
    return rows


def service_day_values(day: ServiceDay) -> dict[str, float | int | None]:
    """The numbers the UI plots per partition: the day's metrics, the SLO counts, volume, p95
    and error rate per dimension value (``p95_ms@model_version=v2``), and how each dimension
    column was grouped."""
    values: dict[str, float | int | None] = dict(day.metrics.to_dict())
    for sli, counts in day.slo.items():
        values[f"slo_events/{sli}"] = counts.events
        values[f"slo_bad/{sli}"] = counts.bad
    for g in day.groups:
        values[f"requests@{g.label}"] = g.requests
        values[f"p95_ms@{g.label}"] = g.p95_ms
        values[f"error_rate@{g.label}"] = g.error_rate
    for f in day.foldings:
        values[f"dimension_values/{f.column}"] = f.distinct
        values[f"dimension_folded_rows/{f.column}"] = f.folded_rows
    if day.foldings:
        values["dimension_values_renamed"] = sum(f.renamed for f in day.foldings)
        values["dimension_values_shortened"] = sum(f.shortened for f in day.foldings)
    return values


def service_day_tables(day: ServiceDay) -> dict[str, Any]:
    """JSON-ready breakdowns: per dimension value, the 24 hours, the groupings, and examples
    of unknown statuses."""
    tables: dict[str, Any] = {}
    if day.groups:
        tables["by_dimension"] = [g.to_dict() | {"label": g.label} for g in day.groups]
        tables["dimensions"] = {
            f.column: {
                "distinct": f.distinct,
                "folded_values": f.folded_values,
                "folded_rows": f.folded_rows,
                "missing_rows": f.missing_rows,
                "renamed": f.renamed,
                "shortened": f.shortened,
            }
            for f in day.foldings
        }
    if day.hours:
        tables["hourly"] = [
            {
                "hour": h.value,
                "requests": h.requests,
                "p95_ms": h.p95_ms,
                "error_rate": h.error_rate,
            }
            for h in day.hours
        ]
    if day.unknown_examples:
        tables["status_unknown_examples"] = list(day.unknown_examples)
    return tables
