"""The alerting commands a person on call types: mutes, failed alerts, the outage warning."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner, Result

from monitoring_pipelines.cli import main
from monitoring_pipelines.core.alerting.model import DeliveryStatus, Target
from monitoring_pipelines.core.alerting.store import AlertRepository

DEMO = Path(__file__).parents[2] / "demo" / "monitors.yaml"


def cli(store_url: str, tmp_path: Path, *args: str) -> Result:
    env = {
        "MONITORING_STORE_URL": store_url,
        "MONITORING_HOME": str(tmp_path / "home"),
        "MONITORING_CONFIG": str(DEMO),
    }
    return CliRunner().invoke(main, list(args), env=env)


def failed_alert(store: AlertRepository) -> int:
    with store.transaction() as conn:
        store.enqueue(
            conn,
            alert_key="1|open|",
            incident_id=1,
            kind="open",
            fingerprint="sentiment/volume",
            monitor="sentiment",
            check_name="volume",
            subject="",
            partition_key="2026-10-01",
            severity="critical",
            title="sentiment: traffic volume",
            message={"text": "no traffic"},
            channel="#ml-alerts",
            status=DeliveryStatus.FAILED.value,
            last_error="channel_not_found",
            target=Target.SLACK.value,
        )
    found = store.alert_by_key("1|open|")
    assert found is not None
    return found.id


def test_mutes_are_added_listed_and_ended(
    store: AlertRepository, store_url: str, tmp_path: Path
) -> None:
    added = cli(
        store_url, tmp_path, "mute", "add", "--monitor", "sentiment", "--check", "feature_drift",
        "--for", "2d", "--reason", "retraining", "--by", "ana",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert added.output.startswith("mute #1: sentiment feature_drift until ")
    [mute] = store.mutes(datetime.now(UTC))
    assert (mute.check, mute.reason, mute.created_by) == ("feature_drift", "retraining", "ana")

    listed = cli(store_url, tmp_path, "mute", "list")
    assert "in force" in listed.output and "by ana: retraining" in listed.output

    ended = cli(store_url, tmp_path, "mute", "remove", "1")
    assert ended.exit_code == 0 and store.mutes(datetime.now(UTC)) == []
    assert cli(store_url, tmp_path, "mute", "list").output.splitlines() == ["0 mute(s)"]
    assert "ended" in cli(store_url, tmp_path, "mute", "list", "--all").output


def test_mute_add_refuses_bad_arguments(store_url: str, tmp_path: Path) -> None:
    cases = {
        ("--monitor", "nope", "--for", "1d"): "unknown monitor 'nope'",
        ("--monitor", "sentiment"): "give exactly one of --for",
        ("--monitor", "sentiment", "--for", "2x"): "expected a positive number and a unit",
        ("--monitor", "sentiment", "--until", "2020-01-01"): "is in the past",
    }
    for args, message in cases.items():
        result = cli(store_url, tmp_path, "mute", "add", *args, "--reason", "r")
        assert result.exit_code == 2, args
        assert message in result.stderr, (args, result.stderr)
    assert cli(store_url, tmp_path, "mute", "remove", "7").exit_code == 2


def test_failed_alerts_are_shown_with_a_warning_and_can_be_retried_or_dismissed(
    store: AlertRepository, store_url: str, tmp_path: Path
) -> None:
    alert_id = failed_alert(store)

    shown = cli(store_url, tmp_path, "alerts")
    assert "1 alert(s) failed for good" in shown.stderr
    assert "channel_not_found" in shown.output

    retried = cli(store_url, tmp_path, "alerts", "retry")
    assert "1 failed alert(s) will be sent again" in retried.output
    again = store.get_alert(alert_id)
    assert again is not None and again.status is DeliveryStatus.PENDING and again.attempts == 0

    store.set_alert(alert_id, status=DeliveryStatus.FAILED.value)
    dismissed = cli(store_url, tmp_path, "alerts", "dismiss", str(alert_id), "--by", "ana")
    assert dismissed.exit_code == 0
    gone = store.get_alert(alert_id)
    assert gone is not None and gone.status is DeliveryStatus.SUPPRESSED
    assert gone.reason == "failed; dismissed by ana"
    assert "failed for good" not in cli(store_url, tmp_path, "alerts").stderr
    assert cli(store_url, tmp_path, "alerts", "retry", "999").exit_code == 2


def test_a_failing_notifier_is_named_by_the_alerts_command(
    store: AlertRepository, store_url: str, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    store.record_delivery_health(Target.SLACK, False, now, "ratelimited")

    shown = cli(store_url, tmp_path, "alerts")

    assert "WARNING: slack delivery failing since" in shown.stderr
    assert "last error: ratelimited" in shown.stderr
    store.record_delivery_health(Target.SLACK, True, now)
    assert "WARNING" not in cli(store_url, tmp_path, "alerts").stderr
