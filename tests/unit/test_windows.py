"""Windows merge daily sketches into exactly the sketch of all their rows."""

from __future__ import annotations

from datetime import date

import numpy as np

from monitoring_pipelines.core.profile.sketch import (
    ColumnSketch,
    NumericSketchBuilder,
    fit_numeric_edges,
)
from monitoring_pipelines.core.profile.windows import Window, binned_like, merge_days


def test_window_days_and_key() -> None:
    window = Window(date(2026, 9, 30), 7)
    assert window.start == date(2026, 9, 24)
    assert window.days()[0] == window.start and window.days()[-1] == window.end
    assert window.key == "2026-09-30/7d"


def test_merging_days_equals_one_pass_over_their_rows() -> None:
    rng = np.random.default_rng(4)
    days = [rng.normal(i * 0.1, 1.0, 5000) for i in range(7)]
    keys = [rng.integers(0, 2**63, 5000, dtype=np.uint64) for _ in days]
    edges = fit_numeric_edges(np.concatenate(days), 20)
    per_day = []
    for values, k in zip(days, keys, strict=True):
        builder = NumericSketchBuilder("x", edges, 3000)
        builder.add(values, k)
        per_day.append({"x": builder.build()})
    whole = NumericSketchBuilder("x", edges, 3000)
    whole.add(np.concatenate(days), np.concatenate(keys))
    merged, expected = merge_days(per_day, 3000)["x"], whole.build()
    assert merged.counts.tolist() == expected.counts.tolist()
    assert np.allclose(merged.sums, expected.sums)  # type: ignore[arg-type]
    assert np.isclose(merged.mean, expected.mean) and np.isclose(merged.m2, expected.m2)
    assert sorted(merged.sample_keys.tolist()) == sorted(expected.sample_keys.tolist())


def test_a_day_missing_a_column_is_skipped_for_it() -> None:
    builder = NumericSketchBuilder("x", np.array([0.0]), 10)
    builder.add(np.array([1.0, -1.0]), np.array([1, 2], dtype=np.uint64))
    merged = merge_days([{"x": builder.build()}, {}], 10)
    assert merged["x"].n == 2


def test_only_days_binned_like_the_reference_join_its_windows() -> None:
    """After a refit moves the bins, the days profiled before it would not merge with the new
    ones ("cannot merge sketches ... with different bins"): they are told apart instead."""

    def sketch(edges: list[float]) -> dict[str, ColumnSketch]:
        builder = NumericSketchBuilder("x", np.array(edges), 10)
        builder.add(np.array([0.5, 1.5]), np.array([1, 2], dtype=np.uint64))
        return {"x": builder.build()}

    reference, before, after = sketch([1.0, 2.0]), sketch([0.5, 2.5]), sketch([1.0, 2.0])
    assert binned_like(after, reference)
    assert not binned_like(before, reference)
    assert binned_like({}, reference)  # a day without the column has nothing to disagree on
    assert merge_days([d for d in (before, after) if binned_like(d, reference)], 10)["x"].n == 2
