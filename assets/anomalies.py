"""Anomalies of the day's operational metrics against their trailing baseline."""

import math
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import get_args

import dagster as dg

from assets.common import (
    check_specs,
    checked,
    day_of,
    earlier_days_of,
    failure,
    numeric_metadata,
    reports_faults,
)
from assets.parts import Part, part
from monitoring_pipelines.core.anomaly.metrics import (
    AnomalyMetric,
    MetricValues,
    ReferenceDays,
    available_metrics,
)
from monitoring_pipelines.core.anomaly.scoring import CHECK, MetricAnomaly, anomaly_check, detect
from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import AnomalyConfig, MonitorConfig
from monitoring_pipelines.core.dimensions import dimensions
from monitoring_pipelines.core.errors import StoreError
from monitoring_pipelines.core.report.inputs import load_daily_metrics
from monitoring_pipelines.core.store.results import ResultRepository
from resources import ResultStoreResource


def anomaly_sources(monitor: MonitorConfig) -> list[str]:
    """The metric assets the monitor has, which the anomalies read."""
    return [
        a
        for a, has in ((Asset.SERVICE_METRICS, monitor.service), (Asset.TOKEN_COSTS, monitor.llm))
        if has
    ]


def make_anomalies(
    name: str, monitor: MonitorConfig, partitions_def: dg.PartitionsDefinition
) -> Part:
    """The ``<monitor>/anomalies`` asset and its ``anomaly`` check.

    Args:
        name: The monitor's name.
        monitor: Its configuration; needs ``anomalies`` and a service or llm section.
        partitions_def: Its daily partitions.
    """
    assert monitor.anomalies is not None
    config = monitor.anomalies
    sources = anomaly_sources(monitor)
    assert sources, f"monitor '{name}' has no service_metrics or token_costs to score"
    reasons = available_metrics(monitor)
    measured = [m for m, why in reasons.items() if why is None]
    unavailable = {m: why for m, why in reasons.items() if why is not None}
    key = dg.AssetKey([name, Asset.ANOMALIES])

    @part(
        key=key,
        group_name=name,
        partitions_def=partitions_def,
        deps=[earlier_days_of(dg.AssetKey([name, s]), 2 * config.baseline_days, 0) for s in sources]
        # The reference's days top up a short live baseline.
        + ([dg.AssetKey([name, Asset.REFERENCE_PROFILE])] if monitor.reference else []),
        check_specs=check_specs([CHECK], key, partitions_def),
        description=f"Robust z of the day's {', '.join(measured) or 'metrics'} against the "
        f"trailing {config.baseline_days} days (same weekday first), topped up with the "
        "reference's days while the live ones are fewer.",
    )
    @reports_faults(name)
    def anomalies(
        context: dg.AssetExecutionContext, result_store: ResultStoreResource
    ) -> dg.MaterializeResult:
        day = day_of(context)
        store = result_store.results()
        try:
            results = score_day(
                store, name, day, config, sources, measured, monitor.reference is not None
            )
        except StoreError as exc:
            raise failure(f"monitor '{name}', {day}: {exc}", monitor=name) from exc
        outcome = anomaly_check(results, config, unavailable)
        return checked(key, anomaly_metadata(results), [outcome])

    return anomalies


def score_day(
    store: ResultRepository,
    name: str,
    day: date,
    config: AnomalyConfig,
    sources: Sequence[str],
    metrics: Sequence[str],
    has_reference: bool = True,
) -> list[MetricAnomaly]:
    """Score ``day`` from the stored metrics of its window (and the reference's days, when the
    monitor has a reference) and store the results (replacing the partition's, so a rerun is
    idempotent)."""
    # Twice the baseline: the earlier days are scored in turn to find an ongoing change.
    first, last = (day - timedelta(days=2 * config.baseline_days)).isoformat(), day.isoformat()
    stored: dict[str, Mapping[date, MetricValues]] = {
        source: load_daily_metrics(store, name, source, first, last) for source in sources
    }
    results = detect(
        day,
        stored.get(Asset.SERVICE_METRICS, {}),
        stored.get(Asset.TOKEN_COSTS, {}),
        config,
        [m for m in config.metrics if m in metrics],
        load_reference_days(store, name) if has_reference else NO_REFERENCE,
    )
    store.save_metrics(
        name,
        Asset.ANOMALIES,
        day.isoformat(),
        {
            (stat, dimensions(metric=r.metric)): _stored(v)
            for r in results
            for stat, v in r.numbers().items()
        },
    )
    return results


NO_REFERENCE = ReferenceDays(reasons=dict.fromkeys(get_args(AnomalyMetric), "no reference"))


def load_reference_days(store: ResultRepository, name: str) -> ReferenceDays:
    """The reference days stored with the monitor's current reference; with none, why each
    metric's baseline is live only."""
    records = store.load_reference_days(name)
    if records is None:
        current = store.reference_hash(name)
        why = "the reference is not built" if current is None else "no reference days are stored"
        return ReferenceDays(reasons=dict.fromkeys(get_args(AnomalyMetric), why))
    if records.reference_hash != store.reference_hash(name):
        why = "the stored reference days are of an earlier reference"
        return ReferenceDays(reasons=dict.fromkeys(get_args(AnomalyMetric), why))
    return ReferenceDays.from_stored(records.values, records.notes)


def anomaly_metadata(results: Sequence[MetricAnomaly]) -> dict[str, dg.MetadataValue]:
    """Per metric its value, baseline median, MAD, robust z, relative change, baseline days and
    reference days among them (plotted per partition), a table of the day, and why a metric's
    baseline has no reference days."""
    values = {f"{r.metric}/{stat}": v for r in results for stat, v in r.numbers().items()}
    values["metrics_anomalous"] = sum(r.failing for r in results)
    metadata = numeric_metadata(values)
    rows = [
        "| metric | status | value | median | MAD | robust z | change | baseline |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        numbers, mode = r.numbers(), f", {r.baseline.mode}" if r.baseline else ""
        if r.baseline and r.baseline.reference_days:
            mode = f" ({r.baseline.reference_days} of the reference){mode}"
        rows.append(
            f"| {r.metric} | {r.status} | {_num(numbers['value'])} | {_num(numbers['median'])} "
            f"| {_num(numbers['mad'])} | {_num(r.z, '.1f')} | {_pct(r.relative_change)} "
            f"| {r.baseline_days} days{mode} |"
        )
    metadata["anomalies"] = dg.MetadataValue.md("\n".join(rows))
    drivers: dict[str, str] = {
        r.metric: f"{r.driver.dimension}={r.driver.value}" for r in results if r.driver
    }
    if drivers:
        metadata["drivers"] = dg.MetadataValue.json(drivers)
    live_only: dict[str, str] = {r.metric: r.live_only for r in results if r.live_only}
    if live_only:
        metadata["baseline_live_only"] = dg.MetadataValue.json(live_only)
    return metadata


def _stored(value: float | None) -> float | None:
    """Stored as a float; an infinite change (from a zero baseline) as missing, as in the
    metadata."""
    return float(value) if value is not None and math.isfinite(value) else None


def _num(value: float | None, spec: str = ".4g") -> str:
    return "" if value is None else format(value, spec)


def _pct(value: float | None) -> str:
    if value is None:
        return ""
    return "new" if math.isinf(value) else f"{value:+.0%}"
