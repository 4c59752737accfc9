"""From check evaluations to incidents and stored alerts, exactly once per run.

One transaction per run records its evaluations, updates incidents, stores the alerts to send
and marks the run processed. A process that dies half-way commits nothing, and a run that was
processed is never processed again, so restarts neither lose nor duplicate anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from monitoring_pipelines.core.alerting.families import family_of
from monitoring_pipelines.core.alerting.messages import (
    Links,
    Revision,
    build_message,
    incident_title,
    pagerduty_event,
    revision_message,
)
from monitoring_pipelines.core.alerting.model import (
    AlertKind,
    DeliveryStatus,
    Evaluation,
    Incident,
    IncidentStatus,
    Target,
    fingerprint,
)
from monitoring_pipelines.core.alerting.policy import Span
from monitoring_pipelines.core.alerting.reconcile import Plan, Release, closed_by_hand, reconcile
from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.checks import Finding
from monitoring_pipelines.core.config import AlertsConfig, PolicyConfig, Severity


@dataclass(frozen=True)
class AlertContext:
    """What ingestion needs besides the evaluations."""

    alerts: Mapping[str, AlertsConfig]
    dagster_url: str
    now: datetime


@dataclass
class IngestReport:
    """What one ingestion did."""

    runs: int = 0
    skipped_runs: int = 0
    evaluations: int = 0
    opened: list[int] = field(default_factory=list)
    joined: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    alerts_stored: int = 0


def ingest_run(
    store: AlertRepository,
    run_id: str,
    evaluations: Sequence[Evaluation],
    context: AlertContext,
    report: IngestReport | None = None,
) -> IngestReport:
    """Record one finished run's evaluations; a run already processed is skipped."""
    return ingest_runs(store, [(run_id, evaluations)], context, report)


def ingest_runs(
    store: AlertRepository,
    runs: Sequence[tuple[str, Sequence[Evaluation]]],
    context: AlertContext,
    report: IngestReport | None = None,
) -> IngestReport:
    """Record several finished runs in one transaction, in partition order.

    Runs already processed are skipped. Every evaluation recorded reconciles its fingerprints'
    incidents with the episodes of their whole timeline, so a backfill read in one pass, days
    recorded in any order and reruns all reach the incidents of the daily schedule.

    An unpartitioned asset (the reference, the review loop) has no partition: its verdicts are
    recorded on the UTC day they were reached, and a build that succeeds clears the failures
    before it, so a broken reference pages and its rebuild resolves the incident.
    """
    report = report or IngestReport()
    with store.transaction() as conn:
        fresh: list[Evaluation] = []
        for run_id, evaluations in runs:
            if not store.claim_run(conn, run_id, len(evaluations)):
                report.skipped_runs += 1
                continue
            report.runs += 1
            fresh += evaluations
        dated = [(_dated(e), not e.partition) for e in fresh]
        for evaluation, unpartitioned in sorted(
            dated, key=lambda pair: (pair[0].partition, pair[0].asset, pair[0].check)
        ):
            config = context.alerts.get(evaluation.monitor)
            if config is None:
                continue  # a monitor removed from the configuration since the run
            report.evaluations += 1
            store.record_evaluation(conn, evaluation)
            if unpartitioned:
                store.supersede(conn, evaluation)
            for finding in evaluation.findings:
                _Reconciliation(store, conn, evaluation, finding, config, context, report).run()
    return report


def _dated(evaluation: Evaluation) -> Evaluation:
    if evaluation.partition:
        return evaluation
    return replace(evaluation, partition=evaluation.evaluated_at.astimezone(UTC).date().isoformat())


@dataclass
class _Reconciliation:
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
        for match in plan.matches:
            if match.incident is not None and not closed_by_hand(match.incident):
                self.carry(match.incident, match.episode)
        carried = {m.episode: m.incident for m in plan.matches if m.incident is not None}
        for match in plan.matches:
            if match.incident is None:
                carried[match.episode] = self.open(match.episode)
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
        is history: it opens resolved, on its own. A new episode while a root whose own
        episode ended still waits for the incidents that joined it continues that root."""
        e, subject = self.evaluation, self.finding.subject
        over = episode.resolved_partition is not None
        waiting = None if over else self.store.active_incident(self.conn, self.fingerprint)
        if waiting is not None:
            self.carry(waiting, _continued(waiting, episode))
            return self.store.incident(self.conn, waiting.id)
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
            if (
                incident.parent_id is not None
                and not self.store.incident(self.conn, incident.parent_id).active
            ):
                fields["parent_id"] = None  # its problem was over: it is its own again
            incident = self.update(incident, **fields, **_extent(episode))
            self.report.updated.append(incident.root_id)
            witness = self.witness(episode.last_failing_partition)
            cycle = self.store.count_alerts(self.conn, f"{incident.root_id}|reopen|")
            self.say(AlertKind.UPDATE, incident, witness, f"reopen|{cycle}", Revision.REOPENED)
        else:
            said = (incident.last_failing_partition, incident.resolved_partition)
            incident = self.update(
                incident, resolved_partition=episode.resolved_partition, **_extent(episode)
            )
            if said != (episode.last_failing_partition, episode.resolved_partition):
                key = f"correct|{episode.last_failing_partition}|{episode.resolved_partition}"
                witness = self.witness(episode.last_failing_partition)
                self.say(AlertKind.UPDATE, incident, witness, key, Revision.CORRECTED)

    def release(self, release: Release) -> None:
        """An active incident no episode calls for: its failures passed when run again, or
        they are part of another incident's episode."""
        incident = release.incident
        others = [release.merged_into] if release.merged_into is not None else []
        revision = Revision.MERGED if others else Revision.CLEARED
        self.resolve(incident, self.evaluation.partition, (revision, others))

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
        self.report.resolved.append(root.id)
        witness = self.evaluation, self.finding
        if revision is None:
            self.say(AlertKind.RESOLVE, root, witness)
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
        _enqueue(
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


def _continued(incident: Incident, episode: Span) -> Span:
    """``episode`` as the continuation of an open incident's earlier one."""
    critical = Severity.CRITICAL in (incident.severity, episode.severity)
    return Span(
        first_partition=min(incident.first_partition, episode.first_partition),
        last_failing_partition=episode.last_failing_partition,
        failing_partitions=incident.failing_partitions + episode.failing_partitions,
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


def _enqueue(
    store: AlertRepository,
    conn: Connection,
    kind: AlertKind,
    incident: Incident,
    evaluation: Evaluation,
    finding: Finding,
    config: AlertsConfig,
    context: AlertContext,
    report: IngestReport,
    *,
    key: str | None = None,
    revision: Revision | None = None,
    others: Sequence[Incident] = (),
) -> None:
    """Store one message; every message of a problem goes to its root incident's thread.

    Alerts of a backfill's runs are stored as ``digested`` and listed in the backfill's one
    summary; alerts of partitions older than the paging horizon are stored as ``suppressed``;
    a revision of an incident whose thread was posted is a reply there whatever its age.
    PagerDuty gets the opening (or the escalation to a paging severity, or a reopening) and
    the resolution. A reopened incident's next resolution and page are new messages.
    """
    root = incident if incident.parent_id is None else store.incident(conn, incident.parent_id)
    links = Links(context.dagster_url, config.runbook_base_url)
    if revision is None:
        message = build_message(kind, root, evaluation, finding, links, joined=incident)
    else:
        message = revision_message(revision, incident, evaluation, finding, links, others)
    status, reason = _delivery_status(evaluation, config, context.now)
    if revision is not None and root.slack_ts is not None:
        status, reason = DeliveryStatus.PENDING, None
    cycle = store.count_alerts(conn, f"{root.id}|reopen|")
    suffix = str(cycle) if cycle else ""
    if key is not None:
        key = f"{root.id}|{key}|{incident.id}"
    elif kind in (AlertKind.OPEN, AlertKind.RESOLVE):
        key = f"{root.id}|{kind.value}|{suffix}"
    elif kind is AlertKind.JOIN:
        key = f"{root.id}|join|{incident.id}"
    else:
        key = f"{root.id}|update|{evaluation.partition}"  # one update a day per problem
    common = {
        "incident_id": root.id,
        "fingerprint": root.fingerprint,
        "monitor": root.monitor,
        "check_name": incident.check,
        "subject": incident.subject,
        "partition_key": evaluation.partition,
        "title": root.title,
        "status": status.value,
        "reason": reason,
        "backfill_id": evaluation.backfill_id,
    }
    stored = store.enqueue(
        conn,
        alert_key=key,
        kind=kind.value,
        severity=(finding.severity if kind is not AlertKind.RESOLVE else root.severity).value,
        message=message,
        channel=config.slack_channel,
        target=Target.SLACK.value,
        **common,
    )
    report.alerts_stored += int(stored)
    if stored and evaluation.backfill_id and config.slack_channel:
        _hold_summary(store, conn, evaluation, config.slack_channel)
    if config.pagerduty is not None and revision not in (Revision.SPLIT, Revision.CORRECTED):
        pd_suffix = f"|{cycle}" if cycle else ""
        _enqueue_pagerduty(
            store, conn, kind, root, finding, config, links, common, report, pd_suffix
        )


def _enqueue_pagerduty(
    store: AlertRepository,
    conn: Connection,
    kind: AlertKind,
    root: Incident,
    finding: Finding,
    config: AlertsConfig,
    links: Links,
    common: Mapping[str, object],
    report: IngestReport,
    suffix: str = "",
) -> None:
    """Trigger once per incident when it reaches a paging severity; resolve what triggered."""
    assert config.pagerduty is not None
    trigger_key = f"{root.id}|open|pd{suffix}"
    if kind in (AlertKind.OPEN, AlertKind.UPDATE, AlertKind.JOIN):
        severity = root.severity if kind is AlertKind.OPEN else finding.severity
        if severity not in config.pagerduty.severities:
            return
        action, key = "trigger", trigger_key
    elif kind is AlertKind.RESOLVE:
        if store.alert_in(conn, trigger_key) is None:
            return  # nothing was triggered for it
        action, key = "resolve", f"{root.id}|resolve|pd{suffix}"
    else:
        return
    stored = store.enqueue(
        conn,
        alert_key=key,
        kind=AlertKind.OPEN.value if action == "trigger" else AlertKind.RESOLVE.value,
        severity=root.severity.value,
        message=pagerduty_event(action, root, finding, links, source="monitoring-pipelines"),
        channel="pagerduty",
        target=Target.PAGERDUTY.value,
        **common,
    )
    report.alerts_stored += int(stored)


def _hold_summary(
    store: AlertRepository, conn: Connection, evaluation: Evaluation, channel: str
) -> None:
    """The backfill's summary exists (held until the backfill finishes) in ``channel``."""
    store.enqueue(
        conn,
        alert_key=f"backfill|{evaluation.backfill_id}|{channel}",
        incident_id=None,
        kind=AlertKind.SUMMARY.value,
        fingerprint=f"backfill/{evaluation.backfill_id}",
        monitor=evaluation.monitor,
        check_name="backfill",
        subject="",
        partition_key=evaluation.partition,
        severity=Severity.WARN.value,
        title=f"backfill {evaluation.backfill_id}",
        message={"text": f"backfill {evaluation.backfill_id}", "blocks": []},
        channel=channel,
        status=DeliveryStatus.HELD.value,
        reason="waiting for the backfill to finish",
        target=Target.SLACK.value,
        backfill_id=evaluation.backfill_id,
    )


def _delivery_status(
    evaluation: Evaluation, config: AlertsConfig, now: datetime
) -> tuple[DeliveryStatus, str | None]:
    if evaluation.backfill_id:
        return (
            DeliveryStatus.DIGESTED,
            f"from backfill {evaluation.backfill_id}: listed in the backfill's one summary",
        )
    days = config.policy_for(evaluation.check).paging_horizon_days
    days = config.paging_horizon_days if days is None else days
    partition = evaluation.partition
    if date.fromisoformat(partition) < now.date() - timedelta(days=days):
        return (
            DeliveryStatus.SUPPRESSED,
            f"partition {partition} is older than the {days}-day paging "
            "horizon (a late run): recorded, not sent",
        )
    return DeliveryStatus.PENDING, None
