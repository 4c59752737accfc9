"""How well a judge separates labelled hallucinations from correct answers, and how fast.

AUROC overall and within answer-length strata, beside answer length alone (a judge that only
learned that hallucinations are longer shows it within the strata), and precision, recall and
flagged-correct share at the threshold. Reads the JSONL users label (README.md, "Hallucinations").
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from monitoring_pipelines.core.errors import MonitoringError
from monitoring_pipelines.core.judge.base import Judge, JudgeItem, Unscored, Verdict

STRATA: tuple[tuple[int, int | None], ...] = ((1, 2), (3, 4), (5, 7), (8, 12), (13, None))
"""Answer lengths in words; hallucinated answers are often longer, so ranks are compared
within these too."""
MAX_LINE_CHARS = 10_000_000


class LabelledDataError(MonitoringError):
    """A labelled file cannot be read: names the file, the line and what was expected."""


@dataclass(frozen=True)
class LabelledRow:
    """One labelled answer: ``hallucinated`` is 1 for an unfaithful answer, 0 for a correct one."""

    question: str | None
    context: str
    answer: str
    hallucinated: int
    raw: dict[str, object]

    @property
    def item(self) -> JudgeItem:
        return JudgeItem(self.question, self.context, self.answer)

    @property
    def words(self) -> int:
        return len(self.answer.split())


def read_rows(path: Path, *, labelled: bool = True) -> list[LabelledRow]:
    """The rows of a JSONL file with ``context`` and ``answer`` (and ``question``, optional).

    Args:
        path: The file.
        labelled: Require ``hallucinated`` (0/1, or false/true) on every row.

    Raises:
        LabelledDataError: The file cannot be read, or a line is not such a row.
    """
    return list(_rows(path, labelled))


def _rows(path: Path, labelled: bool) -> Iterator[LabelledRow]:
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise LabelledDataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with handle:
        try:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield _row(path, number, line, labelled)
        except UnicodeDecodeError as exc:
            raise LabelledDataError(f"{path}: not UTF-8 text ({exc.reason})") from exc


def _row(path: Path, number: int, line: str, labelled: bool) -> LabelledRow:
    where = f"{path}, line {number}"
    if len(line) > MAX_LINE_CHARS:
        raise LabelledDataError(f"{where}: longer than {MAX_LINE_CHARS:,} characters")
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise LabelledDataError(f"{where}: not JSON ({exc.msg})") from exc
    except RecursionError as exc:
        raise LabelledDataError(f"{where}: JSON nested too deeply") from exc
    if not isinstance(row, dict):
        raise LabelledDataError(f"{where}: expected a JSON object, found {type(row).__name__}")
    for key in ("context", "answer"):
        if not isinstance(row.get(key), str):
            raise LabelledDataError(
                f"{where}: '{key}' must be a string, found {row.get(key)!r:.40}"
            )
    question = row.get("question")
    if question is not None and not isinstance(question, str):
        raise LabelledDataError(f"{where}: 'question' must be a string or null")
    label = row.get("hallucinated")
    if label in (0, 1) and not isinstance(label, float):
        value = int(label)
    elif not labelled and label is None:
        value = -1
    else:
        raise LabelledDataError(
            f"{where}: 'hallucinated' must be 0 or 1 (or false/true), found {label!r:.40}"
        )
    return LabelledRow(question or None, row["context"], row["answer"], value, row)


def auroc(risk: Sequence[float], labels: Sequence[int]) -> float | None:
    """P(risk of a hallucinated answer > risk of a correct one), ties counted half (the
    Mann-Whitney U statistic over average ranks); ``None`` without both classes."""
    positives = sum(labels)
    negatives = len(labels) - positives
    if not positives or not negatives:
        return None
    order = sorted(range(len(risk)), key=lambda i: risk[i])
    ranks = [0.0] * len(risk)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and risk[order[j + 1]] == risk[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    ranked = sum(r for r, y in zip(ranks, labels, strict=True) if y)
    return (ranked - positives * (positives + 1) / 2) / (positives * negatives)


def stratum_of(words: int) -> int:
    """Index in ``STRATA`` of an answer of ``words`` words (0 words: the first)."""
    for k, (_, high) in enumerate(STRATA):
        if high is None or words <= high:
            return k
    raise AssertionError("the last stratum is open")


def within_strata(risk: Sequence[float], rows: Sequence[LabelledRow]) -> float | None:
    """AUROC over the (hallucinated, correct) pairs of the same length stratum, pooled."""
    pairs, concordant = 0, 0.0
    for k in range(len(STRATA)):
        members = [i for i, r in enumerate(rows) if stratum_of(r.words) == k]
        labels = [rows[i].hallucinated for i in members]
        value = auroc([risk[i] for i in members], labels)
        if value is not None:
            n = sum(labels) * (len(labels) - sum(labels))
            pairs += n
            concordant += value * n
    return concordant / pairs if pairs else None


@dataclass(frozen=True)
class Evaluation:
    """A judge's figures on one labelled file.

    Attributes:
        judge: The judge's name and version.
        rows: Answers; hallucinated: those labelled 1; unscored: answers the judge gave no
            verdict (left out of every figure but this one).
        auroc / auroc_within_strata: The judge's ranking, overall and within length strata.
        length_auroc / length_auroc_within_strata: The same for answer length alone.
        threshold: Scores under it are flagged.
        precision / recall: Of flagging, for hallucinated answers.
        flagged_correct: Share of correct answers flagged.
        answers_per_s: Answers judged per second of wall time (``judge_many``, one process; a
            remote judge's waits included, and slower when other work shares the CPU).
        answers_per_cpu_s: Answers judged per second of this process's CPU time: the offline
            judge's speed on one core, whatever else runs.
        llm_share: Share of answers the LLM judge gave the verdict on (a cascade), else None.
    """

    judge: str
    rows: int
    hallucinated: int
    unscored: int
    auroc: float | None
    auroc_within_strata: float | None
    length_auroc: float | None
    length_auroc_within_strata: float | None
    threshold: float
    precision: float | None
    recall: float | None
    flagged_correct: float | None
    answers_per_s: float
    answers_per_cpu_s: float
    llm_share: float | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def evaluate(
    judge: Judge,
    rows: Sequence[LabelledRow],
    threshold: float,
    clock: Callable[[], float] = time.perf_counter,
    cpu_clock: Callable[[], float] = time.process_time,
) -> tuple[Evaluation, list[Verdict | Unscored]]:
    """Judge every row and compute the figures of :class:`Evaluation`, with the results."""
    started, cpu_started = clock(), cpu_clock()
    results = list(judge.judge_many([r.item for r in rows]))
    seconds = max(clock() - started, 1e-9)
    cpu_seconds = max(cpu_clock() - cpu_started, 1e-9)
    kept = [(r, v) for r, v in zip(rows, results, strict=True) if isinstance(v, Verdict)]
    scored = [r for r, _ in kept]
    risk = [1.0 - v.score for _, v in kept]
    labels = [r.hallucinated for r in scored]
    length = [float(r.words) for r in scored]
    flagged = [v.score < threshold for _, v in kept]
    hits = sum(f and y for f, y in zip(flagged, labels, strict=True))
    positives = sum(labels)
    negatives = len(labels) - positives
    false_alarms = sum(f and not y for f, y in zip(flagged, labels, strict=True))
    routes = getattr(judge, "routed", None)
    llm_share = None
    if isinstance(routes, list) and routes:
        llm_share = sum(getattr(r, "llm_score", None) is not None for r in routes) / len(routes)
    evaluation = Evaluation(
        judge=f"{judge.name}/{judge.version}",
        rows=len(rows),
        hallucinated=sum(r.hallucinated for r in rows),
        unscored=len(rows) - len(kept),
        auroc=auroc(risk, labels),
        auroc_within_strata=within_strata(risk, scored),
        length_auroc=auroc(length, labels),
        length_auroc_within_strata=within_strata(length, scored),
        threshold=threshold,
        precision=hits / sum(flagged) if sum(flagged) else None,
        recall=hits / positives if positives else None,
        flagged_correct=false_alarms / negatives if negatives else None,
        answers_per_s=len(rows) / seconds,
        answers_per_cpu_s=len(rows) / cpu_seconds,
        llm_share=llm_share,
    )
    return evaluation, results


def describe(evaluation: Evaluation, name: str) -> str:
    """The figures as a few aligned lines of text."""

    def f(value: float | None) -> str:
        return "-" if value is None or math.isnan(value) else f"{value:.3f}"

    e = evaluation
    lines = [
        f"{name}: {e.rows} answers ({e.hallucinated} hallucinated), judge {e.judge}",
        f"  AUROC overall        {f(e.auroc)}   answer length alone {f(e.length_auroc)}",
        f"  AUROC within strata  {f(e.auroc_within_strata)}   answer length alone "
        f"{f(e.length_auroc_within_strata)}",
        f"  at threshold {e.threshold:g}: precision {f(e.precision)}, recall {f(e.recall)}, "
        f"correct answers flagged {f(e.flagged_correct)}",
        f"  throughput           {e.answers_per_s:,.0f} answers/s "
        f"({e.answers_per_cpu_s:,.0f} per CPU second: one core)",
    ]
    if e.unscored:
        lines.append(f"  unscored             {e.unscored} (left out of the figures)")
    if e.llm_share is not None:
        lines.append(f"  LLM verdicts         {e.llm_share:.1%} of the answers")
    return "\n".join(lines)
