"""The monthly LLM budget: the month to date plus a forecast of the month's remaining days.

Each remaining day is forecast at the trailing 7-day level times a weekday factor from the
trailing 28 days (README.md, "LLM cost").
"""

from __future__ import annotations

import calendar
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from monitoring_pipelines.core.checks import CheckOutcome, single
from monitoring_pipelines.core.config import Severity
from monitoring_pipelines.core.wording import count

LEVEL_DAYS = 7
SEASON_DAYS = 28
MIN_PER_WEEKDAY = 2
LISTED_MISSING = 5  # missing days named in a summary


@dataclass(frozen=True)
class MonthForecast:
    """The month of ``day``: what is stored, what is missing, what is expected.

    Attributes:
        day: The day evaluated (its cost is part of the month to date).
        first_counted: The month's first day, or the monitor's first day if later.
        before_start: Days of the month before the monitor's first day: the budget is for the
            calendar month, so they are estimated at the forecast (nothing is stored for them).
        before_start_estimate_usd: That estimate.
        month_end: The month's last day.
        month_to_date_usd: Stored cost of the month's days up to and including ``day``.
        days_counted: Days in the month to date.
        missing_days: Days of the month before ``day`` with no stored cost.
        missing_estimate_usd: The forecast for the missing days.
        remaining_days: Days after ``day`` to the month's end.
        forecast_rest_usd: The forecast for the remaining days.
        level_usd_per_day: Cost per day (deseasonalized) from the trailing days.
        level_days: Days of the trailing 7 with a stored cost.
        weekday_factors: Monday first; None when too few days for them (flat forecast).
    """

    day: date
    first_counted: date
    before_start: tuple[date, ...]
    before_start_estimate_usd: float
    month_end: date
    month_to_date_usd: float
    days_counted: int
    missing_days: tuple[date, ...]
    missing_estimate_usd: float
    remaining_days: int
    forecast_rest_usd: float
    level_usd_per_day: float
    level_days: int
    weekday_factors: tuple[float, ...] | None

    @property
    def projected_usd(self) -> float:
        return (
            self.before_start_estimate_usd
            + self.month_to_date_usd
            + self.missing_estimate_usd
            + self.forecast_rest_usd
        )

    @property
    def basis(self) -> str:
        """How the forecast was made, for a person."""
        kind = "weekday-aware" if self.weekday_factors else "flat"
        return (
            f"level ${self.level_usd_per_day:.2f}/day from {self.level_days} of the last "
            f"{LEVEL_DAYS} days, {kind}"
        )


def month_bounds(day: date) -> tuple[date, date]:
    """The first and last day of ``day``'s month."""
    return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])


def history_days(day: date, first_day: date) -> list[date]:
    """The days before ``day`` whose stored costs :func:`forecast_month` reads."""
    start = max(first_day, min(month_bounds(day)[0], day - timedelta(days=SEASON_DAYS - 1)))
    return [start + timedelta(days=i) for i in range((day - start).days)]


def weekday_factors(day: date, costs: Mapping[date, float]) -> tuple[float, ...] | None:
    """Each weekday's median cost over the trailing 28 days relative to the mean of the seven
    medians; None unless every weekday has at least two days with a cost."""
    by_weekday: list[list[float]] = [[] for _ in range(7)]
    for offset in range(SEASON_DAYS):
        d = day - timedelta(days=offset)
        if d in costs:
            by_weekday[d.weekday()].append(costs[d])
    if min(len(values) for values in by_weekday) < MIN_PER_WEEKDAY:
        return None
    medians = [statistics.median(values) for values in by_weekday]
    mean = sum(medians) / 7
    return tuple(m / mean for m in medians) if mean > 0 else None


def forecast_month(
    day: date, costs: Mapping[date, float], first_day: date | None = None
) -> MonthForecast:
    """The month to date and the forecast of the rest of ``day``'s month.

    Args:
        day: The day evaluated.
        costs: Stored daily costs, ``day`` included; days after ``day`` are ignored.
        first_day: The monitor's first partition: earlier days are not expected.

    Returns:
        The forecast (see the module docstring for the method).
    """
    month_start, month_end = month_bounds(day)
    first = max(month_start, first_day or month_start)
    known = {d: c for d, c in costs.items() if (first_day is None or d >= first_day) and d <= day}
    factors = weekday_factors(day, known)

    def factor(d: date) -> float:
        return factors[d.weekday()] if factors else 1.0

    trailing = [day - timedelta(days=i) for i in range(LEVEL_DAYS)]
    trailing = [d for d in trailing if d in known]
    weight = sum(factor(d) for d in trailing)
    level = sum(known[d] for d in trailing) / weight if weight > 0 else 0.0
    month = [first + timedelta(days=i) for i in range((day - first).days + 1)]
    missing = tuple(d for d in month if d not in known)
    rest = [day + timedelta(days=i) for i in range(1, (month_end - day).days + 1)]
    before = tuple(month_start + timedelta(days=i) for i in range((first - month_start).days))
    return MonthForecast(
        day=day,
        first_counted=first,
        before_start=before,
        before_start_estimate_usd=sum(level * factor(d) for d in before),
        month_end=month_end,
        month_to_date_usd=sum(known[d] for d in month if d in known),
        days_counted=len(month) - len(missing),
        missing_days=missing,
        missing_estimate_usd=sum(level * factor(d) for d in missing),
        remaining_days=len(rest),
        forecast_rest_usd=sum(level * factor(d) for d in rest),
        level_usd_per_day=level,
        level_days=len(trailing),
        weekday_factors=factors,
    )


def monthly_budget_check(forecast: MonthForecast, budget_usd: float) -> CheckOutcome:
    """Critical when the month to date alone exceeds the budget; a warning when the projection
    (month to date, missing days and remaining days at the forecast) exceeds it."""
    f = forecast
    spent = f.month_to_date_usd
    projected = f.projected_usd
    if spent > budget_usd:
        passed, severity = False, Severity.CRITICAL
        summary = (
            f"month to date ${spent:.2f} > monthly budget ${budget_usd:.2f}; "
            f"projected ${projected:.2f} by {f.month_end}"
        )
    else:
        passed, severity = projected <= budget_usd, Severity.WARN
        summary = (
            f"projected ${projected:.2f} {'<=' if passed else '>'} monthly budget "
            f"${budget_usd:.2f} by {f.month_end}: month to date ${spent:.2f}"
        )
        if f.missing_days:
            summary += f" + ${f.missing_estimate_usd:.2f} estimated for missing days"
        summary += f" + forecast ${f.forecast_rest_usd:.2f} for {f.remaining_days} days left"
        if f.before_start:
            summary += (
                f" + ${f.before_start_estimate_usd:.2f} estimated for "
                f"{count(len(f.before_start), 'day')}"
                f" before the monitor's first day ({f.first_counted})"
            )
    summary += f" ({f.basis})"
    if f.missing_days:
        listed = ", ".join(d.isoformat() for d in f.missing_days[:LISTED_MISSING])
        more = len(f.missing_days) - LISTED_MISSING
        listed += f" and {more} more" if more > 0 else ""
        summary += (
            f"; {count(len(f.missing_days), 'day')} of the month not materialized yet ({listed}): "
            "estimated at the forecast"
        )
    metadata: dict[str, float | int | str] = {
        "month_to_date_usd": spent,
        "projected_usd": projected,
        "forecast_rest_usd": f.forecast_rest_usd,
        "budget_usd": budget_usd,
        "remaining_days": f.remaining_days,
        "days_counted": f.days_counted,
        "days_missing": len(f.missing_days),
        "missing_estimate_usd": f.missing_estimate_usd,
        "days_before_start": len(f.before_start),
        "before_start_estimate_usd": f.before_start_estimate_usd,
        "level_usd_per_day": f.level_usd_per_day,
        "level_days": f.level_days,
        "forecast_basis": f.basis,
    }
    if f.missing_days:
        metadata["missing_days"] = ", ".join(d.isoformat() for d in f.missing_days)
    return single(
        "monthly_budget",
        passed=passed,
        severity=severity,
        value=projected,
        threshold=budget_usd,
        summary=summary,
        metadata=metadata,
    )
