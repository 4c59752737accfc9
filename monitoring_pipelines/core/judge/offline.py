"""The offline faithfulness judge: lexical evidence against the retrieved context, no network.

A small logistic model scores how much of what the answer adds to the question the context
supports; every feature is a share or a flag, so the score does not grow or shrink with the
answer's length (README.md, "Hallucinations").
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from monitoring_pipelines.core.judge import text
from monitoring_pipelines.core.judge.base import (
    BUDGET_EXHAUSTED,
    JudgeBudget,
    JudgeItem,
    Unscored,
    Verdict,
    as_items,
)

JUDGE_NAME = "offline"
RULES_VERSION = "offline-lexical-1"

# The score is sigmoid(INTERCEPT + WEIGHTS . features), features in this order. Fitted by
# `benchmarks/bench_judge.py --fit`: ridge logistic regression (L2 = 1) on the 1,000 HaluEval QA
# answers of ../shared/data plus the demo chatbot's answers of every other article, with one
# free intercept per HaluEval answer-length stratum and one for the demo, dropped afterwards,
# so the weights rank answers within a length stratum and cannot learn length; INTERCEPT is
# then the smallest that keeps 99.5% of the demo's supported (paraphrased) answers >= 0.7.
# Held-out (5-fold by question) numbers are in the benchmark's output.
FEATURES: tuple[str, ...] = (
    "unsupported_name",  # 1 if a capitalised word or number is in neither context nor question
    "unsupported_word_share",  # share of the other content words in neither
    "supported_share",  # share of content words found in the context and not in the question
    "grounded",  # 1 if at least one content word is found in the context and not in the question
    "span_coverage",  # share of the answer's words in 2+ word runs found verbatim in the context
    "comparison",  # either-or question: +1 the context agrees with the answer's pick, -1 not
    "polar",  # a bare "yes" or "no"
)
WEIGHTS: tuple[float, ...] = (-6.70, -1.17, 1.66, 1.36, 2.22, 1.01, 1.97)
INTERCEPT = 0.10

_YEAR = re.compile(r"(?<![\d.,])(1[0-9]{3}|20[0-9]{2})(?![\d])")
_EARLY = re.compile(r"\b(first|earlier|earliest|older|oldest|before)\b", re.IGNORECASE)
_LATE = re.compile(
    r"\b(younger|youngest|later|latest|second|more recent|most recent|newer|newest)\b",
    re.IGNORECASE,
)
_POLAR = frozenset({"yes", "no"})


@dataclass(frozen=True)
class Evidence:
    """What the judge found in one answer.

    Attributes:
        content_words: Distinct content words (and numbers) of the answer.
        supported: Content words found in the context and not in the question.
        echoed: Content words found in the question.
        unsupported_names: Capitalised words and numbers found in neither.
        unsupported_words: Other content words found in neither.
        span_coverage: Share of the answer's words lying in runs of two or more words that the
            context contains verbatim (a one-word answer: 1 if the context has the word).
        comparison: For an either-or question, +1 (-1) when the context's years agree with
            (contradict) the option the answer picks, +-0.5 for weaker evidence (see
            ``_comparison``), 0 when there is no such question or no evidence.
        comparison_note: The years behind ``comparison``, for the rationale.
        polar: The answer is a bare "yes" or "no".
    """

    content_words: int
    supported: tuple[str, ...]
    echoed: tuple[str, ...]
    unsupported_names: tuple[str, ...]
    unsupported_words: tuple[str, ...]
    span_coverage: float
    comparison: float
    comparison_note: str
    polar: bool

    def features(self) -> tuple[float, ...]:
        """The feature vector, in the order of ``FEATURES``."""
        n = max(self.content_words, 1)
        return (
            1.0 if self.unsupported_names else 0.0,
            len(self.unsupported_words) / n,
            len(self.supported) / n,
            1.0 if self.supported else 0.0,
            self.span_coverage,
            self.comparison,
            1.0 if self.polar else 0.0,
        )


@dataclass(frozen=True)
class _Indexed:
    keys: frozenset[str]
    bigrams: frozenset[tuple[str, ...]]
    units: frozenset[tuple[str, str]]  # (number, word) with the word just after or 1-3 before


_UNIT_LOOKBACK = 3


@lru_cache(maxsize=4096)
def _index(passage: str) -> _Indexed:
    """Keys, key bigrams and number units of a passage; cached, as contexts repeat in a day."""
    toks = text.tokens(passage)
    keys = [t.key for t in toks]
    units: set[tuple[str, str]] = set()
    for i, token in enumerate(toks):
        if token.is_number:
            near = keys[max(0, i - _UNIT_LOOKBACK) : i] + keys[i + 1 : i + 2]
            units.update((token.key, word) for word in near)
    return _Indexed(frozenset(keys), frozenset(text.ngrams(keys, 2)), frozenset(units))


def clear_caches() -> None:
    """Forget indexed passages and stems (for benchmarks that time a cold start)."""
    _index.cache_clear()
    text.stem.cache_clear()


def _span_coverage(keys: list[str], context: _Indexed) -> float:
    if not keys:
        return 0.0
    if len(keys) == 1:
        return 1.0 if keys[0] in context.keys else 0.0
    covered = [False] * len(keys)
    for i in range(len(keys) - 1):
        if (keys[i], keys[i + 1]) in context.bigrams:
            covered[i] = covered[i + 1] = True
    return sum(covered) / len(keys)


def _unit_mismatch(token: text.Token, answer: list[text.Token], context: _Indexed) -> str:
    """The number and its unit when the context has the number only with another unit.

    "5 days" is not supported by a context that says "5 business days" elsewhere but "72 hours"
    for the fact at hand: the word after the number must follow it in the context too, or
    precede it closely ("a 10% bonus" is supported by "a bonus of 10%").
    """
    if not token.is_number:
        return ""
    at = next(i for i, t in enumerate(answer) if t is token)
    if at + 1 >= len(answer):
        return ""
    unit = answer[at + 1]
    if unit.is_number or not text.is_content(unit) or (token.key, unit.key) in context.units:
        return ""
    return f"{token.surface} {unit.surface}"


def _first_mention(folded_context: str, option: str) -> int | None:
    positions = [
        folded_context.find(word)
        for word in (text.fold(w.strip(text.QUOTES)) for w in option.split())
        if len(word) >= 3 and word not in text.STOPWORDS
    ]
    found = [p for p in positions if p >= 0]
    return min(found) if found else None


def _content_keys(passage: str) -> set[str]:
    return {t.key for t in text.tokens(passage) if text.is_content(t)}


def _picked_option(answer: str, options: tuple[str, str]) -> int | None:
    """Which option the answer picks: 0 or 1, -1 for "both", ``None`` for neither."""
    answer_keys = _content_keys(answer)
    named = []
    for option in options:
        keys = _content_keys(option)
        named.append(bool(keys) and len(keys & answer_keys) / len(keys) >= 0.5)
    if named[0] and named[1]:
        folded = text.fold(answer)
        if re.match(r"\W*(both|neither)\b", folded):
            return -1
        at = [folded.find(text.fold(option.split()[-1])) for option in options]
        return None if min(at) < 0 else int(at[1] < at[0])  # the subject is named first
    if named[0] or named[1]:
        return 0 if named[0] else 1
    return None


def _passages(context: str, options: tuple[str, str]) -> tuple[str, str] | None:
    """Each option's passage: from its first mention to the other's first mention, or the end."""
    folded = text.fold(context)
    starts = [_first_mention(folded, o) for o in options]
    if starts[0] is None or starts[1] is None or starts[0] == starts[1]:
        return None
    ends = [starts[1] if starts[1] > starts[0] else len(folded), 0]
    ends[1] = starts[0] if starts[0] > starts[1] else len(folded)
    return folded[starts[0] : ends[0]], folded[starts[1] : ends[1]]


def _comparison(question: str, context: str, answer: str) -> tuple[float, str]:
    """Check the option an either-or answer picks against the context.

    "Who was born first, A or B?": the first year of each option's passage is its date (of
    birth, founding, release), and the answer must pick the earlier (+1) or it contradicts the
    context (-1). Other either-or questions ("which is native to South America?"): the option
    whose passage shares more of the question's other words is the one the context supports,
    weaker evidence (+-0.5). An answer naming both options picks neither (-0.5).
    """
    options = text.comparison_options(question)
    picked = None if options is None else _picked_option(answer, options)
    if options is None or picked is None:
        return 0.0, ""
    if picked == -1:
        return -0.5, "answer names both options of an either-or question"
    passages = _passages(context, options)
    if passages is None:
        return 0.0, ""
    early, late = bool(_EARLY.search(question)), bool(_LATE.search(question))
    if early != late:
        found = [_YEAR.search(passage) for passage in passages]
        years = [int(f.group()) for f in found if f is not None]
        if len(years) != 2 or years[0] == years[1]:
            return 0.0, ""
        earlier = int(years[1] < years[0])
        right = earlier if early else 1 - earlier
        note = f"context's years: {options[0]!r} {years[0]}, {options[1]!r} {years[1]}"
        return (1.0 if picked == right else -1.0), note
    predicate = _content_keys(question) - _content_keys(options[0]) - _content_keys(options[1])
    shared = [len(predicate & _content_keys(passage)) for passage in passages]
    if shared[0] == shared[1]:
        return 0.0, ""
    right = int(shared[1] > shared[0])
    note = f"context links the question to {options[right]!r}"
    return (0.5 if picked == right else -0.5), note


def gather_evidence(question: str | None, context: str, answer: str) -> Evidence:
    """Collect the lexical evidence for one answer.

    Args:
        question: The user's question, or ``None``.
        context: The retrieved context.
        answer: The answer.

    Returns:
        The evidence.
    """
    answer_tokens = text.tokens(answer)
    ctx = _index(context)
    asked = _index(question or "")
    distinct: dict[str, text.Token] = {}
    for token in answer_tokens:
        if text.is_content(token):
            distinct.setdefault(token.key, token)
    supported: list[str] = []
    echoed: list[str] = []
    names: list[str] = []
    words: list[str] = []
    for key, token in distinct.items():
        if key in asked.keys:
            echoed.append(token.surface)
        elif key in ctx.keys:
            unit = _unit_mismatch(token, answer_tokens, ctx)
            (names if unit else supported).append(unit or token.surface)
        elif token.capitalised or token.is_number:
            names.append(token.surface)
        else:
            words.append(token.surface)
    comparison, note = _comparison(question, context, answer) if question else (0.0, "")
    polar = bool(answer_tokens) and all(text.fold(t.surface) in _POLAR for t in answer_tokens)
    return Evidence(
        content_words=len(distinct),
        supported=tuple(supported),
        echoed=tuple(echoed),
        unsupported_names=tuple(names),
        unsupported_words=tuple(words),
        span_coverage=_span_coverage([t.key for t in answer_tokens], ctx),
        comparison=comparison,
        comparison_note=note,
        polar=polar,
    )


def faithfulness(
    evidence: Evidence,
    weights: Sequence[float] = WEIGHTS,
    intercept: float = INTERCEPT,
) -> float:
    """The logistic model's probability that the answer is faithful.

    An answer without content words ("Sorry, I can't help with that.", or nothing at all)
    claims nothing and so cannot be unfaithful: 1.0. A bare "yes" or "no" is scored.

    Args:
        evidence: The evidence of one answer.
        weights: Weights of ``FEATURES`` (the benchmark passes refitted ones).
        intercept: The model's intercept.

    Returns:
        The score, within [0, 1].
    """
    if evidence.content_words == 0 and not evidence.polar:
        return 1.0
    z = intercept + sum(w * x for w, x in zip(weights, evidence.features(), strict=True))
    return 1.0 / (1.0 + math.exp(-z))


def rationale(evidence: Evidence) -> str:
    """One sentence naming the evidence, the unsupported words first."""
    parts: list[str] = []
    unsupported = evidence.unsupported_names + evidence.unsupported_words
    if unsupported:
        shown = ", ".join(repr(w) for w in unsupported[:6])
        more = f" and {len(unsupported) - 6} more" if len(unsupported) > 6 else ""
        parts.append(f"unsupported: {shown}{more}")
    if evidence.comparison:
        verdict = "agrees with" if evidence.comparison > 0 else "goes against"
        parts.append(f"answer {verdict} the context ({evidence.comparison_note})")
    if evidence.polar:
        parts.append("a bare yes/no: no words to check against the context")
    elif evidence.content_words:
        echoed = len(evidence.echoed)
        parts.append(
            f"supported: {len(evidence.supported)} of {evidence.content_words} content words"
            + (f" ({echoed} more only echo the question)" if echoed else "")
        )
        parts.append(f"{evidence.span_coverage:.0%} of the answer verbatim in the context")
    else:
        parts.append("no factual content to check")
    return "; ".join(parts)


class OfflineJudge:
    """The embedded judge: deterministic, no network, thousands of answers per second."""

    name = JUDGE_NAME
    version = RULES_VERSION

    def judge(self, question: str | None, context: str, answer: str) -> Verdict:
        """Score one answer against its context (see the module docstring)."""
        evidence = gather_evidence(question, context, answer)
        return self._verdict(faithfulness(evidence), rationale(evidence))

    def judge_many(
        self,
        items: Iterable[JudgeItem | tuple[str | None, str, str]],
        budget: JudgeBudget | None = None,
    ) -> list[Verdict | Unscored]:
        """Score many answers in order; repeated contexts and questions are indexed once.

        The judge costs nothing, so of a budget only ``max_answers`` applies: the answers
        after that many are ``Unscored`` (kind ``budget_exhausted``).
        """
        todo = as_items(items)
        limit = len(todo)
        if budget is not None and budget.max_answers is not None:
            limit = min(limit, budget.max_answers)
        stopped = Unscored("budget_exhausted", BUDGET_EXHAUSTED, self.name, self.version, 0, 0, 0.0)
        scored: list[Verdict | Unscored] = [self.judge(*item) for item in todo[:limit]]
        return scored + [stopped] * (len(todo) - limit)

    def _verdict(self, score: float, why: str) -> Verdict:
        return Verdict(
            score=round(score, 4),
            rationale=why,
            judge=self.name,
            prompt_version=self.version,
            tokens_in=0,
            tokens_out=0,
            cost_usd=0.0,
        )
