"""End to end: a shortened demo through the README's commands finds every injected event
that the product's checks cover, once, and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from monitoring_pipelines.cli import main
from monitoring_pipelines.core.alerting.model import DeliveryStatus
from monitoring_pipelines.core.alerting.store import AlertStore
from monitoring_pipelines.core.groundtruth import compare, load_events

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
}


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("demo")
    config = home / "monitors.yaml"
    # The user's budget for a system at half the demo's volume is half the demo's budget.
    text = DEMO_CONFIG.read_text().replace(
        "daily_budget_usd: 4.0", f"daily_budget_usd: {4.0 * SCALE}"
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
    runner = CliRunner()
    generated = runner.invoke(
        main, ["demo", "generate", "--days", str(DAYS), "--scale", str(SCALE), "--seed", "3"]
    )
    assert generated.exit_code == 0, generated.output
    backfill = runner.invoke(
        main, ["backfill", "--start", "2026-09-01", "--end", "2026-09-20", "--workers", "2"]
    )
    assert backfill.exit_code == 0, backfill.output
    assert "failed" not in backfill.output.split("alerting:")[0]
    return {"backfill": backfill.output}


@pytest.fixture(scope="module")
def monkeypatch_module() -> pytest.MonkeyPatch:
    patch = pytest.MonkeyPatch()
    yield patch  # type: ignore[misc]
    patch.undo()


@pytest.mark.slow
def test_every_covered_event_is_found_once_and_nothing_else(
    demo_home: dict[str, str], demo_run: dict[str, str]
) -> None:
    store = AlertStore.connect(demo_home["MONITORING_STORE_URL"])
    events = load_events(Path(demo_home["MONITORING_HOME"]) / "demo" / "ground_truth.json")
    result = compare(events, store.incidents(), IMPLEMENTED)
    covered = [m for m in result.matches if m.covered]
    assert {m.event.check for m in covered} == IMPLEMENTED
    assert [m.event.id for m in result.missed] == []
    assert [(i.title, i.first_partition) for i in result.false_incidents] == []
    assert result.duplicates == 0
    assert all(len(m.incidents) == 1 for m in covered)


@pytest.mark.slow
def test_backfilled_alerts_are_recorded_but_page_nobody(
    demo_home: dict[str, str], demo_run: dict[str, str]
) -> None:
    store = AlertStore.connect(demo_home["MONITORING_STORE_URL"])
    alerts = store.alerts()
    assert alerts, "the injected events produce alerts"
    assert {a.status for a in alerts} == {DeliveryStatus.SUPPRESSED}
    assert all("paging horizon" in (a.reason or "") for a in alerts)


@pytest.mark.slow
def test_cli_lists_incidents_and_the_report(demo_run: dict[str, str]) -> None:
    runner = CliRunner()
    listed = runner.invoke(main, ["incidents"])
    assert listed.exit_code == 0
    assert "recommender: latency above SLO" in listed.output
    report = runner.invoke(main, ["demo", "report"])
    assert report.exit_code == 0
    assert "found 7/7 events, missed 0, false incidents 0, duplicate incidents 0" in report.output


@pytest.mark.slow
def test_rerunning_days_changes_nothing(
    demo_home: dict[str, str], demo_run: dict[str, str]
) -> None:
    store = AlertStore.connect(demo_home["MONITORING_STORE_URL"])
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
