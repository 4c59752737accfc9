"""The offline faithfulness judge: fit its weights, and measure it on tuned and untouched rows.

The three labelled HaluEval files of ``../shared/data`` (QA, dialogue, summarization; label 1 =
hallucinated) are split by a hash of each pair's question and context: four fifths are the
*tuning* part, the only rows ``--fit`` ever reads; one fifth is *untouched* and only measured.
The untouched part is held out from the fit but shares the tuned rows' task types and style:
it is not a measurement on a task type the judge has never seen.

* ``--fit``: ridge logistic regression (L2 = 1) of ``offline.FEATURES`` on the tuning parts of
  the three files (each file weighing the same), with one shared intercept; ``INTERCEPT`` is
  then the smallest (0.05 grid) that keeps at most ``MAX_FLAGGED_CORRECT`` of each file's
  correct tuning answers and 0.5% of the demo chatbot's supported answers under the 0.7
  threshold (the demo's answers only bound it; the fit never sees them). Prints the constants
  of ``offline.py``.
* default: AUROC overall and within answer-length strata beside answer length alone, and
  precision / recall / correct answers flagged at 0.7, per file and part, plus throughput in
  answers per CPU second (``time.process_time``: one core, whatever else runs) and the share of
  answers the cascade's default band and audit would send to the LLM judge.

``make bench-judge`` runs ``monitoring judge eval`` on the three whole files, then this.
Usage::

    .venv/bin/python benchmarks/bench_judge.py [--fit] [--data DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitoring_pipelines.core.judge import OfflineJudge, offline  # noqa: E402
from monitoring_pipelines.core.judge.evaluation import (  # noqa: E402
    LabelledRow,
    auroc,
    read_rows,
    within_strata,
)
from monitoring_pipelines.demo import texts  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
FILES = {
    "qa": "halueval_qa_dev.jsonl",
    "dialogue": "halueval_dialogue_dev.jsonl",
    "summarization": "halueval_summarization_dev.jsonl",
}
THRESHOLD = 0.7
UNTOUCHED = 5  # one pair in five, by hash, is never fitted on
L2 = 1.0
MAX_FLAGGED_CORRECT = 0.10  # of correct tuning answers per file; the target is 15% on new rows
CASCADE_BAND, CASCADE_AUDIT = (0.6, 0.85), 0.05  # the cascade's defaults (CascadeConfig)
DEMO_FIT_SEED, DEMO_EVAL_SEED, DEMO_N = 7, 11, 4000
DEMO_MAX_FALSE_ALARMS = 0.005
Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Labelled:
    """Answers with labels (1 = hallucinated/unsupported) and a group for each."""

    items: Sequence[tuple[str | None, str, str]]
    y: npt.NDArray[np.int64]
    group: npt.NDArray[np.int64]


def untouched(row: LabelledRow) -> bool:
    """Whether the row's pair is in the untouched fifth (both answers of a pair together)."""
    key = f"{row.question or ''}\0{row.context}".encode()
    return int(hashlib.sha256(key).hexdigest(), 16) % UNTOUCHED == 0


def demo_answers(seed: int, n: int = DEMO_N) -> Labelled:
    """Demo chatbot answers, half unsupported, labelled by ``texts.unsupported_claims``."""
    rng = np.random.default_rng(seed)
    facts = [(k, a, i) for k, a in enumerate(texts.KNOWLEDGE_BASE) for i in range(len(a.facts))]
    items, labels, groups = [], [], []
    for _ in range(n):
        k, article, i = facts[rng.integers(len(facts))]
        fact = article.facts[i]
        questions = texts.question_variants(fact)
        contexts = texts.context_choices(article, i)
        context = texts.render_context(article, contexts[rng.integers(len(contexts))])
        answers = texts.answer_variants(fact, supported=bool(rng.random() < 0.5))
        answer = answers[rng.integers(len(answers))]
        items.append((questions[rng.integers(len(questions))], context, answer))
        labels.append(int(bool(texts.unsupported_claims(answer, context))))
        groups.append(k)
    return Labelled(items, np.array(labels), np.array(groups))


def features(items: Sequence[tuple[str | None, str, str]]) -> Array:
    return np.array([offline.gather_evidence(*item).features() for item in items])


def fit(
    xs: Sequence[Array], ys: Sequence[npt.NDArray[np.int64]], shares: Sequence[float]
) -> tuple[Array, float]:
    """Ridge logistic regression of faithfulness (1 - y), each set weighing its share."""
    x, y = np.vstack(xs), np.concatenate(ys)
    weight = np.concatenate(
        [np.full(len(v), 1000.0 * w / len(v)) for v, w in zip(ys, shares, strict=True)]
    )
    k = x.shape[1]
    faithful = 1 - y

    def loss(p: Array) -> float:
        z = x @ p[:k] + p[k]
        nll = np.logaddexp(0, -z) * faithful + np.logaddexp(0, z) * (1 - faithful)
        return float((nll * weight).sum() + L2 * p[:k] @ p[:k])

    p = minimize(loss, np.zeros(k + 1), method="L-BFGS-B").x
    return p[:k], float(p[k])


def calibrate(correct: Sequence[Array], demo_supported: Array, weights: Array) -> float:
    """The smallest intercept (0.05 grid) keeping the flagged shares within bounds."""
    logit = float(np.log(THRESHOLD / (1 - THRESHOLD)))
    needs = [logit - np.quantile(x @ weights, MAX_FLAGGED_CORRECT) for x in correct]
    needs.append(logit - np.quantile(demo_supported @ weights, DEMO_MAX_FALSE_ALARMS))
    return float(np.ceil(max(needs) / 0.05) * 0.05)


def scored(x: Array, rows: Sequence[LabelledRow], weights: Array, intercept: float) -> Array:
    """Scores as ``OfflineJudge`` gives them (1.0 for an answer with nothing to check)."""
    w = tuple(float(v) for v in weights)
    return np.array([offline.faithfulness(offline.gather_evidence(*r.item), w, intercept)
                     for r in rows])  # fmt: skip


def figures(scores: Array, rows: Sequence[LabelledRow]) -> dict[str, float | None]:
    y = [r.hallucinated for r in rows]
    risk = list(1.0 - scores)
    length = [float(r.words) for r in rows]
    flagged = scores < THRESHOLD
    labels = np.array(y, dtype=bool)
    return {
        "rows": len(rows),
        "auroc": auroc(risk, y),
        "auroc_within_strata": within_strata(risk, rows),
        "length_auroc": auroc(length, y),
        "length_auroc_within_strata": within_strata(length, rows),
        "precision": float(labels[flagged].mean()) if flagged.any() else None,
        "recall": float(flagged[labels].mean()),
        "flagged_correct": float(flagged[~labels].mean()),
    }


def throughput(rows: Sequence[LabelledRow], reps: int = 3) -> float:
    """Answers per CPU second of ``judge_many``, caches cleared before each repetition."""
    judge = OfflineJudge()
    items = [r.item for r in rows]
    times = []
    for _ in range(reps):
        offline.clear_caches()
        start = time.process_time()
        judge.judge_many(items)
        times.append(time.process_time() - start)
    return len(items) / float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder of the JSONL files")
    parser.add_argument("--fit", action="store_true", help="print the fitted constants")
    args = parser.parse_args()
    sets = {name: read_rows(args.data / file) for name, file in FILES.items()}
    tuning = {n: [r for r in rows if not untouched(r)] for n, rows in sets.items()}
    if args.fit:
        demo = demo_answers(DEMO_FIT_SEED)
        xd = features(demo.items)
        xs = {n: features([r.item for r in rows]) for n, rows in tuning.items()}
        ys = {n: np.array([r.hallucinated for r in rows]) for n, rows in tuning.items()}
        weights, _ = fit(list(xs.values()), list(ys.values()), [1.0] * len(xs))
        correct = [xs[n][ys[n] == 0] for n in xs]
        intercept = calibrate(correct, xd[demo.y == 0], weights)
        print(f"WEIGHTS = {tuple(round(float(w), 2) for w in weights)}")
        print(f"INTERCEPT = {intercept:.2f}")
        return
    weights, intercept = np.array(offline.WEIGHTS), offline.INTERCEPT
    report: dict[str, object] = {"judge": f"offline/{offline.RULES_VERSION}"}
    for name, rows in sets.items():
        parts = {"tuned": tuning[name], "untouched": [r for r in rows if untouched(r)]}
        out: dict[str, object] = {}
        for part, members in parts.items():
            x = features([r.item for r in members])
            out[part] = figures(scored(x, members, weights, intercept), members)
        out["answers_per_cpu_s"] = throughput(rows)
        x = features([r.item for r in rows])
        all_scores = scored(x, rows, weights, intercept)
        band = (all_scores >= CASCADE_BAND[0]) & (all_scores < CASCADE_BAND[1])
        out["cascade_share"] = float(band.mean() + (~band).mean() * CASCADE_AUDIT)
        report[name] = out
    demo = demo_answers(DEMO_EVAL_SEED)
    demo_scores = np.array(
        [offline.faithfulness(offline.gather_evidence(*item)) for item in demo.items]
    )
    report["demo"] = {
        "auroc": auroc(list(1.0 - demo_scores), [int(v) for v in demo.y]),
        "flagged_supported": float((demo_scores[demo.y == 0] < THRESHOLD).mean()),
        "recall": float((demo_scores[demo.y == 1] < THRESHOLD).mean()),
    }
    print(json.dumps(report, default=float))
    print(markdown(report))


def markdown(report: dict[str, object]) -> str:
    def f(x: object) -> str:
        return f"{x:.3f}" if isinstance(x, float) else str(x)

    lines = [
        f"Offline judge `{report['judge']}` (flagged = score < {THRESHOLD}); tuned = the rows "
        "the weights were fitted on, untouched = the fifth never fitted on (same task types)",
        "",
        "| file | part | rows | AUROC | length alone | within strata | length alone | "
        "precision | recall | correct flagged |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in FILES:
        out = report[name]
        assert isinstance(out, dict)
        for part in ("tuned", "untouched"):
            g = out[part]
            lines.append(
                f"| {name} | {part} | {g['rows']} | {f(g['auroc'])} | {f(g['length_auroc'])} | "
                f"{f(g['auroc_within_strata'])} | {f(g['length_auroc_within_strata'])} | "
                f"{f(g['precision'])} | {f(g['recall'])} | {f(g['flagged_correct'])} |"
            )
    lines.append("")
    for name in FILES:
        out = report[name]
        assert isinstance(out, dict)
        lines.append(
            f"- {name}: {out['answers_per_cpu_s']:,.0f} answers per CPU second; the cascade's "
            f"defaults would send {out['cascade_share']:.0%} of the answers to the LLM judge"
        )
    d = report["demo"]
    assert isinstance(d, dict)
    lines.append(
        f"- demo chatbot answers: AUROC {f(d['auroc'])}, supported flagged "
        f"{f(d['flagged_supported'])}, recall {f(d['recall'])}"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
