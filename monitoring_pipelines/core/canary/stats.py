"""Statistics comparing two model versions on the same day: a quantile difference with a
percentile-bootstrap interval, a difference of proportions, a ratio of means, and the distance
between two prediction distributions.

Intervals are two-sided at :data:`CONFIDENCE` (98 %), each bound a one-sided test at 1 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from monitoring_pipelines.core.profile.sketch import fit_numeric_edges
from monitoring_pipelines.core.stats import Distribution, get_statistic
from monitoring_pipelines.core.stats.inference import two_sided_z, wilson_interval_at

FloatArray = npt.NDArray[np.float64]

CONFIDENCE = 0.98
SIGNIFICANCE = 0.01

# The statistics the drift engine uses by default (README, "Drift"), from its registry.
DISTANCE = {"label": "jensen_shannon", "score": "wasserstein"}
SIGNIFICANCE_TEST = {"label": "chi2", "score": "ks"}


@dataclass(frozen=True)
class Interval:
    """A confidence interval ``[low, high]``."""

    low: float
    high: float


@dataclass(frozen=True)
class QuantileDifference:
    """A quantile of the candidate minus the same quantile of the baseline.

    Attributes:
        baseline: The baseline's quantile over all its values.
        candidate: The candidate's quantile over all its values.
        difference: ``candidate - baseline``.
        interval: Percentile-bootstrap interval of the difference.
        rows: Values per side (baseline, candidate), every one of them resampled.
        samples: Bootstrap replicates.
    """

    baseline: float
    candidate: float
    difference: float
    interval: Interval
    rows: tuple[int, int]
    samples: int


def bootstrap_quantile_difference(
    baseline: FloatArray,
    candidate: FloatArray,
    rng: np.random.Generator,
    *,
    quantile: float = 0.95,
    samples: int = 2000,
    confidence: float = CONFIDENCE,
) -> QuantileDifference:
    """Difference of a quantile between two samples, with a percentile-bootstrap interval.

    Each side is resampled independently from all its values, with replacement, ``samples``
    times; the interval is the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2``
    quantiles of the replicated differences. See :func:`bootstrap_quantiles` for why this
    costs O(rows + samples), not O(rows x samples).

    Args:
        baseline: The baseline's values (finite, at least one).
        candidate: The candidate's values (finite, at least one).
        rng: Random generator; seed it from the day for reproducible intervals.
        quantile: The quantile, in [0, 1].
        samples: Bootstrap replicates.
        confidence: Two-sided level of the interval.

    Returns:
        The quantiles over all values, their difference and its interval.

    Raises:
        ValueError: A side is empty.
    """
    if baseline.size == 0 or candidate.size == 0:
        raise ValueError(
            f"bootstrap needs values on both sides, got {baseline.size} and {candidate.size}"
        )
    replicates = bootstrap_quantiles(candidate, quantile, samples, rng) - bootstrap_quantiles(
        baseline, quantile, samples, rng
    )
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(replicates, [tail, 1.0 - tail])
    point_b = float(np.quantile(baseline, quantile))
    point_c = float(np.quantile(candidate, quantile))
    return QuantileDifference(
        baseline=point_b,
        candidate=point_c,
        difference=point_c - point_b,
        interval=Interval(float(low), float(high)),
        rows=(int(baseline.size), int(candidate.size)),
        samples=samples,
    )


def bootstrap_quantiles(
    values: FloatArray, quantile: float, samples: int, rng: np.random.Generator
) -> FloatArray:
    """``np.quantile(resample, quantile)`` of ``samples`` resamples of ``values`` (with
    replacement, each of the same size), drawn without materialising the resamples.

    A resample is ``sorted_values[floor(n * U_i)]`` for n uniforms U_i, a monotone map, so
    its k-th smallest value is ``sorted_values[floor(n * U_(k))]`` with ``U_(k)`` the k-th
    uniform order statistic, which is Beta(k, n - k + 1); given it, ``U_(k+1)`` is
    ``U_(k) + (1 - U_(k)) * Beta(1, n - k)``. The linear quantile needs these two order
    statistics only, so each replicate costs two Beta draws whatever ``n`` is: the same
    distribution as resampling every row, at a million rows as at a hundred.
    """
    ordered = np.sort(values)
    n = ordered.size
    position = (n - 1) * quantile
    k = math.floor(position) + 1  # 1-based rank of the lower order statistic
    fraction = position - (k - 1)
    u_low = rng.beta(k, n - k + 1, samples)
    low: FloatArray = ordered[np.minimum((u_low * n).astype(np.int64), n - 1)]
    if fraction == 0 or k >= n:
        return low
    u_high = u_low + (1.0 - u_low) * rng.beta(1, n - k, samples)
    high = ordered[np.minimum((u_high * n).astype(np.int64), n - 1)]
    out: FloatArray = low + fraction * (high - low)
    return out


def _uniform_sample(values: FloatArray, max_rows: int, rng: np.random.Generator) -> FloatArray:
    if values.size <= max_rows:
        return values
    picked: FloatArray = values[rng.choice(values.size, max_rows, replace=False)]
    return picked


@dataclass(frozen=True)
class ProportionDifference:
    """The candidate's rate of events minus the baseline's.

    Attributes:
        baseline_rate: Events / trials of the baseline.
        candidate_rate: Events / trials of the candidate.
        difference: ``candidate_rate - baseline_rate``.
        interval: Newcombe's hybrid-score interval of the difference (method 10 of Newcombe
            1998, from the two Wilson intervals): sound at zero events, unlike the Wald one.
        z: Pooled two-proportion z statistic (0 when neither side has any variance).
        p_value: One-sided p-value of "the candidate's rate is higher".
        trials: Trials per side (baseline, candidate).
    """

    baseline_rate: float
    candidate_rate: float
    difference: float
    interval: Interval
    z: float
    p_value: float
    trials: tuple[int, int]


def two_proportion_test(
    baseline_events: int,
    baseline_trials: int,
    candidate_events: int,
    candidate_trials: int,
    confidence: float = CONFIDENCE,
) -> ProportionDifference:
    """Two-proportion z-test (pooled) and Newcombe interval of the difference.

    Args:
        baseline_events: Baseline rows with the event (an error).
        baseline_trials: Baseline rows, at least one.
        candidate_events: Candidate rows with the event.
        candidate_trials: Candidate rows, at least one.
        confidence: Two-sided level of the interval.

    Returns:
        The rates, their difference, its interval, z and the one-sided p-value.

    Raises:
        ValueError: A side has no trials, or more events than trials.
    """
    for side, events, trials in (
        ("baseline", baseline_events, baseline_trials),
        ("candidate", candidate_events, candidate_trials),
    ):
        if trials <= 0 or not 0 <= events <= trials:
            raise ValueError(f"{side}: need 0 <= events <= trials and trials > 0, got "
                             f"{events} of {trials}")  # fmt: skip
    p_b = baseline_events / baseline_trials
    p_c = candidate_events / candidate_trials
    pooled = (baseline_events + candidate_events) / (baseline_trials + candidate_trials)
    se = math.sqrt(pooled * (1 - pooled) * (1 / baseline_trials + 1 / candidate_trials))
    z = (p_c - p_b) / se if se > 0 else 0.0
    w_b = wilson_interval_at(baseline_events, baseline_trials, confidence)
    w_c = wilson_interval_at(candidate_events, candidate_trials, confidence)
    diff = p_c - p_b
    low = diff - math.sqrt((p_c - w_c.low) ** 2 + (w_b.high - p_b) ** 2)
    high = diff + math.sqrt((w_c.high - p_c) ** 2 + (p_b - w_b.low) ** 2)
    return ProportionDifference(
        baseline_rate=p_b,
        candidate_rate=p_c,
        difference=diff,
        interval=Interval(low, high),
        z=z,
        p_value=1.0 - NormalDist().cdf(z),
        trials=(baseline_trials, candidate_trials),
    )


@dataclass(frozen=True)
class MeanRatio:
    """The candidate's mean relative to the baseline's (both positive).

    Attributes:
        baseline_mean: Mean of the baseline's values.
        candidate_mean: Mean of the candidate's values.
        relative_change: ``candidate_mean / baseline_mean - 1``.
        interval: Interval of the relative change (delta method on the log of the ratio).
        p_value: One-sided Welch z-test p-value of "the candidate's mean is higher".
        rows: Values per side (baseline, candidate).
    """

    baseline_mean: float
    candidate_mean: float
    relative_change: float
    interval: Interval
    p_value: float
    rows: tuple[int, int]


def compare_means(
    baseline: FloatArray, candidate: FloatArray, confidence: float = CONFIDENCE
) -> MeanRatio | None:
    """Relative change of the mean, or None when a side has fewer than two values or a mean
    that is not positive (a ratio is meaningless then)."""
    if baseline.size < 2 or candidate.size < 2:
        return None
    m_b, m_c = float(baseline.mean()), float(candidate.mean())
    if m_b <= 0 or m_c <= 0:
        return None
    var_b = float(baseline.var(ddof=1)) / baseline.size
    var_c = float(candidate.var(ddof=1)) / candidate.size
    se = math.sqrt(var_b + var_c)
    # No spread on either side: the means differ exactly or not at all.
    p_value = 1.0 - NormalDist().cdf((m_c - m_b) / se) if se > 0 else float(m_c <= m_b)
    z = two_sided_z(confidence)
    log_ratio = math.log(m_c / m_b)
    log_se = math.sqrt(var_c / m_c**2 + var_b / m_b**2)
    return MeanRatio(
        baseline_mean=m_b,
        candidate_mean=m_c,
        relative_change=m_c / m_b - 1,
        interval=Interval(
            math.exp(log_ratio - z * log_se) - 1, math.exp(log_ratio + z * log_se) - 1
        ),
        p_value=p_value,
        rows=(int(baseline.size), int(candidate.size)),
    )


@dataclass(frozen=True)
class Distance:
    """How far the candidate's predictions are from the baseline's.

    Attributes:
        statistic: Registry name of the distance (``jensen_shannon`` or ``wasserstein``).
        score: The distance (JS in [0, 1]; Wasserstein in baseline standard deviations).
        p_value: Significance of the difference (chi-square or KS on bounded samples).
        rows: Values per side (baseline, candidate).
        note: What the reader needs to interpret the score, if anything.
    """

    statistic: str
    score: float
    p_value: float | None
    rows: tuple[int, int]
    note: str | None = None


def prediction_distance(
    baseline: npt.NDArray[Any],
    candidate: npt.NDArray[Any],
    kind: Literal["label", "score"],
    rng: np.random.Generator,
    *,
    bins: int = 20,
    sample_rows: int = 10_000,
) -> Distance:
    """The drift engine's distance between two versions' predictions, the baseline as
    reference: Jensen-Shannon over the labels, or Wasserstein over the baseline's quantile
    bins in baseline standard deviations; significance from samples of at most
    ``sample_rows`` values per side.

    Args:
        baseline: The baseline's predictions without nulls (text labels or finite scores).
        candidate: The candidate's, likewise; both sides non-empty.
        kind: ``label`` or ``score``.
        rng: Random generator for the samples.
        bins: Quantile bins fitted on the baseline's scores.
        sample_rows: Values per side the p-value is computed from.

    Returns:
        The distance, its p-value and any note.
    """
    if kind == "label":
        ref, cur = _label_distributions(baseline, candidate, rng, sample_rows)
    else:
        ref, cur = _score_distributions(baseline, candidate, rng, bins, sample_rows)
    effect = get_statistic(DISTANCE[kind])(ref, cur)
    test = get_statistic(SIGNIFICANCE_TEST[kind])(ref, cur)
    notes = [n for n in (effect.note, test.note) if n]
    return Distance(
        statistic=effect.statistic,
        score=effect.score,
        p_value=test.p_value,
        rows=(int(baseline.size), int(candidate.size)),
        note="; ".join(notes) or None,
    )


def _label_distributions(
    baseline: npt.NDArray[Any], candidate: npt.NDArray[Any], rng: np.random.Generator, k: int
) -> tuple[Distribution, Distribution]:
    categories, codes = np.unique(
        np.concatenate([baseline, candidate]).astype(str), return_inverse=True
    )
    sides = (codes[: baseline.size], codes[baseline.size :])
    dists = [
        Distribution(
            kind="categorical",
            counts=np.bincount(c, minlength=categories.size).astype(np.float64),
            categories=tuple(str(x) for x in categories),
            sample=_sample_values(c.astype(np.float64), k, rng),
        )
        for c in sides
    ]
    return dists[0], dists[1]


def _score_distributions(
    baseline: FloatArray, candidate: FloatArray, rng: np.random.Generator, bins: int, k: int
) -> tuple[Distribution, Distribution]:
    edges = fit_numeric_edges(baseline, bins)

    def binned(values: FloatArray, std: float | None) -> Distribution:
        index = np.searchsorted(edges, values, side="left")
        return Distribution(
            kind="numeric",
            counts=np.bincount(index, minlength=edges.size + 1).astype(np.float64),
            edges=edges,
            lo=float(values.min()),
            hi=float(values.max()),
            sample=_sample_values(values, k, rng),
            std=std,
            bin_sums=np.bincount(index, weights=values, minlength=edges.size + 1).astype(
                np.float64
            ),
        )

    return binned(baseline, float(baseline.std())), binned(candidate, None)


def _sample_values(values: FloatArray, k: int, rng: np.random.Generator) -> FloatArray:
    return _uniform_sample(np.asarray(values, dtype=np.float64), k, rng)
