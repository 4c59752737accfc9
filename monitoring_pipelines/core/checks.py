"""Check outcomes: what a check concluded, per subject, in plain values.

Assets turn a :class:`CheckOutcome` into a Dagster asset-check result; the alerting path reads
the findings back from the evaluation's metadata, so both sides share this shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitoring_pipelines.core.catalog import WHOLE as WHOLE  # findings name it from here
from monitoring_pipelines.core.config import Severity
from monitoring_pipelines.core.dimensions import fit_key


@dataclass(frozen=True)
class Finding:
    """One subject's verdict inside a check (a feature, a segment, or the whole partition).

    Attributes:
        subject: What the finding is about; ``""`` for the whole partition. A data-derived
            subject longer than the store's keys is shortened with a hash
            (:func:`~.dimensions.fit_key`), so incidents and results find each other.
        passed: False when the subject breaks its threshold.
        severity: How bad a failure is.
        value: The measured number (None when it could not be measured).
        threshold: The threshold it was compared with.
        summary: One line a person reads in an alert.
    """

    subject: str
    passed: bool
    severity: Severity
    value: float | None
    threshold: float | None
    summary: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "subject", fit_key(self.subject))

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "passed": self.passed,
            "severity": self.severity.value,
            "value": self.value,
            "threshold": self.threshold,
            "summary": self.summary,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        return cls(
            subject=str(data.get("subject") or WHOLE),
            passed=bool(data["passed"]),
            severity=Severity(data.get("severity", "warn")),
            value=_opt_float(data.get("value")),
            threshold=_opt_float(data.get("threshold")),
            summary=str(data.get("summary", "")),
        )


@dataclass(frozen=True)
class CheckOutcome:
    """A check's verdict on one partition.

    Attributes:
        name: Check name (``feature_drift``, ``latency_slo``...).
        findings: One per subject evaluated; empty when nothing could be evaluated.
        summary: One line for the Dagster UI.
        metadata: Numbers and text attached to the evaluation (plotted per partition).
    """

    name: str
    findings: tuple[Finding, ...]
    summary: str
    metadata: Mapping[str, float | int | str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(f.passed for f in self.findings)

    @property
    def severity(self) -> Severity:
        failing = [f.severity for f in self.findings if not f.passed]
        return Severity.CRITICAL if Severity.CRITICAL in failing else Severity.WARN

    @property
    def failing(self) -> list[Finding]:
        return [f for f in self.findings if not f.passed]


def single(
    name: str,
    *,
    passed: bool,
    severity: Severity,
    value: float | None,
    threshold: float | None,
    summary: str,
    metadata: Mapping[str, float | int | str] | None = None,
) -> CheckOutcome:
    """An outcome with one finding about the whole partition."""
    finding = Finding(WHOLE, passed, severity, value, threshold, summary)
    return CheckOutcome(name, (finding,), summary, dict(metadata or {}))


def grade(value: float, warn: float, critical: float | None) -> Severity | None:
    """The severity a value reaches against warn/critical thresholds (None when below warn)."""
    if critical is not None and value >= critical:
        return Severity.CRITICAL
    if value >= warn:
        return Severity.WARN
    return None


def findings_from(items: Sequence[Mapping[str, Any]]) -> tuple[Finding, ...]:
    return tuple(Finding.from_dict(item) for item in items)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)
