"""First Wasserstein distance between two binned numeric columns, in reference standard deviations.

Each bin's mass is spread around the bin's mean and the quantile functions are integrated
exactly, so a location shift of d sd scores about d whatever the bins. It has no p-value.

Finite values can be as large as 1e308, where a difference of two of them overflows: the
positions are taken in units of a power of two that keeps them at most 1 (exact, no rounding),
and the score is scaled back at the end. A score beyond the float range (a distance of more
than about 1e308 reference sds) is capped there with a note, never stored as infinite.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from monitoring_pipelines.core.stats.base import (
    Distribution,
    FloatArray,
    Kind,
    StatResult,
    check_pair,
    proportions,
    register,
)


def _segments(
    dist: Distribution, name: str, side: str, exponent: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(mass, start, end) of each occupied bin: the interval its mass is spread over, in
    units of ``2**exponent``."""
    edges = dist.edges if dist.edges is not None else np.empty(0)
    counts = np.asarray(dist.counts, dtype=np.float64)
    for occupied, bound, label in ((counts[0] > 0, dist.lo, "lo"), (counts[-1] > 0, dist.hi, "hi")):
        if occupied and (bound is None or not math.isfinite(bound)):
            raise ValueError(
                f"{name}: lo and hi must be finite on every side with values in an outer bin "
                f"({side} {label} is {bound})"
            )
    lo = float(dist.lo) if dist.lo is not None else (float(edges[0]) if edges.size else 0.0)
    hi = float(dist.hi) if dist.hi is not None else (float(edges[-1]) if edges.size else 0.0)
    lower = np.concatenate(([min(lo, edges[0]) if edges.size else lo], edges))
    upper = np.concatenate((edges, [max(hi, edges[-1]) if edges.size else hi]))
    occupied = counts > 0
    lower, upper, counts = lower[occupied], upper[occupied], counts[occupied]
    lower, upper = np.ldexp(lower, -exponent), np.ldexp(upper, -exponent)
    if dist.bin_sums is not None:
        unit = math.ldexp(dist.sum_scale, -exponent)
        with np.errstate(over="ignore", invalid="ignore"):
            means = np.asarray(dist.bin_sums)[occupied] / counts * unit
        # A sum that overflowed (data older than sum_scale) says nothing: take the middle.
        means = np.where(np.isfinite(means), means, (lower + upper) / 2)
        mean = np.clip(means, lower, upper)
    else:
        mean = (lower + upper) / 2
    half = np.minimum(mean - lower, upper - mean)
    return proportions(counts), mean - half, mean + half


def _exponent(*dists: Distribution) -> int:
    """0, or the power of two that keeps every bound at most 1 once divided by it, when the
    largest finite bound is so large that differences of bounds could overflow."""
    bounds = [abs(float(v)) for d in dists for v in (d.lo, d.hi) if v is not None]
    bounds += [
        float(np.max(np.abs(d.edges))) for d in dists if d.edges is not None and d.edges.size
    ]
    largest = max((b for b in bounds if math.isfinite(b)), default=0.0)
    return math.frexp(largest)[1] if largest > _LARGEST_UNSCALED else 0


_LARGEST_UNSCALED = 2.0**400


def binned_distance(reference: Distribution, current: Distribution, name: str) -> float:
    """Area between the two quantile functions, in column units.

    Args:
        reference: Reference counts over the bins, with ``lo`` and ``hi`` (and ``bin_sums``).
        current: Current counts over the same bins, with ``lo`` and ``hi`` (and ``bin_sums``).
        name: Statistic name for error messages.

    Returns:
        The first Wasserstein distance of the two binned distributions (infinite only when
        it exceeds the float range).
    """
    area, exponent = _scaled_distance(reference, current, name)
    with np.errstate(over="ignore"):
        return float(np.ldexp(area, exponent))


def _scaled_distance(
    reference: Distribution, current: Distribution, name: str
) -> tuple[float, int]:
    """The distance as ``(area, exponent)``: ``area * 2**exponent`` in column units."""
    exponent = _exponent(reference, current)
    sides = [
        _segments(d, name, s, exponent) for d, s in ((reference, "reference"), (current, "current"))
    ]
    cumulative = [np.cumsum(mass) for mass, _, _ in sides]
    grid = np.unique(np.clip(np.concatenate([[0.0], *cumulative, [1.0]]), 0.0, 1.0))
    u0, u1 = grid[:-1], grid[1:]
    keep = u1 > u0
    u0, u1 = u0[keep], u1[keep]
    middle = (u0 + u1) / 2
    at_start, at_end = [], []
    for (mass, start, end), cum in zip(sides, cumulative, strict=True):
        # The segment holding each grid piece (its middle is strictly inside one segment).
        j = np.minimum(np.searchsorted(cum, middle, side="right"), mass.size - 1)
        before = cum[j] - mass[j]
        slope = (end[j] - start[j]) / mass[j]
        at_start.append(start[j] + (u0 - before) * slope)
        at_end.append(start[j] + (u1 - before) * slope)
    left = at_start[0] - at_start[1]
    right = at_end[0] - at_end[1]
    span = np.abs(left) + np.abs(right)
    # Same sign: a trapezoid. Sign change: two triangles meeting where the gap crosses zero.
    crossing = np.divide(left**2 + right**2, 2 * span, out=np.zeros_like(span), where=span > 0)
    area = np.where(left * right >= 0, span / 2, crossing) * (u1 - u0)
    return float(area.sum()), exponent


class Wasserstein:
    """Earth mover's distance of the binned distributions, over the reference sd."""

    name: str = "wasserstein"
    kinds: frozenset[Kind] = frozenset({"numeric"})

    def __call__(self, reference: Distribution, current: Distribution) -> StatResult:
        """Compare ``current`` with ``reference``.

        Args:
            reference: Reference counts over its quantile bins, with ``lo``, ``hi`` and ``std``.
            current: Current counts over the same bins, with ``lo`` and ``hi``.

        Returns:
            The distance in reference standard deviations (in column units, with a note, when
            the reference is constant); no p-value.

        Raises:
            ValueError: The pair cannot be compared (see :func:`check_pair`), an outer bin with
                values has no finite bound, or the reference std is negative or not finite.
        """
        check_pair(self, reference, current)
        std = reference.std
        if std is not None and not (math.isfinite(std) and std >= 0):
            raise ValueError(f"{self.name}: reference std must be finite and >= 0, got {std}")
        area, exponent = _scaled_distance(reference, current, self.name)
        note = None
        if std is None or std == 0:
            why = "reference std unknown" if std is None else "reference is constant"
            note = f"{why}: distance in column units"
            std = 1.0
        with np.errstate(over="ignore"):
            score = float(np.ldexp(area / std, exponent))
        if not math.isfinite(score):
            score = sys.float_info.max
            beyond = "the distance exceeds the float range: capped at its largest value"
            note = f"{note}; {beyond}" if note else beyond
        return StatResult(self.name, score, None, note=note)


WASSERSTEIN = register(Wasserstein())
