"""The whylogs adapter: the only module that imports whylogs.

whylogs gives the stored, mergeable daily profile (summary statistics a person or another tool
can open). Its drift algorithms are not used: see :mod:`monitoring_pipelines.core.drift`.
Keeping this module small makes a move to Apache DataSketches a one-module change.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from whylogs.core.view.dataset_profile_view import DatasetProfileView

SUMMARY_KEYS = {
    "counts/n": "count",
    "counts/null": "null",
    "counts/nan": "nan",
    "distribution/mean": "mean",
    "distribution/stddev": "stddev",
    "distribution/min": "min",
    "distribution/q_05": "p05",
    "distribution/median": "median",
    "distribution/q_95": "p95",
    "distribution/max": "max",
    "cardinality/est": "cardinality",
}


def _whylogs() -> Any:
    # No usage data leaves the machine: whylogs reads this variable when first imported.
    os.environ["WHYLOGS_NO_ANALYTICS"] = "True"
    import whylogs
    from whylogs.api import usage_stats

    usage_stats._TELEMETRY_DISABLED = True
    return whylogs


class ProfileBuilder:
    """Profiles a frame chunk by chunk and merges the chunks into one profile."""

    def __init__(self) -> None:
        self._view: DatasetProfileView | None = None
        self.rows = 0

    def add(self, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        # Text as pandas' string dtype takes whylogs' vectorised path instead of six Python
        # type tests per value.
        text = [c for c in frame.columns if frame[c].dtype == object]
        if text:
            frame = frame.astype({c: "string" for c in text})
        view = _whylogs().log(pandas=frame).view()
        self._view = view if self._view is None else self._view.merge(view)
        self.rows += len(frame)

    def build(self) -> DatasetProfileView | None:
        return self._view


def serialize(view: DatasetProfileView | None) -> bytes:
    """Profile bytes; an empty profile for a day without rows."""
    if view is None:
        view = _whylogs().log(pandas=pd.DataFrame()).view()
    data: bytes = view.serialize()
    return data


def deserialize(data: bytes) -> DatasetProfileView:
    _whylogs()
    from whylogs.core.view.dataset_profile_view import DatasetProfileView

    return DatasetProfileView.deserialize(data)


def merge(views: list[DatasetProfileView]) -> DatasetProfileView | None:
    """One profile of several (days merge into windows the same way)."""
    merged: DatasetProfileView | None = None
    for view in views:
        merged = view if merged is None else merged.merge(view)
    return merged


def summarize(view: DatasetProfileView | None) -> dict[str, dict[str, float]]:
    """Per column, the summary numbers a person reads first (JSON-safe)."""
    if view is None:
        return {}
    table = view.to_pandas()
    out: dict[str, dict[str, float]] = {}
    for column, row in table.iterrows():
        stats: dict[str, float] = {}
        for key, name in SUMMARY_KEYS.items():
            value = row.get(key)
            if isinstance(value, int | float) and math.isfinite(value):
                stats[name] = float(value)
        out[str(column)] = stats
    return out
