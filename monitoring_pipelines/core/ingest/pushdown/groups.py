"""Queries of a pushed-down day's rows per group (per UTC hour, per value of a column): the
largest values of a column, counts per group, and the order statistics of a column per group,
each merged with the day's residual rows so the result is the pull path's.

They are written against a :class:`~.model.DayScan` (the day's regular rows), so any later
stage can ask for its own breakdown through ``PushdownPlan.extra``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Integer, and_, case, cast, desc, func, literal, or_, select
from sqlalchemy.sql.elements import ColumnElement

from monitoring_pipelines.core.ingest.pushdown import sql as sq
from monitoring_pipelines.core.ingest.pushdown.model import (
    GROUP_CAP,
    SEGMENT_MARGIN,
    DayScan,
    PushdownDeclined,
)

FloatArray = npt.NDArray[np.float64]


def hour_key(scan: DayScan) -> ColumnElement[Any]:
    """The UTC hour (0-23) of a regular row's timestamp. A regular text timestamp is a plain
    UTC one (:data:`.sql.PLAIN_TIME`), so its hour is its 12th and 13th characters."""
    ts = scan.timestamp
    if scan.timestamp_kind == "text":
        return cast(func.substr(ts, 12, 2), Integer())
    if scan.timestamp_kind == "aware" and scan.dialect in ("postgresql", "duckdb"):
        return cast(func.extract("hour", func.timezone("UTC", ts)), Integer())
    return cast(func.extract("hour", ts), Integer())


def text_key(scan: DayScan, column: str) -> ColumnElement[Any]:
    """A text column's value as the slice holds it."""
    return sq.as_text(scan.table.c[column], scan.forms, column)


@dataclass(frozen=True)
class RankedValues:
    """A column's values over the whole day (regular and residual rows).

    Attributes:
        counts: The largest values' rows, at least ``keep`` of them where the day has them,
            exactly those that rank first by (rows descending, text).
        distinct: Distinct values (missing not counted).
        present_rows: Rows with a value.
        missing_rows: Rows without one.
    """

    counts: dict[str, int]
    distinct: int
    present_rows: int
    missing_rows: int

    def ranked(self) -> list[str]:
        return sorted(self.counts, key=lambda v: (-self.counts[v], v))


def ranked_values(
    scan: DayScan, column: str, residual: Sequence[str | None], keep: int
) -> RankedValues:
    """The ``keep`` largest values of ``column`` (ties by text), with the residual rows'
    ``residual`` values counted in.

    The warehouse lists its largest values with a margin for the residual rows; where the
    residual rows could still lift an unlisted value past the ``keep``-th, every value within
    reach is listed (at most :data:`.model.GROUP_CAP`)."""
    raw = scan.table.c[column]
    label = text_key(scan, column)
    extra: dict[str, int] = {}
    for value in residual:
        if value is not None:
            extra[value] = extra.get(value, 0) + 1
    most = max(extra.values(), default=0)
    limit = keep + SEGMENT_MARGIN + len(extra)
    rows = func.count()
    query = (
        select(label, rows)
        .where(scan.regular, raw.is_not(None))
        .group_by(label)
        .order_by(desc(rows), label)
        .limit(limit)
    )
    listed = {str(v): int(n) for v, n in scan.execute(query)}
    total = _merged(listed, extra)
    if len(listed) == limit:
        ranked = sorted(total.values(), reverse=True)
        kth = ranked[keep - 1] if len(ranked) >= keep else 0
        last = min(listed.values())
        if kth <= last + most:  # an unlisted value could reach the kept ones
            wider = (
                select(label, rows)
                .where(scan.regular, raw.is_not(None))
                .group_by(label)
                .having(rows >= max(kth - most, 1))
                .limit(GROUP_CAP + 1)
            )
            found = scan.execute(wider)
            if len(found) > GROUP_CAP:
                raise PushdownDeclined(f"more than {GROUP_CAP} values of '{column}' tie")
            listed = {str(v): int(n) for v, n in found}
            total = _merged(listed, extra)
    summary = select(
        func.count(label.distinct()), sq.count_if(raw.is_(None)), sq.count_if(raw.is_not(None))
    ).where(scan.regular)
    distinct, missing, present = scan.execute(summary)[0]
    unlisted = [v for v in extra if v not in listed]
    if unlisted:
        seen = select(label).where(scan.regular, label.in_(unlisted)).group_by(label)
        known = {str(r[0]) for r in scan.execute(seen)}
        distinct = int(distinct or 0) + sum(v not in known for v in unlisted)
    missing_residual = sum(v is None for v in residual)
    return RankedValues(
        counts=total,
        distinct=int(distinct or 0),
        present_rows=int(present or 0) + len(residual) - missing_residual,
        missing_rows=int(missing or 0) + missing_residual,
    )


def _merged(listed: Mapping[str, int], extra: Mapping[str, int]) -> dict[str, int]:
    out = dict(listed)
    for value, n in extra.items():
        out[value] = out.get(value, 0) + n
    return out


def folded_key(
    scan: DayScan, column: str, kept: Sequence[str], other: str, missing: str
) -> ColumnElement[Any]:
    """``column``'s value where it is one of ``kept``; ``other`` for the rest, ``missing``
    where there is none."""
    raw = scan.table.c[column]
    label = text_key(scan, column)
    if not kept:
        return case((raw.is_(None), literal(missing)), else_=literal(other))
    return case(
        (raw.is_(None), literal(missing)),
        (label.in_(list(kept)), label),
        else_=literal(other),
    )


def order_statistics(
    scan: DayScan,
    key: ColumnElement[Any],
    value: ColumnElement[Any],
    fractions: Sequence[float],
    margins: Mapping[Any, int],
) -> dict[Any, tuple[int, dict[int, float]]]:
    """Per group of ``key``: its count of ``value >= 0`` rows and the values at the 0-based
    ranks about ``(count - 1) * f`` for each of ``fractions``, by ``row_number()`` over the
    group's values in order (exact on every dialect). ``margins``: per group, the residual
    values its order statistics are merged with, which can move a rank as far; so at most
    about ``2 * (margin + 3)`` values per group and fraction leave the warehouse, whatever the
    day's size."""
    rank = func.row_number().over(partition_by=key, order_by=value).label("rn")
    size = func.count().over(partition_by=key).label("n")
    inner = (
        select(key.label("k"), value.label("v"), rank, size)
        .where(scan.regular, value >= sq.double(0.0))
        .subquery()
    )
    wide = {k: m for k, m in margins.items() if m}
    margin: Any = literal(0)
    if wide:
        margin = case(*((inner.c.k == k, m) for k, m in wide.items()), else_=0)
    # 1-based ranks, two more either side than the residual rows can move one, which also
    # covers the rounding of (n - 1) * f in the warehouse.
    wanted = [
        and_(
            inner.c.rn >= (inner.c.n - 1) * sq.double(f) - margin - 2,
            inner.c.rn <= (inner.c.n - 1) * sq.double(f) + margin + 3,
        )
        for f in fractions
    ]
    query = select(inner.c.k, inner.c.n, inner.c.rn, inner.c.v).where(or_(*wanted))
    out: dict[Any, tuple[int, dict[int, float]]] = {}
    for k, n, rn, v in scan.execute(query):
        _, stats = out.setdefault(k, (int(n), {}))
        stats[int(rn) - 1] = float(v)
    return out


def merged_percentile(
    q: float, n_sql: int, stats: Mapping[int, float], extra: FloatArray, scale: float
) -> float | None:
    """The ``q``-th percentile (``np.percentile``'s linear interpolation and rounding) of the
    ``n_sql`` warehouse values (``stats`` holds the ranks needed, unscaled) and the sorted
    ``extra`` values (already scaled) together; None when there are none."""
    n = n_sql + extra.size
    if n == 0:
        return None
    virtual = (n - 1) * np.true_divide(q, 100)
    below = int(np.floor(virtual))
    above = min(below + 1, n - 1)
    gamma = float(virtual - below)
    a, b = (_union_rank(k, n_sql, stats, extra, scale) for k in (below, above))
    diff = b - a
    return float(b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma)


def _union_rank(
    k: int, n_sql: int, stats: Mapping[int, float], extra: FloatArray, scale: float
) -> float:
    """The ``k``-th smallest of the warehouse values and ``extra``: the ``k - lo``-th of the
    warehouse ranks ``lo..k`` and ``extra``."""
    lo = max(0, k - extra.size)
    hi = min(k, n_sql - 1)
    window = []
    for r in range(lo, hi + 1):
        if r not in stats:
            raise PushdownDeclined(f"the warehouse returned no value of rank {r} of {n_sql}")
        window.append(stats[r] * scale)
    merged = np.sort(np.concatenate([np.asarray(window, dtype=np.float64), extra]))
    return float(merged[k - lo])
