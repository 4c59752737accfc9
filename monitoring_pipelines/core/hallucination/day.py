"""From the day's slice to the answers the judge scores: which columns, which rows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from monitoring_pipelines.core.config import JudgeConfig, MonitorConfig
from monitoring_pipelines.core.hallucination.sampling import (
    ALL_ANSWERS,
    SamplePlan,
    intent_label,
    plan_sample,
)
from monitoring_pipelines.core.hallucination.scoring import SampledAnswer

# pandas and the slice's cleaning module are imported where they are used: loading the
# definitions (which read AnswerColumns) needs neither.
if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class AnswerColumns:
    """The slice columns of a monitor's LLM answers (the configured ``llm.*_column``)."""

    answer: str
    context: str
    question: str | None = None
    intent: str | None = None
    article: str | None = None
    model_version: str | None = None
    request_id: str | None = None

    @classmethod
    def for_monitor(cls, monitor: MonitorConfig) -> AnswerColumns | None:
        """The columns, or ``None`` when the monitor logs no answer or no context.

        The model version is the canary's version column when one is configured, else the
        LLM model name.
        """
        llm = monitor.llm
        if llm is None or not llm.answer_column or not llm.context_column:
            return None
        return cls(
            answer=llm.answer_column,
            context=llm.context_column,
            question=llm.question_column,
            intent=llm.intent_column,
            article=llm.article_column,
            model_version=monitor.canary.version_column if monitor.canary else llm.model_column,
            request_id=monitor.source.request_id_column,
        )

    def slice_columns(self) -> list[str]:
        from monitoring_pipelines.core.ingest.cleaning import ROW_KEY

        optional = (self.question, self.intent, self.article, self.model_version, self.request_id)
        columns = [ROW_KEY, self.answer, self.context, *(c for c in optional if c)]
        return list(dict.fromkeys(columns))


def sample_day(
    frame: pd.DataFrame, columns: AnswerColumns, config: JudgeConfig
) -> tuple[SamplePlan, list[SampledAnswer]]:
    """Plan the day's sample and take its answers from the slice's rows.

    Args:
        frame: The day's slice, ``columns.slice_columns()`` at least.
        columns: Which column is which.
        config: The monitor's ``llm.judge`` section.

    Returns:
        The plan, and the sampled answers in scoring order.
    """
    from monitoring_pipelines.core.ingest.cleaning import ROW_KEY

    keys = frame[ROW_KEY].to_numpy(dtype=np.uint64)
    intents = frame[columns.intent] if columns.intent else None
    plan = plan_sample(keys, intents, frame[columns.answer], frame[columns.context], config)
    sizes = plan.stratum_sizes()
    rows = frame.iloc[plan.selected]
    labels = plan_labels(rows, columns)
    answers = [
        SampledAnswer(
            request_key=f"{int(key):016x}",
            question=_text(row.get(columns.question)) if columns.question else None,
            context=str(row[columns.context]),
            answer=str(row[columns.answer]),
            intent=intent,
            article=_text(row.get(columns.article)) if columns.article else None,
            model_version=_text(row.get(columns.model_version)) if columns.model_version else None,
            stratum_rows=sizes[intent],
            request_id=_text(row.get(columns.request_id)) if columns.request_id else None,
        )
        for (_, row), key, intent in zip(rows.iterrows(), keys[plan.selected], labels, strict=True)
    ]
    return plan, answers


def plan_labels(rows: pd.DataFrame, columns: AnswerColumns) -> list[str]:
    """The stratum (intent label) of each sampled row, as the plan named it."""
    if columns.intent is None:
        return [ALL_ANSWERS] * len(rows)
    return [intent_label(v) for v in rows[columns.intent].tolist()]


def _text(value: object) -> str | None:
    import pandas as pd

    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)
