"""Drift over trailing windows (7 and 28 days), merged from the daily profiles."""

from datetime import timedelta

import dagster as dg

from assets.common import day_of, earlier_days_of, failure, numeric_metadata, reports_faults
from assets.feature_drift import PLOT_PREFIX
from assets.parts import Part, part
from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.drift.engine import compute_drift, drift_roles
from monitoring_pipelines.core.drift.table import markdown, relative_scores
from monitoring_pipelines.core.profile.windows import WINDOWS, Window, binned_like, merge_days
from monitoring_pipelines.core.store.results import ResultRepository
from resources import ResultStoreResource


def make_window_drift(
    name: str, monitor: MonitorConfig, partitions_def: dg.PartitionsDefinition
) -> Part:
    roles = drift_roles(monitor)
    longest, shortest = max(WINDOWS), min(WINDOWS)
    key = dg.AssetKey([name, Asset.WINDOW_DRIFT])

    @part(
        key=key,
        group_name=name,
        partitions_def=partitions_def,
        deps=[
            earlier_days_of(dg.AssetKey([name, Asset.DAILY_PROFILE]), longest - 1, 0),
            dg.AssetKey([name, Asset.REFERENCE_PROFILE]),
            # A long window's profile merges the short windows stored on earlier days.
            earlier_days_of(key, longest - shortest, shortest),
        ],
        description=f"Drift over the trailing {' and '.join(str(w) for w in WINDOWS)} days, "
        "merged from the daily profiles (no raw data is reread).",
    )
    @reports_faults(name)
    def window_drift(
        context: dg.AssetExecutionContext, result_store: ResultStoreResource
    ) -> dg.MaterializeResult:
        store = result_store.results()
        end = day_of(context)
        reference = store.load_reference(name)
        if not reference:
            raise failure(f"monitor '{name}' has no reference profile yet", monitor=name)
        widest = Window(end, longest)
        stored = store.load_sketches_between(name, widest.start.isoformat(), end.isoformat())
        # Days profiled against an earlier fit of the reference have other bins: left out
        # until a backfill profiles them again (README.md, "Backfills").
        daily = {d: s for d, s in stored.items() if binned_like(s, reference)}
        values: dict[str, float | int | None] = {}
        with_data: dict[str, int] = {}
        tables = []
        for length in WINDOWS:
            window = Window(end, length)
            days = [daily[d.isoformat()] for d in window.days() if d.isoformat() in daily]
            with_data[f"{length}d"] = len(days)
            if not days:
                continue
            merged = merge_days(days, monitor.drift.p_value_sample)
            results = compute_drift(reference, merged, roles, monitor.drift)
            store.save_drift(name, window.key, results)
            for column, relative in relative_scores(results).items():
                values[f"{PLOT_PREFIX}{length}d · {column}"] = relative
            values[f"drifted columns · {length}d"] = sum(r.drifted for r in results)
            table = markdown(results, monitor.drift.fdr)
            tables.append(f"**{length} days ({len(days)} with data)**\n\n{table}")
            # Imported by the step, not with the definitions: it brings pandas and whylogs.
            from monitoring_pipelines.core.profile import whylogs_adapter as profiling

            view = profiling.merge(
                [profiling.deserialize(p) for p in _window_profiles(store, name, window)]
            )
            store.save_window_profile(
                name,
                window.key,
                sum(r.rows for r in results[:1]),
                profiling.serialize(view),
                profiling.summarize(view),
            )
        metadata = numeric_metadata(values)
        metadata["days with data"] = dg.MetadataValue.json(with_data)
        if earlier := sorted(set(stored) - set(daily)):
            metadata["days left out"] = dg.MetadataValue.md(
                f"{len(earlier)} day(s) profiled against an earlier fit of the reference "
                f"({earlier[0]} to {earlier[-1]}): backfill them to bring them into the windows"
            )
        metadata["drift_tables"] = dg.MetadataValue.md("\n\n".join(tables) or "no data yet")
        return dg.MaterializeResult(metadata=metadata)

    return window_drift


def _window_profiles(store: ResultRepository, name: str, window: Window) -> list[bytes]:
    """The profiles a window's profile merges: whole shorter windows already stored where they
    tile it exactly (four 7-day windows make 28 days), else the daily profiles."""
    shortest = min(WINDOWS)
    if window.length > shortest and window.length % shortest == 0:
        keys = [
            Window(window.end - timedelta(days=i * shortest), shortest).key
            for i in range(window.length // shortest)
        ]
        tiles = [store.load_profile(name, key) for key in keys]
        if all(tile is not None for tile in tiles):
            return [t for t in tiles if t is not None]
    return store.load_profiles_between(name, window.start.isoformat(), window.end.isoformat())
