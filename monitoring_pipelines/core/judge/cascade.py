"""The cascade: the offline judge scores every answer; the uncertain ones and an audit share
of the rest also go to an LLM judge, whose verdict then stands.

What it did with each answer is kept as :class:`Routed` records, from which
:func:`summarise` gives the day's LLM share, spend and the rate estimated as the LLM judge
would have found it on every answer (README.md, "Hallucinations").
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from monitoring_pipelines.core.judge.base import (
    NOT_ASKED,
    Judge,
    JudgeBudget,
    JudgeItem,
    Unscored,
    Verdict,
    as_items,
)
from monitoring_pipelines.core.judge.cache import content_sha256
from monitoring_pipelines.core.judge.offline import OfflineJudge

JUDGE_NAME = "cascade"
CASCADE_VERSION = "cascade-1"
Route = Literal["offline", "uncertain", "audit"]
Side = Literal["under", "band", "over"]


@dataclass(frozen=True)
class Routed:
    """What the cascade did with one answer.

    Attributes:
        route: ``uncertain`` (offline score inside the band: sent to the LLM), ``audit``
            (outside it, drawn for the audit: sent too) or ``offline`` (not sent).
        side: Where the offline score fell: under the band, in it or over it.
        offline_score: The offline judge's score.
        llm_score: The LLM judge's score, ``None`` when it was not asked or gave none.
        cost_usd: What the LLM judge spent on it (0 when not asked; ``None`` when unknown).
        asked: Whether the LLM judge was asked (a route to it is not asked once its daily
            budget or cap is spent).
    """

    route: Route
    side: Side
    offline_score: float
    llm_score: float | None
    cost_usd: float | None
    asked: bool = True


def audit_drawn(item: JudgeItem, share: float) -> bool:
    """Whether a confident answer joins the audit: a fixed share, by the hash of its texts
    (deterministic, independent of its score and of the order answers come in)."""
    digest = content_sha256(item.question, item.context, item.answer)
    return int(digest[:15], 16) / 16**15 < share


class CascadeJudge:
    """Offline first; the uncertain band and an audit share also go to ``llm``.

    Args:
        llm: The LLM judge (an ``OpenAIJudge``).
        band: Offline scores ``low <= score < high`` are uncertain and go to the LLM judge.
        audit_share: Share of the other answers sent too, to measure the offline judge there.
        offline: The offline judge.
    """

    def __init__(
        self,
        llm: Judge,
        band: tuple[float, float] = (0.6, 0.85),
        audit_share: float = 0.05,
        offline: OfflineJudge | None = None,
    ) -> None:
        if not 0.0 <= band[0] <= band[1] <= 1.0:
            raise ValueError(f"cascade band must be 0 <= low <= high <= 1, got {band!r}")
        if not 0.0 <= audit_share <= 1.0:
            raise ValueError(f"cascade audit share must be within [0, 1], got {audit_share!r}")
        self._llm = llm
        self._offline = offline or OfflineJudge()
        self._band = band
        self._audit = audit_share
        self._lock = threading.Lock()
        self._routed: list[Routed] = []

    @property
    def name(self) -> str:
        return JUDGE_NAME

    @property
    def version(self) -> str:
        low, high = self._band
        return (
            f"{CASCADE_VERSION}/{self._offline.version}/{self._llm.name}:{self._llm.version}"
            f"/band {low:g}-{high:g}/audit {self._audit:g}"
        )[:128]

    @property
    def routed(self) -> list[Routed]:
        """Every answer this judge has scored, in order (over all its calls)."""
        with self._lock:
            return list(self._routed)

    def judge(self, question: str | None, context: str, answer: str) -> Verdict:
        """Score one answer; an LLM judge that cannot leaves the offline verdict standing."""
        [result] = self.judge_many([JudgeItem(question, context, answer)])
        assert isinstance(result, Verdict)  # the cascade always has the offline verdict
        return result

    def judge_many(
        self,
        items: Iterable[JudgeItem | tuple[str | None, str, str]],
        budget: JudgeBudget | None = None,
    ) -> list[Verdict | Unscored]:
        """Score every answer offline, then ask the LLM judge about the uncertain ones (those
        nearest the middle of the band first) and the audit draw, within ``budget``.

        Every answer gets a verdict: the LLM judge's where it gave one, else the offline one,
        whose rationale then says why the LLM judge did not stand (its budget, a failure).
        """
        todo = as_items(items)
        first = [self._offline.judge(*item) for item in todo]
        routes: list[Route] = [
            self._route(item, v.score) for item, v in zip(todo, first, strict=True)
        ]
        middle = sum(self._band) / 2
        sent = sorted(
            (i for i, r in enumerate(routes) if r != "offline"),
            key=lambda i: (routes[i] != "uncertain", abs(first[i].score - middle), i),
        )
        asked = self._llm.judge_many([todo[i] for i in sent], budget) if sent else []
        second: dict[int, Verdict | Unscored] = dict(zip(sent, asked, strict=True))
        out: list[Verdict | Unscored] = []
        records: list[Routed] = []
        for i, offline in enumerate(first):
            verdict, record = self._combine(routes[i], self._side(offline.score), offline,
                                            second.get(i))  # fmt: skip
            out.append(verdict)
            records.append(record)
        with self._lock:
            self._routed.extend(records)
        return out

    def _route(self, item: JudgeItem, score: float) -> Route:
        if self._band[0] <= score < self._band[1]:
            return "uncertain"
        return "audit" if audit_drawn(item, self._audit) else "offline"

    def _side(self, score: float) -> Side:
        if score < self._band[0]:
            return "under"
        return "band" if score < self._band[1] else "over"

    def _combine(
        self, route: Route, side: Side, offline: Verdict, llm: Verdict | Unscored | None
    ) -> tuple[Verdict, Routed]:
        if llm is None:
            rationale = f"offline judge: {offline.rationale}"
            return self._verdict(offline, rationale), Routed(route, side, offline.score, None, 0.0)
        if isinstance(llm, Unscored):
            rationale = f"offline judge (LLM judge gave no verdict: {llm.reason}): " + (
                offline.rationale
            )
            verdict = self._verdict(offline, rationale, llm.tokens_in, llm.tokens_out, llm.cost_usd)
            asked = llm.kind not in NOT_ASKED
            return verdict, Routed(route, side, offline.score, None, llm.cost_usd, asked)
        rationale = f"LLM judge: {llm.rationale} (offline {offline.score:.2f}: {offline.rationale})"
        verdict = Verdict(
            score=llm.score,
            rationale=rationale,
            judge=self.name,
            prompt_version=self.version,
            tokens_in=llm.tokens_in,
            tokens_out=llm.tokens_out,
            cost_usd=llm.cost_usd,
            unsupported_span=llm.unsupported_span or offline.unsupported_span,
        )
        return verdict, Routed(route, side, offline.score, llm.score, llm.cost_usd)

    def _verdict(
        self,
        offline: Verdict,
        rationale: str,
        tokens_in: int = 0,
        tokens_out: int = 0,
        cost_usd: float | None = 0.0,
    ) -> Verdict:
        return Verdict(
            score=offline.score,
            rationale=rationale,
            judge=self.name,
            prompt_version=self.version,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=cost_usd,
            unsupported_span=offline.unsupported_span,
        )


@dataclass(frozen=True)
class CascadeSummary:
    """What the cascade did on a set of answers (one day's sample).

    Attributes:
        answers: Answers scored.
        sent_uncertain: Uncertain answers sent to the LLM judge (not those its budget or
            cap kept back).
        sent_audit: Audit answers sent to it.
        llm_verdicts: Answers the LLM judge gave a verdict on.
        llm_share: ``llm_verdicts / answers``.
        llm_cost_usd: What the LLM judge spent (``None`` when a cost is unknown).
        all_llm_cost_usd: What judging every answer with it would have cost, estimated at
            its average cost per verdict (``None`` without a priced verdict).
        flagged_rate: Share of answers whose standing verdict is under the threshold.
        estimated_rate: The rate the LLM judge would have found on every answer: its own
            verdicts where it gave them, and, for the answers it did not see, the rate it
            found on the audit draw of the same side of the band (the offline verdicts where
            no audit answer was judged); see :func:`summarise`.
        audit_agreement: Share of audited answers where both judges agree on flagged or not.
    """

    answers: int
    sent_uncertain: int
    sent_audit: int
    llm_verdicts: int
    llm_share: float
    llm_cost_usd: float | None
    all_llm_cost_usd: float | None
    flagged_rate: float
    estimated_rate: float
    audit_agreement: float | None

    def metadata(self) -> dict[str, float | int | None]:
        """The figures under the names the scoring asset plots (``cascade_*``)."""
        saved = None
        if self.llm_cost_usd is not None and self.all_llm_cost_usd:
            saved = 1.0 - self.llm_cost_usd / self.all_llm_cost_usd
        return {
            "cascade_answers": self.answers,
            "cascade_sent_uncertain": self.sent_uncertain,
            "cascade_sent_audit": self.sent_audit,
            "cascade_llm_verdicts": self.llm_verdicts,
            "cascade_llm_share": self.llm_share,
            "cascade_llm_cost_usd": self.llm_cost_usd,
            "cascade_all_llm_cost_usd": self.all_llm_cost_usd,
            "cascade_cost_saved_share": saved,
            "cascade_flagged_rate": self.flagged_rate,
            "cascade_estimated_rate": self.estimated_rate,
            "cascade_audit_agreement": self.audit_agreement,
        }


def summarise(routed: Sequence[Routed], threshold: float) -> CascadeSummary:
    """The day's cascade figures.

    The estimated rate is a stratified estimate: answers are split by where the offline score
    fell (under the band, in it, over it); in each part, answers with an LLM verdict count as
    that verdict says, and those without one count at the LLM-flagged rate of the part's
    audited answers. The audit draw depends only on the answer's texts, so within a part it is
    a random sample and the estimate is unbiased for the LLM judge's rate; a part without an
    audited answer falls back to the offline verdicts.
    """
    n = len(routed)
    llm = [r for r in routed if r.llm_score is not None]
    costs = [r.cost_usd for r in routed]
    spent = None if None in costs else sum(c or 0.0 for c in costs)
    priced = [r.cost_usd for r in llm if r.cost_usd]
    per_answer = sum(priced) / len(priced) if priced else None
    standing = [r.llm_score if r.llm_score is not None else r.offline_score for r in routed]
    flagged = sum(s < threshold for s in standing)
    audited = [r for r in llm if r.route == "audit"]
    agree = [(r.offline_score < threshold) == ((r.llm_score or 0.0) < threshold) for r in audited]
    estimate = 0.0
    for part in ("under", "band", "over"):
        members = [r for r in routed if r.side == part]
        seen = [r for r in members if r.llm_score is not None]
        unseen = [r for r in members if r.llm_score is None]
        estimate += sum((r.llm_score or 0.0) < threshold for r in seen)
        draw = [r for r in seen if r.route == "audit"]
        if draw:
            estimate += (
                len(unseen) * sum((r.llm_score or 0.0) < threshold for r in draw) / len(draw)
            )
        else:
            estimate += sum(r.offline_score < threshold for r in unseen)
    return CascadeSummary(
        answers=n,
        sent_uncertain=sum(r.route == "uncertain" and r.asked for r in routed),
        sent_audit=sum(r.route == "audit" and r.asked for r in routed),
        llm_verdicts=len(llm),
        llm_share=len(llm) / n if n else 0.0,
        llm_cost_usd=spent,
        all_llm_cost_usd=None if per_answer is None else per_answer * n,
        flagged_rate=flagged / n if n else 0.0,
        estimated_rate=estimate / n if n else 0.0,
        audit_agreement=sum(agree) / len(agree) if agree else None,
    )
