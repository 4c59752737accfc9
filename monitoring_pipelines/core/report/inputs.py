"""Reads of the result store for the daily report: one day's results and their history.

Functions over a :class:`ResultRepository` rather than methods on it, so the report's queries stay
beside the report. Only daily partitions are read: never the window keys (``D/7d``) nor the
``reference`` partition.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select

from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.dimensions import decode
from monitoring_pipelines.core.hallucination.day import AnswerColumns
from monitoring_pipelines.core.hallucination.governance import (
    HALLUCINATION_STATUSES,
    ReviewPair,
    agreement,
)
from monitoring_pipelines.core.hallucination.review import REVIEWED, ReviewReason, ReviewStatus
from monitoring_pipelines.core.performance.policy import PerformanceSpec
from monitoring_pipelines.core.profile.sketch import ColumnSketch
from monitoring_pipelines.core.report.checks import CheckRow
from monitoring_pipelines.core.report.hallucination import JUDGE_METRIC, ReviewState
from monitoring_pipelines.core.report.page import (
    HISTORY_DAYS,
    DriftRow,
    MetricValues,
    ReportInputs,
    Targets,
    distribution_columns,
    trend_columns,
)
from monitoring_pipelines.core.safety.day import has_output_safety
from monitoring_pipelines.core.store import tables as t
from monitoring_pipelines.core.store.results import ResultRepository


def load_report_inputs(
    store: ResultRepository,
    name: str,
    monitor: MonitorConfig,
    day: date,
    generated_at: datetime,
    assets: Collection[str] | None = None,
    check_specs: Sequence[str] | None = None,
) -> ReportInputs:
    """Everything the report of monitor ``name`` for ``day`` shows.

    Args:
        assets: The monitor's result assets that get a section (``service_metrics``,
            ``token_costs``, ``data_quality``, ``performance``, ``hallucination_rate``,
            ``output_safety``, ``canary_comparison``); by default those its configuration
            implies.
        check_specs: The names of the Dagster checks of the monitor's daily assets, which the
            headline counts; None to count the checks with a recorded result.
    """
    first = (day - timedelta(days=HISTORY_DAYS - 1)).isoformat()
    partition = day.isoformat()
    drift = load_drift_rows(store, name, partition)
    whole = [r for r in drift if r.role != "segment"]
    plotted = distribution_columns(whole)
    expected = frozenset(assets if assets is not None else report_assets(monitor))
    metrics: dict[str, Mapping[date, MetricValues]] = {
        asset: load_daily_metrics(store, name, asset, first, partition)
        for asset in (
            Asset.SERVICE_METRICS,
            Asset.TOKEN_COSTS,
            Asset.HALLUCINATION_RATE,
            Asset.OUTPUT_SAFETY,
        )
        if asset in expected
    }
    for asset in (Asset.DATA_QUALITY, Asset.PERFORMANCE, Asset.CANARY_COMPARISON):
        metrics[asset] = load_daily_metrics(store, name, asset, partition, partition)
    review = None
    if Asset.HALLUCINATION_RATE in expected:
        today = metrics[Asset.HALLUCINATION_RATE].get(day, {})
        review = load_review_state(store, name, day, _judge_of(today))
    spec = (
        PerformanceSpec.for_monitor(monitor)
        if monitor.labels is not None and monitor.prediction is not None
        else None
    )
    service, llm = monitor.service, monitor.llm
    return ReportInputs(
        monitor=name,
        day=day,
        description=monitor.description,
        generated_at=generated_at,
        checks=load_check_rows(store, name, partition),
        drift=drift,
        reference=load_reference_sketches(store, name, plotted),
        current=load_day_sketches(store, name, partition, plotted),
        drift_history=load_drift_history(store, name, trend_columns(whole), first, partition),
        metrics=metrics,
        assets=expected,
        targets=Targets(
            latency_ms=service.slo.latency_ms if service else None,
            latency_percentile=service.slo.latency_percentile if service else 95.0,
            error_rate=service.slo.error_rate if service else None,
            daily_budget_usd=llm.daily_budget_usd if llm else None,
        ),
        check_specs=tuple(check_specs) if check_specs is not None else None,
        performance_kind=spec.kind if spec else None,
        performance_metric=spec.policy.metric_for(spec.kind) if spec else None,
        review=review,
    )


def report_assets(monitor: MonitorConfig) -> list[str]:
    """The result assets a monitor's configuration gives it (as the asset factory builds)."""
    out: list[str] = []
    if monitor.service is not None:
        out.append(Asset.SERVICE_METRICS)
    if monitor.llm is not None:
        out.append(Asset.TOKEN_COSTS)
    if monitor.reference is not None:
        out.append(Asset.DATA_QUALITY)
    if monitor.labels is not None and monitor.prediction is not None:
        out.append(Asset.PERFORMANCE)
    if monitor.llm is not None and AnswerColumns.for_monitor(monitor) is not None:
        out.append(Asset.HALLUCINATION_RATE)
    if has_output_safety(monitor):
        out.append(Asset.OUTPUT_SAFETY)
    if monitor.canary is not None:
        out.append(Asset.CANARY_COMPARISON)
    return out


def load_review_state(
    store: ResultRepository, monitor: str, day: date, judge: tuple[str, str] | None
) -> ReviewState:
    """The review queue's size, the day's queued answers and the judge's agreement with the
    reviewers on every answer reviewed so far (of ``judge``, a judge and prompt version)."""
    c = t.review_queue.c
    mine = c.monitor == monitor
    with store.transaction() as conn:
        pending = conn.execute(
            select(func.count()).where(mine, c.status == ReviewStatus.PENDING.value)
        ).scalar_one()
        statuses = conn.execute(
            select(c.status, func.count())
            .where(mine, c.partition_key == day.isoformat())
            .group_by(c.status)
        ).all()
        reviewed = conn.execute(
            select(c.reason, c.status, c.judge, c.prompt_version).where(
                mine, c.status.in_([s.value for s in REVIEWED])
            )
        ).all()
    pairs = [
        ReviewPair(
            judge_flagged=r.reason == ReviewReason.FLAGGED.value,
            reviewer_hallucination=ReviewStatus(r.status) in HALLUCINATION_STATUSES,
            judge=r.judge,
            prompt_version=r.prompt_version,
        )
        for r in reviewed
    ]
    if judge is not None:
        pairs = [p for p in pairs if (p.judge, p.prompt_version) == judge]
    return ReviewState(
        pending=int(pending),
        day_statuses={str(status): int(n) for status, n in statuses},
        agreement=agreement(pairs),
        judge=f"{judge[0]} / prompt {judge[1]}" if judge else None,
    )


def _judge_of(today: Mapping[tuple[str, str], float | None]) -> tuple[str, str] | None:
    """The judge and prompt version the day's rates were scored by, when stored."""
    for name, dims in today:
        if name == JUDGE_METRIC and dims:
            d = decode(dims)
            return d.get("judge", ""), d.get("prompt_version", "")
    return None


def load_check_rows(store: ResultRepository, monitor: str, partition: str) -> list[CheckRow] | None:
    """The day's check findings, or None when the alerting pass has recorded none yet."""
    c = t.check_results.c
    query = (
        select(c.check_name, c.subject, c.passed, c.severity, c.summary)
        .where(c.monitor == monitor, c.partition_key == partition)
        .order_by(c.check_name, c.subject)
    )
    with store.transaction() as conn:
        rows = conn.execute(query).all()
    if not rows:
        return None
    return [CheckRow(r.check_name, r.subject, bool(r.passed), r.severity, r.summary) for r in rows]


def load_drift_rows(store: ResultRepository, monitor: str, partition: str) -> list[DriftRow]:
    return [
        DriftRow(
            column=r.column,
            role=r.role,
            statistic=r.statistic,
            score=r.score,
            warn=r.warn,
            critical=r.critical,
            p_adjusted=r.p_adjusted,
            rows=r.rows,
            verdict=r.verdict,
            note=r.note,
        )
        for r in store.load_drift(monitor, partition)
    ]


def load_drift_history(
    store: ResultRepository, monitor: str, columns: Sequence[str], first: str, last: str
) -> dict[str, dict[date, float | None]]:
    """Daily drift scores of ``columns`` from ``first`` to ``last`` (ISO days, inclusive)."""
    if not columns:
        return {}
    c = t.drift_results.c
    query = select(c.column_name, c.partition_key, c.score).where(
        c.monitor == monitor,
        c.column_name.in_(list(columns)),
        c.partition_key >= first,
        c.partition_key <= last,
        c.partition_key.not_like("%/%"),
    )
    out: dict[str, dict[date, float | None]] = {column: {} for column in columns}
    with store.transaction() as conn:
        for row in conn.execute(query):
            out[row.column_name][date.fromisoformat(row.partition_key)] = row.score
    return out


def load_daily_metrics(
    store: ResultRepository, monitor: str, asset: str, first: str, last: str
) -> dict[date, MetricValues]:
    """An asset's metrics per day from ``first`` to ``last`` (ISO days, inclusive)."""
    c = t.metrics.c
    query = select(c.partition_key, c.name, c.dimensions, c.value).where(
        c.monitor == monitor,
        c.asset == asset,
        c.partition_key >= first,
        c.partition_key <= last,
        c.partition_key.not_like("%/%"),
    )
    out: dict[date, dict[tuple[str, str], float | None]] = {}
    with store.transaction() as conn:
        for row in conn.execute(query):
            day = date.fromisoformat(row.partition_key)
            out.setdefault(day, {})[(row.name, row.dimensions)] = row.value
    return dict(out)


def load_reference_sketches(
    store: ResultRepository, monitor: str, columns: Sequence[str]
) -> dict[str, ColumnSketch]:
    c = t.reference_sketches.c
    query = select(c.payload).where(c.monitor == monitor, c.column_name.in_(list(columns)))
    return _sketches(store, query) if columns else {}


def load_day_sketches(
    store: ResultRepository, monitor: str, partition: str, columns: Sequence[str]
) -> dict[str, ColumnSketch]:
    c = t.column_sketches.c
    query = select(c.payload).where(
        c.monitor == monitor, c.partition_key == partition, c.column_name.in_(list(columns))
    )
    return _sketches(store, query) if columns else {}


def _sketches(store: ResultRepository, query: Select[Any]) -> dict[str, ColumnSketch]:
    with store.transaction() as conn:
        rows = conn.execute(query).all()
    sketches = [ColumnSketch.from_bytes(r.payload) for r in rows]
    return {s.column: s for s in sketches}
