"""HTML pieces of the daily report: escaping, numbers, tables, the metric sections, the page."""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING

from monitoring_pipelines.core.report import plots

if TYPE_CHECKING:
    from monitoring_pipelines.core.report.page import MetricValues, Targets

MAX_TABLE_ROWS = 40

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;
 color:#1f2328;max-width:1120px;margin:1.5rem auto;padding:0 1rem;overflow-wrap:anywhere}
h1{margin:0 0 .2rem}h2{border-bottom:1px solid #d0d7de;padding-bottom:.2rem;margin-top:2rem}
nav{margin:.6rem 0;font-size:13px}nav a{margin-right:.8rem}
.meta{color:#57606a;margin:.1rem 0}.headline{font-size:1.1rem;font-weight:600}
.nodata{color:#57606a;font-style:italic}
.scroll{max-width:100%;overflow-x:auto;margin:.5rem 0 1rem}
table{border-collapse:collapse;font-size:13px}
caption{caption-side:top;min-width:min(40rem,90vw);text-align:left;color:#57606a;
 font-size:12px;padding:0 0 .25rem}
th,td{border:1px solid #d0d7de;padding:.2rem .5rem;text-align:left;vertical-align:top;
 overflow-wrap:break-word}
th{background:#f6f8fa}tr.warn td{background:#fff8c5}tr.critical td,tr.fail td{background:#ffebe9}
.sev{display:inline-block;border-radius:.8em;padding:0 .5em;font-size:12px;background:#eaeef2}
.sev.critical,.sev.fail{background:#ffebe9;color:#cf222e}.sev.warn{background:#fff8c5;color:#9a6700}
figure{display:inline-block;margin:.4rem .6rem .4rem 0;vertical-align:top;max-width:100%}
figcaption{color:#57606a;font-size:12px;max-width:480px}img{max-width:100%;height:auto}
"""
# The page may load nothing: no script, no remote image, font or style.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


class Page:
    """Embeds a page's plots and counts them."""

    def __init__(self) -> None:
        self.plots = 0

    def figure(self, png: bytes, caption: str) -> str:
        self.plots += 1
        data = base64.b64encode(png).decode("ascii")
        return (
            f'<figure><img alt="{esc(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>"
        )


def document(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def fmt(value: float | None, spec: str = ".4g") -> str:
    """A number for a table cell: integers with separators, others to ``spec``."""
    if value is None or not math.isfinite(value):
        return "-"
    if float(value).is_integer() and abs(value) < 1e15 and spec == ".4g":
        return f"{int(value):,}"
    return format(value, spec)


def section(title: str, body: str) -> str:
    anchor = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return f'<section id="{anchor}"><h2>{esc(title)}</h2>{body}</section>'


def contents(sections: Sequence[str]) -> str:
    """Links to the sections (each built by :func:`section`), in their order."""
    links = []
    for built in sections:
        match = _SECTION.match(built)
        if match:
            links.append(f'<a href="#{match.group(1)}">{match.group(2)}</a>')
    return f'<nav aria-label="sections">{"".join(links)}</nav>' if links else ""


_SECTION = re.compile(r'<section id="([a-z0-9-]+)"><h2>([^<]*)</h2>')


def no_data(text: str) -> str:
    return f'<p class="nodata">no data: {esc(text)}</p>'


def table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    classes: Sequence[str] = (),
    *,
    caption: str,
    row_headers: bool = False,
) -> str:
    """A captioned table of escaped text cells in a box that scrolls sideways when the table
    is wider than the page.

    Args:
        classes: Row styles (``warn``, ``critical``, ``fail``).
        caption: What the table is, shown above it.
        row_headers: Whether each row's first cell names the row (a matrix's row label).
    """
    head = "".join(f'<th scope="col">{esc(c)}</th>' for c in header)
    body = []
    for i, row in enumerate(rows[:MAX_TABLE_ROWS]):
        css = classes[i] if i < len(classes) and classes[i] else ""
        attr = f' class="{esc(css)}"' if css else ""
        cells = [
            f'<th scope="row">{esc(c)}</th>' if row_headers and j == 0 else _cell(c)
            for j, c in enumerate(row)
        ]
        body.append(f"<tr{attr}>{''.join(cells)}</tr>")
    more = len(rows) - MAX_TABLE_ROWS
    note = f'<p class="meta">{more} more rows not shown</p>' if more > 0 else ""
    return (
        f'<div class="scroll"><table><caption>{esc(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>{note}"
    )


def _cell(text: str) -> str:
    return f"<td>{esc(text)}</td>"


def daily(
    history: Mapping[date, MetricValues], days: Sequence[date], name: str, dims: str = ""
) -> dict[date, float | None]:
    return {d: history.get(d, {}).get((name, dims)) for d in days}


def service_section(
    day: date,
    days: Sequence[date],
    history: Mapping[date, MetricValues],
    targets: Targets,
    page: Page,
) -> str:
    """Today's latency and error rate, and their trends against the SLOs."""
    today = history.get(day, {})
    pct, slo_ms, slo_errors = targets.latency_percentile, targets.latency_ms, targets.error_rate
    parts = []
    if today:
        latency = ", ".join(f"p{p} {fmt(today.get((f'p{p}_ms', '')))} ms" for p in (50, 95, 99))
        errors = today.get(("error_rate", ""))
        text = f"{day}: {fmt(today.get(('requests', '')))} requests; latency {latency}"
        text += f" (SLO p{pct:g} {slo_ms:g} ms)" if slo_ms else ""
        text += f"; error rate {fmt(errors, '.2%')}" if errors is not None else ""
        text += f" (SLO {slo_errors:.2%})" if slo_errors is not None else ""
        parts.append(f"<p>{esc(text)}</p>")
    else:
        parts.append(no_data(f"no service metrics stored for {day}"))
    lines = {f"p{p}": daily(history, days, f"p{p}_ms") for p in (50, 95, 99)}
    if pct not in (50, 95, 99):
        lines[f"p{pct:g}"] = daily(history, days, "slo_percentile_ms")
    if _any(lines.values()):
        limit = (f"SLO p{pct:g} {slo_ms:g} ms", slo_ms) if slo_ms else None
        png = plots.series_png("latency", days, lines, limit, "ms")
        parts.append(page.figure(png, f"latency percentiles, {days[0]} to {day}"))
    rate = {"error rate": daily(history, days, "error_rate")}
    if _any(rate.values()):
        limit = (f"SLO {slo_errors:.2%}", slo_errors) if slo_errors is not None else None
        png = plots.series_png("error rate", days, rate, limit)
        parts.append(page.figure(png, f"share of requests with an error, {days[0]} to {day}"))
    return section("Service", "".join(parts))


def costs_section(
    day: date,
    days: Sequence[date],
    history: Mapping[date, MetricValues],
    budget: float | None,
    page: Page,
) -> str:
    """Today's LLM cost per model, and the daily cost against the budget."""
    today = history.get(day, {})
    parts = []
    if today:
        total = today.get(("cost_usd", ""))
        text = f"{day}: {fmt(total, ',.2f')} USD"
        text += f" (budget {budget:,.2f} USD)" if budget is not None else ""
        parts.append(f"<p>{esc(text)}</p>")
        models = sorted({p["model"] for _, d in today if d and set(p := dims_of(d)) == {"model"}})
        names = ("requests", "prompt_tokens", "completion_tokens", "cost_usd")
        rows = []
        for model in models:
            dims = json.dumps({"model": model}, sort_keys=True, separators=(",", ":"))
            cost = today.get(("cost_usd", dims))
            rows.append([model, *(fmt(today.get((n, dims))) for n in names[:3])])
            rows[-1].append("unpriced" if cost is None else fmt(cost, ",.4f"))
        if rows:
            caption = f"LLM requests, tokens and cost per model on {day}"
            parts.append(table(["model", *names], rows, caption=caption))
    else:
        parts.append(no_data(f"no token costs stored for {day}"))
    spent = {"cost": daily(history, days, "cost_usd")}
    if _any(spent.values()):
        limit = (f"budget {budget:,.2f} USD", budget) if budget is not None else None
        png = plots.series_png("daily LLM cost", days, spent, limit, "USD")
        parts.append(page.figure(png, f"cost per day, {days[0]} to {day}"))
    return section("Cost", "".join(parts))


def metrics_section(title: str, day: date, values: MetricValues) -> str:
    """Whatever an asset stored for the day: its plain metrics, then one table per kind of
    dimensions (e.g. per column and expectation, per class); failed rows first."""
    if not values:
        return section(title, no_data(f"no {title.lower()} results stored for {day}"))
    plain = sorted((n, v) for (n, d), v in values.items() if not d)
    caption = f"{title}: the figures of {day}"
    cells = [[n, fmt(v)] for n, v in plain]
    parts = [table(["metric", "value"], cells, caption=caption)] if plain else []
    groups: dict[tuple[str, ...], dict[tuple[str, ...], dict[str, float | None]]] = {}
    for (name, dims), value in values.items():
        if dims:
            parsed = dims_of(dims)
            keys = tuple(sorted(parsed))
            row = groups.setdefault(keys, {}).setdefault(tuple(parsed[k] for k in keys), {})
            row[name] = value
    for keys, rows in sorted(groups.items()):
        parts.append(_group_table(keys, rows, f"{title} of {day} per {' and '.join(keys)}"))
    return section(title, "".join(parts))


def _group_table(
    keys: tuple[str, ...], rows: Mapping[tuple[str, ...], Mapping[str, float | None]], caption: str
) -> str:
    """Rows of one kind of dimensions; with a ``passed`` metric, passing rows are only named."""
    names = sorted({n for row in rows.values() for n in row if n != "passed"})
    ordered = sorted(rows.items())
    passing = [" ".join(k) for k, row in ordered if row.get("passed") == 1.0]
    shown = [(k, row) for k, row in ordered if row.get("passed") != 1.0]
    checked = any("passed" in row for row in rows.values())
    header = [*keys, *(["passed"] if checked else []), *names]
    cells = []
    for k, row in shown:
        verdict = [_verdict(row.get("passed"))] if checked else []
        cells.append([*k, *verdict, *(fmt(row.get(n)) for n in names)])
    classes = ["fail" if row.get("passed") == 0.0 else "" for _, row in shown]
    if checked:
        caption += "; failed rows first, passing ones named below"
    out = table(header, cells, classes, caption=caption) if cells else ""
    if passing:
        out += f'<p class="meta">passed ({len(passing)}): {esc(", ".join(passing))}</p>'
    return out


def _verdict(passed: float | None) -> str:
    return "-" if passed is None else "pass" if passed else "FAIL"


def dims_of(text: str) -> dict[str, str]:
    try:
        parsed = json.loads(text)
    except ValueError:
        return {"dimensions": text}
    return {str(k): str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}


def _any(series: Iterable[Mapping[date, float | None]]) -> bool:
    return any(v is not None for s in series for v in s.values())
