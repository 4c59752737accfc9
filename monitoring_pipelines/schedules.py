"""Daily schedules: each of a monitor's runs (``jobs.MonitorRun``) once a day, for the last
complete UTC day, as a run of Dagster's asset job by asset selection; the prune job's."""

from __future__ import annotations

import dagster as dg
from dagster._core.definitions.partitions.context import partition_loading_context

from monitoring_pipelines.jobs import ASSET_JOB, MONITOR_TAG, Kind, MonitorRun

# Run shortly after midnight UTC, when the previous day is complete.
HOUR = 0
MINUTE = 30
# The remote judge's run comes later, when the day's slice is certainly written.
JUDGE_HOUR = 2
# The review loop reads every day judged so far: after the remote judge's run.
REVIEW_HOUR = 3
# Pruning counts back from the run's day, after the day's runs have read what they need.
PRUNE_HOUR = 4


def monitor_schedule(run: MonitorRun) -> dg.ScheduleDefinition:
    """``<monitor>_<kind>_schedule``: a run of the monitor's ``run`` once a day, for the last
    complete UTC day of its partitions (none before its first day is complete, one a day key:
    a tick evaluated again asks for the same run)."""
    hour = {Kind.DAILY: HOUR, Kind.HALLUCINATION: JUDGE_HOUR, Kind.REVIEW: REVIEW_HOUR}[run.kind]
    keys = list(run.keys)

    def request(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        if run.partitions is None:
            return dg.RunRequest(asset_selection=keys, tags=dict(run.tags))
        with partition_loading_context(effective_dt=context.scheduled_execution_time):
            day = run.partitions.get_last_partition_key()
        if day is None:
            return dg.SkipReason(f"monitor '{run.monitor}' has no complete day yet")
        return dg.RunRequest(
            run_key=day, partition_key=day, asset_selection=keys, tags=dict(run.tags)
        )

    return dg.ScheduleDefinition(
        name=f"{run.name}_schedule",
        cron_schedule=f"{MINUTE} {hour} * * *",
        execution_timezone="UTC",
        job_name=ASSET_JOB,
        execution_fn=request,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=_DESCRIPTIONS[run.kind].format(monitor=run.monitor),
        tags={MONITOR_TAG: run.monitor},
    )


_DESCRIPTIONS = {
    Kind.DAILY: "The last complete UTC day of monitor '{monitor}': slice, profile, drift, "
    "metrics, checks (its asset group but the reference, the daily report and the review loop).",
    Kind.HALLUCINATION: "The last complete UTC day of monitor '{monitor}''s LLM answers, "
    "judged by the remote judge.",
    Kind.REVIEW: "Monitor '{monitor}''s review loop: the fine-tuning dataset from reviewers' "
    "corrections, the judge's agreement with reviewers, the KPI relation.",
}


def prune_schedule(job: dg.JobDefinition) -> dg.ScheduleDefinition:
    """The prune job once a day, counting retention back from the scheduled day."""

    @dg.schedule(
        job=job,
        cron_schedule=f"{MINUTE} {PRUNE_HOUR} * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        name=f"{job.name}_schedule",
    )
    def prune_daily(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        day = context.scheduled_execution_time.date().isoformat()
        return dg.RunRequest(
            run_key=f"prune:{day}",
            run_config={"ops": {"prune_monitors": {"config": {"today": day}}}},
        )

    return prune_daily
