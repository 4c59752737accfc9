"""What drove a day's cost over its budget: the intent or model whose cost moved most against
its usual (README.md, "What drove it").

The usual cost of an intent, a model and a model's intent is its median daily cost over the
stored days of the trailing window that were within the budget (0 on a day it had no request);
the driver is found by :func:`~monitoring_pipelines.core.stats.attribution.find_driver` over
the intent and model dimensions, and named with the value of the other dimension that moved
most inside it (``intent returns ... on chat-large``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.costs.day import DayCosts
from monitoring_pipelines.core.costs.stored import COST, stored_value
from monitoring_pipelines.core.dimensions import decode
from monitoring_pipelines.core.stats.attribution import (
    Driver,
    find_driver,
    shown,
    usual,
)
from monitoring_pipelines.core.store.results import MetricRecord, ResultRepository

INTENT, MODEL = "intent", "model"
K = TypeVar("K", str, tuple[str, str])


@dataclass(frozen=True)
class DayCostSplit:
    """A day's cost split by intent, model and both, as stored (values as the store keeps them).

    Attributes:
        total: The day's cost.
        by_dimension: Per dimension (``intent``, ``model``), per value, its cost.
        cells: Per (model, intent), its cost.
    """

    total: float
    by_dimension: Mapping[str, Mapping[str, float]]
    cells: Mapping[tuple[str, str], float]


@dataclass(frozen=True)
class CostDriver:
    """The intent or model that drove the day's cost, against its usual.

    Attributes:
        driver: The value and its share of the change.
        today: Its cost on the day.
        usual: Its usual cost.
        usual_days: The days the usual was read from.
        detail: The value of the other dimension that moved most inside it, when that has two
            or more values (``model=chat-large`` for an intent).
    """

    driver: Driver
    today: float
    usual: float
    usual_days: int
    detail: Driver | None = None

    def clause(self) -> str:
        """``driven by intent returns $1.60 (usually $0.45) on chat-large``."""
        text = (
            f"driven by {self.driver.dimension} {shown(self.driver.value)} ${self.today:.2f} "
            f"(usually ${self.usual:.2f})"
        )
        if self.detail is not None:
            if self.detail.dimension == MODEL:
                text += f" on {shown(self.detail.value)}"
            else:
                text += f", mostly {self.detail.dimension} {shown(self.detail.value)}"
        return text

    def metadata(self) -> dict[str, float | int | str]:
        out: dict[str, float | int | str] = {
            "driver": self.driver.key,
            "driver_value": self.today,
            "driver_usual": self.usual,
            "driver_share": self.driver.share,
            "driver_usual_days": self.usual_days,
        }
        if self.detail is not None:
            out["driver_detail"] = self.detail.key
        return out


def day_split(costs: DayCosts) -> DayCostSplit:
    """Today's costs as the store keeps them (unpriced groups cost 0: they are in no total)."""
    return DayCostSplit(
        total=costs.total.cost_usd or 0.0,
        by_dimension={
            INTENT: {stored_value(i): u.cost_usd or 0.0 for i, u in costs.by_intent.items()},
            MODEL: {stored_value(m): u.cost_usd or 0.0 for m, u in costs.by_model.items()},
        },
        cells={
            (stored_value(m), stored_value(i)): u.cost_usd or 0.0
            for (m, i), u in costs.by_model_intent.items()
        },
    )


def stored_splits(rows: Iterable[MetricRecord]) -> dict[date, DayCostSplit]:
    """Per stored day, its cost split, from ``token_costs`` rows (days without a total are left
    out)."""
    totals: dict[date, float] = {}
    dims: dict[date, dict[str, dict[str, float]]] = {}
    cells: dict[date, dict[tuple[str, str], float]] = {}
    for row in rows:
        if row.name != COST:
            continue
        day = date.fromisoformat(row.partition_key)
        value = row.value or 0.0
        keys = decode(row.dimensions)
        if not keys:
            if row.value is not None:
                totals[day] = value
        elif set(keys) == {INTENT, MODEL}:
            cells.setdefault(day, {})[(keys[MODEL], keys[INTENT])] = value
        elif len(keys) == 1 and next(iter(keys)) in (INTENT, MODEL):
            ((name, v),) = keys.items()
            dims.setdefault(day, {}).setdefault(name, {})[v] = value
    return {
        day: DayCostSplit(total, dims.get(day, {}), cells.get(day, {}))
        for day, total in totals.items()
    }


def cost_driver(
    today: DayCostSplit, history: Mapping[date, DayCostSplit], budget_usd: float
) -> CostDriver | None:
    """The driver of ``today``'s cost against the usual of the ``history`` days within the
    budget; None without such a day, or when nothing moved up against the usual."""
    days = [s for s in history.values() if s.total <= budget_usd]
    if not days:
        return None
    usual_dims = {
        dim: _usuals([s.by_dimension.get(dim, {}) for s in days]) for dim in (INTENT, MODEL)
    }
    contributions = {
        dim: {
            v: today.by_dimension.get(dim, {}).get(v, 0.0) - usual_dims[dim].get(v, 0.0)
            for v in set(today.by_dimension.get(dim, {})) | set(usual_dims[dim])
        }
        for dim in (INTENT, MODEL)
    }
    driver = find_driver(contributions)
    if driver is None:
        return None
    detail = _detail(driver, today, _usuals([s.cells for s in days]))
    return CostDriver(
        driver=driver,
        today=today.by_dimension[driver.dimension].get(driver.value, 0.0),
        usual=usual_dims[driver.dimension].get(driver.value, 0.0),
        usual_days=len(days),
        detail=detail,
    )


def _detail(
    driver: Driver, today: DayCostSplit, usual_cells: Mapping[tuple[str, str], float]
) -> Driver | None:
    """The other dimension's value that moved most inside the driver's value."""
    inside = 1 if driver.dimension == MODEL else 0  # position of the other value in a cell
    other = INTENT if driver.dimension == MODEL else MODEL
    mine = 0 if driver.dimension == MODEL else 1
    keys = {c for c in (*today.cells, *usual_cells) if c[mine] == driver.value}
    moved = {c[inside]: today.cells.get(c, 0.0) - usual_cells.get(c, 0.0) for c in keys}
    return find_driver({other: moved})


def _usuals(days: list[Mapping[K, float]]) -> dict[K, float]:
    """Per key, the median of its daily values over ``days`` (0 on a day without it)."""
    keys = {k for d in days for k in d}
    return {k: usual([d.get(k, 0.0) for d in days]) or 0.0 for k in keys}


def load_cost_splits(
    store: ResultRepository, monitor: str, days: Iterable[date]
) -> dict[date, DayCostSplit]:
    """The stored cost split of each of ``days`` that has one (one query per day, each of a
    single partition)."""
    out: dict[date, DayCostSplit] = {}
    for day in days:
        out |= stored_splits(store.load_metrics(monitor, Asset.TOKEN_COSTS, day.isoformat()))
    return out
