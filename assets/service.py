"""Service metrics of the endpoint: latency percentiles, error rate, volume, SLO checks."""

import dagster as dg
import numpy as np

from assets.common import check_result, check_specs, day_of, failure, numeric_metadata
from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.errors import StoreError
from monitoring_pipelines.core.service import compute_service_metrics, service_checks
from monitoring_pipelines.core.store.results import dimensions
from resources import ResultStoreResource, SliceStoreResource


def make_service_metrics(
    name: str, monitor: MonitorConfig, partitions_def: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    assert monitor.service is not None
    service = monitor.service
    key = dg.AssetKey([name, "service_metrics"])
    checks = []
    if service.slo.latency_ms is not None and service.latency_column:
        checks.append("latency_slo")
    if service.slo.error_rate is not None and service.status_column:
        checks.append("error_rate")

    @dg.asset(
        key=key,
        group_name=name,
        partitions_def=partitions_def,
        deps=[dg.AssetKey([name, "live_slice"])],
        check_specs=check_specs(checks, key, partitions_def),
        description="Latency p50/p95/p99 (exact), error rate and volume of the day.",
    )
    def service_metrics(
        context: dg.AssetExecutionContext,
        slices: SliceStoreResource,
        result_store: ResultStoreResource,
    ) -> dg.MaterializeResult:
        day = day_of(context)
        store = slices.get_store()
        try:
            latency = (
                store.column(name, day, service.latency_column).to_numpy(
                    dtype=np.float64, na_value=np.nan
                )
                if service.latency_column
                else None
            )
            status = (
                store.column(name, day, service.status_column).to_numpy(dtype=object)
                if service.status_column
                else None
            )
            requests = len(store.column(name, day, "__ts"))
        except (StoreError, FileNotFoundError) as exc:
            raise failure(f"monitor '{name}', {day}: {exc}", monitor=name) from exc
        metrics = compute_service_metrics(latency, status, service, requests)
        values = metrics.to_dict()
        result_store.get_store().save_metrics(
            name,
            "service_metrics",
            context.partition_key,
            {(k, dimensions()): (float(v) if v is not None else None) for k, v in values.items()},
        )
        outcomes = service_checks(metrics, service)
        return dg.MaterializeResult(
            metadata=numeric_metadata(values),
            check_results=[check_result(o, key) for o in outcomes],
        )

    return service_metrics
