"""An incident's life, decided on its fingerprint's whole timeline: the plan of
:mod:`~monitoring_pipelines.core.alerting.reconcile` carried out in the store, with the
messages that say what changed (opened, updated, split, corrected, reopened, resolved)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection

from monitoring_pipelines.core.alerting.families import family_of
from monitoring_pipelines.core.alerting.messages import Revision, incident_title
from monitoring_pipelines.core.alerting.model import (
    AlertContext,
    AlertKind,
    Evaluation,
    Incident,
    IncidentStatus,
    IngestReport,
    fingerprint,
)
from monitoring_pipelines.core.alerting.outbox import enqueue
from monitoring_pipelines.core.alerting.policy import Span
from monitoring_pipelines.core.alerting.reconcile import Plan, Release, closed_by_hand, reconcile
from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.checks import Finding
from monitoring_pipelines.core.config import AlertsConfig, PolicyConfig, Severity


@dataclass
class Reconciliation:
    """One finding's fingerprint brought in line with its whole timeline, and the messages
    saying so; ``evaluation`` is the cause (its run, its partition)."""

    store: AlertRepository
    conn: Connection
    evaluation: Evaluation
    finding: Finding
    config: AlertsConfig
    context: AlertContext
    report: IngestReport

    @property
    def fingerprint(self) -> str:
        e = self.evaluation
        return fingerprint(e.monitor, e.check, self.finding.subject)

    @property
    def policy(self) -> PolicyConfig:
        return self.config.policy_for(self.evaluation.check)

    def plan(self, partition: str) -> Plan:
        e = self.evaluation
        timeline = self.store.timeline(self.conn, e.monitor, e.check, self.finding.subject)
        incidents = self.store.incidents_of(self.conn, self.fingerprint)
        return reconcile(timeline, self.policy, incidents, partition)

    def run(self) -> None:
        plan = self.plan(self.evaluation.partition)
        for release in plan.releases:  # first: an incident reopening may take its place
            self.release(release)
        unmatched = [m.episode for m in plan.matches if m.incident is None]
        carried = {m.episode: m.incident for m in plan.matches if m.incident is not None}
        for match in plan.matches:
            if match.incident is None or closed_by_hand(match.incident):
                continue
            episode = match.episode
            ongoing = [e for e in unmatched if e.resolved_partition is None]
            if ongoing and self.waiting(match.incident, episode):
                unmatched.remove(ongoing[0])
                carried[ongoing[0]] = match.incident
                episode = _continued(episode, ongoing[0])
            self.carry(match.incident, episode)
        for episode in unmatched:
            carried[episode] = self.open(episode)
        for match in plan.matches:
            if match.incident is None or not match.split_off or closed_by_hand(match.incident):
                continue
            others = [carried[e] for e in match.split_off if e in carried]
            incident = self.store.incident(self.conn, match.incident.id)
            witness = self.witness(match.episode.last_failing_partition)
            key = f"split|{incident.first_partition}|{incident.last_failing_partition}|" + (
                ",".join(str(o.id) for o in others)
            )
            self.say(AlertKind.UPDATE, incident, witness, key, Revision.SPLIT, others)

    # -- what happens to an incident ---------------------------------------------------------

    def open(self, episode: Span) -> Incident:
        """An incident for an episode that has none. One already over (days recorded late)
        is history: it opens resolved, on its own."""
        e, subject = self.evaluation, self.finding.subject
        over = episode.resolved_partition is not None
        family = family_of(e.check, subject)
        root = None if over else self.store.active_root(self.conn, e.monitor, family)
        fields = _extent(episode)
        if over:
            fields |= {
                "status": IncidentStatus.RESOLVED.value,
                "resolved_partition": episode.resolved_partition,
                "resolved_at": self.context.now,
            }
        incident = self.store.open_incident(
            self.conn,
            at=self.context.now,
            fingerprint=self.fingerprint,
            monitor=e.monitor,
            check_name=e.check,
            subject=subject,
            family=family,
            parent_id=root.id if root is not None else None,
            title=incident_title(e.monitor, e.check, subject),
            **fields,
        )
        witness = self.evaluation, self.finding
        if self.finding.passed or not (
            episode.first_partition <= e.partition <= episode.last_failing_partition
        ):
            witness = self.witness(episode.last_failing_partition)
        if root is None:
            self.report.opened.append(incident.id)
            self.say(AlertKind.OPEN, incident, witness)
        else:
            self.report.joined.append(incident.id)
            self.say(AlertKind.JOIN, incident, witness)
        if over:
            self.report.resolved.append(incident.id)
            self.say(AlertKind.RESOLVE, incident, (self.evaluation, self.finding))
        return incident

    def waiting(self, incident: Incident, episode: Span) -> bool:
        """A root whose own episode ended but which stays open for the incidents that joined
        it: a new episode of its fingerprint continues it (one open incident per fingerprint)."""
        return (
            incident.active
            and episode.resolved_partition is not None
            and incident.parent_id is None
            and bool(self.store.active_children(self.conn, incident.id))
        )

    def carry(self, incident: Incident, episode: Span) -> None:
        """The incident takes its episode's extent: an update for a new failing partition, a
        resolution once it cleared; a resolved one reopens or is corrected."""
        if incident.active:
            newer = episode.last_failing_partition > incident.last_failing_partition
            incident = self.update(incident, **_extent(episode))
            if newer:
                self.report.updated.append(incident.root_id)
                witness = self.witness(episode.last_failing_partition)
                self.say(AlertKind.UPDATE, incident, witness)
            if episode.resolved_partition is not None:
                self.resolve(incident, episode.resolved_partition)
        elif episode.resolved_partition is None:
            fields: dict[str, Any] = {"status": IncidentStatus.OPEN.value}
            fields |= {"resolved_partition": None, "resolved_at": None}
            if incident.parent_id is not None:
                parent = self.store.incident(self.conn, incident.parent_id)
                if closed_by_hand(parent):
                    fields["parent_id"] = None  # a person closed that problem: its own again
                elif not parent.active:  # the problem goes on: its thread, open again
                    reopened = {"resolved_partition": None, "resolved_at": None}
                    self.update(parent, status=IncidentStatus.OPEN.value, **reopened)
            incident = self.update(incident, **fields, **_extent(episode))
            self.report.updated.append(incident.root_id)
            witness = self.witness(episode.last_failing_partition)
            cycle = self.store.count_alerts(self.conn, f"{incident.root_id}|reopen|")
            self.say(AlertKind.UPDATE, incident, witness, f"reopen|{cycle}", Revision.REOPENED)
        else:
            said = (incident.last_failing_partition, incident.resolved_partition)
            # A root resolved no earlier than the last of the incidents that joined it.
            resolved = max([episode.resolved_partition, *self.joined_resolutions(incident)])
            incident = self.update(incident, resolved_partition=resolved, **_extent(episode))
            self.defer_root(incident)
            if said != (episode.last_failing_partition, resolved):
                key = f"correct|{episode.last_failing_partition}|{resolved}"
                witness = self.witness(episode.last_failing_partition)
                view = self.as_said(incident)
                self.say(AlertKind.UPDATE, view, witness, key, Revision.CORRECTED)

    def release(self, release: Release) -> None:
        """An incident no episode calls for: its failures passed when run again, or they are
        part of another incident's episode. A resolved one keeps its resolution (a passing
        partition) and covers no failing partition any more."""
        incident = release.incident
        others = [release.merged_into] if release.merged_into is not None else []
        revision = Revision.MERGED if others else Revision.CLEARED
        if incident.active:
            self.resolve(incident, self.evaluation.partition, (revision, others))
            return
        self.update(incident, failing_partitions=0)
        key = "merged|" + ",".join(str(o.id) for o in others)
        self.say(
            AlertKind.RESOLVE, incident, (self.evaluation, self.finding), key, revision, others
        )

    def resolve(
        self,
        incident: Incident,
        resolved_partition: str,
        revision: tuple[Revision, list[Incident]] | None = None,
    ) -> None:
        """The incident's own condition cleared. A root resolves (and says so) once every
        incident that joined it has cleared too; a joined incident resolves silently and may
        complete its root's resolution. An incident released by a revision covers no failing
        partition any more."""
        if incident.parent_id is None and self.store.active_children(self.conn, incident.id):
            return  # the problem goes on under another check: its last clearing resolves it
        if incident.parent_id is None and revision is None:
            resolved_partition = max([resolved_partition, *self.joined_resolutions(incident)])
        said = incident
        fields: dict[str, Any] = {
            "status": IncidentStatus.RESOLVED.value,
            "resolved_partition": resolved_partition,
            "resolved_at": self.context.now,
        }
        if revision is not None:
            fields["failing_partitions"] = 0
        incident = self.update(incident, **fields)
        root = incident
        witness = self.evaluation, self.finding
        if incident.parent_id is not None:
            root = self.store.incident(self.conn, incident.parent_id)
            if not root.active or self.store.active_children(self.conn, root.id):
                return
            own = self.own_resolution(root)
            if own is None:
                return
            root_fields: dict[str, Any] = {
                "status": IncidentStatus.RESOLVED.value,
                "resolved_partition": max(own[0], resolved_partition),
                "resolved_at": self.context.now,
            }
            if own[1]:
                root_fields["failing_partitions"] = 0
            root = self.update(root, **root_fields)
            revision = None
            witness = self.own_witness(root, [root_fields["resolved_partition"], own[0]])
        self.report.resolved.append(root.id)
        if revision is None:
            view = self.as_said(root)
            if view.resolved_partition != root.resolved_partition:
                witness = self.own_witness(root, [str(view.resolved_partition)])
            self.say(AlertKind.RESOLVE, view, witness)
        else:
            self.say(AlertKind.RESOLVE, said, witness, None, revision[0], revision[1])

    def own_resolution(self, root: Incident) -> tuple[str, bool] | None:
        """Where a root's own condition cleared (its children just did), and whether its
        failing partitions are gone altogether; None while it still holds."""
        policy = self.config.policy_for(root.check)
        timeline = self.store.timeline(self.conn, root.monitor, root.check, root.subject)
        incidents = self.store.incidents_of(self.conn, root.fingerprint)
        plan = reconcile(timeline, policy, incidents, root.first_partition)
        for match in plan.matches:
            if match.incident is not None and match.incident.id == root.id:
                resolved = match.episode.resolved_partition
                return None if resolved is None else (resolved, False)
        return max([root.last_failing_partition, *timeline]), True

    def as_said(self, incident: Incident) -> Incident:
        """The resolved incident as its resolution message states it: passing on every
        partition of its own check after its last failing one, through the last partition
        where that holds. A problem resolves when the last of its checks cleared; its first
        check may have failed once more (too briefly to count) or not been evaluated since its
        own resolution, and the message says only what its check did."""
        resolved = incident.resolved_partition
        if resolved is None:
            return incident
        timeline = self.store.timeline(
            self.conn, incident.monitor, incident.check, incident.subject
        )
        through = None
        for partition in sorted(p for p in timeline if incident.last_failing_partition < p):
            if partition > resolved or not timeline[partition].passed:
                break
            through = partition
        if through is None or through == resolved:
            return incident
        return replace(incident, resolved_partition=through)

    def defer_root(self, member: Incident) -> None:
        """A resolved root resolves no earlier than a member whose resolution moved later."""
        if member.parent_id is None or member.resolved_partition is None:
            return
        root = self.store.incident(self.conn, member.parent_id)
        if root.active or closed_by_hand(root) or root.resolved_partition is None:
            return
        if member.failing_partitions > 0 and root.resolved_partition < member.resolved_partition:
            self.update(root, resolved_partition=member.resolved_partition)

    def joined_resolutions(self, root: Incident) -> list[str]:
        """Where the incidents that joined ``root`` resolved (those still covering failing
        partitions): a root resolves no earlier than the last of them."""
        return [
            c.resolved_partition
            for c in self.store.children(self.conn, root.id)
            if c.resolved_partition is not None and c.failing_partitions > 0
        ]

    def own_witness(
        self, incident: Incident, partitions: Sequence[str]
    ) -> tuple[Evaluation, Finding]:
        """The incident's own check's verdict on the first of ``partitions`` recorded: a
        message about the incident quotes its own check, not the member's that triggered it."""
        for partition in partitions:
            found = self.store.result(
                self.conn, incident.monitor, incident.check, incident.subject, partition
            )
            if found is not None:
                return replace(found, backfill_id=self.evaluation.backfill_id), found.findings[0]
        return self.evaluation, self.finding

    # -- the store and the outbox --------------------------------------------------------------

    def update(self, incident: Incident, **fields: Any) -> Incident:
        if all(getattr(incident, _FIELD.get(k, k)) == v for k, v in fields.items()):
            return incident
        return self.store.update_incident(self.conn, incident.id, **fields)

    def witness(self, partition: str) -> tuple[Evaluation, Finding]:
        """The evaluation and finding a message about ``partition`` cites: the one just
        recorded, or the recorded verdict of that partition."""
        e, subject = self.evaluation, self.finding.subject
        if partition != e.partition:
            found = self.store.result(self.conn, e.monitor, e.check, subject, partition)
            if found is not None:
                return replace(found, backfill_id=e.backfill_id), found.findings[0]
        return e, self.finding

    def say(
        self,
        kind: AlertKind,
        incident: Incident,
        witness: tuple[Evaluation, Finding],
        key: str | None = None,
        revision: Revision | None = None,
        others: Sequence[Incident] = (),
    ) -> None:
        evaluation, finding = witness
        enqueue(
            self.store,
            self.conn,
            kind,
            incident,
            evaluation,
            finding,
            self.config,
            self.context,
            self.report,
            key=key,
            revision=revision,
            others=others,
        )


_FIELD = {"check_name": "check"}


def _continued(ended: Span, ongoing: Span) -> Span:
    """An open root's ended episode and the ongoing one that continues it, as one extent."""
    critical = Severity.CRITICAL in (ended.severity, ongoing.severity)
    return Span(
        first_partition=ended.first_partition,
        last_failing_partition=ongoing.last_failing_partition,
        failing_partitions=ended.failing_partitions + ongoing.failing_partitions,
        severity=Severity.CRITICAL if critical else Severity.WARN,
        resolved_partition=None,
    )


def _extent(episode: Span) -> dict[str, Any]:
    return {
        "severity": episode.severity.value,
        "first_partition": episode.first_partition,
        "last_failing_partition": episode.last_failing_partition,
        "failing_partitions": episode.failing_partitions,
    }
