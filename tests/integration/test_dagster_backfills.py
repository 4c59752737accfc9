"""`monitoring backfill` through Dagster's own machinery: its runs and backfills are the code
location's, as the UI's are (origin, job, partition, backfill), the UI's workspace re-executes
them through the instance's configured launcher, a run whose worker dies is named and can be
run again without duplicates, and the warm launcher retires workers whose code changed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.definitions.assets.job.asset_job import IMPLICIT_ASSET_JOB_NAME
from dagster._core.execution.backfill import BulkActionStatus
from dagster._core.execution.plan.resume_retry import ReexecutionStrategy
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

from monitoring_pipelines.dagster_runs import LOCATION, DagsterRuns
from monitoring_pipelines.definitions import load_fleet
from monitoring_pipelines.jobs import reference_key
from monitoring_pipelines.launcher import WarmRunLauncher, worker_pid
from tests.adversarial.test_runs_and_cli import backfill, make_home

ROOT = Path(__file__).resolve().parents[2]
DEPLOYED = (ROOT / "deploy" / "dagster.yaml").read_text()
SHOP_REFERENCE = (reference_key("shop"),)  # a reference is rebuilt by materializing its asset


def deployed_home(tmp_path: Path, **kwargs: object) -> dict[str, str]:
    """A monitor's home whose Dagster instance is configured as `make` deploys it."""
    environ = make_home(tmp_path / "home", **kwargs)  # type: ignore[arg-type]
    Path(environ["DAGSTER_HOME"]).mkdir(parents=True)
    (Path(environ["DAGSTER_HOME"]) / "dagster.yaml").write_text(DEPLOYED)
    return environ


def instance_of(environ: dict[str, str]) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(environ["DAGSTER_HOME"])


def test_backfill_runs_are_the_code_locations_and_the_ui_reexecutes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13: runs made by `monitoring backfill` had no code-location origin: the UI's job
    pages said the job never ran, the Backfills page was empty, Re-execute warned."""
    environ = deployed_home(tmp_path, days=3)
    result = backfill(monkeypatch, environ, 0, 2, "--workers", "2", "--no-alerting")
    assert result.exit_code == 0, result.output
    instance = instance_of(environ)

    (recorded,) = instance.get_backfills()  # one per monitor: an asset backfill of its days
    assert recorded.status == BulkActionStatus.COMPLETED_SUCCESS
    assert recorded.is_asset_backfill and recorded.tags["monitor"] == "shop"
    days = {f"2026-09-0{d}" for d in (1, 2, 3)}
    target = recorded.asset_backfill_data.target_subset
    assert target.asset_keys == set(recorded.asset_selection)
    assert all(
        set(subset.get_partition_keys()) == days
        for subset in target.partitions_subsets_by_asset_key.values()
    )
    # the backfill's page counts each asset's days as succeeded, none in progress
    assert recorded.asset_backfill_data.materialized_subset == target
    assert recorded.asset_backfill_data.failed_and_downstream_subset.is_empty
    runs = instance.get_runs(dg.RunsFilter(job_name=IMPLICIT_ASSET_JOB_NAME))
    daily = [r for r in runs if "dagster/partition" in r.tags]
    assert {r.tags["dagster/partition"] for r in daily} == days
    assert {r.tags["dagster/backfill"] for r in daily} == {recorded.backfill_id}
    assert set().union(*(r.asset_selection or set() for r in daily)) == set(
        recorded.asset_selection
    )
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in daily)
    assert {r.remote_job_origin.location_name for r in daily} == {LOCATION}

    # The UI's workspace (workspace.yaml, a code server of its own) knows the runs' job as the
    # same job (the same snapshot: Re-execute does not warn) and re-executes one, with its
    # asset selection, through the instance's configured launcher.
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    with WorkspaceProcessContext(
        instance, WorkspaceFileTarget([str(ROOT / "workspace.yaml")])
    ) as workspace:
        request = workspace.create_request_context()
        location = request.get_code_location(LOCATION)
        (repository,) = location.get_repositories().values()
        remote = repository.get_full_job(IMPLICIT_ASSET_JOB_NAME)
        for parent in daily:  # a whole day, or the part of it that ran ahead of its window
            # What the UI compares before it offers Re-execute without a warning.
            lineage = instance.get_job_snapshot(parent.job_snapshot_id).lineage_snapshot
            snapshot = lineage.parent_snapshot_id if lineage else parent.job_snapshot_id
            assert snapshot == remote.identifying_job_snapshot_id
        parent = next(r for r in daily if r.tags["dagster/partition"] == "2026-09-02")
        assert parent.remote_job_origin.repository_origin.repository_name == repository.name
        selected = location.get_job(
            remote.get_subset_selector(
                asset_selection=parent.asset_selection, asset_check_selection=None
            )
        )
        again = instance.create_reexecuted_run(
            parent_run=parent,
            request_context=request,
            code_location=location,
            remote_job=selected,
            strategy=ReexecutionStrategy.ALL_STEPS,
            use_parent_run_tags=True,  # as the UI's Re-execute does
        )
        assert isinstance(instance.run_launcher, WarmRunLauncher)
        instance.launch_run(again.run_id, request)
        deadline = time.monotonic() + 120
        while not (run := instance.get_run_by_id(again.run_id)).is_finished:
            assert time.monotonic() < deadline, "the re-executed run did not finish"
            time.sleep(0.2)
        instance.run_launcher.join(timeout=10)
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert run.tags["dagster/partition"] == "2026-09-02"
    assert run.parent_run_id == parent.run_id
    assert run.asset_selection == parent.asset_selection


@pytest.mark.slow  # a minute or more of real runs: CI's slow tier
def test_a_run_whose_worker_dies_is_named_and_the_day_runs_again_without_duplicates(
    tmp_path: Path,
) -> None:
    """A worker killed in the middle of a run: the run is marked failed (not left "started"),
    the command names the day and exits 1, and running the day again completes it once."""
    environ = deployed_home(tmp_path, days=3, heavy={2: 400_000})
    env = {**os.environ, **environ, "WHYLOGS_NO_ANALYTICS": "True"}
    env.pop("SLACK_BOT_TOKEN", None)
    command = [sys.executable, "-m", "monitoring_pipelines.cli", "backfill", "--no-alerting"]
    days = ["--start", "2026-09-01", "--end", "2026-09-03", "--workers", "1"]
    process = subprocess.Popen(
        command + days, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    instance = instance_of(environ)
    killed = None
    deadline = time.monotonic() + 240
    while killed is None and process.poll() is None and time.monotonic() < deadline:
        started = instance.get_runs(
            dg.RunsFilter(
                statuses=[dg.DagsterRunStatus.STARTED], tags={"dagster/partition": "2026-09-03"}
            )
        )
        steps = (
            started
            and instance.get_records_for_run(
                started[0].run_id, of_type=dg.DagsterEventType.STEP_START
            ).records
        )
        if steps and (pid := worker_pid(started[0])) is not None:  # in a step, its logs captured
            killed = started[0]
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    out, err = process.communicate(timeout=240)
    assert killed is not None, (out, err)
    assert process.returncode == 1, (out, err)
    failed = [line for line in err.splitlines() if line.startswith("run failed: ")]
    assert len(failed) == 1 and failed[0].startswith("run failed: shop 2026-09-03 run: "), err
    assert "worker died" in failed[0], err
    run = instance.get_run_by_id(killed.run_id)
    assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
    # Nothing the killed run started is left behind (Dagster tails its captured logs).
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-af", str(tmp_path)], capture_output=True, text=True)
    assert left.stdout == "", left.stdout

    again = subprocess.run(
        [*command, "--start", "2026-09-03", "--end", "2026-09-03"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    engine = sa.create_engine(environ["MONITORING_STORE_URL"])
    with engine.connect() as conn:
        counts = dict(
            conn.execute(
                sa.text("SELECT partition_key, count(*) FROM metrics GROUP BY partition_key")
            ).all()
        )
    engine.dispose()
    # The day's results are all there (the store's keys make a second write replace the first).
    assert counts["2026-09-03"] >= counts["2026-09-01"] > 0, counts
    latest = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": "2026-09-03"}), limit=1)
    assert latest[0].status == dg.DagsterRunStatus.SUCCESS


def test_a_worker_whose_code_changed_is_replaced_before_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long-lived worker must not run yesterday's code: after an edit under the project's
    packages, the next run gets a new worker process."""
    environ = deployed_home(tmp_path, days=2)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    code = tmp_path / "code"
    code.mkdir()
    (code / "module.py").write_text("x = 1\n")
    instance = instance_of(environ)
    launcher = WarmRunLauncher(workers=1, roots=(code,))
    launcher.register_instance(instance)

    with DagsterRuns(instance, workers=1) as runs:
        runs.launcher = launcher
        pids = []
        for _ in range(2):
            run_id = runs.create(IMPLICIT_ASSET_JOB_NAME, None, SHOP_REFERENCE, {})
            runs.launch(run_id)
            (finished,) = runs.wait([run_id])
            assert finished.success
            pids.append(worker_pid(instance.get_run_by_id(run_id)))
            later = time.time() + 10
            os.utime(code / "module.py", (later, later))
        launcher.dispose()
    assert pids[0] != pids[1]


def test_terminate_from_another_process_cancels_the_run_and_keeps_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The UI's Terminate reaches the run through the webserver's own launcher: the run ends
    canceled, and its worker serves the next run."""
    environ = deployed_home(tmp_path, days=1, heavy={0: 400_000})
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    instance = instance_of(environ)
    elsewhere = WarmRunLauncher()  # as the webserver's instance holds one
    elsewhere.register_instance(instance)
    with DagsterRuns(instance, workers=1) as runs:
        reference = runs.create(IMPLICIT_ASSET_JOB_NAME, None, SHOP_REFERENCE, {})
        runs.launch(reference)
        assert runs.wait([reference])[0].success
        daily = load_fleet(os.environ).daily("shop")
        day = runs.create(IMPLICIT_ASSET_JOB_NAME, "2026-09-01", daily.keys, daily.tags)
        runs.launch(day)
        deadline = time.monotonic() + 120
        while instance.get_run_by_id(day).status != dg.DagsterRunStatus.STARTED:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1.0)  # into its steps
        assert elsewhere.terminate(day)
        (ended,) = runs.wait([day])
        assert instance.get_run_by_id(day).status == dg.DagsterRunStatus.CANCELED
        again = runs.create(IMPLICIT_ASSET_JOB_NAME, None, SHOP_REFERENCE, {})
        runs.launch(again)
        assert runs.wait([again])[0].success
        assert worker_pid(instance.get_run_by_id(again)) == worker_pid(instance.get_run_by_id(day))
        assert not ended.success


@pytest.mark.slow  # a minute or more of real runs: CI's slow tier
def test_a_reference_is_refitted_only_when_it_or_its_settings_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backfill fits a monitor's reference when it is missing or changed, not every time."""
    environ = deployed_home(tmp_path, days=2)
    instance = instance_of(environ)

    def reference_runs() -> int:
        runs = instance.get_runs(dg.RunsFilter(job_name=IMPLICIT_ASSET_JOB_NAME))
        return sum(reference_key("shop") in (r.asset_selection or ()) for r in runs)

    first = backfill(monkeypatch, environ, 0, 0, "--workers", "1", "--no-alerting")
    assert first.exit_code == 0, first.output
    assert reference_runs() == 1
    again = backfill(monkeypatch, environ, 1, 1, "--workers", "1", "--no-alerting")
    assert again.exit_code == 0, again.output
    assert reference_runs() == 1, "an unchanged reference was fitted again"
    assert "refitting" not in again.output

    # New training rows: the reference changed.
    engine = sa.create_engine(environ["MONITORING_WAREHOUSE_URL"])
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO training SELECT * FROM training LIMIT 10"))
    engine.dispose()
    changed = backfill(monkeypatch, environ, 1, 1, "--workers", "1", "--no-alerting")
    assert changed.exit_code == 0, changed.output
    assert reference_runs() == 2
    assert "shop: its reference or the settings it is fitted with changed" in changed.output

    # A setting the fit uses (the sample kept for p-values), not one it ignores (a channel).
    config = Path(environ["MONITORING_CONFIG"])
    config.write_text(config.read_text() + "    alerts: {slack_channel: '#other'}\n")
    quiet = backfill(monkeypatch, environ, 1, 1, "--workers", "1", "--no-alerting")
    assert quiet.exit_code == 0, quiet.output
    assert reference_runs() == 2
    config.write_text(config.read_text() + "    drift: {p_value_sample: 4000}\n")
    # A new fit may move the bins: the days of a window are profiled again with it.
    refit = backfill(monkeypatch, environ, 0, 1, "--workers", "1", "--no-alerting")
    assert refit.exit_code == 0, refit.output
    assert reference_runs() == 3
