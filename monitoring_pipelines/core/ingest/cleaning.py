"""Turning raw warehouse rows into a typed daily slice, counting every bad value on the way.

Nothing is dropped silently: a row is dropped only for an unparseable timestamp, a timestamp
outside the day, or a repeated request id, and each is counted with examples. A bad value in
one column becomes a null in that column (counted), and the row's other columns still count.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from monitoring_pipelines.core.config import MonitorConfig

MAX_EXAMPLES = 5
TIMESTAMP = "__ts"
ROW_KEY = "__key"
GROUP_KEY = "__group"


@dataclass(frozen=True)
class SliceSpec:
    """Which columns a monitor reads, and as what."""

    timestamp_column: str
    request_id_column: str | None
    numeric: tuple[str, ...]
    text: tuple[str, ...]
    session_column: str | None = None
    keep_request_id: bool = False

    @classmethod
    def for_monitor(cls, monitor: MonitorConfig) -> SliceSpec:
        ids = {monitor.source.request_id_column, monitor.source.session_column}
        llm = monitor.llm
        # The request id itself (not only its hash) is kept where a person will look a row
        # up: the judged answers of the review queue and the fine-tuning set's lineage.
        judged = llm is not None and bool(llm.answer_column and llm.context_column)
        return cls(
            timestamp_column=monitor.source.timestamp_column,
            request_id_column=monitor.source.request_id_column,
            numeric=tuple(monitor.numeric_columns()),
            text=tuple(c for c in monitor.text_columns() if c not in ids),
            session_column=monitor.source.session_column,
            keep_request_id=judged and monitor.source.request_id_column is not None,
        )

    @property
    def columns(self) -> list[str]:
        """Columns to select from the warehouse, in a stable order."""
        out = [self.timestamp_column]
        out += [c for c in (self.request_id_column, self.session_column) if c]
        return out + [c for c in (*self.numeric, *self.text) if c not in out]


@dataclass
class SliceQuality:
    """What was read for one day, and everything that was wrong with it."""

    rows_read: int = 0
    rows_kept: int = 0
    rows_with_bad_values: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    values: dict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    missing_request_id: int = 0
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    @property
    def malformed_rows(self) -> int:
        """Rows with an unparseable timestamp or at least one unparseable value."""
        return self.dropped.get("unparseable_timestamp", 0) + self.rows_with_bad_values

    @property
    def duplicate_rows(self) -> int:
        return self.dropped.get("duplicate_request_id", 0)

    def share(self, count: int) -> float:
        return count / self.rows_read if self.rows_read else 0.0

    def note_example(self, reason: str, values: pd.Series) -> None:
        room = MAX_EXAMPLES - len(self.examples[reason])
        if room > 0:
            self.examples[reason].extend(repr(v)[:80] for v in values.head(room).tolist())

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "malformed_rows": self.malformed_rows,
            "rows_with_bad_values": self.rows_with_bad_values,
            "dropped": dict(self.dropped),
            "values": {c: dict(v) for c, v in self.values.items()},
            "missing_request_id": self.missing_request_id,
            "examples": dict(self.examples),
        }


class SeenKeys:
    """Request-id hashes seen so far in a day, as sorted runs merged log-structured."""

    def __init__(self) -> None:
        self._runs: list[npt.NDArray[np.uint64]] = []

    def contains(self, keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
        found = np.zeros(keys.size, dtype=bool)
        for run in self._runs:
            pos = np.minimum(np.searchsorted(run, keys), run.size - 1)
            found |= run[pos] == keys
        return found

    def add(self, keys: npt.NDArray[np.uint64]) -> None:
        if keys.size == 0:
            return
        run = np.unique(keys)
        while self._runs and self._runs[-1].size <= run.size:
            run = np.union1d(self._runs.pop(), run)
        self._runs.append(run)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def hash_keys(values: pd.Series, salt: str) -> npt.NDArray[np.uint64]:
    """Stable 64-bit hashes of row keys (request ids), used for dedup and sampling."""
    as_text = (salt + values.astype(str)).to_numpy(dtype=object)
    hashed: npt.NDArray[np.uint64] = pd.util.hash_array(as_text, categorize=False)
    return hashed


def hash_positions(first: int, count: int, salt: str) -> npt.NDArray[np.uint64]:
    """Stable 64-bit hashes of row positions ``first .. first + count - 1``."""
    offset = int.from_bytes(hashlib.blake2b(salt.encode(), digest_size=7).digest(), "little")
    positions = np.arange(first, first + count, dtype=np.uint64) + np.uint64(offset)
    hashed: npt.NDArray[np.uint64] = pd.util.hash_array(positions)
    return hashed


def clean_chunk(
    raw: pd.DataFrame,
    spec: SliceSpec,
    day: date,
    quality: SliceQuality,
    seen: SeenKeys,
    first_row: int,
) -> pd.DataFrame:
    """Typed rows of one chunk: UTC timestamps, float numerics, text categoricals.

    The returned frame has the configured columns plus ``__ts`` (UTC timestamp), ``__key``
    (a 64-bit row key: the request id's hash, or the row's position in the day) and
    ``__group`` (the session's hash, or the row key: rows of one group are not independent).
    """
    quality.rows_read += len(raw)
    frame = raw.reset_index(drop=True)
    keep = np.ones(len(frame), dtype=bool)

    stamps = _parse_timestamps(frame[spec.timestamp_column])
    bad_ts = stamps.isna().to_numpy()
    _drop(quality, "unparseable_timestamp", frame[spec.timestamp_column], bad_ts, keep)
    start, end = day_bounds(day)
    outside = (~bad_ts) & ((stamps < start) | (stamps >= end)).to_numpy()
    _drop(quality, "outside_day", frame[spec.timestamp_column], outside, keep)

    if spec.request_id_column:
        ids = frame[spec.request_id_column]
        missing_id = ids.isna().to_numpy()
        quality.missing_request_id += int((missing_id & keep).sum())
        positions = pd.Series(np.arange(first_row, first_row + len(frame))).astype(str)
        keys = hash_keys(ids.where(~missing_id, "#row" + positions), "id:")
        candidate = keep & ~missing_id
        repeated = np.zeros(len(frame), dtype=bool)
        repeated[candidate] = seen.contains(keys[candidate])
        within = pd.Series(keys).duplicated().to_numpy() & candidate
        duplicate = repeated | within
        _drop(quality, "duplicate_request_id", ids, duplicate & keep, keep)
        seen.add(keys[keep & ~missing_id])
    else:
        keys = hash_positions(first_row, len(frame), f"row:{day}")

    groups = keys
    if spec.session_column:
        sessions = frame[spec.session_column]
        groups = np.where(sessions.isna().to_numpy(), keys, hash_keys(sessions, "session:"))
    bad_row = np.zeros(len(frame), dtype=bool)
    out: dict[str, Any] = {TIMESTAMP: stamps, ROW_KEY: keys, GROUP_KEY: groups}
    if spec.keep_request_id and spec.request_id_column:
        out[spec.request_id_column] = frame[spec.request_id_column].astype("string").to_numpy()
    for column in spec.numeric:
        values, bad = _clean_numeric(frame[column], column, quality, keep)
        out[column] = values
        bad_row |= bad
    for column in spec.text:
        out[column] = _clean_text(frame[column], column, quality, keep)
    quality.rows_with_bad_values += int((bad_row & keep).sum())
    cleaned = pd.DataFrame(out)
    if not keep.all():  # most chunks keep every row: no copy for them
        cleaned = cleaned[keep].reset_index(drop=True)
    quality.rows_kept += len(cleaned)
    return cleaned


def _parse_timestamps(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        parsed = values.dt.tz_convert("UTC")  # to_datetime would scan the values first
    elif pd.api.types.is_datetime64_any_dtype(values):
        parsed = values.dt.tz_localize("UTC")
    else:
        parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    return parsed.astype("datetime64[us, UTC]")


def _drop(
    quality: SliceQuality,
    reason: str,
    values: pd.Series,
    mask: npt.NDArray[np.bool_],
    keep: npt.NDArray[np.bool_],
) -> None:
    hit = mask & keep
    count = int(hit.sum())
    if count:
        quality.dropped[reason] += count
        quality.note_example(reason, values[hit])
        keep &= ~hit


def _clean_numeric(
    raw: pd.Series, column: str, quality: SliceQuality, keep: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    null = raw.isna().to_numpy()
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        values = raw.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    non_numeric = np.isnan(values) & ~null
    infinite = np.isinf(values)
    counts = quality.values[column]
    for name, mask in (("null", null), ("non_numeric", non_numeric), ("infinite", infinite)):
        hit = mask & keep
        if hit.any():
            counts[name] += int(hit.sum())
            if name != "null":
                quality.note_example(f"{column}: {name}", raw[hit])
    values = np.where(infinite, np.nan, values)
    return values, non_numeric | infinite


def _clean_text(
    raw: pd.Series, column: str, quality: SliceQuality, keep: npt.NDArray[np.bool_]
) -> npt.NDArray[np.object_]:
    null = raw.isna().to_numpy()
    if (null & keep).any():
        quality.values[column]["null"] += int((null & keep).sum())
    return as_text(raw, null)


def all_strings(values: pd.Series) -> bool:
    """Whether every non-null value is a string (pandas' string dtype, object holding only
    strings and nulls, or a categorical whose categories are all strings)."""
    if isinstance(values.dtype, pd.StringDtype):
        return True
    if isinstance(values.dtype, pd.CategoricalDtype):
        return all_strings(pd.Series(values.dtype.categories, dtype=object))
    return values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in (
        "string",
        "empty",
    )


def as_text(raw: pd.Series, null: npt.NDArray[np.bool_]) -> npt.NDArray[np.object_]:
    """Values as text (None where ``null``); integral numbers such as 200.0 read as "200"."""
    if isinstance(raw.dtype, pd.CategoricalDtype):
        raw = raw.astype(object)
    kind = pd.api.types.infer_dtype(raw, skipna=True)
    values: npt.NDArray[np.object_]
    if kind in ("string", "empty"):
        values = raw.to_numpy(dtype=object, copy=True)
    elif kind == "integer" and not null.any():
        values = raw.astype(str).to_numpy(dtype=object)
    elif kind in ("floating", "integer", "mixed-integer-float"):
        numbers = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        integral = np.isfinite(numbers) & (np.round(numbers) == numbers)
        whole = np.where(integral, numbers, 0).astype(np.int64).astype(str).astype(object)
        values = np.where(integral, whole, numbers.astype(str).astype(object))
    else:
        values = np.array([_as_text(v) for v in raw.to_numpy(dtype=object)], dtype=object)
    values[null] = None
    return values


def _as_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def write_day_slice(
    chunks: Iterable[pd.DataFrame],
    spec: SliceSpec,
    day: date,
    sink: Callable[[pd.DataFrame], None],
) -> SliceQuality:
    """Clean every chunk of a day and hand it to ``sink``; returns what was found."""
    quality = SliceQuality()
    seen = SeenKeys()
    first_row = 0
    for raw in chunks:
        cleaned = clean_chunk(raw, spec, day, quality, seen, first_row)
        first_row += len(raw)
        if len(cleaned):
            sink(cleaned)
    return quality
