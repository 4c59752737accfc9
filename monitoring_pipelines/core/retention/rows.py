"""Deleting a monitor's rows older than a cutoff, a bounded batch per transaction.

A batch holds whole units: the days of a kind with their rows in every table of that kind, or
resolved incidents with their alerts. An error rolls back the batch in progress, so nothing is
ever half-deleted, and a rerun takes up where it stopped. Open incidents, the alerts still to be
sent, the reference and the per-day numbers (``metrics``, ``check_results``) are never touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import ColumnElement, Connection, Table, and_, delete, exists, func, not_, select
from sqlalchemy.orm import aliased

from monitoring_pipelines.core.alerting.model import DeliveryStatus, IncidentStatus
from monitoring_pipelines.core.retention.policy import DataKind
from monitoring_pipelines.core.store import tables as t
from monitoring_pipelines.core.store.database import Repository
from monitoring_pipelines.core.store.results import REFERENCE

BATCH = 200  # days or incidents per transaction: short locks on a busy store

TABLES: dict[DataKind, tuple[Table, ...]] = {
    DataKind.PROFILES: (t.profiles, t.column_sketches),
    DataKind.COLUMN_RESULTS: (t.drift_results, t.slice_quality),
}
# Alerts on their way out keep their incident until they are sent or given up.
UNSENT = (DeliveryStatus.HELD, DeliveryStatus.PENDING, DeliveryStatus.SENDING)


class RetentionRepository(Repository):
    """Counts and deletes the rows retention prunes, one monitor at a time."""

    def prune_days(
        self, monitor: str, kind: DataKind, cutoff: date, *, dry_run: bool = False
    ) -> int:
        """Delete the monitor's rows of ``kind`` on days (and windows ending on days) before
        ``cutoff``; returns the rows deleted, or that would be with ``dry_run``."""
        tables = TABLES[kind]
        if dry_run:
            with self.transaction() as conn:
                counts = [
                    conn.execute(
                        select(func.count()).where(_old_days(table, monitor, cutoff))
                    ).scalar_one()
                    for table in tables
                ]
                return int(sum(counts))
        deleted = 0
        while True:
            with self.transaction() as conn:
                keys = _old_partition_keys(conn, tables, monitor, cutoff)
                if not keys:
                    return deleted
                for table in tables:
                    c = table.c
                    result = conn.execute(
                        delete(table).where(c.monitor == monitor, c.partition_key.in_(keys))
                    )
                    deleted += result.rowcount

    def prune_resolved_incidents(
        self, monitor: str, cutoff: date, *, dry_run: bool = False
    ) -> tuple[int, int]:
        """Delete the monitor's incidents resolved before ``cutoff`` and their alerts; returns
        (incidents, alerts) deleted, or that would be with ``dry_run``.

        An incident stays while an incident of its episode (``parent_id``) stays, or while one
        of its alerts is still to be sent.
        """
        incidents, alerts = 0, 0
        while True:
            with self.transaction() as conn:
                ids = _expired_incidents(conn, monitor, cutoff, None if dry_run else BATCH)
                if not ids:
                    return incidents, alerts
                if dry_run:
                    count = select(func.count()).where(t.alerts.c.incident_id.in_(ids))
                    return len(ids), conn.execute(count).scalar_one()
                alerts += conn.execute(
                    delete(t.alerts).where(t.alerts.c.incident_id.in_(ids))
                ).rowcount
                incidents += conn.execute(
                    delete(t.incidents).where(t.incidents.c.id.in_(ids))
                ).rowcount


def _old_days(table: Table, monitor: str, cutoff: date) -> ColumnElement[bool]:
    """Rows of days before ``cutoff``: a day ``2026-01-31`` and a window ``2026-01-31/28d``
    both sort before ``2026-02-01``; the reference never counts as a day."""
    c = table.c
    return and_(
        c.monitor == monitor,
        c.partition_key < cutoff.isoformat(),
        c.partition_key != REFERENCE,
    )


def _old_partition_keys(
    conn: Connection, tables: Sequence[Table], monitor: str, cutoff: date
) -> list[str]:
    """Up to ``BATCH`` partition keys before ``cutoff`` that some of ``tables`` still hold."""
    keys: set[str] = set()
    for table in tables:
        query = (
            select(table.c.partition_key)
            .where(_old_days(table, monitor, cutoff))
            .distinct()
            .order_by(table.c.partition_key)
            .limit(BATCH)
        )
        keys.update(conn.execute(query).scalars())
    return sorted(keys)[:BATCH]


def _expired_incidents(
    conn: Connection, monitor: str, cutoff: date, limit: int | None
) -> list[int]:
    """Ids of the monitor's incidents that resolved before ``cutoff`` and may go."""
    i = t.incidents.c
    child = aliased(t.incidents)
    old = and_(
        i.monitor == monitor,
        i.status == IncidentStatus.RESOLVED.value,
        i.resolved_partition.is_not(None),
        i.resolved_partition < cutoff.isoformat(),
    )
    unsent_statuses = [s.value for s in UNSENT]
    unsent = exists().where(t.alerts.c.incident_id == i.id, t.alerts.c.status.in_(unsent_statuses))
    child_unsent = exists().where(
        t.alerts.c.incident_id == child.c.id, t.alerts.c.status.in_(unsent_statuses)
    )
    kept_child = exists().where(
        child.c.parent_id == i.id,
        not_(
            and_(
                child.c.status == IncidentStatus.RESOLVED.value,
                child.c.resolved_partition.is_not(None),
                child.c.resolved_partition < cutoff.isoformat(),
                not_(child_unsent),
            )
        ),
    )
    query = select(i.id).where(old, not_(kept_child), not_(unsent)).order_by(i.id)
    if limit is not None:
        query = query.limit(limit)
    return list(conn.execute(query).scalars())
