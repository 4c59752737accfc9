"""Scoring the day's sample with a judge, in batches, within the judge's budget.

An answer the judge cannot score is counted by why (``Unscored.kind``) and never fails the day;
a spent budget, or a judge that stopped answering, ends the scoring with what was scored.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from monitoring_pipelines.core.judge.base import (
    NOT_ASKED,
    Judge,
    JudgeBudget,
    JudgeItem,
    Unscored,
    Verdict,
)
from monitoring_pipelines.core.judge.cache import CacheKey, cache_key, content_sha256


class StoredKey(NamedTuple):
    """What a stored verdict is found by on a rerun of its day.

    Attributes:
        request_key: The request's key.
        judged: The judge, its prompt version and the hash of the texts it judged.
    """

    request_key: str
    judged: CacheKey


# Verdicts are asked for this many answers at a time: a judge may batch or parallelise within
# a call, and each call gets what is left of the budget after the calls before it.
BATCH_SIZE = 32


@dataclass(frozen=True)
class SampledAnswer:
    """One sampled answer with what is stored beside its verdict.

    Attributes:
        request_key: The request's 64-bit key in 16 hex digits.
        question: The user's question, if logged.
        context: The retrieved context.
        answer: The answer.
        intent: The intent the sample was stratified by (``(missing intent)``, ``(all)``).
        article: The knowledge-base article, if logged.
        model_version: The version of the model that answered, if known.
        stratum_rows: Answers of its intent that day that could be judged.
        request_id: The request id as the log has it (``source.request_id_column``), if any.
    """

    request_key: str
    question: str | None
    context: str
    answer: str
    intent: str
    article: str | None
    model_version: str | None
    stratum_rows: int
    request_id: str | None = None

    @property
    def content_sha256(self) -> str:
        """The hash of the question, context and answer, as the judge sees them."""
        return content_sha256(self.question, self.context, self.answer)

    def stored_key(self, judge: str, prompt_version: str) -> StoredKey:
        """What a verdict of ``judge`` and ``prompt_version`` on this answer is found by."""
        judged = cache_key(judge, prompt_version, self.question, self.context, self.answer)
        return StoredKey(self.request_key, judged)


@dataclass(frozen=True)
class ScoredAnswer:
    """A sampled answer and its verdict (``reused`` when an earlier run of the day gave it)."""

    sampled: SampledAnswer
    verdict: Verdict
    threshold: float
    reused: bool = False

    @property
    def flagged(self) -> bool:
        """Scored under the threshold: an unfaithful answer, queued for review."""
        return self.verdict.score < self.threshold


@dataclass(frozen=True)
class ScoringRun:
    """What the judge did with the day's sample.

    Attributes:
        scored: The answers scored, in sample order.
        sampled: Answers in the sample.
        budget_stop: Why the judge's budget stopped it, else ``None``.
        seconds: Wall time the judge took.
        reused: Verdicts taken from an earlier run of the day by the same judge and version
            on the same texts.
        unscored: Sampled answers left without a verdict, by ``Unscored.kind``; after a stop
            the answers never sent count under the stop's kind, so every sampled answer is
            either scored or counted here.
        unscored_attempts: The answers the judge tried and could not score, for what the
            attempts cost.
    """

    scored: tuple[ScoredAnswer, ...]
    sampled: int
    budget_stop: str | None
    seconds: float
    reused: int = 0
    unscored: Mapping[str, int] = field(default_factory=dict)
    unscored_attempts: tuple[Unscored, ...] = ()

    @property
    def flagged(self) -> list[ScoredAnswer]:
        return [s for s in self.scored if s.flagged]

    def totals(self) -> Mapping[str, float | int | None]:
        """Tokens and cost the judge spent in this run, on verdicts and on unscored attempts
        alike; reused verdicts cost nothing again. The cost is ``None`` when any is unknown."""
        spent: list[Verdict | Unscored] = [s.verdict for s in self.scored if not s.reused]
        spent += self.unscored_attempts
        costs = [r.cost_usd for r in spent]
        return {
            "judge_tokens_in": sum(r.tokens_in for r in spent),
            "judge_tokens_out": sum(r.tokens_out for r in spent),
            "judge_cost_usd": None if None in costs else sum(c or 0.0 for c in costs),
        }


def day_budget(
    daily_usd: float | None, spent_before: float | None, known: Mapping[StoredKey, Verdict]
) -> JudgeBudget:
    """What the judge may still spend on a day: ``daily_usd`` less what earlier runs of the
    day spent, an answer expected to cost what the day's stored verdicts cost on average.

    Args:
        daily_usd: The judge's budget for one day of answers; ``None``: no limit.
        spent_before: What earlier runs of the day spent, if known.
        known: The day's stored verdicts (their costs give the estimate).
    """
    costs = [v.cost_usd for v in known.values() if v.cost_usd]
    per_answer = sum(costs) / len(costs) if costs else None
    return JudgeBudget.for_day(daily_usd, spent_before or 0.0, usd_per_answer=per_answer)


def score_sample(
    judge: Judge,
    sample: Sequence[SampledAnswer],
    threshold: float,
    known: Mapping[StoredKey, Verdict] | None = None,
    budget: JudgeBudget | None = None,
    batch_size: int = BATCH_SIZE,
    clock: Callable[[], float] = time.perf_counter,
) -> ScoringRun:
    """Judge every sampled answer, in order, until done, the budget is spent, or the judge
    stops answering (``Unscored`` kinds ``budget_exhausted``, ``judge_unavailable``).

    A rerun of a day pays nothing twice: an answer with a verdict in ``known`` under its
    :meth:`SampledAnswer.stored_key` (stored by an earlier run of this judge and prompt
    version on the same question, context and answer) keeps it and is not sent to the judge;
    an answer whose texts changed since is judged again, and so is one whose verdict was
    stored compact (without its rationale, as it passed) and is now under ``threshold``, so
    that the review queue gets the judge's reasons.
    An answer the judge leaves unscored for another reason is counted, and the rest go on.

    Args:
        judge: The judge.
        sample: The answers, in scoring order.
        threshold: Scores under it are flagged.
        known: Earlier verdicts, by what they judged (``load_verdicts``).
        budget: What the judge may spend on the whole sample (each batch gets what the
            batches before it left); ``None``: the judge's own default.
        batch_size: Answers per ``judge_many`` call.
        clock: Seconds, for the throughput figure.

    Returns:
        The verdicts, the unscored answers by kind, and whether the budget cut the sample short.

    Raises:
        ValueError: If the judge returns a different number of results than it was given.
    """
    started = clock()
    known = known or {}
    keys = [a.stored_key(judge.name, judge.version) for a in sample]
    reuse = {
        key.request_key: known[key]
        for key in keys
        if key in known and (known[key].rationale or known[key].score >= threshold)
    }
    todo = [a for a in sample if a.request_key not in reuse]
    fresh: dict[str, Verdict] = {}
    attempts: list[Unscored] = []
    unscored: Counter[str] = Counter()
    stop: Unscored | None = None
    budget_stop: str | None = None
    sent = 0
    for first in range(0, len(todo), batch_size):
        batch = todo[first : first + batch_size]
        items = [JudgeItem(a.question, a.context, a.answer) for a in batch]
        results = _checked(judge, judge.judge_many(items, budget), len(items))
        sent += len(batch)
        for answer, result in zip(batch, results, strict=True):
            if isinstance(result, Verdict):
                fresh[answer.request_key] = result
                continue
            unscored[result.kind] += 1
            if result.kind not in NOT_ASKED:
                attempts.append(result)
            elif stop is None:
                stop = result
            if result.kind == "budget_exhausted" and budget_stop is None:
                budget_stop = result.reason
        if stop is not None:
            unscored[stop.kind] += len(todo) - sent
            break
        if budget is not None:
            budget = budget.after(results)
    scored = tuple(
        ScoredAnswer(answer, reuse[answer.request_key], threshold, reused=True)
        if answer.request_key in reuse
        else ScoredAnswer(answer, fresh[answer.request_key], threshold)
        for answer in sample
        if answer.request_key in reuse or answer.request_key in fresh
    )
    reused = sum(a.request_key in reuse for a in sample)
    return ScoringRun(
        scored,
        len(sample),
        budget_stop,
        clock() - started,
        reused,
        dict(unscored),
        tuple(attempts),
    )


def _checked(
    judge: Judge, results: Sequence[Verdict | Unscored], asked: int
) -> Sequence[Verdict | Unscored]:
    if len(results) == asked:
        return results
    raise ValueError(
        f"judge '{judge.name}' returned {len(results)} results for {asked} answers; "
        "expected one per answer, in order"
    )
