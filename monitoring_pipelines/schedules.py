"""Daily schedules: each monitor's job runs for the last complete UTC day."""

from __future__ import annotations

import dagster as dg

# Run shortly after midnight UTC, when the previous day is complete.
HOUR = 0
MINUTE = 30
# The remote judge's job runs later, when the day's slice is certainly written.
JUDGE_HOUR = 2
# The review loop reads every day judged so far: after the remote judge's job.
REVIEW_HOUR = 3
# Pruning counts back from the run's day, after the day's runs have read what they need.
PRUNE_HOUR = 4


def daily_schedule(job: dg.JobDefinition, *, hour: int = HOUR) -> dg.ScheduleDefinition:
    schedule = dg.build_schedule_from_partitioned_job(
        job,
        hour_of_day=hour,
        minute_of_hour=MINUTE,
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    if not isinstance(schedule, dg.ScheduleDefinition):  # only an asset job left unresolved
        raise TypeError(f"job {job.name} gives no schedule: {type(schedule).__name__}")
    return schedule


def review_schedule(job: dg.JobDefinition) -> dg.ScheduleDefinition:
    """The review loop once a day (its assets are not partitioned)."""
    return dg.ScheduleDefinition(
        job=job,
        cron_schedule=f"{MINUTE} {REVIEW_HOUR} * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )


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
