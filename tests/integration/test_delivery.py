"""Delivery from the outbox to Slack over real HTTP (FakeSlack), on SQLite and PostgreSQL."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from monitoring_pipelines.core.alerting.delivery import (
    DeliveryPolicy,
    DeliveryReport,
    deliver,
    outgoing,
)
from monitoring_pipelines.core.alerting.ingest import AlertContext, ingest_run
from monitoring_pipelines.core.alerting.model import Alert, AlertKind, DeliveryStatus, Evaluation
from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.checks import WHOLE, Finding
from monitoring_pipelines.core.config import AlertsConfig, Severity
from monitoring_pipelines.core.notify.slack import SlackNotifier
from tests.fakes.slack_server import DROP_RESPONSE_AFTER_POST, FakeSlack, Fault

MONITOR = "bot"
CHANNEL = "#ml-alerts"
CHANNEL_ID = "C0ALERTS"
POLICY = DeliveryPolicy(max_attempts=3, backoff_s=30.0, max_backoff_s=600.0, in_doubt_after_s=120)
SERVER_ERROR = Fault(status=500)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    """FakeSlack whose message ts are the current time, as Slack's are (recovery needs it)."""
    with FakeSlack(first_ts=int(time.time())) as fake:
        yield fake


def notifier_for(fake: FakeSlack, *, timeout_s: float = 5.0) -> SlackNotifier:
    # No retries inside slack_sdk: every failure reaches the outbox's own backoff.
    return SlackNotifier(fake.token, base_url=fake.base_url, timeout_s=timeout_s, max_retries=0)


def later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def seed_incident(
    store: AlertRepository, days: list[bool], channel: str | None = CHANNEL
) -> list[Alert]:
    """Ingest a latency check (pages on the first failing day) over recent days.

    ``days`` are the verdicts of consecutive days ending yesterday; returns the stored alerts.
    """
    today = datetime.now(UTC).date()
    config = AlertsConfig(slack_channel=channel, paging_horizon_days=30)
    context = AlertContext({MONITOR: config}, "http://dagster.test", datetime.now(UTC))
    for offset, passed in enumerate(days):
        partition = (today - timedelta(days=len(days) - offset)).isoformat()
        value = 300.0 if passed else 900.0
        finding = Finding(WHOLE, passed, Severity.CRITICAL, value, 500.0, f"p95 {value} ms")
        evaluation = Evaluation(
            run_id=f"run-{partition}",
            monitor=MONITOR,
            asset=f"{MONITOR}/service_metrics",
            check="latency_slo",
            partition=partition,
            findings=(finding,),
            evaluated_at=datetime.now(UTC),
        )
        ingest_run(store, evaluation.run_id, [evaluation], context)
    return store.alerts()


def one(store: AlertRepository, alert_id: int) -> Alert:
    found = store.get_alert(alert_id)
    assert found is not None
    return found


def posts(fake: FakeSlack) -> int:
    return len(fake.requests("chat.postMessage"))


# -- sending -----------------------------------------------------------------------------------


def test_a_pending_alert_is_sent_and_marked_with_its_ts(
    store: AlertRepository, slack: FakeSlack
) -> None:
    [alert] = seed_incident(store, [False])
    assert alert.status is DeliveryStatus.PENDING

    report = deliver(store, notifier_for(slack), datetime.now(UTC), POLICY)

    assert report.sent == [alert.id] and report.errors == []
    [message] = slack.messages(CHANNEL_ID)
    sent = one(store, alert.id)
    assert sent.status is DeliveryStatus.SENT
    assert sent.slack_ts == message.ts and sent.sent_at is not None
    assert sent.attempts == 1 and sent.last_error is None
    assert message.text == alert.message["text"]
    assert message.blocks == alert.message["blocks"]
    assert message.metadata == {
        "event_type": "monitoring_alert",
        "event_payload": {"delivery_id": f"alert-{alert.id}"},
    }
    [request] = slack.requests("chat.postMessage")
    assert request.auth == "valid"
    incident = store.get_incident(alert.incident_id or 0)
    assert incident is not None
    assert (incident.slack_channel, incident.slack_ts) == (CHANNEL_ID, message.ts)


def test_a_sent_alert_is_not_sent_again(store: AlertRepository, slack: FakeSlack) -> None:
    seed_incident(store, [False])
    notifier = notifier_for(slack)
    deliver(store, notifier, datetime.now(UTC), POLICY)

    again = deliver(store, notifier, later(3600), POLICY)

    assert again.sent == [] and again.recovered == []
    assert posts(slack) == 1


def test_updates_and_the_resolution_are_replies_in_the_incident_thread(
    store: AlertRepository, slack: FakeSlack
) -> None:
    alerts = seed_incident(store, [False, False, True, True])
    assert [a.kind for a in alerts] == [AlertKind.OPEN, AlertKind.UPDATE, AlertKind.RESOLVE]

    report = deliver(store, notifier_for(slack), datetime.now(UTC), POLICY)

    assert report.sent == [a.id for a in alerts]
    parent, update, resolve = slack.messages(CHANNEL_ID)
    assert parent.thread_ts is None
    assert update.thread_ts == parent.ts and resolve.thread_ts == parent.ts
    assert "Resolved" in resolve.text
    assert [one(store, a.id).slack_ts for a in alerts] == [parent.ts, update.ts, resolve.ts]
    first, *replies = slack.requests("chat.postMessage")
    assert "thread_ts" not in first.body
    assert [r.body["thread_ts"] for r in replies] == [parent.ts, parent.ts]
    incident = store.get_incident(alerts[0].incident_id or 0)
    assert incident is not None and incident.slack_ts == parent.ts


def test_replies_wait_while_the_first_message_is_pending(
    store: AlertRepository, slack: FakeSlack
) -> None:
    opened, update = seed_incident(store, [False, False])
    slack.script("chat.postMessage", SERVER_ERROR)
    notifier = notifier_for(slack)

    first = deliver(store, notifier, datetime.now(UTC), POLICY)

    assert first.retrying == [opened.id] and first.sent == []
    assert first.waiting == 1
    assert posts(slack) == 1  # only the failed first message was tried
    assert one(store, update.id).status is DeliveryStatus.PENDING
    assert one(store, update.id).attempts == 0

    second = deliver(store, notifier, later(POLICY.backoff_s + 1), POLICY)

    assert second.sent == [opened.id, update.id]
    parent, reply = slack.messages(CHANNEL_ID)
    assert reply.thread_ts == parent.ts


def test_an_alert_without_a_channel_is_undeliverable_not_pending(
    store: AlertRepository, slack: FakeSlack
) -> None:
    [alert] = seed_incident(store, [False], channel=None)

    report = deliver(store, notifier_for(slack), datetime.now(UTC), POLICY)

    assert report.undeliverable == [alert.id] and report.sent == [] and report.waiting == 0
    undeliverable = one(store, alert.id)
    assert undeliverable.status is DeliveryStatus.UNDELIVERABLE
    assert "alerts.slack_channel" in (undeliverable.reason or "")
    assert posts(slack) == 0


# -- retries and backoff -----------------------------------------------------------------------


def test_rate_limit_honours_retry_after(store: AlertRepository, slack: FakeSlack) -> None:
    [alert] = seed_incident(store, [False])
    slack.script("chat.postMessage", Fault(status=429, headers={"Retry-After": "300"}))
    now = datetime.now(UTC)

    report = deliver(store, notifier_for(slack), now, POLICY)

    assert report.retrying == [alert.id]
    waiting = one(store, alert.id)
    assert waiting.status is DeliveryStatus.PENDING
    assert waiting.attempts == 1
    assert waiting.next_attempt_at == now + timedelta(seconds=300)  # beyond the 30 s backoff
    assert waiting.last_error is not None and "ratelimited" in waiting.last_error

    early = deliver(store, notifier_for(slack), now + timedelta(seconds=299), POLICY)
    assert early.sent == [] and posts(slack) == 1

    on_time = deliver(store, notifier_for(slack), now + timedelta(seconds=300), POLICY)
    assert on_time.sent == [alert.id]
    assert len(slack.messages(CHANNEL_ID)) == 1


def test_server_errors_back_off_exponentially(store: AlertRepository, slack: FakeSlack) -> None:
    [alert] = seed_incident(store, [False])
    slack.script("chat.postMessage", SERVER_ERROR, SERVER_ERROR)
    notifier = notifier_for(slack)
    now = datetime.now(UTC)

    deliver(store, notifier, now, POLICY)
    after_one = one(store, alert.id)
    assert after_one.next_attempt_at == now + timedelta(seconds=30)
    assert after_one.last_error is not None and "HTTP 500" in after_one.last_error

    second_try = now + timedelta(seconds=31)
    deliver(store, notifier, second_try, POLICY)
    after_two = one(store, alert.id)
    assert after_two.attempts == 2
    assert after_two.next_attempt_at == second_try + timedelta(seconds=60)

    final = deliver(store, notifier, second_try + timedelta(seconds=61), POLICY)
    assert final.sent == [alert.id]
    sent = one(store, alert.id)
    assert (sent.status, sent.attempts, sent.last_error) == (DeliveryStatus.SENT, 3, None)
    assert posts(slack) == 3 and len(slack.messages(CHANNEL_ID)) == 1


def test_backoff_is_capped(store: AlertRepository, slack: FakeSlack) -> None:
    [alert] = seed_incident(store, [False])
    slack.script("chat.postMessage", SERVER_ERROR)
    policy = DeliveryPolicy(backoff_s=1000.0, max_backoff_s=600.0)
    now = datetime.now(UTC)

    deliver(store, notifier_for(slack), now, policy)

    assert one(store, alert.id).next_attempt_at == now + timedelta(seconds=600)


def test_a_timeout_is_retried_without_a_second_copy(
    store: AlertRepository, slack: FakeSlack
) -> None:
    """The post timed out, but Slack stored it: the retry must find it instead of reposting."""
    [alert] = seed_incident(store, [False])
    slack.script("chat.postMessage", Fault(delay_s=0.6))
    notifier = notifier_for(slack, timeout_s=0.2)
    now = datetime.now(UTC)

    first = deliver(store, notifier, now, POLICY)

    assert first.retrying == [alert.id]
    timed_out = one(store, alert.id)
    assert timed_out.status is DeliveryStatus.PENDING and timed_out.attempts == 1
    assert timed_out.next_attempt_at == now + timedelta(seconds=30)
    assert "got no answer" in (timed_out.last_error or "")
    deadline = time.monotonic() + 5
    while not slack.messages(CHANNEL_ID) and time.monotonic() < deadline:
        time.sleep(0.05)  # the fake stores the post when its delay is over

    retry = deliver(store, notifier, now + timedelta(seconds=31), POLICY)

    assert retry.recovered == [alert.id] and retry.sent == []
    assert posts(slack) == 1
    [message] = slack.messages(CHANNEL_ID)
    sent = one(store, alert.id)
    assert (sent.status, sent.slack_ts) == (DeliveryStatus.SENT, message.ts)


def test_gives_up_after_max_attempts(store: AlertRepository, slack: FakeSlack) -> None:
    [alert] = seed_incident(store, [False])
    slack.script("chat.postMessage", *[SERVER_ERROR] * POLICY.max_attempts)
    notifier = notifier_for(slack)
    now = datetime.now(UTC)

    reports: list[DeliveryReport] = []
    for attempt in range(POLICY.max_attempts):
        reports.append(deliver(store, notifier, now + timedelta(hours=attempt), POLICY))

    assert [r.retrying for r in reports] == [[alert.id]] * (POLICY.max_attempts - 1) + [[]]
    assert reports[-1].failed == [alert.id]
    failed = one(store, alert.id)
    assert failed.status is DeliveryStatus.FAILED
    assert failed.attempts == POLICY.max_attempts
    assert failed.last_error is not None
    assert f"gave up after {POLICY.max_attempts} attempts" in failed.last_error
    assert "HTTP 500" in failed.last_error

    later_pass = deliver(store, notifier, now + timedelta(days=1), POLICY)
    assert later_pass.sent == [] and posts(slack) == POLICY.max_attempts


def test_an_unknown_channel_fails_at_once(store: AlertRepository, slack: FakeSlack) -> None:
    [alert] = seed_incident(store, [False], channel="#no-such-channel")

    report = deliver(store, notifier_for(slack), datetime.now(UTC), POLICY)

    assert report.failed == [alert.id] and report.retrying == []
    failed = one(store, alert.id)
    assert failed.status is DeliveryStatus.FAILED and failed.attempts == 1
    assert "channel_not_found" in (failed.last_error or "")
    assert "not retryable" in (failed.last_error or "")


def test_the_token_never_reaches_stored_errors(store: AlertRepository, slack: FakeSlack) -> None:
    [alert] = seed_incident(store, [False])
    echo = {
        "ok": False,
        "error": "internal_error",
        "response_metadata": {"messages": [f"[ERROR] token {slack.token} was refused"]},
    }
    slack.script(
        "chat.postMessage",
        Fault(status=429, headers={"Retry-After": "1"}),
        Fault(status=503),
        Fault(body=echo),
        Fault(delay_s=0.5),
    )
    notifier = notifier_for(slack, timeout_s=0.2)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    unreachable = SlackNotifier(
        slack.token, base_url=f"http://127.0.0.1:{closed_port}/api/", max_retries=0
    )
    policy = DeliveryPolicy(max_attempts=10)

    errors: list[str] = []
    for hours, sender in enumerate([notifier] * 4 + [unreachable], start=1):
        report = deliver(store, sender, later(hours * 3600), policy)
        errors += report.errors
        errors.append(one(store, alert.id).last_error or "")

    assert len(errors) == 10 and all(errors), errors
    assert all(slack.token not in e for e in errors), errors
    assert any("was refused" in e for e in errors)  # the echoed problem is kept, redacted
    assert any("Connection refused" in e for e in errors)


# -- crashes between storing and sending -------------------------------------------------------


def test_claimed_but_never_posted_is_sent_once_after_in_doubt_after(
    store: AlertRepository, slack: FakeSlack
) -> None:
    [alert] = seed_incident(store, [False])
    assert store.claim(alert.id)  # ...and the process dies before posting
    notifier = notifier_for(slack)

    too_soon = deliver(store, notifier, later(POLICY.in_doubt_after_s - 30), POLICY)
    assert too_soon.sent == [] and too_soon.recovered == []
    assert one(store, alert.id).status is DeliveryStatus.SENDING
    assert posts(slack) == 0

    recovery = deliver(store, notifier, later(POLICY.in_doubt_after_s + 1), POLICY)

    assert recovery.recovered == [] and recovery.sent == [alert.id]
    assert len(slack.requests("conversations.history")) == 1
    [message] = slack.messages(CHANNEL_ID)
    sent = one(store, alert.id)
    assert (sent.status, sent.slack_ts, sent.attempts) == (DeliveryStatus.SENT, message.ts, 2)

    deliver(store, notifier, later(3 * POLICY.in_doubt_after_s), POLICY)
    assert posts(slack) == 1


def test_posted_but_not_recorded_is_found_and_not_posted_again(
    store: AlertRepository, slack: FakeSlack
) -> None:
    [alert] = seed_incident(store, [False])
    notifier = notifier_for(slack)
    assert store.claim(alert.id)
    posted = notifier.post(outgoing(store, alert))  # ...and the process dies before mark_sent

    recovery = deliver(store, notifier, later(POLICY.in_doubt_after_s + 1), POLICY)

    assert recovery.recovered == [alert.id] and recovery.sent == []
    assert posts(slack) == 1
    [message] = slack.messages(CHANNEL_ID)
    sent = one(store, alert.id)
    assert (sent.status, sent.slack_ts) == (DeliveryStatus.SENT, posted.ts)
    assert message.ts == posted.ts
    [history] = slack.requests("conversations.history")
    assert history.body["include_all_metadata"] in (True, "true", "1")
    incident = store.get_incident(alert.incident_id or 0)
    assert incident is not None and incident.slack_ts == posted.ts


def test_a_reply_posted_but_not_recorded_is_found_in_its_thread(
    store: AlertRepository, slack: FakeSlack
) -> None:
    opened, update = seed_incident(store, [False, False])
    notifier = notifier_for(slack)
    store.claim(opened.id)
    parent = notifier.post(outgoing(store, opened))
    store.mark_sent(opened, parent.channel, parent.ts)
    assert store.claim(update.id)
    reply = notifier.post(outgoing(store, update))  # ...and the process dies

    recovery = deliver(store, notifier, later(POLICY.in_doubt_after_s + 1), POLICY)

    assert recovery.recovered == [update.id]
    assert one(store, update.id).slack_ts == reply.ts
    assert len(slack.requests("conversations.replies")) == 1
    assert posts(slack) == 2


def test_a_dropped_response_is_found_and_not_posted_again(
    store: AlertRepository, slack: FakeSlack
) -> None:
    """Slack stored the post but the answer was lost: no second copy on any later pass."""
    [alert] = seed_incident(store, [False])
    slack.script("chat.postMessage", DROP_RESPONSE_AFTER_POST)
    notifier = notifier_for(slack)

    lost = deliver(store, notifier, datetime.now(UTC), POLICY)

    assert lost.sent == [] and lost.retrying == [alert.id]
    assert len(slack.messages(CHANNEL_ID)) == 1
    retry = deliver(store, notifier, later(3600), POLICY)
    assert retry.recovered == [alert.id] and retry.sent == []
    for hours in (2, 3):
        deliver(store, notifier, later(hours * 3600), POLICY)

    assert posts(slack) == 1
    [message] = slack.messages(CHANNEL_ID)
    sent = one(store, alert.id)
    assert (sent.status, sent.slack_ts) == (DeliveryStatus.SENT, message.ts)


def test_recovery_that_cannot_ask_slack_leaves_the_alert_in_doubt(
    store: AlertRepository, slack: FakeSlack
) -> None:
    [alert] = seed_incident(store, [False])
    assert store.claim(alert.id)
    slack.script("conversations.history", Fault(status=503))

    report = deliver(store, notifier_for(slack), later(POLICY.in_doubt_after_s + 1), POLICY)

    assert report.sent == [] and report.recovered == []
    assert any("cannot check whether it was sent" in e for e in report.errors)
    assert one(store, alert.id).status is DeliveryStatus.SENDING
    assert posts(slack) == 0


# -- no notifier -------------------------------------------------------------------------------


def test_without_a_notifier_alerts_stay_pending_and_are_reported_waiting(
    store: AlertRepository,
) -> None:
    alerts = seed_incident(store, [False, False, True, True])

    report = deliver(store, None, later(3600), POLICY)

    assert report.waiting == len(alerts) == 3
    assert report.sent == [] and report.failed == []
    assert {a.status for a in store.alerts()} == {DeliveryStatus.PENDING}
    assert {a.attempts for a in store.alerts()} == {0}


def test_suppressed_alerts_are_never_sent(store: AlertRepository, slack: FakeSlack) -> None:
    old = (date.today() - timedelta(days=40)).isoformat()
    config = AlertsConfig(slack_channel=CHANNEL, paging_horizon_days=3)
    finding = Finding(WHOLE, False, Severity.CRITICAL, 900.0, 500.0, "p95 900 ms")
    evaluation = Evaluation(
        "run-old",
        MONITOR,
        f"{MONITOR}/service_metrics",
        "latency_slo",
        old,
        (finding,),
        datetime.now(UTC),
    )
    context = AlertContext({MONITOR: config}, "http://dagster.test", datetime.now(UTC))
    ingest_run(store, "run-old", [evaluation], context)

    report = deliver(store, notifier_for(slack), later(60), POLICY)

    assert report.sent == [] and report.waiting == 0
    assert [a.status for a in store.alerts()] == [DeliveryStatus.SUPPRESSED]
    assert posts(slack) == 0


def test_updates_of_an_incident_nobody_was_told_about_carry_their_context(
    store: AlertRepository, slack: FakeSlack
) -> None:
    # The incident opened on a day older than the paging horizon (its first message was
    # suppressed); a recent failing day is the first message anyone sees, so it must stand
    # alone, and it becomes the thread the resolution replies in.
    today = datetime.now(UTC).date()
    config = AlertsConfig(slack_channel=CHANNEL, paging_horizon_days=3)
    context = AlertContext({MONITOR: config}, "http://dagster.test", datetime.now(UTC))
    verdicts = [(10, False), (2, False), (1, True)]
    for ago, passed in verdicts:
        partition = (today - timedelta(days=ago)).isoformat()
        value = 300.0 if passed else 900.0
        finding = Finding(WHOLE, passed, Severity.CRITICAL, value, 500.0, f"p95 {value} ms")
        evaluation = Evaluation(
            f"run-{ago}",
            MONITOR,
            f"{MONITOR}/service_metrics",
            "latency_slo",
            partition,
            (finding,),
            datetime.now(UTC),
        )
        ingest_run(store, evaluation.run_id, [evaluation], context)
    opened, update = store.alerts()[:2]
    assert opened.status is DeliveryStatus.SUPPRESSED and update.kind is AlertKind.UPDATE

    deliver(store, notifier_for(slack), datetime.now(UTC), POLICY)

    [first] = slack.messages(CHANNEL_ID)
    assert first.thread_ts is None
    assert first.blocks[0]["type"] == "header"
    assert "latency above SLO" in first.blocks[0]["text"]["text"]
    incident = store.get_incident(update.incident_id or 0)
    assert incident is not None and incident.slack_ts == first.ts


def test_the_resolution_of_an_incident_nobody_was_told_about_is_not_sent(
    store: AlertRepository, slack: FakeSlack
) -> None:
    today = datetime.now(UTC).date()
    config = AlertsConfig(slack_channel=CHANNEL, paging_horizon_days=3)
    context = AlertContext({MONITOR: config}, "http://dagster.test", datetime.now(UTC))
    for ago, passed in [(6, False), (5, False), (4, True), (3, True)]:
        partition = (today - timedelta(days=ago)).isoformat()
        for day in [partition]:
            value = 300.0 if passed else 900.0
            finding = Finding(WHOLE, passed, Severity.CRITICAL, value, 500.0, f"p95 {value}")
            evaluation = Evaluation(
                f"run-{ago}",
                MONITOR,
                f"{MONITOR}/service_metrics",
                "latency_slo",
                day,
                (finding,),
                datetime.now(UTC),
            )
            ingest_run(store, evaluation.run_id, [evaluation], context)
    kinds = {a.kind: a for a in store.alerts()}
    assert set(kinds) == {AlertKind.OPEN, AlertKind.UPDATE, AlertKind.RESOLVE}
    assert kinds[AlertKind.OPEN].status is DeliveryStatus.SUPPRESSED
    assert kinds[AlertKind.UPDATE].status is DeliveryStatus.SUPPRESSED
    assert kinds[AlertKind.RESOLVE].status is DeliveryStatus.PENDING  # inside the horizon

    deliver(store, notifier_for(slack), datetime.now(UTC), POLICY)

    assert slack.messages(CHANNEL_ID) == []
    resolved = one(store, kinds[AlertKind.RESOLVE].id)
    assert resolved.status is DeliveryStatus.SUPPRESSED
    assert "no message about this incident was sent" in (resolved.reason or "")
