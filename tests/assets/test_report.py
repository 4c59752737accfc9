"""The daily_report asset: written after the other daily assets, linked from its metadata.

The shop installation runs its reference and one drifted day with ``shop/daily_report`` added to
the Definitions as the factory will add it (it joins the monitor's group, so the daily job runs
it after the assets it depends on). The alerting sensor then records the day's checks; the day is
weeks old, but an incident opened on it, so the sensor requests its report, and the run it
requests replaces the day's file with one that lists the checks as the definitions declare them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.settings import DEFAULT_WEB_URL
from tests.assets.conftest import (
    DRIFTED_DAY,
    QUIET,
    SHOP_CONFIG,
    Monitoring,
    MonitoringFactory,
    ShopData,
    materialization,
    shop_tables,
)

REPORT = dg.AssetKey(["shop", "daily_report"])
UPSTREAM = {"feature_drift", "window_drift", "service_metrics", "token_costs", "data_quality"}
DAY = DRIFTED_DAY.isoformat()


def with_report(monitoring: Monitoring) -> Monitoring:
    """The installation with a job that renders the reports (the alerting sensor requests them
    for recent days; the daily job leaves them out)."""
    job = dg.define_asset_job("reports", selection=dg.AssetSelection.assets(REPORT))
    return monitoring.with_definitions(dg.Definitions(jobs=[job]))


def render(monitoring: Monitoring, partition: str = DAY) -> dg.ExecuteInProcessResult:
    return monitoring.defs.resolve_job_def("reports").execute_in_process(
        instance=monitoring.instance, partition_key=partition, run_config=QUIET
    )


@dataclass(frozen=True)
class Scenario:
    monitoring: Monitoring
    first: dg.ExecuteInProcessResult
    first_html: str
    first_inode: int
    requests: list[dg.RunRequest]
    rerun: dg.ExecuteInProcessResult

    @property
    def path(self) -> Path:
        return self.monitoring.home / "reports" / "shop" / f"{DRIFTED_DAY.isoformat()}.html"


@pytest.fixture(scope="module")
def scenario(make_monitoring: MonitoringFactory, shop_data: ShopData) -> Scenario:
    monitoring = with_report(make_monitoring(SHOP_CONFIG, shop_tables(shop_data)))
    monitoring.reference("shop")
    monitoring.day("shop", DRIFTED_DAY)
    first = render(monitoring)
    path = monitoring.home / "reports" / "shop" / f"{DRIFTED_DAY.isoformat()}.html"
    first_html, first_inode = path.read_text(encoding="utf-8"), path.stat().st_ino
    sensor = monitoring.defs.resolve_sensor_def("alerting")
    resources = {k: monitoring.defs.resources[k] for k in ("result_store", "slack", "pagerduty")}
    with dg.build_sensor_context(instance=monitoring.instance, resources=resources) as ctx:
        result = sensor(ctx)
    assert isinstance(result, dg.SensorResult)
    requests = list(result.run_requests or [])
    [request] = requests
    rerun = render(monitoring, request.partition_key or "")
    return Scenario(monitoring, first, first_html, first_inode, requests, rerun)


def images(html: str) -> list[str]:
    return re.findall(r'<img [^>]*src="data:image/png;base64,[^"]+"', html)


def test_report_follows_the_monitors_other_daily_assets(scenario: Scenario) -> None:
    graph = scenario.monitoring.defs.resolve_asset_graph()
    parents = graph.get(REPORT).parent_keys
    assert {key.path[-1] for key in parents} == UPSTREAM
    # Not part of the daily run: the alerting sensor requests it once the checks are recorded.
    assert REPORT not in scenario.monitoring.daily_assets("shop")
    assert [e.asset_key for e in scenario.first.get_asset_materialization_events()] == [REPORT]
    assert not graph.get(REPORT).check_keys


def test_report_is_written_and_linked_from_the_metadata(scenario: Scenario) -> None:
    metadata: dict[str, Any] = materialization(scenario.first, "shop/daily_report")
    path = scenario.path
    assert Path(metadata["report"]) == path
    # The report's page on the web server (`monitoring serve`), which browsers open, not a file.
    assert metadata["report_url"] == f"{DEFAULT_WEB_URL}/reports/shop/{path.stem}"
    html = scenario.first_html
    assert metadata["plots"] == len(images(html)) > 0
    # The drifted day: the drift table leads with drifted columns, each with its distribution.
    assert '<tr class="critical"><td>amount</td>' in html
    drifted = re.findall(r'<tr class="(?:warn|critical)"><td>([^<]+)</td>', html)
    assert set(drifted) >= {"amount", "channel", "decision"}
    for column in drifted[:6]:
        assert f'alt="{column}: reference against {DRIFTED_DAY}"' in html
    for anchor in ("drift", "drift-trend", "service", "cost", "data-quality"):
        assert f'<section id="{anchor}">' in html
    assert "performance" not in re.findall(r'<section id="([^"]+)"', html)  # no labels
    # Alerting had not run: the summary comes from the stored verdicts and metrics.
    assert "not recorded yet" in metadata["summary"] and "`drift` (critical)" in metadata["summary"]


def test_rerun_replaces_the_days_file(scenario: Scenario) -> None:
    first = materialization(scenario.first, "shop/daily_report")
    again = materialization(scenario.rerun, "shop/daily_report")
    path = scenario.path
    assert again["report"] == first["report"]
    html = path.read_text(encoding="utf-8")
    assert again["bytes"] == path.stat().st_size == len(html.encode("utf-8"))
    assert path.stat().st_ino != scenario.first_inode  # a new file renamed over the old one
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    # Now the alerting pass has recorded the day's checks, and the report lists them.
    assert "not recorded yet" not in html and "not recorded yet" in scenario.first_html
    assert re.search(rf"\d+ of \d+ checks failed on {DRIFTED_DAY}", html)
    assert "<code>feature_drift</code>" in html and "<code>latency_slo</code>" in html
    assert again["summary"].startswith("**") and "`feature_drift` (critical)" in again["summary"]


def test_an_old_day_with_an_incident_gets_its_report_requested(scenario: Scenario) -> None:
    store = AlertRepository.connect(scenario.monitoring.store_url)
    try:
        incidents = store.incidents()
    finally:
        store.dispose()
    # The day is months before today, past the paging horizon: the incident asks for it.
    assert any(i.first_partition == DAY for i in incidents)
    [request] = scenario.requests
    assert request.partition_key == DAY and list(request.asset_selection or []) == [REPORT]
    assert [e.asset_key for e in scenario.rerun.get_asset_materialization_events()] == [REPORT]


def test_the_report_counts_the_checks_the_definitions_declare(scenario: Scenario) -> None:
    graph = scenario.monitoring.defs.resolve_asset_graph()
    declared = [
        key
        for key in graph.asset_check_keys
        if key.asset_key.path[0] == "shop" and graph.get(key.asset_key).partitions_def is not None
    ]
    assert len(declared) > 5
    html = scenario.path.read_text(encoding="utf-8")
    counted = re.search(rf"(\d+) of (\d+) checks failed on {DRIFTED_DAY}", html)
    assert counted and int(counted.group(2)) == len(declared)
    # Each declared check is listed once: failed (with its findings), passed, or not evaluated
    # (answer_length needs a week of history; the shop has one day).
    header = html[: html.index("</header>")]
    failed = re.findall(r"<code>([^<]+)</code>", header)
    passed = re.search(r'<p class="meta">passed: ([^<]*)</p>', header)
    waiting = re.search(r'<p class="meta">not evaluated on this day: ([^<]*)</p>', header)
    assert passed and len(failed) == int(counted.group(1))
    assert waiting and waiting.group(1) == "answer_length"
    listed = [*failed, *passed.group(1).split(", "), *waiting.group(1).split(", ")]
    assert sorted(listed) == sorted(k.name for k in declared)
