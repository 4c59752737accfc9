"""The rise scan on simulated days, fed back its own verdicts as the rates asset does: it finds
a cluster in a mid-sized article within two days and a rise in a small one by pooling days, and
a monitor whose rates never move pages at most on ``alpha`` of its days. Holm's adjustment
against its closed-testing definition."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitoring_pipelines.core.hallucination.proportions import holm
from monitoring_pipelines.core.hallucination.rates import ScoreRow, compute_rates
from monitoring_pipelines.core.hallucination.rise import (
    JudgeIdentity,
    RisePolicy,
    RiseResults,
    StoredDay,
    StoredScope,
    assess_rises,
)

JUDGE = JudgeIdentity("offline", "offline-lexical-1", 0.7)
START = date(2026, 1, 1)
BASE_RATE = 0.04
INTENTS = ("billing", "shipping", "returns", "account")


@dataclass(frozen=True)
class Article:
    """A simulated article: its intent and how many answers it gets a day (low, high)."""

    name: str
    intent: str
    per_day: tuple[int, int]


def articles(sizes: tuple[tuple[int, int], ...]) -> list[Article]:
    """Four articles of every intent, of the given daily sizes in turn."""
    out = []
    for i, intent in enumerate(INTENTS):
        for k in range(4):
            size = sizes[(4 * i + k) % len(sizes)]
            out.append(Article(f"KB-{intent}-{k + 1}", intent, size))
    return out


def simulate(
    catalogue: list[Article],
    days: int,
    policy: RisePolicy,
    seed: int,
    rate_of: dict[str, dict[int, float]] | None = None,
) -> list[RiseResults]:
    """Every day's rise tests, each against the stored days before it (with its own verdicts,
    as the result store keeps them); ``rate_of[article][day]`` overrides the base rate."""
    rng = np.random.default_rng(seed)
    stored: list[StoredDay] = []
    results = []
    for d in range(days):
        today = START + timedelta(days=d)
        rows: list[ScoreRow] = []
        for article in catalogue:
            n = int(rng.integers(article.per_day[0], article.per_day[1] + 1))
            rate = (rate_of or {}).get(article.name, {}).get(d, BASE_RATE)
            flagged = int(rng.binomial(n, rate))
            rows += [ScoreRow(article.intent, article.name, i < flagged, 0) for i in range(n)]
        rates = compute_rates(_unweighted(rows))
        history = stored[-policy.history_days :]
        rises = assess_rises(rates, history, JUDGE, policy, today)
        results.append(rises)
        tests = {t.current.subject: t for t in (rises.overall, *rises.scopes)}
        scopes = {
            r.subject: StoredScope(
                r.rate,
                r.n_effective,
                tests[r.subject].significant,
                tests[r.subject].window.days if tests[r.subject].window else 1,  # type: ignore[union-attr]
            )
            for r in rates.scopes
        }
        stored.append(StoredDay(today, JUDGE, scopes))
    return results


def _unweighted(rows: list[ScoreRow]) -> list[ScoreRow]:
    """Every answer judged: each stands for itself (its intent's size is what was scored)."""
    sizes: dict[str, int] = {}
    for r in rows:
        sizes[r.intent] = sizes.get(r.intent, 0) + 1
    return [ScoreRow(r.intent, r.article, r.flagged, sizes[r.intent]) for r in rows]


def alarm_days(results: list[RiseResults]) -> list[int]:
    return [
        d
        for d, rises in enumerate(results)
        if any(t.significant for t in (rises.overall, *rises.scopes))
    ]


def rising(rises: RiseResults) -> set[str]:
    return {t.current.subject for t in (rises.overall, *rises.scopes) if t.significant}


POLICY = RisePolicy(max_rate=0.10, baseline_days=14)


def test_a_cluster_in_an_article_of_forty_answers_a_day_is_found_within_two_days() -> None:
    catalogue = articles(((40, 40),))
    start = 30
    cluster = {"KB-shipping-2": {d: 0.45 for d in range(start, start + 5)}}
    results = simulate(catalogue, start + 5, POLICY, seed=11, rate_of=cluster)
    assert alarm_days(results[:start]) == []
    found = [d for d in range(start, start + 5) if "article=KB-shipping-2" in rising(results[d])]
    assert found and found[0] <= start + 1
    first = results[found[0]]
    # Only the article, its intent and the overall rate it drives can rise.
    assert rising(first) <= {"article=KB-shipping-2", "intent=shipping", ""}
    kb = next(t for t in first.scopes if t.current.subject == "article=KB-shipping-2")
    assert kb.current.intent == "shipping"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_rise_in_a_small_article_is_found_by_pooling_days(seed: int) -> None:
    # 5 to 10 answers a day: one day's handful proves nothing, a few days of them do.
    catalogue = articles(((5, 10), (40, 40), (40, 40), (40, 40)))
    small = catalogue[0].name
    start, length = 30, 7
    rise = {small: {d: 0.45 for d in range(start, start + length)}}
    results = simulate(catalogue, start + length, POLICY, seed=seed, rate_of=rise)
    found = [d for d in range(start, start + length) if f"article={small}" in rising(results[d])]
    assert found, "the small article's rise was never found"
    first = next(t for t in results[found[0]].scopes if t.current.subject == f"article={small}")
    assert first.window is not None and first.window.days > 1  # found on pooled days
    # Testing each day alone, as a one-day window, finds it on fewer days, if any.
    alone = simulate(
        catalogue,
        start + length,
        RisePolicy(max_rate=0.10, baseline_days=14, window_days=1),
        seed=seed,
        rate_of=rise,
    )
    found_alone = [
        d for d in range(start, start + length) if f"article={small}" in rising(alone[d])
    ]
    assert len(found_alone) < len(found) or (found_alone and found_alone[0] > found[0])


NULL_DAYS = 365
# 16 articles of 5 to 200 answers a day, 4 intents and the overall rate: 21 scopes.
NULL_CATALOGUE = ((5, 10), (40, 40), (20, 30), (150, 200))


@pytest.mark.parametrize(("alpha", "seed"), [(0.001, 5), (0.05, 6)])
def test_rates_that_never_move_page_at_most_on_alpha_of_the_days(alpha: float, seed: int) -> None:
    policy = RisePolicy(max_rate=0.10, baseline_days=14, alpha=alpha)
    results = simulate(articles(NULL_CATALOGUE), NULL_DAYS, policy, seed=seed)
    tested = sum(t.evaluated for r in results for t in (r.overall, *r.scopes))
    assert tested > 0.9 * NULL_DAYS * 21  # the small articles too, once their days add up
    alarms = len(alarm_days(results))
    # At most alpha of the days, with the binomial's spread (3 standard deviations).
    bound = alpha * NULL_DAYS + 3 * (alpha * (1 - alpha) * NULL_DAYS) ** 0.5
    assert alarms <= bound, f"{alarms} alarm days in {NULL_DAYS}, expected at most {bound:.1f}"
    # The bound is not vacuous: any window of any scope at alpha, unadjusted, pages far more.
    unadjusted = sum(
        any(t.window is not None and t.window.p_value <= alpha for t in (r.overall, *r.scopes))
        for r in results
    )
    if alpha >= 0.01:
        assert unadjusted > 3 * bound


def test_after_an_alarm_the_scan_starts_afresh() -> None:
    catalogue = articles(((40, 40),))
    start = 30
    cluster = {"KB-billing-1": {d: 0.45 for d in range(start, start + 3)}}
    results = simulate(catalogue, start + 10, POLICY, seed=4, rate_of=cluster)
    tests = [
        next(t for t in r.scopes if t.current.subject == "article=KB-billing-1") for r in results
    ]
    assert all(t.significant for t in tests[start : start + 3])  # every day of the cluster
    # The day after the cluster its days are neither in a window nor in the baseline ...
    after = tests[start + 3]
    assert after.windows_tested == 1 and not after.significant
    assert after.baseline is not None and after.baseline.rate < 0.1
    # ... and a week on nothing fails.
    assert not any(t.significant for t in tests[start + 3 :])


def holm_by_closed_testing(p: list[float]) -> list[float]:
    """Holm's adjusted p-values as closed testing with Bonferroni's local tests defines them."""
    m = len(p)
    out = []
    for i in range(m):
        worst = 0.0
        others = [j for j in range(m) if j != i]
        for size in range(m):
            for subset in itertools.combinations(others, size):
                family = (i, *subset)
                worst = max(worst, min(1.0, len(family) * min(p[j] for j in family)))
        out.append(worst)
    return out


@given(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=7))
def test_holm_is_closed_testing_with_bonferroni(p: list[float]) -> None:
    assert holm(p) == pytest.approx(holm_by_closed_testing(p), abs=1e-12)
