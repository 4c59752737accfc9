"""Hostile texts against the offline judge: any answer and context (markup, NUL, scripts,
glued punctuation, huge) give a score in [0, 1] and a span that lies inside the answer and
covers the words the rationale names."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitoring_pipelines.core.judge import OfflineJudge, Verdict

JUDGE = OfflineJudge()
PIECES = st.sampled_from(
    ["Paris", "1889", "3,000", "$5", "5%", "not", "didn't", "HanksTom", "Ölçü", "東京", "<b>",
     "</script>", "\x00", "\u200b", "I", "Me", ".", "?", ";", "\n", " ", "e.g.", "U.S.", "'s",
     "Korean", "Korea", "finished", "tower", "The", "and", "but", "\ud7ff", "🙂"]
)  # fmt: skip
TEXTS = st.lists(PIECES, max_size=40).map(" ".join) | st.text(max_size=200)


def check(verdict: Verdict, answer: str) -> None:
    assert 0.0 <= verdict.score <= 1.0
    span = verdict.unsupported_span
    if span is not None:
        start, end = span
        assert 0 <= start < end <= len(answer)
        assert answer[start:end].strip() == answer[start:end]  # starts and ends on a word


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(question=st.none() | TEXTS, context=TEXTS, answer=TEXTS)
def test_any_texts_give_a_bounded_score_and_a_span_inside_the_answer(
    question: str | None, context: str, answer: str
) -> None:
    check(JUDGE.judge(question, context, answer), answer)


def test_the_span_covers_the_named_words_in_markup_and_after_a_nul() -> None:
    context = "The museum in Paris opened in 1889."
    answer = "<p>The museum\x00 opened in <b>1899</b> in Paris, says <i>Jones</i>.</p>"
    verdict = JUDGE.judge(None, context, answer)
    check(verdict, answer)
    start, end = verdict.unsupported_span or (0, 0)
    assert "1899" in answer[start:end]
    assert verdict.score < 0.7


def test_a_huge_answer_against_a_huge_context_stays_fast() -> None:
    context = " ".join(f"Item {i} costs {i} dollars." for i in range(20_000))
    answer = " ".join(f"Item {i} costs {i + 50_000} dollars." for i in range(2_000))
    start = time.perf_counter()
    verdict = JUDGE.judge("What does it cost?", context, answer)
    assert time.perf_counter() - start < 20.0  # generous: the CPU is shared in CI
    check(verdict, answer)
    assert verdict.score < 0.7 and len(verdict.rationale) < 400
