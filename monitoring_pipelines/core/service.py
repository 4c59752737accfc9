"""Service metrics of one day: exact latency percentiles, error rate, volume, SLO checks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from monitoring_pipelines.core.checks import CheckOutcome, single
from monitoring_pipelines.core.config import ServiceConfig, Severity

# A day at more than this multiple of its SLO threshold is critical rather than a warning.
CRITICAL_FACTOR = 2.0


@dataclass(frozen=True)
class ServiceMetrics:
    """One day of an endpoint.

    Attributes:
        requests: Rows in the day's slice.
        latency_rows: Rows with a usable latency.
        latency_missing: Rows whose latency is null or was unparseable.
        latency_negative: Rows with a negative latency (excluded from percentiles).
        p50_ms: Median latency in milliseconds (None when no row has a latency).
        p95_ms: 95th percentile.
        p99_ms: 99th percentile.
        slo_percentile_ms: The percentile the SLO names, when one is configured.
        errors: Rows whose status counts as an error.
        status_missing: Rows without a status.
        status_unknown: Statuses that are neither known errors nor parseable HTTP codes.
        error_rate: errors / rows with a status (None without a status column or rows).
    """

    requests: int
    latency_rows: int
    latency_missing: int
    latency_negative: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    slo_percentile_ms: float | None
    errors: int
    status_missing: int
    status_unknown: int
    error_rate: float | None

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def compute_service_metrics(
    latency: npt.NDArray[np.float64] | None,
    status: npt.NDArray[np.object_] | None,
    config: ServiceConfig,
    requests: int,
) -> ServiceMetrics:
    """Metrics of one day from its latency and status columns (either may be absent)."""
    p50 = p95 = p99 = slo_value = None
    latency_rows = latency_missing = latency_negative = 0
    if latency is not None:
        scale = 1000.0 if config.latency_unit == "s" else 1.0
        values = latency * scale
        missing = np.isnan(values)
        negative = values < 0
        usable = values[~missing & ~negative]
        latency_missing = int(missing.sum())
        latency_negative = int(negative.sum())
        latency_rows = int(usable.size)
        if usable.size:
            pcts = [50.0, 95.0, 99.0, config.slo.latency_percentile]
            p50, p95, p99, slo_value = (float(v) for v in np.percentile(usable, pcts))
    errors = status_missing = status_unknown = 0
    error_rate = None
    if status is not None:
        is_error, unknown, missing_status = classify_status(status, config.error_statuses)
        errors = int(is_error.sum())
        status_unknown = int(unknown.sum())
        status_missing = int(missing_status.sum())
        with_status = int((~missing_status).sum())
        error_rate = errors / with_status if with_status else None
    return ServiceMetrics(
        requests=requests,
        latency_rows=latency_rows,
        latency_missing=latency_missing,
        latency_negative=latency_negative,
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
        slo_percentile_ms=slo_value,
        errors=errors,
        status_missing=status_missing,
        status_unknown=status_unknown,
        error_rate=error_rate,
    )


def classify_status(
    status: npt.NDArray[np.object_], error_statuses: list[str | int] | None
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(is_error, unknown, missing) masks. Without ``error_statuses``, HTTP 5xx are errors."""
    series = pd.Series(status, dtype=object)
    missing = series.isna().to_numpy()
    if error_statuses is not None:
        wanted = {str(s).strip().lower() for s in error_statuses}
        lowered = series.astype(str).str.strip().str.lower()
        return (lowered.isin(wanted).to_numpy() & ~missing), np.zeros_like(missing), missing
    codes = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    unknown = np.isnan(codes) & ~missing
    unknown |= ~np.isnan(codes) & ((codes < 100) | (codes > 599))
    return (codes >= 500) & (codes <= 599), unknown, missing


def service_checks(metrics: ServiceMetrics, config: ServiceConfig) -> list[CheckOutcome]:
    """The latency SLO and error-rate checks the configuration asks for."""
    outcomes = []
    slo = config.slo
    pct = f"p{slo.latency_percentile:g}"
    if slo.latency_ms is not None and config.latency_column:
        value = metrics.slo_percentile_ms
        outcomes.append(
            _slo_check(
                "latency_slo",
                value,
                slo.latency_ms,
                lambda ok: (
                    f"{pct} latency {value:.0f} ms {'<=' if ok else '>'} SLO "
                    f"{slo.latency_ms:g} ms ({metrics.latency_rows} requests)"
                ),
                f"no latency values in {metrics.requests} rows",
                {f"{pct}_ms": value, "slo_ms": slo.latency_ms},
            )
        )
    if slo.error_rate is not None and config.status_column:
        rate = metrics.error_rate
        outcomes.append(
            _slo_check(
                "error_rate",
                rate,
                slo.error_rate,
                lambda ok: (
                    f"error rate {rate:.2%} {'<=' if ok else '>'} SLO {slo.error_rate:.2%} "
                    f"({metrics.errors} errors in "
                    f"{metrics.requests - metrics.status_missing} requests)"
                ),
                f"no status values in {metrics.requests} rows",
                {"error_rate": rate, "slo_error_rate": slo.error_rate},
            )
        )
    return outcomes


def _slo_check(
    name: str,
    value: float | None,
    threshold: float,
    describe: Callable[[bool], str],
    missing: str,
    metadata: Mapping[str, float | None],
) -> CheckOutcome:
    """Value within the SLO threshold; more than CRITICAL_FACTOR times it is critical."""
    if value is None:
        return single(
            name,
            passed=True,
            severity=Severity.WARN,
            value=None,
            threshold=threshold,
            summary=f"not evaluated: {missing}",
        )
    passed = value <= threshold
    return single(
        name,
        passed=passed,
        severity=Severity.CRITICAL if value > CRITICAL_FACTOR * threshold else Severity.WARN,
        value=value,
        threshold=threshold,
        summary=describe(passed),
        metadata={k: v for k, v in metadata.items() if v is not None},
    )
