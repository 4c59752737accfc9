"""A RAG support chatbot with weekly seasonality, written from scratch (not the demo's).

Weekdays carry about 3,000 answers, weekends 60 % of that with a different intent mix. Four
events are injected; :data:`EVENTS` says where, and the tests say what must be found when.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

START = dt.date(2026, 5, 4)  # a Monday
DAYS = 21
REFERENCE_DAYS = 14  # two whole weeks before START, weekends included
WEEKDAY_ANSWERS = 3000
WEEKEND_SHARE = 0.6

INTENTS = ("billing", "shipping", "returns", "account", "product")
WEEKDAY_MIX = (0.27, 0.25, 0.13, 0.22, 0.13)
WEEKEND_MIX = (0.10, 0.20, 0.30, 0.08, 0.32)
CHANNELS = ("web", "app")
SMALL, LARGE = "chat-small", "chat-large"
PRICES = {SMALL: (0.0004, 0.0016), LARGE: (0.0016, 0.0064)}  # USD per 1k in / out: 4x
BASE_UNFAITHFUL = 0.04


@dataclass(frozen=True)
class Event:
    """One injected change: what, on which 1-based days, and what drives it."""

    kind: str
    first_day: int
    last_day: int
    driver: str

    def dates(self) -> list[dt.date]:
        return [START + dt.timedelta(days=d - 1) for d in range(self.first_day, self.last_day + 1)]


EVENTS = (
    Event("cost", 6, DAYS, "returns"),  # the returns intent routed to the 4x pricier model
    Event("hallucination", 10, 14, "KB-shipping-2"),  # 45 % unfaithful on one article
    Event("latency", 15, 17, SMALL),  # the small model's p95 regresses
    Event("errors", 18, 18, "503"),  # a one-day burst of 503s
)
CLUSTER_UNFAITHFUL = 0.45

# One fact per article: the context states it, a faithful answer repeats it, an unfaithful
# answer changes its number or its name.
ARTICLE_FACTS = {
    "billing": [
        ("Invoices are emailed on the {n}th of each month.", (1, 5, 15, 28)),
        ("Late payments incur a fee of {n} dollars.", (5, 10, 15, 25)),
    ],
    "shipping": [
        ("Standard delivery takes {n} business days.", (2, 3, 5, 7)),
        ("Orders over {n} dollars ship for free.", (35, 50, 75, 100)),
        ("Express orders placed before {n} pm ship the same day.", (1, 2, 3, 4)),
    ],
    "returns": [
        ("Items can be returned within {n} days of delivery.", (14, 30, 60, 90)),
        ("Refunds reach the original payment method within {n} business days.", (3, 5, 7, 10)),
    ],
    "account": [
        ("Passwords must have at least {n} characters.", (8, 10, 12, 16)),
        ("Accounts are locked after {n} failed sign-in attempts.", (3, 5, 6, 10)),
    ],
    "product": [
        ("The warranty covers defects for {n} months.", (6, 12, 24, 36)),
        ("The battery lasts about {n} hours on a full charge.", (8, 10, 12, 20)),
    ],
}


def article_ids() -> list[str]:
    return [f"KB-{i}-{k + 1}" for i in INTENTS for k in range(len(ARTICLE_FACTS[i]))]


def interactions(start: dt.date, days: int, seed: int, events: bool) -> pd.DataFrame:
    """The interaction log of ``days`` days from ``start``; ``events`` injects :data:`EVENTS`
    (counted from :data:`START`)."""
    rng = np.random.default_rng(seed)
    frames = [_day(rng, start + dt.timedelta(days=i), events) for i in range(days)]
    frame = pd.concat(frames, ignore_index=True)
    frame.insert(0, "request_id", [f"r{seed}-{i:08d}" for i in range(len(frame))])
    return frame


def write_warehouse(url: str, seed: int = 7) -> None:
    """Write ``support_chat`` (the live days) and ``support_chat_reference`` into ``url``."""
    engine = sa.create_engine(url)
    try:
        reference_start = START - dt.timedelta(days=REFERENCE_DAYS)
        tables = {
            "support_chat": interactions(START, DAYS, seed, events=True),
            "support_chat_reference": interactions(
                reference_start, REFERENCE_DAYS, seed + 1, False
            ),
        }
        for name, frame in tables.items():
            frame.to_sql(name, engine, index=False, if_exists="replace", chunksize=5000)
    finally:
        engine.dispose()


def _event_on(kind: str, day: dt.date) -> Event | None:
    return next((e for e in EVENTS if e.kind == kind and day in e.dates()), None)


def _day(rng: np.random.Generator, day: dt.date, events: bool) -> pd.DataFrame:
    weekend = day.weekday() >= 5
    n = int(rng.poisson(WEEKDAY_ANSWERS * (WEEKEND_SHARE if weekend else 1.0)))
    mix = np.array(WEEKEND_MIX if weekend else WEEKDAY_MIX)
    intent = rng.choice(len(INTENTS), size=n, p=mix / mix.sum())
    fact_index = np.array([rng.integers(len(ARTICLE_FACTS[INTENTS[i]])) for i in intent])
    value_index = rng.integers(4, size=n)
    seconds = np.sort(rng.uniform(0, 86_400, n))
    ts = pd.Timestamp(day, tz="UTC") + pd.to_timedelta(seconds, unit="s")

    def active(kind: str) -> Event | None:
        return _event_on(kind, day) if events else None

    intents = np.array(INTENTS, dtype=object)[intent]
    pairs = zip(intent, fact_index, strict=True)
    articles = np.array([f"KB-{INTENTS[i]}-{k + 1}" for i, k in pairs], dtype=object)
    unfaithful_rate = np.full(n, BASE_UNFAITHFUL)
    if (cluster := active("hallucination")) is not None:
        unfaithful_rate[articles == cluster.driver] = CLUSTER_UNFAITHFUL
    unfaithful = rng.random(n) < unfaithful_rate
    questions, contexts, answers = _texts(intent, fact_index, value_index, unfaithful, rng)

    large = rng.random(n) < 0.10
    if (cost := active("cost")) is not None:
        large |= intents == cost.driver
    model = np.where(large, LARGE, SMALL).astype(object)
    prompt = np.round(rng.normal(900, 80, n) + 4 * np.char.str_len(contexts.astype(str))).astype(
        int
    )
    completion = np.round(rng.lognormal(np.log(180), 0.35, n)).astype(int)
    latency = rng.lognormal(np.log(np.where(large, 1800.0, 900.0)), 0.3)
    if (slow := active("latency")) is not None:
        tail = (model == slow.driver) & (rng.random(n) < 0.2)
        latency = np.where(tail, latency * 4.0, latency)
    status = np.where(rng.random(n) < 0.003, "500", "200").astype(object)
    if active("errors") is not None:
        status = np.where(rng.random(n) < 0.08, "503", status).astype(object)
    return pd.DataFrame(
        {
            "ts": ts,
            "channel": np.array(CHANNELS, dtype=object)[rng.integers(2, size=n)],
            "intent": intents,
            "kb_article": articles,
            "model": model,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "latency_ms": np.round(latency, 1),
            "status": status,
            "question": questions,
            "retrieved_context": contexts,
            "answer": answers,
        }
    )


def _texts(
    intent: np.ndarray,
    fact_index: np.ndarray,
    value_index: np.ndarray,
    unfaithful: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(intent)
    questions, contexts, answers = (np.empty(n, dtype=object) for _ in range(3))
    openers = ("According to our policy, ", "Good question! ", "", "Sure. ")
    for i in range(n):
        template, values = ARTICLE_FACTS[INTENTS[intent[i]]][fact_index[i]]
        true = values[value_index[i]]
        stated = true
        if unfaithful[i]:
            stated = values[(value_index[i] + 1 + int(rng.integers(3))) % 4]
        fact = template.format(n=true)
        contexts[i] = f"{fact} Contact support through the help centre for anything else."
        questions[i] = f"Hi, a question about {INTENTS[intent[i]]}: {template.split('{n}')[0]}?"
        answers[i] = openers[i % 4] + template.format(n=stated)
    return questions, contexts, answers


MONITORS_YAML = """
monitors:
  helpdesk:
    description: seasonal RAG support chatbot
    start_date: {start}
    source:
      table: support_chat
      timestamp_column: ts
      request_id_column: request_id
    reference:
      table: support_chat_reference
    features:
      numeric: [prompt_tokens]
      categorical: [intent, channel]
    service:
      latency_column: latency_ms
      status_column: status
      error_statuses: ["500", "503"]
      slo:
        latency_ms: 3500
        latency_percentile: 95
        error_rate: 0.02
    llm:
      model_column: model
      prompt_tokens_column: prompt_tokens
      completion_tokens_column: completion_tokens
      question_column: question
      answer_column: answer
      context_column: retrieved_context
      intent_column: intent
      article_column: kb_article
      prices:
        - {{model: {small}, input_per_1k: {small_in}, output_per_1k: {small_out}}}
        - {{model: {large}, input_per_1k: {large_in}, output_per_1k: {large_out}}}
      daily_budget_usd: {daily_budget}
      monthly_budget_usd: {monthly_budget}
      judge:
        backend: offline
        sample_rate: 0.05
        threshold: 0.7
"""


def monitors_yaml(daily_budget: float = 3.5, monthly_budget: float = 90.0) -> str:
    """The monitor file a user of this chatbot would write."""
    return MONITORS_YAML.format(
        start=START.isoformat(),
        small=SMALL,
        large=LARGE,
        small_in=PRICES[SMALL][0],
        small_out=PRICES[SMALL][1],
        large_in=PRICES[LARGE][0],
        large_out=PRICES[LARGE][1],
        daily_budget=daily_budget,
        monthly_budget=monthly_budget,
    )
