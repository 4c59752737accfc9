"""A monitor's assets as one multi-asset per partitioning (assets/parts.py): a failed asset
does not stop the others of its step, the step's failure names each failed asset, a run of
some assets emits only their checks, and one Dagster definition's partition mappings still
order every day an asset reads before it."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from assets.parts import Part, assemble, part, reconciled_specs
from monitoring_pipelines.run_failures import StepFailure, failed_assets, step_failures

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["m", name])


def asset(name: str, *deps: str, fails: BaseException | None = None, check: bool = False) -> Part:
    @part(
        key=key(name),
        group_name="m",
        description=name,
        deps=[key(d) for d in deps],
        check_specs=[dg.AssetCheckSpec("ok", asset=key(name))] if check else [],
    )
    def body(context: dg.AssetExecutionContext) -> Iterator[Any]:
        if fails is not None:
            raise fails
        yield dg.MaterializeResult(
            metadata={"asset": name},
            check_results=(
                [dg.AssetCheckResult(asset_key=key(name), check_name="ok", passed=True)]
                if check
                else []
            ),
        )

    return body


def run(parts: list[Part], selection: list[str] | None = None) -> dg.ExecuteInProcessResult:
    (definition,) = assemble("m", parts)
    return dg.materialize(
        [definition],
        selection=[key(s) for s in selection] if selection else None,
        raise_on_error=False,
        run_config=QUIET,
    )


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}


def failures(result: dg.ExecuteInProcessResult) -> list[dg.DagsterEvent]:
    return [e for e in result.all_events if e.is_step_failure]


def test_a_failed_asset_leaves_the_others_of_its_step_and_skips_its_dependents() -> None:
    broke = dg.Failure(description="b broke: its table is gone", metadata={"rows": 3})
    result = run(
        [asset("a"), asset("b", "a", fails=broke), asset("c", "a"), asset("d", "b")],
    )
    assert not result.success
    assert materialized(result) == {"a", "c"}  # d depends on b: not run on missing data
    (failure,) = failures(result)
    assert failure.step_failure_data is not None
    user = failure.step_failure_data.user_failure_data
    assert user is not None and user.description == "b broke: its table is gone"
    assert user.metadata["rows"].value == 3  # the asset's own metadata is kept
    assert failed_assets(failure) == {"m/b": "b broke: its table is gone"}  # not d
    assert step_failures(result.all_events) == [StepFailure("b", "b broke: its table is gone")]


def test_every_failed_asset_of_a_step_is_named_with_its_cause() -> None:
    result = run(
        [
            asset("a", fails=dg.Failure(description="a: no table")),
            asset("b", fails=ValueError("a bug in b")),
            asset("c"),
        ]
    )
    assert materialized(result) == {"c"}
    (failure,) = failures(result)
    assert failed_assets(failure) == {"m/a": "a: no table", "m/b": "ValueError: a bug in b"}
    assert [s.asset for s in step_failures(result.all_events)] == ["a", "b"]


def test_a_run_of_some_assets_runs_and_checks_only_those() -> None:
    result = run([asset("a", check=True), asset("b", "a", check=True)], selection=["b"])
    assert result.success
    assert materialized(result) == {"b"}
    checked = {e.asset_key.path[-1] for e in result.get_asset_check_evaluations()}
    assert checked == {"b"}


def test_assets_run_after_the_assets_of_their_step_they_depend_on() -> None:
    order: list[str] = []

    def traced(name: str, *deps: str) -> Part:
        @part(key=key(name), group_name="m", description=name, deps=[key(d) for d in deps])
        def body() -> dg.MaterializeResult:
            order.append(name)
            return dg.MaterializeResult()

        return body

    # declared out of order: the step still runs c's upstream first
    result = run([traced("c", "b"), traced("b", "a"), traced("a")])
    assert result.success and order == ["a", "b", "c"]


def window(first: int, last: int) -> dg.TimeWindowPartitionMapping:
    """Days ``first`` to ``last`` before the one materialized (0: the same day)."""
    return dg.TimeWindowPartitionMapping(
        start_offset=-first, end_offset=-last, allow_nonexistent_upstream_partitions=True
    )


DAILY = dg.DailyPartitionsDefinition(start_date="2026-01-01")
windows = st.tuples(st.integers(0, 40), st.integers(0, 3)).map(
    lambda w: (max(w), min(w))  # (first, last) with first >= last
)


@given(
    own=st.one_of(st.none(), st.integers(1, 30)),
    readers=st.lists(st.one_of(st.none(), windows), min_size=1, max_size=4),
)
def test_one_mapping_per_upstream_still_orders_every_day_a_reader_reads(
    own: int | None, readers: list[tuple[int, int] | None]
) -> None:
    """Whatever windows the readers of one upstream asset declare, the reconciled definition
    keeps one mapping per upstream asset (Dagster's rule) and each reader still follows every
    upstream day it reads: directly, or through the upstream's chain of previous days."""

    def spec_part(name: str, deps: list[dg.AssetDep]) -> Part:
        @part(key=key(name), group_name="m", description=name, deps=deps, partitions_def=DAILY)
        def body() -> None:
            return None

        return body

    own_days = [dg.AssetDep(key("x"), partition_mapping=window(own, 1))] if own else []
    source = spec_part("x", own_days)
    parts = [source] + [
        spec_part(
            f"r{i}",
            [dg.AssetDep(key("x"), partition_mapping=window(*w) if w else None)],
        )
        for i, w in enumerate(readers)
    ]
    specs = {s.key: s for s in reconciled_specs(parts)}
    found = {
        d.partition_mapping
        for s in specs.values()
        for d in s.deps
        if d.asset_key == key("x") and d.partition_mapping is not None
    }
    assert len(found) <= 1
    assert specs[key("x")].deps == source.spec.deps  # its own days are untouched
    chained = own is not None
    for i, w in enumerate(readers):
        first, last = w if w else (0, 0)
        (dep,) = specs[key(f"r{i}")].deps
        mapping = dep.partition_mapping
        start, end = (mapping.start_offset, mapping.end_offset) if mapping is not None else (0, 0)
        assert end >= -last  # it follows the latest day it reads
        assert start <= -first or chained  # and every earlier one, directly or by the chain
    assemble("m", parts)  # Dagster accepts the definition


def test_a_source_reading_its_own_earlier_days_but_not_the_previous_one_is_refused() -> None:
    @part(
        key=key("x"),
        group_name="m",
        description="x",
        partitions_def=DAILY,
        deps=[dg.AssetDep(key("x"), partition_mapping=window(14, 7))],
    )
    def x() -> None:
        return None

    readers = [
        part(
            key=key(f"r{i}"),
            group_name="m",
            description="r",
            partitions_def=DAILY,
            deps=[dg.AssetDep(key("x"), partition_mapping=window(first, 0))],
        )(lambda: None)
        for i, first in enumerate((3, 5))
    ]
    with pytest.raises(ValueError, match="m/x reads its own earlier days"):
        reconciled_specs([x, *readers])
