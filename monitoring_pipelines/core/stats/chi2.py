"""Chi-square test of homogeneity for numeric (binned) and categorical columns.

The score is Cramér's V of the full counts (an effect size in [0, 1]); the p-value is the
chi-square test on the bounded samples, as ``scipy.stats.chi2_contingency(correction=False)``.
"""

from __future__ import annotations

import numpy as np

from monitoring_pipelines.core.stats.base import (
    Distribution,
    FloatArray,
    Kind,
    StatResult,
    check_pair,
    register,
)


def chi2_statistic(ref_counts: FloatArray, cur_counts: FloatArray) -> float:
    """Pearson's chi-square of the 2 x k table with rows ``ref_counts`` and ``cur_counts``.

    For two rows with totals A and B the statistic reduces to ``A * B * sum((p - q)**2 /
    (a + b))`` with p = a / A and q = b / B, which is exactly 0 for proportional rows.

    Args:
        ref_counts: First row; positive total.
        cur_counts: Second row, same length; positive total.

    Returns:
        The chi-square statistic over the columns that are non-empty on either side.
    """
    keep = (ref_counts + cur_counts) > 0
    a, b = ref_counts[keep], cur_counts[keep]
    total_a, total_b = float(a.sum()), float(b.sum())
    return total_a * total_b * float(np.sum((a / total_a - b / total_b) ** 2 / (a + b)))


def sample_counts(name: str, side: str, dist: Distribution) -> FloatArray | None:
    """Counts of ``dist.sample`` over the support of ``dist``, or None if nothing was sampled.

    Numeric values are binned like the counts, ``(-inf, e0], (e0, e1], ...``; categorical
    values are indices into ``dist.categories``.

    Raises:
        ValueError: The sample holds NaN, or an index that is not a category.
    """
    sample = dist.sample
    if sample is None or len(sample) == 0:
        return None
    if np.any(np.isnan(sample)):
        raise ValueError(f"{name}: {side} sample holds NaN; sample only non-null values")
    if dist.edges is not None:
        index = np.searchsorted(dist.edges, sample, side="left")
    else:
        index = sample.astype(np.int64)
        if np.any(index != sample) or index.min() < 0 or index.max() >= len(dist.counts):
            raise ValueError(
                f"{name}: {side} sample must hold integer indices in [0, {len(dist.counts)})"
            )
    return np.bincount(index, minlength=len(dist.counts)).astype(np.float64)


class ChiSquare:
    """Cramér's V of the full counts; chi-square p-value of the sample counts."""

    name: str = "chi2"
    kinds: frozenset[Kind] = frozenset({"numeric", "categorical"})

    def __call__(self, reference: Distribution, current: Distribution) -> StatResult:
        """Compare ``current`` with ``reference``.

        Args:
            reference: Reference counts (bins or categories) and sample.
            current: Current counts over the same support, and sample.

        Returns:
            Cramér's V as score; the p-value and sample sizes, or None with a note when a side
            has no sample. A single non-empty column gives score 0 and p-value 1.

        Raises:
            ValueError: The pair cannot be compared (see :func:`check_pair`), or a sample
                cannot be binned (see :func:`sample_counts`).
        """
        check_pair(self, reference, current)
        columns = int(np.count_nonzero(reference.counts + current.counts))
        if columns < 2:
            return StatResult(self.name, 0.0, 1.0, note="one non-empty column: nothing to test")
        # Cramér's V for a 2 x k table: sqrt(chi2 / (N * (min(2, k) - 1))).
        total = float(reference.counts.sum() + current.counts.sum())
        score = min(1.0, float(np.sqrt(chi2_statistic(reference.counts, current.counts) / total)))

        ref_table = sample_counts(self.name, "reference", reference)
        cur_table = sample_counts(self.name, "current", current)
        if ref_table is None or cur_table is None:
            side = "reference" if ref_table is None else "current"
            return StatResult(self.name, score, None, note=f"{side} sample is empty: no p-value")
        dof = int(np.count_nonzero(ref_table + cur_table)) - 1
        if dof < 1:
            p_value = 1.0
        else:
            from scipy.special import chdtrc

            p_value = float(chdtrc(dof, chi2_statistic(ref_table, cur_table)))
        n = (int(ref_table.sum()), int(cur_table.sum()))
        return StatResult(self.name, score, p_value, n)


CHI2 = register(ChiSquare())
