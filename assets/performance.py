"""Model performance from delayed labels, re-materialized as late labels land."""

from pathlib import Path

import dagster as dg

from assets.common import (
    check_specs,
    checked,
    day_of,
    failure,
    numeric_metadata,
    reports_faults,
    slice_window,
)
from assets.parts import Part, part
from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.errors import SourceError, StoreError
from monitoring_pipelines.core.performance.policy import PerformanceSpec
from resources import ResultStoreResource, SliceStoreResource, WarehouseResource


def make_performance(
    name: str,
    monitor: MonitorConfig,
    partitions_def: dg.PartitionsDefinition,
    spec: PerformanceSpec | None = None,
) -> Part:
    """The ``<monitor>/performance`` asset and its ``performance`` check.

    Args:
        name: The monitor's name.
        monitor: Its configuration; needs ``labels``, ``prediction`` and
            ``source.request_id_column``.
        partitions_def: Its daily partitions.
        spec: What to compute; by default read from ``monitor``.
    """
    if monitor.labels is None or monitor.prediction is None:
        raise ValueError(f"monitor '{name}': performance needs 'labels' and 'prediction'")
    if monitor.source.request_id_column is None:
        raise ValueError(f"monitor '{name}': labels need 'source.request_id_column' to join on")
    spec = spec or PerformanceSpec.for_monitor(monitor)
    labels = monitor.labels
    key = dg.AssetKey([name, Asset.PERFORMANCE])

    @part(
        key=key,
        group_name=name,
        partitions_def=partitions_def,
        deps=[dg.AssetKey([name, Asset.LIVE_SLICE])],
        check_specs=check_specs(["performance"], key, partitions_def),
        kinds={"sql"},
        description=f"Performance of the day's predictions against the labels in {labels.table} "
        "so far (accuracy/F1 or MAE/RMSE, coverage, change from the reference), overall and "
        "per segment value.",
    )
    @reports_faults(name)
    def performance(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        slices: SliceStoreResource,
        result_store: ResultStoreResource,
    ) -> dg.MaterializeResult:
        # Imported by the step, not with the definitions: they bring pandas.
        from monitoring_pipelines.core.ingest import labels as gt
        from monitoring_pipelines.core.ingest.narrow_pull import pull_columns
        from monitoring_pipelines.core.performance.baseline import resolve_baseline
        from monitoring_pipelines.core.performance.day import (
            evaluate_day,
            prediction_columns,
            predictions_of,
            read_predictions,
        )
        from monitoring_pipelines.core.profile.pushed_day import load_pushed

        day = day_of(context)
        store = result_store.results()
        try:
            slice_store = slices.get_store()
            pushed = load_pushed(slice_store.path(name, day))
            if pushed is None:
                predictions = read_predictions(slice_store, name, day, spec)
            else:
                # A pushed-down day's slice is its sample: every prediction is joined to its
                # label, so the prediction columns of every row are pulled.
                window = slice_window(monitor.start_date)
                columns = prediction_columns(spec)
                pulled = pull_columns(warehouse.read_day, monitor, day, columns, window)
                predictions = predictions_of(pulled, spec)
            day_labels = gt.read_day_labels(
                warehouse.engine,
                monitor.source,
                labels,
                day,
                numeric=spec.kind == "score",
                chunk_rows=monitor.source.chunk_rows,
            )
            baseline = resolve_baseline(
                store, warehouse.engine, Path(warehouse.config_dir), name, monitor, spec, day
            )
        except (StoreError, SourceError, FileNotFoundError) as exc:
            raise failure(f"monitor '{name}', {day}: {exc}", monitor=name) from exc
        result = evaluate_day(spec, predictions, day_labels, baseline)
        store.save_metrics(name, Asset.PERFORMANCE, context.partition_key, result.rows())
        metadata = numeric_metadata(result.metadata())
        metadata["pushdown"] = dg.MetadataValue.text(
            "every row of the day's slice read"
            if pushed is None
            else "the day was pushed down, but labels are joined to every prediction: the "
            f"request id and {', '.join(prediction_columns(spec))} of every row were pulled "
            "from the warehouse"
        )
        return checked(key, metadata, [result.check()])

    return performance
