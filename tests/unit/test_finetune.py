"""PII redaction and the fine-tuning set built from corrected reviews."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitoring_pipelines.core.hallucination.finetune import (
    DEFAULT_SYSTEM_PROMPT,
    FinetuneDataset,
    finetuning_records,
    write_jsonl,
)
from monitoring_pipelines.core.hallucination.review import ReviewItem, ReviewReason, ReviewStatus
from monitoring_pipelines.core.pii import luhn_valid, redact

# --- redaction ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Write to jane.doe+kb@example.co.uk.", "Write to [EMAIL]."),
        ("Call +44 20 7946 0958 today", "Call [PHONE] today"),
        ("US: +1 (555) 123-4567", "US: [PHONE]"),
        ("mobile +4915112345678", "mobile [PHONE]"),
        ("+33 6 12 34 56 78", "[PHONE]"),
        ("(555) 123-4567 or 555-123-4567", "[PHONE] or [PHONE]"),
        ("ring 020 7946 0958", "ring [PHONE]"),
        ("ring 06.12.34.56.78", "ring [PHONE]"),
        ("text 07700900123", "text [PHONE]"),
        ("card 4111 1111 1111 1111 exp 12/28", "card [CARD] exp 12/28"),
        ("card 4111-1111-1111-1111", "card [CARD]"),
        ("card 4111111111111111.", "card [CARD]."),
        ("amex 3782 822463 10005", "amex [CARD]"),
    ],
)
def test_redacts_obvious_pii(text: str, expected: str) -> None:
    assert redact(text).text == expected


@pytest.mark.parametrize(
    "text",
    [
        "The refund arrives on 2026-09-01 at 12:30.",
        "Sent 01.09.2026, 2026-09-01T12:30:00Z",
        "See KB-204 and KB-2041234567.",
        "It costs $12.99, or 1,299.00 EUR, or € 612.345.678, or 612.345.678,00.",
        "Update to 1.2.3 or 10.0.19045.2965.",
        "Server 192.168.100.200 serves 1 234 567 users.",
        "Order 12345, 3 items, 42 days, code 5551234567.",
    ],
)
def test_leaves_dates_times_ids_prices_versions_and_short_numbers(text: str) -> None:
    result = redact(text)
    assert result.text == text
    assert sum(result.counts.values()) == 0


def test_counts_every_kind() -> None:
    result = redact("a@b.io, c@d.org, +1 555 123 4567, 4111 1111 1111 1111")
    assert result.text == "[EMAIL], [EMAIL], [PHONE], [CARD]"
    assert dict(result.counts) == {"email": 2, "card": 1, "phone": 1}
    assert dict(redact("nothing here").counts) == {"email": 0, "card": 0, "phone": 0}


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("1234567890123456")


def test_long_numbers_failing_luhn_are_not_cards() -> None:
    # 16-19 digits failing Luhn: a tracking or order number, too long to be a phone: kept.
    for text in ("ref 1234 5678 9012 3456", "ref 1234567890123456", "ref 4111111111111112"):
        assert redact(text).text == text
    # 13-15 digits failing Luhn in a phone's shape still go, as a phone.
    result = redact("amex 3782 822463 10006")
    assert result.text == "amex [PHONE]"
    assert result.counts["card"] == 0


def test_emails_go_before_their_digits_are_read_as_numbers() -> None:
    assert redact("mail 4111111111111111@cards.example.com").text == "mail [EMAIL]"


# --- the fine-tuning set ----------------------------------------------------------------------

T0 = datetime(2026, 9, 2, 9, 0, tzinfo=UTC)


def item(
    id: int,
    *,
    status: ReviewStatus = ReviewStatus.CORRECTED,
    partition: str = "2026-09-01",
    request_key: str | None = None,
    question: str | None = "How long does a refund take?",
    context: str = "Refunds are paid within 5 business days.",
    corrected: str | None = "A refund is paid within 5 business days.",
    reviewed_at: datetime | None = T0,
) -> ReviewItem:
    return ReviewItem(
        id=id,
        monitor="support_bot",
        request_key=request_key or f"{id:016x}",
        request_id=f"req-{id}",
        reason=ReviewReason.FLAGGED,
        partition=partition,
        question=question,
        context=context,
        answer="A refund takes 2 days.",
        score=0.12,
        rationale="2 days is not in the context",
        judge="openai",
        prompt_version="faithfulness-v1",
        model_version="bot-2026-08",
        intent="refund",
        article="KB-204",
        status=status,
        corrected_answer=corrected if status is ReviewStatus.CORRECTED else None,
        reviewer="ana",
        reviewed_at=reviewed_at if status is not ReviewStatus.PENDING else None,
        note=None,
        queued_at=datetime(2026, 9, 1, 23, 0, tzinfo=UTC),
    )


def messages(dataset: FinetuneDataset, index: int = 0) -> dict[str, str]:
    return {m["role"]: m["content"] for m in dataset.records[index]["messages"]}


def test_only_corrected_items_with_a_question_become_records() -> None:
    items = [
        item(1),
        item(2, status=ReviewStatus.APPROVED, question="q2"),
        item(3, status=ReviewStatus.REJECTED, question="q3"),
        item(4, status=ReviewStatus.PENDING, question="q4"),
        item(5, corrected="   ", question="q5"),
        item(6, question=None),
        item(7, question="  "),
    ]
    dataset = finetuning_records(items)
    assert [r["metadata"]["review_item_id"] for r in dataset.records] == [1]
    assert dict(dataset.skipped) == {
        "empty_correction": 1,
        "missing_question": 2,
        "not_corrected": 3,
    }
    assert dataset.duplicates_dropped == 0
    assert len(dataset.records) + sum(dataset.skipped.values()) == len(items)


def test_record_has_the_three_roles_with_fenced_context_and_the_correction() -> None:
    dataset = finetuning_records([item(1)], system_prompt="Be brief.")
    roles = [m["role"] for m in dataset.records[0]["messages"]]
    assert roles == ["system", "user", "assistant"]
    by_role = messages(dataset)
    assert by_role["system"] == "Be brief."
    assert "<context>\nRefunds are paid within 5 business days.\n</context>" in by_role["user"]
    assert by_role["user"].endswith("Question: How long does a refund take?")
    assert by_role["assistant"] == "A refund is paid within 5 business days."
    assert messages(finetuning_records([item(1)]))["system"] == DEFAULT_SYSTEM_PROMPT


def test_lineage() -> None:
    source = item(9, partition="2026-09-03", request_key="00000000000000ab")
    metadata = finetuning_records([source]).records[0]["metadata"]
    assert metadata == {
        "request_id": "req-9",
        "request_key": "00000000000000ab",
        "monitor": "support_bot",
        "partition": "2026-09-03",
        "model_version": "bot-2026-08",
        "judge_score": 0.12,
        "judge": "openai",
        "prompt_version": "faithfulness-v1",
        "reviewer": "ana",
        "reviewed_at": "2026-09-02T09:00:00+00:00",
        "review_item_id": 9,
    }


def test_pii_is_redacted_in_every_message_and_counted() -> None:
    source = item(
        1,
        question="I'm jo@example.com, card 4111 1111 1111 1111: where is my refund?",
        context="Customer phone: +44 20 7946 0958. Refunds take 5 days.",
        corrected="We emailed jo@example.com: 5 days.",
    )
    dataset = finetuning_records([source])
    text = json.dumps(dataset.records[0]["messages"])
    for secret in ("jo@example.com", "4111", "7946"):
        assert secret not in text
    by_role = messages(dataset)
    assert "I'm [EMAIL], card [CARD]: where" in by_role["user"]
    assert "Customer phone: [PHONE]." in by_role["user"]
    assert by_role["assistant"] == "We emailed [EMAIL]: 5 days."
    assert dict(dataset.redactions) == {"email": 2, "card": 1, "phone": 1}


def test_duplicates_keep_the_latest_review_and_are_counted() -> None:
    older = item(1, partition="2026-09-01", reviewed_at=T0)
    newer = item(
        2,
        partition="2026-09-05",
        question="  how LONG does a refund   take? ",
        reviewed_at=datetime(2026, 9, 6, tzinfo=UTC),
    )
    oldest = item(3, partition="2026-08-30", reviewed_at=datetime(2026, 8, 31, tzinfo=UTC))
    # Different emails redact to the same text, so they are duplicates too.
    pii_a = item(4, question="Mail a@x.io?", reviewed_at=datetime(2026, 9, 3, tzinfo=UTC))
    pii_b = item(5, question="Mail b@y.io?", reviewed_at=datetime(2026, 9, 4, tzinfo=UTC))
    distinct = item(6, corrected="Within five business days.")
    for items in (
        [older, newer, oldest, pii_a, pii_b, distinct],
        [pii_b, distinct, newer, oldest, pii_a, older],
    ):
        dataset = finetuning_records(items)
        assert sorted(r["metadata"]["review_item_id"] for r in dataset.records) == [2, 5, 6]
        assert dataset.duplicates_dropped == 3
        kept = next(r for r in dataset.records if r["metadata"]["review_item_id"] == 2)
        assert "Question:   how LONG does a refund   take? " in kept["messages"][1]["content"]


def test_naive_review_times_compare_with_aware_ones() -> None:
    aware = item(1, reviewed_at=datetime(2026, 9, 2, 10, 0, tzinfo=UTC))
    naive = item(2, reviewed_at=datetime(2026, 9, 2, 11, 0))
    dataset = finetuning_records([naive, aware])
    assert [r["metadata"]["review_item_id"] for r in dataset.records] == [2]


def test_order_is_by_partition_then_request_whatever_the_input_order() -> None:
    items = [
        item(1, partition="2026-09-02", request_key="b", question="q1"),
        item(2, partition="2026-09-01", request_key="c", question="q2"),
        item(3, partition="2026-09-02", request_key="a", question="q3"),
        item(4, partition="2026-09-01", request_key="a", question="q4"),
    ]
    expected = [("2026-09-01", "a"), ("2026-09-01", "c"), ("2026-09-02", "a"), ("2026-09-02", "b")]
    forward = finetuning_records(items)
    backward = finetuning_records(list(reversed(items)))
    order = [(r["metadata"]["partition"], r["metadata"]["request_key"]) for r in forward.records]
    assert order == expected
    assert forward.to_jsonl() == backward.to_jsonl()


def test_jsonl_round_trips() -> None:
    items = [item(1, question="Où est mon remboursement ?"), item(2, question="q2")]
    dataset = finetuning_records(items)
    text = dataset.to_jsonl()
    lines = text.splitlines()
    assert text.endswith("\n") and len(lines) == 2
    assert "Où est mon remboursement" in lines[0]  # ensure_ascii=False
    assert [json.loads(line) for line in lines] == list(dataset.records)
    for line in lines:
        assert [m["role"] for m in json.loads(line)["messages"]] == ["system", "user", "assistant"]
    assert finetuning_records([]).to_jsonl() == ""


def test_content_hash_is_stable_and_follows_the_records() -> None:
    items = [item(1), item(2, question="q2")]
    first = finetuning_records(items)
    assert first.content_hash() == first.content_hash()
    assert first.content_hash() == finetuning_records(items).content_hash()
    changed = finetuning_records([item(1), item(2, question="q2", corrected="Five days.")])
    assert changed.content_hash() != first.content_hash()
    relineaged = finetuning_records([item(1), replace(item(2, question="q2"), reviewer="bo")])
    assert relineaged.content_hash() != first.content_hash()


def test_write_jsonl_replaces_the_file_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out" / "finetune.jsonl"
    dataset = finetuning_records([item(1), item(2, question="q2")])
    write_jsonl(dataset, path)
    assert path.read_text(encoding="utf-8") == dataset.to_jsonl()

    smaller = finetuning_records([item(1)])
    write_jsonl(smaller, path)
    assert path.read_text(encoding="utf-8") == smaller.to_jsonl()

    def fail(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("monitoring_pipelines.core.hallucination.finetune.os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_jsonl(dataset, path)
    assert path.read_text(encoding="utf-8") == smaller.to_jsonl()  # the old file, whole
    assert sorted(p.name for p in path.parent.iterdir()) == ["finetune.jsonl"]  # no temp left
