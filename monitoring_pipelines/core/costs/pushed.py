"""A pushed-down day's token usage: the sums :func:`~.day.compute_costs` prices, per (model,
intent), computed in the warehouse over the day's regular rows and merged with its residual
rows cleaned as the pull path cleans them. Token sums, row counts and costs equal the pull
path's (token counts are integers, which doubles sum exactly below 2**53).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.sql.elements import ColumnElement

from monitoring_pipelines.core.config import LlmConfig
from monitoring_pipelines.core.costs.day import (
    NO_INTENT,
    UNKNOWN_INTENT,
    UNKNOWN_MODEL,
    CellSums,
    cell_sums,
    clean_rows,
)
from monitoring_pipelines.core.ingest.pushdown import sql as sq
from monitoring_pipelines.core.ingest.pushdown.groups import text_key
from monitoring_pipelines.core.ingest.pushdown.model import GROUP_CAP, DayScan, PushdownDeclined


@dataclass(frozen=True)
class CostQuery:
    """The query of a day's token sums (a ``PushdownPlan.extra``): called with the day's scan,
    it returns the day's :class:`~.day.CellSums` per (model, intent), as JSON."""

    llm: LlmConfig

    def __call__(self, scan: DayScan) -> list[list[Any]]:
        llm = self.llm
        model = text_key(scan, llm.model_column)
        intent = text_key(scan, llm.intent_column) if llm.intent_column else None
        prompt = scan.values[llm.prompt_tokens_column]
        completion = scan.values[llm.completion_tokens_column]
        zero = sq.double(0.0)
        usable = and_(prompt >= zero, completion >= zero)  # false for a null
        measures: list[ColumnElement[Any]] = [
            func.count(),
            sq.sum_if(prompt, usable),
            sq.sum_if(completion, usable),
            sq.count_if(~usable | prompt.is_(None) | completion.is_(None)),
        ]
        if llm.cached_tokens_column:
            cached = scan.values[llm.cached_tokens_column]
            bad = or_(cached.is_(None), cached < zero, cached > prompt)
            measures += [
                sq.sum_if(cached, and_(usable, ~bad)),
                sq.count_if(and_(usable, bad)),
            ]
        else:
            measures += [literal(0.0), literal(0)]
        keys = [model.label("m"), *([intent.label("i")] if intent is not None else [])]
        rows_of = select(*keys, *(m.label(f"a{i}") for i, m in enumerate(measures)))
        query = rows_of.where(scan.regular).group_by(*keys).limit(GROUP_CAP + 1)
        rows = scan.execute(query)
        if len(rows) > GROUP_CAP:
            raise PushdownDeclined(f"more than {GROUP_CAP} (model, intent) pairs on {scan.day}")
        sums: dict[tuple[str, str], CellSums] = {}
        for row in rows:
            m = UNKNOWN_MODEL if row[0] is None else str(row[0])
            i = NO_INTENT if intent is None else UNKNOWN_INTENT if row[1] is None else str(row[1])
            n, p, c, missing, k, bad_cached = row[len(keys) :]
            part = CellSums(
                int(n), float(p or 0), float(k or 0), float(c or 0), int(missing or 0),
                int(bad_cached or 0),
            )  # fmt: skip
            sums[(m, i)] = sums.get((m, i), CellSums()).plus(part)
        residual = scan.residual
        if len(residual):
            cleaned = clean_rows(
                residual[llm.model_column],
                residual[llm.prompt_tokens_column],
                residual[llm.completion_tokens_column],
                residual[llm.cached_tokens_column] if llm.cached_tokens_column else None,
                residual[llm.intent_column] if llm.intent_column else None,
            )
            for key, part in cell_sums(cleaned).items():
                sums[key] = sums.get(key, CellSums()).plus(part)
        return [[m, i, asdict(s)] for (m, i), s in sorted(sums.items())]


def pushed_sums(found: list[list[Any]]) -> Mapping[tuple[str, str], CellSums]:
    """:class:`CostQuery`'s result read back."""
    return {(str(m), str(i)): CellSums(**s) for m, i, s in found}
