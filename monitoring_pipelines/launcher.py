"""A Dagster run launcher that keeps warm worker processes: each run still executes in a
process of its own code location's Python, exactly as ``dagster api execute_run`` would run it,
but the process has paid its imports (Dagster, pandas, whylogs, Great Expectations: about 3 s)
and its per-process caches before, and serves run after run.

Configured in ``deploy/dagster.yaml`` for the embedded default; the daemon (runs the UI or a
schedule queues) and ``monitoring backfill`` launch through it. A worker retires when the
project's code changed since it started (the next run gets a fresh one) or after
``max_runs_per_worker`` runs; the run monitoring daemon asks it whether a run's worker is alive.

Dagster's run-launcher extension point (``RunLauncher``, documented as public) lives in
``dagster._core.launcher``, where Dagster's own launchers for Docker and Kubernetes import it
from: this module and ``run_worker`` are the only ones that touch those internals.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import dagster as dg
from dagster._config.config_schema import UserConfigSchema
from dagster._core.launcher.base import (
    CheckRunHealthResult,
    LaunchRunContext,
    RunLauncher,
    WorkerStatus,
)
from dagster._core.storage.dagster_run import DagsterRun
from dagster._serdes import ConfigurableClass, ConfigurableClassData, serialize_value

# Where a run executes ("host:pid"), for the health check and Terminate; hidden in the UI's tag
# lists, like the code-server address Dagster's default launcher records the same way.
WORKER_TAG = ".dagster/monitoring_run_worker"
# A run that ends hands its worker back within this long; a launch waits for it rather than
# paying a new worker's start.
HANDBACK_SECONDS = 5.0
MAX_LOG_BYTES = 10_000_000


def code_fingerprint(roots: tuple[Path, ...]) -> float:
    """The newest modification time of the Python files under ``roots``."""
    newest = 0.0
    for root in roots:
        for path in root.rglob("*.py"):
            try:
                newest = max(newest, path.stat().st_mtime)
            except OSError:  # removed while walking
                continue
    return newest


def project_roots() -> tuple[Path, ...]:
    """The packages whose code a run executes (this project's), for ``code_fingerprint``."""
    here = Path(__file__).resolve().parent
    return tuple(p for p in (here, here.parent / "assets", here.parent / "resources") if p.is_dir())


def worker_pid(run: DagsterRun) -> int | None:
    """The process id of the worker a run was launched in, if it was."""
    pid = run.tags.get(WORKER_TAG, "").rpartition(":")[2]
    return int(pid) if pid.isdigit() else None


@dataclass
class Worker:
    """One warm process and what it is doing."""

    process: subprocess.Popen[bytes]
    fingerprint: float
    runs: int = 0
    run_id: str | None = None  # the run it executes, None when idle
    buffer: bytes = field(default=b"")

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def collect(self, timeout: float) -> None:
        """Read what the worker reported within ``timeout`` s: ``done`` frees it."""
        stdout = self.process.stdout
        assert stdout is not None
        deadline = time.monotonic() + timeout
        while self.run_id is not None and self.alive:
            left = max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([stdout], [], [], left)
            if not ready:
                return
            chunk = os.read(stdout.fileno(), 65536)
            if not chunk:
                return
            self.buffer += chunk
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                if json.loads(line).get("done") == self.run_id:
                    self.run_id = None
            if left == 0.0:
                return

    def stop(self) -> None:
        if self.alive:
            if self.process.stdin is not None:
                self.process.stdin.close()  # the worker exits once its run (if any) ends
            return
        # A worker that died in a run (killed, out of memory) leaves what its run started, such
        # as Dagster's `tail` of the run's captured logs: the worker led a process group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


class WarmRunLauncher(RunLauncher, ConfigurableClass):
    """Launches each run in a warm worker process (one run at a time per worker); keeps
    ``workers`` of them between runs. Concurrency is bounded by the caller: the run queue's
    ``max_concurrent_runs`` for the daemon, ``--workers`` for ``monitoring backfill``; a launch
    while every worker is busy starts one more, which retires when its run ends."""

    def __init__(
        self,
        inst_data: ConfigurableClassData | None = None,
        workers: int = 2,
        max_runs_per_worker: int = 500,
        log_file: str | None = None,
        roots: tuple[Path, ...] | None = None,
    ):
        self._inst_data = inst_data
        self._size = workers
        self._max_runs = max_runs_per_worker
        self._log_file = log_file
        self._workers: list[Worker] = []
        self._lock = threading.Lock()
        self._roots = project_roots() if roots is None else roots
        super().__init__()  # type: ignore[no-untyped-call]

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> UserConfigSchema:
        return {
            "workers": dg.Field(int, is_required=False, default_value=2),
            "max_runs_per_worker": dg.Field(int, is_required=False, default_value=500),
            "log_file": dg.Field(str, is_required=False),
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> Self:
        return cls(inst_data=inst_data, **config_value)

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        if run.job_code_origin is None:
            raise dg.DagsterInvariantViolationError(
                f"run {run.run_id} has no code origin: it cannot be launched in a worker"
            )
        with self._lock:
            worker = self._idle_worker()
            line = {"run_id": run.run_id, "instance_ref": serialize_value(self._instance.get_ref())}
            assert worker.process.stdin is not None
            worker.process.stdin.write(json.dumps(line).encode() + b"\n")
            worker.process.stdin.flush()
            worker.run_id = run.run_id
            worker.runs += 1
            pid = worker.process.pid
        self._instance.add_run_tags(run.run_id, {WORKER_TAG: f"{socket.gethostname()}:{pid}"})
        self._instance.report_engine_event(
            f"Launched in warm worker process {pid}.", run, cls=self.__class__
        )

    def _idle_worker(self) -> Worker:
        """An idle, current worker: a busy one that hands back soon, or a new one."""
        fingerprint = code_fingerprint(self._roots)
        deadline = time.monotonic() + HANDBACK_SECONDS
        while True:
            for worker in self._workers:
                worker.collect(0.0)
            surplus = len(self._workers) - self._size
            for worker in list(self._workers):
                free = worker.run_id is None
                stale = worker.fingerprint != fingerprint or worker.runs >= self._max_runs
                extra = free and surplus > 0  # one started while all were busy, now free
                if not worker.alive or (free and stale) or extra:
                    worker.stop()
                    self._workers.remove(worker)
                    surplus -= 1
            idle = [w for w in self._workers if w.run_id is None and w.alive]
            if idle:
                return idle[0]
            busy = len(self._workers)
            if busy < self._size or time.monotonic() >= deadline:
                worker = Worker(self._start_worker(), fingerprint)
                self._workers.append(worker)
                return worker
            select.select(
                [w.process.stdout for w in self._workers if w.process.stdout], [], [], 0.05
            )

    def _start_worker(self) -> subprocess.Popen[bytes]:
        """A new worker; its output (the runs' console logs) goes to the log file."""
        path = Path(self._log_file or Path(self._instance.root_directory) / "run-workers.log")
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.stat().st_size > MAX_LOG_BYTES:
            path.replace(path.with_name(path.name + ".1"))  # the last two are kept
        with path.open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "monitoring_pipelines.run_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,  # Ctrl-C on the launching terminal is not the worker's
            )

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return False
        pid = worker_pid(run)
        if pid is None:
            return False
        self._instance.report_run_canceling(run)
        try:
            os.kill(pid, signal.SIGINT)  # Dagster turns it into an interrupted, canceled run
        except ProcessLookupError:
            self._instance.report_run_canceled(run)
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        host, _, _ = run.tags.get(WORKER_TAG, "").rpartition(":")
        if host and host != socket.gethostname():
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "launched on another host")
        pid = worker_pid(run)
        if pid is None:
            return CheckRunHealthResult(WorkerStatus.NOT_FOUND, "no worker recorded for the run")
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return CheckRunHealthResult(WorkerStatus.FAILED, f"worker process {pid} has exited")
        if b"monitoring_pipelines.run_worker" not in cmdline:
            return CheckRunHealthResult(WorkerStatus.FAILED, f"worker process {pid} has exited")
        return CheckRunHealthResult(WorkerStatus.RUNNING)

    def join(self, timeout: int = 30) -> None:
        """Wait up to ``timeout`` s for the running runs, then let every worker go."""
        deadline = time.monotonic() + timeout
        with self._lock:
            for worker in self._workers:
                worker.collect(max(0.0, deadline - time.monotonic()))
            self.dispose()

    def dispose(self) -> None:
        for worker in self._workers:
            worker.stop()
        self._workers = []
