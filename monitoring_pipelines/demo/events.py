"""The incidents the demo injects: when each happens and how the ground truth describes it."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

MIN_DAYS = 20


@dataclass(frozen=True)
class DemoEvent:
    """One injected incident as the ground truth records it (days inclusive)."""

    id: str
    monitor: str
    checks: tuple[str, ...]
    subject: str | None
    kind: str
    first_day: dt.date
    last_day: dt.date
    description: str
    intent: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The event as a JSON object with ISO dates; ``intent`` only when set."""
        data: dict[str, Any] = {
            "id": self.id,
            "monitor": self.monitor,
            "checks": list(self.checks),
            "subject": self.subject,
            "kind": self.kind,
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
            "description": self.description,
        }
        if self.intent is not None:
            data["intent"] = self.intent
        return data


CANARY_DAYS = 3  # rank-2.4 takes a share of the traffic for these days before its rollout


@dataclass(frozen=True)
class Window:
    """Day indices ``first`` to ``last`` inclusive, counted from the start day."""

    first: int
    last: int


@dataclass(frozen=True)
class Schedule:
    """Where each incident falls in a run of ``days`` days.

    Attributes:
        days: Length of the run.
        age_drift: From the start of the user-age ramp to the end of the run.
        age_ramp_end: Day on which the user-age mean reaches its new level.
        channel_shift: The sentiment channel mix has changed.
        neutral_spike: Sentiment model v3.2.0 is serving.
        canary: Recommender rank-2.4 serves a share of the requests before its rollout.
        latency_regression: Recommender rank-2.4 is serving.
        error_burst: The sentiment endpoint answers some requests with 503.
        token_spike: The chatbot's prompt template is the bloated one.
        kb_hallucination: Answers grounded on KB-204 state facts it does not contain.
    """

    days: int
    age_drift: Window
    age_ramp_end: int
    channel_shift: Window
    neutral_spike: Window
    canary: Window
    latency_regression: Window
    error_burst: Window
    token_spike: Window
    kb_hallucination: Window


def build_schedule(days: int) -> Schedule:
    """Place every incident at its fixed fraction of the run.

    Positions are rounded to whole days; every window lasts at least two days and ends by the
    last day, so all incidents fit from ``MIN_DAYS`` days on.

    Args:
        days: Length of the run, at least ``MIN_DAYS``.

    Returns:
        The schedule.

    Raises:
        ValueError: If ``days`` is shorter than ``MIN_DAYS``.
    """
    if days < MIN_DAYS:
        raise ValueError(f"days={days} is too short: the demo's incidents need >= {MIN_DAYS} days")

    def at(fraction: float) -> int:
        return math.floor(fraction * days + 0.5)

    def window(first: int, last: int) -> Window:
        return Window(first, min(days - 1, max(last, first + 1)))

    end = days - 1
    spike = at(0.3)
    rollout = at(0.55)
    return Schedule(
        days=days,
        age_drift=window(at(0.25), end),
        age_ramp_end=at(0.5),
        channel_shift=window(at(0.4), end),
        neutral_spike=window(at(0.6), at(0.7)),
        canary=Window(rollout - CANARY_DAYS, rollout - 1),
        latency_regression=window(rollout, end),
        error_burst=window(at(0.8), at(0.8) + 1),
        token_spike=window(spike, spike + (5 if days >= 30 else 3) - 1),
        kb_hallucination=window(at(0.65), at(0.8)),
    )


def describe_events(schedule: Schedule, start: dt.date) -> tuple[DemoEvent, ...]:
    """The ground-truth records of the scheduled incidents.

    Args:
        schedule: Where the incidents fall.
        start: Date of day 0.

    Returns:
        One event per incident, in a fixed order.
    """

    def day(index: int) -> dt.date:
        return start + dt.timedelta(days=index)

    def event(window: Window, **fields: Any) -> DemoEvent:
        return DemoEvent(first_day=day(window.first), last_day=day(window.last), **fields)

    s = schedule
    return (
        event(s.age_drift, id="gradual-age-drift", monitor="recommender", checks=("feature_drift",),
              subject="user_age", kind="gradual numeric drift",
              description="A campaign brings younger users: the mean user_age ramps linearly "
              f"from 38 to 30 until {day(s.age_ramp_end).isoformat()}, then stays at 30."),
        event(s.channel_shift, id="channel-shift", monitor="sentiment", checks=("feature_drift",),
              subject="channel", kind="abrupt categorical shift",
              description="A partner API integration goes live: the channel mix moves from "
              "web/mobile/email/api .45/.35/.15/.05 to .30/.35/.10/.25."),
        event(s.neutral_spike, id="neutral-spike", monitor="sentiment",
              checks=("prediction_drift", "performance"), subject="predicted_label",
              kind="prediction shift",
              description="Bad release v3.2.0 predicts 'neutral' for about 45% of requests "
              "with lower confidence; inputs are unchanged, and once its labels arrive "
              "accuracy shows a drop from about 0.88 to about 0.66."),
        event(s.latency_regression, id="latency-regression", monitor="recommender",
              checks=("latency_slo", "error_budget", "anomaly"), subject=None,
              kind="latency regression",
              description="rank-2.4 adds a feature-store lookup: median latency about 140 ms, "
              "p95 about 300 ms against an SLO of 200 ms."),
        event(s.canary, id="canary-latency", monitor="recommender", checks=("canary",),
              subject=None, kind="canary regression",
              description="rank-2.4 is canaried on about 10% of requests for the 3 days before "
              "its full rollout: its p95 latency is about 300 ms against rank-2.3's 150 ms, "
              "while the day's p95 stays under the 200 ms SLO."),
        event(s.error_burst, id="error-burst", monitor="sentiment",
              checks=("error_rate", "error_budget", "anomaly"), subject=None, kind="error burst",
              description="An overloaded upstream makes the endpoint answer about 6% of "
              "requests with HTTP 503."),
        event(s.token_spike, id="token-spike", monitor="support_bot",
              checks=("cost_budget", "monthly_budget", "anomaly"), subject=None,
              kind="token/cost spike",
              description="A prompt-template change multiplies prompt tokens by 2.2 and, by "
              "putting the retrieved passages first, defeats prompt caching until it is "
              "reverted; the daily cost exceeds the $4 budget."),
        event(s.kb_hallucination, id="kb-hallucination", monitor="support_bot",
              checks=("hallucination_rate",), subject="article=KB-204", intent="billing",
              kind="unsupported answers tied to one KB article",
              description="Billing article KB-204 is outdated: about 60% of the answers "
              "grounded on it state fees and terms it does not contain (baseline 5%)."),
    )  # fmt: skip
