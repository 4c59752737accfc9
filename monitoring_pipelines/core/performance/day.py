"""A day's performance: its predictions from the slice joined to its labels, against the
baseline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from monitoring_pipelines.core.checks import CheckOutcome
from monitoring_pipelines.core.ingest import labels as gt
from monitoring_pipelines.core.ingest.cleaning import ROW_KEY
from monitoring_pipelines.core.ingest.slice_store import SliceStore
from monitoring_pipelines.core.performance.check import (
    Baseline,
    Comparison,
    compare,
    performance_check,
)
from monitoring_pipelines.core.performance.metrics import PerformanceStats, compute_performance
from monitoring_pipelines.core.performance.policy import PerformanceSpec
from monitoring_pipelines.core.performance.segments import (
    SegmentPerformance,
    compare_segments,
    segment_check,
    segment_metadata,
    segment_rows,
    segment_stats,
)


@dataclass(frozen=True)
class DayPredictions:
    """The day's slice as the performance asset reads it, one entry per row.

    Attributes:
        keys: Row keys (hashed request ids). predicted: Predictions. score: Scores, when
            configured. segments: Each segment column's values (text, None when missing).
        missing_segments: Configured segment columns the slice does not have.
    """

    keys: npt.NDArray[np.uint64]
    predicted: npt.NDArray[Any]
    score: npt.NDArray[np.float64] | None
    segments: dict[str, npt.NDArray[np.object_]]
    missing_segments: tuple[str, ...] = ()

    def notes(self) -> dict[str, str]:
        """Metadata saying which configured segments the slice lacks."""
        if not self.missing_segments:
            return {}
        missing = ", ".join(self.missing_segments)
        return {
            "segments_missing": f"{missing}: not in the day's slice (sliced before the segment "
            "was configured; rematerialize live_slice)"
        }


def read_predictions(
    store: SliceStore, monitor: str, day: date, spec: PerformanceSpec
) -> DayPredictions:
    """Row keys, predictions, scores (when configured) and segments of the day's slice."""
    present = set(store.column_names(monitor, day))
    segments = [s for s in spec.segments if s in present]
    columns = [ROW_KEY, spec.prediction_column, *segments]
    if spec.score_column:
        columns.append(spec.score_column)
    return predictions_of(store.frame(monitor, day, columns), spec, segments)


def prediction_columns(spec: PerformanceSpec) -> list[str]:
    """The slice columns the day's predictions are read from."""
    columns = [spec.prediction_column, *spec.segments]
    return columns + ([spec.score_column] if spec.score_column else [])


def predictions_of(
    frame: pd.DataFrame, spec: PerformanceSpec, segments: Sequence[str] | None = None
) -> DayPredictions:
    """The day's predictions from slice rows holding ``ROW_KEY``, the prediction, the score
    (when configured) and the ``segments`` columns (by default all of the spec's)."""
    segments = list(spec.segments if segments is None else segments)
    column = frame[spec.prediction_column]
    return DayPredictions(
        keys=frame[ROW_KEY].to_numpy(dtype=np.uint64),
        predicted=(
            column.to_numpy(dtype=np.float64, na_value=np.nan)
            if spec.kind == "score"
            else gt.label_text(column.tolist())
        ),
        score=(
            frame[spec.score_column].to_numpy(dtype=np.float64, na_value=np.nan)
            if spec.score_column
            else None
        ),
        segments={s: frame[s].to_numpy(dtype=object) for s in segments},
        missing_segments=tuple(s for s in spec.segments if s not in segments),
    )


@dataclass(frozen=True)
class DayPerformance:
    """The day's performance against its baseline, overall and per segment value.

    Attributes:
        stats: The day's statistics. counts: Labels read, and those that could not be used.
        comparison: The checked metric against the baseline. segments: The same per segment
            value. baseline: What the day was compared with. notes: Text for people.
    """

    stats: PerformanceStats
    counts: dict[str, int]
    comparison: Comparison
    segments: list[SegmentPerformance]
    baseline: Baseline
    notes: dict[str, str]

    def rows(self) -> dict[tuple[str, str], float | None]:
        """The result-store rows of the day: statistics and comparisons, with the segments'."""
        return self.stats.to_rows() | self.comparison.to_rows() | segment_rows(self.segments)

    def metadata(self) -> dict[str, Any]:
        """What the UI plots per partition: the metrics, coverage, reference, delta, per class
        and per segment value."""
        values: dict[str, Any] = self.stats.metrics() | self.counts
        values |= {
            "rows": self.stats.rows,
            "labelled": self.stats.labelled,
            "metric": self.comparison.metric,
            "reference": self.comparison.reference,
            "delta": self.comparison.delta,
            "reference_source": self.baseline.source,
        }
        for cls, per_class in self.stats.per_class().items():
            values[f"precision/{cls}"] = per_class["precision"]
            values[f"recall/{cls}"] = per_class["recall"]
        return values | segment_metadata(self.segments) | self.notes

    def check(self) -> CheckOutcome:
        """The ``performance`` check of the day and its segments."""
        whole = performance_check(self.comparison)
        return segment_check(whole, self.comparison, self.segments)


def evaluate_day(
    spec: PerformanceSpec,
    predictions: DayPredictions,
    day_labels: gt.DayLabels,
    baseline: Baseline,
) -> DayPerformance:
    """The day's predictions joined to their labels and compared with ``baseline``."""
    rows, positions = gt.match_labels(predictions.keys, day_labels.keys)
    label = day_labels.values[positions]
    predicted, score = predictions.predicted, predictions.score
    stats = compute_performance(
        spec.kind,
        len(predictions.keys),
        predicted[rows],
        label,
        score[rows] if score is not None else None,
    )
    by_segment = segment_stats(spec.kind, predictions.segments, rows, predicted, label, score)
    counts = {
        "labels_read": day_labels.rows_read,
        "labels_unmatched": len(day_labels.keys) - len(rows),
        "labels_null": day_labels.null_labels,
        "labels_not_numeric": day_labels.bad_labels,
        "labels_replaced": day_labels.replaced,
        "labelled_without_prediction": len(rows) - stats.labelled,
    }
    comparison = compare(stats, baseline, spec.policy)
    segments = compare_segments(by_segment, baseline, spec.policy, comparison)
    return DayPerformance(stats, counts, comparison, segments, baseline, predictions.notes())
