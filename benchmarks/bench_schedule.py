"""One day of the daily schedule of a fleet, through the daemon (not a test).

N copies of the demo's `recommender` (`bench_fleet.py`'s fleet): their references and a first
day are built by `monitoring backfill --workers 2`; then each monitor's daily run of the next
day (a run of Dagster's asset job with the assets and tags of the monitor's DAILY run) is
created from the code location and queued, as the daily schedules queue them at 00:30, with a
`dagster-daemon` running (the run queue of `deploy/dagster.yaml`: 2 at a time, one per
monitor; the warm run launcher). Reports the wall time from the first queued run to the last
finished one, per run, and the backfill's figures beside it.

The alerting sensor is stopped while the day runs, as the UI's toggle stops it; then one
alerting pass (what a tick of the sensor does) ingests the day's N new runs: its seconds, in a
process that has already loaded the code, are the "alerting tick" of README.md's fleet table.

Usage::

    .venv/bin/python benchmarks/bench_schedule.py --monitors 1 10 100
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_fleet import ROOT, dagster_daemon, finished_runs, fleet_config

FIRST, DAY = "2026-09-01", "2026-09-02"


# One alerting pass over the runs not processed yet, timed without the process's start.
ALERTING_TICK = """
import time
from monitoring_pipelines.cli.context import Context
from monitoring_pipelines.cli.operations import run_alerting
ctx = Context(None)
config = ctx.config()
ctx.instance(), ctx.alerts()
started = time.perf_counter()
report = run_alerting(ctx, config)
print(time.perf_counter() - started, report.ingest.runs)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--monitors", type=int, nargs="+", default=[100])
    args = parser.parse_args()
    print(json.dumps([one_day(monitors) for monitors in args.monitors]))


def one_day(monitors: int) -> dict[str, object]:
    """The figures of one scheduled day of ``monitors`` monitors, in a home of its own."""
    home = Path(tempfile.mkdtemp(prefix="mp-schedule-"))
    (home / "dagster").mkdir()
    (home / "dagster" / "dagster.yaml").write_text((ROOT / "deploy" / "dagster.yaml").read_text())
    env = {
        **os.environ,
        "MONITORING_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "WHYLOGS_NO_ANALYTICS": "True",
    }
    monitoring = [sys.executable, "-m", "monitoring_pipelines.cli"]
    demo = {**env, "MONITORING_CONFIG": str(ROOT / "demo" / "monitors.yaml")}
    subprocess.run([*monitoring, "demo", "generate", "--days", "20"], env=demo, check=True)
    env["MONITORING_CONFIG"] = str(fleet_config(home, monitors))
    os.environ.update(env)
    started = time.perf_counter()
    subprocess.run(
        [
            *monitoring,
            "backfill",
            "--start",
            FIRST,
            "--end",
            FIRST,
            "--workers",
            "2",
            "--no-alerting",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    backfill_s = time.perf_counter() - started
    subprocess.run([*monitoring, "alerting", "run"], env=env, check=True, capture_output=True)

    import dagster as dg

    from monitoring_pipelines.dagster_runs import DagsterRuns
    from monitoring_pipelines.definitions import load_fleet
    from monitoring_pipelines.jobs import ASSET_JOB

    # Each monitor's daily run, as its daily schedule requests it: Dagster's asset job with the
    # DAILY run's assets and tags (the run queue's limits count its `monitor` tag).
    fleet = load_fleet(os.environ)
    daily = [fleet.daily(monitor) for monitor in fleet.runs]
    instance = dg.DagsterInstance.get()
    with DagsterRuns(instance, workers=1) as runs:
        sensor = runs._repository.get_sensor("alerting")
        instance.stop_sensor(sensor.get_remote_origin_id(), sensor.selector_id, sensor)
    with dagster_daemon(env):
        with DagsterRuns(instance, workers=1) as runs:
            created = [runs.create(ASSET_JOB, DAY, run.keys, run.tags) for run in daily]
            queued = time.time()
            for run_id in created:
                instance.submit_run(run_id, runs._request)  # the queue only marks it queued
        ids = set(created)
        records = finished_runs(instance, len(ids), lambda r: r.run_id in ids)
    failed = [r.dagster_run.run_id for r in records if not r.dagster_run.is_success]
    end = max(r.end_time for r in records if r.end_time)
    wall = end - queued
    tick = subprocess.run(
        [sys.executable, "-c", ALERTING_TICK],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    tick_s, tick_runs = tick.stdout.strip().splitlines()[-1].split()
    return {
        "monitors": monitors,
        "schedule_day_wall_s": round(wall, 1),
        "schedule_s_per_run": round(wall / monitors, 2),
        "failed_runs": len(failed),
        "alerting_tick_s": round(float(tick_s), 2),
        "alerting_tick_runs": int(tick_runs),
        "backfill_first_day_with_references_s": round(backfill_s, 1),
        "backfill_s_per_run": round(backfill_s / (2 * monitors), 2),
        "cores": os.cpu_count(),
    }


if __name__ == "__main__":
    main()
