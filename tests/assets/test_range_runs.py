"""What Dagster records for a partitioned asset check evaluated in a run that covers a range of
partitions (a ``BackfillPolicy`` of several partitions per run): why checked assets run one
partition per run (README.md, "Runs in their own process"). If Dagster changes this, these
tests say so."""

import warnings
from collections.abc import Iterator

import dagster as dg

DAYS = dg.DailyPartitionsDefinition(start_date="2026-09-01", end_date="2026-09-05")
RANGE = {
    "dagster/asset_partition_range_start": "2026-09-01",
    "dagster/asset_partition_range_end": "2026-09-03",
}
FAILING_DAY = "2026-09-02"


def recorded(instance: dg.DagsterInstance, key: dg.AssetKey) -> list[tuple[str | None, str]]:
    """Each recorded execution of check ``c`` of ``key``: its partition and its status."""
    history = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(key, "c"), limit=10
    )
    return sorted(((r.partition, r.status.value) for r in history), key=str)


def test_a_check_result_in_a_range_run_is_one_result_without_a_partition() -> None:
    key = dg.AssetKey("ranged")

    @dg.asset(
        key=key,
        partitions_def=DAYS,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[dg.AssetCheckSpec("c", asset=key, partitions_def=DAYS)],
    )
    def ranged(context: dg.AssetExecutionContext) -> Iterator[object]:
        yield dg.MaterializeResult(metadata={"days": len(context.partition_keys)})
        yield dg.AssetCheckResult(check_name="c", passed=False)

    instance = dg.DagsterInstance.ephemeral()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert dg.materialize([ranged], instance=instance, tags=RANGE).success
    # Three days materialized, each day's check planned and never resolved, and one verdict
    # for none of them: a failing day cannot be told apart from the passing ones.
    assert recorded(instance, key) == [
        ("2026-09-01", "PLANNED"),
        ("2026-09-02", "PLANNED"),
        ("2026-09-03", "PLANNED"),
        (None, "FAILED"),
    ]


def test_per_partition_evaluations_of_a_subsettable_asset_keep_each_day() -> None:
    key = dg.AssetKey("per_day")

    @dg.multi_asset(
        specs=[dg.AssetSpec(key, partitions_def=DAYS)],
        partitions_def=DAYS,
        can_subset=True,  # the check's output is optional: the evaluations stand for it
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[dg.AssetCheckSpec("c", asset=key, partitions_def=DAYS)],
    )
    def per_day(context: dg.AssetExecutionContext) -> Iterator[object]:
        yield dg.MaterializeResult(asset_key=key)
        for day in context.partition_keys:
            yield dg.AssetCheckEvaluation(
                asset_key=key, check_name="c", passed=day != FAILING_DAY, partition=day
            )

    instance = dg.DagsterInstance.ephemeral()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert dg.materialize([per_day], instance=instance, tags=RANGE).success
    assert recorded(instance, key) == [
        ("2026-09-01", "SUCCEEDED"),
        (FAILING_DAY, "FAILED"),
        ("2026-09-03", "SUCCEEDED"),
    ]
