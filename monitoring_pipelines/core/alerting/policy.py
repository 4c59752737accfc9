"""When failing partitions open an incident, how far it spans, when it resolves, and when a
failure soon after its resolution continues it (the reopen window).

Everything here reads a fingerprint's whole timeline (every partition's latest verdict), not
the order results arrive in, so a backfill that runs days out of order reaches the same
incidents as the daily schedule, and a rerun of a partition never opens a second incident.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from monitoring_pipelines.core.config import PolicyConfig, Severity


@dataclass(frozen=True)
class Point:
    """A fingerprint's latest verdict for one partition."""

    passed: bool
    severity: Severity


@dataclass(frozen=True)
class Span:
    """An incident's extent on the timeline.

    Attributes:
        first_partition: First failing partition.
        last_failing_partition: Last failing partition before the condition cleared.
        failing_partitions: Failing partitions within the span.
        severity: Worst severity among them.
        resolved_partition: The partition that completed the run of passing partitions which
            resolves the incident, or None while it is still open.
    """

    first_partition: str
    last_failing_partition: str
    failing_partitions: int
    severity: Severity
    resolved_partition: str | None


def shift(partition: str, days: int) -> str:
    return (date.fromisoformat(partition) + timedelta(days=days)).isoformat()


def opening_partition(
    timeline: Mapping[str, Point], partition: str, policy: PolicyConfig
) -> str | None:
    """The first failing partition of an incident that ``partition``'s failure opens, or None
    while the failure has not persisted (k failing among n consecutive partitions).

    Every window of n partitions containing ``partition`` counts: in a backfill, later days
    may already be recorded.
    """
    n, k = policy.persistence_n, policy.persistence_k
    for end in range(n):
        window = [shift(partition, end - i) for i in range(n)]
        failing = [p for p in window if p in timeline and not timeline[p].passed]
        if len(failing) >= k:
            return min(failing)
    return None


def span(timeline: Mapping[str, Point], first: str, resolve_after: int) -> Span:
    """Walk forward from ``first`` until ``resolve_after`` consecutive partitions pass."""
    last_failing = first
    failing = 0
    severity = Severity.WARN
    end = max(timeline)
    day = first
    while day <= end:
        point = timeline.get(day)
        if point is not None and not point.passed:
            last_failing = day
            failing += 1
            if point.severity is Severity.CRITICAL:
                severity = Severity.CRITICAL
        elif _cleared(timeline, last_failing, resolve_after):
            return Span(first, last_failing, failing, severity, shift(last_failing, resolve_after))
        day = shift(day, 1)
    return Span(first, last_failing, failing, severity, None)


def episodes(
    timeline: Mapping[str, Point], policy: PolicyConfig, cuts: Iterable[str] = ()
) -> list[Span]:
    """The incidents the whole timeline calls for, in order: what ingesting every recorded
    partition in partition order reaches, whatever order they were recorded in.

    An episode opens at the first failing partition that persistence counts (k failing among
    n consecutive partitions after the previous episode's resolution) and spans to its
    resolution. One that opens at most ``reopen_within_days`` after the previous episode's
    resolution continues it (the problem paused, over a weekend say): the two are one episode,
    which resolves where the later one does. A ``cut`` (where a person resolved an incident by
    hand) ends the episode running through it; failing partitions after the cut start a new
    one, never continuing it.
    """
    found: list[Span] = []
    floor = ""
    visible = timeline
    ends = sorted(cuts)
    for day in sorted(timeline):
        if day <= floor or timeline[day].passed:
            continue
        if opening_partition(visible, day, policy) is None:
            continue
        extent = span(visible, day, policy.resolve_after)
        cut = next(
            (
                c
                for c in ends
                if day <= c and (extent.resolved_partition is None or c < extent.resolved_partition)
            ),
            None,
        )
        if cut is not None:
            extent = _until(visible, day, cut)
        if found and _reopens(found[-1], extent.first_partition, policy, ends):
            extent = _joined(timeline, found.pop(), extent)
        found.append(extent)
        if extent.resolved_partition is None:
            break
        floor = extent.resolved_partition
        visible = {p: v for p, v in timeline.items() if p > floor}
    return found


def _reopens(previous: Span, first: str, policy: PolicyConfig, cuts: Sequence[str]) -> bool:
    """Whether an episode opening at ``first`` continues ``previous``: it opens within the
    reopen window after the previous resolution, and no one resolved it by hand in between."""
    resolved = previous.resolved_partition
    return (
        resolved is not None
        and first <= shift(resolved, policy.reopen_within_days)
        and not any(previous.first_partition <= c < first for c in cuts)
    )


def _joined(timeline: Mapping[str, Point], earlier: Span, later: Span) -> Span:
    """Two episodes as one: from the earlier's first failing partition to the later's
    resolution, counting every failing partition between."""
    first, last = earlier.first_partition, later.last_failing_partition
    failing = [p for p, v in timeline.items() if first <= p <= last and not v.passed]
    critical = any(timeline[p].severity is Severity.CRITICAL for p in failing)
    severity = Severity.CRITICAL if critical else Severity.WARN
    return Span(first, last, len(failing), severity, later.resolved_partition)


def _until(timeline: Mapping[str, Point], first: str, cut: str) -> Span:
    """The span from ``first`` ended at ``cut`` (a resolution by hand)."""
    failing = sorted(p for p, v in timeline.items() if first <= p <= cut and not v.passed)
    critical = any(timeline[p].severity is Severity.CRITICAL for p in failing)
    severity = Severity.CRITICAL if critical else Severity.WARN
    return Span(first, failing[-1], len(failing), severity, cut)


def _cleared(timeline: Mapping[str, Point], last_failing: str, resolve_after: int) -> bool:
    needed = (shift(last_failing, i) for i in range(1, resolve_after + 1))
    return all(p in timeline and timeline[p].passed for p in needed)
