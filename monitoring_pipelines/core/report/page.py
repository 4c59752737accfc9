"""The daily HTML report of a monitor, built from stored results only.

The page is self-contained (inline CSS, PNG plots as base64 data URIs, no script and nothing
fetched: its Content-Security-Policy forbids it), so it can be archived, mailed or opened from
disk. Every text that comes from data is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.performance.metrics import Kind
from monitoring_pipelines.core.profile.sketch import ColumnSketch
from monitoring_pipelines.core.report import html as h
from monitoring_pipelines.core.report import plots
from monitoring_pipelines.core.report.canary import canary_section
from monitoring_pipelines.core.report.checks import (
    SEVERITY_ORDER,
    CheckRow,
    CheckSummary,
    tally,
)
from monitoring_pipelines.core.report.hallucination import ReviewState, hallucination_section
from monitoring_pipelines.core.report.performance import performance_section
from monitoring_pipelines.core.report.safety import safety_section

HISTORY_DAYS = 28
MAX_DISTRIBUTIONS = 6
MAX_TRENDS = 8
TRENDS_WHEN_CLEAN = 4

MetricValues = Mapping[tuple[str, str], float | None]  # (name, dimensions) -> value


@dataclass(frozen=True)
class DriftRow:
    """One column's drift result for the day (``role`` ``segment`` for per-segment rows)."""

    column: str
    role: str
    statistic: str
    score: float | None
    warn: float
    critical: float
    p_adjusted: float | None
    rows: int
    verdict: str
    note: str | None = None

    @property
    def drifted(self) -> bool:
        return self.verdict in ("warn", "critical")


@dataclass(frozen=True)
class Targets:
    """The monitor's SLOs and budget (None where not configured)."""

    latency_ms: float | None = None
    latency_percentile: float = 95.0
    error_rate: float | None = None
    daily_budget_usd: float | None = None


@dataclass(frozen=True)
class ReportInputs:
    """Everything the report shows, read from the result store beforehand.

    Attributes:
        checks: The day's check findings; None when the alerting pass has not recorded them.
        reference: Reference sketches of the columns plotted (see ``distribution_columns``).
        current: The day's sketches of the same columns.
        drift_history: Daily drift score per column over the history (see ``trend_columns``).
        metrics: Per asset, per day, the stored metrics.
        assets: The result assets the monitor has (``service_metrics``, ``token_costs``,
            ``data_quality``, ``performance``, ``hallucination_rate``, ``output_safety``,
            ``canary_comparison``); each has a section.
        check_specs: The Dagster checks of the monitor's daily assets, which the headline
            counts as the Dagster UI lists them; None to count the checks with a result.
        performance_kind: ``label`` or ``score`` predictions; performance_metric: the metric
            the performance check compares with its reference.
        review: The review queue and the judge's agreement (monitors whose answers are judged).
    """

    monitor: str
    day: date
    description: str
    generated_at: datetime
    checks: Sequence[CheckRow] | None = None
    drift: Sequence[DriftRow] = ()
    reference: Mapping[str, ColumnSketch] = field(default_factory=dict)
    current: Mapping[str, ColumnSketch] = field(default_factory=dict)
    drift_history: Mapping[str, Mapping[date, float | None]] = field(default_factory=dict)
    metrics: Mapping[str, Mapping[date, MetricValues]] = field(default_factory=dict)
    assets: frozenset[str] = frozenset()
    targets: Targets = Targets()
    check_specs: tuple[str, ...] | None = None
    performance_kind: Kind | None = None
    performance_metric: str | None = None
    review: ReviewState | None = None

    @property
    def history(self) -> list[date]:
        """The days the trends cover, oldest first, ending on the report's day."""
        return [self.day - timedelta(days=i) for i in range(HISTORY_DAYS - 1, -1, -1)]

    def today(self, asset: str) -> MetricValues:
        return self.metrics.get(asset, {}).get(self.day, {})


@dataclass(frozen=True)
class Report:
    html: str
    plots: int
    summary_markdown: str


def distribution_columns(drift: Sequence[DriftRow]) -> list[str]:
    """Drifted columns whose distributions are plotted: highest score first, at most 6."""
    drifted = [r for r in _by_score(drift) if r.drifted and r.role != "segment"]
    return [r.column for r in drifted[:MAX_DISTRIBUTIONS]]


def trend_columns(drift: Sequence[DriftRow]) -> list[str]:
    """Columns whose score is plotted over time: the drifted ones, else the 4 highest."""
    ranked = [r for r in _by_score(drift) if r.role != "segment" and r.score is not None]
    drifted = [r for r in ranked if r.drifted]
    chosen = drifted[:MAX_TRENDS] if drifted else ranked[:TRENDS_WHEN_CLEAN]
    return [r.column for r in chosen]


def findings(inputs: ReportInputs) -> list[CheckSummary]:
    """Failed checks, worst first; before alerting ran, results over their thresholds."""
    if inputs.checks is not None:
        counted = tally(inputs.checks, inputs.check_specs)
        listed = (*counted.failed, *counted.other_failed)
        return sorted(listed, key=lambda f: SEVERITY_ORDER.get(f.severity, 2))
    out = []
    drifted = [r for r in _by_score(inputs.drift) if r.drifted and r.role != "segment"]
    if drifted:
        worst = "critical" if any(r.verdict == "critical" for r in drifted) else "warn"
        out.append(CheckSummary("drift", worst, tuple(_drift_detail(r) for r in drifted)))
    t, service = inputs.targets, inputs.today(Asset.SERVICE_METRICS)
    for name, value, limit, unit in (
        ("latency_slo", service.get(("slo_percentile_ms", "")), t.latency_ms, " ms"),
        ("error_rate", service.get(("error_rate", "")), t.error_rate, ""),
        (
            "cost_budget",
            inputs.today(Asset.TOKEN_COSTS).get(("cost_usd", "")),
            t.daily_budget_usd,
            " USD",
        ),
    ):
        if value is not None and limit is not None and value > limit:
            out.append(CheckSummary(name, "fail", (f"{value:.4g}{unit} over {limit:g}{unit}",)))
    failed = inputs.today(Asset.DATA_QUALITY).get(("expectations_failed", ""))
    if failed:
        out.append(CheckSummary("data_quality", "fail", (f"{failed:.0f} expectations failed",)))
    return sorted(out, key=lambda f: SEVERITY_ORDER.get(f.severity, 2))


def headline(inputs: ReportInputs) -> str:
    failed = findings(inputs)
    if inputs.checks is not None:
        return tally(inputs.checks, inputs.check_specs).headline(inputs.day)
    prefix = f"check results for {inputs.day} not recorded yet (the alerting pass has not run)"
    if not failed:
        return f"{prefix}; no stored result is over its threshold"
    return f"{prefix}; over their thresholds: {', '.join(f.name for f in failed)}"


def summary_markdown(inputs: ReportInputs) -> str:
    """The headline and the failed checks as markdown (the asset's metadata)."""
    lines = [f"**{headline(inputs)}**"]
    for f in findings(inputs):
        lines.append(f"- `{f.name}` ({f.severity})")
        lines += [f"  - {d}" for d in f.details]
    return "\n".join(lines)


def render_report(inputs: ReportInputs) -> Report:
    """The report page and how many plots it embeds."""
    page = h.Page()
    days, metrics, budget = inputs.history, inputs.metrics, inputs.targets.daily_budget_usd
    today = inputs.today
    sections = [
        _drift_section(inputs, page),
        _trend_section(inputs, page),
    ]
    if Asset.PERFORMANCE in inputs.assets or today(Asset.PERFORMANCE):
        sections.append(
            performance_section(
                inputs.day,
                today(Asset.PERFORMANCE),
                inputs.performance_kind,
                inputs.performance_metric,
            )
        )
    if Asset.HALLUCINATION_RATE in inputs.assets or today(Asset.HALLUCINATION_RATE):
        history = metrics.get(Asset.HALLUCINATION_RATE, {})
        sections.append(hallucination_section(inputs.day, days, history, inputs.review, page))
    if Asset.OUTPUT_SAFETY in inputs.assets or today(Asset.OUTPUT_SAFETY):
        history = metrics.get(Asset.OUTPUT_SAFETY, {})
        sections.append(safety_section(inputs.day, days, history, page))
    if Asset.CANARY_COMPARISON in inputs.assets or today(Asset.CANARY_COMPARISON):
        sections.append(
            canary_section(inputs.day, today(Asset.CANARY_COMPARISON), _canary_summary(inputs))
        )
    if Asset.SERVICE_METRICS in inputs.assets:
        service = metrics.get(Asset.SERVICE_METRICS, {})
        sections.append(h.service_section(inputs.day, days, service, inputs.targets, page))
    if Asset.TOKEN_COSTS in inputs.assets:
        costs = metrics.get(Asset.TOKEN_COSTS, {})
        sections.append(h.costs_section(inputs.day, days, costs, budget, page))
    if Asset.DATA_QUALITY in inputs.assets or today(Asset.DATA_QUALITY):
        sections.append(h.metrics_section("Data quality", inputs.day, today(Asset.DATA_QUALITY)))
    body = [_header(inputs), h.contents(sections), *sections]
    title = f"{inputs.monitor} {inputs.day.isoformat()}"
    html = h.document(title, "".join(body))
    return Report(html=html, plots=page.plots, summary_markdown=summary_markdown(inputs))


def _header(inputs: ReportInputs) -> str:
    parts = [
        f"<h1>{h.esc(inputs.monitor)} &middot; {inputs.day.isoformat()}</h1>",
        f'<p class="meta">{h.esc(inputs.description)}</p>' if inputs.description else "",
        f'<p class="meta">generated {inputs.generated_at:%Y-%m-%d %H:%M %Z} from stored '
        "results</p>",
        f'<p class="headline">{h.esc(headline(inputs))}</p>',
    ]
    items = []
    for f in findings(inputs):
        details = "".join(f"<li>{h.esc(d)}</li>" for d in f.details)
        items.append(
            f'<li><span class="sev {h.esc(f.severity)}">{h.esc(f.severity)}</span> '
            f"<code>{h.esc(f.name)}</code><ul>{details}</ul></li>"
        )
    if items:
        parts.append(f'<ul class="findings">{"".join(items)}</ul>')
    if inputs.checks is not None:
        t = tally(inputs.checks, inputs.check_specs)
        if t.passed:
            parts.append(f'<p class="meta">passed: {h.esc(", ".join(sorted(t.passed)))}</p>')
        if t.not_evaluated:
            missing = ", ".join(t.not_evaluated)
            parts.append(f'<p class="meta">not evaluated on this day: {h.esc(missing)}</p>')
    return f'<header id="summary">{"".join(parts)}</header>'


def _canary_summary(inputs: ReportInputs) -> str | None:
    """The ``canary`` check's finding of the day, which gives the verdict's reasons."""
    found = [r.summary for r in inputs.checks or () if r.check == "canary"]
    return found[0] if found else None


def _drift_section(inputs: ReportInputs, page: h.Page) -> str:
    whole = [r for r in inputs.drift if r.role != "segment"]
    if not whole:
        return h.section("Drift", h.no_data(f"no drift results stored for {inputs.day}"))
    ordered = _by_score(whole, drifted_first=True)
    header = ["column", "statistic", "score", "warn / critical", "p (adj.)", "rows", "verdict"]
    rows = [_drift_cells(r) for r in ordered]
    classes = [r.verdict if r.drifted else "" for r in ordered]
    caption = (
        f"Drift of each column on {inputs.day} against the reference: the statistic's score, "
        "its warn and critical thresholds, the p-value adjusted across the day's tests "
        "(Benjamini-Hochberg) and the verdict; drifted columns first"
    )
    parts = [h.table([*header, "note"], rows, classes, caption=caption)]
    segments = [r for r in _by_score(inputs.drift) if r.role == "segment" and r.drifted]
    if segments:
        listed = ", ".join(f"{r.column} ({h.fmt(r.score)})" for r in segments[:10])
        parts.append(f"<p>segments that drift: {h.esc(listed)}</p>")
    figures = []
    for column in distribution_columns(whole):
        ref, cur = inputs.reference.get(column), inputs.current.get(column)
        if ref is None or cur is None:
            figures.append(h.no_data(f"{column}: no stored sketch to plot"))
        elif not plots.comparable(ref, cur):
            figures.append(h.no_data(f"{column}: counted over bins of an older reference"))
        else:
            png = plots.distribution_png(ref, cur, inputs.day)
            figures.append(page.figure(png, f"{column}: reference against {inputs.day}"))
    if figures:
        parts.append(f"<h3>Distributions of the drifted columns</h3>{''.join(figures)}")
    return h.section("Drift", "".join(parts))


def _trend_section(inputs: ReportInputs, page: h.Page) -> str:
    whole = [r for r in inputs.drift if r.role != "segment"]
    columns = trend_columns(whole)
    if not columns:
        return h.section("Drift trend", h.no_data(f"no drift results stored for {inputs.day}"))
    by_column = {r.column: r for r in whole}
    trends = [
        plots.Trend(c, inputs.drift_history.get(c, {}), by_column[c].warn, by_column[c].critical)
        for c in columns
    ]
    which = "drifted columns" if any(r.drifted for r in whole) else "highest-scoring columns"
    caption = f"daily drift score of the {which}, {inputs.history[0]} to {inputs.day}"
    caption += "; dashed: warn and critical thresholds"
    return h.section("Drift trend", page.figure(plots.trends_png(trends, inputs.history), caption))


def _by_score(rows: Sequence[DriftRow], drifted_first: bool = False) -> list[DriftRow]:
    def key(r: DriftRow) -> tuple[bool, bool, float]:
        return (drifted_first and not r.drifted, r.score is None, -(r.score or 0.0))

    return sorted(rows, key=key)


def _drift_cells(r: DriftRow) -> list[str]:
    numbers = [h.fmt(r.score), f"{r.warn:g} / {r.critical:g}", h.fmt(r.p_adjusted, ".2g")]
    return [r.column, r.statistic, *numbers, h.fmt(r.rows), r.verdict, r.note or ""]


def _drift_detail(r: DriftRow) -> str:
    threshold = r.critical if r.verdict == "critical" else r.warn
    return f"{r.column}: {r.statistic} {h.fmt(r.score)} at or over {threshold:g}"
