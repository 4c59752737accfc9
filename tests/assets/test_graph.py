"""The demo's asset graph: a reviewed snapshot, the lineage Dagster reports, and the code location.

Regenerate the snapshot after an intended change with
``UPDATE_SNAPSHOTS=1 pytest tests/assets/test_graph.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from monitoring_pipelines.backfill import Stage, stage_selections, window_assets
from monitoring_pipelines.core.config_loading import load_config
from monitoring_pipelines.core.settings import Settings
from monitoring_pipelines.definitions import Fleet, build_fleet
from monitoring_pipelines.jobs import asset_job

ROOT = Path(__file__).parents[2]
DEMO = ROOT / "demo" / "monitors.yaml"
SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"


@pytest.fixture(scope="module")
def demo_fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    home = tmp_path_factory.mktemp("demo_home")
    environ = {"MONITORING_HOME": str(home), "MONITORING_CONFIG": str(DEMO)}
    return build_fleet(load_config(DEMO, environ), Settings.from_env(environ), environ)


@pytest.fixture(scope="module")
def demo_defs(demo_fleet: Fleet) -> dg.Definitions:
    return demo_fleet.definitions


def graph_snapshot(fleet: Fleet) -> dict[str, Any]:
    """Everything a lineage review cares about, as sorted plain data."""
    defs = fleet.definitions
    graph = defs.resolve_asset_graph()
    repository = defs.get_repository_def()
    assets = {}
    for key in sorted(graph.get_all_asset_keys()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "deps": sorted(parent.to_user_string() for parent in node.parent_keys),
            "group": node.group_name,
            "partitioned": node.is_partitioned,
        }
    checks = sorted(f"{c.asset_key.to_user_string()}:{c.name}" for c in graph.asset_check_keys)
    jobs = {}
    for job in sorted(repository.get_all_jobs(), key=lambda j: j.name):
        if job.name.startswith("__"):  # Dagster's implicit asset job
            continue
        jobs[job.name] = sorted(k.to_user_string() for k in job.asset_layer.executable_asset_keys)
    schedules = {
        s.name: {"cron": s.cron_schedule, "job": s.job_name, "timezone": s.execution_timezone}
        for s in sorted(repository.schedule_defs, key=lambda s: s.name)
    }
    sensors = sorted(s.name for s in repository.sensor_defs)
    runs = {
        run.name: sorted(k.to_user_string() for k in run.keys)
        for each in fleet.runs.values()
        for run in each
    }
    return {
        "assets": assets,
        "checks": checks,
        "jobs": jobs,
        "runs": runs,
        "schedules": schedules,
        "sensors": sensors,
    }


def render(snapshot: dict[str, Any]) -> str:
    return json.dumps(snapshot, indent=2, sort_keys=True) + "\n"


def test_asset_graph_matches_the_snapshot(demo_fleet: Fleet) -> None:
    current = render(graph_snapshot(demo_fleet))
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(current, encoding="utf-8")
    assert SNAPSHOT.exists(), f"no snapshot at {SNAPSHOT}: run UPDATE_SNAPSHOTS=1 pytest {__file__}"
    expected = SNAPSHOT.read_text(encoding="utf-8")
    assert json.loads(current) == json.loads(expected), (
        "the asset graph changed; if intended, run "
        "`UPDATE_SNAPSHOTS=1 pytest tests/assets/test_graph.py` and review the diff"
    )
    assert current == expected, "snapshot is not in the canonical format: regenerate it"


def test_snapshot_covers_every_demo_monitor(demo_fleet: Fleet) -> None:
    snapshot = graph_snapshot(demo_fleet)
    monitors = {"sentiment", "recommender", "support_bot"}
    assert {key.split("/")[0] for key in snapshot["assets"]} == monitors
    daily = {f"{m}_daily_schedule" for m in monitors}
    assert set(snapshot["schedules"]) == daily | {"support_bot_review_schedule", "prune_schedule"}
    assert {snapshot["schedules"][s]["cron"] for s in daily} == {"30 0 * * *"}
    # the review loop reads every judged day: after the day's runs (and a remote judge's)
    assert snapshot["schedules"]["support_bot_review_schedule"]["cron"] == "30 3 * * *"
    # no monitor has a job of its own: its schedules request Dagster's asset job
    assert set(snapshot["jobs"]) == {"prune"}
    assert {s["job"] for n, s in snapshot["schedules"].items() if n != "prune_schedule"} == {
        "__ASSET_JOB"
    }
    assert set(snapshot["runs"]) == {f"{m}_daily" for m in monitors} | {"support_bot_review"}
    # pruning counts back from its day after every daily run has read what it needs
    assert snapshot["schedules"]["prune_schedule"]["cron"] == "30 4 * * *"
    assert snapshot["runs"]["support_bot_review"] == [
        "support_bot/finetuning_dataset",
        "support_bot/hallucination_kpi_impact",
        "support_bot/judge_agreement",
    ]
    assert snapshot["sensors"] == ["alerting", "labels"]
    for monitor in monitors:
        # the reference is rebuilt by materializing its asset, not by a job of its own
        assert f"{monitor}/reference_profile" in snapshot["assets"]
        assert f"{monitor}/reference_profile" not in snapshot["runs"][f"{monitor}_daily"]
        # the daily report follows the alerting pass, which requests it
        assert f"{monitor}/daily_report" not in snapshot["runs"][f"{monitor}_daily"]


def key(monitor: str, asset: str) -> dg.AssetKey:
    return dg.AssetKey([monitor, asset])


@pytest.mark.parametrize("monitor", ["sentiment", "recommender"])
def test_lineage_reference_to_profile_to_drift_to_checks(
    demo_defs: dg.Definitions, monitor: str
) -> None:
    graph = demo_defs.resolve_asset_graph()
    reference = key(monitor, "reference_profile")
    live = key(monitor, "live_slice")
    profile = key(monitor, "daily_profile")
    drift = key(monitor, "feature_drift")

    assert reference in graph.get(profile).parent_keys
    assert live in graph.get(profile).parent_keys
    assert profile in graph.get(drift).parent_keys
    assert {reference, live, profile} <= graph.get_ancestor_asset_keys(drift)
    assert drift in graph.get(reference).child_keys
    assert not graph.get(reference).is_partitioned
    assert graph.get(drift).is_partitioned
    assert {c.name for c in graph.get(drift).check_keys} == {"feature_drift", "prediction_drift"}
    for check in graph.get(drift).check_keys:
        assert graph.get_check_spec(check).partitions_def == graph.get(drift).partitions_def


def test_monitor_without_a_prediction_has_no_prediction_check(demo_defs: dg.Definitions) -> None:
    graph = demo_defs.resolve_asset_graph()
    drift = graph.get(key("support_bot", "feature_drift"))
    assert {c.name for c in drift.check_keys} == {"feature_drift"}
    assert key("support_bot", "reference_profile") in graph.get_ancestor_asset_keys(drift.key)


def test_dagster_validates_the_code_location(tmp_path: Path) -> None:
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    env = {
        **os.environ,
        "MONITORING_CONFIG": str(DEMO),
        "MONITORING_HOME": str(tmp_path / "home"),
        "DAGSTER_HOME": str(dagster_home),
    }
    env.pop("MONITORING_STORE_URL", None)
    env.pop("MONITORING_WAREHOUSE_URL", None)
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "All code locations passed validation" in output


def test_a_remote_judge_gets_its_own_run_schedule_and_key_from_the_environment(
    tmp_path: Path,
) -> None:
    text = DEMO.read_text().replace("backend: offline", "backend: openai")
    assert text != DEMO.read_text()
    config_path = tmp_path / "monitors.yaml"
    config_path.write_text(text)
    environ = {
        "MONITORING_HOME": str(tmp_path),
        "MONITORING_CONFIG": str(config_path),
        "MONITORING_JUDGE_API_KEY": "sk-from-the-environment",
    }
    fleet = build_fleet(load_config(config_path, environ), Settings.from_env(environ), environ)
    defs = fleet.definitions
    snapshot = graph_snapshot(fleet)
    judged = ["support_bot/faithfulness_scores", "support_bot/hallucination_rate"]
    assert snapshot["runs"]["support_bot_hallucination"] == judged
    assert not set(judged) & set(snapshot["runs"]["support_bot_daily"])
    schedule = snapshot["schedules"]["support_bot_hallucination_schedule"]
    assert schedule["cron"] == "30 2 * * *"
    # a backfill's day runs the daily assets, then the judged ones, each with its run's tags
    whole = stage_selections(fleet.runs["support_bot"], window_assets(defs))[Stage.WHOLE]
    assert [sorted(k.to_user_string() for k in keys) for _, keys, _ in whole] == [
        snapshot["runs"]["support_bot_daily"],
        judged,
    ]
    assert [tags.get("judge") for _, _, tags in whole] == [None, "remote"]
    judge = (defs.resources or {})["judge"]
    assert isinstance(judge.api_key, dg.EnvVar)
    assert judge.api_key.env_var_name == "MONITORING_JUDGE_API_KEY"


def test_dagsters_asset_job_runs_its_steps_in_process(demo_fleet: Fleet) -> None:
    """Every monitor's runs, a reference rebuilt from its asset, a report the alerting sensor
    requests and a Materialize in the UI run in Dagster's asset job: with its default executor
    each step was a process of its own (seconds of imports each)."""
    for runs in demo_fleet.runs.values():
        for run in runs:
            assert asset_job(demo_fleet.definitions, run.keys).executor_def.name == "in_process"


def test_the_code_location_is_built_with_few_collections_then_frozen(tmp_path: Path) -> None:
    """While the code location's definitions are built, the collector runs far less often than
    by default (it walked the whole heap every few hundred new objects); afterwards the
    process's thresholds are its own again and the definitions are frozen out of its passes.
    Checked in fresh processes: the collector's state belongs to the process."""
    script = (
        "import gc, json, sys\n"
        "gc.set_threshold(700, 10, 500)\n"
        "import monitoring_pipelines.definitions as definitions\n"
        "if sys.argv[1] == 'default':\n"
        "    definitions.GC_THRESHOLDS = (700, 10, 10)\n"
        "passes = []\n"
        "gc.callbacks.append(lambda phase, info: phase == 'start' and passes.append(1))\n"
        "definitions.defs()\n"
        "print(json.dumps([gc.get_threshold(), len(passes), gc.get_freeze_count()]))\n"
    )
    env = {
        **os.environ,
        "MONITORING_HOME": str(tmp_path),
        "MONITORING_CONFIG": str(DEMO),
        "PYTHONPATH": str(ROOT),
    }
    seen = {}
    for thresholds in ("default", "ours"):
        out = subprocess.run(
            [sys.executable, "-c", script, thresholds],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        seen[thresholds] = json.loads(out.stdout.strip().splitlines()[-1])
    after, passes, frozen = seen["ours"]
    assert after == [700, 10, 500]  # the process's own thresholds are back
    assert frozen > 0
    assert passes * 5 <= seen["default"][1], seen


def test_a_reloaded_code_location_leaves_the_replaced_definitions_collectable(
    tmp_path: Path,
) -> None:
    """Each change of the monitor file rebuilds the definitions; the replaced ones must not
    stay frozen with the new ones (the frozen count grew by about 4,700 objects a reload of
    the demo's three monitors before the replaced ones were collected first)."""
    config = tmp_path / "monitors.yaml"
    config.write_text(DEMO.read_text())
    script = (
        "import gc, json, sys\n"
        "from pathlib import Path\n"
        "import monitoring_pipelines.definitions as definitions\n"
        "config = Path(sys.argv[1])\n"
        "frozen = []\n"
        "for edit in range(4):\n"
        "    definitions.defs()\n"
        "    frozen.append(gc.get_freeze_count())\n"
        "    config.write_text(config.read_text() + f'\\n# edit {edit}\\n')\n"
        "print(json.dumps(frozen))\n"
    )
    env = {
        **os.environ,
        "MONITORING_HOME": str(tmp_path),
        "MONITORING_CONFIG": str(config),
        "PYTHONPATH": str(ROOT),
    }
    out = subprocess.run(
        [sys.executable, "-c", script, str(config)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    frozen = json.loads(out.stdout.strip().splitlines()[-1])
    # The first reload may freeze what the first load imported lazily; later ones add nothing.
    assert frozen[3] - frozen[1] < frozen[1] // 100, frozen
