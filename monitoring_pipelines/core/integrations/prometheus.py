"""The latest daily results as Prometheus metrics, read from the result store on every scrape.

Each gauge holds the value of a monitor's latest daily partition; the day it is of is
``monitoring_partition_timestamp_seconds{monitor, asset}``, never a label. Nothing is cached.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import Engine, and_, func, select
from sqlalchemy.exc import SQLAlchemyError

from monitoring_pipelines.core.alerting.model import DeliveryStatus, IncidentStatus
from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import Severity
from monitoring_pipelines.core.dimensions import decode
from monitoring_pipelines.core.store import tables as t

log = logging.getLogger(__name__)

DAILY = "____-__-__"  # LIKE pattern of a day's partition key: not "reference", not "<day>/28d"


@dataclass(frozen=True)
class Gauge:
    """How one stored metric becomes a Prometheus gauge.

    Attributes:
        asset: The asset that stores it (``metrics.asset``).
        name: Its name in the store (``metrics.name``).
        metric: The Prometheus name.
        help: The HELP text.
        label: The dimension exported as a label; rows with other dimensions are not exported.
        constant: Labels every sample of this row gets (``type="input"``).
    """

    asset: str
    name: str
    metric: str
    help: str
    label: str | None = None
    constant: tuple[tuple[str, str], ...] = ()

    def labels(self) -> list[str]:
        own = [self.label] if self.label else []
        return ["monitor", *own, *(k for k, _ in self.constant)]

    def sample(self, monitor: str, dims: dict[str, str]) -> list[str] | None:
        """Label values of a stored row; None when its dimensions are not this gauge's."""
        if set(dims) != ({self.label} if self.label else set()):
            return None
        own = [dims[self.label]] if self.label else []
        return [monitor, *own, *(v for _, v in self.constant)]


DAY = "in the latest daily partition"
TOKEN_METRIC = "monitoring_llm_tokens"
TOKENS = f"LLM tokens per model and type (input, output) {DAY}"


def _gauges(asset: str, label: str | None, *rows: tuple[str, str, str]) -> tuple[Gauge, ...]:
    return tuple(Gauge(asset, name, metric, f"{text} {DAY}", label) for name, metric, text in rows)


GAUGES = (
    *_gauges(
        "service_metrics",
        None,
        ("p50_ms", "monitoring_latency_p50_milliseconds", "Median latency"),
        ("p95_ms", "monitoring_latency_p95_milliseconds", "95th percentile latency"),
        ("p99_ms", "monitoring_latency_p99_milliseconds", "99th percentile latency"),
        ("error_rate", "monitoring_error_ratio", "Errors per request with a status"),
        ("requests", "monitoring_requests", "Requests"),
        ("errors", "monitoring_errors", "Failed requests"),
    ),
    *_gauges(
        "token_costs",
        "model",
        ("cost_usd", "monitoring_cost_usd", "LLM cost in USD per model (unpriced ones absent)"),
        ("requests", "monitoring_llm_requests", "LLM requests per model"),
    ),
    # One family, as OpenTelemetry's gen_ai.client.token.usage with gen_ai.token.type.
    Gauge("token_costs", "prompt_tokens", TOKEN_METRIC, TOKENS, "model", (("type", "input"),)),
    Gauge("token_costs", "completion_tokens", TOKEN_METRIC, TOKENS, "model", (("type", "output"),)),
    # Output safety: the kind and the quantile are labels of one family each, for dashboards.
    *(
        Gauge(
            "output_safety",
            f"leak_ratio_{kind}",
            "monitoring_output_leak_ratio",
            f"Share of LLM answers leaking PII by kind (email, phone, card, any) {DAY}",
            None,
            (("kind", kind),),
        )
        for kind in ("email", "phone", "card", "any")
    ),
    *_gauges(
        "output_safety",
        None,
        ("refusal_ratio", "monitoring_refusal_ratio", "Share of LLM answers that decline"),
    ),
    *(
        Gauge(
            "output_safety",
            name,
            "monitoring_answer_length_words",
            f"LLM answer length in words at a quantile (0.5, 0.95) {DAY}",
            None,
            (("quantile", quantile),),
        )
        for name, quantile in (("answer_words_p50", "0.5"), ("answer_words_p95", "0.95"))
    ),
    *_gauges(
        "data_quality",
        None,
        ("expectations_failed", "monitoring_expectations_failed", "Failed expectations"),
        ("expectations_evaluated", "monitoring_expectations_evaluated", "Expectations evaluated"),
    ),
    *_gauges(
        "performance",
        None,
        ("accuracy", "monitoring_accuracy_ratio", "Accuracy of the labelled predictions"),
        ("macro_f1", "monitoring_macro_f1_ratio", "Macro-averaged F1"),
        ("auc", "monitoring_auc_ratio", "ROC AUC of the score"),
        ("confidence_auc", "monitoring_confidence_auc_ratio", "AUC of the confidence"),
        ("mae", "monitoring_mae", "Mean absolute error of the score"),
        ("rmse", "monitoring_rmse", "Root mean squared error of the score"),
        ("bias", "monitoring_bias", "Mean error of the score"),
        ("coverage", "monitoring_label_coverage_ratio", "Share of predictions labelled so far"),
        ("delta", "monitoring_performance_delta", "Checked metric minus its reference"),
    ),
    *_gauges(
        "hallucination_rate",
        None,
        (
            "hallucination_rate",
            "monitoring_hallucination_ratio",
            "Share of the judged answers scored under the judge's threshold",
        ),
        ("scored", "monitoring_hallucination_scored_answers", "Answers the judge scored"),
    ),
    *_gauges(
        "performance",
        "class",
        ("precision", "monitoring_class_precision_ratio", "Precision per class"),
        ("recall", "monitoring_class_recall_ratio", "Recall per class"),
    ),
)
ASSETS = tuple(dict.fromkeys(g.asset for g in GAUGES))
GaugeFactory = Callable[[str, str, Sequence[str]], GaugeMetricFamily]


@dataclass(frozen=True)
class Snapshot:
    """What one scrape read: the latest partition's rows of each monitor and asset."""

    # monitor, asset, day, name, dimensions, value
    metrics: list[tuple[str, str, str, str, str, float | None]]
    # monitor, day, column, role, statistic, score, warn, critical, verdict
    drift: list[tuple[str, str, str, str, str, float | None, float, float, str]]
    incidents: list[tuple[str, str, int]]  # monitor, severity, unresolved
    alerts: list[tuple[str, str, int]]  # monitor, status, count


def read_snapshot(engine: Engine) -> Snapshot:
    """Read the latest daily partitions, incident and outbox counts; SQLAlchemyError on failure."""
    m, d, i, a = t.metrics.c, t.drift_results.c, t.incidents.c, t.alerts.c
    latest_m = (
        select(m.monitor, m.asset, func.max(m.partition_key).label("day"))
        .where(m.asset.in_(ASSETS), m.partition_key.like(DAILY))
        .group_by(m.monitor, m.asset)
        .subquery()
    )
    on_m = and_(
        m.monitor == latest_m.c.monitor,
        m.asset == latest_m.c.asset,
        m.partition_key == latest_m.c.day,
    )
    latest_d = (
        select(d.monitor, func.max(d.partition_key).label("day"))
        .where(d.partition_key.like(DAILY))
        .group_by(d.monitor)
        .subquery()
    )
    on_d = and_(d.monitor == latest_d.c.monitor, d.partition_key == latest_d.c.day)
    with engine.connect() as conn:
        metrics = conn.execute(
            select(m.monitor, m.asset, m.partition_key, m.name, m.dimensions, m.value).select_from(
                t.metrics.join(latest_m, on_m)
            )
        ).all()
        drift = conn.execute(
            select(
                d.monitor,
                d.partition_key,
                d.column_name,
                d.role,
                d.statistic,
                d.score,
                d.warn_threshold,
                d.critical_threshold,
                d.verdict,
            ).select_from(t.drift_results.join(latest_d, on_d))
        ).all()
        incidents = conn.execute(
            select(i.monitor, i.severity, func.count())
            .where(i.status != IncidentStatus.RESOLVED.value)
            .group_by(i.monitor, i.severity)
        ).all()
        alerts = conn.execute(
            select(a.monitor, a.status, func.count()).group_by(a.monitor, a.status)
        ).all()
    return Snapshot(
        [tuple(r) for r in metrics],
        [tuple(r) for r in drift],
        [(r[0], r[1], int(r[2])) for r in incidents],
        [(r[0], r[1], int(r[2])) for r in alerts],
    )


def families(snapshot: Snapshot, monitors: Sequence[str] = ()) -> list[Metric]:
    """The gauges of a snapshot. ``monitors`` (the configured ones) get zero incident and
    outbox counts even before they have any, so alert rules see a series, not an absence."""
    out: dict[str, GaugeMetricFamily] = {}

    def gauge(name: str, help_text: str, labels: Sequence[str]) -> GaugeMetricFamily:
        if name not in out:
            out[name] = GaugeMetricFamily(name, help_text, labels=list(labels))
        return out[name]

    days: dict[tuple[str, str], str] = {}
    unpriced: Counter[str] = Counter()
    for monitor, asset, day, name, dims, value in snapshot.metrics:
        days[(monitor, asset)] = day
        parsed = decode(dims)
        if (
            asset == "token_costs"
            and name == "cost_usd"
            and set(parsed) == {"model"}
            and value is None
        ):
            unpriced[monitor] += 1
        for spec in GAUGES:
            labels = (
                spec.sample(monitor, parsed) if (spec.asset, spec.name) == (asset, name) else None
            )
            if labels is not None and value is not None:
                gauge(spec.metric, spec.help, spec.labels()).add_metric(labels, float(value))
    for monitor in {m for m, a in days if a == "token_costs"}:
        gauge(
            "monitoring_llm_unpriced_models",
            f"LLM models without a price {DAY} (their cost is unknown, not zero)",
            ["monitor"],
        ).add_metric([monitor], float(unpriced[monitor]))
    _drift(snapshot, gauge, days)
    for (monitor, asset), day in sorted(days.items()):
        stamp = datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()
        gauge(
            "monitoring_partition_timestamp_seconds",
            "Start (UTC) of the latest daily partition the asset's gauges are of",
            ["monitor", "asset"],
        ).add_metric([monitor, asset], stamp)
    known = sorted(
        {
            *monitors,
            *(m for m, _ in days),
            *(r[0] for r in snapshot.incidents),
            *(r[0] for r in snapshot.alerts),
        }
    )
    open_incidents = {(m, s): n for m, s, n in snapshot.incidents}
    incidents = gauge(
        "monitoring_open_incidents",
        "Unresolved incidents (open or acknowledged) per severity",
        ["monitor", "severity"],
    )
    outbox = {(m, s): n for m, s, n in snapshot.alerts}
    alerts = gauge(
        "monitoring_alerts", "Alerts in the outbox per delivery status", ["monitor", "status"]
    )
    for monitor in known:
        for severity in Severity:
            incidents.add_metric(
                [monitor, severity.value], float(open_incidents.get((monitor, severity.value), 0))
            )
        for status in DeliveryStatus:
            alerts.add_metric(
                [monitor, status.value], float(outbox.get((monitor, status.value), 0))
            )
    return list(out.values())


def _drift(snapshot: Snapshot, gauge: GaugeFactory, days: dict[tuple[str, str], str]) -> None:
    drifted: Counter[str] = Counter()
    tested: Counter[str] = Counter()
    segments: Counter[str] = Counter()
    for monitor, day, column, role, statistic, score, warn, critical, verdict in snapshot.drift:
        days[(monitor, Asset.FEATURE_DRIFT)] = day
        is_drifted = verdict in ("warn", "critical")
        if role == "segment":
            segments[monitor] += is_drifted
            continue
        drifted[monitor] += is_drifted
        if score is None:
            continue
        tested[monitor] += 1
        gauge(
            "monitoring_drift_score",
            f"Drift effect size per column {DAY} (statistic: wasserstein, jensen_shannon, ...)",
            ["monitor", "column", "role", "statistic"],
        ).add_metric([monitor, column, role, statistic], score)
        thresholds = gauge(
            "monitoring_drift_threshold",
            "The drift score at which a column's drift is a warning or critical",
            ["monitor", "column", "severity"],
        )
        thresholds.add_metric([monitor, column, "warn"], warn)
        thresholds.add_metric([monitor, column, "critical"], critical)
    for monitor in sorted({m for m, a in days if a == Asset.FEATURE_DRIFT}):
        for name, counts, text in (
            (
                "monitoring_drift_columns_drifted",
                drifted,
                "Columns whose drift is a warning or critical",
            ),
            ("monitoring_drift_columns_tested", tested, "Columns with a drift score"),
            (
                "monitoring_drift_segments_drifted",
                segments,
                "Column slices within a segment value that drift",
            ),
        ):
            gauge(name, f"{text} {DAY}", ["monitor"]).add_metric([monitor], float(counts[monitor]))


class StoreCollector(Collector):
    """A Prometheus collector that reads the result store on every scrape.

    A store that cannot be read gives ``monitoring_store_up 0`` (and the error in the log)
    instead of a failed scrape, so an alert can tell an unreachable store from quiet data.
    """

    def __init__(self, engine: Engine, monitors: Sequence[str] = ()) -> None:
        self.engine = engine
        self.monitors = list(monitors)

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        up = GaugeMetricFamily("monitoring_store_up", "1 when the result store could be read")
        try:
            snapshot = read_snapshot(self.engine)
        except SQLAlchemyError as exc:
            log.warning("cannot read the result store for a scrape: %s", exc)
            up.add_metric([], 0.0)
            yield up
            return
        yield from families(snapshot, self.monitors)
        up.add_metric([], 1.0)
        yield up
        yield GaugeMetricFamily(
            "monitoring_store_read_seconds",
            "Time this scrape spent reading the result store",
            value=time.perf_counter() - started,
        )


def serve(
    engine: Engine, host: str, port: int, monitors: Sequence[str] = ()
) -> tuple[WSGIServer, Thread]:
    """Serve ``/metrics`` on ``host:port`` (0: any free port) from a daemon thread; stop it
    with ``server.shutdown()``."""
    registry = CollectorRegistry()
    registry.register(StoreCollector(engine, monitors))
    return start_http_server(port, addr=host, registry=registry)
