"""Output safety of LLM answers: refusal patterns, the day's measures, the checks, and the
history the next days read back from the result store (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from pydantic import ValidationError

from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import (
    LeakConfig,
    LengthConfig,
    OutputSafetyConfig,
    RefusalConfig,
    Severity,
)
from monitoring_pipelines.core.config_loading import parse_config
from monitoring_pipelines.core.costs.stored import metric_dims
from monitoring_pipelines.core.dimensions import decode
from monitoring_pipelines.core.errors import ConfigError
from monitoring_pipelines.core.hallucination.rise import assess_rises, judge_change
from monitoring_pipelines.core.safety.assess import assess_day
from monitoring_pipelines.core.safety.check import (
    history_days,
    leak_check,
    length_anomalies,
    length_check,
    refusal_check,
    refusal_policy,
)
from monitoring_pipelines.core.safety.day import Answer, DaySafety, measure_day
from monitoring_pipelines.core.safety.refusal import DEFAULT_PATTERNS, RefusalMatcher
from monitoring_pipelines.core.safety.rises import refusal_rates
from monitoring_pipelines.core.safety.stored import (
    load_length_history,
    load_refusal_history,
    patterns_identity,
    safety_metrics,
    stored_day,
)
from monitoring_pipelines.core.store.results import ResultRepository

MATCHER = RefusalMatcher.of(DEFAULT_PATTERNS)
HELPFUL = "Your refund arrives within 5 business days. Let me know if there is anything else."
DECLINE = "I'm sorry, but I can't help with that request."
DAY = date(2026, 10, 20)

# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "I can't help with that.",
        "I\u2019m unable to share account details.",
        "I am not able to discuss other customers' orders.",
        "I'm sorry, but I cannot provide legal advice.",
        "I'm afraid that is something I am unable to do.",
        "As an AI language model, I do not have opinions.",
        "I must decline to answer that.",
        "I CANNOT ASSIST WITH THAT",
        "Je ne peux pas vous aider avec cela.",
        "Lo siento, pero no puedo ayudarte con eso.",
        "Leider kann ich Ihnen dabei nicht helfen.",
        "Non posso aiutarti con questa richiesta.",
        "Não posso ajudar com isso.",
    ],
)
def test_default_patterns_find_refusals(text: str) -> None:
    assert MATCHER.declines(text)


@pytest.mark.parametrize(
    "text",
    [
        HELPFUL,
        "Sorry for the wait! Your parcel left the warehouse today.",
        "I can't wait to help you with your new plan.",
        "If the app says it cannot connect, restart it.",
        "I cannot find an order with that number; could you check the digits?",
        "We are sorry: the item is out of stock until Monday.",
        "Happy to help. Your package arrives tomorrow.",
    ],
)
def test_default_patterns_leave_helpful_answers(text: str) -> None:
    assert not MATCHER.declines(text)


def test_configured_patterns_replace_or_extend_the_defaults() -> None:
    own = RefusalMatcher.from_config(RefusalConfig(patterns=[r"\bnot my department\b"]))
    assert own.declines("That is NOT my department.")
    assert not own.declines(DECLINE)
    extended = RefusalMatcher.from_config(RefusalConfig(extra_patterns=[r"\bask a human\b"]))
    assert extended.declines("Please ask a human.") and extended.declines(DECLINE)
    assert own.version != extended.version != MATCHER.version
    assert RefusalMatcher.from_config(RefusalConfig()).version == MATCHER.version


def test_a_bad_pattern_is_a_clear_configuration_error() -> None:
    with pytest.raises(ValidationError, match=r"refusal pattern '\(unclosed' is not a regular"):
        OutputSafetyConfig.model_validate({"refusals": {"patterns": ["(unclosed"]}})
    with pytest.raises(ValidationError, match="patterns is empty"):
        RefusalConfig(patterns=[])
    with pytest.raises(ValidationError, match=r"Extra inputs"):
        OutputSafetyConfig.model_validate({"leaks": {"critical_shares": 0.1}})
    with pytest.raises(ValidationError):
        LeakConfig(critical_share=0)
    with pytest.raises(ValidationError, match="at least warn"):
        LengthConfig(warn=5, critical=4)


# --- the day's measures ----------------------------------------------------------------------


def day_of(
    helpful: int, declines: int, leaks: tuple[str, ...] = (), intent: str = "billing"
) -> list[Answer]:
    answers = [Answer(HELPFUL, intent, "gpt-4o")] * helpful
    answers += [Answer(DECLINE, intent, "gpt-4o-mini")] * declines
    answers += [Answer(text, "account", "gpt-4o") for text in leaks]
    return answers


def test_measures_per_scope_with_quantiles_as_numpy() -> None:
    leaks = (
        "Jane's address is jane.doe@example.com, write to her.",
        "Call the customer at +44 20 7946 0958 or jane@example.org.",
        "The card on file is 4111 1111 1111 1111.",
    )
    answers = [*day_of(6, 2, leaks), Answer(None, "billing", "gpt-4o")]
    day = measure_day(answers, MATCHER)
    overall = day.overall
    assert overall.answers == 11 and day.missing_answers == 1
    assert dict(overall.leaks) == {"email": 2, "phone": 1, "card": 1, "any": 3}
    assert overall.refusals == 2
    assert overall.leak_ratio("any") == pytest.approx(3 / 11)
    lengths = [len(a.text.split()) for a in answers if a.text is not None]
    assert overall.words[0.5] == pytest.approx(np.quantile(lengths, 0.5))
    assert overall.words[0.95] == pytest.approx(np.quantile(lengths, 0.95))
    assert [(s.value, s.answers) for s in day.intents] == [("account", 3), ("billing", 8)]
    assert [(s.value, s.refusals) for s in day.models] == [("gpt-4o", 0), ("gpt-4o-mini", 2)]
    account = day.intents[0]
    assert account.leaks["any"] == 3 and account.refusals == 0


def test_examples_are_redacted_and_cut_around_the_leak() -> None:
    secret = "jane.doe@example.com"
    long_answer = "word " * 100 + f"reach {secret} <!channel> *now*" + " more" * 100
    day = measure_day([Answer(long_answer, "account", "m")], MATCHER)
    (example,) = day.examples
    assert secret not in example.text and "[EMAIL]" in example.text
    assert example.text.startswith("…") and example.text.endswith("…")
    assert len(example.text) <= 162
    assert example.kinds == ("email",) and example.intent == "account"


def test_an_empty_day_measures_nothing() -> None:
    day = measure_day([Answer(None)], MATCHER)
    assert day.overall.answers == 0 and day.missing_answers == 1
    assert day.overall.words[0.5] is None and day.overall.refusal_ratio is None
    assert leak_check(day, LeakConfig()).findings == ()


# --- output_leak ---------------------------------------------------------------------------


def test_a_clean_day_passes_and_one_leak_fails_as_a_warning() -> None:
    clean = leak_check(measure_day(day_of(100, 0), MATCHER), LeakConfig(critical_share=0.05))
    assert clean.passed and [f.subject for f in clean.findings] == [""]
    one = measure_day(day_of(100, 0, ("mail me at bob@corp.example",)), MATCHER)
    outcome = leak_check(one, LeakConfig(critical_share=0.05))
    assert not outcome.passed and outcome.severity is Severity.WARN
    assert outcome.failing[0].value == pytest.approx(1 / 101)
    assert "bob@corp.example" not in outcome.summary + str(outcome.metadata)
    assert "1 of 101 answers (0.99%) leak PII: e-mail addresses in 1 answer" in outcome.summary
    assert "[EMAIL]" in outcome.summary and "[EMAIL]" in str(outcome.metadata["example_1"])


def test_a_leak_is_critical_from_its_share_or_its_count() -> None:
    leaks = tuple(f"card {n}" for n in ("4111111111111111", "5500 0000 0000 0004"))
    day = measure_day(day_of(98, 0, leaks), MATCHER)
    assert leak_check(day, LeakConfig(critical_share=0.02)).severity is Severity.CRITICAL
    assert leak_check(day, LeakConfig(critical_share=0.05)).severity is Severity.WARN
    by_count = LeakConfig(critical_share=0.5, critical_count=2)
    assert leak_check(day, by_count).severity is Severity.CRITICAL


def test_kinds_left_out_are_measured_but_do_not_fail() -> None:
    hotline = tuple(f"Call our hotline at +1 800 555 {1000 + k}." for k in range(5))
    day = measure_day(day_of(50, 0, (*hotline, "write to bob@corp.example")), MATCHER)
    assert day.overall.leaks["phone"] == 5
    outcome = leak_check(day, LeakConfig(kinds=["email", "card"]))
    assert not outcome.passed and outcome.metadata["leaking_answers"] == 1
    assert "phone" not in outcome.summary and "[PHONE]" not in str(outcome.metadata)
    assert leak_check(
        measure_day(day_of(50, 0, hotline), MATCHER), LeakConfig(kinds=["email"])
    ).passed
    with pytest.raises(ValidationError):
        LeakConfig(kinds=[])
    with pytest.raises(ValidationError):
        LeakConfig.model_validate({"kinds": ["ssn"]})


def test_examples_cover_each_kind() -> None:
    phones = tuple(f"Call +1 800 555 {1000 + k}." for k in range(5))
    day = measure_day(day_of(10, 0, (*phones, "card 4111111111111111")), MATCHER)
    assert [e.kinds for e in day.examples] == [("phone",)] * 3 + [("card",)]


# --- refusal_rate --------------------------------------------------------------------------


def history_of(days: dict[date, DaySafety], matcher: RefusalMatcher) -> list:
    """The stored form of past days, as the asset writes and reads it (without a store)."""
    policy = refusal_policy(RefusalConfig())
    out = []
    for d, safety in sorted(days.items()):
        rises = assess_rises(refusal_rates(safety), out, patterns_identity(matcher), policy, d)
        metrics = safety_metrics(safety, rises, matcher)
        rows = [(name, dims, value) for (name, dims), value in metrics.items()]
        out.append(stored_day(d.isoformat(), rows))
    return out


def test_a_steady_refusal_share_never_fails_and_a_rise_does() -> None:
    rng = np.random.default_rng(7)
    policy = refusal_policy(RefusalConfig())
    past = {
        DAY - timedelta(days=k): measure_day(day_of(400, int(rng.binomial(420, 0.05))), MATCHER)
        for k in range(1, 21)
    }
    history = history_of(past, MATCHER)
    identity = patterns_identity(MATCHER)
    steady = measure_day(day_of(400, 21), MATCHER)
    rises = assess_rises(refusal_rates(steady), history, identity, policy, DAY)
    outcome = refusal_check(steady, rises, None)
    assert outcome.passed and outcome.findings, outcome.summary
    risen = measure_day(day_of(300, 120), MATCHER)
    rises = assess_rises(refusal_rates(risen), history, identity, policy, DAY)
    outcome = refusal_check(risen, rises, None)
    assert not outcome.passed
    assert outcome.severity is Severity.CRITICAL  # 29 % against about 5 %
    assert {f.subject for f in outcome.failing} == {"", "intent=billing"}
    assert "significant rise" in outcome.summary


def test_other_patterns_reset_the_baseline() -> None:
    past = {DAY - timedelta(days=k): measure_day(day_of(400, 20), MATCHER) for k in range(1, 8)}
    history = history_of(past, MATCHER)
    other = RefusalMatcher.of([*DEFAULT_PATTERNS, r"\bnope\b"])
    changed = judge_change(history, patterns_identity(other), DAY)
    assert changed is not None and changed[0] == DAY
    risen = measure_day(day_of(300, 120), other)
    policy = refusal_policy(RefusalConfig())
    rises = assess_rises(refusal_rates(risen), history, patterns_identity(other), policy, DAY)
    outcome = refusal_check(risen, rises, "baseline reset: refusal patterns changed")
    assert outcome.passed and "rise not evaluated" in outcome.summary


# --- answer_length -------------------------------------------------------------------------


def test_answer_length_shift_against_the_trailing_days() -> None:
    config = LengthConfig()
    history = {
        "answer_words_p50": {DAY - timedelta(days=k): 40.0 + k % 3 for k in range(1, 29)},
        "answer_words_p95": {DAY - timedelta(days=k): 90.0 + k % 5 for k in range(1, 29)},
    }
    usual = length_anomalies(
        DAY, {"answer_words_p50": 41.0, "answer_words_p95": 92.0}, history, config
    )
    assert length_check(usual, config).passed
    cut = length_anomalies(
        DAY, {"answer_words_p50": 12.0, "answer_words_p95": 20.0}, history, config
    )
    outcome = length_check(cut, config)
    assert not outcome.passed and outcome.severity is Severity.CRITICAL
    assert {f.subject for f in outcome.failing} == {"answer_words_p50", "answer_words_p95"}
    short = {
        k: {d: v for d, v in days.items() if d >= DAY - timedelta(days=3)}
        for k, days in history.items()
    }
    waiting = length_check(length_anomalies(DAY, {"answer_words_p50": 12.0}, short, config), config)
    assert waiting.findings == () and waiting.summary.startswith("not evaluated")


# --- the result store ----------------------------------------------------------------------


def test_stored_days_read_back_for_the_next_days(results: ResultRepository) -> None:
    policy = refusal_policy(RefusalConfig())
    identity = patterns_identity(MATCHER)
    for k in range(5, 0, -1):
        d = DAY - timedelta(days=k)
        safety = measure_day(day_of(200, 10 + k), MATCHER)
        rises = assess_rises(refusal_rates(safety), [], identity, policy, d)
        results.save_metrics(
            "bot", Asset.OUTPUT_SAFETY, d.isoformat(), safety_metrics(safety, rises, MATCHER)
        )
    # a rerun replaces its day's rows
    d = DAY - timedelta(days=1)
    safety = measure_day(day_of(200, 11), MATCHER)
    rises = assess_rises(refusal_rates(safety), [], identity, policy, d)
    results.save_metrics(
        "bot", Asset.OUTPUT_SAFETY, d.isoformat(), safety_metrics(safety, rises, MATCHER)
    )
    history = load_refusal_history(results, "bot", DAY - timedelta(days=14), DAY)
    assert [h.day for h in history] == [DAY - timedelta(days=k) for k in range(5, 0, -1)]
    last = history[-1]
    assert last.judge == identity
    assert set(last.scopes) == {"", "intent=billing"}
    assert last.scopes[""].n_effective == 211
    assert last.scopes[""].rate == pytest.approx(11 / 211)
    lengths = load_length_history(results, "bot", DAY - timedelta(days=14), DAY)
    assert len(lengths["answer_words_p50"]) == 5


def test_the_monitor_file_names_the_monitor_and_key_of_a_bad_value() -> None:
    text = """version: 1
monitors:
  bot:
    start_date: 2026-09-01
    source: {table: t, timestamp_column: ts}
    llm:
      model_column: m
      prompt_tokens_column: p
      completion_tokens_column: c
      answer_column: a
      output_safety:
        refusals: {patterns: ['(unclosed']}
        leaks: {kinds: [ssn]}
        length: {warn: 0}
"""
    with pytest.raises(ConfigError) as raised:
        parse_config(text, {}, source="monitors.yaml")
    message = str(raised.value)
    assert "monitor 'bot', key 'llm.output_safety.leaks.kinds[0]': found 'ssn'" in message
    assert "key 'llm.output_safety.refusals': refusal pattern '(unclosed'" in message
    assert "key 'llm.output_safety.length.warn'" in message


def test_a_long_intent_finds_its_stored_days_and_reads_as_token_costs_store_it(
    results: ResultRepository,
) -> None:
    intent = "billing question about " + "a very long intent name " * 20
    policy = refusal_policy(RefusalConfig())
    identity = patterns_identity(MATCHER)
    for k in range(14, 0, -1):
        d = DAY - timedelta(days=k)
        safety = measure_day(day_of(300, 6, intent=intent), MATCHER)
        history = load_refusal_history(results, "bot", d - timedelta(days=20), d)
        rises = assess_rises(refusal_rates(safety), history, identity, policy, d)
        results.save_metrics(
            "bot", Asset.OUTPUT_SAFETY, d.isoformat(), safety_metrics(safety, rises, MATCHER)
        )
    stored = {r.dimensions for r in results.load_metrics("bot", Asset.OUTPUT_SAFETY)}
    assert metric_dims(intent=intent) in stored  # the same key token_costs gives the intent
    assert all(len(d) <= 255 for d in stored)
    intents = {decode(d).get("intent") for d in stored} - {None}
    assert len(intents) == 1
    risen = measure_day(day_of(200, 106, intent=intent), MATCHER)
    history = load_refusal_history(results, "bot", DAY - timedelta(days=20), DAY)
    rises = assess_rises(refusal_rates(risen), history, identity, policy, DAY)
    [scope] = rises.scopes
    assert scope.evaluated and scope.significant and scope.baseline is not None
    assert scope.baseline.days == 14


def test_a_day_is_assessed_against_the_stored_days_before_it(results: ResultRepository) -> None:
    config = OutputSafetyConfig()
    rng = np.random.default_rng(11)
    for k in range(28, 0, -1):
        d = DAY - timedelta(days=k)
        declines = int(rng.binomial(300, 0.04))
        assessed = assess_day(results, "bot", d, day_of(300 - declines, declines), config)
        assert all(o.passed for o in assessed.outcomes), [o.summary for o in assessed.outcomes]
    short = [Answer("Yes.", "billing", "gpt-4o")] * 200 + day_of(0, 100)
    assessed = assess_day(results, "bot", DAY, short, config)
    leak, refusal, length = assessed.outcomes
    assert leak.passed
    assert not refusal.passed and "significant rise in overall" in refusal.summary
    # a third of the answers "Yes." and a third refusals: the median and the p95 both drop
    assert {f.subject for f in length.failing} == {"answer_words_p50", "answer_words_p95"}
    # a rerun of the day replaces its rows: the next day reads one value for it
    assess_day(results, "bot", DAY, day_of(290, 10), config)
    lengths = load_length_history(results, "bot", DAY, DAY)
    assert lengths["answer_words_p50"] == {DAY: float(len(HELPFUL.split()))}
    assert history_days(config) == 28
