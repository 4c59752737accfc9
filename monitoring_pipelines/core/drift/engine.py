"""The drift engine: effect size per column from exact binned counts, significance from a
bounded sample, Benjamini-Hochberg across every column tested in the partition.

A column drifts when effect size, adjusted p-value and row count all pass; persistence across
partitions is the incident policy's (:mod:`monitoring_pipelines.core.alerting.policy`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from monitoring_pipelines.core.checks import CheckOutcome, Finding, grade
from monitoring_pipelines.core.config import DriftConfig, MonitorConfig, Severity
from monitoring_pipelines.core.drift.shift import Shift, shift_between
from monitoring_pipelines.core.profile.sketch import ColumnSketch, aligned, new_categories
from monitoring_pipelines.core.segments import base_column, segment_label
from monitoring_pipelines.core.stats import get_statistic
from monitoring_pipelines.core.stats.inference import benjamini_hochberg
from monitoring_pipelines.core.wording import count

Role = Literal["feature", "prediction", "segment"]
Verdict = Literal["ok", "warn", "critical", "insufficient_rows", "no_reference"]
SIGNIFICANCE_TEST = {"numeric": "ks", "categorical": "chi2"}


@dataclass(frozen=True)
class ColumnDrift:
    """Drift of one column in one partition (or window)."""

    column: str
    role: Role
    kind: str
    statistic: str
    score: float | None
    p_value: float | None
    p_adjusted: float | None
    p_value_rows: int | None
    rows: int
    reference_rows: int
    warn: float
    critical: float
    verdict: Verdict
    note: str | None = None
    new_categories: Mapping[str, int] = field(default_factory=dict)
    shift: Shift | None = None

    @property
    def drifted(self) -> bool:
        return self.verdict in ("warn", "critical")

    @property
    def threshold(self) -> float:
        """The threshold the verdict refers to: critical for a critical drift, else warn."""
        return self.critical if self.verdict == "critical" else self.warn

    @property
    def relative(self) -> float | None:
        """The score as a multiple of the warn threshold (1.0 is the threshold)."""
        if self.score is None or self.warn <= 0:
            return None
        return self.score / self.warn


def drift_roles(monitor: MonitorConfig) -> dict[str, Role]:
    """Columns tested for drift and their role: the features, then the prediction."""
    roles: dict[str, Role] = {c: "feature" for c in monitor.drifted_columns()}
    if monitor.prediction is not None:
        roles[monitor.prediction.column] = "prediction"
    return roles


def thresholds(config: DriftConfig, column: str, kind: str) -> tuple[str, float, float]:
    """Statistic, warn and critical threshold of a column: per column, else per type."""
    by_type = config.numeric if kind == "numeric" else config.categorical
    own = config.columns.get(column)
    statistic = (own.statistic if own else None) or by_type.statistic
    warn = (own.warn if own else None) or by_type.warn
    critical = (own.critical if own else None) or by_type.critical
    assert statistic is not None and warn is not None and critical is not None
    if own and own.statistic and own.statistic != by_type.statistic and not own.warn:
        raise ValueError(
            f"drift.columns.{column} changes the statistic to {own.statistic}: "
            "give its warn (and critical) thresholds too, the scales differ"
        )
    return statistic, warn, max(critical, warn)


def compute_drift(
    reference: Mapping[str, ColumnSketch],
    current: Mapping[str, ColumnSketch],
    roles: Mapping[str, Role],
    config: DriftConfig,
) -> list[ColumnDrift]:
    """Drift of every column in ``roles``, adjusted together."""
    raw: list[ColumnDrift] = []
    for column, role in roles.items():
        ref = reference.get(base_column(column))
        cur = current[column]
        statistic, warn, critical = thresholds(config, base_column(column), cur.kind)
        base = {
            "column": column,
            "role": role,
            "kind": cur.kind,
            "statistic": statistic,
            "rows": cur.n,
            "warn": warn,
            "critical": critical,
        }
        if ref is None or ref.n == 0:
            raw.append(
                _not_evaluated(
                    base, 0, "no_reference", "the reference has no values in this column"
                )
            )
            continue
        if cur.n < config.min_rows:
            note = f"{cur.n} rows with a value, fewer than drift.min_rows={config.min_rows}"
            raw.append(_not_evaluated(base, ref.n, "insufficient_rows", note))
            continue
        ref_dist, cur_dist = aligned(ref, cur)
        effect = get_statistic(statistic)(ref_dist, cur_dist)
        test = effect
        if effect.p_value is None:
            test = get_statistic(SIGNIFICANCE_TEST[cur.kind])(ref_dist, cur_dist)
        rows_tested = min(test.p_value_n) if test.p_value_n else None
        notes = [n for n in (effect.note, test.note) if n]
        fresh = new_categories(ref, cur) if cur.kind == "categorical" else {}
        if fresh:
            notes.append(f"{sum(fresh.values())} rows in categories the reference never had")
        raw.append(
            ColumnDrift(
                **base,  # type: ignore[arg-type]
                score=effect.score,
                p_value=test.p_value,
                p_adjusted=None,
                p_value_rows=rows_tested,
                reference_rows=ref.n,
                verdict="ok",
                note="; ".join(notes) or None,
                new_categories=fresh,
                shift=shift_between(ref, cur),
            )
        )
    return _adjust(raw, config.fdr)


def _not_evaluated(
    base: Mapping[str, object], reference_rows: int, verdict: Verdict, note: str
) -> ColumnDrift:
    return ColumnDrift(
        **base,  # type: ignore[arg-type]
        score=None,
        p_value=None,
        p_adjusted=None,
        p_value_rows=None,
        reference_rows=reference_rows,
        verdict=verdict,
        note=note,
    )


def _adjust(results: list[ColumnDrift], fdr: float) -> list[ColumnDrift]:
    tested = [i for i, r in enumerate(results) if r.score is not None and r.p_value is not None]
    adjusted = benjamini_hochberg([results[i].p_value for i in tested])  # type: ignore[misc]
    out = list(results)
    for i, p_adj in zip(tested, adjusted, strict=True):
        r = results[i]
        assert r.score is not None
        severity = grade(r.score, r.warn, r.critical)
        verdict: Verdict = "ok"
        if severity is not None and p_adj <= fdr:
            verdict = "critical" if severity is Severity.CRITICAL else "warn"
        out[i] = _with(r, p_adjusted=float(p_adj), verdict=verdict)
    return out


def _with(r: ColumnDrift, **changes: object) -> ColumnDrift:
    from dataclasses import replace

    return replace(r, **changes)  # type: ignore[arg-type]


def _reason(r: ColumnDrift, fdr: float) -> str:
    """Why the verdict is what it is, for a person reading the check or the alert."""
    assert r.score is not None
    p_adj = r.p_adjusted
    if p_adj is None:
        significance = "no p-value"
    elif p_adj <= fdr:
        significance = f"significant: adjusted p {p_adj:.2g} <= FDR {fdr:g}"
    else:
        significance = f"not significant: adjusted p {p_adj:.2g} > FDR {fdr:g}"
    rows = f"{r.rows} rows"
    if r.drifted:
        threshold = r.critical if r.verdict == "critical" else r.warn
        return f">= {r.verdict} threshold {threshold:g} ({significance}; {rows})"
    if r.score >= r.warn:
        return f">= warn threshold {r.warn:g} but {significance} ({rows})"
    return f"< warn threshold {r.warn:g} ({rows})"


def drift_check(
    name: str,
    results: Sequence[ColumnDrift],
    fdr: float,
    segments: Sequence[ColumnDrift] = (),
) -> CheckOutcome:
    """The check over some columns: one finding per column that could be tested.

    ``segments`` are the same columns' results within segments. When a column drifts, the
    segment where it drifts most is named in its finding and in the check's metadata; a
    segment that drifts while its column as a whole does not is a finding of its own
    (``column@segment=value``), so a change confined to one model version or tenant shows.
    """
    findings = []
    drifted_columns = {r.column for r in results if r.drifted}
    drivers: dict[str, str] = {}
    for r in results:
        if r.verdict in ("insufficient_rows", "no_reference"):
            continue
        summary = _finding_text(r, fdr)
        driver = _strongest_segment(r.column, segments)
        if r.drifted and driver is not None:
            assert driver.score is not None
            drivers[r.column] = f"{segment_label(driver.column)} ({driver.score:.3f})"
            summary += f"; strongest in {drivers[r.column]}"
        severity = Severity.CRITICAL if r.verdict == "critical" else Severity.WARN
        findings.append(Finding(r.column, not r.drifted, severity, r.score, r.threshold, summary))
    for seg in segments:
        if seg.score is None or base_column(seg.column) in drifted_columns:
            continue
        severity = Severity.CRITICAL if seg.verdict == "critical" else Severity.WARN
        findings.append(
            Finding(
                seg.column,
                not seg.drifted,
                severity,
                seg.score,
                seg.threshold,
                _finding_text(seg, fdr),
            )
        )
    skipped = [r for r in results if r.verdict in ("insufficient_rows", "no_reference")]
    failing = [f.subject for f in findings if not f.passed]
    if failing:
        summary = f"drift in {', '.join(failing)}"
    elif findings:
        summary = f"no drift in {count(len(results) - len(skipped), 'column')}"
        if segments:
            summary += f" and {count(sum(s.score is not None for s in segments), 'segment slice')}"
    else:
        summary = "not evaluated: " + "; ".join(f"{r.column}: {r.note}" for r in skipped)
    metadata: dict[str, float | int | str] = {
        "columns_tested": len(results) - len(skipped),
        "columns_drifted": len(drifted_columns),
        "columns_skipped": len(skipped),
        "segments_tested": sum(s.score is not None for s in segments),
        "segments_drifted": sum(s.drifted for s in segments),
    }
    if skipped:
        metadata["skipped"] = "; ".join(f"{r.column}: {r.note}" for r in skipped)
    if drivers:
        metadata["segment_drivers"] = "; ".join(f"{c}: {d}" for c, d in drivers.items())
    return CheckOutcome(name, tuple(findings), summary, metadata)


def _finding_text(r: ColumnDrift, fdr: float) -> str:
    """``utilization: mean 0.35 → 0.41 (+0.4 sd); wasserstein 0.405 >= critical threshold 0.2
    (...)``: what moved first, then the statistic and why it is (not) drift."""
    assert r.score is not None
    moved = f"{r.shift.describe()}; " if r.shift is not None else ""
    return f"{r.column}: {moved}{r.statistic} {r.score:.3f} " + _reason(r, fdr)


def _strongest_segment(column: str, segments: Sequence[ColumnDrift]) -> ColumnDrift | None:
    """The drifted slice of ``column`` that drifts most, among segments with more than one
    value tested (the only value of a segment is the whole column, not a driver of it)."""
    mine = [s for s in segments if base_column(s.column) == column and s.score is not None]
    values: dict[str, set[str]] = {}
    for s in mine:
        name, _, value = (segment_label(s.column) or "").partition("=")
        values.setdefault(name, set()).add(value)
    drifted = [
        s
        for s in mine
        if s.drifted and len(values[(segment_label(s.column) or "").partition("=")[0]]) > 1
    ]
    return max(drifted, key=lambda s: s.score or 0.0, default=None)
