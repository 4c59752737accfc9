"""Daily partitions: UTC days of the event timestamp, from the monitor's start date."""

from __future__ import annotations

import dagster as dg

from monitoring_pipelines.core.config import MonitorConfig


def daily_partitions(monitor: MonitorConfig) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=monitor.start_date.isoformat(), timezone="UTC")
