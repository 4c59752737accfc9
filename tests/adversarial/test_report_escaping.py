"""Values from the data (column names, intents, article ids, classes, segment values, model
versions, check summaries, the description) reach the HTML report as text, never as markup:
whatever they hold, the page has only the report's own tags, links and images."""

from __future__ import annotations

from datetime import UTC, date, datetime
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.dimensions import dimensions
from monitoring_pipelines.core.hallucination.governance import ReviewPair, agreement
from monitoring_pipelines.core.performance.additive import Confusion
from monitoring_pipelines.core.performance.metrics import PerformanceStats
from monitoring_pipelines.core.report.checks import CheckRow
from monitoring_pipelines.core.report.hallucination import ReviewState
from monitoring_pipelines.core.report.page import DriftRow, ReportInputs, render_report

DAY = date(2026, 3, 10)
NOW = datetime(2026, 3, 11, tzinfo=UTC)
TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "nav", "a", "section", "h1",
    "h2", "h3", "p", "ul", "li", "span", "code", "div", "table", "caption", "thead", "tbody",
    "tr", "th", "td", "figure", "img", "figcaption",
}  # fmt: skip
ATTRIBUTES = {"lang", "charset", "http-equiv", "content", "id", "class", "href", "alt", "src",
              "scope", "aria-label"}  # fmt: skip
HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&amp;</td></table>\x00"


class Markup(HTMLParser):
    """The tags and attributes of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes += attrs


def page(text: str) -> str:
    """A page with ``text`` in every place the data names something."""
    cls = f"c{text}"
    confusion = Confusion({(cls, cls): 5, (cls, "other"): 2, ("other", "other"): 4})
    performance = PerformanceStats("label", 20, 11, confusion).to_rows()
    performance |= PerformanceStats("label", 4, 2, Confusion({(cls, cls): 2})).to_rows(
        {"segment": text, "value": text}
    )
    rates: dict[tuple[str, str], float | None] = {
        ("judge", dimensions(judge=text, prompt_version=text)): 0.7,
        ("hallucination_rate", ""): 0.1,
    }
    for scope in ("intent", "article"):
        dims = dimensions(**{scope: text})
        rates |= {("hallucination_rate", dims): 0.5, ("scored", dims): 4.0, ("rise", dims): 1.0}
    pair = dimensions(baseline=text, candidate=text + "2")
    canary = {
        ("verdict_code", pair): 2.0,
        ("p95_increase_ms", pair): 30.0,
        ("version_rows", dimensions(version=text)): 7.0,
    }
    quality = {("passed", dimensions(column=text, expectation=text)): 0.0}
    inputs = ReportInputs(
        monitor=text or "m",
        day=DAY,
        description=text,
        generated_at=NOW,
        checks=[
            CheckRow(text or "c", text, False, "critical", text),
            CheckRow("canary", "", False, "critical", text),
        ],
        drift=[DriftRow(text, "feature", text, 0.5, 0.1, 0.2, 0.01, 10, "critical", text)],
        metrics={
            Asset.PERFORMANCE: {DAY: performance},
            Asset.HALLUCINATION_RATE: {DAY: rates},
            Asset.CANARY_COMPARISON: {DAY: canary},
            Asset.DATA_QUALITY: {DAY: quality},
        },
        assets=frozenset({Asset.PERFORMANCE, Asset.HALLUCINATION_RATE, Asset.CANARY_COMPARISON}),
        check_specs=(text or "c", "volume"),
        performance_kind="label",
        performance_metric="accuracy",
        review=ReviewState(
            pending=1,
            day_statuses={text: 1},
            agreement=agreement([ReviewPair(True, True, text, text)]),
            judge=text,
        ),
    )
    return render_report(inputs).html


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")  # a plot's title: any text
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(min_size=1, max_size=60) | st.sampled_from(["<", "&", '"', "</caption>"]))
@example(HOSTILE)
@example("x" * 3000)
def test_values_from_the_data_are_text_and_never_markup(text: str) -> None:
    html = page(text)
    markup = Markup()
    markup.feed(html)
    assert markup.tags <= TAGS
    assert {name for name, _ in markup.attributes} <= ATTRIBUTES
    for name, value in markup.attributes:
        if name == "href":
            assert value is not None and value.startswith("#")
        if name == "src":
            assert value is not None and value.startswith("data:image/png;base64,")
    assert "<script" not in html


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")
def test_a_hostile_value_is_shown_escaped_in_each_section() -> None:
    html = page(HOSTILE)
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for section in ("drift", "performance", "hallucination", "canary", "data-quality"):
        body = html.split(f'<section id="{section}">', 1)[1].split("</section>", 1)[0]
        assert escaped in body, section
    assert "<script>" not in html and "<img src=x" not in html
