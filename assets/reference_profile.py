"""The reference profile: bins, vocabularies and whylogs profile of the training data."""

from collections.abc import Sequence

import dagster as dg

from assets.common import failure, reports_faults
from assets.parts import Part, part
from monitoring_pipelines.core.anomaly.metrics import (
    AnomalyMetric,
    ReferenceDays,
    available_metrics,
)
from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.errors import SourceError
from resources import ResultStoreResource, WarehouseResource


def make_reference_profile(name: str, monitor: MonitorConfig) -> Part:
    assert monitor.reference is not None
    reference = monitor.reference
    anomalies = monitor.anomalies
    has_anomalies = anomalies is not None and anomalies.enabled and (monitor.service or monitor.llm)
    scored = [m for m, why in available_metrics(monitor).items() if why is None and has_anomalies]

    @part(
        key=[name, Asset.REFERENCE_PROFILE],
        group_name=name,
        kinds={"whylogs"},
        description="Bins, category vocabularies and whylogs profile of the reference "
        "(training) data; daily drift is measured against it.",
    )
    @reports_faults(name)
    def reference_profile(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        result_store: ResultStoreResource,
    ) -> dg.MaterializeResult:
        # Imported by the step, not with the definitions: it brings pandas and whylogs.
        from monitoring_pipelines.core.profile.fitting import ColumnPlan, fit_reference

        plan = ColumnPlan.for_monitor(monitor)
        seasonal = monitor.drift.seasonality != "none"
        try:
            # Taken before the read: a reference that changes during the fit looks changed
            # to the next backfill, which fits it again. One that cannot be read is left to
            # the fit, which says why.
            try:
                fingerprint: str | None = warehouse.reference_fingerprint(monitor)
            except SourceError:
                fingerprint = None
            time_column = None
            if seasonal or scored:
                time_column = warehouse.reference_time_column(
                    reference, monitor.source.timestamp_column
                )
            season_column = time_column if seasonal else None
            fitted = fit_reference(
                warehouse.read_reference(
                    reference, [*plan.columns, *filter(None, [season_column])]
                ),
                plan,
                bins=monitor.drift.bins,
                sample_size=monitor.drift.p_value_sample,
                profile_rows=monitor.profile.sample_rows,
                time_column=season_column,
            )
        except SourceError as exc:
            raise failure(f"monitor '{name}': {exc}", monitor=name) from exc
        if fitted.rows == 0:
            raise failure(f"monitor '{name}': the reference has no rows", monitor=name)
        store = result_store.results()
        store.save_reference(
            name,
            fitted.sketches,
            fitted.profile,
            fitted.summary,
            fitted.rows,
            fitted.content_hash,
            fitted.seasons,
        )
        if fingerprint is not None:
            store.save_reference_source(name, fingerprint)
        days = None
        if scored:
            days = anomaly_days(warehouse, monitor, scored, time_column)
            store.save_reference_days(name, fitted.content_hash, *days.stored())
        context.log.info(f"reference of {name}: {fitted.rows} rows, hash {fitted.content_hash}")
        return dg.MaterializeResult(
            metadata={
                "rows": dg.MetadataValue.int(fitted.rows),
                "columns": dg.MetadataValue.int(len(fitted.sketches)),
                "reference_hash": dg.MetadataValue.text(fitted.content_hash),
                "bins": dg.MetadataValue.json({s.column: len(s.counts) for s in fitted.sketches}),
                "weekdays": dg.MetadataValue.json(
                    {k.split("=", 1)[1]: v.days for k, v in fitted.seasons.items()}
                ),
                **({"anomaly_baseline_days": anomaly_metadata(days)} if days else {}),
            },
            data_version=dg.DataVersion(fitted.content_hash),
        )

    return reference_profile


def anomaly_days(
    warehouse: WarehouseResource,
    monitor: MonitorConfig,
    metrics: Sequence[AnomalyMetric],
    time_column: str | None,
) -> ReferenceDays:
    """The anomaly metrics of each reference day, read apart from the fit (a reference without
    the service or LLM columns still fits; its anomalies then have a live-only baseline)."""
    from monitoring_pipelines.core.anomaly.reference import measure_reference, readable_columns

    assert monitor.reference is not None
    try:
        available = warehouse.reference_columns(monitor.reference) if time_column else None
        columns, reasons = readable_columns(monitor, metrics, time_column, available)
        if not columns:
            return ReferenceDays({}, reasons)
        chunks = warehouse.read_reference(monitor.reference, columns)
        return measure_reference(chunks, monitor, metrics, time_column, reasons)
    except SourceError as exc:
        return ReferenceDays({}, {m: str(exc) for m in metrics})


def anomaly_metadata(days: ReferenceDays) -> dg.MetadataValue:
    """Per anomaly metric, its reference days, or why it has none."""
    counts: dict[str, int | str] = {m: len(v) for m, v in days.values.items()}
    return dg.MetadataValue.json(counts | {m: why for m, why in days.reasons.items()})
