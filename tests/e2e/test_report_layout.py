"""The report in a real browser at 1280 px: the page never scrolls sideways; a table wider than
the page scrolls inside its own box, and text from the data too long for a line wraps. Needs
Playwright's Python package and a Chromium."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.dimensions import dimensions
from monitoring_pipelines.core.performance.additive import Confusion
from monitoring_pipelines.core.performance.metrics import PerformanceStats
from monitoring_pipelines.core.report.checks import CheckRow
from monitoring_pipelines.core.report.page import DriftRow, ReportInputs, render_report

DAY = date(2026, 3, 10)
WIDTH = 1280
LONG = "an_unbroken_column_name_from_a_wide_export_" * 12


def wide_page() -> str:
    classes = [f"class-with-a-long-label-{i:02d}" for i in range(14)]
    cells = {(a, b): 1000 + 7 * i + j for i, a in enumerate(classes) for j, b in enumerate(classes)}
    performance = PerformanceStats("label", 500_000, 300_000, Confusion(cells)).to_rows()
    quality = {
        (metric, dimensions(column=f"{LONG}{c}", expectation="values_between")): 12345.678
        for c in range(4)
        for metric in ("unexpected_share", "observed_min", "observed_max", "null_share", "mostly")
    }
    inputs = ReportInputs(
        monitor="wide",
        day=DAY,
        description=LONG,
        generated_at=datetime(2026, 3, 11, tzinfo=UTC),
        checks=[CheckRow("feature_drift", LONG, False, "critical", f"{LONG} drifted")],
        drift=[DriftRow(LONG, "feature", "psi", 0.5, 0.1, 0.2, 0.01, 10, "critical", LONG)],
        metrics={Asset.PERFORMANCE: {DAY: performance}, Asset.DATA_QUALITY: {DAY: quality}},
        assets=frozenset({Asset.PERFORMANCE, Asset.DATA_QUALITY}),
        performance_kind="label",
        performance_metric="accuracy",
    )
    return render_report(inputs).html


@pytest.mark.slow
def test_nothing_is_wider_than_the_page_at_1280_px(tmp_path: Path, browser: Any) -> None:
    page_file = tmp_path / "wide.html"
    page_file.write_text(wide_page(), encoding="utf-8")
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    try:
        page.goto(page_file.as_uri())
        page_width = page.evaluate("document.documentElement.scrollWidth")
        boxes = page.evaluate(
            "Array.from(document.querySelectorAll('.scroll'), b => "
            "[b.querySelector('caption').textContent, b.scrollWidth > b.clientWidth, "
            "b.getBoundingClientRect().right])"
        )
        page.screenshot(path=str(tmp_path / "report-1280.png"), full_page=True)
    finally:
        page.close()
    assert page_width <= WIDTH
    assert all(right <= WIDTH for _, _, right in boxes)
    scrolling = [caption for caption, scrolls, _ in boxes if scrolls]
    # The quality table's unbroken column names make it wider than the page: it scrolls.
    assert any(c.startswith(f"Data quality of {DAY}") for c in scrolling), boxes
    assert (tmp_path / "report-1280.png").stat().st_size > 0
