"""Backfills from the command line: each monitor's day is a Dagster run of its daily job(s),
recorded in the instance and executed in a few long-lived worker processes that pay the
imports once.

A day's window assets read earlier days: a trailing window, a baseline, their own history
(every asset with a dependency on earlier partitions, and what is downstream of it). They
run for a day only once that day and every earlier day of the backfill are done, oldest day
first, so that the results depend neither on the number of workers nor on which run ended
first. A worker that would otherwise wait runs a later day's own assets ahead, in a run of
their own; that day's window assets follow in a second run when their turn comes.

The runs are ordinary runs: the UI shows them and the alerting pass reads their check
evaluations (README.md, "Backfills").
"""

from __future__ import annotations

import multiprocessing
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

import dagster as dg

from monitoring_pipelines.core.errors import MonitoringError
from monitoring_pipelines.jobs import daily_job_name, hallucination_job_name, reference_job_name
from monitoring_pipelines.run_failures import StepFailure, step_failures

BACKFILL_TAG = "monitoring/backfill"
# A failed step is reported once, in one line (the run in the UI keeps the traceback).
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


class BackfillRangeError(MonitoringError):
    """Days asked for are outside a monitor's partitions."""


class Stage(StrEnum):
    """Which of a day's assets a run materializes."""

    WHOLE = "whole"  # all of them (the reference job: the reference)
    OWN = "own"  # those that read only their own day
    WINDOW = "window"  # those that read earlier days


@dataclass(frozen=True)
class Task:
    """One run (one per job of the monitor): a monitor's day, or its reference when ``day``
    is None."""

    monitor: str
    day: date | None
    stage: Stage = Stage.WHOLE


@dataclass(frozen=True)
class RunFailure:
    """A step that failed: the monitor, the day (None: the reference), the asset, the cause."""

    monitor: str
    day: date | None
    asset: str
    cause: str

    @property
    def subject(self) -> str:
        """The monitor and the day (or ``reference``), e.g. ``sentiment 2026-09-03``."""
        return f"{self.monitor} {self.day.isoformat() if self.day else 'reference'}"

    def __str__(self) -> str:
        # An asset's Failure names its monitor and day already: said once, in front.
        cause = re.sub(r"^monitor '[^']*'(?:, [^:]*)?: ", "", self.cause)
        return f"{self.subject} {self.asset}: {cause}"


@dataclass
class BackfillReport:
    """What a backfill ran, what failed or could not run, and how long it took."""

    backfill_id: str
    runs: int = 0
    failures: list[RunFailure] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)
    references_built: list[str] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 1

    @property
    def failed(self) -> list[str]:
        """The monitors' days (or references) with a failed run, e.g. ``sentiment 2026-09-03``."""
        return list(dict.fromkeys(f.subject for f in self.failures))

    @property
    def seconds_per_run(self) -> float:
        return self.seconds / self.runs if self.runs else 0.0

    def absorb(self, other: BackfillReport) -> None:
        self.runs += other.runs
        self.failures += other.failures
        self.not_run += other.not_run
        self.references_built += other.references_built


# The jobs a stage of a monitor's day runs, in order, each with its assets (None: all).
Selection = list[tuple[str, tuple[dg.AssetKey, ...] | None]]


def new_backfill_id() -> str:
    return uuid.uuid4().hex[:8]


def days_between(start: date, end: date) -> list[date]:
    """Every day from ``start`` to ``end``, both included."""
    if end < start:
        raise BackfillRangeError(f"the end {end} is before the start {start}")
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
    backfill_id: str | None = None,
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
        progress: Receives one line per failed step and per monitor's days not run.
        backfill_id: The id the runs are tagged with (a new one by default).

    Raises:
        BackfillRangeError: A day is outside a monitor's partitions (nothing has run).
    """
    report = BackfillReport(backfill_id=backfill_id or new_backfill_id(), workers=workers)
    tags = {BACKFILL_TAG: report.backfill_id}
    started = time.perf_counter()
    defs, instance = load()
    jobs = {j.name for j in defs.resolve_all_job_defs()}
    check_range(
        {
            m: partitions
            for m in monitors
            if daily_job_name(m) in jobs
            and (partitions := defs.resolve_job_def(daily_job_name(m)).partitions_def)
        },
        days,
    )
    references = [
        Task(m, None)
        for m in monitors
        if reference_job_name(m) in jobs and (rebuild_reference or not has_reference(m))
    ]
    report.absorb(execute(defs, instance, references, tags, progress))
    broken = {f.monitor for f in report.failures}
    for monitor in sorted(broken):
        if days:
            line = f"{monitor} {min(days)} to {max(days)}: its reference failed"
            report.not_run.append(line)
            progress(f"not run: {line}")
    ready = [m for m in monitors if m not in broken]
    selections = {m: stage_selections(defs, m) for m in ready}
    schedule = Schedule(ready, days, {m for m in ready if selections[m][Stage.WINDOW]})

    def finished(task: Task, outcome: BackfillReport) -> None:
        schedule.done(task, succeeded=not outcome.failures)
        report.absorb(outcome)
        for failure in outcome.failures:
            progress(f"run failed: {failure}")

    if workers <= 1 or len(ready) * len(days) < 2 * workers:
        while (task := schedule.next()) is not None:
            selection = selections[task.monitor][task.stage]
            finished(task, run_task(defs, instance, task, selection, tags))
    else:
        env = dict(worker_env or os.environ)
        _run_in_pool(schedule, selections, tags, workers, env, finished)
    report.seconds = time.perf_counter() - started
    return report


def _run_in_pool(
    schedule: Schedule,
    selections: Mapping[str, Mapping[Stage, Selection]],
    tags: Mapping[str, str],
    workers: int,
    env: Mapping[str, str],
    finished: Callable[[Task, BackfillReport], None],
) -> None:
    """Run the schedule in ``workers`` processes, starting a run whenever one is free."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(env,)
    ) as pool:
        running: dict[Future[BackfillReport], Task] = {}
        while True:
            while len(running) < workers and (task := schedule.next()) is not None:
                selection = selections[task.monitor][task.stage]
                running[pool.submit(_run_in_worker, task, selection, tags)] = task
            if not running:
                return
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                finished(running.pop(future), future.result())


def check_range(partitions: Mapping[str, dg.PartitionsDefinition], days: Sequence[date]) -> None:
    """Raise when a day is outside a monitor's partitions (from its ``start_date`` to its
    ``end_date`` or the last complete UTC day), naming each such monitor's valid days."""
    if not days:
        return
    first, last = min(days), max(days)
    outside = []
    for monitor, definition in partitions.items():
        keys = (definition.get_first_partition_key(), definition.get_last_partition_key())
        if keys[0] is None or keys[1] is None:
            outside.append(f"{monitor} (none: no day since its start_date is complete)")
            continue
        low, high = date.fromisoformat(keys[0]), date.fromisoformat(keys[1])
        if first < low or last > high:
            outside.append(f"{monitor} ({low} to {high})")
    if outside:
        raise BackfillRangeError(
            f"days {first} to {last} are outside the days of {', '.join(outside)}: a "
            "monitor's days run from its start_date to its end_date or the last complete UTC day"
        )


def window_assets(defs: dg.Definitions) -> set[dg.AssetKey]:
    """The assets that read days before the one materialized (a dependency mapped to earlier
    partitions, their own included), and every asset downstream of one."""
    specs = [s for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition) for s in a.specs]
    found = {
        s.key
        for s in specs
        for dep in s.deps
        if isinstance(dep.partition_mapping, dg.TimeWindowPartitionMapping)
        and dep.partition_mapping.start_offset < 0
    }
    children: dict[dg.AssetKey, set[dg.AssetKey]] = {}
    for spec in specs:
        for dep in spec.deps:
            children.setdefault(dep.asset_key, set()).add(spec.key)
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), set()) - found:
            found.add(child)
            todo.append(child)
    return found


def stage_selections(defs: dg.Definitions, monitor: str) -> dict[Stage, Selection]:
    """Each stage's runs for a day of ``monitor``: its daily job, then, with a remote judge,
    its hallucination job; a stage with no asset in a job skips that job."""
    names = {j.name for j in defs.resolve_all_job_defs()}
    jobs = [j for j in (daily_job_name(monitor), hallucination_job_name(monitor)) if j in names]
    windows = window_assets(defs)
    out: dict[Stage, Selection] = {stage: [] for stage in Stage}
    for job in jobs:
        keys = sorted(defs.resolve_job_def(job).asset_layer.executable_asset_keys)
        out[Stage.WHOLE].append((job, None))
        for stage, chosen in (
            (Stage.OWN, [k for k in keys if k not in windows]),
            (Stage.WINDOW, [k for k in keys if k in windows]),
        ):
            if chosen:
                out[stage].append((job, tuple(chosen)))
    return out


class Schedule:
    """What runs next. Each monitor with window assets takes its days in turn, oldest first:
    the day whose turn it is runs whole, or only its window assets when its own ran ahead;
    when nothing else can start, a later day's own assets run ahead. Other monitors' days
    run whole in any order."""

    def __init__(self, monitors: Sequence[str], days: Sequence[date], windowed: set[str]):
        self.monitors = list(monitors)
        self.days = sorted(days)
        self.windowed = windowed
        self.turn = {m: 0 for m in windowed}  # index of the day whose windows come next
        self.busy: set[str] = set()  # monitors whose turn day is running
        self.state = {(m, d): "new" for m in monitors for d in self.days}

    def next(self) -> Task | None:
        """The next run to start, or None when none can start before a running one ends."""
        for i, day in enumerate(self.days):
            for monitor in self.monitors:
                state = self.state[(monitor, day)]
                if monitor not in self.windowed:
                    if state == "new":
                        return self._start(Task(monitor, day))
                elif self.turn[monitor] == i and monitor not in self.busy:
                    if state == "new":
                        self.busy.add(monitor)
                        return self._start(Task(monitor, day))
                    if state == "own done":
                        self.busy.add(monitor)
                        return self._start(Task(monitor, day, Stage.WINDOW))
        for i, day in enumerate(self.days):
            for monitor in self.monitors:
                ahead = monitor in self.windowed and i > self.turn[monitor]
                if ahead and self.state[(monitor, day)] == "new":
                    return self._start(Task(monitor, day, Stage.OWN))
        return None

    def done(self, task: Task, *, succeeded: bool) -> None:
        """Record a run's end; a day whose own assets failed gets no window run."""
        assert task.day is not None
        key = (task.monitor, task.day)
        if task.stage is Stage.OWN and succeeded:
            self.state[key] = "own done"
        else:
            self.state[key] = "done" if succeeded else "failed"
        if task.stage is not Stage.OWN:
            self.busy.discard(task.monitor)
        if task.monitor in self.windowed:
            days = self.days
            while self.turn[task.monitor] < len(days) and self.state[
                (task.monitor, days[self.turn[task.monitor]])
            ] in ("done", "failed"):
                self.turn[task.monitor] += 1

    def _start(self, task: Task) -> Task:
        assert task.day is not None
        self.state[(task.monitor, task.day)] = "running"
        return task


def execute(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    tasks: Sequence[Task],
    tags: Mapping[str, str],
    progress: Callable[[str], None] = lambda _: None,
) -> BackfillReport:
    """Run ``tasks`` one after another in this process."""
    report = BackfillReport(backfill_id=tags.get(BACKFILL_TAG, ""))
    for task in tasks:
        if task.day is None:
            selection: Selection = [(reference_job_name(task.monitor), None)]
        else:
            selection = stage_selections(defs, task.monitor)[task.stage]
        outcome = run_task(defs, instance, task, selection, tags)
        for failure in outcome.failures:
            progress(f"run failed: {failure}")
        report.absorb(outcome)
    return report


def run_task(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    task: Task,
    selection: Selection,
    tags: Mapping[str, str],
) -> BackfillReport:
    """The runs of one task, job after job; a failed run stops the task."""
    report = BackfillReport(backfill_id=tags.get(BACKFILL_TAG, ""))
    names = {j.name for j in defs.resolve_all_job_defs()}
    for job, keys in selection:
        if job not in names:
            continue
        result = defs.resolve_job_def(job).execute_in_process(
            partition_key=None if task.day is None else task.day.isoformat(),
            instance=instance,
            raise_on_error=False,
            tags=dict(tags),
            run_config=QUIET,
            asset_selection=list(keys) if keys is not None else None,
        )
        report.runs += 1
        if not result.success:
            failed = step_failures(result.all_events) or [
                StepFailure(job, "the run failed before its steps; see it in the Dagster UI")
            ]
            report.failures += [
                RunFailure(task.monitor, task.day, step.asset, step.cause) for step in failed
            ]
            return report
    if task.day is None:
        report.references_built.append(task.monitor)
    return report


def first_error(result: dg.ExecuteInProcessResult) -> str:
    """The first failed step of a run, in one line."""
    failed = step_failures(result.all_events)
    return f"{failed[0].asset}: {failed[0].cause}" if failed else "see the run in the Dagster UI"


# A worker process's definitions and instance, loaded once by its initializer.
_worker: tuple[dg.Definitions, dg.DagsterInstance] | None = None


def _start_worker(env: Mapping[str, str]) -> None:
    global _worker
    os.environ.update(env)
    from monitoring_pipelines.definitions import load_definitions

    _worker = (load_definitions(os.environ), dg.DagsterInstance.get())


def _run_in_worker(task: Task, selection: Selection, tags: Mapping[str, str]) -> BackfillReport:
    assert _worker is not None, "the worker's initializer has not run"
    defs, instance = _worker
    return run_task(defs, instance, task, selection, tags)
