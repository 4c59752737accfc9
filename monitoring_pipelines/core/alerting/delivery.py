"""Sending stored alerts: claim, send, record; retry with backoff; recover after a crash.

An alert is claimed (``sending``) in its own transaction before the network call and marked
``sent`` after it. If the process dies in between, the alert stays ``sending``; the next pass
asks the notifier whether the message landed (it carries the delivery id) and either records
it or sends it again, so nothing is lost and nothing is sent twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitoring_pipelines.core.alerting.model import Alert, AlertKind, DeliveryStatus
from monitoring_pipelines.core.alerting.store import AlertStore
from monitoring_pipelines.core.errors import DeliveryError
from monitoring_pipelines.core.notify.base import Notifier, OutgoingMessage


@dataclass(frozen=True)
class DeliveryPolicy:
    """Retry and recovery settings (documented in README.md, "Alerting")."""

    max_attempts: int = 5
    backoff_s: float = 30.0
    max_backoff_s: float = 3600.0
    in_doubt_after_s: float = 120.0
    batch: int = 100


@dataclass
class DeliveryReport:
    sent: list[int] = field(default_factory=list)
    recovered: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    waiting: int = 0
    errors: list[str] = field(default_factory=list)


def deliver(
    store: AlertStore,
    notifier: Notifier | None,
    now: datetime,
    policy: DeliveryPolicy | None = None,
) -> DeliveryReport:
    """Send every due alert; without a notifier they wait in the outbox."""
    policy = policy or DeliveryPolicy()
    report = DeliveryReport()
    if notifier is None:
        report.waiting = len(store.due_alerts(now, policy.batch))
        return report
    absent = _recover(store, notifier, now, policy, report)
    for alert in store.due_alerts(now, policy.batch):
        if not alert.channel:
            report.waiting += 1
            continue
        if store.earlier_undelivered(alert):
            report.waiting += 1  # replies follow their incident's first message
            continue
        if alert.kind is AlertKind.RESOLVE and _unannounced(store, alert):
            store.set_alert(
                alert.id,
                status=DeliveryStatus.SUPPRESSED.value,
                reason="no message about this incident was sent, so its resolution is not either",
            )
            continue
        if not store.claim(alert.id):
            continue
        message = outgoing(store, alert)
        try:
            # A failed attempt may have landed all the same (a timeout, a lost answer): ask first.
            asked = not alert.attempts or alert.id in absent
            found = None if asked else notifier.find(message, _since(alert))
            delivered = found or notifier.post(message)
        except DeliveryError as exc:
            _failed_attempt(store, alert, exc, now, policy, report)
            continue
        store.mark_sent(alert, delivered.channel, delivered.ts)
        (report.recovered if found else report.sent).append(alert.id)
    return report


def outgoing(store: AlertStore, alert: Alert) -> OutgoingMessage:
    """The message of a stored alert: a reply in its incident's thread when there is one,
    else the alert's standalone form (the whole context, for a reader who saw no thread)."""
    thread_ts = None
    message = alert.message
    if alert.kind is not AlertKind.OPEN and alert.incident_id is not None:
        _, thread_ts = store.incident_thread(alert.incident_id)
        standalone = message.get("standalone")
        if thread_ts is None and isinstance(standalone, dict):
            message = standalone
    blocks = message.get("blocks")
    return OutgoingMessage(
        delivery_id=f"alert-{alert.id}",
        channel=alert.channel or "",
        text=str(message.get("text", alert.title)),
        blocks=list(blocks) if isinstance(blocks, list) else [],
        thread_ts=thread_ts,
    )


def _recover(
    store: AlertStore,
    notifier: Notifier,
    now: datetime,
    policy: DeliveryPolicy,
    report: DeliveryReport,
) -> set[int]:
    """Settle alerts left ``sending`` by a crash; returns those found not to have landed."""
    absent: set[int] = set()
    for alert in store.in_doubt(now - timedelta(seconds=policy.in_doubt_after_s)):
        try:
            found = notifier.find(outgoing(store, alert), _since(alert))
        except DeliveryError as exc:
            report.errors.append(f"alert {alert.id}: cannot check whether it was sent: {exc}")
            continue
        if found is not None:
            store.mark_sent(alert, found.channel, found.ts)
            report.recovered.append(alert.id)
        else:
            store.set_alert(alert.id, status=DeliveryStatus.PENDING.value)
            absent.add(alert.id)
    return absent


def _unannounced(store: AlertStore, alert: Alert) -> bool:
    """True if nothing about the alert's incident ever reached anyone."""
    if alert.incident_id is None:
        return False
    _, thread_ts = store.incident_thread(alert.incident_id)
    return thread_ts is None


def _since(alert: Alert) -> datetime:
    """Where to look for an earlier attempt's post: from a little before its last claim."""
    return (alert.claimed_at or alert.created_at) - timedelta(minutes=5)


def _failed_attempt(
    store: AlertStore,
    alert: Alert,
    exc: DeliveryError,
    now: datetime,
    policy: DeliveryPolicy,
    report: DeliveryReport,
) -> None:
    attempts = alert.attempts + 1
    error = str(exc)[:500]
    report.errors.append(f"alert {alert.id}: {error}")
    if exc.retryable and attempts < policy.max_attempts:
        wait = min(policy.backoff_s * 2 ** (attempts - 1), policy.max_backoff_s)
        wait = max(wait, exc.retry_after_s or 0.0)
        store.set_alert(
            alert.id,
            status=DeliveryStatus.PENDING.value,
            next_attempt_at=now + timedelta(seconds=wait),
            last_error=error,
        )
        report.retrying.append(alert.id)
    else:
        why = "not retryable" if not exc.retryable else f"gave up after {attempts} attempts"
        store.set_alert(alert.id, status=DeliveryStatus.FAILED.value, last_error=f"{error} ({why})")
        report.failed.append(alert.id)
