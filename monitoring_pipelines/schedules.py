"""Daily schedules: each monitor's job runs for the last complete UTC day."""

from __future__ import annotations

import dagster as dg

# Run shortly after midnight UTC, when the previous day is complete.
HOUR = 0
MINUTE = 30


def daily_schedule(job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    return dg.build_schedule_from_partitioned_job(
        job,
        hour_of_day=HOUR,
        minute_of_hour=MINUTE,
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
