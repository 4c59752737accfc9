"""The ``performance`` check: a day's checked metric against its baseline, with the change's
one-sided p-value and the verdict of the policy's tolerances."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from monitoring_pipelines.core.checks import WHOLE, CheckOutcome, Finding, grade
from monitoring_pipelines.core.config import Severity
from monitoring_pipelines.core.dimensions import dimensions
from monitoring_pipelines.core.performance.metrics import LOWER_IS_BETTER, PerformanceStats
from monitoring_pipelines.core.performance.policy import PerformancePolicy
from monitoring_pipelines.core.wording import count


@dataclass(frozen=True)
class Baseline:
    """What a day is compared with.

    Attributes:
        stats: The reference's statistics, or None when there is none (yet).
        source: Where it comes from, for people.
        missing: Why there is none (when ``stats`` is None).
        in_period: The day is itself part of the reference period: not compared.
    """

    stats: PerformanceStats | None
    source: str
    missing: str | None = None
    in_period: bool = False


def pooled_baseline(
    days: Mapping[str, PerformanceStats], policy: PerformancePolicy, source: str
) -> Baseline:
    """The reference period's days pooled: those that reached ``min_coverage`` count."""
    usable = [s for s in days.values() if s.labelled and s.coverage >= policy.min_coverage]
    labelled = sum(s.labelled for s in usable)
    if not usable or labelled < policy.min_labelled:
        return Baseline(
            None,
            source,
            missing=f"the reference period ({source}) has {count(len(usable), 'day')} with "
            "coverage "
            f">= {policy.min_coverage:.0%} and {labelled} labelled rows "
            f"(needs {policy.min_labelled})",
        )
    pooled = usable[0]
    for s in usable[1:]:
        pooled = pooled + s
    return Baseline(pooled, f"{source}: {count(len(usable), 'day')}, {labelled} labelled rows")


@dataclass(frozen=True)
class Comparison:
    """A day's (or a segment's) checked metric against the baseline.

    Attributes:
        metric: The checked metric; value: on the day; reference: in the baseline.
        warn, critical: Its tolerances.
        coverage, labelled, rows: The labelled share, labelled rows and all rows.
        summary: One line for people.
        evaluated: False while coverage, labelled rows or the baseline are not enough.
        delta: ``value - reference``.
        change: The move in the bad direction, compared with the tolerances: the drop
            (accuracy, F1, AUC) or the rise relative to the reference (MAE, RMSE).
        p_value: One-sided p-value of that move.
        p_adjusted: The p-value adjusted for multiple tests (segments), when it was.
        severity: Set when the check fails.
    """

    metric: str
    value: float | None
    reference: float | None
    warn: float
    critical: float
    coverage: float
    labelled: int
    rows: int = 0
    summary: str = ""
    evaluated: bool = False
    delta: float | None = None
    change: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    severity: Severity | None = None

    @property
    def bound(self) -> float | None:
        """The value at which the tolerance of the verdict is reached: the critical one for a
        critical change, else the warn one (so an alert's value and threshold agree with its
        severity)."""
        if self.reference is None:
            return None
        tolerance = self.critical if self.severity is Severity.CRITICAL else self.warn
        if self.metric in LOWER_IS_BETTER:
            return self.reference * (1 + tolerance)
        return self.reference - tolerance

    def to_rows(
        self, scope: Mapping[str, str] | None = None
    ) -> dict[tuple[str, str], float | None]:
        dims = dimensions(**dict(scope or {}))
        rows = {(k, dims): getattr(self, k) for k in ("reference", "delta", "p_value")}
        if self.p_adjusted is not None:
            rows[("p_adjusted", dims)] = self.p_adjusted
        return rows


def compare(stats: PerformanceStats, baseline: Baseline, policy: PerformancePolicy) -> Comparison:
    """Compare a day with its baseline, or say why it is not evaluated yet."""
    metric = policy.metric_for(stats.kind)
    warn, critical = policy.tolerances(metric)
    value = stats.value(metric)
    reference = baseline.stats.value(metric) if baseline.stats else None
    base = Comparison(
        metric, value, reference, warn, critical, stats.coverage, stats.labelled, stats.rows
    )
    waiting = None
    if stats.coverage < policy.min_coverage or stats.labelled == 0:
        waiting = f"not evaluated yet: {_coverage(base)}; needs {policy.min_coverage:.0%}"
    elif stats.labelled < policy.min_labelled:
        waiting = f"not evaluated yet: {_coverage(base)}; needs {policy.min_labelled} labelled rows"
    elif value is None:
        waiting = f"not evaluated: {metric} is undefined ({_undefined(metric)}); {_coverage(base)}"
    elif baseline.in_period:
        waiting = (
            f"{metric} {value:.4f}, part of the reference ({baseline.source}); {_coverage(base)}"
        )
    elif baseline.stats is None or reference is None:
        waiting = "not evaluated yet: " + (
            baseline.missing or f"the reference ({baseline.source}) has no {metric}"
        )
    if waiting is not None:
        return replace(base, summary=waiting)
    assert value is not None and reference is not None and baseline.stats is not None
    lower_better = metric in LOWER_IS_BETTER
    delta = value - reference
    bad_move = delta if lower_better else -delta
    if lower_better:
        change = delta / reference if reference > 0 else (math.inf if delta > 0 else 0.0)
    else:
        change = bad_move
    p_value = _one_sided_p(bad_move, stats, baseline.stats, metric)
    measured = replace(base, evaluated=True, delta=delta, change=change, p_value=p_value)
    return judge(measured, policy)


def judge(
    comparison: Comparison, policy: PerformancePolicy, p_adjusted: float | None = None
) -> Comparison:
    """The verdict and summary of an evaluated comparison: a failure needs the change beyond
    the tolerance and its p-value (``p_adjusted`` when given) at most ``policy.significance``."""
    c = comparison
    assert c.evaluated and c.change is not None and c.p_value is not None
    assert c.value is not None and c.reference is not None and c.delta is not None
    p, p_name = (c.p_value, "p") if p_adjusted is None else (p_adjusted, "adjusted p")
    severity = grade(c.change, c.warn, c.critical) if p <= policy.significance else None
    lower_better = c.metric in LOWER_IS_BETTER
    limit = c.critical if severity is Severity.CRITICAL else c.warn
    tolerance = f"{limit:.0%} relative rise" if lower_better else f"{limit:g} drop"
    if severity is not None:
        verdict = f"{severity.value}: beyond the {tolerance} tolerance ({p_name} {p:.2g})"
    elif c.change < c.warn:
        verdict = f"within the {tolerance} tolerance"
    else:
        verdict = (
            f"beyond the {tolerance} tolerance but not significant "
            f"({p_name} {p:.2g} > {policy.significance:g})"
        )
    summary = (
        f"{c.metric} {c.value:.4f} vs reference {c.reference:.4f} ({c.delta:+.4f}): "
        f"{verdict}; {_coverage(c)}"
    )
    return replace(c, summary=summary, p_adjusted=p_adjusted, severity=severity)


def _coverage(c: Comparison) -> str:
    return f"coverage {c.coverage:.1%} ({c.labelled} of {c.rows} rows labelled)"


def _one_sided_p(
    bad_move: float, day: PerformanceStats, reference: PerformanceStats, metric: str
) -> float:
    se_day = day.standard_error(metric) or 0.0
    se_ref = reference.standard_error(metric) or 0.0
    se = math.hypot(se_day, se_ref)
    if se == 0.0:
        return 0.0 if bad_move > 0 else 1.0
    return 0.5 * math.erfc(bad_move / se / math.sqrt(2.0))


def _undefined(metric: str) -> str:
    if metric == "auc":
        return "needs two classes among labels and predictions and a score column"
    if metric == "confidence_auc":
        return "needs both correct and wrong predictions and a score column"
    return "no labelled rows"


def performance_check(comparison: Comparison) -> CheckOutcome:
    """The ``performance`` check: one finding once evaluated, none while it is not.

    A day not evaluated yet has no finding, so it neither fails nor counts as a passing day
    that would resolve an incident; its summary says why.
    """
    c = comparison
    metadata: dict[str, float | int | str] = {
        "metric": c.metric,
        "coverage": c.coverage,
        "labelled": c.labelled,
    }
    for key in ("value", "reference", "delta", "p_value"):
        number = getattr(c, key)
        if number is not None:
            metadata[key] = number
    if not c.evaluated:
        return CheckOutcome("performance", (), c.summary, metadata)
    finding = Finding(
        WHOLE, c.severity is None, c.severity or Severity.WARN, c.value, c.bound, c.summary
    )
    return CheckOutcome("performance", (finding,), c.summary, metadata)
