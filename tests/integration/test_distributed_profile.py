"""The production profile on one machine as if it were several: Dagster's instance, the result
store and the warehouse on PostgreSQL (fresh databases, dropped afterwards), the artefacts on an
S3 server the test starts (moto's server mode), and the services each in its own working
directory with its own Dagster home, reaching the rest only through PostgreSQL, Redis and S3:
``dagster-webserver``, ``dagster-daemon`` (the run queue, the backfills, the alerting sensor;
the runs it launches execute on its machine) and two ``dagster-celery`` workers, which execute
every step.

As a user of the UI would, the test launches the monitors' references and a 7-day backfill of
each daily job through the webserver's GraphQL API (what the UI's buttons call), and kills the
process of a Celery worker (SIGKILL) in the middle of a step. The daemon's alerting sensor then
records the checks, opens the incidents and stores the messages: the same as the embedded
default (SQLite, local files, ``monitoring backfill`` in process) gives for those days, with
the killed step run again and nothing lost or stored twice. Every link the messages carry
opens on the webserver.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.definitions.assets.job.asset_job import IMPLICIT_ASSET_JOB_NAME

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
from monitoring_pipelines.definitions import build_fleet, load_fleet
from monitoring_pipelines.demo import generate_demo
from monitoring_pipelines.jobs import reference_key
from monitoring_pipelines.sensors.alerting_pass import run_alerting
from tests.fakes.celery_workers import (
    Worker,
    base_environ,
    dagster_home,
    distributed_environ,
    fresh_databases,
    migrate_instance,
    start_daemon,
    start_webserver,
    start_worker,
    wait_answering,
    wait_ready,
)
from tests.fakes.s3_server import S3Server, free_port, s3_server

# A run that hangs (a lost step never reported) fails the test rather than CI's whole budget.
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(1500)]

ROOT = Path(__file__).parents[2]
REDIS_URL = os.environ.get("MONITORING_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")
REQUIRE_REDIS = os.environ.get("MONITORING_REQUIRE_REDIS") == "1"
BUCKET = "monitoring-distributed"
MONITORS = ["sentiment", "recommender"]
DAYS = days_between(date(2026, 9, 13), date(2026, 9, 19))  # around the sentiment error burst
WORKERS = ("worker-a", "worker-b")
UNFINISHED = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"]


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
    """What the stores and S3 hold after the days: check results, incidents, messages, the
    rows of each day's slice."""

    checks: list[tuple[Any, ...]]
    incidents: list[tuple[Any, ...]]
    messages: list[tuple[Any, ...]]
    slices: dict[str, int]


def use_environ(environ: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's variables of the product, Dagster and S3 become ``environ``'s."""
    for key in list(os.environ):
        if key.startswith(("MONITORING_", "DAGSTER_", "AWS_")) and key not in environ:
            monkeypatch.delenv(key)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)


def backfill(
    environ: Mapping[str, str],
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
    backfill_id: str,
) -> BackfillReport:
    """Backfill DAYS of MONITORS as ``monitoring backfill`` does (runs launched in warm
    processes that read os.environ). The backfill's id is given: its summary message names it."""
    use_environ(environ, monkeypatch)
    settings = Settings.from_env(environ)
    config = load_config(settings.config_path, environ)
    references = AlertRepository.connect(settings.store_url)
    try:
        return run_backfill(
            lambda: (build_fleet(config, settings, environ), instance),
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


def alert(environ: Mapping[str, str], instance: dg.DagsterInstance) -> None:
    """The alerting pass over the runs not yet seen, as ``monitoring backfill`` runs it."""
    settings = Settings.from_env(environ)
    config = load_config(settings.config_path, environ)
    store = AlertRepository.connect(settings.store_url)
    try:
        alerts = {name: m.alerts for name, m in config.monitors.items()}
        run_alerting(instance, store, alerts, settings.dagster_url, None)
    finally:
        store.dispose()


def read(environ: Mapping[str, str]) -> Outcome:
    """What the stores and S3 (or the local files) hold."""
    settings = Settings.from_env(environ)
    store = AlertRepository.connect(settings.store_url)
    try:
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
    return Outcome(checks, incidents, messages, rows)


KILLED_STEP = "sentiment__daily"  # the day's assets, Great Expectations the longest of them
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


class WebServer:
    """The webserver as the UI uses it: GraphQL queries and mutations, pages by URL."""

    def __init__(self, url: str) -> None:
        self.url = url

    def graphql(self, query: str, **variables: object) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=json.dumps({"query": query, "variables": variables}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as reply:
            answer = json.loads(reply.read())
        assert not answer.get("errors"), answer["errors"]
        return dict(answer["data"])

    def repository(self) -> dict[str, str]:
        data = self.graphql(
            "{ repositoriesOrError { ... on RepositoryConnection "
            "{ nodes { name location { name } } } } }"
        )
        (node,) = data["repositoriesOrError"]["nodes"]
        return {"repositoryName": node["name"], "repositoryLocationName": node["location"]["name"]}

    def launch_run(self, job: str, assets: list[list[str]] | None = None) -> str:
        """The job's run (of ``assets`` only: paths), as the UI's Materialize button submits
        it (to the run queue)."""
        selector: dict[str, object] = {**self.repository(), "jobName": job}
        if assets is not None:
            selector["assetSelection"] = [{"path": path} for path in assets]
        data = self.graphql(
            """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
                __typename ... on LaunchRunSuccess { run { runId } }
                ... on PythonError { message } ... on RunConfigValidationInvalid { errors
                { message } } } }""",
            params={"selector": selector, "runConfigData": {}},
        )
        result = data["launchRun"]
        assert result["__typename"] == "LaunchRunSuccess", result
        return str(result["run"]["runId"])

    def launch_backfill(self, assets: list[list[str]], days: list[str]) -> str:
        """A backfill of the assets' (paths) partitions, as the UI's launch dialog submits it."""
        data = self.graphql(
            """mutation($params: LaunchBackfillParams!) {
                launchPartitionBackfill(backfillParams: $params) {
                __typename ... on LaunchBackfillSuccess { backfillId }
                ... on PythonError { message } ... on PartitionSetNotFoundError { message }
                ... on PartitionKeysNotFoundError { message } } }""",
            params={
                "assetSelection": [{"path": path} for path in assets],
                "partitionNames": days,
            },
        )
        result = data["launchPartitionBackfill"]
        assert result["__typename"] == "LaunchBackfillSuccess", result
        return str(result["backfillId"])

    def backfill_status(self, backfill_id: str) -> str:
        data = self.graphql(
            "query($id: String!) { partitionBackfillOrError(backfillId: $id) "
            "{ ... on PartitionBackfill { status } } }",
            id=backfill_id,
        )
        return str(data["partitionBackfillOrError"]["status"])

    def runs(self, statuses: list[str] | None = None) -> list[dict[str, Any]]:
        data = self.graphql(
            "query($f: RunsFilter) { runsOrError(filter: $f) { ... on Runs "
            "{ results { runId status jobName assetSelection { path } tags { key value } } } } }",
            f={"statuses": statuses} if statuses else {},
        )
        return list(data["runsOrError"]["results"])

    def open(self, link: str) -> None:
        """What following ``link`` shows, checked: the page answers, and the run or asset it
        names exists (the UI's pages are one application that answers any path)."""
        with urllib.request.urlopen(link, timeout=30) as reply:
            assert reply.status == 200, link
        path = link.removeprefix(self.url).split("?")[0]
        if path.startswith("/runs/"):
            data = self.graphql(
                "query($id: ID!) { runOrError(runId: $id) { __typename } }",
                id=unquote(path.removeprefix("/runs/")),
            )
            assert data["runOrError"]["__typename"] == "Run", link
        elif path.startswith("/assets/"):
            key = [unquote(part) for part in path.removeprefix("/assets/").split("/")]
            data = self.graphql(
                "query($key: AssetKeyInput!) { assetOrError(assetKey: $key) { __typename } }",
                key={"path": key},
            )
            assert data["assetOrError"]["__typename"] == "Asset", link


def links(environ: Mapping[str, str], base: str) -> set[str]:
    """Every link to ``base`` the stored messages carry."""
    store = AlertRepository.connect(Settings.from_env(environ).store_url)
    try:
        text = json.dumps([a.message for a in store.alerts()])
    finally:
        store.dispose()
    return set(re.findall(re.escape(base) + r"""[^\s"<>|\\]*""", text))


def wait_until(
    what: str,
    ready: Any,
    services: list[Worker],
    timeout_s: float = 900,
    state: Any = lambda: "",
) -> None:
    """Wait for ``ready()``; a service that stops or the timeout fails the test with the
    ``state()`` reached and the services' last log lines."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        dead = [s.name for s in services if s.process.poll() is not None]
        if dead or time.monotonic() > deadline:
            tails = "\n".join(
                f"--- {s.name}\n{s.log.read_text(errors='replace')[-3000:]}" for s in services
            )
            why = f"stopped: {', '.join(dead)}" if dead else "timed out"
            pytest.fail(f"{what}: {why} at {state()}\n{tails}")
        time.sleep(2)


def checks_recorded(environ: Mapping[str, str]) -> int:
    """The check results recorded, besides the reports' (``run_failure`` of ``daily_report``:
    the sensor requests reports, ``monitoring backfill`` leaves them to its caller)."""
    store = AlertRepository.connect(Settings.from_env(environ).store_url)
    try:
        with store.transaction() as conn:
            return int(
                conn.execute(
                    sa.text(
                        "select count(*) from check_results "
                        "where not (check_name = 'run_failure' and subject = 'daily_report')"
                    )
                ).scalar_one()
            )
    finally:
        store.dispose()


def days_unreported(environ: Mapping[str, str]) -> set[tuple[str, str]]:
    """The days an incident failed on (its first and last) without a written report."""
    store = AlertRepository.connect(Settings.from_env(environ).store_url)
    try:
        days = {
            (i.monitor, day)
            for i in store.incidents()
            for day in (i.first_partition, i.last_failing_partition)
        }
        with store.transaction() as conn:
            reported = conn.execute(
                sa.text(
                    "select monitor, partition_key from check_results "
                    "where check_name = 'run_failure' and subject = 'daily_report' and passed"
                )
            )
            return days - {(r.monitor, r.partition_key) for r in reported}
    finally:
        store.dispose()


def is_report(check: tuple[Any, ...]) -> bool:
    return check[1] == "run_failure" and check[2] == "daily_report"


def summaries(environ: Mapping[str, str]) -> tuple[int, int]:
    """The backfills' summary messages stored, and those still held (their backfill running)."""
    store = AlertRepository.connect(Settings.from_env(environ).store_url)
    try:
        kept = [a for a in store.alerts() if a.kind.value == "summary"]
    finally:
        store.dispose()
    return len(kept), sum(a.status.value == "held" for a in kept)


def monitor_file(tmp_path: Path) -> Path:
    """The demo's monitors, whose days end with the backfill's last day: a backfill launched
    from the UI is Dagster's asset backfill, which also targets every later day of an asset
    that reads a window of earlier days (their windows hold the days backfilled)."""
    path = tmp_path / "monitors.yaml"
    text = (ROOT / "demo" / "monitors.yaml").read_text()
    path.write_text(text.replace("end_date: 2026-10-30", f"end_date: {DAYS[-1]}"))
    return path


def test_a_ui_backfill_on_the_production_services_equals_the_embedded_default_with_a_worker_killed(
    tmp_path: Path,
    databases: dict[str, str],
    redis_db: str,
    s3: S3Server,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The embedded default: SQLite everywhere, files under MONITORING_HOME, steps in process.
    embedded_home = tmp_path / "embedded"
    embedded = {
        **base_environ(),
        "PYTHONPATH": str(ROOT),
        "MONITORING_HOME": str(embedded_home / "home"),
        "MONITORING_CONFIG": str(monitor_file(tmp_path)),
        "WHYLOGS_NO_ANALYTICS": "True",
    }
    generate_demo(
        f"sqlite:///{embedded_home / 'home' / 'warehouse.db'}", tmp_path, days=20, scale=0.2
    )
    home = dagster_home(embedded_home, ROOT / "deploy" / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        environ = {**embedded, "DAGSTER_HOME": str(home)}
        report = backfill(environ, instance, monkeypatch, new_backfill_id())
        alert(environ, instance)
    expected = read(environ)
    assert report.failed == []
    assert expected.incidents, "the demo's days hold an incident to compare"

    # The production profile: each service with only its own folder; the warehouse filled by
    # the demo as a user's application would fill it.
    web = WebServer(f"http://127.0.0.1:{free_port(range(5600, 5700))}")
    machines = {
        name: {
            **distributed_environ(tmp_path / name, databases, s3, redis_db, BUCKET),
            "MONITORING_CONFIG": embedded["MONITORING_CONFIG"],
        }
        for name in (*WORKERS, "daemon", "webserver", "observer")
    }
    for environ in machines.values():
        environ["MONITORING_DAGSTER_URL"] = web.url
    observer = machines["observer"]  # this process, reading what the services did
    dagster_home(tmp_path / "observer", ROOT / "deploy" / "dagster.production.yaml")
    generate_demo(observer["MONITORING_WAREHOUSE_URL"], tmp_path, days=20, scale=0.2)
    migrate_instance(tmp_path / "observer", observer)  # once, as the README's first start says
    services = [start_worker(name, tmp_path / name, machines[name]) for name in WORKERS]
    try:
        services.append(start_daemon(tmp_path / "daemon", machines["daemon"]))
        services.append(
            start_webserver(tmp_path / "webserver", machines["webserver"], int(web.url[-4:]))
        )
        wait_ready(services[:2])
        wait_answering(services[-1], f"{web.url}/server_info")
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()  # the endpoint is this test's
        use_environ(observer, monkeypatch)

        killer = StepKiller(services[:2], KILLED_STEP)
        killer.start()
        for monitor in MONITORS:
            web.launch_run(IMPLICIT_ASSET_JOB_NAME, [reference_key(monitor).path])
        days = [d.isoformat() for d in DAYS]
        # each monitor's daily assets, as the UI's asset group page launches their backfill
        fleet = load_fleet(observer)
        backfills = [
            web.launch_backfill([list(k.path) for k in fleet.daily(m).keys], days) for m in MONITORS
        ]
        wait_until(
            "the backfills",
            lambda: all(web.backfill_status(b) in {"COMPLETED", "COMPLETED_SUCCESS"}
                        for b in backfills)
            and not web.runs(UNFINISHED),
            services,
        )  # fmt: skip
        # The daemon's alerting sensor (every 30 s) records the checks, and sends the summary of
        # each backfill that found something once the backfill is over; the report runs it
        # requests for the incidents' days follow.
        wait_until(
            "the alerting sensor",
            lambda: (
                summaries(observer)[0] >= 1
                and summaries(observer)[1] == 0
                and checks_recorded(observer) == len(expected.checks)
                and not days_unreported(observer)
                and not web.runs(UNFINISHED)
            ),
            services,
            timeout_s=300,
            state=lambda: (
                f"summaries {summaries(observer)}, checks {checks_recorded(observer)} of "
                f"{len(expected.checks)}, days without a report {days_unreported(observer)}, "
                f"unfinished runs {len(web.runs(UNFINISHED))}"
            ),
        )
        killer.join(timeout=10)
        distributed = read(observer)
        runs = web.runs()
        with dg.DagsterInstance.from_config(observer["DAGSTER_HOME"]) as instance:
            used = celery_workers_used(instance)
            killed_step_events = (
                [
                    e.dagster_event.event_type_value
                    for e in instance.all_logs(killer.run_id)
                    if e.dagster_event is not None and e.dagster_event.step_key == KILLED_STEP
                ]
                if killer.run_id
                else []
            )
        opened = links(observer, web.url)
        for link in sorted(opened):
            web.open(link)
    finally:
        for service in services:
            service.stop()
    logs = "\n".join(f"--- {s.name}\n{s.log.read_text(errors='replace')[-3000:]}" for s in services)

    # Every run succeeded: the references, 7 days of two monitors, the reports the sensor
    # requested for the incidents' days.
    assert {r["status"] for r in runs} == {"SUCCESS"}, logs
    assert {r["jobName"] for r in runs} == {IMPLICIT_ASSET_JOB_NAME}
    for monitor in MONITORS:  # every day of its daily assets ran (its days by their windows)
        days = {
            tags["dagster/partition"]
            for r in runs
            if (tags := {t["key"]: t["value"] for t in r["tags"]}).get("dagster/partition")
            and {a["path"][0] for a in r["assetSelection"] or []} == {monitor}
            and "daily_report" not in {a["path"][-1] for a in r["assetSelection"]}
        }
        assert days == {d.isoformat() for d in DAYS}
    references = [r["assetSelection"] for r in runs if r["jobName"] == IMPLICIT_ASSET_JOB_NAME]
    for monitor in MONITORS:  # one run of its reference asset (Dagster's asset job)
        assert references.count([{"path": list(reference_key(monitor).path)}]) == 1
    # The same results as the embedded default: nothing lost, nothing twice. The messages are
    # the same but for the summaries: one per backfill that found something (the UI makes one
    # backfill per monitor, the command one for all).
    assert [c for c in distributed.checks if not is_report(c)] == expected.checks
    reports = [c for c in distributed.checks if is_report(c)]
    assert reports and all(c[4] for c in reports)  # every report requested was written
    assert distributed.incidents == expected.incidents
    assert distributed.slices == expected.slices
    assert [m for m in distributed.messages if m[0] != "summary"] == [
        m for m in expected.messages if m[0] != "summary"
    ]
    assert sum(m[0] == "summary" for m in expected.messages) == 1
    assert 1 <= sum(m[0] == "summary" for m in distributed.messages) <= len(MONITORS)

    # The kill: one step of one run, in the middle of its execution, on a worker of ours; the
    # step started twice and succeeded once, and its run succeeded.
    assert killer.killed is not None, "the step to kill never started"
    assert killed_step_events.count("STEP_START") == 2, killed_step_events
    assert killed_step_events.count("STEP_SUCCESS") == 1, killed_step_events

    # Every step ran on a worker, and both took some.
    assert set(used) == set(WORKERS), used
    # Nothing of the product was written to a machine's disk: slices, reports and the rest are
    # in S3; the reports of the incidents' days included.
    for service in services:
        assert not (service.folder / "home" / "slices").exists()
        assert not (service.folder / "home" / "reports").exists()
    artifacts = artifact_path(observer["MONITORING_ARTIFACTS_URL"])
    assert sorted(p.name for p in (artifacts / "slices" / "sentiment").iterdir()) == [
        f"{d}.parquet" for d in DAYS
    ]
    failed_on = {(i[0], day) for i in distributed.incidents for day in (i[5], i[6])}
    assert failed_on <= {(c[0], c[3]) for c in reports}
    for monitor, _, _, day, *_ in reports:
        assert (artifacts / "reports" / monitor / f"{day}.html").exists(), (monitor, day)
    # The messages link to the webserver's runs and assets, and each link opened.
    assert any("/runs/" in link for link in opened), opened
