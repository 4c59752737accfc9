"""Sending stored alerts: claim, send, record; retry with backoff; recover after a crash.

An alert is claimed before the network call and marked sent after it; after a crash in between,
the notifier is asked whether the message landed, so nothing is lost or sent twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitoring_pipelines.core.alerting.charts import render_alert_chart
from monitoring_pipelines.core.alerting.messages import digest_message
from monitoring_pipelines.core.alerting.model import Alert, AlertKind, DeliveryStatus, Target
from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.config import Severity
from monitoring_pipelines.core.errors import DeliveryError, StoreError
from monitoring_pipelines.core.notify.base import (
    Delivered,
    FileUploader,
    Notifier,
    OutgoingMessage,
)
from monitoring_pipelines.core.notify.pagerduty import (
    PagerDutyEvent,
    PagerDutyLink,
    PagerDutyNotifier,
    pd_severity,
)
from monitoring_pipelines.core.store.results import ResultRepository


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
    muted: list[int] = field(default_factory=list)
    waiting: int = 0
    errors: list[str] = field(default_factory=list)
    attempted: set[Target] = field(default_factory=set)
    target_errors: dict[Target, list[str]] = field(default_factory=dict)

    def absorb(self, other: DeliveryReport) -> None:
        """Add another pass's outcome (the last pass's waiting count wins)."""
        for name in ("sent", "recovered", "retrying", "failed", "muted", "errors"):
            getattr(self, name).extend(getattr(other, name))
        self.waiting = other.waiting
        self.attempted |= other.attempted
        for target, errors in other.target_errors.items():
            self.target_errors.setdefault(target, []).extend(errors)


def deliver(
    store: AlertRepository,
    notifier: Notifier | None,
    now: datetime,
    policy: DeliveryPolicy | None = None,
    *,
    pagerduty: PagerDutyNotifier | None = None,
    page_limits: Mapping[str, int | None] | None = None,
) -> DeliveryReport:
    """Send every due alert; without a notifier for its target an alert waits in the outbox.

    Alerts covered by a mute are recorded as suppressed. A monitor's first messages beyond
    ``page_limits[monitor]`` today (UTC) are grouped into one digest per pass instead.
    """
    policy = policy or DeliveryPolicy()
    report = DeliveryReport()
    _apply_mutes(store, now, report)
    senders: dict[Target, Notifier | PagerDutyNotifier] = {}
    if notifier is not None:
        senders[Target.SLACK] = notifier
    if pagerduty is not None:
        senders[Target.PAGERDUTY] = pagerduty
    if not senders:
        report.waiting = len(store.due_alerts(now, policy.batch))
        return report
    absent = _recover(store, senders, now, policy, report)
    held: dict[str, list[Alert]] = {}
    for alert in store.due_alerts(now, policy.batch):
        sender = senders.get(alert.target)
        if sender is None or not alert.channel:
            report.waiting += 1
            continue
        if store.earlier_undelivered(alert):
            report.waiting += 1  # replies follow their incident's first message
            continue
        if (
            alert.target is Target.SLACK
            and alert.kind is AlertKind.RESOLVE
            and _unannounced(store, alert)
        ):
            store.set_alert(
                alert.id,
                status=DeliveryStatus.SUPPRESSED.value,
                reason="no message about this incident was sent, so its resolution is not either",
            )
            continue
        limit = (page_limits or {}).get(alert.monitor)
        if _over_budget(store, alert, limit, now):
            store.set_alert(
                alert.id,
                status=DeliveryStatus.DIGESTED.value,
                reason=f"past the monitor's budget of {limit} pages today: in the digest",
            )
            held.setdefault(alert.monitor, []).append(alert)
            continue
        if not store.claim(alert.id):
            continue
        _send(store, sender, alert, alert.id in absent, now, policy, report)
    for monitor, alerts in held.items():
        _send_digest(
            store, senders[Target.SLACK], monitor, alerts, page_limits or {}, now, policy, report
        )
    for target in report.attempted:
        errors = report.target_errors.get(target)
        store.record_delivery_health(target, not errors, now, errors[-1] if errors else None)
    return report


def _send(
    store: AlertRepository,
    sender: Notifier | PagerDutyNotifier,
    alert: Alert,
    known_absent: bool,
    now: datetime,
    policy: DeliveryPolicy,
    report: DeliveryReport,
) -> None:
    """Send one claimed alert and record the outcome."""
    report.attempted.add(alert.target)
    try:
        if isinstance(sender, PagerDutyNotifier):
            # PagerDuty deduplicates by the incident's key: sending again is harmless.
            delivered, found = Delivered("pagerduty", _send_pagerduty(sender, alert)), None
        else:
            message = outgoing(store, alert)
            # A failed attempt may have landed all the same (a timeout, a lost answer): ask.
            asked = not alert.attempts or known_absent
            found = None if asked else sender.find(message, _since(alert))
            delivered = found or sender.post(message)
    except DeliveryError as exc:
        report.target_errors.setdefault(alert.target, []).append(str(exc)[:500])
        _failed_attempt(store, alert, exc, now, policy, report)
        return
    store.mark_sent(alert, delivered.channel, delivered.ts, now)
    (report.recovered if found else report.sent).append(alert.id)
    if alert.kind is AlertKind.OPEN and not found and isinstance(sender, FileUploader):
        _attach_chart(store, sender, alert, delivered, report)


def _attach_chart(
    store: AlertRepository,
    uploader: FileUploader,
    alert: Alert,
    delivered: Delivered,
    report: DeliveryReport,
) -> None:
    """The alert's chart in its thread, best effort: an uploaded file carries no delivery id,
    so a chart is never retried (it could be shared twice) and never holds up the alert."""
    try:
        chart = render_alert_chart(
            ResultRepository(store.database),
            alert.monitor,
            alert.check,
            alert.subject,
            alert.partition,
        )
        if chart is not None:
            uploader.upload_file(
                delivered.channel,
                delivered.ts,
                chart.filename,
                chart.png,
                chart.title,
                chart.alt_text,
            )
    except (DeliveryError, StoreError) as exc:
        report.errors.append(f"alert {alert.id}: chart not attached: {exc}")


def _send_pagerduty(pagerduty: PagerDutyNotifier, alert: Alert) -> str:
    event = alert.message.get("pagerduty")
    if not isinstance(event, dict):
        raise DeliveryError(f"alert {alert.id} has no PagerDuty event", retryable=False)
    if event.get("action") == "resolve":
        return pagerduty.resolve(str(event["dedup_key"]))
    if event.get("action") == "acknowledge":
        return pagerduty.acknowledge(str(event["dedup_key"]))
    return pagerduty.trigger(
        PagerDutyEvent(
            dedup_key=str(event["dedup_key"]),
            summary=str(event.get("summary", alert.title)),
            severity=pd_severity(str(event.get("severity", alert.severity.value))),
            source=str(event.get("source", "monitoring-pipelines")),
            component=str(event.get("component", alert.monitor)),
            group=str(event.get("group", alert.check)),
            event_class=str(event.get("class", alert.check)),
            custom_details=dict(event.get("custom_details") or {}),
            links=[
                PagerDutyLink(str(link["href"]), link.get("text"))
                for link in event.get("links") or []
            ],
            timestamp=alert.created_at,
        )
    )


def _send_digest(
    store: AlertRepository,
    notifier: Notifier | PagerDutyNotifier,
    monitor: str,
    alerts: Sequence[Alert],
    limits: Mapping[str, int | None],
    now: datetime,
    policy: DeliveryPolicy,
    report: DeliveryReport,
) -> None:
    """One message for the alerts past the budget; a reply to today's digest if there is one."""
    day = now.date().isoformat()
    incidents = {
        i.id: i
        for a in alerts
        if a.incident_id is not None
        for i in [store.get_incident(a.incident_id)]
        if i is not None
    }
    message = digest_message(monitor, day, limits.get(monitor) or 0, alerts, incidents)
    earlier = store.alert_by_key(f"digest|{monitor}|{day}")
    key = f"digest|{monitor}|{day}"
    if earlier is not None:
        if earlier.slack_ts:
            message["thread_ts"] = earlier.slack_ts
        key = f"{key}|{alerts[0].id}"
    with store.transaction() as conn:
        store.enqueue(
            conn,
            alert_key=key,
            incident_id=None,
            kind=AlertKind.DIGEST.value,
            fingerprint=f"digest/{monitor}",
            monitor=monitor,
            check_name="digest",
            subject="",
            partition_key=max(a.partition for a in alerts),
            severity=_worst(alerts).value,
            title=f"{monitor}: digest of {day}",
            message=message,
            channel=alerts[0].channel,
            status=DeliveryStatus.PENDING.value,
            target=Target.SLACK.value,
        )
    digest = store.alert_by_key(key)
    if digest is not None and digest.status is DeliveryStatus.PENDING and store.claim(digest.id):
        _send(store, notifier, store.get_alert(digest.id) or digest, False, now, policy, report)


def _apply_mutes(store: AlertRepository, now: datetime, report: DeliveryReport) -> None:
    mutes = store.mutes(active_at=now)
    if not mutes:
        return
    for alert in store.due_alerts(now, 10_000):
        mute = next(
            (m for m in mutes if m.covers(alert.monitor, alert.check, alert.subject, now)), None
        )
        if mute is None:
            continue
        store.set_alert(
            alert.id,
            status=DeliveryStatus.SUPPRESSED.value,
            reason=f"muted until {mute.ends_at:%Y-%m-%d %H:%M} UTC by {mute.created_by} "
            f"(mute #{mute.id}: {mute.reason})",
        )
        report.muted.append(alert.id)


def _over_budget(store: AlertRepository, alert: Alert, limit: int | None, now: datetime) -> bool:
    """A first Slack message beyond the monitor's pages of the day."""
    if limit is None or alert.target is not Target.SLACK or alert.kind is not AlertKind.OPEN:
        return False
    return store.pages_sent(alert.monitor, Target.SLACK, *_day(now)) >= limit


def _worst(alerts: Sequence[Alert]) -> Severity:
    critical = any(a.severity is Severity.CRITICAL for a in alerts)
    return Severity.CRITICAL if critical else Severity.WARN


def _day(now: datetime) -> tuple[datetime, datetime]:
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def outgoing(store: AlertRepository, alert: Alert) -> OutgoingMessage:
    """The message of a stored alert: a reply in its incident's thread when there is one,
    else the alert's standalone form (the whole context, for a reader who saw no thread)."""
    message = alert.message
    given = message.get("thread_ts")  # a digest's follow-up replies to the day's digest
    thread_ts = str(given) if given else None
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
        broadcast=bool(message.get("broadcast")) and thread_ts is not None,
    )


def _recover(
    store: AlertRepository,
    senders: Mapping[Target, Notifier | PagerDutyNotifier],
    now: datetime,
    policy: DeliveryPolicy,
    report: DeliveryReport,
) -> set[int]:
    """Settle alerts left ``sending`` by a crash; returns those found not to have landed."""
    absent: set[int] = set()
    for alert in store.in_doubt(now - timedelta(seconds=policy.in_doubt_after_s)):
        sender = senders.get(alert.target)
        if sender is None:
            continue
        if isinstance(sender, PagerDutyNotifier):
            # PagerDuty deduplicates by key: sending again cannot page twice.
            store.set_alert(alert.id, status=DeliveryStatus.PENDING.value)
            absent.add(alert.id)
            continue
        try:
            found = sender.find(outgoing(store, alert), _since(alert))
        except DeliveryError as exc:
            report.errors.append(f"alert {alert.id}: cannot check whether it was sent: {exc}")
            continue
        if found is not None:
            store.mark_sent(alert, found.channel, found.ts, now)
            report.recovered.append(alert.id)
        else:
            store.set_alert(alert.id, status=DeliveryStatus.PENDING.value)
            absent.add(alert.id)
    return absent


def _unannounced(store: AlertRepository, alert: Alert) -> bool:
    """True if nothing about the alert's incident ever reached anyone."""
    if alert.incident_id is None:
        return False
    _, thread_ts = store.incident_thread(alert.incident_id)
    return thread_ts is None


def _since(alert: Alert) -> datetime:
    """Where to look for an earlier attempt's post: from a little before its last claim."""
    return (alert.claimed_at or alert.created_at) - timedelta(minutes=5)


def _failed_attempt(
    store: AlertRepository,
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
