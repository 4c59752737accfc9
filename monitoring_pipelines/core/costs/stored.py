"""The ``token_costs`` rows of the result store: what a day's costs store, and reading them back.

Per partition: the day's totals and its rows per model, per intent and per model and intent
(requests, tokens, cost; None when unpriced), and the price entry each priced model was costed
at.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.costs.day import AppliedPrice, DayCosts, Usage
from monitoring_pipelines.core.dimensions import decode, dimensions, fit_value
from monitoring_pipelines.core.store.results import MetricRecord, ResultRepository

COST = "cost_usd"
PRICE_INPUT, PRICE_OUTPUT, PRICE_CACHED = (
    "price_input_per_1k",
    "price_output_per_1k",
    "price_cached_input_per_1k",
)
# Two values of this length and their keys fit the 255 characters of the dimensions column.
MAX_VALUE_CHARS = 110

Metrics = dict[tuple[str, str], float | None]


@dataclass(frozen=True)
class PriceStamp:
    """The price a stored day's tokens of one model were costed at.

    Attributes:
        price: The price applied; None when the model was unpriced, or when not recorded.
        recorded: False for a day stored before price stamps were recorded: its model had a
            cost, but at an unknown price.
    """

    price: AppliedPrice | None
    recorded: bool = True


def stored_value(value: str) -> str:
    """``value`` as a dimension stores it: itself, or shortened by the dimensions codec to
    :data:`MAX_VALUE_CHARS`, so a model or intent reads the same in every row it is part of."""
    return fit_value(value, MAX_VALUE_CHARS)


def metric_dims(**values: str) -> str:
    """The dimensions text of a cost metric, each value as :func:`stored_value` stores it."""
    return dimensions(**{k: stored_value(v) for k, v in values.items()})


def cost_metrics(costs: DayCosts) -> Metrics:
    """Every value the ``token_costs`` partition stores (see the module docstring)."""
    out: Metrics = {}
    _put(out, "", costs.total, costs.cached_priced, unpriced=True)
    for model, usage in costs.by_model.items():
        _put(out, metric_dims(model=model), usage, costs.cached_priced, unpriced=False)
    for intent, usage in costs.by_intent.items():
        _put(out, metric_dims(intent=intent), usage, costs.cached_priced, unpriced=True)
    for (model, intent), usage in costs.by_model_intent.items():
        dims = metric_dims(intent=intent, model=model)
        _put(out, dims, usage, costs.cached_priced, unpriced=False)
    for model, price in costs.prices.items():
        if price is None:
            continue
        dims = metric_dims(model=model, price_from=price.effective_from.isoformat())
        out[(PRICE_INPUT, dims)] = price.input_per_1k
        out[(PRICE_OUTPUT, dims)] = price.output_per_1k
        if price.cached_input_per_1k is not None:
            out[(PRICE_CACHED, dims)] = price.cached_input_per_1k
    return out


def _put(out: Metrics, dims: str, usage: Usage, cached: bool, *, unpriced: bool) -> None:
    out[(COST, dims)] = usage.cost_usd
    out[("requests", dims)] = float(usage.requests)
    out[("prompt_tokens", dims)] = float(usage.prompt_tokens)
    out[("completion_tokens", dims)] = float(usage.completion_tokens)
    out[("rows_missing_tokens", dims)] = float(usage.rows_missing_tokens)
    if cached:
        out[("cached_tokens", dims)] = float(usage.cached_tokens)
        out[("rows_bad_cached_tokens", dims)] = float(usage.rows_bad_cached_tokens)
    if unpriced:
        out[("unpriced_requests", dims)] = float(usage.unpriced_requests)


def price_stamps(rows: Iterable[MetricRecord]) -> dict[date, dict[str, PriceStamp]]:
    """Per stored day, the price stamp of each model it costed, from ``token_costs`` rows.

    Args:
        rows: Stored metrics, as :meth:`ResultRepository.load_metrics` returns them.

    Returns:
        Per day, per model (as stored), its stamp.
    """
    costs: dict[date, dict[str, float | None]] = {}
    prices: dict[tuple[date, str], dict[str, Any]] = {}
    for row in rows:
        dims = decode(row.dimensions)
        day = date.fromisoformat(row.partition_key)
        if row.name == COST and set(dims) == {"model"}:
            costs.setdefault(day, {})[dims["model"]] = row.value
        elif row.name in (PRICE_INPUT, PRICE_OUTPUT, PRICE_CACHED) and "price_from" in dims:
            stamp = prices.setdefault((day, dims["model"]), {"from": dims["price_from"]})
            stamp[row.name] = row.value
    out: dict[date, dict[str, PriceStamp]] = {}
    for day, models in costs.items():
        out[day] = {}
        for model, cost in models.items():
            entry = prices.get((day, model))
            if entry is None:
                out[day][model] = PriceStamp(None, recorded=cost is None)
                continue
            out[day][model] = PriceStamp(
                AppliedPrice(
                    effective_from=date.fromisoformat(entry["from"]),
                    input_per_1k=float(entry[PRICE_INPUT]),
                    output_per_1k=float(entry[PRICE_OUTPUT]),
                    cached_input_per_1k=(
                        None if entry.get(PRICE_CACHED) is None else float(entry[PRICE_CACHED])
                    ),
                )
            )
    return out


def load_price_stamps(store: ResultRepository, monitor: str) -> dict[date, dict[str, PriceStamp]]:
    """The price stamps of every stored ``token_costs`` partition of ``monitor``."""
    return price_stamps(store.load_metrics(monitor, Asset.TOKEN_COSTS))


def load_daily_costs(
    store: ResultRepository, monitor: str, days: Sequence[date]
) -> dict[date, float]:
    """The stored total cost of each of ``days`` that has one (days not materialized are left
    out). One query per day: each reads a single partition's rows by primary key."""
    out: dict[date, float] = {}
    for day in days:
        for row in store.load_metrics(monitor, Asset.TOKEN_COSTS, day.isoformat()):
            if row.name == COST and row.dimensions == "" and row.value is not None:
                out[day] = float(row.value)
    return out
