"""Which value of which dimension drove a change: the attribution behind an alert's "driven by".

A check measures a day against its objective; the driver is what changed against the usual
(the same measure on the days that met the objective), not the largest part of the day. Each
dimension (intent, model, status...) splits the change into its values' contributions (today
minus the usual, in the check's own unit: dollars, errors, slow requests). A value's share of
the change is its contribution over the sum of the absolute contributions of its dimension: a
dimension whose one value moved while the others stayed put gives it a share of 1, one whose
change is spread, or offset by another value moving the other way, gives less. The driver is
the value with the largest share, among the values that moved the way the check failed; a
dimension with a single value (today and on the usual days) explains nothing and is never named.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from statistics import median

USUAL_DAYS = 28  # the trailing days the usual is read from
SHOWN_CHARS = 60  # a value from the data is shown in a summary at most this long
ELLIPSIS = "…"
_BREAKS = frozenset({"Cc", "Zl", "Zp"})  # control characters, line and paragraph separators


@dataclass(frozen=True)
class Driver:
    """The value that drove a day's change.

    Attributes:
        dimension: The dimension (``intent``, ``model``, a service column, ``status``).
        value: Its value, as stored.
        contribution: Its part of the change, in the check's unit.
        share: Its contribution over the sum of its dimension's absolute contributions.
    """

    dimension: str
    value: str
    contribution: float
    share: float

    @property
    def key(self) -> str:
        """``intent=returns``: the driver as the check's metadata records it."""
        return f"{self.dimension}={self.value}"


def shares(contributions: Mapping[str, float]) -> dict[str, float]:
    """Each value's contribution over the sum of the absolute contributions (0 when none
    moved)."""
    moved = sum(abs(c) for c in contributions.values() if math.isfinite(c))
    return {
        v: (c / moved if moved > 0 and math.isfinite(c) else 0.0) for v, c in contributions.items()
    }


def find_driver(
    contributions: Mapping[str, Mapping[str, float]],
    *,
    values_seen: Mapping[str, Iterable[str]] | None = None,
    unnamed: frozenset[str] = frozenset(),
) -> Driver | None:
    """The value with the largest share of the change across ``contributions``.

    Args:
        contributions: Per dimension, per value, its contribution to the change (positive
            where it moved the way the check failed).
        values_seen: Per dimension, the values seen today or on the usual days, when more than
            ``contributions`` lists; a dimension with fewer than two is never named.
        unnamed: Values never named (a fold of many values, ``(other)``): they still count
            in their dimension's spread.

    Returns:
        The driver; None when no value of a dimension of two or more values moved the way
        the check failed by a share of the change above 0. Ties go to the larger
        contribution, then the dimension given first, then the value's text.
    """
    candidates: list[tuple[tuple[float, float, int, str], Driver]] = []
    for rank, (dimension, values) in enumerate(contributions.items()):
        seen = set(values) | set((values_seen or {}).get(dimension, ()))
        if len(seen) < 2:
            continue
        for value, share in shares(values).items():
            contribution = values[value]
            # A move too small to be a share of the change (a share that underflows to 0 beside
            # a large move the other way) drives nothing.
            if value in unnamed or not contribution > 0 or not share > 0:
                continue
            order = (-share, -contribution, rank, value)
            candidates.append((order, Driver(dimension, value, contribution, share)))
    return min(candidates, key=lambda c: c[0])[1] if candidates else None


def usual(series: Sequence[float]) -> float | None:
    """The usual of a value: the median of its days (None without a day)."""
    finite = [x for x in series if math.isfinite(x)]
    return median(finite) if finite else None


def shown(value: str, limit: int = SHOWN_CHARS) -> str:
    """A value from the data as a summary shows it: one line (control characters as spaces),
    at most ``limit`` characters (the rest cut with an ellipsis)."""
    line = "".join(" " if unicodedata.category(c) in _BREAKS else c for c in value)
    if len(line) > limit:
        return line[: limit - 1] + ELLIPSIS
    return line


def usual_window(day: date, first: date | None, days: int = USUAL_DAYS) -> list[date]:
    """The ``days`` days before ``day`` the usual is read from, none before the monitor's
    ``first`` day."""
    window = [day - timedelta(days=i) for i in range(days, 0, -1)]
    return [d for d in window if first is None or d >= first]
