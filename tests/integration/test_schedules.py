"""The monitors' schedules as Dagster's scheduler runs them: each tick queues a run of Dagster's
asset job with the monitor's selection, its last complete day and its tags; monitors whose days
start on different dates share the job; the next iteration queues nothing new.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import dagster._daemon  # before the scheduler: their imports are circular
import pytest
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._scheduler.scheduler import launch_scheduled_runs

from monitoring_pipelines.dagster_runs import LOCATION, workspace
from monitoring_pipelines.definitions import load_fleet
from monitoring_pipelines.jobs import ASSET_JOB, Kind

ROOT = Path(__file__).parents[2]
# Two monitors whose days start on different dates, one of them ended.
ENDED = date(2026, 10, 30)
LATE_START = date(2026, 9, 20)


@pytest.fixture
def scheduler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WorkspaceProcessContext]:
    text = (ROOT / "demo" / "monitors.yaml").read_text()
    recommender = text.index("  recommender:")
    tail = text[recommender:].replace("start_date: 2026-09-01", f"start_date: {LATE_START}", 1)
    tail = tail.replace(f"end_date: {ENDED}", "", 1)
    config = tmp_path / "monitors.yaml"
    config.write_text(text[:recommender] + tail)
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    # Runs wait in the queue: what the scheduler made is read, not executed.
    (dagster_home / "dagster.yaml").write_text(
        "run_coordinator:\n  module: dagster._core.run_coordinator\n"
        "  class: QueuedRunCoordinator\ntelemetry:\n  enabled: false\n"
    )
    for key, value in {
        "DAGSTER_HOME": str(dagster_home),
        "MONITORING_HOME": str(tmp_path / "home"),
        "MONITORING_CONFIG": str(config),
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(ROOT)
    with dg.DagsterInstance.get() as instance, workspace(instance) as context:
        yield context


def tick(context: WorkspaceProcessContext, at: datetime) -> None:
    """One iteration of the scheduler daemon at ``at``."""
    list(launch_scheduled_runs(context, logging.getLogger("scheduler"), at, iteration_times={}))


def test_a_tick_queues_each_monitors_day_as_a_run_of_the_asset_job(
    scheduler: WorkspaceProcessContext,
) -> None:
    instance = scheduler.instance
    fleet = load_fleet(os.environ)
    (repository,) = (
        scheduler.create_request_context().get_code_location(LOCATION).get_repositories().values()
    )
    daily = {name: runs[0] for name, runs in fleet.runs.items()}
    assert {r.kind for r in daily.values()} == {Kind.DAILY}
    for run in daily.values():
        instance.start_schedule(repository.get_schedule(f"{run.name}_schedule"))
    now = datetime.now(UTC)
    due = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    tick(scheduler, due + timedelta(minutes=31))

    queued = instance.get_runs()
    assert len(queued) == len(daily)
    by_monitor = {r.tags["monitor"]: r for r in queued}
    last_complete = now.date().isoformat()
    expected = {"sentiment": ENDED.isoformat(), "recommender": last_complete}
    expected["support_bot"] = ENDED.isoformat()
    for name, run in daily.items():
        made = by_monitor[name]
        assert made.job_name == ASSET_JOB
        assert made.status is dg.DagsterRunStatus.QUEUED
        assert made.asset_selection == set(run.keys)
        assert made.asset_check_selection is None  # every check of the selected assets
        assert made.tags["dagster/partition"] == expected[name]
        assert made.tags["dagster/schedule_name"] == f"{name}_daily_schedule"
        assert made.tags["warehouse"] == run.tags["warehouse"]

    tick(scheduler, due + timedelta(minutes=45))  # the scheduler's next iteration
    assert len(instance.get_runs()) == len(daily)
