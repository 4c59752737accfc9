"""A fine-tuning set from the review queue: the answers people corrected, in chat format.

Redacted, deduplicated records with their lineage in a ``metadata`` object; every item given is
a record, a dropped duplicate, or skipped with its reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

from monitoring_pipelines.core.artifacts import ArtifactPath, write_bytes
from monitoring_pipelines.core.hallucination.review import ReviewItem, ReviewStatus
from monitoring_pipelines.core.pii import KINDS, redact

SkipReason = Literal["not_corrected", "empty_correction", "missing_question"]

DEFAULT_SYSTEM_PROMPT: Final = (
    "You are a customer-support assistant. Answer the user's question using only the context "
    "provided. If the context does not contain the answer, say that you do not know."
)

USER_TEMPLATE: Final = (
    "Answer the question using only the context below.\n\n"
    "<context>\n{context}\n</context>\n\n"
    "Question: {question}"
)
"""The user message: keep it the same as the prompt the bot is served with, or the model learns
a format it never sees."""

_EPOCH: Final = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class FinetuneDataset:
    """Fine-tuning records built from corrected reviews, and what was left out.

    Attributes:
        records: ``{"messages": [...], "metadata": {...}}`` objects, ordered by partition,
            then request id.
        duplicates_dropped: Items whose messages repeated a record reviewed later.
        skipped: Items that gave no record, by reason (``not_corrected``,
            ``empty_correction``, ``missing_question``); only reasons that occurred.
        redactions: PII replaced in the records kept, by kind (``email``, ``card``,
            ``phone``), every kind present.
    """

    records: tuple[dict[str, Any], ...]
    duplicates_dropped: int
    skipped: Mapping[str, int]
    redactions: Mapping[str, int]

    def to_jsonl(self) -> str:
        """The records as JSON Lines: one compact object a line, non-ASCII kept as is."""
        return "".join(
            json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
            for record in self.records
        )

    def content_hash(self) -> str:
        """SHA-256 (hex) of :meth:`to_jsonl`, to tell whether a written file would change."""
        return hashlib.sha256(self.to_jsonl().encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class _Candidate:
    item: ReviewItem
    record: dict[str, Any]
    redactions: Mapping[str, int]
    key: tuple[str, ...]


def finetuning_records(
    items: Sequence[ReviewItem], *, system_prompt: str | None = None
) -> FinetuneDataset:
    """Build the fine-tuning set from reviewed items.

    Args:
        items: Review items of any status; only ``corrected`` ones with a corrected answer
            and a question give records.
        system_prompt: The system message of every record (``DEFAULT_SYSTEM_PROMPT`` if
            ``None``).

    Returns:
        The records, redacted, deduplicated and in a deterministic order, with the counts of
        what was dropped, skipped and redacted.
    """
    system = DEFAULT_SYSTEM_PROMPT if system_prompt is None else system_prompt
    skipped: Counter[str] = Counter()
    kept: dict[tuple[str, ...], _Candidate] = {}
    duplicates = 0
    for item in items:
        reason = _skip_reason(item)
        if reason is not None:
            skipped[reason] += 1
            continue
        candidate = _candidate(item, system)
        previous = kept.get(candidate.key)
        if previous is not None:
            duplicates += 1
            if _recency(previous.item) > _recency(candidate.item):
                continue
        kept[candidate.key] = candidate
    chosen = sorted(
        kept.values(),
        key=lambda c: (c.item.partition, c.item.request_key, c.item.monitor, c.item.id),
    )
    redactions: dict[str, int] = {kind: sum(c.redactions[kind] for c in chosen) for kind in KINDS}
    return FinetuneDataset(
        records=tuple(c.record for c in chosen),
        duplicates_dropped=duplicates,
        skipped=dict(sorted(skipped.items())),
        redactions=redactions,
    )


def write_jsonl(dataset: FinetuneDataset, path: ArtifactPath) -> None:
    """Write ``dataset`` as JSON Lines to ``path`` atomically.

    The text goes to a temporary file beside ``path`` that then replaces it, so a reader sees
    the old file or the new one, never half of one; on failure the temporary file is removed.
    In an object store, one upload does the same.

    Args:
        dataset: The records to write.
        path: The file to create or replace; its directory is created if missing.

    Raises:
        StoreError: If an object store refuses the write (missing bucket, credentials).
    """
    if not isinstance(path, Path):
        write_bytes(path, dataset.to_jsonl().encode("utf-8"))
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(dataset.to_jsonl())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _skip_reason(item: ReviewItem) -> SkipReason | None:
    if item.status is not ReviewStatus.CORRECTED:
        return "not_corrected"
    if not (item.corrected_answer or "").strip():
        return "empty_correction"
    if not (item.question or "").strip():
        return "missing_question"
    return None


def _candidate(item: ReviewItem, system: str) -> _Candidate:
    question = redact(item.question or "")
    context = redact(item.context)
    answer = redact(item.corrected_answer or "")
    messages = [
        {"role": "system", "content": system},
        {
            "role": "user",
            "content": USER_TEMPLATE.format(context=context.text, question=question.text),
        },
        {"role": "assistant", "content": answer.text},
    ]
    record = {"messages": messages, "metadata": _lineage(item)}
    redactions: dict[str, int] = {
        kind: question.counts[kind] + context.counts[kind] + answer.counts[kind] for kind in KINDS
    }
    key = tuple(" ".join(m["content"].split()).casefold() for m in messages)
    return _Candidate(item, record, redactions, key)


def _lineage(item: ReviewItem) -> dict[str, Any]:
    return {
        "request_id": item.request_id,
        "request_key": item.request_key,
        "monitor": item.monitor,
        "partition": item.partition,
        "model_version": item.model_version,
        "judge_score": item.score,
        "judge": item.judge,
        "prompt_version": item.prompt_version,
        "reviewer": item.reviewer,
        "reviewed_at": item.reviewed_at.isoformat() if item.reviewed_at else None,
        "review_item_id": item.id,
    }


def _recency(item: ReviewItem) -> tuple[datetime, int]:
    """When the item was reviewed (a naive time is UTC, as the store writes it), then its id."""
    at = item.reviewed_at
    if at is None:
        return (_EPOCH, item.id)
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC), item.id)
