"""The review queue: answers the judge flagged, and an audit sample of those it passed.

A person approves, corrects or rejects each pending item, once. The scoring asset enqueues a
partition's items with its scores; reruns never duplicate an item or reset a reviewed one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Row, and_, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from monitoring_pipelines.core.errors import MonitoringError
from monitoring_pipelines.core.hallucination.scoring import ScoredAnswer
from monitoring_pipelines.core.store import tables as t
from monitoring_pipelines.core.store.database import now
from monitoring_pipelines.core.store.results import ResultRepository


class ReviewStatus(StrEnum):
    """Where an item stands."""

    PENDING = "pending"
    APPROVED = "approved"  # the answer was fine: the judge was wrong
    CORRECTED = "corrected"  # a hallucination, with the answer it should have been
    REJECTED = "rejected"  # a hallucination, confirmed, no correction


class ReviewReason(StrEnum):
    """Why an answer is in the queue."""

    FLAGGED = "flagged"  # the judge scored it under the threshold
    AUDIT = "audit"  # it passed, and was drawn for the audit sample


REVIEWED = (ReviewStatus.APPROVED, ReviewStatus.CORRECTED, ReviewStatus.REJECTED)


class ReviewError(MonitoringError):
    """A review could not be recorded."""


class UnknownReviewItem(ReviewError):
    """No item has that id."""


class ReviewTransitionError(ReviewError):
    """The item is not in a state that allows the review asked for."""


@dataclass(frozen=True)
class ReviewItem:
    """One queued answer and its review."""

    id: int
    monitor: str
    request_key: str
    request_id: str | None
    reason: ReviewReason
    partition: str
    question: str | None
    context: str
    answer: str
    score: float
    rationale: str
    judge: str
    prompt_version: str
    model_version: str | None
    intent: str | None
    article: str | None
    status: ReviewStatus
    corrected_answer: str | None
    reviewer: str | None
    reviewed_at: datetime | None
    note: str | None
    queued_at: datetime
    unsupported_span: tuple[int, int] | None = None
    """``(start, end)`` character offsets into ``answer`` of what the judge found unsupported,
    for highlighting (``answer[start:end]``); ``None`` when the judge named no span."""

    @property
    def unsupported(self) -> tuple[str, ...]:
        """The passage of the answer the judge found unsupported, for the review page."""
        if self.unsupported_span is None:
            return ()
        start, end = self.unsupported_span
        passage = self.answer[start:end]
        return (passage,) if passage.strip() else ()


@dataclass(frozen=True)
class EnqueueReport:
    """What enqueueing a partition's flagged and audited answers changed."""

    added: int
    refreshed: int
    kept_reviewed: int
    withdrawn: int


class ReviewQueue:
    """The review queue in the result store (SQLite or PostgreSQL)."""

    def __init__(self, store: ResultRepository) -> None:
        self.store = store

    def enqueue(
        self,
        conn: Connection,
        monitor: str,
        partition: str,
        flagged: Sequence[ScoredAnswer],
        audited: Sequence[ScoredAnswer] = (),
    ) -> EnqueueReport:
        """Queue a partition's flagged and audited answers, idempotently (see the module
        docstring)."""
        c = t.review_queue.c
        stamp = now()
        queued = [*flagged, *audited]
        keys = [f.sampled.request_key for f in queued]
        existing = self._statuses(conn, monitor, keys)
        pending = [f for f in queued if existing.get(f.sampled.request_key) is ReviewStatus.PENDING]
        new = [f for f in queued if f.sampled.request_key not in existing]
        for item in pending:
            conn.execute(
                update(t.review_queue)
                .where(c.monitor == monitor, c.request_key == item.sampled.request_key)
                .values(**_verdict_fields(item, partition), updated_at=stamp)
            )
        if new:
            conn.execute(
                _insert_ignore(conn),
                [
                    {
                        "monitor": monitor,
                        "request_key": f.sampled.request_key,
                        **_verdict_fields(f, partition),
                        "status": ReviewStatus.PENDING.value,
                        "queued_at": stamp,
                        "updated_at": stamp,
                    }
                    for f in new
                ],
            )
        withdraw = and_(
            c.monitor == monitor,
            c.partition_key == partition,
            c.status == ReviewStatus.PENDING.value,
            c.request_key.not_in(keys),
        )
        withdrawn = conn.execute(delete(t.review_queue).where(withdraw)).rowcount
        return EnqueueReport(len(new), len(pending), len(keys) - len(new) - len(pending), withdrawn)

    def _statuses(
        self, conn: Connection, monitor: str, keys: Sequence[str]
    ) -> dict[str, ReviewStatus]:
        if not keys:
            return {}
        c = t.review_queue.c
        query = select(c.request_key, c.status).where(c.monitor == monitor, c.request_key.in_(keys))
        return {row.request_key: ReviewStatus(row.status) for row in conn.execute(query)}

    def items(
        self,
        monitor: str | None = None,
        statuses: Sequence[ReviewStatus] | None = None,
        limit: int | None = None,
    ) -> list[ReviewItem]:
        """Items, oldest first (by partition, then id)."""
        c = t.review_queue.c
        query = select(t.review_queue).order_by(c.partition_key, c.id)
        if monitor is not None:
            query = query.where(c.monitor == monitor)
        if statuses:
            query = query.where(c.status.in_([s.value for s in statuses]))
        if limit is not None:
            query = query.limit(limit)
        with self.store.transaction() as conn:
            return [_item(row) for row in conn.execute(query)]

    def count(self, monitor: str | None = None, status: ReviewStatus | None = None) -> int:
        """Items of ``monitor`` (or every monitor) in ``status`` (or any)."""
        c = t.review_queue.c
        query = select(func.count()).select_from(t.review_queue)
        if monitor is not None:
            query = query.where(c.monitor == monitor)
        if status is not None:
            query = query.where(c.status == status.value)
        with self.store.transaction() as conn:
            return int(conn.execute(query).scalar_one())

    def get(self, item_id: int) -> ReviewItem:
        """The item ``item_id``.

        Raises:
            UnknownReviewItem: If there is none.
        """
        with self.store.transaction() as conn:
            row = conn.execute(select(t.review_queue).where(t.review_queue.c.id == item_id)).first()
        if row is None:
            raise UnknownReviewItem(f"no review item #{item_id}")
        return _item(row)

    def review(
        self,
        item_id: int,
        status: ReviewStatus,
        reviewer: str,
        *,
        corrected_answer: str | None = None,
        note: str | None = None,
        at: datetime | None = None,
    ) -> ReviewItem:
        """Record a review of a pending item.

        Args:
            item_id: The item.
            status: ``approved``, ``corrected`` or ``rejected``.
            reviewer: Who reviewed it.
            corrected_answer: The answer it should have been (required to correct).
            note: Free text kept with the review.
            at: When (now by default).

        Returns:
            The reviewed item.

        Raises:
            UnknownReviewItem: If there is no such item.
            ReviewTransitionError: If it was already reviewed, or the review is incomplete.
        """
        if status is ReviewStatus.PENDING:
            raise ReviewTransitionError("a review approves, corrects or rejects; not 'pending'")
        if status is ReviewStatus.CORRECTED and not (corrected_answer or "").strip():
            raise ReviewTransitionError(f"correcting item #{item_id} needs the corrected answer")
        if not reviewer.strip():
            raise ReviewTransitionError(f"reviewing item #{item_id} needs the reviewer's name")
        c = t.review_queue.c
        stamp = at or now()
        with self.store.transaction() as conn:
            changed = conn.execute(
                update(t.review_queue)
                .where(c.id == item_id, c.status == ReviewStatus.PENDING.value)
                .values(
                    status=status.value,
                    corrected_answer=corrected_answer if status is ReviewStatus.CORRECTED else None,
                    reviewer=reviewer,
                    reviewed_at=stamp,
                    note=note,
                    updated_at=stamp,
                )
            ).rowcount
        item = self.get(item_id)
        if not changed:
            when = f"{item.reviewed_at:%Y-%m-%d %H:%M} UTC" if item.reviewed_at else "earlier"
            raise ReviewTransitionError(
                f"review item #{item_id} is already {item.status.value} "
                f"(by {item.reviewer or 'someone'}, {when}); only a pending item can be "
                f"{status.value}"
            )
        return item


def _insert_ignore(conn: Connection) -> Any:
    """An insert that skips a request already queued (a concurrent run of the partition)."""
    keys = ["monitor", "request_key"]
    if conn.dialect.name == "postgresql":
        return postgresql.insert(t.review_queue).on_conflict_do_nothing(index_elements=keys)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(t.review_queue).on_conflict_do_nothing(index_elements=keys)
    return insert(t.review_queue)


def span_columns(span: tuple[int, int] | None) -> dict[str, int | None]:
    """The ``span_start`` and ``span_end`` columns of a verdict's unsupported span."""
    return {"span_start": span[0] if span else None, "span_end": span[1] if span else None}


def stored_span(start: int | None, end: int | None) -> tuple[int, int] | None:
    """A stored unsupported span back as ``(start, end)``; ``None`` unless both are stored."""
    return None if start is None or end is None else (int(start), int(end))


def _verdict_fields(scored: ScoredAnswer, partition: str) -> dict[str, Any]:
    a, v = scored.sampled, scored.verdict
    reason = ReviewReason.FLAGGED if scored.flagged else ReviewReason.AUDIT
    return {
        "request_id": a.request_id,
        "reason": reason.value,
        "partition_key": partition,
        "question": a.question,
        "context": a.context,
        "answer": a.answer,
        "score": v.score,
        "rationale": v.rationale,
        **span_columns(v.unsupported_span),
        "judge": v.judge,
        "prompt_version": v.prompt_version,
        "model_version": a.model_version,
        "intent": a.intent,
        "article": a.article,
    }


def _item(row: Row[Any]) -> ReviewItem:
    return ReviewItem(
        id=row.id,
        monitor=row.monitor,
        request_key=row.request_key,
        request_id=row.request_id,
        reason=ReviewReason(row.reason),
        partition=row.partition_key,
        question=row.question,
        context=row.context,
        answer=row.answer,
        score=row.score,
        rationale=row.rationale,
        judge=row.judge,
        prompt_version=row.prompt_version,
        model_version=row.model_version,
        intent=row.intent,
        article=row.article,
        status=ReviewStatus(row.status),
        corrected_answer=row.corrected_answer,
        reviewer=row.reviewer,
        reviewed_at=row.reviewed_at,
        note=row.note,
        queued_at=row.queued_at,
        unsupported_span=stored_span(row.span_start, row.span_end),
    )
