"""Statistics of a share of flagged answers: Wilson intervals and the one-sided rise test.

Pure Python (``math`` only): the hallucination assets never import scipy; the tests check
these against ``scipy.stats.binomtest`` and ``scipy.stats.fisher_exact``.
"""

from __future__ import annotations

import math

Z_95 = 1.959963984540054  # the standard normal's 97.5th percentile


def wilson_interval(flagged: float, n: float, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95 % by default).

    Unlike the normal ("Wald") interval it stays within [0, 1] and does not collapse to a
    point at 0 or n flagged, which is what small daily samples of one article produce.
    ``flagged`` and ``n`` may be effective (non-integer) counts of a weighted sample.

    Args:
        flagged: Answers under the threshold.
        n: Answers scored (> 0).
        z: The normal quantile of the confidence level.

    Returns:
        (low, high); (0, 1) when ``n`` is 0.
    """
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= flagged <= n:
        raise ValueError(f"wilson_interval: flagged={flagged} must be within [0, n={n}]")
    p = flagged / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    low = 0.0 if flagged == 0 else max(0.0, centre - half)
    high = 1.0 if flagged == n else min(1.0, centre + half)
    return low, high


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
