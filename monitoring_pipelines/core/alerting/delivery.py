"""Sending stored alerts: claim, send, record; retry with backoff; recover after a crash.

An alert is claimed before the network call and marked sent after it; after a crash in between,
the notifier is asked whether the message landed, so nothing is lost or sent twice. A pass
stops sending to a destination that failed it and starts no send past its time budget
(``pacing``); an alert no configured notifier can take is marked ``undeliverable``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitoring_pipelines.core.alerting.charts import render_alert_chart
from monitoring_pipelines.core.alerting.messages import digest_message
from monitoring_pipelines.core.alerting.model import Alert, AlertKind, DeliveryStatus, Target
from monitoring_pipelines.core.alerting.pacing import Pacer
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

Sender = Notifier | PagerDutyNotifier
PagerDutyRoutes = PagerDutyNotifier | Mapping[str, PagerDutyNotifier]
"""One PagerDuty notifier for every monitor, or each monitor's own (by monitor name)."""


@dataclass(frozen=True)
class DeliveryPolicy:
    """Retry and recovery settings (documented in README.md, "Alerting").

    ``pass_budget_s`` is the time a pass may spend before it starts no more sends (None: no
    limit); what is left waits for the next pass.
    """

    max_attempts: int = 5
    backoff_s: float = 30.0
    max_backoff_s: float = 3600.0
    in_doubt_after_s: float = 120.0
    batch: int = 100
    pass_budget_s: float | None = 15.0


@dataclass
class DeliveryReport:
    sent: list[int] = field(default_factory=list)
    recovered: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    muted: list[int] = field(default_factory=list)
    undeliverable: list[int] = field(default_factory=list)
    waiting: int = 0
    deferred: list[int] = field(default_factory=list)
    """Due alerts left pending (among ``waiting``) because the pass stopped sending."""
    stopped: list[str] = field(default_factory=list)
    """Why the pass stopped sending: a destination paused, its time budget spent."""
    errors: list[str] = field(default_factory=list)
    attempted: set[Target] = field(default_factory=set)
    target_errors: dict[Target, list[str]] = field(default_factory=dict)

    def absorb(self, other: DeliveryReport) -> None:
        """Add another pass's outcome (what waits is the last pass's)."""
        names = ("sent", "recovered", "retrying", "failed", "muted", "undeliverable", "errors")
        for name in (*names, "stopped"):
            getattr(self, name).extend(getattr(other, name))
        self.waiting, self.deferred = other.waiting, other.deferred
        self.attempted |= other.attempted
        for target, errors in other.target_errors.items():
            self.target_errors.setdefault(target, []).extend(errors)


def deliver(
    store: AlertRepository,
    notifier: Notifier | None,
    now: datetime,
    policy: DeliveryPolicy | None = None,
    *,
    pagerduty: PagerDutyRoutes | None = None,
    page_limits: Mapping[str, int | None] | None = None,
    clock: Callable[[], float] | None = None,
) -> DeliveryReport:
    """Send every due alert; without a notifier for its target an alert waits in the outbox.

    Alerts covered by a mute are recorded as suppressed. A monitor's first messages beyond
    ``page_limits[monitor]`` today (UTC) are grouped into one digest per pass instead. A Slack
    message without a channel is written by a notifier that needs none (the alerts file) and
    marked ``undeliverable`` by one that does. After a retryable error from a destination, its
    other alerts wait for its Retry-After (or the first backoff); past ``pass_budget_s``
    (measured with ``clock``, monotonic seconds) every alert left waits for the next pass.
    """
    policy = policy or DeliveryPolicy()
    report = DeliveryReport()
    _apply_mutes(store, now, report)
    if notifier is None and not pagerduty:
        report.waiting = len(store.due_alerts(now, policy.batch))
        return report
    pacer = Pacer(now, policy.pass_budget_s, clock or time.monotonic)

    def route(alert: Alert) -> Sender | None:
        if alert.target is Target.SLACK:
            return notifier
        if isinstance(pagerduty, PagerDutyNotifier) or pagerduty is None:
            return pagerduty
        return pagerduty.get(alert.monitor)

    absent = _recover(store, route, pacer, now, policy, report)
    held: dict[str, list[Alert]] = {}
    for alert in store.due_alerts(now, policy.batch):
        sender = route(alert)
        if sender is None:
            report.waiting += 1
            continue
        if notifier is not None and _nowhere(alert, notifier):
            store.set_alert(
                alert.id,
                status=DeliveryStatus.UNDELIVERABLE.value,
                reason=f"monitor {alert.monitor!r} has no alerts.slack_channel, and "
                f"{notifier.name} needs a channel: not sent (set the channel for later alerts)",
            )
            report.undeliverable.append(alert.id)
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
        if _deferred(store, pacer, sender, alert, report) or not store.claim(alert.id):
            continue
        _send(store, sender, alert, alert.id in absent, now, policy, pacer, report)
    for monitor, alerts in held.items():
        assert notifier is not None  # only Slack messages are grouped
        _send_digest(
            store, notifier, monitor, alerts, page_limits or {}, now, policy, pacer, report
        )
    report.stopped = pacer.reasons()
    for target in report.attempted:
        errors = report.target_errors.get(target)
        store.record_delivery_health(target, not errors, now, errors[-1] if errors else None)
    return report


def _nowhere(alert: Alert, notifier: Notifier) -> bool:
    """A Slack message without a channel, for a notifier that needs one."""
    return alert.target is Target.SLACK and not alert.channel and notifier.needs_channel


def _deferred(
    store: AlertRepository, pacer: Pacer, sender: Sender, alert: Alert, report: DeliveryReport
) -> bool:
    """Leave ``alert`` pending when the pass sends nothing more to ``sender``; True if so.

    Its attempts are untouched; behind a paused destination it waits as long as the pause.
    """
    hold = pacer.hold(sender)
    if hold is None:
        return False
    if hold.until is not None and (
        alert.next_attempt_at is None or alert.next_attempt_at < hold.until
    ):
        store.set_alert(alert.id, next_attempt_at=hold.until)
    report.deferred.append(alert.id)
    report.waiting += 1
    return True


def _send(
    store: AlertRepository,
    sender: Sender,
    alert: Alert,
    known_absent: bool,
    now: datetime,
    policy: DeliveryPolicy,
    pacer: Pacer,
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
        pacer.pause(sender, exc, policy.backoff_s)
        _failed_attempt(store, alert, exc, now, policy, report)
        return
    store.mark_sent(alert, delivered.channel, delivered.ts, now)
    (report.recovered if found else report.sent).append(alert.id)
    if alert.kind is AlertKind.OPEN and not found and isinstance(sender, FileUploader):
        _attach_chart(store, sender, alert, delivered, policy, pacer, report)


def _attach_chart(
    store: AlertRepository,
    uploader: FileUploader,
    alert: Alert,
    delivered: Delivered,
    policy: DeliveryPolicy,
    pacer: Pacer,
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
        if isinstance(exc, DeliveryError):
            pacer.pause(uploader, exc, policy.backoff_s)


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
    notifier: Notifier,
    monitor: str,
    alerts: Sequence[Alert],
    limits: Mapping[str, int | None],
    now: datetime,
    policy: DeliveryPolicy,
    pacer: Pacer,
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
    if digest is None or digest.status is not DeliveryStatus.PENDING:
        return
    if not _deferred(store, pacer, notifier, digest, report) and store.claim(digest.id):
        claimed = store.get_alert(digest.id) or digest
        _send(store, notifier, claimed, False, now, policy, pacer, report)


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
    route: Callable[[Alert], Sender | None],
    pacer: Pacer,
    now: datetime,
    policy: DeliveryPolicy,
    report: DeliveryReport,
) -> set[int]:
    """Settle alerts left ``sending`` by a crash; returns those found not to have landed.

    An alert whose destination the pass is not sending to stays in doubt for a later pass.
    """
    absent: set[int] = set()
    for alert in store.in_doubt(now - timedelta(seconds=policy.in_doubt_after_s)):
        sender = route(alert)
        if sender is None or pacer.hold(sender) is not None:
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
            pacer.pause(sender, exc, policy.backoff_s)
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
