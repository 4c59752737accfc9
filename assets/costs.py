"""Token usage and cost per LLM model and day, with the daily budget check."""

import dagster as dg

from assets.common import check_result, check_specs, day_of, failure, numeric_metadata
from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.costs import budget_check, compute_usage
from monitoring_pipelines.core.errors import StoreError
from monitoring_pipelines.core.store.results import dimensions
from resources import ResultStoreResource, SliceStoreResource


def make_token_costs(
    name: str, monitor: MonitorConfig, partitions_def: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    assert monitor.llm is not None
    llm = monitor.llm
    key = dg.AssetKey([name, "token_costs"])
    checks = ["cost_budget"] if llm.daily_budget_usd is not None else []

    @dg.asset(
        key=key,
        group_name=name,
        partitions_def=partitions_def,
        deps=[dg.AssetKey([name, "live_slice"])],
        check_specs=check_specs(checks, key, partitions_def),
        description="Prompt and completion tokens and their cost per LLM model for the day.",
    )
    def token_costs(
        context: dg.AssetExecutionContext,
        slices: SliceStoreResource,
        result_store: ResultStoreResource,
    ) -> dg.MaterializeResult:
        day = day_of(context)
        columns = [llm.model_column, llm.prompt_tokens_column, llm.completion_tokens_column]
        try:
            frame = next(
                iter(slices.get_store().batches(name, day, columns, batch_rows=10**9)), None
            )
        except StoreError as exc:
            raise failure(f"monitor '{name}', {day}: {exc}", monitor=name) from exc
        if frame is None:
            usage = []
        else:
            usage = compute_usage(
                frame[llm.model_column],
                frame[llm.prompt_tokens_column],
                frame[llm.completion_tokens_column],
                llm.prices,
                day,
            )
        total = sum(u.cost_usd or 0.0 for u in usage)
        stored: dict[tuple[str, str], float | None] = {("cost_usd", dimensions()): total}
        values: dict[str, float | int | None] = {
            "cost_usd": total,
            "requests": sum(u.requests for u in usage),
            "prompt_tokens": sum(u.prompt_tokens for u in usage),
            "completion_tokens": sum(u.completion_tokens for u in usage),
            "rows_missing_tokens": sum(u.rows_missing_tokens for u in usage),
            "unpriced_models": sum(u.cost_usd is None for u in usage),
        }
        for u in usage:
            dims = dimensions(model=u.model)
            stored[("cost_usd", dims)] = u.cost_usd
            stored[("requests", dims)] = float(u.requests)
            stored[("prompt_tokens", dims)] = float(u.prompt_tokens)
            stored[("completion_tokens", dims)] = float(u.completion_tokens)
            values[f"cost_usd/{u.model}"] = u.cost_usd
        result_store.get_store().save_metrics(name, "token_costs", context.partition_key, stored)
        outcomes = [budget_check(usage, llm.daily_budget_usd)] if llm.daily_budget_usd else []
        metadata = numeric_metadata(values)
        metadata["by_model"] = dg.MetadataValue.json(
            [
                {
                    "model": u.model,
                    "requests": u.requests,
                    "prompt_tokens": u.prompt_tokens,
                    "completion_tokens": u.completion_tokens,
                    "cost_usd": u.cost_usd,
                    "priced": u.cost_usd is not None,
                }
                for u in usage
            ]
        )
        return dg.MaterializeResult(
            metadata=metadata, check_results=[check_result(o, key) for o in outcomes]
        )

    return token_costs
