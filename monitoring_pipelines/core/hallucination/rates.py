"""The day's hallucination rate: the share of scored answers under the threshold, with a Wilson
95 % interval, overall, per intent and per knowledge-base article.

A rate over several intents weights each answer back by its intent's size, its interval at the
Kish effective sample size; when every answer of the day is judged (the offline judge, alone
or in the cascade) the weights are all 1 and the rates are plain shares.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from monitoring_pipelines.core.dimensions import fit
from monitoring_pipelines.core.hallucination.sampling import ALL_ANSWERS
from monitoring_pipelines.core.stats.inference import wilson_interval

Scope = Literal["overall", "intent", "article"]
MISSING_ARTICLE = "(missing article)"


@dataclass(frozen=True)
class ScoreRow:
    """What the rates need of one scored answer."""

    intent: str
    article: str | None
    flagged: bool
    stratum_rows: int


@dataclass(frozen=True)
class ScopeRate:
    """The rate of one scope on one day.

    Attributes:
        scope: ``overall``, ``intent`` or ``article``.
        value: The intent or article (``""`` overall).
        scored: Answers scored.
        flagged: Answers under the threshold.
        rate: The (weighted) share flagged.
        n_effective: Effective sample size (``scored`` when the weights are equal).
        low: Lower bound of the Wilson 95 % interval.
        high: Upper bound.
        intent: For an article, the intent most of its answers of the day carry.
    """

    scope: Scope
    value: str
    scored: int
    flagged: int
    rate: float
    n_effective: float
    low: float
    high: float
    intent: str | None = None

    @property
    def subject(self) -> str:
        """The check finding's subject: ``""``, ``intent=billing``, ``article=KB-204``; a long
        value as its stored metrics name it (:func:`~.dimensions.fit`), so baselines, charts
        and incidents find one another."""
        if self.scope == "overall":
            return ""
        return f"{self.scope}={fit({self.scope: self.value})[self.scope]}"

    @property
    def label(self) -> str:
        """``overall`` or the subject."""
        return self.subject or "overall"

    @property
    def effective_flagged(self) -> float:
        return self.rate * self.n_effective

    @property
    def named(self) -> str:
        """The scope for a person: ``overall``, ``intent billing``, ``article KB-204 (intent
        billing)``."""
        if self.scope == "overall":
            return "overall"
        if self.scope == "article" and self.intent is not None:
            return f"article {self.value} (intent {self.intent})"
        return f"{self.scope} {self.value}"


@dataclass(frozen=True)
class DayRates:
    """Every scope's rate on one day; intents and articles by name."""

    overall: ScopeRate
    intents: tuple[ScopeRate, ...]
    articles: tuple[ScopeRate, ...]

    @property
    def scopes(self) -> tuple[ScopeRate, ...]:
        return (self.overall, *self.intents, *self.articles)


def compute_rates(rows: Sequence[ScoreRow]) -> DayRates:
    """The day's rates from its scored answers.

    Args:
        rows: The scored answers.

    Returns:
        The rates; with no rows, an overall rate of 0 over 0 answers and no scopes.
    """
    scored_per_intent = Counter(r.intent for r in rows)
    weighted = [(r, r.stratum_rows / scored_per_intent[r.intent]) for r in rows]
    by_intent: dict[str, list[tuple[ScoreRow, float]]] = defaultdict(list)
    by_article: dict[str, list[tuple[ScoreRow, float]]] = defaultdict(list)
    articles = any(r.article is not None for r in rows)  # else the log has no article column
    for row, weight in weighted:
        if row.intent != ALL_ANSWERS:  # a log without intents: the overall rate is the one
            by_intent[row.intent].append((row, 1.0))
        if articles:
            by_article[row.article or MISSING_ARTICLE].append((row, weight))
    return DayRates(
        overall=scope_rate("overall", "", weighted),
        intents=tuple(scope_rate("intent", k, v) for k, v in sorted(by_intent.items())),
        articles=tuple(
            replace(scope_rate("article", k, v), intent=_main_intent(r for r, _ in v))
            for k, v in sorted(by_article.items())
        ),
    )


def _main_intent(rows: Iterable[ScoreRow]) -> str | None:
    """The intent most of the rows carry (the first by name on a tie); ``None`` for a log
    without intents."""
    counts = Counter(r.intent for r in rows if r.intent != ALL_ANSWERS)
    if not counts:
        return None
    return min(counts, key=lambda intent: (-counts[intent], intent))


def scope_rate(scope: Scope, value: str, rows: Iterable[tuple[ScoreRow, float]]) -> ScopeRate:
    """The weighted share flagged among ``(row, weight)`` pairs, with its Wilson interval."""
    pairs = list(rows)
    total = sum(w for _, w in pairs)
    squares = sum(w * w for _, w in pairs)
    flagged_weight = sum(w for r, w in pairs if r.flagged)
    rate = flagged_weight / total if total else 0.0
    n_eff = total * total / squares if squares else 0.0
    low, high = wilson_interval(min(rate * n_eff, n_eff), n_eff)
    return ScopeRate(
        scope=scope,
        value=value,
        scored=len(pairs),
        flagged=sum(r.flagged for r, _ in pairs),
        rate=rate,
        n_effective=n_eff,
        low=low,
        high=high,
    )
