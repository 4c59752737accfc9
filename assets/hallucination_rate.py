"""The day's hallucination rate, overall, by intent and by article, with its check."""

from datetime import timedelta
from typing import Any

import dagster as dg

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
from monitoring_pipelines.core.errors import MonitoringError
from monitoring_pipelines.core.hallucination.check import CHECK, hallucination_check
from monitoring_pipelines.core.hallucination.rates import DayRates, compute_rates
from monitoring_pipelines.core.hallucination.rise import (
    JudgeIdentity,
    RisePolicy,
    RiseResults,
    assess_rises,
)
from monitoring_pipelines.core.hallucination.store import (
    load_history,
    load_scores,
    rate_metrics,
)
from resources import ResultStoreResource

MAX_PLOTTED_ARTICLES = 20  # every article is stored and tested; the largest are plotted


def make_hallucination_rate(
    name: str, monitor: MonitorConfig, partitions_def: dg.PartitionsDefinition
) -> Part:
    assert monitor.llm is not None
    policy = RisePolicy.from_config(monitor.llm.judge)
    threshold = monitor.llm.judge.threshold
    key = dg.AssetKey([name, Asset.HALLUCINATION_RATE])

    @part(
        key=key,
        group_name=name,
        partitions_def=partitions_def,
        deps=[
            dg.AssetKey([name, Asset.FAITHFULNESS_SCORES]),
            earlier_days_of(key, policy.history_days),  # the scan's windows and baselines
        ],
        check_specs=check_specs([CHECK], key, partitions_def),
        description="Share of the day's scored answers under judge.threshold with a Wilson "
        "95% interval, overall, by intent and by knowledge-base article, scanned for a rise "
        "over the last days against the trailing baseline.",
    )
    @reports_faults(name)
    def hallucination_rate(
        context: dg.AssetExecutionContext, result_store: ResultStoreResource
    ) -> dg.MaterializeResult:
        day = day_of(context)
        store = result_store.results()
        try:
            rows, judge = load_scores(store, name, context.partition_key)
            judge = judge or JudgeIdentity("none", "none", threshold)
            rates = compute_rates(rows)
            first = day - timedelta(days=policy.history_days)
            history = load_history(store, name, first, day - timedelta(days=1))
            rises = assess_rises(rates, history, judge, policy, day)
            metrics = rate_metrics(rates, rises, judge) if rows else {}
            store.save_metrics(name, Asset.HALLUCINATION_RATE, context.partition_key, metrics)
        except MonitoringError as exc:
            raise failure(f"monitor '{name}', {day}: {exc}", monitor=name) from exc
        outcome = hallucination_check(rates, rises, policy, judge)
        return checked(key, rate_metadata(rates, rises, judge), [outcome])

    return hallucination_rate


def rate_metadata(
    rates: DayRates, rises: RiseResults, judge: JudgeIdentity
) -> dict[str, dg.MetadataValue]:
    """Plottable rates (overall, per intent, the largest articles) and the table of scopes."""
    overall = rates.overall
    values: dict[str, Any] = {
        "hallucination_rate": overall.rate if overall.scored else None,
        "ci_low": overall.low if overall.scored else None,
        "ci_high": overall.high if overall.scored else None,
        "scored": overall.scored,
        "flagged": overall.flagged,
        "n_effective": overall.n_effective,
        "judge": judge.judge,
        "prompt_version": judge.prompt_version,
        "threshold": judge.threshold,
        "baseline_reset": rises.reset,
    }
    if rises.overall.baseline is not None:
        values["baseline_rate"] = rises.overall.baseline.rate
        values["baseline_days"] = rises.overall.baseline.days
    largest = sorted(rates.articles, key=lambda r: (-r.scored, r.value))[:MAX_PLOTTED_ARTICLES]
    for rate in (*rates.intents, *sorted(largest, key=lambda r: r.value)):
        values[f"hallucination_rate@{rate.subject}"] = rate.rate
    metadata = numeric_metadata(values)
    metadata["by_scope"] = dg.MetadataValue.json(
        [
            {
                "subject": t.current.label,
                "intent": t.current.intent,
                "scored": t.current.scored,
                "flagged": t.current.flagged,
                "rate": round(t.current.rate, 4),
                "ci_low": round(t.current.low, 4),
                "ci_high": round(t.current.high, 4),
                "baseline_rate": None if t.baseline is None else round(t.baseline.rate, 4),
                "baseline_days": None if t.baseline is None else t.baseline.days,
                "window_days": None if t.window is None else t.window.days,
                "window_rate": None if t.window is None else round(t.window.rate, 4),
                "p_adjusted": t.p_adjusted,
                "verdict": "rise" if t.significant else ("ok" if t.evaluated else t.note),
            }
            for t in (rises.overall, *rises.scopes)
        ]
    )
    return metadata
