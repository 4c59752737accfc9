"""Which days get a report because of an incident, on SQLite and PostgreSQL: the days an
incident failed on, whatever their age, and the sensor's run requests for them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg

from monitoring_pipelines.core.alerting.incident_days import days_to_report, incident_days
from monitoring_pipelines.core.alerting.ingest import AlertContext, ingest_runs
from monitoring_pipelines.core.alerting.model import Evaluation, IngestReport
from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.checks import WHOLE, Finding
from monitoring_pipelines.core.config import AlertsConfig, MonitorConfig, Severity
from monitoring_pipelines.sensors.alerting import report_requests

MONITOR = "shop"
START = date(2026, 1, 1)
ALERTS = {MONITOR: AlertsConfig.model_validate({"slack_channel": "#ml"})}
REPORTS = {MONITOR: dg.AssetKey([MONITOR, "daily_report"])}


def day(offset: int) -> str:
    return (START + timedelta(days=offset)).isoformat()


def evaluation(partition: str, passed: bool, check: str = "latency_slo") -> Evaluation:
    value = 100.0 if passed else 900.0
    return Evaluation(
        run_id=f"run-{check}-{partition}",
        monitor=MONITOR,
        asset=f"{MONITOR}/service_metrics",
        check=check,
        partition=partition,
        findings=(Finding(WHOLE, passed, Severity.CRITICAL, value, 500.0, f"p95 {value}"),),
        evaluated_at=datetime.now(UTC),
    )


def ingest(store: AlertRepository, *evaluations: Evaluation) -> IngestReport:
    report = IngestReport()
    now = datetime(2026, 6, 1, tzinfo=UTC)  # months later: a backfill of history
    runs = [(e.run_id, [e]) for e in evaluations]
    return ingest_runs(store, runs, AlertContext(ALERTS, "http://dagster.test", now), report)


def test_the_days_an_incident_failed_on_are_reported(store: AlertRepository) -> None:
    # Day 0 passes, days 1, 2 and 4 fail, day 3 passes (one passing day does not resolve).
    verdicts = [True, False, False, True, False, True, True, True]
    report = ingest(store, *(evaluation(day(i), ok) for i, ok in enumerate(verdicts)))
    [incident] = store.incidents()
    assert incident.first_partition == day(1)
    checked = {(MONITOR, day(i)) for i in range(len(verdicts))}
    expected = {(MONITOR, day(i)) for i in (1, 2, 4)}
    assert incident_days(store, [incident.id]) == expected
    assert days_to_report(store, report, checked) == expected
    # The sensor asks for those days although they are past the paging horizon, and for
    # no other old day it checked.
    requests = report_requests(checked, REPORTS, ALERTS, "c1", date(2026, 6, 1), expected)
    assert [r.partition_key for r in requests] == [day(1), day(2), day(4)]
    assert all(list(r.asset_selection or []) == [REPORTS[MONITOR]] for r in requests)
    assert requests[0].run_key == f"report:{MONITOR}:{day(1)}:c1"


def test_an_update_reports_only_the_days_just_checked(store: AlertRepository) -> None:
    first = ingest(store, evaluation(day(0), False), evaluation(day(1), False))
    assert days_to_report(store, first, set()) == {(MONITOR, day(0)), (MONITOR, day(1))}
    later = ingest(store, evaluation(day(2), False))
    assert later.updated and not later.opened
    assert days_to_report(store, later, {(MONITOR, day(2))}) == {(MONITOR, day(2))}


def test_recent_days_are_requested_without_an_incident() -> None:
    today = date(2026, 6, 1)
    checked = {(MONITOR, (today - timedelta(days=1)).isoformat()), (MONITOR, day(0))}
    requests = report_requests(checked, REPORTS, ALERTS, "c", today)
    assert [r.partition_key for r in requests] == [(today - timedelta(days=1)).isoformat()]


def test_days_that_are_not_partitions_get_no_report() -> None:
    """A failed reference build is dated with the day it ran: today, which is not a daily
    partition yet (nor, for a monitor with an end date, ever); asking for its report would fail
    the sensor's tick (Dagster refuses an unknown partition)."""
    today = date(2026, 6, 1)
    monitor = MonitorConfig.model_validate(
        {
            "start_date": "2026-05-01",
            "end_date": "2026-05-29",
            "source": {"table": "t", "timestamp_column": "ts"},
            "service": {"latency_column": "latency_ms"},
        }
    )
    incident = {(MONITOR, today.isoformat()), (MONITOR, "2026-05-31"), (MONITOR, "2026-05-29")}
    requests = report_requests(
        set(), REPORTS, ALERTS, "c", today, incident, monitors={MONITOR: monitor}
    )
    assert [r.partition_key for r in requests] == ["2026-05-29"]
    assert monitor.has_day(date(2026, 5, 1), today) and not monitor.has_day(
        date(2026, 4, 30), today
    )
    open_ended = monitor.model_copy(update={"end_date": None})
    assert open_ended.has_day(date(2026, 5, 31), today)
    assert not open_ended.has_day(today, today)
