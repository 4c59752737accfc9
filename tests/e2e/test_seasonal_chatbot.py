"""End to end on a seasonal RAG chatbot the demo knows nothing of (tests/scenarios): 21 days
through Dagster and the alerting replayed as if live. Each injected event is found on the day
it can be, by one incident per check, its messages name what drove it, and the weekly rhythm
of the traffic opens nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest

from monitoring_pipelines.core.alerting.model import Incident
from tests.scenarios import seasonal_chatbot as bot

pytestmark = pytest.mark.slow

# What a user of this chatbot would set: the daily budget a little above a usual weekday, the
# month's a little above 31 usual days.
DAILY_BUDGET = 3.5
MONTHLY_BUDGET = 110.0


def _day(n: int) -> date:
    return bot.START + timedelta(days=n - 1)


@dataclass(frozen=True)
class Expected:
    """The incidents one event should open: (check, subject) pairs, the day by which the first
    of them must have opened, and words its thread must say."""

    event: str
    incidents: frozenset[tuple[str, str]]
    found_by: date
    driver_words: tuple[str, ...]
    optional: frozenset[tuple[str, str]] = frozenset()


EXPECTED = (
    Expected(
        "cost",
        frozenset({("cost_budget", ""), ("anomaly", "cost_per_request")}),
        _day(6),  # a Saturday: the anomaly against the usual Saturday finds it
        ("returns", "chat-large"),
        # the pricier model is also the slower one: the routing change moves p95 latency too
        optional=frozenset({("monthly_budget", ""), ("anomaly", "latency_p95_ms")}),
    ),
    Expected(
        "hallucination",
        frozenset({("hallucination_rate", "article=KB-shipping-2")}),
        _day(11),  # within two days of its start
        ("KB-shipping-2", "shipping"),
        optional=frozenset({("hallucination_rate", "intent=shipping"), ("hallucination_rate", "")}),
    ),
    Expected(
        "latency",
        frozenset({("latency_slo", "")}),
        _day(15),
        (bot.SMALL,),
        optional=frozenset({("anomaly", "latency_p95_ms")}),
    ),
    Expected(
        "errors",
        frozenset({("error_rate", "")}),
        _day(18),
        ("503",),
        optional=frozenset({("anomaly", "error_rate")}),
    ),
)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from monitoring_pipelines.backfill import days_between
    from monitoring_pipelines.cli.context import Context
    from monitoring_pipelines.cli.operations import run_alerting, run_days

    home = tmp_path_factory.mktemp("chatbot")
    env = {
        "MONITORING_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "MONITORING_CONFIG": str(home / "monitors.yaml"),
        "MONITORING_STORE_URL": f"sqlite:///{home / 'results.db'}",
        "MONITORING_WAREHOUSE_URL": f"sqlite:///{home / 'warehouse.db'}",
        "MONITORING_ALERTS_FILE": str(home / "messages.jsonl"),
    }
    patch = pytest.MonkeyPatch()
    for key, value in env.items():
        patch.setenv(key, value)
    patch.delenv("SLACK_BOT_TOKEN", raising=False)
    try:
        (home / "monitors.yaml").write_text(bot.monitors_yaml(DAILY_BUDGET, MONTHLY_BUDGET))
        bot.write_warehouse(env["MONITORING_WAREHOUSE_URL"])
        ctx = Context(None)
        config = ctx.config()
        days = days_between(_day(1), _day(bot.DAYS))
        backfill = run_days(ctx, config, list(config.monitors), days, True, workers=2)
        assert not backfill.failures, backfill.failures
        run_alerting(ctx, config, replay=True)
        incidents = ctx.alerts().incidents()
    finally:
        patch.undo()
    lines = (home / "messages.jsonl").read_text(encoding="utf-8").splitlines()
    messages = [m for m in map(json.loads, lines) if "file" not in m]
    return {"incidents": incidents, "messages": messages}


def _key(incident: Incident) -> tuple[str, str]:
    return incident.check, incident.subject.split("@", 1)[0]


def _during(incident: Incident, event: str) -> bool:
    spec = next(e for e in bot.EVENTS if e.kind == event)
    first, last = _day(spec.first_day), _day(spec.last_day) + timedelta(days=3)
    return date.fromisoformat(incident.first_partition) <= last and date.fromisoformat(
        incident.last_failing_partition
    ) >= first - timedelta(days=1)


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda e: e.event)
def test_each_event_is_found_in_time_by_one_incident_per_check(
    scenario: dict[str, Any], expected: Expected
) -> None:
    allowed = expected.incidents | expected.optional
    mine = [i for i in scenario["incidents"] if _key(i) in allowed and _during(i, expected.event)]
    keys = [_key(i) for i in mine]
    assert expected.incidents <= set(keys), keys
    assert len(keys) == len(set(keys)), f"a continuing problem opened a second incident: {keys}"
    first = min(date.fromisoformat(i.first_partition) for i in mine)
    assert first <= expected.found_by, [(i.check, i.subject, i.first_partition) for i in mine]


def claimed(scenario: dict[str, Any]) -> list[Incident]:
    """The incidents that belong to an injected event."""
    return [
        i
        for i in scenario["incidents"]
        if any(_key(i) in e.incidents | e.optional and _during(i, e.event) for e in EXPECTED)
    ]


def test_nothing_else_opens_an_incident(scenario: dict[str, Any]) -> None:
    """No weekend reads as intent drift, no quiet scope as a hallucination rise."""
    ids = {i.id for i in claimed(scenario)}
    others = [i for i in scenario["incidents"] if i.id not in ids]
    assert [(i.check, i.subject, i.first_partition) for i in others] == []


def test_each_thread_pages_once_and_each_event_is_named_by_its_driver(
    scenario: dict[str, Any],
) -> None:
    messages = scenario["messages"]
    first = [m for m in messages if m.get("thread_ts") is None]
    roots = {i.root_id for i in claimed(scenario)}
    threads = {i.slack_ts for i in scenario["incidents"] if i.id in roots}
    assert sorted(m["ts"] for m in first) == sorted(threads), [m["text"][:120] for m in first]
    texts = {
        m["ts"]: " ".join(r["text"] for r in messages if m["ts"] in (r["ts"], r.get("thread_ts")))
        for m in first
    }
    for expected in EXPECTED:
        named = [t for t in texts.values() if all(w in t for w in expected.driver_words)]
        assert named, (expected.event, expected.driver_words, [t[:300] for t in texts.values()])
