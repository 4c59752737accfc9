"""Jobs: each monitor's daily job and its reference job.

Runs execute in process: a partition's steps are small and sequential, and a process per step
would cost seconds of imports each (measured in README.md, "Backfills").
"""

from __future__ import annotations

import dagster as dg


def daily_job_name(monitor: str) -> str:
    return f"{monitor}_daily"


def reference_job_name(monitor: str) -> str:
    return f"{monitor}_reference"


def daily_job(monitor: str, *, has_reference: bool) -> dg.UnresolvedAssetJobDefinition:
    """The monitor's daily assets; partitioned like them (Dagster infers it)."""
    # The daily report follows the alerting pass (it lists the recorded checks): the alerting
    # sensor requests it for recent partitions, so it is not part of the daily run.
    selection = dg.AssetSelection.groups(monitor) - dg.AssetSelection.assets(
        dg.AssetKey([monitor, "daily_report"])
    )
    if has_reference:
        # Subtracting a key that no asset supplies fails the job's resolution, so only a
        # monitor with a reference subtracts it.
        selection -= dg.AssetSelection.assets(dg.AssetKey([monitor, "reference_profile"]))
    return dg.define_asset_job(
        daily_job_name(monitor),
        selection=selection,
        executor_def=dg.in_process_executor,
        description=f"One UTC day of monitor '{monitor}': slice, profile, drift, metrics, checks.",
        tags={"monitor": monitor},
    )


def reference_job(monitor: str) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        reference_job_name(monitor),
        selection=dg.AssetSelection.assets(dg.AssetKey([monitor, "reference_profile"])),
        executor_def=dg.in_process_executor,
        description=f"Rebuild monitor '{monitor}''s reference bins and profile.",
        tags={"monitor": monitor},
    )
