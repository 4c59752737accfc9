"""Cleaning a day's raw rows: every bad value is counted, nothing is silently dropped."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring_pipelines.core.config import ChecksConfig
from monitoring_pipelines.core.errors import StoreError
from monitoring_pipelines.core.ingest.cleaning import (
    ROW_KEY,
    TIMESTAMP,
    SeenKeys,
    SliceSpec,
    write_day_slice,
)
from monitoring_pipelines.core.ingest.live_checks import slice_checks
from monitoring_pipelines.core.ingest.slice_store import SliceStore

DAY = date(2026, 9, 1)
SPEC = SliceSpec(
    timestamp_column="ts",
    request_id_column="rid",
    numeric=("latency",),
    text=("status",),
)


def run(*chunks: pd.DataFrame) -> tuple[pd.DataFrame, object]:
    out: list[pd.DataFrame] = []
    quality = write_day_slice(chunks, SPEC, DAY, out.append)
    frame = pd.concat(out, ignore_index=True) if out else pd.DataFrame()
    return frame, quality


def frame(rows: list[tuple[object, object, object, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["ts", "rid", "latency", "status"])


def test_clean_rows_are_typed() -> None:
    data, quality = run(
        frame(
            [
                ("2026-09-01 00:00:01", "a", 12.5, 200),
                ("2026-09-01T23:59:59Z", "b", "13", "500"),
            ]
        )
    )
    assert quality.rows_read == 2 and quality.rows_kept == 2  # type: ignore[attr-defined]
    assert data["latency"].tolist() == [12.5, 13.0]
    assert data["status"].tolist() == ["200", "500"]
    assert str(data[TIMESTAMP].dtype) == "datetime64[us, UTC]"
    assert data[ROW_KEY].dtype == np.uint64


def test_bad_values_are_counted_with_examples_and_rows_kept() -> None:
    data, q = run(
        frame(
            [
                ("2026-09-01 01:00:00", "a", "fast", 200),
                ("2026-09-01 02:00:00", "b", float("inf"), 200),
                ("2026-09-01 03:00:00", "c", None, None),
                ("2026-09-01 04:00:00", "d", float("nan"), 200),
            ]
        )
    )
    assert len(data) == 4
    assert np.isnan(data["latency"]).sum() == 4
    values = q.values["latency"]  # type: ignore[attr-defined]
    assert values["non_numeric"] == 1 and values["infinite"] == 1 and values["null"] == 2
    assert q.values["status"]["null"] == 1  # type: ignore[attr-defined]
    assert q.malformed_rows == 2  # type: ignore[attr-defined]
    assert "'fast'" in q.examples["latency: non_numeric"]  # type: ignore[attr-defined]


def test_unparseable_and_out_of_day_timestamps_are_dropped_and_counted() -> None:
    data, q = run(
        frame(
            [
                ("not a time", "a", 1.0, 200),
                ("2026-09-02 00:00:00", "b", 1.0, 200),
                ("2026-09-01T20:00:00-05:00", "c", 1.0, 200),  # 01:00 UTC the next day
                ("2026-09-01 12:00:00", "d", 7.0, 200),
            ]
        )
    )
    assert data["latency"].tolist() == [7.0]
    assert q.dropped == {"unparseable_timestamp": 1, "outside_day": 2}  # type: ignore[attr-defined]
    assert q.malformed_rows == 1  # type: ignore[attr-defined]
    assert q.examples["unparseable_timestamp"] == ["'not a time'"]  # type: ignore[attr-defined]


def test_duplicate_request_ids_within_and_across_chunks() -> None:
    first = frame([("2026-09-01 01:00:00", "a", 1.0, 200), ("2026-09-01 01:00:01", "a", 2.0, 200)])
    second = frame([("2026-09-01 02:00:00", "a", 3.0, 200), ("2026-09-01 02:00:01", "b", 4.0, 200)])
    data, q = run(first, second)
    assert data["latency"].tolist() == [1.0, 4.0]  # the first occurrence wins
    assert q.duplicate_rows == 2  # type: ignore[attr-defined]


def test_missing_request_id_is_counted_not_deduplicated() -> None:
    data, q = run(frame([("2026-09-01 01:00:00", None, 1.0, 200)] * 3))
    assert len(data) == 3
    assert q.missing_request_id == 3 and q.duplicate_rows == 0  # type: ignore[attr-defined]
    assert data[ROW_KEY].nunique() == 3


def test_day_without_traffic() -> None:
    data, q = run()
    assert data.empty and q.rows_read == 0  # type: ignore[attr-defined]
    volume, malformed, duplicates = slice_checks(q, ChecksConfig(), True)  # type: ignore[arg-type]
    assert not volume.passed and volume.severity.value == "critical"
    assert volume.summary == "no traffic: the day has no rows"
    assert malformed.passed and duplicates.passed


def test_quality_checks_fail_above_their_shares() -> None:
    rows = [(f"2026-09-01 01:00:{i:02d}", f"r{i}", 1.0, 200) for i in range(50)]
    rows += [("garbage", "x", 1.0, 200)] * 2 + [("2026-09-01 03:00:00", "r1", 1.0, 200)]
    _, q = run(frame(rows))
    _, malformed, duplicates = slice_checks(q, ChecksConfig(), True)  # type: ignore[arg-type]
    assert not malformed.passed and malformed.findings[0].value == 2 / 53
    assert "'garbage'" in malformed.summary
    assert not duplicates.passed and duplicates.findings[0].value == 1 / 53


def test_seen_keys_merge_runs() -> None:
    seen = SeenKeys()
    for start in range(0, 1000, 100):
        keys = np.arange(start, start + 100, dtype=np.uint64)
        assert not seen.contains(keys).any()
        seen.add(keys)
    assert seen.contains(np.array([0, 999, 500], dtype=np.uint64)).all()
    assert not seen.contains(np.array([1000, 5000], dtype=np.uint64)).any()


def test_text_columns_from_numbers_read_as_their_labels() -> None:
    from monitoring_pipelines.core.ingest.cleaning import as_text

    floats = pd.Series([200.0, 503.0, None, 1.5])
    assert as_text(floats, floats.isna().to_numpy()).tolist() == ["200", "503", None, "1.5"]
    ints = pd.Series([200, 404])
    assert as_text(ints, ints.isna().to_numpy()).tolist() == ["200", "404"]
    mixed = pd.Series(["ok", 7, None, b"x"], dtype=object)
    assert as_text(mixed, mixed.isna().to_numpy()).tolist() == ["ok", "7", None, "x"]


def test_a_day_of_the_slice_store_reads_whole_typed_even_without_rows(tmp_path: Path) -> None:
    store = SliceStore(tmp_path)
    clean, _ = run(frame([("2026-09-01T00:00:01Z", "a", 1.5, "ok")]))
    with store.writer("m", DAY, SPEC) as writer:
        writer.write(clean)
        writer.write(clean.assign(**{ROW_KEY: clean[ROW_KEY] + 1}))
    whole = store.frame("m", DAY, ["latency", ROW_KEY, "status", "latency"])
    assert list(whole.columns) == ["latency", ROW_KEY, "status"]
    assert whole["latency"].tolist() == [1.5, 1.5] and whole.index.tolist() == [0, 1]
    assert set(store.column_names("m", DAY)) >= {TIMESTAMP, ROW_KEY, "latency", "status"}

    with store.writer("m", date(2026, 9, 2), SPEC):
        pass
    empty = store.frame("m", date(2026, 9, 2), [TIMESTAMP, "latency", "status"])
    assert len(empty) == 0 and list(empty.columns) == [TIMESTAMP, "latency", "status"]
    assert empty["latency"].dtype == np.float64 and empty[TIMESTAMP].dt.tz is not None

    with pytest.raises(StoreError, match="has no column"):
        store.frame("m", DAY, ["latency", "gone"])
    with pytest.raises(StoreError, match="is missing"):
        store.frame("m", date(2026, 9, 3), ["latency"])
