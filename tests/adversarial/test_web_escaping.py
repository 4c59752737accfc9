"""Hostile values on the web pages: markup, quotes, NUL, unicode and huge strings in answers,
questions, contexts, rationales, intents, articles and monitor names are shown as text."""

from __future__ import annotations

import itertools
from pathlib import Path

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape

from monitoring_pipelines.core.hallucination.review import ReviewQueue
from monitoring_pipelines.core.hallucination.store import save_scores
from monitoring_pipelines.core.store.database import Database
from monitoring_pipelines.core.store.results import ResultRepository
from monitoring_pipelines.web import create_app
from monitoring_pipelines.web.highlight import highlighted, spans
from monitoring_pipelines.web.review import SHOWN_CHARS
from tests.web.conftest import run_of, scored, settings_for

PAYLOADS = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "</textarea><script>x</script>",
    "{{ 7*7 }}{% raw %}",
    "javascript:alert(1)",
    "'; DROP TABLE review_queue; --",
)
hostile = st.builds(
    lambda text, payload, at: text[:at] + payload + text[at:],
    st.text(max_size=60),
    st.sampled_from(PAYLOADS),
    st.integers(0, 60),
)
name = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=40,
).map(lambda s: s + "<b>")


def no_live_markup(page: str) -> None:
    lowered = page.lower()
    assert "<script" not in lowered and "onerror=" not in lowered.replace("onerror=alert", "")
    assert "<img" not in lowered and "<b>" not in lowered


def test_hostile_texts_are_escaped_on_the_queue_and_the_item_page(tmp_path: Path) -> None:
    database = Database.connect(f"sqlite:///{tmp_path / 'results.db'}")
    results = ResultRepository(database)
    app = create_app(settings_for(f"sqlite:///{tmp_path / 'results.db'}", tmp_path))
    keys = itertools.count(1)

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        question=hostile,
        context=hostile,
        answer=hostile,
        rationale=hostile,
        intent=name,
        article=name,
        monitor=name,
    )
    def check(
        question: str,
        context: str,
        answer: str,
        rationale: str,
        intent: str,
        article: str,
        monitor: str,
    ) -> None:
        key = next(keys)
        save_scores(
            results,
            monitor,
            "2026-10-12",
            run_of(
                scored(
                    key,
                    0.1,
                    question=question,
                    context=context,
                    answer=answer,
                    rationale=rationale,
                    intent=intent,
                    article=article,
                    unsupported=(answer[:5], "<mark>"),
                )
            ),
        )
        item = next(
            i for i in ReviewQueue(results).items(monitor) if i.request_key == f"{key:016x}"
        )
        with TestClient(app) as client:
            for path in ("/review?status=all", f"/review/{item.id}"):
                page = client.get(path)
                assert page.status_code == 200, path
                no_live_markup(page.text)
            page = client.get(f"/review/{item.id}").text
            for value in (question, context, rationale, intent, article):
                assert str(escape(value)) in page
            # The answer is shown whole (marks only wrap parts of it).
            assert str(escape(answer)) in page.replace('<mark class="unsupported">', "").replace(
                "</mark>", ""
            )
            filtered = client.get("/review", params={"intent": intent, "article": article})
            assert filtered.status_code == 200 and f'href="/review/{item.id}"' in filtered.text

    try:
        check()
    finally:
        database.dispose()


def test_a_huge_answer_is_cut_on_the_page_and_says_how_much(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'results.db'}"
    database = Database.connect(url)
    results = ResultRepository(database)
    huge = "<script>" + "x" * 1_000_000
    save_scores(results, "bot", "2026-10-12", run_of(scored(1, 0.1, answer=huge, context=huge)))
    [item] = ReviewQueue(results).items("bot")
    with TestClient(create_app(settings_for(url, tmp_path))) as client:
        page = client.get(f"/review/{item.id}")
        listing = client.get("/review")
    database.dispose()
    assert page.status_code == 200 and len(page.text) < 3 * SHOWN_CHARS + 20_000
    assert f"({len(huge) - SHOWN_CHARS:,} more characters not shown)" in page.text
    assert "<script" not in page.text and "&lt;script&gt;" in page.text
    assert listing.status_code == 200 and len(listing.text) < 20_000


@given(text=st.text(max_size=80), passages=st.lists(st.text(max_size=8), max_size=5))
def test_highlighting_escapes_everything_and_marks_only_exact_passages(
    text: str, passages: list[str]
) -> None:
    html = str(highlighted(text, passages))
    plain = html.replace('<mark class="unsupported">', "").replace("</mark>", "")
    assert plain == str(escape(text))
    marked = spans(text, passages)
    assert html.count("<mark") == len(marked)
    for start, end in marked:
        assert any(p and p in text[start:end] for p in passages)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(marked))
    if not any(p.strip() and p in text for p in passages):
        assert "<mark" not in html
