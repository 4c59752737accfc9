"""The demo's history as a user sees it in the Dagster UI: a monitor's lineage, and a failed
drift check on the day the drift began, next to a passing day (the README's screenshots)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from monitoring_pipelines.core.alerting.groundtruth import load_events
from tests.browser.conftest import DEMO_DAYS, DEMO_MONITORS
from tests.browser.dagster_ui import DagsterUI

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SNAPSHOT = Path(__file__).parents[1] / "assets" / "snapshots" / "asset_graph.json"
DRIFT_ASSET = "sentiment/feature_drift"
DRIFT_CHECK = "feature_drift"


def drift_first_day(ui: DagsterUI) -> date:
    """The day the demo's abrupt drift (the sentiment `channel` mix) begins."""
    events = load_events(ui.home / "demo" / "ground_truth.json")
    (event,) = [e for e in events if e.id == "channel-shift"]
    return event.first_day


def test_lineage_graph_shows_every_asset_of_a_monitor(
    ui: DagsterUI, shot: Callable[..., Path]
) -> None:
    graph = json.loads(SNAPSHOT.read_text())["assets"]
    names = sorted(key.split("/", 1)[1] for key in graph if key.startswith("sentiment/"))
    assert {"live_slice", "feature_drift", "daily_report"} <= set(names)

    page = ui.open_lineage("sentiment", viewport=(2000, 2600))
    nodes = page.locator("svg foreignObject")
    for name in names:
        node = nodes.get_by_text(name, exact=True)
        expect(node).to_have_count(1)
        expect(node).to_be_in_viewport()
    shot(page, "sentiment-lineage", docs="ui-lineage.png")


def test_failed_drift_check_shows_on_its_day_in_the_checks_partitions(
    ui: DagsterUI, shot: Callable[..., Path]
) -> None:
    failing = drift_first_day(ui)
    passing = failing - timedelta(days=1)

    page = ui.open_asset(DRIFT_ASSET, partition=failing.isoformat())
    detail = ui.partition_detail(page, failing.isoformat())
    expect(detail.get_by_text("Materialized", exact=True)).to_be_visible()
    expect(detail).to_contain_text("channel")  # the drifted column, in the day's metadata
    shot(page, "drift-asset-on-its-day")

    page = ui.open_check_partition(DRIFT_ASSET, DRIFT_CHECK, failing.isoformat())
    detail = ui.partition_detail(page, failing.isoformat())
    expect(detail.get_by_text("Failed", exact=True)).to_be_visible()
    expect(detail).to_contain_text("drift in channel")
    assert {k: v for k, v in ui.status_counts(page).items() if v} == {"Failed": 1}
    shot(page, "failing-day", docs="ui-check-partition.png")

    page = ui.open_check_partition(DRIFT_ASSET, DRIFT_CHECK, passing.isoformat())
    detail = ui.partition_detail(page, passing.isoformat())
    expect(detail.get_by_text("Passed", exact=True)).to_be_visible()
    assert {k: v for k, v in ui.status_counts(page).items() if v} == {"Passed": 1}
    shot(page, "passing-day")

    page = ui.open_check_history(DRIFT_ASSET, DRIFT_CHECK)
    rows = page.get_by_role("row")
    expect(rows.filter(has_text=failing.isoformat()).first).to_contain_text("Failed")
    expect(rows.filter(has_text=passing.isoformat()).first).to_contain_text("Passed")
    shot(page, "execution-history", docs="ui-check-history.png")


def test_the_demos_backfills_and_runs_are_the_uis_own(
    ui: DagsterUI, shot: Callable[..., Path]
) -> None:
    """Issue 13: the demo's runs had no origin: the Backfills page was empty and each job's
    Runs tab said it never ran. Each monitor's days are now one asset backfill, whose page
    counts every day of each asset as succeeded."""
    page = ui.open("/runs?view=backfills", wait_for_text="monitoring/backfill: ")
    for monitor in DEMO_MONITORS:
        expect(page.get_by_text(f"monitor: {monitor}", exact=True)).to_have_count(1)
    # One backfill per monitor, all of the command's, all done.
    expect(page.get_by_text("monitoring/backfill: ")).to_have_count(len(DEMO_MONITORS))
    expect(page.get_by_text("Success", exact=True)).to_have_count(len(DEMO_MONITORS))
    expect(page.get_by_text(f"{DEMO_DAYS} partitions")).to_have_count(len(DEMO_MONITORS))
    shot(page, "backfills", docs="ui-backfills.png")

    backfill = ui.backfill_id("sentiment")
    page = ui.open(f"/runs/b/{backfill}", wait_for_text="Partition selection")
    daily = json.loads(SNAPSHOT.read_text())["runs"]["sentiment_daily"]
    expect(page.get_by_role("link", name="sentiment / live_slice")).to_be_visible()
    expect(page.get_by_text("100% completed")).to_have_count(len(daily))
    expect(page.get_by_text("Succeeded", exact=True).first).to_be_visible()
    shot(page, "backfill-assets")

    page = ui.open(f"/runs/b/{backfill}?tab=runs", wait_for_text="partition: ")
    expect(page.get_by_text("Success").first).to_be_visible()
    expect(page.get_by_text("monitor: sentiment").first).to_be_visible()
    shot(page, "backfill-runs")
