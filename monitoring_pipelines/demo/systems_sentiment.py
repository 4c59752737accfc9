"""The sentiment classifier: its request log, its training set and its delayed labels.

Text features and predictions both follow each request's true sentiment, so a bad release
changes predictions without touching the inputs.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from monitoring_pipelines.demo import traffic
from monitoring_pipelines.demo.events import Schedule
from monitoring_pipelines.demo.traffic import BoolArray, FloatArray, IntArray

REQUESTS_PER_DAY = 2500
TRAINING_ROWS = 20_000
LABELLED_SHARE = 0.30

LABELS = np.array(["positive", "negative", "neutral"], dtype=object)
NEUTRAL = 2
# Predicted shares .45/.35/.20 at 88% accuracy with errors split evenly: p = .82 * prior + .06.
PREDICTED_SHARES = np.array([0.45, 0.35, 0.20])
ACCURACY = 0.88
TRUE_PRIOR = (PREDICTED_SHARES - (1 - ACCURACY) / 2) / (ACCURACY - (1 - ACCURACY) / 2)
# v3.2.0 answers "neutral" for this share of requests whatever the text: .20 + .80 * q = .45.
BAD_RELEASE_NEUTRAL = 0.25 / 0.80

CHANNELS = np.array(["web", "mobile", "email", "api"], dtype=object)
CHANNEL_MIX = np.array([0.45, 0.35, 0.15, 0.05])
CHANNEL_MIX_AFTER_SHIFT = np.array([0.30, 0.35, 0.10, 0.25])
LANGUAGES = np.array(["en", "es", "de", "fr"], dtype=object)
LANGUAGE_MIX = np.array([0.60, 0.18, 0.12, 0.10])
_CHARS_PER_WORD = np.array([5.6, 5.9, 6.6, 6.0])  # by language: German words run long

# Per true class (positive, negative, neutral).
_MEDIAN_WORDS = np.array([16.0, 24.0, 12.0])
_EXCLAMATIONS = np.array([0.5, 0.8, 0.1])
_UPPERCASE_BETA = np.array([[2.0, 38.0], [2.6, 34.0], [1.6, 40.0]])


def sentiment_tables(
    rng: np.random.Generator, start: dt.date, schedule: Schedule, scale: float
) -> dict[str, pd.DataFrame]:
    """Generate ``sentiment_requests``, ``sentiment_training`` and ``sentiment_labels``.

    Args:
        rng: Random generator of this system.
        start: Date of day 0.
        schedule: Where the incidents fall.
        scale: Volume multiplier (1.0 is about 2500 requests a day).

    Returns:
        The three tables by name.
    """
    day, seconds = traffic.arrivals(rng, start, schedule.days, REQUESTS_PER_DAY * scale)
    n = len(day)

    shifted = day >= schedule.channel_shift.first
    channel = np.where(
        shifted,
        traffic.categorical(rng, CHANNEL_MIX_AFTER_SHIFT, n),
        traffic.categorical(rng, CHANNEL_MIX, n),
    )
    truth, inputs = _inputs(rng, n)
    bad_release = traffic.in_days(day, schedule.neutral_spike.first, schedule.neutral_spike.last)
    predicted, confidence = _predict(rng, truth, bad_release)
    language = inputs.pop("language_code")
    ts = traffic.timestamps(start, day, seconds)
    ids = traffic.request_ids("sen", n)

    median_ms = 55.0 + 0.2 * inputs["text_length"]
    requests = pd.DataFrame(
        {
            "request_id": ids,
            "ts": ts,
            "model_version": np.where(bad_release, "v3.2.0", "v3.1.4").astype(object),
            "channel": CHANNELS[channel],
            "language": LANGUAGES[language],
            **inputs,
            "predicted_label": LABELS[predicted],
            "confidence": confidence,
            "latency_ms": np.round(traffic.lognormal(rng, median_ms, 1.85 * median_ms, n), 2),
            "http_status": _http_status(rng, day, schedule),
        }
    )

    labelled = np.flatnonzero(rng.random(n) < LABELLED_SHARE)
    delay = np.round(rng.uniform(1.0, 10.0, len(labelled)) * 86_400_000).astype(np.int64)
    labels = pd.DataFrame(
        {
            "request_id": [ids[i] for i in labelled],
            "true_label": LABELS[truth[labelled]],
            "labelled_at": ts[labelled] + delay.astype("timedelta64[ms]"),
        }
    )
    return {
        "sentiment_requests": traffic.add_log_flaws(rng, requests, "latency_ms"),
        "sentiment_training": _training(rng, max(1000, round(TRAINING_ROWS * scale))),
        "sentiment_labels": labels,
    }


def _training(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """The labelled training set, drawn like the live traffic before any incident."""
    truth, inputs = _inputs(rng, n)
    channel = traffic.categorical(rng, CHANNEL_MIX, n)
    predicted, confidence = _predict(rng, truth, np.zeros(n, dtype=bool))
    language = inputs.pop("language_code")
    return pd.DataFrame(
        {
            **inputs,
            "channel": CHANNELS[channel],
            "language": LANGUAGES[language],
            "predicted_label": LABELS[predicted],
            "confidence": confidence,
            "label": LABELS[truth],
        }
    )


def _inputs(rng: np.random.Generator, n: int) -> tuple[IntArray, dict[str, IntArray | FloatArray]]:
    """True classes and the text features that follow from them (and from the language)."""
    truth = traffic.categorical(rng, TRUE_PRIOR, n)
    language = traffic.categorical(rng, LANGUAGE_MIX, n)
    words = np.maximum(1, np.round(_MEDIAN_WORDS[truth] * rng.lognormal(0.0, 0.55, n)))
    chars_per_word = np.clip(_CHARS_PER_WORD[language] + rng.normal(0.0, 0.45, n), 3.5, 9.0)
    uppercase = rng.beta(_UPPERCASE_BETA[truth, 0], _UPPERCASE_BETA[truth, 1])
    return truth, {
        "language_code": language,
        "text_length": np.round(words * chars_per_word).astype(np.int64),
        "word_count": words.astype(np.int64),
        "exclamation_count": rng.poisson(_EXCLAMATIONS[truth]).astype(np.int64),
        "uppercase_ratio": np.round(uppercase, 4),
    }


def _predict(
    rng: np.random.Generator, truth: IntArray, bad_release: BoolArray
) -> tuple[IntArray, FloatArray]:
    """Predictions at 88% accuracy (errors split evenly), or v3.2.0's on ``bad_release`` rows."""
    n = len(truth)
    wrong = rng.random(n) >= ACCURACY
    predicted = np.where(wrong, (truth + rng.integers(1, 3, n)) % 3, truth)
    confidence = np.where(wrong, rng.beta(2.5, 2.5, n), rng.beta(6.0, 1.5, n))
    forced = bad_release & (rng.random(n) < BAD_RELEASE_NEUTRAL)
    predicted = np.where(forced, NEUTRAL, predicted)
    confidence = np.where(forced, rng.beta(2.0, 4.0, n), confidence)
    # Three classes: the top class's softmax probability is at least 1/3.
    return predicted, np.round(1 / 3 + 2 / 3 * confidence, 4)


def _http_status(rng: np.random.Generator, day: IntArray, schedule: Schedule) -> IntArray:
    """200 mostly; 0.6% 400 and 0.4% 422 (client errors); 0.1% 500; 6% 503 during the burst."""
    u = rng.random(len(day))
    status = np.select([u < 0.006, u < 0.010, u < 0.011], [400, 422, 500], default=200)
    burst = traffic.in_days(day, schedule.error_burst.first, schedule.error_burst.last)
    status = np.where(burst & (rng.random(len(day)) < 0.06), 503, status)
    return status.astype(np.int64)
