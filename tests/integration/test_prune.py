"""Pruning on SQLite and PostgreSQL: exactly the old rows and files go, a second prune removes
nothing, and ``monitoring prune`` rejects bad arguments in one line."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, insert, select

from monitoring_pipelines.cli import main
from monitoring_pipelines.core.config import RetentionConfig
from monitoring_pipelines.core.retention import DataKind, prune_monitor
from monitoring_pipelines.core.retention.prune import folders_under
from monitoring_pipelines.core.retention.rows import RetentionRepository
from monitoring_pipelines.core.store import tables as t
from monitoring_pipelines.core.store.database import Database
from tests.unit.test_retention import MONITOR

STAMP = datetime(2026, 1, 1, tzinfo=UTC)
TODAY = date(2026, 3, 1)
RETENTION = RetentionConfig(
    slices_days=7, profiles_days=28, column_results_days=28, resolved_incidents_days=8,
    reports_days=7,
)  # fmt: skip
DAYS = [TODAY - timedelta(days=n) for n in range(1, 41)]  # 40 days before today


def incident(n: int, status: str, resolved: date | None, parent: int | None = None) -> dict:
    return {
        "id": n,
        "fingerprint": f"m/{n}",
        "monitor": "m",
        "check_name": "feature_drift",
        "subject": str(n),
        "parent_id": parent,
        "status": status,
        "severity": "warn",
        "first_partition": "2026-01-01",
        "last_failing_partition": "2026-01-02",
        "failing_partitions": 1,
        "resolved_partition": None if resolved is None else resolved.isoformat(),
        "title": "drift",
        "opened_at": STAMP,
        "updated_at": STAMP,
        "resolved_at": None if resolved is None else STAMP,
    }


def alert(n: int, incident_id: int, status: str) -> dict:
    return {
        "alert_key": f"a{n}",
        "incident_id": incident_id,
        "kind": "open",
        "fingerprint": f"m/{incident_id}",
        "monitor": "m",
        "check_name": "feature_drift",
        "subject": str(incident_id),
        "partition_key": "2026-01-02",
        "severity": "warn",
        "title": "drift",
        "message": {},
        "status": status,
        "attempts": 0,
        "created_at": STAMP,
    }


def seed(database: Database, home: Path) -> None:
    """40 days of profiles, sketches, drift, quality, metrics and checks of monitor ``m`` and
    one day of monitor ``other``; incidents old and new, open and resolved; slices, reports."""
    old = TODAY - timedelta(days=30)
    with database.transaction() as conn:
        for monitor, days in (("m", DAYS), ("other", DAYS[-1:])):
            keys = [d.isoformat() for d in days] + [f"{DAYS[-1]}/28d", "reference"]
            conn.execute(
                insert(t.profiles),
                [
                    {"monitor": monitor, "partition_key": k, "rows": 1, "profile": b"p",
                     "summary": {}, "written_at": STAMP}
                    for k in keys
                ],
            )  # fmt: skip
            conn.execute(
                insert(t.column_sketches),
                [
                    {"monitor": monitor, "partition_key": k, "column_name": c, "kind": "numeric",
                     "n": 1, "n_missing": 0, "counts": [], "payload": b"s"}
                    for k in keys
                    for c in ("age", "plan")
                ],
            )  # fmt: skip
            conn.execute(
                insert(t.slice_quality),
                [
                    {"monitor": monitor, "partition_key": k, "rows_read": 1, "rows_kept": 1,
                     "findings": [], "written_at": STAMP}
                    for k in keys[:-1]
                ],
            )  # fmt: skip
            conn.execute(
                insert(t.metrics),
                [
                    {"monitor": monitor, "asset": "service_metrics", "partition_key": k,
                     "name": "requests", "dimensions": "", "value": 1.0}
                    for k in keys
                ],
            )  # fmt: skip
        conn.execute(
            insert(t.incidents),
            [
                incident(1, "resolved", old),  # goes, with its sent alert
                incident(2, "open", None),  # stays: open
                incident(3, "resolved", TODAY - timedelta(days=3)),  # stays: recent
                incident(4, "resolved", old),  # stays: an alert still to be sent
                incident(5, "resolved", old),  # stays: its episode's child is open
                incident(6, "open", None, parent=5),
                incident(7, "resolved", old, parent=1),  # goes with its root
            ],
        )
        conn.execute(
            insert(t.alerts),
            [alert(1, 1, "sent"), alert(2, 2, "sent"), alert(3, 4, "pending"),
             alert(4, 7, "suppressed"), alert(5, 6, "sent")],
        )  # fmt: skip
    for folder, suffix in (("slices", ".parquet"), ("reports", ".html")):
        for day in DAYS:
            path = home / folder / "m" / f"{day}{suffix}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x" * 100)
        (home / folder / "m" / f".{DAYS[-1]}{suffix}.123.tmp").write_bytes(b"partial")


def count(database: Database, table: t.Table, monitor: str = "m") -> int:
    with database.transaction() as conn:
        query = select(func.count()).select_from(table).where(table.c.monitor == monitor)
        return int(conn.execute(query).scalar_one())


def test_prune_deletes_exactly_the_old_rows_and_files_and_a_second_prune_nothing(
    database: Database, tmp_path: Path
) -> None:
    seed(database, tmp_path)
    store, folders = RetentionRepository(database), folders_under(tmp_path)
    dry = prune_monitor(store, folders, "m", RETENTION, TODAY, dry_run=True)
    assert count(database, t.profiles) == 42 and len(list((tmp_path / "slices/m").iterdir())) == 41

    removed = {r.kind: r for r in prune_monitor(store, folders, "m", RETENTION, TODAY)}
    assert [(r.rows, r.files, r.bytes) for r in dry] == [
        (r.rows, r.files, r.bytes) for r in removed.values()
    ]
    # days before 2026-02-01 go: 12 days and the window ending on the oldest of them
    assert removed[DataKind.PROFILES].rows == 13 + 13 * 2
    assert removed[DataKind.COLUMN_RESULTS].rows == 13
    assert removed[DataKind.RESOLVED_INCIDENTS].rows == 2 + 2  # incidents 1, 7 and 2 alerts
    assert (removed[DataKind.SLICES].files, removed[DataKind.SLICES].bytes) == (33, 3300)
    assert removed[DataKind.REPORTS].files == 33

    assert count(database, t.profiles) == 29  # 28 days from 2026-02-01, and the reference
    assert count(database, t.column_sketches) == 58
    assert count(database, t.metrics) == 42  # the plotted numbers stay
    assert count(database, t.profiles, "other") == 3  # another monitor is not touched
    with database.transaction() as conn:
        left = set(conn.execute(select(t.incidents.c.id)).scalars())
        alerts = set(conn.execute(select(t.alerts.c.alert_key)).scalars())
    assert left == {2, 3, 4, 5, 6}
    assert alerts == {"a2", "a3", "a5"}
    slices = sorted(p.name for p in (tmp_path / "slices/m").iterdir())
    assert slices[0] == f".{DAYS[-1]}.parquet.123.tmp"  # not a day's file: left alone
    assert slices[1:] == [f"{TODAY - timedelta(days=n)}.parquet" for n in range(7, 0, -1)]

    again = prune_monitor(store, folders, "m", RETENTION, TODAY)
    assert all(r.rows == 0 and r.files == 0 and r.bytes == 0 for r in again)


def test_a_pushed_down_days_record_goes_with_its_slice(database: Database, tmp_path: Path) -> None:
    folder = tmp_path / "slices" / "m"
    folder.mkdir(parents=True)
    old, kept = TODAY - timedelta(days=30), TODAY - timedelta(days=1)
    for day in (old, kept):
        (folder / f"{day}.parquet").write_bytes(b"x" * 100)
        (folder / f"{day}.pushed").write_bytes(b"y" * 10)
    store = RetentionRepository(database)
    removed = {
        r.kind: r for r in prune_monitor(store, folders_under(tmp_path), "m", RETENTION, TODAY)
    }
    assert (removed[DataKind.SLICES].files, removed[DataKind.SLICES].bytes) == (2, 110)
    assert sorted(p.name for p in folder.iterdir()) == [f"{kept}.parquet", f"{kept}.pushed"]


def test_prune_of_a_monitor_without_any_data_removes_nothing(
    database: Database, tmp_path: Path
) -> None:
    removed = prune_monitor(
        RetentionRepository(database), folders_under(tmp_path), "m", RETENTION, TODAY
    )
    assert len(removed) == len(DataKind) and not any(r.rows or r.files for r in removed)


@pytest.fixture
def environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "monitors.yaml").write_text(MONITOR)
    monkeypatch.setenv("MONITORING_HOME", str(tmp_path))
    monkeypatch.setenv("MONITORING_CONFIG", str(tmp_path / "monitors.yaml"))
    monkeypatch.delenv("MONITORING_STORE_URL", raising=False)
    return tmp_path


def test_an_unknown_monitor_is_one_line_and_exit_2(environ: Path) -> None:
    result = CliRunner().invoke(main, ["prune", "--monitor", "nope"])
    assert result.exit_code == 2
    assert result.output.strip() == "unknown monitor 'nope'; known: churn"


def test_a_malformed_day_is_a_usage_error(environ: Path) -> None:
    result = CliRunner().invoke(main, ["prune", "--today", "2026-13-01"])
    assert result.exit_code == 2
    assert "'--today'" in result.output and "2026-13-01" in result.output


def test_a_dry_run_prints_each_kind_and_the_totals(environ: Path) -> None:
    for n in range(1, 41):
        day = TODAY - timedelta(days=n)
        path = environ / "slices" / "churn" / f"{day}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 10)
    result = CliRunner().invoke(main, ["prune", "--dry-run", "--today", str(TODAY)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "churn slices before 2026-01-25: would remove 5 files (50 B)"
    assert lines[-1] == "total (1 monitors): would remove 0 rows, 5 files (50 B)"
    assert len(list((environ / "slices" / "churn").iterdir())) == 40


def test_the_prune_job_removes_what_the_command_would(tmp_path: Path) -> None:
    from monitoring_pipelines.prune_job import prune_job
    from resources import ResultStoreResource, SliceStoreResource

    database = Database.connect(f"sqlite:///{tmp_path / 'results.db'}")
    seed(database, tmp_path)
    database.dispose()
    job = prune_job({"m": RETENTION})
    result = job.execute_in_process(
        run_config={"ops": {"prune_monitors": {"config": {"today": str(TODAY)}}}},
        resources={
            "result_store": ResultStoreResource(url=f"sqlite:///{tmp_path / 'results.db'}"),
            "slices": SliceStoreResource(base_dir=str(tmp_path / "slices")),
        },
    )
    assert result.success
    [materialized] = [
        e.event_specific_data.metadata  # type: ignore[union-attr]
        for e in result.all_node_events
        if e.event_type_value == "STEP_OUTPUT"
    ]
    assert materialized["files"].value == 66 and materialized["rows"].value == 39 + 13 + 4
    assert not (tmp_path / "reports" / "m" / f"{DAYS[-1]}.html").exists()
