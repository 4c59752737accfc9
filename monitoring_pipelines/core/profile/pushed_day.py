"""Whether a monitor's day is pushed down, and what a pushed-down day leaves for the assets
after the live slice: its whole-day row count, its column sketches, its latency percentiles and
the results of the later stages' own queries of its rows (service breakdowns, token sums; see
``PushdownPlan.extra``). The slice itself then holds only the day's bounded sample.

The record is a small file beside the day's slice (``<day>.pushed``); a pulled day has none,
so a day pulled after it was pushed down (or the other way round) never reads a stale one.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from monitoring_pipelines.core.artifacts import ArtifactPath, storage_errors, write_bytes
from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.errors import StoreError
from monitoring_pipelines.core.ingest.cleaning import Window
from monitoring_pipelines.core.ingest.pushdown import (
    DayAggregates,
    DayScan,
    PushdownDeclined,
    PushdownPlan,
    day_aggregates,
    pushdown_problems,
)
from monitoring_pipelines.core.profile.fitting import ColumnPlan
from monitoring_pipelines.core.profile.pushed import pushed_sketches
from monitoring_pipelines.core.profile.sketch import ColumnSketch

SUFFIX = ".pushed"


def pulled_parts(monitor: MonitorConfig) -> list[str]:
    """The monitor's assets that still pull some columns of every row of a pushed-down day
    (its slice holds only its sample), and why."""
    parts = []
    if monitor.labels is not None and monitor.prediction is not None:
        parts.append("performance (labels are joined to every prediction)")
    if monitor.canary is not None:
        parts.append("canary_comparison (its bootstrap intervals resample every request)")
    return parts


def sample_rows(monitor: MonitorConfig) -> int:
    """Rows of a pushed-down day's sample: ``source.pushdown_sample_rows``, by default as many
    as the p-values, the whylogs profile and Great Expectations each read of a pulled day."""
    given = monitor.source.pushdown_sample_rows
    if given is not None:
        return given
    return max(
        monitor.drift.p_value_sample,
        monitor.profile.sample_rows,
        monitor.checks.quality_sample_rows,
    )


def pushdown_plan(monitor: MonitorConfig, reference: Mapping[str, ColumnSketch]) -> PushdownPlan:
    """The day's aggregates over the reference's bins and categories (sums about its means)."""
    edges = {c: tuple(s.edges) for c, s in reference.items() if s.edges is not None}
    categories = {c: s.categories for c, s in reference.items() if s.categories is not None}
    shifts = {c: float(s.mean) for c, s in reference.items() if s.kind == "numeric" and s.n}
    return PushdownPlan.for_monitor(monitor, edges, categories, shifts, sample_rows(monitor))


def refusals(
    engine: Engine, monitor: MonitorConfig, reference: Mapping[str, ColumnSketch] | None
) -> list[str]:
    """Why the monitor's days cannot be pushed down (empty: they can be)."""
    if reference is None or not reference:
        return ["no reference profile yet (its bins and categories are what the day counts)"]
    return pushdown_problems(engine, monitor.source, pushdown_plan(monitor, reference))


@dataclass(frozen=True)
class PushedDay:
    """What the assets after the live slice read of a pushed-down day."""

    rows: int
    dialect: str
    sample_rows: int
    sketches: tuple[ColumnSketch, ...]
    reference: str
    """:func:`reference_digest` of the reference the sketches' bins and categories are of."""
    sections: Mapping[str, Any] = field(default_factory=dict)
    """The results of the day's further queries (``PushdownPlan.extra``) by name, as JSON:
    the service breakdowns and the token sums the later stages read."""
    latency_percentiles: Mapping[float, float | None] = field(default_factory=dict)
    """The whole day's latency percentiles."""

    def section(self, name: str, configured: str) -> Any:
        """The ``name`` results a later stage reads; a day pushed down before the monitor's
        ``configured`` section existed has none, and its slice is only a sample."""
        if name not in self.sections:
            raise StoreError(
                f"the day was pushed down before its '{configured}' section was configured, "
                "so its slice holds only a sample: materialize its live_slice again"
            )
        return self.sections[name]


def reference_digest(reference: Mapping[str, ColumnSketch]) -> str:
    """What of the reference a pushed-down day's counts depend on: its bins and categories."""
    digest = hashlib.sha256()
    for column in sorted(reference):
        sketch = reference[column]
        digest.update(column.encode() + b"\0")
        if sketch.edges is not None:
            digest.update(repr([float(e) for e in sketch.edges]).encode())
        if sketch.categories is not None:
            digest.update(json.dumps(list(sketch.categories)).encode())
        digest.update(b"\1")
    return digest.hexdigest()


def push_day(
    engine: Engine,
    monitor: MonitorConfig,
    reference: Mapping[str, ColumnSketch],
    day: date,
    window: Window | None = None,
    extra: Mapping[str, Callable[[DayScan], Any]] | None = None,
) -> tuple[DayAggregates, PushedDay]:
    """The day's aggregates computed in the warehouse, and the record the later assets read
    (with the results of the ``extra`` queries of later stages, which must be JSON).

    Raises:
        PushdownDeclined: When the day cannot be pushed down.
        SourceError: When the warehouse fails.
    """
    problems = refusals(engine, monitor, reference)
    if problems:
        raise PushdownDeclined("; ".join(problems))
    plan_of_day = replace(pushdown_plan(monitor, reference), extra=dict(extra or {}))
    aggregates = day_aggregates(engine, monitor.source, plan_of_day, day, window)
    quality = aggregates.quality
    if quality.rows_read == 0 and quality.rows_of_other_days == 0:
        # No row was read, so no column was looked at: the findings name none (as a pulled
        # day without rows does).
        quality.values.clear()
    plan = ColumnPlan.for_monitor(monitor)
    sketches = pushed_sketches(
        aggregates,
        reference,
        plan.numeric,
        plan.categorical,
        monitor.drift.p_value_sample,
    )
    record = PushedDay(
        rows=aggregates.quality.rows_kept,
        dialect=aggregates.dialect,
        sample_rows=len(aggregates.sample),
        sketches=sketches,
        reference=reference_digest(reference),
        sections=dict(aggregates.extra),
        latency_percentiles=dict(aggregates.latency_percentiles),
    )
    return aggregates, record


def record_path(slice_path: ArtifactPath) -> ArtifactPath:
    return slice_path.with_suffix(SUFFIX)


def save_pushed(slice_path: ArtifactPath, record: PushedDay) -> None:
    """Write the record beside the slice: a JSON header, then each sketch's bytes."""
    header = json.dumps(
        {
            "rows": record.rows,
            "dialect": record.dialect,
            "sample_rows": record.sample_rows,
            "sketches": len(record.sketches),
            "reference": record.reference,
            "sections": record.sections,
            "latency_percentiles": [[q, v] for q, v in record.latency_percentiles.items()],
        }
    ).encode()
    parts = [struct.pack("<I", len(header)), header]
    for sketch in record.sketches:
        data = sketch.to_bytes()
        parts += [struct.pack("<I", len(data)), data]
    path = record_path(slice_path)
    if not isinstance(path, Path):
        write_bytes(path, b"".join(parts))  # one upload: the old object or the new one
        return
    temporary = path.with_suffix(SUFFIX + ".tmp")
    temporary.write_bytes(b"".join(parts))
    temporary.replace(path)


def load_pushed(slice_path: ArtifactPath) -> PushedDay | None:
    """The day's record, or None when the day was pulled."""
    path = record_path(slice_path)
    with storage_errors(path, "read"):
        if not path.exists():
            return None
        data = path.read_bytes()
    (size,) = struct.unpack_from("<I", data, 0)
    header = json.loads(data[4 : 4 + size])
    at = 4 + size
    sketches = []
    for _ in range(header["sketches"]):
        (size,) = struct.unpack_from("<I", data, at)
        sketches.append(ColumnSketch.from_bytes(data[at + 4 : at + 4 + size]))
        at += 4 + size
    return PushedDay(
        rows=int(header["rows"]),
        dialect=str(header["dialect"]),
        sample_rows=int(header["sample_rows"]),
        sketches=tuple(sketches),
        reference=str(header["reference"]),
        sections=header.get("sections", {}),
        latency_percentiles={float(q): v for q, v in header.get("latency_percentiles", [])},
    )


def forget_pushed(slice_path: ArtifactPath) -> None:
    """A pulled day: no record of an earlier push-down of it may stay."""
    path = record_path(slice_path)
    with storage_errors(path, "delete"):
        if path.exists():
            path.unlink()
