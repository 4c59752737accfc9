"""The production profile on one machine as if it were several: Dagster's instance, the result
store and the warehouse on PostgreSQL (fresh databases, dropped afterwards), the artefacts on an
S3 server the test starts (moto's server mode), and the monitors' steps executed by two
``dagster-celery`` workers, each in its own working directory with its own Dagster home, that
reach the rest only through PostgreSQL, Redis and S3. A backfill of demo days gives the same
check results, incidents and messages as the embedded default (SQLite, local files, steps in
process). Then the days run again with a worker's process killed in the middle of a step: the
step's task returns to the queue and runs again, and nothing is lost or stored twice.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from monitoring_pipelines.backfill import (
    BackfillReport,
    days_between,
    new_backfill_id,
    run_backfill,
)
from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.artifacts import artifact_path
from monitoring_pipelines.core.config_loading import load_config
from monitoring_pipelines.core.ingest.cleaning import ROW_KEY
from monitoring_pipelines.core.ingest.slice_store import SliceStore
from monitoring_pipelines.core.settings import Settings
from monitoring_pipelines.core.store.results import ResultRepository
from monitoring_pipelines.definitions import build_definitions
from monitoring_pipelines.demo import generate_demo
from monitoring_pipelines.sensors.alerting_pass import run_alerting
from tests.fakes.celery_workers import (
    Worker,
    base_environ,
    dagster_home,
    distributed_environ,
    fresh_databases,
    start_worker,
    wait_ready,
)
from tests.fakes.s3_server import S3Server, s3_server

# A run that hangs (a lost step never reported) fails the test rather than CI's whole budget.
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(1200)]

ROOT = Path(__file__).parents[2]
REDIS_URL = os.environ.get("MONITORING_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")
REQUIRE_REDIS = os.environ.get("MONITORING_REQUIRE_REDIS") == "1"
BUCKET = "monitoring-distributed"
MONITORS = ["sentiment", "recommender"]
DAYS = days_between(date(2026, 9, 15), date(2026, 9, 18))  # around the sentiment error burst
WORKERS = ("worker-a", "worker-b")


@pytest.fixture
def redis_db() -> Iterator[str]:
    """The test's Redis database (db 7 by default), emptied before and after."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        if REQUIRE_REDIS:
            pytest.fail(f"Redis is required (MONITORING_REQUIRE_REDIS=1) at {REDIS_URL}: {exc}")
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def databases(postgres_url: str) -> Iterator[dict[str, str]]:
    """Three fresh databases: Dagster's instance, the result store and the warehouse."""
    with fresh_databases(postgres_url, f"distributed_test_{os.getpid()}") as urls:
        yield urls


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[S3Server]:
    with s3_server(log=tmp_path / "moto.log") as server:
        server.create_bucket(BUCKET)
        yield server


@dataclass(frozen=True)
class Outcome:
    report: BackfillReport
    checks: list[tuple[Any, ...]]
    incidents: list[tuple[Any, ...]]
    messages: list[tuple[Any, ...]]
    slices: dict[str, int]


def backfill(
    environ: Mapping[str, str],
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
    backfill_id: str,
) -> BackfillReport:
    """Backfill DAYS of MONITORS as ``monitoring backfill`` does (runs launched in warm
    processes that read os.environ). The backfill's id is given: its summary message names it."""
    for key in list(os.environ):
        if key.startswith(("MONITORING_", "DAGSTER_", "AWS_")) and key not in environ:
            monkeypatch.delenv(key)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    settings = Settings.from_env(environ)
    config = load_config(settings.config_path, environ)
    references = AlertRepository.connect(settings.store_url)
    try:
        return run_backfill(
            lambda: (build_definitions(config, settings, environ), instance),
            MONITORS,
            DAYS,
            workers=2,
            backfill_id=backfill_id,
            has_reference=lambda m: (
                ResultRepository(references.database).reference_hash(m) is not None
            ),
        )
    finally:
        references.dispose()


def alert_and_read(
    environ: Mapping[str, str], instance: dg.DagsterInstance, report: BackfillReport
) -> Outcome:
    """The alerting pass over the runs not yet seen; what the stores and S3 hold after."""
    settings = Settings.from_env(environ)
    config = load_config(settings.config_path, environ)
    store = AlertRepository.connect(settings.store_url)
    try:
        alerts = {name: m.alerts for name, m in config.monitors.items()}
        run_alerting(instance, store, alerts, settings.dagster_url, None)
        with store.transaction() as conn:
            checks = [
                (
                    r.monitor,
                    r.check_name,
                    r.subject,
                    r.partition_key,
                    r.passed,
                    r.severity,
                    None if r.value is None else round(r.value, 9),
                )
                for r in conn.execute(
                    sa.text(
                        "select * from check_results "
                        "order by monitor, check_name, subject, partition_key"
                    )
                )
            ]
        incidents = sorted(
            (
                i.monitor,
                i.check,
                i.subject,
                i.status.value,
                i.severity.value,
                i.first_partition,
                i.last_failing_partition,
                i.failing_partitions,
                i.title,
            )
            for i in store.incidents()
        )
        messages = sorted(
            (a.kind.value, a.monitor, a.check, a.subject, a.partition, a.severity.value, a.title)
            for a in store.alerts()
        )
    finally:
        store.dispose()
    slices = SliceStore(artifact_path(settings.artifacts) / "slices")
    rows = {f"{m}/{d}": len(slices.frame(m, d, [ROW_KEY])) for m in MONITORS for d in DAYS}
    return Outcome(report, checks, incidents, messages, rows)


KILLED_STEP = "sentiment__data_quality"  # Great Expectations: the longest step of a day
_STEP_START = re.compile(
    r" - (?P<run>[0-9a-f-]{36}) - (?P<pid>\d+) - (?P<step>\w+) - STEP_START - "
)


def descendants(pid: int) -> set[int]:
    """The processes under ``pid``, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


class StepKiller(threading.Thread):
    """Kills (SIGKILL) the worker process that starts ``step`` next, as the OOM killer or a
    lost machine would, once; from the line the step's start writes to the worker's log."""

    def __init__(self, workers: list[Worker], step: str, timeout_s: float = 600) -> None:
        super().__init__(daemon=True)
        self.workers, self.step, self.timeout_s = workers, step, timeout_s
        self.offsets = {w.name: w.log.stat().st_size for w in workers}
        self.killed: tuple[str, int] | None = None
        self.run_id: str | None = None

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            for worker in self.workers:
                with worker.log.open("rb") as log:
                    log.seek(self.offsets[worker.name])
                    text = log.read().decode(errors="replace")
                for match in _STEP_START.finditer(text):
                    pid = int(match["pid"])
                    if match["step"] != self.step or pid not in descendants(worker.process.pid):
                        continue
                    os.kill(pid, signal.SIGKILL)
                    self.killed, self.run_id = (worker.name, pid), match["run"]
                    return
            time.sleep(0.02)


def celery_workers_used(instance: dg.DagsterInstance) -> dict[str, int]:
    """Steps per Celery worker, from the engine events the workers wrote to the instance."""
    used: dict[str, int] = {}
    for run in instance.get_runs():
        for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
            event = entry.dagster_event
            data = event.engine_event_data if event is not None else None
            worker = data.metadata.get("Celery worker") if data is not None else None
            if worker is not None:
                host = str(worker.value).split("@")[0]
                used[host] = used.get(host, 0) + 1
    return used


def test_a_backfill_on_celery_workers_equals_the_embedded_default_even_with_a_worker_killed(
    tmp_path: Path,
    databases: dict[str, str],
    redis_db: str,
    s3: S3Server,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backfill_id = new_backfill_id()
    # The embedded default: SQLite everywhere, files under MONITORING_HOME, steps in process.
    embedded_home = tmp_path / "embedded"
    embedded = {
        **base_environ(),
        "PYTHONPATH": str(ROOT),
        "MONITORING_HOME": str(embedded_home / "home"),
        "MONITORING_CONFIG": str(ROOT / "demo" / "monitors.yaml"),
        "WHYLOGS_NO_ANALYTICS": "True",
    }
    generate_demo(
        f"sqlite:///{embedded_home / 'home' / 'warehouse.db'}", tmp_path, days=20, scale=0.2
    )
    home = dagster_home(embedded_home, ROOT / "deploy" / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        environ = {**embedded, "DAGSTER_HOME": str(home)}
        report = backfill(environ, instance, monkeypatch, backfill_id)
        expected = alert_and_read(environ, instance, report)
    assert expected.report.failed == []
    assert expected.incidents, "the demo's days hold an incident to compare"

    # The production profile: the orchestrator (this process and its run processes) and two
    # Celery workers, each with only its own folder.
    workers = [
        start_worker(
            name,
            tmp_path / name,
            distributed_environ(tmp_path / name, databases, s3, redis_db, BUCKET),
        )
        for name in WORKERS
    ]
    try:
        wait_ready(workers)
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()  # the endpoint is this test's
        orchestrator = tmp_path / "orchestrator"
        environ = distributed_environ(orchestrator, databases, s3, redis_db, BUCKET)
        generate_demo(environ["MONITORING_WAREHOUSE_URL"], tmp_path, days=20, scale=0.2)
        dagster_home(orchestrator, ROOT / "deploy" / "dagster.production.yaml")
        for key in ("DAGSTER_PG_URL", "DAGSTER_LOCAL_ARTIFACTS_DIR", "DAGSTER_COMPUTE_LOGS_DIR"):
            monkeypatch.setenv(key, environ[key])
        with dg.DagsterInstance.from_config(environ["DAGSTER_HOME"]) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            report = backfill(environ, instance, monkeypatch, backfill_id)
            distributed = alert_and_read(environ, instance, report)
            used = celery_workers_used(instance)

            # The days again (every step replaces its partition), with the process of a worker
            # killed in the middle of a step: the step's task returns to the queue and runs
            # again, and nothing is lost or stored twice.
            killer = StepKiller(workers, KILLED_STEP)
            killer.start()
            again = backfill(environ, instance, monkeypatch, new_backfill_id())
            killer.join(timeout=10)
            after_kill = alert_and_read(environ, instance, again)
            killed_run = instance.get_run_by_id(killer.run_id) if killer.run_id else None
            killed_step_events = (
                [
                    e.dagster_event.event_type_value
                    for e in instance.all_logs(killer.run_id)
                    if e.dagster_event is not None and e.dagster_event.step_key == KILLED_STEP
                ]
                if killer.run_id
                else []
            )
    finally:
        for worker in workers:
            worker.stop()
    logs = "\n".join(w.log.read_text(errors="replace")[-3000:] for w in workers)
    assert distributed.report.failed == [], logs

    assert distributed.checks == expected.checks
    assert distributed.incidents == expected.incidents
    assert distributed.messages == expected.messages
    assert distributed.slices == expected.slices

    # Every step ran on a worker, and both took some.
    assert set(used) == set(WORKERS), used
    # Nothing of the product was written to a machine's disk: slices and the rest are in S3.
    for folder in (orchestrator, *(w.folder for w in workers)):
        assert not (folder / "home" / "slices").exists()
    keys = [
        p.name
        for p in (
            artifact_path(environ["MONITORING_ARTIFACTS_URL"]) / "slices" / "sentiment"
        ).iterdir()
    ]
    assert sorted(keys) == [f"{d}.parquet" for d in DAYS]

    # The kill: one step of one run, in the middle of its execution, on a worker of ours; the
    # step started twice and succeeded once, and its run succeeded.
    assert killer.killed is not None, "the step to kill never started"
    assert killed_run is not None and killed_run.status == dg.DagsterRunStatus.SUCCESS
    assert killed_step_events.count("STEP_START") == 2, killed_step_events
    assert killed_step_events.count("STEP_SUCCESS") == 1, killed_step_events
    assert again.failed == [], logs
    # Nothing lost, nothing twice: the same results as the embedded default, and the same
    # messages besides one summary per backfill.
    assert after_kill.checks == expected.checks
    assert after_kill.incidents == expected.incidents
    assert after_kill.slices == expected.slices
    assert [m for m in after_kill.messages if m[0] != "summary"] == [
        m for m in expected.messages if m[0] != "summary"
    ]
    summaries = [m for m in after_kill.messages if m[0] == "summary"]
    assert len({m[-1] for m in summaries}) == len(summaries)  # no summary sent twice
