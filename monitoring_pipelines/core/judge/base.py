"""The judge interface: what every faithfulness judge takes and returns.

A score from 0.0 (not supported by the context) to 1.0 (fully supported); an answer a judge
cannot score gets :class:`Unscored` with the reason, never a made-up score, and never fails the
other answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal, NamedTuple, Protocol, runtime_checkable

UnscoredKind = Literal["budget_exhausted", "invalid_output", "request_failed", "judge_unavailable"]
"""Why an answer has no verdict: the budget stopped the judge before it; the judge's replies
were not valid verdicts; the request failed; the judge was not asked, having failed too often."""

NOT_ASKED: frozenset[UnscoredKind] = frozenset({"budget_exhausted", "judge_unavailable"})
"""Kinds of :class:`Unscored` given without asking the judge: nothing was spent on them."""
BUDGET_EXHAUSTED: Final = "budget exhausted"
"""The reason of an answer left unscored because the budget stopped the judge before it."""


@dataclass(frozen=True)
class Verdict:
    """A judge's verdict on one answer.

    Attributes:
        score: Faithfulness to the context, from 0.0 (unsupported) to 1.0 (fully supported).
        rationale: One short sentence naming the evidence, e.g. the unsupported words.
        judge: Name of the judge that gave the verdict (``offline``, ``openai:gpt-4o-mini``).
        prompt_version: Version of the judge's prompt or rules, so verdicts of different
            versions are never compared as if they were one.
        tokens_in: Prompt tokens the judge spent (0 for a judge without a model).
        tokens_out: Completion tokens the judge spent.
        cost_usd: What the verdict cost, or ``None`` when the price is unknown.
        unsupported: Passages of the answer, quoted exactly, that the context does not
            support; empty when the judge names none (the review page highlights them).
    """

    score: float
    rationale: str
    judge: str
    prompt_version: str
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None
    unsupported: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"Verdict.score must be within [0, 1], got {self.score!r}")


@dataclass(frozen=True)
class Unscored:
    """An answer the judge did not score, and why; it never carries a score.

    Attributes:
        kind: The category, for counting in metadata.
        reason: What went wrong (``"budget exhausted"`` when the budget stopped the judge).
        judge: Name of the judge.
        prompt_version: Version of its prompt or rules.
        tokens_in: Prompt tokens spent on the attempts anyway.
        tokens_out: Completion tokens spent on them.
        cost_usd: What the attempts cost; ``None`` when the price or the usage is unknown.
    """

    kind: UnscoredKind
    reason: str
    judge: str
    prompt_version: str
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None


@dataclass(frozen=True)
class JudgeBudget:
    """How much one ``judge_many`` call may spend; cache hits are free and count for neither.

    Attributes:
        usd: Dollars left; needs a judge that knows its prices. ``None``: no limit.
        max_answers: Most answers sent to the judge. ``None``: no limit.
        usd_per_answer: What an answer is expected to cost until the judge has priced some
            itself (e.g. the average of the day's earlier verdicts). ``None``: a judge sends
            one answer alone first, to learn it.
    """

    usd: float | None = None
    max_answers: int | None = None
    usd_per_answer: float | None = None

    def __post_init__(self) -> None:
        for name in ("usd", "max_answers", "usd_per_answer"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"JudgeBudget.{name} must be at least 0, got {value}")

    @classmethod
    def for_day(
        cls,
        daily_usd: float | None,
        spent_today_usd: float,
        max_answers: int | None = None,
        usd_per_answer: float | None = None,
    ) -> JudgeBudget:
        """What is left of a daily budget after ``spent_today_usd``."""
        usd = None if daily_usd is None else max(0.0, daily_usd - spent_today_usd)
        return cls(usd=usd, max_answers=max_answers, usd_per_answer=usd_per_answer)

    def after(self, results: Iterable[Verdict | Unscored]) -> JudgeBudget:
        """What is left once a call gave ``results``: their cost off ``usd`` and each answer
        given a verdict or tried (cache hits included, to err on the safe side) off
        ``max_answers``; a cost the judge could not tell counts as ``usd_per_answer``."""
        spent, answered = 0.0, 0
        for result in results:
            if isinstance(result, Unscored) and result.kind in NOT_ASKED:
                continue
            answered += 1
            cost = result.cost_usd
            spent += cost if cost is not None else (self.usd_per_answer or 0.0)
        return JudgeBudget(
            usd=None if self.usd is None else max(0.0, self.usd - spent),
            max_answers=None if self.max_answers is None else max(0, self.max_answers - answered),
            usd_per_answer=self.usd_per_answer,
        )


class JudgeItem(NamedTuple):
    """One answer to judge: the user's question (if known), the retrieved context, the answer."""

    question: str | None
    context: str
    answer: str


@runtime_checkable
class Judge(Protocol):
    """A faithfulness judge: scores answers against their retrieved context."""

    @property
    def name(self) -> str:
        """Short name recorded with every verdict."""
        ...

    @property
    def version(self) -> str:
        """Version of the rules or prompt, recorded as ``Verdict.prompt_version``."""
        ...

    def judge(self, question: str | None, context: str, answer: str) -> Verdict:
        """Score one answer, strictly.

        Args:
            question: The user's question, or ``None`` when the log has none.
            context: The retrieved context the answer should be faithful to.
            answer: The answer to score.

        Returns:
            The verdict.

        Raises:
            MonitoringError: The judge could not score the answer (a judge that can fail says
                which subclass).
        """
        ...

    def judge_many(
        self,
        items: Iterable[JudgeItem | tuple[str | None, str, str]],
        budget: JudgeBudget | None = None,
    ) -> Sequence[Verdict | Unscored]:
        """Score many answers, in order, within a budget; a judge may batch or cache across them.

        An answer the judge cannot score is :class:`Unscored` (so are those the budget leaves
        out, kind ``budget_exhausted``); only a fault that keeps the judge from scoring any
        answer at all (a rejected key, an unknown model) raises.

        Args:
            items: ``(question, context, answer)`` triples.
            budget: What this call may spend; ``None``: the judge's own default (its configured
                daily budget, if any).

        Returns:
            One result per item, in the same order.
        """
        ...


def as_items(items: Iterable[JudgeItem | tuple[str | None, str, str]]) -> Sequence[JudgeItem]:
    """The items as :class:`JudgeItem` tuples, checking each has three fields."""
    out: list[JudgeItem] = []
    for index, item in enumerate(items):
        if len(item) != 3:
            raise ValueError(
                f"judge item {index} has {len(item)} fields; expected (question, context, answer)"
            )
        out.append(JudgeItem(*item))
    return out
