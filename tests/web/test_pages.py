"""The index, the daily reports at their stable URLs and the runbooks rendered from Markdown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from monitoring_pipelines.core.catalog import CHECKS
from monitoring_pipelines.web import create_app
from monitoring_pipelines.web.app import default_runbooks_dir
from tests.web.conftest import DAGSTER, settings_for

REPORT = "<!doctype html><html><body><h1>bot 2026-10-12</h1></body></html>"


@pytest.fixture
def pages(tmp_path: Path) -> Iterator[TestClient]:
    reports = tmp_path / "reports"
    for monitor, day in (("bot", "2026-10-12"), ("bot", "2026-10-13"), ("clf", "2026-10-01")):
        (reports / monitor).mkdir(parents=True, exist_ok=True)
        (reports / monitor / f"{day}.html").write_text(REPORT.replace("2026-10-12", day))
    (reports / "bot" / "notes.html").write_text("not a report")
    (tmp_path / "secret.html").write_text("outside the reports")
    settings = settings_for(f"sqlite:///{tmp_path / 'results.db'}", tmp_path)
    with TestClient(create_app(settings, reports_dir=reports)) as client:
        yield client


def test_the_index_lists_every_report_newest_first_and_the_runbooks(pages: TestClient) -> None:
    page = pages.get("/")
    assert page.status_code == 200
    text = page.text
    assert text.index("/reports/bot/2026-10-13") < text.index("/reports/bot/2026-10-12")
    assert "/reports/clf/2026-10-01" in text and "notes" not in text
    assert '<a href="/review">' in text and f'href="{DAGSTER}"' in text
    assert '<a href="/runbooks/feature_drift">' in text


def test_a_report_has_a_stable_url(pages: TestClient) -> None:
    for path in ("/reports/bot/2026-10-12", "/reports/bot/2026-10-12.html"):
        page = pages.get(path)
        assert page.status_code == 200 and page.text == REPORT, path
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in page.headers["content-security-policy"]


def test_a_missing_report_says_how_to_make_it(pages: TestClient) -> None:
    page = pages.get("/reports/bot/2026-10-20")
    assert page.status_code == 404
    assert "No report for bot on 2026-10-20" in page.text
    assert (
        f"{DAGSTER}/assets/bot/daily_report?view=partitions&amp;partition=2026-10-20" in page.text
    )
    assert 'href="/reports/bot/2026-10-13"' in page.text  # the latest one
    other = pages.get("/reports/nobody/2026-10-20")
    assert other.status_code == 404 and "Monitors with reports: bot, clf" in other.text
    bad = pages.get("/reports/bot/yesterday")
    assert bad.status_code == 400 and "expected YYYY-MM-DD" in bad.text


@pytest.mark.parametrize(
    "path",
    [
        "/reports/..%2F/secret",
        "/reports/bot/..%2F..%2Fsecret",
        "/reports/%2E%2E/2026-10-12",
        "/reports/bot/../../secret.html",
        "/runbooks/..%2F..%2FREADME",
        "/runbooks/%2E%2E%2Fpyproject.toml",
    ],
)
def test_no_path_leaves_the_reports_and_runbooks(pages: TestClient, path: str) -> None:
    page = pages.get(path)
    assert page.status_code in (400, 404), path
    assert "outside the reports" not in page.text and "[project]" not in page.text


def test_every_checks_runbook_is_served_as_html(pages: TestClient) -> None:
    runbooks = default_runbooks_dir()
    for check in CHECKS:
        for path in (f"/runbooks/{check}", f"/runbooks/{check}.md"):
            page = pages.get(path)
            assert page.status_code == 200, path
            assert "<h1>" in page.text and f"{check}:" in page.text, path
    assert (runbooks / "feature_drift.md").exists()
    missing = pages.get("/runbooks/nothing")
    assert missing.status_code == 404 and "There is no runbook &#39;nothing&#39;" in missing.text


def test_unknown_pages_and_methods(pages: TestClient) -> None:
    assert pages.get("/nowhere").status_code == 404
    assert pages.post("/").status_code == 405
    assert pages.get("/healthz").text == "ok"


def test_a_store_that_cannot_be_opened_is_one_clear_line(tmp_path: Path) -> None:
    url = "postgresql+psycopg2://monitor:s3cret@127.0.0.1:1/nowhere"
    with TestClient(create_app(settings_for(url, tmp_path))) as client:
        page = client.get("/review")
    assert page.status_code == 503
    assert "The result store cannot be read or written" in page.text
    assert "s3cret" not in page.text and "Traceback" not in page.text
    assert "/review" in page.text  # the page still has its navigation
