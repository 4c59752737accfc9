"""Data quality of the day's slice (Great Expectations) and schema changes of the source table.

Great Expectations is imported by ``monitoring_pipelines.core.quality`` only while this
asset validates a day, so runs that do not materialize it never pay for the import.
"""

from dataclasses import replace
from typing import TYPE_CHECKING

import dagster as dg

from assets.common import check_specs, checked, day_of, failure, numeric_metadata, reports_faults
from assets.parts import Part, part
from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.errors import SourceError, StoreError
from resources import ResultStoreResource, SliceStoreResource, WarehouseResource

if TYPE_CHECKING:
    from monitoring_pipelines.core.quality.results import QualityReport


def make_data_quality(
    name: str, monitor: MonitorConfig, partitions_def: dg.PartitionsDefinition
) -> Part:
    assert monitor.reference is not None, "data_quality derives its suite from the reference"
    key = dg.AssetKey([name, Asset.DATA_QUALITY])
    source = monitor.source

    @part(
        key=key,
        group_name=name,
        partitions_def=partitions_def,
        deps=[dg.AssetKey([name, Asset.LIVE_SLICE]), dg.AssetKey([name, Asset.REFERENCE_PROFILE])],
        check_specs=check_specs(["data_quality", "schema_change"], key, partitions_def),
        kinds={"great_expectations"},
        description="Great Expectations suite derived from the reference (types, nulls, "
        "ranges, categories, row count) validated on the day's slice, and schema changes of "
        "the source table.",
    )
    @reports_faults(name)
    def data_quality(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        slices: SliceStoreResource,
        result_store: ResultStoreResource,
    ) -> dg.MaterializeResult:
        # Imported by the step, not with the definitions: they bring pandas (and GX, later).
        from monitoring_pipelines.core.ingest import warehouse as wh
        from monitoring_pipelines.core.profile.pushed_day import load_pushed
        from monitoring_pipelines.core.quality.batches import day_batches
        from monitoring_pipelines.core.quality.check import (
            quality_check,
            quality_metrics,
            quality_values,
        )
        from monitoring_pipelines.core.quality.schema import (
            SNAPSHOT_ASSET,
            diff_source_schema,
            schema_check,
            snapshot_metrics,
        )
        from monitoring_pipelines.core.quality.suite import derive_suite
        from monitoring_pipelines.core.quality.validate import validate_day

        day = day_of(context)
        partition = context.partition_key
        store = result_store.results()
        reference = store.load_reference(name)
        if not reference:
            raise failure(
                f"monitor '{name}' has no reference profile yet: materialize "
                f"{name}/reference_profile first",
                monitor=name,
            )
        try:
            columns = wh.table_columns(warehouse.engine, source.table, source.db_schema)
            suite = derive_suite(monitor, reference)
            sample_rows = monitor.checks.quality_sample_rows
            slice_store = slices.get_store()
            batches, day_rows = day_batches(slice_store, name, day, suite, sample_rows)
            pushed = load_pushed(slice_store.path(name, day))
            if pushed is not None:
                # A pushed-down day's slice is already its sample: validated whole, against
                # the day's row count.
                day_rows = pushed.rows
                sample_rows = max(day_rows, 1)
            report = validate_day(suite, batches, day_rows=day_rows, sample_rows=sample_rows)
            if pushed is not None and report.rows < pushed.rows:
                report = replace(report, day_rows=pushed.rows)  # validated on a sample
        except (SourceError, StoreError) as exc:
            raise failure(f"monitor '{name}', {day}: {exc}", monitor=name) from exc
        diff = diff_source_schema(
            monitor,
            columns,
            store.load_metrics(name, SNAPSHOT_ASSET),
            partition,
            {c: s.kind for c, s in reference.items()},
        )
        outcomes = [quality_check(report), schema_check(diff)]
        store.save_metrics(name, SNAPSHOT_ASSET, partition, snapshot_metrics(diff.columns))
        store.save_metrics(name, Asset.DATA_QUALITY, partition, quality_metrics(report))
        context.log.info(
            f"{name} {day}: {report.rows} rows validated in {report.batches} batch(es), "
            f"{report.seconds:.2f} s"
        )
        metadata = numeric_metadata(
            {
                **quality_values(report),
                "schema_changes": len(diff.changes),
                "day_rows": report.day_rows if report.day_rows is not None else report.rows,
                "columns": len(diff.columns),
            }
        )
        metadata["expectations"] = dg.MetadataValue.md(expectations_table(report))
        metadata["schema"] = dg.MetadataValue.json(dict(diff.columns))
        return checked(key, metadata, outcomes)

    return data_quality


def expectations_table(report: "QualityReport") -> str:
    """A markdown table of the day's expectations, failing ones first."""
    lines = [
        "| expectation | verdict | unexpected | share | allowed | expected | examples |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(report.results, key=lambda r: r.success):
        verdict = "error" if r.error else ("pass" if r.success else "FAIL")
        unexpected = "-" if r.unexpected_count is None else str(r.unexpected_count)
        share = "-" if r.unexpected_share is None else f"{r.unexpected_share:.2%}"
        allowed = "-" if r.allowed_share is None else f"{r.allowed_share:.2%}"
        if r.kind == "row_count" or (r.unexpected_count is None and r.observed is not None):
            unexpected = str(r.observed)
        examples = ", ".join(r.examples) if r.examples else (r.error or "")
        lines.append(
            f"| {r.name} | {verdict} | {unexpected} | {share} | {allowed} | "
            f"{r.expected.replace('|', '/')} | {examples.replace('|', '/')[:120]} |"
        )
    return "\n".join(lines)
