"""The hallucination results in the result store: the day's scores (and its review items), and
the daily counts the rates asset writes and the next days' baselines read back.

Functions over a :class:`ResultRepository`, beside the domain they map, as the report's reads are.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import select

from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.dimensions import decode, dimensions
from monitoring_pipelines.core.hallucination.governance import audit_priority, audit_selected
from monitoring_pipelines.core.hallucination.rates import DayRates, ScopeRate, ScoreRow
from monitoring_pipelines.core.hallucination.review import (
    EnqueueReport,
    ReviewQueue,
    span_columns,
    stored_span,
)
from monitoring_pipelines.core.hallucination.rise import (
    JudgeIdentity,
    RiseResults,
    StoredDay,
    StoredScope,
)
from monitoring_pipelines.core.hallucination.scoring import ScoringRun, StoredKey
from monitoring_pipelines.core.judge.base import Verdict
from monitoring_pipelines.core.judge.cache import CacheKey
from monitoring_pipelines.core.store import tables as t
from monitoring_pipelines.core.store.database import now
from monitoring_pipelines.core.store.results import ResultRepository

JUDGE_METRIC = "judge"  # dimensions name the judge and prompt version; the value is the threshold
JUDGE_COST_METRIC = "judge_cost_usd"  # what the judge spent on the partition, all runs together


def save_scores(
    store: ResultRepository,
    monitor: str,
    partition: str,
    run: ScoringRun,
    audit_rate: float = 0.0,
    audit_limit: int | None = None,
) -> EnqueueReport:
    """Replace the partition's scores and queue its flagged answers and its audit sample of
    passing ones (``audit_rate`` of them by request key, at most ``audit_limit``: the first
    in the audit order), in one transaction.

    With every answer of the day judged, most rows are of answers that passed and that nobody
    reviews: they are kept compact, without the judge's rationale (the texts themselves are
    stored only in the review queue, for the answers queued there). A compact verdict is
    reused on a rerun only while it still passes (:func:`~.scoring.score_sample`).
    """
    stamp = now()
    audited = [
        s for s in run.scored if not s.flagged and audit_selected(s.sampled.request_key, audit_rate)
    ]
    if audit_limit is not None:
        audited = sorted(audited, key=lambda s: audit_priority(s.sampled.request_key))
        audited = audited[:audit_limit]
    queued = {s.sampled.request_key for s in (*run.flagged, *audited)}
    rows = [
        {
            "request_key": s.sampled.request_key,
            "intent": s.sampled.intent,
            "article": s.sampled.article,
            "model_version": s.sampled.model_version,
            "stratum_rows": s.sampled.stratum_rows,
            "score": s.verdict.score,
            "threshold": s.threshold,
            "flagged": s.flagged,
            "rationale": s.verdict.rationale if s.sampled.request_key in queued else "",
            "judge": s.verdict.judge,
            "prompt_version": s.verdict.prompt_version,
            "tokens_in": s.verdict.tokens_in,
            "tokens_out": s.verdict.tokens_out,
            "cost_usd": s.verdict.cost_usd,
            "scored_at": stamp,
            "content_sha256": s.sampled.content_sha256,
            **span_columns(s.verdict.unsupported_span),
        }
        for s in run.scored
    ]
    with store.transaction() as conn:
        store.replace_rows(
            t.faithfulness_scores, {"monitor": monitor, "partition_key": partition}, rows, conn
        )
        return ReviewQueue(store).enqueue(conn, monitor, partition, run.flagged, audited)


def load_verdicts(
    store: ResultRepository, monitor: str, partition: str, judge: str, prompt_version: str
) -> dict[StoredKey, Verdict]:
    """The partition's stored verdicts of one judge and prompt version, by request and what
    they judged (the judge, its prompt version and the hash of the texts); a score stored
    without the hash of its texts is left out, as nothing tells which texts it judged."""
    c = t.faithfulness_scores.c
    query = select(t.faithfulness_scores).where(
        c.monitor == monitor,
        c.partition_key == partition,
        c.judge == judge,
        c.prompt_version == prompt_version,
        c.content_sha256.is_not(None),
    )
    with store.transaction() as conn:
        rows = conn.execute(query).all()
    return {
        StoredKey(r.request_key, CacheKey(r.judge, r.prompt_version, r.content_sha256)): Verdict(
            score=r.score,
            rationale=r.rationale,
            judge=r.judge,
            prompt_version=r.prompt_version,
            tokens_in=r.tokens_in,
            tokens_out=r.tokens_out,
            cost_usd=r.cost_usd,
            unsupported_span=stored_span(r.span_start, r.span_end),
        )
        for r in rows
    }


def load_judge_cost(
    store: ResultRepository, monitor: str, asset: str, partition: str
) -> float | None:
    """What the judge spent on the partition in earlier runs: the ``judge_cost_usd`` the last
    run of the scoring ``asset`` stored (a total over the runs); ``None`` when none is known."""
    for row in store.load_metrics(monitor, asset, partition):
        if row.name == JUDGE_COST_METRIC and row.dimensions == "":
            value = row.value
            return None if value is None else float(value)
    return None


def load_scores(
    store: ResultRepository, monitor: str, partition: str
) -> tuple[list[ScoreRow], JudgeIdentity | None]:
    """The partition's scored answers and the judge that scored them (the most used one)."""
    c = t.faithfulness_scores.c
    query = select(
        c.intent, c.article, c.flagged, c.stratum_rows, c.judge, c.prompt_version, c.threshold
    ).where(c.monitor == monitor, c.partition_key == partition)
    with store.transaction() as conn:
        found = conn.execute(query).all()
    rows = [ScoreRow(r.intent, r.article, bool(r.flagged), int(r.stratum_rows)) for r in found]
    judges: dict[JudgeIdentity, int] = defaultdict(int)
    for r in found:
        judges[JudgeIdentity(r.judge, r.prompt_version, float(r.threshold))] += 1
    judge = max(judges, key=lambda j: (judges[j], j.label)) if judges else None
    return rows, judge


def rate_metrics(
    rates: DayRates, rises: RiseResults, judge: JudgeIdentity
) -> dict[tuple[str, str], float | None]:
    """The day's stored counts per scope, as ``save_metrics`` takes them."""
    out: dict[tuple[str, str], float | None] = {
        (JUDGE_METRIC, dimensions(judge=judge.judge, prompt_version=judge.prompt_version)): (
            judge.threshold
        )
    }
    tests = {test.current.subject: test for test in (rises.overall, *rises.scopes)}
    for rate in rates.scopes:
        dims = _dims(rate)
        test = tests.get(rate.subject)
        values: dict[str, float | None] = {
            "hallucination_rate": rate.rate,
            "ci_low": rate.low,
            "ci_high": rate.high,
            "scored": float(rate.scored),
            "flagged": float(rate.flagged),
            "n_effective": rate.n_effective,
        }
        if test is not None and test.evaluated and test.window is not None:
            values |= {
                "rise": 1.0 if test.significant else 0.0,
                "p_value": test.p_value,
                "p_adjusted": test.p_adjusted,
                "rise_window": float(test.window.days),
                "window_rate": test.window.rate,
                "windows_tested": float(test.windows_tested),
            }
        if test is not None and test.baseline is not None:
            values["baseline_rate"] = test.baseline.rate
        out |= {(name, dims): value for name, value in values.items()}
    return out


def load_daily_rates(store: ResultRepository, monitor: str) -> dict[date, float]:
    """The overall hallucination rate of every stored day of ``monitor``."""
    c = t.metrics.c
    query = select(c.partition_key, c.value).where(
        c.monitor == monitor,
        c.asset == Asset.HALLUCINATION_RATE,
        c.name == "hallucination_rate",
        c.dimensions == "",
        c.value.is_not(None),
    )
    with store.transaction() as conn:
        rows = conn.execute(query).all()
    return {date.fromisoformat(row.partition_key): float(row.value) for row in sorted(rows)}


def load_history(store: ResultRepository, monitor: str, first: date, last: date) -> list[StoredDay]:
    """The stored days from ``first`` to ``last`` (both included) that have counts."""
    c = t.metrics.c
    query = select(c.partition_key, c.name, c.dimensions, c.value).where(
        c.monitor == monitor,
        c.asset == Asset.HALLUCINATION_RATE,
        c.partition_key >= first.isoformat(),
        c.partition_key <= last.isoformat(),
        c.name.in_([JUDGE_METRIC, "hallucination_rate", "n_effective", "rise", "rise_window"]),
    )
    per_day: dict[str, list[tuple[str, str, float | None]]] = defaultdict(list)
    with store.transaction() as conn:
        for row in conn.execute(query):
            per_day[row.partition_key].append((row.name, row.dimensions, row.value))
    return [_stored_day(day, rows) for day, rows in sorted(per_day.items())]


def _stored_day(partition: str, rows: list[tuple[str, str, float | None]]) -> StoredDay:
    judge = None
    values: dict[str, dict[str, float]] = defaultdict(dict)
    for name, dims, value in rows:
        if name == JUDGE_METRIC:
            named = decode(dims)
            judge = JudgeIdentity(
                str(named.get("judge", "")), str(named.get("prompt_version", "")), value or 0.0
            )
        elif value is not None:
            values[_subject(dims)][name] = value
    scopes = {
        subject: StoredScope(
            v["hallucination_rate"],
            v["n_effective"],
            v.get("rise") == 1.0,
            int(v.get("rise_window", 1)),
        )
        for subject, v in values.items()
        if "hallucination_rate" in v and "n_effective" in v
    }
    return StoredDay(date.fromisoformat(partition), judge, scopes)


def _dims(rate: ScopeRate) -> str:
    if rate.scope == "overall":
        return ""
    return dimensions(**{rate.scope: rate.value})


def _subject(dims: str) -> str:
    if not dims:
        return ""
    named = decode(dims)
    return ",".join(f"{k}={v}" for k, v in named.items())
