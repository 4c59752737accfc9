"""Properties of row cleaning and day assignment, over arbitrary timestamps and request ids.

For any rows, the read and the cleaning account for each one exactly once: it is kept on the
one UTC day its instant falls on, or dropped and counted by reason on one day, or counted
among the rows no day of the window reads. Empty and blank ids never collide.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta, timezone

import pandas as pd
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitoring_pipelines.core.config import SourceConfig
from monitoring_pipelines.core.ingest.cleaning import (
    ROW_KEY,
    TIMESTAMP,
    SliceSpec,
    Window,
    hash_keys,
    missing_ids,
    write_day_slice,
)
from monitoring_pipelines.core.ingest.warehouse import read_day, rows_outside_window

WINDOW = Window(date(2026, 9, 3), date(2026, 9, 7))
DAYS = [WINDOW.first + timedelta(days=i) for i in range((WINDOW.end - WINDOW.first).days)]
SPEC = SliceSpec("ts", "rid", ("x",), (), keep_request_id=True)
SOURCE = SourceConfig(table="log", timestamp_column="ts", request_id_column="rid", chunk_rows=100)
BLANKS = ["", " ", "  ", "\t", "\n", "\u3000", "\u00a0"]

# A UTC instant around the window (and now and then far from it), written as a log would.
instants = st.one_of(
    st.datetimes(min_value=datetime(2026, 9, 1), max_value=datetime(2026, 9, 9, 23, 59, 59)).map(
        lambda d: d.replace(tzinfo=UTC)
    ),
    st.sampled_from([datetime(1970, 1, 1, tzinfo=UTC), datetime(2099, 12, 31, 23, 59, tzinfo=UTC)]),
)
offsets = st.integers(-14 * 4, 14 * 4).map(lambda q: timedelta(minutes=15 * q))


@st.composite
def written(draw: st.DrawFn) -> tuple[str, datetime]:
    """A text timestamp and the UTC instant it stands for."""
    instant = draw(instants)
    offset = draw(offsets)
    local = instant.astimezone(timezone(offset))
    sep = draw(st.sampled_from(["T", " "]))
    body = local.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
    style = draw(st.sampled_from(["colon", "compact", "z", "naive"]))
    if style == "naive" or (style == "z" and offset):
        body = instant.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + ("Z" if style == "z" else "")
        return body, instant
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    suffix = f"{sign}{hours:02d}:{rest:02d}" if style == "colon" else f"{sign}{hours:02d}{rest:02d}"
    return body + ("Z" if style == "z" else suffix), instant


cells = st.one_of(
    written().map(lambda w: (w[0], w[1])),
    st.none().map(lambda _: (None, None)),
    st.text(max_size=12).map(lambda t: (t, None)),  # junk: rarely a timestamp
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(cells, max_size=40))
@example(  # pandas reads a naive text after one with an offset in that offset
    rows=[
        ("2026-09-03T00:00:00-07:00", datetime(2026, 9, 3, 7, tzinfo=UTC)),
        ("2026-09-03T17:00:00", datetime(2026, 9, 3, 17, tzinfo=UTC)),
    ]
)
def test_every_row_is_in_one_day_or_counted_outside_the_window(
    rows: list[tuple[str | None, datetime | None]],
) -> None:
    """Counts add up to the rows of the table; each kept row is on its UTC day, once."""
    engine = sa.create_engine("sqlite://")
    ids = [f"r{i}" for i in range(len(rows))]
    frame = pd.DataFrame({"ts": [t for t, _ in rows], "rid": ids, "x": 1.0})
    frame.to_sql("log", engine, index=False, dtype={"ts": sa.Text(), "rid": sa.Text()})
    read = other = 0
    kept: Counter[str] = Counter()
    for day in DAYS:
        out: list[pd.DataFrame] = []
        quality = write_day_slice(
            read_day(engine, SOURCE, SPEC.columns, day, WINDOW), SPEC, day, out.append, WINDOW
        )
        assert quality.rows_read == quality.rows_kept + sum(quality.dropped.values())
        assert quality.duplicate_rows == 0
        read += quality.rows_read
        other += quality.rows_of_other_days
        for chunk in out:
            assert (chunk[TIMESTAMP].dt.date == day).all()
            kept.update(chunk["rid"])
    outside = rows_outside_window(engine, SOURCE, WINDOW)
    engine.dispose()
    assert read + outside.total == len(rows)
    assert max(kept.values(), default=1) == 1
    for (text, instant), rid in zip(rows, ids, strict=True):
        if instant is None or text is None:
            continue
        written_day = date.fromisoformat(text[:10])
        inside = WINDOW.first <= written_day < WINDOW.end
        if inside and WINDOW.first <= instant.date() < WINDOW.end:
            assert kept[rid] == 1, (text, instant)


timestamps = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(2026, 8, 31), max_value=datetime(2026, 9, 2)),
    written().map(lambda w: w[0]),
    st.text(max_size=8),
)
numbers = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.integers(-(10**6), 10**6),
)
request_ids = st.one_of(
    st.none(), st.sampled_from(BLANKS), st.sampled_from(["a", "b", "#row1", "0"])
)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.tuples(timestamps, request_ids, numbers), max_size=30),
    split=st.integers(0, 30),
)
def test_cleaning_never_drops_a_row_without_counting_it(
    rows: list[tuple[object, object, object]], split: int
) -> None:
    """Rows read = rows kept + rows dropped by reason, whatever the values, across chunks."""
    raw = pd.DataFrame(rows, columns=["ts", "rid", "x"], dtype=object)
    out: list[pd.DataFrame] = []
    quality = write_day_slice([raw[:split], raw[split:]], SPEC, date(2026, 9, 1), out.append)
    assert quality.rows_read == len(raw)
    assert quality.rows_read == quality.rows_kept + sum(quality.dropped.values())
    assert sum(len(f) for f in out) == quality.rows_kept
    assert quality.malformed_rows <= quality.rows_read


@settings(max_examples=150, deadline=None)
@given(ids=st.lists(request_ids, max_size=40), split=st.integers(0, 40))
def test_empty_and_blank_ids_never_collide(ids: list[object], split: int) -> None:
    """Missing ids (null, empty, blank) are never duplicates, of each other or of real ids."""
    raw = pd.DataFrame(
        {"ts": "2026-09-01T12:00:00Z", "rid": pd.Series(ids, dtype=object), "x": 1.0}
    )
    out: list[pd.DataFrame] = []
    quality = write_day_slice([raw[:split], raw[split:]], SPEC, date(2026, 9, 1), out.append)
    frame = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=[ROW_KEY])
    missing = missing_ids(raw["rid"])
    real = raw["rid"][~missing]
    assert quality.missing_request_id == int(missing.sum())
    assert quality.duplicate_rows == len(real) - real.nunique()
    assert len(frame) == int(missing.sum()) + real.nunique()
    assert frame[ROW_KEY].is_unique
    real_keys = set(hash_keys(pd.Series(real.unique(), dtype=object), "id:").tolist())
    missing_keys = set(frame[ROW_KEY].tolist()) - real_keys
    assert len(missing_keys) == int(missing.sum())
    assert all(v is None or not str(v).strip() for v in raw["rid"][missing])
