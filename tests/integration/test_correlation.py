"""One problem, one incident: checks of one family on one monitor join the open incident."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from monitoring_pipelines.core.alerting.families import family_of
from monitoring_pipelines.core.alerting.groundtruth import Event, compare
from monitoring_pipelines.core.alerting.ingest import AlertContext, ingest_run
from monitoring_pipelines.core.alerting.model import AlertKind, Evaluation, IncidentStatus
from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.checks import WHOLE, Finding
from monitoring_pipelines.core.config import AlertsConfig, Severity

MONITOR = "clf"
DAY1 = date(2026, 3, 1)
CONFIG = AlertsConfig(slack_channel="#ml-alerts", paging_horizon_days=60)
NOW = datetime.combine(DAY1 + timedelta(days=40), time(12), tzinfo=UTC)


def day(n: int) -> str:
    return (DAY1 + timedelta(days=n - 1)).isoformat()


def record(store: AlertRepository, n: int, check: str, subject: str, passed: bool) -> None:
    finding = Finding(subject, passed, Severity.CRITICAL, 0.0 if passed else 1.0, 0.5, check)
    run = f"{check}-{subject}-{n}"
    evaluation = Evaluation(run, MONITOR, f"{MONITOR}/asset", check, day(n), (finding,), NOW, None)
    ingest_run(store, run, [evaluation], AlertContext({MONITOR: CONFIG}, "http://d", NOW))


@pytest.mark.parametrize(
    ("check", "subject", "family"),
    [
        ("latency_slo", WHOLE, "latency"),
        ("error_budget", "latency:fast", "latency"),
        ("anomaly", "latency_p95_ms", "latency"),
        ("anomaly", "tokens_per_request", "cost"),
        ("cost_budget", WHOLE, "cost"),
        ("prediction_drift", "label", "predictions"),
        ("performance", "performance@tenant=acme", "predictions"),
        ("feature_drift", "age@model_version=v2", "feature:age"),
        ("data_quality", "age:range", "data_quality:age:range"),
    ],
)
def test_families(check: str, subject: str, family: str) -> None:
    assert family_of(check, subject) == family


def test_a_second_check_on_the_same_problem_joins_the_open_incident(store: AlertRepository) -> None:
    # prediction drift needs 2 of 3 days; performance pages on its first failing day
    for n in (1, 2, 3):
        record(store, n, "performance", WHOLE, passed=False)
        record(store, n, "prediction_drift", "label", passed=False)
    incidents = store.incidents()
    roots = [i for i in incidents if i.parent_id is None]
    assert len(roots) == 1 and roots[0].check == "performance"
    [member] = [i for i in incidents if i.parent_id is not None]
    assert (member.check, member.parent_id, member.family) == (
        "prediction_drift",
        roots[0].id,
        "predictions",
    )
    alerts = store.alerts()
    assert all(a.incident_id == roots[0].id for a in alerts)  # one thread
    assert [a.kind for a in alerts].count(AlertKind.OPEN) == 1
    assert [a.kind for a in alerts].count(AlertKind.JOIN) == 1
    join = next(a for a in alerts if a.kind is AlertKind.JOIN)
    assert "Also failing since" in str(join.message["text"])
    # one update a day for the problem, however many of its checks still fail
    assert [a.partition for a in alerts if a.kind is AlertKind.UPDATE] == [day(2), day(3)]


def test_the_problem_resolves_once_every_check_has_cleared(store: AlertRepository) -> None:
    for n in (1, 2, 3):
        record(store, n, "performance", WHOLE, passed=False)
        record(store, n, "prediction_drift", "label", passed=False)
    # performance clears after 2 passing days; prediction drift needs 3 and fails a day longer
    record(store, 4, "performance", WHOLE, passed=True)
    record(store, 5, "performance", WHOLE, passed=True)
    record(store, 4, "prediction_drift", "label", passed=False)
    root = next(i for i in store.incidents() if i.parent_id is None)
    assert root.status is IncidentStatus.OPEN  # its own check cleared; the problem has not
    for n in (5, 6, 7):
        record(store, n, "prediction_drift", "label", passed=True)
    incidents = store.incidents()
    assert {i.status for i in incidents} == {IncidentStatus.RESOLVED}
    resolves = [a for a in store.alerts() if a.kind is AlertKind.RESOLVE]
    assert len(resolves) == 1 and resolves[0].incident_id == root.id


def test_different_problems_on_one_monitor_stay_apart(store: AlertRepository) -> None:
    for n in (1, 2, 3):
        record(store, n, "latency_slo", WHOLE, passed=False)
        record(store, n, "feature_drift", "age", passed=False)
    roots = [i for i in store.incidents() if i.parent_id is None]
    assert sorted(r.family for r in roots) == ["feature:age", "latency"]


def test_ground_truth_counts_an_incident_and_its_joined_checks_once(store: AlertRepository) -> None:
    for n in (1, 2, 3):
        record(store, n, "performance", WHOLE, passed=False)
        record(store, n, "prediction_drift", "label", passed=False)
    event = Event(
        "bad-release",
        MONITOR,
        ("prediction_drift", "performance"),
        "label",
        "prediction shift",
        DAY1,
        DAY1 + timedelta(days=2),
        "",
    )
    result = compare([event], store.incidents(), {"prediction_drift", "performance"})
    assert [len(m.incidents) for m in result.matches] == [1]
    assert result.false_incidents == () and result.duplicates == 0
