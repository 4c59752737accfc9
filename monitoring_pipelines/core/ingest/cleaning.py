"""Turning raw warehouse rows into a typed daily slice, counting every bad value on the way.

Nothing is dropped silently: a row is dropped only for an unparseable timestamp, a timestamp
outside the day, or a repeated request id, and each is counted with examples. A bad value in
one column becomes a null in that column (counted), and the row's other columns still count.
Each row lands on exactly one UTC day: the one its instant (the text's offset applied) falls
on; a row read for a neighbouring day's sake is left to that day, uncounted here.
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
# Set by the warehouse read: the row is in the day's own range (for text timestamps, its text
# starts with the day's date); false for a neighbour's row read because its offset may move it.
OWN_DAY = "__own_day"


@dataclass(frozen=True)
class Window:
    """The UTC days a monitor's partitions cover or will cover, ``[first, end)``.

    ``first`` is the monitor's start date; ``end`` lies past today (rows dated later are in
    the future), so rows of today and tomorrow are not yet anyone's concern.
    """

    first: date
    end: date

    @classmethod
    def until(cls, first: date, today: date) -> Window:
        """From ``first`` to the end of the day after ``today`` (a day of clock skew)."""
        return cls(first, today + timedelta(days=2))


def zero_offsets(sign: str) -> tuple[str, ...]:
    """The endings of a text timestamp whose ``sign`` offset is zero (which moves no row)."""
    return (f"{sign}00:00", f"{sign}0000", f"{sign}00")


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
    """What was read for one day, and everything that was wrong with it.

    ``rows_read`` counts the day's own rows; rows a text timestamp's offset puts on a
    neighbouring day are that day's, and only counted in ``rows_of_other_days``.
    """

    rows_read: int = 0
    rows_kept: int = 0
    rows_with_bad_values: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    values: dict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    missing_request_id: int = 0
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    rows_of_other_days: int = 0

    @property
    def malformed_rows(self) -> int:
        """Rows with an unparseable or misplaced timestamp or at least one unparseable value."""
        return sum(self.dropped.get(r, 0) for r in MALFORMED) + self.rows_with_bad_values

    @property
    def duplicate_rows(self) -> int:
        return self.dropped.get("duplicate_request_id", 0)

    @property
    def outside_window(self) -> tuple[int, int]:
        """The day's rows whose instant lies before / after the monitored window."""
        return self.dropped.get("before_window", 0), self.dropped.get("after_window", 0)

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
            "rows_of_other_days": self.rows_of_other_days,
            "examples": dict(self.examples),
        }


# Dropped rows that count as malformed: a timestamp no day can use. ("outside_day" rows were
# handed over by a caller that selected rows of other days; "before_window"/"after_window"
# rows are reported with the rows no day reads.)
MALFORMED = ("unparseable_timestamp", "misplaced_timestamp")


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
    window: Window | None = None,
) -> pd.DataFrame:
    """Typed rows of one chunk: UTC timestamps, float numerics, text categoricals.

    The returned frame has the configured columns plus ``__ts`` (UTC timestamp), ``__key``
    (a 64-bit row key: the request id's hash, or the row's position in the day) and
    ``__group`` (the session's hash, or the row key: rows of one group are not independent).

    With the warehouse's :data:`OWN_DAY` column, rows are the day's own or a neighbour's:
    a neighbour's row is kept when its instant is on ``day``, an own row whose offset moves
    it onto a neighbour (which reads it too) is left to it, and an own row whose instant no
    day of ``window`` reads is dropped and counted (``before_window``, ``after_window``,
    ``misplaced_timestamp``). Without it, every row is the day's and rows of other days are
    dropped as ``outside_day``.
    """
    frame = raw.reset_index(drop=True)
    stamps = _parse_timestamps(frame[spec.timestamp_column])
    start, end = day_bounds(day)
    bad_ts = stamps.isna().to_numpy()
    on_day = ((stamps >= start) & (stamps < end)).to_numpy() & ~bad_ts
    placed = OWN_DAY in frame
    if placed:
        own = frame[OWN_DAY].to_numpy(dtype=bool)
        ours = _ours(frame[spec.timestamp_column], stamps, own, on_day, day, window)
        if not ours.all():
            quality.rows_of_other_days += int((~ours).sum())
            frame = frame[ours].reset_index(drop=True)
            stamps = stamps[ours].reset_index(drop=True)
            bad_ts, on_day = bad_ts[ours], on_day[ours]
    quality.rows_read += len(frame)
    keep = np.ones(len(frame), dtype=bool)

    raw_ts = frame[spec.timestamp_column]
    _drop(quality, "unparseable_timestamp", raw_ts, bad_ts, keep)
    outside = ~bad_ts & ~on_day
    if placed and outside.any():
        before = outside & (window is not None) & _earlier(stamps, window.first if window else day)
        after = outside & (window is not None) & ~_earlier(stamps, window.end if window else day)
        _drop(quality, "before_window", raw_ts, before, keep)
        _drop(quality, "after_window", raw_ts, after, keep)
        _drop(quality, "misplaced_timestamp", raw_ts, outside, keep)
    else:
        _drop(quality, "outside_day", raw_ts, outside, keep)

    if spec.request_id_column:
        ids = frame[spec.request_id_column]
        missing_id = missing_ids(ids)
        quality.missing_request_id += int((missing_id & keep).sum())
        keys = hash_keys(ids, "id:")
        if missing_id.any():
            # A missing id is no identity: the row's position in the day keys it, under a salt
            # no request id shares.
            positions = hash_positions(first_row, len(frame), f"missing-id:{day}")
            keys[missing_id] = positions[missing_id]
        candidate = keep & ~missing_id
        duplicate = np.zeros(len(frame), dtype=bool)
        candidate_keys = keys[candidate]
        duplicate[candidate] = (
            seen.contains(candidate_keys) | pd.Series(candidate_keys).duplicated().to_numpy()
        )
        _drop(quality, "duplicate_request_id", ids, duplicate, keep)
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


def missing_ids(ids: pd.Series) -> npt.NDArray[np.bool_]:
    """Which request ids are missing: null, or text that is empty or only whitespace."""
    missing: npt.NDArray[np.bool_] = ids.isna().to_numpy()
    if ids.dtype == object or isinstance(ids.dtype, pd.StringDtype | pd.CategoricalDtype):
        blank = ids.astype("string").str.strip().eq("").fillna(False)
        missing = missing | blank.to_numpy(dtype=bool)
    return missing


def _earlier(stamps: pd.Series, day: date) -> npt.NDArray[np.bool_]:
    earlier: npt.NDArray[np.bool_] = (stamps < day_bounds(day)[0]).to_numpy()
    return earlier


def rows_of_day(
    texts: pd.Series, own: npt.NDArray[np.bool_], day: date, window: Window | None = None
) -> npt.NDArray[np.bool_]:
    """Which rows read for ``day`` (with the warehouse's :data:`OWN_DAY` flags ``own``) are
    the day's, as :func:`clean_chunk` decides: own rows not moved onto a neighbour by their
    offset, and neighbours' rows whose instant falls on the day."""
    stamps = _parse_timestamps(texts.reset_index(drop=True))
    start, end = day_bounds(day)
    on_day = ((stamps >= start) & (stamps < end)).to_numpy() & ~stamps.isna().to_numpy()
    return _ours(texts.reset_index(drop=True), stamps, own, on_day, day, window)


def _ours(
    texts: pd.Series,
    stamps: pd.Series,
    own: npt.NDArray[np.bool_],
    on_day: npt.NDArray[np.bool_],
    day: date,
    window: Window | None,
) -> npt.NDArray[np.bool_]:
    parsed = ~stamps.isna().to_numpy()
    moved = _moved(texts, stamps, own & parsed & ~on_day, day, window)
    ours: npt.NDArray[np.bool_] = (own & ~moved) | (~own & on_day)
    return ours


def _moved(
    texts: pd.Series,
    stamps: pd.Series,
    candidates: npt.NDArray[np.bool_],
    day: date,
    window: Window | None,
) -> npt.NDArray[np.bool_]:
    """Which own rows a neighbouring day reads too and owns: a text timestamp whose non-zero
    offset moves it onto the next day (negative offset) or the previous one (positive), as
    :func:`~monitoring_pipelines.core.ingest.warehouse.read_day` selects them."""
    moved = np.zeros(len(texts), dtype=bool)
    for i in np.flatnonzero(candidates):
        value = texts.iat[i]
        target = stamps.iat[i].date()
        if not isinstance(value, str) or (
            window is not None and not window.first <= target < window.end
        ):
            continue
        sign = {day + timedelta(days=1): "-", day - timedelta(days=1): "+"}.get(target)
        moved[i] = sign is not None and has_nonzero_offset(value, sign)
    return moved


def has_nonzero_offset(value: str, sign: str) -> bool:
    """Whether a text timestamp carries a non-zero ``sign`` offset after its date."""
    return sign in value[11:] and not value.endswith(zero_offsets(sign))


def _parse_timestamps(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        parsed = values.dt.tz_convert("UTC")  # to_datetime would scan the values first
    elif pd.api.types.is_datetime64_any_dtype(values):
        parsed = values.dt.tz_localize("UTC")
    else:
        parsed = _parse_texts(values)
    return parsed.astype("datetime64[us, UTC]")


_OFFSET = r"(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"


def _parse_texts(values: pd.Series) -> pd.Series:
    """Text timestamps in UTC: naive ones are UTC; ones with an offset are converted. The two
    kinds are parsed apart, since pandas reads a naive text after an offset one in that offset."""
    texts = values.astype("string")
    with_offset = texts.str.strip().str.contains(_OFFSET, regex=True, na=False).to_numpy(bool)
    if with_offset.all() or not with_offset.any():
        return pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    for part in (with_offset, ~with_offset):
        parsed[part] = pd.to_datetime(values[part], utc=True, errors="coerce", format="ISO8601")
    return parsed


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
    window: Window | None = None,
) -> SliceQuality:
    """Clean every chunk of a day and hand it to ``sink``; returns what was found."""
    quality = SliceQuality()
    seen = SeenKeys()
    first_row = 0
    for raw in chunks:
        cleaned = clean_chunk(raw, spec, day, quality, seen, first_row, window)
        first_row += len(raw)
        if len(cleaned):
            sink(cleaned)
    return quality
