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
    """Plan the day's answers to judge (all, or the sample) and take them from the slice.

    Args:
        frame: The day's slice, ``columns.slice_columns()`` at least.
        columns: Which column is which.
        config: The monitor's ``llm.judge`` section.

    Returns:
        The plan, and the answers to judge in scoring order.
    """
    from monitoring_pipelines.core.ingest.cleaning import ROW_KEY

    keys = frame[ROW_KEY].to_numpy(dtype=np.uint64)
    intents = frame[columns.intent] if columns.intent else None
    plan = plan_sample(keys, intents, frame[columns.answer], frame[columns.context], config)
    sizes = plan.stratum_sizes()
    rows = frame.iloc[plan.selected]
    labels = plan_labels(rows, columns)

    def texts(column: str | None) -> list[str | None]:
        if column is None:
            return [None] * len(rows)
        return [_text(v) for v in rows[column].tolist()]

    questions, articles = texts(columns.question), texts(columns.article)
    versions, request_ids = texts(columns.model_version), texts(columns.request_id)
    contexts = [str(v) for v in rows[columns.context].tolist()]
    replies = [str(v) for v in rows[columns.answer].tolist()]
    answers = [
        SampledAnswer(
            request_key=f"{int(key):016x}",
            question=questions[i],
            context=contexts[i],
            answer=replies[i],
            intent=intent,
            article=articles[i],
            model_version=versions[i],
            stratum_rows=sizes[intent],
            request_id=request_ids[i],
        )
        for i, (key, intent) in enumerate(zip(keys[plan.selected], labels, strict=True))
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
