"""Judge-reviewer agreement: Cohen's kappa and its interval, degenerate tables, the audit sample."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from monitoring_pipelines.core.config import JudgeConfig
from monitoring_pipelines.core.hallucination.governance import (
    NO_PAIRS,
    Agreement,
    ReviewPair,
    agreement,
    agreement_by_judge,
    agreement_of_table,
    audit_selected,
    pair_of,
    review_pairs,
)
from monitoring_pipelines.core.hallucination.review import ReviewItem, ReviewReason, ReviewStatus
from monitoring_pipelines.core.hallucination.sampling import plan_sample
from monitoring_pipelines.core.ingest.cleaning import hash_keys

Z = 1.959963984540054


def pairs_of_table(
    tp: int, fp: int, fn: int, tn: int, judge: str = "j", prompt: str = "v1"
) -> list[ReviewPair]:
    cells = [(True, True, tp), (True, False, fp), (False, True, fn), (False, False, tn)]
    return [ReviewPair(f, h, judge, prompt) for f, h, count in cells for _ in range(count)]


def request_keys(n: int, seed: str = "req") -> list[str]:
    """Request keys as the slice makes them: 64-bit hashes of request ids, in 16 hex digits."""
    hashed = hash_keys(pd.Series([f"{seed}-{i}" for i in range(n)]), "id:")
    return [f"{int(k):016x}" for k in hashed]


def item(status: ReviewStatus, score: float = 0.4, **fields: object) -> ReviewItem:
    values: dict[str, object] = {
        "id": 1,
        "monitor": "support_bot",
        "request_key": "00000000000000ff",
        "request_id": "req-1",
        "reason": ReviewReason.FLAGGED if score < 0.7 else ReviewReason.AUDIT,
        "partition": "2024-05-01",
        "question": "q",
        "context": "c",
        "answer": "a",
        "score": score,
        "rationale": "r",
        "judge": "offline",
        "prompt_version": "v2",
        "model_version": None,
        "intent": None,
        "article": None,
        "status": status,
        "corrected_answer": "fixed" if status is ReviewStatus.CORRECTED else None,
        "reviewer": None if status is ReviewStatus.PENDING else "ana",
        "reviewed_at": None if status is ReviewStatus.PENDING else datetime(2024, 5, 2, tzinfo=UTC),
        "note": None,
        "queued_at": datetime(2024, 5, 1, tzinfo=UTC),
        **fields,
    }
    return ReviewItem(**values)  # type: ignore[arg-type]


def assert_finite(result: Agreement) -> None:
    assert all(math.isfinite(v) for v in result.metrics().values())


# --- kappa


def test_textbook_example_gives_kappa_0_4_and_the_fleiss_cohen_everitt_error() -> None:
    # Wikipedia's Cohen's kappa example: 20 both yes, 5 A yes B no, 10 A no B yes, 15 both no.
    result = agreement(pairs_of_table(20, 5, 10, 15))
    assert (result.tp, result.fp, result.fn, result.tn, result.n) == (20, 5, 10, 15, 50)
    assert result.observed == pytest.approx(0.7)
    assert result.expected == pytest.approx(0.5)
    assert result.kappa == pytest.approx(0.4)
    assert result.precision == pytest.approx(0.8)
    assert result.recall == pytest.approx(2 / 3)
    # By hand: [0.10972 + 0.36 * 0.283 - 0.1^2] / (50 * 0.5^2) = 0.016128.
    assert result.kappa_se == pytest.approx(math.sqrt(0.016128))
    assert result.kappa_low == pytest.approx(0.4 - Z * math.sqrt(0.016128))
    assert result.kappa_high == pytest.approx(0.4 + Z * math.sqrt(0.016128))
    assert result.reason is None
    assert result == agreement_of_table(20, 5, 10, 15)


def test_kappa_matches_its_definition_on_random_verdicts() -> None:
    rng = np.random.default_rng(7)
    judge = rng.random(300) < 0.4
    reviewer = np.where(rng.random(300) < 0.7, judge, rng.random(300) < 0.5)
    pairs = [ReviewPair(bool(j), bool(r), "j", "v1") for j, r in zip(judge, reviewer, strict=True)]
    observed = float(np.mean(judge == reviewer))
    expected = judge.mean() * reviewer.mean() + (1 - judge.mean()) * (1 - reviewer.mean())
    assert agreement(pairs).kappa == pytest.approx((observed - expected) / (1 - expected))


def test_perfect_agreement_is_1_and_perfect_disagreement_is_minus_1() -> None:
    perfect = agreement(pairs_of_table(12, 0, 0, 30))
    assert perfect.kappa == pytest.approx(1.0)
    assert perfect.observed == 1.0
    assert perfect.kappa_low == pytest.approx(1.0)  # the Wald interval is degenerate at 1
    assert (perfect.precision, perfect.recall) == (1.0, 1.0)
    opposite = agreement(pairs_of_table(0, 25, 25, 0))
    assert opposite.kappa == pytest.approx(-1.0)
    assert opposite.kappa_low is not None and opposite.kappa_low >= -1.0


def test_chance_level_agreement_is_about_0() -> None:
    assert agreement_of_table(25, 25, 25, 25).kappa == pytest.approx(0.0, abs=1e-12)
    rng = np.random.default_rng(3)
    judge, reviewer = rng.random(4000) < 0.3, rng.random(4000) < 0.4
    result = agreement(
        [ReviewPair(bool(j), bool(r), "j", "v1") for j, r in zip(judge, reviewer, strict=True)]
    )
    assert result.kappa is not None and abs(result.kappa) < 0.05
    assert result.kappa_low is not None and result.kappa_high is not None
    assert result.kappa_low < 0.0 < result.kappa_high


def test_interval_contains_kappa_and_narrows_with_n() -> None:
    widths = []
    for scale in (1, 4, 16):
        result = agreement_of_table(20 * scale, 5 * scale, 10 * scale, 15 * scale)
        assert result.kappa == pytest.approx(0.4)
        assert result.kappa_low is not None and result.kappa_high is not None
        assert result.kappa_low < result.kappa < result.kappa_high
        widths.append(result.kappa_high - result.kappa_low)
    # The standard error goes as 1 / sqrt(n): four times the pairs, half the width.
    assert widths[1] == pytest.approx(widths[0] / 2)
    assert widths[2] == pytest.approx(widths[0] / 4)


def test_below_min_pairs_kappa_is_computed_but_inconclusive() -> None:
    small = agreement(pairs_of_table(4, 1, 2, 3))
    assert small.kappa is not None and small.n == 10
    assert not small.conclusive
    assert small.metrics()["conclusive"] == 0
    assert "inconclusive" in small.as_markdown()
    assert agreement(pairs_of_table(20, 5, 10, 15)).conclusive
    assert not agreement(pairs_of_table(20, 5, 10, 15), min_pairs=51).conclusive
    assert agreement(pairs_of_table(20, 5, 10, 15), min_pairs=50).conclusive


# --- degenerate tables


def test_no_pairs_gives_no_kappa_and_says_why() -> None:
    result = agreement([])
    assert result.kappa is None and result.reason == NO_PAIRS
    assert result.observed is None and result.precision is None and result.recall is None
    assert not result.conclusive
    assert result.metrics() == {"n": 0, "tp": 0, "fp": 0, "fn": 0, "tn": 0, "conclusive": 0}
    assert "n/a (no reviewed answers)" in result.as_markdown()


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ((30, 10, 0, 0), "no audit sample"),  # only flagged answers were reviewed
        ((0, 0, 5, 35), "flagged none"),
        ((30, 0, 10, 0), "confirmed a hallucination in all 40"),
        ((0, 10, 0, 30), "found no hallucination"),
        ((40, 0, 0, 0), "pe == 1"),
        ((0, 0, 0, 40), "pe == 1"),
    ],
)
def test_one_class_on_a_side_gives_no_kappa_and_a_reason(
    table: tuple[int, int, int, int], says: str
) -> None:
    result = agreement(pairs_of_table(*table))
    assert result.kappa is None and result.kappa_se is None and result.kappa_low is None
    assert result.reason is not None and says in result.reason
    assert not result.conclusive
    assert result.n == 40 and result.observed is not None
    assert "kappa" not in result.metrics()
    assert_finite(result)
    assert says in result.as_markdown()


def test_precision_and_recall_are_left_out_when_undefined() -> None:
    result = agreement(pairs_of_table(0, 0, 5, 40))  # nothing flagged: no precision
    assert result.precision is None and result.recall == 0.0
    assert "precision" not in result.metrics() and result.metrics()["recall"] == 0.0


def test_negative_counts_are_rejected() -> None:
    with pytest.raises(ValueError, match="tp=-1"):
        agreement_of_table(-1, 0, 0, 0)


# --- output


def test_metrics_and_markdown_carry_the_numbers() -> None:
    result = agreement(pairs_of_table(20, 5, 10, 15))
    metrics = result.metrics()
    assert metrics["kappa"] == pytest.approx(0.4)
    assert (metrics["n"], metrics["tp"], metrics["fp"], metrics["fn"], metrics["tn"]) == (
        50,
        20,
        5,
        10,
        15,
    )
    assert metrics["conclusive"] == 1
    assert set(metrics) >= {"kappa_low", "kappa_high", "kappa_se", "precision", "recall"}
    assert_finite(result)
    markdown = result.as_markdown()
    assert "| judge: flagged | 20 | 5 |" in markdown
    assert "| judge: passed | 10 | 15 |" in markdown
    assert "Cohen's kappa: 0.40 (95 % CI 0.15 to 0.65), n = 50" in markdown
    assert "inconclusive" not in markdown


# --- pairs and groups


@pytest.mark.parametrize(
    ("status", "hallucination"),
    [
        (ReviewStatus.APPROVED, False),
        (ReviewStatus.CORRECTED, True),
        (ReviewStatus.REJECTED, True),
    ],
)
def test_pair_of_maps_each_review_status(status: ReviewStatus, hallucination: bool) -> None:
    flagged = pair_of(item(status, score=0.4))
    assert flagged == ReviewPair(True, hallucination, "offline", "v2")
    audited = pair_of(item(status, score=0.9, judge="gpt", prompt_version="v3"))
    assert audited == ReviewPair(False, hallucination, "gpt", "v3")


def test_pair_of_a_pending_item_is_none_and_the_judge_verdict_is_the_queue_reason() -> None:
    assert pair_of(item(ReviewStatus.PENDING)) is None
    # the verdict of the day it was scored, whatever the score says against today's threshold
    audited = pair_of(item(ReviewStatus.APPROVED, score=0.5, reason=ReviewReason.AUDIT))
    assert audited is not None and not audited.judge_flagged
    flagged = pair_of(item(ReviewStatus.APPROVED, score=0.75, reason=ReviewReason.FLAGGED))
    assert flagged is not None and flagged.judge_flagged
    pending = [item(ReviewStatus.PENDING), item(ReviewStatus.REJECTED)]
    assert review_pairs(pending) == [ReviewPair(True, True, "offline", "v2")]


def test_agreement_is_grouped_by_judge_and_prompt_version() -> None:
    pairs = (
        pairs_of_table(20, 5, 10, 15, judge="offline", prompt="v1")
        + pairs_of_table(30, 0, 0, 30, judge="offline", prompt="v2")
        + pairs_of_table(10, 10, 0, 0, judge="gpt-4o", prompt="v1")
    )
    groups = agreement_by_judge(pairs, min_pairs=30)
    assert list(groups) == [("gpt-4o", "v1"), ("offline", "v1"), ("offline", "v2")]
    assert groups[("offline", "v1")].kappa == pytest.approx(0.4)
    assert groups[("offline", "v1")].conclusive
    assert groups[("offline", "v2")].kappa == pytest.approx(1.0)
    assert groups[("gpt-4o", "v1")].kappa is None
    assert not groups[("gpt-4o", "v1")].conclusive  # 20 pairs, under 30, and no kappa
    assert sum(g.n for g in groups.values()) == len(pairs)
    # Mixed together the versions would read as one judge of kappa between the two.
    mixed = agreement(pairs)
    assert mixed.kappa is not None and 0.4 < mixed.kappa < 1.0
    assert agreement_by_judge([]) == {}


# --- the audit sample


KEYS = request_keys(20_000)


def test_audit_selection_is_deterministic_and_nested() -> None:
    again = request_keys(20_000)
    assert [audit_selected(k, 0.1) for k in KEYS] == [audit_selected(k, 0.1) for k in again]
    low = {k for k in KEYS if audit_selected(k, 0.05)}
    high = {k for k in KEYS if audit_selected(k, 0.2)}
    assert low < high
    assert not any(audit_selected(k, 0.0) for k in KEYS[:2000])
    assert all(audit_selected(k, 1.0) for k in KEYS[:2000])
    assert audit_selected("ffffffffffffffff", 1.0) and not audit_selected("0" * 16, 0.0)


@pytest.mark.parametrize("rate", [0.02, 0.1, 0.5])
def test_audit_rate_is_close_to_the_requested_rate(rate: float) -> None:
    share = np.mean([audit_selected(k, rate) for k in KEYS])
    assert abs(share - rate) < 0.01


def test_another_salt_gives_an_independent_audit() -> None:
    first = np.array([audit_selected(k, 0.2) for k in KEYS])
    other = np.array([audit_selected(k, 0.2, salt="audit-2") for k in KEYS])
    assert abs(other.mean() - 0.2) < 0.01
    assert abs((first & other).mean() - 0.04) < 0.01  # independent: 0.2 x 0.2 overlap


def test_audit_is_uncorrelated_with_the_judges_sample() -> None:
    hashed = hash_keys(pd.Series([f"req-{i}" for i in range(20_000)]), "id:")
    keys = [f"{int(k):016x}" for k in hashed]
    config = JudgeConfig.model_validate(
        {"backend": "openai", "sample_rate": 0.3, "min_per_intent": 0, "daily_cap": 1_000_000}
    )
    text = ["x"] * len(keys)
    plan = plan_sample(hashed, None, text, text, config)
    sampled = np.zeros(len(keys), dtype=bool)
    sampled[plan.selected] = True
    audited = np.array([audit_selected(k, 0.2) for k in keys])
    assert abs(sampled.mean() - 0.3) < 0.001
    # Sampling the smallest priorities with the audit's own hash would put the whole audit in
    # the sample (share 2/3 inside, 0 outside); independent, it is 0.2 on either side.
    assert abs(audited[sampled].mean() - 0.2) < 0.015
    assert abs(audited[~sampled].mean() - 0.2) < 0.015
    assert abs(np.corrcoef(sampled, audited)[0, 1]) < 0.03
    # Nor does it favour the answers scored first (a judge stopped by its budget).
    order = plan.selected
    first, last = audited[order[: len(order) // 2]], audited[order[len(order) // 2 :]]
    assert abs(first.mean() - last.mean()) < 0.025


@pytest.mark.parametrize("rate", [-0.1, 1.5, math.nan])
def test_audit_rejects_a_rate_outside_0_1(rate: float) -> None:
    with pytest.raises(ValueError, match="rate must be in"):
        audit_selected("00000000000000ff", rate)


@pytest.mark.parametrize(
    "key", ["req-1", "ff", "1" * 17, "", "0x00000000000000", "0000_00000000000"]
)
def test_audit_rejects_a_key_that_is_not_16_hex_digits(key: str) -> None:
    with pytest.raises(ValueError, match="16 hex digits"):
        audit_selected(key, 0.1)
