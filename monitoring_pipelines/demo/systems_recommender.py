"""The home-page recommender: its event log and its training set.

The score does not depend on the user's age, so the age drift moves one feature and nothing
downstream; release rank-2.4 (slower) is canaried before it serves every request.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from monitoring_pipelines.demo import traffic
from monitoring_pipelines.demo.events import Schedule, Window
from monitoring_pipelines.demo.traffic import FloatArray, IntArray

EVENTS_PER_DAY = 4000
TRAINING_ROWS = 20_000

AGE_MEAN, AGE_MEAN_AFTER_DRIFT, AGE_SD = 38.0, 30.0, 11.0
DEVICES = np.array(["ios", "android", "web"], dtype=object)
DEVICE_MIX = np.array([0.35, 0.40, 0.25])
REGIONS = np.array(["na", "eu", "apac", "latam"], dtype=object)
REGION_MIX = np.array([0.40, 0.30, 0.20, 0.10])
_DEVICE_EFFECT = np.array([0.10, 0.0, -0.15])
_REGION_EFFECT = np.array([0.05, 0.0, -0.05, 0.10])

LATENCY_MEDIAN_MS, LATENCY_P95_MS = 80.0, 150.0
REGRESSED_MEDIAN_MS, REGRESSED_P95_MS = 140.0, 300.0
TIMEOUT_MS = 1000.0
ERROR_RATE, TIMEOUT_RATE = 0.002, 0.001
CANARY_SHARE = 0.10  # of the requests on the canary days (events.CANARY_DAYS)


def recommender_tables(
    rng: np.random.Generator, start: dt.date, schedule: Schedule, scale: float
) -> dict[str, pd.DataFrame]:
    """Generate ``recommendation_events`` and ``recommendation_training``.

    Args:
        rng: Random generator of this system.
        start: Date of day 0.
        schedule: Where the incidents fall.
        scale: Volume multiplier (1.0 is about 4000 events a day).

    Returns:
        The two tables by name.
    """
    day, seconds = traffic.arrivals(rng, start, schedule.days, EVENTS_PER_DAY * scale)
    n = len(day)

    features, device, region = _features(rng, _age_mean(day, schedule))
    ids = traffic.request_ids("rec", n)
    canary = canary_window(schedule)
    # rank-2.4 (slower) serves the routed share of the canary days, then every request.
    rank_24 = (day >= schedule.latency_regression.first) | (
        traffic.in_days(day, canary.first, canary.last) & _canary_routed(ids)
    )
    latency = np.where(
        rank_24,
        traffic.lognormal(rng, REGRESSED_MEDIAN_MS, REGRESSED_P95_MS, n),
        traffic.lognormal(rng, LATENCY_MEDIAN_MS, LATENCY_P95_MS, n),
    )
    u = rng.random(n)
    status = np.select([u < ERROR_RATE, u < ERROR_RATE + TIMEOUT_RATE], ["error", "timeout"], "ok")
    latency = np.where(status == "timeout", TIMEOUT_MS + rng.uniform(0.0, 25.0, n), latency)
    events = pd.DataFrame(
        {
            "request_id": ids,
            "ts": traffic.timestamps(start, day, seconds),
            "model_version": np.where(rank_24, "rank-2.4", "rank-2.3").astype(object),
            **features,
            "score": _score(rng, features, device, region),
            "latency_ms": np.round(latency, 2),
            "status": status.astype(object),
        }
    )

    n_training = max(1000, round(TRAINING_ROWS * scale))
    features, device, region = _features(rng, np.full(n_training, AGE_MEAN))
    training = pd.DataFrame({**features, "score": _score(rng, features, device, region)})
    training["clicked"] = (rng.random(n_training) < training["score"]).astype(np.int64)
    return {
        "recommendation_events": traffic.add_log_flaws(rng, events, "latency_ms"),
        "recommendation_training": training,
    }


def canary_window(schedule: Schedule) -> Window:
    """The days rank-2.4 serves a share of the requests: the CANARY_DAYS before it serves all."""
    return schedule.canary


def _canary_routed(ids: list[str]) -> npt.NDArray[np.bool_]:
    """Which requests the router sends to the canary: a stable hash of the request id, as
    routers do, so no draw is taken from the system's random stream (every other column
    stays what it was without a canary)."""
    buckets = pd.util.hash_array(np.asarray(ids, dtype=object)) % np.uint64(1000)
    routed: npt.NDArray[np.bool_] = buckets < np.uint64(round(CANARY_SHARE * 1000))
    return routed


def _age_mean(day: IntArray, schedule: Schedule) -> FloatArray:
    """38 until the ramp starts, linear to 30 on ``age_ramp_end``, 30 afterwards."""
    first, last = schedule.age_drift.first, schedule.age_ramp_end
    progress = np.clip((day - first + 1) / (last - first + 1), 0.0, 1.0)
    return AGE_MEAN + (AGE_MEAN_AFTER_DRIFT - AGE_MEAN) * progress


def _features(
    rng: np.random.Generator, age_mean: FloatArray
) -> tuple[dict[str, npt.NDArray[Any]], IntArray, IntArray]:
    """The feature columns, plus the device and region codes the score needs."""
    n = len(age_mean)
    device = traffic.categorical(rng, DEVICE_MIX, n)
    region = traffic.categorical(rng, REGION_MIX, n)
    columns = {
        "user_age": np.round(np.clip(rng.normal(age_mean, AGE_SD), 16.0, 90.0), 1),
        "user_tenure_days": np.minimum(np.round(rng.lognormal(5.0, 1.1, n)), 3650).astype(np.int64),
        "item_popularity": np.round(rng.lognormal(3.0, 1.2, n), 3),
        "item_price": np.round(rng.lognormal(3.4, 0.8, n), 2),
        "session_length_s": np.round(rng.lognormal(5.3, 0.9, n), 1),
        "device": DEVICES[device],
        "region": REGIONS[region],
    }
    return columns, device, region


def _score(
    rng: np.random.Generator,
    features: dict[str, npt.NDArray[Any]],
    device: IntArray,
    region: IntArray,
) -> FloatArray:
    """Click probability from popularity, price, session length, tenure, device and region."""

    def standard(column: str, mu: float, sd: float) -> FloatArray:
        return (np.log1p(features[column].astype(np.float64)) - mu) / sd

    logit = (
        -2.7
        + 0.45 * standard("item_popularity", 3.0, 1.2)
        - 0.30 * standard("item_price", 3.4, 0.8)
        + 0.20 * standard("session_length_s", 5.3, 0.9)
        + 0.10 * standard("user_tenure_days", 5.0, 1.1)
        + _DEVICE_EFFECT[device]
        + _REGION_EFFECT[region]
        + rng.normal(0.0, 0.4, len(device))
    )
    score: FloatArray = np.round(1.0 / (1.0 + np.exp(-logit)), 5)
    return score
