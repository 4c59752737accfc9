"""The daily counts the rates asset stores and the next days' scans read back: a rise and the
days its window covered survive the round trip through the result store (SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import date, timedelta

from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.hallucination.rates import ScoreRow, compute_rates
from monitoring_pipelines.core.hallucination.rise import (
    JudgeIdentity,
    RisePolicy,
    assess_rises,
    covered_days,
)
from monitoring_pipelines.core.hallucination.store import load_history, rate_metrics
from monitoring_pipelines.core.store.results import ResultRepository

JUDGE = JudgeIdentity("offline", "offline-claims-3", 0.7)
POLICY = RisePolicy(max_rate=0.10, baseline_days=14)
FIRST = date(2026, 5, 1)


def day_rows(kb_flagged: int) -> list[ScoreRow]:
    """40 answers of KB-2 (intent shipping) and 40 of KB-1, 1 of which flagged."""
    rows = [ScoreRow("shipping", "KB-2", i < kb_flagged, 80) for i in range(40)]
    return rows + [ScoreRow("shipping", "KB-1", i < 1, 80) for i in range(40)]


def run_day(results: ResultRepository, day: date, kb_flagged: int) -> None:
    """What the rates asset does for one day: read the history, test, store the counts."""
    history = load_history(results, "bot", day - timedelta(days=POLICY.history_days), day)
    rates = compute_rates(day_rows(kb_flagged))
    rises = assess_rises(rates, history, JUDGE, POLICY, day)
    metrics = rate_metrics(rates, rises, JUDGE)
    results.save_metrics("bot", Asset.HALLUCINATION_RATE, day.isoformat(), metrics)


def test_a_rise_and_the_days_it_covered_come_back_from_the_store(
    results: ResultRepository,
) -> None:
    for d in range(14):  # two ordinary weeks
        run_day(results, FIRST + timedelta(days=d), 1)
    for d in range(14, 16):  # KB-2 at 45 %
        run_day(results, FIRST + timedelta(days=d), 18)
    last = FIRST + timedelta(days=15)
    history = load_history(results, "bot", FIRST, last)
    assert [d.day for d in history] == [FIRST + timedelta(days=d) for d in range(16)]
    assert all(d.judge == JUDGE for d in history)
    kb = [d.scopes["article=KB-2"] for d in history]
    assert [s.rose for s in kb] == [False] * 14 + [True, True]
    assert [s.window for s in kb[14:]] == [1, 1]
    assert kb[0].n_effective == 40 and kb[0].rate == 1 / 40
    assert covered_days(history, "article=KB-2") == {last, last - timedelta(days=1)}
    assert not history[-1].scopes["article=KB-1"].rose
