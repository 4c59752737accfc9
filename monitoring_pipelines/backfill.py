"""Backfills from the command line: each monitor's day is a Dagster run of its daily assets (and,
with a remote judge, one of its judged assets), created from the project's code location as part
of a Dagster asset backfill (one per monitor, on the UI's Backfills page) and launched through
the warm run launcher (``launcher.py``), whose worker processes pay the imports once.

A day's window assets read earlier days: a trailing window, a baseline, their own history
(every asset with a dependency on earlier partitions, and what is downstream of it). They
run for a day only once that day and every earlier day of the backfill are done, oldest day
first, so that the results depend neither on the number of workers nor on which run ended
first. A worker that would otherwise wait runs a later day's own assets ahead, in a run of
their own; that day's window assets follow in a second run when their turn comes.

The runs are ordinary runs of Dagster's asset job: the UI shows them under their assets and
backfill, can re-execute them, and the alerting pass reads their check evaluations (README.md,
"Backfills").
"""

from __future__ import annotations

import re
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

import dagster as dg
from dagster._core.storage.tags import BACKFILL_ID_TAG

from monitoring_pipelines.core.errors import MonitoringError
from monitoring_pipelines.jobs import ASSET_JOB, MONITOR_TAG, Kind, MonitorRun, reference_key
from monitoring_pipelines.run_failures import StepFailure, step_failures

if TYPE_CHECKING:
    from monitoring_pipelines.dagster_runs import DagsterRuns
    from monitoring_pipelines.definitions import Fleet

BACKFILL_TAG = "monitoring/backfill"


class BackfillRangeError(MonitoringError):
    """Days asked for are outside a monitor's partitions."""


class Stage(StrEnum):
    """Which of a day's assets a run materializes."""

    WHOLE = "whole"  # all of them (a reference run: the reference asset)
    OWN = "own"  # those that read only their own day
    WINDOW = "window"  # those that read earlier days


@dataclass(frozen=True)
class Task:
    """A monitor's day (its runs one after another), or its reference when ``day`` is None."""

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


# The runs a stage of a monitor's day makes, in order: each a job, its assets and its own tags.
Selection = list[tuple[str, tuple[dg.AssetKey, ...], Mapping[str, str]]]


def new_backfill_id() -> str:
    return uuid.uuid4().hex[:8]


def days_between(start: date, end: date) -> list[date]:
    """Every day from ``start`` to ``end``, both included."""
    if end < start:
        raise BackfillRangeError(f"the end {end} is before the start {start}")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def run_backfill(
    load: Callable[[], tuple[Fleet, dg.DagsterInstance]],
    monitors: Sequence[str],
    days: Sequence[date],
    *,
    workers: int = 1,
    rebuild_reference: bool = False,
    has_reference: Callable[[str], bool] = lambda _: False,
    progress: Callable[[str], None] = lambda _: None,
    backfill_id: str | None = None,
) -> BackfillReport:
    """Materialize ``days`` of each monitor, building missing references first: one Dagster
    asset backfill per monitor, its runs launched in ``workers`` warm worker processes.

    Args:
        load: Builds the definitions and the monitors' runs, opens the instance (in this
            process).
        monitors: Monitors to backfill.
        days: Partitions to materialize.
        workers: Runs executing side by side. Their processes load the definitions from this
            process's environment (os.environ), as any Dagster run loads its code location.
        rebuild_reference: Refit every reference even when one exists.
        has_reference: Whether a monitor's reference is already built.
        progress: Receives one line per failed step and per monitor's days not run.
        backfill_id: The id the runs are tagged with (a new one by default).

    Raises:
        BackfillRangeError: A day is outside a monitor's partitions (nothing has run).
    """
    from monitoring_pipelines.dagster_runs import DagsterRuns

    report = BackfillReport(backfill_id=backfill_id or new_backfill_id(), workers=workers)
    tags = {BACKFILL_TAG: report.backfill_id}
    started = time.perf_counter()
    fleet, instance = load()
    check_range(
        {
            m: daily.partitions
            for m in monitors
            if (daily := fleet.run(m)) and daily.partitions is not None
        },
        days,
    )

    def finished(task: Task, outcome: BackfillReport) -> None:
        report.absorb(outcome)
        for failure in outcome.failures:
            progress(f"run failed: {failure}")

    assets = fleet.definitions.resolve_asset_graph().get_all_asset_keys()
    # A run carries its monitor's tags (its warehouse), which the run queue's limits count,
    # and a day's run the id of its monitor's Dagster backfill.
    monitor_tags = {m: dict(daily.tags) if (daily := fleet.run(m)) else {} for m in monitors}
    backfills: dict[str, str] = {}

    def tagged(task: Task) -> dict[str, str]:
        found = {BACKFILL_ID_TAG: backfills[task.monitor]} if task.monitor in backfills else {}
        return {**monitor_tags[task.monitor], MONITOR_TAG: task.monitor, **tags, **found}

    with DagsterRuns(instance, workers) as runs:
        references: Iterator[tuple[Task, Selection]] = iter(
            [
                (Task(m, None), [(ASSET_JOB, (reference_key(m),), {})])
                for m in monitors
                if reference_key(m) in assets and (rebuild_reference or not has_reference(m))
            ]
        )
        drive(runs, lambda _: next(references, None), finished, workers, tagged)
        broken = {f.monitor for f in report.failures}
        for monitor in sorted(broken):
            if days:
                line = f"{monitor} {min(days)} to {max(days)}: its reference failed"
                report.not_run.append(line)
                progress(f"not run: {line}")
        ready = [m for m in monitors if m not in broken]
        windows = window_assets(fleet.definitions)
        selections = {m: stage_selections(fleet.runs.get(m, ()), windows) for m in ready}
        keys = [d.isoformat() for d in sorted(days)]
        for monitor in ready:
            chosen = [k for _, each, _ in selections[monitor][Stage.WHOLE] for k in each]
            if chosen and keys:
                backfills[monitor] = runs.start_backfill(
                    chosen, keys, {**tags, MONITOR_TAG: monitor}
                )
        schedule = Schedule(ready, days, {m for m in ready if selections[m][Stage.WINDOW]})

        def next_task(spare: bool) -> tuple[Task, Selection] | None:
            task = schedule.next(ahead=not spare)
            return None if task is None else (task, selections[task.monitor][task.stage])

        def day_finished(task: Task, outcome: BackfillReport) -> None:
            schedule.done(task, succeeded=not outcome.failures)
            finished(task, outcome)

        try:
            drive(runs, next_task, day_finished, workers, tagged)
        finally:
            runs.finish_backfills(failed=bool(report.failures))
    report.seconds = time.perf_counter() - started
    return report


def drive(
    runs: DagsterRuns,
    next_task: Callable[[bool], tuple[Task, Selection] | None],
    finished: Callable[[Task, BackfillReport], None],
    workers: int,
    tags: Callable[[Task], Mapping[str, str]],
) -> None:
    """Run tasks as ``next_task`` gives them (their runs tagged with ``tags(task)``), at most
    ``workers`` at once; a task's runs (each with its own tags too) run one after another, and
    a failed run ends its task.
    Ctrl-C cancels the running runs.

    Creating a run writes a few dozen events (its planned materializations and checks): one
    spare task's run is created in a thread while the others execute, so that a free worker
    gets it at once. ``next_task(spare)`` is told when it picks the spare: a day split into its
    own and its window assets only pays off for a worker that would otherwise wait.
    """
    active: dict[str, tuple[Task, Selection, BackfillReport]] = {}
    ready: deque[tuple[Future[str], Task, Selection, BackfillReport]] = deque()

    def prepare(task: Task, selection: Selection, outcome: BackfillReport) -> None:
        if not selection:
            if task.day is None:
                outcome.references_built.append(task.monitor)
            finished(task, outcome)
            return
        (job, keys, own), rest = selection[0], selection[1:]
        day = None if task.day is None else task.day.isoformat()
        created = creator.submit(runs.create, job, day, keys, {**own, **tags(task)})
        ready.append((created, task, rest, outcome))

    with ThreadPoolExecutor(1, thread_name_prefix="create-runs") as creator:
        try:
            while True:
                while (
                    len(active) + len(ready) <= workers
                    and (item := next_task(len(active) + len(ready) >= workers)) is not None
                ):
                    task, selection = item
                    outcome = BackfillReport(backfill_id=tags(task).get(BACKFILL_TAG, ""))
                    prepare(task, selection, outcome)
                while len(active) < workers and ready:
                    created, task, rest, outcome = ready.popleft()
                    run_id = created.result()
                    active[run_id] = (task, rest, outcome)
                    runs.launch(run_id)
                if not active:
                    return
                for run in runs.wait(active):
                    task, rest, outcome = active.pop(run.run_id)
                    outcome.runs += 1
                    if run.success:
                        prepare(task, rest, outcome)
                        continue
                    failed = step_failures(run.events) or [
                        StepFailure("run", run.failure_message or "failed; see it in the UI")
                    ]
                    outcome.failures += [
                        RunFailure(task.monitor, task.day, step.asset, step.cause)
                        for step in failed
                    ]
                    finished(task, outcome)
        except BaseException:  # Ctrl-C, or a run that could not be created or launched
            runs.terminate(active)
            runs.cancel(f.result() for f, *_ in ready if f.done() and f.exception() is None)
            raise


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


def stage_selections(
    runs: Sequence[MonitorRun], windows: set[dg.AssetKey]
) -> dict[Stage, Selection]:
    """Each stage's runs for a day of a monitor whose runs are ``runs`` (``windows``: the
    assets that read earlier days): its daily run, then, with a remote judge, its judged run; a
    stage with no asset in one of them skips it."""
    out: dict[Stage, Selection] = {stage: [] for stage in Stage}
    for run in runs:
        if run.kind not in (Kind.DAILY, Kind.HALLUCINATION):
            continue
        out[Stage.WHOLE].append((ASSET_JOB, run.keys, run.tags))
        for stage, chosen in (
            (Stage.OWN, [k for k in run.keys if k not in windows]),
            (Stage.WINDOW, [k for k in run.keys if k in windows]),
        ):
            if chosen:
                out[stage].append((ASSET_JOB, tuple(chosen), run.tags))
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

    def next(self, *, ahead: bool = True) -> Task | None:
        """The next run to start, or None when none can start before a running one ends;
        with ``ahead`` False, never a later day's own assets ahead of its turn."""
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
        if not ahead:
            return None
        for i, day in enumerate(self.days):
            for monitor in self.monitors:
                early = monitor in self.windowed and i > self.turn[monitor]
                if early and self.state[(monitor, day)] == "new":
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
