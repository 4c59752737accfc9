"""Build deploy/grafana/dashboards/monitoring.json with grafana-foundation-sdk.

    python deploy/grafana/build_dashboard.py           # write the dashboard
    python deploy/grafana/build_dashboard.py --check   # exit 1 when the file is not what it builds

Two rows: the example sentiment API's own metrics (scraped from its /metrics) and the daily
results `monitoring serve-metrics` exports. Every panel reads the Prometheus data source that
provisioning/datasources/prometheus.yaml declares (uid ``prometheus``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import heatmap, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm

OUTPUT = Path(__file__).parent / "dashboards" / "monitoring.json"
UID = "monitoring-pipelines"
DATASOURCE = dm.DataSourceRef(type_val="prometheus", uid="prometheus")
MONITOR = 'monitor=~"$monitor"'
PREDICT = 'route="/predict"'
RATE = "[$__rate_interval]"
Kind = Literal["timeseries", "stat", "heatmap"]


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class PanelSpec:
    title: str
    description: str
    kind: Kind
    queries: tuple[Query, ...]
    unit: str = "none"
    width: int = 8
    thresholds: tuple[tuple[float, str], ...] = ()


def _quantile(q: float) -> Query:
    buckets = f"sum by (le) (rate(sentiment_request_duration_seconds_bucket{{{PREDICT}}}{RATE}))"
    return Query(f"histogram_quantile({q}, {buckets})", f"p{round(q * 100)}")


APP = (
    PanelSpec(
        "Latency distribution (/predict)",
        "Requests per latency bucket: sentiment_request_duration_seconds.",
        "heatmap",
        (
            Query(
                "sum by (le) (increase(sentiment_request_duration_seconds_bucket"
                f"{{{PREDICT}}}{RATE}))",
                "{{le}}",
            ),
        ),
        unit="s",
    ),
    PanelSpec(
        "Latency p50 / p95 / p99 (/predict)",
        "Quantiles estimated from the latency histogram's buckets.",
        "timeseries",
        (_quantile(0.5), _quantile(0.95), _quantile(0.99)),
        unit="s",
    ),
    PanelSpec(
        "5xx error rate",
        "Share of the requests answered with a 5xx status.",
        "timeseries",
        (
            Query(
                f'sum(rate(sentiment_requests_total{{status=~"5.."}}{RATE})) '
                f"/ sum(rate(sentiment_requests_total{RATE}))",
                "5xx share",
            ),
        ),
        unit="percentunit",
        thresholds=((0.01, "red"),),
    ),
    PanelSpec(
        "Neutral share of predictions",
        "Share of the predictions labelled neutral; a fallback answering neutral lifts it.",
        "timeseries",
        (
            Query(
                f'sum(rate(sentiment_predictions_total{{label="neutral"}}{RATE})) '
                f"/ sum(rate(sentiment_predictions_total{RATE}))",
                "neutral",
            ),
        ),
        unit="percentunit",
    ),
    PanelSpec(
        "Requests by status",
        "Requests a second per HTTP status.",
        "timeseries",
        (Query(f"sum by (status) (rate(sentiment_requests_total{RATE}))", "{{status}}"),),
        unit="reqps",
    ),
    PanelSpec(
        "Predictions by label",
        "Predictions a second per label.",
        "timeseries",
        (Query(f"sum by (label) (rate(sentiment_predictions_total{RATE}))", "{{label}}"),),
        unit="reqps",
    ),
)

PRODUCT = (
    PanelSpec(
        "Drift score",
        "Each column's drift score in the latest daily partition.",
        "timeseries",
        (Query(f"monitoring_drift_score{{{MONITOR}}}", "{{monitor}} {{column}}"),),
    ),
    PanelSpec(
        "Drift score / warn threshold",
        "Above 1: the column's drift is at least a warning.",
        "timeseries",
        (
            Query(
                f"monitoring_drift_score{{{MONITOR}}} / on (monitor, column) group_left () "
                f'monitoring_drift_threshold{{{MONITOR}, severity="warn"}}',
                "{{monitor}} {{column}}",
            ),
        ),
        thresholds=((1.0, "orange"),),
    ),
    PanelSpec(
        "Open incidents",
        "Unresolved incidents per severity.",
        "stat",
        (
            Query(
                f"sum by (severity) (monitoring_open_incidents{{{MONITOR}}})",
                "{{severity}}",
            ),
        ),
        thresholds=((1.0, "red"),),
    ),
    PanelSpec(
        "LLM cost (USD, latest day)",
        "Cost per model in the latest daily partition.",
        "timeseries",
        (Query(f"sum by (monitor, model) (monitoring_cost_usd{{{MONITOR}}})", "{{model}}"),),
        unit="currencyUSD",
    ),
    PanelSpec(
        "LLM tokens (latest day)",
        "Input and output tokens in the latest daily partition.",
        "timeseries",
        (
            Query(
                f"sum by (monitor, type) (monitoring_llm_tokens{{{MONITOR}}})",
                "{{monitor}} {{type}}",
            ),
        ),
    ),
    PanelSpec(
        "Hallucination rate",
        "Share of the judged answers under the judge's threshold.",
        "timeseries",
        (Query(f"monitoring_hallucination_ratio{{{MONITOR}}}", "{{monitor}}"),),
        unit="percentunit",
    ),
    PanelSpec(
        "Output leaks",
        "Share of answers leaking data, per kind.",
        "timeseries",
        (Query(f"monitoring_output_leak_ratio{{{MONITOR}}}", "{{monitor}} {{kind}}"),),
        unit="percentunit",
    ),
    PanelSpec(
        "Refusals",
        "Share of answers that refuse.",
        "timeseries",
        (Query(f"monitoring_refusal_ratio{{{MONITOR}}}", "{{monitor}}"),),
        unit="percentunit",
    ),
    PanelSpec(
        "Answer length (words)",
        "Quantiles of the answers' length in words.",
        "timeseries",
        (
            Query(
                f"monitoring_answer_length_words{{{MONITOR}}}",
                "{{monitor}} q{{quantile}}",
            ),
        ),
    ),
    PanelSpec(
        "Service latency p95 and error rate (latest day)",
        "The monitors' daily p95 latency (ms) and error ratio.",
        "timeseries",
        (
            Query(f"monitoring_latency_p95_milliseconds{{{MONITOR}}}", "{{monitor}} p95 ms"),
            Query(f"monitoring_error_ratio{{{MONITOR}}}", "{{monitor}} error ratio"),
        ),
    ),
    PanelSpec(
        "Days since the latest partition",
        "An asset past 2 days stopped being materialized.",
        "stat",
        (
            Query(
                f"(time() - max by (monitor, asset) "
                f"(monitoring_partition_timestamp_seconds{{{MONITOR}}})) / 86400",
                "{{monitor}} {{asset}}",
            ),
        ),
        thresholds=((2.0, "red"),),
    ),
    PanelSpec(
        "Result store up",
        "0: serve-metrics cannot read the result store.",
        "stat",
        (Query("min(monitoring_store_up)", "store up"),),
        thresholds=((1.0, "green"),),
    ),
)


def _thresholds(steps: Sequence[tuple[float, str]]) -> gd.ThresholdsConfig:
    base = dm.Threshold(value=None, color="green" if steps and steps[0][1] != "green" else "red")
    rest = [dm.Threshold(value=v, color=c) for v, c in steps]
    return gd.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps([base, *rest])


def _panel(spec: PanelSpec, panel_id: int) -> gd.Panel:
    builder: heatmap.Panel | stat.Panel | timeseries.Panel
    if spec.kind == "heatmap":
        builder = heatmap.Panel().calculate(False)
    elif spec.kind == "stat":
        builder = stat.Panel()
    else:
        builder = timeseries.Panel()
    builder = (
        builder.id(panel_id)
        .title(spec.title)
        .description(spec.description)
        .datasource(DATASOURCE)
        .unit(spec.unit)
        .span(spec.width)
        .height(8)
    )
    if spec.thresholds:
        builder = builder.thresholds(_thresholds(spec.thresholds))
    for ref, query in zip("ABCDEFGH", spec.queries, strict=False):
        target = prometheus.Dataquery().expr(query.expr).ref_id(ref).datasource(DATASOURCE)
        if query.legend:
            target = target.legend_format(query.legend)
        if spec.kind == "heatmap":
            target = target.format(pm.PromQueryFormat.HEATMAP)
        builder = builder.with_target(target)
    return builder  # type: ignore[return-value]


def build() -> dict[str, object]:
    """The dashboard as Grafana's dashboard JSON model."""
    monitor = (
        gd.QueryVariable("monitor")
        .label("Monitor")
        .datasource(DATASOURCE)
        .query("label_values(monitoring_open_incidents, monitor)")
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .multi(True)
        .include_all(True)
        .current(dm.VariableOption(text="All", value="$__all", selected=True))
    )
    board = (
        gd.Dashboard("Monitoring pipelines")
        .uid(UID)
        .description("The sentiment API example's metrics and the monitors' daily results")
        .tags(["monitoring-pipelines"])
        .time("now-1h", "now")
        .refresh("30s")
        .timezone("utc")
        .with_variable(monitor)
        .with_row(gd.Row("Sentiment API (examples/sentiment_api)").id(10))
    )
    for n, spec in enumerate(APP, start=11):
        board = board.with_panel(_panel(spec, n))
    board = board.with_row(gd.Row("Monitors (monitoring serve-metrics)").id(100))
    for n, spec in enumerate(PRODUCT, start=101):
        board = board.with_panel(_panel(spec, n))
    encoded: dict[str, object] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    return encoded


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run python {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
