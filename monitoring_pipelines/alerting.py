"""The alerting pass: finished runs' check evaluations in, incidents and deliveries out.

The sensor runs it every tick and ``monitoring alerting run`` runs it on demand; both read
finished runs from the Dagster instance (any storage: it asks for each run's own events) and
share the result store's record of processed runs, so a run is ingested exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from monitoring_pipelines.core.alerting.delivery import DeliveryReport, deliver
from monitoring_pipelines.core.alerting.ingest import AlertContext, IngestReport, ingest_runs
from monitoring_pipelines.core.alerting.model import Evaluation
from monitoring_pipelines.core.alerting.store import AlertStore
from monitoring_pipelines.core.checks import WHOLE, Finding, findings_from
from monitoring_pipelines.core.config import AlertsConfig, Severity
from monitoring_pipelines.core.notify.base import Notifier

CURSOR = "dagster_finished_runs"
# Runs finishing close together may commit out of order; look back this far past the cursor.
OVERLAP = timedelta(minutes=5)
FINISHED = [
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
]
PARTITION_TAG = "dagster/partition"
BACKFILL_TAG = "dagster/backfill"


@dataclass
class AlertingReport:
    """What one alerting pass did."""

    ingest: IngestReport = field(default_factory=IngestReport)
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    cursor: str | None = None
    checked: set[tuple[str, str]] = field(default_factory=set)
    """(monitor, partition) pairs whose checks were just recorded (reports are rerun for them)."""

    def summary(self) -> str:
        i, d = self.ingest, self.delivery
        return (
            f"{i.runs} run(s) ingested ({i.evaluations} evaluations), "
            f"incidents opened {len(i.opened)}, updated {len(i.updated)}, "
            f"resolved {len(i.resolved)}; alerts stored {i.alerts_stored}, sent {len(d.sent)}, "
            f"recovered {len(d.recovered)}, retrying {len(d.retrying)}, failed {len(d.failed)}, "
            f"waiting {d.waiting}"
        )


def run_alerting(
    instance: dg.DagsterInstance,
    store: AlertStore,
    alerts: Mapping[str, AlertsConfig],
    dagster_url: str,
    notifier: Notifier | None,
    now: datetime | None = None,
    batch: int = 500,
) -> AlertingReport:
    """Ingest every finished run not yet processed, then deliver what is due."""
    now = now or datetime.now(UTC)
    report = AlertingReport()
    context = AlertContext(alerts=alerts, dagster_url=dagster_url, now=now)
    cursor = store.get_cursor(CURSOR)
    after = datetime.fromisoformat(cursor) - OVERLAP if cursor else None
    while True:
        records = instance.get_run_records(
            filters=dg.RunsFilter(statuses=FINISHED, updated_after=after),
            order_by="update_timestamp",
            ascending=True,
            limit=batch,
        )
        fresh = [r.dagster_run for r in records if not store.is_processed(r.dagster_run.run_id)]
        runs = [(run.run_id, evaluations_of(instance, run, set(alerts))) for run in fresh]
        ingest_runs(store, runs, context, report.ingest)
        report.checked |= {
            (e.monitor, e.partition)
            for _, evaluations in runs
            for e in evaluations
            if e.check != "run_failure" and e.partition
        }
        if records:
            stamp = _utc(records[-1].update_timestamp).isoformat()
            with store.transaction() as conn:
                store.set_cursor(conn, CURSOR, stamp)
            report.cursor = stamp
        if len(records) < batch:
            break
        after = _utc(records[-1].update_timestamp)
    report.delivery = deliver(store, notifier, now)
    return report


def evaluations_of(
    instance: dg.DagsterInstance, run: dg.DagsterRun, monitors: set[str]
) -> list[Evaluation]:
    """The run's check evaluations, plus a ``run_failure`` verdict per asset step."""
    partition = run.tags.get(PARTITION_TAG, "")
    backfill = run.tags.get(BACKFILL_TAG)
    out: list[Evaluation] = []
    connection = instance.get_records_for_run(
        run.run_id,
        of_type={
            dg.DagsterEventType.ASSET_CHECK_EVALUATION,
            dg.DagsterEventType.ASSET_MATERIALIZATION,
            dg.DagsterEventType.STEP_FAILURE,
        },
    )
    for record in connection.records:
        entry = record.event_log_entry
        event = entry.dagster_event
        if event is None:
            continue
        at = datetime.fromtimestamp(entry.timestamp, UTC)
        data = event.event_specific_data
        if event.event_type is dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            key = data.asset_key  # type: ignore[union-attr]
            if key.path[0] not in monitors:
                continue
            out.append(
                Evaluation(
                    run_id=run.run_id,
                    monitor=key.path[0],
                    asset="/".join(key.path),
                    check=data.check_name,  # type: ignore[union-attr]
                    partition=data.partition or partition,  # type: ignore[union-attr]
                    findings=_findings(data),
                    evaluated_at=at,
                    backfill_id=backfill,
                )
            )
        else:
            path = _asset_path(event)
            if path is None or path[0] not in monitors:
                continue
            failed = event.event_type is dg.DagsterEventType.STEP_FAILURE
            summary = _failure_message(event) if failed else "materialized"
            out.append(
                Evaluation(
                    run_id=run.run_id,
                    monitor=path[0],
                    asset="/".join(path),
                    check="run_failure",
                    partition=(event.partition or partition) if not failed else partition,
                    findings=(
                        Finding(path[-1], not failed, Severity.CRITICAL, None, None, summary),
                    ),
                    evaluated_at=at,
                    backfill_id=backfill,
                )
            )
    return out


def _findings(data: Any) -> tuple[Finding, ...]:
    raw = data.metadata.get("findings")
    value = getattr(raw, "value", None)
    if isinstance(value, str):
        value = json.loads(value)
    if isinstance(value, list) and value:
        return findings_from(value)
    passed = bool(data.passed)
    severity = Severity.CRITICAL if str(data.severity.value) == "ERROR" else Severity.WARN
    summary_value = getattr(data.metadata.get("summary"), "value", None) or data.description
    return (Finding(WHOLE, passed, severity, None, None, str(summary_value or data.check_name)),)


def _asset_path(event: dg.DagsterEvent) -> Sequence[str] | None:
    if event.asset_key is not None:
        return list(event.asset_key.path)
    step = event.step_key or ""
    if "__" in step:
        return step.split("__")
    return None


def _failure_message(event: dg.DagsterEvent) -> str:
    data = event.step_failure_data
    if data is None or data.error is None:
        return "step failed"
    user = data.user_failure_data
    if user is not None and user.description:
        return user.description.splitlines()[0][:500]
    return (data.error.message or "step failed").strip().splitlines()[0][:500]


def _utc(stamp: datetime) -> datetime:
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp
