"""The canary comparison's edges: the day's rows from the slice's columns in; the stored
metrics, the plotted metadata and the ``canary`` check out.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

from monitoring_pipelines.core.canary.compare import (
    MAX_VERSIONS_STORED,
    CanaryResult,
    DayRows,
    Verdict,
)
from monitoring_pipelines.core.checks import CheckOutcome, single
from monitoring_pipelines.core.config import MonitorConfig, Severity
from monitoring_pipelines.core.dimensions import dimensions

# pandas and the modules that price and classify rows are imported where they are used:
# loading the definitions (which read CHECK and canary_columns) needs none of them.
if TYPE_CHECKING:
    import pandas as pd

CHECK = "canary"


def canary_columns(monitor: MonitorConfig) -> list[str]:
    """The slice columns the comparison reads."""
    assert monitor.canary is not None
    columns = [monitor.canary.version_column]
    if monitor.service is not None:
        columns += [c for c in (monitor.service.latency_column, monitor.service.status_column) if c]
    if monitor.llm is not None:
        llm = monitor.llm
        columns += [llm.model_column, llm.prompt_tokens_column, llm.completion_tokens_column]
    if monitor.prediction is not None:
        columns.append(monitor.prediction.column)
    return list(dict.fromkeys(columns))


def day_rows(frame: pd.DataFrame, monitor: MonitorConfig, day: date) -> DayRows:
    """The day's rows for :func:`~monitoring_pipelines.core.canary.compare.compare_day`.

    Latency is converted to milliseconds (negative values are unusable), statuses are
    classified as the service metrics classify them, and each LLM request is priced with the
    price in effect on ``day`` (unpriced models and missing tokens give no cost).
    """
    from monitoring_pipelines.core.costs.day import UNKNOWN_MODEL, price_on
    from monitoring_pipelines.core.ingest.statuses import classify_status

    assert monitor.canary is not None
    version = frame[monitor.canary.version_column].astype(object)
    latency = error = cost = prediction = None
    service = monitor.service
    if service is not None and service.latency_column:
        values = frame[service.latency_column].to_numpy(dtype=np.float64, na_value=np.nan)
        values = values * (1000.0 if service.latency_unit == "s" else 1.0)
        latency = np.where(values < 0, np.nan, values)
    if service is not None and service.status_column:
        status = frame[service.status_column].to_numpy(dtype=object)
        is_error, _, missing = classify_status(status, service.error_statuses)
        error = np.where(missing, np.nan, is_error.astype(np.float64))
    if monitor.llm is not None:
        llm = monitor.llm
        prompt = frame[llm.prompt_tokens_column].to_numpy(dtype=np.float64, na_value=np.nan)
        completion = frame[llm.completion_tokens_column].to_numpy(dtype=np.float64, na_value=np.nan)
        models = frame[llm.model_column].fillna(UNKNOWN_MODEL).astype(str).to_numpy()
        cost = np.full(len(frame), np.nan)
        for model in np.unique(models):
            price = price_on(llm.prices, str(model), day)
            if price is not None:
                rows = models == model
                cost[rows] = (
                    prompt[rows] / 1000 * price.input_per_1k
                    + completion[rows] / 1000 * price.output_per_1k
                )
        cost[(prompt < 0) | (completion < 0)] = np.nan
    kind = monitor.prediction.type if monitor.prediction is not None else None
    if monitor.prediction is not None:
        column = frame[monitor.prediction.column]
        prediction = (
            column.to_numpy(dtype=np.float64, na_value=np.nan)
            if kind == "score"
            else column.astype(object).where(column.notna(), None).to_numpy(dtype=object)
        )
    return DayRows(
        version=version.where(version.notna(), None).to_numpy(dtype=object),
        latency_ms=latency,
        error=error,
        cost_usd=cost,
        prediction=prediction,
        prediction_kind=kind,
    )


def canary_numbers(result: CanaryResult) -> dict[str, float | int | None]:
    """Every number of the comparison, by metadata key (None when not computed)."""
    numbers: dict[str, float | int | None] = {
        "verdict_code": result.verdict.code,
        "versions_serving": len(result.rows),
        "baseline_rows": result.baseline_rows if result.selection.baseline else None,
        "candidate_rows": result.candidate_rows if result.selection.candidate else None,
    }
    if (d := result.latency) is not None:
        numbers |= {
            "p95_baseline_ms": d.baseline,
            "p95_candidate_ms": d.candidate,
            "p95_increase_ms": d.difference,
            "p95_increase_ci_low_ms": d.interval.low,
            "p95_increase_ci_high_ms": d.interval.high,
            "bootstrap_samples": d.samples,
        }
    if (e := result.errors) is not None:
        numbers |= {
            "error_rate_baseline": e.baseline_rate,
            "error_rate_candidate": e.candidate_rate,
            "error_rate_increase": e.difference,
            "error_rate_increase_ci_low": e.interval.low,
            "error_rate_increase_ci_high": e.interval.high,
            "error_rate_z": e.z,
            "error_rate_p_value": e.p_value,
        }
    if (c := result.cost) is not None:
        numbers |= {
            "cost_per_request_baseline_usd": c.baseline_mean,
            "cost_per_request_candidate_usd": c.candidate_mean,
            "cost_increase": c.relative_change,
            "cost_increase_ci_low": c.interval.low,
            "cost_increase_ci_high": c.interval.high,
            "cost_p_value": c.p_value,
        }
    if (p := result.prediction) is not None:
        numbers |= {"prediction_drift": p.score, "prediction_drift_p_value": p.p_value}
    return numbers


def canary_metadata(result: CanaryResult) -> dict[str, Any]:
    """The numbers, plus the verdict and the versions as text."""
    text: dict[str, Any] = {
        "verdict": result.verdict.value,
        "baseline_version": result.selection.baseline,
        "candidate_version": result.selection.candidate,
        "selection": result.selection.how,
        "reasons": "; ".join(a.summary for a in result.assessments) or None,
        "notes": "; ".join(result.notes) or None,
    }
    if result.prediction is not None:
        text["prediction_statistic"] = result.prediction.statistic
    return canary_numbers(result) | text


def stored_metrics(result: CanaryResult) -> dict[tuple[str, str], float | None]:
    """Rows for the result store: the comparison's numbers under the versions compared, and
    each version's rows (the history the next days choose their candidate from)."""
    pair = (
        dimensions(baseline=result.selection.baseline, candidate=result.selection.candidate)
        if result.selection.baseline and result.selection.candidate
        else dimensions()
    )
    out: dict[tuple[str, str], float | None] = {
        (k, pair): float(v) for k, v in canary_numbers(result).items() if v is not None
    }
    for version, rows in list(result.rows.items())[:MAX_VERSIONS_STORED]:
        out[("version_rows", dimensions(version=version))] = float(rows)
    return out


def canary_check(result: CanaryResult) -> CheckOutcome:
    """The ``canary`` check: fails (critical) on roll back; hold and no canary pass.

    Hold passes: it says the evidence is not in yet, which is where every small canary
    starts; a page would ask the on-call engineer to wait. Its note is the check's summary.
    The finding is about the whole partition, so an incident resolves on the days after
    the candidate is rolled back or promoted (no canary, or promote).
    """
    b, c = result.selection.baseline, result.selection.candidate
    metadata = {k: v for k, v in canary_metadata(result).items() if v is not None}
    if result.verdict is Verdict.NO_CANARY:
        return single(CHECK, passed=True, severity=Severity.WARN, value=None, threshold=None,
                      summary=f"no canary today: {result.selection.how}",
                      metadata=metadata)  # fmt: skip
    status = "degraded" if result.verdict is Verdict.ROLL_BACK else "inconclusive"
    why = [a for a in result.assessments if a.status == status]
    if result.verdict is Verdict.HOLD:
        reasons = [*result.notes[:1], *(a.summary for a in why)]
    elif result.verdict is Verdict.ROLL_BACK:
        reasons = [a.summary for a in why]
    else:
        reasons = [a.summary for a in result.assessments if a.status == "ok"]
    summary = f"{result.verdict.value} {c} (vs {b}): " + "; ".join(reasons or ["within tolerances"])
    decisive = why[0] if why and result.verdict is Verdict.ROLL_BACK else None
    return single(
        CHECK,
        passed=result.verdict is not Verdict.ROLL_BACK,
        severity=Severity.CRITICAL,
        value=decisive.value if decisive else None,
        threshold=decisive.tolerance if decisive else None,
        summary=summary,
        metadata=metadata,
    )
