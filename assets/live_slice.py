"""The live slice: one UTC day of the inference log, typed, with every bad row counted."""

import dagster as dg

from assets.common import (
    check_result,
    check_specs,
    day_of,
    failure,
    numeric_metadata,
    reports_faults,
)
from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.errors import SourceError
from monitoring_pipelines.core.ingest.cleaning import SliceSpec, write_day_slice
from monitoring_pipelines.core.ingest.live_checks import slice_checks
from resources import ResultStoreResource, SliceStoreResource, WarehouseResource


def make_live_slice(
    name: str, monitor: MonitorConfig, partitions_def: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    key = dg.AssetKey([name, Asset.LIVE_SLICE])
    spec = SliceSpec.for_monitor(monitor)
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
    ) -> dg.MaterializeResult:
        day = day_of(context)
        store = slices.get_store()
        try:
            with store.writer(name, day, spec) as writer:
                quality = write_day_slice(
                    warehouse.read_day(monitor.source, spec.columns, day), spec, day, writer.write
                )
            orphans = warehouse.rows_without_day(monitor.source)
        except SourceError as exc:
            raise failure(f"monitor '{name}', {day}: {exc}", monitor=name) from exc
        findings = quality.to_dict()
        result_store.results().save_slice_quality(
            name, context.partition_key, quality.rows_read, quality.rows_kept, findings
        )
        outcomes = slice_checks(quality, monitor.checks, has_id, orphans)
        metadata = numeric_metadata(
            {
                "rows": quality.rows_kept,
                "rows_read": quality.rows_read,
                "malformed_rows": quality.malformed_rows,
                "duplicate_rows": quality.duplicate_rows,
                "malformed_share": quality.share(quality.malformed_rows),
                "rows_without_day": orphans,
            }
        )
        metadata["findings"] = dg.MetadataValue.json(findings)
        metadata["path"] = dg.MetadataValue.path(str(store.path(name, day)))
        return dg.MaterializeResult(
            metadata=metadata, check_results=[check_result(o, key) for o in outcomes]
        )

    return live_slice
