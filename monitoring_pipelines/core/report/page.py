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
from monitoring_pipelines.core.profile.sketch import ColumnSketch
from monitoring_pipelines.core.report import html as h
from monitoring_pipelines.core.report import plots

HISTORY_DAYS = 28
MAX_DISTRIBUTIONS = 6
MAX_TRENDS = 8
TRENDS_WHEN_CLEAN = 4
MAX_FINDINGS = 5  # failing subjects listed per check
SEVERITY_ORDER = {"critical": 0, "warn": 1, "fail": 2, "ok": 3}

MetricValues = Mapping[tuple[str, str], float | None]  # (name, dimensions) -> value


@dataclass(frozen=True)
class CheckRow:
    """One finding of one check for the day, as the alerting path recorded it."""

    check: str
    subject: str
    passed: bool
    severity: str
    summary: str


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
            ``data_quality``, ``performance``); each has a section.
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


@dataclass(frozen=True)
class CheckSummary:
    """A check and its failing subjects (none when it passed); before alerting ran, a stored
    result over its threshold."""

    name: str
    severity: str
    details: tuple[str, ...]


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
        return [s for s in check_statuses(inputs.checks) if s.details]
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
    return sorted(out, key=lambda f: SEVERITY_ORDER[f.severity])


def check_statuses(rows: Sequence[CheckRow]) -> list[CheckSummary]:
    """One entry per check (no details when it passed), failed ones first."""
    by_check: dict[str, list[CheckRow]] = {}
    for row in rows:
        by_check.setdefault(row.check, []).append(row)
    out = []
    for check, found in by_check.items():
        failing = sorted(
            (r for r in found if not r.passed), key=lambda r: SEVERITY_ORDER.get(r.severity, 2)
        )
        severity = failing[0].severity if failing else "ok"
        details = [_detail(r) for r in failing]
        if len(details) > MAX_FINDINGS:
            details = [*details[:MAX_FINDINGS], f"and {len(details) - MAX_FINDINGS} more"]
        out.append(CheckSummary(check, severity, tuple(details)))
    return sorted(out, key=lambda f: (SEVERITY_ORDER.get(f.severity, 2), f.name))


def headline(inputs: ReportInputs) -> str:
    failed = findings(inputs)
    if inputs.checks is not None:
        total = len({r.check for r in inputs.checks})
        if not failed:
            return f"all {total} checks passed on {inputs.day}"
        return f"{len(failed)} of {total} checks failed on {inputs.day}"
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
    body = [
        _header(inputs),
        _drift_section(inputs, page),
        _trend_section(inputs, page),
        h.service_section(
            inputs.day, days, metrics.get(Asset.SERVICE_METRICS, {}), inputs.targets, page
        )
        if Asset.SERVICE_METRICS in inputs.assets
        else "",
        h.costs_section(inputs.day, days, metrics.get(Asset.TOKEN_COSTS, {}), budget, page)
        if Asset.TOKEN_COSTS in inputs.assets
        else "",
        h.metrics_section("Data quality", inputs.day, inputs.today(Asset.DATA_QUALITY))
        if Asset.DATA_QUALITY in inputs.assets or inputs.today(Asset.DATA_QUALITY)
        else "",
        h.metrics_section("Performance", inputs.day, inputs.today(Asset.PERFORMANCE))
        if Asset.PERFORMANCE in inputs.assets or inputs.today(Asset.PERFORMANCE)
        else "",
    ]
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
        passed = [s.name for s in check_statuses(inputs.checks) if not s.details]
        if passed:
            parts.append(f'<p class="meta">passed: {h.esc(", ".join(passed))}</p>')
    return f'<header id="summary">{"".join(parts)}</header>'


def _drift_section(inputs: ReportInputs, page: h.Page) -> str:
    whole = [r for r in inputs.drift if r.role != "segment"]
    if not whole:
        return h.section("Drift", h.no_data(f"no drift results stored for {inputs.day}"))
    ordered = _by_score(whole, drifted_first=True)
    header = ["column", "statistic", "score", "warn / critical", "p (adj.)", "rows", "verdict"]
    rows = [_drift_cells(r) for r in ordered]
    classes = [r.verdict if r.drifted else "" for r in ordered]
    parts = [h.table([*header, "note"], rows, classes)]
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


def _detail(r: CheckRow) -> str:
    """The finding's summary, led by its subject unless the summary already names it."""
    return r.summary if r.summary.startswith(r.subject) else f"{r.subject}: {r.summary}"


def _drift_cells(r: DriftRow) -> list[str]:
    numbers = [h.fmt(r.score), f"{r.warn:g} / {r.critical:g}", h.fmt(r.p_adjusted, ".2g")]
    return [r.column, r.statistic, *numbers, h.fmt(r.rows), r.verdict, r.note or ""]


def _drift_detail(r: DriftRow) -> str:
    threshold = r.critical if r.verdict == "critical" else r.warn
    return f"{r.column}: {r.statistic} {h.fmt(r.score)} at or over {threshold:g}"
