"""The report's canary section: the day's candidate model version against its baseline, with
the verdict (promote, hold, roll back) and each compared figure's change and interval (at the
comparison's own confidence level)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from monitoring_pipelines.core.canary.stats import CONFIDENCE
from monitoring_pipelines.core.dimensions import decode
from monitoring_pipelines.core.report import html as h

MetricValues = Mapping[tuple[str, str], float | None]
VERDICTS = {0: "promote", 1: "hold", 2: "roll back"}
# (label, baseline, candidate, change, interval low, high, p-value, number format)
FIGURES = (
    (
        "p95 latency (ms)",
        "p95_baseline_ms",
        "p95_candidate_ms",
        "p95_increase_ms",
        "p95_increase_ci_low_ms",
        "p95_increase_ci_high_ms",
        None,
        ".4g",
    ),
    (
        "error rate",
        "error_rate_baseline",
        "error_rate_candidate",
        "error_rate_increase",
        "error_rate_increase_ci_low",
        "error_rate_increase_ci_high",
        "error_rate_p_value",
        ".2%",
    ),
    (
        "cost per request (USD; change relative)",
        "cost_per_request_baseline_usd",
        "cost_per_request_candidate_usd",
        "cost_increase",
        "cost_increase_ci_low",
        "cost_increase_ci_high",
        "cost_p_value",
        ".4g",
    ),
)


def canary_section(day: date, values: MetricValues, summary: str | None = None) -> str:
    """The section of the ``canary_comparison`` asset's rows of the day.

    Args:
        summary: The ``canary`` check's finding of the day (its reasons), when recorded.
    """
    if not values:
        return h.section("Canary", h.no_data(f"no canary comparison stored for {day}"))
    pair = [d for n, d in values if n == "verdict_code" and d]
    versions = decode(pair[0]) if pair else {}
    figures = {n: v for (n, d), v in values.items() if (d == pair[0] if pair else not d)}
    code = figures.get("verdict_code")
    verdict = VERDICTS.get(int(code)) if code is not None else None
    parts = []
    if verdict is None:
        parts.append(f"<p>{h.esc(f'{day}: no canary (one model version served the day)')}</p>")
    else:
        text = (
            f"{day}: candidate {versions.get('candidate', '?')} against baseline "
            f"{versions.get('baseline', '?')}: {verdict} ({h.fmt(figures.get('candidate_rows'))} "
            f"against {h.fmt(figures.get('baseline_rows'))} rows)"
        )
        parts.append(f'<p class="headline">{h.esc(text)}</p>')
    if summary:
        parts.append(f'<p class="meta">{h.esc(summary)}</p>')
    rows = []
    for label, base, cand, change, low, high, p, spec in FIGURES:
        if figures.get(change) is None and figures.get(base) is None:
            continue
        change_spec = ".1%" if change == "cost_increase" else spec
        rows.append(
            [
                label,
                h.fmt(figures.get(base), spec),
                h.fmt(figures.get(cand), spec),
                _signed(figures.get(change), change_spec),
                f"{_signed(figures.get(low), change_spec)} to "
                f"{_signed(figures.get(high), change_spec)}",
                h.fmt(figures.get(p), ".2g") if p else "-",
            ]
        )
    if figures.get("prediction_drift") is not None:
        p = h.fmt(figures.get("prediction_drift_p_value"), ".2g")
        rows.append(["prediction drift", "-", "-", h.fmt(figures["prediction_drift"]), "-", p])
    if rows:
        level = f"{CONFIDENCE:.0%}"
        caption = (
            f"Candidate against baseline on {day}: each figure of both versions, the change "
            f"(candidate - baseline) with its {level} interval and p-value"
        )
        header = ["figure", "baseline", "candidate", "change", f"{level} interval", "p"]
        parts.append(h.table(header, rows, caption=caption))
    served = sorted(
        ((decode(d).get("version", ""), v) for (n, d), v in values.items() if n == "version_rows"),
        key=lambda kv: -(kv[1] or 0.0),
    )
    if served:
        caption = f"Rows served by each model version on {day}"
        cells = [[version, h.fmt(n)] for version, n in served]
        parts.append(h.table(["version", "rows"], cells, caption=caption))
    return h.section("Canary", "".join(parts))


def _signed(value: float | None, spec: str) -> str:
    text = h.fmt(value, spec)
    return f"+{text}" if value is not None and value > 0 and text != "-" else text
