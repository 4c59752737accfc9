"""Drift of features and predictions against the reference, with its asset checks."""

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
from monitoring_pipelines.core.drift.engine import (
    ColumnDrift,
    compute_drift,
    drift_check,
    drift_roles,
)
from monitoring_pipelines.core.drift.seasonality import choose_baseline
from monitoring_pipelines.core.segments import base_column, segment_label
from resources import ResultStoreResource


def make_feature_drift(
    name: str, monitor: MonitorConfig, partitions_def: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    key = dg.AssetKey([name, Asset.FEATURE_DRIFT])
    roles = drift_roles(monitor)
    checks = (["feature_drift"] if any(r == "feature" for r in roles.values()) else []) + (
        ["prediction_drift"] if monitor.prediction else []
    )

    @dg.asset(
        key=key,
        group_name=name,
        partitions_def=partitions_def,
        deps=[
            dg.AssetKey([name, Asset.DAILY_PROFILE]),
            dg.AssetKey([name, Asset.REFERENCE_PROFILE]),
        ],
        check_specs=check_specs(checks, key, partitions_def),
        description="Per-column drift of inputs and predictions against the reference: "
        "effect size, p-value and Benjamini-Hochberg-adjusted p-value.",
    )
    @reports_faults(name)
    def feature_drift(
        context: dg.AssetExecutionContext, result_store: ResultStoreResource
    ) -> dg.MaterializeResult:
        store = result_store.results()
        reference = store.load_reference(name)
        current = store.load_sketches(name, context.partition_key)
        if not reference or not current:
            missing = Asset.REFERENCE_PROFILE if not reference else Asset.DAILY_PROFILE
            raise failure(
                f"monitor '{name}', {day_of(context)}: no {missing} to compare; materialize it",
                monitor=name,
            )
        # Per-segment sketches (column@segment=value) are tested beside the columns, and
        # adjusted for multiple testing together with them.
        tested = dict(roles) | {
            c: "segment" for c in current if segment_label(c) and base_column(c) in roles
        }
        baseline = choose_baseline(
            monitor.drift.seasonality, day_of(context), store.season_days(name)
        )
        season = store.load_season(name, baseline.season) if baseline.season else None
        if season is not None:
            reference = {s.column: s for s in season.sketches}
        results = compute_drift(reference, current, tested, monitor.drift)
        store.save_drift(name, context.partition_key, results)
        whole = [r for r in results if r.role != "segment"]
        sliced = [r for r in results if r.role == "segment"]
        outcomes = []
        for check, role in (("feature_drift", "feature"), ("prediction_drift", "prediction")):
            if check in checks:
                mine = [r for r in whole if r.role == role]
                columns = {r.column for r in mine}
                segments = [r for r in sliced if base_column(r.column) in columns]
                outcomes.append(drift_check(check, mine, monitor.drift.fdr, segments))
        values: dict[str, float | int | None] = {
            "columns_drifted": sum(r.drifted for r in whole),
            "columns_tested": sum(r.score is not None for r in whole),
            "segments_drifted": sum(r.drifted for r in sliced),
        }
        for r in whole:
            values[f"score/{r.column}"] = r.score
        metadata = numeric_metadata(values)
        unit = "sessions" if monitor.source.session_column else "rows"
        metadata["p_values"] = dg.MetadataValue.text(
            f"from a uniform sample of at most {monitor.drift.p_value_sample} {unit} per column "
            "(effect sizes use every row)"
        )
        metadata["baseline"] = dg.MetadataValue.text(baseline.explanation)
        metadata["drift_table"] = dg.MetadataValue.md(drift_table(whole))
        if sliced:
            metadata["segment_drift_table"] = dg.MetadataValue.md(
                drift_table([r for r in sliced if r.score is not None])
            )
        return dg.MaterializeResult(
            metadata=metadata, check_results=[check_result(o, key) for o in outcomes]
        )

    return feature_drift


def drift_table(results: list[ColumnDrift]) -> str:
    """A markdown table of the partition's drift, drifted columns first."""
    lines = [
        "| column | role | statistic | score | warn | p (adj.) | p from | rows | verdict | note |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = sorted(results, key=lambda r: (not r.drifted, -(r.score or 0.0)))
    for r in order:
        score = f"{r.score:.4f}" if r.score is not None else "-"
        p_adj = f"{r.p_adjusted:.2g}" if r.p_adjusted is not None else "-"
        lines.append(
            f"| {r.column} | {r.role} | {r.statistic} | {score} | {r.warn:g} | {p_adj} | "
            f"{r.p_value_rows if r.p_value_rows is not None else '-'} | {r.rows} | {r.verdict} | "
            f"{(r.note or '').replace('|', '/')} |"
        )
    return "\n".join(lines)
