"""Performance per segment: the day's metrics within the largest values of each segment column.

Each value is compared with the whole day's baseline, Benjamini-Hochberg-adjusted across the
values tested, on the days the whole day is judged (README.md, "Performance with delayed
labels").
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from monitoring_pipelines.core.checks import CheckOutcome, Finding
from monitoring_pipelines.core.config import Severity
from monitoring_pipelines.core.performance.additive import FloatArray
from monitoring_pipelines.core.performance.check import Baseline, Comparison, compare, judge
from monitoring_pipelines.core.performance.metrics import (
    LOWER_IS_BETTER,
    Kind,
    PerformanceStats,
    compute_performance,
)
from monitoring_pipelines.core.performance.policy import PerformancePolicy
from monitoring_pipelines.core.profile.fitting import MAX_SEGMENT_VALUES
from monitoring_pipelines.core.segments import segment_column
from monitoring_pipelines.core.stats.inference import benjamini_hochberg

CHECK = "performance"
SEGMENT_MIN_LABELLED = 50


@dataclass(frozen=True)
class SegmentPerformance:
    """One segment value's statistics and their comparison with the baseline."""

    segment: str
    value: str
    stats: PerformanceStats
    comparison: Comparison

    @property
    def label(self) -> str:
        """``tenant=acme``."""
        return f"{self.segment}={self.value}"

    @property
    def subject(self) -> str:
        """The subject of its own finding: ``performance@tenant=acme``."""
        return segment_column(CHECK, self.segment, self.value)

    @property
    def scope(self) -> dict[str, str]:
        """The dimensions its stored rows carry."""
        return {"segment": self.segment, "value": self.value}


def segment_policy(policy: PerformancePolicy) -> PerformancePolicy:
    """The day's policy with the segments' minimum of labelled rows."""
    quarter = math.ceil(policy.min_labelled / 4)
    return replace(
        policy, min_labelled=min(policy.min_labelled, max(SEGMENT_MIN_LABELLED, quarter))
    )


def segment_stats(
    kind: Kind,
    segments: Mapping[str, npt.NDArray[Any]],
    labelled_rows: npt.NDArray[np.intp],
    predicted: npt.NDArray[Any],
    label: npt.NDArray[Any],
    score: FloatArray | None = None,
    limit: int = MAX_SEGMENT_VALUES,
) -> dict[tuple[str, str], PerformanceStats]:
    """Statistics within the ``limit`` values of each segment column with most labelled rows.

    Args:
        kind: ``label`` or ``score`` predictions (see ``compute_performance``).
        segments: Each segment column's values (text; None or NaN when missing), one per row
            of the day.
        labelled_rows: Positions of the day's rows that have a label.
        predicted: The predictions of every row of the day.
        label: The labels of ``labelled_rows``, in their order.
        score: The scores of every row of the day, when configured.
        limit: Values kept per segment column.

    Returns:
        Statistics by (segment column, value), columns in order, values by labelled rows.
    """
    out: dict[tuple[str, str], PerformanceStats] = {}
    for segment, values in segments.items():
        codes, uniques = pd.factorize(np.asarray(values, dtype=object))
        labelled_codes = codes[labelled_rows]
        counts = np.bincount(labelled_codes[labelled_codes >= 0], minlength=len(uniques))
        rows = np.bincount(codes[codes >= 0], minlength=len(uniques))
        ranked = sorted(np.flatnonzero(counts), key=lambda k: (-counts[k], str(uniques[k])))
        for k in ranked[:limit]:
            mine = labelled_codes == k
            chosen = labelled_rows[mine]
            out[(segment, str(uniques[k]))] = compute_performance(
                kind,
                int(rows[k]),
                predicted[chosen],
                label[mine],
                score[chosen] if score is not None else None,
            )
    return out


def compare_segments(
    stats: Mapping[tuple[str, str], PerformanceStats],
    baseline: Baseline,
    policy: PerformancePolicy,
    whole: Comparison,
) -> list[SegmentPerformance]:
    """Each segment value against the day's baseline, p-values adjusted together.

    While the whole day is not evaluated, no segment is: its comparison says why.
    """
    own = segment_policy(policy)
    out = [
        SegmentPerformance(segment, value, s, compare(s, baseline, own))
        for (segment, value), s in stats.items()
    ]
    if not whole.evaluated:
        waiting = f"not evaluated while the whole day is not ({whole.summary})"
        return [_not_evaluated(r, waiting) for r in out]
    tested = [i for i, r in enumerate(out) if r.comparison.evaluated]
    p_values = [out[i].comparison.p_value or 0.0 for i in tested]
    for i, p_adjusted in zip(tested, benjamini_hochberg(p_values), strict=True):
        out[i] = replace(out[i], comparison=judge(out[i].comparison, own, float(p_adjusted)))
    return out


def _not_evaluated(r: SegmentPerformance, summary: str) -> SegmentPerformance:
    c = replace(
        r.comparison,
        evaluated=False,
        summary=summary,
        delta=None,
        change=None,
        p_value=None,
        p_adjusted=None,
        severity=None,
    )
    return replace(r, comparison=c)


def segment_check(
    outcome: CheckOutcome, whole: Comparison, segments: Sequence[SegmentPerformance]
) -> CheckOutcome:
    """The ``performance`` check of the whole day (``outcome``) with its segments.

    When the whole day's metric drops, its finding names the failing segment where it drops
    most (``segment_drivers`` in the metadata) and the segments get no findings of their own,
    so one problem is one incident. Otherwise every evaluated segment value is a finding
    (``performance@segment=value``): failing where its own drop is beyond the tolerance and
    significant after adjustment, passing elsewhere so its incidents can resolve.
    """
    evaluated = [r for r in segments if r.comparison.evaluated]
    failing = [r for r in evaluated if r.comparison.severity is not None]
    metadata = dict(outcome.metadata) | {
        "segments_evaluated": len(evaluated),
        "segments_failing": len(failing),
        "segments_waiting": len(segments) - len(evaluated),
    }
    if not whole.evaluated:
        return replace(outcome, metadata=metadata)
    if whole.severity is not None:
        # The only value of a segment on the day is the whole day again, not a driver of it.
        values = Counter(r.segment for r in evaluated)
        drivers = [r for r in failing if values[r.segment] > 1]
        driver = max(drivers, key=lambda r: r.comparison.change or 0.0, default=None)
        if driver is None:
            return replace(outcome, metadata=metadata)
        note = f"strongest in {describe(driver, whole)}"
        metadata["segment_drivers"] = f"{whole.metric}: {describe(driver, whole)}"
        findings = tuple(replace(f, summary=f"{f.summary}; {note}") for f in outcome.findings)
        return CheckOutcome(outcome.name, findings, f"{outcome.summary}; {note}", metadata)
    summary = outcome.summary
    if failing:
        moves = "rises" if whole.metric in LOWER_IS_BETTER else "drops"
        where = ", ".join(describe(r, whole) for r in failing)
        summary = f"{whole.metric} {moves} in {where}; the whole day: {summary}"
    findings = outcome.findings + tuple(_finding(r) for r in evaluated)
    return CheckOutcome(outcome.name, findings, summary, metadata)


def describe(r: SegmentPerformance, whole: Comparison) -> str:
    """``tenant=acme (accuracy 0.5000, -0.4000; 25% of labelled rows)``."""
    c = r.comparison
    share = r.stats.labelled / whole.labelled if whole.labelled else 0.0
    value = f"{c.metric} {c.value:.4f}" if c.value is not None else c.metric
    delta = f", {c.delta:+.4f}" if c.delta is not None else ""
    return f"{r.label} ({value}{delta}; {share:.0%} of labelled rows)"


def _finding(r: SegmentPerformance) -> Finding:
    c = r.comparison
    severity = c.severity or Severity.WARN
    summary = f"{r.label}: {c.summary}"
    return Finding(r.subject, c.severity is None, severity, c.value, c.bound, summary)


def segment_rows(segments: Sequence[SegmentPerformance]) -> dict[tuple[str, str], float | None]:
    """Every segment value's statistics and comparison as result-store rows, dimensioned by
    ``segment`` and ``value`` (see ``PerformanceStats.from_rows`` with a scope)."""
    rows: dict[tuple[str, str], float | None] = {}
    for r in segments:
        rows |= r.stats.to_rows(r.scope) | r.comparison.to_rows(r.scope)
    return rows


def segment_metadata(segments: Sequence[SegmentPerformance]) -> dict[str, float | int | None]:
    """What the UI plots per segment value: ``accuracy@tenant=acme``, ``labelled@tenant=acme``."""
    values: dict[str, float | int | None] = {}
    for r in segments:
        values[f"{r.comparison.metric}@{r.label}"] = r.comparison.value
        values[f"labelled@{r.label}"] = r.stats.labelled
    return values
