"""Delivery faults: alerts with no destination, PagerDuty keys per monitor, and a destination
that rate-limits or hangs, over real HTTP (FakeSlack, FakePagerDuty) on SQLite and PostgreSQL.

Passes are measured by the HTTP requests they make, never by wall time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner, Result

from monitoring_pipelines.cli import main
from monitoring_pipelines.core.alerting.delivery import DeliveryPolicy, deliver
from monitoring_pipelines.core.alerting.ingest import AlertContext, ingest_runs
from monitoring_pipelines.core.alerting.model import (
    Alert,
    AlertKind,
    DeliveryStatus,
    Evaluation,
    Target,
)
from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.checks import WHOLE, Finding
from monitoring_pipelines.core.config import AlertsConfig, PagerDutyConfig, Severity
from monitoring_pipelines.core.config_loading import load_config
from monitoring_pipelines.core.errors import ConfigError
from monitoring_pipelines.core.notify.pagerduty import PagerDutyNotifier
from monitoring_pipelines.core.notify.slack import SlackNotifier
from monitoring_pipelines.core.settings import Settings
from monitoring_pipelines.definitions import build_definitions
from monitoring_pipelines.sensors.alerting_pass import mark_backfill_finished
from tests.fakes.pagerduty_server import FakePagerDuty, fake_pagerduty_fixture  # noqa: F401
from tests.fakes.slack_server import FakeSlack, Fault

pytestmark = [
    pytest.mark.filterwarnings("ignore::dagster.PreviewWarning"),
    pytest.mark.filterwarnings("ignore::dagster.BetaWarning"),
]

CHANNEL, CHANNEL_ID = "#ml-alerts", "C0ALERTS"
DAGSTER = "http://dagster.test"
POLICY = DeliveryPolicy(max_attempts=5, backoff_s=30.0, in_doubt_after_s=120)
TEAM_A_KEY = "a" * 16 + "0123456789abcdef"  # well-formed 32-character routing keys
TEAM_B_KEY = "b" * 16 + "0123456789abcdef"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(first_ts=int(time.time())) as fake:
        yield fake


def slack_notifier(fake: FakeSlack, *, timeout_s: float = 5.0) -> SlackNotifier:
    """The notifier as the product builds it (slack_sdk's own retries included)."""
    return SlackNotifier(fake.token, base_url=fake.base_url, timeout_s=timeout_s)


def failing(monitor: str, *, backfill: str | None = None, days_ago: int = 1) -> Evaluation:
    """A critical latency finding (it pages on its first failing day)."""
    partition = (datetime.now(UTC).date() - timedelta(days=days_ago)).isoformat()
    return Evaluation(
        run_id=f"run-{monitor}-{partition}-{backfill}",
        monitor=monitor,
        asset=f"{monitor}/service_metrics",
        check="latency_slo",
        partition=partition,
        findings=(Finding(WHOLE, False, Severity.CRITICAL, 900.0, 500.0, "p95 900 ms"),),
        evaluated_at=datetime.now(UTC),
        backfill_id=backfill,
    )


def ingest(
    store: AlertRepository, alerts: dict[str, AlertsConfig], evaluations: list[Evaluation]
) -> None:
    context = AlertContext(alerts, DAGSTER, datetime.now(UTC))
    ingest_runs(store, [(e.run_id, [e]) for e in evaluations], context)


def alert(store: AlertRepository, alert_id: int) -> Alert:
    found = store.get_alert(alert_id)
    assert found is not None
    return found


def posts(fake: FakeSlack) -> int:
    return len(fake.requests("chat.postMessage"))


MONITOR_FILE = """
monitors:
{monitors}
"""
MONITOR = """  {name}:
    start_date: 2026-09-01
    source: {{table: {name}_requests, timestamp_column: ts}}
    service: {{latency_column: latency_ms}}
    alerts: {alerts}
"""


def monitor_file(tmp_path: Path, **monitors: str) -> Path:
    """A monitor file with a service monitor per keyword, its ``alerts`` section as given."""
    body = "".join(MONITOR.format(name=n, alerts=a) for n, a in monitors.items())
    path = tmp_path / "monitors.yaml"
    path.write_text(MONITOR_FILE.format(monitors=body), encoding="utf-8")
    return path


def cli(tmp_path: Path, config: Path, store_url: str, *args: str, **env: str | None) -> Result:
    base: dict[str, str | None] = {
        "MONITORING_CONFIG": str(config),
        "MONITORING_STORE_URL": store_url,
        "MONITORING_HOME": str(tmp_path / "home"),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "SLACK_BOT_TOKEN": None,
        "SLACK_API_URL": None,
        "MONITORING_ALERTS_FILE": None,
        "PAGERDUTY_EVENTS_URL": None,
    }
    return CliRunner().invoke(main, list(args), env={**base, **env})


# -- 10: alerts with no destination ------------------------------------------------------------


def test_alerts_without_a_channel_reach_the_alerts_file_or_are_shown_undeliverable(
    store: AlertRepository, store_url: str, tmp_path: Path, slack: FakeSlack
) -> None:
    """Item 10: without alerts.slack_channel live alerts waited forever as pending and
    MONITORING_ALERTS_FILE wrote nothing."""
    config = monitor_file(tmp_path, quiet="{}", loud=f'{{slack_channel: "{CHANNEL}"}}')
    alerts = {name: m.alerts for name, m in load_config(config, {}).monitors.items()}
    ingest(store, alerts, [failing("quiet"), failing("loud")])
    quiet, loud = (next(a for a in store.alerts() if a.monitor == m) for m in ("quiet", "loud"))
    alerts_file = tmp_path / "alerts.jsonl"

    slack_pass = cli(
        tmp_path, config, store_url, "alerting", "run",
        SLACK_BOT_TOKEN=slack.token, SLACK_API_URL=slack.base_url,
    )  # fmt: skip

    assert slack_pass.exit_code == 0, slack_pass.output
    assert "sent 1" in slack_pass.output and "undeliverable 1, waiting 0" in slack_pass.output
    assert "1 alert(s) undeliverable" in slack_pass.output
    assert alert(store, loud.id).status is DeliveryStatus.SENT
    stuck = alert(store, quiet.id)
    assert stuck.status is DeliveryStatus.UNDELIVERABLE
    assert "'quiet' has no alerts.slack_channel" in (stuck.reason or "")
    assert posts(slack) == 1
    listed = cli(tmp_path, config, store_url, "alerts", "--status", "undeliverable")
    assert f"#{quiet.id}" in listed.output and "undeliverable" in listed.output
    assert "has no alerts.slack_channel" in listed.output

    store.set_alert(quiet.id, status=DeliveryStatus.PENDING.value, reason=None)
    file_pass = cli(
        tmp_path, config, store_url, "alerting", "run", MONITORING_ALERTS_FILE=str(alerts_file)
    )

    assert file_pass.exit_code == 0, file_pass.output
    assert alert(store, quiet.id).status is DeliveryStatus.SENT
    [written] = [json.loads(line) for line in alerts_file.read_text().splitlines()]
    assert written["delivery_id"] == f"alert-{quiet.id}" and written["channel"] == ""
    assert written["text"] == quiet.message["text"]


def test_a_backfill_without_a_channel_summarises_somewhere_that_exists(
    store: AlertRepository, store_url: str, tmp_path: Path, slack: FakeSlack
) -> None:
    """Item 10: a backfill reported "digested ... listed in the backfill's one summary" and no
    summary or file existed."""
    config = monitor_file(tmp_path, quiet="{paging_horizon_days: 30}")
    alerts = {name: m.alerts for name, m in load_config(config, {}).monitors.items()}
    ingest(store, alerts, [failing("quiet", backfill="bf-1", days_ago=d) for d in (9, 8, 7)])
    mark_backfill_finished(store, "bf-1")
    alerts_file = tmp_path / "alerts.jsonl"

    result = cli(
        tmp_path, config, store_url, "alerting", "run", MONITORING_ALERTS_FILE=str(alerts_file)
    )

    assert result.exit_code == 0, result.output
    digested = store.alerts([DeliveryStatus.DIGESTED])
    assert digested and all(
        "listed in the backfill's one summary" in (a.reason or "") for a in digested
    )
    [summary] = [a for a in store.alerts() if a.kind is AlertKind.SUMMARY]
    assert summary.status is DeliveryStatus.SENT and summary.backfill_id == "bf-1"
    [written] = [json.loads(line) for line in alerts_file.read_text().splitlines()]
    assert written["delivery_id"] == f"alert-{summary.id}"
    listed = summary.message.get("incident_ids")
    assert isinstance(listed, list) and {a.incident_id for a in digested} <= set(listed)

    # With Slack, which needs a channel, the same summary is shown undeliverable, not pending.
    store.set_alert(summary.id, status=DeliveryStatus.PENDING.value)
    report = deliver(store, slack_notifier(slack), datetime.now(UTC), POLICY)
    assert report.undeliverable == [summary.id] and posts(slack) == 0
    assert alert(store, summary.id).status is DeliveryStatus.UNDELIVERABLE


def test_validate_config_warns_about_each_monitor_with_nowhere_to_send(
    tmp_path: Path, store_url: str
) -> None:
    """Item 10: validate-config said nothing of a monitor whose alerts have nowhere to go."""
    config = monitor_file(
        tmp_path,
        routed=f'{{slack_channel: "{CHANNEL}"}}',
        silent="{}",
        paged_only="{pagerduty: {routing_key_env: TEAM_A_PD_KEY}}",
    )

    result = cli(tmp_path, config, store_url, "validate-config", "--offline")

    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("WARNING:")]
    assert len(warnings) == 2, result.output
    assert "monitor 'silent' has nowhere to send alerts" in warnings[0]
    assert "monitor 'paged_only' has no alerts.slack_channel" in warnings[1]
    assert "routed: Slack #ml-alerts" in result.output


# -- 13: a PagerDuty routing key per monitor ---------------------------------------------------


@pytest.mark.parametrize("via", ["sensor", "cli"])
def test_each_monitor_pages_with_its_own_routing_key(
    via: str,
    store: AlertRepository,
    store_url: str,
    tmp_path: Path,
    fake_pagerduty: FakePagerDuty,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Item 13: different routing keys per monitor made the definitions refuse to load, and the
    CLI paged every monitor with the first monitor's key (team B paged on team A's service)."""
    config_path = monitor_file(
        tmp_path,
        team_a=f'{{slack_channel: "{CHANNEL}", pagerduty: {{routing_key_env: TEAM_A_PD_KEY}}}}',
        team_b=f'{{slack_channel: "{CHANNEL}", pagerduty: {{routing_key_env: TEAM_B_PD_KEY}}}}',
    )
    env = {
        "MONITORING_CONFIG": str(config_path),
        "MONITORING_STORE_URL": store_url,
        "MONITORING_HOME": str(tmp_path / "home"),
        "PAGERDUTY_EVENTS_URL": fake_pagerduty.url,
        "TEAM_A_PD_KEY": TEAM_A_KEY,
        "TEAM_B_PD_KEY": TEAM_B_KEY,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = load_config(config_path, env)
    ingest(
        store,
        {n: m.alerts for n, m in config.monitors.items()},
        [failing("team_b"), failing("team_a")],
    )

    if via == "sensor":
        defs = build_definitions(config, Settings.from_env(env), env)
        resources = dict(defs.resources or {})
        stored_config = json.dumps(resources["pagerduty"]._convert_to_config_dictionary())
        assert TEAM_A_KEY not in stored_config and TEAM_B_KEY not in stored_config
        sensor = defs.resolve_sensor_def("alerting")
        with (
            dg.instance_for_test() as instance,
            dg.build_sensor_context(instance=instance, resources=resources) as context,
        ):
            sensor(context)
    else:
        result = cli(tmp_path, config_path, store_url, "alerting", "run", **env)
        assert result.exit_code == 0, result.output

    keys = {i.summary.split(":")[0]: i.routing_key for i in fake_pagerduty.incidents()}
    assert keys == {"team_a": TEAM_A_KEY, "team_b": TEAM_B_KEY}
    paged = [a for a in store.alerts() if a.target is Target.PAGERDUTY]
    assert len(paged) == 2 and all(a.status is DeliveryStatus.SENT for a in paged)
    for stored in store.alerts():
        assert TEAM_A_KEY not in json.dumps(stored.message) + (stored.last_error or "")


def test_validate_config_names_each_monitors_key_variable_but_never_the_key(
    tmp_path: Path, store_url: str
) -> None:
    """Item 13: validate-config accepted different keys without saying which each monitor uses."""
    config = monitor_file(
        tmp_path,
        team_a=f'{{slack_channel: "{CHANNEL}", pagerduty: {{routing_key_env: TEAM_A_PD_KEY}}}}',
        team_b=f'{{slack_channel: "{CHANNEL}", pagerduty: {{routing_key_env: TEAM_B_PD_KEY}}}}',
    )

    result = cli(
        tmp_path, config, store_url, "validate-config", "--offline", TEAM_A_PD_KEY=TEAM_A_KEY
    )

    assert result.exit_code == 0, result.output
    paging = "Slack #ml-alerts; PagerDuty (critical) with the routing key in"
    assert f"team_a: {paging} $TEAM_A_PD_KEY (set)" in result.output
    assert f"team_b: {paging} $TEAM_B_PD_KEY (not set here" in result.output
    assert TEAM_A_KEY not in result.output


# -- 15: a destination that rate-limits or hangs, and the pass's time budget ------------------


def four_incidents(store: AlertRepository, pagerduty_url: str | None = None) -> list[Alert]:
    """Four monitors with one critical incident each; the first also pages PagerDuty."""
    alerts = {f"m{i}": AlertsConfig(slack_channel=CHANNEL) for i in range(1, 5)}
    if pagerduty_url is not None:
        alerts["m1"] = AlertsConfig(
            slack_channel=CHANNEL, pagerduty=PagerDutyConfig(url=pagerduty_url)
        )
    ingest(store, alerts, [failing(m) for m in alerts])
    return [a for a in store.alerts() if a.target is Target.SLACK]


def test_a_rate_limit_stops_the_pass_posting_to_that_destination_only(
    store: AlertRepository, slack: FakeSlack, fake_pagerduty: FakePagerDuty
) -> None:
    """Item 15: after a 429 with Retry-After, the same pass kept posting other alerts into the
    rate limit."""
    first, *others = four_incidents(store, fake_pagerduty.url)
    slack.script("chat.postMessage", Fault(status=429, headers={"Retry-After": "120"}))
    pagerduty = PagerDutyNotifier(fake_pagerduty.routing_key, url=fake_pagerduty.url)
    now = datetime.now(UTC)

    report = deliver(store, slack_notifier(slack), now, POLICY, pagerduty=pagerduty)

    assert posts(slack) == 1  # one 429, then nothing more to Slack in this pass
    assert len(fake_pagerduty.requests()) == 1  # PagerDuty, another destination, still paged
    assert report.retrying == [first.id] and report.deferred == [a.id for a in others]
    assert any("slack paused until" in reason for reason in report.stopped)
    for waiting in [alert(store, a.id) for a in others]:
        assert waiting.status is DeliveryStatus.PENDING and waiting.attempts == 0
        assert waiting.next_attempt_at == now + timedelta(seconds=120)
    assert alert(store, first.id).next_attempt_at == now + timedelta(seconds=120)

    early = deliver(store, slack_notifier(slack), now + timedelta(seconds=119), POLICY)
    assert early.sent == [] and posts(slack) == 1

    later = deliver(store, slack_notifier(slack), now + timedelta(seconds=120), POLICY)
    assert sorted(later.sent) == sorted(a.id for a in [first, *others])
    assert len(slack.messages(CHANNEL_ID)) == 4  # nothing lost, nothing twice


def test_a_hung_destination_costs_one_timeout_per_pass(
    store: AlertRepository, slack: FakeSlack
) -> None:
    """Item 15: a hung Slack cost the client timeout per alert per pass (4 alerts took 42 s)."""
    first, *others = four_incidents(store)
    slack.script("chat.postMessage", Fault(delay_s=1.0))
    notifier = slack_notifier(slack, timeout_s=0.2)
    now = datetime.now(UTC)

    hung = deliver(store, notifier, now, POLICY)

    assert posts(slack) == 1
    assert hung.retrying == [first.id] and hung.deferred == [a.id for a in others]
    assert all(alert(store, a.id).attempts == 0 for a in others)
    deadline = time.monotonic() + 5
    while not slack.messages(CHANNEL_ID) and time.monotonic() < deadline:
        time.sleep(0.05)  # the fake stores the timed-out post once its delay is over

    # Asking whether the timed-out post landed hangs too: one request, not one per retry.
    slack.script("conversations.list", Fault(delay_s=1.0))
    asking = deliver(store, notifier, now + timedelta(seconds=31), POLICY)

    assert len(slack.requests("conversations.list")) == 1 and posts(slack) == 1
    assert asking.deferred == [a.id for a in others]

    # The first alert's second attempt backs off 60 s; the others waited out the pause.
    healthy = deliver(store, notifier, now + timedelta(seconds=31 + 60), POLICY)

    assert healthy.recovered == [first.id] and sorted(healthy.sent) == [a.id for a in others]
    assert posts(slack) == 4 and len(slack.messages(CHANNEL_ID)) == 4


def test_a_pass_starts_no_send_once_its_time_budget_is_spent(
    store: AlertRepository, slack: FakeSlack
) -> None:
    """Item 15: a pass had no bound on its time and could overrun a sensor tick."""
    alerts = four_incidents(store)
    policy = DeliveryPolicy(pass_budget_s=25.0)

    def ten_seconds_a_request() -> float:  # the pass's clock: each HTTP request costs 10 s
        return 10.0 * len(slack.requests())

    now = datetime.now(UTC)
    cut = deliver(store, slack_notifier(slack), now, policy, clock=ten_seconds_a_request)

    assert posts(slack) == 3  # started at 0, 10 and 20 s; the fourth would start at 30 s
    assert cut.deferred == [alerts[3].id] and cut.waiting == 1
    assert cut.stopped == ["the pass's time budget of 25 s was spent"]
    left = alert(store, alerts[3].id)
    assert (left.status, left.attempts, left.next_attempt_at) == (DeliveryStatus.PENDING, 0, None)

    rest = deliver(store, slack_notifier(slack), now, policy, clock=lambda: 0.0)
    assert rest.sent == [alerts[3].id] and len(slack.messages(CHANNEL_ID)) == 4


def test_the_time_budget_is_read_from_the_environment() -> None:
    """Item 15: the pass's time budget is configurable, with a default well under a tick."""
    assert Settings.from_env({}).alerting_budget_s == 15.0
    assert Settings.from_env({"MONITORING_ALERTING_BUDGET_S": "8"}).alerting_budget_s == 8.0
    with pytest.raises(ConfigError, match="MONITORING_ALERTING_BUDGET_S='soon'"):
        Settings.from_env({"MONITORING_ALERTING_BUDGET_S": "soon"})
