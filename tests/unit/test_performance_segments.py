"""Performance per segment value: which values, their statistics and storage, the segment
policy, the adjustment of their p-values, and what the check says about them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest
from scipy.stats import false_discovery_control

from monitoring_pipelines.core.checks import WHOLE, CheckOutcome
from monitoring_pipelines.core.config import Severity
from monitoring_pipelines.core.performance.check import (
    Baseline,
    Comparison,
    compare,
    performance_check,
)
from monitoring_pipelines.core.performance.metrics import PerformanceStats, compute_performance
from monitoring_pipelines.core.performance.policy import PerformancePolicy
from monitoring_pipelines.core.performance.segments import (
    SegmentPerformance,
    compare_segments,
    segment_check,
    segment_metadata,
    segment_policy,
    segment_rows,
    segment_stats,
)
from tests.unit.test_performance import POLICY, day_with

REFERENCE = Baseline(day_with(9000, 10_000, 10_000), "reference table")  # accuracy 0.90


@dataclass(frozen=True)
class Day:
    """A day's rows: tenant, prediction, the labelled rows and their labels."""

    tenant: npt.NDArray[np.object_]
    predicted: npt.NDArray[np.object_]
    labelled: npt.NDArray[np.intp]
    label: npt.NDArray[np.object_]

    @property
    def stats(self) -> PerformanceStats:
        return compute_performance(
            "label", len(self.tenant), self.predicted[self.labelled], self.label
        )

    def segments(self, limit: int = 10) -> dict[tuple[str, str], PerformanceStats]:
        return segment_stats(
            "label", {"tenant": self.tenant}, self.labelled, self.predicted, self.label, None, limit
        )


def tenant_day(*parts: tuple[str | None, int, int] | tuple[str | None, int, int, int]) -> Day:
    """Parts of ``(tenant, labelled rows, correct[, unlabelled rows])``; predictions are "a"."""
    tenant: list[str | None] = []
    label: list[str] = []
    labelled: list[int] = []
    for name, n, correct, *rest in parts:
        start = len(tenant)
        tenant += [name] * (n + (rest[0] if rest else 0))
        label += ["a"] * correct + ["b"] * (n - correct)
        labelled += range(start, start + n)
    return Day(
        np.array(tenant, dtype=object),
        np.array(["a"] * len(tenant), dtype=object),
        np.array(labelled, dtype=np.intp),
        np.array(label, dtype=object),
    )


def judged(
    day: Day, baseline: Baseline = REFERENCE, policy: PerformancePolicy = POLICY
) -> tuple[Comparison, list[SegmentPerformance], CheckOutcome]:
    whole = compare(day.stats, baseline, policy)
    segments = compare_segments(day.segments(), baseline, policy, whole)
    return whole, segments, segment_check(performance_check(whole), whole, segments)


def by_subject(outcome: CheckOutcome) -> dict[str, tuple[bool, Severity]]:
    return {f.subject: (f.passed, f.severity) for f in outcome.findings}


# -- which values, their statistics and their storage --------------------------------------------


def test_the_largest_values_by_labelled_rows_are_kept_with_all_their_rows() -> None:
    # b has the most rows but fewer labelled ones than a; c and d tie (by name); None is no value
    day = tenant_day(("a", 5, 5), ("b", 3, 2, 10), ("d", 2, 2), ("c", 2, 1), (None, 9, 9))
    assert list(day.segments(limit=3)) == [("tenant", "a"), ("tenant", "b"), ("tenant", "c")]
    b = day.segments()[("tenant", "b")]
    assert (b.rows, b.labelled) == (13, 3)
    assert b.value("accuracy") == pytest.approx(2 / 3)
    assert b.coverage == pytest.approx(3 / 13)


def test_segment_values_add_up_to_the_day() -> None:
    rng = np.random.default_rng(5)
    tenant = rng.choice(["x", "y", "z"], 900).astype(object)
    predicted = rng.choice(["p", "q"], 900).astype(object)
    labelled = np.flatnonzero(rng.random(900) < 0.6)
    label = np.where(rng.random(len(labelled)) < 0.8, predicted[labelled], "q").astype(object)
    day = Day(tenant, predicted, labelled, label)
    values = list(day.segments().values())
    total = values[0] + values[1] + values[2]
    assert total.confusion.cells == day.stats.confusion.cells
    assert (total.rows, total.labelled) == (900, len(labelled))


@pytest.mark.parametrize("kind", ["label", "score"])
def test_stored_segment_rows_leave_the_whole_days_statistics_intact(kind: str) -> None:
    if kind == "label":
        day = tenant_day(("acme", 300, 150), ("globex", 900, 880))
        whole, segments = day.stats, day.segments()
    else:
        tenant = np.array(["acme"] * 3 + ["globex"] * 4, dtype=object)
        predicted = np.array([0.2, 0.7, 0.4, 0.9, 0.1, 0.5, 0.3])
        label = np.array([0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0])
        positions = np.arange(7, dtype=np.intp)
        whole = compute_performance("score", 7, predicted, label)
        segments = segment_stats("score", {"tenant": tenant}, positions, predicted, label)
    compared = compare_segments(segments, REFERENCE, POLICY, compare(whole, REFERENCE, POLICY))
    rows = whole.to_rows() | segment_rows(compared)
    assert PerformanceStats.from_rows(whole.kind, rows) == whole
    for r in compared:
        assert PerformanceStats.from_rows(whole.kind, rows, r.scope) == r.stats
    assert ("labelled", '{"segment":"tenant","value":"acme"}') in rows


def test_each_segment_value_has_its_metric_and_labelled_rows_as_metadata() -> None:
    _, segments, _ = judged(tenant_day(("acme", 300, 150), ("globex", 900, 880)))
    assert segment_metadata(segments) == {
        "accuracy@tenant=globex": pytest.approx(880 / 900),
        "labelled@tenant=globex": 900,
        "accuracy@tenant=acme": 0.5,
        "labelled@tenant=acme": 300,
    }


# -- the policy ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("day", "segment"), [(200, 50), (1000, 250), (60, 50), (15, 15)])
def test_a_segment_needs_a_quarter_of_min_labelled_at_least_50(day: int, segment: int) -> None:
    assert segment_policy(PerformancePolicy(min_labelled=day)).min_labelled == segment


def test_a_segment_with_too_few_labelled_rows_is_not_judged() -> None:
    _, segments, outcome = judged(tenant_day(("tiny", 40, 0), ("big", 2000, 1840)))
    tiny = next(r for r in segments if r.value == "tiny")
    assert not tiny.comparison.evaluated
    assert "needs 50 labelled rows" in tiny.comparison.summary
    assert set(by_subject(outcome)) == {WHOLE, "performance@tenant=big"}
    assert (outcome.metadata["segments_evaluated"], outcome.metadata["segments_waiting"]) == (1, 1)


def test_segment_p_values_are_adjusted_together_by_benjamini_hochberg() -> None:
    # 0.84 on 300 rows against 0.90: p 0.003 alone, not significant among ten values
    day = tenant_day(("t0", 300, 252), *((f"t{i}", 300, 270) for i in range(1, 10)))
    _, segments, outcome = judged(day)
    raw = [r.comparison.p_value for r in segments]
    expected = false_discovery_control(raw, method="bh")
    assert [r.comparison.p_adjusted for r in segments] == pytest.approx(expected)
    t0 = next(r for r in segments if r.value == "t0").comparison
    assert t0.p_value is not None and t0.p_value < 0.01
    assert t0.p_adjusted == pytest.approx(10 * t0.p_value)  # the smallest of ten
    assert t0.severity is None and "not significant (adjusted p 0.0" in t0.summary
    assert outcome.passed


def test_while_the_day_is_not_evaluated_no_segment_is() -> None:
    day = tenant_day(("acme", 100, 0, 1900), ("globex", 100, 100, 1900))  # 5 % coverage
    whole, segments, outcome = judged(day, policy=PerformancePolicy(min_labelled=20))
    assert not whole.evaluated
    assert [r.comparison.evaluated for r in segments] == [False, False]
    assert outcome.findings == ()
    assert outcome.metadata["segments_evaluated"] == 0


# -- the check ----------------------------------------------------------------------------------


def test_a_segment_dropping_while_the_day_does_not_fails_on_its_own() -> None:
    # acme, a quarter of the rows, drops from 0.9 to 0.5; the day stays at 0.86
    whole, _, outcome = judged(tenant_day(("acme", 500, 250), ("globex", 1500, 1470)))
    assert whole.severity is None and whole.change == pytest.approx(0.04)
    assert by_subject(outcome) == {
        WHOLE: (True, Severity.WARN),
        "performance@tenant=acme": (False, Severity.CRITICAL),
        "performance@tenant=globex": (True, Severity.WARN),
    }
    acme = next(f for f in outcome.findings if f.subject == "performance@tenant=acme")
    # critical: the threshold is the critical tolerance (0.1 below 0.9), as its text says
    assert acme.value == 0.5 and acme.threshold == pytest.approx(0.8)
    assert acme.summary.startswith("tenant=acme: accuracy 0.5000 vs reference 0.9000 (-0.4000)")
    assert outcome.summary.startswith(
        "accuracy drops in tenant=acme (accuracy 0.5000, -0.4000; 25% of labelled rows); "
        "the whole day: accuracy 0.8600"
    )
    assert outcome.severity is Severity.CRITICAL
    assert "segment_drivers" not in outcome.metadata


def test_a_whole_day_drop_names_the_failing_segment_where_it_drops_most() -> None:
    # both fail; the smaller segment drops more and is named, the segments get no findings
    _, _, outcome = judged(tenant_day(("acme", 500, 100), ("globex", 1500, 1200)))
    driver = "tenant=acme (accuracy 0.2000, -0.7000; 25% of labelled rows)"
    assert outcome.metadata["segment_drivers"] == f"accuracy: {driver}"
    assert outcome.metadata["segments_failing"] == 2
    (finding,) = outcome.findings
    assert finding.subject == WHOLE and not finding.passed
    assert finding.summary.endswith(f"; strongest in {driver}")
    assert outcome.summary.endswith(f"; strongest in {driver}")


def test_the_only_value_of_a_segment_is_not_named_as_the_driver() -> None:
    # every row is acme's: the segment is the whole day again, not where the drop is
    _, segments, outcome = judged(tenant_day(("acme", 2000, 400)))
    assert [r.comparison.severity for r in segments] == [Severity.CRITICAL]
    assert not outcome.passed
    assert "segment_drivers" not in outcome.metadata
    assert "strongest in" not in outcome.summary


def test_a_drop_spread_thinly_over_segments_names_no_driver() -> None:
    # ten segments at 0.80 on 60 rows each: none significant alone, the day (600 rows) is
    _, segments, outcome = judged(tenant_day(*((f"t{i}", 60, 48) for i in range(10))))
    assert not outcome.passed
    assert all(r.comparison.severity is None for r in segments)
    assert "segment_drivers" not in outcome.metadata
    assert "strongest in" not in outcome.summary
    assert len(outcome.findings) == 1


def test_an_error_metric_rising_in_a_segment_fails_relative_to_the_reference() -> None:
    rng = np.random.default_rng(11)
    label = rng.normal(size=4000)
    noise = np.where(np.arange(4000) < 1000, 0.6, 0.2)  # tenant a: MAE three times b's
    predicted = label + noise * rng.choice([-1.0, 1.0], 4000)
    tenant = np.where(np.arange(4000) < 1000, "a", "b").astype(object)
    rows = np.arange(4000, dtype=np.intp)
    reference = Baseline(compute_performance("score", 4000, label + 0.28, label), "reference")
    whole = compare(compute_performance("score", 4000, predicted, label), reference, POLICY)
    stats = segment_stats("score", {"tenant": tenant}, rows, predicted, label)
    segments = compare_segments(stats, reference, POLICY, whole)
    outcome = segment_check(performance_check(whole), whole, segments)
    assert whole.severity is None  # 0.30 against 0.28: a 7 % rise, within the 10 % tolerance
    assert whole.change == pytest.approx(0.3 / 0.28 - 1)
    a = next(f for f in outcome.findings if f.subject == "performance@tenant=a")
    assert not a.passed and a.severity is Severity.CRITICAL
    assert a.threshold == pytest.approx(0.28 * 1.25)  # critical: the critical tolerance
    assert a.summary.startswith("tenant=a: mae 0.6000 vs reference 0.2800 (+0.3200): critical")
    assert outcome.summary.startswith("mae rises in tenant=a (mae 0.6000, +0.3200; 25% of")
