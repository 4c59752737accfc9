"""The ``data_quality`` check and the numbers stored per partition, from a day's report.

A failing expectation is a warning; it is critical when its unexpected share reaches the
check's critical factor (its catalog entry) times the allowed share, when a type is wrong, or
when the day has no rows.
"""

from __future__ import annotations

from monitoring_pipelines.core.catalog import critical_factor
from monitoring_pipelines.core.checks import CheckOutcome, Finding
from monitoring_pipelines.core.config import Severity
from monitoring_pipelines.core.dimensions import dimensions
from monitoring_pipelines.core.quality.results import ExpectationResult, QualityReport
from monitoring_pipelines.core.quality.suite import TABLE


def quality_check(report: QualityReport) -> CheckOutcome:
    """The ``data_quality`` check: one finding per expectation (subject ``<column>:<kind>``),
    failing ones first, so an incident opened by a failing expectation resolves when it
    passes again."""
    findings = [_finding(r) for r in report.results]
    findings.sort(key=lambda f: f.passed)
    failed = [f.subject for f in findings if not f.passed]
    if failed:
        summary = f"{len(failed)} of {len(findings)} expectations failed: {', '.join(failed)}"
    else:
        summary = f"all {len(findings)} expectations met on {report.rows} rows"
    if report.day_rows is not None:
        summary += f" (a uniform sample of the day's {report.day_rows} rows)"
    metadata: dict[str, float | int | str] = {
        "expectations_evaluated": len(findings),
        "expectations_failed": len(failed),
        "rows": report.rows,
    }
    if report.day_rows is not None:
        metadata["sampled_from_rows"] = report.day_rows
    if report.notes:
        metadata["not_checked"] = "; ".join(report.notes)
    return CheckOutcome("data_quality", tuple(findings), summary, metadata)


def _finding(r: ExpectationResult) -> Finding:
    if r.error is not None:
        summary = f"{r.name}: could not be evaluated ({r.error[:200]}); expected {r.expected}"
        return Finding(r.name, False, Severity.WARN, None, r.allowed_share, summary)
    if r.kind == "row_count":
        rows = int(r.observed or 0)
        severity = Severity.CRITICAL if rows == 0 else Severity.WARN
        verdict = "as expected" if r.success else "outside the band"
        summary = f"{rows} rows, {verdict} ({r.expected})"
        return Finding(r.name, r.success, severity, float(rows), None, summary)
    if r.unexpected_share is None and r.unexpected_count is None:  # dtype verdict
        verdict = "ok" if r.success else f"expected {r.expected}"
        summary = f"{r.name}: dtype {r.observed} ({verdict})"
        return Finding(r.name, r.success, Severity.CRITICAL, None, 0.0, summary)
    share = r.unexpected_share or 0.0
    allowed = r.allowed_share or 0.0
    if r.kind == "type":
        severity = Severity.CRITICAL
    else:
        critical = share >= min(1.0, critical_factor("data_quality") * allowed) and share > allowed
        severity = Severity.CRITICAL if critical else Severity.WARN
    what = {
        "type": "values of another type",
        "nulls": "nulls",
        "range": "values out of range",
        "categories": "unseen categories",
    }[r.kind]
    summary = (
        f"{r.name}: {r.unexpected_count} {what} of {r.considered} ({share:.2%}; "
        f"{'<=' if r.success else '>'} {allowed:.2%}); expected {r.expected}"
    )
    if r.examples and not r.success:
        summary += f"; e.g. {', '.join(r.examples)}"
    return Finding(r.name, r.success, severity, share, allowed, summary)


def quality_values(report: QualityReport) -> dict[str, float | int | None]:
    """The numbers to plot per partition: counts, time, and per column the null share and the
    largest unexpected share among its type, range and category expectations."""
    values: dict[str, float | int | None] = {
        "expectations_evaluated": len(report.results),
        "expectations_failed": len(report.failed),
        "rows_validated": report.rows,
        "batches": report.batches,
        "validation_seconds": report.seconds,
    }
    for r in report.results:
        if r.column is None or r.unexpected_share is None:
            continue
        if r.kind == "nulls":
            values[f"null_share/{r.column}"] = r.unexpected_share
        else:
            key = f"unexpected_share/{r.column}"
            current = values.get(key)
            values[key] = max(r.unexpected_share, float(current or 0.0))
    return values


def quality_metrics(report: QualityReport) -> dict[tuple[str, str], float | None]:
    """The result store's rows: the totals, and per expectation its unexpected count and share
    (dimensions ``column`` and ``expectation``)."""
    rows: dict[tuple[str, str], float | None] = {
        ("expectations_evaluated", ""): float(len(report.results)),
        ("expectations_failed", ""): float(len(report.failed)),
        ("rows_validated", ""): float(report.rows),
        ("validation_seconds", ""): report.seconds,
    }
    for r in report.results:
        dims = dimensions(column=r.column or TABLE, expectation=r.kind)
        rows[("passed", dims)] = 1.0 if r.success else 0.0
        if r.unexpected_count is not None:
            rows[("unexpected_count", dims)] = float(r.unexpected_count)
            rows[("unexpected_share", dims)] = r.unexpected_share
    return rows
