"""Ingestion of check evaluations into incidents and the outbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from monitoring_pipelines.core.alerting.ingest import AlertContext, IngestReport, ingest_run
from monitoring_pipelines.core.alerting.model import (
    Alert,
    AlertKind,
    DeliveryStatus,
    Evaluation,
    Incident,
    IncidentStatus,
)
from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.checks import WHOLE, Finding
from monitoring_pipelines.core.config import AlertsConfig, PolicyConfig, Severity
from monitoring_pipelines.core.store import tables as t

MONITOR = "fraud"
DAY1 = date(2026, 3, 1)
DAGSTER = "http://dagster.test"


def day(n: int) -> str:
    """Partition key of day ``n`` (day 1 is DAY1)."""
    return (DAY1 + timedelta(days=n - 1)).isoformat()


def noon_after(n: int) -> datetime:
    """Noon UTC of the day after day ``n``."""
    return datetime.combine(DAY1 + timedelta(days=n), time(12), tzinfo=UTC)


RECENT = noon_after(40)  # with HORIZON_WIDE, every day before 40 still pages
HORIZON_WIDE = AlertsConfig(slack_channel="#ml-alerts", paging_horizon_days=60)


def context(
    now: datetime = RECENT, config: AlertsConfig = HORIZON_WIDE, monitor: str = MONITOR
) -> AlertContext:
    return AlertContext(alerts={monitor: config}, dagster_url=DAGSTER, now=now)


def drift(subject: str, passed: bool, severity: Severity = Severity.WARN) -> Finding:
    value = 0.05 if passed else 0.35
    return Finding(subject, passed, severity, value, 0.2, f"PSI {value} on {subject}")


def evaluation(
    n: int,
    *findings: Finding,
    run_id: str | None = None,
    check: str = "feature_drift",
    monitor: str = MONITOR,
) -> Evaluation:
    return Evaluation(
        run_id=run_id or uuid.uuid4().hex,
        monitor=monitor,
        asset=f"{monitor}/feature_drift",
        check=check,
        partition=day(n),
        findings=findings,
        evaluated_at=noon_after(n),
    )


def ingest_day(
    store: AlertRepository,
    n: int,
    *findings: Finding,
    ctx: AlertContext | None = None,
    run_id: str | None = None,
) -> IngestReport:
    found = evaluation(n, *findings, run_id=run_id)
    return ingest_run(store, found.run_id, [found], ctx or context())


def ingest_amount(
    store: AlertRepository,
    n: int,
    passed: bool,
    *,
    ctx: AlertContext | None = None,
    run_id: str | None = None,
) -> IngestReport:
    return ingest_day(store, n, drift("amount", passed), ctx=ctx, run_id=run_id)


def kinds(alerts: list[Alert]) -> list[tuple[str, str]]:
    return [(a.kind.value, a.partition) for a in alerts]


def active(store: AlertRepository) -> list[Incident]:
    return store.incidents([IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED])


def check_result_rows(store: AlertRepository) -> int:
    with store.transaction() as conn:
        return int(conn.execute(select(func.count()).select_from(t.check_results)).scalar_one())


# -- exactly once --------------------------------------------------------------------------


def test_a_run_is_ingested_exactly_once(store: AlertRepository) -> None:
    run = "run-0001"
    evaluations = [evaluation(1, drift("amount", False), run_id=run)]
    evaluations.append(evaluation(2, drift("amount", False), run_id=run))

    first = ingest_run(store, run, evaluations, context())
    incidents, alerts, rows = store.incidents(), store.alerts(), check_result_rows(store)
    again = ingest_run(store, run, evaluations, context())

    assert (first.runs, first.skipped_runs, first.evaluations) == (1, 0, 2)
    assert len(first.opened) == 1 and first.alerts_stored == 1
    assert (again.runs, again.skipped_runs, again.evaluations) == (0, 1, 0)
    assert again.opened == [] and again.alerts_stored == 0
    assert store.is_processed(run)
    assert store.incidents() == incidents
    assert store.alerts() == alerts
    assert check_result_rows(store) == rows == 2


def test_a_skipped_run_does_not_record_its_evaluations(store: AlertRepository) -> None:
    ingest_run(store, "run-a", [evaluation(1, drift("amount", True), run_id="run-a")], context())
    changed = [evaluation(1, drift("amount", False), run_id="run-a")]

    ingest_run(store, "run-a", changed, context())

    with store.transaction() as conn:
        assert store.timeline(conn, MONITOR, "feature_drift", "amount")[day(1)].passed


def test_report_accumulates_over_runs(store: AlertRepository) -> None:
    report = IngestReport()
    for n in (1, 2, 2):
        found = evaluation(n, drift("amount", False), run_id=f"run-{n}")
        ingest_run(store, found.run_id, [found], context(), report)
    assert (report.runs, report.skipped_runs, report.evaluations) == (2, 1, 2)
    assert len(report.opened) == 1


# -- the life of an incident -----------------------------------------------------------------


def test_drift_incident_opens_updates_and_resolves(store: AlertRepository) -> None:
    first = ingest_amount(store, 1, False)
    assert first.opened == [] and store.incidents() == [] and store.alerts() == []

    opened = ingest_amount(store, 2, False)
    [incident] = store.incidents()
    assert opened.opened == [incident.id]
    assert incident.status is IncidentStatus.OPEN
    assert incident.fingerprint == "fraud/feature_drift/amount"
    assert (incident.first_partition, incident.last_failing_partition) == (day(1), day(2))
    assert incident.failing_partitions == 2
    [alert] = store.alerts()
    assert (alert.kind, alert.status, alert.channel) == (
        AlertKind.OPEN,
        DeliveryStatus.PENDING,
        "#ml-alerts",
    )
    assert alert.incident_id == incident.id and alert.partition == day(2)
    assert alert.message["blocks"] and "fraud: input drift in amount" in alert.message["text"]

    for n in (3, 4):
        assert ingest_amount(store, n, False).updated == [incident.id]
    assert kinds(store.alerts()) == [("open", day(2)), ("update", day(3)), ("update", day(4))]
    assert store.get_incident(incident.id).failing_partitions == 4  # type: ignore[union-attr]

    for n in (5, 6):
        assert ingest_amount(store, n, True).resolved == []
        assert active(store) != []
    resolving = ingest_amount(store, 7, True)

    assert resolving.resolved == [incident.id]
    done = store.get_incident(incident.id)
    assert done is not None and done.status is IncidentStatus.RESOLVED
    assert (done.last_failing_partition, done.resolved_partition) == (day(4), day(7))
    assert done.resolved_at == RECENT
    resolves = [a for a in store.alerts() if a.kind is AlertKind.RESOLVE]
    assert len(resolves) == 1 and resolves[0].partition == day(7)
    assert "Resolved" in str(resolves[0].message["text"])

    ingest_amount(store, 8, True)
    assert len(store.alerts()) == 4


def test_a_pass_inside_the_episode_neither_resolves_nor_alerts(store: AlertRepository) -> None:
    for n, passed in [(1, False), (2, False), (3, True), (4, False)]:
        ingest_amount(store, n, passed)

    [incident] = store.incidents()
    assert incident.status is IncidentStatus.OPEN
    assert incident.failing_partitions == 3
    assert kinds(store.alerts()) == [("open", day(2)), ("update", day(4))]


def test_severity_escalates_on_a_critical_day(store: AlertRepository) -> None:
    ingest_amount(store, 1, False)
    ingest_amount(store, 2, False)
    ingest_day(store, 3, drift("amount", False, Severity.CRITICAL))

    [incident] = store.incidents()
    assert incident.severity is Severity.CRITICAL
    assert [a.severity for a in store.alerts()] == [Severity.WARN, Severity.CRITICAL]


def test_a_service_check_pages_on_the_first_failing_day(store: AlertRepository) -> None:
    latency = Finding(WHOLE, False, Severity.CRITICAL, 950.0, 500.0, "p95 latency 950 ms")
    found = evaluation(1, latency, check="latency_slo")

    ingest_run(store, found.run_id, [found], context())

    [incident] = store.incidents()
    assert (incident.fingerprint, incident.severity) == ("fraud/latency_slo", Severity.CRITICAL)
    assert kinds(store.alerts()) == [("open", day(1))]


# -- reruns ------------------------------------------------------------------------------------


def test_rerunning_a_partition_never_opens_a_second_incident(store: AlertRepository) -> None:
    for n in (1, 2, 3):
        ingest_amount(store, n, False)
    before = store.alerts()

    for n in (1, 2, 3, 2):
        report = ingest_amount(store, n, False)
        assert report.runs == 1 and report.opened == [] and report.updated == []

    assert len(store.incidents()) == 1
    assert store.alerts() == before


def test_rerunning_after_the_resolution_changes_nothing(store: AlertRepository) -> None:
    for n, passed in [(1, False), (2, False), (3, True), (4, True), (5, True)]:
        ingest_amount(store, n, passed)
    [resolved] = store.incidents()
    assert resolved.status is IncidentStatus.RESOLVED
    before = store.alerts()

    for n, passed in [(2, False), (1, False), (4, True), (5, True), (2, False)]:
        report = ingest_amount(store, n, passed)
        assert report.opened == [] and report.resolved == [] and report.alerts_stored == 0

    assert store.incidents() == [resolved]
    assert store.alerts() == before


def test_failing_again_within_the_reopen_window_reopens_the_same_incident(
    store: AlertRepository,
) -> None:
    """Drift resolves after 3 passing days (day 5) and fails again on days 7-8, within the
    default 7-day reopen window: the same incident reopens in its thread, nothing new opens."""
    pattern = [False, False, True, True, True, True, False, False]
    for n, passed in enumerate(pattern, start=1):
        ingest_amount(store, n, passed)
        if n == 5:
            [resolved] = store.incidents()
            assert resolved.status is IncidentStatus.RESOLVED
            assert resolved.resolved_partition == day(5)

    [incident] = store.incidents()
    assert incident.status is IncidentStatus.OPEN and incident.resolved_partition is None
    assert (incident.first_partition, incident.last_failing_partition) == (day(1), day(8))
    assert incident.failing_partitions == 4
    thread = store.alerts(incident_id=incident.id)
    assert [a.kind for a in thread].count(AlertKind.OPEN) == 1
    [reopened] = [a for a in thread if "|reopen|" in a.alert_key]
    assert reopened.kind is AlertKind.UPDATE and reopened.partition == day(8)
    text = str(reopened.message["text"])
    assert "failing again on 2026-03-08" in text and "PSI 0.35 on amount" in text
    assert "4 failing partitions since 2026-03-01" in text


@pytest.mark.parametrize(
    ("window", "gap", "incidents"),
    [(7, 7, 1), (7, 8, 2), (0, 1, 2), (3, 3, 1), (3, 4, 2)],
)
def test_the_reopen_window_is_counted_from_the_resolution(
    store: AlertRepository, window: int, gap: int, incidents: int
) -> None:
    """Service checks resolve after 2 passing days; failing ``gap`` days after the resolution
    reopens the incident when ``gap`` is within ``reopen_within_days``, else opens another."""
    config = AlertsConfig(slack_channel="#ml-alerts", paging_horizon_days=60)
    config = config.model_copy(update={"reopen_within_days": window})
    ctx = context(config=config)
    errors = [
        (1, False),
        (2, True),
        (3, True),  # resolved on day 3
        *((n, True) for n in range(4, 3 + gap)),
        (3 + gap, False),
    ]
    for n, passed in errors:
        finding = Finding(WHOLE, passed, Severity.WARN, 0.1, 0.05, "error rate 10%")
        found = evaluation(n, finding, check="error_rate")
        ingest_run(store, found.run_id, [found], ctx)

    assert len(store.incidents()) == incidents
    assert store.incidents()[-1].last_failing_partition == day(3 + gap)
    opens = [a for a in store.alerts() if a.kind is AlertKind.OPEN]
    assert len(opens) == incidents


def test_one_active_incident_per_fingerprint_with_interleaved_subjects(
    store: AlertRepository,
) -> None:
    rng = random.Random(3)
    subjects = ["amount", "country", "device"]
    for n in range(1, 25):
        findings = [drift(s, rng.random() < 0.55) for s in subjects]
        rng.shuffle(findings)
        ingest_day(store, n, *findings)
        per_fingerprint = Counter(i.fingerprint for i in active(store))
        assert all(count == 1 for count in per_fingerprint.values()), per_fingerprint

    incidents = store.incidents()
    assert {i.subject for i in incidents} == set(subjects)
    for alert in store.alerts():
        owner = next(i for i in incidents if i.id == alert.incident_id)
        assert alert.fingerprint == owner.fingerprint
    opens = Counter(a.incident_id for a in store.alerts() if a.kind is AlertKind.OPEN)
    assert set(opens) == {i.id for i in incidents}
    assert set(opens.values()) == {1}


def test_subjects_of_one_evaluation_are_separate_incidents(store: AlertRepository) -> None:
    for n in (1, 2):
        ingest_day(store, n, drift("amount", False), drift("country", True))

    [incident] = store.incidents()
    assert incident.subject == "amount"
    with store.transaction() as conn:
        assert set(store.timeline(conn, MONITOR, "feature_drift", "country")) == {day(1), day(2)}


# -- the paging horizon and backfills -----------------------------------------------------------


def test_alerts_older_than_the_horizon_are_suppressed_but_the_incident_opens(
    store: AlertRepository,
) -> None:
    config = AlertsConfig(slack_channel="#ml-alerts", paging_horizon_days=3)
    ctx = context(now=noon_after(10), config=config)  # today is day 11, horizon starts day 8
    for n in (1, 2, 3):
        ingest_amount(store, n, False, ctx=ctx)

    [incident] = active(store)
    assert incident.first_partition == day(1)
    old = store.alerts()
    assert kinds(old) == [("open", day(2)), ("update", day(3))]
    assert {a.status for a in old} == {DeliveryStatus.SUPPRESSED}
    assert all(a.reason and "3-day paging horizon" in a.reason for a in old)
    assert all(day(n) in (a.reason or "") for a, n in zip(old, (2, 3), strict=True))

    ingest_amount(store, 7, False, ctx=ctx)
    ingest_amount(store, 8, False, ctx=ctx)
    recent = store.alerts()[len(old) :]
    assert [(a.partition, a.status, a.reason) for a in recent] == [
        (day(7), DeliveryStatus.SUPPRESSED, recent[0].reason),
        (day(8), DeliveryStatus.PENDING, None),
    ]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_shuffled_30_day_backfill_gives_one_incident_and_pages_nobody_twice(
    store: AlertRepository, seed: int
) -> None:
    drift_days = range(12, 18)  # six days in the middle
    config = AlertsConfig(slack_channel="#ml-alerts", paging_horizon_days=3)
    ctx = context(now=noon_after(30), config=config)  # days 28..30 are inside the horizon
    order = list(range(1, 31))
    random.Random(seed).shuffle(order)
    backfill = "bf-" + uuid.uuid4().hex[:8]

    for n in order:
        found = evaluation(n, drift("amount", n not in drift_days), run_id=f"{backfill}-{n}")
        ingest_run(store, found.run_id, [found], ctx)

    [incident] = store.incidents()
    assert incident.status is IncidentStatus.RESOLVED
    assert (incident.first_partition, incident.last_failing_partition) == (day(12), day(17))
    assert incident.failing_partitions == 6
    assert incident.resolved_partition == day(20)
    alerts = store.alerts()
    assert [a.kind for a in alerts].count(AlertKind.OPEN) == 1
    assert [a.kind for a in alerts].count(AlertKind.RESOLVE) == 1
    assert len([a for a in alerts if a.status is not DeliveryStatus.SUPPRESSED]) <= 1


def test_a_backfill_whose_episode_resolves_before_its_first_days_arrive(
    store: AlertRepository,
) -> None:
    """Days 14..20 arrive before 12 and 13: the late days belong to the resolved incident."""
    drift_days = range(12, 18)
    order = [14, 15, 16, 17, 18, 19, 20, 12, 13, 21]

    for n in order:
        ingest_amount(store, n, n not in drift_days)

    [incident] = store.incidents()
    assert incident.status is IncidentStatus.RESOLVED
    assert [a.kind for a in store.alerts()].count(AlertKind.OPEN) == 1


def test_an_isolated_earlier_failure_does_not_resolve_an_open_incident(
    store: AlertRepository,
) -> None:
    """Days 10-11 drift (open); a backfilled day 3 drifted alone, with days 4-6 passing."""
    for n, passed in [(9, True), (10, False), (11, False), (4, True), (5, True), (6, True)]:
        ingest_amount(store, n, passed)
    ingest_amount(store, 3, False)

    [incident] = store.incidents()
    assert incident.status is IncidentStatus.OPEN
    assert incident.last_failing_partition == day(11)
    assert [a.kind for a in store.alerts()] == [AlertKind.OPEN]


def incident_extents(store: AlertRepository) -> list[tuple[str, str, int, str | None]]:
    return [
        (i.first_partition, i.last_failing_partition, i.failing_partitions, i.resolved_partition)
        for i in store.incidents()
    ]


@pytest.mark.parametrize(
    ("failing", "first_days"),
    [
        pytest.param({3, 4, 20, 21}, [20, 21, 22], id="ongoing-episode-recorded-first"),
        pytest.param({5, 6, 13}, [5, 6, 13, 14, 15, 16], id="isolated-day-across-a-gap"),
    ],
)
def test_out_of_order_days_reach_the_incidents_of_the_daily_schedule(
    store: AlertRepository, failing: set[int], first_days: list[int]
) -> None:
    days = range(1, 23)
    for n in days:
        ingest_amount(store, n, n not in failing, run_id=f"daily-{n}")
    daily = incident_extents(store)
    with store.transaction() as conn:
        for table in (t.alerts, t.incidents, t.check_results, t.processed_runs):
            conn.execute(table.delete())

    for n in first_days + [n for n in days if n not in first_days]:
        ingest_amount(store, n, n not in failing, run_id=f"backfill-{n}")

    assert incident_extents(store) == daily


# -- configuration ---------------------------------------------------------------------------


def test_an_evaluation_of_a_monitor_absent_from_the_configuration_is_ignored(
    store: AlertRepository,
) -> None:
    ghost = [evaluation(n, drift("amount", False), monitor="ghost", run_id="r") for n in (1, 2)]

    report = ingest_run(store, "r", ghost, context())

    assert (report.runs, report.evaluations, report.alerts_stored) == (1, 0, 0)
    assert check_result_rows(store) == 0
    assert store.incidents() == [] and store.alerts() == []
    assert store.is_processed("r")


def test_a_configured_policy_is_applied(store: AlertRepository) -> None:
    strict = AlertsConfig(
        slack_channel="#ml-alerts",
        paging_horizon_days=60,
        policies={"feature_drift": PolicyConfig(persistence_k=1, persistence_n=1)},
    )
    ingest_amount(store, 1, False, ctx=context(config=strict))
    assert len(store.incidents()) == 1


def test_without_a_channel_alerts_are_stored_without_one(store: AlertRepository) -> None:
    config = AlertsConfig(paging_horizon_days=60)
    for n in (1, 2):
        ingest_amount(store, n, False, ctx=context(config=config))
    [alert] = store.alerts()
    assert alert.channel is None and alert.status is DeliveryStatus.PENDING
