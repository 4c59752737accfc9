"""Checks on a day's slice: enough traffic, few malformed rows, few duplicate requests."""

from __future__ import annotations

from monitoring_pipelines.core.catalog import critical_factor
from monitoring_pipelines.core.checks import CheckOutcome, single
from monitoring_pipelines.core.config import ChecksConfig, Severity
from monitoring_pipelines.core.ingest.cleaning import SliceQuality


def slice_checks(
    quality: SliceQuality, config: ChecksConfig, has_request_id: bool, rows_without_day: int = 0
) -> list[CheckOutcome]:
    """Volume, malformed-row and (with a request id) duplicate checks of one day.

    ``rows_without_day`` counts rows of the whole table whose timestamp no day can read; they
    belong to no partition, so they are named in the malformed-row check's summary (every day)
    without failing it.
    """
    rows = quality.rows_kept
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
        _share_check(
            "malformed_rows",
            quality.malformed_rows,
            quality,
            config.max_malformed_share,
            "malformed rows (unparseable timestamp or value)",
            rows_without_day,
        ),
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


def _share_check(
    name: str, count: int, quality: SliceQuality, limit: float, what: str, orphans: int = 0
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
    if orphans:
        summary += (
            f"; the table also has {orphans} row(s) with a null or non-ISO timestamp "
            "that no day reads"
        )
    return single(
        name,
        passed=passed,
        severity=Severity.CRITICAL if share > critical_factor(name) * limit else Severity.WARN,
        value=share,
        threshold=limit,
        summary=summary,
        metadata={"count": count, "share": share},
    )


def _related(check: str, reason: str) -> bool:
    if check == "duplicate_requests":
        return reason == "duplicate_request_id"
    return reason != "duplicate_request_id" and reason != "outside_day"
