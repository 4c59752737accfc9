"""What on-call sees, over real HTTP (FakeSlack, FakePagerDuty) on SQLite and PostgreSQL:
backfills summarised in one message, mutes, the daily page budget and its digest, reminders of
long-open critical incidents, PagerDuty for critical incidents, manual acknowledgement, and a
notifier that is down being visible.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta

import pytest

from monitoring_pipelines.core.alerting.delivery import DeliveryPolicy, deliver
from monitoring_pipelines.core.alerting.followups import release_summaries, remind
from monitoring_pipelines.core.alerting.ingest import AlertContext, ingest_runs
from monitoring_pipelines.core.alerting.manual import change_incident
from monitoring_pipelines.core.alerting.model import (
    AlertKind,
    DeliveryStatus,
    Evaluation,
    IncidentStatus,
    Target,
)
from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.checks import WHOLE, Finding
from monitoring_pipelines.core.config import AlertsConfig, PagerDutyConfig, Severity
from monitoring_pipelines.core.notify.pagerduty import PagerDutyNotifier
from monitoring_pipelines.core.notify.slack import SlackNotifier
from monitoring_pipelines.sensors.alerting_pass import notifier_problems
from tests.fakes.pagerduty_server import FakePagerDuty, fake_pagerduty_fixture  # noqa: F401
from tests.fakes.slack_server import FakeSlack, Fault

MONITOR = "shop"
CHANNEL, CHANNEL_ID = "#ml-alerts", "C0ALERTS"
DAGSTER = "http://dagster.test"
POLICY = DeliveryPolicy(max_attempts=3, backoff_s=30.0, in_doubt_after_s=120)
START = date(2026, 10, 1)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(first_ts=int(time.time())) as fake:
        yield fake


def notifier(fake: FakeSlack) -> SlackNotifier:
    return SlackNotifier(fake.token, base_url=fake.base_url, timeout_s=5.0, max_retries=0)


def config(**fields: object) -> AlertsConfig:
    return AlertsConfig.model_validate({"slack_channel": CHANNEL, **fields})


def day(offset: int) -> str:
    return (START + timedelta(days=offset)).isoformat()


def morning_after(partition: str) -> datetime:
    return datetime.fromisoformat(partition).replace(tzinfo=UTC) + timedelta(days=1, hours=1)


def evaluation(
    partition: str,
    *,
    check: str = "latency_slo",
    passed: bool = False,
    subject: str = WHOLE,
    severity: Severity = Severity.CRITICAL,
    backfill: str | None = None,
    monitor: str = MONITOR,
) -> Evaluation:
    value = 300.0 if passed else 900.0
    return Evaluation(
        run_id=f"run-{monitor}-{check}-{subject}-{partition}-{backfill}",
        monitor=monitor,
        asset=f"{monitor}/service_metrics",
        check=check,
        partition=partition,
        findings=(Finding(subject, passed, severity, value, 500.0, f"{check} {value}"),),
        evaluated_at=datetime.now(UTC),
        backfill_id=backfill,
    )


def live_day(
    store: AlertRepository,
    alerts: AlertsConfig,
    evaluations: Sequence[Evaluation],
    slack: FakeSlack,
    pagerduty: PagerDutyNotifier | None = None,
) -> datetime:
    """One day as the schedule runs it: ingest on the morning after, then deliver."""
    now = morning_after(evaluations[0].partition)
    runs = [(e.run_id, [e]) for e in evaluations]
    ingest_runs(store, runs, AlertContext({MONITOR: alerts}, DAGSTER, now))
    remind(store, {MONITOR: alerts}, DAGSTER, now)
    deliver(
        store,
        notifier(slack),
        now,
        POLICY,
        pagerduty=pagerduty,
        page_limits={MONITOR: alerts.max_pages_per_day},
    )
    return now


def top_level(slack: FakeSlack) -> list[str]:
    return [m.text for m in slack.messages(CHANNEL_ID) if m.thread_ts is None]


def replies(slack: FakeSlack) -> list[str]:
    return [m.text for m in slack.messages(CHANNEL_ID) if m.thread_ts is not None]


# -- backfills ---------------------------------------------------------------------------------


def test_a_30_day_backfill_with_drift_gives_one_incident_one_summary_and_one_resolve_reply(
    store: AlertRepository, slack: FakeSlack
) -> None:
    alerts = config()
    backfill = "bf-0001"
    # Drift from day 10 to the end of the backfill (day 29), on one column.
    runs = [
        (
            f"run-{i}",
            [
                evaluation(
                    day(i),
                    check="feature_drift",
                    subject="user_age",
                    passed=i < 10,
                    severity=Severity.WARN,
                    backfill=backfill,
                )
            ],
        )
        for i in range(30)
    ]
    finished_at = morning_after(day(29))
    ingest_runs(store, runs, AlertContext({MONITOR: alerts}, DAGSTER, finished_at))
    assert release_summaries(store, lambda _: False, finished_at) == []  # still running
    deliver(store, notifier(slack), finished_at, POLICY)
    assert slack.messages(CHANNEL_ID) == []  # nothing before the backfill is over

    assert release_summaries(store, lambda _: True, finished_at) == [backfill]
    deliver(store, notifier(slack), finished_at, POLICY)

    [incident] = store.incidents()
    assert incident.status is IncidentStatus.OPEN and incident.first_partition == day(10)
    [summary] = top_level(slack)
    assert "Backfill bf-0001" in summary and "1 incident, 1 still open" in summary
    assert store.get_incident(incident.id).slack_ts is not None  # type: ignore[union-attr]

    # The recovery, live: three passing days (drift's resolve_after) resolve it in the thread.
    for i in range(30, 33):
        live_day(
            store,
            alerts,
            [evaluation(day(i), check="feature_drift", subject="user_age", passed=True)],
            slack,
        )
    assert store.get_incident(incident.id).status is IncidentStatus.RESOLVED  # type: ignore[union-attr]
    assert len(top_level(slack)) == 1
    [resolved] = replies(slack)
    assert resolved.startswith("Resolved:")
    assert release_summaries(store, lambda _: True, finished_at) == []  # at most one summary


def test_a_backfill_that_dies_is_summarised_once_it_has_been_quiet(
    store: AlertRepository, slack: FakeSlack
) -> None:
    alerts = config()
    now = morning_after(day(0))
    ingest_runs(
        store,
        [("run-a", [evaluation(day(0), backfill="bf-dead")])],
        AlertContext({MONITOR: alerts}, DAGSTER, now),
    )
    created = store.held_summaries()[0].created_at

    assert release_summaries(store, lambda _: None, created + timedelta(minutes=5)) == []
    assert release_summaries(store, lambda _: None, created + timedelta(minutes=31)) == ["bf-dead"]


# -- mutes -------------------------------------------------------------------------------------


def test_a_mute_records_the_alerts_of_its_check_and_lets_others_through(
    store: AlertRepository, slack: FakeSlack
) -> None:
    alerts = config()
    now = morning_after(day(0))
    store.add_mute(
        MONITOR,
        "latency_slo",
        None,
        now - timedelta(hours=2),
        now + timedelta(days=1),
        "load test",
        "ana",
    )

    live_day(store, alerts, [evaluation(day(0)), evaluation(day(0), check="error_rate")], slack)

    muted, sent = sorted(store.alerts(), key=lambda a: a.check != "latency_slo")
    assert muted.status is DeliveryStatus.SUPPRESSED and "load test" in (muted.reason or "")
    assert "by ana" in (muted.reason or "")
    assert sent.status is DeliveryStatus.SENT
    assert len(top_level(slack)) == 1


def test_an_ended_mute_lets_the_next_alert_through(
    store: AlertRepository, slack: FakeSlack
) -> None:
    alerts = config()
    mute = store.add_mute(
        MONITOR,
        None,
        None,
        morning_after(day(0)) - timedelta(hours=1),
        morning_after(day(0)) + timedelta(hours=1),
        "maintenance",
        "ana",
    )
    live_day(store, alerts, [evaluation(day(0))], slack)
    assert top_level(slack) == []
    store.end_mute(mute.id, morning_after(day(0)))

    live_day(store, alerts, [evaluation(day(1))], slack)

    # The update goes out on its own, with the whole context (the opening was muted).
    [message] = top_level(slack)
    assert message.startswith("[CRITICAL] shop: latency above SLO")
    sent = store.alerts([DeliveryStatus.SENT])
    assert [a.kind for a in sent] == [AlertKind.UPDATE]


# -- the page budget ---------------------------------------------------------------------------


def test_pages_past_the_daily_budget_are_grouped_into_one_digest(
    store: AlertRepository, slack: FakeSlack
) -> None:
    alerts = config(max_pages_per_day=2)
    checks = ["latency_slo", "error_rate", "volume", "cost_budget", "schema_change"]

    live_day(store, alerts, [evaluation(day(0), check=c) for c in checks], slack)

    messages = top_level(slack)
    assert len(messages) == 3  # two pages, then one digest of the other three
    assert "3 more incidents" in messages[-1] and "budget of 2 pages" in messages[-1]
    digested = store.alerts([DeliveryStatus.DIGESTED])
    assert len(digested) == 3
    # The digest is the thread of the incidents it lists: their resolutions reply to it.
    for offset in (1, 2):
        live_day(
            store, alerts, [evaluation(day(offset), check=c, passed=True) for c in checks], slack
        )
    assert len(top_level(slack)) == 3
    assert sum(text.startswith("Resolved:") for text in replies(slack)) == 5


# -- reminders ---------------------------------------------------------------------------------


def test_a_critical_incident_left_open_is_said_again_until_acknowledged(
    store: AlertRepository, slack: FakeSlack
) -> None:
    alerts = config(renotify_hours=24)
    now = live_day(store, alerts, [evaluation(day(0))], slack)
    [incident] = store.incidents()

    remind(store, {MONITOR: alerts}, DAGSTER, now + timedelta(hours=23))
    assert [a.kind for a in store.alerts()] == [AlertKind.OPEN]

    later = now + timedelta(hours=25)
    remind(store, {MONITOR: alerts}, DAGSTER, later)
    deliver(store, notifier(slack), later, POLICY)
    [reminder] = replies(slack)
    assert "not acknowledged" in reminder and f"ack {incident.id}" in reminder
    [request] = [r for r in slack.requests("chat.postMessage") if r.body.get("thread_ts")]
    assert request.body.get("reply_broadcast") is True

    change_incident(store, incident.id, IncidentStatus.ACKNOWLEDGED, "ana", alerts, later)
    much_later = later + timedelta(hours=48)
    assert remind(store, {MONITOR: alerts}, DAGSTER, much_later) == []
    deliver(store, notifier(slack), much_later, POLICY)
    assert replies(slack)[-1].endswith("acknowledged by ana")


def test_a_day_that_says_still_failing_needs_no_reminder(
    store: AlertRepository, slack: FakeSlack
) -> None:
    alerts = config(renotify_hours=24)
    for n in range(4):  # each morning, 24 h after the last, posts the day's update
        live_day(store, alerts, [evaluation(day(n))], slack)
    assert [a.kind for a in store.alerts()].count(AlertKind.REMIND) == 0
    assert len(replies(slack)) == 3
    quiet = morning_after(day(5))  # a day without a run: nothing said for 48 h
    assert remind(store, {MONITOR: alerts}, DAGSTER, quiet) == [store.incidents()[0].id]


def test_warnings_are_never_reminded(store: AlertRepository, slack: FakeSlack) -> None:
    alerts = config(renotify_hours=1)
    now = live_day(store, alerts, [evaluation(day(0), severity=Severity.WARN)], slack)
    assert remind(store, {MONITOR: alerts}, DAGSTER, now + timedelta(days=3)) == []


# -- PagerDuty ---------------------------------------------------------------------------------


def test_critical_incidents_trigger_pagerduty_once_and_resolve_it(
    store: AlertRepository, slack: FakeSlack, fake_pagerduty: FakePagerDuty
) -> None:
    alerts = config(pagerduty=PagerDutyConfig(url=fake_pagerduty.url))
    pagerduty = PagerDutyNotifier(fake_pagerduty.routing_key, url=fake_pagerduty.url)

    live_day(store, alerts, [evaluation(day(0))], slack, pagerduty)
    live_day(store, alerts, [evaluation(day(1))], slack, pagerduty)  # still failing: no new page
    live_day(
        store,
        alerts,
        [evaluation(day(2), check="error_rate", severity=Severity.WARN)],
        slack,
        pagerduty,
    )
    for offset in (2, 3):
        live_day(store, alerts, [evaluation(day(offset), passed=True)], slack, pagerduty)

    [incident] = [i for i in store.incidents() if i.check == "latency_slo"]
    [alert] = fake_pagerduty.incidents()
    assert alert.dedup_key == f"monitoring-pipelines/incident/{incident.id}"
    assert alert.status == "resolved"
    actions = [r.body["event_action"] for r in fake_pagerduty.requests()]
    assert actions == ["trigger", "resolve"]  # the warning never paged


def test_a_backfill_never_pages_pagerduty(
    store: AlertRepository, slack: FakeSlack, fake_pagerduty: FakePagerDuty
) -> None:
    alerts = config(pagerduty=PagerDutyConfig(url=fake_pagerduty.url))
    pagerduty = PagerDutyNotifier(fake_pagerduty.routing_key, url=fake_pagerduty.url)
    now = morning_after(day(0))
    ingest_runs(
        store,
        [("run-b", [evaluation(day(0), backfill="bf-2")])],
        AlertContext({MONITOR: alerts}, DAGSTER, now),
    )
    deliver(store, notifier(slack), now, POLICY, pagerduty=pagerduty)
    assert fake_pagerduty.requests() == []
    [pd] = [a for a in store.alerts() if a.target is Target.PAGERDUTY]
    assert pd.status is DeliveryStatus.DIGESTED


# -- a notifier that is down -------------------------------------------------------------------


def test_a_slack_outage_is_visible_and_clears_when_slack_is_back(
    store: AlertRepository, slack: FakeSlack
) -> None:
    alerts = config()
    assert notifier_problems(store) == []
    slack.script("chat.postMessage", Fault(status=500))

    now = live_day(store, alerts, [evaluation(day(0))], slack)

    [problem] = notifier_problems(store)
    assert problem.startswith("slack delivery failing since") and "1 failed attempt" in problem
    deliver(store, notifier(slack), now + timedelta(minutes=5), POLICY)
    assert notifier_problems(store) == []
    assert len(top_level(slack)) == 1
