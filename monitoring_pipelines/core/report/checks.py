"""The day's checks as the report counts them: one per Dagster check the monitor's daily
assets declare (as the Dagster UI lists them), each failed, passed or not evaluated that day;
findings of the alerting pass's own checks (``run_failure``) are listed but not counted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

MAX_FINDINGS = 5  # failing subjects listed per check
SEVERITY_ORDER = {"critical": 0, "warn": 1, "fail": 2, "ok": 3}


@dataclass(frozen=True)
class CheckRow:
    """One finding of one check for the day, as the alerting path recorded it."""

    check: str
    subject: str
    passed: bool
    severity: str
    summary: str


@dataclass(frozen=True)
class CheckSummary:
    """A check and its failing subjects (none when it passed); before alerting ran, a stored
    result over its threshold."""

    name: str
    severity: str
    details: tuple[str, ...]


@dataclass(frozen=True)
class CheckTally:
    """The day's checks.

    Attributes:
        total: The checks counted: the Dagster checks of the monitor's daily assets when
            known, else the checks with a recorded result.
        failed: Counted checks that failed, worst first.
        passed: Counted checks that passed.
        not_evaluated: Counted checks without a result for the day.
        other_failed: Failed checks that are not Dagster checks (listed, not counted).
    """

    total: int
    failed: tuple[CheckSummary, ...]
    passed: tuple[str, ...]
    not_evaluated: tuple[str, ...]
    other_failed: tuple[CheckSummary, ...] = ()

    def headline(self, day: date) -> str:
        tail = f"; {len(self.not_evaluated)} not evaluated" if self.not_evaluated else ""
        if self.other_failed:
            tail += f"; also failed: {', '.join(s.name for s in self.other_failed)}"
        noun = "check" if self.total == 1 else "checks"
        if self.failed:
            return f"{len(self.failed)} of {self.total} {noun} failed on {day}{tail}"
        if not self.not_evaluated:
            return f"all {self.total} {noun} passed on {day}{tail}"
        return f"{len(self.passed)} of {self.total} {noun} passed on {day}{tail}"


def tally(rows: Sequence[CheckRow], specs: Sequence[str] | None = None) -> CheckTally:
    """The checks of the day from their recorded findings.

    Args:
        rows: The day's recorded findings.
        specs: The names of the Dagster checks of the monitor's daily assets; None to count
            the checks with a recorded result.
    """
    statuses = check_statuses(rows)
    counted = set(specs) if specs is not None else {s.name for s in statuses}
    recorded = {s.name for s in statuses}
    return CheckTally(
        total=len(counted),
        failed=tuple(s for s in statuses if s.details and s.name in counted),
        passed=tuple(s.name for s in statuses if not s.details and s.name in counted),
        not_evaluated=tuple(sorted(counted - recorded)),
        other_failed=tuple(s for s in statuses if s.details and s.name not in counted),
    )


def check_statuses(rows: Sequence[CheckRow]) -> list[CheckSummary]:
    """One entry per check (no details when it passed), failed ones first."""
    by_check: dict[str, list[CheckRow]] = {}
    for row in rows:
        by_check.setdefault(row.check, []).append(row)
    out = []
    for check, found in by_check.items():
        failing = sorted(
            (r for r in found if not r.passed), key=lambda r: SEVERITY_ORDER.get(r.severity, 2)
        )
        severity = failing[0].severity if failing else "ok"
        details = [_detail(r) for r in failing]
        if len(details) > MAX_FINDINGS:
            details = [*details[:MAX_FINDINGS], f"and {len(details) - MAX_FINDINGS} more"]
        out.append(CheckSummary(check, severity, tuple(details)))
    return sorted(out, key=lambda f: (SEVERITY_ORDER.get(f.severity, 2), f.name))


def _detail(r: CheckRow) -> str:
    """The finding's summary, led by its subject unless the summary already names it."""
    return r.summary if r.summary.startswith(r.subject) else f"{r.subject}: {r.summary}"
