"""The day's LLM answers scored for faithfulness by the judge (shadow mode): every answer with
the offline or cascade judge, the stratified sample with the ``openai`` judge; the flagged
ones are queued for review."""

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, get_args

import dagster as dg

from assets.common import day_of, failure, numeric_metadata, reports_faults, rows_read_metadata
from assets.parts import Part, part
from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.dimensions import dimensions
from monitoring_pipelines.core.errors import MonitoringError
from monitoring_pipelines.core.hallucination.day import AnswerColumns, sample_day
from monitoring_pipelines.core.hallucination.review import EnqueueReport
from monitoring_pipelines.core.hallucination.sampling import SamplePlan
from monitoring_pipelines.core.hallucination.scoring import (
    BATCH_SIZE,
    ScoringRun,
    StoredKey,
    day_budget,
    score_sample,
)
from monitoring_pipelines.core.hallucination.store import (
    load_judge_cost,
    load_verdicts,
    save_scores,
)
from monitoring_pipelines.core.judge.base import JudgeBudget, UnscoredKind, Verdict
from monitoring_pipelines.core.judge.cascade import CascadeJudge, summarise
from resources import ResultStoreResource, SliceStoreResource
from resources.judge import JudgeResource


def make_faithfulness_scores(
    name: str, monitor: MonitorConfig, partitions_def: dg.PartitionsDefinition
) -> Part:
    columns = AnswerColumns.for_monitor(monitor)
    assert columns is not None and monitor.llm is not None
    config = monitor.llm.judge

    @part(
        key=dg.AssetKey([name, Asset.FAITHFULNESS_SCORES]),
        group_name=name,
        partitions_def=partitions_def,
        deps=[dg.AssetKey([name, Asset.LIVE_SLICE])],
        description="The day's LLM answers (every one with the offline or cascade judge, a "
        "stratified sample with the openai judge) scored for faithfulness to their retrieved "
        "context; answers under the threshold are queued for review.",
    )
    @reports_faults(name)
    def faithfulness_scores(
        context: dg.AssetExecutionContext,
        slices: SliceStoreResource,
        result_store: ResultStoreResource,
        judge: JudgeResource,
    ) -> dg.MaterializeResult:
        """The day's answers scored by the judge; flagged ones queued for review.

        The offline judge, alone or in the cascade, scores every answer of the day; the
        cascade gets them in one call, so that its LLM judge takes the day's most uncertain
        answers first, at most ``llm.judge.daily_cap`` of them a day over all runs.
        ``llm.judge.openai.daily_budget_usd`` caps what the OpenAI-compatible judge spends on
        one day of answers (one partition), over all runs of it: a run gets the cap less the
        ``judge_cost_usd`` stored by the runs before it, and stores the new total. Answers the
        judge cannot score are counted by kind (``unscored_<kind>``); they fail nothing.
        With the cascade judge, ``cascade_*`` give this run's share of answers the LLM judge
        gave the verdict on, its spend against judging every answer with it, and the rate
        estimated as the LLM judge would have found it (README.md, "Hallucinations").
        """
        day = day_of(context)
        partition = context.partition_key
        try:
            slice_store = slices.get_store()
            frame = slice_store.frame(name, day, columns.slice_columns())
            read_from = rows_read_metadata(slice_store, name, day)
            plan, sample = sample_day(frame, columns, config)
            scorer = judge.get_judge(config)
            store = result_store.results()
            known = load_verdicts(store, name, partition, scorer.name, scorer.version)
            spent_before = load_judge_cost(store, name, Asset.FAITHFULNESS_SCORES, partition)
            budget, batch = None, BATCH_SIZE
            if config.backend in ("openai", "cascade"):
                budget = day_budget(config.openai.daily_budget_usd, spent_before, known)
            if config.backend == "cascade":
                budget = cascade_budget(budget, config.daily_cap, known)
                batch = max(len(sample), 1)
            run = score_sample(scorer, sample, config.threshold, known, budget, batch)
            queued = save_scores(
                store, name, partition, run, config.audit_rate, config.audit_max_per_day
            )
            values = scoring_values(plan, run, queued, spent_before)
            if isinstance(scorer, CascadeJudge):
                values.update(summarise(scorer.routed, config.threshold).metadata())
            metrics = scoring_metrics(values, plan)
            store.save_metrics(name, Asset.FAITHFULNESS_SCORES, partition, metrics)
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
        metadata.update(read_from)
        return dg.MaterializeResult(metadata=metadata)

    return faithfulness_scores


def cascade_budget(
    budget: JudgeBudget | None, daily_cap: int, known: Mapping[StoredKey, Verdict]
) -> JudgeBudget:
    """The cascade's budget for its LLM judge: ``budget`` (dollars), and at most
    ``daily_cap`` answers a day less those the stored verdicts of earlier runs had it judge
    (a verdict that cost tokens)."""
    before = sum(1 for v in known.values() if v.tokens_in or v.tokens_out)
    left = max(0, daily_cap - before)
    if budget is None:
        return JudgeBudget(max_answers=left)
    return replace(budget, max_answers=left)


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
