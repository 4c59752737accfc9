"""Messages the alerting pass adds on its own: reminders of long-open critical incidents, and
the summary of a backfill once the backfill has finished (README.md, "Alerting").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from monitoring_pipelines.core.alerting.messages import Links, reminder_message, summary_message
from monitoring_pipelines.core.alerting.model import (
    Alert,
    AlertKind,
    DeliveryStatus,
    Incident,
    IncidentStatus,
    Target,
)
from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.config import AlertsConfig, Severity

QUIET = timedelta(minutes=30)


def remind(
    store: AlertRepository,
    alerts: Mapping[str, AlertsConfig],
    dagster_url: str,
    now: datetime,
    web_url: str | None = None,
) -> list[int]:
    """Store a reminder for every incident due one; returns the incidents reminded of."""
    reminded: list[int] = []
    for incident in store.incidents(status=[IncidentStatus.OPEN]):
        config = alerts.get(incident.monitor)
        if (
            config is None
            or config.renotify_hours is None
            or incident.parent_id is not None
            or incident.severity is not Severity.CRITICAL
            or incident.slack_ts is None
        ):
            continue
        period = timedelta(hours=config.renotify_hours)
        last = store.last_message_at(incident.id) or incident.opened_at
        if now - last < period or store.update_pending(incident.id):
            continue
        links = Links(dagster_url, config.runbook_base_url, web_url)
        with store.transaction() as conn:
            stored = store.enqueue(
                conn,
                alert_key=f"{incident.id}|remind|{now:%Y-%m-%dT%H:%M}",
                incident_id=incident.id,
                kind=AlertKind.REMIND.value,
                fingerprint=incident.fingerprint,
                monitor=incident.monitor,
                check_name=incident.check,
                subject=incident.subject,
                partition_key=incident.last_failing_partition,
                severity=incident.severity.value,
                title=incident.title,
                message=reminder_message(incident, links, config.renotify_hours, now),
                channel=incident.slack_channel or config.slack_channel,
                status=DeliveryStatus.PENDING.value,
                target=Target.SLACK.value,
            )
        if stored:
            reminded.append(incident.id)
    return reminded


def release_summaries(
    store: AlertRepository, finished: Callable[[str], bool | None], now: datetime
) -> list[str]:
    """Release the summaries of finished backfills; returns their backfill ids.

    Args:
        finished: Whether the orchestrator knows the backfill as finished (True), running
            (False), or does not know it (None: then it is over once quiet for ``QUIET``).
    """
    released: list[str] = []
    for summary in store.held_summaries():
        backfill = summary.backfill_id or ""
        alerts = [a for a in store.backfill_alerts(backfill) if a.target is Target.SLACK]
        state = finished(backfill)
        latest = max((a.created_at for a in alerts), default=summary.created_at)
        if state is False or (state is None and now - latest < QUIET):
            continue
        mine = [a for a in alerts if a.channel == summary.channel]
        incidents = {
            i.id: i
            for a in mine
            if a.incident_id is not None
            for i in [store.get_incident(a.incident_id)]
            if i is not None
        }
        store.set_message(
            summary.id,
            summary_message(backfill, [_own_figures(a, incidents) for a in mine], incidents),
            status=DeliveryStatus.PENDING.value,
            reason=None,
        )
        released.append(backfill)
    return released


def _own_figures(alert: Alert, incidents: Mapping[int, Incident]) -> Alert:
    """The alert as a summary line about its incident may quote it: a finding of another check
    that joined the incident is not that incident's figure (its title names its own check)."""
    incident = incidents.get(alert.incident_id or -1)
    if incident is None or (alert.check, alert.subject) == (incident.check, incident.subject):
        return alert
    return replace(alert, message={k: v for k, v in alert.message.items() if k != "finding"})
