"""The alerting pass over a real Dagster instance: runs in, incidents and alerts out, once.

A tiny partitioned asset carries a per-partition ``feature_drift`` check whose result holds the
product's ``findings`` metadata (built with ``assets.common.check_result``); runs execute in
process against a temporary SQLite Dagster instance.
"""

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import delete

from assets.common import check_result, check_specs
from monitoring_pipelines.cli import main
from monitoring_pipelines.core.alerting.model import AlertKind, DeliveryStatus, IncidentStatus
from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.checks import CheckOutcome, Finding
from monitoring_pipelines.core.config import AlertsConfig, Severity
from monitoring_pipelines.core.store import tables as t
from monitoring_pipelines.sensors.alerting import NotifierDown, alerting_sensor
from monitoring_pipelines.sensors.alerting_pass import CURSOR, run_alerting
from resources import PagerDutyResource, ResultStoreResource, SlackResource
from tests.fakes.slack_server import FakeSlack, Fault, fake_slack_fixture  # noqa: F401

pytestmark = [
    pytest.mark.filterwarnings("ignore::dagster.PreviewWarning"),
    pytest.mark.filterwarnings("ignore::dagster.BetaWarning"),
]

MONITOR = "shop"
KEY = dg.AssetKey([MONITOR, "scores"])
TODAY = datetime.now(UTC).date()
PARTITIONS = dg.DailyPartitionsDefinition(
    start_date=(TODAY - timedelta(days=30)).isoformat(), timezone="UTC"
)
ALERTS = {MONITOR: AlertsConfig(slack_channel="#ml-alerts")}  # the default 3-day horizon
DAGSTER = "http://dagster.test"
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # per-partition checks are a Dagster preview
    SPECS = check_specs(["feature_drift"], KEY, PARTITIONS)


class ScoresConfig(dg.Config):
    """How the run goes: drifted input, or a missing table."""

    drift: bool = False
    fail: bool = False


@dg.asset(key=KEY, partitions_def=PARTITIONS, check_specs=SPECS)
def scores(config: ScoresConfig) -> dg.MaterializeResult:
    """Model scores of the day."""
    if config.fail:
        raise dg.Failure(description="warehouse table shop.requests is missing")
    value = 0.31 if config.drift else 0.04
    finding = Finding("amount", not config.drift, Severity.WARN, value, 0.2, f"PSI {value}")
    outcome = CheckOutcome("feature_drift", (finding,), f"PSI {value} on amount")
    return dg.MaterializeResult(check_results=[check_result(outcome, KEY)])


def day(days_ago: int) -> str:
    """A day counted back from today when called (the pass measures its horizon from now, so a
    date taken when the module was imported is wrong once the suite runs past midnight UTC)."""
    return (datetime.now(UTC).date() - timedelta(days=days_ago)).isoformat()


def execute(
    instance: dg.DagsterInstance, days_ago: int, **config: bool
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [scores],
        instance=instance,
        partition_key=day(days_ago),
        run_config={"ops": {"shop__scores": {"config": config}}, **QUIET},
        raise_on_error=False,
    )


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    home = tmp_path / "dagster"
    home.mkdir()
    with dg.DagsterInstance.local_temp(str(home)) as local:
        yield local


@pytest.fixture
def drifted(instance: dg.DagsterInstance) -> dg.DagsterInstance:
    """Three runs: drift 4 and 3 days ago, none 2 days ago (the last day is yesterday's)."""
    for days_ago, drift in [(4, True), (3, True), (2, False)]:
        assert execute(instance, days_ago, drift=drift).success
    return instance


# -- the pass ------------------------------------------------------------------------------


def test_check_evaluations_become_an_incident_and_a_stored_alert(
    drifted: dg.DagsterInstance, store: AlertRepository
) -> None:
    report = run_alerting(drifted, store, ALERTS, DAGSTER, None)

    assert report.ingest.runs == 3
    assert report.ingest.evaluations == 6  # the check and the materialization of each run
    assert report.delivery.waiting == 1
    [incident] = store.incidents()
    assert incident.fingerprint == "shop/feature_drift/amount"
    assert (incident.first_partition, incident.last_failing_partition) == (day(4), day(3))
    [alert] = store.alerts()
    assert (alert.kind, alert.status, alert.partition) == (
        AlertKind.OPEN,
        DeliveryStatus.PENDING,
        day(3),
    )
    run_ids = {r.run_id for r in drifted.get_runs()}
    assert any(f"{DAGSTER}/runs/{run_id}" in str(alert.message) for run_id in run_ids)
    assert f"{DAGSTER}/assets/shop/scores?view=partitions&partition={day(3)}" in str(alert.message)
    assert store.get_cursor(CURSOR) == report.cursor is not None


def test_a_second_pass_replays_nothing_even_without_the_cursor(
    drifted: dg.DagsterInstance, store: AlertRepository
) -> None:
    run_alerting(drifted, store, ALERTS, DAGSTER, None)
    incidents, alerts = store.incidents(), store.alerts()

    again = run_alerting(drifted, store, ALERTS, DAGSTER, None)
    assert (again.ingest.runs, again.ingest.evaluations, again.ingest.alerts_stored) == (0, 0, 0)

    with store.transaction() as conn:  # a sensor restart that lost its state
        conn.execute(delete(t.cursors))
    assert store.get_cursor(CURSOR) is None
    restarted = run_alerting(drifted, store, ALERTS, DAGSTER, None)

    assert (restarted.ingest.runs, restarted.ingest.evaluations) == (0, 0)
    assert restarted.cursor is not None
    assert store.incidents() == incidents
    assert store.alerts() == alerts


def test_only_new_runs_are_ingested_by_a_later_pass(
    drifted: dg.DagsterInstance, store: AlertRepository
) -> None:
    run_alerting(drifted, store, ALERTS, DAGSTER, None)
    assert execute(drifted, 1, drift=True).success

    later = run_alerting(drifted, store, ALERTS, DAGSTER, None)

    assert later.ingest.runs == 1
    assert [(a.kind, a.partition) for a in store.alerts()] == [
        (AlertKind.OPEN, day(3)),
        (AlertKind.UPDATE, day(1)),
    ]


def test_a_failed_run_opens_an_incident_that_a_successful_rerun_resolves(
    instance: dg.DagsterInstance, store: AlertRepository
) -> None:
    assert not execute(instance, 3, fail=True).success
    failed = run_alerting(instance, store, ALERTS, DAGSTER, None)

    assert len(failed.ingest.opened) == 1
    [incident] = store.incidents()
    assert incident.fingerprint == "shop/run_failure/scores"
    assert incident.severity is Severity.CRITICAL
    assert incident.first_partition == day(3)
    [alert] = store.alerts()
    assert "warehouse table shop.requests is missing" in str(alert.message["text"])

    assert execute(instance, 3).success  # the rerun succeeds: no partition fails any more
    rerun = run_alerting(instance, store, ALERTS, DAGSTER, None)
    assert rerun.ingest.runs == 1 and rerun.ingest.resolved == [incident.id]
    done = store.get_incident(incident.id)
    assert done is not None and done.status is IncidentStatus.RESOLVED
    assert done.resolved_partition == day(3)

    assert execute(instance, 2).success
    assert execute(instance, 1).success
    later = run_alerting(instance, store, ALERTS, DAGSTER, None)

    assert later.ingest.resolved == [] and store.get_incident(incident.id) == done
    assert [a.kind for a in store.alerts()] == [AlertKind.OPEN, AlertKind.RESOLVE]
    assert len(store.incidents()) == 1


def test_runs_of_monitors_absent_from_the_configuration_are_processed_but_ignored(
    drifted: dg.DagsterInstance, store: AlertRepository
) -> None:
    report = run_alerting(drifted, store, {"other": AlertsConfig()}, DAGSTER, None)

    assert report.ingest.runs == 3 and report.ingest.evaluations == 0
    assert store.incidents() == [] and store.alerts() == []


# -- the sensor ------------------------------------------------------------------------------


def test_the_sensor_ingests_sends_and_reports(
    drifted: dg.DagsterInstance,
    store_url: str,
    fake_slack: FakeSlack,
) -> None:
    sensor = alerting_sensor(ALERTS, DAGSTER)
    resources = {
        "result_store": ResultStoreResource(url=store_url),
        "slack": SlackResource(token=fake_slack.token, base_url=fake_slack.base_url),
        "pagerduty": PagerDutyResource(),
    }

    with dg.build_sensor_context(instance=drifted, resources=resources) as context:
        result = sensor(context)
        cursor = context.cursor

    assert isinstance(result, dg.SensorResult) and result.skip_reason is not None
    assert result.run_requests == []  # the runs' days are history: no report requested
    message = result.skip_reason.skip_message or ""
    assert message.startswith("3 run(s) ingested (6 evaluations), incidents opened 1")
    assert "alerts stored 1, sent 1" in message
    assert cursor is not None
    store = AlertRepository.connect(store_url)
    try:
        [alert] = store.alerts()
        assert alert.status is DeliveryStatus.SENT
        assert store.get_cursor(CURSOR) == cursor
    finally:
        store.dispose()
    [message] = fake_slack.messages("#ml-alerts")
    assert message.ts == alert.slack_ts

    with dg.build_sensor_context(instance=drifted, resources=resources, cursor=cursor) as context:
        second = sensor(context)
    assert isinstance(second, dg.SensorResult) and second.skip_reason is not None
    assert (second.skip_reason.skip_message or "").startswith("0 run(s) ingested")
    assert len(fake_slack.messages("#ml-alerts")) == 1


def test_the_sensor_without_slack_leaves_alerts_waiting(
    drifted: dg.DagsterInstance, store_url: str
) -> None:
    resources = {
        "result_store": ResultStoreResource(url=store_url),
        "slack": SlackResource(),
        "pagerduty": PagerDutyResource(),
    }

    with dg.build_sensor_context(instance=drifted, resources=resources) as context:
        result = alerting_sensor(ALERTS, DAGSTER)(context)

    assert isinstance(result, dg.SensorResult) and result.skip_reason is not None
    message = result.skip_reason.skip_message or ""
    assert "alerts stored 1, sent 0" in message
    assert message.endswith("waiting 1")


def test_the_sensor_tick_fails_while_slack_is_down_and_recovers(
    drifted: dg.DagsterInstance, store_url: str, fake_slack: FakeSlack
) -> None:
    sensor = alerting_sensor(ALERTS, DAGSTER)
    resources = {
        "result_store": ResultStoreResource(url=store_url),
        "slack": SlackResource(token=fake_slack.token, base_url=fake_slack.base_url),
        "pagerduty": PagerDutyResource(),
    }
    fake_slack.script("chat.postMessage", Fault(status=503))

    failing = pytest.raises(NotifierDown, match=r"slack delivery failing since .*HTTP 503")
    with dg.build_sensor_context(instance=drifted, resources=resources) as context, failing:
        sensor(context)

    store = AlertRepository.connect(store_url)
    try:
        [alert] = store.alerts()
        assert alert.status is DeliveryStatus.PENDING and alert.attempts >= 1
        store.set_alert(alert.id, next_attempt_at=None)  # due again now
    finally:
        store.dispose()
    with dg.build_sensor_context(instance=drifted, resources=resources) as context:
        recovered = sensor(context)
    assert isinstance(recovered, dg.SensorResult)
    assert len(fake_slack.messages("#ml-alerts")) == 1


# -- the CLI ---------------------------------------------------------------------------------


def cli(store_url: str, tmp_path: Path, *args: str) -> Result:
    env = {"MONITORING_STORE_URL": store_url, "MONITORING_HOME": str(tmp_path / "home")}
    return CliRunner().invoke(main, list(args), env=env)


def test_cli_lists_acknowledges_and_resolves(
    drifted: dg.DagsterInstance, store: AlertRepository, store_url: str, tmp_path: Path
) -> None:
    assert execute(drifted, 1, fail=True).success is False
    run_alerting(drifted, store, ALERTS, DAGSTER, None)
    drift, failure = store.incidents()

    listed = cli(store_url, tmp_path, "alerts")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[-1] == "2 alert(s)"
    assert any("pending" in line and "shop: input drift in amount" in line for line in lines)
    assert any(day(1) in line and "pipeline run failed" in line for line in lines)

    pending = cli(store_url, tmp_path, "alerts", "--status", "sent")
    assert pending.output.splitlines() == ["0 alert(s)"]

    shown = cli(store_url, tmp_path, "incidents")
    assert shown.exit_code == 0
    out = shown.output
    assert f"#{drift.id:<4} open" in out and f"{day(4)}..{day(3)} (2 failing)" in out
    assert out.splitlines()[-1] == "2 incident(s)"

    acked = cli(store_url, tmp_path, "incidents", "ack", str(drift.id), "--by", "alice")
    assert acked.exit_code == 0
    assert f"incident #{drift.id} acknowledged by alice" in acked.output
    after_ack = store.get_incident(drift.id)
    assert after_ack is not None
    assert (after_ack.status, after_ack.acknowledged_by) == (IncidentStatus.ACKNOWLEDGED, "alice")

    resolved = cli(store_url, tmp_path, "incidents", "resolve", str(failure.id), "--by", "bob")
    assert resolved.exit_code == 0
    after_resolve = store.get_incident(failure.id)
    assert after_resolve is not None
    assert after_resolve.status is IncidentStatus.RESOLVED
    assert after_resolve.resolved_at is not None

    only_open = cli(store_url, tmp_path, "incidents", "--status", "acknowledged")
    assert only_open.output.splitlines()[-1] == "1 incident(s)"


def test_cli_refuses_unknown_and_resolved_incidents(
    store: AlertRepository, store_url: str, tmp_path: Path
) -> None:
    unknown = cli(store_url, tmp_path, "incidents", "ack", "999")
    assert unknown.exit_code == 2
    assert "no incident #999" in unknown.stderr

    with store.transaction() as conn:
        done = store.open_incident(
            conn,
            fingerprint="shop/volume",
            monitor=MONITOR,
            check_name="volume",
            subject="",
            severity="warn",
            first_partition=day(5),
            last_failing_partition=day(5),
            failing_partitions=1,
            title="shop: traffic volume",
        )
        store.update_incident(conn, done.id, status=IncidentStatus.RESOLVED.value)
    again = cli(store_url, tmp_path, "incidents", "resolve", str(done.id))
    assert again.exit_code == 2
    assert "already resolved" in again.stderr


def test_alerting_run_replay_sends_each_mornings_messages_in_order(
    drifted: dg.DagsterInstance, store: AlertRepository, store_url: str, tmp_path: Path
) -> None:
    """`monitoring alerting run --replay`: the days not alerted on yet, one morning at a time."""
    config = tmp_path / "monitors.yaml"
    config.write_text(
        f"monitors:\n  {MONITOR}:\n    start_date: {day(30)}\n"
        "    source: {table: requests, timestamp_column: ts}\n"
        "    service: {latency_column: latency_ms}\n"
        "    alerts: {slack_channel: '#ml-alerts'}\n"
    )
    env = {
        "MONITORING_STORE_URL": store_url,
        "MONITORING_HOME": str(tmp_path / "home"),
        "MONITORING_CONFIG": str(config),
        "MONITORING_ALERTS_FILE": str(tmp_path / "messages.jsonl"),
        "DAGSTER_HOME": drifted.root_directory,
    }
    replayed = CliRunner().invoke(main, ["alerting", "run", "--replay"], env=env)
    assert replayed.exit_code == 0, replayed.output

    sent = sorted(store.alerts([DeliveryStatus.SENT]), key=lambda a: a.id)
    assert [(a.kind, a.partition) for a in sent] == [
        (AlertKind.OPEN, day(3)),  # 2 failing days of 3: opened the morning after the second
    ]
    mornings = [a.sent_at.replace(tzinfo=UTC) for a in sent if a.sent_at]
    assert mornings == [datetime.fromisoformat(day(2)).replace(hour=1, tzinfo=UTC)]
    again = CliRunner().invoke(main, ["alerting", "run", "--replay"], env=env)
    assert again.exit_code == 0 and len(store.alerts()) == len(sent)  # nothing taken twice
