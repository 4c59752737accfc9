"""The offline faithfulness judge: claim-level lexical evidence against the context, no network.

The answer is split into claims; each is checked against the context passage that supports it
best (:mod:`.claims`); a small logistic model turns the claims' shares and flags into a score,
so the score does not grow or shrink with the answer's length (README.md, "Hallucinations").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from monitoring_pipelines.core.judge import support, text
from monitoring_pipelines.core.judge.base import (
    BUDGET_EXHAUSTED,
    JudgeBudget,
    JudgeItem,
    Unscored,
    Verdict,
    as_items,
)
from monitoring_pipelines.core.judge.claims import Claim, check, split
from monitoring_pipelines.core.judge.comparison import comparison

JUDGE_NAME = "offline"
RULES_VERSION = "offline-claims-3"

# The score is sigmoid((INTERCEPT + WEIGHTS . features) / SPREAD), features in this order.
# Fitted by `benchmarks/bench_judge.py --fit` (see its docstring for the data, what is held
# out, and the pairwise fit within ``SIGNS``).
FEATURES: tuple[str, ...] = (
    "unsupported_name",  # some claim has a name or number in neither context nor question
    "worst_unsupported_share",  # the largest share of a claim's new words the context lacks
    "unsupported_share",  # share of all the answer's new content words the context lacks
    "role_gap",  # some claim names an entity of the context away from where its fact is
    "substituted",  # some claim has a name or number where its passage has another
    "polarity_flip",  # some claim's negation disagrees with its passage
    "worst_passage_support",  # the smallest share of a claim's new words in its passage
    "passage_support",  # that share over all claims
    "coverage",  # share of the answer's words in verbatim runs of the context
    "grounded",  # 1 if at least one new content word is found in the context
    "comparison",  # either-or question: +1 the context agrees with the answer's pick, -1 not
    "polar",  # a bare yes/no (or a bare negation): nothing to check but its polarity
    "unsupported_count",  # log(1 + unsupported content words): each is a claim to doubt
    "unsupported_name_count",  # log(1 + unsupported names and numbers)
    "personal",  # share of the claims in the first person ("I think..."): chat, not facts
    "pair_support",  # share of the claims' nearby word pairs the context says together
    "specific_unsupported",  # share of new words that are unsupported and long (specific)
    "copied_trigrams",  # share of the claims' three-word runs found verbatim in the context
    # (for claims too short to have one, the share of their new words the context has: a
    # one-word answer the context lacks was not copied from it)
    "asking",  # share of the claims that are questions: they ask, they state nothing
    "unsupported_pairs",  # log(1 + nearby word pairs the context does not say together)
    "answering",  # share of new words the context says together with a word of the question
    "unstated_claims",  # share of the claims with two nearby words the context never says
    # together (a relation it does not state), however many such pairs each claim has
)
SIGNS: tuple[int, ...] = (
    -1, -1, -1, -1, -1, -1, 1, 1, 1, 1, 1, 0, -1, -1, 1, 1, -1, 1, 1, -1, 1, -1,
)  # fmt: skip
"""How each feature may move the score: +1 only up (evidence of support), -1 only down
(evidence against), 0 either way. The fit keeps the weights to these signs, so a feature
cannot be used backwards because it happens to correlate with the label in one task type
(an unsupported name counted as support because correct chat answers name people)."""
WEIGHTS: tuple[float, ...] = (
    0.0, 0.0, 0.0, -0.06, 0.0, 0.0, 0.0, 0.9, 0.0, 0.6, 0.45,
    1.92, 0.0, 0.0, 1.73, 0.0, -1.41, 1.48, 1.12, -2.44, 0.5, -1.13,
)  # fmt: skip
INTERCEPT = 10.15
SPREAD = 2.0
"""The score is sigmoid((INTERCEPT + WEIGHTS . features) / SPREAD): a fixed constant, not
fitted, that keeps scores apart at four decimals (an answer copied from the context has a
linear score near 15, and sigmoid(15) rounds to 1.0, tying every such answer). It changes no
ranking; ``bench_judge.py`` calibrates ``INTERCEPT`` with it."""
_ASKING_SENTENCES = 3


def prior(intercept: float = INTERCEPT) -> float:
    """The score of an answer with no evidence either way (every feature 0): the model's
    intercept alone."""
    return 1.0 / (1.0 + math.exp(-intercept / SPREAD))


POLAR_CAP = prior()
"""The most a bare "yes" or "no" scores: nothing in it can be checked, so it scores no higher
than an answer without evidence either way (:func:`prior`), under any answer whose words
were found where the question points."""
CONTRADICTED_CAP = 0.65
"""The most an answer scores when the context contradicts it, not merely lacks it (a claim
puts a number where its passage has another), or when nothing at all was retrieved: it is
flagged whatever else the answer gets right."""
CONTRADICTION_CLAIMS = 2
"""A contradicted number caps answers of at most this many claims: there the number is the
answer ("finished in 1899"). In a longer answer (a summary) a number the context lacks is as
often derived as invented (rounded: "nearly 150,000" for 147,600; summed; counted from a
list), so it lowers the score through the features and is named in the rationale without
flagging the answer alone (in HaluEval's summaries the cap held as many correct answers as
hallucinated ones, README.md, "Hallucinations")."""
_POLAR = frozenset({"yes", "no", "not", "never"})


@dataclass(frozen=True)
class Evidence:
    """What the judge found in one answer.

    Attributes:
        claims: The claims with words to check, in answer order.
        content_words: Distinct content words of the answer.
        echoed: Content words only echoing the question.
        comparison: For an either-or question, +1 (-1) when the context agrees with
            (contradicts) the answer's pick, weaker evidence +-0.5, else 0.
        comparison_note: What ``comparison`` rests on, for the rationale.
        polar: The answer is a bare "yes", "no" or negation.
        unsupported_everywhere: The context has no words at all while the answer claims
            something (nothing was retrieved to support it).
    """

    claims: tuple[Claim, ...]
    content_words: int
    echoed: int
    comparison: float
    comparison_note: str
    polar: bool
    unsupported_everywhere: bool = False
    answering: float = 1.0

    def features(self) -> tuple[float, ...]:
        """The feature vector, in the order of ``FEATURES``."""
        claims = list(self.claims)
        if not claims:
            return (
                (0.0,) * 6
                + (1.0, 1.0, 0.0, 0.0, self.comparison, float(self.polar), 0, 0, 0)
                + (1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0)
            )
        per = [c.features() for c in claims]
        novel = sum(len(c.novel) for c in claims)
        names = sum(len(c.unsupported_names) for c in claims)
        unsupported = names + sum(len(c.unsupported_words) for c in claims)
        held = sum(c.passage_support * len(c.novel) for c in claims)
        pairs = sum(c.pairs for c in claims)
        unsupported_pairs = sum(c.unsupported_pairs for c in claims)
        trigrams = sum(c.trigrams for c in claims)
        return (
            max(f[0] for f in per),
            max(f[1] for f in per),
            unsupported / max(novel, 1),
            max(f[2] for f in per),
            max(f[3] for f in per),
            max(f[4] for f in per),
            min(f[5] for f in per),
            held / novel if novel else 1.0,
            sum(f[6] for f in per) / len(per),
            1.0 if any(c.context_support > 0 and c.novel for c in claims) else 0.0,
            self.comparison,
            float(self.polar),
            math.log1p(unsupported),
            math.log1p(names),
            sum(c.personal for c in claims) / len(claims),
            1.0 - unsupported_pairs / pairs if pairs else 1.0,
            sum(c.specific_unsupported for c in claims) / max(novel, 1),
            sum(c.copied_trigrams for c in claims) / trigrams if trigrams else _found(claims),
            sum(c.asking for c in claims) / len(claims),
            math.log1p(unsupported_pairs),
            self.answering,
            sum(c.unsupported_pairs > 0 for c in claims) / len(claims),
        )

    def weakest(self) -> Claim | None:
        """The claim with the most evidence against it, if any claim adds words.

        Claims are ranked by plain counts, not by the model's weights (which share credit
        between correlated features): a contradicted number first, then unsupported names,
        then the share of unsupported words, a misplaced name, a flipped negation, the
        share of new words away from the claim's passage and the share of word pairs the
        context does not say together.
        """
        claims = [c for c in self.claims if c.novel or c.misplaced or c.unstated]
        if not claims:
            return None

        def against(claim: Claim) -> tuple[float, ...]:
            name, share, gap, substituted, flip, held, _ = claim.features()
            unstated = claim.unsupported_pairs / claim.pairs if claim.pairs else 0.0
            return (substituted, name + share + gap + flip + (1.0 - held) / 2 + unstated / 2)

        return max(claims, key=against)


def _found(claims: Sequence[Claim]) -> float:
    """Share of the claims' new words the context has (1.0 without new words)."""
    novel = sum(len(c.novel) for c in claims)
    return sum(c.context_support * len(c.novel) for c in claims) / novel if novel else 1.0


def clear_caches() -> None:
    """Forget indexed passages and stems (for benchmarks that time a cold start)."""
    support.index.cache_clear()
    text.stem.cache_clear()


def gather_evidence(question: str | None, context: str, answer: str) -> Evidence:
    """Collect the claim-level evidence for one answer.

    Args:
        question: The user's question (or the dialogue so far), or ``None``.
        context: The retrieved context.
        answer: The answer.

    Returns:
        The evidence.
    """
    tokens = text.tokens(answer)
    ctx = support.index(context)
    asked = support.index(question or "")
    words = {t.key for t in tokens if text.is_content(t)}
    # "Let Me Be": a title made of function words is still a name to find in the context.
    title = not words and any(t.capitalised and len(t.surface) > 1 for t in tokens)
    # What is being asked is at the end of the question (the last turns of a dialogue).
    asking = frozenset().union(*asked.sentences[-_ASKING_SENTENCES:])
    anchor = frozenset(k for k in asking if k in ctx.where)
    claims = tuple(
        check(c, ctx, asked, anchor, every_capitalised=title, asking=_asks(answer, c[-1].end))
        for c in split(tokens)
        if (title or any(t.content for t in c))
    )
    comp, note = comparison(question, context, answer) if question else (0.0, "")
    polar = not words and not title and any(t.surface.lower() in _POLAR for t in tokens)
    return Evidence(
        claims=claims,
        content_words=len(words),
        echoed=len(words & asked.keys),
        comparison=comp,
        comparison_note=note,
        polar=polar,
        unsupported_everywhere=bool(claims) and not ctx.where,
        answering=_answering(claims, anchor),
    )


def _answering(claims: Sequence[Claim], anchor: frozenset[str]) -> float:
    """Share of the claims' new words the context says together with a word of the question
    (1.0 without a question the context echoes, or without new words)."""
    novel = sum(len(c.novel) for c in claims)
    if not anchor or not novel:
        return 1.0
    return sum(c.answering for c in claims) / novel


def _asks(answer: str, end: int) -> bool:
    """Whether the claim ending at ``end`` is a question: a "?" follows, quotes aside."""
    rest = answer[end : end + 4].lstrip(text.QUOTES + " )")
    return rest.startswith("?")


def capped(evidence: Evidence) -> bool:
    """Whether the score is capped at ``CONTRADICTED_CAP`` whatever the weights: a number the
    context contradicts in a short answer (``CONTRADICTION_CLAIMS``), or nothing retrieved for
    an answer that claims something."""
    short = len(evidence.claims) <= CONTRADICTION_CLAIMS
    contradicted = short and any(claim.contradicted_number for claim in evidence.claims)
    return contradicted or evidence.unsupported_everywhere


def faithfulness(
    evidence: Evidence,
    weights: Sequence[float] = WEIGHTS,
    intercept: float = INTERCEPT,
) -> float:
    """The logistic model's probability that the answer is faithful.

    An answer without words to check ("Sorry, I can't help with that.", or nothing at all)
    claims nothing and so cannot be unfaithful: 1.0. A bare "yes" or "no" is scored.

    Args:
        evidence: The evidence of one answer.
        weights: Weights of ``FEATURES`` (the benchmark passes refitted ones).
        intercept: The model's intercept.

    Returns:
        The score, within [0, 1].
    """
    if not evidence.claims and not evidence.polar:
        return 1.0
    z = intercept + sum(w * x for w, x in zip(weights, evidence.features(), strict=True))
    score = 1.0 / (1.0 + math.exp(-z / SPREAD))
    if capped(evidence):
        return min(score, CONTRADICTED_CAP)
    return min(score, prior(intercept)) if evidence.polar else score


def _quoted(tokens: Sequence[text.Token], limit: int = 6) -> str:
    shown = ", ".join(repr(t.surface) for t in tokens[:limit])
    return shown + (f" and {len(tokens) - limit} more" if len(tokens) > limit else "")


def rationale(evidence: Evidence, answer: str) -> str:
    """One sentence naming the evidence: the weakest claim and what in it is unsupported."""
    parts: list[str] = []
    weakest = evidence.weakest()
    if weakest is not None:
        claim = answer[weakest.start : weakest.end]
        if len(claim) > 80:
            claim = claim[:77] + "..."
        where = f" (weakest claim {claim!r})" if len(evidence.claims) > 1 else ""
        unsupported = weakest.unsupported_names + weakest.unsupported_words
        if unsupported:
            parts.append(f"unsupported: {_quoted(unsupported)}{where}")
        if weakest.misplaced:
            parts.append(f"the context says this of others than {_quoted(weakest.misplaced)}")
        if weakest.substituted:
            parts.append("its passage names another name or number there")
        if weakest.polarity_flip:
            parts.append("its negation disagrees with the supporting passage")
        if weakest.unstated and not unsupported:
            first, second = weakest.unstated
            parts.append(
                f"the context never says {first.surface!r} and {second.surface!r} together"
            )
        if not parts:
            parts.append(f"supported{where}")
        parts.append(f"{weakest.passage_support:.0%} of its new words in one passage")
    if evidence.comparison:
        verdict = "agrees with" if evidence.comparison > 0 else "goes against"
        parts.append(f"answer {verdict} the context ({evidence.comparison_note})")
    if evidence.polar:
        parts.append("a bare yes/no: no words to check against the context")
    elif weakest is None and evidence.claims:
        parts.append(f"only echoes the question ({evidence.echoed} content words)")
    elif not evidence.claims:
        parts.append("no factual content to check")
    return "; ".join(parts)


class OfflineJudge:
    """The embedded judge: deterministic, no network, thousands of answers per second."""

    name = JUDGE_NAME
    version = RULES_VERSION

    def judge(self, question: str | None, context: str, answer: str) -> Verdict:
        """Score one answer against its context (see the module docstring)."""
        evidence = gather_evidence(question, context, answer)
        weakest = evidence.weakest()
        span = None if weakest is None else weakest.span()
        return self._verdict(faithfulness(evidence), rationale(evidence, answer), span)

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

    def _verdict(self, score: float, why: str, span: tuple[int, int] | None) -> Verdict:
        return Verdict(
            score=round(score, 4),
            rationale=why,
            judge=self.name,
            prompt_version=self.version,
            tokens_in=0,
            tokens_out=0,
            cost_usd=0.0,
            unsupported_span=span,
        )
