"""The whylogs adapter: the only module that imports whylogs.

whylogs gives the stored, mergeable daily profile (summary statistics a person or another tool
can open). Its drift algorithms are not used: see :mod:`monitoring_pipelines.core.drift.engine`.
Keeping this module small makes a move to Apache DataSketches a one-module change.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from monitoring_pipelines.core.ingest.cleaning import all_strings

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


FREQUENT_ITEM_CHARS = 128
"""Characters of a string whylogs' frequent-items metric keeps (its ``max_frequent_item_size``)."""


class ProfileBuilder:
    """Profiles frames chunk by chunk into one whylogs profile, through a typed fast path.

    whylogs' own ``log`` splits every column by type with per-value Python calls (counting
    infinities one float at a time costs about 40 ms per 25,000 floats). The slice's columns
    are already typed, so each chunk's columns are split here with vectorised numpy (floats,
    integers, text) and handed to whylogs' own metrics, which then update their sketches as
    ``log`` would: counts, types, min/max, cardinality and frequent items come out equal to
    ``whylogs.log``'s, and the quantiles differ only by the KLL sketch's own randomness (two
    ``log`` calls on the same frame differ as much). Columns of any other type go through
    whylogs' own split.
    """

    def __init__(self) -> None:
        self._profile: Any = None
        self.rows = 0

    def add(self, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        if self._profile is None:
            schema = _schema()
            from whylogs.core import DatasetProfile

            self._profile = DatasetProfile(schema=schema)
        profile = self._profile
        # whylogs 1.6.4 is the last release: its column table and per-column metric update
        # are the entry points ``log`` itself uses after splitting.
        if profile._schema.resolve(pandas=frame):
            new = tuple(c for c in frame.columns if c not in profile._columns)
            profile._initialize_new_columns(new)
        # Values near the float limit give infinite moments: whylogs' answer, without warnings.
        with np.errstate(over="ignore", invalid="ignore"):
            for column in frame.columns:
                profile._columns[column]._process_extracted_column(_split(frame[column]))
        profile._track_count += 1
        self.rows += len(frame)

    def build(self) -> DatasetProfileView | None:
        if self._profile is None:
            return None
        view: DatasetProfileView = self._profile.view()
        return view


def _schema() -> Any:
    """whylogs' standard schema without its unicode-range metric specs: the default metric
    configuration switches that metric off, but resolving the spec builds and deep-copies one
    per text column (about 30 ms each) only to drop it."""
    _whylogs()
    from whylogs.core.metrics.unicode_range import UnicodeRangeMetric
    from whylogs.core.resolvers import STANDARD_RESOLVER, ResolverSpec
    from whylogs.core.schema import DeclarativeSchema

    specs = [
        ResolverSpec(
            column_name=spec.column_name,
            column_type=spec.column_type,
            metrics=[m for m in spec.metrics if m.metric is not UnicodeRangeMetric],
            exclude=spec.exclude,
        )
        for spec in STANDARD_RESOLVER
    ]
    return DeclarativeSchema(specs)


def _split(values: pd.Series) -> Any:
    """One column as whylogs' ``PreprocessedColumn``, split without per-value calls when its
    type allows (the same counts whylogs' own split gives)."""
    from whylogs.core.preprocessing import NumpyView, PreprocessedColumn

    dtype = values.dtype
    column = PreprocessedColumn()
    column.original = values
    column.len = len(values)
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        floats = values.to_numpy()
        nan = np.isnan(floats)
        missing = int(nan.sum())
        if missing:
            floats = floats[~nan]
        column.null_count = column.nan_count = missing
        column.inf_count = int(np.isinf(floats).sum())
        column.numpy = NumpyView(floats=floats)
        return column
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        column.numpy = NumpyView(ints=values.to_numpy().astype(int))
        return column
    if isinstance(dtype, pd.CategoricalDtype):
        categories = dtype.categories
        if all_strings(values) and all(len(c) <= FREQUENT_ITEM_CHARS for c in categories):
            # Text read from the slice's dictionary: each row's string is its category, so
            # the strings are taken by code without one Python call per row. whylogs' own
            # split would keep them as pandas strings and cut each to its frequent-items
            # length one by one; none is longer here, so both give the same counts.
            codes = values.cat.codes.to_numpy()
            present = codes >= 0
            column.null_count = int(codes.size - np.count_nonzero(present))
            if column.null_count < len(values):
                table = np.asarray(categories, dtype=object)
                column.numpy = NumpyView(strings=table[codes[present]])
            return column
        values = values.astype(object)
    if all_strings(values):
        null = values.isna().to_numpy()
        missing = int(null.sum())
        column.null_count = missing
        if missing < len(values):
            text = values.to_numpy(dtype=object)
            column.pandas.strings = pd.Series(text[~null] if missing else text, dtype=object)
        return column
    return PreprocessedColumn.apply(values)


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
    """One profile of several (days merge into windows the same way).

    whylogs merges two columns' variances with Python floats, so a mean beyond about 1e154 in
    magnitude (a logged -1e308) raises ``OverflowError`` instead of giving an infinite
    variance; such means are taken as infinite first (the merged mean and standard deviation
    then read inf or nan, as whylogs gives for infinite values; the product's own sketches
    keep those columns' moments exactly, see ``core.profile.sketch.value_scale``)."""
    merged: DatasetProfileView | None = None
    with np.errstate(over="ignore", invalid="ignore"):
        for view in views:
            _unbounded_means_as_infinite(view)
            merged = view if merged is None else merged.merge(view)
    return merged


MAX_MERGEABLE_MEAN = 2.0**400
"""Largest mean magnitude whose merge whylogs computes without overflow: the squared
difference of two such means times the product of two row counts below 2**40 stays finite."""


def _unbounded_means_as_infinite(view: DatasetProfileView) -> None:
    for column in view.get_columns().values():
        distribution = column.get_metric("distribution")
        if distribution is None:
            continue
        mean = distribution.mean.value
        if math.isfinite(mean) and abs(mean) > MAX_MERGEABLE_MEAN:
            distribution.mean.set(math.copysign(math.inf, mean))


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
