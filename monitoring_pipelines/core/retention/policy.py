"""The cutoff of each kind of data: days before it are pruned, the cutoff day and later kept."""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

from monitoring_pipelines.core.config import RetentionConfig


class DataKind(StrEnum):
    """A kind of data that retention prunes, named like its ``retention`` key."""

    SLICES = "slices"
    PROFILES = "profiles"
    COLUMN_RESULTS = "column_results"
    RESOLVED_INCIDENTS = "resolved_incidents"
    REPORTS = "reports"

    @property
    def key(self) -> str:
        """The ``retention`` key that sets how many days of it are kept."""
        return f"{self.value}_days"


FILE_KINDS = (DataKind.SLICES, DataKind.REPORTS)


def cutoffs(retention: RetentionConfig, today: date) -> dict[DataKind, date]:
    """The first day kept of each kind: ``today`` minus its ``retention`` days.

    A day is kept when it is on or after its kind's cutoff; a resolved incident is kept when it
    resolved (its ``resolved_partition``) on or after the cutoff. With ``profiles_days: 28``
    and today 2026-03-01, the cutoff is 2026-02-01: the window drift of 2026-02-28 still finds
    its 28 days.

    Args:
        retention: The monitor's ``retention`` keys.
        today: The day pruning runs on (UTC); never read from the clock here.
    """
    return {kind: today - timedelta(days=getattr(retention, kind.key)) for kind in DataKind}


def expired(day: date, cutoff: date) -> bool:
    """Whether a day's data is pruned under ``cutoff``."""
    return day < cutoff
