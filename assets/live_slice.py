"""The live slice: one UTC day of the inference log, typed, with every bad row counted."""

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

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
from assets.parts import Part, part
from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.errors import SourceError
from monitoring_pipelines.core.store.results import ResultRepository
from resources import ResultStoreResource, SliceStoreResource, WarehouseResource

if TYPE_CHECKING:
    from monitoring_pipelines.core.ingest.cleaning import Window
    from monitoring_pipelines.core.ingest.pushdown import DayAggregates, DayScan
    from monitoring_pipelines.core.ingest.slice_store import SliceStore
    from monitoring_pipelines.core.profile.pushed_day import PushedDay


def make_live_slice(
    name: str, monitor: MonitorConfig, partitions_def: dg.PartitionsDefinition
) -> Part:
    key = dg.AssetKey([name, Asset.LIVE_SLICE])
    has_id = monitor.source.request_id_column is not None
    checks = ["volume", "malformed_rows"] + (["duplicate_requests"] if has_id else [])

    @part(
        key=key,
        group_name=name,
        partitions_def=partitions_def,
        check_specs=check_specs(checks, key, partitions_def),
        kinds={"sql", "parquet"},
        description=f"One UTC day of {monitor.source.table}, read in chunks, typed, with "
        "malformed and duplicate rows counted."
        if monitor.source.pushdown == "off"
        else f"One UTC day of {monitor.source.table}: its aggregates computed in the warehouse "
        "and a bounded sample kept as the slice"
        + (" (else read in chunks)" if monitor.source.pushdown == "auto" else "")
        + ", with malformed and duplicate rows counted.",
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
        from monitoring_pipelines.core.profile import pushed_day

        spec = SliceSpec.for_monitor(monitor)
        day = day_of(context)
        store = slices.get_store()
        results = result_store.results()
        window = Window.until(monitor.start_date, datetime.now(UTC).date())
        path = store.path(name, day)
        try:
            pushed = _pushed_day(name, monitor, day, window, warehouse, results)
            if isinstance(pushed, str):
                pushed_day.forget_pushed(path)
                with store.writer(name, day, spec) as writer:
                    quality = write_day_slice(
                        warehouse.read_day(monitor.source, spec.columns, day, window),
                        spec,
                        day,
                        writer.write,
                        window,
                    )
                slice_rows = quality.rows_kept
            else:
                aggregates, record = pushed
                quality = aggregates.quality
                with store.writer(name, day, spec) as writer:
                    if len(aggregates.sample):
                        writer.write(aggregates.sample)
                pushed_day.save_pushed(path, record)
                slice_rows = len(aggregates.sample)
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
        if not isinstance(pushed, str):
            metadata["slice_rows"] = dg.MetadataValue.int(slice_rows)
        metadata["pushdown"] = dg.MetadataValue.text(
            pushed
            if isinstance(pushed, str)
            else f"{monitor.source.pushdown}: aggregates computed in the warehouse "
            f"({pushed[1].dialect}); the slice is a sample of {slice_rows} of the day's "
            f"{quality.rows_kept} rows" + _pulled_note(monitor)
        )
        metadata["path"] = dg.MetadataValue.path(str(store.path(name, day)))
        yield checked(key, metadata, outcomes)

    return live_slice


def _pulled_note(monitor: MonitorConfig) -> str:
    from monitoring_pipelines.core.profile.pushed_day import pulled_parts

    parts = pulled_parts(monitor)
    if not parts:
        return ""
    return f"; pulling their columns of every row: {', '.join(parts)}"


def _later_queries(
    name: str, monitor: MonitorConfig, day: date, results: ResultRepository
) -> "dict[str, Callable[[DayScan], Any]]":
    """The queries of the later stages run over the day's rows with its aggregates: the service
    breakdowns (whose latency driver counts are taken against the usual of the trailing days,
    read as service_metrics reads it) and the token sums."""
    extra: dict[str, Callable[[DayScan], Any]] = {}
    if monitor.service is not None:
        from monitoring_pipelines.core.service.drivers import load_service_usual
        from monitoring_pipelines.core.service.pushed import ServiceQuery, usual_thresholds
        from monitoring_pipelines.core.stats.attribution import usual_window

        window = usual_window(day, monitor.start_date)
        usual = load_service_usual(results, name, window, monitor.service)
        default, thresholds = usual_thresholds(usual, monitor.service)
        dimensions = tuple(monitor.service_dimensions())
        extra["service"] = ServiceQuery(monitor.service, dimensions, default, thresholds)
    if monitor.llm is not None:
        from monitoring_pipelines.core.costs.pushed import CostQuery

        extra["costs"] = CostQuery(monitor.llm)
    return extra


def _pushed_day(
    name: str,
    monitor: MonitorConfig,
    day: date,
    window: "Window",
    warehouse: WarehouseResource,
    results: ResultRepository,
) -> "tuple[DayAggregates, PushedDay] | str":
    """The day pushed down, or why it is pulled (``source.pushdown``): ``auto`` pulls a day
    that cannot be pushed down, ``on`` fails saying why."""
    from monitoring_pipelines.core.ingest import warehouse as wh
    from monitoring_pipelines.core.ingest.pushdown import PushdownDeclined
    from monitoring_pipelines.core.profile.pushed_day import push_day

    mode = monitor.source.pushdown
    if mode == "off":
        return "off: every row of the day pulled"
    if wh.source_problems(name, monitor, warehouse.engine):
        return f"{mode}: every row of the day pulled (the source table lacks a configured column)"
    try:
        reference = results.load_reference(name) or {}
        extra = _later_queries(name, monitor, day, results)
        return push_day(warehouse.engine, monitor, reference, day, window, extra)
    except PushdownDeclined as exc:
        if mode == "on":
            raise failure(
                f"monitor '{name}', {day}: source.pushdown is 'on' but the day cannot be "
                f"pushed down: {exc}",
                monitor=name,
            ) from exc
        return f"auto: every row of the day pulled, because {exc}"


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
    from monitoring_pipelines.core.profile.pushed_day import forget_pushed

    partition = day.isoformat()
    store.path(name, day).unlink(missing_ok=True)
    forget_pushed(store.path(name, day))
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
