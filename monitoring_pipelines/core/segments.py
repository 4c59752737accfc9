"""Segment naming: the sketch of a column within one segment value, and back.

Shared vocabulary of profiling, drift, performance and alerting, so no stage imports another
for it.
"""

from __future__ import annotations

from monitoring_pipelines.core.dimensions import fit_key


def segment_column(column: str, segment: str, value: str) -> str:
    """Name of a column's sketch within one segment, e.g. ``user_age@model_version=v2``; a
    long segment value is shortened with a hash (:func:`~.dimensions.fit_key`) so the name
    fits the store's key columns."""
    return fit_key(f"{column}@{segment}={value}")


def base_column(name: str) -> str:
    """The column a (possibly per-segment) sketch name is about."""
    return name.split("@", 1)[0]


def segment_label(name: str) -> str | None:
    """The segment of a per-segment sketch name (``model_version=v2``), else None."""
    return name.split("@", 1)[1] if "@" in name else None
