"""Jensen-Shannon distance for numeric (binned) and categorical columns.

The square root of the Jensen-Shannon divergence in base 2: a metric in [0, 1] that, unlike
PSI, stays finite when a bin is empty on one side, so no floor is needed. It equals
``scipy.spatial.distance.jensenshannon(r, c, base=2)`` and has no p-value.
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


def _kl_bits(p: FloatArray, m: FloatArray) -> float:
    # Where p is 0 the term is 0 by convention; m > 0 wherever p > 0.
    nonzero = p > 0
    return float(np.sum(p[nonzero] * np.log2(p[nonzero] / m[nonzero])))


class JensenShannon:
    """Base-2 Jensen-Shannon distance of the bin or category proportions."""

    name: str = "jensen_shannon"
    kinds: frozenset[Kind] = frozenset({"numeric", "categorical"})

    def __call__(self, reference: Distribution, current: Distribution) -> StatResult:
        """Compare ``current`` with ``reference``.

        Args:
            reference: Reference counts over the bins or categories.
            current: Current counts over the same support.

        Returns:
            The distance as score, 0 for identical proportions and 1 for disjoint ones; no
            p-value.

        Raises:
            ValueError: The pair cannot be compared (see :func:`check_pair`).
        """
        check_pair(self, reference, current)
        ref, cur = proportions(reference.counts), proportions(current.counts)
        mid = (ref + cur) / 2
        divergence = (_kl_bits(ref, mid) + _kl_bits(cur, mid)) / 2
        # Rounding can leave the divergence a hair outside [0, 1].
        score = float(np.sqrt(min(max(divergence, 0.0), 1.0)))
        return StatResult(self.name, score, None)


JENSEN_SHANNON = register(JensenShannon())
