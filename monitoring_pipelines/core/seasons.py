"""Weekly seasons: which part of a week a day or a logged row belongs to.

Shared vocabulary of profiling (the reference is sketched per weekday) and drift (a day is
compared with its weekday), so neither imports the other for it.
"""

from __future__ import annotations

from datetime import date

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def weekday_season(day: date) -> str:
    """The season of ``day``: ``weekday=Mon`` ... ``weekday=Sun`` (UTC days, as partitions)."""
    return f"weekday={WEEKDAYS[day.weekday()]}"
