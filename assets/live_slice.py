"""The live slice: one UTC day of the inference log, typed, with every bad row counted."""

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import dagster as dg

from assets.common import (
    check_evaluation,
    check_specs,
    checked,
    day_of,
    failure,
    numeric_metadata,
    reports_faults,
)
from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.errors import SourceError
from monitoring_pipelines.core.store.results import ResultRepository
from resources import ResultStoreResource, SliceStoreResource, WarehouseResource

if TYPE_CHECKING:
    from monitoring_pipelines.core.ingest.slice_store import SliceStore


def make_live_slice(
    name: str, monitor: MonitorConfig, partitions_def: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    key = dg.AssetKey([name, Asset.LIVE_SLICE])
    has_id = monitor.source.request_id_column is not None
    checks = ["volume", "malformed_rows"] + (["duplicate_requests"] if has_id else [])

    @dg.asset(
        key=key,
        group_name=name,
        partitions_def=partitions_def,
        check_specs=check_specs(checks, key, partitions_def),
        kinds={"sql", "parquet"},
        description=f"One UTC day of {monitor.source.table}, read in chunks, typed, with "
        "malformed and duplicate rows counted.",
    )
    @reports_faults(name)
    def live_slice(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        slices: SliceStoreResource,
        result_store: ResultStoreResource,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckEvaluation]:
        # Imported by the step, not with the definitions: they bring pandas and pyarrow.
        from monitoring_pipelines.core.ingest.cleaning import SliceSpec, Window, write_day_slice
        from monitoring_pipelines.core.ingest.live_checks import rows_without_day, slice_checks

        spec = SliceSpec.for_monitor(monitor)
        day = day_of(context)
        store = slices.get_store()
        results = result_store.results()
        window = Window.until(monitor.start_date, datetime.now(UTC).date())
        try:
            with store.writer(name, day, spec) as writer:
                quality = write_day_slice(
                    warehouse.read_day(monitor.source, spec.columns, day, window),
                    spec,
                    day,
                    writer.write,
                    window,
                )
            outside = warehouse.rows_outside_window(monitor.source, window)
        except SourceError as exc:
            yield from _schema_fault(name, monitor, day, warehouse, store, results)
            raise failure(f"monitor '{name}', {day}: {exc}", monitor=name) from exc
        findings = quality.to_dict()
        results.save_slice_quality(
            name, context.partition_key, quality.rows_read, quality.rows_kept, findings
        )
        outcomes = slice_checks(quality, monitor.checks, has_id, outside, window)
        orphans = rows_without_day(quality, outside)
        metadata = numeric_metadata(
            {
                "rows": quality.rows_kept,
                "rows_read": quality.rows_read,
                "malformed_rows": quality.malformed_rows,
                "duplicate_rows": quality.duplicate_rows,
                "malformed_share": quality.share(quality.malformed_rows),
                "rows_without_day": orphans.total,
                "rows_before_start": orphans.before,
                "rows_in_future": orphans.after,
            }
        )
        metadata["findings"] = dg.MetadataValue.json(findings)
        metadata["path"] = dg.MetadataValue.path(str(store.path(name, day)))
        yield checked(key, metadata, outcomes)

    return live_slice


def _schema_fault(
    name: str,
    monitor: MonitorConfig,
    day: date,
    warehouse: WarehouseResource,
    store: "SliceStore",
    results: ResultRepository,
) -> Iterator[dg.AssetCheckEvaluation]:
    """When the source lost its table or a configured column, the day cannot be computed:
    its slice and stored results from an earlier run go (they would read as current), and
    ``schema_change`` (on ``data_quality``, which will not run) reports the change."""
    from monitoring_pipelines.core.ingest import warehouse as wh
    from monitoring_pipelines.core.quality.schema import (
        SNAPSHOT_ASSET,
        diff_source_schema,
        schema_check,
        snapshot_metrics,
    )

    if not wh.source_problems(name, monitor, warehouse.engine):
        return  # a passing fault (connection, permissions): the earlier results stay
    partition = day.isoformat()
    store.path(name, day).unlink(missing_ok=True)
    results.clear_partition(name, partition)
    if monitor.reference is None:
        return
    try:
        columns = wh.table_columns(warehouse.engine, monitor.source.table, monitor.source.db_schema)
    except SourceError:
        return  # the table is gone: the failure says so
    reference = results.load_reference(name)
    diff = diff_source_schema(
        monitor,
        columns,
        results.load_metrics(name, SNAPSHOT_ASSET),
        partition,
        {c: s.kind for c, s in reference.items()} if reference else None,
    )
    results.save_metrics(name, SNAPSHOT_ASSET, partition, snapshot_metrics(diff.columns))
    outcome = schema_check(diff)
    yield check_evaluation(outcome, dg.AssetKey([name, Asset.DATA_QUALITY]), partition)
