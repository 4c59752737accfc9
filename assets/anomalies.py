"""Anomalies of the day's operational metrics against their trailing baseline."""

import math
from collections.abc import Mapping, Sequence
from datetime import date, timedelta

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
from monitoring_pipelines.core.anomaly.metrics import (
    MetricValues,
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
) -> dg.AssetsDefinition:
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

    @dg.asset(
        key=key,
        group_name=name,
        partitions_def=partitions_def,
        deps=[
            earlier_days_of(dg.AssetKey([name, s]), 2 * config.baseline_days, 0) for s in sources
        ],
        check_specs=check_specs([CHECK], key, partitions_def),
        description=f"Robust z of the day's {', '.join(measured) or 'metrics'} against the "
        f"trailing {config.baseline_days} days (same weekday first).",
    )
    @reports_faults(name)
    def anomalies(
        context: dg.AssetExecutionContext, result_store: ResultStoreResource
    ) -> dg.MaterializeResult:
        day = day_of(context)
        store = result_store.results()
        try:
            results = score_day(store, name, day, config, sources, measured)
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
) -> list[MetricAnomaly]:
    """Score ``day`` from the stored metrics of its window and store the results (replacing the
    partition's, so a rerun is idempotent)."""
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


def anomaly_metadata(results: Sequence[MetricAnomaly]) -> dict[str, dg.MetadataValue]:
    """Per metric its value, baseline median, MAD, robust z, relative change and baseline days
    (plotted per partition), and a table of the day."""
    values = {f"{r.metric}/{stat}": v for r in results for stat, v in r.numbers().items()}
    values["metrics_anomalous"] = sum(r.failing for r in results)
    metadata = numeric_metadata(values)
    rows = [
        "| metric | status | value | median | MAD | robust z | change | baseline |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        numbers, mode = r.numbers(), f", {r.baseline.mode}" if r.baseline else ""
        rows.append(
            f"| {r.metric} | {r.status} | {_num(numbers['value'])} | {_num(numbers['median'])} "
            f"| {_num(numbers['mad'])} | {_num(r.z, '.1f')} | {_pct(r.relative_change)} "
            f"| {r.baseline_days} days{mode} |"
        )
    metadata["anomalies"] = dg.MetadataValue.md("\n".join(rows))
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
