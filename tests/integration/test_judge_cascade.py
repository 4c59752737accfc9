"""The cascade judge against a local OpenAI-compatible server over real HTTP: what it sends, what
stands when the LLM judge cannot answer, and the day's figures (share, spend, estimated rate)."""

from __future__ import annotations

import json
import random

import pytest

from monitoring_pipelines.core.config import OpenAIJudgeConfig
from monitoring_pipelines.core.judge import JudgeBudget, JudgeItem, OfflineJudge, Verdict
from monitoring_pipelines.core.judge.cascade import CascadeJudge, Routed, audit_drawn, summarise
from monitoring_pipelines.core.judge.llm import OpenAIJudge
from tests.fakes.openai_server import FakeOpenAI

TOWER = "The Eiffel Tower in Paris was completed in 1889. It is 330 metres tall."
QUESTION = "When was the Eiffel Tower completed?"
SUPPORTED = "It was completed in 1889."  # offline: confident, high
CONTRADICTED = "It was completed in 1899."  # offline: 0.65, inside the band
UNCHECKABLE = "No."  # offline: capped at the prior (about 0.99), inside the band


def llm_of(fake: FakeOpenAI, **settings: object) -> OpenAIJudge:
    config = OpenAIJudgeConfig(
        base_url=fake.base_url, model=fake.model, input_per_1k=0.001, output_per_1k=0.002,
        **settings,  # type: ignore[arg-type]
    )  # fmt: skip
    return OpenAIJudge(config, fake.api_key, sleep=lambda s: None, rng=random.Random(3))


def test_only_the_uncertain_band_and_the_audit_draw_reach_the_llm_judge(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.judge = lambda messages: json.dumps({"score": 0.2, "rationale": "LLM says no"})
    offline = OfflineJudge()
    items = [JudgeItem(QUESTION, TOWER, a) for a in (SUPPORTED, CONTRADICTED, UNCHECKABLE)]
    first = [offline.judge(*item) for item in items]
    assert 0.5 <= first[1].score < 0.995 <= first[0].score
    assert 0.5 <= first[2].score < 0.995
    cascade = CascadeJudge(llm_of(fake_openai), band=(0.5, 0.995), audit_share=0.0)
    results = cascade.judge_many(items)
    assert len(fake_openai.requests()) == 2  # the two uncertain answers, not the confident one
    assert all(isinstance(r, Verdict) and r.judge == "cascade" for r in results)
    assert [r.score for r in results if isinstance(r, Verdict)] == [first[0].score, 0.2, 0.2]
    assert results[1].rationale.startswith("LLM judge: LLM says no (offline 0.65")  # type: ignore[union-attr]
    assert results[0].rationale.startswith("offline judge: ")  # type: ignore[union-attr]
    # The offline judge's span stays with the verdict for the review page to highlight.
    assert results[1].unsupported_span == first[1].unsupported_span  # type: ignore[union-attr]
    assert [r.route for r in cascade.routed] == ["offline", "uncertain", "uncertain"]

    audited = CascadeJudge(llm_of(fake_openai), band=(0.5, 0.995), audit_share=1.0)
    audited.judge_many(items[:1])
    assert [r.route for r in audited.routed] == ["audit"] and len(fake_openai.requests()) == 3


def test_a_spent_budget_leaves_the_offline_verdict_standing_and_says_so(
    fake_openai: FakeOpenAI,
) -> None:
    items = [JudgeItem(QUESTION, TOWER, f"It was completed in {1890 + i}.") for i in range(4)]
    cascade = CascadeJudge(llm_of(fake_openai), band=(0.0, 1.0), audit_share=0.0)
    results = cascade.judge_many(items, JudgeBudget(max_answers=1))
    assert len(fake_openai.requests()) == 1
    assert all(isinstance(r, Verdict) for r in results)  # nothing is lost
    left = [r for r in results if "LLM judge gave no verdict: budget exhausted" in r.rationale]
    assert len(left) == 3
    summary = summarise(cascade.routed, 0.7)
    # Four answers were routed to the LLM judge; the budget let one be sent.
    assert (summary.answers, summary.sent_uncertain, summary.llm_verdicts) == (4, 1, 1)
    assert [r.asked for r in cascade.routed].count(True) == 1
    assert summary.llm_share == 0.25


def test_a_failing_llm_judge_never_fails_the_cascade(fake_openai: FakeOpenAI) -> None:
    fake_openai.judge = lambda messages: "not a verdict"
    cascade = CascadeJudge(llm_of(fake_openai, max_retries=0), band=(0.0, 1.0))
    verdict = cascade.judge(QUESTION, TOWER, CONTRADICTED)
    assert verdict.score == OfflineJudge().judge(QUESTION, TOWER, CONTRADICTED).score
    assert "LLM judge gave no verdict" in verdict.rationale


def test_the_estimated_rate_extrapolates_the_audit_within_each_side_of_the_band() -> None:
    """100 answers: 10 uncertain (all judged, 6 flagged by the LLM judge), 80 confidently
    passed of which 8 audited (2 flagged by the LLM: 25%), 10 confidently flagged of which 2
    audited (both flagged). Estimate: 6 + 2 + 72 * 0.25 + 2 + 8 * 1.0 = 36 of 100."""
    routed = (
        [Routed("uncertain", "band", 0.8, 0.1 if i < 6 else 0.9, 0.01) for i in range(10)]
        + [Routed("audit", "over", 0.99, 0.2 if i < 2 else 0.95, 0.01) for i in range(8)]
        + [Routed("offline", "over", 0.99, None, 0.0) for _ in range(72)]
        + [Routed("audit", "under", 0.1, 0.3, 0.01) for _ in range(2)]
        + [Routed("offline", "under", 0.1, None, 0.0) for _ in range(8)]
    )
    s = summarise(routed, 0.7)
    assert s.estimated_rate == pytest.approx(0.36)
    assert s.flagged_rate == pytest.approx((6 + 2 + 2 + 8) / 100)  # standing verdicts
    assert s.llm_share == pytest.approx(0.2)
    assert s.llm_cost_usd == pytest.approx(0.2)
    assert s.all_llm_cost_usd == pytest.approx(1.0)  # 0.01 per verdict, 100 answers
    assert s.metadata()["cascade_cost_saved_share"] == pytest.approx(0.8)
    assert s.audit_agreement == pytest.approx((6 + 2) / 10)
    # Without an audit on a side, its offline verdicts stand in the estimate.
    blind = summarise([Routed("offline", "under", 0.1, None, 0.0)] * 4, 0.7)
    assert blind.estimated_rate == 1.0 and blind.all_llm_cost_usd is None


def test_the_audit_draw_is_a_share_of_the_answers_and_fixed_per_answer() -> None:
    items = [JudgeItem("q", "c", f"answer {i}") for i in range(4000)]
    drawn = [audit_drawn(item, 0.05) for item in items]
    assert 0.04 < sum(drawn) / len(drawn) < 0.06
    assert drawn == [audit_drawn(item, 0.05) for item in items]
    assert not any(audit_drawn(item, 0.0) for item in items[:50])
    with pytest.raises(ValueError, match="band must be"):
        CascadeJudge(OfflineJudge(), band=(0.9, 0.5))


def test_the_cascade_is_configured_and_built_from_the_monitor_file() -> None:
    from pydantic import ValidationError

    from monitoring_pipelines.core.config import JudgeConfig
    from monitoring_pipelines.core.judge.factory import make_judge

    config = JudgeConfig.model_validate(
        {"backend": "cascade", "cascade": {"uncertain_band": [0.4, 0.8], "audit_share": 0.1}}
    )
    judge = make_judge(config, api_key="sk-test")
    assert isinstance(judge, CascadeJudge) and judge.name == "cascade"
    assert "band 0.4-0.8/audit 0.1" in judge.version and "sk-test" not in judge.version
    with pytest.raises(ValidationError, match="low <= high"):
        JudgeConfig.model_validate({"cascade": {"uncertain_band": [0.9, 0.1]}})
