"""The batches a day is validated in: sized to bound memory, read from the slice store, and
sampled by key hash when the day is larger than the sample."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from functools import partial

import pandas as pd
from pandas.api.types import union_categoricals

from monitoring_pipelines.core.ingest.cleaning import ROW_KEY, TIMESTAMP
from monitoring_pipelines.core.ingest.slice_store import SliceStore
from monitoring_pipelines.core.profile.fitting import sample_mask
from monitoring_pipelines.core.quality.suite import QualitySuite

# Values (rows x columns) validated at once: a day is read and validated batch by batch and the
# unexpected counts are added up, so memory is bounded whatever the day's volume. Each batch is
# one GX validation with a fixed cost (about 40 ms), so batches are as large as this bound
# allows (200,000 rows of 20 columns).
BATCH_VALUES = 4_000_000
MIN_BATCH_ROWS = 10_000
MAX_BATCH_ROWS = 500_000


def batch_rows(suite: QualitySuite) -> int:
    """Rows per validated batch: :data:`BATCH_VALUES` spread over the suite's columns."""
    rows = BATCH_VALUES // max(1, len(suite.columns))
    return max(MIN_BATCH_ROWS, min(MAX_BATCH_ROWS, rows))


def day_batches(
    store: SliceStore, monitor: str, day: date, suite: QualitySuite, sample_rows: int
) -> tuple[Iterator[pd.DataFrame], int]:
    """The batches :func:`validate_day` reads for a day of the slice store, and the day's
    rows: a day of more than ``sample_rows`` rows is sampled by key hash as it is read, and
    the sampled rows are gathered into full batches again (each batch is one GX validation,
    whose fixed cost is most of a small batch's)."""
    day_rows = store.rows(monitor, day)
    columns = [TIMESTAMP, ROW_KEY, *suite.columns]
    if suite.status is not None and suite.status.column not in columns:
        columns.append(suite.status.column)  # which requests failed (answered-only rules)
    rows = batch_rows(suite)
    # Text as categoricals: nulls, set membership and GX's batch fingerprint then work on
    # integer codes (half the validation time of object strings at 100,000 rows).
    read = partial(
        store.batches,
        monitor,
        day,
        columns,
        batch_rows=rows,
        categorical=[c for c, kind in suite.columns.items() if kind == "categorical"],
    )
    if day_rows <= sample_rows:
        return read(), day_rows
    keep = partial(sample_mask, total=day_rows, wanted=sample_rows)
    return _gathered(read(keep=keep), rows), day_rows


def _gathered(frames: Iterable[pd.DataFrame], rows: int) -> Iterator[pd.DataFrame]:
    """The frames concatenated into batches of at least ``rows`` rows (the last may be less)."""
    held: list[pd.DataFrame] = []
    size = 0
    for frame in frames:
        held.append(frame)
        size += len(frame)
        if size >= rows:
            yield _concatenated(held)
            held, size = [], 0
    if held:
        yield _concatenated(held)


def _concatenated(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames one after another; categorical columns stay categorical over the union of
    the frames' categories (``pd.concat`` would make them object columns)."""
    whole = pd.concat(frames, ignore_index=True)
    for column in frames[0].columns:
        if isinstance(frames[0][column].dtype, pd.CategoricalDtype):
            parts = [f[column] for f in frames]
            whole[column] = pd.Series(union_categoricals(parts, ignore_order=True))
    return whole
