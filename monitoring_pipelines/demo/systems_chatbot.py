"""The RAG support chatbot: its interaction log and a week of baseline traffic before it.

Sessions of a few questions, each answered from one retrieved article of its intent; prompt
tokens follow the context and the conversation, latency mostly the completion tokens.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt
import pandas as pd

from monitoring_pipelines.demo import texts, traffic
from monitoring_pipelines.demo.events import Schedule, Window
from monitoring_pipelines.demo.traffic import FloatArray, IntArray

INTERACTIONS_PER_DAY = 1200
BASELINE_DAYS = 7
MEAN_TURNS = 1.5  # questions per session, geometrically distributed
TURN_GAP_MEAN_S = 75.0

CHANNELS = np.array(["web", "app", "email"], dtype=object)
CHANNEL_MIX = np.array([0.55, 0.35, 0.10])
INTENT_MIX = np.array([0.28, 0.25, 0.18, 0.17, 0.12])  # in the order of texts.INTENTS
MODELS = np.array(["gpt-4o-mini", "gpt-4o"], dtype=object)
LARGE_MODEL_SHARE = 0.33

# System prompt and few-shot examples; each retrieved passage adds its whole chunk (the stored
# context keeps one sentence of it); every earlier turn of the session is replayed.
PROMPT_OVERHEAD_TOKENS, PROMPT_OVERHEAD_SD = 1380.0, 70.0
TOKENS_PER_PASSAGE = 150.0
TOKENS_PER_QUESTION_WORD = 1.3
TOKENS_PER_EARLIER_TURN = 110.0
TOKEN_SPIKE_FACTOR = 2.2
# Prompt caching as OpenAI bills it: a prompt whose beginning matches a recent request's has
# that prefix cached, counted from 1024 tokens on in steps of 128. The cacheable prefix is the
# system prompt (the few-shot examples after it are chosen per question). The cache is cold for
# some requests (idle minutes, another server). The token spike's bloated template starts with
# the retrieved passages, so while it serves no prompt shares a prefix and nothing is cached.
SYSTEM_PROMPT_TOKENS = 1100.0
CACHE_MIN_TOKENS, CACHE_STEP_TOKENS = 1024, 128
CACHE_HIT_RATE = 0.85
COMPLETION_MEAN_TOKENS, COMPLETION_SIGMA = 250.0, 0.35
MS_PER_PROMPT_TOKEN = 0.02
MS_PER_COMPLETION_TOKEN = np.array([7.0, 11.0])  # by model
FIRST_TOKEN_MEDIAN_MS = 350.0
TIMEOUT_MS = 30_000.0
ERROR_RATE, TIMEOUT_RATE = 0.003, 0.002

UNSUPPORTED_RATE = 0.05
OUTDATED_ARTICLE = "KB-204"
OUTDATED_UNSUPPORTED_RATE = 0.60
# Support tickets: a few per hundred conversations, and some users whose answer was not
# supported by the knowledge base open one the next day.
TICKETS_PER_INTERACTION = 0.02
TICKETS_PER_UNSUPPORTED_ANSWER = 0.35


def chatbot_tables(
    rng: np.random.Generator,
    baseline_rng: np.random.Generator,
    start: dt.date,
    schedule: Schedule,
    scale: float,
) -> dict[str, pd.DataFrame]:
    """Generate ``chatbot_interactions``, ``chatbot_baseline`` (the week before ``start``) and
    ``support_tickets`` (tickets opened per day, the business KPI).

    Args:
        rng: Random generator of the live log.
        baseline_rng: Random generator of the baseline week.
        start: Date of day 0.
        schedule: Where the incidents fall.
        scale: Volume multiplier (1.0 is about 1200 interactions a day).

    Returns:
        The three tables by name.
    """
    live = _interactions(
        rng, start, schedule.days, scale, schedule.token_spike, schedule.kb_hallucination, "bot"
    )
    baseline_start = start - dt.timedelta(days=BASELINE_DAYS)
    baseline = _interactions(baseline_rng, baseline_start, BASELINE_DAYS, scale, None, None, "botb")
    # Its own stream, drawn after the log: the tickets change no draw of the interactions.
    tickets = _support_tickets(rng.spawn(1)[0], live, start, schedule.days)
    return {
        "chatbot_interactions": traffic.add_log_flaws(rng, live, "latency_ms"),
        "chatbot_baseline": baseline,
        "support_tickets": tickets,
    }


def _support_tickets(
    rng: np.random.Generator, live: pd.DataFrame, start: dt.date, days: int
) -> pd.DataFrame:
    """Tickets opened per day: Poisson around a share of the day's conversations plus a share
    of the previous day's unsupported answers."""
    stamps = pd.to_datetime(live["ts"], utc=True)
    origin = pd.Timestamp(start, tz="UTC")
    day = ((stamps - origin) // pd.Timedelta(days=1)).to_numpy(dtype=np.int64)
    unsupported = live["answer"].isin(set(_text_bank().unsupported.texts.tolist()))
    conversations = np.bincount(day, minlength=days)[:days]
    wrong = np.bincount(day, weights=unsupported.to_numpy(dtype=float), minlength=days)[:days]
    previous = np.concatenate([[wrong[0]], wrong[:-1]])
    mean = TICKETS_PER_INTERACTION * conversations + TICKETS_PER_UNSUPPORTED_ANSWER * previous
    return pd.DataFrame(
        {
            "day": [(start + dt.timedelta(days=i)).isoformat() for i in range(days)],
            "tickets": rng.poisson(mean).astype(np.int64),
        }
    )


def _interactions(
    rng: np.random.Generator,
    start: dt.date,
    days: int,
    scale: float,
    token_spike: Window | None,
    outdated: Window | None,
    prefix: str,
) -> pd.DataFrame:
    """One log of interactions; ``None`` windows leave that incident out (the baseline)."""
    # Its own stream: the cache adds a column without changing any other draw of ``rng``.
    cache_rng = rng.spawn(1)[0]
    counts = traffic.daily_counts(rng, start, days, INTERACTIONS_PER_DAY * scale)
    session, turn, day, seconds = _sessions(rng, counts)
    n = len(day)
    n_sessions = int(session.max()) + 1 if n else 0
    intent = traffic.categorical(rng, INTENT_MIX, n_sessions)[session]
    channel = traffic.categorical(rng, CHANNEL_MIX, n_sessions)[session]
    # The gateway splits traffic between the models by weighted round robin.
    position = np.arange(n)
    model = np.floor((position + 1) * LARGE_MODEL_SHARE) > np.floor(position * LARGE_MODEL_SHARE)
    model = model.astype(np.int64)

    bank = _text_bank()
    article = np.zeros(n, dtype=np.int64)
    for i, (articles, weights) in enumerate(bank.articles_by_intent):
        rows = intent == i
        article[rows] = rng.choice(articles, size=int(rows.sum()), p=weights)
    fact = bank.first_fact[article] + _uniform_index(rng, bank.fact_count[article])
    question = bank.questions.pick(rng, fact)
    context = bank.contexts.pick(rng, fact)
    unsupported_rate = np.full(n, UNSUPPORTED_RATE)
    if outdated is not None:
        hit = traffic.in_days(day, outdated.first, outdated.last)
        hit &= bank.article_ids[article] == OUTDATED_ARTICLE
        unsupported_rate[hit] = OUTDATED_UNSUPPORTED_RATE
    unsupported = rng.random(n) < unsupported_rate
    answer = np.where(
        unsupported,
        bank.unsupported.texts[bank.unsupported.pick(rng, fact)],
        bank.supported.texts[bank.supported.pick(rng, fact)],
    )

    question_words = bank.question_words[question]
    prompt = (
        rng.normal(PROMPT_OVERHEAD_TOKENS, PROMPT_OVERHEAD_SD, n)
        + TOKENS_PER_PASSAGE * bank.context_sentences[context]
        + TOKENS_PER_QUESTION_WORD * question_words
        + TOKENS_PER_EARLIER_TURN * turn
    )
    bloated = np.zeros(n, dtype=bool)
    if token_spike is not None:
        bloated = traffic.in_days(day, token_spike.first, token_spike.last)
        prompt *= np.where(bloated, TOKEN_SPIKE_FACTOR, 1.0)
    prompt_tokens = np.round(prompt).astype(np.int64)
    hit = (cache_rng.random(n) < CACHE_HIT_RATE) & ~bloated
    cached = np.where(hit, np.minimum(_cacheable(SYSTEM_PROMPT_TOKENS), prompt_tokens), 0)
    median_completion = COMPLETION_MEAN_TOKENS * np.exp(-(COMPLETION_SIGMA**2) / 2)
    completion = np.round(median_completion * rng.lognormal(0.0, COMPLETION_SIGMA, n))
    latency = (
        FIRST_TOKEN_MEDIAN_MS * rng.lognormal(0.0, 0.3, n)
        + MS_PER_PROMPT_TOKEN * prompt
        + MS_PER_COMPLETION_TOKEN[model] * completion * rng.lognormal(0.0, 0.15, n)
    )
    u = rng.random(n)
    status = np.select([u < ERROR_RATE, u < ERROR_RATE + TIMEOUT_RATE], ["error", "timeout"], "ok")
    latency = np.where(status == "timeout", TIMEOUT_MS + rng.uniform(0.0, 50.0, n), latency)

    return pd.DataFrame(
        {
            "request_id": traffic.request_ids(prefix, n),
            "ts": traffic.timestamps(start, day, seconds),
            "session_id": [f"{prefix}-s{s:07d}" for s in session + 1],
            "channel": CHANNELS[channel],
            "intent": np.array(texts.INTENTS, dtype=object)[intent],
            "kb_article": bank.article_ids[article],
            "llm_model": MODELS[model],
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion.astype(np.int64),
            "latency_ms": np.round(latency, 1),
            "status": status.astype(object),
            "question": bank.questions.texts[question],
            "answer": answer,
            "retrieved_context": bank.contexts.texts[context],
            "question_words": question_words,
            "cached_tokens": cached.astype(np.int64),
        }
    )


def _cacheable(prefix_tokens: float) -> int:
    """Tokens of a shared prompt prefix the provider bills as cached (0 below the minimum)."""
    if prefix_tokens < CACHE_MIN_TOKENS:
        return 0
    steps = int((prefix_tokens - CACHE_MIN_TOKENS) // CACHE_STEP_TOKENS)
    return CACHE_MIN_TOKENS + CACHE_STEP_TOKENS * steps


def _sessions(
    rng: np.random.Generator, counts: IntArray
) -> tuple[IntArray, IntArray, IntArray, FloatArray]:
    """Group each day's interactions into sessions and time them.

    Args:
        rng: Random generator.
        counts: Interactions per day.

    Returns:
        Session index, turn within the session, day and seconds into the day of every
        interaction, in timestamp order. Sessions are numbered in order of their start.
    """
    n = int(counts.sum())
    day = np.repeat(np.arange(len(counts)), counts)
    new = rng.random(n) < 1.0 / MEAN_TURNS
    new[(np.cumsum(counts) - counts)[counts > 0]] = True  # no session spans midnight
    session = np.cumsum(new) - 1
    first_row = np.flatnonzero(new)
    turn = np.arange(n) - first_row[session]
    session_day = day[first_row]
    session_start = traffic.day_seconds(rng, len(first_row))
    session_start = session_start[np.lexsort((session_start, session_day))]
    gaps = np.where(turn > 0, rng.exponential(TURN_GAP_MEAN_S, n), 0.0)
    elapsed = np.cumsum(gaps)
    seconds = session_start[session] + elapsed - elapsed[first_row][session]
    order = np.lexsort((seconds, day))
    return session[order], turn[order], day[order], seconds[order]


def _uniform_index(rng: np.random.Generator, counts: IntArray) -> IntArray:
    """One index in ``range(count)`` per row, uniformly."""
    index: IntArray = np.floor(rng.random(len(counts)) * counts).astype(np.int64)
    return index


@dataclass(frozen=True)
class _Variants:
    """Text variants of every fact, flattened: fact ``g`` owns ``texts[offset[g]:+count[g]]``."""

    texts: npt.NDArray[np.object_]
    offset: IntArray
    count: IntArray

    @classmethod
    def of(cls, per_fact: list[list[str]]) -> _Variants:
        count = np.array([len(v) for v in per_fact], dtype=np.int64)
        flat = np.array([t for variants in per_fact for t in variants], dtype=object)
        return cls(flat, np.cumsum(count) - count, count)

    def pick(self, rng: np.random.Generator, fact: IntArray) -> IntArray:
        """Index into ``texts`` of one variant of each row's fact, chosen uniformly."""
        return self.offset[fact] + _uniform_index(rng, self.count[fact])


@dataclass(frozen=True)
class _TextBank:
    article_ids: npt.NDArray[np.object_]
    first_fact: IntArray
    fact_count: IntArray
    articles_by_intent: tuple[tuple[IntArray, FloatArray], ...]
    questions: _Variants
    question_words: IntArray
    contexts: _Variants
    context_sentences: IntArray
    supported: _Variants
    unsupported: _Variants


@cache
def _text_bank() -> _TextBank:
    kb = texts.KNOWLEDGE_BASE
    facts = [(article, i) for article in kb for i in range(len(article.facts))]
    fact_count = np.array([len(a.facts) for a in kb], dtype=np.int64)
    by_intent = []
    for intent in texts.INTENTS:
        owned = np.array([k for k, a in enumerate(kb) if a.intent == intent], dtype=np.int64)
        weights = np.array([kb[k].weight for k in owned])
        by_intent.append((owned, weights / weights.sum()))
    questions = _Variants.of([texts.question_variants(a.facts[i]) for a, i in facts])
    choices = [texts.context_choices(a, i) for a, i in facts]
    contexts = _Variants.of(
        [
            [texts.render_context(a, c) for c in cs]
            for (a, _), cs in zip(facts, choices, strict=True)
        ]
    )
    return _TextBank(
        article_ids=np.array([a.article_id for a in kb], dtype=object),
        first_fact=np.cumsum(fact_count) - fact_count,
        fact_count=fact_count,
        articles_by_intent=tuple(by_intent),
        questions=questions,
        question_words=np.array([len(q.split()) for q in questions.texts], dtype=np.int64),
        contexts=contexts,
        context_sentences=np.array([len(c) for cs in choices for c in cs], dtype=np.int64),
        supported=_Variants.of(
            [texts.answer_variants(a.facts[i], supported=True) for a, i in facts]
        ),
        unsupported=_Variants.of(
            [texts.answer_variants(a.facts[i], supported=False) for a, i in facts]
        ),
    )
