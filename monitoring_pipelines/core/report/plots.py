"""PNG plots of the daily report, drawn from stored sketches and series.

matplotlib is imported only inside the drawing functions, and figures are rendered by the Agg
canvas directly (no pyplot, no global figure state), so importing this module costs nothing
and a process that never draws a report never imports matplotlib.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from monitoring_pipelines.core.profile.sketch import ColumnSketch, aligned

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FloatArray = npt.NDArray[np.float64]

TOP_CATEGORIES = 15
DPI = 90
REFERENCE_COLOR = "#8c959f"
DAY_COLOR = "#0969da"
WARN_COLOR = "#bf8700"
CRITICAL_COLOR = "#cf222e"
SERIES_COLORS = ("#0969da", "#8250df", "#1a7f37", "#bc4c00")
HIGHLIGHT_COLOR = "#fff8c5"


@dataclass(frozen=True)
class Trend:
    """A column's daily drift score with the thresholds it is judged by."""

    column: str
    scores: Mapping[date, float | None]
    warn: float
    critical: float


def comparable(reference: ColumnSketch, current: ColumnSketch) -> bool:
    """Whether the day was counted over the reference's bins (a rebuilt reference has new
    ones, and older days keep the old)."""
    if reference.kind != current.kind:
        return False
    if reference.kind == "categorical":
        return True
    a, b = reference.edges, current.edges
    return a is not None and b is not None and bool(np.array_equal(a, b))


def numeric_bins(reference: ColumnSketch, current: ColumnSketch) -> tuple[FloatArray, ...]:
    """Bin boundaries over the reference's quantile edges and each side's share per bin.

    The outer bins are bounded by the smallest and largest value either side saw; a first bin
    of zero width (a discrete column whose smallest value is an edge) gets the median width.

    Returns:
        ``(boundaries, reference_shares, current_shares)``; boundaries has one more entry.
    """
    edges = reference.edges if reference.edges is not None else np.zeros(0)
    if edges.size == 0:
        edges = np.array([reference.mean])
    widths = np.diff(edges)
    fallback = float(np.median(widths[widths > 0])) if np.any(widths > 0) else 1.0
    lows = [v for v in (reference.lo, current.lo) if v is not None and math.isfinite(v)]
    highs = [v for v in (reference.hi, current.hi) if v is not None and math.isfinite(v)]
    lo = min([*lows, float(edges[0])])
    hi = max([*highs, float(edges[-1])])
    if lo >= edges[0]:
        lo = float(edges[0]) - fallback
    if hi <= edges[-1]:
        hi = float(edges[-1]) + fallback
    boundaries = np.concatenate([[lo], edges, [hi]]).astype(np.float64)
    return boundaries, shares(reference.counts), shares(current.counts)


def category_shares(
    reference: ColumnSketch, current: ColumnSketch, top: int = TOP_CATEGORIES
) -> tuple[list[str], FloatArray, FloatArray]:
    """The ``top`` categories by their larger share on either side, and the rest grouped."""
    ref, cur = aligned(reference, current)
    labels = list(ref.categories or ())
    ref_p, cur_p = shares(ref.counts), shares(cur.counts)
    order = np.argsort(-np.maximum(ref_p, cur_p), kind="stable")
    keep, rest = order[:top], order[top:]
    names = [labels[i] for i in keep]
    ref_out, cur_out = list(ref_p[keep]), list(cur_p[keep])
    if rest.size:
        names.append(f"{rest.size} others")
        ref_out.append(float(ref_p[rest].sum()))
        cur_out.append(float(cur_p[rest].sum()))
    return names, np.array(ref_out), np.array(cur_out)


def shares(counts: npt.NDArray[np.generic]) -> FloatArray:
    values = np.asarray(counts, dtype=np.float64)
    total = values.sum()
    return values / total if total > 0 else np.zeros_like(values)


def distribution_png(
    reference: ColumnSketch,
    current: ColumnSketch,
    day: date,
    *,
    title: str | None = None,
    dpi: int = DPI,
) -> bytes:
    """The reference against the day: step histograms (numeric) or paired bars (categorical).

    Args:
        title: Above the plot; the reference's column by default.
        dpi: Pixels per inch: the layout is fixed in inches, so this scales the whole image.
    """
    bottom = 0.5 if reference.kind == "categorical" else 0.3
    figure, ax = _figure(5.4, 2.7, bottom=bottom, dpi=dpi)
    ref_label = f"reference (n={reference.n:,})"
    day_label = f"{day.isoformat()} (n={current.n:,})"
    if reference.kind == "numeric":
        bounds, ref_p, cur_p = numeric_bins(reference, current)
        ax.stairs(ref_p, bounds, fill=True, color=REFERENCE_COLOR, alpha=0.45, label=ref_label)
        ax.stairs(cur_p, bounds, color=DAY_COLOR, linewidth=1.6, label=day_label)
        ax.set_ylabel("share of rows per bin", fontsize=8)
    else:
        names, ref_p, cur_p = category_shares(reference, current)
        x = np.arange(len(names))
        ax.bar(x - 0.2, ref_p, 0.4, color=REFERENCE_COLOR, label=ref_label)
        ax.bar(x + 0.2, cur_p, 0.4, color=DAY_COLOR, label=day_label)
        ax.set_xticks(x, [_short(n) for n in names], rotation=35, ha="right", fontsize=7)
        ax.set_ylabel("share of rows", fontsize=8)
    top = max(float(ref_p.max(initial=0.0)), float(cur_p.max(initial=0.0)))
    ax.set_ylim(0, top * 1.3 if top > 0 else 1.0)  # headroom for the legend
    ax.set_title(title or reference.column, fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="upper right")
    return _png(figure)


def trends_png(trends: Sequence[Trend], days: Sequence[date]) -> bytes:
    """One small panel per column: its daily score with the warn and critical lines."""
    from matplotlib.figure import Figure

    rows = math.ceil(len(trends) / 2)
    height = 1.9 * rows + 0.3
    figure = Figure(figsize=(10.4, height), dpi=DPI)
    figure.subplots_adjust(
        left=0.05, right=0.99, top=1 - 0.3 / height, bottom=0.3 / height, hspace=0.45, wspace=0.12
    )
    axes = figure.subplots(rows, 2, squeeze=False, sharex=True)
    x = np.arange(len(days))
    for ax, trend in zip(axes.flat, trends, strict=False):
        ax.plot(x, _values(trend.scores, days), marker=".", color=DAY_COLOR, linewidth=1.2)
        ax.axhline(trend.warn, color=WARN_COLOR, linestyle="--", linewidth=1, label="warn")
        ax.axhline(trend.critical, color=CRITICAL_COLOR, linestyle="--", linewidth=1)
        ax.set_title(trend.column, fontsize=9)
        _date_axis(ax, days)
    for ax in list(axes.flat)[len(trends) :]:
        ax.set_visible(False)
    return _png(figure)


def series_png(
    title: str,
    days: Sequence[date],
    series: Mapping[str, Mapping[date, float | None]],
    limit: tuple[str, float] | None = None,
    ylabel: str = "",
    *,
    highlight: date | None = None,
    dpi: int = DPI,
) -> bytes:
    """Daily series as lines, with an optional horizontal limit (an SLO or a budget).

    Args:
        highlight: A day of ``days`` to shade (the day an alert is about).
        dpi: Pixels per inch: the layout is fixed in inches, so this scales the whole image.
    """
    figure, ax = _figure(5.4, 2.5, dpi=dpi)
    x = np.arange(len(days))
    if highlight is not None and highlight in days:
        at = list(days).index(highlight)
        ax.axvspan(at - 0.5, at + 0.5, color=HIGHLIGHT_COLOR, zorder=0)
    for color, (label, values) in zip(SERIES_COLORS, series.items(), strict=False):
        ax.plot(x, _values(values, days), marker=".", linewidth=1.2, color=color, label=label)
    top = max([v for s in series.values() for v in s.values() if v is not None], default=1.0)
    if limit is not None:
        ax.axhline(limit[1], color=CRITICAL_COLOR, linestyle="--", linewidth=1, label=limit[0])
        top = max(top, limit[1])
    ax.set_title(title, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=8)
    # Headroom above the data for the legend, which sits in one row at the top.
    ax.set_ylim(0, top * 1.35 if top > 0 else 1.0)
    ax.legend(fontsize=7, frameon=False, loc="upper left", ncols=len(series) + 1)
    _date_axis(ax, days)
    return _png(figure)


def _figure(
    width: float, height: float, bottom: float = 0.3, dpi: int = DPI
) -> tuple[Figure, Axes]:
    """One plot with fixed margins (``bottom`` in inches): a layout engine would double the
    drawing time."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=dpi)
    figure.subplots_adjust(
        left=0.6 / width, right=0.98, top=1 - 0.28 / height, bottom=bottom / height
    )
    ax = figure.add_subplot()
    ax.tick_params(labelsize=7)
    return figure, ax


def _date_axis(ax: Axes, days: Sequence[date]) -> None:
    """Days as positions 0..n-1, labelled weekly so that the last day has a label."""
    ticks = [i for i in range(len(days)) if (len(days) - 1 - i) % 7 == 0]
    ax.set_xticks(ticks, [days[i].strftime("%m-%d") for i in ticks])
    ax.set_xlim(-0.5, len(days) - 0.5)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)


def _png(figure: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)  # attaches itself as the figure's canvas
    buffer = io.BytesIO()
    # No "Software" text chunk (and Agg writes no time): a figure's bytes are what it draws.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _values(series: Mapping[date, float | None], days: Sequence[date]) -> list[float]:
    values = (series.get(d) for d in days)
    return [float("nan") if v is None else float(v) for v in values]


def _short(label: str, width: int = 18) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"
