"""PagerDutyNotifier (urllib over real HTTP) against the local FakePagerDuty server."""

from __future__ import annotations

import json
import socket
import time
import traceback
import urllib.request
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast
from urllib.error import HTTPError

import pytest

from monitoring_pipelines.core.config import Severity
from monitoring_pipelines.core.errors import DeliveryError
from monitoring_pipelines.core.notify.pagerduty import (
    MAX_SUMMARY,
    RATE_LIMIT_WAIT_S,
    PagerDutyEvent,
    PagerDutyLink,
    PagerDutyNotifier,
    PdSeverity,
    pd_severity,
)
from tests.fakes.pagerduty_server import (
    DROP_CONNECTION,
    DROP_RESPONSE,
    RATE_LIMITED,
    SERVER_ERROR,
    FakePagerDuty,
    Fault,
    fake_pagerduty_fixture,  # noqa: F401
)

DETECTED = datetime(2025, 10, 9, 6, 0, tzinfo=UTC)


def notifier_for(fake: FakePagerDuty, *, timeout_s: float = 2.0) -> PagerDutyNotifier:
    return PagerDutyNotifier(fake.routing_key, url=fake.url, timeout_s=timeout_s)


def alert(
    dedup_key: str = "incident-1", *, summary: str = "Drift on fraud-model: PSI 0.31 on amount"
) -> PagerDutyEvent:
    return PagerDutyEvent(
        dedup_key=dedup_key,
        summary=summary,
        severity=pd_severity(Severity.CRITICAL),
        source="fraud-model",
        component="amount",
        group="risk",
        event_class="feature_drift",
        custom_details={"psi": 0.31, "threshold": 0.2, "partition": "2025-10-08"},
        links=(PagerDutyLink("https://dagster.example.com/runs/1", "Dagster run"),),
        timestamp=DETECTED,
    )


def trigger_error(notifier: PagerDutyNotifier, event: PagerDutyEvent) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        notifier.trigger(event)
    return caught.value


# -- events and incidents ------------------------------------------------------------------


def test_trigger_opens_one_incident_with_the_event_as_documented(
    fake_pagerduty: FakePagerDuty,
) -> None:
    notifier = PagerDutyNotifier(
        fake_pagerduty.routing_key,
        url=fake_pagerduty.url,
        client="monitoring-pipelines",
        client_url="https://dagster.example.com",
    )

    dedup_key = notifier.trigger(alert("incident-1"))

    assert dedup_key == "incident-1"
    [incident] = fake_pagerduty.incidents()
    assert (incident.dedup_key, incident.status, incident.severity) == (
        "incident-1",
        "triggered",
        "critical",
    )
    [request] = fake_pagerduty.requests()
    assert request.headers["Content-Type"] == "application/json"
    assert request.body == {
        "routing_key": fake_pagerduty.routing_key,
        "event_action": "trigger",
        "dedup_key": "incident-1",
        "payload": {
            "summary": "Drift on fraud-model: PSI 0.31 on amount",
            "source": "fraud-model",
            "severity": "critical",
            "timestamp": "2025-10-09T06:00:00.000+00:00",
            "component": "amount",
            "group": "risk",
            "class": "feature_drift",
            "custom_details": {"psi": 0.31, "threshold": 0.2, "partition": "2025-10-08"},
        },
        "links": [{"href": "https://dagster.example.com/runs/1", "text": "Dagster run"}],
        "client": "monitoring-pipelines",
        "client_url": "https://dagster.example.com",
    }


def test_repeated_trigger_is_deduplicated_onto_the_open_incident(
    fake_pagerduty: FakePagerDuty,
) -> None:
    notifier = notifier_for(fake_pagerduty)

    first = notifier.trigger(alert("incident-1"))
    again = notifier.trigger(alert("incident-1"))

    assert first == again == "incident-1"
    [incident] = fake_pagerduty.incidents()
    assert incident.actions == ["trigger", "trigger"]
    assert incident.status == "triggered"


def test_other_dedup_keys_open_their_own_incidents(fake_pagerduty: FakePagerDuty) -> None:
    notifier = notifier_for(fake_pagerduty)

    notifier.trigger(alert("incident-1"))
    notifier.trigger(alert("incident-2"))

    assert [i.dedup_key for i in fake_pagerduty.incidents()] == ["incident-1", "incident-2"]


def test_acknowledge_then_resolve_closes_the_incident(fake_pagerduty: FakePagerDuty) -> None:
    notifier = notifier_for(fake_pagerduty)
    notifier.trigger(alert("incident-1"))

    assert notifier.acknowledge("incident-1") == "incident-1"
    assert fake_pagerduty.incidents()[0].status == "acknowledged"
    assert notifier.resolve("incident-1") == "incident-1"

    [incident] = fake_pagerduty.incidents()
    assert incident.status == "resolved"
    assert incident.actions == ["trigger", "acknowledge", "resolve"]
    assert fake_pagerduty.requests()[-1].body == {
        "routing_key": fake_pagerduty.routing_key,
        "event_action": "resolve",
        "dedup_key": "incident-1",
    }


def test_trigger_after_resolve_opens_a_new_incident(fake_pagerduty: FakePagerDuty) -> None:
    notifier = notifier_for(fake_pagerduty)
    notifier.trigger(alert("incident-1"))
    notifier.resolve("incident-1")

    notifier.trigger(alert("incident-1"))

    assert [i.status for i in fake_pagerduty.incidents("incident-1")] == ["resolved", "triggered"]


def test_resolving_twice_is_accepted_and_the_second_is_dropped(
    fake_pagerduty: FakePagerDuty,
) -> None:
    notifier = notifier_for(fake_pagerduty)
    notifier.trigger(alert("incident-1"))

    notifier.resolve("incident-1")
    notifier.resolve("incident-1")

    assert fake_pagerduty.incidents()[0].actions == ["trigger", "resolve"]
    assert [e["event_action"] for e in fake_pagerduty.dropped()] == ["resolve"]


def test_summary_is_truncated_to_pagerduty_limit(fake_pagerduty: FakePagerDuty) -> None:
    long_summary = "Drift on fraud-model: " + "x" * 5000

    notifier_for(fake_pagerduty).trigger(alert(summary=long_summary))

    [incident] = fake_pagerduty.incidents()
    assert len(incident.summary) == MAX_SUMMARY
    assert incident.summary == long_summary[: MAX_SUMMARY - 1] + "…"


def test_details_json_cannot_hold_are_sent_as_text(fake_pagerduty: FakePagerDuty) -> None:
    event = PagerDutyEvent(
        dedup_key="incident-1",
        summary="Cost over budget",
        severity="warning",
        source="chatbot",
        custom_details={
            "spent_usd": Decimal("12.50"),
            "since": DETECTED,
            "psi": {"amount": float("nan"), "age": [float("inf"), 0.1]},
        },
    )

    notifier_for(fake_pagerduty).trigger(event)

    details = fake_pagerduty.requests()[0].body["payload"]["custom_details"]
    assert details == {
        "spent_usd": "12.50",
        "since": "2025-10-09 06:00:00+00:00",
        "psi": {"amount": "nan", "age": ["inf", 0.1]},
    }
    assert len(fake_pagerduty.incidents()) == 1
    assert "links" not in fake_pagerduty.requests()[0].body


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (Severity.WARN, "warning"),
        (Severity.CRITICAL, "critical"),
        ("warn", "warning"),
        ("info", "info"),
    ],
)
def test_pd_severity_maps_ours_to_pagerduty(ours: str, theirs: str) -> None:
    assert pd_severity(ours) == theirs


def test_pd_severity_rejects_unknown_values() -> None:
    with pytest.raises(ValueError, match="'fatal' has no PagerDuty equivalent"):
        pd_severity("fatal")


# -- failures ------------------------------------------------------------------------------


def test_rate_limit_is_retryable_after_30_seconds_and_not_retried_inline(
    fake_pagerduty: FakePagerDuty,
) -> None:
    fake_pagerduty.script(RATE_LIMITED)

    error = trigger_error(notifier_for(fake_pagerduty), alert())

    assert error.retryable
    assert error.retry_after_s == RATE_LIMIT_WAIT_S == 30.0
    assert "HTTP 429" in str(error)
    assert "arriving too quickly" in str(error)
    assert len(fake_pagerduty.requests()) == 1
    assert fake_pagerduty.incidents() == []


def test_a_longer_retry_after_header_is_honoured(fake_pagerduty: FakePagerDuty) -> None:
    fake_pagerduty.script(Fault(status=429, headers={"Retry-After": "120"}))

    error = trigger_error(notifier_for(fake_pagerduty), alert())

    assert (error.retryable, error.retry_after_s) == (True, 120.0)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retryable_and_not_retried_inline(
    fake_pagerduty: FakePagerDuty, status: int
) -> None:
    fake_pagerduty.script(Fault(status=status))

    error = trigger_error(notifier_for(fake_pagerduty), alert())

    assert error.retryable
    assert error.retry_after_s is None
    assert f"HTTP {status}" in str(error)
    assert len(fake_pagerduty.requests()) == 1


def test_recovers_when_the_scripted_faults_run_out(fake_pagerduty: FakePagerDuty) -> None:
    fake_pagerduty.script(SERVER_ERROR, times=2)
    notifier = notifier_for(fake_pagerduty)

    for _ in range(2):
        assert trigger_error(notifier, alert()).retryable
    notifier.trigger(alert())

    assert len(fake_pagerduty.requests()) == 3
    assert len(fake_pagerduty.incidents()) == 1


def test_timeout_is_retryable_and_not_retried_inline(fake_pagerduty: FakePagerDuty) -> None:
    fake_pagerduty.script(Fault(delay_s=1.5))
    started = time.monotonic()

    error = trigger_error(notifier_for(fake_pagerduty, timeout_s=0.3), alert())

    assert error.retryable
    assert "TimeoutError" in str(error)
    assert time.monotonic() - started < 1.2
    assert len(fake_pagerduty.requests()) == 1


def test_a_cut_connection_is_retried_once_and_deduplicated(
    fake_pagerduty: FakePagerDuty,
) -> None:
    fake_pagerduty.script(DROP_RESPONSE)  # PagerDuty took the event, the answer was lost

    assert notifier_for(fake_pagerduty).trigger(alert("incident-1")) == "incident-1"

    assert len(fake_pagerduty.requests()) == 2
    [incident] = fake_pagerduty.incidents()
    assert incident.actions == ["trigger", "trigger"]


def test_a_connection_cut_twice_is_retryable(fake_pagerduty: FakePagerDuty) -> None:
    fake_pagerduty.script(DROP_CONNECTION, times=2)

    error = trigger_error(notifier_for(fake_pagerduty), alert())

    assert error.retryable
    assert "RemoteDisconnected" in str(error)
    assert len(fake_pagerduty.requests()) == 2
    assert fake_pagerduty.incidents() == []


def test_refused_connection_is_retryable_and_not_retried_inline() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    secret = "e93facc04764012d7bfb002500d5d1a6"
    notifier = PagerDutyNotifier(secret, url=f"http://127.0.0.1:{port}/v2/enqueue")

    error = trigger_error(notifier, alert())

    assert error.retryable
    assert "URLError" in str(error)
    assert secret not in "".join(traceback.format_exception(error))


def test_invalid_severity_is_not_retryable_and_says_why(fake_pagerduty: FakePagerDuty) -> None:
    event = PagerDutyEvent(
        dedup_key="incident-1",
        summary="Drift on fraud-model",
        severity=cast(PdSeverity, "warn"),  # ours, not mapped through pd_severity
        source="fraud-model",
    )

    error = trigger_error(notifier_for(fake_pagerduty), event)

    assert not error.retryable
    assert "HTTP 400" in str(error)
    assert "'payload.severity' is invalid (must be one of the following" in str(error)
    assert fake_pagerduty.incidents() == []


def test_wrong_routing_key_is_not_retryable_and_never_shown() -> None:
    secret = "not-an-events-v2-key-but-secret"
    with FakePagerDuty(echo_key_in_errors=True) as fake:
        notifier = PagerDutyNotifier(secret, url=fake.url)

        error = trigger_error(notifier, alert())

        assert not error.retryable
        assert "Length of 'routing_key' is incorrect (should be 32 characters)" in str(error)
        assert "[routing key]" in str(error)  # the server echoed it; the client hid it
        assert fake.requests()[0].body["routing_key"] == secret
    assert secret not in "".join(traceback.format_exception(error))
    assert secret not in repr(notifier)
    assert secret not in str(vars(error))


def test_wrong_url_is_not_retryable(fake_pagerduty: FakePagerDuty) -> None:
    url = fake_pagerduty.url.replace("/v2/enqueue", "/v1/enqueue")

    with pytest.raises(DeliveryError) as caught:
        PagerDutyNotifier(fake_pagerduty.routing_key, url=url).resolve("incident-1")

    assert not caught.value.retryable
    assert "HTTP 404" in str(caught.value)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "events.pagerduty.com/v2/enqueue"])
def test_only_http_urls_are_accepted(url: str) -> None:
    with pytest.raises(ValueError, match="not an http"):
        PagerDutyNotifier("e93facc04764012d7bfb002500d5d1a6", url=url)


# -- the fake rejects what PagerDuty rejects ----------------------------------------------


def raw_post(fake: FakePagerDuty, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        fake.url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status, json.loads(response.read())
    except HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


@pytest.mark.parametrize(
    ("change", "expected_error"),
    [
        ({"event_action": "open"}, "'event_action' is missing or invalid"),
        ({"routing_key": "R0123456789abcdef0123456789abcd-"}, "non-alphanumeric"),
        ({"payload": {"summary": "s", "severity": "critical"}}, "'payload.source' is missing"),
        ({"event_action": "resolve", "dedup_key": ""}, "'dedup_key' is missing or blank"),
        ({"dedup_key": "k" * 256}, "'dedup_key' is too long"),
        (
            {"payload": {"summary": "s" * 1025, "source": "x", "severity": "info"}},
            "'payload.summary' is too long",
        ),
    ],
)
def test_fake_rejects_invalid_events_like_pagerduty(
    fake_pagerduty: FakePagerDuty, change: dict[str, Any], expected_error: str
) -> None:
    body = {
        "routing_key": fake_pagerduty.routing_key,
        "event_action": "trigger",
        "dedup_key": "incident-1",
        "payload": {"summary": "s", "source": "x", "severity": "info"},
        **change,
    }

    status, answer = raw_post(fake_pagerduty, body)

    assert status == 400
    assert answer["status"] == "invalid event"
    assert answer["message"] == "Event object is invalid"
    assert any(expected_error in error for error in answer["errors"])
    assert fake_pagerduty.incidents() == []


def test_fake_generates_a_dedup_key_for_a_trigger_without_one(
    fake_pagerduty: FakePagerDuty,
) -> None:
    body = {
        "routing_key": fake_pagerduty.routing_key,
        "event_action": "trigger",
        "payload": {"summary": "s", "source": "x", "severity": "info"},
    }

    status, first = raw_post(fake_pagerduty, body)
    _, second = raw_post(fake_pagerduty, body)

    assert status == 202
    assert first["status"] == "success"
    assert first["dedup_key"] != second["dedup_key"]
    assert len(fake_pagerduty.incidents()) == 2
