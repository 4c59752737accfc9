"""The review page: the queue with its filters, one answer in full, and the reviewer's decision,
recorded by ``ReviewQueue.review`` as ``monitoring review approve|correct|reject`` does."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from monitoring_pipelines.core.hallucination.review import (
    ReviewError,
    ReviewItem,
    ReviewQueue,
    ReviewReason,
    ReviewStatus,
    UnknownReviewItem,
)
from monitoring_pipelines.web import csrf
from monitoring_pipelines.web.app import render, state
from monitoring_pipelines.web.highlight import highlighted

router = APIRouter()

LISTED: Final = 200
"""Items listed on one page of the queue; the rest are counted."""
SHOWN_CHARS: Final = 20_000
"""Characters of a question, context or answer shown; a longer text says how much is left."""
MAX_REVIEWER: Final = 128
MAX_TEXT: Final = 100_000
ACTIONS: Final = {
    "approve": ReviewStatus.APPROVED,
    "correct": ReviewStatus.CORRECTED,
    "reject": ReviewStatus.REJECTED,
}
REVIEWER_COOKIE: Final = "monitoring_reviewer"


@dataclass(frozen=True)
class Filters:
    """What the queue is narrowed to; an empty value does not narrow."""

    monitor: str = ""
    status: str = "pending"
    reason: str = ""
    intent: str = ""
    article: str = ""
    day: str = ""

    @classmethod
    def of(cls, request: Request) -> Filters:
        query = request.query_params
        values = {name: query.get(name, default) for name, default in _DEFAULTS.items()}
        filters = cls(**values)
        if filters.status not in ("", "all") and filters.status not in set(ReviewStatus):
            raise HTTPException(
                400,
                f"status '{filters.status}' is unknown; expected one of "
                f"{', '.join(ReviewStatus)} or all",
            )
        if filters.reason and filters.reason not in set(ReviewReason):
            raise HTTPException(
                400, f"reason '{filters.reason}' is unknown; expected {', '.join(ReviewReason)}"
            )
        return filters

    def keep(self, item: ReviewItem) -> bool:
        return (
            (not self.reason or item.reason.value == self.reason)
            and (not self.intent or item.intent == self.intent)
            and (not self.article or item.article == self.article)
            and (not self.day or item.partition == self.day)
        )

    def query(self) -> str:
        return urlencode({k: v for k, v in vars(self).items() if v})


_DEFAULTS = {name: str(getattr(Filters, name)) for name in Filters.__dataclass_fields__}


def _queue(request: Request) -> ReviewQueue:
    return ReviewQueue(state(request).results())


@router.get("/review")
def review_list(request: Request) -> Response:
    filters = Filters.of(request)
    statuses = None if filters.status in ("", "all") else [ReviewStatus(filters.status)]
    everything = _queue(request).items(filters.monitor or None, statuses)
    items = [i for i in everything if filters.keep(i)]
    return render(
        request,
        "review_list.html",
        filters=filters,
        items=items[:LISTED],
        total=len(items),
        listed=LISTED,
        statuses=[s.value for s in ReviewStatus],
        reasons=[r.value for r in ReviewReason],
        choices={
            "monitor": _values(i.monitor for i in everything),
            "intent": _values(i.intent for i in everything),
            "article": _values(i.article for i in everything),
            "day": _values((i.partition for i in everything), newest_first=True),
        },
    )


@router.get("/review/{item_id:int}")
def review_item(request: Request, item_id: int) -> Response:
    return _item_page(request, _item(request, item_id))


@router.post("/review/{item_id:int}")
async def review_record(request: Request, item_id: int) -> Response:
    """Record approve / correct / reject; then show the item again (POST-redirect-GET)."""
    form = await request.form()
    if not csrf.valid(request, form.get(csrf.FIELD)):
        raise HTTPException(
            403, "This form has no valid CSRF token (reload the review page and submit again)."
        )
    item = _item(request, item_id)
    action = str(form.get("action", ""))
    values = {k: str(form.get(k, "")) for k in ("reviewer", "corrected_answer", "note")}
    problem = _problem(action, values)
    if problem:
        return _item_page(request, item, error=problem, form=values, status_code=400)
    try:
        reviewed = _queue(request).review(
            item_id,
            ACTIONS[action],
            values["reviewer"].strip(),
            corrected_answer=values["corrected_answer"] if action == "correct" else None,
            note=values["note"].strip() or None,
        )
    except UnknownReviewItem as exc:
        raise HTTPException(404, str(exc)) from exc
    except ReviewError as exc:
        return _item_page(
            request, _item(request, item_id), error=str(exc), form=values, status_code=409
        )
    response = RedirectResponse(f"/review/{reviewed.id}?recorded=1", status_code=303)
    response.set_cookie(
        REVIEWER_COOKIE, reviewed.reviewer or "", httponly=True, samesite="strict", path="/"
    )
    return response


def _problem(action: str, values: dict[str, str]) -> str | None:
    """What is wrong with a submitted review, in words; ``None`` when nothing is."""
    if action not in ACTIONS:
        return f"Unknown action '{action[:40]}'; choose approve, correct or reject."
    reviewer = values["reviewer"].strip()
    if not reviewer:
        return "Give your name as the reviewer: every review records who made it."
    if len(reviewer) > MAX_REVIEWER:
        return f"The reviewer's name is {len(reviewer):,} characters; at most {MAX_REVIEWER}."
    if "\x00" in "".join(values.values()):
        return "The form holds a NUL character, which cannot be stored; remove it."
    for name in ("corrected_answer", "note"):
        if len(values[name]) > MAX_TEXT:
            label = name.replace("_", " ")
            return f"The {label} is {len(values[name]):,} characters; at most {MAX_TEXT:,}."
    if action == "correct" and not values["corrected_answer"].strip():
        return "Correcting needs the answer the bot should have given."
    return None


def _item(request: Request, item_id: int) -> ReviewItem:
    try:
        return _queue(request).get(item_id)
    except UnknownReviewItem as exc:
        raise HTTPException(404, f"There is no review item #{item_id}.") from exc


def _item_page(
    request: Request,
    item: ReviewItem,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    answer, answer_rest = _clip(item.answer)
    pending = _queue(request).items(item.monitor, [ReviewStatus.PENDING])
    following = next((i.id for i in pending if i.id != item.id), None)
    return render(
        request,
        "review_item.html",
        status_code,
        item=item,
        answer=highlighted(answer, item.unsupported),
        answer_rest=answer_rest,
        question=_clip(item.question or ""),
        context=_clip(item.context),
        error=error,
        form=form or {"reviewer": request.cookies.get(REVIEWER_COOKIE, "")[:MAX_REVIEWER]},
        recorded=request.query_params.get("recorded") == "1" and item.status.value != "pending",
        next_pending=following,
    )


def _clip(text: str) -> tuple[str, int]:
    """The text shown and how many characters are left out."""
    if len(text) <= SHOWN_CHARS:
        return text, 0
    return text[:SHOWN_CHARS], len(text) - SHOWN_CHARS


def _values(values: Iterable[str | None], newest_first: bool = False) -> list[str]:
    """The distinct values offered by a filter."""
    return sorted({v for v in values if v}, reverse=newest_first)[:500]
