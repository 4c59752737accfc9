"""Did the hallucination rate rise? A scan over trailing windows of every scope, Holm across
the scopes of the day.

For each scope (overall, every intent, every article) and each window of the last 1 to
``window_days`` days ending today, the window's pooled answers are tested against the pooled
answers of the ``baseline_days`` before it (Fisher's exact test, one-sided); a scope's
p-value is its smallest window p-value times the number of windows tested (Bonferroni), and
the day's scopes are adjusted together by Holm. A scope rises when its adjusted p-value is at
most ``alpha`` and its window's rate is above its baseline's.

Why a scan: an article with a few dozen answers a day cannot show a rise on one day, but a
few days of them can; a scan finds a short strong cluster on its first day and a weak or small
one once enough days have accumulated, without knowing the duration in advance. A CUSUM would
need the size of the rise to look for and a threshold calibrated by simulation for every scope
size and base rate; the scan's error rate follows from exact tests alone.

False alarms: for a scope whose rate does not move, each window's test is exact conditional on
its margins (and conservative, being discrete), Bonferroni over the windows and Holm over the
scopes hold whatever the dependence between them, so on any day the chance that one scope or
more rises falsely is at most ``alpha``. The expected number of falsely alarmed days in a year
is therefore at most ``365 * alpha`` (0.37 at the default 0.001) per monitor, however many
intents and articles it has and although consecutive days share windows.

Evidence is used for one alarm: the windows never reach back to a day an earlier alarm of the
scope covered (a rise over 3 days covers those 3), and such days never enter a baseline, so a
lasting problem does not become its own baseline. Days of another judge, prompt version or
threshold are in neither (README.md, "Hallucinations").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

from monitoring_pipelines.core.config import JudgeConfig
from monitoring_pipelines.core.hallucination.proportions import holm, rise_p_value
from monitoring_pipelines.core.hallucination.rates import DayRates, ScopeRate
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
    """One scope's stored counts on a past day.

    Attributes:
        rate: The (weighted) share flagged.
        n_effective: Effective number of answers.
        rose: The scope rose that day.
        window: Days the rise covered (that day and the ones before it), when it rose.
    """

    rate: float
    n_effective: float
    rose: bool = False
    window: int = 1


@dataclass(frozen=True)
class StoredDay:
    """A past day as the result store holds it; scopes by subject (``""`` overall)."""

    day: date
    judge: JudgeIdentity | None
    scopes: Mapping[str, StoredScope]


@dataclass(frozen=True)
class RisePolicy:
    """Thresholds of the rise test (from ``llm.judge``: ``max_rate``, ``baseline_days``,
    ``rise_alpha``, ``rise_window_days``)."""

    max_rate: float
    baseline_days: int
    alpha: float = 0.001
    window_days: int = 7
    min_scored: int = 10
    min_baseline_days: int = 3
    min_baseline_answers: int = 30

    @classmethod
    def from_config(cls, config: JudgeConfig) -> RisePolicy:
        return cls(
            max_rate=config.max_rate,
            baseline_days=config.baseline_days,
            alpha=config.rise_alpha,
            window_days=config.rise_window_days,
        )

    @property
    def history_days(self) -> int:
        """Days before today the test reads: the longest window's earlier days and its
        baseline."""
        return self.baseline_days + self.window_days - 1


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
class Window:
    """The days ending today pooled for one test.

    Attributes:
        days: Calendar days from its first day to today.
        first: Its first day.
        flagged: Flagged answers (effective, rounded).
        scored: Scored answers (effective, rounded).
        baseline: The pooled days before it.
        p_value: One-sided Fisher p-value of the window against the baseline.
    """

    days: int
    first: date
    flagged: int
    scored: int
    baseline: Baseline
    p_value: float

    @property
    def rate(self) -> float:
        return self.flagged / self.scored if self.scored else 0.0


@dataclass(frozen=True)
class RiseTest:
    """One scope's scan.

    Attributes:
        current: The day's rate.
        window: The window with the smallest p-value, or ``None`` when none was tested.
        windows_tested: Windows tested (the Bonferroni factor).
        p_value: The scope's p-value (Bonferroni over its windows), ``None`` when not tested.
        p_adjusted: Holm-adjusted over the day's tested scopes.
        significant: The rise is significant at the policy's ``alpha``.
        note: Why the scope was not evaluated, else ``""``.
    """

    current: ScopeRate
    window: Window | None
    windows_tested: int
    p_value: float | None
    p_adjusted: float | None
    significant: bool
    note: str

    @property
    def evaluated(self) -> bool:
        return self.p_value is not None

    @property
    def baseline(self) -> Baseline | None:
        """The baseline of the window tested."""
        return None if self.window is None else self.window.baseline


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


def covered_days(history: Sequence[StoredDay], subject: str) -> set[date]:
    """Days an alarm of the scope covered: each day it rose and the window days before it."""
    covered: set[date] = set()
    for d in history:
        stored = d.scopes.get(subject)
        if stored is not None and stored.rose:
            covered.update(d.day - timedelta(days=k) for k in range(max(stored.window, 1)))
    return covered


def usable_days(
    history: Sequence[StoredDay], subject: str, judge: JudgeIdentity
) -> dict[date, StoredScope]:
    """The scope's stored days that may be a baseline: same judge, answers scored, and no
    alarm of the scope covering them."""
    covered = covered_days(history, subject)
    return {
        d.day: d.scopes[subject]
        for d in history
        if d.judge == judge
        and subject in d.scopes
        and d.scopes[subject].n_effective > 0
        and d.day not in covered
    }


def pool_baseline(
    history: Sequence[StoredDay],
    subject: str,
    judge: JudgeIdentity,
    first: date | None = None,
    last: date | None = None,
) -> Baseline | None:
    """The scope's baseline: its days from ``first`` to ``last`` (any, when ``None``) with the
    same judge that no alarm of the scope covered."""
    usable = [
        s
        for day, s in usable_days(history, subject, judge).items()
        if (first is None or day >= first) and (last is None or day <= last)
    ]
    return _pool(usable)


def _pool(days: Sequence[StoredScope]) -> Baseline | None:
    if not days:
        return None
    flagged = sum(s.rate * s.n_effective for s in days)
    scored = round(sum(s.n_effective for s in days))
    return Baseline(min(round(flagged), scored), scored, len(days))


def assess_rises(
    rates: DayRates,
    history: Sequence[StoredDay],
    judge: JudgeIdentity,
    policy: RisePolicy,
    today: date,
) -> RiseResults:
    """Scan every scope of the day and adjust them together (see the module docstring).

    Args:
        rates: The day's rates.
        history: The stored days before today (``policy.history_days`` of them are read; any
            order; other days ignored).
        judge: Today's judge.
        policy: Thresholds.
        today: The day tested.

    Returns:
        The tests; the overall rate, intents and articles Holm-adjusted together.
    """
    changed = judge_change(history, judge, today)
    reset = None
    if changed is not None:
        reset = (
            f"baseline reset: judge changed on {changed[0]} ({changed[1].label} -> {judge.label})"
        )
    earliest = today - timedelta(days=policy.history_days)
    past = [d for d in history if earliest <= d.day < today]
    tests = [scan_scope(rate, past, judge, policy, today) for rate in rates.scopes]
    tested = [i for i, t in enumerate(tests) if t.p_value is not None]
    adjusted = holm([tests[i].p_value or 1.0 for i in tested])
    for i, p_adj in zip(tested, adjusted, strict=True):
        t = tests[i]
        higher = t.window is not None and t.window.rate > t.window.baseline.rate
        tests[i] = replace(t, p_adjusted=p_adj, significant=p_adj <= policy.alpha and higher)
    return RiseResults(tests[0], tuple(tests[1:]), reset)


def scan_scope(
    current: ScopeRate,
    history: Sequence[StoredDay],
    judge: JudgeIdentity,
    policy: RisePolicy,
    today: date,
) -> RiseTest:
    """One scope's windows of 1 to ``policy.window_days`` days ending today, each against the
    ``policy.baseline_days`` before it; the smallest p-value times the windows tested."""
    subject = current.subject
    covered = covered_days(history, subject)
    other_judge = {d.day for d in history if d.judge is not None and d.judge != judge}
    stored = {d.day: d.scopes[subject] for d in history if d.judge == judge and subject in d.scopes}
    usable = usable_days(history, subject, judge)
    flagged, scored = current.effective_flagged, current.n_effective
    windows: list[Window] = []
    note, reached = "", 1
    for back in range(policy.window_days):
        first = today - timedelta(days=back)
        if back:
            if first in covered or first in other_judge:
                break
            reached = back + 1
            day = stored.get(first)
            if day is None or day.n_effective <= 0:
                continue  # no answers that day: the same window as the shorter one
            flagged += day.rate * day.n_effective
            scored += day.n_effective
        n = round(scored)
        if n < policy.min_scored:
            continue
        start = first - timedelta(days=policy.baseline_days)
        baseline = _pool([u for day, u in usable.items() if start <= day < first])
        short = _short_baseline(baseline, policy)
        if baseline is None or short:
            note = short
            continue
        k = min(round(flagged), n)
        p = rise_p_value(k, n, baseline.flagged, baseline.scored)
        windows.append(Window(back + 1, first, k, n, baseline, p))
    if not windows:
        if round(scored) < policy.min_scored:
            note = (
                f"{round(scored)} answers scored in {count(reached, 'day')}, "
                f"fewer than {policy.min_scored}"
            )
        return RiseTest(current, None, 0, None, None, False, note)
    best = min(windows, key=lambda w: (w.p_value, w.days))
    p_value = min(1.0, best.p_value * len(windows))
    return RiseTest(current, best, len(windows), p_value, None, False, "")


def _short_baseline(baseline: Baseline | None, policy: RisePolicy) -> str:
    """Why the baseline is too small to test against, else ``""``."""
    days = 0 if baseline is None else baseline.days
    if baseline is None or days < policy.min_baseline_days:
        return f"baseline of {count(days, 'day')}, fewer than {policy.min_baseline_days}"
    if baseline.scored < policy.min_baseline_answers:
        return f"baseline of {baseline.scored} answers, fewer than {policy.min_baseline_answers}"
    return ""
