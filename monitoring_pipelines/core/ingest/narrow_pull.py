"""A few columns of every row of a day, pulled and cleaned exactly as the live slice's pull
path cleans them (same rows kept, same order, same row keys): for the assets that still need
every row of a pushed-down day, whose slice holds only its sample.

Only the named columns (with the timestamp and the request id, which decide which rows are
kept) leave the warehouse.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd

from monitoring_pipelines.core.config import MonitorConfig, SourceConfig
from monitoring_pipelines.core.ingest.cleaning import (
    GROUP_KEY,
    ROW_KEY,
    TIMESTAMP,
    SliceSpec,
    Window,
    write_day_slice,
)

ReadDay = Callable[[SourceConfig, Sequence[str], date, Window | None], Iterable[pd.DataFrame]]


def pull_columns(
    read_day: ReadDay,
    monitor: MonitorConfig,
    day: date,
    columns: Sequence[str],
    window: Window | None = None,
) -> pd.DataFrame:
    """The day's rows of ``columns`` (slice columns of the monitor), as its pulled slice holds
    them, with the slice's ``__ts``, ``__key`` and ``__group`` columns.

    Raises:
        SourceError: When the warehouse fails.
    """
    spec = SliceSpec.for_monitor(monitor)
    wanted = set(columns)
    unknown = wanted - set(spec.numeric) - set(spec.text) - set(spec.columns)
    if unknown:
        raise ValueError(f"not slice columns of the monitor: {', '.join(sorted(unknown))}")
    narrow = replace(
        spec,
        numeric=tuple(c for c in spec.numeric if c in wanted),
        text=tuple(c for c in spec.text if c in wanted),
    )
    frames: list[pd.DataFrame] = []
    chunks = read_day(monitor.source, narrow.columns, day, window)
    write_day_slice(chunks, narrow, day, frames.append, window)
    if frames:
        return pd.concat(frames, ignore_index=True)
    empty: dict[str, pd.Series] = {
        TIMESTAMP: pd.Series([], dtype="datetime64[ns, UTC]"),
        ROW_KEY: pd.Series([], dtype=np.uint64),
        GROUP_KEY: pd.Series([], dtype=np.uint64),
    }
    for column in narrow.numeric:
        empty[column] = pd.Series([], dtype=np.float64)
    for column in narrow.text:
        empty[column] = pd.Series([], dtype=object)
    return pd.DataFrame(empty)
