"""The days an incident failed on: the days whose daily report a person following the
incident will open, so the alerting pass's callers render them."""

from __future__ import annotations

from collections.abc import Iterable

from monitoring_pipelines.core.alerting.model import IngestReport
from monitoring_pipelines.core.alerting.store import AlertRepository


def touched_incidents(report: IngestReport) -> list[int]:
    """The incidents an ingestion opened, joined to a problem, updated or resolved."""
    return sorted({*report.opened, *report.joined, *report.updated, *report.resolved})


def incident_days(store: AlertRepository, incident_ids: Iterable[int]) -> set[tuple[str, str]]:
    """``(monitor, day)`` of every daily partition on which one of the incidents' check
    failed, from its first partition to its last failing one.

    Windows (``D/7d``) and unpartitioned results (``reference``) are left out: they have no
    daily report.
    """
    out: set[tuple[str, str]] = set()
    for incident_id in sorted(set(incident_ids)):
        incident = store.get_incident(incident_id)
        if incident is None:
            continue
        with store.transaction() as conn:
            points = store.timeline(conn, incident.monitor, incident.check, incident.subject)
        out |= {
            (incident.monitor, partition)
            for partition, point in points.items()
            if not point.passed
            and _is_day(partition)
            and incident.first_partition <= partition <= incident.last_failing_partition
        }
    return out


def _is_day(partition: str) -> bool:
    """An ISO day (``2026-01-31``), not a window or the reference."""
    return len(partition) == 10 and partition[4] == "-" and partition[7] == "-"


def days_to_report(
    store: AlertRepository, report: IngestReport, checked: Iterable[tuple[str, str]]
) -> set[tuple[str, str]]:
    """The incident days an ingestion calls for a report of: every failing day of the
    incidents it opened (their first days were checked before they opened), and the newly
    checked failing days of the incidents it updated or resolved."""
    new = incident_days(store, [*report.opened, *report.joined])
    touched = incident_days(store, [*report.updated, *report.resolved])
    return new | (touched & set(checked))
