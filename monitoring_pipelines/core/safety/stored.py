"""The ``output_safety`` rows of the result store: what a day stores, and the history the next
days' checks read back.

Per partition and scope (the whole day: no dimensions; ``intent=...``; ``model=...``): the
answers, the leaking answers by kind and their share, the refusals and their share, the answer
length in words (p50, p95); per whole day and intent, the refusal rise's verdict; and the
refusal patterns' version (``refusal_patterns``, dimensions ``version``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date

from sqlalchemy import select

from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.costs.stored import metric_dims
from monitoring_pipelines.core.dimensions import decode, dimensions
from monitoring_pipelines.core.hallucination.rise import (
    JudgeIdentity,
    RiseResults,
    StoredDay,
    StoredScope,
)
from monitoring_pipelines.core.safety.day import LEAK_KINDS, DaySafety, ScopeSafety
from monitoring_pipelines.core.safety.refusal import RefusalMatcher
from monitoring_pipelines.core.store import tables as t
from monitoring_pipelines.core.store.results import ResultRepository

Metrics = dict[tuple[str, str], float | None]
PATTERNS_METRIC = "refusal_patterns"
WORDS = {0.5: "answer_words_p50", 0.95: "answer_words_p95"}


def patterns_identity(matcher: RefusalMatcher) -> JudgeIdentity:
    """What makes two days' refusal counts comparable: the same patterns."""
    return JudgeIdentity(PATTERNS_METRIC, matcher.version, 0.0)


def scope_dims(scope: ScopeSafety) -> str:
    """The stored dimensions of a scope: a model or intent shortened as ``token_costs`` stores
    it (:func:`~monitoring_pipelines.core.costs.stored.stored_value`), so each reads the same in
    every row and asset it is part of."""
    return "" if scope.scope == "overall" else metric_dims(**{scope.scope: scope.value})


def safety_metrics(day: DaySafety, rises: RiseResults, matcher: RefusalMatcher) -> Metrics:
    """Every value the ``output_safety`` partition stores (see the module docstring)."""
    out: Metrics = {
        (PATTERNS_METRIC, dimensions(version=matcher.version)): float(len(matcher.patterns)),
        ("missing_answers", ""): float(day.missing_answers),
    }
    for scope in day.scopes:
        dims = scope_dims(scope)
        out[("answers", dims)] = float(scope.answers)
        for kind in LEAK_KINDS:
            out[(f"leaks_{kind}", dims)] = float(scope.leaks[kind])
            out[(f"leak_ratio_{kind}", dims)] = scope.leak_ratio(kind)
        out[("refusals", dims)] = float(scope.refusals)
        out[("refusal_ratio", dims)] = scope.refusal_ratio
        for q, name in WORDS.items():
            out[(name, dims)] = scope.words[q]
    for test in (rises.overall, *rises.scopes):
        dims = _rate_dims(test.current.subject)
        if test.evaluated and test.window is not None:
            out[("refusal_rise", dims)] = 1.0 if test.significant else 0.0
            out[("refusal_rise_window", dims)] = float(test.window.days)
            out[("refusal_p_adjusted", dims)] = test.p_adjusted
            out[("refusal_baseline_ratio", dims)] = test.window.baseline.rate
    return out


def _rate_dims(subject: str) -> str:
    """Stored dimensions of a rise test's subject (``""``, ``intent=<fitted value>``)."""
    if not subject:
        return ""
    key, value = subject.split("=", 1)
    return dimensions(**{key: value})


def load_refusal_history(
    store: ResultRepository, monitor: str, first: date, last: date
) -> list[StoredDay]:
    """The stored days from ``first`` to ``last`` (both included) as the rise scan reads them:
    the refusal share and answers of the whole day and of each intent."""
    c = t.metrics.c
    names = [PATTERNS_METRIC, "refusal_ratio", "answers", "refusal_rise", "refusal_rise_window"]
    query = select(c.partition_key, c.name, c.dimensions, c.value).where(
        c.monitor == monitor,
        c.asset == Asset.OUTPUT_SAFETY,
        c.partition_key >= first.isoformat(),
        c.partition_key <= last.isoformat(),
        c.name.in_(names),
    )
    per_day: dict[str, list[tuple[str, str, float | None]]] = defaultdict(list)
    with store.transaction() as conn:
        for row in conn.execute(query):
            per_day[row.partition_key].append((row.name, row.dimensions, row.value))
    return [stored_day(day, rows) for day, rows in sorted(per_day.items())]


def stored_day(day: str, rows: Sequence[tuple[str, str, float | None]]) -> StoredDay:
    """One stored day from its rows (name, dimensions, value), as the rise scan reads it."""
    identity = None
    values: dict[str, dict[str, float]] = defaultdict(dict)
    for name, dims, value in rows:
        if name == PATTERNS_METRIC:
            identity = JudgeIdentity(PATTERNS_METRIC, decode(dims).get("version", ""), 0.0)
            continue
        decoded = decode(dims)
        if set(decoded) - {"intent"} or value is None:
            continue  # per-model rows are not scanned for rises
        subject = "" if not decoded else f"intent={decoded['intent']}"
        values[subject][name] = float(value)
    scopes = {
        subject: StoredScope(
            rate=v.get("refusal_ratio", 0.0),
            n_effective=v.get("answers", 0.0),
            rose=v.get("refusal_rise", 0.0) > 0,
            window=int(v.get("refusal_rise_window", 1.0)),
        )
        for subject, v in values.items()
        if "answers" in v
    }
    return StoredDay(date.fromisoformat(day), identity, scopes)


def load_length_history(
    store: ResultRepository, monitor: str, first: date, last: date
) -> dict[str, dict[date, float]]:
    """The whole day's answer length (p50, p95 in words) of each stored day from ``first`` to
    ``last``, by metric name."""
    c = t.metrics.c
    query = select(c.partition_key, c.name, c.value).where(
        c.monitor == monitor,
        c.asset == Asset.OUTPUT_SAFETY,
        c.partition_key >= first.isoformat(),
        c.partition_key <= last.isoformat(),
        c.name.in_(list(WORDS.values())),
        c.dimensions == "",
        c.value.is_not(None),
    )
    out: dict[str, dict[date, float]] = {name: {} for name in WORDS.values()}
    with store.transaction() as conn:
        for row in conn.execute(query):
            out[row.name][date.fromisoformat(row.partition_key)] = float(row.value)
    return out
