"""Drift of features and predictions against the reference, with its asset checks."""

import dagster as dg

from assets.common import (
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
from monitoring_pipelines.core.drift.engine import (
    ColumnDrift,
    compute_drift,
    drift_check,
    drift_roles,
)
from monitoring_pipelines.core.drift.seasonality import choose_baseline
from monitoring_pipelines.core.drift.table import TABLE_COLUMNS, relative_scores, table_rows
from monitoring_pipelines.core.segments import base_column, segment_label
from resources import ResultStoreResource

PLOT_PREFIX = "drift ÷ warn · "  # one prefix: the drift plots sit together, before the counts


def make_feature_drift(
    name: str, monitor: MonitorConfig, partitions_def: dg.PartitionsDefinition
) -> Part:
    key = dg.AssetKey([name, Asset.FEATURE_DRIFT])
    roles = drift_roles(monitor)
    checks = (["feature_drift"] if any(r == "feature" for r in roles.values()) else []) + (
        ["prediction_drift"] if monitor.prediction else []
    )

    @part(
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
        metadata = drift_metadata(whole, sliced, monitor.drift.fdr)
        unit = "sessions" if monitor.source.session_column else "rows"
        metadata["p_values"] = dg.MetadataValue.text(
            f"from a uniform sample of at most {monitor.drift.p_value_sample} {unit} per column "
            "(effect sizes use every row)"
        )
        metadata["baseline"] = dg.MetadataValue.text(baseline.explanation)
        return checked(key, metadata, outcomes)

    return feature_drift


def drift_metadata(
    whole: list[ColumnDrift], sliced: list[ColumnDrift], fdr: float
) -> dict[str, dg.MetadataValue]:
    """What the UI shows of a partition's drift. Plotted per partition: each column's score
    divided by its warn threshold (1.0 is the threshold), the day's largest first, and the
    drifted counts; the rest (raw scores, counts tested) is JSON, out of the plots."""
    values: dict[str, float | int | None] = {
        f"{PLOT_PREFIX}{column}": value for column, value in relative_scores(whole).items()
    }
    values["drifted columns"] = sum(r.drifted for r in whole)
    if sliced:
        values["drifted segments"] = sum(r.drifted for r in sliced)
    metadata = numeric_metadata(values)
    metadata["counts"] = dg.MetadataValue.json(
        {
            "columns_tested": sum(r.score is not None for r in whole),
            "columns_drifted": sum(r.drifted for r in whole),
            "segments_tested": sum(r.score is not None for r in sliced),
            "segments_drifted": sum(r.drifted for r in sliced),
        }
    )
    metadata["scores"] = dg.MetadataValue.json(
        {r.column: float(f"{r.score:.6g}") for r in whole if r.score is not None}
    )
    metadata["drift_table"] = drift_table(whole, fdr)
    if sliced:
        metadata["segment_drift_table"] = drift_table([r for r in sliced if r.score], fdr)
    return metadata


def drift_table(results: list[ColumnDrift], fdr: float) -> dg.TableMetadataValue:
    """The partition's drift as a table: verdict first, drifted columns first."""
    return dg.MetadataValue.table(
        records=[dg.TableRecord(row) for row in table_rows(results, fdr)],
        schema=dg.TableSchema(columns=[dg.TableColumn(name, "string") for name in TABLE_COLUMNS]),
    )
