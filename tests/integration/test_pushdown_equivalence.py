"""Push-down against the pull path on SQLite, PostgreSQL and DuckDB: the same day, hostile rows
included, gives identical counts, bins, categories, statuses, token sums and percentiles."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from monitoring_pipelines.core.config import SourceConfig
from monitoring_pipelines.core.ingest.cleaning import GROUP_KEY, SliceSpec, Window, write_day_slice
from monitoring_pipelines.core.ingest.pushdown import (
    PushdownDeclined,
    PushdownPlan,
    day_aggregates,
)
from monitoring_pipelines.core.ingest.statuses import classify_status
from monitoring_pipelines.core.ingest.warehouse import read_day
from monitoring_pipelines.core.profile.fitting import ColumnPlan, profile_day
from monitoring_pipelines.core.profile.pushed import pushed_sketches
from monitoring_pipelines.core.profile.sketch import ColumnSketch, fit_categories, fit_numeric_edges
from tests.fakes.warehouses import DIALECTS, dialect_warehouse

DAY = date(2024, 3, 5)
WINDOW = Window(date(2024, 3, 1), date(2024, 3, 20))
NUMERIC = ("x1", "x2", "latency", "prompt", "completion")
TEXT = ("cat", "status", "model", "intent")
SPEC = SliceSpec("ts", "rid", NUMERIC, TEXT)
CATEGORIES = ["a", "b", "c", "café", "日本", "🙂", *(f"n{i}" for i in range(70))]


def hostile_rows(seed: int, rows: int, text_stamps: bool) -> list[dict[str, Any]]:
    """A day and its neighbours with every kind of bad input the cleaning counts."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 3, 4)
    out = []
    for i in range(rows):
        stamp = start + timedelta(seconds=float(rng.uniform(0, 3 * 86400)))
        ts: Any = stamp.isoformat(sep=" ") if text_stamps else stamp
        rid: Any = f"r{i}"
        x1: Any = float(rng.normal(10, 3))
        x2: Any = f"{rng.normal():.6f}"
        cat: Any = CATEGORIES[int(rng.zipf(1.3)) % len(CATEGORIES)]
        status: Any = ["200", "200", "503", "404", "timeout", None, "500.0"][i % 7]
        latency: Any = float(rng.gamma(2, 50))
        prompt: Any = int(rng.integers(0, 500))
        completion: Any = int(rng.integers(0, 200))
        roll = rng.random()
        if roll < 0.03:
            x1 = None
        elif roll < 0.05:
            x2 = rng.choice(["abc", " 1.5", "1e999", "inf", "nan", "", "\uff11\uff12", "1,5", "-"])
        elif roll < 0.06:
            cat = None
        elif roll < 0.07:
            rid = f"r{max(0, i - 3)}"  # a repeated request id, other values
        elif roll < 0.075:
            rid = rng.choice([None, "", "  ", "\x1f", "\u3000", f" r{i}", f"r{i}\u2003"])
        elif roll < 0.08:
            latency = -1.0
        elif roll < 0.085:
            prompt = None
        elif roll < 0.09 and not text_stamps:
            x1 = rng.choice([float("nan"), float("inf"), float("-inf")])
        elif roll < 0.095:
            ts = None
        elif roll < 0.10 and text_stamps:
            ts = rng.choice(
                [
                    "2024-03-05 not a time",
                    "2024-03-05T25:00:00",
                    "2024-03-05 10:00:00+05:00",
                    "2024-03-04 23:30:00-02:00",
                    "2024-03-06 00:30:00+02:00",
                    "2024-03-05T10:00:00Z",
                    "garbage",
                ]
            )
        out.append(
            dict(
                ts=ts,
                rid=rid,
                x1=x1,
                x2=x2,
                cat=cat,
                status=status,
                latency=latency,
                prompt=prompt,
                completion=completion,
                model=["gpt-a", "gpt-b", None][i % 3],
                intent=["billing", "söhne", "日本"][i % 4 % 3],
            )
        )
    return out


def _table(
    metadata: sa.MetaData, schema: str | None, text_stamps: bool, key: bool = False
) -> sa.Table:
    stamp: Any = sa.Text() if text_stamps else sa.DateTime()
    number: Any = sa.Text() if text_stamps else sa.Double()
    return sa.Table(
        "pushdown_log",
        metadata,
        sa.Column("ts", stamp),
        sa.Column("rid", sa.Text(), primary_key=key),
        sa.Column("x1", number),
        sa.Column("x2", sa.Text()),
        sa.Column("cat", sa.Text()),
        sa.Column("status", sa.Text()),
        sa.Column("latency", sa.Double()),
        sa.Column("prompt", sa.BigInteger()),
        sa.Column("completion", sa.BigInteger()),
        sa.Column("model", sa.Text()),
        sa.Column("intent", sa.Text()),
        schema=schema,
    )


@pytest.fixture(params=DIALECTS)
def warehouse(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[sa.Engine, str | None]]:
    with dialect_warehouse(request.param, tmp_path, request) as made:
        yield made


def load(
    engine: sa.Engine,
    schema: str | None,
    rows: list[dict[str, Any]],
    text: bool,
    key: bool = False,
) -> None:
    table = _table(sa.MetaData(), schema, text, key)
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)


def reference_sketches() -> dict[str, ColumnSketch]:
    rng = np.random.default_rng(0)
    ref = {
        "x1": rng.normal(10, 3, 5000),
        "x2": rng.normal(0, 1, 5000),
        "latency": rng.gamma(2, 50, 5000),
    }
    out = {
        c: ColumnSketch(c, "numeric", np.zeros(1, np.int64), edges=fit_numeric_edges(v, 20))
        for c, v in ref.items()
    }
    labels = np.array(rng.choice(["a", "b", "c", "d", "café"], 5000), dtype=object)
    out["cat"] = ColumnSketch("cat", "categorical", np.zeros(1), categories=fit_categories(labels))
    return out


def pulled(engine: sa.Engine, source: SourceConfig) -> tuple[pd.DataFrame, dict[str, Any]]:
    frames: list[pd.DataFrame] = []
    chunks = read_day(engine, source, SPEC.columns, DAY, WINDOW)
    quality = write_day_slice(chunks, SPEC, DAY, frames.append, WINDOW)
    return pd.concat(frames, ignore_index=True), quality.to_dict()


def plan_for(reference: dict[str, ColumnSketch], sample_rows: int = 300) -> PushdownPlan:
    return PushdownPlan(
        spec=SPEC,
        edges={c: tuple(s.edges) for c, s in reference.items() if s.edges is not None},
        shifts={"x1": 10.0, "latency": 100.0},
        categories={"cat": reference["cat"].categories or ()},
        latency_column="latency",
        status_column="status",
        model_column="model",
        intent_column="intent",
        prompt_column="prompt",
        completion_column="completion",
        sample_rows=sample_rows,
        segments=("model",),
    )


def assert_equivalent(engine: sa.Engine, schema: str | None) -> None:
    source = SourceConfig(table="pushdown_log", schema=schema, timestamp_column="ts",
                          request_id_column="rid", chunk_rows=700)  # fmt: skip
    reference = reference_sketches()
    frame, quality = pulled(engine, source)
    pushed = day_aggregates(engine, source, plan_for(reference), DAY, WINDOW)

    got = pushed.quality.to_dict()
    for key in ("rows_read", "rows_kept", "malformed_rows", "rows_with_bad_values",
                "dropped", "values", "missing_request_id", "rows_of_other_days"):  # fmt: skip
        assert got[key] == quality[key], key
    assert got["examples"].keys() == quality["examples"].keys()

    sketches = pushed_sketches(pushed, reference, ("x1", "x2", "latency"), ("cat",), 500)
    plan = ColumnPlan(("x1", "x2", "latency"), ("cat",))
    profiled = profile_day([frame], plan, reference, [], 500, segments=("model",))
    pulled_sketches = {s.column: s for s in profiled.sketches}
    assert [s.column for s in sketches] == list(pulled_sketches)
    assert any("@model=" in s.column for s in sketches)
    for sketch in sketches:
        expected = pulled_sketches[sketch.column]
        assert sketch.counts.tolist() == expected.counts.tolist(), sketch.column
        assert sketch.categories == expected.categories
        assert sketch.n_missing == expected.n_missing
        assert sketch.n_nonfinite == expected.n_nonfinite
        assert (sketch.lo, sketch.hi) == (expected.lo, expected.hi)
        assert sketch.mean == pytest.approx(expected.mean, rel=1e-12, abs=1e-12)
        assert sketch.m2 == pytest.approx(expected.m2, rel=1e-9)
        if sketch.sums is not None:
            np.testing.assert_allclose(sketch.sums, expected.sums, rtol=1e-12, atol=1e-9)
        assert sketch.sample_values.size <= 500
        assert sketch.sample_values.size > 0 or sketch.n == 0

    latency = frame["latency"].to_numpy(np.float64)
    usable = latency[latency >= 0]
    assert pushed.latency_rows == usable.size
    for q, value in pushed.latency_percentiles.items():
        assert value == float(np.percentile(usable, q)), q  # bit for bit

    status = frame["status"].to_numpy(dtype=object)
    is_error, unknown, missing = classify_status(status, None)
    assert (pushed.errors, pushed.status_unknown, pushed.status_missing) == (
        int(is_error.sum()), int(unknown.sum()), int(missing.sum()))  # fmt: skip

    p, c = frame["prompt"].to_numpy(np.float64), frame["completion"].to_numpy(np.float64)
    ok = (p >= 0) & (c >= 0)
    by_model = frame.assign(p=np.where(ok, p, 0), c=np.where(ok, c, 0), bad=~ok)
    by_model["model"] = by_model["model"].fillna("(none)")
    by_model = by_model.groupby(["model", "intent"])[["p", "c", "bad"]].sum()
    assert len(by_model) == len(pushed.usage)
    for (model, intent), usage in pushed.usage.items():
        row = by_model.loc[(model if model is not None else "(none)", intent)]
        assert (usage.prompt_tokens, usage.completion_tokens) == (row["p"], row["c"])
        assert usage.rows_missing_tokens == row["bad"]
    assert sum(u.rows for u in pushed.usage.values()) == len(frame)

    assert 0 < len(pushed.sample) <= 300
    assert pushed.sample["rid"].is_unique if "rid" in pushed.sample else True
    again = day_aggregates(engine, source, plan_for(reference), DAY, WINDOW)
    assert again.sample[GROUP_KEY].tolist() == pushed.sample[GROUP_KEY].tolist()


def test_pushdown_equals_pull_on_hostile_rows(warehouse: tuple[sa.Engine, str | None]) -> None:
    engine, schema = warehouse
    text_stamps = engine.dialect.name == "sqlite"
    load(engine, schema, hostile_rows(7, 6000, text_stamps), text_stamps)
    assert_equivalent(engine, schema)


def test_a_day_of_too_many_residual_rows_is_declined(tmp_path: Path) -> None:
    """A day whose rows mostly need pandas' parse is not pushed down: the caller pulls it."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    rows = hostile_rows(11, 400, text_stamps=True)
    for row in rows:
        row["x2"] = f"{row['x2']}e0"  # an exponent: left to pandas
    load(engine, None, rows, text=True)
    source = SourceConfig(table="pushdown_log", timestamp_column="ts", request_id_column="rid")
    plan = replace(plan_for(reference_sketches()), residual_cap=50)
    with pytest.raises(PushdownDeclined, match="need cleaning row by row"):
        day_aggregates(engine, source, plan, DAY, WINDOW)
    assert (
        day_aggregates(engine, source, replace(plan, residual_cap=400), DAY, WINDOW).residual.shape[
            0
        ]
        > 50
    )


def clean_rows(seed: int, rows: int, text_stamps: bool) -> list[dict[str, Any]]:
    """A day every row of which SQL classifies alone: no residual rows, no repeated ids."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(rows):
        stamp = datetime(2024, 3, 5) + timedelta(seconds=float(rng.uniform(0, 86399)))
        out.append(
            dict(
                ts=stamp.isoformat(sep=" ") if text_stamps else stamp,
                rid=f"r{i}",
                x1=round(float(rng.normal(10, 3)), 6) if i % 13 else None,
                x2=f"{rng.normal():.6f}",
                cat=CATEGORIES[int(rng.zipf(1.3)) % len(CATEGORIES)] if i % 17 else None,
                status=["200", "200", "503", "404", None][i % 5],
                latency=float(rng.gamma(2, 50)),
                prompt=int(rng.integers(0, 500)),
                completion=int(rng.integers(0, 200)),
                model=["gpt-a", "gpt-b", None][i % 3],
                intent=["billing", "söhne", "日本"][i % 4 % 3],
            )
        )
    return out


def test_a_clean_day_in_one_pass_and_side_by_side(
    warehouse: tuple[sa.Engine, str | None],
) -> None:
    """A day of no residual rows (the pass that counts them is the regular rows' own), its
    independent queries one after another and two at a time over one snapshot: the same
    aggregates, equal to the pull path's."""
    engine, schema = warehouse
    text_stamps = engine.dialect.name == "sqlite"
    load(engine, schema, clean_rows(3, 3000, text_stamps), text_stamps)
    assert_equivalent(engine, schema)
    source = SourceConfig(table="pushdown_log", schema=schema, timestamp_column="ts",
                          request_id_column="rid")  # fmt: skip
    reference = reference_sketches()
    one, two = (
        day_aggregates(engine, source, replace(plan_for(reference), parallel_queries=n), DAY)
        for n in (1, 2)
    )
    assert len(one.residual) == 0 and one.regular_rows == 3000
    for field in ("regular_rows", "categories", "latency_percentiles", "status_counts", "usage"):
        assert getattr(one, field) == getattr(two, field), field
    pairs = [(one.numeric, two.numeric)]
    segments = zip(one.segments["model"], two.segments["model"], strict=True)
    pairs += [(a.numeric, b.numeric) for a, b in segments]
    assert [s.value for s in one.segments["model"]] == [s.value for s in two.segments["model"]]
    for a, b in pairs:  # the sums' order of addition is the warehouse's
        assert a.keys() == b.keys()
        for name in a:
            x, y = a[name], b[name]
            assert (x.count, x.nulls, x.lo, x.hi, x.at_or_below) == (
                y.count, y.nulls, y.lo, y.hi, y.at_or_below)  # fmt: skip
            np.testing.assert_allclose(x.bin_sums, y.bin_sums, rtol=1e-12, atol=1e-9)
            assert x.shifted_sum == pytest.approx(y.shifted_sum, rel=1e-12, abs=1e-9)
    assert one.sample.equals(two.sample)


def test_ids_the_table_keeps_unique_are_not_counted_again(
    warehouse: tuple[sa.Engine, str | None],
) -> None:
    """A request id that is the table's primary key cannot repeat: no distinct count is run
    (DuckDB, whose views over files declare nothing, counts), and the day is the pull path's."""
    engine, schema = warehouse
    text_stamps = engine.dialect.name == "sqlite"
    load(engine, schema, clean_rows(5, 2000, text_stamps), text_stamps, key=True)
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(str(args[2]))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        assert_equivalent(engine, schema)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    distinct = [s for s in statements if "count(DISTINCT" in s]
    assert bool(distinct) == (engine.dialect.name == "duckdb")
