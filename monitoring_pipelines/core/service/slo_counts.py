"""Reading the stored daily SLO counts of a window (written with the service metrics)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.service.slo import (
    BAD,
    EVENTS,
    THRESHOLD,
    Sli,
    SloCounts,
    counts_from_rows,
)
from monitoring_pipelines.core.store import tables as t
from monitoring_pipelines.core.store.results import ResultRepository


def load_slo_counts(
    store: ResultRepository, monitor: str, first: date, last: date
) -> dict[Sli, dict[date, SloCounts]]:
    """Per objective, the counts of each day from ``first`` to ``last`` that has them."""
    c = t.metrics.c
    query = select(c.partition_key, c.name, c.dimensions, c.value).where(
        c.monitor == monitor,
        c.asset == Asset.SERVICE_METRICS,
        c.partition_key >= first.isoformat(),
        c.partition_key <= last.isoformat(),
        c.partition_key.not_like("%/%"),
        c.name.in_([EVENTS, BAD, THRESHOLD]),
    )
    rows: dict[str, list[tuple[str, str, float | None]]] = {}
    with store.transaction() as conn:
        for row in conn.execute(query):
            rows.setdefault(row.partition_key, []).append((row.name, row.dimensions, row.value))
    out: dict[Sli, dict[date, SloCounts]] = {}
    for partition, day_rows in rows.items():
        for sli, counts in counts_from_rows(day_rows).items():
            out.setdefault(sli, {})[date.fromisoformat(partition)] = counts
    return out
