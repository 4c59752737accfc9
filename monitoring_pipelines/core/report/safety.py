"""The report's output-safety section: the day's leaking and declining answers and their
length, by intent and by model, and the shares over the history (``output_safety``'s rows)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from monitoring_pipelines.core.report import plots
from monitoring_pipelines.core.report.html import (
    Page,
    daily,
    dims_of,
    esc,
    fmt,
    no_data,
    section,
    table,
)
from monitoring_pipelines.core.safety.day import LEAK_KINDS

MetricValues = Mapping[tuple[str, str], float | None]

TITLE = "Output safety"
COLUMNS = ("answers", *(f"leak_ratio_{k}" for k in LEAK_KINDS), "refusal_ratio")
WORDS = ("answer_words_p50", "answer_words_p95")


def safety_section(
    day: date, days: Sequence[date], history: Mapping[date, MetricValues], page: Page
) -> str:
    """Today's shares overall and per intent and model; the shares over ``days``."""
    today = history.get(day, {})
    if not today:
        return section(TITLE, no_data(f"no output-safety results stored for {day}"))
    parts = [_overall(day, today)]
    rows, classes = [], []
    for dims in sorted({d for _, d in today if d and "version" not in dims_of(d)}):
        scope = dims_of(dims)
        if set(scope) not in ({"intent"}, {"model"}):
            continue
        ((key, value),) = scope.items()
        if today.get(("answers", dims)) is None:
            continue
        rows.append([key, value, *_cells(today, dims)])
        leaked = (today.get(("leak_ratio_any", dims)) or 0) > 0
        classes.append("fail" if leaked else "")
    if rows:
        header = ["by", "value", *_header()]
        caption = f"answers of {day} per intent and per model; rows with leaks highlighted"
        parts.append(table(header, rows, classes, caption=caption))
    shares = {
        "any leak": daily(history, days, "leak_ratio_any"),
        "refusals": daily(history, days, "refusal_ratio"),
    }
    if any(v is not None for s in shares.values() for v in s.values()):
        png = plots.series_png("answers leaking or declining", days, shares, ylabel="share")
        parts.append(page.figure(png, f"share of answers per day, {days[0]} to {day}"))
    return section(TITLE, "".join(parts))


def _overall(day: date, today: MetricValues) -> str:
    answers = today.get(("answers", ""))
    text = f"{day}: {fmt(answers, ',.0f')} answers"
    leaks = ", ".join(
        f"{kind} {_pct(today.get((f'leak_ratio_{kind}', '')))}" for kind in LEAK_KINDS
    )
    text += f"; leaking {leaks}; declining {_pct(today.get(('refusal_ratio', '')))}"
    words = [today.get((w, "")) for w in WORDS]
    text += f"; answer length p50 {fmt(words[0], '.0f')} and p95 {fmt(words[1], '.0f')} words"
    missing = today.get(("missing_answers", ""))
    if missing:
        text += f"; {fmt(missing, ',.0f')} rows without an answer (not measured)"
    return f"<p>{esc(text)}</p>"


def _header() -> list[str]:
    leaks = [f"{k} leaks" for k in LEAK_KINDS]
    return ["answers", *leaks, "declining", "words p50", "words p95"]


def _cells(today: MetricValues, dims: str) -> list[str]:
    answers = today.get(("answers", dims))
    shares = [_pct(today.get((f"leak_ratio_{k}", dims))) for k in LEAK_KINDS]
    refusals = _pct(today.get(("refusal_ratio", dims)))
    words = [fmt(today.get((w, dims)), ".0f") for w in WORDS]
    return [fmt(answers, ",.0f"), *shares, refusals, *words]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"
