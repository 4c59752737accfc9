"""A monitor's assets as two Dagster definitions: one subsettable multi-asset for its daily
(partitioned) assets and one for its unpartitioned ones (the reference, the review loop).

Each asset module declares its asset with :func:`part` instead of ``@dg.asset``: the same
key, dependencies, checks, description and body, as a :class:`Part`. :func:`assemble` turns
a monitor's parts into the two multi-assets, which carry every asset's key, dependencies and
checks, so the UI's lineage, partitions and check history are those of one asset each. One
definition per asset cost Dagster a third of the definitions' load and a node per asset in
every job snapshot; with hundreds of monitors that was most of the code location's start
(README.md, "A fleet of monitors").

A run executes the selected assets of a multi-asset in one step, in dependency order. An
asset that fails does not stop the others of the step: its dependents in the step are not
run (as Dagster skips a failed step's dependents), the rest materialize, and the step then
fails with every failed asset named (``failed assets`` in the failure's metadata, which the
alerting pass turns into one ``run_failure`` verdict per asset).
"""

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

import dagster as dg

from monitoring_pipelines.run_failures import FAILED_ASSETS


@dataclass(frozen=True)
class Part:
    """One asset of a monitor: its spec, its checks and the body that materializes it."""

    spec: dg.AssetSpec
    checks: tuple[dg.AssetCheckSpec, ...]
    body: Callable[..., Any]
    resources: tuple[str, ...]
    takes_context: bool

    @property
    def key(self) -> dg.AssetKey:
        return self.spec.key

    @property
    def keys(self) -> tuple[dg.AssetKey, ...]:
        return (self.spec.key,)

    @property
    def partitions_def(self) -> dg.PartitionsDefinition | None:
        return self.spec.partitions_def

    @property
    def check_keys(self) -> list[dg.AssetCheckKey]:
        return [c.key for c in self.checks]

    @property
    def required_resource_keys(self) -> set[str]:
        return set(self.resources)

    def run(self, context: dg.AssetExecutionContext) -> Iterator[Any]:
        """The body's events: the resources it names, from the step's."""
        kwargs = {name: getattr(context.resources, name) for name in self.resources}
        out = self.body(context, **kwargs) if self.takes_context else self.body(**kwargs)
        if inspect.isgenerator(out):
            yield from out
        elif out is not None:
            yield out


def part(
    *,
    key: dg.AssetKey | Sequence[str],
    group_name: str,
    description: str,
    partitions_def: dg.PartitionsDefinition | None = None,
    deps: Iterable[dg.AssetKey | dg.AssetDep] = (),
    check_specs: Sequence[dg.AssetCheckSpec] = (),
    kinds: set[str] | None = None,
) -> Callable[[Callable[..., Any]], Part]:
    """Declare an asset of a monitor (the arguments of ``@dg.asset`` it uses). The body takes
    an optional ``context`` first, then the resources it uses, by their keys."""
    asset_key = key if isinstance(key, dg.AssetKey) else dg.AssetKey(list(key))

    def declare(body: Callable[..., Any]) -> Part:
        names = list(inspect.signature(body).parameters)
        takes_context = bool(names) and names[0] == "context"
        return Part(
            spec=dg.AssetSpec(
                asset_key,
                deps=list(deps),
                description=description,
                group_name=group_name,
                kinds=kinds,
                partitions_def=partitions_def,
                skippable=True,
            ),
            checks=tuple(check_specs),
            body=body,
            resources=tuple(names[1:] if takes_context else names),
            takes_context=takes_context,
        )

    return declare


def assemble(name: str, parts: Sequence[Part]) -> list[dg.AssetsDefinition]:
    """Monitor ``name``'s parts as its daily multi-asset and its unpartitioned one."""
    daily = [p for p in parts if p.partitions_def is not None]
    whole = [p for p in parts if p.partitions_def is None]
    built = []
    for members, suffix, what in (
        (daily, "daily", "daily assets"),
        (whole, "unpartitioned", "reference and review-loop assets"),
    ):
        if members:
            built.append(_multi_asset(name, f"{name}__{suffix}", what, members))
    return built


def _multi_asset(
    monitor: str, op_name: str, what: str, members: Sequence[Part]
) -> dg.AssetsDefinition:
    ordered = _in_dependency_order(members)
    specs = reconciled_specs(ordered)
    partitions_def = ordered[0].partitions_def

    @dg.multi_asset(
        name=op_name,
        specs=specs,
        check_specs=[c for p in ordered for c in p.checks],
        can_subset=True,
        partitions_def=partitions_def,
        required_resource_keys={k for p in ordered for k in p.resources},
        description=f"Monitor '{monitor}''s {what}: each selected asset in dependency order.",
    )
    def materialize(context: dg.AssetExecutionContext) -> Iterator[Any]:
        yield from run_parts(context, ordered)

    return materialize


def run_parts(context: dg.AssetExecutionContext, parts: Sequence[Part]) -> Iterator[Any]:
    """The selected parts' events, in order; a failed part's dependents in the step are not
    run, the others are; the step then fails naming each failed asset."""
    selected = context.selected_asset_keys
    checks = context.selected_asset_check_keys
    failed: dict[dg.AssetKey, BaseException] = {}
    not_run: set[dg.AssetKey] = set()  # downstream of a failed part
    for p in parts:
        if p.key not in selected:
            continue
        if any(d.asset_key in failed or d.asset_key in not_run for d in p.spec.deps):
            not_run.add(p.key)
            continue
        try:
            for event in p.run(context):
                yield _owned(event, p.key, checks)
        except Exception as exc:  # recorded; raised with the others at the end
            failed[p.key] = exc
            context.log.error(f"{p.key.to_user_string()} failed: {_why(exc)}")
    if failed:
        raise _step_failure(failed)


def _owned(event: Any, key: dg.AssetKey, checks: AbstractSet[dg.AssetCheckKey]) -> Any:
    """A body's result addressed to its asset, with only the checks the run selected."""
    if not isinstance(event, dg.MaterializeResult):
        return event
    results = [
        r
        for r in event.check_results or []
        if dg.AssetCheckKey(r.asset_key or key, r.check_name or "") in checks
    ]
    return dg.MaterializeResult(
        asset_key=event.asset_key or key,
        metadata=event.metadata,
        check_results=results,
        data_version=event.data_version,
        tags=event.tags,
    )


def _why(exc: BaseException) -> str:
    if isinstance(exc, dg.Failure) and exc.description:
        return exc.description
    return f"{type(exc).__name__}: {exc}"


def _step_failure(failed: Mapping[dg.AssetKey, BaseException]) -> dg.Failure:
    """One failure for the step: the first failed asset's description (and metadata) when it
    is the only cause, else every cause; ``failed assets`` names each asset and why."""
    first = next(iter(failed.values()))
    why = {k.to_user_string(): _why(e) for k, e in failed.items()}
    if len(failed) == 1:
        description = _why(first)
        metadata = dict(first.metadata) if isinstance(first, dg.Failure) else {}
    else:
        description = "; ".join(f"{asset}: {cause}" for asset, cause in why.items())
        metadata = {}
    metadata[FAILED_ASSETS] = dg.MetadataValue.json(why)
    failure = dg.Failure(description=description, metadata=metadata)
    failure.__cause__ = first
    return failure


def _in_dependency_order(parts: Sequence[Part]) -> list[Part]:
    """The parts with every part after the parts of the group it depends on (stable)."""
    by_key = {p.key: p for p in parts}
    done: set[dg.AssetKey] = set()
    ordered: list[Part] = []

    def visit(p: Part, path: tuple[dg.AssetKey, ...]) -> None:
        if p.key in done:
            return
        if p.key in path:
            raise ValueError(f"assets depend on each other: {[k.to_user_string() for k in path]}")
        for dep in p.spec.deps:
            upstream = by_key.get(dep.asset_key)
            if upstream is not None and upstream.key != p.key:
                visit(upstream, (*path, p.key))
        done.add(p.key)
        ordered.append(p)

    for p in parts:
        visit(p, ())
    return ordered


def reconciled_specs(parts: Sequence[Part]) -> list[dg.AssetSpec]:
    """The parts' specs, with at most one partition mapping per upstream asset, as one Dagster
    definition requires.

    Two parts may read one upstream asset over different windows (the anomaly detector reads
    weeks of service metrics, the SLO budget a month, the metrics themselves their usual
    days). When the upstream asset depends on its own previous day, each of its days follows
    every earlier one, so its readers keep only the same-day dependency and still follow every
    day they read. Otherwise the readers' windows are widened to their union (a reader waits
    for a few more days, never fewer).

    Raises:
        ValueError: The windows cannot be reconciled (an asset that reads its own earlier days
            but not its previous one, read over other windows by another part).
    """
    by_key = {p.key: p for p in parts}
    mappings: dict[dg.AssetKey, set[Any]] = {}
    for p in parts:
        for dep in p.spec.deps:
            if dep.partition_mapping is not None:
                mappings.setdefault(dep.asset_key, set()).add(dep.partition_mapping)
    conflicts = {k for k, found in mappings.items() if len(found) > 1}
    if not conflicts:
        return [p.spec for p in parts]
    chained = {k for k in conflicts if k in by_key and _follows_previous_day(by_key[k])}
    for key in conflicts - chained:
        if key in by_key and _own_mapping(by_key[key]) is not None:
            raise ValueError(
                f"{key.to_user_string()} reads its own earlier days but not its previous one, "
                "and other assets of its definition read it over other windows"
            )
    widened = {
        key: _union(
            m
            for p in parts
            for d in p.spec.deps
            if d.asset_key == key
            for m in [d.partition_mapping]
            if m is not None
        )
        for key in conflicts - chained
    }
    out = []
    for p in parts:
        if not any(d.asset_key in conflicts and d.asset_key != p.key for d in p.spec.deps):
            out.append(p.spec)  # (a spec is rebuilt only when a mapping changes)
            continue
        deps = []
        for dep in p.spec.deps:
            mapping = dep.partition_mapping
            if dep.asset_key in conflicts and dep.asset_key != p.key and mapping is not None:
                mapping = None if dep.asset_key in chained else widened[dep.asset_key]
            deps.append(dg.AssetDep(dep.asset_key, partition_mapping=mapping))
        out.append(p.spec.replace_attributes(deps=deps))
    return out


def _own_mapping(p: Part) -> Any:
    return next((d.partition_mapping for d in p.spec.deps if d.asset_key == p.key), None)


def _follows_previous_day(p: Part) -> bool:
    own = _own_mapping(p)
    return isinstance(own, dg.TimeWindowPartitionMapping) and own.end_offset == -1


def _union(mappings: Iterable[Any]) -> dg.TimeWindowPartitionMapping:
    windows = list(mappings)
    if not all(isinstance(m, dg.TimeWindowPartitionMapping) for m in windows):
        raise ValueError(f"cannot combine partition mappings {windows}")
    return dg.TimeWindowPartitionMapping(
        start_offset=min(m.start_offset for m in windows),
        end_offset=max(m.end_offset for m in windows),
        allow_nonexistent_upstream_partitions=True,
    )
