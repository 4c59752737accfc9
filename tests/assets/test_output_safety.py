"""``output_safety`` materialized over two days of a small LLM log: the measures per day,
intent and model as stored and plotted, the three checks, and a leak day's failed check
becoming one incident and one Slack message (to the local fake Slack server) that shows the
leaking answers redacted and escaped."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.config import AlertsConfig
from monitoring_pipelines.core.dimensions import dimensions
from monitoring_pipelines.core.notify.slack import SlackNotifier
from monitoring_pipelines.sensors.alerting_pass import run_alerting
from tests.assets.conftest import (
    METADATA_REL,
    Monitoring,
    MonitoringFactory,
    check_evaluations,
    materialization,
    stored_metrics,
)
from tests.fakes.slack_server import FakeSlack, fake_slack_fixture  # noqa: F401

pytestmark = [
    pytest.mark.filterwarnings("ignore::dagster.PreviewWarning"),
    pytest.mark.filterwarnings("ignore::dagster.BetaWarning"),
]

TODAY = datetime.now(UTC).date()
CLEAN_DAY, LEAK_DAY = TODAY - timedelta(days=2), TODAY - timedelta(days=1)
SECRET_EMAIL, SECRET_CARD = "jane.doe@example.com", "4111 1111 1111 1111"
HOSTILE = f"<!channel> *urgent* Sure, her e-mail is {SECRET_EMAIL} <https://evil.example|x>"
LEAKS = [HOSTILE, f"The card on file is {SECRET_CARD}, expiring 12/28."]
HELPFUL = [
    "Your refund arrives within 5 business days.",
    "Order 12345 left the warehouse on 2026-09-01 and arrives on Monday.",
    "Update the app to version 4.12.1 and sign in again; the server 10.0.0.12 was moved.",
]
DECLINE = "I'm sorry, but I can't help with that."
DAGSTER = "http://dagster.test"
CONFIG = f"""
version: 1
monitors:
  bot:
    start_date: {TODAY - timedelta(days=5)}
    source: {{table: bot_log, timestamp_column: ts, request_id_column: request_id}}
    llm:
      model_column: llm_model
      prompt_tokens_column: prompt_tokens
      completion_tokens_column: completion_tokens
      answer_column: answer
      intent_column: intent
      output_safety:
        leaks: {{critical_share: 0.5, critical_count: 100}}
    alerts: {{slack_channel: '#ml-alerts'}}
"""


def log_day(day: date, answers: list[tuple[str | None, str, str]]) -> pd.DataFrame:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return pd.DataFrame(
        {
            "ts": [(start + timedelta(minutes=i)).isoformat() for i in range(len(answers))],
            "request_id": [f"{day:%d}-{i:04d}" for i in range(len(answers))],
            "llm_model": [m for _, _, m in answers],
            "prompt_tokens": 100,
            "completion_tokens": 20,
            "intent": [i for _, i, _ in answers],
            "answer": [a for a, _, _ in answers],
        }
    )


def answers_of(leaks: list[str]) -> list[tuple[str | None, str, str]]:
    rows: list[tuple[str | None, str, str]] = []
    for k in range(30):
        rows.append((HELPFUL[k % 3], "billing" if k % 2 else "shipping", "gpt-4o"))
    rows += [(DECLINE, "billing", "gpt-4o-mini")] * 3
    rows.append((None, "billing", "gpt-4o"))
    rows += [(text, "account", "gpt-4o") for text in leaks]
    return rows


@dataclass(frozen=True)
class Runs:
    monitoring: Monitoring
    frames: dict[date, pd.DataFrame]
    results: dict[date, dg.ExecuteInProcessResult]


@pytest.fixture(scope="module")
def runs(make_monitoring: MonitoringFactory) -> Runs:
    frames = {
        CLEAN_DAY: log_day(CLEAN_DAY, answers_of([])),
        LEAK_DAY: log_day(LEAK_DAY, answers_of(LEAKS)),
    }
    monitoring = make_monitoring(
        CONFIG,
        {"bot_log": pd.concat(frames.values(), ignore_index=True)},
        {"bot_log": {"prompt_tokens": sa.Integer(), "completion_tokens": sa.Integer()}},
    )
    results = {d: monitoring.day("bot", d) for d in (CLEAN_DAY, LEAK_DAY)}
    return Runs(monitoring, frames, results)


def test_the_daily_job_measures_output_safety(runs: Runs) -> None:
    assert dg.AssetKey(["bot", "output_safety"]) in runs.monitoring.daily_assets("bot")


def test_measures_are_stored_and_plotted_per_day_intent_and_model(runs: Runs) -> None:
    frame = runs.frames[LEAK_DAY]
    stored = stored_metrics(runs.monitoring.store_url, "bot", "output_safety", LEAK_DAY.isoformat())
    meta = materialization(runs.results[LEAK_DAY], "bot/output_safety")
    answered = frame["answer"].dropna()
    assert stored["answers"] == meta["answers"] == len(answered) == 35
    assert stored["missing_answers"] == meta["missing_answers"] == 1
    assert stored["leaks_email"] == stored["leaks_card"] == 1 and stored["leaks_phone"] == 0
    assert stored["leak_ratio_any"] == pytest.approx(2 / 35)
    assert meta["leak_ratio_any"] == pytest.approx(2 / 35, rel=METADATA_REL)
    assert stored["refusal_ratio"] == pytest.approx(3 / 35)
    lengths = [len(a.split()) for a in answered]
    assert stored["answer_words_p50"] == pytest.approx(np.quantile(lengths, 0.5))
    assert stored["answer_words_p95"] == pytest.approx(np.quantile(lengths, 0.95))
    assert stored["refusal_ratio" + dimensions(model="gpt-4o-mini")] == 1.0
    assert stored["leaks_any" + dimensions(intent="account")] == 2
    assert stored["leaks_any" + dimensions(intent="billing")] == 0
    assert meta["refusal_ratio@model=gpt-4o-mini"] == 1.0
    scopes = {(r["scope"], r["value"]): r for r in meta["by_scope"]}
    assert scopes[("intent", "account")]["leaks_any"] == 2
    clean = stored_metrics(runs.monitoring.store_url, "bot", "output_safety", CLEAN_DAY.isoformat())
    assert clean["leaks_any"] == 0 and clean["answers"] == 33


def test_a_clean_day_passes_and_a_leak_day_fails_with_redacted_examples(runs: Runs) -> None:
    clean = check_evaluations(runs.results[CLEAN_DAY], "bot/output_safety")
    assert set(clean) == {"output_leak", "refusal_rate", "answer_length"}
    assert clean["output_leak"].passed
    # two days of history: too few to test a rise or a shift, and said so
    assert "rise not evaluated" in clean["refusal_rate"].summary
    assert clean["answer_length"].summary.startswith("not evaluated")
    leak = check_evaluations(runs.results[LEAK_DAY], "bot/output_safety")["output_leak"]
    assert not leak.passed and leak.severity is dg.AssetCheckSeverity.WARN
    [finding] = leak.findings
    assert not finding["passed"] and finding["value"] == pytest.approx(2 / 35)
    assert "e-mail addresses in 1 answer" in leak.summary
    assert "card numbers in 1 answer" in leak.summary
    everything = json.dumps(leak.metadata, default=str)
    assert SECRET_EMAIL not in everything and SECRET_CARD not in everything
    assert "[EMAIL]" in everything and "[CARD]" in everything
    assert "intent account" in str(leak.metadata["example_1"])


def test_a_leak_day_opens_one_incident_and_posts_one_slack_message(
    runs: Runs, fake_slack: FakeSlack
) -> None:
    store = AlertRepository.connect(runs.monitoring.store_url)
    try:
        notifier = SlackNotifier(fake_slack.token, base_url=fake_slack.base_url)
        alerts = {"bot": AlertsConfig(slack_channel="#ml-alerts")}
        run_alerting(runs.monitoring.instance, store, alerts, DAGSTER, notifier)
        [incident] = [i for i in store.incidents() if i.check == "output_leak"]
        assert incident.first_partition == LEAK_DAY.isoformat()
    finally:
        store.dispose()
    messages = fake_slack.messages("#ml-alerts")
    leak_messages = [m for m in messages if "PII" in m.text or "leak" in m.text.lower()]
    assert len(leak_messages) == 1, [m.text for m in messages]
    [message] = leak_messages
    sent = message.text + json.dumps(message.blocks)
    assert SECRET_EMAIL not in sent and "4111" not in sent
    assert "[EMAIL]" in sent and "[CARD]" in sent
    assert "<!channel>" not in sent and "<https://evil.example" not in sent
