"""Hallucination monitoring in shadow mode: the day's sampled answers scored by the judge (and
the flagged ones queued for review), and the day's hallucination rate with its check."""

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, get_args

import dagster as dg
import pandas as pd

from assets.common import CHECK_DESCRIPTIONS, check_result, day_of, failure, numeric_metadata
from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.dimensions import dimensions
from monitoring_pipelines.core.errors import MonitoringError
from monitoring_pipelines.core.hallucination.check import CHECK, hallucination_check
from monitoring_pipelines.core.hallucination.day import AnswerColumns, sample_day
from monitoring_pipelines.core.hallucination.rates import DayRates, compute_rates
from monitoring_pipelines.core.hallucination.review import EnqueueReport
from monitoring_pipelines.core.hallucination.rise import (
    JudgeIdentity,
    RisePolicy,
    RiseResults,
    assess_rises,
)
from monitoring_pipelines.core.hallucination.sampling import SamplePlan
from monitoring_pipelines.core.hallucination.scoring import ScoringRun, day_budget, score_sample
from monitoring_pipelines.core.hallucination.store import (
    RATE_ASSET,
    load_history,
    load_judge_cost,
    load_scores,
    load_verdicts,
    rate_metrics,
    save_scores,
)
from monitoring_pipelines.core.ingest.slice_store import SliceStore
from monitoring_pipelines.core.judge.base import UnscoredKind
from resources import ResultStoreResource, SliceStoreResource
from resources.judge import JudgeResource

SCORES_ASSET = "faithfulness_scores"
MAX_PLOTTED_ARTICLES = 20  # every article is stored and tested; the largest are plotted


def build_hallucination_assets(
    name: str, monitor: MonitorConfig, partitions_def: dg.PartitionsDefinition
) -> list[dg.AssetsDefinition]:
    """Both assets when the monitor logs LLM answers and their context, else none."""
    if AnswerColumns.for_monitor(monitor) is None:
        return []
    return [
        make_faithfulness_scores(name, monitor, partitions_def),
        make_hallucination_rate(name, monitor, partitions_def),
    ]


def make_faithfulness_scores(
    name: str, monitor: MonitorConfig, partitions_def: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    columns = AnswerColumns.for_monitor(monitor)
    assert columns is not None and monitor.llm is not None
    config = monitor.llm.judge

    @dg.asset(
        key=dg.AssetKey([name, SCORES_ASSET]),
        group_name=name,
        partitions_def=partitions_def,
        deps=[dg.AssetKey([name, "live_slice"])],
        description="The day's stratified sample of LLM answers scored for faithfulness to "
        "their retrieved context by the configured judge; answers under the threshold are "
        "queued for review.",
    )
    def faithfulness_scores(
        context: dg.AssetExecutionContext,
        slices: SliceStoreResource,
        result_store: ResultStoreResource,
        judge: JudgeResource,
    ) -> dg.MaterializeResult:
        """The day's sampled answers scored by the judge; flagged ones queued for review.

        ``llm.judge.openai.daily_budget_usd`` caps what the OpenAI-compatible judge spends on
        one day of answers (one partition), over all runs of it: a run gets the cap less the
        ``judge_cost_usd`` stored by the runs before it, and stores the new total. Answers the
        judge cannot score are counted by kind (``unscored_<kind>``); they fail nothing.
        """
        day = day_of(context)
        partition = context.partition_key
        try:
            frame = read_slice(slices.get_store(), name, day, columns.slice_columns())
            plan, sample = sample_day(frame, columns, config)
            scorer = judge.get_judge(config)
            store = result_store.get_store()
            known = load_verdicts(store, name, partition, scorer.name, scorer.version)
            spent_before = load_judge_cost(store, name, SCORES_ASSET, partition)
            budget = None
            if config.backend == "openai":
                budget = day_budget(config.openai.daily_budget_usd, spent_before, known)
            run = score_sample(scorer, sample, config.threshold, known, budget)
            queued = save_scores(store, name, partition, run, config.audit_rate)
            values = scoring_values(plan, run, queued, spent_before)
            metrics = scoring_metrics(values, plan)
            store.save_metrics(name, SCORES_ASSET, partition, metrics)
        except MonitoringError as exc:
            raise failure(f"monitor '{name}', {day}: {exc}", monitor=name) from exc
        if run.budget_stop:
            context.log.warning(
                f"monitor '{name}', {day}: judge stopped: {run.budget_stop} "
                f"(spent on the day: ${values['judge_cost_usd']})"
            )
        if run.unscored:
            context.log.warning(f"monitor '{name}', {day}: answers left unscored: {run.unscored}")
        metadata = numeric_metadata(values)
        metadata["sample"] = dg.MetadataValue.json(sample_table(plan, run))
        return dg.MaterializeResult(metadata=metadata)

    return faithfulness_scores


def make_hallucination_rate(
    name: str, monitor: MonitorConfig, partitions_def: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    assert monitor.llm is not None
    policy = RisePolicy.from_config(monitor.llm.judge)
    threshold = monitor.llm.judge.threshold
    key = dg.AssetKey([name, RATE_ASSET])

    @dg.asset(
        key=key,
        group_name=name,
        partitions_def=partitions_def,
        deps=[dg.AssetKey([name, SCORES_ASSET])],
        check_specs=[
            dg.AssetCheckSpec(
                CHECK,
                asset=key,
                description=CHECK_DESCRIPTIONS[CHECK],
                partitions_def=partitions_def,
            )
        ],
        description="Share of the day's scored answers under judge.threshold with a Wilson "
        "95% interval, overall, by intent and by knowledge-base article, against the "
        "trailing baseline.",
    )
    def hallucination_rate(
        context: dg.AssetExecutionContext, result_store: ResultStoreResource
    ) -> dg.MaterializeResult:
        day = day_of(context)
        store = result_store.get_store()
        try:
            rows, judge = load_scores(store, name, context.partition_key)
            judge = judge or JudgeIdentity("none", "none", threshold)
            rates = compute_rates(rows)
            first = day - timedelta(days=policy.baseline_days)
            history = load_history(store, name, first, day - timedelta(days=1))
            rises = assess_rises(rates, history, judge, policy, day)
            metrics = rate_metrics(rates, rises, judge) if rows else {}
            store.save_metrics(name, RATE_ASSET, context.partition_key, metrics)
        except MonitoringError as exc:
            raise failure(f"monitor '{name}', {day}: {exc}", monitor=name) from exc
        outcome = hallucination_check(rates, rises, policy, judge)
        return dg.MaterializeResult(
            metadata=rate_metadata(rates, rises, judge),
            check_results=[check_result(outcome, key)],
        )

    return hallucination_rate


def read_slice(store: SliceStore, name: str, day: date, columns: Sequence[str]) -> pd.DataFrame:
    """The answer columns of the day's slice."""
    batches = list(store.batches(name, day, list(columns)))
    if not batches:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    return pd.concat(batches, ignore_index=True)


def scoring_values(
    plan: SamplePlan, run: ScoringRun, queued: EnqueueReport, spent_before: float | None = None
) -> dict[str, float | int | str | bool | None]:
    """The scoring asset's plotted numbers and the judge's identity.

    ``judge_cost_usd`` is what the judge spent on the day over all its runs (``spent_before``,
    stored by the earlier runs, plus this run's ``judge_run_cost_usd``); tokens are this run's.
    """
    first = run.scored[0].verdict if run.scored else None
    totals = dict(run.totals())
    run_cost = totals.pop("judge_cost_usd")
    day_cost = None if run_cost is None else (spent_before or 0.0) + run_cost
    values: dict[str, float | int | str | bool | None] = {
        "rows": plan.rows,
        "eligible": plan.eligible,
        "sampled": plan.target,
        "scored": len(run.scored),
        "reused_verdicts": run.reused,
        "flagged": len(run.flagged),
        "daily_cap_reached": plan.capped,
        **{f"skipped_{reason}": n for reason, n in plan.skipped.items()},
        "queued_new": queued.added,
        "queue_refreshed": queued.refreshed,
        "queue_kept_reviewed": queued.kept_reviewed,
        "queue_withdrawn": queued.withdrawn,
        "judge": first.judge if first else None,
        "prompt_version": first.prompt_version if first else None,
        **totals,
        "judge_run_cost_usd": run_cost,
        "judge_cost_usd": day_cost,
        "judge_seconds": run.seconds,
        "judge_ms_per_1000": (
            1e6 * run.seconds / (len(run.scored) - run.reused)
            if len(run.scored) > run.reused
            else None
        ),
        **{f"unscored_{kind}": run.unscored.get(kind, 0) for kind in get_args(UnscoredKind)},
        "budget_stopped": run.budget_stop is not None,
        "budget_stop": run.budget_stop,
    }
    return values


def scoring_metrics(
    values: dict[str, float | int | str | bool | None], plan: SamplePlan
) -> dict[tuple[str, str], float | None]:
    """The numbers stored per partition (skipped rows by reason, unscored answers by kind, the
    rest whole-day; ``judge_cost_usd`` totals all runs of the day, for the daily budget)."""
    out: dict[tuple[str, str], float | None] = {}
    for key in ("rows", "eligible", "sampled", "scored", "flagged", "judge_cost_usd"):
        value = values.get(key)
        out[(key, "")] = float(value) if isinstance(value, int | float) else None
    out[("budget_stopped", "")] = 1.0 if values.get("budget_stopped") else 0.0
    for reason, count in plan.skipped.items():
        out[("skipped", dimensions(reason=reason))] = float(count)
    for kind in get_args(UnscoredKind):
        unscored = values.get(f"unscored_{kind}")
        if isinstance(unscored, int) and unscored:
            out[("unscored", dimensions(kind=kind))] = float(unscored)
    return out


def sample_table(plan: SamplePlan, run: ScoringRun) -> list[dict[str, Any]]:
    """Per intent: answers that could be judged, sampled, scored and flagged."""
    scored: dict[str, int] = {}
    flagged: dict[str, int] = {}
    for s in run.scored:
        scored[s.sampled.intent] = scored.get(s.sampled.intent, 0) + 1
        flagged[s.sampled.intent] = flagged.get(s.sampled.intent, 0) + int(s.flagged)
    return [
        {
            "intent": s.intent,
            "eligible": s.eligible,
            "sampled": s.sampled,
            "scored": scored.get(s.intent, 0),
            "flagged": flagged.get(s.intent, 0),
        }
        for s in plan.strata
    ]


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
                "scored": t.current.scored,
                "flagged": t.current.flagged,
                "rate": round(t.current.rate, 4),
                "ci_low": round(t.current.low, 4),
                "ci_high": round(t.current.high, 4),
                "baseline_rate": None if t.baseline is None else round(t.baseline.rate, 4),
                "baseline_days": None if t.baseline is None else t.baseline.days,
                "p_adjusted": t.p_adjusted,
                "verdict": "rise" if t.significant else ("ok" if t.evaluated else t.note),
            }
            for t in (rises.overall, *rises.scopes)
        ]
    )
    return metadata
