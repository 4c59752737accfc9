"""Scoring the sample: batches, unscored answers, the budget, and verdicts reused on a rerun."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from monitoring_pipelines.core.hallucination.scoring import SampledAnswer, day_budget, score_sample
from monitoring_pipelines.core.judge import Judge, JudgeBudget, JudgeItem, Unscored, Verdict
from monitoring_pipelines.core.judge.base import UnscoredKind, as_items

COST = 0.01


class CountingJudge:
    """Scores an answer 0.1 when it contains "wrong", else 0.9; spends $0.01 an answer.

    An answer containing "garbled" gets no verdict (its attempt spends the same), one containing
    "down" fails as if the server were down; ``budget`` answers in all, then the budget stops it.
    """

    name = "fake"
    version = "v1"

    def __init__(self, budget: int | None = None, short_by: int = 0) -> None:
        self.asked: list[str] = []
        self.budgets: list[JudgeBudget | None] = []
        self.budget = budget
        self.short_by = short_by

    def judge(self, question: str | None, context: str, answer: str) -> Verdict:
        result = self.judge_many([JudgeItem(question, context, answer)])[0]
        assert isinstance(result, Verdict)
        return result

    def judge_many(
        self,
        items: Iterable[JudgeItem | tuple[str | None, str, str]],
        budget: JudgeBudget | None = None,
    ) -> list[Verdict | Unscored]:
        self.budgets.append(budget)
        out: list[Verdict | Unscored] = []
        for item in as_items(items):
            if self.budget is not None and len(self.asked) >= self.budget:
                out.append(self.unscored("budget_exhausted", "daily budget of $0.05 spent", 0.0))
                continue
            self.asked.append(item.answer)
            if "garbled" in item.answer:
                out.append(self.unscored("invalid_output", "not JSON", COST))
            elif "down" in item.answer:
                out.append(self.unscored("judge_unavailable", "not asked: 5 failed", 0.0))
            else:
                score = 0.1 if "wrong" in item.answer else 0.9
                out.append(Verdict(score, "why", self.name, self.version, 10, 2, COST))
        return out[: len(out) - self.short_by]

    def unscored(self, kind: UnscoredKind, reason: str, cost: float) -> Unscored:
        tokens = (10, 2) if cost else (0, 0)
        return Unscored(kind, reason, self.name, self.version, *tokens, cost)


def sample(n: int, odd: dict[int, str] | None = None) -> list[SampledAnswer]:
    """``n`` answers, every third wrong; ``odd`` replaces the answers of some indices."""
    odd = odd or {}
    return [
        SampledAnswer(
            f"{i:016x}",
            None,
            "ctx",
            odd.get(i, "wrong" if i % 3 == 0 else "fine"),
            "a",
            None,
            None,
            n,
        )
        for i in range(n)
    ]


def test_every_answer_is_scored_in_order_in_batches() -> None:
    judge = CountingJudge()
    assert isinstance(judge, Judge)
    run = score_sample(judge, sample(10), 0.7, batch_size=4)
    assert [s.sampled.request_key for s in run.scored] == [a.request_key for a in sample(10)]
    assert len(run.flagged) == 4 and run.budget_stop is None and run.reused == 0
    assert run.totals() == {
        "judge_tokens_in": 100,
        "judge_tokens_out": 20,
        "judge_cost_usd": pytest.approx(0.1),
    }


def test_the_budget_stop_keeps_what_was_scored_and_says_why() -> None:
    judge = CountingJudge(budget=6)
    run = score_sample(judge, sample(10), 0.7, batch_size=4)
    assert len(run.scored) == 6 and run.sampled == 10
    assert run.budget_stop == "daily budget of $0.05 spent"
    assert [s.sampled.request_key for s in run.scored] == [a.request_key for a in sample(6)]
    assert run.unscored == {"budget_exhausted": 4}
    assert len(judge.budgets) == 2  # the batch of answers 8 and 9 was never sent


def test_an_unscored_answer_is_counted_by_kind_and_the_rest_are_scored() -> None:
    answers = sample(10, {2: "garbled", 5: "garbled", 9: "garbled"})
    run = score_sample(CountingJudge(), answers, 0.7, batch_size=4)
    assert run.unscored == {"invalid_output": 3} and run.budget_stop is None
    assert [s.sampled.request_key for s in run.scored] == [
        a.request_key for i, a in enumerate(answers) if i not in (2, 5, 9)
    ]
    assert [a.reason for a in run.unscored_attempts] == ["not JSON"] * 3
    totals = run.totals()  # what the failed attempts cost counts too
    assert (totals["judge_tokens_in"], totals["judge_cost_usd"]) == (100, pytest.approx(0.1))


def test_an_unavailable_judge_is_not_asked_again() -> None:
    judge = CountingJudge()
    run = score_sample(judge, sample(12, {5: "down", 6: "down", 7: "down"}), 0.7, batch_size=4)
    assert len(judge.budgets) == 2 and len(judge.asked) == 8
    assert len(run.scored) == 5 and run.budget_stop is None
    assert run.unscored == {"judge_unavailable": 7}  # 3 in the batch, the 4 never sent


def test_each_batch_gets_what_the_batches_before_it_left() -> None:
    judge = CountingJudge()
    budget = JudgeBudget(usd=1.0, max_answers=9, usd_per_answer=0.02)
    score_sample(judge, sample(10, {1: "garbled"}), 0.7, budget=budget, batch_size=4)
    left = [(b.usd, b.max_answers, b.usd_per_answer) for b in judge.budgets if b is not None]
    assert left == [
        (1.0, 9, 0.02),
        (pytest.approx(0.96), 5, 0.02),  # the unscored attempt spent too
        (pytest.approx(0.92), 1, 0.02),
    ]


def test_the_day_budget_is_what_earlier_runs_left() -> None:
    known = {
        "a": Verdict(0.9, "why", "fake", "v1", cost_usd=0.3),
        "b": Verdict(0.9, "why", "fake", "v1", cost_usd=0.5),
        "c": Verdict(0.9, "why", "fake", "v1", cost_usd=0.0),  # a cache hit tells nothing
    }
    budget = day_budget(2.0, 1.25, known)
    assert budget == JudgeBudget(usd=0.75, usd_per_answer=0.4)
    assert day_budget(2.0, 2.5, {}) == JudgeBudget(usd=0.0)
    assert day_budget(None, None, {}) == JudgeBudget()


def test_a_rerun_reuses_the_stored_verdicts() -> None:
    first = score_sample(CountingJudge(budget=6), sample(10), 0.7, batch_size=4)
    known = {
        s.sampled.stored_key(s.verdict.judge, s.verdict.prompt_version): s.verdict
        for s in first.scored
    }
    judge = CountingJudge()
    rerun = score_sample(judge, sample(10), 0.7, known, batch_size=4)
    assert len(rerun.scored) == 10 and rerun.reused == 6
    assert len(judge.asked) == 4  # only the answers the budget left unscored
    assert rerun.totals()["judge_cost_usd"] == pytest.approx(0.04)  # reused verdicts are free


def test_a_compact_verdict_is_reused_only_while_it_passes() -> None:
    # Stored without its rationale (it passed and was not queued): at a stricter threshold it
    # stays a pass and is reused; at a looser one it is flagged and judged again, for the
    # rationale the review queue shows.
    answers = sample(3, {0: "fine", 1: "fine", 2: "fine"})
    judge = CountingJudge()
    known = {
        a.stored_key(judge.name, judge.version): Verdict(0.75, "", "fake", "v1") for a in answers
    }
    kept = score_sample(judge, answers, 0.7, known)
    assert kept.reused == 3 and judge.asked == []
    again = score_sample(judge, answers, 0.8, known)
    assert again.reused == 0 and len(judge.asked) == 3
    assert all(s.verdict.rationale == "why" for s in again.scored)


def test_a_judge_that_loses_verdicts_is_an_error() -> None:
    with pytest.raises(ValueError, match="returned 3 results for 4 answers"):
        score_sample(CountingJudge(short_by=1), sample(8), 0.7, batch_size=4)
