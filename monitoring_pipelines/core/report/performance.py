"""The report's performance section: the day's metrics against the reference, per class, the
confusion matrix (rows actual, columns predicted) and one table per segment, each captioned."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from monitoring_pipelines.core.dimensions import decode
from monitoring_pipelines.core.performance.metrics import (
    METRICS,
    SCOPE_KEYS,
    Kind,
    PerformanceStats,
    scoped_rows,
)
from monitoring_pipelines.core.report import html as h

MAX_CLASSES = 12  # confusion matrix rows and columns shown; the rest are summed as "other"
OTHER = "other classes"

MetricValues = Mapping[tuple[str, str], float | None]


def performance_section(
    day: date, values: MetricValues, kind: Kind | None = None, metric: str | None = None
) -> str:
    """The section of the day's stored performance rows.

    Args:
        day: The report's day.
        values: The ``performance`` asset's rows of the day.
        kind: ``label`` or ``score`` predictions; guessed from the rows when None.
        metric: The metric the check compares with the reference (``accuracy``...).
    """
    if not values:
        return h.section("Performance", h.no_data(f"no performance results stored for {day}"))
    kind = kind or ("label" if any(n == "confusion" for n, _ in values) else "score")
    whole = scoped_rows(values)
    stats = PerformanceStats.from_rows(kind, values)
    parts = [
        f"<p>{h.esc(_coverage_line(day, stats))}</p>",
        overall_table(day, whole, stats, metric),
    ]
    if kind == "label" and stats.confusion.total:
        parts.append(class_table(day, stats))
        parts.append(confusion_table(day, stats))
    parts += segment_tables(day, values, metric)
    return h.section("Performance", "".join(parts))


def overall_table(
    day: date, rows: MetricValues, stats: PerformanceStats, metric: str | None
) -> str:
    """Each headline metric of the day; the checked one with its reference and change."""
    names = METRICS[stats.kind] + (("bias",) if stats.kind == "score" else ())
    body, classes = [], []
    for name in names:
        value = stats.value(name)
        checked = name == metric
        cells = [name + (" (checked)" if checked else ""), h.fmt(value)]
        if checked:
            cells += [
                h.fmt(rows.get(("reference", ""))),
                _signed(rows.get(("delta", ""))),
                h.fmt(rows.get(("p_adjusted", ""), rows.get(("p_value", ""))), ".2g"),
            ]
        else:
            cells += ["", "", ""]
        body.append(cells)
        classes.append("")
    caption = (
        f"Performance of the predictions of {day} against the labels received so far; the "
        "checked metric is compared with its reference (change = day - reference, p = one-sided "
        "p-value of a drop)"
    )
    header = ["metric", "value", "reference", "change", "p"]
    return h.table(header, body, classes, caption=caption)


def class_table(day: date, stats: PerformanceStats) -> str:
    """Precision, recall, F1 and support (labelled rows) of each actual class."""
    per_class = stats.per_class()
    rows = [
        [
            cls,
            h.fmt(v.get("precision"), ".3f"),
            h.fmt(v.get("recall"), ".3f"),
            h.fmt(v.get("f1"), ".3f"),
            h.fmt(v.get("support")),
        ]
        for cls, v in sorted(per_class.items(), key=lambda kv: -(kv[1].get("support") or 0.0))
    ]
    caption = f"Per class on {day}: precision, recall and F1 from the confusion matrix below"
    return h.table(["class", "precision", "recall", "F1", "labelled rows"], rows, caption=caption)


def confusion_table(day: date, stats: PerformanceStats) -> str:
    """The confusion matrix: a row per actual class, a column per predicted class; each cell
    gives the count and its share of the actual class (the row)."""
    matrix = stats.confusion.matrix()
    classes = stats.confusion.classes
    support = matrix.sum(axis=1)
    order = sorted(range(len(classes)), key=lambda i: (-int(support[i]), classes[i]))
    shown, rest = order[:MAX_CLASSES], order[MAX_CLASSES:]
    groups: list[tuple[str, list[int]]] = [(classes[i], [i]) for i in shown]
    if rest:
        groups.append((f"{len(rest)} {OTHER}", rest))
    header = ["actual \u2193 / predicted \u2192", *(name for name, _ in groups), "total"]
    body = []
    for name, actual in groups:
        total = int(matrix[actual].sum())
        cells = [name]
        for _, predicted in groups:
            n = int(matrix[actual][:, predicted].sum())
            share = f" ({n / total:.1%})" if total else ""
            cells.append(f"{n:,}{share}")
        cells.append(f"{total:,}")
        body.append(cells)
    caption = (
        f"Confusion matrix of {day}: rows are the actual (labelled) class, columns the "
        "predicted class; each cell is a count of rows and its share of the actual class, "
        "so the diagonal holds each class's recall"
    )
    return h.table(header, body, caption=caption, row_headers=True)


def segment_tables(day: date, values: MetricValues, metric: str | None) -> list[str]:
    """One table per segment column: each value's rows, coverage, metric and change."""
    scopes: dict[str, set[str]] = {}
    for _, dims in values:
        parsed = decode(dims) if dims else {}
        if parsed.keys() >= SCOPE_KEYS:
            scopes.setdefault(parsed["segment"], set()).add(parsed["value"])
    out = []
    for segment in sorted(scopes):
        body = []
        for value in sorted(scopes[segment]):
            scope = {"segment": segment, "value": value}
            rows = scoped_rows(values, scope)
            shown = metric or _first_metric(rows)
            body.append(
                [
                    value,
                    h.fmt(rows.get(("rows", ""))),
                    h.fmt(rows.get(("labelled", ""))),
                    h.fmt(rows.get(("coverage", "")), ".1%"),
                    h.fmt(rows.get((shown, ""))) if shown else "-",
                    h.fmt(rows.get(("reference", ""))),
                    _signed(rows.get(("delta", ""))),
                    h.fmt(rows.get(("p_adjusted", ""), rows.get(("p_value", ""))), ".2g"),
                ]
            )
        name = metric or "metric"
        caption = (
            f"Performance per value of segment {segment} on {day}: {name} of the value's "
            "labelled rows against its reference (p adjusted across the segment values)"
        )
        header = [segment, "rows", "labelled", "coverage", name, "reference", "change", "p"]
        out.append(h.table(header, body, caption=caption))
    return out


def _coverage_line(day: date, stats: PerformanceStats) -> str:
    return (
        f"{day}: {stats.labelled:,} of {stats.rows:,} predictions labelled so far "
        f"({stats.coverage:.1%} coverage)"
    )


def _first_metric(rows: MetricValues) -> str | None:
    for names in METRICS.values():
        for name in names:
            if (name, "") in rows:
                return name
    return None


def _signed(value: float | None) -> str:
    text = h.fmt(value)
    return f"+{text}" if value is not None and value > 0 and text != "-" else text
