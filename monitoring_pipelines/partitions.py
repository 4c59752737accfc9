"""Daily partitions: UTC days of the event timestamp, from the monitor's start date to its end
date (when it has one) or the last complete day."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from monitoring_pipelines.core.config import MonitorConfig


def daily_partitions(monitor: MonitorConfig) -> dg.DailyPartitionsDefinition:
    # Dagster's end_date is the first day without a partition; the monitor's is its last day.
    end = monitor.end_date + timedelta(days=1) if monitor.end_date else None
    return dg.DailyPartitionsDefinition(
        start_date=monitor.start_date.isoformat(),
        end_date=end.isoformat() if end else None,
        timezone="UTC",
    )
