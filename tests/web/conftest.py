"""The web server under FastAPI's TestClient, over a real result store (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from monitoring_pipelines.core.hallucination.scoring import SampledAnswer, ScoredAnswer, ScoringRun
from monitoring_pipelines.core.judge import Verdict
from monitoring_pipelines.core.settings import Settings
from monitoring_pipelines.web import create_app

DAGSTER = "http://dagster.test:3000"
CONTEXT = "A late payment fee of $5 is charged when an instalment is overdue."


def settings_for(store_url: str, home: Path) -> Settings:
    return Settings(
        home=home,
        config_path=home / "monitors.yaml",
        warehouse_url=None,
        store_url=store_url,
        dagster_url=DAGSTER,
        slack_api_url=None,
    )


@pytest.fixture
def client(store_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """A client of the web server over the test's result store; reports in tmp_path/reports."""
    app = create_app(settings_for(store_url, tmp_path), reports_dir=tmp_path / "reports")
    with TestClient(app) as test_client:
        yield test_client


def scored(
    i: int,
    score: float,
    *,
    intent: str | None = "billing",
    article: str | None = "KB-204",
    question: str | None = None,
    context: str = CONTEXT,
    answer: str | None = None,
    rationale: str | None = None,
    unsupported: tuple[str, ...] = (),
) -> ScoredAnswer:
    """An answer scored ``score``: flagged under 0.7, else an audit item."""
    sampled = SampledAnswer(
        request_key=f"{i:016x}",
        question=question if question is not None else f"What is the fee for a late payment? ({i})",
        context=context,
        answer=answer if answer is not None else f"If an instalment is overdue, we add ${10 + i}.",
        intent=intent,
        article=article,
        model_version="gpt-4o-mini",
        stratum_rows=300,
    )
    verdict = Verdict(
        score,
        rationale if rationale is not None else f"unsupported: '${10 + i}'",
        "offline",
        "offline-lexical-1",
        cost_usd=0.0,
        unsupported_span=_span(sampled.answer, unsupported),
    )
    return ScoredAnswer(sampled, verdict, 0.7)


def _span(answer: str, passages: tuple[str, ...]) -> tuple[int, int] | None:
    """The first of ``passages`` found in ``answer``, as the judge stores it."""
    for passage in passages:
        start = answer.find(passage)
        if passage and start >= 0:
            return start, start + len(passage)
    return None


def run_of(*answers: ScoredAnswer) -> ScoringRun:
    return ScoringRun(tuple(answers), len(answers), None, 0.01)


def csrf_token(client: TestClient, path: str = "/review") -> str:
    """The token the page's forms carry (the client keeps the cookie that goes with it)."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    marker = 'name="csrf_token" value="'
    if marker in page.text:
        return page.text.split(marker, 1)[1].split('"', 1)[0]
    token = client.cookies.get("monitoring_csrf")
    assert token
    return token
