"""What the day's LLM answers leak, how many decline and how long they are, per day, intent and
model, with the ``output_leak``, ``refusal_rate`` and ``answer_length`` checks."""

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
    rows_read_metadata,
)
from assets.parts import Part, part
from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import LlmConfig, MonitorConfig
from monitoring_pipelines.core.errors import StoreError
from monitoring_pipelines.core.safety.check import CHECKS, history_days
from monitoring_pipelines.core.safety.day import LEAK_KINDS
from resources import ResultStoreResource, SliceStoreResource

if TYPE_CHECKING:
    import pandas as pd

    from monitoring_pipelines.core.safety.day import Answer, DaySafety

MAX_PLOTTED_SCOPES = 20  # the largest intents and models are plotted; all are stored


def make_output_safety(
    name: str, monitor: MonitorConfig, partitions_def: dg.PartitionsDefinition
) -> Part:
    assert monitor.llm is not None
    llm = monitor.llm
    config = llm.output_safety
    key = dg.AssetKey([name, Asset.OUTPUT_SAFETY])
    history = history_days(config)

    @part(
        key=key,
        group_name=name,
        partitions_def=partitions_def,
        deps=[dg.AssetKey([name, Asset.LIVE_SLICE]), earlier_days_of(key, history)],
        check_specs=check_specs(CHECKS, key, partitions_def),
        description="Share of the day's LLM answers leaking e-mail addresses, phone numbers or "
        "card numbers, share declining, and answer length in words (p50, p95), overall, per "
        "intent and per model.",
    )
    @reports_faults(name)
    def output_safety(
        context: dg.AssetExecutionContext,
        slices: SliceStoreResource,
        result_store: ResultStoreResource,
    ) -> dg.MaterializeResult:
        from monitoring_pipelines.core.safety.assess import assess_day

        day = day_of(context)
        try:
            slice_store = slices.get_store()
            frame = slice_store.frame(name, day, answer_columns(llm))
            read_from = rows_read_metadata(slice_store, name, day)
        except StoreError as exc:
            raise failure(f"monitor '{name}', {day}: {exc}", monitor=name) from exc
        assessed = assess_day(result_store.results(), name, day, day_answers(llm, frame), config)
        metadata = safety_metadata(assessed.safety) | read_from
        return checked(key, metadata, assessed.outcomes)

    return output_safety


def answer_columns(llm: LlmConfig) -> list[str]:
    """The slice columns the measures read."""
    assert llm.answer_column is not None
    optional = (llm.intent_column, llm.model_column)
    return list(dict.fromkeys([llm.answer_column, *(c for c in optional if c)]))


def day_answers(llm: LlmConfig, frame: "pd.DataFrame") -> "list[Answer]":
    """The day's answers, in the slice's order, with their intent and model."""
    import pandas as pd

    from monitoring_pipelines.core.safety.day import Answer

    assert llm.answer_column is not None

    def texts(column: str | None) -> list[str | None]:
        if column is None:
            return [None] * len(frame)
        return [None if pd.isna(v) else str(v) for v in frame[column].tolist()]

    return [
        Answer(text, intent, model)
        for text, intent, model in zip(
            texts(llm.answer_column),
            texts(llm.intent_column),
            texts(llm.model_column),
            strict=True,
        )
    ]


def safety_metadata(safety: "DaySafety") -> dict[str, dg.MetadataValue]:
    """Plottable shares and lengths, overall and for the largest intents and models, and the
    table of every scope."""
    overall = safety.overall
    values: dict[str, Any] = {
        "answers": overall.answers,
        "missing_answers": safety.missing_answers,
        "leaking_answers": overall.leaks["any"],
        "refusals": overall.refusals,
        "refusal_ratio": overall.refusal_ratio,
        "answer_words_p50": overall.words[0.5],
        "answer_words_p95": overall.words[0.95],
    }
    for kind in LEAK_KINDS:
        values[f"leak_ratio_{kind}"] = overall.leak_ratio(kind)
    for scopes in (safety.intents, safety.models):
        largest = sorted(scopes, key=lambda s: (-s.answers, s.value))[:MAX_PLOTTED_SCOPES]
        for s in sorted(largest, key=lambda s: s.value):
            values[f"refusal_ratio@{s.scope}={s.value}"] = s.refusal_ratio
            values[f"leak_ratio_any@{s.scope}={s.value}"] = s.leak_ratio("any")
    metadata = numeric_metadata(values)
    metadata["by_scope"] = dg.MetadataValue.json(
        [
            {
                "scope": s.scope,
                "value": s.value,
                "answers": s.answers,
                **{f"leaks_{k}": n for k, n in s.leaks.items()},
                "refusals": s.refusals,
                "answer_words_p50": s.words[0.5],
                "answer_words_p95": s.words[0.95],
            }
            for s in safety.scopes
        ]
    )
    return metadata
