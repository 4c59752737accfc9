"""One day of the daily schedule of a fleet, through the daemon (not a test).

N copies of the demo's `recommender` (`bench_fleet.py`'s fleet): their references and a first
day are built by `monitoring backfill --workers 2`; then each monitor's daily run of the next
day is created from the code location and queued, as the daily schedules queue them at 00:30,
with a `dagster-daemon` running (the run queue of `deploy/dagster.yaml`: 2 at a time, one per
monitor; the warm run launcher). Reports the wall time from the first queued run to the last
finished one, per run, and the backfill's figures beside it.

Usage::

    .venv/bin/python benchmarks/bench_schedule.py --monitors 100
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--monitors", type=int, default=100)
    args = parser.parse_args()
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
    env["MONITORING_CONFIG"] = str(fleet_config(home, args.monitors))
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

    import dagster as dg

    from monitoring_pipelines.dagster_runs import DagsterRuns

    instance = dg.DagsterInstance.get()
    with dagster_daemon(env):
        with DagsterRuns(instance, workers=1) as runs:
            created = [
                runs.create(f"rec{i:03d}_daily", DAY, None, {}) for i in range(args.monitors)
            ]
            queued = time.time()
            for run_id in created:
                instance.submit_run(run_id, runs._request)  # the queue only marks it queued
        ids = set(created)
        records = finished_runs(instance, len(ids), lambda r: r.run_id in ids)
    failed = [r.dagster_run.run_id for r in records if not r.dagster_run.is_success]
    end = max(r.end_time for r in records if r.end_time)
    wall = end - queued
    print(
        json.dumps(
            {
                "monitors": args.monitors,
                "schedule_day_wall_s": round(wall, 1),
                "schedule_s_per_run": round(wall / args.monitors, 2),
                "failed_runs": len(failed),
                "backfill_first_day_with_references_s": round(backfill_s, 1),
                "backfill_s_per_run": round(backfill_s / (2 * args.monitors), 2),
                "cores": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
