"""``faithfulness_scores`` and ``hallucination_rate`` over six days of a small support chatbot
whose knowledge-base article KB-204 goes out of date on the last two.

The log is built from the demo's texts (questions, retrieved contexts, supported and unsupported
answers), so the offline judge meets realistic answers; which answers are unsupported is known
from the texts (``texts.unsupported_claims``). Until the factory wires the two assets, the test
adds them to the Definitions as the factory will, with the offline judge's resource.
"""

from __future__ import annotations

import dataclasses
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from monitoring_pipelines.core.config import JudgeConfig
from monitoring_pipelines.core.hallucination.review import ReviewQueue, ReviewReason, ReviewStatus
from monitoring_pipelines.core.judge import JudgeBudget, JudgeItem, OfflineJudge, Unscored, Verdict
from monitoring_pipelines.core.judge.factory import make_judge
from monitoring_pipelines.core.store import tables as t
from monitoring_pipelines.core.store.results import ResultRepository
from monitoring_pipelines.demo import texts
from monitoring_pipelines.jobs import Kind
from resources.judge import JudgeResource
from tests.assets.conftest import (
    QUIET,
    Monitoring,
    MonitoringFactory,
    check_evaluations,
    count_rows,
    failure_description,
    materialization,
)
from tests.fakes.openai_server import FakeOpenAI, Messages

CONFIG = """
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
      article_column: kb_article
      judge: {sample_rate: 0.5, daily_cap: 150, min_per_intent: 20, baseline_days: 4}
"""

START = date(2026, 9, 1)
DAYS = [START + timedelta(days=i) for i in range(6)]
OUTDATED_DAYS = DAYS[4:]
ROWS = 240
ARTICLES = {"billing": ["KB-201", "KB-202", "KB-204"], "shipping": ["KB-101", "KB-102"]}
INTENT_P = {"billing": 0.45, "shipping": 0.45, "account": 0.10}
UNSUPPORTED, OUTDATED_UNSUPPORTED = 0.04, 0.75
NO_CONTEXT, NO_ANSWER = 3, 2  # rows a day that cannot be judged
RATE = dg.AssetKey(["bot", "hallucination_rate"])
KB = {a.article_id: a for a in texts.KNOWLEDGE_BASE}


def bot_day(rng: np.random.Generator, day: date) -> pd.DataFrame:
    """One day of the chatbot's log; on an outdated day KB-204's answers are mostly wrong."""
    rows: list[dict[str, Any]] = []
    intents = rng.choice(list(INTENT_P), ROWS, p=list(INTENT_P.values()))
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    for i, intent in enumerate(intents):
        article = KB[str(rng.choice(ARTICLES.get(str(intent), ["KB-401"])))]
        fact_index = int(rng.integers(len(article.facts)))
        fact = article.facts[fact_index]
        chance = UNSUPPORTED
        if day in OUTDATED_DAYS and article.article_id == "KB-204":
            chance = OUTDATED_UNSUPPORTED
        answers = texts.answer_variants(fact, supported=bool(rng.random() >= chance))
        contexts = texts.context_choices(article, fact_index)
        questions = texts.question_variants(fact)
        rows.append(
            {
                "ts": (start + timedelta(seconds=int(rng.integers(86_400)))).isoformat(),
                "request_id": f"{day:%m%d}-{i:04d}",
                "intent": str(intent),
                "kb_article": article.article_id,
                "llm_model": "gpt-4o-mini",
                "prompt_tokens": 1500,
                "completion_tokens": 200,
                "question": questions[int(rng.integers(len(questions)))],
                "retrieved_context": texts.render_context(
                    article, contexts[int(rng.integers(len(contexts)))]
                ),
                "answer": answers[int(rng.integers(len(answers)))],
            }
        )
    frame = pd.DataFrame(rows)
    frame.loc[: NO_CONTEXT - 1, "retrieved_context"] = None
    frame.loc[NO_CONTEXT : NO_CONTEXT + NO_ANSWER - 1, "answer"] = ""
    return frame


class FakeJudgeResource(JudgeResource):
    """The offline judge under another prompt version, stopped by a budget after some answers."""

    version: str = "offline-lexical-2"
    budget_answers: int = 40

    def get_judge(self, config: Any) -> Any:
        return BudgetedJudge(self.version, self.budget_answers)


class BudgetedJudge:
    """Delegates to the offline judge; its budget stops it once ``budget`` answers are done."""

    name = "offline"

    def __init__(self, version: str, budget: int) -> None:
        self.version = version
        self.left = budget
        self.inner = OfflineJudge()

    def judge(self, question: str | None, context: str, answer: str) -> Verdict:
        result = self.judge_many([JudgeItem(question, context, answer)])[0]
        assert isinstance(result, Verdict)
        return result

    def judge_many(self, items: Any, budget: JudgeBudget | None = None) -> list[Verdict | Unscored]:
        given = [
            dataclasses.replace(v, prompt_version=self.version)
            for v in self.inner.judge_many(items)
        ]
        stopped = Unscored("budget_exhausted", "daily budget of $0.05 spent", "offline", "x")
        out: list[Verdict | Unscored] = [*given[: self.left]]
        out += [stopped] * (len(given) - len(out))
        self.left -= len(given) - out.count(stopped)
        return out


def with_judge(monitoring: Monitoring, judge: JudgeResource) -> Monitoring:
    """The installation with its judge resource replaced."""
    return monitoring.with_resources(judge=judge)


@dataclass(frozen=True)
class Scenario:
    base: Monitoring
    monitoring: Monitoring
    log: Mapping[date, pd.DataFrame]
    days: Mapping[date, dg.ExecuteInProcessResult]

    def queue(self) -> ReviewQueue:
        return ReviewQueue(ResultRepository.connect(self.monitoring.store_url))


@pytest.fixture(scope="module")
def scenario(make_monitoring: MonitoringFactory) -> Scenario:
    rng = np.random.default_rng(20261010)
    log = {d: bot_day(rng, d) for d in DAYS}
    base = make_monitoring(CONFIG, {"bot_log": pd.concat(log.values(), ignore_index=True)})
    monitoring = base
    assert RATE in monitoring.daily_assets("bot")
    return Scenario(base, monitoring, log, {d: monitoring.day("bot", d) for d in DAYS})


def test_every_answer_is_scored_and_stored_compactly(scenario: Scenario) -> None:
    day = DAYS[0]
    meta = materialization(scenario.days[day], "bot/faithfulness_scores")
    assert meta["rows"] == ROWS and meta["eligible"] == ROWS - NO_CONTEXT - NO_ANSWER
    assert (meta["skipped_missing_context"], meta["skipped_missing_answer"]) == (3, 2)
    # The offline judge scores all 235 answers: sample_rate and daily_cap are the openai
    # judge's.
    assert meta["sampled"] == meta["scored"] == 235 and meta["daily_cap_reached"] is False
    assert meta["judge"] == "offline" and meta["prompt_version"] == "offline-claims-3"
    assert meta["budget_stopped"] is False and meta["judge_cost_usd"] == 0.0
    assert meta["unscored_invalid_output"] == meta["unscored_budget_exhausted"] == 0
    assert all(row["sampled"] == row["eligible"] == row["scored"] for row in meta["sample"])
    store = ResultRepository.connect(scenario.monitoring.store_url)
    with store.transaction() as conn:
        rows = conn.execute(
            sa.select(t.faithfulness_scores.c.request_key, t.faithfulness_scores.c.rationale).where(
                t.faithfulness_scores.c.partition_key == str(day)
            )
        ).all()
    assert len(rows) == meta["scored"]
    # The rationale is kept for the answers queued for review, and only for them.
    queued = {i.request_key for i in scenario.queue().items("bot") if i.partition == str(day)}
    assert len(queued) == meta["flagged"] + sum(
        i.reason is ReviewReason.AUDIT
        for i in scenario.queue().items("bot")
        if i.partition == str(day)
    )
    assert {key for key, rationale in rows if rationale} == queued


def test_ordinary_days_pass(scenario: Scenario) -> None:
    for day in DAYS[3:4]:  # the first day with a baseline of three days
        evaluation = check_evaluations(scenario.days[day], "bot/hallucination_rate")[
            "hallucination_rate"
        ]
        assert evaluation.passed, evaluation.summary
        assert "no significant rise" in evaluation.summary
    early = check_evaluations(scenario.days[DAYS[0]], "bot/hallucination_rate")
    assert (
        "rise not evaluated (baseline of 0 days"
        in early["hallucination_rate"].findings[0]["summary"]
    )


@pytest.mark.parametrize("day", OUTDATED_DAYS)
def test_the_outdated_article_is_found_and_named(scenario: Scenario, day: date) -> None:
    evaluation = check_evaluations(scenario.days[day], "bot/hallucination_rate")[
        "hallucination_rate"
    ]
    assert not evaluation.passed
    findings = {f["subject"]: f for f in evaluation.findings}
    failing = {s for s, f in findings.items() if not f["passed"]}
    assert {"article=KB-204", "intent=billing"} <= failing
    assert failing <= {"", "article=KB-204", "intent=billing"}
    assert findings["article=KB-101"]["passed"] and findings["intent=shipping"]["passed"]
    assert "significant rise in article KB-204 (intent billing)" in evaluation.summary
    meta = materialization(scenario.days[day], "bot/hallucination_rate")
    assert meta["hallucination_rate@article=KB-204"] > 0.4
    assert meta["hallucination_rate@article=KB-101"] < 0.2
    assert meta["ci_low"] < meta["hallucination_rate"] < meta["ci_high"]


def test_flagged_answers_fill_the_review_queue(scenario: Scenario) -> None:
    queue = scenario.queue()
    queued = queue.items("bot")
    items = [i for i in queued if i.reason is ReviewReason.FLAGGED]
    scored = sum(
        materialization(r, "bot/faithfulness_scores")["flagged"] for r in scenario.days.values()
    )
    assert len(items) == scored > 0
    assert all(i.status is ReviewStatus.PENDING and i.score < 0.7 for i in items)
    audited = [i for i in queued if i.reason is ReviewReason.AUDIT]  # judge.audit_rate: 2 %
    passed = sum(
        materialization(r, "bot/faithfulness_scores")["scored"] for r in scenario.days.values()
    ) - len(items)
    assert all(i.score >= 0.7 for i in audited) and 0 < len(audited) < 0.05 * passed
    outdated = [i for i in items if i.partition in {str(d) for d in OUTDATED_DAYS}]
    assert sum(i.article == "KB-204" for i in outdated) >= 10
    truly_unsupported = [i for i in items if texts.unsupported_claims(i.answer, i.context)]
    assert len(truly_unsupported) >= 0.9 * len(items)


def test_reruns_neither_duplicate_nor_reset_reviews(scenario: Scenario) -> None:
    queue = scenario.queue()
    day = OUTDATED_DAYS[0]
    before = queue.items("bot")
    reviewed = next(i for i in before if i.partition == str(day))
    queue.review(reviewed.id, ReviewStatus.REJECTED, "alice", note="KB-204 is outdated")
    rerun = scenario.monitoring.day("bot", day)
    meta = materialization(rerun, "bot/faithfulness_scores")
    assert meta["queued_new"] == 0 and meta["queue_kept_reviewed"] == 1
    assert meta["reused_verdicts"] == meta["scored"]  # nothing judged (or paid for) twice
    after = queue.items("bot")
    assert [i.id for i in after] == [i.id for i in before]
    again = queue.get(reviewed.id)
    assert again.status is ReviewStatus.REJECTED and again.reviewer == "alice"
    first = materialization(scenario.days[day], "bot/faithfulness_scores")
    assert (
        count_rows(
            scenario.monitoring.store_url,
            "faithfulness_scores",
            monitor="bot",
            partition_key=str(day),
        )
        == first["scored"]
    )


def test_a_new_judge_resets_the_baseline_and_its_budget_stop_is_said(
    scenario: Scenario,
) -> None:
    day = DAYS[-1]
    other = with_judge(scenario.base, FakeJudgeResource())
    try:
        result = other.day("bot", day)
        meta = materialization(result, "bot/faithfulness_scores")
        assert meta["budget_stopped"] is True and meta["scored"] == 40 < meta["sampled"]
        assert meta["budget_stop"] == "daily budget of $0.05 spent"
        assert meta["unscored_budget_exhausted"] == meta["sampled"] - 40
        assert meta["prompt_version"] == "offline-lexical-2"
        evaluation = check_evaluations(result, "bot/hallucination_rate")["hallucination_rate"]
        assert f"baseline reset: judge changed on {day}" in evaluation.summary
        rate = materialization(result, "bot/hallucination_rate")
        assert rate["prompt_version"] == "offline-lexical-2" and rate["scored"] == 40
    finally:
        scenario.monitoring.day("bot", day)  # back to the offline judge for other tests


def test_the_factory_builds_the_configured_judge() -> None:
    assert isinstance(make_judge(JudgeConfig()), OfflineJudge)
    remote = make_judge(JudgeConfig(backend="openai"), api_key="sk-test")
    assert remote.name == "openai:gpt-4o-mini" and "sk-test" not in repr(remote)


REMOTE_JUDGE = (
    "judge: {backend: openai, sample_rate: 0.1, daily_cap: 30, min_per_intent: 5, "
    "openai: {base_url: '%s', model: judge-1, api_key_env: BOT_JUDGE_KEY, max_retries: 0}}"
)


def test_a_remote_judge_scores_in_its_own_job_once_per_answer(
    make_monitoring: MonitoringFactory, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = DAYS[0]
    text = CONFIG.replace(
        "judge: {sample_rate: 0.5, daily_cap: 150, min_per_intent: 20, baseline_days: 4}",
        REMOTE_JUDGE % fake_openai.base_url,
    )
    fake_openai.judge = lambda messages: json.dumps({"score": 0.2, "rationale": "not in it"})
    monkeypatch.setenv("BOT_JUDGE_KEY", fake_openai.api_key or "")
    base = make_monitoring(text, {"bot_log": bot_day(np.random.default_rng(5), day)})
    monitoring = with_judge(base, JudgeResource(api_key=dg.EnvVar("BOT_JUDGE_KEY")))
    assert not {dg.AssetKey(["bot", "faithfulness_scores"]), RATE} & monitoring.daily_assets("bot")

    daily = monitoring.day("bot", day)
    judged = judge_day(monitoring, day)

    assert daily.success and judged.success
    scored = materialization(judged, "bot/faithfulness_scores")
    assert scored["scored"] == len(fake_openai.requests()) >= 15
    assert scored["flagged"] == scored["scored"]
    assert {r.auth for r in fake_openai.requests()} == {"valid"}
    evaluation = check_evaluations(judged, "bot/hallucination_rate")["hallucination_rate"]
    assert not evaluation.passed and evaluation.metadata["hallucination_rate"] == 1.0

    again = judge_day(monitoring, day)  # a rerun reuses the stored verdicts: no request
    assert materialization(again, "bot/faithfulness_scores")["reused_verdicts"] == scored["scored"]
    assert len(fake_openai.requests()) == scored["scored"]


def test_a_rejected_key_fails_the_run_without_showing_it(
    make_monitoring: MonitoringFactory, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = DAYS[0]
    text = CONFIG.replace(
        "judge: {sample_rate: 0.5, daily_cap: 150, min_per_intent: 20, baseline_days: 4}",
        REMOTE_JUDGE % fake_openai.base_url,
    )
    wrong = "sk-wrong-Zq81LmXv0RtY4wZp1N"
    monkeypatch.setenv("BOT_JUDGE_KEY", wrong)
    base = make_monitoring(text, {"bot_log": bot_day(np.random.default_rng(5), day)})
    monitoring = with_judge(base, JudgeResource(api_key=dg.EnvVar("BOT_JUDGE_KEY")))
    monitoring.day("bot", day)

    result = judge_day(monitoring, day, raise_on_error=False)

    assert not result.success
    message = failure_description(result)
    assert "401" in message or "rejected" in message, message
    assert wrong not in message and wrong[-8:] not in message


def remote_monitoring(
    make_monitoring: MonitoringFactory,
    fake: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    day: date,
    openai: str = "",
    backend: str = "openai",
) -> Monitoring:
    """The bot judged by ``fake``, one day of its log loaded; ``openai`` adds judge settings."""
    remote = (REMOTE_JUDGE % fake.base_url).replace("backend: openai", f"backend: {backend}")
    if openai:
        remote = remote.replace("max_retries: 0", f"max_retries: 0, {openai}")
    text = CONFIG.replace(
        "judge: {sample_rate: 0.5, daily_cap: 150, min_per_intent: 20, baseline_days: 4}", remote
    )
    monkeypatch.setenv("BOT_JUDGE_KEY", fake.api_key or "")
    base = make_monitoring(text, {"bot_log": bot_day(np.random.default_rng(5), day)})
    monitoring = with_judge(base, JudgeResource(api_key=dg.EnvVar("BOT_JUDGE_KEY")))
    monitoring.day("bot", day)
    return monitoring


def test_answers_the_remote_judge_cannot_score_are_counted_not_fatal(
    make_monitoring: MonitoringFactory, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = DAYS[0]

    def garbling_model(messages: Messages) -> str:  # the same answer garbled on each try
        if zlib.crc32(str(messages[-1]["content"]).encode()) % 3 == 0:
            return "Score: 0.8 -- looks fine to me"
        return json.dumps({"score": 0.9, "rationale": "in the context"})

    fake_openai.judge = garbling_model
    monitoring = remote_monitoring(make_monitoring, fake_openai, monkeypatch, day)

    judged = judge_day(monitoring, day)

    assert judged.success
    meta = materialization(judged, "bot/faithfulness_scores")
    assert meta["unscored_invalid_output"] > 0 and meta["scored"] > 0
    assert meta["scored"] + meta["unscored_invalid_output"] == meta["sampled"]
    assert len(fake_openai.requests()) == meta["scored"] + 2 * meta["unscored_invalid_output"]
    assert meta["budget_stopped"] is False
    stored = count_rows(
        monitoring.store_url, "faithfulness_scores", monitor="bot", partition_key=str(day)
    )
    assert stored == meta["scored"]


def test_the_daily_budget_caps_a_day_over_its_reruns(
    make_monitoring: MonitoringFactory, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = DAYS[0]
    fake_openai.usage = (1000, 100)  # 1000 / 1000 * 0.5 + 100 / 1000 * 1.5 = $0.65 an answer
    prices = "input_per_1k: 0.5, output_per_1k: 1.5, daily_budget_usd: 2.0"
    monitoring = remote_monitoring(make_monitoring, fake_openai, monkeypatch, day, prices)

    first = materialization(judge_day(monitoring, day), "bot/faithfulness_scores")

    assert len(fake_openai.requests()) == first["scored"] == 3  # a 4th would bring it to $2.60
    assert first["budget_stopped"] is True and first["budget_stop"] == "budget exhausted"
    assert first["unscored_budget_exhausted"] == first["sampled"] - 3
    assert first["judge_cost_usd"] == first["judge_run_cost_usd"] == pytest.approx(1.95)

    again = materialization(judge_day(monitoring, day), "bot/faithfulness_scores")

    assert len(fake_openai.requests()) == 3  # $0.05 left is less than an answer costs
    assert again["reused_verdicts"] == again["scored"] == 3 and again["budget_stopped"] is True
    assert again["judge_run_cost_usd"] == 0.0
    assert again["judge_cost_usd"] == pytest.approx(1.95)  # the day's total, for the next run
    stored = ResultRepository.connect(monitoring.store_url).load_metrics(
        "bot", "faithfulness_scores", str(day)
    )
    cost = {(r.name, r.dimensions): r.value for r in stored}[("judge_cost_usd", "")]
    assert cost == pytest.approx(1.95) and cost <= 2.0


def judge_day(
    monitoring: Monitoring, day: date, raise_on_error: bool = True
) -> dg.ExecuteInProcessResult:
    return monitoring.job("bot", Kind.HALLUCINATION).execute_in_process(
        instance=monitoring.instance,
        partition_key=day.isoformat(),
        raise_on_error=raise_on_error,
        run_config=QUIET,
    )


def test_the_cascade_sends_part_of_the_day_and_says_what_it_saved(
    make_monitoring: MonitoringFactory, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every answer of the day is scored offline; only the uncertain band and the audit draw
    are sent, at most ``daily_cap`` a day over all runs; the asset's metadata gives the day's
    LLM share, its spend against judging every answer with the LLM, and the rate estimated as
    the LLM judge would have found it."""
    day = DAYS[0]
    fake_openai.usage = (1000, 100)  # $0.65 an answer at the prices below
    fake_openai.judge = lambda messages: json.dumps({"score": 0.2, "rationale": "not in it"})
    settings = "input_per_1k: 0.5, output_per_1k: 1.5"
    cascade = "cascade, cascade: {uncertain_band: [0.0, 0.9], audit_share: 0.1}"
    monitoring = remote_monitoring(
        make_monitoring, fake_openai, monkeypatch, day, settings, backend=cascade
    )
    meta = materialization(judge_day(monitoring, day), "bot/faithfulness_scores")
    sent = len(fake_openai.requests())
    assert meta["scored"] == meta["cascade_answers"] == meta["eligible"] == 235
    # The band takes most answers; the cap (30) sends the ones nearest its middle.
    assert sent == meta["cascade_llm_verdicts"] == 30
    assert meta["cascade_sent_uncertain"] + meta["cascade_sent_audit"] == sent
    assert meta["cascade_llm_share"] == pytest.approx(sent / meta["scored"], abs=1e-5)
    assert meta["cascade_llm_cost_usd"] == pytest.approx(0.65 * sent)
    assert meta["cascade_all_llm_cost_usd"] == pytest.approx(0.65 * meta["scored"])
    assert 0.0 < meta["cascade_cost_saved_share"] < 1.0
    assert meta["judge"] == "cascade" and meta["judge_cost_usd"] == pytest.approx(0.65 * sent)
    assert meta["cascade_estimated_rate"] >= meta["cascade_flagged_rate"] > 0.0
    again = materialization(judge_day(monitoring, day), "bot/faithfulness_scores")
    assert len(fake_openai.requests()) == 30  # the day's cap is spent: nothing more is sent
    assert again["reused_verdicts"] == again["scored"] == 235
