"""The hallucination rate against a business KPI: lagged correlation and slope."""

import dagster as dg

from assets.common import failure, numeric_metadata, reports_faults
from assets.parts import Part, part
from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.errors import MonitoringError
from resources import ResultStoreResource, WarehouseResource


def make_kpi_impact(name: str, monitor: MonitorConfig) -> Part:
    assert monitor.llm is not None and monitor.llm.kpi is not None
    kpi = monitor.llm.kpi

    @part(
        key=dg.AssetKey([name, Asset.HALLUCINATION_KPI_IMPACT]),
        group_name=name,
        deps=[dg.AssetKey([name, Asset.HALLUCINATION_RATE])],
        description=f"Lagged correlation and regression slope (with its confidence interval) "
        f"between the daily hallucination rate and {kpi.name} from table {kpi.table}.",
    )
    @reports_faults(name)
    def hallucination_kpi_impact(
        result_store: ResultStoreResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """What a rise in the hallucination rate goes with in the KPI, some days later."""
        # Imported by the step, not with the definitions: they bring scipy.stats and pandas.
        from monitoring_pipelines.core.hallucination.kpi_impact import kpi_impact
        from monitoring_pipelines.core.hallucination.kpi_source import read_kpi
        from monitoring_pipelines.core.hallucination.store import load_daily_rates

        try:
            rates = load_daily_rates(result_store.results(), name)
            series = read_kpi(warehouse.engine, kpi)
        except MonitoringError as exc:
            raise failure(f"monitor '{name}': {exc}", monitor=name) from exc
        impact = kpi_impact(rates, series.values, max_lag_days=kpi.max_lag_days)
        metadata = numeric_metadata(
            {
                **impact.metrics(),
                "kpi_rows": series.rows,
                "kpi_rows_malformed": series.malformed,
            }
        )
        metadata["status"] = dg.MetadataValue.text(impact.status)
        metadata["finding"] = dg.MetadataValue.text(impact.sentence(kpi.name))
        metadata["lags"] = dg.MetadataValue.md(impact.lag_table_markdown())
        return dg.MaterializeResult(metadata=metadata)

    return hallucination_kpi_impact
