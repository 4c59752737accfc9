"""Latency and errors per group of requests: per dimension value and per hour of the day.

Percentiles are exact (the arithmetic of ``np.percentile``); a dimension keeps its largest
values, the rest folded into ``(other)`` and a missing value shown as ``(missing)``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from monitoring_pipelines.core.dimensions import MAX_CHARS, dimensions, fit

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]

OTHER, MISSING = "(other)", "(missing)"
MAX_DIMENSION_VALUES = 20
DIMENSIONS_MAX_CHARS = MAX_CHARS  # the result store's dimensions column
LABEL_MAX_CHARS = 48
HOURS = 24
_UNSAFE = re.compile(r"[^A-Za-z0-9_.:/()+-]")


@dataclass(frozen=True)
class GroupMetrics:
    """Latency and errors of the requests of one group.

    Attributes:
        column: The dimension column, or ``hour``.
        value: The value as stored (verbatim; ``(other)``, ``(missing)``, ``07`` for hours).
        requests: Rows of the group.
        latency_rows: Rows with a usable latency.
        p50_ms: Exact median (None without usable latencies); p95_ms, p99_ms likewise.
        errors: Rows whose status is an error.
        status_rows: Rows with a known status.
        error_rate: errors / status_rows (None without a known status).
        slo_percentile_ms: The percentile the latency SLO names, when one is configured.
    """

    column: str
    value: str
    requests: int
    latency_rows: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    errors: int
    status_rows: int
    error_rate: float | None
    slo_percentile_ms: float | None = None

    @property
    def label(self) -> str:
        """``model_version=v2``, the value sanitised for a metric name."""
        return f"{self.column}={metric_label(self.value)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "value": self.value,
            "requests": self.requests,
            "latency_rows": self.latency_rows,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "errors": self.errors,
            "status_rows": self.status_rows,
            "error_rate": self.error_rate,
            "slo_percentile_ms": self.slo_percentile_ms,
        }


@dataclass(frozen=True)
class Folding:
    """How a dimension column's values were grouped.

    Attributes:
        column: The column.
        distinct: Distinct values seen (missing not counted).
        folded_values: Values folded into ``(other)``.
        folded_rows: Their rows.
        missing_rows: Rows without a value.
        renamed: Values whose metric label differs from the value (odd characters, length).
        shortened: Values shortened to fit the stored dimensions.
    """

    column: str
    distinct: int
    folded_values: int
    folded_rows: int
    missing_rows: int
    renamed: int
    shortened: int


@dataclass(frozen=True)
class Grouping:
    """Each row's group (codes) and the groups' stored values."""

    codes: npt.NDArray[np.int64]
    values: tuple[str, ...]


def fold_values(
    column: str, values: npt.NDArray[Any], limit: int = MAX_DIMENSION_VALUES
) -> tuple[Grouping, Folding]:
    """Codes of the ``limit`` largest values of a column (ties by text), the rest folded."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
    texts = [_text(u) for u in uniques]
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    ranked = sorted(range(len(uniques)), key=lambda k: (-int(counts[k]), texts[k]))
    kept, folded = ranked[:limit], ranked[limit:]
    labels = [texts[k] for k in kept]
    lookup = np.full(len(uniques) + 1, -1, dtype=np.int64)  # the last slot: missing values
    lookup[kept] = np.arange(len(kept))
    if folded:
        lookup[folded] = len(labels)
        labels.append(OTHER)
    missing_rows = int((codes < 0).sum())
    if missing_rows:
        lookup[-1] = len(labels)
        labels.append(MISSING)
    stored = [stored_value(column, v) for v in labels]
    folding = Folding(
        column=column,
        distinct=len(uniques),
        folded_values=len(folded),
        folded_rows=int(counts[folded].sum()) if folded else 0,
        missing_rows=missing_rows,
        renamed=sum(metric_label(v) != v for v in labels if v not in (OTHER, MISSING)),
        shortened=sum(s != v for s, v in zip(stored, labels, strict=True)),
    )
    return Grouping(lookup[codes], tuple(stored)), folding


def hour_grouping(hours: npt.NDArray[np.integer[Any]]) -> Grouping:
    """The 24 hours of the day (UTC) as groups ``00`` to ``23``."""
    return Grouping(np.asarray(hours, dtype=np.int64), tuple(f"{h:02d}" for h in range(HOURS)))


def group_metrics(
    column: str,
    grouping: Grouping,
    usable_rows: IntArray,
    sorted_latency: FloatArray,
    is_error: BoolArray | None,
    known_status: BoolArray | None,
    slo_percentile: float | None = None,
) -> list[GroupMetrics]:
    """Metrics of every group of ``grouping``.

    Args:
        column: The dimension column (or ``hour``).
        grouping: Each row's group.
        usable_rows: Positions of the rows with a usable latency, in latency order.
        sorted_latency: Their latencies, ascending.
        is_error: Per row, whether its status is an error (None without a status column).
        known_status: Per row, whether it has a known status.
        slo_percentile: The percentile the latency SLO names (also computed per group).
    """
    k = len(grouping.values)
    codes = grouping.codes
    requests = np.bincount(codes, minlength=k)
    errors = np.zeros(k, dtype=np.int64)
    status_rows = np.zeros(k, dtype=np.int64)
    if is_error is not None and known_status is not None:
        errors = np.bincount(codes[is_error], minlength=k)
        status_rows = np.bincount(codes[known_status], minlength=k)
    latency_codes = codes[usable_rows]
    order = np.argsort(latency_codes.astype(np.int16 if k < 2**15 else np.int64), kind="stable")
    grouped = sorted_latency[order]
    counts = np.bincount(latency_codes, minlength=k)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    p50, p95, p99 = (sorted_percentiles(grouped, starts, counts, q) for q in (50.0, 95.0, 99.0))
    slo = (
        None
        if slo_percentile is None
        else sorted_percentiles(grouped, starts, counts, slo_percentile)
    )
    out = []
    for g in range(k):
        with_latency = int(counts[g]) > 0
        out.append(
            GroupMetrics(
                column=column,
                value=grouping.values[g],
                requests=int(requests[g]),
                latency_rows=int(counts[g]),
                p50_ms=float(p50[g]) if with_latency else None,
                p95_ms=float(p95[g]) if with_latency else None,
                p99_ms=float(p99[g]) if with_latency else None,
                errors=int(errors[g]),
                status_rows=int(status_rows[g]),
                error_rate=int(errors[g]) / int(status_rows[g]) if status_rows[g] else None,
                slo_percentile_ms=float(slo[g]) if slo is not None and with_latency else None,
            )
        )
    return out


def sorted_percentiles(
    values: FloatArray, starts: npt.NDArray[Any], counts: npt.NDArray[Any], q: float
) -> FloatArray:
    """The ``q``-th percentile of each sorted segment ``values[start:start + count]``, with
    ``np.percentile``'s linear interpolation and rounding; NaN for an empty segment."""
    counts = np.asarray(counts, dtype=np.int64)
    starts = np.asarray(starts, dtype=np.int64)
    out = np.full(len(counts), np.nan)
    has = counts > 0
    if not has.any():
        return out
    virtual = (counts[has] - 1) * np.true_divide(q, 100)
    below = np.floor(virtual)
    above = np.minimum(below + 1, counts[has] - 1)
    gamma = virtual - below
    a = values[starts[has] + below.astype(np.int64)]
    b = values[starts[has] + above.astype(np.int64)]
    diff = b - a
    # numpy's _lerp: from below for gamma < 0.5, from above otherwise
    out[has] = np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma)
    return out


def metric_label(value: str) -> str:
    """``value`` as a metric-name part: letters, digits and ``_.:/()+-``, at most 48 long; a
    changed value gets a hash of the original, so two values never share a label."""
    safe = _UNSAFE.sub("_", value)[:LABEL_MAX_CHARS]
    if safe == value:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{safe[: LABEL_MAX_CHARS - 9]}~{digest}"


def stored_value(column: str, value: str) -> str:
    """``value`` as ``{column: value}`` stores it: verbatim when that fits the stored dimensions,
    else shortened by the dimensions codec (its longest prefix that fits, then ``…#<hash>``)."""
    return fit({column: value})[column]


def group_rows(groups: Sequence[GroupMetrics]) -> dict[tuple[str, str], float | None]:
    """Result-store rows of the groups, dimensioned by ``{column: value}``."""
    rows: dict[tuple[str, str], float | None] = {}
    for g in groups:
        dims = dimensions(**{g.column: g.value})
        for name in ("requests", "latency_rows", "errors", "status_rows"):
            rows[(name, dims)] = float(getattr(g, name))
        for name in ("p50_ms", "p95_ms", "p99_ms", "error_rate"):
            rows[(name, dims)] = getattr(g, name)
        if g.slo_percentile_ms is not None:
            rows[("slo_percentile_ms", dims)] = g.slo_percentile_ms
    return rows


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
