"""The rise scan against the pooled baseline, its attribution to intents and articles, the
baseline reset on a change of judge, and the max_rate verdict on the Wilson lower bound."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from scipy.stats import fisher_exact

from monitoring_pipelines.core.config import Severity
from monitoring_pipelines.core.hallucination.check import hallucination_check
from monitoring_pipelines.core.hallucination.proportions import rise_p_value
from monitoring_pipelines.core.hallucination.rates import DayRates, ScoreRow, compute_rates
from monitoring_pipelines.core.hallucination.rise import (
    JudgeIdentity,
    RisePolicy,
    StoredDay,
    StoredScope,
    assess_rises,
    covered_days,
    judge_change,
    pool_baseline,
)

TODAY = date(2026, 10, 10)
OFFLINE = JudgeIdentity("offline", "offline-lexical-1", 0.7)
LLM = JudgeIdentity("openai:gpt-4o-mini", "faithfulness-v2", 0.7)
POLICY = RisePolicy(max_rate=0.10, baseline_days=14)
# (intent, article, scored, flagged) of an ordinary day: about 5 % flagged everywhere
ORDINARY = [
    ("billing", "KB-201", 20, 1),
    ("billing", "KB-204", 20, 1),
    ("billing", "KB-202", 20, 1),
    ("shipping", "KB-101", 40, 2),
    ("shipping", "KB-102", 30, 1),
    ("account", "KB-401", 30, 2),
]
SIZES = {"billing": 300, "shipping": 350, "account": 150}


def day_rows(groups: list[tuple[str, str, int, int]]) -> list[ScoreRow]:
    return [
        ScoreRow(intent, article, i < flagged, SIZES[intent])
        for intent, article, scored, flagged in groups
        for i in range(scored)
    ]


def stored(rates: DayRates, day: date, judge: JudgeIdentity = OFFLINE) -> StoredDay:
    scopes = {r.subject: StoredScope(r.rate, r.n_effective) for r in rates.scopes}
    return StoredDay(day, judge, scopes)


def history(days: int = 14, judge: JudgeIdentity = OFFLINE) -> list[StoredDay]:
    rates = compute_rates(day_rows(ORDINARY))
    return [stored(rates, TODAY - timedelta(days=d), judge) for d in range(1, days + 1)]


def outbreak() -> DayRates:
    """KB-204 answers are wrong 12 times out of 20."""
    groups = [g if g[1] != "KB-204" else ("billing", "KB-204", 20, 12) for g in ORDINARY]
    return compute_rates(day_rows(groups))


def test_pooled_baseline_adds_the_days_up() -> None:
    baseline = pool_baseline(history(), "article=KB-204", OFFLINE)
    assert baseline is not None
    assert (baseline.flagged, baseline.scored, baseline.days) == (14, 280, 14)


def test_a_rise_of_one_article_is_found_and_attributed() -> None:
    rates = outbreak()
    rises = assess_rises(rates, history(), OFFLINE, POLICY, TODAY)
    by_subject = {t.current.subject: t for t in rises.scopes}
    kb204 = by_subject["article=KB-204"]
    # Seven windows (today, today and yesterday, ...), each against the 14 days before it:
    # a window of w days has 20 w answers, w - 1 of the earlier days' flagged ones, and a
    # baseline of the 15 - w stored days before it.
    windows = [
        fisher_exact([[12 + w - 1, 20 * w - 12 - w + 1], [15 - w, 19 * (15 - w)]], "greater")[1]
        for w in range(1, 8)
    ]
    assert kb204.windows_tested == 7 and kb204.window is not None and kb204.window.days == 1
    assert kb204.p_value == pytest.approx(7 * min(windows), rel=1e-9)
    assert kb204.p_value == pytest.approx(7 * rise_p_value(12, 20, 14, 280), rel=1e-9)
    assert kb204.significant and by_subject["intent=billing"].significant
    assert [t.current.subject for t in rises.rising] == ["article=KB-204", "intent=billing"]
    assert not any(
        t.significant for s, t in by_subject.items() if "KB-204" not in s and "billing" not in s
    )

    outcome = hallucination_check(rates, rises, POLICY, OFFLINE)
    failing = {f.subject for f in outcome.failing}
    assert {"article=KB-204", "intent=billing"} <= failing
    passing = {f.subject for f in outcome.findings if f.passed}
    assert {"article=KB-101", "article=KB-201", "intent=shipping", "intent=account"} <= passing
    assert "significant rise in article KB-204 (intent billing), intent billing" in outcome.summary
    kb = next(f for f in outcome.findings if f.subject == "article=KB-204")
    assert kb.summary.startswith("article KB-204 (intent billing): 60.0% flagged (12/20, ")
    assert kb.severity is Severity.CRITICAL  # its lower bound (39%) is above max_rate
    assert outcome.metadata["drivers"] == "article=KB-204, intent=billing"


def test_the_overall_rate_names_its_drivers_with_their_intent() -> None:
    # Every billing article doubles: the overall rate rises too.
    groups = [(i, a, n, 6 if i == "billing" else f) for i, a, n, f in ORDINARY]
    rates = compute_rates(day_rows(groups))
    rises = assess_rises(rates, history(), OFFLINE, POLICY, TODAY)
    assert rises.overall.significant
    overall = hallucination_check(rates, rises, POLICY, OFFLINE).findings[0]
    assert not overall.passed
    assert overall.summary.endswith("driven by intent billing (30.0%, 18/60 vs 5.0%)")


def test_an_ordinary_day_passes_with_a_finding_per_scope() -> None:
    rates = compute_rates(day_rows(ORDINARY))
    rises = assess_rises(rates, history(), OFFLINE, POLICY, TODAY)
    outcome = hallucination_check(rates, rises, POLICY, OFFLINE)
    assert outcome.passed
    assert len(outcome.findings) == 1 + 3 + 6  # overall, intents, articles
    assert "no significant rise (9 intent/article scopes tested)" in outcome.summary


def test_holm_across_the_overall_rate_intents_and_articles() -> None:
    # A rise of one article: significant alone, not after adjusting for windows and scopes.
    groups = [g if g[1] != "KB-101" else ("shipping", "KB-101", 40, 9) for g in ORDINARY]
    rates = compute_rates(day_rows(groups))
    rises = assess_rises(rates, history(), OFFLINE, POLICY, TODAY)
    kb101 = next(t for t in rises.scopes if t.current.subject == "article=KB-101")
    assert kb101.window is not None and kb101.window.p_value < POLICY.alpha
    tested = sum(t.evaluated for t in (rises.overall, *rises.scopes))
    assert tested == 10
    assert kb101.p_adjusted == pytest.approx(min(1.0, tested * kb101.window.p_value * 7))
    assert kb101.p_adjusted > POLICY.alpha and not kb101.significant


def test_days_an_alarm_covered_stay_out_of_windows_and_baselines() -> None:
    days = history()
    bad = outbreak()
    # KB-204 rose two days ago over a 3-day window: the 3 days to 2 days ago are covered.
    scopes = {r.subject: StoredScope(r.rate, r.n_effective) for r in bad.scopes}
    for i in (1, 2, 3):
        days[i] = StoredDay(days[i].day, OFFLINE, dict(scopes))
    days[1].scopes["article=KB-204"] = StoredScope(0.6, 20, rose=True, window=3)  # type: ignore[index]
    covered = {TODAY - timedelta(days=d) for d in (2, 3, 4)}
    assert covered_days(days, "article=KB-204") == covered
    baseline = pool_baseline(days, "article=KB-204", OFFLINE)
    assert baseline is not None and baseline.days == 11
    rises = assess_rises(bad, days, OFFLINE, POLICY, TODAY)
    kb204 = next(t for t in rises.scopes if t.current.subject == "article=KB-204")
    # Windows: today, and today with yesterday; two days ago is covered.
    assert kb204.windows_tested == 2 and kb204.significant
    assert kb204.window is not None and kb204.window.days == 1
    assert kb204.window.baseline.days == 14 - 3  # the 14 days before today, less covered


def test_a_new_judge_resets_the_baseline_and_says_so() -> None:
    days = history(14, OFFLINE)
    changed_on = TODAY - timedelta(days=5)
    days = [StoredDay(d.day, LLM, d.scopes) if d.day >= changed_on else d for d in days]
    assert judge_change(days, LLM, TODAY) == (changed_on, OFFLINE)
    baseline = pool_baseline(days, "", LLM)
    assert baseline is not None and baseline.days == 5

    rises = assess_rises(outbreak(), days, LLM, POLICY, TODAY)
    assert rises.reset == (
        f"baseline reset: judge changed on {changed_on} (offline/offline-lexical-1 at "
        "threshold 0.7 -> openai:gpt-4o-mini/faithfulness-v2 at threshold 0.7)"
    )
    outcome = hallucination_check(outbreak(), rises, POLICY, LLM)
    assert outcome.summary.endswith(rises.reset)
    assert outcome.metadata["baseline_reset"] == rises.reset


def test_a_judge_changed_today_has_no_baseline_yet() -> None:
    rises = assess_rises(outbreak(), history(14, OFFLINE), LLM, POLICY, TODAY)
    assert rises.reset is not None and f"judge changed on {TODAY}" in rises.reset
    assert not any(t.evaluated for t in (rises.overall, *rises.scopes))
    assert "baseline of 0 days" in rises.overall.note
    outcome = hallucination_check(outbreak(), rises, POLICY, LLM)
    assert [f.subject for f in outcome.findings] == [""]  # scopes not evaluated: no finding


def test_a_threshold_change_also_resets() -> None:
    other = JudgeIdentity("offline", "offline-lexical-1", 0.5)
    assert judge_change(history(), other, TODAY) == (TODAY, OFFLINE)


def test_max_rate_is_judged_on_the_lower_bound() -> None:
    # 3 of 20 (15 %): interval 5 %-36 %, cannot exclude 10 %: no finding against max_rate.
    small = compute_rates([ScoreRow("billing", "KB-1", i < 3, 20) for i in range(20)])
    rises = assess_rises(small, [], OFFLINE, POLICY, TODAY)
    assert hallucination_check(small, rises, POLICY, OFFLINE).passed
    # 40 of 200 (20 %): interval 15 %-26 %, confidently above: a critical finding.
    large = compute_rates([ScoreRow("billing", "KB-1", i < 40, 200) for i in range(200)])
    rises = assess_rises(large, [], OFFLINE, POLICY, TODAY)
    outcome = hallucination_check(large, rises, POLICY, OFFLINE)
    overall = outcome.findings[0]
    assert not overall.passed and overall.severity is Severity.CRITICAL
    assert "above max_rate 10.0% (lower bound 15.0%)" in overall.summary
    assert "driven by" in overall.summary  # the scopes with the most flagged answers


def test_small_scopes_are_not_evaluated_and_say_why() -> None:
    groups = [*ORDINARY, ("account", "KB-499", 4, 3)]
    rates = compute_rates(day_rows(groups))
    rises = assess_rises(rates, history(), OFFLINE, POLICY, TODAY)
    tiny = next(t for t in rises.scopes if t.current.subject == "article=KB-499")
    assert not tiny.evaluated and tiny.note == "4 answers scored in 7 days, fewer than 10"
    outcome = hallucination_check(rates, rises, POLICY, OFFLINE)
    assert "article=KB-499" not in {f.subject for f in outcome.findings}
    assert outcome.metadata["scopes_not_evaluated"] == 1


def test_a_small_scope_is_tested_once_its_days_add_up() -> None:
    days = history()
    for i in range(2):  # KB-499 had 5 answers, none flagged, on each of the last two days ...
        scopes = dict(days[i].scopes)
        scopes["article=KB-499"] = StoredScope(0.0, 5)
        days[i] = StoredDay(days[i].day, OFFLINE, scopes)
    for i in range(2, 14):  # ... and on the twelve before them, one flagged in all
        scopes = dict(days[i].scopes)
        scopes["article=KB-499"] = StoredScope(0.2 if i == 5 else 0.0, 5)
        days[i] = StoredDay(days[i].day, OFFLINE, scopes)
    rates = compute_rates(day_rows([*ORDINARY, ("account", "KB-499", 4, 3)]))
    rises = assess_rises(rates, days, OFFLINE, POLICY, TODAY)
    tiny = next(t for t in rises.scopes if t.current.subject == "article=KB-499")
    assert tiny.evaluated and tiny.window is not None
    # Today alone (4 answers) is too small; with yesterday (9), too; three days make 14, and
    # the windows of 3 to 7 days are tested, the shortest the strongest.
    assert tiny.windows_tested == 5 and tiny.window.days == 3
    assert (tiny.window.flagged, tiny.window.scored) == (3, 14)
    assert (tiny.window.baseline.flagged, tiny.window.baseline.scored) == (1, 12 * 5)
    assert tiny.p_value == pytest.approx(5 * fisher_exact([[3, 11], [1, 59]], "greater")[1])
    outcome = hallucination_check(rates, rises, POLICY, OFFLINE)
    finding = next(f for f in outcome.findings if f.subject == "article=KB-499")
    assert "over the last 3 days 21.4% (3/14)" in finding.summary


def test_nothing_scored_is_not_evaluated() -> None:
    rates = compute_rates([])
    outcome = hallucination_check(
        rates, assess_rises(rates, [], OFFLINE, POLICY, TODAY), POLICY, OFFLINE
    )
    assert outcome.findings == () and outcome.summary == "not evaluated: no answers scored"
