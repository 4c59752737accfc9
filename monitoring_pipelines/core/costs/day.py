"""Token usage and cost of LLM calls for one day: per model, per intent, per model and intent.

Each model is priced with the entry in effect on the day; nothing is costed at a silent $0 (an
unpriced model, or a row with unusable token counts, is counted apart).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from monitoring_pipelines.core.catalog import critical_factor
from monitoring_pipelines.core.checks import CheckOutcome, single
from monitoring_pipelines.core.config import PriceConfig, Severity
from monitoring_pipelines.core.stats.attribution import shown

if TYPE_CHECKING:
    from monitoring_pipelines.core.costs.drivers import CostDriver

UNKNOWN_MODEL = "(missing model)"
UNKNOWN_INTENT = "(missing intent)"
NO_INTENT = ""  # the intent of every row when no intent column is configured
TOKENS = ("prompt", "cached", "completion")

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class AppliedPrice:
    """The price a model's tokens are costed at on a day: what each stored day records.

    Attributes:
        effective_from: The ``effective_from`` of the price-table entry used.
        input_per_1k: USD per 1000 uncached prompt tokens.
        output_per_1k: USD per 1000 completion tokens.
        cached_input_per_1k: USD per 1000 cached prompt tokens (the input price when the entry
            sets none); None when cached tokens are not priced apart (no cached-token column).
    """

    effective_from: date
    input_per_1k: float
    output_per_1k: float
    cached_input_per_1k: float | None

    def rates(self) -> tuple[float, float, float]:
        """USD per 1000 uncached prompt, cached prompt and completion tokens."""
        cached = self.input_per_1k if self.cached_input_per_1k is None else self.cached_input_per_1k
        return self.input_per_1k, cached, self.output_per_1k

    def describe(self) -> str:
        """The entry and its prices, for a person: ``2026-10-15 entry (in 0.002, ...)``."""
        cached = (
            "" if self.cached_input_per_1k is None else f", cached {self.cached_input_per_1k:g}"
        )
        return (
            f"{self.effective_from} entry (in {self.input_per_1k:g}{cached}, "
            f"out {self.output_per_1k:g} USD per 1k)"
        )


def price_on(prices: Sequence[PriceConfig], model: str, day: date) -> PriceConfig | None:
    """The price of ``model`` in effect on ``day``: the latest entry not after the day."""
    candidates = [p for p in prices if p.model == model and p.effective_from <= day]
    return max(candidates, key=lambda p: p.effective_from, default=None)


def applied_price(
    prices: Sequence[PriceConfig], model: str, day: date, *, cached_priced: bool
) -> AppliedPrice | None:
    """The price :func:`compute_costs` applies to ``model`` on ``day``; None when unpriced."""
    price = price_on(prices, model, day)
    if price is None:
        return None
    cached = None
    if cached_priced:
        cached = (
            price.input_per_1k if price.cached_input_per_1k is None else price.cached_input_per_1k
        )
    return AppliedPrice(price.effective_from, price.input_per_1k, price.output_per_1k, cached)


def token_cost(price: AppliedPrice, prompt: float, cached: float, completion: float) -> float:
    """USD of ``prompt`` tokens, ``cached`` of them cached, and ``completion`` tokens."""
    per_input, per_cached, per_output = price.rates()
    return ((prompt - cached) * per_input + cached * per_cached + completion * per_output) / 1000


@dataclass(frozen=True)
class Usage:
    """Tokens and cost of one group of a day's rows (a model, an intent, both, or all).

    Attributes:
        requests: Rows in the group.
        prompt_tokens: Prompt tokens, cached ones included, of the rows with valid counts.
        cached_tokens: Cached prompt tokens billed at the cached price.
        completion_tokens: Completion tokens of the rows with valid counts.
        rows_missing_tokens: Rows whose prompt or completion count is missing, negative or not
            a number: in no token sum and no cost.
        rows_bad_cached_tokens: Rows whose cached count is missing, negative, not a number or
            above the prompt: billed as if nothing were cached (an upper bound).
        unpriced_requests: Rows of models with no price on the day: in no cost.
        cost_usd: USD of the priced rows; None when no row of the group is priced.
    """

    requests: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    rows_missing_tokens: int = 0
    rows_bad_cached_tokens: int = 0
    unpriced_requests: int = 0
    cost_usd: float | None = None


def combine(parts: Iterable[Usage]) -> Usage:
    """The usage of the union of disjoint groups; its cost is None when none is priced."""
    parts = list(parts)
    costs = [p.cost_usd for p in parts if p.cost_usd is not None]
    return Usage(
        requests=sum(p.requests for p in parts),
        prompt_tokens=sum(p.prompt_tokens for p in parts),
        cached_tokens=sum(p.cached_tokens for p in parts),
        completion_tokens=sum(p.completion_tokens for p in parts),
        rows_missing_tokens=sum(p.rows_missing_tokens for p in parts),
        rows_bad_cached_tokens=sum(p.rows_bad_cached_tokens for p in parts),
        unpriced_requests=sum(p.unpriced_requests for p in parts),
        cost_usd=sum(costs) if costs else None,
    )


@dataclass(frozen=True)
class DayCosts:
    """A day's usage and cost at every level, and the price each model was costed at.

    Attributes:
        total: All rows (its cost is the priced rows' cost; 0 when nothing is priced).
        by_model: Per model, largest cost first, unpriced models last.
        by_intent: Per intent; empty without an intent column.
        by_model_intent: Per (model, intent); empty without an intent column.
        prices: Per model seen, the price applied; None for unpriced models.
        cached_priced: Whether cached tokens were priced apart (a cached-token column is set).
    """

    total: Usage
    by_model: Mapping[str, Usage]
    by_intent: Mapping[str, Usage]
    by_model_intent: Mapping[tuple[str, str], Usage]
    prices: Mapping[str, AppliedPrice | None]
    cached_priced: bool

    @property
    def unpriced_models(self) -> list[str]:
        return [m for m, price in self.prices.items() if price is None]


def compute_costs(
    models: pd.Series,
    prompt_tokens: pd.Series,
    completion_tokens: pd.Series,
    prices: Sequence[PriceConfig],
    day: date,
    *,
    cached_tokens: pd.Series | None = None,
    intents: pd.Series | None = None,
) -> DayCosts:
    """Usage and cost of a day's rows per model, per intent and per model and intent.

    Args:
        models: Model name per row (a missing name is ``(missing model)``).
        prompt_tokens: Prompt tokens per row, cached ones included.
        completion_tokens: Completion tokens per row.
        prices: The price table.
        day: The day, which selects each model's price entry.
        cached_tokens: Cached prompt tokens per row; None prices every prompt token as input.
        intents: Intent per row (a missing one is ``(missing intent)``); None skips intents.

    Returns:
        The day's costs. Token counts are sums over the rows with valid counts; costs follow
        :func:`token_cost` per model.
    """
    rows = clean_rows(models, prompt_tokens, completion_tokens, cached_tokens, intents)
    return costs_of_sums(
        cell_sums(rows), prices, day, cached_priced=cached_tokens is not None,
        with_intents=intents is not None,
    )  # fmt: skip


@dataclass(frozen=True)
class CellSums:
    """The sums of one (model, intent) of a day's rows, before pricing.

    Attributes:
        requests: Rows.
        prompt, cached, completion: Token sums of the rows with valid counts.
        missing: Rows with an unusable prompt or completion count.
        bad_cached: Rows with an unusable cached count (billed as if nothing were cached).
    """

    requests: int = 0
    prompt: float = 0.0
    cached: float = 0.0
    completion: float = 0.0
    missing: int = 0
    bad_cached: int = 0

    def plus(self, other: CellSums) -> CellSums:
        return CellSums(
            self.requests + other.requests,
            self.prompt + other.prompt,
            self.cached + other.cached,
            self.completion + other.completion,
            self.missing + other.missing,
            self.bad_cached + other.bad_cached,
        )


def cell_sums(rows: pd.DataFrame) -> dict[tuple[str, str], CellSums]:
    """Per (model, intent), the sums of rows cleaned by :func:`clean_rows`."""
    sums = rows.groupby(["model", "intent"], sort=True).agg(
        requests=("prompt", "size"),
        prompt=("prompt", "sum"),
        cached=("cached", "sum"),
        completion=("completion", "sum"),
        missing=("missing", "sum"),
        bad_cached=("bad_cached", "sum"),
    )
    return {
        (str(m), str(i)): CellSums(
            int(s["requests"]),
            float(s["prompt"]),
            float(s["cached"]),
            float(s["completion"]),
            int(s["missing"]),
            int(s["bad_cached"]),
        )
        for (m, i), s in zip(sums.index, sums.to_dict("records"), strict=True)
    }


def costs_of_sums(
    sums: Mapping[tuple[str, str], CellSums],
    prices: Sequence[PriceConfig],
    day: date,
    *,
    cached_priced: bool,
    with_intents: bool,
) -> DayCosts:
    """The day's costs from its sums per (model, intent) (see :func:`compute_costs`)."""
    keys = sorted(sums)
    applied = {
        m: applied_price(prices, m, day, cached_priced=cached_priced)
        for m in dict.fromkeys(m for m, _ in keys)
    }
    cells: dict[tuple[str, str], Usage] = {}
    for model, intent in keys:
        s = sums[(model, intent)]
        price = applied[model]
        prompt, cached, completion = s.prompt, s.cached, s.completion
        cells[(model, intent)] = Usage(
            requests=s.requests,
            prompt_tokens=round(prompt),
            cached_tokens=round(cached),
            completion_tokens=round(completion),
            rows_missing_tokens=s.missing,
            rows_bad_cached_tokens=s.bad_cached,
            unpriced_requests=0 if price is not None else s.requests,
            cost_usd=None if price is None else token_cost(price, prompt, cached, completion),
        )
    by_model = {m: combine(u for (mm, _), u in cells.items() if mm == m) for m in applied}
    order = sorted(by_model, key=lambda m: (by_model[m].cost_usd is None, -_cost(by_model[m]), m))
    intent_names = sorted({i for _, i in cells})
    total = combine(by_model.values())
    return DayCosts(
        total=replace(total, cost_usd=total.cost_usd or 0.0),
        by_model={m: by_model[m] for m in order},
        by_intent=(
            {i: combine(u for (_, ii), u in cells.items() if ii == i) for i in intent_names}
            if with_intents
            else {}
        ),
        by_model_intent=cells if with_intents else {},
        prices={m: applied[m] for m in order},
        cached_priced=cached_priced,
    )


def row_costs(
    models: pd.Series,
    prompt_tokens: pd.Series,
    completion_tokens: pd.Series,
    prices: Sequence[PriceConfig],
    day: date,
    *,
    cached_tokens: pd.Series | None = None,
) -> FloatArray:
    """USD of each row, priced as :func:`compute_costs` prices it; NaN for rows of unpriced
    models and rows with unusable token counts (for per-request comparisons)."""
    rows = clean_rows(models, prompt_tokens, completion_tokens, cached_tokens, None)
    cost = np.full(len(rows), np.nan)
    for model, index in rows.groupby("model").indices.items():
        price = applied_price(prices, str(model), day, cached_priced=cached_tokens is not None)
        if price is not None:
            per_input, per_cached, per_output = price.rates()
            prompt, cached, completion = (rows[c].to_numpy()[index] for c in TOKENS)
            cost[index] = (
                (prompt - cached) * per_input + cached * per_cached + completion * per_output
            ) / 1000
    cost[rows["missing"].to_numpy()] = np.nan
    return cost


def clean_rows(
    models: pd.Series,
    prompt_tokens: pd.Series,
    completion_tokens: pd.Series,
    cached_tokens: pd.Series | None,
    intents: pd.Series | None,
) -> pd.DataFrame:
    """One row per request with usable counts; unusable ones are flagged and zeroed."""
    prompt = _counts(prompt_tokens)
    completion = _counts(completion_tokens)
    missing = prompt.isna() | completion.isna()
    prompt = prompt.where(~missing, 0.0)
    completion = completion.where(~missing, 0.0)
    if cached_tokens is None:
        cached = pd.Series(0.0, index=prompt.index)
        bad_cached = pd.Series(False, index=prompt.index)
    else:
        cached = _counts(cached_tokens)
        bad_cached = (cached.isna() | (cached > prompt)) & ~missing
        cached = cached.where(~(bad_cached | missing), 0.0)
    intent = (
        pd.Series(NO_INTENT, index=prompt.index)
        if intents is None
        else intents.astype(object).where(intents.notna(), UNKNOWN_INTENT).astype(str)
    )
    return pd.DataFrame(
        {
            "model": models.astype(object).where(models.notna(), UNKNOWN_MODEL).astype(str),
            "intent": intent.to_numpy(),
            "prompt": prompt.to_numpy(),
            "cached": cached.to_numpy(),
            "completion": completion.to_numpy(),
            "missing": missing.to_numpy(),
            "bad_cached": bad_cached.to_numpy(),
        }
    )


def _counts(values: pd.Series) -> pd.Series:
    """Token counts as floats; missing, non-numeric, infinite and negative values are NaN."""
    numbers = pd.to_numeric(values, errors="coerce").astype(np.float64)
    usable = np.isfinite(numbers.to_numpy()) & (numbers.to_numpy() >= 0)
    return numbers.where(usable)


def _cost(usage: Usage) -> float:
    return usage.cost_usd or 0.0


def budget_check(
    costs: DayCosts, daily_budget_usd: float, driver: CostDriver | None = None
) -> CheckOutcome:
    """The day's priced cost against the daily budget, named with what drove it over when a
    ``driver`` is known (else its costliest model); unpriced models and rows without token
    counts are named, since they are not in the cost."""
    total = _cost(costs.total)
    unpriced = costs.unpriced_models
    passed = total <= daily_budget_usd
    factor = critical_factor("cost_budget")
    severity = Severity.CRITICAL if total > factor * daily_budget_usd else Severity.WARN
    summary = f"cost ${total:.2f} {'<=' if passed else '>'} daily budget ${daily_budget_usd:.2f}"
    top = next(iter(costs.by_model.items()), None)
    if driver is not None and not passed:
        summary += f", {driver.clause()}"
    elif top is not None and top[1].cost_usd:
        summary += f"; largest: {shown(top[0])} ${top[1].cost_usd:.2f}"
    summary += uncounted_note(costs)
    metadata: dict[str, float | int | str] = {"cost_usd": total, "budget_usd": daily_budget_usd}
    if driver is not None and not passed:
        metadata |= driver.metadata()
    if unpriced:
        metadata["unpriced_models"] = ", ".join(unpriced)
    if costs.total.rows_missing_tokens:
        metadata["rows_missing_tokens"] = costs.total.rows_missing_tokens
    return single(
        "cost_budget",
        passed=passed,
        severity=severity,
        value=total,
        threshold=daily_budget_usd,
        summary=summary,
        metadata=metadata,
    )


def uncounted_note(costs: DayCosts) -> str:
    """What the day's cost leaves out, as ``; ...`` clauses (empty when nothing)."""
    note = ""
    if costs.unpriced_models:
        note += f"; unpriced (not counted): {', '.join(map(shown, costs.unpriced_models))}"
    if costs.total.rows_missing_tokens:
        bad = {m: u.rows_missing_tokens for m, u in costs.by_model.items() if u.rows_missing_tokens}
        detail = ", ".join(f"{shown(m)} {n}" for m, n in bad.items())
        note += f"; {costs.total.rows_missing_tokens} rows without token counts ({detail})"
    if costs.total.rows_bad_cached_tokens:
        note += (
            f"; {costs.total.rows_bad_cached_tokens} rows with an unusable cached count "
            "(billed as uncached)"
        )
    return note
