"""The business KPI a hallucination rate is related to, read from the user's warehouse.

The table named by ``llm.kpi`` holds one value per day (for example the day's support tickets).
Several rows of one day are summed (a table of tickets per queue adds up to the day's tickets).
A row whose date or value cannot be read is counted as malformed and left out, never read as 0.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
from sqlalchemy import Engine, MetaData, Table, select
from sqlalchemy.exc import NoSuchTableError, SQLAlchemyError

from monitoring_pipelines.core.config import KpiConfig
from monitoring_pipelines.core.errors import MonitoringError


class KpiSourceError(MonitoringError):
    """The KPI table cannot be read as configured."""


@dataclass(frozen=True)
class KpiSeries:
    """The KPI per day, and how many rows could not be read."""

    values: dict[date, float]
    rows: int
    malformed: int


def read_kpi(engine: Engine, kpi: KpiConfig) -> KpiSeries:
    """Every day of the KPI table, summed per day.

    Raises:
        KpiSourceError: If the table or one of its columns does not exist.
    """
    name = f"{kpi.db_schema}.{kpi.table}" if kpi.db_schema else kpi.table
    try:
        table = Table(kpi.table, MetaData(), autoload_with=engine, schema=kpi.db_schema)
    except NoSuchTableError as exc:
        raise KpiSourceError(f"llm.kpi.table: no table '{name}' in the warehouse") from exc
    except SQLAlchemyError as exc:
        raise KpiSourceError(f"llm.kpi.table: cannot read '{name}': {exc}") from exc
    for role, column in (("date_column", kpi.date_column), ("value_column", kpi.value_column)):
        if column not in table.c:
            found = ", ".join(sorted(table.c.keys()))
            raise KpiSourceError(
                f"llm.kpi.{role}: table '{name}' has no column '{column}' (it has: {found})"
            )
    query = select(table.c[kpi.date_column], table.c[kpi.value_column])
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    totals: dict[date, float] = defaultdict(float)
    malformed = 0
    for raw_day, raw_value in rows:
        day, value = _day(raw_day), _number(raw_value)
        if day is None or value is None:
            malformed += 1
            continue
        totals[day] += value
    return KpiSeries(dict(sorted(totals.items())), len(rows), malformed)


def _day(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            stamp = pd.Timestamp(value)
        except ValueError:
            return None
        return None if pd.isna(stamp) else stamp.date()
    return None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
