"""Checks on a day's slice: enough traffic, few malformed rows, few duplicate requests, and
no row of the source that no day reads."""

from __future__ import annotations

from monitoring_pipelines.core.catalog import ROWS_WITHOUT_DAY, critical_factor
from monitoring_pipelines.core.checks import WHOLE, CheckOutcome, Finding, single
from monitoring_pipelines.core.config import ChecksConfig, Severity
from monitoring_pipelines.core.ingest.cleaning import SliceQuality, Window
from monitoring_pipelines.core.ingest.warehouse import OutsideWindow
from monitoring_pipelines.core.wording import count


def slice_checks(
    quality: SliceQuality,
    config: ChecksConfig,
    has_request_id: bool,
    outside: OutsideWindow | None = None,
    window: Window | None = None,
) -> list[CheckOutcome]:
    """Volume, malformed-row and (with a request id) duplicate checks of one day.

    With ``outside`` (the source's rows that no day of ``window`` reads), the malformed-row
    check has a second finding, :data:`ROWS_WITHOUT_DAY`: it fails whenever such a row exists
    (rows dated before ``start_date`` only without ``checks.allow_rows_before_start``), and
    is reported every day so that its incident resolves once the rows are fixed.
    """
    rows = quality.rows_kept
    malformed = _share_check(
        "malformed_rows",
        quality.malformed_rows,
        quality,
        config.max_malformed_share,
        "malformed rows (unparseable timestamp or value)",
    )
    if outside is not None:
        malformed = _with_rows_without_day(malformed, quality, outside, window, config)
    outcomes = [
        single(
            "volume",
            passed=rows >= config.min_rows,
            severity=Severity.CRITICAL if rows == 0 else Severity.WARN,
            value=float(rows),
            threshold=float(config.min_rows),
            summary=(
                "no traffic: the day has no rows"
                if rows == 0
                else f"{rows} rows ({'>=' if rows >= config.min_rows else '<'} "
                f"min_rows {config.min_rows})"
            ),
            metadata={"rows": rows},
        ),
        malformed,
    ]
    if has_request_id:
        outcomes.append(
            _share_check(
                "duplicate_requests",
                quality.duplicate_rows,
                quality,
                config.max_duplicate_share,
                "rows repeating a request id (dropped)",
            )
        )
    return outcomes


def rows_without_day(quality: SliceQuality, outside: OutsideWindow) -> OutsideWindow:
    """The source's rows no day reads, with the day's own rows whose instant lies outside the
    window (a text timestamp dated on the first day whose offset puts it before it)."""
    before, after = quality.outside_window
    return OutsideWindow(
        null=outside.null,
        unparseable=outside.unparseable,
        before=outside.before + before,
        after=outside.after + after,
    )


def _with_rows_without_day(
    outcome: CheckOutcome,
    quality: SliceQuality,
    outside: OutsideWindow,
    window: Window | None,
    config: ChecksConfig,
) -> CheckOutcome:
    counts = rows_without_day(quality, outside)
    failing = counts.total - (counts.before if config.allow_rows_before_start else 0)
    parts = []
    if counts.null + counts.unparseable:
        parts.append(
            f"{count(counts.null + counts.unparseable, 'row')} with a null or non-ISO timestamp "
            "that no day reads"
        )
    if counts.before:
        first = f" {window.first}" if window else ""
        allowed = " (allowed)" if config.allow_rows_before_start else ""
        parts.append(f"{count(counts.before, 'row')} dated before start_date{first}{allowed}")
    if counts.after:
        since = f" ({window.end} or later)" if window else ""
        parts.append(f"{count(counts.after, 'row')} dated in the future{since}")
    summary = "; ".join(parts) if parts else "every row of the source is in a day"
    finding = Finding(
        ROWS_WITHOUT_DAY,
        failing == 0,
        Severity.WARN,
        float(failing),
        0.0,
        f"the table has {summary}" if parts else summary,
    )
    check_summary = outcome.summary + (f"; the table also has {summary}" if parts else "")
    metadata = {
        **outcome.metadata,
        "rows_without_day": counts.total,
        "rows_null_timestamp": counts.null,
        "rows_unparseable_outside": counts.unparseable,
        "rows_before_start": counts.before,
        "rows_in_future": counts.after,
    }
    return CheckOutcome(outcome.name, (*outcome.findings, finding), check_summary, metadata)


def _share_check(
    name: str, count: int, quality: SliceQuality, limit: float, what: str
) -> CheckOutcome:
    share = quality.share(count)
    passed = share <= limit
    examples = [e for reason, ex in quality.examples.items() for e in ex if _related(name, reason)]
    summary = (
        f"{count} {what} of {quality.rows_read} read ({share:.2%}; "
        f"{'<=' if passed else '>'} {limit:.2%})"
    )
    if examples and not passed:
        summary += f"; e.g. {', '.join(examples[:3])}"
    finding = Finding(
        WHOLE,
        passed,
        Severity.CRITICAL if share > critical_factor(name) * limit else Severity.WARN,
        share,
        limit,
        summary,
    )
    return CheckOutcome(name, (finding,), summary, {"count": count, "share": share})


def _related(check: str, reason: str) -> bool:
    if check == "duplicate_requests":
        return reason == "duplicate_request_id"
    return reason not in ("duplicate_request_id", "outside_day", "before_window", "after_window")
