"""Error budgets and burn rates on constructed windows, checked against arithmetic by hand."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from monitoring_pipelines.core.config import ServiceConfig, Severity, SloConfig
from monitoring_pipelines.core.dimensions import dimensions
from monitoring_pipelines.core.service.slo import (
    BudgetStatus,
    Sli,
    SloCounts,
    SloTarget,
    budget_check,
    budget_rows,
    budget_status,
    budget_values,
    count_rows,
    counts_from_rows,
    slo_targets,
    window_counts,
)

END = date(2026, 10, 28)
SLO = SloConfig(latency_ms=200, latency_percentile=95, error_rate=0.01)
ERRORS = SloTarget(Sli.ERRORS, 0.01, "at most 1.00% of requests failing")
LATENCY = SloTarget(Sli.LATENCY, 0.05, "95 % of requests within 200 ms", 200.0)


def history(bad: list[int], events: int = 1000, threshold: float | None = None) -> dict:
    """Daily counts ending on END, oldest first."""
    first = END - timedelta(days=len(bad) - 1)
    return {first + timedelta(days=i): SloCounts(events, b, threshold) for i, b in enumerate(bad)}


def findings(status: BudgetStatus, slo: SloConfig = SLO) -> dict:
    return {f.subject: f for f in budget_check([status], slo).findings}


def test_targets_follow_the_configuration_and_its_columns() -> None:
    service = ServiceConfig(latency_column="l", status_column="s", slo=SLO)
    latency, errors = slo_targets(service)
    assert (latency.sli, latency.allowed, latency.threshold) == (Sli.LATENCY, 0.05, 200)
    assert latency.objective == "95 % of requests within 200 ms"
    assert (errors.sli, errors.allowed) == (Sli.ERRORS, 0.01)
    assert slo_targets(service.model_copy(update={"status_column": None})) == [latency]
    assert slo_targets(ServiceConfig(latency_column="l")) == []  # no objective set
    p999 = SloConfig(latency_ms=200, latency_percentile=99.9)
    assert slo_targets(ServiceConfig(latency_column="l", slo=p999))[0].allowed == pytest.approx(
        0.001
    )


def test_remaining_budget_and_burn_rates_by_hand() -> None:
    # 27 days with 5 bad of 1000, then 50 bad: 185 bad of 28,000 requests; 280 allowed
    status = budget_status(ERRORS, history([5] * 27 + [50]), END, SLO)
    assert (status.budget.events, status.budget.bad) == (28_000, 185)
    assert status.remaining == pytest.approx(1 - 185 / 280)
    assert status.fast.burn(0.01) == pytest.approx(5.0)  # 5 % against 1 %
    assert status.slow.burn(0.01) == pytest.approx(80 / 7000 / 0.01)
    found = findings(status)
    assert set(found) == {"errors:fast", "errors:slow"}
    assert all(f.passed for f in found.values())
    assert found["errors:fast"].value == pytest.approx(5.0)
    assert found["errors:fast"].threshold == 7.0
    assert "34% of the 28-day errors budget left" in found["errors:fast"].summary


def test_fast_burn_is_critical_only_when_the_budget_is_at_risk() -> None:
    healthy = budget_status(ERRORS, history([0] * 27 + [80]), END, SLO)
    assert healthy.remaining == pytest.approx(1 - 80 / 280)  # 71 % left
    fast = findings(healthy)["errors:fast"]
    assert not fast.passed
    assert fast.value == pytest.approx(8.0)
    assert fast.severity is Severity.WARN  # one more such day spends 8/28 = 29 % < 71 %
    assert "not at risk" in fast.summary

    spent = budget_status(ERRORS, history([5] * 27 + [80]), END, SLO)
    assert spent.remaining == pytest.approx(1 - 215 / 280)  # 23 % left < 29 %
    fast = findings(spent)["errors:fast"]
    assert not fast.passed
    assert fast.severity is Severity.CRITICAL
    assert "1 day more spends what is left" in fast.summary
    outcome = budget_check([spent], SLO)
    assert outcome.severity is Severity.CRITICAL
    assert outcome.summary.startswith("errors:fast: burn 8.00x over 1 day >= 7x")


def test_slow_burn_fails_as_a_warning() -> None:
    status = budget_status(LATENCY, history([0] * 21 + [125] * 7), END, SLO)
    assert status.slow.burn(0.05) == pytest.approx(2.5)
    assert status.fast.burn(0.05) == pytest.approx(2.5)
    found = findings(status)
    assert not found["latency:slow"].passed
    assert found["latency:slow"].severity is Severity.WARN
    assert found["latency:fast"].passed  # 2.5x < 7x
    # 875 bad of 28,000 against 1,400 allowed
    assert status.remaining == pytest.approx(1 - 875 / 1400)


def test_an_overspent_budget_is_negative() -> None:
    status = budget_status(ERRORS, history([20] * 28), END, SLO)
    assert status.remaining == pytest.approx(-1.0)  # twice the allowed errors
    assert status.at_risk(SLO)


def test_a_missing_day_leaves_the_windows_that_hold_it_not_evaluated() -> None:
    daily = history([5] * 28)
    gap = END - timedelta(days=10)
    del daily[gap]
    status = budget_status(ERRORS, daily, END, SLO)
    assert status.remaining is None
    assert status.budget.missing == (gap,)
    assert "27 of the 28 days to 2026-10-28 have stored counts (missing 2026-10-18)" in (
        status.budget.reason()
    )
    found = findings(status)
    assert found["errors:fast"].value == pytest.approx(0.5)  # the gap is outside 1 and 7 days
    assert found["errors:slow"].value == pytest.approx(0.5)
    # never read as a good day: the window's counts leave it out
    assert status.budget.events == 27_000


def test_early_history_is_not_evaluated_until_the_window_has_its_days() -> None:
    status = budget_status(ERRORS, history([100, 100, 100]), END, SLO)
    found = findings(status)
    slow = found["errors:slow"]
    assert slow.passed and slow.value is None
    assert "not evaluated: 3 of the 7 days" in slow.summary
    assert "missing 2026-10-22, 2026-10-23, 2026-10-24 and 1 more" in slow.summary
    # the fast window has its day: 10x fails, and an unknown budget counts as at risk
    fast = found["errors:fast"]
    assert not fast.passed and fast.severity is Severity.CRITICAL
    assert "errors budget not evaluated: 3 of the 28 days" in fast.summary
    assert fast.summary.endswith("critical while the budget is unknown")


def test_days_without_requests_are_not_evaluated_rather_than_perfect() -> None:
    status = budget_status(ERRORS, history([0] * 28, events=0), END, SLO)
    assert status.remaining is None
    found = findings(status)
    assert found["errors:fast"].passed and found["errors:fast"].value is None
    assert "no requests in the 1 days to 2026-10-28" in found["errors:fast"].summary


def test_an_objective_allowing_no_error_fails_on_any_error_without_a_ratio() -> None:
    zero = SloTarget(Sli.ERRORS, 0.0, "at most 0.00% of requests failing")
    clean = budget_status(zero, history([0] * 28), END, SLO)
    assert clean.remaining == 1.0
    assert all(f.passed for f in findings(clean).values())
    broken = budget_status(zero, history([0] * 27 + [1]), END, SLO)
    assert broken.remaining is None
    fast = findings(broken)["errors:fast"]
    assert not fast.passed and fast.value is None and fast.severity is Severity.CRITICAL
    assert "the objective allows none" in fast.summary


def test_days_counted_with_another_latency_threshold_are_named() -> None:
    daily = history([10] * 28, threshold=200.0)
    daily[END - timedelta(days=3)] = SloCounts(1000, 40, 300.0)
    status = budget_status(LATENCY, daily, END, SLO)
    assert status.stale == (END - timedelta(days=3),)
    assert "1 day counted with another latency threshold" in budget_check([status], SLO).summary


def test_custom_windows_are_honoured() -> None:
    slo = SLO.model_copy(
        update={
            "window_days": 7,
            "fast_burn": SLO.fast_burn.model_copy(update={"days": 2, "threshold": 3.0}),
        }
    )
    status = budget_status(ERRORS, history([0] * 5 + [20, 40]), END, slo)
    assert status.budget.days == 7
    assert status.fast.burn(0.01) == pytest.approx(3.0)  # 60 of 2000
    assert not findings(status, slo)["errors:fast"].passed  # reaching the threshold fails


def test_window_counts_sum_the_days_of_the_window_only() -> None:
    daily = history([1, 2, 3, 4, 5])
    window = window_counts(daily, END, 3)
    assert (window.events, window.bad, window.missing) == (3000, 12, ())
    assert window.bad_share == pytest.approx(12 / 3000)
    later = window_counts(daily, END + timedelta(days=1), 3)
    assert later.missing == (END + timedelta(days=1),) and later.bad_share is None


def test_days_before_the_monitors_first_day_are_not_listed_as_missing() -> None:
    first = END - timedelta(days=4)
    daily = history([1, 2, 3, 4, 5])  # the five days from ``first`` to END
    window = window_counts(daily, END, 28, first)
    assert window.missing == () and window.before_start == 23 and window.counted == 5
    assert not window.evaluated
    assert window.reason() == (
        f"not evaluated: the 28-day window to {END} starts before the monitor's first day "
        f"{first} (5 days of history so far)"
    )
    gap = {d: c for d, c in daily.items() if d != END - timedelta(days=1)}
    assert window_counts(gap, END, 28, first).missing == (END - timedelta(days=1),)
    assert "1 day without stored counts" in window_counts(gap, END, 28, first).reason()
    assert window_counts(daily, END, 5, first).evaluated


def test_counts_round_trip_through_stored_rows() -> None:
    counts = {Sli.LATENCY: SloCounts(900, 12, 200.0), Sli.ERRORS: SloCounts(1000, 3)}
    rows = count_rows(counts)
    assert rows[("slo_bad", dimensions(sli="latency"))] == 12.0
    assert counts_from_rows([(n, d, v) for (n, d), v in rows.items()]) == counts
    # a day missing its bad count is left out, never read as zero bad
    partial = [
        (n, d, v) for (n, d), v in rows.items() if (n, d) != ("slo_bad", dimensions(sli="errors"))
    ]
    assert counts_from_rows(partial) == {Sli.LATENCY: counts[Sli.LATENCY]}


def test_values_and_rows_carry_the_same_numbers() -> None:
    status = budget_status(ERRORS, history([5] * 27 + [50]), END, SLO)
    values = budget_values([status])
    rows = budget_rows([status])
    dims = dimensions(sli="errors")
    assert values["budget_remaining/errors"] == rows[("budget_remaining", dims)]
    assert values["burn_rate/errors/fast"] == rows[("burn_rate_fast", dims)] == pytest.approx(5)
    assert values["days_with_counts/errors"] == 28
    assert values["allowed_bad_share/errors"] == 0.01
