"""The performance baseline: the reference table's own labels, cached per reference, or the
first days pooled."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.dimensions import dimensions
from monitoring_pipelines.core.errors import StoreError
from monitoring_pipelines.core.ingest import labels as gt
from monitoring_pipelines.core.ingest.warehouse import read_reference
from monitoring_pipelines.core.performance.check import Baseline, pooled_baseline
from monitoring_pipelines.core.performance.metrics import PerformanceStats, compute_performance
from monitoring_pipelines.core.performance.policy import PerformanceSpec
from monitoring_pipelines.core.store.results import MetricRecord, ResultRepository

REFERENCE_PARTITION = "reference"  # the reference table's statistics, cached per reference


def resolve_baseline(
    store: ResultRepository,
    engine: Engine,
    config_dir: Path,
    name: str,
    monitor: MonitorConfig,
    spec: PerformanceSpec,
    day: date,
) -> Baseline:
    """The reference table's own labels when configured, else the first days pooled.

    Args:
        store: The result store: the first days' statistics, the cached reference's.
        engine: The warehouse holding the reference table.
        config_dir: Folder of the monitor file; a relative reference path starts there.
        name: The monitor's name. monitor: Its configuration. spec: What it computes.
        day: The day to compare.
    """
    if spec.reference_label_column:
        return reference_table_baseline(store, engine, config_dir, name, monitor, spec)
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
    store: ResultRepository,
    engine: Engine,
    config_dir: Path,
    name: str,
    monitor: MonitorConfig,
    spec: PerformanceSpec,
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
    chunks = read_reference(engine, reference, list(dict.fromkeys(columns)), config_dir)
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
