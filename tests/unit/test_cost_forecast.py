"""The monthly budget: month to date, missing days, the forecast by hand, and the verdicts."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from monitoring_pipelines.core.config import Severity
from monitoring_pipelines.core.costs.forecast import (
    forecast_month,
    history_days,
    monthly_budget_check,
    weekday_factors,
)


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def test_flat_forecast_by_hand() -> None:
    # 2026-09 has 30 days; the first 10 cost $2 each; too few days for weekday factors
    day = date(2026, 9, 10)
    costs = dict.fromkeys(days(date(2026, 9, 1), day), 2.0)
    f = forecast_month(day, costs, first_day=date(2026, 9, 1))
    assert f.weekday_factors is None
    assert (f.month_to_date_usd, f.days_counted, f.missing_days) == (20.0, 10, ())
    assert (f.level_usd_per_day, f.level_days, f.remaining_days) == (2.0, 7, 20)
    assert f.forecast_rest_usd == pytest.approx(40.0)
    assert f.projected_usd == pytest.approx(60.0)
    assert f.month_end == date(2026, 9, 30)


def test_missing_days_are_named_estimated_and_not_counted() -> None:
    day = date(2026, 9, 10)
    costs = dict.fromkeys(days(date(2026, 9, 1), day), 2.0)
    costs[date(2026, 9, 9)] = 9.0  # in the trailing week: level (5 x 2 + 9) / 6
    del costs[date(2026, 9, 3)], costs[date(2026, 9, 8)]
    f = forecast_month(day, costs, first_day=date(2026, 9, 1))
    level = 19 / 6
    assert f.missing_days == (date(2026, 9, 3), date(2026, 9, 8))
    assert (f.days_counted, f.level_days) == (8, 6)
    assert f.month_to_date_usd == pytest.approx(7 * 2 + 9)
    assert f.level_usd_per_day == pytest.approx(level)
    assert f.missing_estimate_usd == pytest.approx(2 * level)
    assert f.forecast_rest_usd == pytest.approx(20 * level)
    assert f.projected_usd == pytest.approx(23 + 22 * level)

    check = monthly_budget_check(f, budget_usd=80.0)
    assert not check.passed and check.severity is Severity.WARN  # 92.67 > 80 > 23
    assert check.summary == (
        "projected $92.67 > monthly budget $80.00 by 2026-09-30: month to date $23.00 "
        "+ $6.33 estimated for missing days + forecast $63.33 for 20 days left "
        "(level $3.17/day from 6 of the last 7 days, flat); 2 days of the month not "
        "materialized yet (2026-09-03, 2026-09-08): estimated at the forecast"
    )
    assert check.metadata["missing_days"] == "2026-09-03, 2026-09-08"
    assert check.metadata["days_missing"] == 2
    assert check.findings[0].value == pytest.approx(f.projected_usd)


def test_first_day_of_a_month_forecasts_from_the_previous_month() -> None:
    day = date(2026, 10, 1)
    costs = dict.fromkeys(days(date(2026, 9, 24), date(2026, 9, 30)), 3.0)
    costs[day] = 1.5
    f = forecast_month(day, costs, first_day=date(2026, 9, 1))
    level = (6 * 3.0 + 1.5) / 7  # the trailing week reaches into September
    assert (f.month_to_date_usd, f.days_counted, f.missing_days) == (1.5, 1, ())
    assert f.level_usd_per_day == pytest.approx(level)
    assert f.remaining_days == 30
    assert f.projected_usd == pytest.approx(1.5 + 30 * level)
    # the days read from the store: the month so far, and 27 days back for the factors
    assert history_days(day, date(2026, 9, 1)) == days(date(2026, 9, 4), date(2026, 9, 30))
    assert history_days(day, date(2026, 9, 28)) == days(date(2026, 9, 28), date(2026, 9, 30))
    assert history_days(date(2026, 10, 31), date(2026, 1, 1)) == days(
        date(2026, 10, 1), date(2026, 10, 30)
    )


def test_days_before_the_monitor_starts_are_estimated_for_the_calendar_month() -> None:
    day = date(2026, 9, 12)
    costs = dict.fromkeys(days(date(2026, 9, 10), day), 1.0)
    f = forecast_month(day, costs, first_day=date(2026, 9, 10))
    assert (f.missing_days, f.days_counted, f.level_days) == ((), 3, 3)
    assert f.before_start == tuple(days(date(2026, 9, 1), date(2026, 9, 9)))
    # the budget is for September: 9 days before the start + 3 stored + 18 left, all at $1
    assert f.projected_usd == pytest.approx(9 + 3 + 18)
    outcome = monthly_budget_check(f, 29.0)
    assert not outcome.passed
    assert "+ $9.00 estimated for 9 days before the monitor's first day (2026-09-10)" in (
        outcome.summary
    )
    assert (
        monthly_budget_check(forecast_month(day, costs, first_day=day), 100.0).metadata[
            "days_before_start"
        ]
        == 11
    )
    assert forecast_month(day, costs).missing_days == tuple(
        days(date(2026, 9, 1), date(2026, 9, 9))
    )


def test_weekday_aware_forecast_is_exact_on_a_weekly_pattern() -> None:
    # weekdays $3, weekends $2; 2026-10-23 is a Friday, 8 days left: Sat, Sun, Mon-Fri, Sat
    day = date(2026, 10, 23)
    first = date(2026, 9, 1)
    costs = {d: (2.0 if d.weekday() >= 5 else 3.0) for d in days(first, day)}
    costs[date(2026, 10, 19)] = 30.0  # a one-off spike on a Monday: medians ignore it
    f = forecast_month(day, costs, first_day=first)
    mean = (5 * 3 + 2 * 2) / 7
    assert f.weekday_factors == pytest.approx([3 / mean] * 5 + [2 / mean] * 2)
    truth = sum(2.0 if d.weekday() >= 5 else 3.0 for d in days(date(2026, 10, 24), f.month_end))
    spike_free_level = mean
    # the level is deseasonalized: the trailing week's cost over its factors
    assert f.level_usd_per_day == pytest.approx(spike_free_level + 27 / 7)
    costs[date(2026, 10, 19)] = 3.0
    calm = forecast_month(day, costs, first_day=first)
    assert calm.level_usd_per_day == pytest.approx(mean)
    assert calm.forecast_rest_usd == pytest.approx(truth)
    assert truth == pytest.approx(2 + 2 + 5 * 3 + 2)  # Sat, Sun, Mon-Fri, Sat
    flat = 8 * mean  # what a trailing average would forecast
    assert abs(flat - truth) > 0.5
    assert "weekday-aware" in calm.basis


def test_weekday_factors_need_each_weekday_twice() -> None:
    day = date(2026, 9, 28)
    thirteen = {d: 1.0 for d in days(day - timedelta(days=12), day)}
    assert weekday_factors(day, thirteen) is None
    fourteen = {d: 1.0 for d in days(day - timedelta(days=13), day)}
    assert weekday_factors(day, fourteen) == pytest.approx([1.0] * 7)
    assert weekday_factors(day, dict.fromkeys(fourteen, 0.0)) is None


def test_verdicts_pass_warn_and_critical() -> None:
    day = date(2026, 9, 10)
    costs = dict.fromkeys(days(date(2026, 9, 1), day), 2.0)
    f = forecast_month(day, costs, first_day=date(2026, 9, 1))  # to date 20, projected 60
    ok, warn, critical = (monthly_budget_check(f, b) for b in (60.0, 59.99, 19.99))
    assert ok.passed
    assert ok.summary.startswith("projected $60.00 <= monthly budget $60.00 by 2026-09-30")
    assert not warn.passed and warn.severity is Severity.WARN
    assert not critical.passed and critical.severity is Severity.CRITICAL
    assert critical.summary.startswith(
        "month to date $20.00 > monthly budget $19.99; projected $60.00 by 2026-09-30"
    )
    assert critical.metadata["month_to_date_usd"] == 20.0
    assert critical.metadata["forecast_basis"] == "level $2.00/day from 7 of the last 7 days, flat"
