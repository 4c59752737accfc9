"""One incident per continuing problem: a check failing again within the reopen window after its
incident resolved reopens that incident, in its thread, with its own figures (README.md,
"Alerting"). On SQLite and PostgreSQL."""

from __future__ import annotations

import random
import re
from datetime import UTC, date, datetime, time, timedelta

from monitoring_pipelines.core.alerting.followups import release_summaries
from monitoring_pipelines.core.alerting.ingest import AlertContext, ingest_run
from monitoring_pipelines.core.alerting.model import (
    Alert,
    AlertKind,
    Evaluation,
    IncidentStatus,
    Target,
)
from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.checks import WHOLE, Finding
from monitoring_pipelines.core.config import AlertsConfig, PagerDutyConfig, PolicyConfig, Severity
from monitoring_pipelines.core.store import tables as t

MONITOR = "helpdesk"
MONDAY = date(2026, 5, 4)
DAYS = 21
NOW = datetime.combine(MONDAY + timedelta(days=DAYS), time(12), tzinfo=UTC)
CONFIG = AlertsConfig(slack_channel="#ml-alerts", paging_horizon_days=60)


def day(n: int) -> str:
    """Day ``n`` of the three weeks from Monday 2026-05-04 (day 1)."""
    return (MONDAY + timedelta(days=n - 1)).isoformat()


def number(partition: str) -> int:
    """The ``n`` of ``day(n)``."""
    return (date.fromisoformat(partition) - MONDAY).days + 1


def weekday(n: int) -> bool:
    return (MONDAY + timedelta(days=n - 1)).weekday() < 5


# A pricier model from the second Monday to the third Friday: the daily budget fails on
# weekdays only (weekend volume is lower); the cost per request stands out for 8 weekdays.
COST_FAILS = {n for n in range(8, 20) if weekday(n)}
ANOMALY_FAILS = {n for n in range(8, 18) if weekday(n)}


def cost(n: int) -> Finding:
    spent = 4.0 + n / 100 if n in COST_FAILS else 2.5 + n / 100
    passed = n not in COST_FAILS
    sign = "<=" if passed else ">"
    summary = f"cost ${spent:.2f} {sign} daily budget $3.50"
    return Finding(WHOLE, passed, Severity.WARN, spent, 3.5, summary)


def anomaly(n: int) -> Finding:
    z = 6.0 + n / 10 if n in ANOMALY_FAILS else 0.5
    passed = n not in ANOMALY_FAILS
    summary = f"cost_per_request robust z {z:.1f} {'<' if passed else '>='} 4"
    return Finding("cost_per_request", passed, Severity.WARN, z, 4.0, summary)


def run_day(store: AlertRepository, n: int, config: AlertsConfig = CONFIG, tag: str = "") -> None:
    evaluations = [
        Evaluation(f"{tag}{check}-{n}", MONITOR, f"{MONITOR}/{asset}", check, day(n), (f(n),), NOW)
        for check, asset, f in (
            ("anomaly", "anomalies", anomaly),
            ("cost_budget", "token_costs", cost),
        )
    ]
    context = AlertContext({MONITOR: config}, "http://dagster.test", NOW)
    for evaluation in evaluations:
        ingest_run(store, evaluation.run_id, [evaluation], context)


def thread_of(store: AlertRepository, check: str) -> list[Alert]:
    return [a for a in store.alerts() if a.check == check]


def test_a_cost_failing_on_weekdays_only_is_one_incident_reopened_after_each_weekend(
    store: AlertRepository,
) -> None:
    for n in range(1, DAYS + 1):
        run_day(store, n)

    incidents = {i.check: i for i in store.incidents()}
    assert sorted(incidents) == ["anomaly", "cost_budget"]
    budget, root = incidents["cost_budget"], incidents["anomaly"]
    assert budget.parent_id == root.id and root.parent_id is None
    assert (budget.first_partition, budget.last_failing_partition) == (day(8), day(19))
    assert budget.failing_partitions == len(COST_FAILS) == 10
    assert budget.status is IncidentStatus.RESOLVED and budget.resolved_partition == day(21)
    assert (root.first_partition, root.last_failing_partition) == (day(8), day(17))
    assert root.status is IncidentStatus.RESOLVED and root.resolved_partition == day(21)

    alerts = store.alerts()
    assert [a.kind for a in alerts].count(AlertKind.OPEN) == 1  # one first message
    assert {a.incident_id for a in alerts} == {root.id}  # one thread
    reopened = [a for a in alerts if "|reopen|" in a.alert_key]
    assert [(a.check, a.partition) for a in reopened] == [
        ("anomaly", day(15)),
        ("cost_budget", day(15)),
    ]
    said = {a.check: str(a.message["text"]) for a in reopened}
    assert said["cost_budget"].startswith(
        f"Reopened (cost over budget): failing again on {day(15)}: cost $4.15 "
    )
    assert "(6 failing partitions since 2026-05-11)" in said["cost_budget"]
    assert said["anomaly"].startswith(
        f"Reopened (change from baseline): failing again on {day(15)}: cost_per_request"
    )
    assert "(6 failing partitions since 2026-05-11)" in said["anomaly"]


def test_every_reply_quotes_the_figures_of_the_check_it_speaks_of(
    store: AlertRepository,
) -> None:
    """Updates, reopenings and resolutions of a problem with two checks: each message's
    finding is its own check's recorded verdict of the day it names, and the failing count it
    states is its own incident's."""
    for n in range(1, DAYS + 1):
        run_day(store, n)
    findings = {"cost_budget": cost, "anomaly": anomaly}
    incidents = {i.check: i for i in store.incidents()}
    for alert in store.alerts():
        facts = alert.message.get("finding")
        partition = str(alert.message.get("partition") or alert.partition)
        own = findings[alert.check](number(partition))
        if isinstance(facts, dict):
            assert facts["summary"] == own.summary, (alert.alert_key, facts, own)
        if alert.kind is not AlertKind.RESOLVE:  # a resolution quotes no failing finding
            text = str(alert.message["text"]).replace("\xad&gt;", ">")
            assert own.summary in text, (alert.alert_key, text)
        counted = re.search(
            r"\((\d+) failing partitions? since ([0-9-]+)\)", str(alert.message["text"])
        )
        if counted:
            failing = incidents[alert.check]
            assert counted.group(2) == failing.first_partition, alert.message["text"]
            through = [
                n
                for n in (COST_FAILS if alert.check == "cost_budget" else ANOMALY_FAILS)
                if day(n) <= partition
            ]
            assert int(counted.group(1)) == len(through), alert.message["text"]


def problem(store: AlertRepository) -> tuple[list[tuple[str, str, str, int]], str | None]:
    """Each check's failing extent, and where the problem (its root incident) resolved. Which
    check's incident is the root follows which failure was recorded first."""
    incidents = [i for i in store.incidents() if i.active or i.failing_partitions]
    extents = sorted(
        (i.check, i.first_partition, i.last_failing_partition, i.failing_partitions)
        for i in incidents
    )
    [root] = [i for i in incidents if i.parent_id is None]
    alerts = store.alerts()
    assert {a.incident_id for a in alerts} == {root.id}  # one thread
    assert [a.kind for a in alerts].count(AlertKind.OPEN) == 1
    return extents, root.resolved_partition


def test_the_weekday_cost_reaches_the_same_incidents_in_any_order(store: AlertRepository) -> None:
    """A backfill records the days in any order (a Monday before the weekend before it):
    each check's incident spans the same failing days, in one thread, resolved once the last
    check cleared (day 21), never on a failing day."""
    for n in range(1, DAYS + 1):
        run_day(store, n, tag="daily-")
    daily = problem(store)
    assert daily == (
        [
            ("anomaly", day(8), day(17), len(ANOMALY_FAILS)),
            ("cost_budget", day(8), day(19), len(COST_FAILS)),
        ],
        day(21),
    )
    for seed in range(3):
        store_days = list(range(1, DAYS + 1))
        random.Random(seed).shuffle(store_days)
        with store.transaction() as conn:
            for table in (t.alerts, t.incidents, t.check_results, t.processed_runs):
                conn.execute(table.delete())
        for n in store_days:
            run_day(store, n, tag=f"late{seed}-")
            for incident in store.incidents():
                resolved = incident.resolved_partition
                if resolved is not None and incident.failing_partitions:
                    fails = COST_FAILS if incident.check == "cost_budget" else ANOMALY_FAILS
                    assert number(resolved) not in fails, (store_days, incident)
        assert problem(store) == daily, store_days


def test_without_a_reopen_window_each_week_is_an_incident_of_its_own(
    store: AlertRepository,
) -> None:
    """``reopen_within_days: 0`` for one check keeps the former behaviour for that check."""
    config = AlertsConfig(
        slack_channel="#ml-alerts",
        paging_horizon_days=60,
        policies={"cost_budget": PolicyConfig(reopen_within_days=0)},
    )
    for n in range(1, DAYS + 1):
        run_day(store, n, config)
    budgets = [i for i in store.incidents() if i.check == "cost_budget"]
    assert [(i.first_partition, i.last_failing_partition) for i in budgets] == [
        (day(8), day(12)),
        (day(15), day(19)),
    ]
    [anomalies] = [i for i in store.incidents() if i.check == "anomaly"]
    assert (anomalies.first_partition, anomalies.last_failing_partition) == (day(8), day(17))


def test_a_member_failing_again_reopens_the_problem_it_joined_in_the_same_thread(
    store: AlertRepository,
) -> None:
    """The root's own check stays clear; its member fails again after both resolved: the
    root reopens to carry it (no second first message), and resolves again when it clears."""
    context = AlertContext({MONITOR: CONFIG}, "http://dagster.test", NOW)

    def record(n: int, check: str, subject: str, passed: bool, summary: str) -> None:
        finding = Finding(subject, passed, Severity.WARN, 1.0, 0.5, summary)
        run = f"{check}-{n}"
        found = Evaluation(run, MONITOR, f"{MONITOR}/{check}", check, day(n), (finding,), NOW)
        ingest_run(store, run, [found], context)

    for n in range(1, 12):
        record(n, "anomaly", "latency_p95_ms", n not in (1, 2), f"p95 anomaly on day {n}")
        slo_fails = n in (1, 2, 3, 8)
        record(n, "latency_slo", WHOLE, not slo_fails, f"p95 {n}00 ms against the SLO")
        if n == 6:
            assert all(not i.active for i in store.incidents())

    root, member = store.incidents()
    assert (root.check, member.check, member.parent_id) == ("anomaly", "latency_slo", root.id)
    assert (member.first_partition, member.last_failing_partition) == (day(1), day(8))
    assert member.resolved_partition == day(10) and root.resolved_partition == day(10)
    alerts = store.alerts()
    assert {a.incident_id for a in alerts} == {root.id}
    assert [a.kind for a in alerts].count(AlertKind.OPEN) == 1
    [reopened] = [a for a in alerts if "|reopen|" in a.alert_key]
    assert str(reopened.message["text"]).startswith(
        f"Reopened (latency above SLO): failing again on {day(8)}: p95 800 ms against the SLO"
    )
    resolutions = [a for a in alerts if a.kind is AlertKind.RESOLVE]
    assert [a.partition for a in resolutions] == [day(5), day(10)]
    for said in resolutions:  # the root's own check, on the day named
        assert said.message["finding"]["summary"] == f"p95 anomaly on day {number(said.partition)}"


def test_a_reopened_critical_incident_pages_again_through_pagerduty_and_replies_in_slack(
    store: AlertRepository,
) -> None:
    """PagerDuty resolved the alert when the incident resolved: the reopening triggers it
    again (same incident, same dedup key); Slack gets a reply, not a second first message."""
    config = AlertsConfig(
        slack_channel="#ml-alerts", paging_horizon_days=60, pagerduty=PagerDutyConfig()
    )
    context = AlertContext({MONITOR: config}, "http://dagster.test", NOW)
    for n, passed in [(1, False), (2, True), (3, True), (6, False), (7, True), (8, True)]:
        finding = Finding(WHOLE, passed, Severity.CRITICAL, 0.1, 0.02, f"error rate on day {n}")
        run = f"errors-{n}"
        found = Evaluation(
            run, MONITOR, f"{MONITOR}/service", "error_rate", day(n), (finding,), NOW
        )
        ingest_run(store, run, [found], context)

    [incident] = store.incidents()
    assert incident.status is IncidentStatus.RESOLVED and incident.failing_partitions == 2
    paged = [
        (a.kind, a.message["pagerduty"]["action"])
        for a in store.alerts()
        if a.target is Target.PAGERDUTY
    ]
    assert paged == [
        (AlertKind.OPEN, "trigger"),
        (AlertKind.RESOLVE, "resolve"),
        (AlertKind.OPEN, "trigger"),
        (AlertKind.RESOLVE, "resolve"),
    ]
    slack = [a.kind for a in store.alerts() if a.target is Target.SLACK]
    assert slack == [AlertKind.OPEN, AlertKind.RESOLVE, AlertKind.UPDATE, AlertKind.RESOLVE]


def test_a_backfill_summary_quotes_each_incident_with_its_own_check(store: AlertRepository) -> None:
    """The budget joined the anomaly's incident and is further past its threshold; the
    summary's line of that incident (titled by the anomaly) quotes the anomaly's finding."""
    context = AlertContext({MONITOR: CONFIG}, "http://dagster.test", NOW)
    for n in (1, 2):
        z = Finding("cost_per_request", False, Severity.WARN, 4.4, 4.0, f"z 4.4 on day {n}")
        spent = Finding(WHOLE, False, Severity.WARN, 7.0, 3.5, f"cost $7.00 on day {n}")
        runs = [
            Evaluation(
                f"a{n}", MONITOR, f"{MONITOR}/anomalies", "anomaly", day(n), (z,), NOW, "bf"
            ),
            Evaluation(
                f"c{n}",
                MONITOR,
                f"{MONITOR}/token_costs",
                "cost_budget",
                day(n),
                (spent,),
                NOW,
                "bf",
            ),
        ]
        for run in runs:
            ingest_run(store, run.run_id, [run], context)
    assert release_summaries(store, lambda _: True, NOW) == ["bf"]
    [summary] = [a for a in store.alerts() if a.kind is AlertKind.SUMMARY]
    text = "\n".join(
        str(block["text"]["text"]) for block in summary.message["blocks"] if "text" in block
    )
    assert "change from baseline in cost_per_request" in text
    assert "strongest on 2026-05-05: z 4.4 on day 2" in text
    assert "cost $7.00" not in text


def test_a_problem_resolution_says_only_what_its_first_check_did(store: AlertRepository) -> None:
    """Drift in a column (2 of 3, resolve after 3) clears on day 5; the same column in one
    segment joined it and clears on day 11; the column alone failed once more on day 7, too
    briefly to count. The problem resolves on day 11, and its message says the column passed
    through day 6: not "on every partition" through day 11, past day 7's failure."""
    context = AlertContext({MONITOR: CONFIG}, "http://dagster.test", NOW)
    column_fails, segment_fails = {1, 2, 7}, set(range(2, 9))
    for n in range(1, 12):
        findings = []
        for subject, fails in (("amount", column_fails), ("amount@tenant=acme", segment_fails)):
            passed = n not in fails
            value = 0.05 if passed else 0.35
            findings.append(
                Finding(subject, passed, Severity.WARN, value, 0.2, f"PSI {value} on {n}")
            )
        found = Evaluation(
            f"drift-{n}", MONITOR, f"{MONITOR}/feature_drift", "feature_drift", day(n),
            tuple(findings), NOW,
        )  # fmt: skip
        ingest_run(store, found.run_id, [found], context)

    root, member = store.incidents()
    assert (root.subject, member.subject, member.parent_id) == (
        "amount",
        "amount@tenant=acme",
        root.id,
    )
    assert root.resolved_partition == member.resolved_partition == day(11)
    [resolved] = [a for a in store.alerts() if a.kind is AlertKind.RESOLVE]
    text = str(resolved.message["text"])
    assert f"passed on every partition after {day(2)} through {day(6)}" in text, text
    assert resolved.message["finding"]["summary"] == "PSI 0.05 on 6"  # the column's own day 6
