"""From check evaluations to incidents and stored alerts, exactly once per run.

One transaction per run records its evaluations, updates incidents, stores the alerts to send
and marks the run processed. A process that dies half-way commits nothing, and a run that was
processed is never processed again, so restarts neither lose nor duplicate anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC

from monitoring_pipelines.core.alerting.lifecycle import Reconciliation
from monitoring_pipelines.core.alerting.model import AlertContext, Evaluation, IngestReport
from monitoring_pipelines.core.alerting.store import AlertRepository

__all__ = ["AlertContext", "IngestReport", "ingest_run", "ingest_runs"]


def ingest_run(
    store: AlertRepository,
    run_id: str,
    evaluations: Sequence[Evaluation],
    context: AlertContext,
    report: IngestReport | None = None,
) -> IngestReport:
    """Record one finished run's evaluations; a run already processed is skipped."""
    return ingest_runs(store, [(run_id, evaluations)], context, report)


def ingest_runs(
    store: AlertRepository,
    runs: Sequence[tuple[str, Sequence[Evaluation]]],
    context: AlertContext,
    report: IngestReport | None = None,
) -> IngestReport:
    """Record several finished runs in one transaction, in partition order.

    Runs already processed are skipped. Every evaluation recorded reconciles its fingerprints'
    incidents with the episodes of their whole timeline, so a backfill read in one pass, days
    recorded in any order and reruns all reach the incidents of the daily schedule.

    An unpartitioned asset (the reference, the review loop) has no partition: its verdicts are
    recorded on the UTC day they were reached, and a build that succeeds clears the failures
    before it, so a broken reference pages and its rebuild resolves the incident.
    """
    report = report or IngestReport()
    with store.transaction() as conn:
        fresh: list[Evaluation] = []
        for run_id, evaluations in runs:
            if not store.claim_run(conn, run_id, len(evaluations)):
                report.skipped_runs += 1
                continue
            report.runs += 1
            fresh += evaluations
        dated = [(_dated(e), not e.partition) for e in fresh]
        for evaluation, unpartitioned in sorted(
            dated, key=lambda pair: (pair[0].partition, pair[0].asset, pair[0].check)
        ):
            config = context.alerts.get(evaluation.monitor)
            if config is None:
                continue  # a monitor removed from the configuration since the run
            report.evaluations += 1
            store.record_evaluation(conn, evaluation)
            if unpartitioned:
                store.supersede(conn, evaluation)
            for finding in evaluation.findings:
                Reconciliation(store, conn, evaluation, finding, config, context, report).run()
    return report


def _dated(evaluation: Evaluation) -> Evaluation:
    if evaluation.partition:
        return evaluation
    return replace(evaluation, partition=evaluation.evaluated_at.astimezone(UTC).date().isoformat())
