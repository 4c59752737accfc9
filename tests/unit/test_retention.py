"""Retention: the cutoff of each kind of data, the keys' minimums, and that pruning never takes
a day on or after its cutoff nor an open incident."""

from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from monitoring_pipelines.core import config as cfg
from monitoring_pipelines.core.config import RetentionConfig
from monitoring_pipelines.core.config_loading import parse_config
from monitoring_pipelines.core.errors import ConfigError
from monitoring_pipelines.core.profile.windows import WINDOWS
from monitoring_pipelines.core.report.page import HISTORY_DAYS
from monitoring_pipelines.core.retention import DataKind, cutoffs
from monitoring_pipelines.core.retention.rows import RetentionRepository
from monitoring_pipelines.core.store import tables as t
from monitoring_pipelines.core.store.database import Database

MONITOR = """
monitors:
  churn:
    start_date: 2026-01-01
    source: {table: predictions, timestamp_column: ts}
    reference: {path: train.parquet}
    features: {numeric: [age]}
"""
STAMP = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_minimums_restate_the_look_backs_of_the_assets() -> None:
    assert max(WINDOWS) == cfg.WINDOW_SKETCH_DAYS
    assert cfg.REPORT_HISTORY_DAYS == HISTORY_DAYS


def test_each_cutoff_is_today_minus_its_days() -> None:
    retention = RetentionConfig(slices_days=35, profiles_days=28, reports_days=7)
    found = cutoffs(retention, date(2026, 3, 1))
    assert found[DataKind.SLICES] == date(2026, 1, 25)
    # the window drift of 2026-02-28 reads 2026-02-01 to 2026-02-28: all kept
    assert found[DataKind.PROFILES] == date(2026, 2, 1)
    assert found[DataKind.REPORTS] == date(2026, 2, 22)
    assert found[DataKind.COLUMN_RESULTS] == date(2025, 1, 25)  # 400 days by default


def test_defaults_pass_and_a_global_default_applies_to_every_monitor() -> None:
    text = "defaults: {retention: {slices_days: 10}}\n" + MONITOR
    retention = parse_config(text, {}).monitors["churn"].retention
    assert retention.slices_days == 10 and retention.profiles_days == 90


@pytest.mark.parametrize(
    ("key", "value", "minimum"),
    [("profiles_days", 14, 28), ("column_results_days", 27, 28), ("slices_days", 3, 7)],
)
def test_a_retention_shorter_than_its_look_back_names_key_value_and_minimum(
    key: str, value: int, minimum: int
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(MONITOR + f"    retention: {{{key}: {value}}}\n", {}, source="m.yaml")
    message = str(info.value)
    assert f"monitor 'churn': retention.{key} is {value}; the minimum is {minimum}" in message


def test_resolved_incidents_outlive_the_longest_reopen_window() -> None:
    text = MONITOR + (
        "    alerts: {policies: {feature_drift: {reopen_within_days: 30}}}\n"
        "    retention: {resolved_incidents_days: 30}\n"
    )
    with pytest.raises(ConfigError, match=r"resolved_incidents_days is 30; the minimum is 31"):
        parse_config(text, {})


DAYS = st.dates(min_value=date(2025, 10, 1), max_value=date(2026, 3, 31))
INCIDENT = st.tuples(st.sampled_from(["open", "acknowledged", "resolved"]), DAYS)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    days=st.sets(DAYS, max_size=12),
    incidents=st.lists(INCIDENT, max_size=8),
    today=st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 4, 30)),
    profiles_days=st.integers(28, 120),
    incidents_days=st.integers(8, 120),
)
def test_pruning_never_takes_a_day_on_or_after_its_cutoff_nor_an_open_incident(
    days: set[date],
    incidents: list[tuple[str, date]],
    today: date,
    profiles_days: int,
    incidents_days: int,
) -> None:
    retention = RetentionConfig(profiles_days=profiles_days, resolved_incidents_days=incidents_days)
    cut = cutoffs(retention, today)
    with tempfile.TemporaryDirectory() as folder:
        database = Database.connect(f"sqlite:///{Path(folder) / 'r.db'}")
        try:
            seed(database, days, incidents)
            store = RetentionRepository(database)
            store.prune_days("m", DataKind.PROFILES, cut[DataKind.PROFILES])
            store.prune_resolved_incidents("m", cut[DataKind.RESOLVED_INCIDENTS])
            with database.transaction() as conn:
                kept = set(conn.execute(select(t.profiles.c.partition_key)).scalars())
                left = conn.execute(select(t.incidents.c.status, t.incidents.c.resolved_partition))
                remaining = [(s, p) for s, p in left]
        finally:
            database.dispose()
    assert kept == {"reference"} | {d.isoformat() for d in days if d >= cut[DataKind.PROFILES]}
    expected = [
        (s, d.isoformat() if s == "resolved" else None)
        for s, d in incidents
        if s != "resolved" or d >= cut[DataKind.RESOLVED_INCIDENTS]
    ]
    assert sorted(remaining, key=str) == sorted(expected, key=str)


def seed(database: Database, days: set[date], incidents: list[tuple[str, date]]) -> None:
    """A profile per day and the reference's; incidents (resolved on their day, or open)."""
    profile = {"monitor": "m", "rows": 1, "profile": b"x", "summary": {}, "written_at": STAMP}
    with database.transaction() as conn:
        keys = ["reference", *(d.isoformat() for d in days)]
        conn.execute(insert(t.profiles), [profile | {"partition_key": k} for k in keys])
        for n, (status, day) in enumerate(incidents):
            conn.execute(insert(t.incidents), [incident_row(n, status, day)])


def incident_row(n: int, status: str, day: date) -> dict[str, object]:
    resolved = status == "resolved"
    return {
        "fingerprint": f"m/check/{n}",
        "monitor": "m",
        "check_name": "feature_drift",
        "subject": str(n),
        "status": status,
        "severity": "warn",
        "first_partition": (day - timedelta(days=2)).isoformat(),
        "last_failing_partition": day.isoformat(),
        "failing_partitions": 1,
        "resolved_partition": day.isoformat() if resolved else None,
        "title": "drift",
        "opened_at": STAMP,
        "updated_at": STAMP,
        "resolved_at": STAMP if resolved else None,
    }
