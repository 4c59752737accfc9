"""The incident policy on a partition timeline: persistence, span and hysteresis."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from monitoring_pipelines.core.alerting.policy import (
    Point,
    Span,
    episodes,
    opening_partition,
    shift,
    span,
)
from monitoring_pipelines.core.config import AlertsConfig, PolicyConfig, Severity

DAY0 = "2026-03-01"
DRIFT = AlertsConfig().policy_for("feature_drift")
SERVICE = AlertsConfig().policy_for("latency_slo")


def day(n: int) -> str:
    return shift(DAY0, n)


def timeline(
    failing: Iterable[int] = (),
    passing: Iterable[int] = (),
    critical: Iterable[int] = (),
) -> dict[str, Point]:
    """Days are offsets from DAY0; ``critical`` days fail with critical severity."""
    points = {day(n): Point(True, Severity.WARN) for n in passing}
    points |= {day(n): Point(False, Severity.WARN) for n in failing}
    points |= {day(n): Point(False, Severity.CRITICAL) for n in critical}
    return points


def test_documented_defaults() -> None:
    assert (DRIFT.persistence_k, DRIFT.persistence_n, DRIFT.resolve_after) == (2, 3, 3)
    assert AlertsConfig().policy_for("prediction_drift") == DRIFT
    assert (SERVICE.persistence_k, SERVICE.persistence_n) == (1, 1)
    assert AlertsConfig().policy_for("run_failure") == SERVICE


def test_configured_policy_overrides_the_default() -> None:
    custom = PolicyConfig(persistence_k=3, persistence_n=4, resolve_after=1)
    assert AlertsConfig(policies={"feature_drift": custom}).policy_for("feature_drift") == custom


def test_k_greater_than_n_is_rejected() -> None:
    with pytest.raises(ValueError, match="persistence_k"):
        PolicyConfig(persistence_k=3, persistence_n=2)


# -- persistence ---------------------------------------------------------------------------


def test_service_check_opens_on_the_first_failing_day() -> None:
    points = timeline(failing=[5], passing=[4])
    assert opening_partition(points, day(5), SERVICE) == day(5)


def test_passing_partition_never_opens() -> None:
    assert opening_partition(timeline(passing=[5]), day(5), SERVICE) is None


def test_single_drift_day_does_not_open() -> None:
    points = timeline(failing=[5], passing=[3, 4, 6, 7])
    assert opening_partition(points, day(5), DRIFT) is None


def test_drift_opens_at_the_first_of_two_consecutive_failures() -> None:
    points = timeline(failing=[5, 6], passing=[4])
    assert opening_partition(points, day(6), DRIFT) == day(5)


def test_two_failures_with_a_pass_between_are_two_of_three() -> None:
    points = timeline(failing=[5, 7], passing=[6])
    assert opening_partition(points, day(7), DRIFT) == day(5)


def test_two_failures_three_days_apart_are_not_two_of_three() -> None:
    points = timeline(failing=[5, 8], passing=[6, 7])
    assert opening_partition(points, day(8), DRIFT) is None


def test_later_day_recorded_first_opens_at_the_earlier_day() -> None:
    """A backfill records day 6 before day 5: day 5's arrival opens the incident at day 5."""
    only_later = timeline(failing=[6])
    assert opening_partition(only_later, day(6), DRIFT) is None

    both = timeline(failing=[5, 6])
    assert opening_partition(both, day(5), DRIFT) == day(5)
    assert opening_partition(both, day(6), DRIFT) == day(5)


def test_an_earlier_failure_recorded_last_opens_at_the_earliest_failing_day() -> None:
    """Days 12 and 13 fail, then day 10's failure arrives: 10 and 12 are 2 of 3 as well."""
    points = timeline(failing=[10, 12, 13], passing=[11])
    assert opening_partition(points, day(10), DRIFT) == day(10)
    assert opening_partition(points, day(12), DRIFT) == day(10)


def test_windows_after_the_partition_count_too() -> None:
    """In a backfill the days after ``partition`` may already be recorded."""
    points = timeline(failing=[5, 7], passing=[4, 6, 8])
    assert opening_partition(points, day(5), DRIFT) == day(5)
    assert opening_partition(points, day(5), PolicyConfig(persistence_k=2, persistence_n=2)) is None


def test_unevaluated_days_do_not_count_as_failing() -> None:
    """Persistence counts recorded failures only; gaps are neither failing nor passing."""
    points = timeline(failing=[5])
    assert opening_partition(points, day(5), PolicyConfig(persistence_k=2, persistence_n=2)) is None


# -- span and hysteresis ---------------------------------------------------------------------


def test_span_walks_forward_over_the_failing_days() -> None:
    points = timeline(failing=[5, 6, 7, 8], passing=[9])
    assert span(points, day(5), 3) == Span(day(5), day(8), 4, Severity.WARN, None)


def test_resolves_after_resolve_after_consecutive_passes() -> None:
    points = timeline(failing=[5, 6], passing=[7, 8, 9, 10])
    extent = span(points, day(5), 3)
    assert extent.last_failing_partition == day(6)
    assert extent.failing_partitions == 2
    assert extent.resolved_partition == day(9)


def test_one_pass_short_of_resolve_after_stays_open() -> None:
    points = timeline(failing=[5, 6], passing=[7, 8])
    assert span(points, day(5), 3).resolved_partition is None


def test_a_single_pass_inside_an_episode_does_not_resolve() -> None:
    points = timeline(failing=[5, 6, 8, 9], passing=[7, 10, 11])
    extent = span(points, day(5), 3)
    assert extent.resolved_partition is None
    assert extent.last_failing_partition == day(9)
    assert extent.failing_partitions == 4


def test_passes_inside_an_episode_then_enough_passes_resolve_once() -> None:
    points = timeline(failing=[5, 7], passing=[6, 8, 9, 10, 11])
    extent = span(points, day(5), 3)
    assert extent.last_failing_partition == day(7)
    assert extent.resolved_partition == day(10)


def test_a_gap_of_unevaluated_days_does_not_count_as_passing() -> None:
    points = timeline(failing=[5, 6], passing=[10, 11])
    assert span(points, day(5), 3).resolved_partition is None


def test_a_gap_then_enough_recorded_passes_resolves_after_those_passes() -> None:
    points = timeline(failing=[5, 6], passing=[7, 8, 9])
    assert span(points, day(5), 3).resolved_partition == day(9)
    filled_late = {k: v for k, v in points.items() if k != day(8)}
    assert span(filled_late, day(5), 3).resolved_partition is None


def test_failure_after_the_resolving_passes_is_not_part_of_the_span() -> None:
    points = timeline(failing=[5, 6, 12], passing=[7, 8, 9, 10, 11])
    extent = span(points, day(5), 2)
    assert extent == Span(day(5), day(6), 2, Severity.WARN, day(8))


def test_resolve_after_one_for_service_checks() -> None:
    points = timeline(failing=[5], passing=[6])
    assert span(points, day(5), 1).resolved_partition == day(6)


def test_severity_escalates_to_critical_when_any_failing_day_is_critical() -> None:
    points = timeline(failing=[5, 6, 8], critical=[7], passing=[9])
    assert span(points, day(5), 3).severity is Severity.CRITICAL
    assert span(timeline(failing=[5, 6], passing=[7]), day(5), 3).severity is Severity.WARN


def test_critical_day_after_the_resolution_does_not_escalate() -> None:
    points = timeline(failing=[5], passing=[6, 7], critical=[9])
    extent = span(points, day(5), 2)
    assert extent.resolved_partition == day(7)
    assert extent.severity is Severity.WARN


# -- the reopen window -------------------------------------------------------------------------


def reopening(window: int) -> PolicyConfig:
    return AlertsConfig(reopen_within_days=window).policy_for("latency_slo")


def test_the_reopen_window_defaults_to_a_week_and_is_set_per_monitor_and_per_check() -> None:
    assert AlertsConfig().policy_for("latency_slo").reopen_within_days == 7
    assert AlertsConfig().policy_for("feature_drift").reopen_within_days == 7
    monitor = AlertsConfig(reopen_within_days=3)
    assert monitor.policy_for("feature_drift").reopen_within_days == 3
    assert monitor.policy_for("feature_drift").persistence_k == 2  # drift's own keys kept
    check = AlertsConfig(reopen_within_days=3, policies={"cost_budget": {"reopen_within_days": 0}})
    assert check.policy_for("cost_budget").reopen_within_days == 0
    assert check.policy_for("error_rate").reopen_within_days == 3
    with pytest.raises(ValueError, match="reopen_within_days"):
        PolicyConfig(reopen_within_days=-1)


def test_a_failure_within_the_window_after_the_resolution_continues_the_episode() -> None:
    # fails 1-2, passes 3-4 (resolved on 4), fails again on 4 + 7 = 11
    points = timeline(failing=[1, 2, 11], passing=[3, 4, 5, 6, 7, 8, 9, 10, 12, 13])
    assert episodes(points, reopening(7)) == [Span(day(1), day(11), 3, Severity.WARN, day(13))]
    assert episodes(points, reopening(6)) == [
        Span(day(1), day(2), 2, Severity.WARN, day(4)),
        Span(day(11), day(11), 1, Severity.WARN, day(13)),
    ]
    assert episodes(points, reopening(0)) == episodes(points, reopening(6))


def test_a_continued_episode_counts_every_failing_partition_and_its_worst_severity() -> None:
    drift = AlertsConfig(reopen_within_days=7).policy_for("feature_drift")  # 2 of 3, after 3
    # resolved on 5; a lone critical failure on 6 does not persist; 10-11 reopen
    points = timeline(failing=[1, 2, 10, 11], passing=[3, 4, 5, 7, 8, 9, 12, 13, 14], critical=[6])
    assert episodes(points, drift) == [Span(day(1), day(11), 5, Severity.CRITICAL, day(14))]
    no_window = AlertsConfig(reopen_within_days=0).policy_for("feature_drift")
    assert [(e.first_partition, e.failing_partitions) for e in episodes(points, no_window)] == [
        (day(1), 2),
        (day(10), 2),
    ]


def test_a_resolution_by_hand_is_never_continued() -> None:
    points = timeline(failing=[1, 2, 5], passing=[3, 4, 6, 7])
    assert episodes(points, reopening(7)) == [Span(day(1), day(5), 3, Severity.WARN, day(7))]
    assert episodes(points, reopening(7), cuts=[day(2)]) == [
        Span(day(1), day(2), 2, Severity.WARN, day(2)),
        Span(day(5), day(5), 1, Severity.WARN, day(7)),
    ]
