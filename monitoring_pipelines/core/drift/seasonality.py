"""What a day is compared with: the whole reference, or its rows of the same weekday when the
traffic has a weekly pattern (a weekend mix is then not drift, a Monday's change still is)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

from monitoring_pipelines.core.seasons import WEEKDAYS, weekday_season
from monitoring_pipelines.core.wording import count

Seasonality = Literal["auto", "weekly", "none"]
# auto compares by weekday only when every weekday has this many dates in the reference: one
# date of a weekday is one day's noise, not that weekday's pattern.
MIN_DAYS_PER_WEEKDAY = 2


@dataclass(frozen=True)
class Baseline:
    """The reference rows a day's drift is measured against.

    Attributes:
        season: ``weekday=Mon`` ... when compared with that weekday's rows, else None (all).
        explanation: One line for the asset's metadata and reports.
    """

    season: str | None
    explanation: str


def choose_baseline(policy: Seasonality, day: date, season_days: Mapping[str, int]) -> Baseline:
    """The baseline of ``day`` under ``policy``, given how many dates of each weekday the
    reference holds (empty when it has no timestamp)."""
    season = weekday_season(day)
    weekday = WEEKDAYS[day.weekday()]
    if policy == "none":
        return Baseline(None, "whole reference (seasonality: none)")
    if not season_days:
        why = "the reference has no timestamp column"
        if policy == "weekly":
            return Baseline(None, f"whole reference: weekly seasonality asked, but {why}")
        return Baseline(None, f"whole reference ({why}, so no weekly pattern is known)")
    have = season_days.get(season, 0)
    if policy == "weekly":
        if have == 0:
            return Baseline(None, f"whole reference: weekly asked, but it has no {weekday}")
        return Baseline(season, f"{weekday}s of the reference ({count(have, 'date')})")
    short = [w for w in WEEKDAYS if season_days.get(f"weekday={w}", 0) < MIN_DAYS_PER_WEEKDAY]
    if short:
        return Baseline(
            None,
            f"whole reference (seasonality auto: fewer than {MIN_DAYS_PER_WEEKDAY} dates "
            f"of {', '.join(short)} in it, too few for a weekly pattern)",
        )
    dates = count(have, "date")
    return Baseline(season, f"{weekday}s of the reference ({dates}; seasonality auto)")
