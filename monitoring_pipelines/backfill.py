"""Backfills in one process: each partition is its own Dagster run, recorded in the instance.

``dagster job backfill`` and the UI launch a process per run (a few seconds of imports each);
running the partitions one after another inside this process pays the imports once. The runs
are ordinary runs: the UI shows them, and the alerting pass reads their check evaluations.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import dagster as dg

from monitoring_pipelines.jobs import daily_job_name, reference_job_name

BACKFILL_TAG = "monitoring/backfill"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class BackfillReport:
    """What a backfill ran, and how long it took."""

    backfill_id: str
    runs: int = 0
    failed: list[str] = field(default_factory=list)
    references_built: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def seconds_per_run(self) -> float:
        return self.seconds / self.runs if self.runs else 0.0


def days_between(start: date, end: date) -> list[date]:
    """Every day from ``start`` to ``end``, both included."""
    if end < start:
        raise ValueError(f"the end {end} is before the start {start}")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def run_backfill(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    monitors: Sequence[str],
    days: Sequence[date],
    *,
    rebuild_reference: bool = False,
    has_reference: Callable[[str], bool] = lambda _: False,
    progress: Callable[[str], None] = lambda _: None,
) -> BackfillReport:
    """Materialize ``days`` of each monitor's daily job, building missing references first."""
    report = BackfillReport(backfill_id=uuid.uuid4().hex[:8])
    tags = {BACKFILL_TAG: report.backfill_id}
    started = time.perf_counter()
    job_names = {j.name for j in defs.resolve_all_job_defs()}
    for monitor in monitors:
        reference = reference_job_name(monitor)
        if reference in job_names and (rebuild_reference or not has_reference(monitor)):
            result = defs.resolve_job_def(reference).execute_in_process(
                instance=instance, raise_on_error=False, tags=tags, run_config=QUIET
            )
            report.runs += 1
            if result.success:
                report.references_built.append(monitor)
            else:
                report.failed.append(f"{monitor} reference")
                progress(f"{monitor}: reference failed: {_first_error(result)}")
                continue
        job = defs.resolve_job_def(daily_job_name(monitor))
        for day in days:
            result = job.execute_in_process(
                partition_key=day.isoformat(),
                instance=instance,
                raise_on_error=False,
                tags=tags,
                run_config=QUIET,
            )
            report.runs += 1
            if not result.success:
                report.failed.append(f"{monitor} {day}")
                progress(f"{monitor} {day}: run failed: {_first_error(result)}")
        progress(f"{monitor}: {len(days)} day(s) done")
    report.seconds = time.perf_counter() - started
    return report


def _first_error(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            user = event.step_failure_data.user_failure_data
            if user is not None and user.description:
                return user.description.splitlines()[0]
            if event.step_failure_data.error is not None:
                return event.step_failure_data.error.message.strip().splitlines()[0]
    return "see the run in the Dagster UI"
