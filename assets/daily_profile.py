"""The daily profile: whylogs summary plus exact bin counts over the reference's bins."""

from dataclasses import replace

import dagster as dg

from assets.common import day_of, failure, numeric_metadata, reports_faults
from assets.parts import Part, part
from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.errors import StoreError
from resources import ResultStoreResource, SliceStoreResource


def make_daily_profile(
    name: str, monitor: MonitorConfig, partitions_def: dg.PartitionsDefinition
) -> Part:
    @part(
        key=[name, Asset.DAILY_PROFILE],
        group_name=name,
        partitions_def=partitions_def,
        deps=[dg.AssetKey([name, Asset.LIVE_SLICE]), dg.AssetKey([name, Asset.REFERENCE_PROFILE])],
        kinds={"whylogs"},
        description="The day's whylogs profile and per-column counts over the reference's "
        "bins (mergeable into any window).",
    )
    @reports_faults(name)
    def daily_profile(
        context: dg.AssetExecutionContext,
        slices: SliceStoreResource,
        result_store: ResultStoreResource,
    ) -> dg.MaterializeResult:
        # Imported by the step, not with the definitions: they bring pandas and whylogs.
        from monitoring_pipelines.core.ingest.cleaning import GROUP_KEY, ROW_KEY
        from monitoring_pipelines.core.profile.fitting import ColumnPlan, profile_day
        from monitoring_pipelines.core.profile.pushed_day import load_pushed, reference_digest

        plan = ColumnPlan.for_monitor(monitor)
        profile_columns = profiled_columns(monitor)
        day = day_of(context)
        store = result_store.results()
        reference = store.load_reference(name)
        if not reference:
            raise failure(
                f"monitor '{name}' has no reference profile yet: materialize "
                f"{name}/reference_profile first",
                monitor=name,
            )
        try:
            store_of_slices = slices.get_store()
            batches = store_of_slices.batches(
                name,
                day,
                list(
                    dict.fromkeys(
                        [ROW_KEY, GROUP_KEY, *plan.columns, *monitor.segments, *profile_columns]
                    )
                ),
                categorical=plan.categorical,
            )
            profiled = profile_day(
                batches,
                plan,
                reference,
                profile_columns,
                monitor.drift.p_value_sample,
                total_rows=store_of_slices.rows(name, day),
                profile_rows=monitor.profile.sample_rows,
                segments=monitor.segments,
            )
            # A pushed-down day: the slice is its sample (the whylogs profile's rows); the
            # counts, moments and p-value samples of every column are the warehouse's.
            pushed = load_pushed(store_of_slices.path(name, day))
        except StoreError as exc:
            raise failure(str(exc), monitor=name) from exc
        if pushed is not None:
            if pushed.reference != reference_digest(reference):
                raise failure(
                    f"monitor '{name}', {day}: the day was pushed down over the bins and "
                    "categories of an earlier reference profile; materialize "
                    f"{name}/live_slice for {day} again",
                    monitor=name,
                )
            profiled = replace(profiled, rows=pushed.rows, sketches=pushed.sketches)
        store.save_profile(
            name,
            context.partition_key,
            profiled.rows,
            profiled.profile,
            profiled.summary,
            profiled.sketches,
        )
        values: dict[str, float | int | None] = {
            "rows": profiled.rows,
            "profiled_rows": profiled.profiled_rows,
        }
        for sketch in profiled.sketches:
            if "@" in sketch.column:
                continue  # per-segment sketches: in the drift asset's segment table
            total = sketch.n + sketch.n_missing
            values[f"null_share/{sketch.column}"] = sketch.n_missing / total if total else None
            if sketch.kind == "numeric" and sketch.n:
                values[f"mean/{sketch.column}"] = sketch.mean
        metadata = numeric_metadata(values)
        metadata["summary"] = dg.MetadataValue.json(dict(profiled.summary))
        return dg.MaterializeResult(metadata=metadata)

    return daily_profile


def profiled_columns(monitor: MonitorConfig) -> list[str]:
    """The slice's columns the whylogs profile summarizes: neither free text nor ids."""
    from monitoring_pipelines.core.ingest.cleaning import SliceSpec

    spec = SliceSpec.for_monitor(monitor)
    llm = monitor.llm
    free_text = (
        {llm.question_column, llm.answer_column, llm.context_column} if llm is not None else set()
    )
    ids = {monitor.source.request_id_column, monitor.source.session_column}
    return [c for c in (*spec.numeric, *spec.text) if c not in free_text | ids]
