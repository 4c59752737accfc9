"""From check evaluations to incidents and stored alerts, exactly once per run.

One transaction per run records its evaluations, updates incidents, stores the alerts to send
and marks the run processed. A process that dies half-way commits nothing, and a run that was
processed is never processed again, so restarts neither lose nor duplicate anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Connection

from monitoring_pipelines.core.alerting.families import family_of
from monitoring_pipelines.core.alerting.messages import (
    Links,
    build_message,
    incident_title,
    pagerduty_event,
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
from monitoring_pipelines.core.alerting.policy import Point, Span, opening_partition, span
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

    Runs already processed are skipped. Applying every new evaluation in partition order,
    whatever order the runs finished in, lets a backfill read in one pass reach the same
    incidents as the daily schedule.
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
        for evaluation in sorted(fresh, key=lambda e: (e.partition, e.asset, e.check)):
            config = context.alerts.get(evaluation.monitor)
            if config is None:
                continue  # a monitor removed from the configuration since the run
            report.evaluations += 1
            store.record_evaluation(conn, evaluation)
            for finding in evaluation.findings:
                _apply(store, conn, evaluation, finding, config, context, report)
    return report


def _apply(
    store: AlertRepository,
    conn: Connection,
    evaluation: Evaluation,
    finding: Finding,
    config: AlertsConfig,
    context: AlertContext,
    report: IngestReport,
) -> None:
    if not evaluation.partition:
        return  # incidents are per partition; unpartitioned checks are recorded only
    fp = fingerprint(evaluation.monitor, evaluation.check, finding.subject)
    policy = config.policy_for(evaluation.check)
    timeline = store.timeline(conn, evaluation.monitor, evaluation.check, finding.subject)
    incident = store.active_incident(conn, fp)
    kind: AlertKind | None = None
    if incident is None:
        if finding.passed:
            return
        first = opening_partition(timeline, evaluation.partition, policy)
        extent = span(timeline, first, policy.resolve_after) if first is not None else None
        earlier = store.resolved_overlapping(
            conn,
            fp,
            extent.first_partition if extent else evaluation.partition,
            extent.resolved_partition if extent else evaluation.partition,
        )
        if earlier is not None:
            # A rerun, or days of a backfill arriving after the incident resolved: the same
            # episode, so the resolved incident grows and nothing opens or pages again.
            if extent is not None:
                _extend_resolved(store, conn, earlier, timeline, extent.first_partition, policy)
            return
        if extent is None:
            return
        family = family_of(evaluation.check, finding.subject)
        root = store.active_root(conn, evaluation.monitor, family)
        incident = store.open_incident(
            conn,
            at=context.now,
            fingerprint=fp,
            monitor=evaluation.monitor,
            check_name=evaluation.check,
            subject=finding.subject,
            family=family,
            parent_id=root.id if root is not None else None,
            severity=extent.severity.value,
            first_partition=extent.first_partition,
            last_failing_partition=extent.last_failing_partition,
            failing_partitions=extent.failing_partitions,
            title=incident_title(evaluation.monitor, evaluation.check, finding.subject),
        )
        if root is None:
            report.opened.append(incident.id)
            kind = AlertKind.OPEN
        else:
            report.joined.append(incident.id)
            kind = AlertKind.JOIN
    else:
        first = incident.first_partition
        if not finding.passed and evaluation.partition < first:
            # An earlier failure joins the incident only if it persisted up to it.
            start = opening_partition(timeline, evaluation.partition, policy)
            if start is not None:
                reach = span(timeline, start, policy.resolve_after).resolved_partition
                first = start if reach is None or reach > first else first
        extent = span(timeline, first, policy.resolve_after)
        if not finding.passed and evaluation.partition > incident.last_failing_partition:
            kind = AlertKind.UPDATE
            report.updated.append(incident.root_id)
        incident = store.update_incident(
            conn,
            incident.id,
            severity=extent.severity.value,
            first_partition=extent.first_partition,
            last_failing_partition=extent.last_failing_partition,
            failing_partitions=extent.failing_partitions,
        )
    if kind is not None:
        _enqueue(store, conn, kind, incident, evaluation, finding, config, context, report)
    if extent.resolved_partition is not None:
        _resolve(
            store,
            conn,
            incident,
            extent.resolved_partition,
            evaluation,
            finding,
            config,
            context,
            report,
        )


def _resolve(
    store: AlertRepository,
    conn: Connection,
    incident: Incident,
    resolved_partition: str,
    evaluation: Evaluation,
    finding: Finding,
    config: AlertsConfig,
    context: AlertContext,
    report: IngestReport,
) -> None:
    """The incident's own condition cleared. A root resolves (and says so) once every
    incident that joined it has cleared too; a joined incident resolves silently and may
    complete its root's resolution."""
    if incident.parent_id is None and store.active_children(conn, incident.id):
        return  # the problem goes on under another check: its last clearing resolves it
    incident = store.update_incident(
        conn,
        incident.id,
        status=IncidentStatus.RESOLVED.value,
        resolved_partition=resolved_partition,
        resolved_at=context.now,
    )
    root = incident
    if incident.parent_id is not None:
        root = store.incident(conn, incident.parent_id)
        if not root.active or store.active_children(conn, root.id):
            return
        own = _own_extent(store, conn, root, config)
        if own is None or own.resolved_partition is None:
            return
        root = store.update_incident(
            conn,
            root.id,
            status=IncidentStatus.RESOLVED.value,
            resolved_partition=max(own.resolved_partition, resolved_partition),
            resolved_at=context.now,
        )
    report.resolved.append(root.id)
    _enqueue(store, conn, AlertKind.RESOLVE, root, evaluation, finding, config, context, report)


def _own_extent(
    store: AlertRepository, conn: Connection, incident: Incident, config: AlertsConfig
) -> Span | None:
    timeline = store.timeline(conn, incident.monitor, incident.check, incident.subject)
    if not timeline:
        return None
    return span(timeline, incident.first_partition, config.policy_for(incident.check).resolve_after)


def _extend_resolved(
    store: AlertRepository,
    conn: Connection,
    incident: Incident,
    timeline: Mapping[str, Point],
    first: str,
    policy: PolicyConfig,
) -> None:
    """Grow a resolved incident by failing days recorded after it resolved; it never shrinks."""
    extent = span(timeline, min(first, incident.first_partition), policy.resolve_after)
    fields = {
        "severity": (
            Severity.CRITICAL
            if Severity.CRITICAL in (extent.severity, incident.severity)
            else Severity.WARN
        ).value,
        "first_partition": extent.first_partition,
        "last_failing_partition": max(
            extent.last_failing_partition, incident.last_failing_partition
        ),
        "failing_partitions": max(extent.failing_partitions, incident.failing_partitions),
    }
    if any(getattr(incident, k) != v for k, v in fields.items()):
        store.update_incident(conn, incident.id, **fields)


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
) -> None:
    """Store one message; every message of a problem goes to its root incident's thread.

    Alerts of a backfill's runs are stored as ``digested`` and listed in the backfill's one
    summary; alerts of partitions older than the paging horizon are stored as ``suppressed``.
    PagerDuty gets the opening (or the escalation to a paging severity) and the resolution.
    """
    root = incident if incident.parent_id is None else store.incident(conn, incident.parent_id)
    links = Links(context.dagster_url, config.runbook_base_url)
    message = build_message(kind, root, evaluation, finding, links, joined=incident)
    status, reason = _delivery_status(evaluation, config, context.now)
    if kind in (AlertKind.OPEN, AlertKind.RESOLVE):
        key = f"{root.id}|{kind.value}|"
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
    if stored and evaluation.backfill_id:
        _hold_summary(store, conn, evaluation, config.slack_channel)
    if config.pagerduty is not None:
        _enqueue_pagerduty(store, conn, kind, root, finding, config, links, common, report)


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
) -> None:
    """Trigger once per incident when it reaches a paging severity; resolve what triggered."""
    assert config.pagerduty is not None
    trigger_key = f"{root.id}|open|pd"
    if kind in (AlertKind.OPEN, AlertKind.UPDATE, AlertKind.JOIN):
        severity = root.severity if kind is AlertKind.OPEN else finding.severity
        if severity not in config.pagerduty.severities:
            return
        action, key = "trigger", trigger_key
    elif kind is AlertKind.RESOLVE:
        if store.alert_in(conn, trigger_key) is None:
            return  # nothing was triggered for it
        action, key = "resolve", f"{root.id}|resolve|pd"
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
    store: AlertRepository, conn: Connection, evaluation: Evaluation, channel: str | None
) -> None:
    """The backfill's summary exists (held until the backfill finishes) in ``channel``; one
    without a channel is delivered like any message without one (written to the alerts file,
    or marked undeliverable), so the alerts it lists are never listed nowhere."""
    store.enqueue(
        conn,
        alert_key=f"backfill|{evaluation.backfill_id}|{channel or ''}",
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
