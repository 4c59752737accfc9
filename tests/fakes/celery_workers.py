"""The production profile's processes for tests and benchmarks: fresh PostgreSQL databases, a
machine's environment with only its own folders local, and the services (``dagster-celery``
workers, ``dagster-daemon``, ``dagster-webserver``), each in its own folder and process group."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.fakes.processes import stop_tree
from tests.fakes.s3_server import S3Server

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent
ROLES = ("dagster", "results", "wh")


@contextmanager
def fresh_databases(postgres_url: str, prefix: str) -> Iterator[dict[str, str]]:
    """Databases ``<prefix>_dagster``, ``_results`` and ``_wh`` (Dagster's instance, the result
    store, the warehouse), created empty and dropped afterwards; their URLs by role."""
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    names = {role: f"{prefix}_{role}" for role in ROLES}
    with admin.connect() as conn:
        for name in names.values():
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    base = make_url(postgres_url)
    try:
        yield {
            role: base.set(database=name).render_as_string(hide_password=False)
            for role, name in names.items()
        }
    finally:
        with admin.connect() as conn:
            for name in names.values():
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class Worker:
    """A service's process (a Celery worker, the daemon, the webserver) and its folder."""

    name: str
    folder: Path
    process: subprocess.Popen[bytes]

    @property
    def log(self) -> Path:
        return self.folder / "service.log"

    def stop(self) -> None:
        stop_tree(self.process)  # its process group and the code servers it started


def base_environ() -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "TZ")
    return {k: os.environ[k] for k in keep if k in os.environ}


def distributed_environ(
    folder: Path, dbs: Mapping[str, str], s3: S3Server, broker: str, bucket: str
) -> dict[str, str]:
    """A machine's environment in the production profile: only its own folders are local."""
    return {
        **s3.environ(),
        "PYTHONPATH": str(ROOT),
        "HOME": str(folder),
        "WHYLOGS_NO_ANALYTICS": "True",
        "DAGSTER_HOME": str(folder / "dagster"),
        "DAGSTER_PG_URL": dbs["dagster"],
        "DAGSTER_LOCAL_ARTIFACTS_DIR": str(folder / "dagster" / "scratch"),
        "DAGSTER_COMPUTE_LOGS_DIR": str(folder / "dagster" / "logs"),
        "MONITORING_HOME": str(folder / "home"),
        "MONITORING_CONFIG": str(ROOT / "demo" / "monitors.yaml"),
        "MONITORING_STORE_URL": dbs["results"],
        "MONITORING_WAREHOUSE_URL": dbs["wh"],
        "MONITORING_ARTIFACTS_URL": f"s3://{bucket}/distributed",
        "MONITORING_EXECUTOR": "celery",
        "MONITORING_CELERY_BROKER": broker,
    }


def dagster_home(folder: Path, instance_file: Path) -> Path:
    home = folder / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(instance_file, home / "dagster.yaml")
    return home


def migrate_instance(folder: Path, environ: Mapping[str, str]) -> None:
    """``dagster instance migrate`` once, from ``folder``'s own Dagster home, before the services
    start (README.md, "Production profile"): services started together on a fresh database
    otherwise race to create Dagster's tables, and the loser exits ("relation ... already
    exists")."""
    home = dagster_home(folder, ROOT / "deploy" / "dagster.production.yaml")
    subprocess.run(
        [str(BIN / "dagster"), "instance", "migrate"],
        cwd=folder,
        env={**base_environ(), **environ, "DAGSTER_HOME": str(home)},
        check=True,
        capture_output=True,
        timeout=300,
    )


def start_service(name: str, folder: Path, environ: Mapping[str, str], argv: list[str]) -> Worker:
    """``argv`` (a command of the venv's bin) started in ``folder``, a new folder with its own
    Dagster home, in its own process group; its output goes to ``folder/service.log``."""
    folder.mkdir(parents=True)
    dagster_home(folder, ROOT / "deploy" / "dagster.production.yaml")
    log = (folder / "service.log").open("wb")
    process = subprocess.Popen(
        [str(BIN / argv[0]), *argv[1:]],
        cwd=folder,
        env={**base_environ(), **environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return Worker(name, folder, process)


def start_worker(name: str, folder: Path, environ: Mapping[str, str]) -> Worker:
    """``dagster-celery worker start`` in ``folder``, one task at a time."""
    return start_service(
        name,
        folder,
        environ,
        [
            "dagster-celery",
            "worker",
            "start",
            "-A",
            "dagster_celery.app",
            "-y",
            str(ROOT / "deploy" / "celery.yaml"),
            "-n",
            name,
            "--",
            "--concurrency=1",
        ],
    )


def start_daemon(folder: Path, environ: Mapping[str, str]) -> Worker:
    """``dagster-daemon run`` on the project's workspace: the run queue, backfills, sensors and
    schedules; the runs it launches execute on its machine (Dagster's default run launcher)."""
    return start_service(
        "daemon", folder, environ, ["dagster-daemon", "run", "-w", str(ROOT / "workspace.yaml")]
    )


def start_webserver(folder: Path, environ: Mapping[str, str], port: int) -> Worker:
    """``dagster-webserver`` on the project's workspace at ``http://127.0.0.1:<port>``."""
    return start_service(
        "webserver",
        folder,
        environ,
        [
            "dagster-webserver",
            "-w",
            str(ROOT / "workspace.yaml"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
    )


def wait_answering(service: Worker, url: str, timeout_s: float = 180) -> None:
    """Wait until ``url`` answers 200 (the webserver with its code location loaded)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        if service.process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{service.name} did not answer:\n{service.log.read_text()}")
        time.sleep(0.5)


def wait_ready(workers: list[Worker], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    for worker in workers:
        while b" ready." not in worker.log.read_bytes():
            if worker.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{worker.name} did not start:\n{worker.log.read_text()}")
            time.sleep(0.5)
