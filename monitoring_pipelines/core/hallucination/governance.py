"""How far the judge agrees with its reviewers: Cohen's kappa on the reviewed answers.

Also the deterministic audit sample of passing answers that makes the judge's misses visible.
The figures describe the reviewed answers, not the whole day (README.md, "From reviews back to
the model").
"""

from __future__ import annotations

import functools
import hashlib
import math
import string
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from monitoring_pipelines.core.hallucination.review import ReviewItem, ReviewReason, ReviewStatus
from monitoring_pipelines.core.stats.inference import Z_95

DEFAULT_AUDIT_SALT = "audit"
DEFAULT_MIN_PAIRS = 20
NO_PAIRS = "no reviewed answers"
HALLUCINATION_STATUSES = frozenset({ReviewStatus.CORRECTED, ReviewStatus.REJECTED})

_MASK64 = (1 << 64) - 1
_HEX_DIGITS = frozenset(string.hexdigits)


def audit_selected(request_key: str, rate: float, salt: str = DEFAULT_AUDIT_SALT) -> bool:
    """Whether a passing answer joins the review queue as part of the audit sample.

    The request key is mixed like the judge's sample priority
    (:func:`~monitoring_pipelines.core.hallucination.sampling.sample_priority`: splitmix64's
    finaliser of the key plus a salt) but with another salt, a 64-bit blake2b digest of
    ``salt``. The finaliser is a bijection with full avalanche, so keys mixed at two unrelated
    offsets give independent values: being audited says nothing about where an answer stood in
    the judge's sample (which would otherwise bias the audit towards answers the budget scored
    first). The same key, rate and salt always give the same answer; a higher rate keeps every
    key a lower rate selected.

    Args:
        request_key: The request's 64-bit key in 16 hex digits (``SampledAnswer.request_key``).
        rate: Share of passing answers to audit, in [0, 1].
        salt: Another salt gives another, independent audit sample.

    Returns:
        True if the answer is audited.

    Raises:
        ValueError: If the rate is outside [0, 1] or the key is not 16 hex digits.
    """
    if not (math.isfinite(rate) and 0.0 <= rate <= 1.0):
        raise ValueError(f"audit_selected: rate must be in [0, 1], got {rate!r}")
    # Exact: the int compares with the float's exact value; rate 1 is 2**64, above every mix.
    return audit_priority(request_key, salt) < rate * 2.0**64


def audit_priority(request_key: str, salt: str = DEFAULT_AUDIT_SALT) -> int:
    """The key's place in the audit order (smaller first): :func:`audit_selected` takes the
    keys under a bound, and a capped audit the smallest of those.

    Raises:
        ValueError: If the key is not 16 hex digits.
    """
    if len(request_key) != 16 or not set(request_key) <= _HEX_DIGITS:
        raise ValueError(
            f"audit_selected: request key {request_key!r} is not a 64-bit key in 16 hex digits"
        )
    return _mix64(int(request_key, 16) + _offset(salt))


@functools.cache
def _offset(salt: str) -> int:
    """The salt as a 64-bit offset (a blake2b digest): computed once per salt, not per key."""
    return int.from_bytes(hashlib.blake2b(salt.encode(), digest_size=8).digest(), "little")


def _mix64(value: int) -> int:
    """Splitmix64's finaliser, as ``sample_priority`` computes it in uint64 arithmetic."""
    z = value & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


@dataclass(frozen=True)
class ReviewPair:
    """The judge's and the reviewer's verdict on one reviewed answer.

    Attributes:
        judge_flagged: The judge scored it under the threshold.
        reviewer_hallucination: The reviewer confirmed a hallucination.
        judge: The judge that scored it.
        prompt_version: The judge's prompt version.
    """

    judge_flagged: bool
    reviewer_hallucination: bool
    judge: str
    prompt_version: str


def pair_of(item: ReviewItem) -> ReviewPair | None:
    """The pair of verdicts of a review item, ``None`` while it is pending.

    The judge's verdict is why the item was queued (``flagged``, or passed and ``audit``), as
    decided against the threshold of the day it was scored, so a later change of threshold
    does not rewrite past verdicts.

    Returns:
        The pair: ``approved`` is no hallucination, ``corrected`` and ``rejected`` are one.
    """
    if item.status is ReviewStatus.PENDING:
        return None
    return ReviewPair(
        judge_flagged=item.reason is ReviewReason.FLAGGED,
        reviewer_hallucination=item.status in HALLUCINATION_STATUSES,
        judge=item.judge,
        prompt_version=item.prompt_version,
    )


@dataclass(frozen=True)
class Agreement:
    """Agreement of the judge with its reviewers.

    Attributes:
        tp: Flagged, and a hallucination by the reviewer.
        fp: Flagged, but fine by the reviewer (a false alarm of the judge).
        fn: Passed, but a hallucination by the reviewer (a miss of the judge).
        tn: Passed, and fine by the reviewer.
        min_pairs: Pairs needed for the kappa to be conclusive.
        observed: Share of pairs on which both agree (``None`` without pairs).
        expected: Agreement expected by chance from the two sides' marginals.
        kappa: Cohen's kappa, ``None`` when undefined or uninformative (see ``reason``).
        kappa_se: Its large-sample standard error (Fleiss, Cohen & Everitt, 1969).
        kappa_low: Lower bound of its 95 % Wald interval, clipped to [-1, 1].
        kappa_high: Upper bound.
        precision: Share of flagged answers the reviewers confirmed.
        recall: Share of confirmed hallucinations the judge flagged.
        reason: Why ``kappa`` is ``None``.
    """

    tp: int
    fp: int
    fn: int
    tn: int
    min_pairs: int = DEFAULT_MIN_PAIRS
    observed: float | None = None
    expected: float | None = None
    kappa: float | None = None
    kappa_se: float | None = None
    kappa_low: float | None = None
    kappa_high: float | None = None
    precision: float | None = None
    recall: float | None = None
    reason: str | None = None

    @property
    def n(self) -> int:
        """Reviewed answers."""
        return self.tp + self.fp + self.fn + self.tn

    @property
    def conclusive(self) -> bool:
        """A kappa from at least ``min_pairs`` pairs (the Wald interval needs a large sample)."""
        return self.kappa is not None and self.n >= self.min_pairs

    def metrics(self) -> dict[str, float | int]:
        """The plain numbers, for asset metadata; undefined ones are left out."""
        values: dict[str, float | int | None] = {
            "n": self.n,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "observed_agreement": self.observed,
            "expected_agreement": self.expected,
            "kappa": self.kappa,
            "kappa_se": self.kappa_se,
            "kappa_low": self.kappa_low,
            "kappa_high": self.kappa_high,
            "precision": self.precision,
            "recall": self.recall,
            "conclusive": int(self.conclusive),
        }
        return {k: v for k, v in values.items() if v is not None}

    def as_markdown(self) -> str:
        """The confusion table and a line on kappa."""
        table = (
            "| | reviewer: hallucination | reviewer: fine |\n"
            "|---|---:|---:|\n"
            f"| judge: flagged | {self.tp} | {self.fp} |\n"
            f"| judge: passed | {self.fn} | {self.tn} |"
        )
        if self.kappa is None:
            line = f"Cohen's kappa: n/a ({self.reason}), n = {self.n}"
        else:
            line = (
                f"Cohen's kappa: {self.kappa:.2f} "
                f"(95 % CI {self.kappa_low:.2f} to {self.kappa_high:.2f}), n = {self.n}, "
                f"observed agreement {self.observed:.1%}"
            )
            if not self.conclusive:
                line += f"; inconclusive, fewer than {self.min_pairs} reviewed answers"
        return f"{table}\n\n{line}"


def agreement(pairs: Sequence[ReviewPair], min_pairs: int = DEFAULT_MIN_PAIRS) -> Agreement:
    """Agreement of the judge with its reviewers over ``pairs`` (see the module docstring).

    Args:
        pairs: Reviewed answers, of one judge and prompt version for a meaningful kappa.
        min_pairs: Pairs needed for a conclusive kappa; below it kappa is still computed.

    Returns:
        The table and its statistics.
    """
    tp = sum(p.judge_flagged and p.reviewer_hallucination for p in pairs)
    fp = sum(p.judge_flagged and not p.reviewer_hallucination for p in pairs)
    fn = sum(not p.judge_flagged and p.reviewer_hallucination for p in pairs)
    tn = len(pairs) - tp - fp - fn
    return agreement_of_table(tp, fp, fn, tn, min_pairs)


def agreement_of_table(
    tp: int, fp: int, fn: int, tn: int, min_pairs: int = DEFAULT_MIN_PAIRS
) -> Agreement:
    """Agreement from the counts of the 2x2 table.

    Args:
        tp: Flagged and confirmed.
        fp: Flagged, reviewed as fine.
        fn: Passed, reviewed as a hallucination.
        tn: Passed, reviewed as fine.
        min_pairs: Pairs needed for a conclusive kappa.

    Returns:
        The table and its statistics.

    Raises:
        ValueError: If a count or ``min_pairs`` is negative.
    """
    if min(tp, fp, fn, tn, min_pairs) < 0:
        raise ValueError(
            f"agreement: counts and min_pairs must be >= 0, got tp={tp} fp={fp} fn={fn} "
            f"tn={tn} min_pairs={min_pairs}"
        )
    n = tp + fp + fn + tn
    if n == 0:
        return Agreement(0, 0, 0, 0, min_pairs, reason=NO_PAIRS)
    observed = (tp + tn) / n
    judge_yes, reviewer_yes = (tp + fp) / n, (tp + fn) / n
    expected = judge_yes * reviewer_yes + (1 - judge_yes) * (1 - reviewer_yes)
    table = Agreement(
        tp,
        fp,
        fn,
        tn,
        min_pairs,
        observed=observed,
        expected=expected,
        precision=tp / (tp + fp) if tp + fp else None,
        recall=tp / (tp + fn) if tp + fn else None,
    )
    reason = single_class_reason(tp + fp, tp + fn, n)
    if reason is not None:
        return replace(table, reason=reason)
    kappa = (observed - expected) / (1 - expected)
    se = math.sqrt(_kappa_variance(tp, fp, fn, tn, kappa, expected))
    low, high = max(-1.0, kappa - Z_95 * se), min(1.0, kappa + Z_95 * se)
    return replace(table, kappa=kappa, kappa_se=se, kappa_low=low, kappa_high=high)


def single_class_reason(judge_flagged: int, reviewer_hallucinations: int, n: int) -> str | None:
    """Why kappa is not computed when a side gives one verdict only, else ``None``.

    Both sides constant make chance agreement 1 and kappa 0/0. One side constant makes kappa
    exactly 0 whatever the other side says: reported as undefined rather than as chance level.

    Args:
        judge_flagged: Pairs the judge flagged.
        reviewer_hallucinations: Pairs the reviewers confirmed as hallucinations.
        n: Pairs, at least 1.

    Returns:
        The reason, or ``None`` when both sides use both verdicts.
    """
    judge = {
        n: f"the judge flagged all {n} reviewed answers (no audit sample of passing answers?)",
        0: f"the judge flagged none of the {n} reviewed answers",
    }.get(judge_flagged)
    reviewers = {
        n: f"the reviewers confirmed a hallucination in all {n} reviewed answers",
        0: f"the reviewers found no hallucination in the {n} reviewed answers",
    }.get(reviewer_hallucinations)
    if judge and reviewers:
        return f"{judge} and {reviewers}: chance agreement pe == 1, kappa is 0/0, undefined"
    if judge:
        return f"{judge}: with one class on the judge's side kappa is 0 whatever the reviewers say"
    if reviewers:
        return f"{reviewers}: with one class on their side kappa is 0 whatever the judge says"
    return None


def _kappa_variance(tp: int, fp: int, fn: int, tn: int, kappa: float, expected: float) -> float:
    """Large-sample variance of kappa (Fleiss, Cohen & Everitt 1969), not under the null.

    ``[sum_i p_ii (1 - (p_i. + p_.i)(1 - k))^2 + (1 - k)^2 sum_{i != j} p_ij (p_.i + p_j.)^2
    - (k - pe (1 - k))^2] / (n (1 - pe)^2)``, rows the judge, columns the reviewers. Clipped at
    0 against rounding; it is 0 at perfect agreement, where the Wald interval is degenerate.
    """
    n = tp + fp + fn + tn
    p = ((tp / n, fp / n), (fn / n, tn / n))
    rows = (p[0][0] + p[0][1], p[1][0] + p[1][1])
    cols = (p[0][0] + p[1][0], p[0][1] + p[1][1])
    diagonal = sum(p[i][i] * (1 - (rows[i] + cols[i]) * (1 - kappa)) ** 2 for i in (0, 1))
    off = sum(p[i][j] * (cols[i] + rows[j]) ** 2 for i, j in ((0, 1), (1, 0)))
    numerator = diagonal + (1 - kappa) ** 2 * off - (kappa - expected * (1 - kappa)) ** 2
    return max(0.0, numerator / (n * (1 - expected) ** 2))


def agreement_by_judge(
    pairs: Sequence[ReviewPair], min_pairs: int = DEFAULT_MIN_PAIRS
) -> Mapping[tuple[str, str], Agreement]:
    """Agreement per judge and prompt version, in order of judge then version.

    A new judge model or prompt version is another judge: mixing their pairs would blur a
    change of agreement into an average.

    Args:
        pairs: Reviewed answers.
        min_pairs: Pairs each group needs for a conclusive kappa.

    Returns:
        ``(judge, prompt_version)`` to its agreement.
    """
    groups: defaultdict[tuple[str, str], list[ReviewPair]] = defaultdict(list)
    for pair in pairs:
        groups[(pair.judge, pair.prompt_version)].append(pair)
    return {key: agreement(groups[key], min_pairs) for key in sorted(groups)}


def review_pairs(items: Sequence[ReviewItem]) -> list[ReviewPair]:
    """The pairs of the reviewed items (pending ones are left out)."""
    return [pair for pair in map(pair_of, items) if pair is not None]
