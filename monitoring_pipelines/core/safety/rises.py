"""The day's refusal shares as the hallucination rise scan reads rates: every answer weighs 1,
the whole day and each intent a scope (answers of no intent count in the whole day only)."""

from __future__ import annotations

from monitoring_pipelines.core.costs.stored import stored_value
from monitoring_pipelines.core.hallucination.rates import (
    DayRates,
    Scope,
    ScopeRate,
    ScoreRow,
    scope_rate,
)
from monitoring_pipelines.core.safety.day import DaySafety, ScopeSafety


def refusal_rates(day: DaySafety) -> DayRates:
    """The refusal share of the whole day and of each intent, with its Wilson interval."""
    return DayRates(
        overall=_rate(day.overall),
        intents=tuple(_rate(s) for s in day.intents),
        articles=(),
    )


def _rate(scope: ScopeSafety) -> ScopeRate:
    """A scope's refusals as a rate of answers weighing 1 each (plain shares), named by its
    value as stored (a long intent shortened as every stored row has it), so that the scan
    finds the scope's stored days."""
    kind: Scope = "overall" if scope.scope == "overall" else "intent"
    value = stored_value(scope.value) if scope.value else ""
    rows = [(ScoreRow(value, None, i < scope.refusals, 1), 1.0) for i in range(scope.answers)]
    return scope_rate(kind, value, rows)
