"""End to end: a shortened demo through the README's commands finds every injected event
that the product's checks cover, once, and nothing else, and its replayed alerting sends one
first message per event and no other page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitoring_pipelines.cli import main
from monitoring_pipelines.core.alerting.groundtruth import compare, load_events
from monitoring_pipelines.core.alerting.incident_days import incident_days
from monitoring_pipelines.core.alerting.store import AlertRepository

DEMO_CONFIG = Path(__file__).parents[2] / "demo" / "monitors.yaml"
DAYS = 20
SCALE = 0.5
IMPLEMENTED = {
    "feature_drift",
    "prediction_drift",
    "performance",
    "latency_slo",
    "error_rate",
    "cost_budget",
    "canary",
    "hallucination_rate",
}


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("demo")
    config = home / "monitors.yaml"
    # The user's budget for a system at half the demo's volume is half the demo's budget.
    text = (
        DEMO_CONFIG.read_text()
        .replace("daily_budget_usd: 4.0", f"daily_budget_usd: {4.0 * SCALE}")
        .replace("monthly_budget_usd: 100.0", f"monthly_budget_usd: {100.0 * SCALE}")
        # ... and judges a larger share of its answers to keep the evidence of the full demo
        .replace("sample_rate: 0.2", f"sample_rate: {0.2 / SCALE}")
    )
    config.write_text(text)
    return {
        "MONITORING_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "MONITORING_CONFIG": str(config),
        "MONITORING_STORE_URL": f"sqlite:///{home / 'results.db'}",
        "MONITORING_WAREHOUSE_URL": f"sqlite:///{home / 'warehouse.db'}",
    }


@pytest.fixture(scope="module")
def demo_run(demo_home: dict[str, str], monkeypatch_module: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in demo_home.items():
        monkeypatch_module.setenv(key, value)
    monkeypatch_module.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch_module.delenv("MONITORING_ALERTS_FILE", raising=False)
    runner = CliRunner()
    demo = runner.invoke(
        main, ["demo", "run", "--days", str(DAYS), "--scale", str(SCALE), "--seed", "3"]
    )
    assert demo.exit_code == 0, demo.output
    assert "run failed" not in demo.output.split("alerting:")[0]
    return {"demo": demo.output}


@pytest.fixture(scope="module")
def monkeypatch_module() -> pytest.MonkeyPatch:
    patch = pytest.MonkeyPatch()
    yield patch  # type: ignore[misc]
    patch.undo()


@pytest.mark.slow
def test_every_covered_event_is_found_once_and_nothing_else(
    demo_home: dict[str, str], demo_run: dict[str, str]
) -> None:
    store = AlertRepository.connect(demo_home["MONITORING_STORE_URL"])
    events = load_events(Path(demo_home["MONITORING_HOME"]) / "demo" / "ground_truth.json")
    result = compare(events, store.incidents(), IMPLEMENTED)
    covered = [m for m in result.matches if m.covered]
    assert {c for m in covered for c in m.event.checks} & IMPLEMENTED == IMPLEMENTED
    assert [m.event.id for m in result.missed] == []
    assert [(i.title, i.first_partition) for i in result.false_incidents] == []
    assert result.duplicates == 0
    assert all(len(m.incidents) == 1 for m in covered)


@pytest.mark.slow
def test_each_event_gets_one_first_message_and_nothing_else_pages(
    demo_home: dict[str, str], demo_run: dict[str, str]
) -> None:
    output = demo_run["demo"]
    table = output.split("messages sent (")[1].split("false pages")[0]
    rows = [line.split() for line in table.splitlines()[1:] if line.strip()]
    assert len(rows) == 8  # the covered events (one event covers two checks)
    assert all(row[1] == "1" for row in rows), table
    assert "false pages 0, other messages 0" in output
    messages = Path(demo_home["MONITORING_HOME"]) / "demo" / "messages.jsonl"
    lines = [json.loads(line) for line in messages.read_text().splitlines()]
    posted = [line for line in lines if "file" not in line]
    assert len(posted) == sum(int(row[1]) + int(row[2]) for row in rows)
    charts = [Path(line["file"]) for line in lines if "file" in line]
    assert charts and all(c.read_bytes().startswith(b"\x89PNG") for c in charts)
    first = {line["ts"] for line in posted if line["thread_ts"] is None}
    assert all(line["thread_ts"] in first for line in lines if "file" in line)


@pytest.mark.slow
def test_a_backfill_of_history_is_summarised_in_one_message(
    demo_home: dict[str, str], demo_run: dict[str, str], monkeypatch_module: pytest.MonkeyPatch
) -> None:
    store = AlertRepository.connect(demo_home["MONITORING_STORE_URL"])
    incidents = len(store.incidents())
    messages = Path(demo_home["MONITORING_HOME"]) / "backfill-messages.jsonl"
    monkeypatch_module.setenv("MONITORING_ALERTS_FILE", str(messages))
    rerun = CliRunner().invoke(
        main,
        ["backfill", "--monitor", "sentiment", "--start", "2026-09-01", "--end", "2026-09-20",
         "--workers", "1"],
    )  # fmt: skip
    monkeypatch_module.delenv("MONITORING_ALERTS_FILE")
    assert rerun.exit_code == 0, rerun.output
    assert len(store.incidents()) == incidents  # the same episodes: nothing new opens
    # Reruns of days already alerted on add nothing; the incidents still open and critical
    # are reminded of (the demo's days are weeks old), in their threads.
    lines = (
        [json.loads(line) for line in messages.read_text().splitlines()]
        if messages.exists()
        else []
    )
    assert [line for line in lines if line["thread_ts"] is None] == []
    assert all(line["text"].startswith(":red_circle: Still open after") for line in lines)


@pytest.mark.slow
def test_cli_lists_incidents_and_the_report(demo_run: dict[str, str]) -> None:
    runner = CliRunner()
    listed = runner.invoke(main, ["incidents"])
    assert listed.exit_code == 0
    assert "recommender: latency above SLO" in listed.output
    report = runner.invoke(main, ["demo", "report"])
    assert report.exit_code == 0
    assert "found 8/8 events, missed 0, false incidents 0, duplicate incidents 0" in report.output


@pytest.mark.slow
def test_every_day_an_incident_failed_on_has_its_report(
    demo_home: dict[str, str], demo_run: dict[str, str]
) -> None:
    store = AlertRepository.connect(demo_home["MONITORING_STORE_URL"])
    days = incident_days(store, [i.id for i in store.incidents()])
    reports = Path(demo_home["MONITORING_HOME"]) / "reports"
    assert len(days) > len(IMPLEMENTED)
    assert sorted(d for d in days if not (reports / d[0] / f"{d[1]}.html").exists()) == []
    output = demo_run["demo"]
    assert f"written under {reports}/<monitor>/<day>.html" in output
    assert "open in a browser: " in output
    # The hallucination incident's days show the rate by article, the canary's the verdict.
    bot = [d for m, d in days if m == "support_bot"]
    html = (reports / "support_bot" / f"{max(bot)}.html").read_text(encoding="utf-8")
    assert "Hallucination rate by article" in html and "Review queue:" in html
    recommender = sorted(d for m, d in days if m == "recommender")
    pages = [(reports / "recommender" / f"{d}.html").read_text() for d in recommender]
    assert any("roll back" in p for p in pages)


@pytest.mark.slow
def test_rerunning_days_changes_nothing(
    demo_home: dict[str, str], demo_run: dict[str, str]
) -> None:
    store = AlertRepository.connect(demo_home["MONITORING_STORE_URL"])
    before = [(i.id, i.status, i.failing_partitions) for i in store.incidents()]
    alerts_before = len(store.alerts())
    rerun = CliRunner().invoke(
        main, ["backfill", "--start", "2026-09-12", "--end", "2026-09-14", "--workers", "1"]
    )
    assert rerun.exit_code == 0, rerun.output
    assert "9 run(s) ingested" in rerun.output
    after = [(i.id, i.status, i.failing_partitions) for i in store.incidents()]
    assert after == before
    assert len(store.alerts()) == alerts_before


@pytest.mark.slow
def test_a_correction_of_a_flagged_kb204_answer_reaches_the_finetuning_set(
    demo_home: dict[str, str], demo_run: dict[str, str]
) -> None:
    assert "support_bot: fine-tuning set" in demo_run["demo"]
    assert "support tickets" in demo_run["demo"]  # the KPI relation is reported
    runner = CliRunner()
    listed = runner.invoke(
        main,
        ["review", "list", "--monitor", "support_bot", "--reason", "flagged", "--limit", "500"],
    )
    assert listed.exit_code == 0, listed.output
    kb204 = [line for line in listed.output.splitlines() if "article=KB-204" in line]
    assert len(kb204) >= 5  # the outdated article's answers are queued
    item = kb204[0].split()[0].lstrip("#")
    corrected = runner.invoke(
        main,
        ["review", "correct", item, "--by", "ana", "--answer",
         "The late fee is 5 EUR; write to billing@example.com for a waiver."],
    )  # fmt: skip
    assert corrected.exit_code == 0, corrected.output
    refreshed = runner.invoke(main, ["review", "refresh", "--monitor", "support_bot"])
    assert refreshed.exit_code == 0, refreshed.output
    assert "1 record(s) from 1 reviewed answer(s)" in refreshed.output
    path = Path(demo_home["MONITORING_HOME"]) / "finetuning" / "support_bot.jsonl"
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record["messages"][2]["content"] == (
        "The late fee is 5 EUR; write to [EMAIL] for a waiver."
    )
    shown = runner.invoke(main, ["review", "show", item])
    assert f"request {record['metadata']['request_id']} " in shown.output
    assert record["metadata"]["partition"] in shown.output
