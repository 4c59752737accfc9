"""Scale-out: the demo's backfill on the embedded default, then on the production profile with
one and with two Celery workers, in one invocation; times as ratios to the embedded default and
the per-step overhead of each executor.

Not a test: it measures and prints a table. The production profile runs as in
tests/integration/test_distributed_profile.py: fresh PostgreSQL databases (instance, result
store, warehouse) on MONITORING_TEST_POSTGRES_URL's server, Redis db 7 (emptied) as the broker,
moto's S3 server for the artefacts, each worker in its own folder. Every backfill runs two runs
at a time (the warm run launcher's two processes, as ``monitoring backfill``); only the place
where the steps execute changes.

Per-step overhead: a run's wall time less the time its steps spent executing (STEP_START to
STEP_SUCCESS in the event log), over its steps: what handing a step out and collecting it back
costs (a Celery task's queueing and the worker's loading of the job, against a function call).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402

from monitoring_pipelines.backfill import days_between, run_backfill  # noqa: E402
from monitoring_pipelines.core.config_loading import load_config  # noqa: E402
from monitoring_pipelines.core.settings import Settings  # noqa: E402
from monitoring_pipelines.core.store.database import Database  # noqa: E402
from monitoring_pipelines.core.store.results import ResultRepository  # noqa: E402
from monitoring_pipelines.definitions import build_fleet  # noqa: E402
from monitoring_pipelines.demo import generate_demo  # noqa: E402
from monitoring_pipelines.demo.generate import DEFAULT_START  # noqa: E402
from tests.fakes.celery_workers import (  # noqa: E402
    base_environ,
    dagster_home,
    distributed_environ,
    fresh_databases,
    migrate_instance,
    start_worker,
    wait_ready,
)
from tests.fakes.s3_server import s3_server  # noqa: E402

POSTGRES_URL = os.environ.get(
    "MONITORING_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("MONITORING_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")
BUCKET = "monitoring-bench-scale"


@dataclass(frozen=True)
class Measured:
    profile: str
    workers: int
    runs: int
    failed: int
    steps: int
    seconds: float
    step_seconds: float  # summed execution of the steps
    run_seconds: float  # summed wall time of the runs

    @property
    def overhead_ms(self) -> float:
        return 1000 * (self.run_seconds - self.step_seconds) / max(self.steps, 1)


def step_times(instance: dg.DagsterInstance) -> tuple[int, float, float]:
    """Steps that succeeded, their summed execution seconds, and the runs' summed wall time."""
    steps, step_s, run_s = 0, 0.0, 0.0
    for record in instance.get_run_records():
        if record.start_time is not None and record.end_time is not None:
            run_s += record.end_time - record.start_time
        started: dict[str, float] = {}
        for entry in instance.all_logs(record.dagster_run.run_id):
            event = entry.dagster_event
            if event is None or event.step_key is None:
                continue
            if event.event_type_value == "STEP_START":
                started[event.step_key] = entry.timestamp
            elif event.event_type_value == "STEP_SUCCESS" and event.step_key in started:
                steps += 1
                step_s += entry.timestamp - started.pop(event.step_key)
    return steps, step_s, run_s


def use_environ(environ: Mapping[str, str]) -> None:
    """This process's environment for one profile (run processes read os.environ)."""
    for key in list(os.environ):
        if (
            key.startswith(("MONITORING_", "DAGSTER_", "AWS_"))
            and key != "MONITORING_TEST_POSTGRES_URL"
        ):
            del os.environ[key]
    os.environ.update(environ)


def backfill(profile: str, workers: int, environ: Mapping[str, str], days: int) -> Measured:
    use_environ(environ)
    settings = Settings.from_env(environ)
    config = load_config(settings.config_path, environ)
    results = ResultRepository(Database.connect(settings.store_url))
    with dg.DagsterInstance.from_config(environ["DAGSTER_HOME"]) as instance:
        report = run_backfill(
            lambda: (build_fleet(config, settings, environ), instance),
            list(config.monitors),
            days_between(DEFAULT_START, DEFAULT_START + timedelta(days=days - 1)),
            workers=2,
            has_reference=lambda m: results.reference_hash(m) is not None,
        )
        steps, step_s, run_s = step_times(instance)
    return Measured(
        profile, workers, report.runs, len(report.failed), steps, report.seconds, step_s, run_s
    )


@contextmanager
def redis_db() -> Iterator[str]:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    try:
        yield REDIS_URL
    finally:
        client.flushdb()
        client.close()


def embedded(root: Path, days: int, scale: float) -> Measured:
    folder = root / "embedded"
    home = dagster_home(folder, ROOT / "deploy" / "dagster.yaml")
    environ = {
        **base_environ(),
        "PYTHONPATH": str(ROOT),
        "WHYLOGS_NO_ANALYTICS": "True",
        "DAGSTER_HOME": str(home),
        "MONITORING_HOME": str(folder / "home"),
        "MONITORING_CONFIG": str(ROOT / "demo" / "monitors.yaml"),
    }
    generate_demo(f"sqlite:///{folder / 'home' / 'warehouse.db'}", folder, days=days, scale=scale)
    return backfill("embedded (in process, SQLite, local files)", 0, environ, days)


def celery(root: Path, workers: int, days: int, scale: float) -> Measured:
    folder = root / f"celery{workers}"
    with ExitStack() as stack:
        dbs = stack.enter_context(fresh_databases(POSTGRES_URL, f"bench_scale_{os.getpid()}"))
        broker = stack.enter_context(redis_db())
        s3 = stack.enter_context(s3_server(log=root / f"moto{workers}.log"))
        s3.create_bucket(BUCKET)
        migrate_instance(
            folder / "migrate", distributed_environ(folder / "migrate", dbs, s3, broker, BUCKET)
        )
        started = []
        for i in range(workers):
            name = f"worker-{i + 1}"
            worker = start_worker(
                name, folder / name, distributed_environ(folder / name, dbs, s3, broker, BUCKET)
            )
            stack.callback(worker.stop)
            started.append(worker)
        wait_ready(started)
        orchestrator = folder / "orchestrator"
        environ = distributed_environ(orchestrator, dbs, s3, broker, BUCKET)
        dagster_home(orchestrator, ROOT / "deploy" / "dagster.production.yaml")
        generate_demo(dbs["wh"], folder, days=days, scale=scale)
        return backfill("production (Celery, PostgreSQL, S3)", workers, environ, days)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=60, help="days backfilled (at least 20)")
    parser.add_argument("--scale", type=float, default=1.0, help="the demo's volume")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        root = Path(tmp)
        rows = [embedded(root, args.days, args.scale)]
        rows += [celery(root, n, args.days, args.scale) for n in args.workers]
    base = rows[0]
    print(f"\n{args.days} days of the demo (scale {args.scale}), two runs at a time\n")
    print(
        "| profile | Celery workers | runs | failed | steps | backfill (s) | vs embedded "
        "| step execution (s, summed) | overhead per step (ms) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for m in rows:
        print(
            f"| {m.profile} | {m.workers or '-'} | {m.runs} | {m.failed} | {m.steps} "
            f"| {m.seconds:.1f} | {m.seconds / base.seconds:.2f}x | {m.step_seconds:.1f} "
            f"| {m.overhead_ms:.0f} |"
        )


if __name__ == "__main__":
    main()
