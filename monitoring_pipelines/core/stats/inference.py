"""General inference helpers shared by the checks: multiple-testing adjustment, the Wilson
interval of a proportion, and the median absolute deviation with its robust z."""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist, median
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

Z_95 = 1.959963984540054  # the standard normal's 97.5th percentile
MAD_TO_SD = 1.4826  # makes the MAD of normal data its standard deviation


class ProportionInterval(NamedTuple):
    """A confidence interval of a proportion, ``(low, high)``."""

    low: float
    high: float


def benjamini_hochberg(p_values: Sequence[float]) -> npt.NDArray[np.float64]:
    """Benjamini-Hochberg adjusted p-values (step-up, monotone, capped at 1)."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def two_sided_z(confidence: float) -> float:
    """The standard normal quantile of a two-sided ``confidence`` level."""
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def wilson_interval(
    successes: float, trials: float, z: float = Z_95, *, exact_ends: bool = True
) -> ProportionInterval:
    """The Wilson score interval of a proportion (95 % by default).

    Unlike the normal ("Wald") interval it stays within [0, 1] and does not collapse to a
    point at 0 or ``trials`` successes, which is what small samples produce. ``successes``
    and ``trials`` may be effective (non-integer) counts of a weighted sample.

    Args:
        successes: Trials with the event.
        trials: All trials.
        z: The normal quantile of the confidence level (see :func:`two_sided_z`).
        exact_ends: With no successes the interval starts at exactly 0, and with all of them
            it ends at exactly 1 (the formula's bound there is 0 or 1 up to rounding). False:
            the formula's bounds, clipped to [0, 1].

    Returns:
        (low, high); (0, 1) when ``trials`` is 0.

    Raises:
        ValueError: ``successes`` is outside [0, trials].
    """
    if trials <= 0:
        return ProportionInterval(0.0, 1.0)
    if not 0 <= successes <= trials:
        raise ValueError(
            f"wilson_interval: successes={successes} must be within [0, trials={trials}]"
        )
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    low = max(0.0, centre - half)
    high = min(1.0, centre + half)
    if exact_ends:
        low = 0.0 if successes == 0 else low
        high = 1.0 if successes == trials else high
    return ProportionInterval(low, high)


def wilson_interval_at(successes: int, trials: int, confidence: float) -> ProportionInterval:
    """The Wilson interval at a two-sided ``confidence`` level, its bounds as the formula
    gives them, clipped to [0, 1] (``exact_ends=False``)."""
    return wilson_interval(successes, trials, two_sided_z(confidence), exact_ends=False)


def median_absolute_deviation(values: Sequence[float]) -> float:
    """median(|x - median(x)|)."""
    center = median(values)
    return float(median(abs(v - center) for v in values))


def robust_z(value: float, expected: float, mad: float) -> float:
    """(value - expected) / (1.4826 * mad); needs mad > 0."""
    return (value - expected) / (MAD_TO_SD * mad)
