"""Faults of reading the inference log: session time zones, missing ids, rows no day reads,
extreme finite values, and a configured column dropped after earlier days.

Everything runs on real parts: SQLite and PostgreSQL through SQLAlchemy, Dagster's in-process
execution, the product's own stores.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring_pipelines.core.checks import findings_from
from monitoring_pipelines.core.config import (
    ChecksConfig,
    DriftConfig,
    LabelsConfig,
    SourceConfig,
)
from monitoring_pipelines.core.drift.engine import compute_drift
from monitoring_pipelines.core.ingest.cleaning import (
    ROW_KEY,
    SliceSpec,
    Window,
    write_day_slice,
)
from monitoring_pipelines.core.ingest.labels import read_day_labels
from monitoring_pipelines.core.ingest.live_checks import ROWS_WITHOUT_DAY, slice_checks
from monitoring_pipelines.core.ingest.warehouse import read_day, rows_outside_window
from monitoring_pipelines.core.profile.sketch import (
    ColumnSketch,
    NumericSketchBuilder,
    fit_numeric_edges,
)
from monitoring_pipelines.core.stats import get_statistic, statistic_names
from monitoring_pipelines.sensors.alerting_pass import evaluations_of
from tests.assets.conftest import (
    MonitoringFactory,
    check_evaluations,
    count_rows,
    failure_description,
    materialization,
    write_table,
)

# The asset tier's fixture, registered here under this name (see installation()).
from tests.assets.conftest import make_monitoring as asset_tier_monitoring  # noqa: F401

pytestmark = [
    pytest.mark.filterwarnings("ignore::dagster.PreviewWarning"),
    pytest.mark.filterwarnings("ignore::dagster.BetaWarning"),
]

DAY1, DAY2, DAY3 = date(2026, 9, 1), date(2026, 9, 2), date(2026, 9, 3)
SPEC = SliceSpec("ts", "rid", ("x",), (), keep_request_id=True)
WINDOW = Window(DAY1, date(2026, 9, 5))


def sliced(
    engine: sa.Engine, source: SourceConfig, day: date, window: Window | None = WINDOW
) -> tuple[pd.DataFrame, object]:
    """One day through the product's read and cleaning: the kept rows and the quality."""
    kept: list[pd.DataFrame] = []
    quality = write_day_slice(
        read_day(engine, source, SPEC.columns, day, window), SPEC, day, kept.append, window
    )
    frame = pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=["rid"])
    return frame, quality


# -- 4: a PostgreSQL session time zone other than UTC ---------------------------------------------


@pytest.fixture
def pg_tables(postgres_url: str, postgres_schema: str) -> Iterator[str]:
    """Three UTC days of one row per half hour, in a timestamptz and a timestamp column."""
    engine = sa.create_engine(postgres_url)
    start = datetime(2026, 10, 31, tzinfo=UTC)  # New York leaves daylight time on 11-01
    stamps = [start + timedelta(minutes=30 * i) for i in range(48 * 3)]
    with engine.begin() as conn:
        for name, sql_type in (("aware", "timestamptz"), ("naive", "timestamp")):
            conn.execute(
                sa.text(
                    f'CREATE TABLE "{postgres_schema}".{name} (ts {sql_type}, rid text, x float)'
                )
            )
            conn.execute(
                sa.text(f'INSERT INTO "{postgres_schema}".{name} VALUES (:ts, :rid, 1.0)'),
                [
                    {
                        "ts": s if sql_type == "timestamptz" else s.replace(tzinfo=None),
                        "rid": str(i),
                    }
                    for i, s in enumerate(stamps)
                ],
            )
    engine.dispose()
    yield postgres_schema


@pytest.mark.parametrize("column", ["aware", "naive"])
@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/New_York", "Pacific/Chatham"])
def test_non_utc_postgres_session_reads_every_utc_day_whole(
    postgres_url: str, pg_tables: str, zone: str, column: str
) -> None:
    """Item 4: a non-UTC session time zone lost 37.5 % of every day of a timestamptz column."""
    source = SourceConfig(
        table=column, schema=pg_tables, timestamp_column="ts", request_id_column="rid"
    )
    days = [date(2026, 10, 31), date(2026, 11, 1), date(2026, 11, 2)]
    window = Window(days[0], days[-1] + timedelta(days=1))
    per_session = {}
    for options in ("", f"?options=-c%20timezone%3D{zone.replace('/', '%2F')}"):
        engine = sa.create_engine(postgres_url + options)
        with engine.connect() as conn:
            session_zone = conn.execute(sa.text("SHOW timezone")).scalar()
        counts = []
        for day in days:
            frame, quality = sliced(engine, source, day, window)
            assert quality.dropped == {}, (session_zone, day, dict(quality.dropped))  # type: ignore[attr-defined]
            counts.append(len(frame))
        outside = rows_outside_window(engine, source, window)
        engine.dispose()
        per_session[session_zone] = (counts, outside.total)
    assert set(per_session) == {"UTC", zone} or set(per_session) == {"Etc/UTC", zone}
    assert list(per_session.values()) == [([48, 48, 48], 0)] * 2


# -- 5: empty and blank request ids ---------------------------------------------------------------


def test_empty_and_blank_request_ids_are_missing_not_duplicates() -> None:
    """Item 5: rows with an empty request id were one id: 29 of 30 distinct requests dropped."""
    blanks = ["", " ", "\t", "\u3000"]
    raw = pd.DataFrame(
        {
            "ts": [f"2026-09-01T10:{i:02d}:00Z" for i in range(30)],
            "rid": [blanks[i % len(blanks)] for i in range(30)],
            "x": np.arange(30.0),
        }
    )
    kept: list[pd.DataFrame] = []
    quality = write_day_slice([raw[:13], raw[13:]], SPEC, DAY1, kept.append)
    frame = pd.concat(kept, ignore_index=True)
    assert len(frame) == 30
    assert quality.duplicate_rows == 0 and quality.missing_request_id == 30
    assert frame[ROW_KEY].nunique() == 30


# -- 6: rows that no day reads ---------------------------------------------------------------------

# (text timestamp, request id): where each row belongs
OFFSET_ROWS = [
    ("2026-09-01T22:00:00-05:00", "evening-west"),  # 09-02 03:00 UTC
    ("2026-09-03T01:00:00+05:00", "morning-east"),  # 09-02 20:00 UTC
    ("2026-09-02T12:00:00+00:00", "noon-utc"),
    ("2026-09-02 23:59:59", "naive-late"),
    ("2026-09-02T23:30:00+02:00", "late-east"),  # 09-02 21:30 UTC
]
ORPHANS = [
    ("2099-01-01T00:00:00Z", "far-future"),
    ("1970-01-01T00:00:00Z", "epoch"),
    (None, "null"),
    ("01/09/2026 10:00", "us-format"),
]


@pytest.fixture
def text_log(tmp_path: Path) -> Iterator[sa.Engine]:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    rows = OFFSET_ROWS + ORPHANS
    write_table(
        url,
        "log",
        pd.DataFrame({"ts": [r[0] for r in rows], "rid": [r[1] for r in rows], "x": 1.0}),
    )
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


def test_offsets_crossing_midnight_land_on_their_utc_day_once(text_log: sa.Engine) -> None:
    """Item 6: a text timestamp whose offset crosses midnight was read by no day."""
    source = SourceConfig(table="log", timestamp_column="ts", request_id_column="rid")
    kept = {day: set(sliced(text_log, source, day)[0]["rid"]) for day in (DAY1, DAY2, DAY3)}
    assert kept == {DAY1: set(), DAY2: {rid for _, rid in OFFSET_ROWS}, DAY3: set()}


def test_labels_of_requests_crossing_midnight_join_their_utc_day(text_log: sa.Engine) -> None:
    """Item 6: the labels of such a request are read with the day whose slice holds it."""
    labelled = pd.DataFrame({"rid": [rid for _, rid in OFFSET_ROWS], "label": "yes"})
    labelled.to_sql("labels", text_log, index=False)
    source = SourceConfig(table="log", timestamp_column="ts", request_id_column="rid")
    config = LabelsConfig(table="labels", request_id_column="rid", label_column="label")
    by_day = {
        day: read_day_labels(text_log, source, config, day, numeric=False)
        for day in (DAY1, DAY2, DAY3)
    }
    assert {day: len(labels.keys) for day, labels in by_day.items()} == {DAY1: 0, DAY2: 5, DAY3: 0}
    slice_keys = sliced(text_log, source, DAY2)[0][ROW_KEY].to_numpy()
    assert set(by_day[DAY2].keys.tolist()) == set(slice_keys.tolist())


def test_rows_outside_every_day_fail_a_visible_finding(text_log: sa.Engine) -> None:
    """Item 6: rows stamped far in the future or past, null or non-ISO, were counted nowhere."""
    source = SourceConfig(table="log", timestamp_column="ts", request_id_column="rid")
    outside = rows_outside_window(text_log, source, WINDOW)
    assert (outside.null, outside.unparseable, outside.before, outside.after) == (1, 1, 1, 1)
    _, quality = sliced(text_log, source, DAY2)
    malformed = slice_checks(quality, ChecksConfig(), True, outside, WINDOW)[1]  # type: ignore[arg-type]
    assert not malformed.passed
    finding = {f.subject: f for f in malformed.findings}[ROWS_WITHOUT_DAY]
    assert not finding.passed and finding.value == 4
    assert "1 row dated before start_date 2026-09-01" in finding.summary
    assert "1 row dated in the future" in finding.summary


def installation(request: pytest.FixtureRequest) -> MonitoringFactory:
    """The asset tier's ``make_monitoring``: installations built as the code location builds
    them, over an SQLite warehouse."""
    factory: MonitoringFactory = request.getfixturevalue("asset_tier_monitoring")
    return factory


def test_far_future_row_fails_the_days_malformed_rows_check(request: pytest.FixtureRequest) -> None:
    """Item 6: a materialized day raises the finding, so the alerting pass sees it."""
    log = pd.DataFrame(
        {
            "ts": ["2026-09-01T10:00:00Z", "2026-09-01T11:00:00Z", "2126-09-01T10:00:00Z"],
            "latency_ms": [10.0, 20.0, 30.0],
        }
    )
    monitoring = installation(request)(
        """
monitors:
  clock:
    start_date: 2026-09-01
    source: {table: clock_requests, timestamp_column: ts}
    service: {latency_column: latency_ms}
""",
        {"clock_requests": log},
    )
    result = monitoring.day("clock", DAY1)
    assert materialization(result, "clock/live_slice")["rows_in_future"] == 1
    malformed = check_evaluations(result, "clock/live_slice")["malformed_rows"]
    failing = [f for f in findings_from(malformed.findings) if not f.passed]
    assert [f.subject for f in failing] == [ROWS_WITHOUT_DAY]
    evaluations = evaluations_of(monitoring.instance, result.dagster_run, {"clock"})
    alerted = [e for e in evaluations if e.check == "malformed_rows"]
    assert [f.subject for e in alerted for f in e.findings if not f.passed] == [ROWS_WITHOUT_DAY]


# -- 7: finite extreme values ----------------------------------------------------------------------

EXTREME = 1e308


def sketch(values: np.ndarray, edges: np.ndarray, name: str = "x") -> ColumnSketch:
    builder = NumericSketchBuilder(name, edges, 200)
    builder.add(values, np.arange(values.size, dtype=np.uint64))
    return builder.build()


def test_extreme_finite_values_give_finite_drift_scores_for_days_and_windows() -> None:
    """Item 7: finite extremes (±1e308) made the Wasserstein score inf for the day and windows."""
    rng = np.random.default_rng(7)
    reference_values = rng.normal(50, 10, 2000)
    edges = fit_numeric_edges(reference_values, 10)
    reference = {"x": sketch(reference_values, edges)}
    day_values = rng.normal(50, 10, 1000)
    day_values[:3] = [EXTREME, -EXTREME, EXTREME]
    day = sketch(day_values, edges)
    window = day.merge(sketch(day_values, edges), 200)
    for current in (day, window):
        [drift] = compute_drift(reference, {"x": current}, {"x": "feature"}, DriftConfig())
        assert drift.score is not None and math.isfinite(drift.score)
        assert drift.score > 1e300  # three values 1e308 away: the distance is real, just huge
        assert current.std is not None and math.isfinite(current.std)


def test_a_reference_with_extreme_finite_values_has_finite_bins_and_spread() -> None:
    """Item 7: the reference side of the same class: its edges, std and scores stay finite."""
    values = np.concatenate([np.full(5, -1.7e308), np.full(5, 1.7e308), np.linspace(0, 1, 90)])
    edges = fit_numeric_edges(values, 10)
    assert np.all(np.isfinite(edges))
    reference = sketch(values, edges)
    assert reference.std is not None and math.isfinite(reference.std)
    restored = ColumnSketch.from_bytes(reference.to_bytes())
    assert restored.std == reference.std
    current = sketch(np.linspace(0, 1, 50), edges)
    for name in statistic_names():
        result = get_statistic(name)(reference.to_distribution(), current.to_distribution())
        assert math.isfinite(result.score), name


@settings(max_examples=60, deadline=None)
@given(
    extremes=st.lists(
        st.builds(
            lambda sign, size: sign * size,
            st.sampled_from([-1.0, 1.0]),
            st.floats(1e300, np.finfo(np.float64).max),
        ),
        min_size=1,
        max_size=5,
    ),
    shift=st.floats(-1e6, 1e6),
)
def test_every_statistic_stays_finite_with_finite_extremes(
    extremes: list[float], shift: float
) -> None:
    """Item 7 (the class): no statistic, no sketch moment, scores inf or nan on finite data."""
    rng = np.random.default_rng(1)
    reference_values = np.concatenate([rng.normal(0, 1, 500), extremes[:1]])
    edges = fit_numeric_edges(reference_values, 10)
    reference = sketch(reference_values, edges)
    current = sketch(np.concatenate([rng.normal(shift, 1, 300), extremes]), edges)
    merged = current.merge(current, 200)
    for side in (reference, current, merged):
        assert side.std is not None and math.isfinite(side.std) and math.isfinite(side.mean)
    for name in statistic_names():
        for cur in (current, merged):
            result = get_statistic(name)(reference.to_distribution(), cur.to_distribution())
            assert math.isfinite(result.score), (name, result)


# -- 20: a configured column dropped after earlier days ------------------------------------------

DROP_CONFIG = """
monitors:
  shop:
    start_date: 2026-09-01
    source: {table: shop_requests, timestamp_column: ts, request_id_column: rid}
    reference: {table: shop_training}
    features: {numeric: [amount], categorical: [channel]}
"""


def test_dropped_column_is_reported_by_schema_change_and_clears_the_stale_day(
    request: pytest.FixtureRequest,
) -> None:
    """Item 20: a dropped column failed the run, but schema_change never said so and the day's
    results of an earlier run stayed in the store as if current."""
    rng = np.random.default_rng(20)
    n = 200
    log = pd.DataFrame(
        {
            "ts": [f"2026-09-0{1 + i % 2}T{i % 24:02d}:00:00Z" for i in range(n)],
            "rid": [f"r{i}" for i in range(n)],
            "amount": rng.normal(50, 10, n),
            "channel": rng.choice(["web", "app"], n),
        }
    )
    training = log[["amount", "channel"]].copy()
    monitoring = installation(request)(
        DROP_CONFIG, {"shop_requests": log, "shop_training": training}
    )
    monitoring.reference("shop")
    for day in (DAY1, DAY2):
        assert monitoring.day("shop", day).success
    partition = DAY2.isoformat()
    store = monitoring.store_url
    assert count_rows(store, "drift_results", monitor="shop", partition_key=partition) > 0
    slice_file = monitoring.home / "slices" / "shop" / f"{partition}.parquet"
    assert slice_file.exists()

    write_table(monitoring.warehouse_url, "shop_requests", log.drop(columns=["channel"]))
    result = monitoring.day("shop", DAY2, raise_on_error=False)

    assert not result.success
    assert "no column 'channel'" in failure_description(result)
    schema = check_evaluations(result, "shop/data_quality")["schema_change"]
    assert not schema.passed and schema.partition == partition
    failing = {f.subject: f for f in findings_from(schema.findings) if not f.passed}
    assert set(failing) == {"channel"}
    assert "channel is missing from the table" in failing["channel"].summary
    alerted = [
        e
        for e in evaluations_of(monitoring.instance, result.dagster_run, {"shop"})
        if e.check == "schema_change"
    ]
    assert [(e.asset, e.partition) for e in alerted] == [("shop/data_quality", partition)]

    assert not slice_file.exists()
    for table in ("slice_quality", "profiles", "column_sketches", "drift_results"):
        assert count_rows(store, table, monitor="shop", partition_key=partition) == 0, table
    assert count_rows(store, "metrics", monitor="shop", partition_key=partition) == count_rows(
        store, "metrics", monitor="shop", partition_key=partition, asset="schema_snapshot"
    )
    # the earlier day is untouched
    assert count_rows(store, "drift_results", monitor="shop", partition_key=DAY1.isoformat()) > 0
