"""The catalog: every asset's name and every check's one definition.

A check's entry is what the assets (the Dagster check spec's description), the alert messages
(title, the asset a link opens), the incident families, the alert charts and the runbooks read.
Adding a check means adding its entry here, its computation and its runbook.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from monitoring_pipelines.core.dimensions import fit_key

WHOLE = ""  # the subject of a check about the whole partition (latency, volume...)


class Asset:
    """The name of each asset of a monitor (its key is ``<monitor>/<name>``): plain strings,
    since they travel inside Dagster's asset keys."""

    LIVE_SLICE: Final = "live_slice"
    REFERENCE_PROFILE: Final = "reference_profile"
    DAILY_PROFILE: Final = "daily_profile"
    FEATURE_DRIFT: Final = "feature_drift"
    WINDOW_DRIFT: Final = "window_drift"
    DATA_QUALITY: Final = "data_quality"
    PERFORMANCE: Final = "performance"
    SERVICE_METRICS: Final = "service_metrics"
    SLO_BUDGET: Final = "slo_budget"
    TOKEN_COSTS: Final = "token_costs"
    ANOMALIES: Final = "anomalies"
    CANARY_COMPARISON: Final = "canary_comparison"
    FAITHFULNESS_SCORES: Final = "faithfulness_scores"
    HALLUCINATION_RATE: Final = "hallucination_rate"
    FINETUNING_DATASET: Final = "finetuning_dataset"
    JUDGE_AGREEMENT: Final = "judge_agreement"
    HALLUCINATION_KPI_IMPACT: Final = "hallucination_kpi_impact"
    OUTPUT_SAFETY: Final = "output_safety"
    DAILY_REPORT: Final = "daily_report"


# The review loop's assets: unpartitioned, each reads every review or every stored day.
REVIEW_ASSETS = frozenset(
    {Asset.FINETUNING_DATASET, Asset.JUDGE_AGREEMENT, Asset.HALLUCINATION_KPI_IMPACT}
)


class Chart(StrEnum):
    """How an alert's thread shows a finding (drawn by :mod:`.alerting.charts`)."""

    DISTRIBUTION = "distribution"  # the reference against the day's distribution of a column
    LATENCY: Final = "latency"
    ERRORS: Final = "errors"
    DAILY_COST: Final = "daily_cost"
    MONTHLY_COST: Final = "monthly_cost"
    ANOMALY: Final = "anomaly"
    HALLUCINATION: Final = "hallucination"


@dataclass(frozen=True)
class CheckEntry:
    """One check, defined once.

    Attributes:
        name: The check's name (Dagster's check name, the alert fingerprint's check).
        asset: The asset it is evaluated on; None for checks of the alerting pass itself.
        title: What an incident of it is called (``recommender: <title> in user_age``).
        description: What passing means, with the configuration keys that set it.
        critical: When a failure is critical rather than a warning; ``{factor}`` stands for
            ``critical_factor``.
        critical_factor: For checks of a share or value against a limit, the multiple of the
            limit at which a failure is critical.
        family: The problem its findings are evidence of; findings of one family on a monitor
            join one incident. ``{column}`` stands for the finding's column. None: each
            subject is its own problem.
        family_by_subject: Families of findings whose subject starts with ``<prefix>:`` (or is
            the prefix), for checks whose findings are about different problems.
        chart: The chart an alert thread gets; None for none.
        chart_by_subject: Charts by subject prefix, for checks whose findings differ.
        policy: Its default incident policy, as the keys of ``alerts.policies.<check>`` it
            changes from the general default (a monitor's configuration overrides them).
        subject_titles: What an incident about a named subject that is not a column is
            called instead of ``<title> in <subject>``.
        runbook: The runbook's file name under ``docs/runbooks/``.
    """

    name: str
    asset: str | None
    title: str
    description: str
    critical: str
    critical_factor: float | None = None
    family: str | None = None
    family_by_subject: Mapping[str, str] = field(default_factory=dict)
    chart: Chart | None = None
    chart_by_subject: Mapping[str, Chart] = field(default_factory=dict)
    policy: Mapping[str, int] = field(default_factory=dict)
    subject_titles: Mapping[str, str] = field(default_factory=dict)

    @property
    def runbook(self) -> str:
        return f"{self.name}.md"

    @property
    def spec_description(self) -> str:
        """The description Dagster shows beside the check."""
        return f"{self.description} Critical {self.critical.format(factor=self.critical_factor)}."

    def family_of(self, subject: str) -> str:
        """The problem a finding of this check about ``subject`` is evidence of."""
        known = self.family_by_subject.get(subject.split(":", 1)[0])
        if known is not None:
            return known
        if self.family is not None:
            return fit_key(self.family.format(column=subject.split("@", 1)[0]))
        return self.name if subject == WHOLE else fit_key(f"{self.name}:{subject}")

    def chart_of(self, subject: str) -> Chart | None:
        """The chart of a finding about ``subject``; None when it has none."""
        return self.chart_by_subject.get(subject.split(":", 1)[0], self.chart)


# The malformed_rows finding about the source's rows that no day reads.
ROWS_WITHOUT_DAY: Final = "rows_without_day"

# Drift must persist (2 of 3 days) before it pages; other checks page on the first bad day.
DRIFT_PERSISTENCE: Final[Mapping[str, int]] = MappingProxyType(
    {"persistence_k": 2, "persistence_n": 3, "resolve_after": 3}
)

_ENTRIES = (
    CheckEntry(
        "volume",
        Asset.LIVE_SLICE,
        "traffic volume",
        "The day has at least checks.min_rows rows.",
        "when the day has no rows",
        family="traffic",
    ),
    CheckEntry(
        "malformed_rows",
        Asset.LIVE_SLICE,
        "malformed rows",
        "Share of rows with an unparseable timestamp or value is at most "
        "checks.max_malformed_share.",
        "when the share is over {factor:g} times the allowed one",
        critical_factor=5.0,
        subject_titles={ROWS_WITHOUT_DAY: "rows of the table that no day reads"},
    ),
    CheckEntry(
        "duplicate_requests",
        Asset.LIVE_SLICE,
        "duplicate requests",
        "Share of rows repeating a request id is at most checks.max_duplicate_share.",
        "when the share is over {factor:g} times the allowed one",
        critical_factor=5.0,
    ),
    CheckEntry(
        "feature_drift",
        Asset.FEATURE_DRIFT,
        "input drift",
        "No input feature drifts: effect size over its threshold and significant after "
        "Benjamini-Hochberg.",
        "when the effect size reaches the column's drift critical threshold (per column, else "
        "per type)",
        family="feature:{column}",
        chart=Chart.DISTRIBUTION,
        policy=DRIFT_PERSISTENCE,
    ),
    CheckEntry(
        "prediction_drift",
        Asset.FEATURE_DRIFT,
        "prediction drift",
        "The prediction's distribution does not drift from the reference.",
        "when the effect size reaches the prediction's drift critical threshold",
        family="predictions",
        chart=Chart.DISTRIBUTION,
        policy=DRIFT_PERSISTENCE,
    ),
    CheckEntry(
        "data_quality",
        Asset.DATA_QUALITY,
        "data quality",
        "Great Expectations suite derived from the reference: types, null share, ranges, "
        "categories (and with checks.max_rows, the daily row count).",
        "when a type is wrong, the day has no rows, or an unexpected share reaches {factor:g} "
        "times the allowed one",
        critical_factor=5.0,
    ),
    CheckEntry(
        "schema_change",
        Asset.DATA_QUALITY,
        "schema change",
        "The source table's columns against the configuration, the reference and the "
        "previous partition's snapshot.",
        "when a configured column is missing or its type changed",
    ),
    CheckEntry(
        "performance",
        Asset.PERFORMANCE,
        "performance drop",
        "Once enough labels arrived (performance.min_coverage), the checked metric has not "
        "dropped below the reference by more than its tolerance (significantly), as a whole "
        "or within a segment value (performance@<segment>=<value>).",
        "when the change reaches the metric's critical tolerance (performance.critical)",
        family="predictions",
        # Labels arrive days late: a day's performance is known a week or two after the day.
        policy={"paging_horizon_days": 14},
    ),
    CheckEntry(
        "latency_slo",
        Asset.SERVICE_METRICS,
        "latency above SLO",
        "The SLO percentile of latency is within service.slo.latency_ms.",
        "when it is over {factor:g} times the objective",
        critical_factor=2.0,
        family="latency",
        chart=Chart.LATENCY,
    ),
    CheckEntry(
        "error_rate",
        Asset.SERVICE_METRICS,
        "error rate above SLO",
        "The error rate is within service.slo.error_rate.",
        "when it is over {factor:g} times the objective",
        critical_factor=2.0,
        family="errors",
        chart=Chart.ERRORS,
    ),
    CheckEntry(
        "error_budget",
        Asset.SLO_BUDGET,
        "error budget burn",
        "Each SLO's error-budget burn rate over service.slo.fast_burn.days and "
        "service.slo.slow_burn.days (a warning) stays below its threshold.",
        "when the fast burn puts the budget at risk, or while the budget is unknown",
        family_by_subject={"latency": "latency", "errors": "errors"},
        chart_by_subject={"latency": Chart.LATENCY, "errors": Chart.ERRORS},
    ),
    CheckEntry(
        "cost_budget",
        Asset.TOKEN_COSTS,
        "cost over budget",
        "The day's LLM cost is within llm.daily_budget_usd.",
        "when it is over {factor:g} times the budget",
        critical_factor=1.5,
        family="cost",
        chart=Chart.DAILY_COST,
    ),
    CheckEntry(
        "monthly_budget",
        Asset.TOKEN_COSTS,
        "monthly cost over budget",
        "The month to date plus a weekday-aware forecast of the rest of the month is within "
        "llm.monthly_budget_usd.",
        "when the month to date alone exceeds it",
        family="cost",
        chart=Chart.MONTHLY_COST,
    ),
    CheckEntry(
        "anomaly",
        Asset.ANOMALIES,
        "change from baseline",
        "Each of anomalies.metrics against its trailing anomalies.baseline_days (same weekday "
        "first): robust z at least anomalies.warn and a change of at least "
        "anomalies.min_relative_change; increases only, requests both ways.",
        "at a robust z of anomalies.critical",
        family_by_subject={
            "latency_p95_ms": "latency",
            "error_rate": "errors",
            "cost_per_request": "cost",
            "tokens_per_request": "cost",
            "requests": "traffic",
        },
        chart=Chart.ANOMALY,
    ),
    CheckEntry(
        "canary",
        Asset.CANARY_COMPARISON,
        "canary should roll back",
        "Two model versions serving the day: the candidate's p95 latency, error rate, cost "
        "per request and predictions against the baseline's. Fails on roll back, a "
        "significant degradation beyond a canary tolerance; hold and no canary pass, with a "
        "note.",
        "whenever it fails (it fails only on a roll back)",
    ),
    CheckEntry(
        "hallucination_rate",
        Asset.HALLUCINATION_RATE,
        "hallucination rate",
        "The day's hallucination rate (share of scored answers under llm.judge.threshold) is "
        "not above llm.judge.max_rate on its Wilson 95% lower bound, and neither it nor any "
        "intent or knowledge-base article rose significantly over its last 1 to "
        "llm.judge.rise_window_days days against the llm.judge.baseline_days before them "
        "(Fisher's exact test, Bonferroni over the windows, Holm over the scopes, at "
        "llm.judge.rise_alpha).",
        "when the rate's lower bound is above llm.judge.max_rate",
        family="hallucination",
        chart=Chart.HALLUCINATION,
    ),
    CheckEntry(
        "output_leak",
        Asset.OUTPUT_SAFETY,
        "answers leaking PII",
        "No answer of the day contains an e-mail address, a phone number or a Luhn-valid card "
        "number (one finding per kind; examples are shown redacted).",
        "from llm.output_safety.leaks.critical_share of the answers or "
        "llm.output_safety.leaks.critical_count of them",
        family="output_leak",
    ),
    CheckEntry(
        "refusal_rate",
        Asset.OUTPUT_SAFETY,
        "refusals rising",
        "The share of answers that decline (llm.output_safety.refusals.patterns) did not rise "
        "significantly, overall or within an intent, over its last 1 to "
        "llm.output_safety.refusals.window_days days against the "
        "llm.output_safety.refusals.baseline_days before them (Fisher's exact test, Holm over "
        "the scopes, at llm.output_safety.refusals.alpha).",
        "when the overall or intent share rose to at least {factor:g} times its baseline",
        critical_factor=2.0,
        family="answers",
    ),
    CheckEntry(
        "answer_length",
        Asset.OUTPUT_SAFETY,
        "answer length shift",
        "The day's p50 and p95 answer length in words against their trailing "
        "llm.output_safety.length.baseline_days (same weekday first): robust z under "
        "llm.output_safety.length.warn or a change under .min_relative_change, both ways.",
        "at a robust z of llm.output_safety.length.critical",
        family="answers",
    ),
    CheckEntry(
        "run_failure",
        None,
        "pipeline run failed",
        "A step of the monitor's run did not fail.",
        "whenever it fails",
    ),
)

CHECKS: Mapping[str, CheckEntry] = MappingProxyType({e.name: e for e in _ENTRIES})


def critical_factor(name: str) -> float:
    """The multiple of its limit at which a failure of check ``name`` is critical."""
    factor = CHECKS[name].critical_factor
    if factor is None:
        raise KeyError(f"check {name!r} has no critical factor")
    return factor


def check(name: str) -> CheckEntry:
    """The catalog entry of a check; an unknown name gets a plain entry of its own."""
    known = CHECKS.get(name)
    if known is not None:
        return known
    return CheckEntry(name, None, name.replace("_", " "), "", "")
