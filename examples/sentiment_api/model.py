"""The sentiment model: VADER's lexicon and rules, offline, a few microseconds a text."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

Label = Literal["positive", "neutral", "negative"]
LABELS: tuple[Label, ...] = ("positive", "neutral", "negative")
# VADER's documented cut-offs on the compound score.
POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05


@dataclass(frozen=True)
class Prediction:
    """A label and the model's confidence in it (0.5 to 1)."""

    label: Label
    confidence: float


@cache
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def label_of(compound: float) -> Prediction:
    """The label of a compound score in [-1, 1].

    Positive and negative texts get 0.5 + |compound| / 2; a neutral text is surest at 0 and
    falls to 0.5 at the cut-offs.
    """
    if compound >= POSITIVE_AT:
        return Prediction("positive", round(0.5 + compound / 2, 4))
    if compound <= NEGATIVE_AT:
        return Prediction("negative", round(0.5 - compound / 2, 4))
    return Prediction("neutral", round(1 - abs(compound) / POSITIVE_AT / 2, 4))


def predict(text: str) -> Prediction:
    """The sentiment of one text."""
    return label_of(float(_analyzer().polarity_scores(text)["compound"]))
