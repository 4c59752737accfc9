"""The report's hallucination section: the day's rate with its interval, by intent and by
article, the trend against the baseline, the review queue and the judge's agreement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from monitoring_pipelines.core.dimensions import decode
from monitoring_pipelines.core.hallucination.governance import Agreement
from monitoring_pipelines.core.report import html as h
from monitoring_pipelines.core.report import plots

MetricValues = Mapping[tuple[str, str], float | None]
JUDGE_METRIC = "judge"  # dimensions name the judge and prompt version; the value: the threshold


@dataclass(frozen=True)
class ReviewState:
    """The review queue and the judge's agreement with reviewers when the report was made.

    Attributes:
        pending: Answers of any day waiting for a reviewer.
        day_statuses: The report day's queued answers per review status.
        agreement: The judge against reviewers on every answer reviewed so far, for the
            day's judge and prompt version when known.
        judge: Whose agreement it is (``judge / prompt version``), or None for all judges.
    """

    pending: int = 0
    day_statuses: Mapping[str, int] = field(default_factory=dict)
    agreement: Agreement | None = None
    judge: str | None = None


def hallucination_section(
    day: date,
    days: Sequence[date],
    history: Mapping[date, MetricValues],
    review: ReviewState | None,
    page: h.Page,
) -> str:
    """The section; ``history`` holds the ``hallucination_rate`` asset's rows per day."""
    today = history.get(day, {})
    parts = []
    if today:
        parts.append(f"<p>{h.esc(_headline(day, today))}</p>")
    else:
        parts.append(h.no_data(f"no hallucination rate stored for {day}"))
    series = {
        "rate": {d: history.get(d, {}).get(("hallucination_rate", "")) for d in days},
        "baseline": {d: history.get(d, {}).get(("baseline_rate", "")) for d in days},
    }
    if any(v is not None for v in series["rate"].values()):
        png = plots.series_png("hallucination rate", days, series, highlight=day)
        caption = f"daily hallucination rate and its trailing baseline, {days[0]} to {day}"
        parts.append(page.figure(png, caption))
    for scope in ("intent", "article"):
        rows = _scope_rows(today, scope)
        if rows:
            parts.append(scope_table(day, scope, rows))
    if review is not None:
        parts.append(review_part(day, review))
    return h.section("Hallucination", "".join(parts))


def scope_table(day: date, scope: str, rows: Mapping[str, Mapping[str, float | None]]) -> str:
    """The rate of each intent (or article): highest first, rises highlighted."""
    ordered = sorted(rows.items(), key=lambda kv: (-(kv[1].get("hallucination_rate") or 0), kv[0]))
    body, classes = [], []
    for name, v in ordered:
        rise = v.get("rise")
        verdict = "-" if rise is None else "rise" if rise else "ok"
        body.append(
            [
                name,
                h.fmt(v.get("scored")),
                h.fmt(v.get("flagged")),
                h.fmt(v.get("hallucination_rate"), ".1%"),
                _interval(v.get("ci_low"), v.get("ci_high")),
                h.fmt(v.get("baseline_rate"), ".1%"),
                h.fmt(v.get("p_adjusted"), ".2g"),
                verdict,
            ]
        )
        classes.append("warn" if rise else "")
    caption = (
        f"Hallucination rate by {scope} on {day}: share of the scored answers under the judge's "
        "threshold, its Wilson 95 % interval, the trailing baseline and the adjusted p-value of "
        "a rise; highest rate first"
    )
    header = [scope, "scored", "flagged", "rate", "95 % interval", "baseline", "p (adj.)", "rise"]
    return h.table(header, body, classes, caption=caption)


def review_part(day: date, review: ReviewState) -> str:
    """The queue's size and the judge's agreement with the reviewers."""
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(review.day_statuses.items()))
    queued = sum(review.day_statuses.values())
    text = f"Review queue: {review.pending} answer(s) of any day waiting for a reviewer; "
    text += f"{queued} answer(s) of {day} queued" + (f" ({statuses})" if statuses else "")
    parts = [f"<h3>Review and judge agreement</h3><p>{h.esc(text)}</p>"]
    a = review.agreement
    if a is None or a.n == 0:
        parts.append(h.no_data("no reviewed answers yet: the judge's agreement is unknown"))
        return "".join(parts)
    who = f" ({review.judge})" if review.judge else ""
    rows = [
        ["judge: flagged", f"{a.tp:,}", f"{a.fp:,}"],
        ["judge: passed", f"{a.fn:,}", f"{a.tn:,}"],
    ]
    caption = (
        f"The judge{who} against the reviewers on the {a.n:,} answer(s) reviewed so far: rows "
        "are the judge's verdict, columns the reviewer's"
    )
    header = ["", "reviewer: hallucination", "reviewer: fine"]
    parts.append(h.table(header, rows, caption=caption, row_headers=True))
    parts.append(f"<p>{h.esc(_kappa_line(a))}</p>")
    return "".join(parts)


def _headline(day: date, today: MetricValues) -> str:
    rate, scored = today.get(("hallucination_rate", "")), today.get(("scored", ""))
    flagged = today.get(("flagged", ""))
    text = f"{day}: {h.fmt(flagged)} of {h.fmt(scored)} scored answers under {_judge(today)}"
    if rate is not None:
        text += f"; hallucination rate {rate:.1%}"
        low, high = today.get(("ci_low", "")), today.get(("ci_high", ""))
        text += f" (95 % interval {_interval(low, high)})"
    baseline = today.get(("baseline_rate", ""))
    if baseline is not None:
        text += f"; baseline {baseline:.1%}"
    rise = today.get(("rise", ""))
    if rise is not None:
        text += "; a significant rise" if rise else "; no significant rise"
    return text


def _judge(today: MetricValues) -> str:
    """``the threshold 0.7 of judge offline (prompt v1)``, as far as it was stored."""
    for (name, dims), value in today.items():
        if name == JUDGE_METRIC and dims:
            d = decode(dims)
            threshold = f" {value:g}" if value is not None else ""
            return (
                f"the threshold{threshold} of judge {d.get('judge', '?')} "
                f"(prompt {d.get('prompt_version', '?')})"
            )
    return "the judge's threshold"


def _scope_rows(today: MetricValues, scope: str) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for (name, dims), value in today.items():
        if not dims or name == JUDGE_METRIC:
            continue
        d = decode(dims)
        if set(d) == {scope}:
            out.setdefault(d[scope], {})[name] = value
    return out


def _interval(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "-"
    return f"{low:.1%} to {high:.1%}"


def _kappa_line(a: Agreement) -> str:
    if a.kappa is None:
        return f"Cohen's kappa: n/a ({a.reason}), n = {a.n}"
    text = (
        f"Cohen's kappa {a.kappa:.2f} (95 % interval {h.fmt(a.kappa_low, '.2f')} to "
        f"{h.fmt(a.kappa_high, '.2f')}), observed agreement {h.fmt(a.observed, '.1%')}, "
        f"precision of the judge's flags {h.fmt(a.precision, '.1%')}, recall "
        f"{h.fmt(a.recall, '.1%')}"
    )
    if not a.conclusive:
        text += f"; inconclusive: fewer than {a.min_pairs} reviewed answers"
    return text
