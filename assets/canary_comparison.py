"""Canary comparison of two model versions serving the same day, with its verdict check."""

import dagster as dg
import numpy as np

from assets.common import (
    check_specs,
    checked,
    day_of,
    earlier_days_of,
    failure,
    numeric_metadata,
    reports_faults,
    slice_window,
)
from assets.parts import Part, part
from monitoring_pipelines.core.canary.check import (
    CHECK,
    canary_check,
    canary_columns,
    canary_metadata,
    day_rows,
    stored_metrics,
)
from monitoring_pipelines.core.canary.compare import compare_day, first_seen
from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.errors import SourceError, StoreError
from resources import ResultStoreResource, SliceStoreResource, WarehouseResource


def make_canary(name: str, monitor: MonitorConfig, partitions_def: dg.PartitionsDefinition) -> Part:
    """The ``<monitor>/canary_comparison`` asset and its ``canary`` check."""
    if monitor.canary is None:
        raise ValueError(f"monitor '{name}': the canary comparison needs 'canary'")
    canary = monitor.canary
    key = dg.AssetKey([name, Asset.CANARY_COMPARISON])
    columns = canary_columns(monitor)

    @part(
        key=key,
        group_name=name,
        partitions_def=partitions_def,
        # The candidate is the newest version in the history of the days before.
        deps=[dg.AssetKey([name, Asset.LIVE_SLICE]), earlier_days_of(key, 1)],
        check_specs=check_specs([CHECK], key, partitions_def),
        description=f"The day's candidate model version against its baseline (by "
        f"{canary.version_column}): p95 latency, error rate, cost per request, predictions, "
        "and a promote / hold / roll back verdict.",
    )
    @reports_faults(name)
    def canary_comparison(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        slices: SliceStoreResource,
        result_store: ResultStoreResource,
    ) -> dg.MaterializeResult:
        from monitoring_pipelines.core.ingest.narrow_pull import pull_columns
        from monitoring_pipelines.core.profile.pushed_day import load_pushed

        day = day_of(context)
        store = result_store.results()
        try:
            slice_store = slices.get_store()
            pushed = load_pushed(slice_store.path(name, day))
            if pushed is None:
                frame = slice_store.frame(name, day, columns)
            else:
                # A pushed-down day's slice is its sample; the bootstrap intervals resample
                # every request of both versions, so their columns of every row are pulled.
                window = slice_window(monitor.start_date)
                frame = pull_columns(warehouse.read_day, monitor, day, columns, window)
            history = store.load_metrics(name, Asset.CANARY_COMPARISON)
        except (StoreError, SourceError, FileNotFoundError) as exc:
            raise failure(f"monitor '{name}', {day}: {exc}", monitor=name) from exc
        result = compare_day(
            day_rows(frame, monitor, day),
            canary,
            np.random.default_rng(day.toordinal()),
            seen=first_seen(history, context.partition_key),
            bins=monitor.drift.bins,
            sample_rows=monitor.drift.p_value_sample,
        )
        store.save_metrics(
            name, Asset.CANARY_COMPARISON, context.partition_key, stored_metrics(result)
        )
        metadata = numeric_metadata(canary_metadata(result))
        metadata["pushdown"] = dg.MetadataValue.text(
            "every row of the day's slice read"
            if pushed is None
            else "the day was pushed down, but the bootstrap intervals resample every request: "
            f"{', '.join(columns)} of every row were pulled from the warehouse"
        )
        return checked(key, metadata, [canary_check(result)])

    return canary_comparison
