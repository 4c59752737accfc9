"""One day of output safety: the day's answers measured, the history read, the day stored and
checked. What the ``output_safety`` asset runs, with plain values."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.checks import CheckOutcome
from monitoring_pipelines.core.config import OutputSafetyConfig
from monitoring_pipelines.core.hallucination.rise import assess_rises, judge_change
from monitoring_pipelines.core.safety.check import (
    leak_check,
    length_anomalies,
    length_check,
    refusal_check,
    refusal_policy,
)
from monitoring_pipelines.core.safety.day import Answer, DaySafety, measure_day
from monitoring_pipelines.core.safety.refusal import RefusalMatcher
from monitoring_pipelines.core.safety.rises import refusal_rates
from monitoring_pipelines.core.safety.stored import (
    WORDS,
    load_length_history,
    load_refusal_history,
    patterns_identity,
    safety_metrics,
)
from monitoring_pipelines.core.store.results import ResultRepository


@dataclass(frozen=True)
class DayAssessment:
    """The day's measures and the outcomes of its three checks."""

    safety: DaySafety
    outcomes: tuple[CheckOutcome, ...]


def assess_day(
    store: ResultRepository,
    monitor: str,
    day: date,
    answers: Iterable[Answer],
    config: OutputSafetyConfig,
) -> DayAssessment:
    """Measure ``day``'s answers, store the day (replacing an earlier run's rows) and check it
    against the stored days before it."""
    policy = refusal_policy(config.refusals)
    matcher = RefusalMatcher.from_config(config.refusals)
    safety = measure_day(answers, matcher)
    identity = patterns_identity(matcher)
    yesterday = day - timedelta(days=1)
    past = load_refusal_history(
        store, monitor, day - timedelta(days=policy.history_days), yesterday
    )
    rises = assess_rises(refusal_rates(safety), past, identity, policy, day)
    changed = judge_change(past, identity, day)
    reset = None if changed is None else f"baseline reset: refusal patterns changed on {changed[0]}"
    lengths = load_length_history(
        store, monitor, day - timedelta(days=config.length.baseline_days), yesterday
    )
    today = {metric: safety.overall.words[q] for q, metric in WORDS.items()}
    shifts = length_anomalies(day, today, lengths, config.length)
    store.save_metrics(
        monitor, Asset.OUTPUT_SAFETY, day.isoformat(), safety_metrics(safety, rises, matcher)
    )
    outcomes = (
        leak_check(safety, config.leaks),
        refusal_check(safety, rises, reset),
        length_check(shifts, config.length),
    )
    return DayAssessment(safety, outcomes)
