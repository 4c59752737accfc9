"""What drove an anomalous day: the value of a stored breakdown whose part of the metric moved
most against the same baseline days (README.md, "Anomalies").

Only metrics that are sums over a breakdown have parts: cost per request is the sum over intents
(or models) of their cost over the day's priced requests, tokens per request likewise over all
LLM requests, the error rate the sum over error statuses (or a service breakdown column) of their
errors over the requests with a known status. A value's contribution is its part on the day minus
its median part on the baseline days (a value absent on a day has no part that day). Within a
dimension, a value's share is its contribution over the sum of the absolute contributions: one
value that moved while the others stayed put has a share of 1. The driver is the value with the
largest share among those that moved the way the metric did; a dimension with a single value
explains nothing and is never named. A percentile is not a sum, so latency has no parts here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import median

from monitoring_pipelines.core.anomaly.metrics import (
    AnomalyMetric,
    MetricValues,
    Part,
    priced_requests,
    status_rows,
    whole_day,
)
from monitoring_pipelines.core.dimensions import decode
from monitoring_pipelines.core.stats import attribution

# Breakdowns that are not causes a person acts on: the hour of the day, SLO bookkeeping, the
# price entry a model was costed at.
NOT_DRIVERS = frozenset({"hour", "sli", "price_from"})
COST_DIMENSIONS = ("intent", "model")


@dataclass(frozen=True)
class Driver:
    """The breakdown value that drove the day's change.

    Attributes:
        dimension: The breakdown (``intent``, ``model``, ``error_status``...).
        value: Its value.
        contribution: Its part on the day minus its usual part, in the metric's unit.
        share: Its contribution over the sum of its dimension's absolute contributions.
    """

    dimension: str
    value: str
    contribution: float
    share: float

    def clause(self) -> str:
        """``driven by intent=returns (+0.00066, 95 % of the intent change)``."""
        return (
            f"driven by {self.dimension}={self.value} ({self.contribution:+.4g}, "
            f"{abs(self.share):.0%} of the {self.dimension} change)"
        )


def parts(
    metric: AnomalyMetric, service: MetricValues | None, costs: MetricValues | None
) -> dict[Part, float]:
    """Each breakdown value's part of the day's ``metric`` from its stored rows (the parts of a
    dimension sum to the metric where the breakdown covers the day)."""
    if metric == "cost_per_request" and costs:
        return _shares(costs, ("cost_usd",), priced_requests(costs), COST_DIMENSIONS)
    if metric == "tokens_per_request" and costs:
        names = ("prompt_tokens", "completion_tokens")
        return _shares(costs, names, whole_day(costs, "requests"), COST_DIMENSIONS)
    if metric == "error_rate" and service:
        return _shares(service, ("errors",), status_rows(service), None)
    return {}


def find_driver(
    today: Mapping[Part, float], usual_days: Sequence[Mapping[Part, float]], rising: bool
) -> Driver | None:
    """The value whose part moved most, the way the metric moved (``rising``: up), against its
    median over ``usual_days``; None without parts on the day or on a usual day. The choice is
    :func:`~monitoring_pipelines.core.stats.attribution.find_driver`'s, over the parts'
    moves turned the way the metric moved."""
    if not today or not usual_days or not any(usual_days):
        return None
    sign = 1.0 if rising else -1.0
    moves: dict[str, dict[str, float]] = {}
    for dimension in sorted({d for d, _ in today}):
        values = {v for d, v in today if d == dimension}
        values |= {v for day in usual_days for d, v in day if d == dimension}
        moves[dimension] = {
            v: sign
            * (
                today.get((dimension, v), 0.0)
                - float(median(day.get((dimension, v), 0.0) for day in usual_days))
            )
            for v in sorted(values)
        }
    found = attribution.find_driver(moves)
    if found is None:
        return None
    return Driver(found.dimension, found.value, sign * found.contribution, sign * found.share)


def _shares(
    rows: MetricValues,
    names: Sequence[str],
    denominator: float | None,
    dimensions: Sequence[str] | None,
) -> dict[Part, float]:
    """Per single-key dimension value, the sum of ``names`` over ``denominator``."""
    if not denominator:
        return {}
    out: dict[Part, float] = {}
    for (name, dims), value in rows.items():
        if name not in names or not dims or value is None or not math.isfinite(value):
            continue
        try:
            parsed = decode(dims)
        except ValueError:
            continue
        if len(parsed) != 1:
            continue
        ((dimension, label),) = parsed.items()
        if dimension in NOT_DRIVERS or (dimensions is not None and dimension not in dimensions):
            continue
        out[(dimension, label)] = out.get((dimension, label), 0.0) + value / denominator
    return out
