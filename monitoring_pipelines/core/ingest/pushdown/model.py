"""What a pushed-down day is: its plan in plain values, its aggregates, and the caps past which
a day is declined."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.errors import SourceError
from monitoring_pipelines.core.ingest.cleaning import SliceQuality, SliceSpec

RESIDUAL_CAP = 100_000
"""Most residual rows a pushed-down day pulls; a day with more is pulled whole."""
REPEATED_ID_CAP = 10_000
GROUP_CAP = 10_000
"""Most distinct statuses or (model, intent) pairs a day returns."""
NEW_CATEGORIES = 100
"""New (not in the reference) categories returned per column, largest first."""
KEPT_NEW_CATEGORIES = 50
"""New categories a sketch keeps (``sketch.MAX_NEW_CATEGORIES``); the rest fold into OTHER."""
PERCENTILES = (50.0, 95.0, 99.0)
JOINT_COLUMNS = 3
"""Numeric columns binned by one query: at most (bins + 2) ** 3 groups leave the warehouse."""
SEGMENT_MARGIN = 20
"""Segment values listed past the largest ``segment_values``: residual rows may reorder them."""


class PushdownDeclined(SourceError):
    """The day cannot be pushed down (dialect, column types, or too many residual rows)."""


@dataclass(frozen=True)
class PushdownPlan:
    """What to compute for a monitor's day, in plain values.

    Attributes:
        spec: The slice's columns (what the pull path reads).
        edges: Interior reference bin edges of each binned numeric column.
        shifts: A value near each numeric column's mean (the reference's), about which sums
            of squares are taken so that they keep their precision.
        categories: Reference categories of each counted categorical column.
        latency_column: The latency column, with ``latency_scale`` to milliseconds.
        status_column: The status column, classified with ``error_statuses``.
        model_column, intent_column, prompt_column, completion_column: LLM usage columns.
        sample_rows: Rows of the sample that becomes the slice.
        segments: Segment columns whose largest ``segment_values`` values get the binned
            columns' and the categories' aggregates of their own.
        parallel_queries: Queries run at once on PostgreSQL once the residual rows are known,
            each on its own connection, all reading one exported snapshot (1: one after
            another on one connection; SQLite and DuckDB always run them so).
    """

    spec: SliceSpec
    edges: dict[str, tuple[float, ...]] = field(default_factory=dict)
    shifts: dict[str, float] = field(default_factory=dict)
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    latency_column: str | None = None
    latency_scale: float = 1.0
    percentiles: tuple[float, ...] = PERCENTILES
    status_column: str | None = None
    error_statuses: list[str | int] | None = None
    model_column: str | None = None
    intent_column: str | None = None
    prompt_column: str | None = None
    completion_column: str | None = None
    sample_rows: int = 20_000
    residual_cap: int = RESIDUAL_CAP
    segments: tuple[str, ...] = ()
    segment_values: int = 10
    parallel_queries: int = 2
    extra: Mapping[str, Callable[[DayScan], Any]] = field(default_factory=dict)
    """Further queries of the day's regular rows, by name: each is called with the day's
    :class:`DayScan` once its residual rows are known, and its result is kept in
    ``DayAggregates.extra`` under the same name."""

    @classmethod
    def for_monitor(
        cls,
        monitor: MonitorConfig,
        edges: dict[str, tuple[float, ...]],
        categories: dict[str, tuple[str, ...]],
        shifts: dict[str, float] | None = None,
        sample_rows: int = 20_000,
    ) -> PushdownPlan:
        service, llm = monitor.service, monitor.llm
        percentiles: tuple[float, ...] = PERCENTILES
        if service is not None:
            percentiles = tuple(dict.fromkeys((*PERCENTILES, service.slo.latency_percentile)))
        return cls(
            spec=SliceSpec.for_monitor(monitor),
            edges=edges,
            shifts=shifts or {},
            categories=categories,
            latency_column=service.latency_column if service else None,
            latency_scale=1000.0 if service and service.latency_unit == "s" else 1.0,
            percentiles=percentiles,
            status_column=service.status_column if service else None,
            error_statuses=service.error_statuses if service else None,
            model_column=llm.model_column if llm else None,
            intent_column=llm.intent_column if llm else None,
            prompt_column=llm.prompt_tokens_column if llm else None,
            completion_column=llm.completion_tokens_column if llm else None,
            sample_rows=sample_rows,
            segments=tuple(monitor.segments),
        )


@dataclass(frozen=True)
class DayScan:
    """What a further query of a day (``PushdownPlan.extra``) is written against.

    Attributes:
        dialect: The warehouse's SQLAlchemy dialect name.
        day: The day.
        table: The source table (columns typed loosely, see :func:`.sql.day_table`).
        timestamp: Its timestamp column; ``timestamp_kind`` is ``text``, ``naive`` or ``aware``.
        forms: How each raw column is read (:class:`.sql.ColumnForms`).
        values: Each numeric column as a double (null where it is not a regular value).
        regular: The condition that selects the day's regular rows.
        residual: The day's other rows, pulled and cleaned as slice rows.
        execute: Runs a query on the day's connection (its snapshot) and returns its rows.
    """

    dialect: str
    day: date
    table: Any
    timestamp: Any
    timestamp_kind: str
    forms: Any
    values: Mapping[str, Any]
    regular: Any
    residual: pd.DataFrame
    execute: Callable[[Any], list[Any]]


@dataclass(frozen=True)
class NumericAggregate:
    """A numeric column over the regular rows (residual rows are in ``DayAggregates.residual``).

    ``at_or_below[i]`` counts values ``<= edges[i]``, so bin ``i`` (``np.searchsorted``'s
    ``side="left"``) holds ``at_or_below[i] - at_or_below[i - 1]`` values.
    """

    count: int
    nulls: int
    lo: float | None
    hi: float | None
    shift: float
    shifted_sum: float
    shifted_squares: float
    at_or_below: tuple[int, ...] = ()
    bin_sums: tuple[float, ...] = ()

    def bin_counts(self) -> list[int]:
        cumulative = [*self.at_or_below, self.count]
        return [b - a for a, b in zip([0, *cumulative[:-1]], cumulative, strict=True)]


@dataclass(frozen=True)
class Usage:
    rows: int
    prompt_tokens: float
    completion_tokens: float
    rows_missing_tokens: int


@dataclass(frozen=True)
class SegmentAggregate:
    """One value of a segment column: its regular rows' binned columns and categories."""

    value: str
    rows: int
    numeric: dict[str, NumericAggregate]
    categories: dict[str, dict[str, int]]
    nulls: dict[str, int]


@dataclass
class DayAggregates:
    """One day, pushed down. Regular rows are aggregated; ``residual`` holds the other rows of
    the day cleaned as slice rows; ``sample`` the sampled slice rows."""

    dialect: str
    quality: SliceQuality
    regular_rows: int
    numeric: dict[str, NumericAggregate]
    categories: dict[str, dict[str, int]]
    residual: pd.DataFrame
    sample: pd.DataFrame
    latency_percentiles: dict[float, float | None]
    latency_rows: int
    status_counts: dict[Any, int]
    errors: int
    status_unknown: int
    status_missing: int
    usage: dict[tuple[str | None, str | None], Usage]
    segments: dict[str, list[SegmentAggregate]] = field(default_factory=dict)
    queries: int = 0
    bytes_fetched: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
