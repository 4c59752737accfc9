"""Drift of features and predictions against the reference, with its asset checks."""

import dagster as dg

from assets.common import check_result, check_specs, day_of, failure, numeric_metadata
from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.drift import ColumnDrift, compute_drift, drift_check, drift_roles
from resources import ResultStoreResource


def make_feature_drift(
    name: str, monitor: MonitorConfig, partitions_def: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    key = dg.AssetKey([name, "feature_drift"])
    roles = drift_roles(monitor)
    checks = (["feature_drift"] if any(r == "feature" for r in roles.values()) else []) + (
        ["prediction_drift"] if monitor.prediction else []
    )

    @dg.asset(
        key=key,
        group_name=name,
        partitions_def=partitions_def,
        deps=[dg.AssetKey([name, "daily_profile"]), dg.AssetKey([name, "reference_profile"])],
        check_specs=check_specs(checks, key, partitions_def),
        description="Per-column drift of inputs and predictions against the reference: "
        "effect size, p-value and Benjamini-Hochberg-adjusted p-value.",
    )
    def feature_drift(
        context: dg.AssetExecutionContext, result_store: ResultStoreResource
    ) -> dg.MaterializeResult:
        store = result_store.get_store()
        reference = store.load_reference(name)
        current = store.load_sketches(name, context.partition_key)
        if not reference or not current:
            missing = "reference_profile" if not reference else "daily_profile"
            raise failure(
                f"monitor '{name}', {day_of(context)}: no {missing} to compare; materialize it",
                monitor=name,
            )
        results = compute_drift(reference, current, roles, monitor.drift)
        store.save_drift(name, context.partition_key, results)
        outcomes = []
        if "feature_drift" in checks:
            features = [r for r in results if r.role == "feature"]
            outcomes.append(drift_check("feature_drift", features, monitor.drift.fdr))
        if "prediction_drift" in checks:
            predictions = [r for r in results if r.role == "prediction"]
            outcomes.append(drift_check("prediction_drift", predictions, monitor.drift.fdr))
        values: dict[str, float | int | None] = {
            "columns_drifted": sum(r.drifted for r in results),
            "columns_tested": sum(r.score is not None for r in results),
        }
        for r in results:
            values[f"score/{r.column}"] = r.score
        metadata = numeric_metadata(values)
        metadata["drift_table"] = dg.MetadataValue.md(drift_table(results))
        return dg.MaterializeResult(
            metadata=metadata, check_results=[check_result(o, key) for o in outcomes]
        )

    return feature_drift


def drift_table(results: list[ColumnDrift]) -> str:
    """A markdown table of the partition's drift, drifted columns first."""
    lines = [
        "| column | role | statistic | score | warn | p (adj.) | rows | verdict | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    order = sorted(results, key=lambda r: (not r.drifted, -(r.score or 0.0)))
    for r in order:
        score = f"{r.score:.4f}" if r.score is not None else "-"
        p_adj = f"{r.p_adjusted:.2g}" if r.p_adjusted is not None else "-"
        lines.append(
            f"| {r.column} | {r.role} | {r.statistic} | {score} | {r.warn:g} | {p_adj} | "
            f"{r.rows} | {r.verdict} | {(r.note or '').replace('|', '/')} |"
        )
    return "\n".join(lines)
