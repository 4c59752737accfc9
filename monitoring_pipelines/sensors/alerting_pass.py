"""The alerting pass: finished runs' check evaluations in, incidents and deliveries out.

The sensor runs it every tick and ``monitoring alerting run`` runs it on demand; both read
finished runs from the Dagster instance (any storage: it asks for each run's own events) and
share the result store's record of processed runs, so a run is ingested exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
from dagster._core.execution.backfill import BulkActionStatus

from monitoring_pipelines.core.alerting.delivery import (
    DeliveryPolicy,
    DeliveryReport,
    PagerDutyRoutes,
    deliver,
)
from monitoring_pipelines.core.alerting.followups import release_summaries, remind
from monitoring_pipelines.core.alerting.ingest import AlertContext, IngestReport, ingest_runs
from monitoring_pipelines.core.alerting.model import DeliveryStatus, Evaluation, Target
from monitoring_pipelines.core.alerting.store import AlertRepository
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
CLI_BACKFILL_TAG = "monitoring/backfill"  # runs of `monitoring backfill`
# A Dagster backfill in any other status (requested, failing, canceling) may still launch runs.
BACKFILL_OVER = frozenset(
    {
        BulkActionStatus.COMPLETED,
        BulkActionStatus.COMPLETED_SUCCESS,
        BulkActionStatus.COMPLETED_FAILED,
        BulkActionStatus.FAILED,
        BulkActionStatus.CANCELED,
    }
)


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
            f"undeliverable {len(d.undeliverable)}, waiting {d.waiting}"
            + (f" ({len(d.deferred)} held back: {'; '.join(d.stopped)})" if d.stopped else "")
        )


def run_alerting(
    instance: dg.DagsterInstance,
    store: AlertRepository,
    alerts: Mapping[str, AlertsConfig],
    dagster_url: str,
    notifier: Notifier | None,
    now: datetime | None = None,
    batch: int = 500,
    *,
    pagerduty: PagerDutyRoutes | None = None,
    policy: DeliveryPolicy | None = None,
    web_url: str | None = None,
) -> AlertingReport:
    """Ingest every finished run not yet processed, add reminders and the summaries of
    finished backfills, then deliver what is due (within ``policy``'s time budget)."""
    now = now or datetime.now(UTC)
    report = AlertingReport()
    context = AlertContext(alerts=alerts, dagster_url=dagster_url, now=now, web_url=web_url)
    for runs in _new_runs(instance, store, alerts, batch, report):
        ingest_runs(store, runs, context, report.ingest)
    release_summaries(store, lambda backfill: backfill_finished(instance, store, backfill), now)
    remind(store, alerts, dagster_url, now, web_url)
    report.delivery = deliver(
        store, notifier, now, policy, pagerduty=pagerduty, page_limits=page_limits(alerts)
    )
    return report


def replay_alerting(
    instance: dg.DagsterInstance,
    store: AlertRepository,
    alerts: Mapping[str, AlertsConfig],
    dagster_url: str,
    notifier: Notifier | None,
    *,
    pagerduty: PagerDutyRoutes | None = None,
    hour: int = 1,
    web_url: str | None = None,
) -> AlertingReport:
    """The alerting pass as if each new partition had been run live on the next morning.

    Runs not yet processed are ingested one partition (day) at a time, in order, with the
    clock at ``hour`` UTC of the following day, and what is due is delivered then, as the
    daily schedule would have done. Backfill tags are ignored. The demo uses it to show the
    messages its history would have produced; its days are not cut short by a time budget.
    """
    report = AlertingReport()
    fresh: list[tuple[str, list[Evaluation]]] = []
    for runs in _new_runs(instance, store, alerts, 10_000, report):
        fresh += [(run_id, [replace(e, backfill_id=None) for e in evs]) for run_id, evs in runs]
    by_day: dict[str, list[tuple[str, list[Evaluation]]]] = {}
    for run_id, evaluations in fresh:
        days = {e.partition for e in evaluations if e.partition}
        by_day.setdefault(min(days) if days else "", []).append((run_id, evaluations))
    limits = page_limits(alerts)
    unbounded = DeliveryPolicy(pass_budget_s=None)
    for day in sorted(by_day):
        clock = _morning_after(day, hour) if day else datetime.now(UTC)
        context = AlertContext(alerts=alerts, dagster_url=dagster_url, now=clock, web_url=web_url)
        ingest_runs(store, by_day[day], context, report.ingest)
        remind(store, alerts, dagster_url, clock, web_url)
        delivered = deliver(
            store, notifier, clock, unbounded, pagerduty=pagerduty, page_limits=limits
        )
        report.delivery.absorb(delivered)
    return report


def _new_runs(
    instance: dg.DagsterInstance,
    store: AlertRepository,
    alerts: Mapping[str, AlertsConfig],
    batch: int,
    report: AlertingReport,
) -> Iterator[list[tuple[str, list[Evaluation]]]]:
    """Batches of finished runs not processed yet, with their evaluations; moves the cursor."""
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
        yield runs
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


def notifier_problems(store: AlertRepository) -> list[str]:
    """One line per notifier whose last delivery attempt failed, and about given-up alerts."""
    problems = []
    for target in Target:
        health = store.delivery_health(target)
        if health.failing_since:
            problems.append(
                f"{target.value} delivery failing since {health.failing_since[:16]} UTC "
                f"({health.failures} failed attempt(s); last error: {health.error})"
            )
    failed = len(store.alerts([DeliveryStatus.FAILED]))
    if failed:
        problems.append(
            f"{failed} alert(s) failed for good: `monitoring alerts --status failed`, "
            "`monitoring alerts retry`"
        )
    return problems


def page_limits(alerts: Mapping[str, AlertsConfig]) -> dict[str, int | None]:
    return {monitor: config.max_pages_per_day for monitor, config in alerts.items()}


def backfill_finished(
    instance: dg.DagsterInstance, store: AlertRepository, backfill_id: str
) -> bool | None:
    """Whether a backfill is over: a Dagster backfill by its status, one of ``monitoring
    backfill`` by the mark it leaves when done; None when neither knows it."""
    if store.get_cursor(f"backfill:{backfill_id}") == "finished":
        return True
    try:
        found = instance.get_backfill(backfill_id)
    except Exception:  # an instance without backfill storage: decide by quiet time
        return None
    if found is None:
        return None
    return found.status in BACKFILL_OVER


def mark_backfill_finished(store: AlertRepository, backfill_id: str) -> None:
    with store.transaction() as conn:
        store.set_cursor(conn, f"backfill:{backfill_id}", "finished")


def _morning_after(day: str, hour: int) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(days=1, hours=hour)


def evaluations_of(
    instance: dg.DagsterInstance, run: dg.DagsterRun, monitors: set[str]
) -> list[Evaluation]:
    """The run's check evaluations, plus a ``run_failure`` verdict per asset step."""
    partition = run.tags.get(PARTITION_TAG, "")
    # A `monitoring backfill` makes one Dagster backfill per job: its own id groups them all.
    backfill = run.tags.get(CLI_BACKFILL_TAG) or run.tags.get(BACKFILL_TAG)
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
            failed = event.event_type is dg.DagsterEventType.STEP_FAILURE
            for path, summary in _step_outcomes(event, failed):
                if path[0] not in monitors:
                    continue
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


def _step_outcomes(event: dg.DagsterEvent, failed: bool) -> list[tuple[Sequence[str], str]]:
    """The assets a materialization or a step failure is about, each with its summary: a
    step of several assets names each one that failed."""
    from monitoring_pipelines.run_failures import failed_assets

    if failed:
        named = failed_assets(event)
        if named:
            return [(asset.split("/"), why) for asset, why in named.items()]
    path = _asset_path(event)
    if path is None:
        return []
    return [(path, _failure_message(event) if failed else "materialized")]


def _findings(data: Any) -> tuple[Finding, ...]:
    raw = data.metadata.get("findings")
    value = getattr(raw, "value", None)
    if isinstance(value, str):
        value = json.loads(value)
    if isinstance(value, list):
        # Our checks always list their findings; none means "not evaluated" (too few rows,
        # labels not arrived): the day neither fails nor counts as a passing day.
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
    # The asset's Failure, or the fault under Dagster's "Error occurred while executing op".
    from monitoring_pipelines.run_failures import step_failure_text

    return step_failure_text(event)


def _utc(stamp: datetime) -> datetime:
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp
