"""Token usage and cost per LLM model and day, priced from the configured price table.

A model with no price in effect on the day is reported as unpriced, never costed at $0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from monitoring_pipelines.core.checks import CheckOutcome, single
from monitoring_pipelines.core.config import PriceConfig, Severity

CRITICAL_FACTOR = 1.5
UNKNOWN_MODEL = "(missing model)"


@dataclass(frozen=True)
class ModelUsage:
    """One model's traffic on one day.

    Attributes:
        model: Model name as logged.
        requests: Rows for the model.
        prompt_tokens: Sum of prompt tokens over rows that have them.
        completion_tokens: Sum of completion tokens over rows that have them.
        rows_missing_tokens: Rows with a missing, negative or unparseable token count.
        cost_usd: Cost of the counted tokens; None when the model has no price on the day.
        price_from: The ``effective_from`` of the price used.
    """

    model: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    rows_missing_tokens: int
    cost_usd: float | None
    price_from: date | None


def price_on(prices: Sequence[PriceConfig], model: str, day: date) -> PriceConfig | None:
    """The price of ``model`` in effect on ``day``: the latest entry not after the day."""
    candidates = [p for p in prices if p.model == model and p.effective_from <= day]
    return max(candidates, key=lambda p: p.effective_from, default=None)


def compute_usage(
    models: pd.Series,
    prompt_tokens: pd.Series,
    completion_tokens: pd.Series,
    prices: Sequence[PriceConfig],
    day: date,
) -> list[ModelUsage]:
    """Usage and cost per model, largest cost first (unpriced models last)."""
    frame = pd.DataFrame(
        {
            "model": models.fillna(UNKNOWN_MODEL).astype(str),
            "prompt": prompt_tokens.astype(np.float64),
            "completion": completion_tokens.astype(np.float64),
        }
    )
    bad = (
        frame["prompt"].isna()
        | frame["completion"].isna()
        | (frame["prompt"] < 0)
        | (frame["completion"] < 0)
    )
    frame["bad"] = bad
    frame.loc[bad, ["prompt", "completion"]] = 0.0
    usage = []
    for model, group in frame.groupby("model", sort=True):
        prompt = int(group["prompt"].sum())
        completion = int(group["completion"].sum())
        price = price_on(prices, str(model), day)
        cost = None
        if price is not None:
            cost = prompt / 1000 * price.input_per_1k + completion / 1000 * price.output_per_1k
        usage.append(
            ModelUsage(
                model=str(model),
                requests=len(group),
                prompt_tokens=prompt,
                completion_tokens=completion,
                rows_missing_tokens=int(group["bad"].sum()),
                cost_usd=cost,
                price_from=price.effective_from if price else None,
            )
        )
    return sorted(usage, key=lambda u: (u.cost_usd is None, -(u.cost_usd or 0.0), u.model))


def budget_check(usage: Sequence[ModelUsage], daily_budget_usd: float) -> CheckOutcome:
    """The day's priced cost against the daily budget; unpriced models are named."""
    total = sum(u.cost_usd or 0.0 for u in usage)
    unpriced = [u.model for u in usage if u.cost_usd is None]
    passed = total <= daily_budget_usd
    severity = Severity.CRITICAL if total > CRITICAL_FACTOR * daily_budget_usd else Severity.WARN
    top = max(usage, key=lambda u: u.cost_usd or 0.0, default=None)
    summary = f"cost ${total:.2f} {'<=' if passed else '>'} daily budget ${daily_budget_usd:.2f}"
    if top is not None and top.cost_usd:
        summary += f"; largest: {top.model} ${top.cost_usd:.2f}"
    if unpriced:
        summary += f"; unpriced (not counted): {', '.join(unpriced)}"
    metadata: dict[str, float | int | str] = {"cost_usd": total, "budget_usd": daily_budget_usd}
    if unpriced:
        metadata["unpriced_models"] = ", ".join(unpriced)
    return single(
        "cost_budget",
        passed=passed,
        severity=severity,
        value=total,
        threshold=daily_budget_usd,
        summary=summary,
        metadata=metadata,
    )
