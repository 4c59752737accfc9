"""Fit once, compute many times: the reference's bins and vocabularies, then each day's
sketches and whylogs profile over those same bins."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.ingest.cleaning import (
    GROUP_KEY,
    ROW_KEY,
    all_strings,
    as_text,
    hash_positions,
)
from monitoring_pipelines.core.profile import whylogs_adapter as profiling
from monitoring_pipelines.core.profile.season import Season
from monitoring_pipelines.core.profile.sketch import (
    CategoricalSketchBuilder,
    ColumnSketch,
    NumericSketchBuilder,
    fit_categories,
    fit_numeric_edges,
    key_order,
)
from monitoring_pipelines.core.seasons import WEEKDAYS
from monitoring_pipelines.core.segments import segment_column

Builder = NumericSketchBuilder | CategoricalSketchBuilder

# Segments: the largest values of each segment column are sketched, with smaller p-value samples.
MAX_SEGMENT_VALUES = 10
MAX_TRACKED_SEGMENT_VALUES = 50
SEGMENT_SAMPLE = 2000


@dataclass(frozen=True)
class ColumnPlan:
    """How each drift-tested column is read: as numbers or as categories."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @classmethod
    def for_monitor(cls, monitor: MonitorConfig) -> ColumnPlan:
        numeric = list(monitor.features.numeric)
        categorical = list(monitor.features.categorical)
        if monitor.prediction is not None:
            target = numeric if monitor.prediction.type == "score" else categorical
            target.append(monitor.prediction.column)
        return cls(tuple(numeric), tuple(categorical))

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]


@dataclass(frozen=True)
class FittedReference:
    """The reference's sketches, its whylogs profile and a content hash (its data version)."""

    sketches: tuple[ColumnSketch, ...]
    profile: bytes
    summary: Mapping[str, Any]
    rows: int
    content_hash: str
    seasons: Mapping[str, Season] = field(default_factory=dict)


@dataclass(frozen=True)
class DayProfile:
    """One day's sketches (over the reference's bins) and whylogs profile.

    Attributes:
        sketches: Counts and samples of every row.
        profile: whylogs profile of a uniform sample of ``profiled_rows`` rows.
        summary: The profile's per-column summary.
        rows: Rows of the day.
        profiled_rows: Rows in the whylogs profile (all of them when ``rows`` is small).
    """

    sketches: tuple[ColumnSketch, ...]
    profile: bytes
    summary: Mapping[str, Any]
    rows: int
    profiled_rows: int


def fit_reference(
    chunks: Iterable[pd.DataFrame],
    plan: ColumnPlan,
    bins: int,
    sample_size: int,
    profile_rows: int = 25_000,
    time_column: str | None = None,
) -> FittedReference:
    """Read the reference once, fix bin edges at its quantiles and vocabularies at its
    categories, and sketch it over them; with ``time_column``, also each weekday's rows over
    the same bins (:class:`Season`)."""
    frames = [chunk for chunk in chunks]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=plan.columns)
    if time_column is not None and time_column not in frame:
        frame[time_column] = pd.Series(dtype=object)
    digest = hashlib.sha256()
    for column in [*plan.columns, *([time_column] if time_column else [])]:
        digest.update(column.encode())
        digest.update(pd.util.hash_pandas_object(frame[column], index=False).to_numpy().tobytes())
    keys = hash_positions(0, len(frame), "reference")
    order = key_order(keys)
    builders: dict[str, Builder] = {}
    values: dict[str, npt.NDArray[Any]] = {}
    for column in plan.numeric:
        numbers = values[column] = _numeric(frame[column])
        builder = NumericSketchBuilder(column, fit_numeric_edges(numbers, bins), sample_size)
        builder.add(numbers, keys, order)
        builders[column] = builder
    for column in plan.categorical:
        labels = values[column] = _categorical(frame[column])
        cat_builder = CategoricalSketchBuilder(column, fit_categories(labels), sample_size)
        cat_builder.add(labels, keys, order)
        builders[column] = cat_builder
    profile = profiling.ProfileBuilder()
    profile.add(_for_profile(frame[sample_mask(keys, len(frame), profile_rows)], plan))
    view = profile.build()
    seasons = {}
    if time_column is not None:
        seasons = _weekday_seasons(values, builders, keys, frame[time_column], sample_size)
    return FittedReference(
        sketches=tuple(b.build() for b in builders.values()),
        profile=profiling.serialize(view),
        summary=profiling.summarize(view),
        rows=len(frame),
        content_hash=digest.hexdigest()[:32],
        seasons=seasons,
    )


def _weekday_seasons(
    values: Mapping[str, npt.NDArray[Any]],
    whole: Mapping[str, Builder],
    keys: npt.NDArray[np.uint64],
    stamps: pd.Series,
    sample_size: int,
) -> dict[str, Season]:
    """Each weekday's rows (of the column ``values`` already read) sketched over the whole
    reference's edges and vocabularies; rows without a readable timestamp belong to no weekday."""
    times = pd.to_datetime(stamps, utc=True, errors="coerce", format="mixed")
    weekday = times.dt.weekday.to_numpy(dtype=np.float64, na_value=np.nan)
    dates = times.dt.floor("D")
    seasons: dict[str, Season] = {}
    for number, name in enumerate(WEEKDAYS):
        mask = weekday == number
        if not mask.any():
            continue
        sketches = []
        for column, like in whole.items():
            builder: Builder
            if isinstance(like, NumericSketchBuilder):
                builder = NumericSketchBuilder(column, like.edges, sample_size, like.index)
            else:
                builder = CategoricalSketchBuilder(column, like.categories, sample_size)
            builder.add(values[column][mask], keys[mask])
            sketches.append(builder.build())
        seasons[f"weekday={name}"] = Season(
            tuple(sketches), int(mask.sum()), int(dates[mask].nunique())
        )
    return seasons


def profile_day(
    batches: Iterable[pd.DataFrame],
    plan: ColumnPlan,
    reference: Mapping[str, ColumnSketch],
    profile_columns: Sequence[str],
    sample_size: int,
    *,
    total_rows: int | None = None,
    profile_rows: int = 25_000,
    segments: Sequence[str] = (),
    segment_values: int = MAX_SEGMENT_VALUES,
) -> DayProfile:
    """Sketch one day's slice over the reference's bins and profile it with whylogs.

    Counts, moments and p-value samples see every row. The whylogs profile, whose per-row
    preprocessing is the slow part, sees a uniform sample of about ``profile_rows`` rows when
    ``total_rows`` (known from the slice's metadata) is larger.

    With ``segments``, every column is also sketched within each of the ``segment_values``
    largest values of each segment column (named ``column@segment=value``).
    """
    builders: dict[str, Builder] = {}
    for column in plan.numeric:
        ref = reference.get(column)
        edges = ref.edges if ref is not None and ref.edges is not None else np.zeros(0)
        builders[column] = NumericSketchBuilder(column, edges, sample_size)
    for column in plan.categorical:
        ref = reference.get(column)
        categories = ref.categories if ref is not None and ref.categories is not None else ()
        builders[column] = CategoricalSketchBuilder(column, categories, sample_size)
    profile = profiling.ProfileBuilder()
    sliced = SegmentSketches(builders, segments, min(sample_size, SEGMENT_SAMPLE))
    rows = 0
    for batch in batches:
        rows += len(batch)
        keys = batch[GROUP_KEY].to_numpy(dtype=np.uint64)
        order = key_order(keys)  # one sort of the keys for every column's sample
        columns = {
            column: (
                batch[column].to_numpy(dtype=np.float64, na_value=np.nan)
                if isinstance(builder, NumericSketchBuilder)
                else _slice_text(batch[column])
            )
            for column, builder in builders.items()
        }
        for column, builder in builders.items():
            builder.add(columns[column], keys, order)  # type: ignore[arg-type]
        sliced.add(batch, columns, keys)
        row_keys = batch[ROW_KEY].to_numpy(dtype=np.uint64)
        chosen = sample_mask(row_keys, total_rows or 0, profile_rows)
        profile.add(batch.loc[chosen, list(profile_columns)])
    view = profile.build()
    return DayProfile(
        sketches=tuple(b.build() for b in builders.values()) + sliced.build(segment_values),
        profile=profiling.serialize(view),
        summary=profiling.summarize(view),
        rows=rows,
        profiled_rows=profile.rows,
    )


class SegmentSketches:
    """Per-segment sketches of every column, for the segment values seen (at most
    ``MAX_TRACKED_SEGMENT_VALUES`` per segment column; later values are not tracked)."""

    def __init__(
        self, template: Mapping[str, Builder], segments: Sequence[str], sample_size: int
    ) -> None:
        self._template = template
        self._segments = segments
        self._sample_size = sample_size
        self._builders: dict[tuple[str, str], dict[str, Builder]] = {}
        self._rows: dict[tuple[str, str], int] = {}

    def add(
        self,
        batch: pd.DataFrame,
        columns: Mapping[str, npt.NDArray[Any]],
        keys: npt.NDArray[np.uint64],
    ) -> None:
        for segment in self._segments:
            labels = _categorical(batch[segment])
            for value in pd.unique(labels[pd.notna(labels)]):
                slot = (segment, str(value))
                if slot not in self._builders:
                    tracked = sum(1 for s, _ in self._builders if s == segment)
                    if tracked >= MAX_TRACKED_SEGMENT_VALUES:
                        continue
                    self._builders[slot] = {
                        c: self._new(segment_column(c, segment, str(value)), b)
                        for c, b in self._template.items()
                    }
                mask = labels == value
                self._rows[slot] = self._rows.get(slot, 0) + int(mask.sum())
                for column, builder in self._builders[slot].items():
                    builder.add(columns[column][mask], keys[mask])

    def build(self, per_segment: int) -> tuple[ColumnSketch, ...]:
        out: list[ColumnSketch] = []
        for segment in self._segments:
            slots = sorted(
                (slot for slot in self._builders if slot[0] == segment),
                key=lambda slot: -self._rows[slot],
            )
            for slot in slots[:per_segment]:
                out += [b.build() for b in self._builders[slot].values()]
        return tuple(out)

    def _new(self, name: str, like: Builder) -> Builder:
        if isinstance(like, NumericSketchBuilder):
            return NumericSketchBuilder(name, like.edges, self._sample_size, like.index)
        return CategoricalSketchBuilder(name, like.categories, self._sample_size)


def sample_mask(keys: npt.NDArray[np.uint64], total: int, wanted: int) -> npt.NDArray[np.bool_]:
    """Rows of a uniform sample of about ``wanted`` of ``total`` rows, chosen by key hash (the
    same rows on every rerun)."""
    if total <= wanted:
        return np.ones(keys.size, dtype=bool)
    limit = np.uint64(min(wanted / total, 1.0) * float(np.iinfo(np.uint64).max))
    chosen: npt.NDArray[np.bool_] = keys < limit
    return chosen


def _numeric(values: pd.Series) -> np.ndarray[Any, np.dtype[np.float64]]:
    numbers: np.ndarray[Any, np.dtype[np.float64]] = pd.to_numeric(
        values, errors="coerce"
    ).to_numpy(dtype=np.float64, na_value=np.nan)
    return numbers


def _categorical(values: pd.Series) -> np.ndarray[Any, np.dtype[np.object_]]:
    """Category labels as text (None when missing); numbers such as 200.0 read as "200"."""
    return as_text(values, values.isna().to_numpy())


def _slice_text(values: pd.Series) -> np.ndarray[Any, np.dtype[np.object_]] | pd.Categorical:
    """A text column of the slice as labels: the slice stores text (or null) already, so only
    a column of another type (a caller's own frame) is converted. Text read as categoricals
    stays categorical (its codes count without hashing a string per row)."""
    if isinstance(values.dtype, pd.CategoricalDtype) and all_strings(values):
        categorical: pd.Categorical = values.array
        return categorical
    if all_strings(values):
        labels: np.ndarray[Any, np.dtype[np.object_]] = values.to_numpy(dtype=object)
        return labels  # nulls stay None, NaN or NA: each counts as missing
    return _categorical(values)


def _for_profile(frame: pd.DataFrame, plan: ColumnPlan) -> pd.DataFrame:
    out = pd.DataFrame(index=frame.index)
    for column in plan.numeric:
        out[column] = _numeric(frame[column])
    for column in plan.categorical:
        out[column] = _categorical(frame[column])
    return out
