"""A pushed-down day's service metrics: everything :func:`~.day.compute_service_day` computes
from a pulled slice, computed from the warehouse's counts and order statistics per UTC hour
and per dimension value, merged with the day's residual rows.

Counts, error rates, SLO counts and foldings equal the pull path's; percentiles are the exact
order statistics of each group, interpolated as ``np.percentile`` interpolates (the warehouse's
``row_number()`` ranks them on every dialect, so there is no error bound to state); only the
ranks about each percentile leave the warehouse, with a margin of the group's residual rows.
Examples of unknown statuses are the first five by text (the pull path lists the first five it
reads).

The day's latency driver needs each value's usual percentile: the counts of requests slower
than it are taken with the usual known when the day is pushed down (``thresholds``), and a
driver is named only when the usual read later is the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import case, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

from monitoring_pipelines.core.config import ServiceConfig
from monitoring_pipelines.core.ingest.cleaning import TIMESTAMP
from monitoring_pipelines.core.ingest.pushdown import sql as sq
from monitoring_pipelines.core.ingest.pushdown.groups import (
    folded_key,
    hour_key,
    merged_percentile,
    order_statistics,
    ranked_values,
    text_key,
)
from monitoring_pipelines.core.ingest.pushdown.model import GROUP_CAP, DayScan, PushdownDeclined
from monitoring_pipelines.core.ingest.statuses import classify_status, status_text
from monitoring_pipelines.core.service.breakdown import (
    HOURS,
    MAX_DIMENSION_VALUES,
    MISSING,
    OTHER,
    Folding,
    GroupMetrics,
    metric_label,
    stored_value,
)
from monitoring_pipelines.core.service.day import ServiceDay
from monitoring_pipelines.core.service.drivers import (
    STATUS,
    ServiceUsual,
    error_driver,
    latency_driver_of,
)
from monitoring_pipelines.core.service.metrics import STATUS_EXAMPLES, ServiceMetrics
from monitoring_pipelines.core.service.slo import Sli, SloCounts

QUANTILES = (50.0, 95.0, 99.0)


@dataclass
class _Cell:
    """One group's counts (a group of a grouping, or one status within it)."""

    requests: int = 0
    latency_rows: int = 0
    latency_missing: int = 0
    latency_negative: int = 0
    over_slo: int = 0
    above_usual: int = 0

    def add(self, other: _Cell) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


@dataclass(frozen=True)
class PushedService:
    """A pushed-down day's service metrics, without the drivers (which need the usual).

    Attributes:
        day: Everything :class:`~.day.ServiceDay` holds but its drivers.
        thresholds: Per dimension column, per value, the usual percentile the ``slower``
            counts were taken against (empty without a usual).
        default_threshold: The usual whole-day percentile, for values without one.
        slower: Per dimension column, per value, its requests slower than its threshold.
    """

    day: ServiceDay
    thresholds: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    default_threshold: float | None = None
    slower: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    def with_drivers(self, config: ServiceConfig, usual: ServiceUsual | None) -> ServiceDay:
        """The day with what drove a failing latency or error rate, as the pull path names
        them (a latency driver only when ``usual`` is the one the day was pushed down with)."""
        day, slo = self.day, config.slo
        if usual is None:
            return day
        latency = errors = None
        percentile = slo.latency_percentile if slo.latency_ms is not None else None
        if percentile is not None and _over(day.metrics.slo_percentile_ms, slo.latency_ms):
            recorded = (self.default_threshold, self.thresholds)
            if recorded[0] is not None and usual_thresholds(usual, config) == recorded:
                usable: dict[str, dict[str, int]] = {}
                for g in day.groups:
                    usable.setdefault(g.column, {})[g.value] = g.latency_rows
                latency = latency_driver_of(day.groups, self.slower, usable, usual, percentile)
        if _over(day.metrics.error_rate, slo.error_rate):
            errors = error_driver(day.groups, day.by_status, day.metrics.status_rows, usual)
        return replace(day, latency_driver=latency, error_driver=errors)

    def driver_note(self, config: ServiceConfig, usual: ServiceUsual | None) -> str:
        """Why a failing day names no latency driver although the pull path would ('' when
        it names the same one)."""
        slo = config.slo
        if slo.latency_ms is None or usual is None or not usual.latency_days:
            return ""
        if not _over(self.day.metrics.slo_percentile_ms, slo.latency_ms):
            return ""
        if usual_thresholds(usual, config) == (self.default_threshold, self.thresholds):
            return ""
        return (
            "; no latency driver named: the usual percentiles changed since the day was "
            "pushed down (materialize its live_slice again)"
        )


def usual_thresholds(
    usual: ServiceUsual | None, config: ServiceConfig
) -> tuple[float | None, dict[str, dict[str, float]]]:
    """What a day's ``slower`` counts are taken against: the usual's whole-day percentile and
    its percentile per value (nothing without a latency objective or a usual)."""
    if usual is None or config.slo.latency_ms is None or not usual.latency_days:
        return None, {}
    if usual.percentile_ms is None:
        return None, {}
    return usual.percentile_ms, {c: dict(v) for c, v in usual.percentiles.items()}


def _over(value: float | None, threshold: float | None) -> bool:
    return value is not None and threshold is not None and value > threshold


@dataclass(frozen=True)
class ServiceQuery:
    """The queries of a day's service metrics (a ``PushdownPlan.extra``): called with the
    day's scan, it returns per grouping (``hour`` and each dimension column) the merged counts
    and order statistics :func:`pushed_service` reads."""

    config: ServiceConfig
    dimensions: tuple[str, ...]
    default_threshold: float | None = None
    thresholds: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    max_values: int = MAX_DIMENSION_VALUES

    @property
    def scale(self) -> float:
        return 1000.0 if self.config.latency_unit == "s" else 1.0

    @property
    def quantiles(self) -> tuple[float, ...]:
        slo = self.config.slo
        extra = (slo.latency_percentile,) if slo.latency_ms is not None else ()
        return tuple(dict.fromkeys((*QUANTILES, *extra)))

    def __call__(self, scan: DayScan) -> dict[str, Any]:
        residual = scan.residual
        out: dict[str, Any] = {
            "thresholds": {c: dict(v) for c, v in self.thresholds.items()},
            "default_threshold": self.default_threshold,
        }
        hours = (
            residual[TIMESTAMP].dt.hour.to_numpy(dtype=np.int64)
            if len(residual)
            else np.zeros(0, np.int64)
        )
        out["hour"] = self._grouping(scan, hour_key(scan), [int(h) for h in hours], None)
        for column in self.dimensions:
            values = [None if v is None or v is pd.NA else str(v) for v in residual[column]]
            ranked = ranked_values(scan, column, values, self.max_values)
            order = ranked.ranked()
            kept = order[: self.max_values]
            folded = order[self.max_values :]
            key = folded_key(scan, column, kept, OTHER, MISSING)
            kept_set = set(kept)
            labels = [MISSING if v is None else v if v in kept_set else OTHER for v in values]
            thresholds = self._thresholds(column, [*kept, OTHER, MISSING])
            grouping = self._grouping(scan, key, labels, thresholds)
            folded_rows = ranked.present_rows - sum(ranked.counts[v] for v in kept)
            out[column] = grouping | {
                "kept": kept,
                "distinct": ranked.distinct,
                "folded_values": ranked.distinct - len(kept),
                "folded_rows": folded_rows,
                "missing_rows": ranked.missing_rows,
                "any_folded": bool(folded) or ranked.distinct > len(kept),
            }
        return out

    def _grouping(
        self,
        scan: DayScan,
        key: ColumnElement[Any],
        residual_keys: Sequence[Any],
        thresholds: Mapping[Any, float] | None,
    ) -> dict[str, Any]:
        """Per (group, status): counts; per group: its percentiles. ``thresholds``: each
        group's usual percentile, which its ``above_usual`` requests are slower than."""
        config, residual = self.config, scan.residual
        latency = scan.values[config.latency_column] if config.latency_column else None
        parts = [key.label("k")]
        if config.status_column:
            parts.append(text_key(scan, config.status_column).label("s"))
        if latency is not None:
            parts.append(latency.label("v"))
        # The key is grouped by as a column of a subquery: an expression with parameters
        # would not be the same expression in GROUP BY to every server.
        rows_of = select(*parts).where(scan.regular).subquery()
        keys = [rows_of.c.k, *([rows_of.c.s] if config.status_column else [])]
        measures: list[ColumnElement[Any]] = [func.count()]
        if latency is not None:
            v, zero, scale = rows_of.c.v, sq.double(0.0), sq.double(self.scale)
            slo_ms = config.slo.latency_ms
            measures += [sq.count_if(v >= zero), sq.count_if(v.is_(None)), sq.count_if(v < zero)]
            measures.append(
                sq.count_if(v * scale > sq.double(slo_ms)) if slo_ms is not None else literal(0)
            )
            if thresholds:
                usual = case(*((rows_of.c.k == g, sq.double(t)) for g, t in thresholds.items()))
                measures.append(sq.count_if((v >= zero) & (v * scale > usual)))
            else:
                measures.append(literal(0))
        query = select(*keys, *measures).group_by(*keys).limit(GROUP_CAP + 1)
        rows = scan.execute(query)
        if len(rows) > GROUP_CAP:
            raise PushdownDeclined(f"more than {GROUP_CAP} (group, status) pairs on {scan.day}")
        cells: dict[tuple[Any, Any], _Cell] = {}
        counted = 1 + bool(config.status_column)
        for row in rows:
            status = row[1] if config.status_column else None
            numbers = [int(v or 0) for v in row[counted:]]
            cells.setdefault((_key(row[0]), status), _Cell()).add(_Cell(*numbers))
        # The residual rows, as the pull path reads them.
        extra: dict[Any, list[float]] = {}
        if len(residual):
            lat = (
                residual[config.latency_column].to_numpy(np.float64, na_value=np.nan) * self.scale
                if config.latency_column
                else None
            )
            statuses = (
                residual[config.status_column].tolist()
                if config.status_column
                else [None] * len(residual)
            )
            for i, k in enumerate(residual_keys):
                k = _key(k)
                cell = _Cell(1)
                if lat is not None:
                    ms = float(lat[i])
                    ms = np.nan if np.isinf(ms) else ms
                    cell.latency_rows = int(ms >= 0)
                    cell.latency_missing = int(np.isnan(ms))
                    cell.latency_negative = int(ms < 0)
                    slo_ms = config.slo.latency_ms
                    cell.over_slo = int(slo_ms is not None and ms > slo_ms)
                    t = (thresholds or {}).get(k)
                    cell.above_usual = int(t is not None and ms >= 0 and ms > t)
                    if ms >= 0:
                        extra.setdefault(k, []).append(float(ms))
                s = statuses[i]
                s = None if s is None or s is pd.NA else s
                cells.setdefault((k, s), _Cell()).add(cell)
        percentiles: dict[Any, dict[float, float | None]] = {}
        if latency is not None:
            qs = self.quantiles
            margins = {k: len(v) for k, v in extra.items()}
            sizes: dict[Any, int] = {}
            for row in rows:  # the warehouse's usable latencies per group
                group = _key(row[0])
                sizes[group] = sizes.get(group, 0) + int(row[counted + 1] or 0)
            stats = order_statistics(scan, key, latency, [q / 100 for q in qs], margins, sizes)
            for k in {*(_key(k) for k in stats), *extra}:
                n_sql, ranks = stats.get(k, (0, {}))
                more = np.sort(np.asarray(extra.get(k, []), dtype=np.float64))
                percentiles[k] = {
                    q: merged_percentile(q, n_sql, ranks, more, self.scale) for q in qs
                }
        return {
            "cells": [[k, s, asdict(c)] for (k, s), c in cells.items()],
            "percentiles": [[k, {str(q): v for q, v in p.items()}] for k, p in percentiles.items()],
        }

    def _thresholds(self, column: str, labels: Sequence[str]) -> dict[str, float] | None:
        """Each group's usual percentile (by its stored value; the whole day's usual for a
        value without one), or None without a usual."""
        if self.default_threshold is None:
            return None
        known = self.thresholds.get(column, {})
        return {v: known.get(stored_value(column, v), self.default_threshold) for v in labels}


def _key(value: Any) -> Any:
    """A group's key as Python holds it (an hour as an int, a value as text)."""
    if isinstance(value, int | np.integer):
        return int(value)
    return value if value is None else str(value)


def pushed_service(
    found: Mapping[str, Any],
    config: ServiceConfig,
    requests: int,
    day_percentiles: Mapping[float, float | None],
    dimensions: Sequence[str],
) -> PushedService:
    """The day's :class:`PushedService` from :class:`ServiceQuery`'s result (over
    ``dimensions``) and the day's whole-day percentiles (``DayAggregates.latency_percentiles``)."""
    hours = found["hour"]
    statuses: dict[Any, int] = {}
    total = _Cell()
    for _, s, c in hours["cells"]:
        cell = _Cell(**c)
        total.add(cell)
        statuses[s] = statuses.get(s, 0) + cell.requests
    error_of = _status_classes(list(statuses), config)
    errors = sum(n for s, n in statuses.items() if error_of[s] == "error")
    missing = sum(n for s, n in statuses.items() if error_of[s] == "missing")
    unknown = sum(n for s, n in statuses.items() if error_of[s] == "unknown")
    known = requests - missing - unknown
    has_status = config.status_column is not None
    has_latency = config.latency_column is not None
    pcts = {q: day_percentiles.get(q) for q in QUANTILES}
    slo_pct = day_percentiles.get(config.slo.latency_percentile)
    usable = total.latency_rows if has_latency else 0
    metrics = ServiceMetrics(
        requests=requests,
        latency_rows=usable,
        latency_missing=total.latency_missing,
        latency_negative=total.latency_negative,
        p50_ms=pcts[50.0] if usable else None,
        p95_ms=pcts[95.0] if usable else None,
        p99_ms=pcts[99.0] if usable else None,
        slo_percentile_ms=slo_pct if usable else None,
        errors=errors if has_status else 0,
        status_missing=missing if has_status else 0,
        status_unknown=unknown if has_status else 0,
        error_rate=(errors / known if known else None) if has_status else None,
    )
    slo: dict[Sli, SloCounts] = {}
    if config.slo.latency_ms is not None and has_latency:
        slo[Sli.LATENCY] = SloCounts(usable, total.over_slo, config.slo.latency_ms)
    if config.slo.error_rate is not None and has_status:
        slo[Sli.ERRORS] = SloCounts(known, errors)
    percentile = config.slo.latency_percentile if config.slo.latency_ms is not None else None
    groups: list[GroupMetrics] = []
    foldings: list[Folding] = []
    slower: dict[str, dict[str, int]] = {}
    for column in dimensions:
        grouping = found[column]
        labels = list(grouping["kept"])
        if grouping["any_folded"]:
            labels.append(OTHER)
        if grouping["missing_rows"]:
            labels.append(MISSING)
        stored = [stored_value(column, v) for v in labels]
        metrics_of = _group_metrics(column, grouping, labels, stored, error_of, percentile)
        groups += metrics_of
        cells = _by_group(grouping)
        slower[column] = {
            s: cells[v].above_usual for v, s in zip(labels, stored, strict=True) if v in cells
        }
        named = [v for v in labels if v not in (OTHER, MISSING)]
        foldings.append(
            Folding(
                column=column,
                distinct=int(grouping["distinct"]),
                folded_values=int(grouping["folded_values"]),
                folded_rows=int(grouping["folded_rows"]),
                missing_rows=int(grouping["missing_rows"]),
                renamed=sum(metric_label(v) != v for v in named),
                shortened=sum(s != v for s, v in zip(stored, labels, strict=True)),
            )
        )
    hour_labels = list(range(HOURS))
    hourly = _group_metrics(
        "hour", hours, hour_labels, [f"{h:02d}" for h in hour_labels], error_of, None
    )
    day = ServiceDay(
        metrics=metrics,
        slo=slo,
        groups=tuple(groups),
        hours=tuple(hourly),
        foldings=tuple(foldings),
        unknown_examples=_examples(statuses, error_of),
        by_status=_errors_by_status(statuses, error_of) if has_status else {},
    )
    if not has_status:
        day = replace(day, by_status={})
    return PushedService(
        day=day,
        thresholds=found["thresholds"],
        default_threshold=found["default_threshold"],
        slower=slower,
    )


def _by_group(grouping: Mapping[str, Any]) -> dict[Any, _Cell]:
    cells: dict[Any, _Cell] = {}
    for k, _, c in grouping["cells"]:
        cells.setdefault(k, _Cell()).add(_Cell(**c))
    return cells


def _group_metrics(
    column: str,
    grouping: Mapping[str, Any],
    labels: Sequence[Any],
    stored: Sequence[str],
    error_of: Mapping[Any, str],
    percentile: float | None,
) -> list[GroupMetrics]:
    cells = _by_group(grouping)
    errors: dict[Any, int] = {}
    known: dict[Any, int] = {}
    for k, s, c in grouping["cells"]:
        n = int(c["requests"])
        kind = error_of[s]
        errors[k] = errors.get(k, 0) + (n if kind == "error" else 0)
        known[k] = known.get(k, 0) + (n if kind in ("error", "ok") else 0)
    pcts = {k: {float(q): v for q, v in p.items()} for k, p in grouping["percentiles"]}
    out = []
    for label, value in zip(labels, stored, strict=True):
        cell = cells.get(label, _Cell())
        p = pcts.get(label, {}) if cell.latency_rows else {}
        status_rows = known.get(label, 0)
        out.append(
            GroupMetrics(
                column=column,
                value=value,
                requests=cell.requests,
                latency_rows=cell.latency_rows,
                p50_ms=p.get(50.0),
                p95_ms=p.get(95.0),
                p99_ms=p.get(99.0),
                errors=errors.get(label, 0),
                status_rows=status_rows,
                error_rate=errors.get(label, 0) / status_rows if status_rows else None,
                slo_percentile_ms=p.get(percentile) if percentile is not None else None,
            )
        )
    return out


def _status_classes(statuses: Sequence[Any], config: ServiceConfig) -> dict[Any, str]:
    """Each distinct status's class (``error``, ``ok``, ``unknown``, ``missing``), as the pull
    path classifies every row's."""
    if config.status_column is None:
        return {s: "missing" for s in statuses}
    values = np.array(statuses, dtype=object)
    is_error, unknown, missing = classify_status(values, config.error_statuses)
    out = {}
    for i, s in enumerate(statuses):
        out[s] = (
            "missing"
            if missing[i]
            else "unknown"
            if unknown[i]
            else "error"
            if is_error[i]
            else "ok"
        )
    return out


def _examples(statuses: Mapping[Any, int], error_of: Mapping[Any, str]) -> tuple[str, ...]:
    unknown = sorted((s for s in statuses if error_of[s] == "unknown"), key=repr)
    return tuple(repr(s)[:80] for s in unknown[:STATUS_EXAMPLES])


def _errors_by_status(
    statuses: Mapping[Any, int], error_of: Mapping[Any, str], limit: int = MAX_DIMENSION_VALUES
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s, n in statuses.items():
        if error_of[s] == "error" and n:
            text = status_text(s)
            counts[text] = counts.get(text, 0) + n
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    out = {stored_value(STATUS, s): n for s, n in ranked[:limit]}
    if len(ranked) > limit:
        out[OTHER] = sum(n for _, n in ranked[limit:])
    return out
