"""The drift of a partition as a person reads it: scores as multiples of their warn threshold
(1.0 is the threshold, whatever the statistic), and one table row per column that leads with
the verdict, says what moved, and explains in its note a row that could be misread."""

from __future__ import annotations

from collections.abc import Sequence

from monitoring_pipelines.core.drift.engine import ColumnDrift

TABLE_COLUMNS = ("verdict", "column", "what moved", "score ÷ warn", "p (adj.)", "note")
MARK = {  # upper case marks a drift; plain text, so every font shows it
    "critical": "DRIFT: critical",
    "warn": "DRIFT: warn",
    "ok": "ok",
    "insufficient_rows": "too few rows",
    "no_reference": "no reference",
}
NEAR = 0.9  # a score at this share of its threshold or more is close enough to say so
MARKDOWN_MARKERS = frozenset("\\`*_[]<>~")
LARGEST = "(largest)"  # sorts before column names in Dagster's alphabetical plots


def ordered(results: Sequence[ColumnDrift]) -> list[ColumnDrift]:
    """Drifted first (critical, then warn), then by score relative to the warn threshold."""
    rank = {"critical": 0, "warn": 1, "ok": 2, "insufficient_rows": 3, "no_reference": 4}
    return sorted(results, key=lambda r: (rank[r.verdict], -(r.relative or 0.0), r.column))


def relative_scores(results: Sequence[ColumnDrift]) -> dict[str, float]:
    """``{"(largest)": 2.1, column: score ÷ warn, ...}``: the day's largest first, then each
    column's, drifted first; columns that were not scored are left out."""
    scored = [r for r in ordered(results) if r.relative is not None]
    if not scored:
        return {}
    out = {LARGEST: max(r.relative for r in scored if r.relative is not None)}
    out |= {r.column: r.relative for r in scored if r.relative is not None}
    return out


def table_rows(results: Sequence[ColumnDrift], fdr: float) -> list[dict[str, str]]:
    """One row per column in :data:`TABLE_COLUMNS` order, drifted first."""
    return [
        {
            "verdict": MARK[r.verdict],
            "column": r.column.replace("@", " @ "),  # a break point in a long segment name
            "what moved": r.shift.describe() if r.shift is not None else "-",
            "score ÷ warn": f"{r.relative:.2f}" if r.relative is not None else "-",
            "p (adj.)": f"{r.p_adjusted:.2g}" if r.p_adjusted is not None else "-",
            "note": note(r, fdr),
        }
        for r in ordered(results)
    ]


def note(r: ColumnDrift, fdr: float) -> str:
    """Why the row reads as it does (when a reader could misread it), then its numbers."""
    if r.score is None:
        return _flat(r.note or "not scored")
    reasons: list[str] = []
    p_adj = r.p_adjusted
    if r.drifted:
        reasons.append(f"≥ {r.verdict} {r.threshold:g} and adjusted p ≤ FDR {fdr:g}")
    elif r.score >= r.warn:
        why = f"adjusted p {p_adj:.2g} > FDR {fdr:g}" if p_adj is not None else "no p-value"
        reasons.append(
            f"ok although ≥ warn {r.warn:g}: not significant ({why}), "
            f"a move this size is likely chance at {r.rows:,} rows"
        )
    elif r.score >= NEAR * r.warn:
        reasons.append(f"ok, close to warn {r.warn:g}")
    if r.note:
        reasons.append(r.note)
    rows = f"{r.rows:,} rows"
    if r.p_value_rows is not None and r.p_value_rows != r.rows:
        rows += f" (p from {r.p_value_rows:,})"
    numbers = f"{r.statistic} {r.score:.4g} (warn {r.warn:g}, critical {r.critical:g}), {rows}"
    if r.role != "feature":
        numbers += f", {r.role}"
    return _flat("; ".join([*reasons, numbers]))


def _flat(text: str) -> str:
    return " ".join(text.replace("|", "/").split())


def markdown(results: Sequence[ColumnDrift], fdr: float) -> str:
    """:func:`table_rows` as a markdown table (for texts that hold several tables)."""
    lines = ["| " + " | ".join(TABLE_COLUMNS) + " |", "|" + "---|" * len(TABLE_COLUMNS)]
    for row in table_rows(results, fdr):
        cells = (_cell(row[c]) for c in TABLE_COLUMNS)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(text: str) -> str:
    """A cell shown as written: markdown's markers escaped, no line break or cell border."""
    flat = " ".join(text.replace("\x00", " ").split()).replace("|", "/")
    return "".join("\\" + c if c in MARKDOWN_MARKERS else c for c in flat)
