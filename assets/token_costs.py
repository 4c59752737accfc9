"""Token usage and cost per LLM model, intent and day, with the daily and monthly budget checks."""

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

import dagster as dg

from assets.common import (
    check_specs,
    checked,
    day_of,
    earlier_days_of,
    failure,
    numeric_metadata,
    reports_faults,
)
from assets.parts import Part, part
from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import LlmConfig, MonitorConfig
from monitoring_pipelines.core.costs.forecast import (
    forecast_month,
    history_days,
    monthly_budget_check,
)
from monitoring_pipelines.core.errors import StoreError
from monitoring_pipelines.core.stats.attribution import USUAL_DAYS, usual_window
from resources import ResultStoreResource, SliceStoreResource

if TYPE_CHECKING:
    import pandas as pd

    from monitoring_pipelines.core.costs.day import DayCosts, Usage

PLOTTED_INTENTS = 20  # the costliest intents get a plot; the store and by_intent keep all


def make_token_costs(
    name: str, monitor: MonitorConfig, partitions_def: dg.PartitionsDefinition
) -> Part:
    assert monitor.llm is not None
    llm = monitor.llm
    key = dg.AssetKey([name, Asset.TOKEN_COSTS])
    budgets = {"cost_budget": llm.daily_budget_usd, "monthly_budget": llm.monthly_budget_usd}
    checks = [check for check, budget in budgets.items() if budget is not None]
    history = max(
        30 if llm.monthly_budget_usd is not None else 0,
        USUAL_DAYS if llm.daily_budget_usd is not None else 0,
    )

    @part(
        key=key,
        group_name=name,
        partitions_def=partitions_def,
        deps=[
            dg.AssetKey([name, Asset.LIVE_SLICE]),
            # The monthly forecast reads the month so far and the trailing weeks' costs; the
            # daily budget's driver reads the usual costs of the trailing days.
            *([earlier_days_of(key, history)] if history else []),
        ],
        check_specs=check_specs(checks, key, partitions_def),
        description="Prompt, cached and completion tokens and their cost per LLM model and "
        "intent for the day, with the price entry each model was costed at.",
    )
    @reports_faults(name)
    def token_costs(
        context: dg.AssetExecutionContext,
        slices: SliceStoreResource,
        result_store: ResultStoreResource,
    ) -> dg.MaterializeResult:
        # Imported by the step, not with the definitions: they bring pandas.
        from monitoring_pipelines.core.costs.day import budget_check, costs_of_sums
        from monitoring_pipelines.core.costs.drivers import cost_driver, day_split, load_cost_splits
        from monitoring_pipelines.core.costs.pushed import pushed_sums
        from monitoring_pipelines.core.costs.stored import cost_metrics, load_daily_costs
        from monitoring_pipelines.core.profile.pushed_day import load_pushed

        day = day_of(context)
        columns = llm_columns(llm)
        try:
            slice_store = slices.get_store()
            pushed = load_pushed(slice_store.path(name, day))
            if pushed is not None:
                # A pushed-down day: every row's token sums, taken in the warehouse.
                costs = costs_of_sums(
                    pushed_sums(pushed.section("costs", "llm")),
                    llm.prices,
                    day,
                    cached_priced=llm.cached_tokens_column is not None,
                    with_intents=llm.intent_column is not None,
                )
            else:
                costs = day_costs(llm, slice_store.frame(name, day, columns), day)
        except StoreError as exc:
            raise failure(f"monitor '{name}', {day}: {exc}", monitor=name) from exc
        store = result_store.results()
        store.save_metrics(name, Asset.TOKEN_COSTS, context.partition_key, cost_metrics(costs))
        outcomes = []
        if llm.daily_budget_usd is not None:
            driver = None
            if (costs.total.cost_usd or 0.0) > llm.daily_budget_usd:  # only a failure names one
                usual = load_cost_splits(store, name, usual_window(day, monitor.start_date))
                driver = cost_driver(day_split(costs), usual, llm.daily_budget_usd)
            outcomes.append(budget_check(costs, llm.daily_budget_usd, driver))
        if llm.monthly_budget_usd is not None:
            history = load_daily_costs(store, name, history_days(day, monitor.start_date))
            history[day] = costs.total.cost_usd or 0.0
            forecast = forecast_month(day, history, monitor.start_date)
            outcomes.append(monthly_budget_check(forecast, llm.monthly_budget_usd))
        metadata = cost_metadata(costs)
        metadata["pushdown"] = dg.MetadataValue.text(
            "every row of the day's slice read"
            if pushed is None
            else f"token sums per model and intent computed in the warehouse ({pushed.dialect}) "
            "over every row of the day; priced here"
        )
        return checked(key, metadata, outcomes)

    return token_costs


def llm_columns(llm: LlmConfig) -> list[str]:
    """The slice columns the costs read."""
    optional = (llm.cached_tokens_column, llm.intent_column)
    return [
        llm.model_column,
        llm.prompt_tokens_column,
        llm.completion_tokens_column,
        *(c for c in optional if c),
    ]


def day_costs(llm: LlmConfig, frame: "pd.DataFrame", day: date) -> "DayCosts":
    """The day's costs from its slice columns."""
    from monitoring_pipelines.core.costs.day import compute_costs

    return compute_costs(
        frame[llm.model_column],
        frame[llm.prompt_tokens_column],
        frame[llm.completion_tokens_column],
        llm.prices,
        day,
        cached_tokens=frame[llm.cached_tokens_column] if llm.cached_tokens_column else None,
        intents=frame[llm.intent_column] if llm.intent_column else None,
    )


def cost_metadata(costs: "DayCosts") -> dict[str, dg.MetadataValue]:
    """Plottable totals, cost per model and per (costliest) intent, and the tables behind them."""
    total = costs.total
    values: dict[str, float | int | None] = {
        "cost_usd": total.cost_usd,
        "requests": total.requests,
        "prompt_tokens": total.prompt_tokens,
        "completion_tokens": total.completion_tokens,
        "rows_missing_tokens": total.rows_missing_tokens,
        "unpriced_models": len(costs.unpriced_models),
        "unpriced_requests": total.unpriced_requests,
    }
    if costs.cached_priced:
        values["cached_tokens"] = total.cached_tokens
        values["cached_share"] = (
            total.cached_tokens / total.prompt_tokens if total.prompt_tokens else None
        )
        values["rows_bad_cached_tokens"] = total.rows_bad_cached_tokens
    for model, usage in costs.by_model.items():
        values[f"cost_usd/{model}"] = usage.cost_usd
    largest = sorted(costs.by_intent.items(), key=lambda item: -(item[1].cost_usd or 0.0))
    for intent, usage in largest[:PLOTTED_INTENTS]:
        values[f"cost_usd@intent={intent}"] = usage.cost_usd
    metadata = numeric_metadata(values)
    metadata["by_model"] = dg.MetadataValue.json(
        [
            _row({"model": model}, usage)
            | {"price_from": _price_from(costs, model), "priced": usage.cost_usd is not None}
            for model, usage in costs.by_model.items()
        ]
    )
    if costs.by_intent:
        metadata["by_intent"] = dg.MetadataValue.json(
            [_row({"intent": i}, u) for i, u in costs.by_intent.items()]
        )
        metadata["by_model_intent"] = dg.MetadataValue.json(
            [_row({"model": m, "intent": i}, u) for (m, i), u in costs.by_model_intent.items()]
        )
    return metadata


def _row(keys: Mapping[str, str], usage: "Usage") -> dict[str, Any]:
    return {
        **keys,
        "requests": usage.requests,
        "prompt_tokens": usage.prompt_tokens,
        "cached_tokens": usage.cached_tokens,
        "completion_tokens": usage.completion_tokens,
        "rows_missing_tokens": usage.rows_missing_tokens,
        "rows_bad_cached_tokens": usage.rows_bad_cached_tokens,
        "unpriced_requests": usage.unpriced_requests,
        "cost_usd": usage.cost_usd,
    }


def _price_from(costs: "DayCosts", model: str) -> str | None:
    price = costs.prices.get(model)
    return None if price is None else price.effective_from.isoformat()
