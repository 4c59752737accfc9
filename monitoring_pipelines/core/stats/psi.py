"""Population stability index for numeric (binned) and categorical columns.

``PSI = sum((c - r) * ln(c / r))`` over current and reference proportions, floored at
:data:`PROPORTION_FLOOR` so that an empty bin does not make it infinite. It has no p-value.
"""

from __future__ import annotations

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

PROPORTION_FLOOR = 1e-4
"""Smallest proportion a bin may have before renormalising: one row in ten thousand."""


def floored_proportions(counts: FloatArray) -> FloatArray:
    """Proportions of ``counts``, each raised to at least :data:`PROPORTION_FLOOR`, summing to 1."""
    floored: FloatArray = np.maximum(proportions(counts), PROPORTION_FLOOR)
    return floored / float(floored.sum())


class PopulationStabilityIndex:
    """Symmetrised KL divergence of the floored bin or category proportions."""

    name: str = "psi"
    kinds: frozenset[Kind] = frozenset({"numeric", "categorical"})

    def __call__(self, reference: Distribution, current: Distribution) -> StatResult:
        """Compare ``current`` with ``reference``.

        Bins or categories empty on both sides are dropped before flooring: they say nothing
        about drift, and flooring them would make the index depend on the vocabulary size.

        Args:
            reference: Reference counts over the bins or categories.
            current: Current counts over the same support.

        Returns:
            The index as score (0 for identical proportions); no p-value.

        Raises:
            ValueError: The pair cannot be compared (see :func:`check_pair`).
        """
        check_pair(self, reference, current)
        keep = (reference.counts + current.counts) > 0
        ref = floored_proportions(reference.counts[keep])
        cur = floored_proportions(current.counts[keep])
        score = float(np.sum((cur - ref) * np.log(cur / ref)))
        return StatResult(self.name, score, None)


PSI = register(PopulationStabilityIndex())
