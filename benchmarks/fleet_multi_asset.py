"""What the definitions' load would cost if each monitor's assets were two multi-assets (not
a test; README.md, "A fleet of monitors").

Loads the code location (``definitions.defs``) in this process on the monitor file named by
``MONITORING_CONFIG`` and builds the repository snapshot the code server sends, either as
today (``--shape assets``: one asset definition per asset) or with each monitor's assets
replaced by two subsettable ``@dg.multi_asset`` definitions, one for its daily assets and
one for its unpartitioned ones, carrying the same keys, dependencies, checks and resource
keys (``--shape multi``). Jobs, schedules and sensors are built as today in both, or not at
all (``--jobs none``: the assets and resources alone, which is what the load would cost if the
monitors' runs targeted Dagster's implicit asset job by asset selection instead of jobs of
their own). The multi-asset bodies do nothing: this measures the load only. Dagster refuses
one multi-asset that reads an upstream key with two partition mappings, so the multi shape
keeps only self-dependencies' mappings (a window asset's previous day).

Usage (one shape per fresh process; the CPU seconds of the process are printed)::

    MONITORING_CONFIG=fleet-500.yaml .venv/bin/python benchmarks/fleet_multi_asset.py \
        --shape multi [--jobs none]
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


def multi_assets(real: Any) -> Any:
    """A stand-in for ``build_monitor_assets``: the first monitor's real family, its specs
    renamed for each monitor, as two multi-assets."""
    template: list[Any] = []

    def renamed(key: dg.AssetKey, name: str) -> dg.AssetKey:
        return dg.AssetKey([name, *key.path[1:]])

    def build(name: str, monitor: Any, partitions_def: Any, web_url: str | None = None) -> Any:
        if not template:
            template.extend(real(name, monitor, partitions_def, web_url))
        groups: dict[bool, dict[str, Any]] = {}
        for assets_def in template:
            unpartitioned = assets_def.partitions_def is None
            group = groups.setdefault(unpartitioned, {"specs": [], "checks": [], "keys": set()})
            for spec in assets_def.specs:
                key = renamed(spec.key, name)
                deps = [
                    dg.AssetDep(
                        renamed(d.asset_key, name),
                        partition_mapping=d.partition_mapping if d.asset_key == spec.key else None,
                    )
                    for d in spec.deps
                ]
                group["specs"].append(
                    spec.replace_attributes(key=key, deps=deps, group_name=name, skippable=True)
                )
            for check in assets_def.check_specs:
                group["checks"].append(
                    dg.AssetCheckSpec(
                        check.name,
                        asset=renamed(check.asset_key, name),
                        description=check.description,
                        partitions_def=None if unpartitioned else partitions_def,
                    )
                )
            group["keys"] |= set(assets_def.required_resource_keys)
        built = []
        for unpartitioned, group in groups.items():

            @dg.multi_asset(
                specs=group["specs"],
                check_specs=group["checks"],
                can_subset=True,
                name=f"{name}__{'unpartitioned' if unpartitioned else 'daily'}_assets",
                partitions_def=None if unpartitioned else partitions_def,
                required_resource_keys=group["keys"],
            )
            def body(context):  # type: ignore[no-untyped-def]
                return None

            built.append(body)
        return built

    return build


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=("assets", "multi"), default="multi")
    parser.add_argument("--jobs", choices=("per-monitor", "none"), default="per-monitor")
    args = parser.parse_args()
    from dagster._core.remote_representation.external_data import RepositorySnap

    import monitoring_pipelines.definitions as definitions

    if args.shape == "multi":
        definitions.build_monitor_assets = multi_assets(definitions.build_monitor_assets)
    if args.jobs == "none":
        definitions.build_definitions = assets_alone(definitions)
    defs = definitions.defs()
    RepositorySnap.from_def(defs.get_repository_def())
    keys = sum(len(a.keys) for a in defs.assets or [])  # type: ignore[union-attr]
    print(
        f"{args.shape}, jobs {args.jobs}: {keys} asset keys, {len(list(defs.jobs or []))} jobs, "
        f"{time.perf_counter() - STARTED:.2f} s wall, {time.process_time():.2f} s CPU"
    )


if __name__ == "__main__":
    main()
