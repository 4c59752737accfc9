"""Backfills from the command line: each partition is its own Dagster run, recorded in the
instance, executed in a few long-lived worker processes that pay the imports once.

The runs are ordinary runs: the UI shows them and the alerting pass reads their check
evaluations (README.md, "Backfills").
"""

from __future__ import annotations

import multiprocessing
import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta

import dagster as dg

from monitoring_pipelines.jobs import daily_job_name, hallucination_job_name, reference_job_name

BACKFILL_TAG = "monitoring/backfill"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass(frozen=True)
class Task:
    """One run: a monitor's day, or its reference when ``day`` is None."""

    monitor: str
    day: date | None


@dataclass
class BackfillReport:
    """What a backfill ran, and how long it took."""

    backfill_id: str
    runs: int = 0
    failed: list[str] = field(default_factory=list)
    references_built: list[str] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 1

    @property
    def seconds_per_run(self) -> float:
        return self.seconds / self.runs if self.runs else 0.0

    def absorb(self, other: BackfillReport) -> None:
        self.runs += other.runs
        self.failed += other.failed
        self.references_built += other.references_built


def days_between(start: date, end: date) -> list[date]:
    """Every day from ``start`` to ``end``, both included."""
    if end < start:
        raise ValueError(f"the end {end} is before the start {start}")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def run_backfill(
    load: Callable[[], tuple[dg.Definitions, dg.DagsterInstance]],
    monitors: Sequence[str],
    days: Sequence[date],
    *,
    workers: int = 1,
    worker_env: Mapping[str, str] | None = None,
    rebuild_reference: bool = False,
    has_reference: Callable[[str], bool] = lambda _: False,
    progress: Callable[[str], None] = lambda _: None,
) -> BackfillReport:
    """Materialize ``days`` of each monitor, building missing references first.

    Args:
        load: Builds the definitions and opens the instance (in this process).
        monitors: Monitors to backfill.
        days: Partitions to materialize.
        workers: Worker processes for the daily runs (1 runs them here).
        worker_env: Environment the workers load the same definitions and instance from.
        rebuild_reference: Refit every reference even when one exists.
        has_reference: Whether a monitor's reference is already built.
        progress: Receives one line per finished monitor or failure.
    """
    report = BackfillReport(backfill_id=uuid.uuid4().hex[:8], workers=workers)
    tags = {BACKFILL_TAG: report.backfill_id}
    started = time.perf_counter()
    defs, instance = load()
    jobs = {j.name for j in defs.resolve_all_job_defs()}
    references = [
        Task(m, None)
        for m in monitors
        if reference_job_name(m) in jobs and (rebuild_reference or not has_reference(m))
    ]
    report.absorb(execute(defs, instance, references, tags, progress))
    broken = {f.split(" ")[0] for f in report.failed}
    tasks = [Task(m, d) for d in days for m in monitors if m not in broken]
    if workers <= 1 or len(tasks) < 2 * workers:
        report.absorb(execute(defs, instance, tasks, tags, progress))
    else:
        shards = [tasks[i::workers] for i in range(workers)]
        env = dict(worker_env or os.environ)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            for part in pool.map(_worker, [env] * workers, shards, [tags] * workers):
                report.absorb(part)
        for line in report.failed:
            progress(f"{line}: run failed (see the run in the Dagster UI)")
    report.seconds = time.perf_counter() - started
    return report


def execute(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    tasks: Sequence[Task],
    tags: Mapping[str, str],
    progress: Callable[[str], None] = lambda _: None,
) -> BackfillReport:
    """Run ``tasks`` one after another in this process."""
    report = BackfillReport(backfill_id=tags.get(BACKFILL_TAG, ""))
    names = {j.name for j in defs.resolve_all_job_defs()}
    for task in tasks:
        if task.day is None:
            jobs = [reference_job_name(task.monitor)]
            label = f"{task.monitor} reference"
        else:
            # A remote judge's assets have a job of their own, run after the day's job.
            jobs = [daily_job_name(task.monitor), hallucination_job_name(task.monitor)]
            label = f"{task.monitor} {task.day}"
        for job in (j for j in jobs if j in names):
            result = defs.resolve_job_def(job).execute_in_process(
                partition_key=None if task.day is None else task.day.isoformat(),
                instance=instance,
                raise_on_error=False,
                tags=dict(tags),
                run_config=QUIET,
            )
            report.runs += 1
            if not result.success:
                report.failed.append(label)
                progress(f"{label}: run failed: {first_error(result)}")
                break
        else:
            if task.day is None:
                report.references_built.append(task.monitor)
    return report


def _worker(
    env: Mapping[str, str], tasks: Sequence[Task], tags: Mapping[str, str]
) -> BackfillReport:
    os.environ.update(env)
    from monitoring_pipelines.definitions import load_definitions

    defs = load_definitions(os.environ)
    return execute(defs, dg.DagsterInstance.get(), tasks, tags)


def first_error(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            user = event.step_failure_data.user_failure_data
            if user is not None and user.description:
                return user.description.splitlines()[0]
            if event.step_failure_data.error is not None:
                return event.step_failure_data.error.message.strip().splitlines()[0]
    return "see the run in the Dagster UI"
