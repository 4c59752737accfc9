"""Per-run overhead of Dagster runs on this machine, and what the backfill strategies cost.

Measures, side by side in one invocation on the demo's data (generated here into a temporary
MONITORING_HOME):

* ``empty``: an in-process run of a one-asset job that does nothing (Dagster's own cost);
* ``in_process``: the three demo monitors' daily runs (Dagster's asset job with the assets and
  tags of each monitor's DAILY run), partitions one after another in one process;
* ``backfill``: as many partitions through ``monitoring backfill --workers 2``: Dagster
  backfills whose runs the warm run launcher executes (its start-up included);
* ``backfill_before``: the same command with the code of ``--before`` (a git ref; by default
  the last commit whose backfill ran ``execute_in_process`` in a private pool of processes),
  on as many other days, interleaved in halves with ``backfill``;
* ``daemon_backfill``: as many partitions through an asset backfill of each monitor's daily
  assets whose runs a ``dagster-daemon`` requests and launches, as for a backfill started in
  the UI (seconds per monitor-day);
* ``process_per_run``: partitions as ``dagster asset materialize`` of a monitor's daily assets
  in a new process each (two per monitor; the command takes no tags, so the runs carry none of
  the monitor's), which is what a run launched by the daemon (a backfill started in the UI)
  pays;
* ``process_per_run_baseline``: the same runs with the code of ``--baseline`` (a git ref,
  ``main`` by default, exported to a temporary folder), interleaved with the above;
* ``empty_process``: a one-asset job that does nothing, in a new process each: the floor of a
  run in its own process (Python, Dagster, the instance, the run's events).

Prints one JSON line; ratios are against ``in_process`` and, for the process strategies,
against ``empty_process``; ``cpu_seconds_per_run`` is the processes' CPU time (steadier than
wall time on a shared machine). Usage::

    .venv/bin/python benchmarks/run_overhead.py --days 20 --baseline main
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_fleet import dagster_daemon  # noqa: E402

if TYPE_CHECKING:
    import dagster as dg

    from monitoring_pipelines.jobs import MonitorRun

START = date(2026, 9, 1)
MONITORS = ["sentiment", "recommender", "support_bot"]
BEFORE = "3fa6f28"  # the last commit whose backfills ran in the CLI's own pool of processes
EMPTY_LOCATION = """
import dagster as dg

days = dg.DailyPartitionsDefinition(start_date="2026-09-01")


@dg.asset(partitions_def=days)
def nothing():
    return dg.MaterializeResult(metadata={"rows": 0})


defs = dg.Definitions(
    assets=[nothing],
    jobs=[dg.define_asset_job("empty", partitions_def=days, executor_def=dg.in_process_executor)],
)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=20, help="days per strategy (x3 monitors)")
    parser.add_argument(
        "--baseline", default="main", help="git ref whose code the baseline process runs use"
    )
    parser.add_argument(
        "--before",
        default=BEFORE,
        help="git ref whose `monitoring backfill` the backfill_before strategy runs",
    )
    parser.add_argument("--process-runs", type=int, default=6, help="runs per process strategy")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="mp-bench-"))
    env = {
        **os.environ,
        "MONITORING_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "MONITORING_CONFIG": str(ROOT / "demo" / "monitors.yaml"),
        "WHYLOGS_NO_ANALYTICS": "True",
    }
    os.environ.update(env)
    (home / "dagster").mkdir(parents=True)
    (home / "dagster" / "dagster.yaml").write_text((ROOT / "deploy" / "dagster.yaml").read_text())
    monitoring = [sys.executable, "-m", "monitoring_pipelines.cli"]
    subprocess.run(
        [*monitoring, "demo", "generate", "--days", str(max(20, 4 * args.days))],
        env=env,
        check=True,
        capture_output=True,
    )
    days = [START + timedelta(days=i) for i in range(5 * args.days)]
    first, second, third, fourth, fifth = (
        days[i * args.days : (i + 1) * args.days] for i in range(5)
    )

    results: dict[str, float] = {"empty": _empty_job_seconds(args.days)}
    from monitoring_pipelines.definitions import load_fleet

    fleet = load_fleet(os.environ)
    daily = {m: fleet.daily(m) for m in MONITORS}
    results["in_process"] = _in_process_seconds(first, fleet.definitions, daily)
    before_tree, before_commit = _export(args.before, home, "before")
    backfill = dict.fromkeys(("backfill", "backfill_before"), 0.0)
    homes = {ROOT: env["DAGSTER_HOME"], before_tree: str(home / "dagster-before")}
    Path(homes[before_tree]).mkdir()
    instance_yaml = (before_tree / "deploy" / "dagster.yaml").read_text()
    (Path(homes[before_tree]) / "dagster.yaml").write_text(instance_yaml)
    half = args.days // 2
    for name, tree, span in (
        ("backfill", ROOT, second[:half]),
        ("backfill_before", before_tree, third[:half]),
        ("backfill_before", before_tree, third[half:]),
        ("backfill", ROOT, second[half:]),
    ):
        days_of = ["--start", str(span[0]), "--end", str(span[-1])]
        started = time.perf_counter()
        subprocess.run(
            [*monitoring, "backfill", *days_of, "--workers", "2", "--no-alerting"],
            env={**env, "PYTHONPATH": str(tree), "DAGSTER_HOME": homes[tree]},
            cwd=tree,
            check=True,
            capture_output=True,
        )
        backfill[name] += (time.perf_counter() - started) / (len(MONITORS) * args.days)
    results.update(backfill)
    results["daemon_backfill"] = _daemon_backfill_seconds(fifth, env, daily)
    launched = [(m, d) for d, m in zip(fourth, MONITORS * len(fourth), strict=False)]
    baseline_tree, baseline_commit = _export(args.baseline, home, "baseline")
    (home / "empty_location.py").write_text(EMPTY_LOCATION)
    definitions = ["-m", "monitoring_pipelines.definitions"]
    empty = ["-f", str(home / "empty_location.py")]
    strategies = {
        "process_per_run_baseline": lambda m, d: _timed(
            _materialize(definitions, daily[m].keys, d),
            {**env, "PYTHONPATH": str(baseline_tree)},
            baseline_tree,
        ),
        "process_per_run": lambda m, d: _timed(
            _materialize(definitions, daily[m].keys, d), env, ROOT
        ),
        "empty_process": lambda m, d: _timed(_execute(empty, "empty", d), env, home),
    }
    wall = dict.fromkeys(strategies, 0.0)
    cpu = dict.fromkeys(strategies, 0.0)
    runs = launched[: args.process_runs]
    for i, (monitor, day) in enumerate(runs):
        # Interleaved, in a rotating order: the machine's load drifts over minutes.
        names = list(strategies)
        for name in names[i % len(names) :] + names[: i % len(names)]:
            seconds, cpu_seconds = strategies[name](monitor, day)
            wall[name] += seconds / len(runs)
            cpu[name] += cpu_seconds / len(runs)
    results.update(wall)
    base = results["in_process"]
    print(
        json.dumps(
            {
                "seconds_per_run": {k: round(v, 3) for k, v in results.items()},
                "ratio_to_in_process": {k: round(v / base, 2) for k, v in results.items()},
                "cpu_seconds_per_run": {k: round(v, 3) for k, v in cpu.items()},
                "ratio_to_empty_process": {
                    "wall": {k: round(v / wall["empty_process"], 2) for k, v in wall.items()},
                    "cpu": {k: round(v / cpu["empty_process"], 2) for k, v in cpu.items()},
                },
                "process_per_run_over_baseline": {
                    "wall": round(wall["process_per_run"] / wall["process_per_run_baseline"], 2),
                    "cpu": round(cpu["process_per_run"] / cpu["process_per_run_baseline"], 2),
                },
                "backfill_over_before": round(results["backfill"] / results["backfill_before"], 2),
                "before": f"{args.before} ({before_commit[:10]})",
                "baseline": f"{args.baseline} ({baseline_commit[:10]})",
                "process_runs": len(runs),
                "days_per_strategy": args.days,
                "cores": os.cpu_count(),
            }
        )
    )


def _daemon_backfill_seconds(
    days: list[date], env: dict[str, str], daily: dict[str, MonitorRun]
) -> float:
    """Seconds per monitor-day of an asset backfill of each monitor's daily assets (its DAILY
    run's keys, tagged with its tags) for ``days``: the daemon's backfill loop requests the
    runs, the run queue dequeues them (deploy/dagster.yaml: 2 at a time, one per monitor) and
    the warm run launcher executes them; from the first run's start to the last run's end.

    The backfill targets exactly ``days`` of those assets, as ``monitoring backfill`` records
    one. (The UI's dialog sends the days and the assets, and Dagster then also targets every
    later day of each window asset, whose partitions depend on the days before them.) The
    daemon splits a monitor-day into several runs as the assets' dependencies allow."""
    import dagster as dg
    from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
    from dagster._core.execution.backfill import BULK_ACTION_TERMINAL_STATUSES, PartitionBackfill
    from dagster._core.storage.tags import BACKFILL_ID_TAG
    from dagster._core.utils import make_new_backfill_id

    instance = dg.DagsterInstance.get()
    keys = [d.isoformat() for d in days]
    with dagster_daemon(env):
        ids = []
        for monitor in MONITORS:
            run = daily[monitor]
            assert run.partitions is not None
            target = AssetGraphSubset(  # type: ignore[call-arg]  # a NamedTuple with defaults
                partitions_subsets_by_asset_key={
                    key: run.partitions.subset_with_partition_keys(keys) for key in run.keys
                }
            )
            backfill = PartitionBackfill.from_asset_graph_subset(
                backfill_id=make_new_backfill_id(),
                backfill_timestamp=time.time(),
                tags=dict(run.tags),
                dynamic_partitions_store=instance,
                asset_graph_subset=target,
                title=None,
                description=None,
                run_config=None,
            )
            instance.add_backfill(backfill)
            ids.append(backfill.backfill_id)
        while True:
            backfills = [instance.get_backfill(i) for i in ids]
            if all(b is not None and b.status in BULK_ACTION_TERMINAL_STATUSES for b in backfills):
                break
            time.sleep(1)
    mine = [
        r for i in ids for r in instance.get_run_records(dg.RunsFilter(tags={BACKFILL_ID_TAG: i}))
    ]
    assert mine and all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in mine)
    start = min(r.start_time for r in mine if r.start_time)
    end = max(r.end_time for r in mine if r.end_time)
    return (end - start) / (len(MONITORS) * len(days))


def _materialize(location: list[str], keys: Iterable[dg.AssetKey], day: date) -> list[str]:
    """``dagster asset materialize``: a run of Dagster's asset job of ``keys`` for ``day`` in
    a new process."""
    dagster = str(Path(sys.executable).parent / "dagster")
    select = ",".join(k.to_user_string() for k in keys)
    return [dagster, "asset", "materialize", *location, "--select", select, "--partition", str(day)]


def _execute(location: list[str], job: str, day: date) -> list[str]:
    """``dagster job execute``: a run of ``job`` for ``day`` in a new process."""
    dagster = str(Path(sys.executable).parent / "dagster")
    partition = json.dumps({"dagster/partition": day.isoformat()})
    return [dagster, "job", "execute", *location, "-j", job, "--tags", partition]


def _timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds (the process and its children) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True, cwd=cwd)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


def _export(ref: str, home: Path, name: str) -> tuple[Path, str]:
    """The tree of git ``ref`` exported under ``home``, and its commit."""
    commit = subprocess.run(
        ["git", "rev-parse", ref], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    tree = home / name
    tree.mkdir()
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree, commit


def _empty_job_seconds(runs: int) -> float:
    import dagster as dg

    warnings.filterwarnings("ignore")
    partitions = dg.DailyPartitionsDefinition(start_date=START.isoformat())

    @dg.asset(partitions_def=partitions)
    def nothing():  # unannotated: a string annotation would not resolve in this scope
        return dg.MaterializeResult(metadata={"rows": 0})

    job = dg.define_asset_job(
        "empty", partitions_def=partitions, executor_def=dg.in_process_executor
    )
    defs = dg.Definitions(assets=[nothing], jobs=[job])
    instance = dg.DagsterInstance.get()
    resolved = defs.resolve_job_def("empty")
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    resolved.execute_in_process(
        partition_key=START.isoformat(), instance=instance, run_config=quiet
    )
    started = time.perf_counter()
    for i in range(runs):
        key = (START + timedelta(days=i + 1)).isoformat()
        resolved.execute_in_process(partition_key=key, instance=instance, run_config=quiet)
    return (time.perf_counter() - started) / runs


def _in_process_seconds(
    days: list[date], defs: dg.Definitions, daily: dict[str, MonitorRun]
) -> float:
    """Seconds per run of the monitors' daily runs (Dagster's asset job with the assets and
    tags of each monitor's DAILY run) run one after another in this process."""
    import dagster as dg

    from monitoring_pipelines.jobs import asset_job, reference_key

    instance = dg.DagsterInstance.get()
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    jobs = {m: asset_job(defs, daily[m].keys) for m in MONITORS}  # as Dagster caches a job

    def run(monitor: str, day: date) -> None:
        result = jobs[monitor].execute_in_process(
            partition_key=day.isoformat(),
            instance=instance,
            run_config=quiet,
            tags=daily[monitor].tags,
        )
        assert result.success, (monitor, day)

    for monitor in MONITORS:
        key = reference_key(monitor)
        built = defs.resolve_implicit_job_def_def_for_assets([key])
        assert built is not None
        assert built.execute_in_process(
            asset_selection=[key], instance=instance, run_config=quiet
        ).success
        run(monitor, days[0])  # warm the imports
    started = time.perf_counter()
    for day in days[1:]:
        for monitor in MONITORS:
            run(monitor, day)
    return (time.perf_counter() - started) / (len(MONITORS) * (len(days) - 1))


if __name__ == "__main__":
    main()
