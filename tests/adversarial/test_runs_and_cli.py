"""Backfills and the command line under faults: failed runs are named and fail the command,
window results do not depend on the number of workers, and every fault (of a run or of the
command) reads as one line naming the monitor, the day, the object and the cause."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring_pipelines.backfill import Schedule, Stage, Task
from monitoring_pipelines.cli import main
from monitoring_pipelines.demo.generate import write_tables
from monitoring_pipelines.sensors.alerting_pass import _failure_message

START = date(2026, 9, 1)
MONITOR = "shop"
CONFIG = """\
version: 1
monitors:
  shop:
    start_date: 2026-09-01
    source: {table: events, timestamp_column: ts, request_id_column: request_id}
    reference: {table: %(reference)s}
    features: {numeric: [x], categorical: [c]}
    prediction: {column: score, type: score}
    service:
      latency_column: latency_ms
      status_column: status
      error_statuses: [error]
      slo: {latency_ms: 200, latency_percentile: 95, error_rate: 0.01}
"""


def day_frame(day: date, rows: int, rng: np.random.Generator, *, bad: bool) -> pd.DataFrame:
    """``rows`` requests of ``day``; a bad day is shifted, slow and failing."""
    seconds = sorted(int(s) for s in rng.integers(0, 86_400, rows))
    shift = 1.5 if bad else 0.0
    return pd.DataFrame(
        {
            "ts": [
                datetime(day.year, day.month, day.day) + timedelta(seconds=int(s)) for s in seconds
            ],
            "request_id": [f"{day}-{i}" for i in range(rows)],
            "x": rng.normal(shift, 1.0, rows),
            "c": rng.choice(["a", "b", "c"], rows, p=[0.2, 0.3, 0.5] if bad else [0.5, 0.3, 0.2]),
            "score": rng.uniform(0, 1, rows),
            "latency_ms": rng.gamma(2.0, 120.0 if bad else 40.0, rows),
            "status": np.where(rng.uniform(0, 1, rows) < (0.2 if bad else 0.002), "error", "ok"),
        }
    )


def make_home(
    home: Path, *, days: int = 6, heavy: dict[int, int] | None = None, reference: str = "training"
) -> dict[str, str]:
    """A monitor of one small table (day ``i`` has ``heavy[i]`` rows, others 400; day 1 is
    bad) and the environment of a fresh MONITORING_HOME for it."""
    rng = np.random.default_rng(5)
    frames = [
        day_frame(START + timedelta(days=i), (heavy or {}).get(i, 400), rng, bad=i == 1)
        for i in range(days)
    ]
    training = day_frame(START - timedelta(days=30), 2_000, rng, bad=False)
    home.mkdir(parents=True, exist_ok=True)
    warehouse = f"sqlite:///{home / 'warehouse.db'}"
    write_tables(warehouse, {"events": pd.concat(frames), "training": training})
    (home / "monitors.yaml").write_text(CONFIG % {"reference": reference})
    return {
        "MONITORING_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "MONITORING_CONFIG": str(home / "monitors.yaml"),
        "MONITORING_STORE_URL": f"sqlite:///{home / 'results.db'}",
        "MONITORING_WAREHOUSE_URL": warehouse,
    }


def monitoring(monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], *args: str) -> Result:
    for key in ("SLACK_BOT_TOKEN", "MONITORING_ALERTS_FILE", "DAGSTER_HOME"):
        monkeypatch.delenv(key, raising=False)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    return CliRunner().invoke(main, list(args))


def backfill(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], first: int, last: int, *more: str
) -> Result:
    start, end = (START + timedelta(days=d) for d in (first, last))
    return monitoring(
        monkeypatch, environ, "backfill", "--start", f"{start}", "--end", f"{end}", *more
    )


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


# -- 16: a backfill with failed runs fails ----------------------------------------------------


def test_a_backfill_whose_reference_fails_exits_non_zero_naming_it_and_the_days_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12, item 16: `monitoring backfill` exited 0 when the reference failed and no day
    ran."""
    environ = make_home(tmp_path / "home", days=3, reference="no_such_table")
    result = backfill(monkeypatch, environ, 0, 2, "--workers", "1", "--no-alerting")
    assert result.exit_code == 1, result.output
    lines = error_lines(result)
    assert len(lines) == 2, lines
    assert lines[0].startswith("run failed: shop reference reference_profile: table ")
    assert "'no_such_table' does not exist" in lines[0]
    assert lines[1] == "not run: shop 2026-09-01 to 2026-09-03: its reference failed"
    assert "Traceback" not in result.output


def test_a_backfill_with_a_failed_day_exits_non_zero_naming_monitor_day_asset_and_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12, items 16 and 19: a failed day's run left the exit status 0, and a fault
    other than a missing table read as Dagster's "Error occurred while executing op"."""
    environ = make_home(tmp_path / "home", days=3)
    (tmp_path / "home" / "slices").write_text("a file where the slice folder should be")
    result = backfill(monkeypatch, environ, 0, 2, "--workers", "1")
    assert result.exit_code == 1, result.output
    failed = [line for line in error_lines(result) if line.startswith("run failed: ")]
    folder = tmp_path / "home" / "slices" / MONITOR
    assert failed == [
        f"run failed: shop {START + timedelta(days=d)} live_slice: {folder}: Not a directory"
        for d in range(3)
    ], result.stderr
    # The alert of the failed run says the same, not Dagster's wrapper.
    texts = alert_texts(environ["MONITORING_STORE_URL"])
    assert texts and all("Error occurred" not in t for t in texts), texts
    assert any(
        f"monitor 'shop', 2026-09-01, live_slice: {folder}: Not a directory" in t for t in texts
    ), texts


def alert_texts(store_url: str) -> list[str]:
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("select message from alerts where check_name = 'run_failure'"))
        texts = [str(r[0]) for r in rows]
    engine.dispose()
    return texts


# -- 17: window results do not depend on the number of workers --------------------------------


def stored_windows(store_url: str) -> dict[str, list[tuple[object, ...]]]:
    """The window assets' stored results and the incidents, in a comparable order."""
    queries = {
        "slo_budget": "select partition_key, name, dimensions, value from metrics "
        "where asset = 'slo_budget'",
        "window_drift": "select partition_key, column_name, statistic, score, p_value, rows, "
        "verdict from drift_results where partition_key like '%/%'",
        "incidents": "select fingerprint, first_partition, last_failing_partition, "
        "failing_partitions, status from incidents",
    }
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        out = {
            name: sorted(map(tuple, conn.execute(sa.text(q)).all())) for name, q in queries.items()
        }
    engine.dispose()
    return out


@pytest.mark.slow
def test_window_results_do_not_depend_on_the_number_of_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12, item 17: with 2 workers the 7-day SLO budget and window drift of a day
    computed while an earlier day still ran said "missing" or used 6 of 7 days."""
    results = {}
    for workers in ("1", "2"):
        # The first day is big: with two workers the days after it are done while it (and
        # the next day of its worker) still runs, and their windows must wait for both.
        environ = make_home(tmp_path / f"w{workers}", heavy={0: 250_000})
        result = backfill(monkeypatch, environ, 0, 5, "--workers", workers)
        assert result.exit_code == 0, result.output
        results[workers] = stored_windows(environ["MONITORING_STORE_URL"])
    one, two = results["1"], results["2"]
    assert len(one["window_drift"]) == 6 * 2 * 3  # 6 days, 7 and 28 days, x, c and score
    assert {row[0] for row in one["slo_budget"]} == {
        (START + timedelta(days=d)).isoformat() for d in range(6)
    }
    assert one["incidents"], "the bad day opens incidents"
    assert two == one


# -- 19: every fault is one line naming the monitor, the day, the object and the cause --------


@pytest.fixture
def locked_store_url(postgres_url: str, postgres_schema: str) -> str:
    """A result store on PostgreSQL whose statements give up waiting for a lock after 0.5 s."""
    return f"{postgres_url}?options=-csearch_path%3D{postgres_schema}%20-clock_timeout%3D500"


def hold_lock(url: str, table: str) -> tuple[sa.Engine, sa.Connection]:
    engine = sa.create_engine(url)
    conn = engine.connect()
    conn.execute(sa.text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
    return engine, conn


def test_a_locked_result_store_fails_the_asset_naming_the_table_and_the_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, locked_store_url: str
) -> None:
    """Issue 12, item 19: a locked result store gave alerts and backfill lines that said only
    Dagster's wrapper; and the CLI printed a raw traceback for it."""
    url = locked_store_url
    environ = make_home(tmp_path / "home", days=1) | {"MONITORING_STORE_URL": url}
    ok = monitoring(monkeypatch, environ, "incidents")  # creates the store's tables
    assert ok.exit_code == 0, ok.output
    engine, conn = hold_lock(url, "slice_quality")
    try:
        result = backfill(monkeypatch, environ, 0, 0, "--workers", "1", "--no-alerting")
    finally:
        conn.close()
        engine.dispose()
    assert result.exit_code == 1, result.output
    failed = [line for line in error_lines(result) if line.startswith("run failed: ")]
    assert failed == [
        "run failed: shop 2026-09-01 live_slice: result store transaction failed: "
        "canceling statement due to lock timeout (table slice_quality)"
    ], result.stderr

    engine, conn = hold_lock(url, "incidents")
    try:
        listing = monitoring(monkeypatch, environ, "incidents")
    finally:
        conn.close()
        engine.dispose()
    assert listing.exit_code == 1
    lines = error_lines(listing)
    # the store is current, so opening it reads no table: the listing's query meets the lock
    assert lines == [
        "error: result store transaction failed: canceling statement due to lock timeout "
        "(table incidents)"
    ], listing.output


def today() -> date:
    return datetime.now(UTC).date()


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (START, None),  # --end today: today is not complete yet
        (START - timedelta(days=2), START + timedelta(days=1)),  # --start before start_date
    ],
    ids=["end-today", "start-before-start-date"],
)
def test_a_backfill_outside_the_partitions_is_rejected_up_front_naming_the_valid_days(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: date, last: date | None
) -> None:
    """Issue 12, item 19: a backfill range outside the partitions printed a traceback after
    running the valid days, and left their summary waiting 30 minutes."""
    environ = make_home(tmp_path / "home", days=2)
    end = last or today()
    result = monitoring(monkeypatch, environ, "backfill", "--start", f"{first}", "--end", f"{end}")
    assert result.exit_code == 2, result.output
    yesterday = today() - timedelta(days=1)
    assert error_lines(result) == [
        f"days {first} to {end} are outside the days of shop ({START} to {yesterday}): a "
        "monitor's days run from its start_date to its end_date or the last complete UTC day"
    ]
    # Nothing ran, so no backfill's summary waits for anything.
    dagster_home = Path(environ["DAGSTER_HOME"])
    if (dagster_home / "dagster.yaml").exists():
        assert dg.DagsterInstance.from_config(str(dagster_home)).get_runs_count() == 0


@pytest.mark.parametrize(
    "command",
    [
        ["incidents"],
        ["backfill", "--start", "2026-09-01", "--end", "2026-09-01"],
        ["alerting", "run"],
    ],
    ids=["incidents", "backfill", "alerting"],
)
def test_an_unusable_monitoring_home_is_one_line_and_a_non_zero_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """Issue 12, item 19: an unwritable MONITORING_HOME printed a raw traceback."""
    environ = make_home(tmp_path / "home", days=1)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    environ |= {
        "MONITORING_HOME": str(blocker / "home"),
        "MONITORING_STORE_URL": "",
        "DAGSTER_HOME": str(blocker / "home" / "dagster"),
    }
    result = monitoring(monkeypatch, environ, *command)
    assert result.exit_code == 1, result.output
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("error: cannot "), result.output
    assert f"{blocker}/home" in lines[0] and lines[0].endswith(": Not a directory"), lines


def test_a_step_failing_under_dagsters_wrapper_reads_as_its_cause(tmp_path: Path) -> None:
    """Issue 12, item 19: an alert for a fault an asset did not turn into a Failure said only
    "Error occurred while executing op"."""
    folder = tmp_path / "out"

    @dg.asset
    def report() -> None:
        raise PermissionError(13, "Permission denied", str(folder))

    result = dg.materialize([report], raise_on_error=False)
    failures = [e for e in result.all_events if e.is_step_failure]
    assert [_failure_message(e) for e in failures] == [f"{folder}: Permission denied"]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_window_runs_start_only_once_their_day_and_every_earlier_day_are_done(
    data: st.DataObject,
) -> None:
    """Issue 12, item 17: whatever order runs end in (any number of workers, any failures),
    a day's window assets start only after that day's own assets and every earlier day."""
    days = [START + timedelta(days=i) for i in range(data.draw(st.integers(1, 8)))]
    monitors = ["a", "b", "c"][: data.draw(st.integers(1, 3))]
    windowed = data.draw(st.sets(st.sampled_from(monitors)))
    workers = data.draw(st.integers(1, 4))
    schedule = Schedule(monitors, days, windowed)
    own: dict[tuple[str, date], bool] = {}  # a day's own assets ran: did they succeed
    ended: set[tuple[str, date]] = set()  # days whose window assets ran, or never will
    running: list[Task] = []
    while True:
        while len(running) < workers and (task := schedule.next()) is not None:
            assert task.day is not None
            key = (task.monitor, task.day)
            if task.stage is not Stage.WINDOW:
                assert key not in own, f"{key}'s own assets ran twice"
            if task.monitor in windowed and task.stage is not Stage.OWN:
                earlier = [(task.monitor, d) for d in days if d < task.day]
                assert all(k in ended for k in earlier), (task, ended)
            if task.stage is Stage.WINDOW:
                assert own.get(key) is True, task
            running.append(task)
        if not running:
            break
        task = running.pop(data.draw(st.integers(0, len(running) - 1)))
        assert task.day is not None
        succeeded = data.draw(st.booleans())
        schedule.done(task, succeeded=succeeded)
        key = (task.monitor, task.day)
        if task.stage is Stage.OWN:
            own[key] = succeeded
            if not succeeded:
                ended.add(key)
        else:
            own.setdefault(key, succeeded)
            ended.add(key)
    assert ended == {(m, d) for m in monitors for d in days}
