"""Two-sample Kolmogorov-Smirnov statistic for numeric columns.

The score is the largest CDF gap at the bin edges over all rows (a lower bound of the exact D);
the p-value is :func:`scipy.stats.ks_2samp` on the bounded samples.
"""

from __future__ import annotations

import math

import numpy as np

from monitoring_pipelines.core.stats.base import (
    Distribution,
    Kind,
    StatResult,
    check_pair,
    proportions,
    register,
)

MIN_SAMPLE = 2
"""Fewest sampled values per side for which a KS p-value is reported."""


class KolmogorovSmirnov:
    """Maximum CDF gap over the bins; KS test p-value on the samples."""

    name: str = "ks"
    kinds: frozenset[Kind] = frozenset({"numeric"})

    def __call__(self, reference: Distribution, current: Distribution) -> StatResult:
        """Compare ``current`` with ``reference``.

        Args:
            reference: Reference distribution over the reference-quantile bins.
            current: Current distribution over the same bins.

        Returns:
            The CDF gap as score, and the KS p-value with the sample sizes it came from (None
            with a note when a sample has fewer than two values).

        Raises:
            ValueError: The pair cannot be compared (see :func:`check_pair`), or a sample holds
                values the test cannot order (NaN).
        """
        check_pair(self, reference, current)
        # The last cumulative proportion is 1 on both sides, so it never sets the maximum.
        gaps = np.cumsum(proportions(reference.counts)) - np.cumsum(proportions(current.counts))
        score = float(np.max(np.abs(gaps[:-1]), initial=0.0))

        ref_sample, cur_sample = reference.sample, current.sample
        reasons = [
            f"{side} sample has fewer than {MIN_SAMPLE} values"
            for side, sample in (("reference", ref_sample), ("current", cur_sample))
            if sample is None or len(sample) < MIN_SAMPLE
        ]
        if reasons or ref_sample is None or cur_sample is None:
            return StatResult(self.name, score, None, note="; ".join(reasons) + ": no p-value")

        from scipy.stats import ks_2samp

        p_value = float(ks_2samp(ref_sample, cur_sample).pvalue)
        if math.isnan(p_value):
            raise ValueError(f"{self.name}: p-value is NaN; the samples must not contain NaN")
        return StatResult(self.name, score, p_value, (len(ref_sample), len(cur_sample)))


KS = register(KolmogorovSmirnov())
