"""Acknowledging and resolving an incident by hand: the change, and the messages saying so.

The incident's thread gets a reply ("acknowledged by ana"; "resolved by hand by ana"), and a
PagerDuty alert triggered for it is acknowledged or resolved too. Resolving a root resolves the
incidents that joined it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from monitoring_pipelines.core.alerting.messages import pagerduty_key
from monitoring_pipelines.core.alerting.model import (
    AlertKind,
    DeliveryStatus,
    Incident,
    IncidentStatus,
    Target,
)
from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.config import AlertsConfig
from monitoring_pipelines.core.errors import MonitoringError
from monitoring_pipelines.core.notify.mrkdwn import escape_mrkdwn


def change_incident(
    store: AlertRepository,
    incident_id: int,
    status: IncidentStatus,
    who: str,
    config: AlertsConfig | None,
    now: datetime,
) -> Incident:
    """Acknowledge or resolve a root incident and store the messages about it.

    Raises:
        MonitoringError: No such incident, already resolved, or one that joined another.
    """
    incident = store.get_incident(incident_id)
    if incident is None:
        raise MonitoringError(f"no incident #{incident_id}")
    if incident.status is IncidentStatus.RESOLVED:
        raise MonitoringError(f"incident #{incident_id} is already resolved")
    if incident.parent_id is not None:
        raise MonitoringError(
            f"incident #{incident_id} joined #{incident.parent_id} (the same problem): "
            f"change #{incident.parent_id}"
        )
    if status is IncidentStatus.OPEN:
        raise MonitoringError("an incident can be acknowledged or resolved by hand")
    resolving = status is IncidentStatus.RESOLVED
    verb = "resolved by hand" if resolving else "acknowledged"
    with store.transaction() as conn:
        targets = [incident]
        if resolving:
            targets += store.active_children(conn, incident_id)
        for target in targets:
            extra: dict[str, Any] = {}
            if resolving:
                extra = {"resolved_at": now, "resolved_partition": target.last_failing_partition}
            store.update_incident(
                conn, target.id, status=status.value, acknowledged_by=who, **extra
            )
        text = (
            f":bust_in_silhouette: {escape_mrkdwn(incident.title)}: {verb} by {escape_mrkdwn(who)}"
        )
        kind = AlertKind.RESOLVE if resolving else AlertKind.UPDATE
        common = {
            "incident_id": incident.id,
            "fingerprint": incident.fingerprint,
            "monitor": incident.monitor,
            "check_name": incident.check,
            "subject": incident.subject,
            "partition_key": incident.last_failing_partition,
            "severity": incident.severity.value,
            "title": incident.title,
        }
        announced = incident.slack_ts is not None
        store.enqueue(
            conn,
            alert_key=f"{incident.id}|{'resolve' if resolving else 'ack'}|",
            kind=kind.value,
            message={
                "text": text,
                "blocks": [
                    {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}
                ],
            },
            channel=incident.slack_channel or (config.slack_channel if config else None),
            status=(DeliveryStatus.PENDING if announced else DeliveryStatus.SUPPRESSED).value,
            reason=None if announced else "no message about this incident was sent",
            target=Target.SLACK.value,
            **common,
        )
        if store.alert_in(conn, f"{incident.id}|open|pd") is not None:
            action = "resolve" if resolving else "acknowledge"
            store.enqueue(
                conn,
                alert_key=f"{incident.id}|{action}|pd",
                kind=kind.value,
                message={
                    "text": f"PagerDuty {action}: {incident.title}",
                    "pagerduty": {"action": action, "dedup_key": pagerduty_key(incident)},
                },
                channel="pagerduty",
                status=DeliveryStatus.PENDING.value,
                target=Target.PAGERDUTY.value,
                **common,
            )
        return store.incident(conn, incident.id)
