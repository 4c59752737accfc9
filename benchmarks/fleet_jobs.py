"""What the monitors' schedules and sensors cost the definitions' load (not a test; README.md,
"A fleet of monitors").

Loads the code location (``definitions.defs``) in this process on the monitor file named by
``MONITORING_CONFIG`` and builds the repository snapshot the code server sends, either as the
code builds it (``--jobs asset-job``, the default: no job of the monitors' own, each monitor's
schedules requesting Dagster's asset job with the asset selection of each of its runs; the
prune job and the sensors), or with the assets and resources alone (``--jobs none``: no
schedule, sensor or job). The CPU seconds of the process are printed.

The code before, with each monitor's jobs of its own, is measured by ``bench_fleet.py
--before <rev>``, which runs an older git revision from a copy of its tree.

Usage (one variant per fresh process)::

    MONITORING_CONFIG=fleet-500.yaml .venv/bin/python benchmarks/fleet_jobs.py [--jobs none]
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
    """A stand-in for ``build_fleet``: each monitor's assets and the resources, no job, schedule
    or sensor (and no monitor's runs)."""

    def build(config: Any, settings: Any, environ: Any, overrides: Any = None) -> Any:
        assets = []
        for name, monitor in config.monitors.items():
            partitions_def = definitions.daily_partitions(monitor)
            assets += definitions.build_monitor_assets(
                name, monitor, partitions_def, settings.web_url
            )
        resources = definitions.resources(config, settings, environ)
        return definitions.Fleet(dg.Definitions(assets=assets, resources=resources), {})

    return build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", choices=("asset-job", "none"), default="asset-job")
    args = parser.parse_args()
    from dagster._core.remote_representation.external_data import RepositorySnap

    import monitoring_pipelines.definitions as definitions

    if args.jobs == "none":
        # defs() loads through load_fleet, which calls build_fleet by its module's name.
        definitions.build_fleet = assets_alone(definitions)
    defs = definitions.defs()
    RepositorySnap.from_def(defs.get_repository_def())
    keys = sum(len(a.keys) for a in defs.assets or [])  # type: ignore[union-attr]
    print(
        f"jobs {args.jobs}: {keys} asset keys, {len(list(defs.jobs or []))} jobs, "
        f"{time.perf_counter() - STARTED:.2f} s wall, {time.process_time():.2f} s CPU"
    )


if __name__ == "__main__":
    main()
