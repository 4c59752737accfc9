"""Push-down: one day's exact aggregates computed where the data lives (``day``), in
expressions every supported dialect compiles (``sql``), described in plain values (``model``)."""

from monitoring_pipelines.core.ingest.pushdown.day import day_aggregates, pushdown_problems
from monitoring_pipelines.core.ingest.pushdown.model import (
    PERCENTILES,
    RESIDUAL_CAP,
    DayAggregates,
    DayScan,
    NumericAggregate,
    PushdownDeclined,
    PushdownPlan,
    SegmentAggregate,
    Usage,
)

__all__ = [
    "PERCENTILES",
    "RESIDUAL_CAP",
    "DayAggregates",
    "DayScan",
    "NumericAggregate",
    "PushdownDeclined",
    "PushdownPlan",
    "SegmentAggregate",
    "Usage",
    "day_aggregates",
    "pushdown_problems",
]
