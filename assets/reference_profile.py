"""The reference profile: bins, vocabularies and whylogs profile of the training data."""

import dagster as dg

from assets.common import failure, reports_faults
from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.errors import SourceError
from resources import ResultStoreResource, WarehouseResource


def make_reference_profile(name: str, monitor: MonitorConfig) -> dg.AssetsDefinition:
    assert monitor.reference is not None
    reference = monitor.reference

    @dg.asset(
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
        try:
            time_column = None
            if monitor.drift.seasonality != "none":
                time_column = warehouse.reference_time_column(
                    reference, monitor.source.timestamp_column
                )
            fitted = fit_reference(
                warehouse.read_reference(reference, [*plan.columns, *filter(None, [time_column])]),
                plan,
                bins=monitor.drift.bins,
                sample_size=monitor.drift.p_value_sample,
                profile_rows=monitor.profile.sample_rows,
                time_column=time_column,
            )
        except SourceError as exc:
            raise failure(f"monitor '{name}': {exc}", monitor=name) from exc
        if fitted.rows == 0:
            raise failure(f"monitor '{name}': the reference has no rows", monitor=name)
        result_store.results().save_reference(
            name,
            fitted.sketches,
            fitted.profile,
            fitted.summary,
            fitted.rows,
            fitted.content_hash,
            fitted.seasons,
        )
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
            },
            data_version=dg.DataVersion(fitted.content_hash),
        )

    return reference_profile
