"""Error budgets of the service level objectives over a rolling window, with burn-rate checks."""

from datetime import timedelta

import dagster as dg

from assets.common import (
    check_specs,
    checked,
    day_of,
    earlier_days_of,
    numeric_metadata,
    reports_faults,
)
from assets.parts import Part, part
from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.service.slo import (
    CHECK,
    budget_check,
    budget_rows,
    budget_status,
    budget_values,
    slo_targets,
)
from monitoring_pipelines.core.service.slo_counts import load_slo_counts
from resources import ResultStoreResource


def has_slo_budget(monitor: MonitorConfig) -> bool:
    """Whether the monitor sets an objective it has the column for."""
    return monitor.service is not None and bool(slo_targets(monitor.service))


def make_slo_budget(
    name: str, monitor: MonitorConfig, partitions_def: dg.PartitionsDefinition
) -> Part:
    """The ``<monitor>/slo_budget`` asset: read the stored daily SLO counts of the window
    ending on the partition's day (never the raw data) and check the burn rates."""
    assert monitor.service is not None
    slo = monitor.service.slo
    targets = slo_targets(monitor.service)
    longest = max(slo.window_days, slo.fast_burn.days, slo.slow_burn.days)
    key = dg.AssetKey([name, Asset.SLO_BUDGET])

    @part(
        key=key,
        group_name=name,
        partitions_def=partitions_def,
        deps=[earlier_days_of(dg.AssetKey([name, Asset.SERVICE_METRICS]), longest - 1, 0)],
        check_specs=check_specs([CHECK], key, partitions_def),
        description=f"Error budget left over the trailing {slo.window_days} days and burn "
        f"rates over {slo.fast_burn.days} and {slo.slow_burn.days} days, per objective, "
        "summed from the daily SLO counts of service_metrics.",
    )
    @reports_faults(name)
    def slo_budget(
        context: dg.AssetExecutionContext, result_store: ResultStoreResource
    ) -> dg.MaterializeResult:
        end = day_of(context)
        store = result_store.results()
        daily = load_slo_counts(store, name, end - timedelta(days=longest - 1), end)
        statuses = [
            budget_status(t, daily.get(t.sli, {}), end, slo, monitor.start_date) for t in targets
        ]
        store.save_metrics(name, Asset.SLO_BUDGET, context.partition_key, budget_rows(statuses))
        outcome = budget_check(statuses, slo)
        metadata = numeric_metadata(budget_values(statuses))
        metadata["objectives"] = dg.MetadataValue.md(
            "\n".join(f"* {t.sli}: {t.objective}" for t in targets)
        )
        metadata["summary"] = dg.MetadataValue.text(outcome.summary)
        return checked(key, metadata, [outcome])

    return slo_budget
