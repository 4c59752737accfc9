"""How good and how fast the offline faithfulness judge is, measured honestly.

On the shared HaluEval QA sample (``../shared/data/halueval_qa_dev.jsonl``, 1,000 answers,
half hallucinated; hallucinated = the positive class, flagged = score < 0.7):

* AUROC overall and within answer-length strata (1-2, 3-4, 5-7, 8-12, 13+ words), as hallucinated
  answers there are much longer than correct ones: answer length alone scores 0.93 overall, and
  the strata show whether a scorer learned more than length. "pooled" counts the correctly
  ordered (hallucinated, correct) pairs of the same stratum; "mean" averages the strata. The two
  longest strata hold a single correct answer each, so their AUROC is that answer's rank;
* the same numbers for the answer-length baseline, and for each feature of the judge alone;
* precision, recall and F1 at the 0.7 review threshold;
* held-out numbers: 5-fold cross-validation by question, the weights and intercept refitted on
  four folds (with the demo answers below) and scored on the fifth;
* throughput of ``OfflineJudge.judge_many`` (contexts not cached beforehand);
* the demo chatbot's answers (``monitoring_pipelines/demo/texts.py``): AUROC against
  ``texts.unsupported_claims``, on all articles and on the articles the fit did not see, and
  precision/recall at 0.7 (precision also at the demo's 5% unsupported rate).

Prints one JSON line and a markdown table. ``--fit`` prints the constants of
``monitoring_pipelines/core/judge/offline.py`` as this script fits them. AUROC is the
Mann-Whitney U statistic computed with scipy's ranks. Usage::

    .venv/bin/python benchmarks/bench_judge.py [--fit] [--data PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.stats import rankdata

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitoring_pipelines.core.judge import OfflineJudge, offline  # noqa: E402
from monitoring_pipelines.demo import texts  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "halueval_qa_dev.jsonl"
THRESHOLD = 0.7
STRATA = ((1, 2), (3, 4), (5, 7), (8, 12), (13, 10**9))
FOLDS = 5
L2 = 1.0  # ridge penalty on the weights (features are on [0, 1] or [-1, 1])
DEMO_FIT_SEED, DEMO_EVAL_SEED, DEMO_N = 7, 11, 4000
DEMO_UNSUPPORTED_RATE = 0.05  # the demo chatbot's normal rate (systems_chatbot.UNSUPPORTED_RATE)
DEMO_MAX_FALSE_ALARMS = 0.005  # the intercept keeps 99.5% of the demo's supported answers >= 0.7
Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Labelled:
    """Answers with labels (1 = hallucinated/unsupported) and a group for each."""

    items: Sequence[tuple[str | None, str, str]]
    y: npt.NDArray[np.int64]
    group: npt.NDArray[np.int64]  # HaluEval: length stratum; demo: article index


def auroc(risk: Array, y: npt.NDArray[np.int64]) -> float:
    """P(risk of a positive > risk of a negative), ties counted half (Mann-Whitney U)."""
    n1, n0 = int(y.sum()), int(len(y) - y.sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(risk)
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def strata_auroc(risk: Array, data: Labelled) -> dict[str, object]:
    """AUROC overall, per length stratum (with counts), their mean and the pooled pairs."""
    per: list[dict[str, object]] = []
    values, pairs, concordant = [], 0, 0.0
    for k, (lo, hi) in enumerate(STRATA):
        mask = data.group == k
        y = data.y[mask]
        n1, n0 = int(y.sum()), int(len(y) - y.sum())
        a = auroc(risk[mask], y)
        words = f"{lo}-{hi}" if hi < 10**9 else f"{lo}+"
        per.append({"words": words, "auroc": a, "hallucinated": n1, "correct": n0})
        values.append(a)
        if n1 and n0:
            pairs += n1 * n0
            concordant += a * n1 * n0
    return {
        "overall": auroc(risk, data.y),
        "strata": per,
        "strata_mean": float(np.nanmean(values)),
        "strata_pooled": concordant / pairs,
    }


def at_threshold(
    scores: Array, y: npt.NDArray[np.int64], base_rate: float | None = None
) -> dict[str, float]:
    """Precision, recall, F1 and false-alarm rate of flagging score < THRESHOLD."""
    flagged = scores < THRESHOLD
    tp = int((flagged & (y == 1)).sum())
    recall = tp / max(int(y.sum()), 1)
    fpr = int((flagged & (y == 0)).sum()) / max(int((y == 0).sum()), 1)
    if base_rate is None:
        precision = tp / max(int(flagged.sum()), 1)
    else:
        hits = recall * base_rate
        precision = hits / (hits + fpr * (1 - base_rate)) if hits or fpr else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "false_alarm_rate": fpr}


def load_halueval(path: Path) -> tuple[Labelled, npt.NDArray[np.int64]]:
    """The labelled answers, grouped by length stratum, and a question id for each."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    words = [len(r["answer"].split()) for r in rows]
    stratum = [next(k for k, (lo, hi) in enumerate(STRATA) if lo <= n <= hi) for n in words]
    ids: dict[str, int] = {}
    question = [ids.setdefault(r["question"] + r["context"], len(ids)) for r in rows]
    data = Labelled(
        items=[(r["question"], r["context"], r["answer"]) for r in rows],
        y=np.array([int(r["hallucinated"]) for r in rows]),
        group=np.array(stratum),
    )
    return data, np.array(question)


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


def evidence(data: Labelled) -> list[offline.Evidence]:
    return [offline.gather_evidence(q, c, a) for q, c, a in data.items]


def features(evidences: list[offline.Evidence]) -> Array:
    return np.array([e.features() for e in evidences])


def scores_of(evidences: list[offline.Evidence], weights: Array, intercept: float) -> Array:
    """The judge's scores with other weights (what ``OfflineJudge`` does with its own)."""
    w = tuple(float(x) for x in weights)
    return np.array([offline.faithfulness(e, w, intercept) for e in evidences])


def fit(x: Array, y: npt.NDArray[np.int64], groups: npt.NDArray[np.int64]) -> Array:
    """Ridge logistic regression of faithfulness (1 - y) with one free intercept per group.

    The per-group intercepts absorb what differs between groups (the answer-length strata of
    HaluEval, the demo's style), so the weights learn only evidence that ranks answers within
    a group; the intercepts are then dropped.
    """
    k, g = x.shape[1], int(groups.max()) + 1
    onehot = np.eye(g)[groups]
    faithful = 1 - y

    def loss(p: Array) -> float:
        z = x @ p[:k] + onehot @ p[k:]
        nll = np.logaddexp(0, -z) * faithful + np.logaddexp(0, z) * (1 - faithful)
        return float(nll.sum() + L2 * p[:k] @ p[:k])

    weights: Array = minimize(loss, np.zeros(k + g), method="L-BFGS-B").x[:k]
    return weights


def calibrate(x_supported: Array, weights: Array) -> float:
    """The smallest intercept (0.05 grid) keeping 99.5% of supported demo answers >= 0.7."""
    z = np.sort(x_supported @ weights)
    quantile = z[int(np.floor(DEMO_MAX_FALSE_ALARMS * len(z)))]
    return float(np.ceil((np.log(THRESHOLD / (1 - THRESHOLD)) - quantile) / 0.05) * 0.05)


def fit_all(
    xh: Array, yh: npt.NDArray[np.int64], strata: npt.NDArray[np.int64], xd: Array, demo: Labelled
) -> tuple[Array, float]:
    """Weights from HaluEval (length strata as groups) plus the demo's even articles.

    The intercept is then set on all the demo's supported answers: it is a product choice (how
    many well-paraphrased, supported answers may land in the review queue), so it is made on
    the product's own style of answers. The demo's numbers at 0.7 are in-sample for it.
    """
    train = demo.group % 2 == 0
    x = np.vstack([xh, xd[train]])
    y = np.concatenate([yh, demo.y[train]])
    groups = np.concatenate([strata, np.full(int(train.sum()), len(STRATA))])
    weights = fit(x, y, groups)
    return weights, calibrate(xd[demo.y == 0], weights)


def throughput(items: Sequence[tuple[str | None, str, str]], reps: int = 5) -> float:
    judge = OfflineJudge()
    times = []
    for _ in range(reps):
        offline.clear_caches()
        start = time.perf_counter()
        judge.judge_many(items)
        times.append(time.perf_counter() - start)
    return len(items) / float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the HaluEval QA JSONL file")
    parser.add_argument("--fit", action="store_true", help="print the fitted constants")
    args = parser.parse_args()
    halu, qid = load_halueval(args.data)
    demo_fit, demo_eval = demo_answers(DEMO_FIT_SEED), demo_answers(DEMO_EVAL_SEED)
    eh = evidence(halu)
    xh, xd = features(eh), features(evidence(demo_fit))
    if args.fit:
        weights, intercept = fit_all(xh, halu.y, halu.group, xd, demo_fit)
        print(f"WEIGHTS = {tuple(round(float(w), 2) for w in weights)}")
        print(f"INTERCEPT = {intercept:.2f}")
        return

    weights, intercept = np.array(offline.WEIGHTS), offline.INTERCEPT
    judge = OfflineJudge()
    scores = np.array([v.score for v in judge.judge_many(halu.items)])
    words = np.array([len(a.split()) for _, _, a in halu.items], dtype=np.float64)

    held_out = np.zeros(len(halu.y))
    for fold in range(FOLDS):
        test = qid % FOLDS == fold
        w, b = fit_all(xh[~test], halu.y[~test], halu.group[~test], xd, demo_fit)
        held_out[test] = scores_of([e for e, t in zip(eh, test, strict=True) if t], w, b)

    demo_scores = np.array([v.score for v in judge.judge_many(demo_eval.items)])
    rate = throughput(halu.items)
    unseen = demo_eval.group % 2 == 1
    report = {
        "judge": f"{judge.name}/{judge.version}",
        "features": list(offline.FEATURES),
        "weights": [float(w) for w in weights],
        "intercept": intercept,
        "halueval": {**strata_auroc(-scores, halu), **at_threshold(scores, halu.y)},
        "halueval_cv": {**strata_auroc(-held_out, halu), **at_threshold(held_out, halu.y)},
        "length_baseline": strata_auroc(words, halu),
        "feature_alone": {
            name: strata_auroc(-xh[:, j] * np.sign(weights[j] or 1.0), halu)
            for j, name in enumerate(offline.FEATURES)
        },
        "demo": {
            "answers": len(demo_eval.y),
            "unsupported": int(demo_eval.y.sum()),
            "auroc": auroc(-demo_scores, demo_eval.y),
            "auroc_unseen_articles": auroc(-demo_scores[unseen], demo_eval.y[unseen]),
            **at_threshold(demo_scores, demo_eval.y),
            "precision_at_5pct": at_threshold(demo_scores, demo_eval.y, DEMO_UNSUPPORTED_RATE)[
                "precision"
            ],
        },
        "answers_per_s": rate,
        "ms_per_1000": 1e6 / rate,
    }
    print(json.dumps(report, default=float))
    print(markdown(report))


def markdown(r: dict[str, object]) -> str:
    def f(x: object) -> str:
        return f"{x:.3f}" if isinstance(x, float) else str(x)

    h, cv, base = r["halueval"], r["halueval_cv"], r["length_baseline"]
    assert isinstance(h, dict) and isinstance(cv, dict) and isinstance(base, dict)
    lines = [
        f"Offline judge `{r['judge']}` on HaluEval QA (1,000 answers; flagged = score < 0.7)",
        "",
        "| answers | n (halluc./correct) | judge AUROC | held-out (5-fold CV) | length only |",
        "|---|---|---|---|---|",
    ]
    for s, c, b in zip(h["strata"], cv["strata"], base["strata"], strict=True):
        n = f"{s['hallucinated']}/{s['correct']}"
        lines.append(f"| {s['words']} words | {n} | {f(s['auroc'])} | {f(c['auroc'])} | "
                     f"{f(b['auroc'])} |")  # fmt: skip
    for key, label in (("strata_pooled", "within strata, pooled pairs"),
                       ("strata_mean", "within strata, mean"), ("overall", "overall")):  # fmt: skip
        lines.append(f"| **{label}** | | {f(h[key])} | {f(cv[key])} | {f(base[key])} |")
    for key in ("precision", "recall", "f1"):
        lines.append(f"| {key} at 0.7 | | {f(h[key])} | {f(cv[key])} | |")
    lines += ["", "| feature alone | within strata (pooled) | overall |", "|---|---|---|"]
    alone = r["feature_alone"]
    assert isinstance(alone, dict)
    for name, a in alone.items():
        lines.append(f"| {name} | {f(a['strata_pooled'])} | {f(a['overall'])} |")
    d = r["demo"]
    assert isinstance(d, dict)
    lines += [
        "",
        f"Demo chatbot answers: {d['answers']} ({d['unsupported']} unsupported): AUROC "
        f"{f(d['auroc'])} (articles unseen by the fit: {f(d['auroc_unseen_articles'])}); at 0.7 "
        f"precision {f(d['precision'])}, recall {f(d['recall'])}, false alarms "
        f"{f(d['false_alarm_rate'])}; precision at a 5% unsupported rate "
        f"{f(d['precision_at_5pct'])}.",
        f"Throughput: {r['answers_per_s']:,.0f} answers/s ({f(r['ms_per_1000'])} ms per 1,000).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
