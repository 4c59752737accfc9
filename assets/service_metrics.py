"""Service metrics of the endpoint: latency percentiles, error rate, volume, SLO checks, per
dimension value and per hour of the day."""

from datetime import date
from typing import TYPE_CHECKING

import dagster as dg
import numpy as np
import numpy.typing as npt

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
from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.errors import StoreError
from monitoring_pipelines.core.stats.attribution import USUAL_DAYS, usual_window
from resources import ResultStoreResource, SliceStoreResource

if TYPE_CHECKING:
    from monitoring_pipelines.core.ingest.slice_store import SliceStore
    from monitoring_pipelines.core.service.day import ServiceDay
    from monitoring_pipelines.core.service.drivers import ServiceUsual


def make_service_metrics(
    name: str, monitor: MonitorConfig, partitions_def: dg.PartitionsDefinition
) -> Part:
    assert monitor.service is not None
    service = monitor.service
    dimensions = monitor.service_dimensions()
    key = dg.AssetKey([name, Asset.SERVICE_METRICS])
    checks = []
    if service.slo.latency_ms is not None and service.latency_column:
        checks.append("latency_slo")
    if service.slo.error_rate is not None and service.status_column:
        checks.append("error_rate")

    @part(
        key=key,
        group_name=name,
        partitions_def=partitions_def,
        # What drove a failing day is read against the usual of the trailing days.
        deps=[dg.AssetKey([name, Asset.LIVE_SLICE]), earlier_days_of(key, USUAL_DAYS)],
        check_specs=check_specs(checks, key, partitions_def),
        description="Latency p50/p95/p99 (exact), error rate and volume of the day, per "
        "dimension value and per hour, with the day's SLO event counts"
        + (
            " (computed in the warehouse when the day is pushed down)."
            if monitor.source.pushdown != "off"
            else "."
        ),
    )
    @reports_faults(name)
    def service_metrics(
        context: dg.AssetExecutionContext,
        slices: SliceStoreResource,
        result_store: ResultStoreResource,
    ) -> dg.MaterializeResult:
        # Imported by the step, not with the definitions: they bring pandas.
        from monitoring_pipelines.core.profile.pushed_day import load_pushed
        from monitoring_pipelines.core.service.day import (
            service_day_rows,
            service_day_tables,
            service_day_values,
        )
        from monitoring_pipelines.core.service.drivers import load_service_usual
        from monitoring_pipelines.core.service.metrics import service_checks
        from monitoring_pipelines.core.service.pushed import PushedService, pushed_service

        day = day_of(context)
        store = result_store.results()
        window = usual_window(day, monitor.start_date)
        computed: PushedService | None = None
        try:
            usual = load_service_usual(store, name, window, service)
            slice_store = slices.get_store()
            pushed = load_pushed(slice_store.path(name, day))
            if pushed is not None:
                # A pushed-down day: the warehouse's counts and order statistics of every row.
                computed = pushed_service(
                    pushed.section("service", "service"),
                    service,
                    pushed.rows,
                    pushed.latency_percentiles,
                    dimensions,
                )
                result = computed.with_drivers(service, usual)
            else:
                result = service_day(slice_store, name, day, monitor, dimensions, usual)
        except (StoreError, FileNotFoundError) as exc:
            raise failure(f"monitor '{name}', {day}: {exc}", monitor=name) from exc
        store.save_metrics(
            name, Asset.SERVICE_METRICS, context.partition_key, service_day_rows(result)
        )
        metadata = numeric_metadata(service_day_values(result))
        for title, table in service_day_tables(result).items():
            metadata[title] = dg.MetadataValue.json(table)
        metadata["pushdown"] = dg.MetadataValue.text(
            "every row of the day's slice read"
            if computed is None or pushed is None
            else f"counts and order statistics per hour and per dimension value computed in "
            f"the warehouse ({pushed.dialect}) over every row of the day"
            + computed.driver_note(service, usual)
        )
        drivers = {"latency_slo": result.latency_driver, "error_rate": result.error_driver}
        return checked(key, metadata, service_checks(result.metrics, service, drivers))

    return service_metrics


def service_day(
    store: "SliceStore",
    name: str,
    day: date,
    monitor: MonitorConfig,
    dimensions: list[str],
    usual: "ServiceUsual | None" = None,
) -> "ServiceDay":
    """Read the day's service columns from its slice and compute its metrics (and, given the
    usual of the trailing days, what drove a failing day)."""
    from monitoring_pipelines.core.ingest.cleaning import TIMESTAMP
    from monitoring_pipelines.core.service.day import compute_service_day

    assert monitor.service is not None
    service = monitor.service
    columns = [TIMESTAMP, *(c for c in (service.latency_column, service.status_column) if c)]
    frame = store.frame(name, day, [*columns, *dimensions])
    latency = (
        frame[service.latency_column].to_numpy(dtype=np.float64, na_value=np.nan)
        if service.latency_column
        else None
    )
    status = frame[service.status_column].to_numpy(dtype=object) if service.status_column else None
    hours: npt.NDArray[np.int64] = (
        frame[TIMESTAMP].dt.hour.to_numpy(dtype=np.int64) if len(frame) else np.zeros(0, np.int64)
    )
    return compute_service_day(
        latency,
        status,
        service,
        len(frame),
        hours=hours,
        dimensions={c: frame[c].to_numpy(dtype=object) for c in dimensions},
        usual=usual,
    )
