"""The review page on SQLite and PostgreSQL: the queue and its filters, one answer in full,
and reviews recorded as ``monitoring review`` records them, behind a CSRF token."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from fastapi.testclient import TestClient

from monitoring_pipelines.cli import main
from monitoring_pipelines.core.hallucination.finetune import finetuning_records
from monitoring_pipelines.core.hallucination.review import REVIEWED, ReviewQueue, ReviewStatus
from monitoring_pipelines.core.hallucination.store import save_scores
from monitoring_pipelines.core.store.results import ResultRepository
from tests.web.conftest import CONTEXT, csrf_token, run_of, scored

DAY, NEXT = "2026-10-12", "2026-10-13"


def ids(results: ResultRepository, monitor: str = "bot") -> list[int]:
    return [i.id for i in ReviewQueue(results).items(monitor)]


def listed(page: str) -> set[int]:
    """The item ids a queue page lists."""
    return {int(part.split('"', 1)[0]) for part in page.split('<a href="/review/')[1:]}


def test_the_queue_lists_pending_answers_and_filters_them(
    client: TestClient, results: ResultRepository
) -> None:
    save_scores(
        results,
        "bot",
        DAY,
        run_of(scored(1, 0.1), scored(2, 0.2, intent="cards", article="KB-9"), scored(3, 0.9)),
        audit_rate=1.0,
    )
    save_scores(results, "bot", NEXT, run_of(scored(4, 0.3)))
    save_scores(results, "other", DAY, run_of(scored(5, 0.3)))
    by_key = {i.request_key: i.id for i in ReviewQueue(results).items()}
    one, two, three, four, five = (by_key[f"{n:016x}"] for n in range(1, 6))
    ReviewQueue(results).review(four, ReviewStatus.APPROVED, "ann")

    page = client.get("/review")
    assert page.status_code == 200
    assert listed(page.text) == {one, two, three, five}  # pending only, by default
    assert "4 items" in page.text
    cases = {
        "monitor=bot": {one, two, three},
        "reason=audit": {three},
        "reason=flagged&monitor=bot": {one, two},
        "intent=cards": {two},
        "article=KB-204&monitor=bot": {one, three},
        f"day={NEXT}&status=all": {four},
        "status=approved": {four},
        "status=all": {one, two, three, four, five},
        "intent=nothing-like-it": set(),
    }
    for query, expected in cases.items():
        page = client.get(f"/review?{query}")
        assert page.status_code == 200, (query, page.text)
        assert listed(page.text) == expected, query
    assert "Nothing to review with these filters." in client.get("/review?intent=x").text
    # The filter choices come from the queue.
    page = client.get("/review?status=all").text
    for value in ("KB-9", "cards", "other", NEXT):
        assert f'<option value="{value}"' in page

    for query, problem in (
        ("status=done", "status &#39;done&#39; is unknown"),
        ("reason=x", "reason &#39;x&#39; is unknown"),
    ):
        bad = client.get(f"/review?{query}")
        assert bad.status_code == 400 and problem in bad.text


def test_an_answer_shows_its_question_context_and_rationale_and_highlights_what_the_judge_named(
    client: TestClient, results: ResultRepository
) -> None:
    save_scores(
        results,
        "bot",
        DAY,
        run_of(
            scored(1, 0.1, unsupported=("$11", "not in the answer")),
            scored(2, 0.2),
        ),
    )
    first, second = ids(results)
    page = client.get(f"/review/{first}")
    assert page.status_code == 200
    for part in ("What is the fee for a late payment? (1)", CONTEXT, "unsupported: &#39;$11&#39;"):
        assert part in page.text
    assert "flagged: the judge scored it under the threshold" in page.text
    assert 'we add <mark class="unsupported">$11</mark>.' in page.text
    assert "Highlighted: what the judge found unsupported" in page.text

    plain = client.get(f"/review/{second}").text
    assert "we add $12." in plain and "<mark" not in plain  # the judge named nothing
    assert client.get("/review/999999").status_code == 404
    assert "no review item #999999" in client.get("/review/999999").text.lower()


def test_a_write_without_the_csrf_token_is_refused(
    client: TestClient, results: ResultRepository
) -> None:
    save_scores(results, "bot", DAY, run_of(scored(1, 0.1)))
    [item] = ids(results)
    form = {"action": "approve", "reviewer": "mallory"}
    assert client.post(f"/review/{item}", data=form).status_code == 403
    token = csrf_token(client)
    wrong = client.post(f"/review/{item}", data={**form, "csrf_token": "x" * 43})
    assert wrong.status_code == 403 and "CSRF" in wrong.text
    # A token without its cookie (another browser, or a forged cross-site form) is refused too.
    stranger = TestClient(client.app)
    forged = stranger.post(f"/review/{item}", data={**form, "csrf_token": token})
    assert forged.status_code == 403
    assert ReviewQueue(results).get(item).status is ReviewStatus.PENDING

    done = client.post(
        f"/review/{item}",
        data={**form, "csrf_token": token, "note": " looks right "},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == f"/review/{item}?recorded=1"
    after = client.get(done.headers["location"]).text
    assert "Recorded: approved by mallory." in after
    reviewed = ReviewQueue(results).get(item)
    assert (reviewed.status, reviewed.reviewer, reviewed.note) == (
        ReviewStatus.APPROVED,
        "mallory",
        "looks right",
    )
    # The reviewer's name is remembered for the next form.
    save_scores(results, "bot", NEXT, run_of(scored(2, 0.1)))
    assert 'name="reviewer" value="mallory"' in client.get(f"/review/{ids(results)[-1]}").text


def test_bad_reviews_get_a_clear_error_and_change_nothing(
    client: TestClient, results: ResultRepository
) -> None:
    save_scores(results, "bot", DAY, run_of(scored(1, 0.1)))
    [item] = ids(results)
    token = csrf_token(client)
    cases = [
        ({"action": "correct", "reviewer": "bo", "note": "kept"}, 400, "needs the answer"),
        ({"action": "approve", "reviewer": "  "}, 400, "Give your name"),
        ({"action": "delete", "reviewer": "bo"}, 400, "Unknown action"),
        ({"action": "approve", "reviewer": "b" * 129}, 400, "at most 128"),
        ({"action": "reject", "reviewer": "bo", "note": "a\x00b"}, 400, "NUL"),
    ]
    for form, status, problem in cases:
        page = client.post(f"/review/{item}", data={**form, "csrf_token": token})
        assert page.status_code == status, form
        assert problem in page.text, (form, page.text)
    # The form keeps what was typed.
    assert (
        ">kept</textarea>"
        in client.post(f"/review/{item}", data={**cases[0][0], "csrf_token": token}).text
    )
    assert ReviewQueue(results).get(item).status is ReviewStatus.PENDING

    ok = {"action": "reject", "reviewer": "bo", "csrf_token": token}
    assert client.post(f"/review/{item}", data=ok, follow_redirects=False).status_code == 303
    again = client.post(f"/review/{item}", data={**ok, "action": "approve"})
    assert again.status_code == 409 and "is already rejected (by bo" in again.text
    assert client.post("/review/424242", data=ok).status_code == 404
    assert client.post("/review/not-a-number", data=ok).status_code in (404, 405)


def test_a_web_correction_and_a_cli_correction_give_the_same_fine_tuning_rows(
    client: TestClient, results: ResultRepository, store_url: str, tmp_path: Path
) -> None:
    for monitor in ("web", "cli"):
        save_scores(results, monitor, DAY, run_of(scored(1, 0.1), scored(2, 0.9)), audit_rate=1.0)
    web_flagged, web_audit = ids(results, "web")
    cli_flagged, cli_audit = ids(results, "cli")
    corrected = "A late fee of $5 is charged.\nSee KB-204 <details>."
    token = csrf_token(client)
    for item, action in ((web_flagged, "correct"), (web_audit, "approve")):
        form = {"action": action, "reviewer": "ann", "corrected_answer": corrected, "note": "kb"}
        response = client.post(
            f"/review/{item}", data={**form, "csrf_token": token}, follow_redirects=False
        )
        assert response.status_code == 303, response.text

    env = {"MONITORING_STORE_URL": store_url, "MONITORING_HOME": str(tmp_path / "home")}
    runner = CliRunner()
    for args in (
        ["correct", str(cli_flagged), "--answer", corrected, "--by", "ann", "--note", "kb"],
        ["approve", str(cli_audit), "--by", "ann", "--note", "kb"],
    ):
        result = runner.invoke(main, ["review", *args], env=env)
        assert result.exit_code == 0, result.output

    def rows(monitor: str) -> list[dict[str, object]]:
        """The monitor's fine-tuning rows, as the finetuning_dataset asset and
        `monitoring review export` build them, less what names the monitor and the item."""
        items = ReviewQueue(results).items(monitor, REVIEWED)
        records = json.loads(json.dumps(finetuning_records(items).records))
        for record in records:
            meta = record["metadata"]
            assert meta.pop("monitor") == monitor and meta.pop("reviewed_at")
            meta.pop("review_item_id")
        return records

    web_rows, cli_rows = rows("web"), rows("cli")
    assert len(web_rows) == 1 and web_rows == cli_rows
    assert web_rows[0]["messages"][-1]["content"] == corrected
    web_items = ReviewQueue(results).items("web")
    cli_items = ReviewQueue(results).items("cli")
    assert [(i.status, i.reviewer, i.corrected_answer, i.note) for i in web_items] == [
        (i.status, i.reviewer, i.corrected_answer, i.note) for i in cli_items
    ]
