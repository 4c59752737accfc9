"""Helpers shared by the asset factories: partition days, check results, metadata."""

import math
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import dagster as dg

from monitoring_pipelines.core.checks import CheckOutcome
from monitoring_pipelines.core.config import Severity

CHECK_DESCRIPTIONS = {
    "volume": "The day has at least checks.min_rows rows (no traffic is critical).",
    "malformed_rows": "Share of rows with an unparseable timestamp or value is at most "
    "checks.max_malformed_share.",
    "duplicate_requests": "Share of rows repeating a request id is at most "
    "checks.max_duplicate_share.",
    "feature_drift": "No input feature drifts: effect size over its threshold and significant "
    "after Benjamini-Hochberg.",
    "prediction_drift": "The prediction's distribution does not drift from the reference.",
    "latency_slo": "The SLO percentile of latency is within service.slo.latency_ms.",
    "error_rate": "The error rate is within service.slo.error_rate.",
    "cost_budget": "The day's LLM cost is within llm.daily_budget_usd.",
    "data_quality": "Great Expectations suite derived from the reference: types, null share, "
    "ranges, categories (and with checks.max_rows, the daily row count).",
    "schema_change": "The source table's columns against the configuration, the reference and "
    "the previous partition's snapshot.",
    "error_budget": "Each SLO's error-budget burn rate over service.slo.fast_burn.days (critical "
    "when the budget is at risk) and service.slo.slow_burn.days (a warning) stays below its "
    "threshold.",
    "monthly_budget": "The month to date plus a weekday-aware forecast of the rest of the month "
    "is within llm.monthly_budget_usd (critical when the month to date alone exceeds it).",
    "anomaly": "Each of anomalies.metrics against its trailing anomalies.baseline_days (same "
    "weekday first): robust z at least anomalies.warn (critical at anomalies.critical) and a "
    "change of at least anomalies.min_relative_change; increases only, requests both ways.",
    "hallucination_rate": "The day's hallucination rate (weighted share of sampled answers under "
    "llm.judge.threshold) is not above llm.judge.max_rate on its Wilson 95% lower bound, and "
    "neither it nor any intent or knowledge-base article rose significantly against the "
    "trailing llm.judge.baseline_days (Fisher's exact test, Benjamini-Hochberg).",
}


def day_of(context: dg.AssetExecutionContext) -> date:
    """The UTC day of the partition being materialized."""
    return date.fromisoformat(context.partition_key)


def check_specs(
    names: Sequence[str], asset_key: dg.AssetKey, partitions_def: dg.PartitionsDefinition
) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            name,
            asset=asset_key,
            description=CHECK_DESCRIPTIONS.get(name),
            partitions_def=partitions_def,
        )
        for name in names
    ]


def check_result(outcome: CheckOutcome, asset_key: dg.AssetKey) -> dg.AssetCheckResult:
    """A check outcome as Dagster's check result; its findings travel as JSON metadata."""
    metadata: dict[str, Any] = {
        "summary": dg.MetadataValue.text(outcome.summary),
        "findings": dg.MetadataValue.json([f.to_dict() for f in outcome.findings]),
        **numeric_metadata(outcome.metadata),
    }
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=outcome.name,
        passed=outcome.passed,
        severity=(
            dg.AssetCheckSeverity.ERROR
            if outcome.severity is Severity.CRITICAL
            else dg.AssetCheckSeverity.WARN
        ),
        metadata=metadata,
        description=outcome.summary,
    )


def numeric_metadata(values: Mapping[str, Any]) -> dict[str, dg.MetadataValue]:
    """Numbers become plottable metadata (six significant digits); text stays text; missing
    values are left out."""
    out: dict[str, dg.MetadataValue] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = dg.MetadataValue.bool(value)
        elif isinstance(value, int):
            out[key] = dg.MetadataValue.int(value)
        elif isinstance(value, float):
            if math.isfinite(value):
                out[key] = dg.MetadataValue.float(float(f"{value:.6g}"))
        else:
            out[key] = dg.MetadataValue.text(str(value))
    return out


def failure(message: str, **metadata: Any) -> dg.Failure:
    """An infrastructure fault (missing table, unreadable store) as a Dagster failure."""
    return dg.Failure(description=message, metadata=numeric_metadata(metadata))
