"""The review loop over six judged days of the small support chatbot of ``test_hallucination``:
an audit share of passing answers joins the review queue, reviews flow into the fine-tuning
dataset (PII redacted, lineage kept) and into the judge's agreement, and the KPI table is read
and related to the daily rate (too few days here: said so, never a made-up slope)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from monitoring_pipelines.core.hallucination.review import (
    ReviewQueue,
    ReviewReason,
    ReviewStatus,
)
from monitoring_pipelines.core.store.results import ResultRepository
from monitoring_pipelines.jobs import Kind
from tests.assets.conftest import QUIET, Monitoring, MonitoringFactory, materialization
from tests.assets.test_hallucination import CONFIG, DAYS, bot_day

REVIEW_CONFIG = CONFIG.replace(
    "judge: {sample_rate: 0.5, daily_cap: 150, min_per_intent: 20, baseline_days: 4}",
    "judge: {sample_rate: 0.5, daily_cap: 150, min_per_intent: 20, baseline_days: 4, "
    "audit_rate: 0.2, audit_max_per_day: 30}\n"
    "      kpi: {table: tickets, date_column: day, value_column: opened, name: support tickets, "
    "max_lag_days: 2}",
)
REVIEW_ASSETS = {
    dg.AssetKey(["bot", a])
    for a in ("finetuning_dataset", "judge_agreement", "hallucination_kpi_impact")
}


@dataclass(frozen=True)
class Loop:
    monitoring: Monitoring
    log: pd.DataFrame

    def queue(self) -> ReviewQueue:
        return ReviewQueue(ResultRepository.connect(self.monitoring.store_url))

    def review_run(self) -> dg.ExecuteInProcessResult:
        job = self.monitoring.job("bot", Kind.REVIEW)
        return job.execute_in_process(instance=self.monitoring.instance, run_config=QUIET)


@pytest.fixture(scope="module")
def loop(make_monitoring: MonitoringFactory) -> Loop:
    rng = np.random.default_rng(20261010)
    log = pd.concat([bot_day(rng, d) for d in DAYS], ignore_index=True)
    tickets = pd.DataFrame(
        {
            "day": [d.isoformat() for d in DAYS] + ["not a day"],
            "opened": ["40", "42", "39", "41", "55", "60", "7"],
        }
    )
    monitoring = make_monitoring(REVIEW_CONFIG, {"bot_log": log, "tickets": tickets})
    for day in DAYS:
        monitoring.day("bot", day)
    return Loop(monitoring, log)


def test_the_review_assets_have_their_own_run(loop: Loop) -> None:
    assert not REVIEW_ASSETS & loop.monitoring.daily_assets("bot")
    job = loop.monitoring.job("bot", Kind.REVIEW)
    assert set(job.asset_layer.selected_asset_keys) == REVIEW_ASSETS


def test_an_audit_share_of_passing_answers_is_queued_beside_the_flagged(loop: Loop) -> None:
    items = loop.queue().items("bot")
    flagged = [i for i in items if i.reason is ReviewReason.FLAGGED]
    audited = [i for i in items if i.reason is ReviewReason.AUDIT]
    assert flagged and all(i.score < 0.7 for i in flagged)
    assert audited and all(i.score >= 0.7 for i in audited)
    ids = set(loop.log["request_id"])
    assert all(i.request_id in ids for i in items)  # the user's own request id, for lineage
    # a fifth of the passing answers (about 44 of a day's 220), at most 30 a day
    scored = sum(
        r["n"]
        for r in _stored(loop, "SELECT count(*) AS n FROM faithfulness_scores WHERE NOT flagged")
    )
    per_day = Counter(i.partition for i in audited)
    assert max(per_day.values()) == 30 and len(per_day) == len(DAYS)
    assert 0.1 * scored < len(audited) < 0.3 * scored


def test_a_correction_reaches_the_finetuning_dataset_redacted(loop: Loop) -> None:
    queue = loop.queue()
    items = queue.items("bot", [ReviewStatus.PENDING])
    flagged = [i for i in items if i.reason is ReviewReason.FLAGGED]
    audited = [i for i in items if i.reason is ReviewReason.AUDIT]
    fix = flagged[0]
    queue.review(
        fix.id,
        ReviewStatus.CORRECTED,
        "ana",
        corrected_answer="The late fee is 5 EUR. Ask billing@example.com or +44 20 7946 0958.",
    )
    queue.review(flagged[1].id, ReviewStatus.REJECTED, "ana")
    queue.review(flagged[2].id, ReviewStatus.APPROVED, "ana")
    queue.review(audited[0].id, ReviewStatus.APPROVED, "ana")
    queue.review(audited[1].id, ReviewStatus.REJECTED, "ana")

    run = loop.review_run()
    meta = materialization(run, "bot/finetuning_dataset")
    assert meta["records"] == 1 and meta["reviewed_items"] == 5
    assert meta["redacted_email"] == 1 and meta["redacted_phone"] == 1
    lines = Path(meta["path"]).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert [m["role"] for m in record["messages"]] == ["system", "user", "assistant"]
    answer = record["messages"][2]["content"]
    assert answer.startswith("The late fee is 5 EUR.") and "example.com" not in answer
    assert "[EMAIL]" in answer and "[PHONE]" in answer
    lineage = record["metadata"]
    assert lineage["request_id"] == fix.request_id and lineage["partition"] == fix.partition
    assert lineage["judge_score"] == pytest.approx(fix.score)
    assert lineage["model_version"] == "gpt-4o-mini"

    agreement = materialization(run, "bot/judge_agreement")
    # flagged: corrected + rejected confirm (tp 2), approved is a false positive (fp 1);
    # audited: approved agrees (tn 1), rejected is a miss of the judge (fn 1)
    assert (agreement["tp"], agreement["fp"], agreement["fn"], agreement["tn"]) == (2, 1, 1, 1)
    assert agreement["n"] == 5 and agreement["conclusive"] == 0
    assert "Cohen's kappa" in agreement["agreement"]

    again = materialization(loop.review_run(), "bot/finetuning_dataset")
    assert again["sha256"] == meta["sha256"]  # nothing new reviewed: the same file


def test_the_kpi_is_read_and_too_few_days_are_said(loop: Loop) -> None:
    meta = materialization(loop.review_run(), "bot/hallucination_kpi_impact")
    assert meta["kpi_rows"] == 7 and meta["kpi_rows_malformed"] == 1
    assert meta["rate_days"] == len(DAYS)
    assert meta["status"] == "insufficient data"
    assert "slope" not in meta
    assert "support tickets" in meta["finding"]


def _stored(loop: Loop, sql: str) -> list[dict[str, int]]:
    engine = sa.create_engine(loop.monitoring.store_url)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(sa.text(sql))]
