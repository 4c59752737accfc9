"""The monitor configuration: one monitor per monitored model, mapped onto the user's own tables.

The models here are the data contract documented in README.md ("Configuration"). Loading, env
interpolation and error messages live in :mod:`monitoring_pipelines.core.config_loading`.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monitoring_pipelines.core import catalog

MonitorName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")]
ColumnName = Annotated[str, Field(min_length=1, max_length=128)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]


class Strict(BaseModel):
    """Base of every section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Severity(StrEnum):
    """How bad a failed check is; ``critical`` pages where paging is configured."""

    WARN = "warn"
    CRITICAL = "critical"


class SourceConfig(Strict):
    """The inference log: a warehouse table with one row per request."""

    table: ColumnName
    db_schema: str | None = Field(default=None, alias="schema")
    timestamp_column: ColumnName
    request_id_column: ColumnName | None = None
    session_column: ColumnName | None = Field(
        default=None,
        description="rows sharing a session are not independent: p-values sample one per session",
    )
    chunk_rows: Annotated[int, Field(ge=100, le=5_000_000)] = 50_000
    pushdown: Literal["auto", "on", "off"] = Field(
        default="off",
        description="compute the day's aggregates in the warehouse and keep only a bounded "
        "sample as the slice: 'auto' when the dialect and the columns allow (else pull, saying "
        "why), 'on' or fail saying why, 'off' pull every row",
    )
    pushdown_sample_rows: Annotated[int, Field(ge=100, le=5_000_000)] | None = Field(
        default=None,
        description="rows of a pushed-down day's sample (default: the most that p-values, "
        "the whylogs profile and the quality checks each read)",
    )

    @field_validator("pushdown", mode="before")
    @classmethod
    def _yaml_switch(cls, value: object) -> object:
        # YAML 1.1 reads a bare on and off as booleans.
        if value is True:
            return "on"
        if value is False:
            return "off"
        return value


class ReferenceConfig(Strict):
    """The training data drift is measured against: a parquet/CSV file, a table, or a query."""

    path: str | None = None
    table: ColumnName | None = None
    db_schema: str | None = Field(
        default=None, alias="schema", description="the table's schema (default: the database's)"
    )
    query: str | None = None
    max_rows: Annotated[int, Field(ge=10)] = 1_000_000
    label_column: ColumnName | None = Field(
        default=None, description="true labels in the reference: the performance baseline"
    )
    timestamp_column: ColumnName | None = Field(
        default=None,
        description="when each reference row was logged (default: the source's timestamp "
        "column, if the reference has it): lets drift compare a day with the reference's "
        "same weekday, and its days seed the anomaly baseline of a young monitor",
    )

    @model_validator(mode="after")
    def _exactly_one_location(self) -> ReferenceConfig:
        given = [k for k in ("path", "table", "query") if getattr(self, k)]
        if len(given) != 1:
            found = ", ".join(given) if given else "none of them"
            raise ValueError(f"give exactly one of path, table or query (found {found})")
        return self


class FeaturesConfig(Strict):
    """Input columns to profile and test for drift."""

    numeric: list[ColumnName] = []
    categorical: list[ColumnName] = []


class PredictionConfig(Strict):
    """The model's output column: a class label or a numeric score."""

    column: ColumnName
    type: Literal["label", "score"]
    score_column: ColumnName | None = Field(
        default=None,
        description="label predictions: the model's probability (0-1) for its predicted label",
    )


class Threshold(Strict):
    """Effect-size thresholds of one drift statistic; unset keys fall back to the wider level."""

    statistic: Literal["ks", "chi2", "psi", "jensen_shannon", "wasserstein"] | None = None
    warn: Annotated[float, Field(gt=0)] | None = None
    critical: Annotated[float, Field(gt=0)] | None = None


class DriftConfig(Strict):
    """Drift policy. Defaults are documented in README.md ("Drift")."""

    numeric: Threshold = Threshold(statistic="wasserstein", warn=0.05, critical=0.2)
    categorical: Threshold = Threshold(statistic="jensen_shannon", warn=0.05, critical=0.15)
    columns: dict[ColumnName, Threshold] = {}
    fdr: Annotated[float, Field(gt=0, lt=1)] = 0.01
    min_rows: Annotated[int, Field(ge=1)] = 200
    p_value_sample: Annotated[int, Field(ge=100)] = 10_000
    bins: Annotated[int, Field(ge=4, le=200)] = 20
    seasonality: Literal["auto", "weekly", "none"] = Field(
        default="auto",
        description="weekly: compare each day with the reference's rows of the same weekday; "
        "auto: weekly when the reference has a timestamp and at least two of every weekday",
    )


class ProfileConfig(Strict):
    """The stored whylogs profile."""

    sample_rows: Annotated[int, Field(ge=1000)] = Field(
        default=25_000,
        description="rows profiled per day: a uniform sample above this; counts and drift "
        "always use every row",
    )


class BurnRateConfig(Strict):
    """One burn-rate alert: the budget spent over ``days`` at ``threshold`` times the allowed
    rate (1 spends the budget exactly over the SLO window)."""

    days: Annotated[int, Field(ge=1, le=90)]
    threshold: Annotated[float, Field(gt=0)]


class SloConfig(Strict):
    """Service level objectives: checked per day and as an error budget over a window.

    ``latency_ms`` with ``latency_percentile`` reads as "p95 within 200 ms" for the daily check
    and as "95 % of requests within 200 ms" for the error budget.
    """

    latency_ms: Annotated[float, Field(gt=0)] | None = None
    latency_percentile: Annotated[float, Field(ge=50, lt=100)] = 95.0
    error_rate: Share | None = None
    window_days: Annotated[int, Field(ge=1, le=366)] = 28
    # Adapted from the multiwindow burn-rate alerts of SRE practice to daily partitions: a
    # day burning 7x (a quarter of a 28-day budget) is critical, a week burning 2x (half of
    # it) is a warning.
    fast_burn: BurnRateConfig = BurnRateConfig(days=1, threshold=7.0)
    slow_burn: BurnRateConfig = BurnRateConfig(days=7, threshold=2.0)


class ServiceConfig(Strict):
    """Latency and status columns of the inference log."""

    latency_column: ColumnName | None = None
    latency_unit: Literal["ms", "s"] = "ms"
    status_column: ColumnName | None = None
    error_statuses: list[str | int] | None = Field(
        default=None,
        description="status values that count as errors; unset means HTTP codes >= 500",
    )
    endpoint_column: ColumnName | None = None
    dimensions: list[ColumnName] | None = Field(
        default=None,
        description="columns latency and errors are broken down by (model, version, endpoint); "
        "unset: the endpoint column, the LLM model column, the canary version column and the "
        "monitor's segments",
    )
    slo: SloConfig = SloConfig()


class PriceConfig(Strict):
    """Price of one LLM model, from ``effective_from`` until the next entry of the same model."""

    model: ColumnName
    input_per_1k: Annotated[float, Field(ge=0)]
    output_per_1k: Annotated[float, Field(ge=0)]
    cached_input_per_1k: Annotated[float, Field(ge=0)] | None = Field(
        default=None, description="price of cached prompt tokens; unset: the input price"
    )
    effective_from: date = date(1970, 1, 1)


class OpenAIJudgeConfig(Strict):
    """An OpenAI-compatible chat-completions server used as the judge (OpenAI, Azure, vLLM,
    Ollama...). The API key comes from the environment variable named by ``api_key_env``."""

    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    api_key_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")] = "MONITORING_JUDGE_API_KEY"
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    max_retries: Annotated[int, Field(ge=0, le=10)] = 4
    max_concurrency: Annotated[int, Field(ge=1, le=64)] = 4
    input_per_1k: Annotated[float, Field(ge=0)] | None = None
    output_per_1k: Annotated[float, Field(ge=0)] | None = None
    daily_budget_usd: Annotated[float, Field(gt=0)] | None = None


class CascadeConfig(Strict):
    """The cascade judge: the offline judge scores every sampled answer; those it scores
    inside ``uncertain_band`` (low, high), and ``audit_share`` of the others, also go to the
    OpenAI-compatible judge (``llm.judge.openai``, within its ``daily_budget_usd``)."""

    uncertain_band: tuple[Share, Share] = (0.6, 0.85)
    audit_share: Share = 0.05

    @model_validator(mode="after")
    def _ordered(self) -> CascadeConfig:
        low, high = self.uncertain_band
        if low > high:
            raise ValueError(
                f"uncertain_band must be [low, high] with low <= high, got {low}, {high}"
            )
        return self


class JudgeConfig(Strict):
    """Shadow scoring of LLM answers for faithfulness to the retrieved context."""

    backend: Literal["offline", "openai", "cascade"] = "offline"
    sample_rate: Annotated[float, Field(gt=0, le=1)] = 0.05
    threshold: Share = 0.7
    daily_cap: Annotated[int, Field(ge=1)] = 500
    min_per_intent: Annotated[int, Field(ge=0)] = 20
    openai: OpenAIJudgeConfig = OpenAIJudgeConfig()
    cascade: CascadeConfig = CascadeConfig()
    max_rate: Share = 0.10
    baseline_days: Annotated[int, Field(ge=3, le=366)] = 14
    rise_alpha: Annotated[float, Field(gt=0, lt=1)] = Field(
        default=0.001,
        description="chance per day that a monitor whose rates never move pages for a rise "
        "(every scope and window together): at most 365 * rise_alpha false alarms a year",
    )
    rise_window_days: Annotated[int, Field(ge=1, le=31)] = Field(
        default=7,
        description="the rise test pools the last 1 to rise_window_days days of each scope, so "
        "a small article's rise is found once enough days have accumulated",
    )
    audit_rate: Share = Field(
        default=0.02,
        description="share of the answers the judge passed that are queued for review too, "
        "so the judge's agreement with reviewers covers its misses",
    )
    audit_max_per_day: Annotated[int, Field(ge=0)] | None = Field(
        default=20,
        description="at most this many of a day's passed answers are queued for the audit "
        "(the first in a fixed hash order); null: no cap",
    )


class KpiConfig(Strict):
    """A business KPI per day (for example support tickets) to relate hallucinations to."""

    table: ColumnName
    db_schema: str | None = Field(
        default=None, alias="schema", description="the table's schema (default: the database's)"
    )
    date_column: ColumnName
    value_column: ColumnName
    name: str = "kpi"
    max_lag_days: Annotated[int, Field(ge=0, le=30)] = 7


class LeakConfig(Strict):
    """When the day's answers leaking PII (e-mail, phone, card numbers) are a critical finding;
    one leaking answer is always at least a warning."""

    critical_share: Annotated[float, Field(gt=0, le=1)] = Field(
        default=0.001,
        description="share of the day's answers leaking at which the finding is critical",
    )
    critical_count: Annotated[int, Field(ge=1)] = Field(
        default=10,
        description="leaking answers in a day at which the finding is critical",
    )
    kinds: list[Literal["email", "phone", "card"]] = Field(
        default=["email", "phone", "card"],
        min_length=1,
        description="the kinds that fail the check (all are measured): leave out one the bot is "
        "meant to give out, such as a support hotline's phone number",
    )


class RefusalConfig(Strict):
    """Which answers decline, and when a rise of their share fails (the hallucination rise scan:
    Fisher's exact test of the last 1 to window_days days against the baseline_days before)."""

    patterns: list[str] | None = Field(
        default=None,
        description="regular expressions (case-insensitive) of a declining answer; unset: the "
        "defaults of core/safety/refusal.py",
    )
    extra_patterns: list[str] = Field(
        default=[], description="expressions added to the patterns (or to the defaults)"
    )
    baseline_days: Annotated[int, Field(ge=3, le=366)] = 14
    window_days: Annotated[int, Field(ge=1, le=31)] = 7
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.001

    @model_validator(mode="after")
    def _patterns_compile(self) -> RefusalConfig:
        for pattern in [*(self.patterns or []), *self.extra_patterns]:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"refusal pattern {pattern!r} is not a regular expression: {exc}"
                ) from exc
        if self.patterns is not None and not self.patterns and not self.extra_patterns:
            raise ValueError("patterns is empty: give at least one, or leave it unset")
        return self


class LengthConfig(Strict):
    """When the day's answer length (p50 and p95 words) shifted from its trailing baseline
    (robust z, as anomalies score; both directions)."""

    baseline_days: Annotated[int, Field(ge=7, le=366)] = 28
    min_baseline_days: Annotated[int, Field(ge=3)] = 7
    warn: Annotated[float, Field(gt=0)] = 4.0
    critical: Annotated[float, Field(gt=0)] = 8.0
    min_relative_change: Annotated[float, Field(ge=0)] = 0.25

    @model_validator(mode="after")
    def _critical_above_warn(self) -> LengthConfig:
        if self.critical < self.warn:
            raise ValueError(f"critical ({self.critical}) must be at least warn ({self.warn})")
        return self


class OutputSafetyConfig(Strict):
    """What the day's LLM answers leak, how many decline, and how long they are."""

    enabled: bool = True
    leaks: LeakConfig = LeakConfig()
    refusals: RefusalConfig = RefusalConfig()
    length: LengthConfig = LengthConfig()


class LlmConfig(Strict):
    """LLM columns of the inference log, the price table and the daily budget."""

    model_column: ColumnName
    prompt_tokens_column: ColumnName
    completion_tokens_column: ColumnName
    question_column: ColumnName | None = None
    answer_column: ColumnName | None = None
    context_column: ColumnName | None = None
    intent_column: ColumnName | None = None
    article_column: ColumnName | None = None
    cached_tokens_column: ColumnName | None = None
    prices: list[PriceConfig] = []
    daily_budget_usd: Annotated[float, Field(gt=0)] | None = None
    monthly_budget_usd: Annotated[float, Field(gt=0)] | None = None
    judge: JudgeConfig = JudgeConfig()
    kpi: KpiConfig | None = None
    output_safety: OutputSafetyConfig = OutputSafetyConfig()


class AnomalyConfig(Strict):
    """Day-over-baseline anomalies in operational metrics, with robust statistics."""

    metrics: list[
        Literal[
            "cost_per_request",
            "tokens_per_request",
            "latency_p95_ms",
            "error_rate",
            "requests",
        ]
    ] = ["cost_per_request", "tokens_per_request", "latency_p95_ms", "error_rate"]
    baseline_days: Annotated[int, Field(ge=7, le=366)] = 28
    min_baseline_days: Annotated[int, Field(ge=3)] = 7
    weekday_aware: bool = True
    warn: Annotated[float, Field(gt=0)] = 4.0
    critical: Annotated[float, Field(gt=0)] = 8.0
    min_relative_change: Annotated[float, Field(ge=0)] = 0.2
    absorb_after_days: Annotated[int, Field(ge=1, le=366)] = Field(
        default=14,
        description="anomalous days stay out of later baselines (a lasting change stays an "
        "anomaly) until this many in a row: then the new level is the normal one",
    )
    enabled: bool = True

    @model_validator(mode="after")
    def _critical_above_warn(self) -> AnomalyConfig:
        if self.critical < self.warn:
            raise ValueError(f"critical ({self.critical}) must be at least warn ({self.warn})")
        return self


class CanaryConfig(Strict):
    """Comparison of two model versions serving the same days."""

    version_column: ColumnName
    baseline: str | None = Field(
        default=None, description="the incumbent version; unset: the one with most traffic"
    )
    candidate: str | None = Field(
        default=None, description="the new version; unset: the most recently seen other one"
    )
    min_rows: Annotated[int, Field(ge=10)] = 200
    max_p95_increase_ms: Annotated[float, Field(ge=0)] = 20.0
    max_error_rate_increase: Share = 0.005
    max_cost_increase: Annotated[float, Field(ge=0)] = 0.1
    max_prediction_drift: Annotated[float, Field(gt=0)] = 0.1
    bootstrap_samples: Annotated[int, Field(ge=100, le=100_000)] = 2000


class LabelsConfig(Strict):
    """Delayed ground truth, joined to the inference log by request id."""

    table: ColumnName
    db_schema: str | None = Field(
        default=None, alias="schema", description="the table's schema (default: the database's)"
    )
    request_id_column: ColumnName
    label_column: ColumnName
    timestamp_column: ColumnName | None = None


class PerformanceConfig(Strict):
    """How realised performance (once labels arrive) is compared with the reference."""

    metric: Literal["accuracy", "macro_f1", "auc", "confidence_auc", "mae", "rmse"] | None = None
    warn: Annotated[float, Field(gt=0)] | None = None
    critical: Annotated[float, Field(gt=0)] | None = None
    min_coverage: Share = 0.10
    min_labelled: Annotated[int, Field(ge=1)] = 200
    reference_days: Annotated[int, Field(ge=1, le=366)] = 7
    significance: Annotated[float, Field(gt=0, le=1)] = 0.01

    @model_validator(mode="after")
    def _critical_above_warn(self) -> PerformanceConfig:
        if self.warn is not None and self.critical is not None and self.critical < self.warn:
            raise ValueError(f"critical ({self.critical}) must be at least warn ({self.warn})")
        return self


class ChecksConfig(Strict):
    """Thresholds of the data checks on each day's slice."""

    min_rows: Annotated[int, Field(ge=0)] = 1
    max_rows: Annotated[int, Field(ge=1)] | None = None
    max_malformed_share: Share = 0.01
    max_duplicate_share: Share = 0.01
    allow_rows_before_start: bool = Field(
        default=False,
        description="a table with history before start_date: show those rows without failing",
    )
    max_null_share: Share = 0.01
    null_share_margin: Share = 0.02
    range_margin: Annotated[float, Field(ge=0)] = 0.1
    max_out_of_range_share: Share = 0.01
    max_unseen_category_share: Share = 0.01
    quality_sample_rows: Annotated[int, Field(ge=1000)] = 100_000

    @model_validator(mode="after")
    def _band(self) -> ChecksConfig:
        if self.max_rows is not None and self.max_rows < self.min_rows:
            raise ValueError(f"max_rows ({self.max_rows}) is below min_rows ({self.min_rows})")
        return self


REOPEN_WITHIN_DAYS = 7  # a weekend and a weekly pattern: one incident for a problem that pauses


class PolicyConfig(Strict):
    """When failed partitions become an incident, when it resolves, and when it reopens."""

    persistence_k: Annotated[int, Field(ge=1)] = 1
    persistence_n: Annotated[int, Field(ge=1)] = 1
    resolve_after: Annotated[int, Field(ge=1)] = 2
    reopen_within_days: Annotated[int, Field(ge=0)] = Field(
        default=REOPEN_WITHIN_DAYS,
        description="failing again at most this many days after its resolution reopens the "
        "same incident (0: a new incident); default: alerts.reopen_within_days",
    )
    paging_horizon_days: Annotated[int, Field(ge=0)] | None = Field(
        default=None,
        description="overrides alerts.paging_horizon_days for checks evaluated late "
        "(performance waits for labels)",
    )

    @model_validator(mode="after")
    def _k_within_n(self) -> PolicyConfig:
        if self.persistence_k > self.persistence_n:
            raise ValueError(
                f"persistence_k ({self.persistence_k}) must not exceed "
                f"persistence_n ({self.persistence_n})"
            )
        return self


class PagerDutyConfig(Strict):
    """PagerDuty Events API v2: the routing key of an integration comes from the environment."""

    routing_key_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")] = "PAGERDUTY_ROUTING_KEY"
    severities: list[Severity] = [Severity.CRITICAL]
    url: str = "https://events.pagerduty.com/v2/enqueue"


class AlertsConfig(Strict):
    """Where alerts go and when they page."""

    slack_channel: str | None = None
    runbook_base_url: str | None = None
    paging_horizon_days: Annotated[int, Field(ge=0)] = 3
    reopen_within_days: Annotated[int, Field(ge=0)] = REOPEN_WITHIN_DAYS
    policies: dict[str, PolicyConfig] = {}
    renotify_hours: Annotated[float, Field(gt=0)] | None = 24.0
    max_pages_per_day: Annotated[int, Field(ge=1)] | None = 10
    pagerduty: PagerDutyConfig | None = None

    def policy_for(self, check: str) -> PolicyConfig:
        """The incident policy of a check: the keys configured for it over its documented
        default (so ``{resolve_after: 5}`` keeps drift's 2-of-3 persistence), and the
        monitor's ``reopen_within_days`` unless the check sets its own."""
        default = {
            "reopen_within_days": self.reopen_within_days,
            **dict(catalog.check(check).policy),
        }
        configured = self.policies.get(check)
        if configured is None:
            return PolicyConfig.model_validate(default)
        keys = configured.model_fields_set
        return PolicyConfig.model_validate({**default, **configured.model_dump(include=keys)})


# The longest look-back of the data each retention key prunes: a shorter retention would leave
# the assets that read it without their days (tests/unit/test_retention.py ties each figure to
# the constant it restates).
WINDOW_SKETCH_DAYS = 28  # window_drift merges the daily sketches of profile.windows.WINDOWS
REPORT_HISTORY_DAYS = 28  # a report plots the drift of report.page.HISTORY_DAYS days
LATE_LABEL_DAYS = 7  # late labels re-materialize performance from the day's slice
REPORT_LINK_DAYS = 7  # alerts of the past week link the report of their day


class RetentionConfig(Strict):
    """How many days (before today) of each kind of bulky data are kept; older days are
    deleted by ``monitoring prune`` and the ``prune`` schedule. The per-day numbers a person
    plots (metrics, check results) and the reference are kept whatever these say."""

    slices_days: Annotated[int, Field(ge=1)] = Field(
        default=35, description="parquet slices under $MONITORING_HOME/slices"
    )
    profiles_days: Annotated[int, Field(ge=1)] = Field(
        default=90, description="daily and window profiles and their column sketches"
    )
    column_results_days: Annotated[int, Field(ge=1)] = Field(
        default=400, description="per-column drift results and slice-quality findings"
    )
    resolved_incidents_days: Annotated[int, Field(ge=1)] = Field(
        default=400, description="incidents resolved this many days ago, with their alerts"
    )
    reports_days: Annotated[int, Field(ge=1)] = Field(
        default=90, description="HTML reports under $MONITORING_HOME/reports"
    )

    def shortfalls(self, reopen_within_days: int) -> list[str]:
        """Each key set below the look-back of what reads its data, as a sentence.

        Args:
            reopen_within_days: The longest reopen window of the monitor's checks: a resolved
                incident must outlive it to be reopened.
        """
        floors = {
            "slices_days": (LATE_LABEL_DAYS, "late labels re-materialize performance from it"),
            "profiles_days": (WINDOW_SKETCH_DAYS, "window_drift merges 28 days of sketches"),
            "column_results_days": (REPORT_HISTORY_DAYS, "a report plots 28 days of drift"),
            "resolved_incidents_days": (
                reopen_within_days + 1,
                f"an incident resolved {reopen_within_days} days ago can still reopen",
            ),
            "reports_days": (REPORT_LINK_DAYS, "the past week's alerts link their report"),
        }
        out = []
        for key, (floor, why) in floors.items():
            value = getattr(self, key)
            if value < floor:
                out.append(f"retention.{key} is {value}; the minimum is {floor} ({why})")
        return out


PERFORMANCE_METRICS = {
    "label": ("accuracy", "macro_f1", "auc", "confidence_auc"),
    "score": ("mae", "rmse", "auc"),
}


class MonitorConfig(Strict):
    """One monitored model: where its data lives and what to check."""

    description: str = ""
    start_date: date
    end_date: date | None = Field(
        default=None,
        description="last daily partition (inclusive); none: every day up to the last complete one",
    )
    source: SourceConfig
    reference: ReferenceConfig | None = None
    features: FeaturesConfig = FeaturesConfig()
    prediction: PredictionConfig | None = None
    segments: list[ColumnName] = []
    service: ServiceConfig | None = None
    llm: LlmConfig | None = None
    labels: LabelsConfig | None = None
    performance: PerformanceConfig = PerformanceConfig()
    anomalies: AnomalyConfig | None = Field(
        default=AnomalyConfig(),
        description="on by default for the metrics a monitor has; `enabled: false` turns it off",
    )
    canary: CanaryConfig | None = None
    drift: DriftConfig = DriftConfig()
    profile: ProfileConfig = ProfileConfig()
    checks: ChecksConfig = ChecksConfig()
    alerts: AlertsConfig = AlertsConfig()
    retention: RetentionConfig = RetentionConfig()

    def has_day(self, day: date, today: date) -> bool:
        """Whether ``day`` is one of the monitor's daily partitions on ``today``: from its
        start date to the last complete day, and not after its end date."""
        last = today - timedelta(days=1)
        if self.end_date is not None:
            last = min(last, self.end_date)
        return self.start_date <= day <= last

    @model_validator(mode="after")
    def _retention_covers_look_backs(self) -> MonitorConfig:
        reopen = max(
            [self.alerts.reopen_within_days]
            + [
                p.reopen_within_days
                for p in self.alerts.policies.values()
                if "reopen_within_days" in p.model_fields_set
            ]
        )
        shortfalls = self.retention.shortfalls(reopen)
        if shortfalls:
            raise ValueError("; ".join(shortfalls))
        return self

    @model_validator(mode="after")
    def _consistent_columns(self) -> MonitorConfig:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError(
                f"end_date {self.end_date} is before start_date {self.start_date}: "
                "the last day must not come before the first"
            )
        roles: dict[str, str] = {}
        for role, columns in self.column_roles().items():
            for column in columns:
                if column in roles and roles[column] != role:
                    raise ValueError(
                        f"column '{column}' is used as both {roles[column]} and {role}; "
                        "a column can have one role"
                    )
                roles[column] = role
        if (self.features.numeric or self.features.categorical or self.prediction) and (
            self.reference is None
        ):
            raise ValueError("features and prediction need a 'reference' to compare against")
        if not (self.reference or self.service or self.llm):
            raise ValueError("nothing to monitor: give features, prediction, service or llm")
        asked = "anomalies" in self.model_fields_set and self.anomalies and self.anomalies.enabled
        if asked and self.service is None and self.llm is None:
            raise ValueError("anomalies are measured on service or llm metrics: configure one")
        if self.labels is not None and (
            self.prediction is None or not self.source.request_id_column
        ):
            raise ValueError(
                "labels are joined to predictions by request id: they need 'prediction' and "
                "'source.request_id_column'"
            )
        if self.performance.metric is not None and self.prediction is not None:
            allowed = PERFORMANCE_METRICS[self.prediction.type]
            if self.performance.metric not in allowed:
                raise ValueError(
                    f"performance.metric '{self.performance.metric}' does not apply to "
                    f"{self.prediction.type} predictions; allowed: {', '.join(allowed)}"
                )
        unknown = set(self.drift.columns) - set(self.drifted_columns())
        if unknown:
            raise ValueError(
                f"drift.columns names {sorted(unknown)}, which are not features or the prediction"
            )
        return self

    def column_roles(self) -> dict[str, list[str]]:
        """Columns by role, for validation and for the warehouse query."""
        roles: dict[str, list[str]] = {
            "the timestamp": [self.source.timestamp_column],
            "a numeric feature": list(self.features.numeric),
            "a categorical feature": list(self.features.categorical),
            "a segment": list(self.segments),
        }
        if self.source.request_id_column:
            roles["the request id"] = [self.source.request_id_column]
        if self.source.session_column:
            roles["the session"] = [self.source.session_column]
        if self.service and self.service.endpoint_column:
            roles["the endpoint"] = [self.service.endpoint_column]
        if self.prediction:
            roles["the prediction"] = [self.prediction.column]
            if self.prediction.score_column:
                roles["the prediction score"] = [self.prediction.score_column]
        return roles

    def service_dimensions(self) -> list[str]:
        """Columns latency and errors are broken down by."""
        if self.service is None:
            return []
        if self.service.dimensions is not None:
            return list(self.service.dimensions)
        named = (
            self.service.endpoint_column,
            self.llm.model_column if self.llm else None,
            self.canary.version_column if self.canary else None,
        )
        return list(dict.fromkeys([*(c for c in named if c), *self.segments]))

    def drifted_columns(self) -> list[str]:
        """Columns tested for drift: features, then the prediction."""
        columns = [*self.features.numeric, *self.features.categorical]
        if self.prediction:
            columns.append(self.prediction.column)
        return columns

    def numeric_columns(self) -> list[str]:
        """Columns read as numbers from the warehouse."""
        columns = list(self.features.numeric)
        if self.prediction and self.prediction.type == "score":
            columns.append(self.prediction.column)
        if self.prediction and self.prediction.score_column:
            columns.append(self.prediction.score_column)
        if self.service and self.service.latency_column:
            columns.append(self.service.latency_column)
        if self.llm:
            columns += [self.llm.prompt_tokens_column, self.llm.completion_tokens_column]
            if self.llm.cached_tokens_column:
                columns.append(self.llm.cached_tokens_column)
        return list(dict.fromkeys(columns))

    def text_columns(self) -> list[str]:
        """Columns read as strings from the warehouse."""
        columns = [*self.features.categorical, *self.segments]
        if self.prediction and self.prediction.type == "label":
            columns.append(self.prediction.column)
        if self.service and self.service.status_column:
            columns.append(self.service.status_column)
        if self.service:
            columns += [c for c in (self.service.endpoint_column,) if c]
            columns += self.service_dimensions()
        if self.canary:
            columns.append(self.canary.version_column)
        if self.llm:
            optional = (
                self.llm.question_column,
                self.llm.answer_column,
                self.llm.context_column,
                self.llm.intent_column,
                self.llm.article_column,
            )
            columns += [self.llm.model_column, *(c for c in optional if c)]
        if self.source.request_id_column:
            columns.append(self.source.request_id_column)
        return list(dict.fromkeys(columns))


class MonitorFile(Strict):
    """The whole configuration file."""

    version: Literal[1] = 1
    warehouse_url: str | None = None
    defaults: dict[str, object] = {}
    monitors: dict[MonitorName, MonitorConfig] = Field(min_length=1)
