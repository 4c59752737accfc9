"""A pushed-down day's column sketches: the warehouse's counts over the reference's bins and
categories, merged with the day's residual rows, with p-value samples from the day's sample.

The counts, nulls, minimum and maximum equal the pull path's exactly; the mean and the sum of
squared deviations agree to floating-point rounding (the warehouse sums about the reference's
mean); the p-value sample is drawn from the day's sample rows rather than from every row.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from monitoring_pipelines.core.ingest.cleaning import GROUP_KEY
from monitoring_pipelines.core.ingest.pushdown import DayAggregates, NumericAggregate
from monitoring_pipelines.core.profile.sketch import (
    CategoricalSketchBuilder,
    ColumnSketch,
    NumericSketchBuilder,
)


def pushed_sketches(
    day: DayAggregates,
    reference: Mapping[str, ColumnSketch],
    numeric: tuple[str, ...],
    categorical: tuple[str, ...],
    sample_size: int,
) -> tuple[ColumnSketch, ...]:
    """The day's sketch of each drift-tested column, as :func:`~.fitting.profile_day` makes
    them from a pulled slice."""
    residual, sample = day.residual, day.sample
    residual_keys = residual[GROUP_KEY].to_numpy(dtype=np.uint64)
    sample_keys = sample[GROUP_KEY].to_numpy(dtype=np.uint64)
    out: list[ColumnSketch] = []
    for column in numeric:
        ref = reference.get(column)
        edges = ref.edges if ref is not None and ref.edges is not None else np.zeros(0)
        builder = NumericSketchBuilder(column, edges, sample_size)
        builder.add(residual[column].to_numpy(np.float64, na_value=np.nan), residual_keys)
        builder.offer_sample(sample[column].to_numpy(np.float64, na_value=np.nan), sample_keys)
        rows = _numeric_sketch(column, edges, day.numeric[column])
        out.append(rows.merge(builder.build(), sample_size))
    for column in categorical:
        ref = reference.get(column)
        known = ref.categories if ref is not None and ref.categories is not None else ()
        cat = CategoricalSketchBuilder(column, known, sample_size)
        nulls = day.quality.values.get(column, {}).get("null", 0)
        residual_nulls = int(residual[column].isna().sum())
        counts = dict(day.categories.get(column, {}))
        regular_present = day.regular_rows - (nulls - residual_nulls)
        listed = sum(counts.values())
        # The new categories past the listed ones are smaller than every listed one: folded.
        cat.add_counts(counts, nulls - residual_nulls, folded=regular_present - listed)
        cat.add(residual[column].to_numpy(dtype=object), residual_keys)
        cat.offer_sample(sample[column].to_numpy(dtype=object), sample_keys)
        out.append(cat.build())
    return tuple(out)


def _numeric_sketch(
    column: str, edges: npt.NDArray[np.float64], agg: NumericAggregate
) -> ColumnSketch:
    n = agg.count
    mean = agg.shift + agg.shifted_sum / n if n else 0.0
    m2 = max(agg.shifted_squares - agg.shifted_sum * agg.shifted_sum / n, 0.0) if n else 0.0
    counts = np.asarray(agg.bin_counts() if edges.size else [n], dtype=np.int64)
    sums = np.asarray(agg.bin_sums if edges.size else [agg.shifted_sum + agg.shift * n])
    return ColumnSketch(
        column=column,
        kind="numeric",
        counts=counts,
        edges=edges,
        n_missing=agg.nulls,
        lo=agg.lo,
        hi=agg.hi,
        mean=mean,
        m2=m2,
        sums=sums.astype(np.float64),
    )
