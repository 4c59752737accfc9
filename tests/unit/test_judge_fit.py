"""The offline judge's fit (benchmarks/bench_judge.py): pairwise within a question and context,
weights held to their signs, and an intercept that keeps the flagged shares within bounds with
the capped answers counted."""

from __future__ import annotations

import numpy as np

from benchmarks import bench_judge
from monitoring_pipelines.core.judge import offline
from monitoring_pipelines.core.judge.evaluation import LabelledRow


def test_pairs_are_formed_within_one_question_and_context_only() -> None:
    rows = [
        LabelledRow("q1", "c", "right", 0, {}),
        LabelledRow("q1", "c", "wrong", 1, {}),
        LabelledRow("q2", "c", "right", 0, {}),
        LabelledRow("q2", "c", "wrong a", 1, {}),
        LabelledRow("q2", "c", "wrong b", 1, {}),
        LabelledRow("q3", "c", "alone", 0, {}),
    ]
    x = np.arange(12, dtype=float).reshape(6, 2)
    diffs = bench_judge.pair_differences(rows, x)
    # q1: row 0 - row 1; q2: row 2 - row 3 and row 2 - row 4; q3 has no hallucinated answer.
    assert diffs.tolist() == [[-2.0, -2.0], [-2.0, -2.0], [-4.0, -4.0]]


def test_the_fit_learns_what_tells_a_pair_apart_and_keeps_each_weight_s_sign() -> None:
    rng = np.random.default_rng(3)
    n = 400
    support = rng.normal(1.0, 1.0, n)  # correct minus hallucinated: mostly positive
    backwards = rng.normal(1.0, 1.0, n)  # also positive, but its sign allows only negative
    noise = rng.normal(0.0, 1.0, n)
    diffs = np.column_stack([support, backwards, noise])
    free = bench_judge.fit([diffs], signs=(0, 0, 0))
    held = bench_judge.fit([diffs], signs=(1, -1, 0))
    assert free[0] > 1.0 and free[1] > 1.0 and abs(free[2]) < free[0] / 3
    assert held[0] > 1.0 and held[1] == 0.0  # the backwards use is refused
    assert len(offline.SIGNS) == len(offline.FEATURES) == len(offline.WEIGHTS)
    fitted = np.array(offline.WEIGHTS) * np.array(offline.SIGNS)
    assert (fitted >= 0).all()  # the shipped weights keep their signs too


def test_the_intercept_keeps_the_flagged_share_within_bounds_counting_capped_answers() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(0.0, 1.0, (200, 1))
    capped = np.zeros(200, dtype=bool)
    capped[:10] = True  # 5 % flagged by a cap whatever the intercept
    unchecked = np.zeros(200, dtype=bool)
    correct = bench_judge.Scorable(x, capped, unchecked)
    demo = bench_judge.Scorable(np.zeros((10, 1)), np.zeros(10, bool), np.zeros(10, bool))
    weights = np.array([1.0])
    intercept = bench_judge.calibrate([correct], demo, weights)
    logit = offline.SPREAD * np.log(bench_judge.THRESHOLD / (1 - bench_judge.THRESHOLD))
    flagged = capped | (x @ weights + intercept < logit)
    assert flagged.mean() <= bench_judge.MAX_FLAGGED_CORRECT
    lower = capped | (x @ weights + intercept - 0.05 < logit)
    assert lower.mean() > bench_judge.MAX_FLAGGED_CORRECT  # the smallest such intercept
