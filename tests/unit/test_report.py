"""The daily report: built from a small result store on SQLite and PostgreSQL.

The store holds 30 days of hand-made results for monitor ``shop``: reference and daily sketches,
drift rows (with a window row and a segment row that must not be mistaken for daily columns),
service metrics, token costs, and on the last day data-quality and performance metrics. On the
last day (``DAY``) ``amount`` drifts critically, ``channel`` and ``<b>x</b>`` drift as warnings,
and p95 latency breaks its SLO.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pytest

from monitoring_pipelines.core.alerting.model import Evaluation
from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.checks import Finding
from monitoring_pipelines.core.config import MonitorConfig, Severity
from monitoring_pipelines.core.config_loading import parse_config
from monitoring_pipelines.core.dimensions import dimensions
from monitoring_pipelines.core.drift.engine import ColumnDrift
from monitoring_pipelines.core.performance.additive import Confusion
from monitoring_pipelines.core.performance.metrics import PerformanceStats
from monitoring_pipelines.core.profile.sketch import (
    CategoricalSketchBuilder,
    ColumnSketch,
    FloatArray,
    NumericSketchBuilder,
    fit_categories,
    fit_numeric_edges,
)
from monitoring_pipelines.core.report.inputs import load_drift_history, load_report_inputs
from monitoring_pipelines.core.report.page import (
    DriftRow,
    Report,
    ReportInputs,
    distribution_columns,
    render_report,
    trend_columns,
)
from monitoring_pipelines.core.report.plots import category_shares, numeric_bins
from monitoring_pipelines.core.store.results import ResultRepository

MONITOR = "shop"
DAY = date(2026, 10, 8)
DAYS = [DAY - timedelta(days=i) for i in range(29, -1, -1)]  # 30 days; the trend shows 28
NOW = datetime(2026, 10, 9, 0, 45, tzinfo=UTC)
ESCAPED = "<b>x</b>"
CHANNELS = [f"ch{i:02d}" for i in range(20)]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

CONFIG = """
version: 1
monitors:
  shop:
    description: Checkout risk model <script>alert(1)</script>
    start_date: 2026-09-01
    source: {table: shop_requests, timestamp_column: ts, request_id_column: request_id}
    reference: {table: shop_training}
    features: {numeric: [amount], categorical: [channel]}
    prediction: {column: decision, type: label}
    service:
      latency_column: latency_ms
      status_column: http_status
      slo: {latency_ms: 300, latency_percentile: 95, error_rate: 0.05}
    llm:
      model_column: llm_model
      prompt_tokens_column: prompt_tokens
      completion_tokens_column: completion_tokens
      daily_budget_usd: 10.0
    labels: {table: shop_labels, request_id_column: request_id, label_column: label}
"""


def monitor_config() -> MonitorConfig:
    return parse_config(CONFIG, {}).monitors[MONITOR]


def numeric(column: str, values: FloatArray, edges: FloatArray) -> ColumnSketch:
    builder = NumericSketchBuilder(column, edges, 500)
    builder.add(values, np.arange(values.size, dtype=np.uint64))
    return builder.build()


def categorical(
    column: str, values: npt.NDArray[np.str_], categories: tuple[str, ...]
) -> ColumnSketch:
    builder = CategoricalSketchBuilder(column, categories, 500)
    builder.add(values.astype(object), np.arange(values.size, dtype=np.uint64))
    return builder.build()


def drift(column: str, score: float, verdict: str, kind: str = "numeric") -> ColumnDrift:
    warn, critical = (0.05, 0.2) if kind == "numeric" else (0.05, 0.15)
    return ColumnDrift(
        column=column,
        role="segment" if "@" in column else "feature",
        kind=kind,
        statistic="wasserstein" if kind == "numeric" else "jensen_shannon",
        score=score,
        p_value=1e-9 if verdict != "ok" else 0.5,
        p_adjusted=1e-8 if verdict != "ok" else 0.9,
        p_value_rows=500,
        rows=2000,
        reference_rows=5000,
        warn=warn,
        critical=critical,
        verdict=verdict,  # type: ignore[arg-type]
        note="x < y & z" if column == "stable" else None,
    )


def seed(store: ResultRepository) -> None:
    """Thirty days of results for ``shop``; the last day drifts and breaks the latency SLO."""
    rng = np.random.default_rng(8)
    ref_amount = rng.normal(50, 10, 5000)
    edges = fit_numeric_edges(ref_amount, 20)
    ref_channel = rng.choice(CHANNELS, 5000)
    categories = fit_categories(ref_channel.astype(object))
    reference = [
        numeric("amount", ref_amount, edges),
        numeric(ESCAPED, ref_amount, edges),
        numeric("stable", ref_amount, edges),
        categorical("channel", ref_channel, categories),
    ]
    store.save_reference(MONITOR, reference, b"", {}, 5000, "hash")
    for day in DAYS:
        bad = day >= DAY - timedelta(days=1)
        shift = 15.0 if bad else 0.0
        amount = rng.normal(50 + shift, 10, 2000)
        weights = np.linspace(3, 1, 20) if bad else np.ones(20)
        channel = rng.choice(CHANNELS, 2000, p=weights / weights.sum())
        sketches = [
            numeric("amount", amount, edges),
            numeric(ESCAPED, amount, edges),
            numeric("stable", rng.normal(50, 10, 2000), edges),
            categorical("channel", channel, categories),
        ]
        partition = day.isoformat()
        store.save_profile(MONITOR, partition, 2000, b"", {}, sketches)
        rows = [
            drift("amount", 1.5 if bad else 0.02 + 0.001 * day.day, "critical" if bad else "ok"),
            drift("channel", 0.09 if bad else 0.01, "warn" if bad else "ok", "categorical"),
            drift(ESCAPED, 0.08 if bad else 0.01, "warn" if bad else "ok"),
            drift("stable", 0.03, "ok"),
            drift("amount@model_version=v2", 1.6 if bad else 0.02, "critical" if bad else "ok"),
        ]
        store.save_drift(MONITOR, partition, rows)
        p95 = 400.0 if day == DAY else 200.0 + day.day
        store.save_metrics(
            MONITOR,
            "service_metrics",
            partition,
            {
                ("requests", ""): 2000.0,
                ("p50_ms", ""): 80.0,
                ("p95_ms", ""): p95,
                ("p99_ms", ""): p95 + 100,
                ("slo_percentile_ms", ""): p95,
                ("error_rate", ""): 0.01,
            },
        )
        store.save_metrics(
            MONITOR,
            "token_costs",
            partition,
            {
                ("cost_usd", ""): 4.0 + day.day / 10,
                ("cost_usd", dimensions(model="gpt-4o")): 4.0,
                ("requests", dimensions(model="gpt-4o")): 1000.0,
                ("cost_usd", dimensions(model="local")): None,
                ("requests", dimensions(model="local")): 10.0,
            },
        )
    # A window row scoring far higher than any day: the trend must not read it.
    store.save_drift(MONITOR, f"{DAY}/7d", [drift("amount", 9.99, "critical")])
    store.save_metrics(
        MONITOR,
        "data_quality",
        DAY.isoformat(),
        {
            ("expectations_evaluated", ""): 2.0,
            ("expectations_failed", ""): 1.0,
            ("passed", dimensions(column="amount", expectation="range")): 0.0,
            ("unexpected_share", dimensions(column="amount", expectation="range")): 0.031,
            ("passed", dimensions(column="channel", expectation="categories")): 1.0,
            ("unexpected_share", dimensions(column="channel", expectation="categories")): 0.0,
        },
    )
    # As the performance asset stores them: 16 labelled of 32 rows, 13 right (accuracy 0.8125).
    cells = {("approve", "approve"): 9, ("approve", "decline"): 2, ("decline", "decline"): 4}
    stats = PerformanceStats("label", 32, 16, Confusion({**cells, ("decline", "approve"): 1}))
    store.save_metrics(MONITOR, "performance", DAY.isoformat(), stats.to_rows())


def record_checks(store: AlertRepository) -> None:
    def evaluation(check: str, *findings: Finding) -> Evaluation:
        return Evaluation("run-1", MONITOR, f"{MONITOR}/x", check, DAY.isoformat(), findings, NOW)

    with store.transaction() as conn:
        for e in (
            evaluation("volume", Finding("", True, Severity.CRITICAL, 2000, 1, "2000 rows")),
            evaluation(
                "feature_drift",
                Finding("amount", False, Severity.CRITICAL, 1.5, 0.2, "amount drifts <badly>"),
                Finding("channel", False, Severity.WARN, 0.09, 0.05, "JS 0.09 over 0.05"),
                Finding("stable", True, Severity.WARN, 0.03, 0.05, "stable is fine"),
            ),
            evaluation(
                "latency_slo", Finding("", False, Severity.WARN, 400, 300, "p95 400 ms > 300 ms")
            ),
            evaluation("error_rate", Finding("", True, Severity.WARN, 0.01, 0.05, "1 % errors")),
        ):
            store.record_evaluation(conn, e)


def build(store: ResultRepository, day: date = DAY) -> tuple[ReportInputs, Report]:
    inputs = load_report_inputs(store, MONITOR, monitor_config(), day, NOW)
    return inputs, render_report(inputs)


def images(html: str) -> list[bytes]:
    return [
        base64.b64decode(data, validate=True)
        for data in re.findall(r'<img [^>]*src="data:image/png;base64,([^"]+)"', html)
    ]


def section(html: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', html, re.S)
    assert match, f"no section {anchor}"
    return match.group(1)


# -- from the store -------------------------------------------------------------------------


def test_report_has_every_section_and_a_plot_per_drifted_column(results: ResultRepository) -> None:
    seed(results)
    report = build(results)[1]
    html, plots = report.html, report.plots
    for anchor in ("drift", "drift-trend", "service", "cost", "data-quality", "performance"):
        assert f'<section id="{anchor}">' in html
    pngs = images(html)
    # 3 drifted columns, 1 trend panel figure, latency, error rate, cost.
    assert plots == len(pngs) == 3 + 1 + 3
    assert all(p.startswith(PNG_SIGNATURE) for p in pngs)
    drift_html = section(html, "drift")
    assert drift_html.count("<img ") == 3
    for column in ("amount", "channel", "&lt;b&gt;x&lt;/b&gt;"):
        assert f'alt="{column}: reference against {DAY}"' in drift_html
    # Drifted rows first, highest score first, highlighted by verdict.
    cells = re.findall(r"<tr(?: class=\"(\w+)\")?><td>([^<]*)</td>", drift_html)
    assert cells == [
        ("critical", "amount"),
        ("warn", "channel"),
        ("warn", "&lt;b&gt;x&lt;/b&gt;"),
        ("", "stable"),
    ]
    assert "segments that drift: amount@model_version=v2 (1.6)" in drift_html
    assert "x &lt; y &amp; z" in drift_html  # the note, escaped


def test_text_from_data_is_escaped(store: AlertRepository, results: ResultRepository) -> None:
    seed(results)
    record_checks(store)
    html = build(results)[1].html
    assert ESCAPED not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert "<script" not in html
    assert "Checkout risk model &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "amount drifts &lt;badly&gt;" in html
    assert "http://" not in html and "https://" not in html  # nothing is fetched


def test_failed_checks_come_first_with_their_summaries(
    store: AlertRepository, results: ResultRepository
) -> None:
    seed(results)
    record_checks(store)
    report = build(results)[1]
    html = report.html
    header = html[html.index('<header id="summary">') : html.index("</header>")]
    assert f"2 of 4 checks failed on {DAY}" in header
    assert header.index("feature_drift") < header.index("latency_slo")  # critical first
    # Critical findings first; a summary that names its subject is not prefixed again.
    assert "<li>amount drifts &lt;badly&gt;</li><li>channel: JS 0.09 over 0.05</li>" in header
    assert "stable is fine" not in header  # passing subjects are not listed
    assert "passed: error_rate, volume" in header
    assert report.summary_markdown.splitlines() == [
        f"**2 of 4 checks failed on {DAY}**",
        "- `feature_drift` (critical)",
        "  - amount drifts <badly>",
        "  - channel: JS 0.09 over 0.05",
        "- `latency_slo` (warn)",
        "  - p95 400 ms > 300 ms",
    ]


def test_without_check_results_the_stored_verdicts_are_summarized(
    results: ResultRepository,
) -> None:
    seed(results)
    inputs, report = build(results)
    assert inputs.checks is None
    html, markdown = report.html, report.summary_markdown
    assert "not recorded yet" in markdown.splitlines()[0]
    assert "over their thresholds: drift, latency_slo" in markdown
    assert "  - amount: wasserstein 1.5 at or over 0.2" in markdown
    assert "  - 400 ms over 300 ms" in markdown
    assert "@model_version" not in markdown  # segments are detailed in the drift section
    assert "not recorded yet" in html


def test_trend_reads_the_last_28_daily_partitions_only(results: ResultRepository) -> None:
    seed(results)
    inputs = build(results)[0]
    history = inputs.drift_history["amount"]
    assert sorted(history) == inputs.history == DAYS[2:]
    assert max(v for v in history.values() if v is not None) == 1.5  # not the window's 9.99
    assert set(inputs.drift_history) == {"amount", "channel", ESCAPED}
    everything = load_drift_history(results, MONITOR, ["amount"], "2000-01-01", "2100-01-01")
    assert len(everything["amount"]) == len(DAYS)
    assert set(inputs.metrics["service_metrics"]) == set(DAYS[2:])


def test_quality_and_performance_tables_show_what_was_stored(results: ResultRepository) -> None:
    seed(results)
    html = build(results)[1].html
    quality = section(html, "data-quality")
    assert '<tr class="fail"><td>amount</td><td>range</td><td>FAIL</td><td>0.031</td>' in quality
    assert "passed (1): channel categories" in quality
    assert "<td>expectations_failed</td><td>1</td>" in quality
    performance = section(html, "performance")
    assert "<td>accuracy (checked)</td><td>0.8125</td>" in performance
    assert '<th scope="col">class</th><th scope="col">precision</th>' in performance
    assert "16 of 32 predictions labelled so far (50.0% coverage)" in performance
    # The confusion matrix: rows actual, columns predicted, counts and shares of the row.
    assert (
        '<tr><th scope="row">approve</th><td>9 (81.8%)</td><td>2 (18.2%)</td><td>11</td></tr>'
        in performance
    )
    cost = section(html, "cost")
    assert "<td>local</td><td>10</td><td>-</td><td>-</td><td>unpriced</td>" in cost
    assert f"{DAY}: 4.80 USD (budget 10.00 USD)" in cost


def test_a_day_without_results_renders_and_says_no_data(results: ResultRepository) -> None:
    seed(results)
    empty = DAYS[0] - timedelta(days=40)
    inputs, report = build(results, empty)
    html = report.html
    assert report.plots == 0 and not images(html)
    assert inputs.drift == [] and inputs.checks is None
    for anchor in ("drift", "drift-trend", "service", "cost", "data-quality", "performance"):
        assert "no data" in section(html, anchor), anchor
    assert "no stored result is over its threshold" in html


def test_an_empty_store_renders(results: ResultRepository) -> None:
    report = build(results)[1]
    html = report.html
    assert report.plots == 0 and html.startswith("<!DOCTYPE html>") and html.endswith("</html>\n")
    assert f"no drift results stored for {DAY}" in html


# -- pure ------------------------------------------------------------------------------------


def test_numeric_bins_follow_the_reference_edges_and_bound_the_outer_bins() -> None:
    edges = np.array([1.0, 2.0, 3.0])
    reference = numeric("n", np.array([1.0, 1.0, 2.0, 3.0, 5.0]), edges)
    current = numeric("n", np.array([0.5, 2.5, 2.5, 9.0]), edges)
    bounds, ref_p, cur_p = numeric_bins(reference, current)
    assert bounds.tolist() == [0.5, 1.0, 2.0, 3.0, 9.0]
    assert ref_p.tolist() == pytest.approx([0.4, 0.2, 0.2, 0.2])
    assert cur_p.tolist() == pytest.approx([0.25, 0.0, 0.5, 0.25])


def test_a_zero_width_first_bin_gets_the_median_width() -> None:
    edges = np.array([0.0, 1.0, 2.0, 4.0])  # a count column: its minimum is an edge
    reference = numeric("n", np.array([0.0, 0.0, 1.0, 2.0, 3.0]), edges)
    bounds, ref_p, _ = numeric_bins(reference, numeric("n", np.array([0.0, 1.0]), edges))
    assert bounds.tolist() == [-1.0, 0.0, 1.0, 2.0, 4.0, 5.0]  # widths 1, 1, 2: median 1
    assert float(ref_p.sum()) == pytest.approx(1.0)


def test_categories_beyond_the_top_15_are_grouped() -> None:
    categories = tuple(CHANNELS)
    reference = categorical("c", np.array(CHANNELS * 5), categories)
    current = categorical("c", np.array(["new"] * 40 + CHANNELS * 3), categories)
    names, ref_p, cur_p = category_shares(reference, current)
    assert len(names) == 16 and names[0] == "new" and names[-1] == "6 others"
    assert ref_p[0] == 0.0 and cur_p[0] == pytest.approx(0.4)
    assert float(ref_p.sum()) == pytest.approx(1.0) and float(cur_p.sum()) == pytest.approx(1.0)


def row(column: str, score: float | None, verdict: str = "ok") -> DriftRow:
    return DriftRow(column, "feature", "psi", score, 0.1, 0.2, None, 10, verdict)


def test_column_choice_for_plots_and_trends() -> None:
    clean = [row(f"c{i}", i / 100) for i in range(10)] + [row("none", None)]
    assert distribution_columns(clean) == []
    assert trend_columns(clean) == ["c9", "c8", "c7", "c6"]
    assert trend_columns(clean[:2] + clean[-1:]) == ["c1", "c0"]  # unscored: no trend
    segment = dataclasses.replace(row("c@v=1", 5.0, "critical"), role="segment")
    assert distribution_columns([segment, *clean]) == []
    assert trend_columns([segment, *clean]) == ["c9", "c8", "c7", "c6"]
    drifted = [row(f"d{i}", i / 10, "warn") for i in range(9)] + clean
    assert distribution_columns(drifted) == ["d8", "d7", "d6", "d5", "d4", "d3"]
    assert trend_columns(drifted) == [f"d{i}" for i in range(8, 0, -1)]


def test_matplotlib_is_imported_only_to_draw() -> None:
    """Importing the report's modules costs no matplotlib import; drawing a plot does."""
    script = (
        "import sys\n"
        "import monitoring_pipelines.core.report.inputs\n"
        "from monitoring_pipelines.core.report.plots import series_png\n"
        "before = 'matplotlib' in sys.modules\n"
        "series_png('t', [], {})\n"
        "print(before, 'matplotlib' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["False", "True"]


def test_a_day_counted_over_older_bins_is_not_plotted() -> None:
    values = np.arange(100, dtype=np.float64)
    reference = numeric("amount", values, np.array([10.0, 50.0]))
    older = numeric("amount", values, np.array([20.0, 40.0, 60.0]))
    inputs = ReportInputs(
        monitor=MONITOR,
        day=DAY,
        description="",
        generated_at=NOW,
        drift=[row("amount", 0.5, "critical")],
        reference={"amount": reference},
        current={"amount": older},
    )
    report = render_report(inputs)
    assert report.plots == 1  # the trend only
    assert "no data: amount: counted over bins of an older reference" in report.html
