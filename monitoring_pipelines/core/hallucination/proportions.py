"""The one-sided rise test of a share of flagged answers (Fisher's exact test).

Pure Python (``math`` only): the hallucination assets never import scipy; the tests check it
against ``scipy.stats.fisher_exact``.
"""

from __future__ import annotations

import math


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
    terms = [_log_hypergeom(x, population, successes, n) for x in range(flagged, top + 1)]
    peak = max(terms)
    return min(1.0, math.exp(peak) * sum(math.exp(t - peak) for t in terms))


def _log_hypergeom(x: int, population: int, successes: int, draws: int) -> float:
    """log P(X = x) for X ~ Hypergeometric(population, successes, draws)."""
    return (
        _log_comb(successes, x)
        + _log_comb(population - successes, draws - x)
        - _log_comb(population, draws)
    )


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
