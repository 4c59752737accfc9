"""The production profile's run queue with a real ``dagster-daemon``: runs submitted to the
queued run coordinator of deploy/dagster.production.yaml (PostgreSQL instance, a fresh
database) start one at a time per warehouse when the warehouse's limit is 1, oldest first per
monitor, each in its own process (Dagster's default run launcher), and all succeed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.assets.job.asset_job import IMPLICIT_ASSET_JOB_NAME

from monitoring_pipelines.dagster_runs import DagsterRuns
from monitoring_pipelines.definitions import load_fleet
from monitoring_pipelines.demo import generate_demo
from monitoring_pipelines.jobs import WAREHOUSE_TAG, reference_key, run_tags, warehouse_tag
from tests.fakes.processes import stop_tree
from tests.integration.test_production_profile import instance_database  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(900)]

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent
MONITORS = ("sentiment", "recommender")
DAYS = ("2026-09-16", "2026-09-17")
WAREHOUSE_LIMIT = """    - key: warehouse
      value:
        applyLimitPerUniqueValue: true
      limit: 4"""


@pytest.fixture
def environ(instance_database: str, tmp_path: Path) -> dict[str, str]:  # noqa: F811
    home = tmp_path / "home"
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    text = (ROOT / "deploy" / "dagster.production.yaml").read_text()
    assert WAREHOUSE_LIMIT in text
    # One run per warehouse at a time: with one warehouse, the runs of different monitors
    # (which the monitor limit alone lets run together) must take turns.
    (dagster_home / "dagster.yaml").write_text(
        text.replace(WAREHOUSE_LIMIT, WAREHOUSE_LIMIT.replace("limit: 4", "limit: 1"))
    )
    return {
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "WHYLOGS_NO_ANALYTICS": "True",
        "DAGSTER_HOME": str(dagster_home),
        "DAGSTER_PG_URL": instance_database,
        "DAGSTER_LOCAL_ARTIFACTS_DIR": str(tmp_path / "scratch"),
        "DAGSTER_COMPUTE_LOGS_DIR": str(tmp_path / "logs"),
        "MONITORING_HOME": str(home),
        "MONITORING_CONFIG": str(ROOT / "demo" / "monitors.yaml"),
    }


@pytest.fixture
def daemon(environ: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = (tmp_path / "daemon.log").open("wb")
    process = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT,
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    yield process
    stop_tree(process)  # the daemon's process group and the code servers it started
    log.close()


def test_the_queue_takes_turns_per_warehouse_and_keeps_each_monitors_order(
    environ: dict[str, str],
    daemon: subprocess.Popen[bytes],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    generate_demo(
        f"sqlite:///{Path(environ['MONITORING_HOME']) / 'warehouse.db'}",
        tmp_path / "demo",
        days=20,
        scale=0.2,
    )
    submitted: list[str] = []
    with dg.DagsterInstance.from_config(environ["DAGSTER_HOME"]) as instance:
        with DagsterRuns(instance, workers=1) as runs:
            warehouse = f"sqlite:///{Path(environ['MONITORING_HOME']) / 'warehouse.db'}"
            for monitor in MONITORS:
                # as `monitoring backfill` launches a reference: Dagster's asset job, tagged
                reference = (reference_key(monitor),)
                tags = run_tags(monitor, {WAREHOUSE_TAG: warehouse_tag(warehouse)})
                submitted.append(runs.create(IMPLICIT_ASSET_JOB_NAME, None, reference, tags))
            # as the monitors' daily schedules request them: the asset job, by selection
            fleet = load_fleet(os.environ)
            for day in DAYS:
                for monitor in MONITORS:
                    daily = fleet.daily(monitor)
                    made = runs.create(IMPLICIT_ASSET_JOB_NAME, day, daily.keys, daily.tags)
                    submitted.append(made)
            for run_id in submitted:
                runs.submit(run_id)
        assert {r.status for r in instance.get_runs(dg.RunsFilter(run_ids=submitted))} <= {
            dg.DagsterRunStatus.QUEUED,
            dg.DagsterRunStatus.STARTING,
            dg.DagsterRunStatus.STARTED,
        }
        deadline = time.monotonic() + 600
        while True:
            records = instance.get_run_records(dg.RunsFilter(run_ids=submitted))
            if all(r.dagster_run.is_finished for r in records):
                break
            if daemon.poll() is not None or time.monotonic() > deadline:
                log = (tmp_path / "daemon.log").read_text(errors="replace")[-4000:]
                pytest.fail(f"the queued runs did not finish:\n{log}")
            time.sleep(1)

    by_id = {r.dagster_run.run_id: r for r in records}
    assert [by_id[i].dagster_run.status for i in submitted] == [dg.DagsterRunStatus.SUCCESS] * len(
        submitted
    )
    for run_id in submitted:
        tags = by_id[run_id].dagster_run.tags
        assert tags["warehouse"] == "sqlite-warehouse.db" and tags["monitor"] in MONITORS
    spans = sorted(
        (r.start_time, r.end_time, r.dagster_run.tags["monitor"], r.dagster_run.run_id)
        for r in records
        if r.start_time is not None and r.end_time is not None
    )
    assert len(spans) == len(submitted)
    for (_, end, *_), (start, *_) in pairwise(spans):
        assert start >= end, "two runs of one warehouse ran at once"
    for monitor in MONITORS:
        started = [run_id for *_, m, run_id in spans if m == monitor]
        assert started == [i for i in submitted if by_id[i].dagster_run.tags["monitor"] == monitor]
