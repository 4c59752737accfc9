"""What the monitors' jobs cost the definitions' load (not a test; README.md, "A fleet of
monitors").

Loads the code location (``definitions.defs``) in this process on the monitor file named by
``MONITORING_CONFIG`` and builds the repository snapshot the code server sends, either as the
code builds it (``--jobs per-monitor``: each monitor's jobs, schedules and the sensors), with
each monitor's schedules targeting Dagster's asset job by the asset selection its jobs have
(``--jobs asset-job``: no job of the monitors' own; the sensors kept), or with the assets and
resources alone (``--jobs none``). The CPU seconds of the process are printed.

Usage (one variant per fresh process)::

    MONITORING_CONFIG=fleet-500.yaml .venv/bin/python benchmarks/fleet_jobs.py [--jobs asset-job]
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # the load is timed from before Dagster's import

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import dagster as dg  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def assets_alone(definitions: Any) -> Any:
    """A stand-in for ``build_definitions``: each monitor's assets and the resources, no job,
    schedule or sensor."""

    def build(config: Any, settings: Any, environ: Any, overrides: Any = None) -> Any:
        assets = []
        for name, monitor in config.monitors.items():
            partitions_def = definitions.daily_partitions(monitor)
            assets += definitions.build_monitor_assets(
                name, monitor, partitions_def, settings.web_url
            )
        return dg.Definitions(
            assets=assets, resources=definitions.resources(config, settings, environ)
        )

    return build


def schedules_on_the_asset_job(definitions: Any) -> Any:
    """A stand-in for ``build_definitions``: each monitor's jobs replaced by schedules of the
    same names and hours that request Dagster's asset job with the job's asset selection (the
    selection resolved against the monitor's own assets); the prune job and the sensors kept."""
    from dagster._core.definitions.assets.graph.asset_graph import AssetGraph
    from dagster._core.definitions.assets.job.asset_job import IMPLICIT_ASSET_JOB_NAME

    from monitoring_pipelines import jobs as monitor_jobs
    from monitoring_pipelines import schedules as hours
    from monitoring_pipelines.core.catalog import REVIEW_ASSETS

    def build(config: Any, settings: Any, environ: Any, overrides: Any = None) -> Any:
        assets, schedules = [], []
        for name, monitor in config.monitors.items():
            partitions_def = definitions.daily_partitions(monitor)
            family = definitions.build_monitor_assets(
                name, monitor, partitions_def, settings.web_url
            )
            assets += family
            graph = AssetGraph.from_assets(family)
            reviewing = [k for a in family for k in a.keys if k.path[-1] in REVIEW_ASSETS]
            judged = monitor_jobs.remote_judge(monitor)
            daily = monitor_jobs.daily_job(
                name,
                has_reference=monitor.reference is not None,
                judge_apart=judged,
                unpartitioned=reviewing,
            )
            wanted = [(daily, hours.HOUR, partitions_def)]
            if reviewing:
                wanted.append((monitor_jobs.review_job(name, reviewing), hours.REVIEW_HOUR, None))
            if judged:
                judge = monitor_jobs.hallucination_job(name)
                wanted.append((judge, hours.JUDGE_HOUR, partitions_def))
            for job, hour, partitions in wanted:
                keys = sorted(job.selection.resolve(graph))
                schedules.append(on_the_asset_job(f"{job.name}_schedule", hour, keys, partitions))
        # The prune job and the sensors as the code builds them.
        common = {
            definitions.WAREHOUSE_TAG: definitions.warehouse_tag(
                definitions.warehouse_url(config, settings)
            )
        }
        pruning = definitions.prune_job({n: m.retention for n, m in config.monitors.items()})
        return dg.Definitions(
            assets=assets,
            jobs=[pruning],
            schedules=[*schedules, definitions.prune_schedule(pruning)],
            sensors=definitions.monitor_sensors(config, settings, assets, common),
            resources=definitions.resources(config, settings, environ),
            executor=definitions.job_executor(settings.executor),
        )

    def on_the_asset_job(name: str, hour: int, keys: list[Any], partitions: Any) -> Any:
        def request(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
            day = None
            if partitions is not None:
                now = context.scheduled_execution_time
                day = partitions.get_partition_keys(current_time=now)[-1]
            return dg.RunRequest(partition_key=day, asset_selection=keys)

        return dg.ScheduleDefinition(
            name=name,
            cron_schedule=f"{hours.MINUTE} {hour} * * *",
            execution_timezone="UTC",
            job_name=IMPLICIT_ASSET_JOB_NAME,
            execution_fn=request,
        )

    return build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--jobs", choices=("per-monitor", "asset-job", "none"), default="per-monitor"
    )
    args = parser.parse_args()
    from dagster._core.remote_representation.external_data import RepositorySnap

    import monitoring_pipelines.definitions as definitions

    if args.jobs == "none":
        definitions.build_definitions = assets_alone(definitions)
    elif args.jobs == "asset-job":
        definitions.build_definitions = schedules_on_the_asset_job(definitions)
    defs = definitions.defs()
    RepositorySnap.from_def(defs.get_repository_def())
    keys = sum(len(a.keys) for a in defs.assets or [])  # type: ignore[union-attr]
    print(
        f"jobs {args.jobs}: {keys} asset keys, {len(list(defs.jobs or []))} jobs, "
        f"{time.perf_counter() - STARTED:.2f} s wall, {time.process_time():.2f} s CPU"
    )


if __name__ == "__main__":
    main()
