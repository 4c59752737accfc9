"""Service metrics of one day: exact latency percentiles, error rate, volume, SLO checks.

The day's requests are classified once (:func:`classify_requests`); a status that is not an HTTP
code is unknown and left out of the error rate, never read as "no errors".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from monitoring_pipelines.core.catalog import critical_factor
from monitoring_pipelines.core.checks import CheckOutcome, single
from monitoring_pipelines.core.config import ServiceConfig, Severity
from monitoring_pipelines.core.ingest.statuses import classify_status
from monitoring_pipelines.core.service.breakdown import sorted_percentiles
from monitoring_pipelines.core.service.slo import Sli, SloCounts
from monitoring_pipelines.core.wording import count

if TYPE_CHECKING:
    from monitoring_pipelines.core.service.drivers import ServiceDriver

STATUS_EXAMPLES = 5

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


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
        error_rate: errors / rows with a known status (None without a status column or rows).
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

    @property
    def status_rows(self) -> int:
        """Rows with a known status."""
        return self.requests - self.status_missing - self.status_unknown

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


@dataclass(frozen=True)
class Requests:
    """A day's requests classified once.

    Attributes:
        count: Rows of the day.
        latency_ms: Latency per row in milliseconds (NaN where missing), None without a column.
        usable_rows: Positions of the rows with a usable latency, in latency order.
        sorted_latency: Their latencies, ascending.
        is_error: Per row, an error status (None without a status column).
        known_status: Per row, a known status (None without a status column).
        status_missing: Rows without a status.
        unknown_examples: Up to five distinct unknown statuses, as text.
    """

    count: int
    latency_ms: FloatArray | None
    usable_rows: npt.NDArray[np.intp]
    sorted_latency: FloatArray
    is_error: BoolArray | None
    known_status: BoolArray | None
    status_missing: int = 0
    unknown_examples: tuple[str, ...] = ()

    @property
    def latency_missing(self) -> int:
        return 0 if self.latency_ms is None else int(np.isnan(self.latency_ms).sum())

    @property
    def latency_negative(self) -> int:
        return 0 if self.latency_ms is None else int((self.latency_ms < 0).sum())

    @property
    def status_unknown(self) -> int:
        if self.known_status is None:
            return 0
        return self.count - self.status_missing - int(self.known_status.sum())


def classify_requests(
    latency: FloatArray | None,
    status: npt.NDArray[np.object_] | None,
    config: ServiceConfig,
    requests: int,
) -> Requests:
    """Latency in milliseconds and the status class of every request of the day."""
    for name, values in (("latency", latency), ("status", status)):
        if values is not None and len(values) != requests:
            raise ValueError(f"{name} has {len(values)} values for a day of {requests} requests")
    latency_ms = None
    usable_rows = np.zeros(0, dtype=np.intp)
    if latency is not None:
        scale = 1000.0 if config.latency_unit == "s" else 1.0
        latency_ms = np.asarray(latency, dtype=np.float64) * scale
        latency_ms = np.where(np.isinf(latency_ms), np.nan, latency_ms)
        usable = np.flatnonzero(latency_ms >= 0)  # NaN compares False
        usable_rows = usable[np.argsort(latency_ms[usable])]
    sorted_latency = latency_ms[usable_rows] if latency_ms is not None else np.zeros(0)
    if status is None:
        return Requests(requests, latency_ms, usable_rows, sorted_latency, None, None)
    is_error, unknown, missing = classify_status(status, config.error_statuses)
    return Requests(
        count=requests,
        latency_ms=latency_ms,
        usable_rows=usable_rows,
        sorted_latency=sorted_latency,
        is_error=is_error,
        known_status=~(unknown | missing),
        status_missing=int(missing.sum()),
        unknown_examples=_examples(status, unknown),
    )


def compute_service_metrics(
    latency: FloatArray | None,
    status: npt.NDArray[np.object_] | None,
    config: ServiceConfig,
    requests: int,
) -> ServiceMetrics:
    """Metrics of one day from its latency and status columns (either may be absent)."""
    return day_metrics(classify_requests(latency, status, config, requests), config)


def day_metrics(req: Requests, config: ServiceConfig) -> ServiceMetrics:
    """The whole day's metrics from its classified requests."""
    p50 = p95 = p99 = slo_value = None
    n = len(req.sorted_latency)
    if n:
        pcts = (50.0, 95.0, 99.0, config.slo.latency_percentile)
        p50, p95, p99, slo_value = (
            float(sorted_percentiles(req.sorted_latency, np.zeros(1), np.array([n]), q)[0])
            for q in pcts
        )
    errors = status_rows = 0
    if req.is_error is not None and req.known_status is not None:
        errors = int(req.is_error.sum())
        status_rows = int(req.known_status.sum())
    return ServiceMetrics(
        requests=req.count,
        latency_rows=n,
        latency_missing=req.latency_missing,
        latency_negative=req.latency_negative,
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
        slo_percentile_ms=slo_value,
        errors=errors,
        status_missing=req.status_missing,
        status_unknown=req.status_unknown,
        error_rate=errors / status_rows if status_rows else None,
    )


def slo_counts(req: Requests, config: ServiceConfig) -> dict[Sli, SloCounts]:
    """The day's good and bad events of each objective configured (see core/service/slo.py)."""
    slo = config.slo
    counts: dict[Sli, SloCounts] = {}
    if slo.latency_ms is not None and req.latency_ms is not None:
        bad = int(np.searchsorted(req.sorted_latency, slo.latency_ms, side="right"))
        events = len(req.sorted_latency)
        counts[Sli.LATENCY] = SloCounts(events, events - bad, slo.latency_ms)
    if slo.error_rate is not None and req.is_error is not None and req.known_status is not None:
        counts[Sli.ERRORS] = SloCounts(int(req.known_status.sum()), int(req.is_error.sum()))
    return counts


def _examples(status: npt.NDArray[np.object_], mask: BoolArray) -> tuple[str, ...]:
    if not mask.any():
        return ()
    seen = pd.unique(pd.Series(status[mask], dtype=object).map(repr))
    return tuple(str(v)[:80] for v in seen[:STATUS_EXAMPLES])


def service_checks(
    metrics: ServiceMetrics,
    config: ServiceConfig,
    drivers: Mapping[str, ServiceDriver | None] | None = None,
) -> list[CheckOutcome]:
    """The latency SLO and error-rate checks the configuration asks for; their summaries name
    the rows left out (missing or negative latencies, missing or unknown statuses) and, for a
    failing check with a driver in ``drivers`` (by check name), what drove it."""
    drivers = drivers or {}
    outcomes = []
    slo = config.slo
    pct = f"p{slo.latency_percentile:g}"
    if slo.latency_ms is not None and config.latency_column:
        value = metrics.slo_percentile_ms
        excluded = _excluded(
            ("missing", metrics.latency_missing), ("negative", metrics.latency_negative)
        )
        outcomes.append(
            _slo_check(
                "latency_slo",
                value,
                slo.latency_ms,
                lambda ok: (
                    f"{pct} latency {value:.0f} ms {'<=' if ok else '>'} SLO "
                    f"{slo.latency_ms:g} ms ({count(metrics.latency_rows, 'request')}{excluded})"
                ),
                f"no usable latency in {metrics.requests} rows{excluded}",
                {f"{pct}_ms": value, "slo_ms": slo.latency_ms},
                drivers.get("latency_slo"),
                "; ",
            )
        )
    if slo.error_rate is not None and config.status_column:
        rate = metrics.error_rate
        excluded = _excluded(
            ("missing", metrics.status_missing), ("unknown", metrics.status_unknown)
        )
        outcomes.append(
            _slo_check(
                "error_rate",
                rate,
                slo.error_rate,
                lambda ok: (
                    f"error rate {rate:.2%} {'<=' if ok else '>'} SLO {slo.error_rate:.2%} "
                    f"({count(metrics.errors, 'error')} in "
                    f"{count(metrics.status_rows, 'request')}{excluded})"
                ),
                f"no known status in {metrics.requests} rows{excluded}",
                {"error_rate": rate, "slo_error_rate": slo.error_rate},
                drivers.get("error_rate"),
                ": ",
            )
        )
    return outcomes


def _excluded(*counts: tuple[str, int]) -> str:
    parts = [f"{n} {what}" for what, n in counts if n]
    return f"; left out: {', '.join(parts)}" if parts else ""


def _slo_check(
    name: str,
    value: float | None,
    threshold: float,
    describe: Callable[[bool], str],
    missing: str,
    metadata: Mapping[str, float | None],
    driver: ServiceDriver | None = None,
    joint: str = "; ",
) -> CheckOutcome:
    """Value within the SLO threshold; over the check's critical factor times it is critical;
    a failing value is named with its ``driver``, when one is known."""
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
    summary = describe(passed)
    values: dict[str, float | int | str] = {k: v for k, v in metadata.items() if v is not None}
    if driver is not None and not passed:
        summary += joint + driver.text
        values |= driver.metadata()
    return single(
        name,
        passed=passed,
        severity=Severity.CRITICAL if value > critical_factor(name) * threshold else Severity.WARN,
        value=value,
        threshold=threshold,
        summary=summary,
        metadata=values,
    )
