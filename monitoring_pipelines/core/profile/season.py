"""The reference's rows of one weekday, for drift against a seasonal traffic pattern."""

from __future__ import annotations

from dataclasses import dataclass

from monitoring_pipelines.core.profile.sketch import ColumnSketch


@dataclass(frozen=True)
class Season:
    """The reference's rows of one weekday, sketched over the whole reference's bins.

    Attributes:
        sketches: One per column, named like the whole reference's.
        rows: Reference rows logged on this weekday.
        days: Distinct dates of this weekday in the reference.
    """

    sketches: tuple[ColumnSketch, ...]
    rows: int
    days: int
