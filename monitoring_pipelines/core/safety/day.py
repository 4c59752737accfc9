"""The day's output-safety measures of LLM answers, overall, per intent and per model.

Per scope: the answers read, the answers leaking each kind of PII and any kind, the answers
that decline, and the answer length in words (p50, p95). Each leaking answer of the day can
serve as an example, redacted: the leaked values never leave this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np

from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.pii import KINDS, PiiKind, find_pii, redact
from monitoring_pipelines.core.safety.refusal import RefusalMatcher

Scope = Literal["overall", "intent", "model"]
LeakKind = Literal["email", "phone", "card", "any"]
LEAK_KINDS: Final[tuple[LeakKind, ...]] = ("email", "phone", "card", "any")
QUANTILES: Final[tuple[float, ...]] = (0.5, 0.95)
MAX_EXAMPLES: Final = 3
EXAMPLE_CHARS: Final = 160
MISSING: Final = "(missing)"


@dataclass(frozen=True)
class Answer:
    """One answer of the day as the measures need it (``text`` None: no answer logged)."""

    text: str | None
    intent: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class ScopeSafety:
    """The measures of one scope on one day.

    Attributes:
        scope: ``overall``, ``intent`` or ``model``.
        value: The intent or model (``""`` overall).
        answers: Answers with a text.
        leaks: Answers leaking each kind (``any``: at least one kind).
        refusals: Answers that decline.
        words: Answer length in words at each of :data:`QUANTILES` (None without answers).
    """

    scope: Scope
    value: str
    answers: int
    leaks: Mapping[LeakKind, int]
    refusals: int
    words: Mapping[float, float | None]

    def leak_ratio(self, kind: LeakKind) -> float | None:
        return self.leaks[kind] / self.answers if self.answers else None

    @property
    def refusal_ratio(self) -> float | None:
        return self.refusals / self.answers if self.answers else None


@dataclass(frozen=True)
class LeakExample:
    """A leaking answer, redacted and cut to :data:`EXAMPLE_CHARS` around its first leak."""

    kinds: tuple[PiiKind, ...]
    intent: str | None
    model: str | None
    text: str


@dataclass(frozen=True)
class DaySafety:
    """Every scope's measures on one day, and up to :data:`MAX_EXAMPLES` redacted examples.

    Attributes:
        overall: The whole day.
        intents: Per intent (none when the log has no intent column).
        models: Per model (none when the log has no model column).
        missing_answers: Rows without an answer text (counted, not measured).
        examples: Leaking answers, redacted, in the day's order: the first
            :data:`MAX_EXAMPLES` of each kind.
        leak_kinds: The kinds each leaking answer leaks, in the day's order.
    """

    overall: ScopeSafety
    intents: tuple[ScopeSafety, ...] = ()
    models: tuple[ScopeSafety, ...] = ()
    missing_answers: int = 0
    examples: tuple[LeakExample, ...] = field(default_factory=tuple)
    leak_kinds: tuple[frozenset[PiiKind], ...] = field(default_factory=tuple)

    @property
    def scopes(self) -> tuple[ScopeSafety, ...]:
        return (self.overall, *self.intents, *self.models)


@dataclass(frozen=True)
class _Measured:
    intent: str | None
    model: str | None
    kinds: frozenset[PiiKind]
    refused: bool
    words: int


def words(text: str) -> int:
    """Whitespace-separated words."""
    return len(text.split())


def measure_day(answers: Iterable[Answer], refusals: RefusalMatcher) -> DaySafety:
    """The day's measures from its answers.

    Args:
        answers: The day's answers, in a deterministic order (the examples are the first).
        refusals: What counts as declining.

    Returns:
        The measures; intents and models sorted by name.
    """
    measured: list[_Measured] = []
    examples: list[LeakExample] = []
    missing = 0
    for answer in answers:
        if answer.text is None:
            missing += 1
            continue
        spans = find_pii(answer.text)
        kinds = frozenset(s.kind for s in spans)
        measured.append(
            _Measured(
                answer.intent,
                answer.model,
                kinds,
                refusals.declines(answer.text),
                words(answer.text),
            )
        )
        if any(sum(k in e.kinds for e in examples) < MAX_EXAMPLES for k in kinds):
            examples.append(_example(answer, spans[0].start, kinds))
    by_intent: dict[str, list[_Measured]] = {}
    by_model: dict[str, list[_Measured]] = {}
    for m in measured:
        if m.intent is not None:
            by_intent.setdefault(m.intent, []).append(m)
        if m.model is not None:
            by_model.setdefault(m.model, []).append(m)
    return DaySafety(
        overall=_scope("overall", "", measured),
        intents=tuple(_scope("intent", k, v) for k, v in sorted(by_intent.items())),
        models=tuple(_scope("model", k, v) for k, v in sorted(by_model.items())),
        missing_answers=missing,
        examples=tuple(examples),
        leak_kinds=tuple(m.kinds for m in measured if m.kinds),
    )


def _scope(scope: Scope, value: str, rows: Sequence[_Measured]) -> ScopeSafety:
    leaks: dict[LeakKind, int] = {k: sum(k in r.kinds for r in rows) for k in KINDS}
    leaks["any"] = sum(bool(r.kinds) for r in rows)
    lengths = np.array([r.words for r in rows], dtype=float)
    quantiles: dict[float, float | None] = {
        q: (float(np.quantile(lengths, q)) if len(lengths) else None) for q in QUANTILES
    }
    return ScopeSafety(
        scope=scope,
        value=value,
        answers=len(rows),
        leaks=leaks,
        refusals=sum(r.refused for r in rows),
        words=quantiles,
    )


def _example(answer: Answer, first: int, kinds: frozenset[PiiKind]) -> LeakExample:
    """The answer redacted, cut around its first leak (redaction happens on the whole text,
    so a cut never leaves part of a value behind)."""
    assert answer.text is not None
    start = max(first - EXAMPLE_CHARS // 2, 0)  # nothing before the first leak is redacted
    text = redact(answer.text).text
    piece = text[start : start + EXAMPLE_CHARS]
    if start > 0:
        piece = "…" + piece
    if start + EXAMPLE_CHARS < len(text):
        piece += "…"
    return LeakExample(
        kinds=tuple(k for k in KINDS if k in kinds),
        intent=answer.intent,
        model=answer.model,
        text=piece,
    )


def has_output_safety(monitor: MonitorConfig) -> bool:
    """Whether the monitor logs LLM answers and measures their safety."""
    llm = monitor.llm
    return llm is not None and bool(llm.answer_column) and llm.output_safety.enabled
