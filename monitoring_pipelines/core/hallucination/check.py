"""The ``hallucination_rate`` check: the day's rate against ``judge.max_rate`` and its baseline.

The overall rate fails on the lower bound of its Wilson interval or on a significant rise;
intents and articles fail on a significant rise (README.md, "Hallucinations"). Summaries name
an article with the intent most of its answers of the day carry.
"""

from __future__ import annotations

from monitoring_pipelines.core.checks import WHOLE, CheckOutcome, Finding
from monitoring_pipelines.core.config import Severity
from monitoring_pipelines.core.hallucination.rates import DayRates, ScopeRate
from monitoring_pipelines.core.hallucination.rise import (
    JudgeIdentity,
    RisePolicy,
    RiseResults,
    RiseTest,
)
from monitoring_pipelines.core.wording import count

CHECK = "hallucination_rate"
MAX_DRIVERS = 3


def hallucination_check(
    rates: DayRates, rises: RiseResults, policy: RisePolicy, judge: JudgeIdentity
) -> CheckOutcome:
    """The check's outcome for one day (see the module docstring)."""
    overall = rates.overall
    if overall.scored == 0:
        return CheckOutcome(CHECK, (), "not evaluated: no answers scored", {"scored": 0})
    findings = [_overall_finding(rises, policy)]
    findings += [_scope_finding(t, policy) for t in rises.scopes if t.evaluated]
    rising = [t.current.subject for t in rises.rising]
    head = f"hallucination rate {_pct(overall.rate)} ({_ci(overall)}, {overall.scored} scored)"
    if rising:
        summary = f"{head}; significant rise in {', '.join(t.current.named for t in rises.rising)}"
    elif not findings[0].passed:
        summary = findings[0].summary
    else:
        tested = sum(t.evaluated for t in rises.scopes)
        summary = f"{head}; no significant rise ({count(tested, 'intent/article scope')} tested)"
    if rises.reset:
        summary += f"; {rises.reset}"
    metadata: dict[str, float | int | str] = {
        "hallucination_rate": overall.rate,
        "ci_low": overall.low,
        "ci_high": overall.high,
        "scored": overall.scored,
        "max_rate": policy.max_rate,
        "scopes_tested": sum(t.evaluated for t in rises.scopes),
        "scopes_rising": len(rising),
        "judge": judge.judge,
        "prompt_version": judge.prompt_version,
    }
    if rises.overall.baseline is not None:
        metadata["baseline_rate"] = rises.overall.baseline.rate
        metadata["baseline_days"] = rises.overall.baseline.days
    if rises.overall.p_value is not None:
        metadata["p_value"] = rises.overall.p_value
    if rising:
        metadata["drivers"] = ", ".join(rising)
    if rises.reset:
        metadata["baseline_reset"] = rises.reset
    skipped = [t for t in rises.scopes if not t.evaluated]
    if skipped:
        metadata["scopes_not_evaluated"] = len(skipped)
    return CheckOutcome(CHECK, tuple(findings), summary, metadata)


def _overall_finding(rises: RiseResults, policy: RisePolicy) -> Finding:
    test = rises.overall
    rate = test.current
    above = rate.low > policy.max_rate
    parts = [f"overall {_pct(rate.rate)} flagged ({_ci(rate)}, {rate.scored} scored)"]
    if above:
        parts.append(f"above max_rate {_pct(policy.max_rate)} (lower bound {_pct(rate.low)})")
    else:
        parts.append(f"lower bound {_pct(rate.low)} within max_rate {_pct(policy.max_rate)}")
    parts.append(rise_text(test))
    drivers: list[RiseTest] = []
    if above or test.significant:
        drivers = rises.rising[:MAX_DRIVERS] or _largest(rises.scopes)
    if drivers:
        parts.append("driven by " + ", ".join(_driver(t) for t in drivers))
    return Finding(
        subject=WHOLE,
        passed=not (above or test.significant),
        severity=_severity(rate, policy),
        value=rate.rate,
        threshold=policy.max_rate,
        summary="; ".join(parts),
    )


def _scope_finding(test: RiseTest, policy: RisePolicy) -> Finding:
    rate = test.current
    summary = (
        f"{rate.named}: {_pct(rate.rate)} flagged ({rate.flagged}/{rate.scored}, {_ci(rate)}) "
        + rise_text(test)
    )
    return Finding(
        subject=rate.subject,
        passed=not test.significant,
        severity=_severity(rate, policy),
        value=rate.rate,
        threshold=test.baseline.rate if test.baseline else None,
        summary=summary,
    )


def rise_text(test: RiseTest) -> str:
    """A rise test in words: the pooled window (when longer than a day) against its baseline,
    and the verdict; shared by every rate scanned for a rise (hallucinations, refusals)."""
    window = test.window
    if not test.evaluated or window is None:
        return f"rise not evaluated ({test.note})"
    base = window.baseline
    verdict = "a significant rise" if test.significant else "no significant rise"
    pooled = ""
    if window.days > 1:
        pooled = (
            f"over the last {window.days} days {_pct(window.rate)} "
            f"({window.flagged}/{window.scored}) "
        )
    return (
        f"{pooled}vs baseline {_pct(base.rate)} ({base.days} days, {base.scored} answers): "
        f"adjusted p {test.p_adjusted:.2g}, {verdict}"
    )


def _largest(scopes: tuple[RiseTest, ...]) -> list[RiseTest]:
    """Without a significant rise, the scopes with the most flagged answers (weighted)."""
    ranked = sorted(
        (t for t in scopes if t.current.flagged),
        key=lambda t: (-t.current.flagged, t.current.subject),
    )
    return ranked[:MAX_DRIVERS]


def _driver(test: RiseTest) -> str:
    rate = test.current
    base = f" vs {_pct(test.baseline.rate)}" if test.baseline else ""
    return f"{rate.named} ({_pct(rate.rate)}, {rate.flagged}/{rate.scored}{base})"


def _severity(rate: ScopeRate, policy: RisePolicy) -> Severity:
    return Severity.CRITICAL if rate.low > policy.max_rate else Severity.WARN


def _ci(rate: ScopeRate) -> str:
    return f"95% CI {_pct(rate.low)}-{_pct(rate.high)}"


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"
