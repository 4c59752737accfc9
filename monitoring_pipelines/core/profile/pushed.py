"""A pushed-down day's column sketches: the warehouse's counts over the reference's bins and
categories, merged with the day's residual rows, with p-value samples from the day's sample.

The counts, nulls, minimum and maximum equal the pull path's exactly; the mean and the sum of
squared deviations agree to floating-point rounding (the warehouse sums about the reference's
mean); the p-value sample is drawn from the day's sample rows rather than from every row.
Segment values are ranked by rows, ties by value (the pull path tracks the first
``MAX_TRACKED_SEGMENT_VALUES`` values it meets; the two agree below that many values).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd

from monitoring_pipelines.core.ingest.cleaning import GROUP_KEY, as_text
from monitoring_pipelines.core.ingest.pushdown import DayAggregates, NumericAggregate
from monitoring_pipelines.core.profile.fitting import MAX_SEGMENT_VALUES, SEGMENT_SAMPLE
from monitoring_pipelines.core.profile.sketch import (
    CategoricalSketchBuilder,
    ColumnSketch,
    NumericSketchBuilder,
)
from monitoring_pipelines.core.segments import segment_column


def pushed_sketches(
    day: DayAggregates,
    reference: Mapping[str, ColumnSketch],
    numeric: tuple[str, ...],
    categorical: tuple[str, ...],
    sample_size: int,
    segment_values: int = MAX_SEGMENT_VALUES,
) -> tuple[ColumnSketch, ...]:
    """The day's sketch of each drift-tested column, and of each within the largest
    ``segment_values`` values of each segment column, as :func:`~.fitting.profile_day` makes
    them from a pulled slice."""
    out: list[ColumnSketch] = []
    for column in numeric:
        out.append(
            _numeric(column, reference, day.numeric[column], day.residual, day.sample, sample_size)
        )
    for column in categorical:
        nulls = day.quality.values.get(column, {}).get("null", 0)
        regular_nulls = nulls - int(day.residual[column].isna().sum())
        out.append(
            _categorical(
                column,
                reference,
                day.categories.get(column, {}),
                regular_nulls,
                day.regular_rows,
                day.residual,
                day.sample,
                sample_size,
            )
        )
    for segment, values in day.segments.items():
        residual_labels = _labels(day.residual, segment)
        sample_labels = _labels(day.sample, segment)
        rows = {v.value: v.rows for v in values}
        for label, count in pd.Series(residual_labels).value_counts(dropna=True).items():
            rows[str(label)] = rows.get(str(label), 0) + int(count)
        ranked = sorted(rows, key=lambda v: (-rows[v], v))[:segment_values]
        by_value = {v.value: v for v in values}
        for value in ranked:
            agg = by_value.get(value)
            part = day.residual[residual_labels == value]
            sample = day.sample[sample_labels == value]
            size = min(sample_size, SEGMENT_SAMPLE)
            for column in numeric:
                name = segment_column(column, segment, value)
                regular = agg.numeric[column] if agg else _EMPTY
                sketch = _numeric(column, reference, regular, part, sample, size)
                out.append(_renamed(sketch, name))
            for column in categorical:
                name = segment_column(column, segment, value)
                counts = agg.categories.get(column, {}) if agg else {}
                sketch = _categorical(
                    column,
                    reference,
                    counts,
                    agg.nulls.get(column, 0) if agg else 0,
                    agg.rows if agg else 0,
                    part,
                    sample,
                    size,
                )
                out.append(_renamed(sketch, name))
    return tuple(out)


_EMPTY = NumericAggregate(0, 0, None, None, 0.0, 0.0, 0.0)


def _labels(frame: pd.DataFrame, column: str) -> npt.NDArray[np.object_]:
    values = frame[column]
    return as_text(values, values.isna().to_numpy())


def _renamed(sketch: ColumnSketch, name: str) -> ColumnSketch:
    from dataclasses import replace

    return replace(sketch, column=name)


def _numeric(
    column: str,
    reference: Mapping[str, ColumnSketch],
    agg: NumericAggregate,
    residual: pd.DataFrame,
    sample: pd.DataFrame,
    sample_size: int,
) -> ColumnSketch:
    ref = reference.get(column)
    edges = ref.edges if ref is not None and ref.edges is not None else np.zeros(0)
    builder = NumericSketchBuilder(column, edges, sample_size)
    builder.add(
        residual[column].to_numpy(np.float64, na_value=np.nan),
        residual[GROUP_KEY].to_numpy(dtype=np.uint64),
    )
    builder.offer_sample(
        sample[column].to_numpy(np.float64, na_value=np.nan),
        sample[GROUP_KEY].to_numpy(dtype=np.uint64),
    )
    return _numeric_sketch(column, edges, agg).merge(builder.build(), sample_size)


def _categorical(
    column: str,
    reference: Mapping[str, ColumnSketch],
    counts: dict[str, int],
    regular_nulls: int,
    regular_rows: int,
    residual: pd.DataFrame,
    sample: pd.DataFrame,
    sample_size: int,
) -> ColumnSketch:
    ref = reference.get(column)
    known = ref.categories if ref is not None and ref.categories is not None else ()
    builder = CategoricalSketchBuilder(column, known, sample_size)
    listed = sum(counts.values())
    # The new categories past the listed ones are smaller than every listed one: folded.
    builder.add_counts(counts, regular_nulls, folded=regular_rows - regular_nulls - listed)
    builder.add(residual[column].to_numpy(dtype=object), residual[GROUP_KEY].to_numpy(np.uint64))
    builder.offer_sample(
        sample[column].to_numpy(dtype=object), sample[GROUP_KEY].to_numpy(np.uint64)
    )
    return builder.build()


def _numeric_sketch(
    column: str, edges: npt.NDArray[np.float64], agg: NumericAggregate
) -> ColumnSketch:
    n = agg.count
    mean = agg.shift + agg.shifted_sum / n if n else 0.0
    m2 = max(agg.shifted_squares - agg.shifted_sum * agg.shifted_sum / n, 0.0) if n else 0.0
    if edges.size:
        counts = agg.bin_counts() if agg.at_or_below else [0] * (edges.size + 1)
        sums = list(agg.bin_sums) if agg.bin_sums else [0.0] * (edges.size + 1)
    else:
        counts, sums = [n], [agg.shifted_sum + agg.shift * n]
    return ColumnSketch(
        column=column,
        kind="numeric",
        counts=np.asarray(counts, dtype=np.int64),
        edges=edges,
        n_missing=agg.nulls,
        lo=agg.lo,
        hi=agg.hi,
        mean=mean,
        m2=m2,
        sums=np.asarray(sums, dtype=np.float64),
    )
