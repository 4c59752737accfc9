"""The offline faithfulness judge: fit its weights, and measure it on tuned and untouched rows.

The three labelled HaluEval files of ``../shared/data`` (QA, dialogue, summarization; label 1 =
hallucinated) are split by a hash of each pair's question and context: four fifths are the
*tuning* part, the only rows ``--fit`` ever reads; one fifth is *untouched* and only measured.
The untouched part is held out from the fit but shares the tuned rows' task types and style:
it is not a measurement on a task type the judge has never seen.

* ``--fit``: pairwise (conditional) logistic regression (L2 = 1) of ``offline.FEATURES`` on
  the tuning parts of the three files (each file weighing the same): each correct answer
  against the hallucinated one of its question and context, every weight kept to the sign
  ``offline.SIGNS`` allows. ``INTERCEPT`` is then the smallest (0.05 grid) that keeps at most
  ``MAX_FLAGGED_CORRECT`` of each file's correct tuning answers and 0.5% of the demo chatbot's
  supported answers under the 0.7 threshold, the answers a cap flags counted (the demo's
  answers only bound it; the fit never sees them). Prints the constants of ``offline.py``.
* default: AUROC overall and within answer-length strata beside answer length alone, and
  precision / recall / correct answers flagged at 0.7, per file and part, plus throughput in
  answers per CPU second (``time.process_time``: one core, whatever else runs) and the share of
  answers the cascade's default band and audit would send to the LLM judge. Then each task
  type left out: the same fit on the tuning parts of the two other files only, measured on the
  whole third file; the only figures here for a task type the fit has not seen.

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


def fold(row: LabelledRow) -> int:
    """The row's fifth, by a hash of its pair (both answers of a pair together)."""
    key = f"{row.question or ''}\0{row.context}".encode()
    return int(hashlib.sha256(key).hexdigest(), 16) % UNTOUCHED


def untouched(row: LabelledRow) -> bool:
    """Whether the row's pair is in the untouched fifth, the one ``--fit`` never reads."""
    return fold(row) == 0


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


def pair_differences(rows: Sequence[LabelledRow], x: Array) -> Array:
    """Feature differences, correct minus hallucinated, of the answers to one question and
    context (every correct answer against every hallucinated one of its pair)."""
    groups: dict[tuple[str, str], tuple[list[int], list[int]]] = {}
    for i, row in enumerate(rows):
        groups.setdefault((row.question or "", row.context), ([], []))[row.hallucinated].append(i)
    diffs = [x[c] - x[h] for correct, wrong in groups.values() for c in correct for h in wrong]
    return np.array(diffs).reshape(-1, x.shape[1])


def fit(diffs: Sequence[Array], signs: Sequence[int] = offline.SIGNS) -> Array:
    """Weights ranking each correct answer above the hallucinated one of its pair.

    Conditional (pairwise) logistic regression, L2 = ``L2``, each set weighing the same: only
    what tells two answers to the same question and context apart is learned, not what tells
    one task type's answers from another's (dialogue turns are mostly unsupported words even
    when correct; QA answers almost never). Each weight keeps the sign ``signs`` allows.
    """
    d = np.vstack(diffs)
    weight = np.concatenate([np.full(len(v), 1000.0 / len(v)) for v in diffs])
    k = d.shape[1]

    def loss(p: Array) -> float:
        return float((np.logaddexp(0, -d @ p) * weight).sum() + L2 * p @ p)

    def grad(p: Array) -> Array:
        s = 1.0 / (1.0 + np.exp(d @ p))
        return -(d.T @ (s * weight)) + 2 * L2 * p

    bounds = [(0, None) if s > 0 else (None, 0) if s < 0 else (None, None) for s in signs]
    return np.asarray(minimize(loss, np.zeros(k), jac=grad, method="L-BFGS-B", bounds=bounds).x)


@dataclass(frozen=True)
class Scorable:
    """Answers as the score sees them: features, and which answers a cap flags whatever the
    weights (a contradicted number, nothing retrieved) or the judge scores 1.0 (nothing to
    check)."""

    x: Array
    capped: npt.NDArray[np.bool_]
    unchecked: npt.NDArray[np.bool_]

    def __getitem__(self, mask: npt.NDArray[np.bool_]) -> Scorable:
        return Scorable(self.x[mask], self.capped[mask], self.unchecked[mask])


def scorable(items: Sequence[tuple[str | None, str, str]]) -> Scorable:
    evidence = [offline.gather_evidence(*item) for item in items]
    return Scorable(
        np.array([e.features() for e in evidence]).reshape(len(evidence), -1),
        np.array([offline.capped(e) for e in evidence], dtype=bool),
        np.array([not e.claims and not e.polar for e in evidence], dtype=bool),
    )


def calibrate(correct: Sequence[Scorable], demo_supported: Scorable, weights: Array) -> float:
    """The smallest intercept (0.05 grid) keeping the flagged shares within bounds: at most
    ``MAX_FLAGGED_CORRECT`` of each file's correct answers and ``DEMO_MAX_FALSE_ALARMS`` of
    the demo's supported ones under the threshold, the answers a cap flags counted."""
    logit = offline.SPREAD * float(np.log(THRESHOLD / (1 - THRESHOLD)))
    bounded = [(s, MAX_FLAGGED_CORRECT) for s in correct] + [
        (demo_supported, DEMO_MAX_FALSE_ALARMS)
    ]
    intercept = float(
        np.floor(min(logit - (s.x @ weights).max() for s, _ in bounded) / 0.05) * 0.05
    )
    for s, bound in bounded:
        z = s.x @ weights
        while (s.capped | (~s.unchecked & (z + intercept < logit))).mean() > bound + 1e-12:
            if (s.capped & ~s.unchecked).mean() > bound:
                break  # the caps alone exceed the bound: no intercept helps
            intercept += 0.05
    return round(intercept, 2)


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
    parser.add_argument(
        "--untouched",
        type=Path,
        metavar="DIR",
        help="write each file's untouched fifth (lines unchanged) to DIR, for "
        "`monitoring judge eval DIR/*.jsonl`, and stop",
    )
    args = parser.parse_args()
    if args.untouched:
        write_untouched(args.data, args.untouched)
        return
    sets = {name: read_rows(args.data / file) for name, file in FILES.items()}
    tuning = {n: [r for r in rows if not untouched(r)] for n, rows in sets.items()}
    xs = {n: scorable([r.item for r in rows]) for n, rows in tuning.items()}
    demo = demo_answers(DEMO_FIT_SEED)
    demo_supported = scorable(demo.items)[demo.y == 0]

    def fitted(names: Sequence[str]) -> tuple[Array, float]:
        """Weights and intercept fitted on the tuning rows of ``names`` only."""
        weights = fit([pair_differences(tuning[n], xs[n].x) for n in names])
        correct = [xs[n][np.array([r.hallucinated for r in tuning[n]]) == 0] for n in names]
        return weights, calibrate(correct, demo_supported, weights)

    cross = cross_fitted(sets, demo_supported)

    if args.fit:
        weights, intercept = fitted(list(FILES))
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
        # Leave one task type out: fitted on the other two files' tuning rows only.
        w_out, b_out = fitted([n for n in FILES if n != name])
        out["left_out"] = figures(scored(x, rows, w_out, b_out), rows)
        out["cross_fitted"] = figures(cross[name], rows)
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


def write_untouched(data: Path, folder: Path) -> None:
    """Each file's untouched rows, its lines as they are, to a file of the same name."""
    folder.mkdir(parents=True, exist_ok=True)
    for file in FILES.values():
        lines = (data / file).read_text(encoding="utf-8").splitlines()
        kept = [line for line, row in zip(lines_with_rows(lines), read_rows(data / file),
                                          strict=True) if untouched(row)]  # fmt: skip
        (folder / file).write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
        print(f"{folder / file}: {len(kept)} untouched rows of {data / file}")


def lines_with_rows(lines: Sequence[str]) -> list[str]:
    """The lines ``read_rows`` reads a row from (it skips blank ones)."""
    return [line for line in lines if line.strip()]


def cross_fitted(sets: dict[str, list[LabelledRow]], demo_supported: Scorable) -> dict[str, Array]:
    """Every row scored by a fit that never read it: five fits, each (as ``--fit`` does) on
    four fifths of every file's pairs, each scoring the fifth it left out. Held-out figures
    over whole files, five times the rows of the untouched fifth alone (whose AUROC on 90
    summaries moves by about 0.05 with a few pairs)."""
    parts = {n: np.array([fold(r) for r in rows]) for n, rows in sets.items()}
    xs = {n: scorable([r.item for r in rows]) for n, rows in sets.items()}
    labels = {n: np.array([r.hallucinated for r in rows]) for n, rows in sets.items()}
    out = {n: np.zeros(len(rows)) for n, rows in sets.items()}
    for k in range(UNTOUCHED):
        kept = {n: parts[n] != k for n in sets}
        weights = fit(
            [
                pair_differences(
                    [r for r, m in zip(rows, kept[n], strict=True) if m], xs[n].x[kept[n]]
                )
                for n, rows in sets.items()
            ]
        )
        correct = [xs[n][kept[n] & (labels[n] == 0)] for n in sets]
        intercept = calibrate(correct, demo_supported, weights)
        for n, rows in sets.items():
            left = ~kept[n]
            members = [r for r, m in zip(rows, left, strict=True) if m]
            out[n][left] = scored(xs[n].x[left], members, weights, intercept)
    return out


def per_file_table(report: dict[str, object], key: str, title: str, first: str) -> list[str]:
    """The Markdown lines of one figures table with a row per file, under its title."""
    lines = [
        "",
        title,
        "",
        f"| {first} | rows | AUROC | length alone | within strata | length alone | "
        "precision | recall | correct flagged |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in FILES:
        out = report[name]
        assert isinstance(out, dict)
        g = out[key]
        lines.append(
            f"| {name} | {g['rows']} | {_cell(g['auroc'])} | {_cell(g['length_auroc'])} | "
            f"{_cell(g['auroc_within_strata'])} | {_cell(g['length_auroc_within_strata'])} | "
            f"{_cell(g['precision'])} | {_cell(g['recall'])} | {_cell(g['flagged_correct'])} |"
        )
    return lines


def _cell(x: object) -> str:
    return f"{x:.3f}" if isinstance(x, float) else str(x)


def markdown(report: dict[str, object]) -> str:
    f = _cell
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
    lines += per_file_table(
        report,
        "left_out",
        "Each task type left out: weights and intercept fitted (as `--fit` does) on the tuning "
        "rows of the other two files only, measured on the whole left-out file",
        "left out",
    )
    lines += per_file_table(
        report,
        "cross_fitted",
        "Cross-fitted: five fits, each on four fifths of every file's pairs, each row scored by "
        "the fit that never read it (held out, whole files)",
        "file",
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
