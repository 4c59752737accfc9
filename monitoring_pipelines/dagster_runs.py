"""Runs and backfills the Dagster UI knows, made from the command line: each run is created
from the project's code location (its origin, job, partition and tags, as a run the UI launches
has), a backfill's assets and days are recorded as a Dagster asset backfill (the UI's Backfills
page), and runs execute through a ``WarmRunLauncher``, as the ones the daemon launches do.

This is what a backfill launched from the UI does (create the backfill's runs, submit them),
with two differences: runs are launched when their turn comes rather than queued all at once (a
day's window assets follow the days before it), and the asset selection can differ per run.
Creating a run from a code location has no public API in Dagster 1.13; these internals are
used here only.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import TracebackType

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._core.execution.asset_backfill import AssetBackfillData
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.launcher.base import LaunchRunContext, WorkerStatus
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.remote_representation.external import RemoteJob
from dagster._core.storage.tags import PARTITION_NAME_TAG, PARTITION_SET_TAG
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.utils import make_new_backfill_id, make_new_run_id
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._time import get_current_timestamp

from monitoring_pipelines.launcher import WarmRunLauncher

# The code location of workspace.yaml: runs made here are the same location's to the UI.
LOCATION = "monitoring_pipelines.definitions"
POLL_SECONDS = 0.1
HEALTH_SECONDS = 2.0


@dataclass(frozen=True)
class FinishedRun:
    """A run that ended: its id, whether it succeeded, and its events (read from the event
    log when first asked for: a backfill reads them only for the runs that failed)."""

    run_id: str
    success: bool
    instance: dg.DagsterInstance = field(repr=False, compare=False)

    @cached_property
    def events(self) -> list[DagsterEvent]:
        logs = self.instance.all_logs(self.run_id)
        return [e.dagster_event for e in logs if e.dagster_event is not None]

    @property
    def failure_message(self) -> str | None:
        """What the run's failure event says (a worker that died, a run that never started)."""
        for event in reversed(self.events):
            if event.event_type is DagsterEventType.PIPELINE_FAILURE and event.message:
                return event.message
        return None


def workspace(instance: dg.DagsterInstance) -> WorkspaceProcessContext:
    """The project's code location loaded in this process (from ``os.environ``), as the
    workspace of ``instance``: what the daemon and the UI load from ``workspace.yaml``."""
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(
            executable_path=sys.executable, module_name=LOCATION, working_directory=os.getcwd()
        ),
        location_name=LOCATION,
    )
    return WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin))


class DagsterRuns:
    """Creates runs of the project's jobs and launches them in ``workers`` warm processes.

    Use as a context manager: leaving it waits for nothing, lets the workers go (each finishes
    the run it has) and closes the code location.
    """

    def __init__(self, instance: dg.DagsterInstance, workers: int):
        self.instance = instance
        self._process = workspace(instance)
        self._request = self._process.create_request_context()
        self._location = self._request.get_code_location(LOCATION)
        (self._repository,) = self._location.get_repositories().values()
        self._jobs: dict[tuple[str, tuple[dg.AssetKey, ...] | None], RemoteJob] = {}
        self.launcher = WarmRunLauncher(workers=workers)
        self.launcher.register_instance(instance)
        self._backfills: list[PartitionBackfill] = []
        self._started: dict[str, int | None] = {}  # each backfill's first event record, less 1

    def __enter__(self) -> DagsterRuns:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.launcher.dispose()
        self._process.__exit__(kind, exc, traceback)

    def start_backfill(
        self, assets: Sequence[dg.AssetKey], days: Sequence[str], tags: Mapping[str, str]
    ) -> str:
        """Record an asset backfill of ``days`` of ``assets`` (of one partitioning; shown on
        the UI's Backfills page) and return its id; its runs are created by ``create`` with
        the id as their ``dagster/backfill`` tag. Every day is recorded as requested, so a
        daemon that sees the backfill launches none of its runs again."""
        now = get_current_timestamp()
        graph = self._repository.asset_graph
        target = AssetGraphSubset(  # type: ignore[call-arg]  # a NamedTuple with defaults
            partitions_subsets_by_asset_key={
                key: partitions.subset_with_partition_keys(days)
                for key in assets
                if (partitions := graph.get(key).partitions_def) is not None
            },
            non_partitioned_asset_keys={k for k in assets if not graph.get(k).is_partitioned},
        )
        data = (
            AssetBackfillData.empty(target, now, self.instance)
            .replace_requested_subset(target)
            .with_requested_runs_for_target_roots(True)
        )
        backfill = PartitionBackfill(
            backfill_id=make_new_backfill_id(),
            status=BulkActionStatus.REQUESTED,
            from_failure=False,
            tags=dict(tags),
            backfill_timestamp=now,
            asset_selection=list(assets),
            serialized_asset_backfill_data=None,
            asset_backfill_data=data,
            title=None,
            description=None,
        )
        self._started[backfill.backfill_id] = (
            self.instance.event_log_storage.get_maximum_record_id()
        )
        self.instance.add_backfill(backfill)
        self._backfills.append(backfill)
        return backfill.backfill_id

    def finish_backfills(self, failed: bool) -> None:
        """Mark the recorded backfills complete (failed when a run failed), each asset's days
        materialized since the backfill started as succeeded and its other days as failed: the
        UI's backfill page counts them per asset."""
        status = BulkActionStatus.COMPLETED_FAILED if failed else BulkActionStatus.COMPLETED_SUCCESS
        for backfill in self._backfills:
            current = self.instance.get_backfill(backfill.backfill_id) or backfill
            if current.asset_backfill_data is not None:
                data = current.asset_backfill_data
                done = self._materialized(data.target_subset, self._started[backfill.backfill_id])
                current = current.with_asset_backfill_data(
                    data._replace(materialized_subset=done).with_failed_and_downstream_subset(
                        data.target_subset - done
                    ),
                    dynamic_partitions_store=self.instance,
                    asset_graph=self._repository.asset_graph,
                )
            self.instance.update_backfill(
                current.with_status(status).with_end_timestamp(get_current_timestamp())  # type: ignore[no-untyped-call]
            )

    def _materialized(self, target: AssetGraphSubset, after: int | None) -> AssetGraphSubset:
        """The part of ``target`` materialized after the event log's record ``after``."""
        graph = self._repository.asset_graph
        done: dict[dg.AssetKey, set[str]] = {}
        for key, subset in target.partitions_subsets_by_asset_key.items():
            wanted = list(subset.get_partition_keys())
            cursor = None
            while True:
                found = self.instance.fetch_materializations(
                    dg.AssetRecordsFilter(
                        asset_key=key, asset_partitions=wanted, after_storage_id=after
                    ),
                    limit=1000,
                    cursor=cursor,
                )
                done.setdefault(key, set()).update(
                    r.partition_key for r in found.records if r.partition_key is not None
                )
                if not found.has_more:
                    break
                cursor = found.cursor
        return AssetGraphSubset(  # type: ignore[call-arg]  # a NamedTuple with defaults
            partitions_subsets_by_asset_key={
                key: partitions.subset_with_partition_keys(sorted(days))
                for key, days in done.items()
                if (partitions := graph.get(key).partitions_def) is not None
            }
        )

    def create(
        self,
        job: str,
        partition: str | None,
        assets: Iterable[dg.AssetKey] | None,
        tags: Mapping[str, str],
    ) -> str:
        """Create a run of ``job`` (for ``partition``, of ``assets`` or all) and return its id;
        ``tags`` name its backfill, if any."""
        keys = tuple(sorted(assets)) if assets is not None else None
        remote = self._remote_job(job, keys)
        run_tags = {**remote.tags, **tags}
        if partition is not None:
            run_tags[PARTITION_NAME_TAG] = partition
            run_tags[PARTITION_SET_TAG] = f"{job}_partition_set"  # as Dagster's daemon tags it
        plan = self._location.get_execution_plan(
            remote, {}, step_keys_to_execute=None, known_state=None, instance=self.instance
        )
        run = self.instance.create_run(
            job_snapshot=remote.job_snapshot,
            execution_plan_snapshot=plan.execution_plan_snapshot,
            parent_job_snapshot=remote.parent_job_snapshot,
            job_name=remote.name,
            run_id=make_new_run_id(),
            resolved_op_selection=None,
            run_config={},
            step_keys_to_execute=None,
            tags=run_tags,
            root_run_id=None,
            parent_run_id=None,
            status=dg.DagsterRunStatus.NOT_STARTED,
            remote_job_origin=remote.get_remote_origin(),
            job_code_origin=remote.get_python_origin(),
            op_selection=None,
            asset_selection=frozenset(keys) if keys is not None else None,
            asset_check_selection=None,
            asset_graph=self._repository.asset_graph,
        )
        return run.run_id

    def submit(self, run_id: str) -> None:
        """Hand a created run to the instance's run coordinator, as the UI's launch button does:
        with the queued coordinator it waits in the queue until the daemon dequeues it within
        the instance's concurrency limits."""
        self.instance.submit_run(run_id, self._request)

    def launch(self, run_id: str) -> None:
        """Launch a created run in a worker, as ``DagsterInstance.launch_run`` does with the
        instance's launcher."""
        created = self.instance.get_run_by_id(run_id)
        assert created is not None
        self.instance.report_dagster_event(
            DagsterEvent(
                event_type_value=DagsterEventType.PIPELINE_STARTING.value,
                job_name=created.job_name,
            ),
            run_id=run_id,
        )
        run = self.instance.get_run_by_id(run_id)
        assert run is not None
        try:
            self.launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=self._request))
        except Exception:
            self.instance.report_run_failed(run)
            raise

    def wait(self, run_ids: Iterable[str]) -> list[FinishedRun]:
        """Block until at least one of ``run_ids`` has ended; return those that have. A run
        whose worker died (killed, out of memory) is marked failed, as the run monitoring
        daemon would."""
        wanted = list(run_ids)
        checked = time.monotonic()
        while True:
            records = self.instance.get_runs(dg.RunsFilter(run_ids=wanted))
            ended = [r for r in records if r.is_finished]
            if ended:
                return [self._finished(r) for r in ended]
            if time.monotonic() - checked > HEALTH_SECONDS:
                checked = time.monotonic()
                for run in records:
                    health = self.launcher.check_run_worker_health(run)
                    if health.status is WorkerStatus.FAILED:
                        self.instance.report_run_failed(run, f"the run's worker died: {health.msg}")
            time.sleep(POLL_SECONDS)

    def terminate(self, run_ids: Iterable[str]) -> None:
        """Cancel launched runs (their workers stop them)."""
        for run_id in run_ids:
            self.launcher.terminate(run_id)

    def cancel(self, run_ids: Iterable[str]) -> None:
        """Mark created runs that were never launched as canceled."""
        for run_id in run_ids:
            run = self.instance.get_run_by_id(run_id)
            if run is not None and run.status == dg.DagsterRunStatus.NOT_STARTED:
                self.instance.report_run_canceled(run, "the backfill stopped before its turn")

    def _finished(self, run: dg.DagsterRun) -> FinishedRun:
        return FinishedRun(run.run_id, run.status == dg.DagsterRunStatus.SUCCESS, self.instance)

    def _remote_job(self, job: str, keys: tuple[dg.AssetKey, ...] | None) -> RemoteJob:
        if (job, keys) not in self._jobs:
            selector = JobSubsetSelector(
                location_name=LOCATION,
                repository_name=self._repository.name,
                job_name=job,
                op_selection=None,
                asset_selection=set(keys) if keys is not None else None,
                asset_check_selection=None,
            )
            self._jobs[(job, keys)] = self._location.get_job(selector)
        return self._jobs[(job, keys)]
