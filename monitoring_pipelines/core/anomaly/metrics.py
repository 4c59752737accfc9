"""The metrics anomalies score, read from the stored daily results of a monitor.

Only the named ``service_metrics`` and ``token_costs`` values are read: the whole-day rows, or
costs summed over the per-model rows when no whole-day row is stored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal, TypeGuard, get_args

from monitoring_pipelines.core.config import AnomalyConfig, MonitorConfig
from monitoring_pipelines.core.dimensions import decode, encode

AnomalyMetric = Literal[
    "cost_per_request",
    "tokens_per_request",
    "latency_p95_ms",
    "error_rate",
    "requests",
    # Scored by the output-safety check ``answer_length``, not by the ``anomaly`` check.
    "answer_words_p50",
    "answer_words_p95",
]
MetricValues = Mapping[tuple[str, str], float | None]  # (name, dimensions) -> stored value

SERVICE_NAMES: Mapping[AnomalyMetric, str] = {
    "latency_p95_ms": "p95_ms",
    "error_rate": "error_rate",
}

# A reference's row count is a sample of its days (and capped by reference.max_rows), not the
# traffic the live days carry.
NOT_SEEDED: Mapping[AnomalyMetric, str] = {
    "requests": "the reference's row count is not the live traffic",
}


Part = tuple[str, str]  # (dimension, value) of a breakdown
StoredDays = Mapping[tuple[str, str, str], float]  # (metric, ISO day, dimensions) -> value


@dataclass(frozen=True)
class ReferenceDays:
    """Each metric's value on each reference day, its parts per breakdown value, and why a
    metric has no days.

    Attributes:
        values: Per metric, its value per reference day (UTC dates of the timestamp column).
        reasons: Per metric without reference days, why (the baseline is then live only).
        parts: Per metric, per reference day, each breakdown value's part of it
            (:func:`~monitoring_pipelines.core.anomaly.drivers.parts`).
    """

    values: Mapping[AnomalyMetric, Mapping[date, float]] = field(default_factory=dict)
    reasons: Mapping[AnomalyMetric, str] = field(default_factory=dict)
    parts: Mapping[AnomalyMetric, Mapping[date, Mapping[Part, float]]] = field(default_factory=dict)

    def seed(self, metric: AnomalyMetric) -> Mapping[date, float]:
        """The metric's reference days (empty when it has none)."""
        return self.values.get(metric, {})

    def reason(self, metric: AnomalyMetric) -> str | None:
        """Why the metric's baseline is live only, or None when the reference seeds it."""
        if self.values.get(metric):
            return None
        return self.reasons.get(metric, "the reference has no day with a value")

    def stored(self) -> tuple[dict[tuple[str, str, str], float], dict[str, str]]:
        """(value per (metric, ISO day, dimensions), note per metric without days), as the
        store keeps them: the metric's own value has no dimensions."""
        values: dict[tuple[str, str, str], float] = {}
        for metric, days in self.values.items():
            for day, value in days.items():
                values[(metric, day.isoformat(), "")] = value
        for metric, part_days in self.parts.items():
            for day, day_parts in part_days.items():
                for (dimension, label), value in day_parts.items():
                    values[(metric, day.isoformat(), encode({dimension: label}))] = value
        return values, {m: why for m, why in self.reasons.items()}

    @classmethod
    def from_stored(cls, values: StoredDays, notes: Mapping[str, str]) -> ReferenceDays:
        """The reference days from their stored form (metrics unknown here are left out)."""
        own: dict[AnomalyMetric, dict[date, float]] = {}
        parts: dict[AnomalyMetric, dict[date, dict[Part, float]]] = {}
        for (metric, day, dims), value in values.items():
            if not _is_metric(metric):
                continue
            when = date.fromisoformat(day)
            if not dims:
                own.setdefault(metric, {})[when] = value
                continue
            decoded = decode(dims)
            if len(decoded) == 1:
                part = next(iter(decoded.items()))
                parts.setdefault(metric, {}).setdefault(when, {})[part] = value
        return cls(
            values=own,
            reasons={m: n for m, n in notes.items() if _is_metric(m)},
            parts=parts,
        )


def available_metrics(monitor: MonitorConfig) -> dict[AnomalyMetric, str | None]:
    """The metrics to score, each with why the monitor cannot measure it (None: it can).

    A metric of the default list the monitor cannot measure (cost without an llm section) is
    left out; one listed explicitly in ``anomalies.metrics`` stays, with its reason, so the
    check says it is not measured.
    """
    config = monitor.anomalies or AnomalyConfig()
    service, llm = monitor.service, monitor.llm
    missing: dict[AnomalyMetric, str | None] = {
        "cost_per_request": None if llm and llm.prices else "no llm prices",
        "tokens_per_request": None if llm else "no llm section",
        "latency_p95_ms": None if service and service.latency_column else "no latency column",
        "error_rate": None if service and service.status_column else "no status column",
        "requests": None if service or llm else "no service or llm section",
    }
    explicit = "metrics" in config.model_fields_set
    return {m: missing[m] for m in config.metrics if explicit or missing[m] is None}


def day_values(
    service: MetricValues | None, costs: MetricValues | None
) -> dict[AnomalyMetric, float]:
    """The metrics of one day from the stored rows of ``service_metrics`` and ``token_costs``.

    ``cost_per_request`` is over the requests of priced models (an unpriced model's cost is
    unknown, not zero); ``tokens_per_request`` is over every LLM request; ``requests`` is the
    service's, else the LLM's. A metric the day lacks is left out.
    """
    out: dict[AnomalyMetric, float] = {}
    svc = service or {}
    for metric, name in SERVICE_NAMES.items():
        value = svc.get((name, ""))
        if _finite(value):
            out[metric] = float(value)
    if costs:
        tokens = whole_day(costs, "prompt_tokens"), whole_day(costs, "completion_tokens")
        llm_requests = whole_day(costs, "requests")
        if llm_requests and tokens[0] is not None and tokens[1] is not None:
            out["tokens_per_request"] = (tokens[0] + tokens[1]) / llm_requests
        priced_cost, priced_requests = _priced(costs)
        if priced_requests:
            out["cost_per_request"] = priced_cost / priced_requests
    requests = svc.get(("requests", ""))
    if not _finite(requests) and costs:
        requests = whole_day(costs, "requests")
    if _finite(requests):
        out["requests"] = float(requests)
    return out


def status_rows(service: MetricValues | None) -> float | None:
    """Requests with a known status on the day (``requests`` less ``status_missing`` and
    ``status_unknown``, where stored): the sample behind its error rate."""
    svc = service or {}
    requests = svc.get(("requests", ""))
    if not _finite(requests):
        return None
    unusable = (svc.get((name, "")) for name in ("status_missing", "status_unknown"))
    return requests - sum(v for v in unusable if _finite(v))


def priced_requests(rows: MetricValues) -> float:
    """The day's requests of priced models (the denominator of ``cost_per_request``)."""
    return _priced(rows)[1]


def whole_day(rows: MetricValues, name: str) -> float | None:
    """The whole-day value of ``name``: its row without dimensions, else the sum over the
    per-model rows (rows broken down by anything else are not summed)."""
    value = rows.get((name, ""))
    if _finite(value):
        return float(value)
    per_model = [v for (n, dims), v in rows.items() if n == name and _by_model(dims)]
    if not per_model or not all(_finite(v) for v in per_model):
        return None
    return float(sum(v for v in per_model if v is not None))


def _priced(rows: MetricValues) -> tuple[float, float]:
    """(cost, requests) of the priced models; the whole-day rows when none are per model."""
    cost = requests = 0.0
    per_model = [dims for (n, dims) in rows if n == "cost_usd" and _by_model(dims)]
    for dims in per_model:
        model_cost, model_requests = rows.get(("cost_usd", dims)), rows.get(("requests", dims))
        if _finite(model_cost) and _finite(model_requests):
            cost += float(model_cost)
            requests += float(model_requests)
    if not per_model:
        total, count = rows.get(("cost_usd", "")), rows.get(("requests", ""))
        if _finite(total) and _finite(count):
            return float(total), float(count)
    return cost, requests


def _by_model(dims: str) -> bool:
    if not dims:
        return False
    try:
        parsed = decode(dims)
    except ValueError:
        return False
    return isinstance(parsed, dict) and set(parsed) == {"model"}


def _is_metric(name: str) -> TypeGuard[AnomalyMetric]:
    return name in get_args(AnomalyMetric)


def _finite(value: float | None) -> TypeGuard[float]:
    return value is not None and math.isfinite(value)
