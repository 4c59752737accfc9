"""The judge under hostile replies and changed logs: one reply the parser cannot read leaves one
answer unscored, never the day; a stored verdict is reused only for the very texts it judged."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitoring_pipelines.core.config import OpenAIJudgeConfig
from monitoring_pipelines.core.hallucination.scoring import SampledAnswer, score_sample
from monitoring_pipelines.core.hallucination.store import load_verdicts, save_scores
from monitoring_pipelines.core.judge import JudgeItem, OfflineJudge, Unscored, Verdict
from monitoring_pipelines.core.judge.llm import JudgeOutputError, OpenAIJudge, parse_verdict
from monitoring_pipelines.core.store import tables as t
from monitoring_pipelines.core.store.database import Database
from monitoring_pipelines.core.store.results import ResultRepository
from monitoring_pipelines.jobs import Kind
from resources.judge import JudgeResource
from tests.assets.conftest import (  # noqa: F401
    QUIET,
    WARNING_FILTERS,
    Monitoring,
    MonitoringFactory,
    make_monitoring,
    materialization,
)
from tests.fakes.openai_server import FakeOpenAI, Fault, Messages

QUESTION = "When was the Eiffel Tower completed?"
CONTEXT = "The Eiffel Tower in Paris was completed in 1889. It is 330 metres tall."
DAY = date(2026, 9, 3)
DEEP_BRACKETS = "[" * 100_000 + "]" * 100_000
DEEP_OBJECTS = '{"a": ' * 50_000 + "1" + "}" * 50_000


def verdict_reply(score: Any, rationale: Any = "in the context") -> str:
    return json.dumps({"score": score, "rationale": rationale})


def answer_of(messages: Messages) -> str:
    """The answer block of the judge's user message (the text between its fences)."""
    text = str(messages[-1]["content"])
    opening = text.index("<answer-")
    start = text.index(">", opening) + 1
    return text[start : text.index("</answer-", start)].strip()


def judge_of(fake: FakeOpenAI, **config: Any) -> OpenAIJudge:
    settings_: dict[str, Any] = {"timeout_s": 5.0, "max_retries": 0, "max_concurrency": 4}
    settings_.update(config)
    return OpenAIJudge(
        OpenAIJudgeConfig(base_url=fake.base_url, model=fake.model, **settings_),
        fake.api_key,
        sleep=lambda s: None,
        rng=random.Random(3),
    )


# -- 3: a reply the parser cannot read fails one answer, never the day ---------------------------

HOSTILE_REPLIES = {
    "deep brackets": DEEP_BRACKETS,
    "deep brackets, short": "[" * 5_000 + "]" * 5_000,
    "deep objects, short": '{"a": ' * 2_000 + "{}" + "}" * 2_000,
    "deep objects": DEEP_OBJECTS,
    "deep brackets in a score": '{"score": ' + DEEP_BRACKETS + ', "rationale": "x"}',
    "huge reply": verdict_reply(0.5, "x" * 1_000_000),
    "huge number": '{"score": 1' + "0" * 100_000 + ', "rationale": "x"}',
    "duplicate score": '{"score": 0.1, "rationale": "x", "score": 0.9}',
    "nested duplicate": '{"score": 0.9, "rationale": "x", "extra": {"k": 1, "k": 2}}',
    "NaN": '{"score": NaN, "rationale": "x"}',
    "Infinity": '{"score": Infinity, "rationale": "x"}',
    "overflowing float": '{"score": 1e999, "rationale": "x"}',
    "score over 1": verdict_reply(1.0000001),
    "bool score": verdict_reply(True),
    "string score": verdict_reply("0.9"),
    "null score": verdict_reply(None),
    "list reply": json.dumps([0.9, "x"]),
    "bare number": "0.9",
    "not JSON": "Score: 0.9, fine",
    "empty fence": "```json\n```",
}


def test_one_unreadable_reply_leaves_one_answer_unscored_and_the_day_scored(
    fake_openai: FakeOpenAI,
) -> None:
    """Item 3: a reply of 100000 '[' then ']' raised RecursionError and failed the whole day's
    scoring; a duplicate "score" key was accepted with the last value winning."""
    names = list(HOSTILE_REPLIES)
    plain = [f"plain answer {i}" for i in range(6)]

    def model(messages: Messages) -> str:
        answer = answer_of(messages)
        return HOSTILE_REPLIES.get(answer) or verdict_reply(0.9)

    fake_openai.judge = model
    answers = [*plain[:3], *names, *plain[3:]]
    sample = [
        SampledAnswer(f"{i:016x}", QUESTION, CONTEXT, text, "billing", None, None, len(answers))
        for i, text in enumerate(answers)
    ]

    run = score_sample(judge_of(fake_openai), sample, 0.7)

    by_answer = {s.sampled.answer: s.verdict for s in run.scored}
    assert set(by_answer) == set(plain), "exactly the plain answers get verdicts"
    assert all(v.score == 0.9 for v in by_answer.values())
    assert run.unscored == {"invalid_output": len(names)}
    reasons = [u.reason for u in run.unscored_attempts]
    assert len(reasons) == len(names) and all(reasons)
    assert sum("duplicate key 'score'" in r for r in reasons) == 1
    assert sum("duplicate key 'k'" in r for r in reasons) == 1
    assert sum("nested more than" in r for r in reasons) == 2  # said as such, not a crash
    assert sum("characters long" in r for r in reasons) == 5  # too long to read at all
    assert all(len(r) < 2_000 for r in reasons)


def test_a_server_body_the_client_cannot_read_fails_that_answer_only(
    fake_openai: FakeOpenAI,
) -> None:
    """Item 3 (the envelope): a chat-completions body nested 100000 deep raised RecursionError
    out of the HTTP client and failed the batch."""
    nested = DEEP_BRACKETS
    judge = judge_of(fake_openai, max_concurrency=1)
    fake_openai.script(
        Fault(status=200, body=nested),
        Fault(status=200, body=nested),  # asked once more after an unreadable reply
        Fault(status=503, body=nested),  # an error body nested as deep: a failed request
    )

    results = judge.judge_many([JudgeItem(QUESTION, CONTEXT, f"answer {i}") for i in range(3)])

    first, second, third = results
    assert isinstance(first, Unscored) and first.kind == "invalid_output"
    assert "without a chat-completions choice" in first.reason
    assert isinstance(second, Unscored) and second.kind == "request_failed"
    assert "HTTP 503" in second.reason
    assert isinstance(third, Verdict) and third.score == 0.9


def test_a_reply_larger_than_the_bound_is_not_read(fake_openai: FakeOpenAI) -> None:
    """Item 3 (huge input): a body of many megabytes was read and parsed whole."""
    fake_openai.judge = lambda messages: " " * 20_000_000 + verdict_reply(0.9)

    [result] = judge_of(fake_openai).judge_many([JudgeItem(QUESTION, CONTEXT, "an answer")])

    assert isinstance(result, Unscored) and result.kind == "invalid_output"
    assert "bytes" in result.reason or "characters" in result.reason


def test_a_rationale_the_store_cannot_hold_is_cleaned_not_fatal(
    fake_openai: FakeOpenAI, results: ResultRepository
) -> None:
    """Item 3 (the class): a rationale with a NUL or an unpaired surrogate passed the parser and
    then failed saving the whole day's scores (PostgreSQL and UTF-8 refuse them)."""
    fake_openai.judge = lambda messages: verdict_reply(0.2, "1925\u0000 is not \ud800 there\x07")
    sample = [SampledAnswer("00000000000000aa", QUESTION, CONTEXT, "In 1925.", "a", None, None, 1)]

    run = score_sample(judge_of(fake_openai), sample, 0.7)
    save_scores(results, "bot", str(DAY), run)

    [stored] = load_verdicts(results, "bot", str(DAY), "openai:judge-1", "faithfulness-v1").values()
    assert stored.score == 0.2
    assert stored.rationale == "1925 is not \N{REPLACEMENT CHARACTER} there"


@pytest.mark.parametrize(
    "reply",
    [
        '{"score": 0.1, "rationale": "x", "score": 0.9}',
        '{"score": 0.9, "rationale": "x", "rationale": "y"}',
        '{"score": 0.9, "rationale": "x", "notes": [{"a": 1, "a": 1}]}',
        '```json\n{"score": 0.9, "score": 0.9, "rationale": "same value twice"}\n```',
    ],
)
def test_duplicate_keys_anywhere_in_a_reply_are_refused(reply: str) -> None:
    """Item 3: a reply with duplicate "score" keys was accepted, the last value winning."""
    with pytest.raises(JudgeOutputError, match="duplicate key"):
        parse_verdict(reply)


any_text = st.text(st.characters(exclude_categories=()), max_size=20)  # NULs, surrogates too
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | any_text,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["score", "rationale", "a"]), children, max_size=3)
    ),
    max_leaves=12,
)
verdict_like = st.fixed_dictionaries(
    {"score": json_values, "rationale": json_values},
    optional={"extra": json_values},
).map(lambda d: json.dumps(d))
nested_brackets = st.tuples(
    st.sampled_from(["[", "{", '{"score": ', '{"a": [']),
    st.integers(min_value=1, max_value=200_000),
    st.sampled_from(["]", "}", "", "1"]),
).map(lambda p: p[0] * p[1] + p[2] * p[1])
replies = st.one_of(
    st.text(),
    verdict_like,
    json_values.map(lambda v: json.dumps(v)),
    nested_brackets,
    st.tuples(verdict_like, verdict_like).map(lambda p: p[0][:-1] + ", " + p[1][1:]),
    verdict_like.map(lambda r: f"```json\n{r}\n```"),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reply=replies)
def test_any_reply_parses_to_a_verdict_or_a_reason(reply: str) -> None:
    """Item 3: the parser raised RecursionError (and let duplicate keys through); for any reply
    it gives a score in [0, 1] with a rationale, or a JudgeOutputError naming why not."""
    try:
        score, rationale = parse_verdict(reply)
    except JudgeOutputError as exc:
        assert str(exc)
        return
    assert type(score) is float and 0.0 <= score <= 1.0
    assert isinstance(rationale, str) and "\x00" not in rationale
    rationale.encode("utf-8")  # storable: no unpaired surrogate
    objects: list[list[tuple[str, Any]]] = []
    text = reply.strip().removeprefix("```json").removesuffix("```")
    data = json.loads(text, object_pairs_hook=lambda pairs: objects.append(pairs) or dict(pairs))
    assert all(len({k for k, _ in pairs}) == len(pairs) for pairs in objects), "a key repeated"
    assert data["score"] == score


# -- 21: a stored verdict is reused only for the texts it judged ----------------------------------

BOT_CONFIG = """
version: 1
monitors:
  bot:
    start_date: 2026-09-01
    source: {table: bot_log, timestamp_column: ts, request_id_column: request_id}
    llm:
      model_column: llm_model
      prompt_tokens_column: prompt_tokens
      completion_tokens_column: completion_tokens
      question_column: question
      answer_column: answer
      context_column: retrieved_context
      intent_column: intent
      judge:
        backend: openai
        sample_rate: 1.0
        daily_cap: 50
        min_per_intent: 1
        openai: {base_url: '%s', model: judge-1, api_key_env: BOT_JUDGE_KEY, max_retries: 0}
"""
ROWS = 8
CHANGED = 5  # the row whose answer is rewritten after the first scoring
REWRITTEN = "The tower opened in 1925 and is 500 metres tall."


def bot_log(day: date) -> pd.DataFrame:
    start = datetime(day.year, day.month, day.day, 8, tzinfo=UTC)
    return pd.DataFrame(
        {
            "ts": [(start + timedelta(minutes=7 * i)).isoformat() for i in range(ROWS)],
            "request_id": [f"req-{i}" for i in range(ROWS)],
            "intent": ["facts" if i % 2 else "travel" for i in range(ROWS)],
            "llm_model": "gpt-4o-mini",
            "prompt_tokens": 900,
            "completion_tokens": 80,
            "question": QUESTION,
            "retrieved_context": CONTEXT,
            "answer": [f"It was completed in 1889 (answer {i})." for i in range(ROWS)],
        }
    )


def grading_model(messages: Messages) -> str:
    """Unsupported when the answer names 1925, else supported."""
    answer = answer_of(messages)
    if "1925" in answer:
        return verdict_reply(0.1, "1925 is not in the context")
    return verdict_reply(0.95, "1889 is in the context")


@pytest.mark.filterwarnings(*WARNING_FILTERS)
def test_a_rerun_rescores_an_answer_whose_text_changed(
    make_monitoring: MonitoringFactory,  # noqa: F811
    fake_openai: FakeOpenAI,
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Item 21: verdicts were reused by request id within a day, so a rerun after the logged
    texts changed kept the stale verdict."""
    fake_openai.judge = grading_model
    monkeypatch.setenv("BOT_JUDGE_KEY", fake_openai.api_key or "")
    base = make_monitoring(
        BOT_CONFIG % fake_openai.base_url, {"bot_log": bot_log(DAY)}, store_url=store_url
    )
    monitoring = with_remote_judge(base)

    assert monitoring.day("bot", DAY).success
    first = materialization(judge_day(monitoring, DAY), "bot/faithfulness_scores")
    assert first["scored"] == len(fake_openai.requests()) == ROWS
    assert first["flagged"] == 0

    engine = sa.create_engine(monitoring.warehouse_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE bot_log SET answer = :a WHERE request_id = :r"),
            {"a": REWRITTEN, "r": f"req-{CHANGED}"},
        )
    engine.dispose()
    assert monitoring.day("bot", DAY).success  # the day's slice is taken again
    again = materialization(judge_day(monitoring, DAY), "bot/faithfulness_scores")

    asked = fake_openai.requests()[ROWS:]
    assert [answer_of(r.body["messages"]) for r in asked] == [REWRITTEN]
    assert again["reused_verdicts"] == ROWS - 1 and again["scored"] == ROWS
    assert again["flagged"] == 1
    rows = stored_scores(store_url)
    assert len(rows) == ROWS
    changed = [r for r in rows if r.score == 0.1]
    assert len(changed) == 1 and "1925" in changed[0].rationale

    unchanged = materialization(judge_day(monitoring, DAY), "bot/faithfulness_scores")
    assert unchanged["reused_verdicts"] == ROWS and len(fake_openai.requests()) == ROWS + 1


SUPPORTED = (
    "It was completed in 1889.",
    "The tower is 330 metres tall.",
    "The Eiffel Tower was completed in 1889.",
)


def test_scores_stored_without_a_text_hash_are_never_reused(store_url: str) -> None:
    """Item 21 (upgrade): rows scored before the hash was stored carry none; they are scored
    again, not trusted for whatever text the request has now."""
    old = sa.MetaData()
    legacy = sa.Table(
        t.faithfulness_scores.name,
        old,
        *(
            sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
            for c in t.faithfulness_scores.columns
            if c.name != "content_sha256"
        ),
    )
    engine = sa.create_engine(store_url)
    old.create_all(engine)
    judge = OfflineJudge()
    sample = [
        SampledAnswer(f"{i:016x}", QUESTION, CONTEXT, answer, "a", None, None, 3)
        for i, answer in enumerate(SUPPORTED)
    ]
    with engine.begin() as conn:
        conn.execute(
            sa.insert(legacy),
            [
                {
                    "monitor": "bot",
                    "partition_key": str(DAY),
                    "request_key": s.request_key,
                    "stratum_rows": 3,
                    "score": 0.0,
                    "threshold": 0.7,
                    "flagged": True,
                    "rationale": "scored when the answer said something else",
                    "judge": judge.name,
                    "prompt_version": judge.version,
                    "tokens_in": 0,
                    "tokens_out": 0,
                    "cost_usd": 0.0,
                    "scored_at": datetime.now(UTC),
                }
                for s in sample
            ],
        )
    engine.dispose()

    database = Database.connect(store_url)  # adds the missing column
    try:
        store = ResultRepository(database)
        known = load_verdicts(store, "bot", str(DAY), judge.name, judge.version)
        run = score_sample(judge, sample, 0.7, known)
        assert known == {} and run.reused == 0 and len(run.scored) == 3
        assert all(s.verdict.score > 0.5 for s in run.scored)
        save_scores(store, "bot", str(DAY), run)
        stored = load_verdicts(store, "bot", str(DAY), judge.name, judge.version)
        assert score_sample(judge, sample, 0.7, stored).reused == 3
    finally:
        database.dispose()


def stored_scores(store_url: str) -> list[Any]:
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.select(t.faithfulness_scores)).all())
    finally:
        engine.dispose()


def with_remote_judge(monitoring: Monitoring) -> Monitoring:
    """The installation with the judge resource reading its key from the environment."""
    return monitoring.with_resources(judge=JudgeResource(api_key=dg.EnvVar("BOT_JUDGE_KEY")))


def judge_day(monitoring: Monitoring, day: date) -> dg.ExecuteInProcessResult:
    return monitoring.job("bot", Kind.HALLUCINATION).execute_in_process(
        instance=monitoring.instance, partition_key=day.isoformat(), run_config=QUIET
    )
