"""A fleet of monitors: what the number of monitors costs (not a test).

Copies of the demo's `recommender` monitor (9 daily assets on one table), measured side by side
in one invocation, with this code and with the code of ``--before`` (a git ref exported to a
temporary folder and put first on ``PYTHONPATH``):

* ``load``: the definitions loaded in a fresh process through the code location's entry
  (``definitions.defs``, as Dagster's code server calls it), with the repository snapshot the
  code server sends (what the webserver and the daemon wait for): wall and CPU seconds (the
  CPU time of the process is steadier than its wall time on a machine shared with other work),
  and the seconds of it Python's cyclic garbage collector took;
* ``ready``: ``dagster-webserver`` started on the fleet until its code location is loaded
  (what a user waits for after ``make ui``), with this code and with ``--before``'s;
* ``run``: a daily run (Dagster's asset job with the assets and tags of ``rec000``'s DAILY
  run) through the warm run launcher with N monitors configured: the first daily run of a
  worker (after the reference run, which loaded the definitions) and its later runs (this code
  only: before, runs were executed in process by the command's own pool).

Usage::

    .venv/bin/python benchmarks/bench_fleet.py --sizes 1 10 100 500 --reps 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.processes import stop_tree  # noqa: E402

BEFORE = "14952fd"
LOAD = """
import gc, time
started = time.perf_counter()
collecting = [0.0, 0.0]  # the collector's seconds, the start of its current pass
def timed(phase, info):
    if phase == "start":
        collecting[1] = time.perf_counter()
    else:
        collecting[0] += time.perf_counter() - collecting[1]
gc.callbacks.append(timed)
import dagster  # noqa: F401
from dagster._core.remote_representation.external_data import RepositorySnap
from monitoring_pipelines.definitions import defs
RepositorySnap.from_def(defs().get_repository_def())
print(time.perf_counter() - started, time.process_time(), collecting[0])
"""


@contextmanager
def dagster_daemon(env: dict[str, str]) -> Iterator[None]:
    """A ``dagster-daemon`` on the repository's workspace.yaml for the duration."""
    daemon = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield
    finally:
        stop_tree(daemon)  # its process group and the code servers it started


def finished_runs(instance: Any, wanted: int, chosen: Callable[[Any], bool]) -> list[Any]:
    """The run records ``chosen`` picks, once there are ``wanted`` of them and all ended."""
    while True:
        records = [r for r in instance.get_run_records() if chosen(r.dagster_run)]
        if len(records) >= wanted and all(r.dagster_run.is_finished for r in records):
            return records
        time.sleep(1)


def fleet_config(home: Path, monitors: int) -> Path:
    """A monitor file with ``monitors`` copies of the demo's recommender."""
    import yaml

    demo = yaml.safe_load((ROOT / "demo" / "monitors.yaml").read_text())
    config = {k: v for k, v in demo.items() if k != "monitors"}
    config["monitors"] = {f"rec{i:03d}": demo["monitors"]["recommender"] for i in range(monitors)}
    path = home / f"fleet-{monitors}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def load_seconds(tree: Path, config: Path, home: Path) -> tuple[float, float, float]:
    """Wall and CPU seconds of the definitions and the snapshot in a fresh process, and the
    seconds of it that Python's cyclic garbage collector took."""
    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "MONITORING_CONFIG": str(config),
        "MONITORING_HOME": str(home),
        "WHYLOGS_NO_ANALYTICS": "True",
    }
    out = subprocess.run(
        [sys.executable, "-c", LOAD], env=env, cwd=tree, check=True, capture_output=True, text=True
    )
    wall, cpu, collecting = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu), float(collecting)


def ready_seconds(tree: Path, config: Path, home: Path, port: int) -> float:
    """Seconds from starting the webserver until its code location reports LOADED."""
    import urllib.request

    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "MONITORING_CONFIG": str(config),
        "MONITORING_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster-ready"),
        "WHYLOGS_NO_ANALYTICS": "True",
    }
    (home / "dagster-ready").mkdir(exist_ok=True)
    webserver = str(Path(sys.executable).parent / "dagster-webserver")
    query = json.dumps(
        {"query": "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }"}
    ).encode()
    started = time.perf_counter()
    server = subprocess.Popen(
        [webserver, "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        env=env,
        cwd=tree,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while time.perf_counter() - started < 600:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/graphql",
                    data=query,
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=5) as answer:
                    entries = json.load(answer)["data"]["workspaceOrError"]["locationEntries"]
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    return time.perf_counter() - started
            except (OSError, KeyError, TypeError, ValueError):
                pass
            time.sleep(0.2)
        raise TimeoutError(f"the webserver did not load {config} within 600 s")
    finally:
        os.killpg(server.pid, 15)
        server.wait(60)


def run_seconds(config: Path, home: Path, runs: int) -> tuple[float, float]:
    """The first and the mean later wall seconds of daily runs through a warm worker."""
    env = {
        **os.environ,
        "MONITORING_CONFIG": str(config),
        "MONITORING_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "WHYLOGS_NO_ANALYTICS": "True",
    }
    script = f"""
import os
import time
import dagster as dg
from monitoring_pipelines.dagster_runs import DagsterRuns
from monitoring_pipelines.definitions import load_fleet
from monitoring_pipelines.jobs import ASSET_JOB, reference_key
instance = dg.DagsterInstance.get()
# rec000's daily run: Dagster's asset job with its DAILY run's assets and tags.
daily = load_fleet(os.environ).daily("rec000")
seconds = []
with DagsterRuns(instance, workers=1) as runs:
    jobs = [(None, (reference_key("rec000"),), {{}})] + [
        (f"2026-09-{{d:02d}}", daily.keys, daily.tags) for d in range(1, {runs} + 2)
    ]
    for day, keys, tags in jobs:
        started = time.perf_counter()
        run_id = runs.create(ASSET_JOB, day, keys, tags)
        runs.launch(run_id)
        (done,) = runs.wait([run_id])
        assert done.success, (day, keys)
        seconds.append(time.perf_counter() - started)
print(seconds[1], sum(seconds[2:]) / len(seconds[2:]))
"""
    command = [sys.executable, "-c", script]
    out = subprocess.run(command, env=env, cwd=ROOT, check=True, capture_output=True, text=True)
    first, later = out.stdout.strip().splitlines()[-1].split()
    return float(first), float(later)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100, 500])
    parser.add_argument("--run-sizes", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--ready-sizes", type=int, nargs="+", default=[1, 100, 500])
    parser.add_argument("--reps", type=int, default=3, help="load measurements per size (median)")
    parser.add_argument("--runs", type=int, default=4, help="later runs per size")
    parser.add_argument("--before", default=BEFORE, help="git ref of the code to compare with")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="mp-fleet-"))
    before = home / "before"
    before.mkdir()
    archive = subprocess.run(
        ["git", "archive", args.before], cwd=ROOT, check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(before)], input=archive.stdout, check=True)
    load: dict[str, dict[int, float]] = {"after": {}, "before": {}}
    load_cpu: dict[str, dict[int, float]] = {"after": {}, "before": {}}
    load_gc: dict[str, dict[int, float]] = {"after": {}, "before": {}}
    for size in args.sizes:
        config = fleet_config(home, size)
        samples: dict[str, list[tuple[float, float, float]]] = {"after": [], "before": []}
        for rep in range(args.reps):  # interleaved: the machine's load drifts
            order = [("after", ROOT), ("before", before)]
            for name, tree in order if rep % 2 == 0 else order[::-1]:
                samples[name].append(load_seconds(tree, config, home))
        for name, values in samples.items():
            load[name][size] = round(statistics.median(w for w, _, _ in values), 2)
            load_cpu[name][size] = round(statistics.median(c for _, c, _ in values), 2)
            load_gc[name][size] = round(statistics.median(g for _, _, g in values), 2)
    ready: dict[str, dict[int, float]] = {"after": {}, "before": {}}
    for size in args.ready_sizes:
        config = fleet_config(home, size)
        for name, tree in (("after", ROOT), ("before", before)):
            ready[name][size] = round(ready_seconds(tree, config, home, 3900), 2)
    data = home / "data"
    (data / "dagster").mkdir(parents=True)
    (data / "dagster" / "dagster.yaml").write_text((ROOT / "deploy" / "dagster.yaml").read_text())
    env = {**os.environ, "MONITORING_HOME": str(data), "WHYLOGS_NO_ANALYTICS": "True"}
    subprocess.run(
        [sys.executable, "-m", "monitoring_pipelines.cli", "demo", "generate", "--days", "20"],
        env={**env, "MONITORING_CONFIG": str(ROOT / "demo" / "monitors.yaml")},
        check=True,
        capture_output=True,
    )
    runs: dict[int, dict[str, float]] = {}
    for size in args.run_sizes:
        fleet = data.parent / f"fleet-data-{size}"
        shutil.copytree(data, fleet)
        started = time.perf_counter()
        first, later = run_seconds(fleet_config(home, size), fleet, args.runs)
        runs[size] = {
            "first_daily_run_s": round(first, 2),
            "later_runs_s": round(later, 2),
            "wall_s": round(time.perf_counter() - started, 1),
        }
    print(
        json.dumps(
            {
                "definitions_load_with_snapshot_s": load,
                "load_after_over_before": {
                    n: round(load["after"][n] / load["before"][n], 2) for n in args.sizes
                },
                "definitions_load_with_snapshot_cpu_s": load_cpu,
                "load_cpu_after_over_before": {
                    n: round(load_cpu["after"][n] / load_cpu["before"][n], 2) for n in args.sizes
                },
                "of_which_garbage_collection_s": load_gc,
                "webserver_ready_s": ready,
                "daily_run_through_warm_launcher": runs,
                "before": args.before,
                "reps": args.reps,
                "cores": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
