"""Model performance from delayed labels, re-materialized as late labels land."""

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import dagster as dg
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow.parquet as pq

from assets.common import check_result, check_specs, day_of, failure, numeric_metadata
from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.dimensions import dimensions
from monitoring_pipelines.core.errors import SourceError, StoreError
from monitoring_pipelines.core.ingest import labels as gt
from monitoring_pipelines.core.ingest.cleaning import ROW_KEY
from monitoring_pipelines.core.ingest.slice_store import SliceStore
from monitoring_pipelines.core.performance.check import (
    Baseline,
    Comparison,
    compare,
    performance_check,
    pooled_baseline,
)
from monitoring_pipelines.core.performance.metrics import PerformanceStats, compute_performance
from monitoring_pipelines.core.performance.policy import PerformanceSpec
from monitoring_pipelines.core.performance.segments import (
    compare_segments,
    segment_check,
    segment_metadata,
    segment_rows,
    segment_stats,
)
from monitoring_pipelines.core.store.results import MetricRecord, ResultRepository
from resources import ResultStoreResource, SliceStoreResource, WarehouseResource

REFERENCE_PARTITION = "reference"  # the reference table's statistics, cached per reference


def make_performance(
    name: str,
    monitor: MonitorConfig,
    partitions_def: dg.PartitionsDefinition,
    spec: PerformanceSpec | None = None,
) -> dg.AssetsDefinition:
    """The ``<monitor>/performance`` asset and its ``performance`` check.

    Args:
        name: The monitor's name.
        monitor: Its configuration; needs ``labels``, ``prediction`` and
            ``source.request_id_column``.
        partitions_def: Its daily partitions.
        spec: What to compute; by default read from ``monitor``.
    """
    if monitor.labels is None or monitor.prediction is None:
        raise ValueError(f"monitor '{name}': performance needs 'labels' and 'prediction'")
    if monitor.source.request_id_column is None:
        raise ValueError(f"monitor '{name}': labels need 'source.request_id_column' to join on")
    spec = spec or PerformanceSpec.for_monitor(monitor)
    labels = monitor.labels
    key = dg.AssetKey([name, Asset.PERFORMANCE])

    @dg.asset(
        key=key,
        group_name=name,
        partitions_def=partitions_def,
        deps=[dg.AssetKey([name, Asset.LIVE_SLICE])],
        check_specs=check_specs(["performance"], key, partitions_def),
        kinds={"sql"},
        description=f"Performance of the day's predictions against the labels in {labels.table} "
        "so far (accuracy/F1 or MAE/RMSE, coverage, change from the reference), overall and "
        "per segment value.",
    )
    def performance(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        slices: SliceStoreResource,
        result_store: ResultStoreResource,
    ) -> dg.MaterializeResult:
        day = day_of(context)
        store = result_store.results()
        try:
            predictions = read_predictions(slices.get_store(), name, day, spec)
            day_labels = gt.read_day_labels(
                warehouse.engine,
                monitor.source,
                labels,
                day,
                numeric=spec.kind == "score",
                chunk_rows=monitor.source.chunk_rows,
            )
            baseline = resolve_baseline(name, monitor, spec, day, warehouse, store)
        except (StoreError, SourceError, FileNotFoundError) as exc:
            raise failure(f"monitor '{name}', {day}: {exc}", monitor=name) from exc
        stats, by_segment, counts = day_performance(spec, predictions, day_labels)
        comparison = compare(stats, baseline, spec.policy)
        segments = compare_segments(by_segment, baseline, spec.policy, comparison)
        rows = stats.to_rows() | comparison.to_rows() | segment_rows(segments)
        store.save_metrics(name, Asset.PERFORMANCE, context.partition_key, rows)
        metadata = metadata_values(stats, counts, comparison, baseline)
        metadata |= segment_metadata(segments) | predictions.notes()
        outcome = segment_check(performance_check(comparison), comparison, segments)
        return dg.MaterializeResult(
            metadata=numeric_metadata(metadata),
            check_results=[check_result(outcome, key)],
        )

    return performance


def metadata_values(
    stats: PerformanceStats, counts: dict[str, int], comparison: Comparison, baseline: Baseline
) -> dict[str, Any]:
    """What the UI plots per partition: the metrics, coverage, reference, delta, per class."""
    values: dict[str, Any] = stats.metrics() | counts
    values |= {
        "rows": stats.rows,
        "labelled": stats.labelled,
        "metric": comparison.metric,
        "reference": comparison.reference,
        "delta": comparison.delta,
        "reference_source": baseline.source,
    }
    for cls, per_class in stats.per_class().items():
        values[f"precision/{cls}"] = per_class["precision"]
        values[f"recall/{cls}"] = per_class["recall"]
    return values


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
    store: SliceStore, name: str, day: date, spec: PerformanceSpec
) -> DayPredictions:
    """Row keys, predictions, scores (when configured) and segments of the day's slice."""
    present = _slice_columns(store, name, day)
    segments = [s for s in spec.segments if present is None or s in present]
    columns = [ROW_KEY, spec.prediction_column, *segments]
    if spec.score_column:
        columns.append(spec.score_column)
    keys, predicted, scores = [], [], []
    values: dict[str, list[npt.NDArray[np.object_]]] = {s: [] for s in segments}
    for batch in store.batches(name, day, list(dict.fromkeys(columns))):
        keys.append(batch[ROW_KEY].to_numpy(dtype=np.uint64))
        column = batch[spec.prediction_column]
        predicted.append(
            column.to_numpy(dtype=np.float64, na_value=np.nan)
            if spec.kind == "score"
            else gt.label_text(column.tolist())
        )
        if spec.score_column:
            scores.append(batch[spec.score_column].to_numpy(dtype=np.float64, na_value=np.nan))
        for segment in segments:
            values[segment].append(batch[segment].to_numpy(dtype=object))
    dtype = np.float64 if spec.kind == "score" else object
    return DayPredictions(
        keys=np.concatenate(keys) if keys else np.zeros(0, dtype=np.uint64),
        predicted=np.concatenate(predicted) if predicted else np.zeros(0, dtype=dtype),
        score=(np.concatenate(scores) if scores else np.zeros(0)) if spec.score_column else None,
        segments={
            s: np.concatenate(v) if v else np.zeros(0, dtype=object) for s, v in values.items()
        },
        missing_segments=tuple(s for s in spec.segments if s not in segments),
    )


def _slice_columns(store: SliceStore, name: str, day: date) -> set[str] | None:
    """The columns of the day's slice; None when it is missing (``batches`` says so)."""
    path = store.path(name, day)
    return set(pq.ParquetFile(path).schema_arrow.names) if path.exists() else None


def day_performance(
    spec: PerformanceSpec, day: DayPredictions, day_labels: gt.DayLabels
) -> tuple[PerformanceStats, dict[tuple[str, str], PerformanceStats], dict[str, int]]:
    """The day's statistics, per segment value, and counts of labels that could not be used."""
    rows, positions = gt.match_labels(day.keys, day_labels.keys)
    label = day_labels.values[positions]
    score = day.score
    stats = compute_performance(
        spec.kind,
        len(day.keys),
        day.predicted[rows],
        label,
        score[rows] if score is not None else None,
    )
    by_segment = segment_stats(spec.kind, day.segments, rows, day.predicted, label, score)
    counts = {
        "labels_read": day_labels.rows_read,
        "labels_unmatched": len(day_labels.keys) - len(rows),
        "labels_null": day_labels.null_labels,
        "labels_not_numeric": day_labels.bad_labels,
        "labels_replaced": day_labels.replaced,
        "labelled_without_prediction": len(rows) - stats.labelled,
    }
    return stats, by_segment, counts


# -- the baseline ------------------------------------------------------------------------------


def resolve_baseline(
    name: str,
    monitor: MonitorConfig,
    spec: PerformanceSpec,
    day: date,
    warehouse: WarehouseResource,
    store: ResultRepository,
) -> Baseline:
    """The reference table's own labels when configured, else the first days pooled."""
    if spec.reference_label_column:
        return reference_table_baseline(name, monitor, spec, warehouse, store)
    first = monitor.start_date
    last = first + timedelta(days=spec.policy.reference_days - 1)
    period = f"first {spec.policy.reference_days} days, {first}..{last}"
    if day <= last:
        return Baseline(None, period, in_period=True)
    days = {}
    for i in range(spec.policy.reference_days):
        partition = (first + timedelta(days=i)).isoformat()
        rows = store.load_metrics(name, Asset.PERFORMANCE, partition)
        if rows:
            days[partition] = PerformanceStats.from_rows(spec.kind, _keyed(rows))
    return pooled_baseline(days, spec.policy, period)


def reference_table_baseline(
    name: str,
    monitor: MonitorConfig,
    spec: PerformanceSpec,
    warehouse: WarehouseResource,
    store: ResultRepository,
) -> Baseline:
    """Statistics of the reference's predictions against its label column.

    They are cached in the result store under the reference profile's content hash, so a
    backfill reads the reference once; without a reference profile they are computed anew.
    """
    assert monitor.reference is not None and spec.reference_label_column is not None
    reference = monitor.reference
    where = reference.table or reference.path or "the reference query"
    source = f"{where}, label column {spec.reference_label_column}"
    content_hash = store.reference_hash(name)
    marker = (
        "source",
        dimensions(
            hash=content_hash or "",
            label=spec.reference_label_column,
            prediction=spec.prediction_column,
            score=spec.score_column or "",
        ),
    )
    if content_hash:
        cached = _keyed(store.load_metrics(name, Asset.PERFORMANCE, REFERENCE_PARTITION))
        if marker in cached:
            return Baseline(PerformanceStats.from_rows(spec.kind, cached), source)
    columns = [spec.prediction_column, spec.reference_label_column]
    if spec.score_column:
        columns.append(spec.score_column)
    chunks = warehouse.read_reference(reference, list(dict.fromkeys(columns)))
    stats = reference_stats(chunks, spec)
    if content_hash:
        # A concurrent run may have cached the same statistics first.
        with contextlib.suppress(StoreError):
            store.save_metrics(
                name, Asset.PERFORMANCE, REFERENCE_PARTITION, stats.to_rows() | {marker: 1.0}
            )
    return Baseline(stats, source)


def reference_stats(chunks: Iterable[pd.DataFrame], spec: PerformanceSpec) -> PerformanceStats:
    """Statistics of reference chunks holding the prediction, label and score columns."""
    assert spec.reference_label_column is not None
    # Whole (at most reference.max_rows rows of three columns): the AUC ranks all scores.
    frames = list(chunks)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if frame.empty:
        return PerformanceStats(spec.kind, 0, 0)
    truth = frame[spec.reference_label_column]
    predicted = frame[spec.prediction_column]
    if spec.kind == "score":
        p = pd.to_numeric(predicted, errors="coerce").to_numpy(dtype=np.float64)
        t = pd.to_numeric(truth, errors="coerce").to_numpy(dtype=np.float64)
    else:
        p, t = gt.label_text(predicted.tolist()), gt.label_text(truth.tolist())
    score = None
    if spec.score_column:
        score = pd.to_numeric(frame[spec.score_column], errors="coerce").to_numpy(np.float64)
    return compute_performance(spec.kind, len(frame), p, t, score)


def _keyed(rows: list[MetricRecord]) -> dict[tuple[str, str], float | None]:
    return {(r.name, r.dimensions): r.value for r in rows}
