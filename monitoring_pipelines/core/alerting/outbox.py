"""The outbox side of ingestion: the message an incident event stores, with its key (so it
is stored once), its delivery status (backfill, paging horizon) and its PagerDuty event."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import Connection

from monitoring_pipelines.core.alerting.messages import (
    Links,
    Revision,
    build_message,
    pagerduty_event,
    revision_message,
)
from monitoring_pipelines.core.alerting.model import (
    AlertContext,
    AlertKind,
    DeliveryStatus,
    Evaluation,
    Incident,
    IngestReport,
    Target,
)
from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.checks import Finding
from monitoring_pipelines.core.config import AlertsConfig, Severity


def enqueue(
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
    links = Links(context.dagster_url, config.runbook_base_url, context.web_url)
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
        key = _revision_key(store, conn, root.id, f"{root.id}|{key}|{incident.id}")
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
    if stored and evaluation.backfill_id:
        _hold_summary(store, conn, evaluation, config.slack_channel)
    if config.pagerduty is not None and revision not in (Revision.SPLIT, Revision.CORRECTED):
        cycle = store.count_alerts(conn, f"{root.id}|reopen|")  # a reopening: just stored
        pd_suffix = f"|{cycle}" if cycle else ""
        _enqueue_pagerduty(
            store, conn, kind, root, finding, config, links, common, report, pd_suffix
        )


def _revision_key(store: AlertRepository, conn: Connection, root_id: int, said: str) -> str:
    """The key of a revision (split, correction, merge, reopening): the same as the thread's
    last message when that said it (nothing new to say), else a key of its own. Partitions
    recorded late can take an incident back to an extent its thread stated before (split,
    then merged again): the thread's last word must then say it again, not stay the split."""
    last = store.last_slack_key(conn, root_id)
    if last is not None and (last == said or last.startswith(f"{said}#")):
        return last
    earlier = store.count_alerts(conn, said)
    return f"{said}#{earlier}" if earlier else said


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
