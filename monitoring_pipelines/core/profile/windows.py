"""Windows of days: merged from the stored daily sketches and profiles, never from raw rows.

A window ending on day D covers the ``length`` days up to and including D. Counts, bin sums and
moments add up and bottom-k samples merge exactly, so a window's drift is the drift of its days
together, however long the window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from monitoring_pipelines.core.profile.sketch import ColumnSketch, same_bins

WINDOWS = (7, 28)


@dataclass(frozen=True)
class Window:
    """The days of a window and how many of them have data."""

    end: date
    length: int

    @property
    def start(self) -> date:
        return self.end - timedelta(days=self.length - 1)

    @property
    def key(self) -> str:
        """Partition key of the window's stored results, e.g. ``2026-09-30/28d``."""
        return f"{self.end.isoformat()}/{self.length}d"

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.length)]


def binned_like(day: Mapping[str, ColumnSketch], reference: Mapping[str, ColumnSketch]) -> bool:
    """Whether a day was profiled over the bins of ``reference``: a day profiled before the
    reference was refitted (its bins moved) cannot join a window measured against it."""
    return all(same_bins(s, reference[c]) for c, s in day.items() if c in reference)


def merge_days(
    days: Sequence[Mapping[str, ColumnSketch]], sample_size: int
) -> dict[str, ColumnSketch]:
    """One sketch per column over all the given days (a column missing on a day is skipped)."""
    merged: dict[str, ColumnSketch] = {}
    for day in days:
        for column, sketch in day.items():
            merged[column] = (
                merged[column].merge(sketch, sample_size) if column in merged else sketch
            )
    return merged
