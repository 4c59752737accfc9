"""The output-safety checks of one day: ``output_leak``, ``refusal_rate``, ``answer_length``.

* ``output_leak``: one finding about the day; one answer leaking a kind of ``leaks.kinds``
  (``email``, ``phone``, ``card``) fails it, critical from ``leaks.critical_share`` of the
  answers or ``leaks.critical_count`` of them. Examples are redacted: a finding never carries
  the value.
* ``refusal_rate``: the refusal share of the whole day and of each intent, scanned for a rise
  by the hallucination rate's machinery (Fisher's exact test of the last 1 to
  ``refusals.window_days`` days against the ``refusals.baseline_days`` before them, Holm over
  the scopes); critical when the overall share rose to at least twice its baseline.
* ``answer_length``: the day's p50 and p95 answer length in words against their trailing
  baseline, scored as anomalies are (robust z, both directions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Final

from monitoring_pipelines.core.anomaly.scoring import MetricAnomaly, evaluate
from monitoring_pipelines.core.catalog import critical_factor
from monitoring_pipelines.core.checks import WHOLE, CheckOutcome, Finding
from monitoring_pipelines.core.config import (
    AnomalyConfig,
    LeakConfig,
    LengthConfig,
    OutputSafetyConfig,
    RefusalConfig,
    Severity,
)
from monitoring_pipelines.core.hallucination.check import rise_text
from monitoring_pipelines.core.hallucination.rise import RisePolicy, RiseResults, RiseTest
from monitoring_pipelines.core.pii import KINDS
from monitoring_pipelines.core.safety.day import MAX_EXAMPLES, DaySafety, LeakExample
from monitoring_pipelines.core.wording import count

LEAK_CHECK: Final = "output_leak"
REFUSAL_CHECK: Final = "refusal_rate"
LENGTH_CHECK: Final = "answer_length"
CHECKS: Final = (LEAK_CHECK, REFUSAL_CHECK, LENGTH_CHECK)
NOUNS: Final = {"email": "e-mail addresses", "phone": "phone numbers", "card": "card numbers"}


def leak_check(day: DaySafety, config: LeakConfig) -> CheckOutcome:
    """Fails on any answer leaking one of ``config.kinds``: one finding about the whole day
    (one incident, one message), naming each kind, its count and a redacted example."""
    overall = day.overall
    if overall.answers == 0:
        return CheckOutcome(LEAK_CHECK, (), "not evaluated: no answers", {"answers": 0})
    checked_kinds = [k for k in KINDS if k in config.kinds]
    leaking = sum(bool(set(e) & set(checked_kinds)) for e in day.leak_kinds)
    share = leaking / overall.answers
    parts = []
    for kind in checked_kinds:
        n = overall.leaks[kind]
        if not n:
            continue
        text = f"{NOUNS[kind]} in {count(n, 'answer')}"
        example = next((e for e in day.examples if kind in e.kinds), None)
        if example is not None:
            text += f", e.g. {_quote(example)}"
        parts.append(text)
    if parts:
        summary = f"{leaking} of {overall.answers} answers ({_pct(share)}) leak PII: " + "; ".join(
            parts
        )
    else:
        nouns = [NOUNS[k] for k in checked_kinds]
        listed = ", ".join(nouns[:-1]) + " or " + nouns[-1] if len(nouns) > 1 else nouns[0]
        summary = f"no {listed} in {count(overall.answers, 'answer')}"
    critical = share >= config.critical_share or leaking >= config.critical_count
    finding = Finding(
        subject=WHOLE,
        passed=leaking == 0,
        severity=Severity.CRITICAL if critical else Severity.WARN,
        value=share,
        threshold=0.0,
        summary=summary,
    )
    metadata: dict[str, float | int | str] = {
        "answers": overall.answers,
        "leaking_answers": leaking,
        "leak_ratio": share,
        "critical_share": config.critical_share,
        "critical_count": config.critical_count,
        "kinds_checked": ", ".join(checked_kinds),
    }
    for kind in KINDS:
        metadata[f"leaks_{kind}"] = overall.leaks[kind]
    shown = [e for e in day.examples if set(e.kinds) & set(checked_kinds)][:MAX_EXAMPLES]
    for i, example in enumerate(shown, start=1):
        metadata[f"example_{i}"] = _quote(example)
    return CheckOutcome(LEAK_CHECK, (finding,), summary, metadata)


def refusal_policy(config: RefusalConfig) -> RisePolicy:
    """The rise scan's thresholds (``max_rate`` is not used: refusals have no ceiling)."""
    return RisePolicy(
        max_rate=1.0,
        baseline_days=config.baseline_days,
        alpha=config.alpha,
        window_days=config.window_days,
    )


def refusal_check(day: DaySafety, rises: RiseResults, reset: str | None) -> CheckOutcome:
    """Fails when the refusal share of the day or of an intent rose significantly."""
    overall = day.overall
    if overall.answers == 0:
        return CheckOutcome(REFUSAL_CHECK, (), "not evaluated: no answers", {"answers": 0})
    factor = critical_factor(REFUSAL_CHECK)
    tests = [rises.overall, *(t for t in rises.scopes if t.evaluated)]
    findings = tuple(_refusal_finding(t, factor) for t in tests)
    share = overall.refusals / overall.answers
    head = f"refusal share {_pct(share)} ({overall.refusals}/{overall.answers})"
    rising = [t for t in tests if t.significant]
    if rising:
        summary = f"{head}; significant rise in " + ", ".join(t.current.named for t in rising)
    else:
        summary = f"{head}; {rise_text(rises.overall)}"
    if reset:
        summary += f"; {reset}"
    metadata: dict[str, float | int | str] = {
        "refusal_ratio": share,
        "answers": overall.answers,
        "scopes_tested": sum(t.evaluated for t in tests),
        "scopes_rising": len(rising),
    }
    if rises.overall.baseline is not None:
        metadata["baseline_ratio"] = rises.overall.baseline.rate
        metadata["baseline_days"] = rises.overall.baseline.days
    return CheckOutcome(REFUSAL_CHECK, findings, summary, metadata)


def _refusal_finding(test: RiseTest, factor: float) -> Finding:
    rate = test.current
    base = test.baseline
    doubled = (
        base is not None
        and test.window is not None
        and test.window.rate >= factor * max(base.rate, 1.0 / max(base.scored, 1))
    )
    return Finding(
        subject=rate.subject,
        passed=not test.significant,
        severity=Severity.CRITICAL if test.significant and doubled else Severity.WARN,
        value=rate.rate,
        threshold=None if base is None else base.rate,
        summary=f"{rate.named}: {_pct(rate.rate)} decline ({rate.flagged}/{rate.scored}), "
        + rise_text(test),
    )


def length_anomaly_config(config: LengthConfig) -> AnomalyConfig:
    """The anomaly scoring's settings for answer length."""
    return AnomalyConfig(
        baseline_days=config.baseline_days,
        min_baseline_days=config.min_baseline_days,
        warn=config.warn,
        critical=config.critical,
        min_relative_change=config.min_relative_change,
    )


def length_anomalies(
    today: date,
    words: Mapping[str, float | None],
    history: Mapping[str, Mapping[date, float]],
    config: LengthConfig,
) -> list[MetricAnomaly]:
    """The day's p50 and p95 words (``answer_words_p50``, ``answer_words_p95``) against their
    stored history (days before ``today``)."""
    settings = length_anomaly_config(config)
    out = []
    for metric in ("answer_words_p50", "answer_words_p95"):
        days = {d: v for d, v in history.get(metric, {}).items() if d < today}
        value = words.get(metric)
        if value is not None:
            days[today] = value
        out.append(evaluate(metric, today, days, settings))
    return out


def length_check(results: Sequence[MetricAnomaly], config: LengthConfig) -> CheckOutcome:
    """Fails when the p50 or p95 answer length shifted from its baseline."""
    if all(r.status == "not_evaluated" for r in results):
        summary = "; ".join(r.summary for r in results)
        return CheckOutcome(LENGTH_CHECK, (), f"not evaluated: {summary}")
    settings = length_anomaly_config(config)
    findings = tuple(r.finding(settings) for r in results if r.status != "not_evaluated")
    failing = [r for r in results if r.failing]
    summary = "; ".join(r.summary for r in (failing or results))
    metadata: dict[str, float | int | str] = {"metrics_shifted": len(failing)}
    return CheckOutcome(LENGTH_CHECK, findings, summary, metadata)


def _quote(example: LeakExample) -> str:
    where = ", ".join(
        part for part in (_named("intent", example.intent), _named("model", example.model)) if part
    )
    return f"“{example.text}”" + (f" ({where})" if where else "")


def _named(key: str, value: str | None) -> str:
    return f"{key} {value}" if value is not None else ""


def _pct(share: float) -> str:
    return f"{100 * share:.2f}%"


def history_days(config: OutputSafetyConfig) -> int:
    """Days before the day the checks read: the refusal scan's and the length baseline's."""
    return max(refusal_policy(config.refusals).history_days, config.length.baseline_days)
