"""Every link an alert carries: the alerted partition in Dagster's UI, the day's report and the
runbook on the web server (or a hosted runbook site), and where their bases come from."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from assets.daily_report import report_url
from monitoring_pipelines.core.alerting.messages import Links
from monitoring_pipelines.core.errors import ConfigError
from monitoring_pipelines.core.settings import DEFAULT_WEB_URL, Settings

DAGSTER = "http://127.0.0.1:3000"
WEB = "http://127.0.0.1:8080"


def test_the_asset_link_opens_the_partitions_tab_on_the_alerted_day() -> None:
    # Dagster's asset page opens on its overview (the latest materialization) whatever
    # `partition` says; its Partitions tab selects the query's partition.
    url = Links(DAGSTER, None).asset("recommender/feature_drift", "2026-09-17")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == DAGSTER
    assert parts.path == "/assets/recommender/feature_drift"
    assert parse_qs(parts.query) == {"view": ["partitions"], "partition": ["2026-09-17"]}


@pytest.mark.parametrize(
    ("asset", "partition", "path", "query"),
    [
        ("my model/drift v2", "2026-03-07|eu", "/assets/my%20model/drift%20v2", "2026-03-07|eu"),
        ("a/b&c", "x&view=events", "/assets/a/b%26c", "x&view=events"),
        ("a/?#", "2026-01-01", "/assets/a/%3F%23", "2026-01-01"),
    ],
)
def test_asset_links_quote_keys_and_partitions(
    asset: str, partition: str, path: str, query: str
) -> None:
    parts = urlsplit(Links(DAGSTER, None).asset(asset, partition))
    assert parts.path == path
    assert parse_qs(parts.query) == {"view": ["partitions"], "partition": [query]}


def test_an_unpartitioned_asset_link_opens_the_asset() -> None:
    assert Links(DAGSTER, None).asset("m/reference_profile", "") == (
        f"{DAGSTER}/assets/m/reference_profile"
    )


def test_runbooks_resolve_on_the_local_server_unless_a_hosted_base_is_configured() -> None:
    local = Links(DAGSTER, None, WEB)
    assert local.runbook("feature_drift") == f"{WEB}/runbooks/feature_drift.md"
    hosted = Links(DAGSTER, "https://wiki.example/runbooks/", WEB)
    assert hosted.runbook("feature_drift") == "https://wiki.example/runbooks/feature_drift.md"
    assert Links(DAGSTER, None).runbook("feature_drift") is None


def test_the_report_link_is_the_days_page_on_the_web_server() -> None:
    links = Links(DAGSTER, None, "https://monitoring.example.com/obs")
    assert links.report("support bot", "2026-10-12") == (
        "https://monitoring.example.com/obs/reports/support%20bot/2026-10-12"
    )
    assert links.report("bot", "") is None
    assert Links(DAGSTER, None).report("bot", "2026-10-12") is None


def test_the_report_metadata_links_the_web_server_or_else_the_file(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "bot" / "2026-10-12.html"
    day = date(2026, 10, 12)
    assert report_url(WEB, "bot", day, path) == f"{WEB}/reports/bot/2026-10-12"
    assert report_url(None, "bot", day, path) == path.as_uri()


def test_the_web_url_comes_from_the_environment() -> None:
    assert Settings.from_env({}).web_url == DEFAULT_WEB_URL == WEB
    hosted = Settings.from_env({"MONITORING_WEB_URL": "https://mon.example.com/obs/"})
    assert hosted.web_url == "https://mon.example.com/obs"
    for bad in ("mon.example.com", "ftp://mon.example.com", "http://"):
        with pytest.raises(ConfigError, match="MONITORING_WEB_URL"):
            Settings.from_env({"MONITORING_WEB_URL": bad})
