"""The offline faithfulness judge: behaviour on hand-made cases, HaluEval and the demo's answers.

A lone unsupported name scores lower than its supported counterpart but is not flagged by
itself (conversational answers hold many such names); a contradicted number, or an answer with
nothing retrieved, is flagged; every unsupported word is named and located in the answer.
"""

from __future__ import annotations

import json
import time
from dataclasses import FrozenInstanceError
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from scipy.stats import rankdata

from monitoring_pipelines.core.judge import (
    Judge,
    JudgeBudget,
    JudgeItem,
    OfflineJudge,
    Unscored,
    Verdict,
)
from monitoring_pipelines.demo import texts

HALUEVAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "halueval_qa_dev.jsonl"
STRATA = ((1, 2), (3, 4), (5, 7), (8, 12), (13, 10**9))
# What benchmarks/bench_judge.py measured for offline-claims-3 on the whole QA file; the
# floors allow 0.02 less (offline-claims-1: 0.941, 0.966, 0.946).
ACHIEVED_POOLED, ACHIEVED_MEAN, ACHIEVED_OVERALL = 0.948, 0.979, 0.982
THRESHOLD = 0.7

DELIVERY = (
    "Standard delivery within the country takes 3 to 5 business days after dispatch. "
    "Express delivery arrives in 1 business day when the order is placed before 2 pm."
)
TOWER = "The Eiffel Tower in Paris was completed in 1889 for the World Fair. It is 330 metres tall."
AIXAM = (
    "Aixam is a French car maker owned by Polaris Industries. Polaris Industries is an "
    "American manufacturer based in Medina, Minnesota."
)
MAGAZINES = (
    "Arthur's Magazine (1844-1846) was an American literary periodical. First for Women is a "
    "woman's magazine first published in 1989 by Bauer Media Group."
)


@pytest.fixture(scope="module")
def judge() -> OfflineJudge:
    return OfflineJudge()


def auroc(risk: npt.NDArray[np.float64], y: npt.NDArray[np.int64]) -> float:
    """Mann-Whitney AUROC: P(risk of a positive > risk of a negative), ties half."""
    n1, n0 = int(y.sum()), int(len(y) - y.sum())
    ranks = rankdata(risk)
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def test_a_supported_paraphrase_passes(judge: OfflineJudge) -> None:
    verdict = judge.judge(
        "How long does standard delivery take?",
        DELIVERY,
        "Once your order ships, standard delivery usually needs 3 to 5 business days.",
    )
    assert verdict.score >= THRESHOLD
    assert verdict.rationale.startswith("unsupported: 'ships'")  # words, not names: tolerated
    assert verdict.unsupported_span is not None


def test_a_number_not_in_the_context_is_flagged_and_named(judge: OfflineJudge) -> None:
    question = "When was the Eiffel Tower finished?"
    right = judge.judge(question, TOWER, "It was finished in 1889, for the World Fair.")
    wrong = judge.judge(question, TOWER, "It was finished in 1899, for the World Fair.")
    assert right.score >= THRESHOLD
    assert wrong.score < THRESHOLD
    assert "unsupported: '1899'" in wrong.rationale
    start, end = wrong.unsupported_span or (0, 0)
    assert "It was finished in 1899, for the World Fair."[start:end] == "1899"


def test_a_number_from_another_fact_of_the_context_does_not_count(judge: OfflineJudge) -> None:
    question = "How fast is express delivery?"
    right = judge.judge(question, DELIVERY, "Express delivery takes 1 business day.")
    wrong_unit = judge.judge(question, DELIVERY, "Express delivery takes 5 days.")
    assert wrong_unit.score < right.score
    assert "unsupported: '5'" in wrong_unit.rationale


def test_a_name_not_in_the_context_is_named_and_scored_lower(judge: OfflineJudge) -> None:
    question = "Where is the company that purchased Aixam based?"
    right = judge.judge(question, AIXAM, "Medina, Minnesota")
    wrong = judge.judge(question, AIXAM, "Polaris is based in Detroit, Michigan.")
    assert right.score >= THRESHOLD and wrong.score < right.score
    assert "'Detroit', 'Michigan'" in wrong.rationale
    assert wrong.unsupported_span == (20, 37)  # "Detroit, Michigan"


def test_echoing_the_question_is_no_support(judge: OfflineJudge) -> None:
    question = "Where is the company that purchased Aixam based?"
    echo = judge.judge(question, AIXAM, "The company that purchased Aixam is based there.")
    assert "only echoes the question (3 content words)" in echo.rationale
    # The same words count as support when the question does not contain them.
    assert judge.judge(None, AIXAM, "Polaris Industries purchased Aixam.").score >= THRESHOLD


def test_an_either_or_answer_is_checked_against_the_context_years(judge: OfflineJudge) -> None:
    question = "Which magazine was started first, Arthur's Magazine or First for Women?"
    right = judge.judge(question, MAGAZINES, "Arthur's Magazine")
    wrong = judge.judge(question, MAGAZINES, "First for Women was started first.")
    assert right.score >= THRESHOLD and wrong.score < right.score
    assert "goes against the context" in wrong.rationale and "1844" in wrong.rationale


def test_empty_answers_and_empty_contexts(judge: OfflineJudge) -> None:
    for empty in ("", "   ", "...", "Sorry, I cannot help with that."):
        verdict = judge.judge("Q?", TOWER, empty)
        assert verdict.score == 1.0, empty
        assert verdict.rationale == "no factual content to check"
    nothing_retrieved = judge.judge("What is the capital?", "", "Paris is the capital of France.")
    assert nothing_retrieved.score < THRESHOLD
    assert "'France', 'Paris'" in nothing_retrieved.rationale
    assert judge.judge(None, "", "").score == 1.0


def test_unicode_accents_and_scripts(judge: OfflineJudge) -> None:
    novel = "2666 is a novel by the Chilean writer Roberto Bolaño, published in 2004."
    cases = [
        ("Who wrote 2666?", novel, "Roberto Bolano", "Gabriel García Márquez"),
        ("Capital?", "Столица России — Москва.", "Москва", "Казань"),
        ("首都はどこ?", "日本の首都は東京です。", "東京", "大阪"),
    ]
    for question, context, right, wrong in cases:
        supported = judge.judge(question, context, right)
        unsupported = judge.judge(question, context, wrong)
        assert supported.score >= THRESHOLD and unsupported.score < supported.score
        assert unsupported.unsupported_span == (0, len(wrong))


def test_a_very_long_context_is_fast_and_still_finds_the_fact(judge: OfflineJudge) -> None:
    filler = " ".join(
        f"Clause {i} of the policy covers item {i} in aisle {i % 97}." for i in range(5_000)
    )
    context = f"{filler} Returns are inspected at our Reno warehouse."
    start = time.perf_counter()
    right = judge.judge("Where are returns inspected?", context, "At the Reno warehouse.")
    wrong = judge.judge("Where are returns inspected?", context, "At the Memphis warehouse.")
    assert time.perf_counter() - start < 5.0
    assert right.score >= THRESHOLD and wrong.score < right.score
    assert "'Memphis'" in wrong.rationale


def test_verdicts_are_complete_deterministic_and_in_order(judge: OfflineJudge) -> None:
    items = [
        JudgeItem("When was it finished?", TOWER, "In 1889."),
        ("When was it finished?", TOWER, "It was completed in 1999."),
        (None, AIXAM, "Medina, Minnesota"),
    ]
    first = judge.judge_many(items)
    assert first == judge.judge_many(items) == [judge.judge(*item) for item in items]
    assert [v.score >= THRESHOLD for v in first] == [True, False, True]
    for verdict in first:
        assert (verdict.judge, verdict.prompt_version) == ("offline", "offline-claims-3")
        assert (verdict.tokens_in, verdict.tokens_out, verdict.cost_usd) == (0, 0, 0.0)
    assert isinstance(judge, Judge)


def test_a_budget_of_answers_leaves_the_rest_unscored(judge: OfflineJudge) -> None:
    items = [JudgeItem(None, TOWER, f"It is {n} metres tall.") for n in (330, 300, 330)]
    results = judge.judge_many(items, JudgeBudget(usd=0.0, max_answers=2))
    assert results[:2] == judge.judge_many(items[:2])  # dollars do not matter: it costs nothing
    assert results[2] == Unscored(
        "budget_exhausted", "budget exhausted", "offline", "offline-claims-3", 0, 0, 0.0
    )


def test_verdict_and_items_reject_bad_input(judge: OfflineJudge) -> None:
    with pytest.raises(ValueError, match=r"Verdict.score must be within \[0, 1\], got 1.5"):
        Verdict(1.5, "", "offline", "v")
    verdict = Verdict(0.5, "why", "offline", "v")
    with pytest.raises(FrozenInstanceError):
        verdict.score = 0.9  # type: ignore[misc]
    with pytest.raises(ValueError, match="judge item 1 has 2 fields"):
        judge.judge_many([(None, "c", "a"), ("c", "a")])  # type: ignore[list-item]


def test_demo_chatbot_answers_are_ranked_by_their_unsupported_values(judge: OfflineJudge) -> None:
    rng = np.random.default_rng(3)
    facts = [(a, i) for a in texts.KNOWLEDGE_BASE for i in range(len(a.facts))]
    items, labels = [], []
    for _ in range(400):
        article, i = facts[rng.integers(len(facts))]
        choices = texts.context_choices(article, i)
        context = texts.render_context(article, choices[rng.integers(len(choices))])
        answers = texts.answer_variants(article.facts[i], supported=bool(rng.random() < 0.5))
        answer = answers[rng.integers(len(answers))]
        questions = texts.question_variants(article.facts[i])
        items.append((questions[rng.integers(len(questions))], context, answer))
        labels.append(int(bool(texts.unsupported_claims(answer, context))))
    y = np.array(labels)
    scores = np.array([v.score for v in judge.judge_many(items)])
    assert auroc(-scores, y) >= 0.87  # 0.887 measured (offline-claims-1: 0.932)
    assert (scores[y == 0] < THRESHOLD).mean() <= 0.02  # supported answers rarely flagged
    assert (scores[y == 1] < THRESHOLD).mean() >= 0.35  # those with a contradicted number


def test_halueval_within_length_strata_does_not_regress(judge: OfflineJudge) -> None:
    if not HALUEVAL.exists():
        pytest.skip(f"{HALUEVAL} is absent")
    rows = [json.loads(line) for line in HALUEVAL.read_text().splitlines() if line.strip()]
    y = np.array([r["hallucinated"] for r in rows])
    words = [len(r["answer"].split()) for r in rows]
    stratum = np.array(
        [next(k for k, (lo, hi) in enumerate(STRATA) if lo <= n <= hi) for n in words]
    )
    verdicts = judge.judge_many([(r["question"], r["context"], r["answer"]) for r in rows])
    risk = -np.array([v.score for v in verdicts])
    per, pairs, concordant = [], 0, 0.0
    for k in range(len(STRATA)):
        mask = stratum == k
        n1, n0 = int(y[mask].sum()), int((y[mask] == 0).sum())
        per.append(auroc(risk[mask], y[mask]))
        pairs, concordant = pairs + n1 * n0, concordant + per[-1] * n1 * n0
    assert concordant / pairs >= ACHIEVED_POOLED - 0.02
    assert float(np.mean(per)) >= ACHIEVED_MEAN - 0.02
    assert min(per) >= 0.85
    assert auroc(risk, y) >= ACHIEVED_OVERALL - 0.02
    flagged = risk > -THRESHOLD
    assert y[flagged].mean() >= 0.95  # precision at the review threshold
    assert (flagged & (y == 0)).mean() <= 0.01
