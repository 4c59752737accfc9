"""Did the hallucination rate rise? Each scope of the day against its pooled trailing baseline.

Fisher's exact test against the baseline days of the same judge, prompt version and threshold;
intents and articles Benjamini-Hochberg-adjusted together (README.md, "Hallucinations").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

from monitoring_pipelines.core.config import JudgeConfig
from monitoring_pipelines.core.hallucination.proportions import rise_p_value
from monitoring_pipelines.core.hallucination.rates import DayRates, ScopeRate
from monitoring_pipelines.core.stats.inference import benjamini_hochberg
from monitoring_pipelines.core.wording import count


@dataclass(frozen=True)
class JudgeIdentity:
    """What makes two days' verdicts comparable."""

    judge: str
    prompt_version: str
    threshold: float

    @property
    def label(self) -> str:
        return f"{self.judge}/{self.prompt_version} at threshold {self.threshold:g}"


@dataclass(frozen=True)
class StoredScope:
    """One scope's stored counts on a past day."""

    rate: float
    n_effective: float
    rose: bool = False


@dataclass(frozen=True)
class StoredDay:
    """A past day as the result store holds it; scopes by subject (``""`` overall)."""

    day: date
    judge: JudgeIdentity | None
    scopes: Mapping[str, StoredScope]


@dataclass(frozen=True)
class RisePolicy:
    """Thresholds of the rise test (``max_rate`` and ``baseline_days`` from ``llm.judge``)."""

    max_rate: float
    baseline_days: int
    alpha: float = 0.01
    min_scored: int = 10
    min_baseline_days: int = 3
    min_baseline_answers: int = 30

    @classmethod
    def from_config(cls, config: JudgeConfig) -> RisePolicy:
        return cls(max_rate=config.max_rate, baseline_days=config.baseline_days)


@dataclass(frozen=True)
class Baseline:
    """A scope's pooled baseline: effective counts rounded to whole answers."""

    flagged: int
    scored: int
    days: int

    @property
    def rate(self) -> float:
        return self.flagged / self.scored if self.scored else 0.0


@dataclass(frozen=True)
class RiseTest:
    """One scope's day against its baseline.

    Attributes:
        current: The day's rate.
        baseline: The pooled baseline, or ``None`` when too small.
        p_value: One-sided p-value, ``None`` when not evaluated.
        p_adjusted: Benjamini-Hochberg-adjusted (the raw one for the overall rate).
        significant: The rise is significant at the policy's ``alpha``.
        note: Why the scope was not evaluated, else ``""``.
    """

    current: ScopeRate
    baseline: Baseline | None
    p_value: float | None
    p_adjusted: float | None
    significant: bool
    note: str

    @property
    def evaluated(self) -> bool:
        return self.p_value is not None


@dataclass(frozen=True)
class RiseResults:
    """The day's rise tests and the baseline reset, if the judge changed."""

    overall: RiseTest
    scopes: tuple[RiseTest, ...]
    reset: str | None

    @property
    def rising(self) -> list[RiseTest]:
        """Intents and articles that rose significantly, strongest first."""
        found = [t for t in self.scopes if t.significant]
        return sorted(found, key=lambda t: (t.p_adjusted or 0.0, t.current.subject))


def judge_change(
    history: Sequence[StoredDay], judge: JudgeIdentity, today: date
) -> tuple[date, JudgeIdentity] | None:
    """When the judge last changed within the history, and what it was before.

    Returns:
        The first day scored by ``judge`` after the last day scored by another (``today``
        when every stored day used another), with that other judge; ``None`` if none did.
    """
    days = sorted((d for d in history if d.judge is not None), key=lambda d: d.day)
    other = [d for d in days if d.judge != judge]
    if not other:
        return None
    last = other[-1]
    after = [d.day for d in days if d.day > last.day and d.judge == judge]
    assert last.judge is not None
    return (after[0] if after else today), last.judge


def pool_baseline(
    history: Sequence[StoredDay], subject: str, judge: JudgeIdentity
) -> Baseline | None:
    """The scope's baseline: days with the same judge on which it did not rise itself."""
    usable = [
        d.scopes[subject]
        for d in history
        if d.judge == judge
        and subject in d.scopes
        and d.scopes[subject].n_effective > 0
        and not d.scopes[subject].rose
    ]
    if not usable:
        return None
    flagged = sum(s.rate * s.n_effective for s in usable)
    scored = round(sum(s.n_effective for s in usable))
    return Baseline(min(round(flagged), scored), scored, len(usable))


def assess_rises(
    rates: DayRates,
    history: Sequence[StoredDay],
    judge: JudgeIdentity,
    policy: RisePolicy,
    today: date,
) -> RiseResults:
    """Test every scope of the day against its baseline (see the module docstring).

    Args:
        rates: The day's rates.
        history: The stored days of the baseline window (any order; other days ignored).
        judge: Today's judge.
        policy: Thresholds.
        today: The day tested.

    Returns:
        The tests; intents and articles BH-adjusted together.
    """
    changed = judge_change(history, judge, today)
    reset = None
    if changed is not None:
        reset = (
            f"baseline reset: judge changed on {changed[0]} ({changed[1].label} -> {judge.label})"
        )
    overall = _test(rates.overall, pool_baseline(history, "", judge), policy)
    if overall.p_value is not None:
        significant = overall.p_value <= policy.alpha and _higher(overall)
        overall = replace(overall, p_adjusted=overall.p_value, significant=significant)
    scopes = [
        _test(s, pool_baseline(history, s.subject, judge), policy)
        for s in (*rates.intents, *rates.articles)
    ]
    tested = [i for i, t in enumerate(scopes) if t.p_value is not None]
    adjusted = benjamini_hochberg([scopes[i].p_value or 1.0 for i in tested])
    for i, p_adj in zip(tested, adjusted, strict=True):
        t = scopes[i]
        scopes[i] = replace(
            t, p_adjusted=float(p_adj), significant=bool(p_adj <= policy.alpha) and _higher(t)
        )
    return RiseResults(overall, tuple(scopes), reset)


def _test(current: ScopeRate, baseline: Baseline | None, policy: RisePolicy) -> RiseTest:
    def skipped(note: str) -> RiseTest:
        return RiseTest(current, baseline, None, None, False, note)

    if current.scored < policy.min_scored:
        return skipped(f"{current.scored} answers scored, fewer than {policy.min_scored}")
    if baseline is None or baseline.days < policy.min_baseline_days:
        days = 0 if baseline is None else baseline.days
        return skipped(f"baseline of {count(days, 'day')}, fewer than {policy.min_baseline_days}")
    if baseline.scored < policy.min_baseline_answers:
        return skipped(
            f"baseline of {baseline.scored} answers, fewer than {policy.min_baseline_answers}"
        )
    n = round(current.n_effective)
    flagged = min(round(current.effective_flagged), n)
    p_value = rise_p_value(flagged, n, baseline.flagged, baseline.scored)
    return RiseTest(current, baseline, p_value, None, False, "")


def _higher(test: RiseTest) -> bool:
    return test.baseline is not None and test.current.rate > test.baseline.rate
