"""A day's verdicts: each batch's GX outcome added up per expectation into plain results."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from monitoring_pipelines.core.quality.counts import MAX_EXAMPLES, mostly_met
from monitoring_pipelines.core.quality.suite import ExpectationKind, ExpectationSpec


@dataclass(frozen=True)
class ExpectationResult:
    """The verdict of one expectation on a whole day.

    Attributes:
        name: ``<column>:<kind>``, the finding's subject.
        kind: The expectation's kind.
        column: The column, or None for the row count.
        success: Whether the day meets it (all batches' counts added up).
        observed: The unexpected share (null share for ``nulls``), the row count, or the
            column's dtype for a type judged by dtype; None when nothing was evaluated.
        unexpected_count: Values breaking it (None for the row count or a dtype verdict).
        unexpected_share: ``unexpected_count`` over the values considered (all rows for
            ``nulls``, non-null values otherwise); None when none were considered.
        considered: Values considered (rows for ``nulls``, non-null values otherwise).
        allowed_share: Share tolerated (None for the row count).
        expected: What was expected, in words.
        examples: A few unexpected values, as text.
        batches_failed: Batches GX itself judged failing (its verdict on a single batch).
        error: GX's error message when the expectation could not be evaluated.
    """

    name: str
    kind: ExpectationKind
    column: str | None
    success: bool
    observed: float | int | str | None
    unexpected_count: int | None
    unexpected_share: float | None
    considered: int
    allowed_share: float | None
    expected: str
    examples: tuple[str, ...] = ()
    batches_failed: int = 0
    error: str | None = None


@dataclass(frozen=True)
class QualityReport:
    """One day's validation.

    Attributes:
        results: One per expectation of the suite, in its order.
        rows: Rows validated (all of the day, or a uniform sample of ``day_rows``).
        batches: Batches validated (one GX validation each).
        seconds: Wall time of the validation (suite building included, import excluded).
        notes: The suite's notes (expectations that could not be derived).
    """

    results: tuple[ExpectationResult, ...]
    rows: int
    batches: int
    seconds: float
    notes: tuple[str, ...] = ()
    day_rows: int | None = None
    """Rows of the day when only a uniform sample of them (``rows``) was validated."""

    @property
    def failed(self) -> list[ExpectationResult]:
        return [r for r in self.results if not r.success]


@dataclass(frozen=True)
class BatchOutcome:
    """GX's result for one expectation on one batch."""

    success: bool
    result: Mapping[str, Any]
    error: str | None


@dataclass
class Tally:
    """An expectation's counts over the batches seen so far."""

    elements: int = 0
    missing: int = 0
    unexpected: int = 0
    counted: bool = False
    observed: Any = None
    all_passed: bool = True
    batches_failed: int = 0
    examples: list[str] = field(default_factory=list)
    error: str | None = None

    def add(self, outcome: BatchOutcome) -> None:
        if not outcome.success:
            self.batches_failed += 1
        if outcome.error is not None:
            self.error = self.error or outcome.error
            return
        result = outcome.result
        if "unexpected_count" in result:
            self.counted = True
            self.elements += int(result.get("element_count") or 0)
            self.missing += int(result.get("missing_count") or 0)
            self.unexpected += int(result.get("unexpected_count") or 0)
            for value in result.get("partial_unexpected_list") or []:
                text = _as_text(value)
                if text not in self.examples and len(self.examples) < MAX_EXAMPLES:
                    self.examples.append(text)
        else:
            self.observed = result.get("observed_value")
            self.all_passed &= outcome.success


def verdict(spec: ExpectationSpec, tally: Tally, rows: int) -> ExpectationResult:
    base = ExpectationResult(
        name=spec.name,
        kind=spec.kind,
        column=spec.column,
        success=False,
        observed=None,
        unexpected_count=None,
        unexpected_share=None,
        considered=0,
        allowed_share=spec.allowed_share,
        expected=spec.expected,
        batches_failed=tally.batches_failed,
    )
    if tally.error is not None:
        return replace(base, error=tally.error)
    if spec.kind == "row_count":
        low = spec.min_value or 0.0
        high = math.inf if spec.max_value is None else spec.max_value
        return replace(
            base, success=low <= rows <= high, observed=rows, considered=rows, allowed_share=None
        )
    if not tally.counted:  # a type judged by the column's dtype
        observed = None if tally.observed is None else str(tally.observed)
        return replace(base, success=tally.all_passed, observed=observed, considered=rows)
    considered = tally.elements - tally.missing
    share = tally.unexpected / considered if considered else None
    return replace(
        base,
        success=mostly_met(considered, tally.unexpected, spec.mostly),
        observed=share,
        unexpected_count=tally.unexpected,
        unexpected_share=share,
        considered=considered,
        examples=tuple(tally.examples),
    )


def _as_text(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "null"
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)[:60]
