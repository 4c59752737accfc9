"""A fingerprint's incidents against the episodes of its whole recorded timeline.

Ingestion records a partition's verdict, then matches the episodes the whole timeline calls
for (:func:`~monitoring_pipelines.core.alerting.policy.episodes`) with the incidents the
fingerprint has. Deciding on the whole timeline, not on what was recorded so far, is what lets
days recorded out of order (a backfill, a late rerun) reach the incidents of the daily schedule:
a bridged incident splits, a stretched one shrinks, an incident whose failures a rerun erased
resolves. Only the incidents and episodes connected to the partition just recorded are
reconsidered, so history far from it (or a policy changed since) is left as it was decided.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from monitoring_pipelines.core.alerting.model import Incident, IncidentStatus
from monitoring_pipelines.core.alerting.policy import Point, Span, episodes, shift
from monitoring_pipelines.core.config import PolicyConfig


@dataclass(frozen=True)
class Match:
    """An episode and the incident that carries it (None: one opens for it).

    Attributes:
        episode: The episode on the whole timeline.
        incident: Its incident as stored, or None.
        split_off: Other episodes the incident's stored extent also covered (days recorded
            late show they are separate): they get incidents of their own.
    """

    episode: Span
    incident: Incident | None
    split_off: tuple[Span, ...] = ()


@dataclass(frozen=True)
class Release:
    """An incident that no episode calls for any more: an active one, or a resolved one whose
    episode turned out to continue an earlier incident's (a day recorded late within the
    reopen window).

    Attributes:
        incident: The incident as stored.
        merged_into: The incident now carrying the episode it was part of, or None when its
            failing partitions are gone (they passed when run again).
    """

    incident: Incident
    merged_into: Incident | None


@dataclass(frozen=True)
class Plan:
    """What reconciling one fingerprint changes, episodes in partition order."""

    matches: tuple[Match, ...]
    releases: tuple[Release, ...]


def closed_by_hand(incident: Incident) -> bool:
    """Resolved by a person (``monitoring incidents resolve``), not by the timeline.

    The timeline resolves an incident on a partition after its last failing one; a resolution
    by hand records the last failing partition itself (or, in old rows, none).
    """
    return (
        incident.status is IncidentStatus.RESOLVED
        and incident.failing_partitions > 0
        and (
            incident.resolved_partition is None
            or incident.resolved_partition <= incident.last_failing_partition
        )
    )


def cleared(incident: Incident) -> bool:
    """Resolved because every failing partition passed when run again: it covers nothing."""
    return incident.status is IncidentStatus.RESOLVED and incident.failing_partitions == 0


def reconcile(
    timeline: Mapping[str, Point],
    policy: PolicyConfig,
    incidents: Sequence[Incident],
    partition: str,
) -> Plan:
    """Match the timeline's episodes with ``incidents`` (all of one fingerprint) around
    ``partition``, the partition just recorded.

    Each episode goes to the earliest unmatched incident whose extent meets it, so a bridged
    incident keeps its first episode and the later ones open incidents of their own, as the
    daily schedule would have had them. Incidents resolved by hand keep their episode and are
    never changed; an incident cleared by a rerun covers nothing.
    """
    by_hand = [i for i in incidents if closed_by_hand(i)]
    cuts = [i.resolved_partition or i.last_failing_partition for i in by_hand]
    found = episodes(timeline, policy, cuts)
    candidates = sorted(
        (i for i in incidents if not cleared(i)), key=lambda i: (i.first_partition, i.id)
    )
    owner: dict[int, Incident | None] = {}
    taken: set[int] = set()
    for index, episode in enumerate(found):
        chosen = next(
            (i for i in candidates if i.id not in taken and _meets(_extent(i), _range(episode))),
            None,
        )
        owner[index] = chosen
        if chosen is not None:
            taken.add(chosen.id)
    episode_ids, incident_ids = _around(partition, found, candidates, policy)
    matches = []
    for index, episode in enumerate(found):
        if index not in episode_ids:
            continue
        incident = owner[index]
        if incident is None and any(_meets(_extent(i), _range(episode)) for i in by_hand):
            continue  # partitions a person resolved by hand: theirs, not a new incident's
        split_off: tuple[Span, ...] = ()
        if incident is not None:
            split_off = tuple(
                other
                for other in found
                if other is not episode and _meets(_extent(incident), _range(other))
            )
        matches.append(Match(episode, incident, split_off))
    releases = []
    for incident in candidates:
        if incident.id in taken or incident.id not in incident_ids or closed_by_hand(incident):
            continue
        merged_into = next(
            (
                owner[index]
                for index, episode in enumerate(found)
                if owner[index] is not None and _meets(_extent(incident), _range(episode))
            ),
            None,
        )
        if incident.active or merged_into is not None:
            releases.append(Release(incident, merged_into))
    return Plan(tuple(matches), tuple(releases))


Range = tuple[str, str | None]  # first partition, last partition (None: open-ended)


def _range(episode: Span) -> Range:
    return episode.first_partition, episode.resolved_partition


def _extent(incident: Incident) -> Range:
    if incident.active:
        return incident.first_partition, None
    return incident.first_partition, incident.resolved_partition or incident.last_failing_partition


def _meets(a: Range, b: Range) -> bool:
    return (b[1] is None or a[0] <= b[1]) and (a[1] is None or b[0] <= a[1])


def _contains(r: Range, partition: str) -> bool:
    return _meets(r, (partition, partition))


def _reach(r: Range, policy: PolicyConfig) -> Range:
    """``r`` and the partitions that may change it: the persistence window around its first
    partition (a partition there may have opened it), and the reopen window after its end
    with a persistence window more (a failure there may open an episode that continues it)."""
    window = policy.persistence_n - 1
    first, last = shift(r[0], -window), r[1]
    if last is not None:
        last = max(shift(last, policy.reopen_within_days + window), shift(r[0], window))
    return first, last


def _around(
    partition: str, found: Sequence[Span], incidents: Sequence[Incident], policy: PolicyConfig
) -> tuple[set[int], set[int]]:
    """Episodes (by index) and incidents (by id) connected to ``partition`` by overlap."""
    episode_ids = {
        n for n, e in enumerate(found) if _contains(_reach(_range(e), policy), partition)
    }
    incident_ids = {i.id for i in incidents if _contains(_reach(_extent(i), policy), partition)}
    while True:
        more_incidents = {
            i.id
            for i in incidents
            if any(_meets(_extent(i), _range(found[n])) for n in episode_ids)
        }
        more_episodes = {
            n
            for n, e in enumerate(found)
            if any(_meets(_extent(i), _range(e)) for i in incidents if i.id in incident_ids)
        }
        if more_incidents <= incident_ids and more_episodes <= episode_ids:
            return episode_ids, incident_ids
        incident_ids |= more_incidents
        episode_ids |= more_episodes
