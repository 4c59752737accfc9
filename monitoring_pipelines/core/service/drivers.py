"""What drove a day's latency or error rate past its SLO (README.md, "What drove it").

The usual is read from the stored days of the trailing window that met the objective: per value
of each breakdown column (model, version, endpoint...), its median SLO percentile and its median
error rate, and per error status, its median share of the day's requests. Contributions to the
change, in requests:

* latency: a value's requests slower than its usual percentile, minus the share the percentile
  leaves above it (5 % of its requests for p95); a value never seen on a usual day is held to
  the whole day's usual percentile;
* errors: a value's errors minus its usual error rate times its requests today; an error status's
  errors minus its usual share times the day's requests.

The driver is the value with the largest share of the change
(:func:`~monitoring_pipelines.core.stats.attribution.find_driver`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import ServiceConfig
from monitoring_pipelines.core.dimensions import decode
from monitoring_pipelines.core.service.breakdown import OTHER, Grouping, GroupMetrics
from monitoring_pipelines.core.service.metrics import Requests
from monitoring_pipelines.core.stats.attribution import Driver, find_driver, shown, usual
from monitoring_pipelines.core.store.results import MetricRecord, ResultRepository
from monitoring_pipelines.core.wording import count

STATUS = "error_status"  # the stored dimension of a day's errors per error status
SLO_PERCENTILE = "slo_percentile_ms"


@dataclass(frozen=True)
class StoredServiceDay:
    """The numbers of a stored day the usual is read from.

    Attributes:
        percentile_ms: The whole day's SLO percentile.
        error_rate: The whole day's error rate.
        status_rows: The whole day's requests with a known status.
        percentiles: Per column, per value, its SLO percentile.
        errors: Per column, per value, its errors.
        status_counts: Per column, per value, its requests with a known status.
        by_status: Per error status, its errors.
    """

    percentile_ms: float | None = None
    error_rate: float | None = None
    status_rows: int | None = None
    percentiles: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    errors: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    status_counts: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    by_status: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceUsual:
    """The usual of the values of a monitor's breakdowns.

    Attributes:
        latency_days: Days that met the latency objective.
        percentile_ms: Their whole-day SLO percentile (median).
        percentiles: Per column, per value, its median SLO percentile.
        error_days: Days that met the error-rate objective.
        error_rates: Per column, per value, its median error rate.
        status_shares: Per error status, its median share of the day's requests.
    """

    latency_days: int = 0
    percentile_ms: float | None = None
    percentiles: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    error_days: int = 0
    error_rates: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    status_shares: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceDriver:
    """What drove the day's latency or error rate, against its usual.

    Attributes:
        check: ``latency_slo`` or ``error_rate``.
        driver: The value and its share of the change.
        text: How the summary names it.
        value: Its own measure today (ms, error rate, or errors of a status).
        usual: Its usual (None for a value not seen on the usual days).
        usual_days: The days the usual was read from.
    """

    check: str
    driver: Driver
    text: str
    value: float
    usual: float | None
    usual_days: int

    def metadata(self) -> dict[str, float | int | str]:
        out: dict[str, float | int | str] = {
            "driver": self.driver.key,
            "driver_value": self.value,
            "driver_share": self.driver.share,
            "driver_usual_days": self.usual_days,
        }
        if self.usual is not None:
            out["driver_usual"] = self.usual
        return out


def stored_day(rows: Iterable[MetricRecord], percentile: float = 95.0) -> StoredServiceDay:
    """One day's numbers from its ``service_metrics`` rows (``percentile``: the SLO's, read
    from a day stored without per-value SLO percentiles when it is p50, p95 or p99)."""
    stored_pct = f"p{percentile:g}_ms"
    whole: dict[str, float] = {}
    pct: dict[str, dict[str, float]] = {}
    named: dict[str, dict[str, float]] = {}
    errors: dict[str, dict[str, float]] = {}
    rows_known: dict[str, dict[str, float]] = {}
    by_status: dict[str, float] = {}
    for row in rows:
        if row.value is None:
            continue
        dims = decode(row.dimensions)
        if not dims:
            whole[row.name] = row.value
            continue
        if len(dims) != 1:
            continue
        ((column, value),) = dims.items()
        if column == STATUS:
            if row.name == "errors":
                by_status[value] = row.value
            continue
        target = {
            SLO_PERCENTILE: pct,
            stored_pct: named,
            "errors": errors,
            "status_rows": rows_known,
        }.get(row.name)
        if target is not None:
            target.setdefault(column, {})[value] = row.value
    status_rows = None
    if "requests" in whole:
        status_rows = int(
            whole["requests"] - whole.get("status_missing", 0) - whole.get("status_unknown", 0)
        )
    return StoredServiceDay(
        percentile_ms=whole.get(SLO_PERCENTILE),
        error_rate=whole.get("error_rate"),
        status_rows=status_rows,
        percentiles=pct or named,
        errors=errors,
        status_counts=rows_known,
        by_status=by_status,
    )


def service_usual(days: Sequence[StoredServiceDay], config: ServiceConfig) -> ServiceUsual:
    """The usual of the ``days`` that met each objective of ``config``."""
    slo = config.slo
    fast = [
        d
        for d in days
        if slo.latency_ms is not None
        and d.percentile_ms is not None
        and d.percentile_ms <= slo.latency_ms
    ]
    clean = [
        d
        for d in days
        if slo.error_rate is not None
        and d.error_rate is not None
        and d.error_rate <= slo.error_rate
    ]
    percentiles = {
        column: {
            v: m
            for v in {v for d in fast for v in d.percentiles.get(column, {})}
            if (
                m := usual(
                    [d.percentiles[column][v] for d in fast if v in d.percentiles.get(column, {})]
                )
            )
            is not None
        }
        for column in {c for d in fast for c in d.percentiles}
    }
    rates: dict[str, dict[str, float]] = {}
    for column in {c for d in clean for c in d.status_counts}:
        per_value: dict[str, list[float]] = {}
        for d in clean:
            for v, n in d.status_counts.get(column, {}).items():
                if n > 0:
                    per_value.setdefault(v, []).append(d.errors.get(column, {}).get(v, 0.0) / n)
        rates[column] = {v: usual(r) or 0.0 for v, r in per_value.items()}
    counted = [d for d in clean if d.status_rows]
    statuses = {s for d in counted for s in d.by_status}
    shares = {
        s: usual([d.by_status.get(s, 0.0) / (d.status_rows or 1) for d in counted]) or 0.0
        for s in statuses
    }
    return ServiceUsual(
        latency_days=len(fast),
        percentile_ms=usual([d.percentile_ms for d in fast if d.percentile_ms is not None]),
        percentiles=percentiles,
        error_days=len(clean),
        error_rates=rates,
        status_shares=shares if counted else {},
    )


def load_service_usual(
    store: ResultRepository, monitor: str, days: Iterable[date], config: ServiceConfig
) -> ServiceUsual:
    """The usual of the stored ``service_metrics`` days among ``days`` (one query per day)."""
    stored = []
    for day in days:
        rows = store.load_metrics(monitor, Asset.SERVICE_METRICS, day.isoformat())
        if rows:
            stored.append(stored_day(rows, config.slo.latency_percentile))
    return service_usual(stored, config)


def latency_driver(
    groups: Sequence[GroupMetrics],
    groupings: Mapping[str, Grouping],
    req: Requests,
    usual_of: ServiceUsual,
    percentile: float,
) -> ServiceDriver | None:
    """The breakdown value whose requests above their usual percentile drove the day's."""
    if not usual_of.latency_days or usual_of.percentile_ms is None:
        return None
    slower: dict[str, dict[str, int]] = {}
    usable: dict[str, dict[str, int]] = {}
    for column, grouping in groupings.items():
        known = usual_of.percentiles.get(column, {})
        thresholds = np.array(
            [known.get(v, usual_of.percentile_ms) for v in grouping.values], dtype=np.float64
        )
        k = len(grouping.values)
        codes = grouping.codes[req.usable_rows]
        slow = req.sorted_latency > thresholds[codes]
        above = np.bincount(codes[slow], minlength=k)
        rows = np.bincount(codes, minlength=k)
        slower[column] = {grouping.values[g]: int(above[g]) for g in range(k)}
        usable[column] = {grouping.values[g]: int(rows[g]) for g in range(k)}
    return latency_driver_of(groups, slower, usable, usual_of, percentile)


def latency_driver_of(
    groups: Sequence[GroupMetrics],
    slower: Mapping[str, Mapping[str, int]],
    usable: Mapping[str, Mapping[str, int]],
    usual_of: ServiceUsual,
    percentile: float,
) -> ServiceDriver | None:
    """:func:`latency_driver` from counts: per breakdown column, per value, its requests with a
    usable latency (``usable``) and those of them slower than its usual percentile
    (``slower``; the whole day's usual for a value without one)."""
    if not usual_of.latency_days or usual_of.percentile_ms is None:
        return None
    tail = 1.0 - percentile / 100.0
    contributions = {
        column: {
            value: float(slower.get(column, {}).get(value, 0) - tail * rows)
            for value, rows in by_value.items()
            if rows
        }
        for column, by_value in usable.items()
    }
    seen = {c: set(usual_of.percentiles.get(c, {})) for c in usable}
    driver = find_driver(contributions, values_seen=seen, unnamed=frozenset({OTHER}))
    if driver is None:
        return None
    group = _group(groups, driver)
    today = group.slo_percentile_ms if group and group.slo_percentile_ms is not None else 0.0
    was = usual_of.percentiles.get(driver.dimension, {}).get(driver.value)
    name = f"p{percentile:g}"
    text = f"{shown(driver.dimension)} {shown(driver.value)} {name} {today:.0f} ms " + (
        f"(usually {was:.0f} ms)" if was is not None else "(new)"
    )
    return ServiceDriver("latency_slo", driver, text, today, was, usual_of.latency_days)


def error_driver(
    groups: Sequence[GroupMetrics],
    by_status: Mapping[str, int],
    status_rows: int,
    usual_of: ServiceUsual,
) -> ServiceDriver | None:
    """The error status or breakdown value whose errors above their usual drove the day's."""
    if not usual_of.error_days:
        return None
    contributions: dict[str, dict[str, float]] = {}
    if by_status:
        contributions[STATUS] = {
            s: n - usual_of.status_shares.get(s, 0.0) * status_rows
            for s, n in {**dict.fromkeys(usual_of.status_shares, 0), **by_status}.items()
        }
    for g in groups:
        rate = usual_of.error_rates.get(g.column, {}).get(g.value, 0.0)
        contributions.setdefault(g.column, {})[g.value] = g.errors - rate * g.status_rows
    seen = {c: set(usual_of.error_rates.get(c, {})) for c in contributions if c != STATUS}
    driver = find_driver(contributions, values_seen=seen, unnamed=frozenset({OTHER}))
    if driver is None:
        return None
    if driver.dimension == STATUS:
        errors = by_status.get(driver.value, 0)
        was = usual_of.status_shares.get(driver.value, 0.0) * status_rows
        text = (
            f"{shown(driver.value)} on {errors:,} of {count(status_rows, 'request')} "
            f"(usually {was:,.0f})"
        )
        return ServiceDriver("error_rate", driver, text, errors, was, usual_of.error_days)
    group = _group(groups, driver)
    assert group is not None
    rate = group.error_rate or 0.0
    known = usual_of.error_rates.get(driver.dimension, {}).get(driver.value)
    text = (
        f"{shown(driver.dimension)} {shown(driver.value)} {count(group.errors, 'error')} in "
        f"{count(group.status_rows, 'request')}, {rate:.2%} "
        + (f"(usually {known:.2%})" if known is not None else "(new)")
    )
    return ServiceDriver("error_rate", driver, text, rate, known, usual_of.error_days)


def _group(groups: Sequence[GroupMetrics], driver: Driver) -> GroupMetrics | None:
    return next(
        (g for g in groups if g.column == driver.dimension and g.value == driver.value), None
    )
