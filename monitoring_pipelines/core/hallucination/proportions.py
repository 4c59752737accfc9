"""The one-sided rise test of a share of flagged answers (Fisher's exact test) and Holm's
adjustment across tests.

Pure Python (``math`` only): the hallucination assets never import scipy; the tests check the
test against ``scipy.stats.fisher_exact`` and Holm's adjustment against its closed-testing
definition.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def rise_p_value(flagged: int, n: int, baseline_flagged: int, baseline_n: int) -> float:
    """One-sided p-value that the day's share is above the baseline's (Fisher's exact test).

    The two-proportion test of the 2x2 table (day, baseline) x (flagged, not flagged),
    conditional on its margins: under the null the day's flagged count is hypergeometric and
    the p-value is the probability of at least as many. Exact, so it stays valid for the
    handful of answers one article has on one day, where the normal approximation (the
    two-proportion z-test) is far too ready to find a rise. Equals
    ``scipy.stats.fisher_exact(table, alternative="greater")``'s p-value.

    Args:
        flagged: Flagged answers of the day.
        n: Scored answers of the day.
        baseline_flagged: Flagged answers of the pooled baseline.
        baseline_n: Scored answers of the pooled baseline.

    Returns:
        The p-value, within (0, 1].
    """
    for name, k, total in (("day", flagged, n), ("baseline", baseline_flagged, baseline_n)):
        if not 0 <= k <= total:
            raise ValueError(f"rise_p_value: {name} flagged={k} must be within [0, {total}]")
    population = n + baseline_n
    successes = flagged + baseline_flagged
    top = min(successes, n)
    if flagged > top or population == 0:
        return 1.0
    mode = (n + 1) * (successes + 1) // (population + 2)
    if flagged > mode:
        return min(1.0, _tail(flagged, top, population, successes, n))
    # At or under the mode the p-value is at least about a half: one less the lower tail.
    bottom = max(0, n - (population - successes))
    if flagged <= bottom:
        return 1.0
    return min(1.0, max(0.0, 1.0 - _tail(flagged - 1, bottom, population, successes, n)))


def _tail(start: int, end: int, population: int, successes: int, draws: int) -> float:
    """P(X between ``start`` and ``end``, both included) for X ~ Hypergeometric, ``end`` on
    the side of ``start`` away from the mode, where the terms only fall.

    Successive terms by their ratio (one log each, not nine log-gammas), summed relative to
    the first (the largest); once under e^-50 of it, the rest (at most a few hundred thousand
    of them) cannot move the sum by 1e-16.
    """
    failures = population - successes
    log_term = first = _log_hypergeom(start, population, successes, draws)
    total = 1.0
    step = 1 if end >= start else -1
    for x in range(start, end, step):
        if step > 0:
            ratio = (successes - x) * (draws - x) / ((x + 1) * (failures - draws + x + 1))
        else:
            ratio = x * (failures - draws + x) / ((successes - x + 1) * (draws - x + 1))
        log_term += math.log(ratio)
        if log_term < first - 50.0:
            break
        total += math.exp(log_term - first)
    return math.exp(first) * total


def _log_hypergeom(x: int, population: int, successes: int, draws: int) -> float:
    """log P(X = x) for X ~ Hypergeometric(population, successes, draws)."""
    return (
        _log_comb(successes, x)
        + _log_comb(population - successes, draws - x)
        - _log_comb(population, draws)
    )


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given.

    The ``i``-th smallest of ``m`` p-values is multiplied by ``m - i + 1`` and the results
    made non-decreasing in that order (capped at 1): rejecting those at most ``alpha``
    controls the family-wise error rate at ``alpha`` under any dependence between the tests.
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
