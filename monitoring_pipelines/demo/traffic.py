"""What every system's log shares: daily volume, timestamps, ids and a real log's small flaws."""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt
import pandas as pd

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

WEEKEND_FACTOR = 0.75
VOLUME_NOISE_SD = 0.025
NULL_LATENCY_RATE = 0.0005
DUPLICATE_RATE = 0.0002

# Relative traffic per UTC hour: quiet at night, busy from 08:00 to 20:00.
_HOURLY = np.array(
    [0.25, 0.20, 0.18, 0.18, 0.20, 0.30, 0.50, 0.80, 1.20, 1.50, 1.60, 1.65,
     1.70, 1.70, 1.65, 1.60, 1.55, 1.50, 1.40, 1.30, 1.00, 0.70, 0.45, 0.30]
)  # fmt: skip
HOURLY_PROFILE: FloatArray = _HOURLY / _HOURLY.sum()


def daily_counts(
    rng: np.random.Generator, start: dt.date, days: int, mean_per_day: float
) -> IntArray:
    """Rows per day with weekly seasonality and mild day-to-day noise.

    Weekdays and weekends are scaled so that the mean over a week is ``mean_per_day``.

    Args:
        rng: Random generator of the system.
        start: First day.
        days: Number of days.
        mean_per_day: Mean rows per day over a week.

    Returns:
        One non-negative count per day.
    """
    weekday = 7.0 / (5.0 + 2.0 * WEEKEND_FACTOR)
    weekdays = (np.arange(days) + start.weekday()) % 7
    factor = np.where(weekdays >= 5, weekday * WEEKEND_FACTOR, weekday)
    noise = rng.lognormal(0.0, VOLUME_NOISE_SD, size=days)
    return np.round(mean_per_day * factor * noise).astype(np.int64)


def day_seconds(rng: np.random.Generator, n: int) -> FloatArray:
    """Seconds into the day for ``n`` events following the diurnal profile."""
    hours = rng.choice(24, size=n, p=HOURLY_PROFILE)
    return hours * 3600.0 + rng.random(n) * 3600.0


def arrivals(
    rng: np.random.Generator, start: dt.date, days: int, mean_per_day: float
) -> tuple[IntArray, FloatArray]:
    """Day index and seconds into the day of every request, in time order.

    Args:
        rng: Random generator of the system.
        start: First day.
        days: Number of days.
        mean_per_day: Mean requests per day over a week.

    Returns:
        The day index and the seconds into the day of each request.
    """
    counts = daily_counts(rng, start, days, mean_per_day)
    day = np.repeat(np.arange(days), counts)
    seconds = day_seconds(rng, len(day))
    order = np.lexsort((seconds, day))
    return day[order], seconds[order]


def timestamps(start: dt.date, day: IntArray, seconds: FloatArray) -> npt.NDArray[np.datetime64]:
    """UTC timestamps (naive, millisecond precision) from day indices and seconds into the day."""
    millis = np.minimum(np.floor(seconds * 1000.0), 86_400_000 - 1).astype(np.int64)
    base = np.datetime64(start.isoformat(), "ms")
    stamps: npt.NDArray[np.datetime64] = base + (day * 86_400_000 + millis).astype(
        "timedelta64[ms]"
    )
    return stamps


def request_ids(prefix: str, n: int) -> list[str]:
    """``n`` unique ids such as ``sen-00000001``."""
    return [f"{prefix}-{i:08d}" for i in range(1, n + 1)]


def categorical(rng: np.random.Generator, probabilities: FloatArray, n: int) -> IntArray:
    """``n`` category indices drawn with the given probabilities."""
    return rng.choice(len(probabilities), size=n, p=probabilities).astype(np.int64)


def in_days(day: IntArray, first: int, last: int) -> BoolArray:
    """Which rows fall on days ``first`` to ``last`` inclusive."""
    return (day >= first) & (day <= last)


def lognormal(
    rng: np.random.Generator, median: float | FloatArray, p95: float | FloatArray, n: int
) -> FloatArray:
    """Lognormal draws given their median and 95th percentile."""
    sigma = np.log(np.asarray(p95) / np.asarray(median)) / 1.6448536269514722
    draws: FloatArray = np.asarray(median) * np.exp(sigma * rng.standard_normal(n))
    return draws


def add_log_flaws(rng: np.random.Generator, frame: pd.DataFrame, latency: str) -> pd.DataFrame:
    """Add what a real request log has at negligible rates: lost latencies and retried writes.

    Args:
        rng: Random generator of the system.
        frame: The log, one row per request, in timestamp order.
        latency: Name of the latency column, set to NULL on a few rows.

    Returns:
        A new frame where a few rows have no latency and a few rows appear twice, the copy
        right after the original with the same request id.
    """
    n = len(frame)
    out = frame.copy()
    lost = rng.random(n) < NULL_LATENCY_RATE
    out.loc[lost, latency] = np.nan
    retried = np.flatnonzero(rng.random(n) < DUPLICATE_RATE)
    order = np.sort(np.concatenate([np.arange(n), retried]), kind="stable")
    return out.iloc[order].reset_index(drop=True)
