"""The review queue on SQLite and PostgreSQL: idempotent enqueueing from the scores, and the
``monitoring review`` commands (list, show, approve, correct, reject) with their errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from monitoring_pipelines.cli import main
from monitoring_pipelines.core.hallucination.review import (
    ReviewQueue,
    ReviewStatus,
    ReviewTransitionError,
    UnknownReviewItem,
)
from monitoring_pipelines.core.hallucination.scoring import SampledAnswer, ScoredAnswer, ScoringRun
from monitoring_pipelines.core.hallucination.store import load_scores, save_scores
from monitoring_pipelines.core.judge import Verdict
from monitoring_pipelines.core.store.results import ResultRepository
from tests.assets.conftest import count_rows

DAY = "2026-10-12"
CONTEXT = "A late payment fee of $5 is charged when an instalment is overdue."


def scored(i: int, score: float, judge_version: str = "offline-lexical-1") -> ScoredAnswer:
    answer = SampledAnswer(
        request_key=f"{i:016x}",
        question=f"What is the fee for a late payment? ({i})",
        context=CONTEXT,
        answer=f"If an instalment is overdue, we add ${10 + i} as a late fee.",
        intent="billing",
        article="KB-204",
        model_version="gpt-4o-mini",
        stratum_rows=300,
    )
    verdict = Verdict(score, f"unsupported: '${10 + i}'", "offline", judge_version, cost_usd=0.0)
    return ScoredAnswer(answer, verdict, 0.7)


def run_of(*answers: ScoredAnswer) -> ScoringRun:
    return ScoringRun(tuple(answers), len(answers), None, 0.01)


def test_enqueueing_is_idempotent_and_keeps_reviews(
    results: ResultRepository, store_url: str
) -> None:
    queue = ReviewQueue(results)
    day = run_of(scored(1, 0.02), scored(2, 0.10), scored(3, 0.95), scored(4, 0.30))
    first = save_scores(results, "bot", DAY, day)
    assert (first.added, first.refreshed) == (3, 0)
    again = save_scores(results, "bot", DAY, day)
    assert (again.added, again.refreshed, again.kept_reviewed) == (0, 3, 0)
    assert queue.count("bot") == 3
    assert count_rows(store_url, "faithfulness_scores", monitor="bot", partition_key=DAY) == 4

    items = {i.request_key: i for i in queue.items("bot")}
    queue.review(items[f"{1:016x}"].id, ReviewStatus.CORRECTED, "bob", corrected_answer="$5.")
    # A new judge version rescored the day: answer 2 is now fine, answer 4 still flagged.
    rescored = run_of(
        scored(1, 0.05, "v2"), scored(2, 0.90, "v2"), scored(3, 0.95, "v2"), scored(4, 0.2, "v2")
    )
    report = save_scores(results, "bot", DAY, rescored)
    assert (report.added, report.refreshed, report.kept_reviewed, report.withdrawn) == (0, 1, 1, 1)
    after = {i.request_key: i for i in queue.items("bot")}
    assert set(after) == {f"{1:016x}", f"{4:016x}"}
    kept = after[f"{1:016x}"]
    assert kept.status is ReviewStatus.CORRECTED and kept.score == 0.02  # the reviewed verdict
    assert kept.corrected_answer == "$5." and kept.reviewer == "bob"
    assert after[f"{4:016x}"].prompt_version == "v2" and after[f"{4:016x}"].score == 0.2
    rows, judge = load_scores(results, "bot", DAY)
    assert len(rows) == 4 and judge is not None and judge.prompt_version == "v2"


def test_only_pending_items_can_be_reviewed(results: ResultRepository) -> None:
    queue = ReviewQueue(results)
    save_scores(results, "bot", DAY, run_of(scored(1, 0.1)))
    item = queue.items("bot")[0]
    with pytest.raises(ReviewTransitionError, match="needs the corrected answer"):
        queue.review(item.id, ReviewStatus.CORRECTED, "bob", corrected_answer="  ")
    queue.review(item.id, ReviewStatus.APPROVED, "bob")
    with pytest.raises(ReviewTransitionError, match=r"already approved \(by bob"):
        queue.review(item.id, ReviewStatus.REJECTED, "carol")
    with pytest.raises(UnknownReviewItem, match="no review item #999"):
        queue.get(999)


def cli(store_url: str, tmp_path: Path, *args: str) -> Result:
    env = {"MONITORING_STORE_URL": store_url, "MONITORING_HOME": str(tmp_path / "home")}
    return CliRunner().invoke(main, list(args), env=env)


def test_the_review_flow_on_the_command_line(
    results: ResultRepository, store_url: str, tmp_path: Path
) -> None:
    save_scores(results, "bot", DAY, run_of(scored(1, 0.02), scored(2, 0.1), scored(3, 0.3)))
    save_scores(results, "other", DAY, run_of(scored(9, 0.4)))
    ids = [i.id for i in ReviewQueue(results).items("bot")]

    listed = cli(store_url, tmp_path, "review", "list", "--monitor", "bot", "--status", "pending")
    assert listed.exit_code == 0, listed.output
    assert listed.output.count(" pending ") == 3 and "other" not in listed.output
    assert "intent=billing article=KB-204" in listed.output
    assert listed.output.strip().endswith("3 item(s): 3 pending")

    shown = cli(store_url, tmp_path, "review", "show", str(ids[0]))
    assert shown.exit_code == 0, shown.output
    for part in ("What is the fee for a late payment? (1)", CONTEXT, "we add $11 as a late fee"):
        assert part in shown.output
    assert "score 0.020" in shown.output and "unsupported: '$11'" in shown.output

    approve = cli(store_url, tmp_path, "review", "approve", str(ids[0]), "--by", "alice")
    assert approve.exit_code == 0 and f"#{ids[0]} approved by alice" in approve.output
    correct = cli(
        store_url, tmp_path, "review", "correct", str(ids[1]), "--answer", "It is $5.", "--by", "bo"
    )
    assert correct.exit_code == 0 and f"#{ids[1]} corrected by bo" in correct.output
    reject = cli(store_url, tmp_path, "review", "reject", str(ids[2]), "--note", "KB-204 outdated")
    assert reject.exit_code == 0, reject.output

    items = {i.id: i for i in ReviewQueue(results).items("bot")}
    assert items[ids[0]].status is ReviewStatus.APPROVED and items[ids[0]].reviewer == "alice"
    assert items[ids[1]].corrected_answer == "It is $5."
    assert items[ids[2]].status is ReviewStatus.REJECTED and items[ids[2]].note == "KB-204 outdated"
    assert all(i.reviewed_at is not None for i in items.values())
    shown = cli(store_url, tmp_path, "review", "show", str(ids[1]))
    assert "corrected by bo" in shown.output and "It is $5." in shown.output

    pending = cli(store_url, tmp_path, "review", "list", "--status", "pending")
    assert pending.output.strip().endswith("1 item(s): 1 pending")  # the other monitor's


def test_the_commands_fail_clearly(
    results: ResultRepository, store_url: str, tmp_path: Path
) -> None:
    save_scores(results, "bot", DAY, run_of(scored(1, 0.02)))
    item = ReviewQueue(results).items("bot")[0].id
    unknown = cli(store_url, tmp_path, "review", "approve", "4242")
    assert unknown.exit_code == 2 and "no review item #4242" in unknown.output
    assert cli(store_url, tmp_path, "review", "show", "4242").exit_code == 2
    assert cli(store_url, tmp_path, "review", "reject", str(item), "--by", "ann").exit_code == 0
    twice = cli(store_url, tmp_path, "review", "correct", str(item), "--answer", "x")
    assert twice.exit_code == 2
    assert f"review item #{item} is already rejected (by ann" in twice.output
    missing = cli(store_url, tmp_path, "review", "correct", str(item))
    assert missing.exit_code == 2 and "--answer" in missing.output  # click's usage error
    out = str(tmp_path / "out.jsonl")
    nobody = cli(store_url, tmp_path, "review", "export", "--monitor", "nope", "--out", out)
    assert nobody.exit_code == 2 and "unknown monitor(s) nope; configured:" in nobody.output
    assert not (tmp_path / "out.jsonl").exists()
    assert cli(store_url, tmp_path, "review", "agreement", "--monitor", "nope").exit_code == 2


def test_the_unsupported_span_is_stored_with_the_score_and_the_review_item(
    results: ResultRepository,
) -> None:
    """The judge's unsupported span reaches the review item as offsets into the answer, and a
    rerun of the day reuses it with the verdict; a verdict without one stores none."""
    from monitoring_pipelines.core.hallucination.store import load_verdicts
    from monitoring_pipelines.core.judge import OfflineJudge

    answer = scored(1, 0.0).sampled
    verdict = OfflineJudge().judge(answer.question, answer.context, answer.answer)
    assert verdict.score < 0.7 and verdict.unsupported_span is not None
    start, end = verdict.unsupported_span
    assert answer.answer[start:end] == "$11"  # the fee the context does not state
    plain = scored(2, 0.1)
    save_scores(results, "bot", DAY, run_of(ScoredAnswer(answer, verdict, 0.7), plain))
    items = {i.request_key: i for i in ReviewQueue(results).items("bot")}
    assert items[answer.request_key].unsupported_span == (start, end)
    assert items[plain.sampled.request_key].unsupported_span is None
    known = load_verdicts(results, "bot", DAY, verdict.judge, verdict.prompt_version)
    assert [v.unsupported_span for v in known.values()] == [(start, end)]


def test_the_daily_audit_is_capped_to_the_first_in_its_fixed_order(
    results: ResultRepository,
) -> None:
    """With every answer judged, the audit queues at most ``audit_limit`` passing answers a
    day: the same ones on a rerun, and a larger cap keeps those of a smaller one."""
    from monitoring_pipelines.core.hallucination.governance import audit_priority
    from monitoring_pipelines.core.hallucination.review import ReviewQueue, ReviewReason
    from monitoring_pipelines.core.hallucination.store import save_scores
    from tests.web.conftest import run_of, scored

    def audited(day: int, limit: int | None) -> list[str]:
        """The audited keys of day ``day`` (its own 200 passing answers and one flagged)."""
        keys = range(1000 * day + 1, 1000 * day + 201)
        run = run_of(*(scored(k, 0.95) for k in keys), scored(1000 * day + 500, 0.1))
        partition = f"2026-10-{day:02d}"
        save_scores(results, "bot", partition, run, audit_rate=1.0, audit_limit=limit)
        items = ReviewQueue(results).items("bot")
        mine = [i for i in items if i.partition == partition]
        assert sum(i.reason is ReviewReason.FLAGGED for i in mine) == 1  # never capped
        return sorted(i.request_key for i in mine if i.reason is ReviewReason.AUDIT)

    five = audited(1, 5)
    assert len(five) == 5 and audited(1, 5) == five  # a rerun of the day queues the same
    in_order = sorted((f"{k:016x}" for k in range(1001, 1201)), key=audit_priority)
    assert five == sorted(in_order[:5])
    assert set(five) <= set(audited(1, 12)) and len(audited(1, 12)) == 12
    assert len(audited(2, None)) == 200
