"""Which answers the judge scores: all of them with the offline judge (alone or in the cascade);
with the openai judge the daily sample (stratification by intent, the cap, determinism);
unjudgeable rows never."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring_pipelines.core.config import JudgeConfig
from monitoring_pipelines.core.hallucination.sampling import (
    MISSING_INTENT,
    allocate,
    apportion,
    plan_sample,
)
from monitoring_pipelines.core.ingest.cleaning import hash_keys


def day_of(sizes: dict[str, int], seed: int = 1) -> pd.DataFrame:
    """Rows of the given intents, shuffled, keyed as the slice keys them (request id hashes)."""
    intents = np.concatenate([[k] * n for k, n in sizes.items()]).astype(object)
    n = len(intents)
    frame = pd.DataFrame(
        {
            "key": hash_keys(pd.Series([f"req-{seed}-{i}" for i in range(n)]), "id:"),
            "intent": intents,
            "answer": [f"answer {i}" for i in range(n)],
            "context": [f"context {i}" for i in range(n)],
        }
    )
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def plan(frame: pd.DataFrame, **judge: object):  # type: ignore[no-untyped-def]
    """The plan of the ``openai`` judge (which samples) unless ``backend`` says otherwise."""
    judge = {"backend": "openai", **judge}
    return plan_sample(
        frame["key"].to_numpy(dtype=np.uint64),
        frame["intent"],
        frame["answer"],
        frame["context"],
        JudgeConfig.model_validate(judge),
    )


def sampled_per_intent(frame: pd.DataFrame, selected: np.ndarray) -> dict[str, int]:
    return {str(k): int(v) for k, v in frame["intent"].iloc[selected].value_counts().items()}


def test_minimums_first_then_the_rest_in_proportion() -> None:
    # 110 answers at rate 0.5: 55. Minimums: billing 20, rare 10 (all it has). The other 25
    # go by size, but rare has nothing left: billing takes them.
    assert allocate({"billing": 100, "rare": 10}, 55, 20) == {"billing": 45, "rare": 10}
    # 1530 answers, 153 sampled: 20 each, then 93 shared 1000:500:30 -> 60.78, 30.39, 1.82.
    assert allocate({"a": 1000, "b": 500, "c": 30}, 153, 20) == {"a": 81, "b": 50, "c": 22}


def test_a_binding_cap_is_shared_equally_and_spills_over() -> None:
    # Five intents want 20 each but the cap is 30: 6 each. An intent with 2 answers leaves
    # its share to the others (7 each, one more by largest remainder, ties by name).
    sizes = {i: 100 for i in "abcde"}
    assert allocate(sizes, 30, 20) == dict.fromkeys("abcde", 6)
    assert allocate({**sizes, "e": 2}, 30, 20) == {"a": 7, "b": 7, "c": 7, "d": 7, "e": 2}


def test_apportion_is_exact_and_respects_capacity() -> None:
    out = apportion(10, {"x": 1, "y": 1, "z": 1}, {"x": 10, "y": 10, "z": 1})
    assert out == {"x": 5, "y": 4, "z": 1}
    assert sum(out.values()) == 10


def test_the_sample_is_stratified_and_sized_by_rate() -> None:
    frame = day_of({"billing": 600, "shipping": 380, "account": 20})
    result = plan(frame, sample_rate=0.1, min_per_intent=20, daily_cap=500)
    assert result.target == 100 and not result.capped
    per_intent = sampled_per_intent(frame, result.selected)
    # 20 each (all of account's), then 40 shared 600:380 -> 24.49, 15.51 -> 24, 16.
    assert per_intent == {"billing": 44, "shipping": 36, "account": 20}
    assert {s.intent: s.sampled for s in result.strata} == per_intent
    assert len(set(result.selected.tolist())) == 100


def test_the_daily_cap_wins() -> None:
    frame = day_of({"billing": 3000, "shipping": 2000})
    result = plan(frame, sample_rate=0.5, min_per_intent=20, daily_cap=50)
    assert result.target == 50 and result.capped
    # 20 each, then the 10 left under the cap shared 3000:2000.
    assert sampled_per_intent(frame, result.selected) == {"billing": 26, "shipping": 24}


def test_the_sample_depends_on_request_ids_only() -> None:
    frame = day_of({"billing": 500, "shipping": 300}, seed=3)
    first = plan(frame, sample_rate=0.1)
    shuffled = frame.sample(frac=1.0, random_state=99).reset_index(drop=True)
    second = plan(shuffled, sample_rate=0.1)
    keys = frame["key"].to_numpy()[first.selected]
    assert keys.tolist() == shuffled["key"].to_numpy()[second.selected].tolist()
    # A larger rate keeps every answer the smaller one took (bottom-k within each intent).
    larger = plan(frame, sample_rate=0.3)
    assert set(keys.tolist()) <= set(frame["key"].to_numpy()[larger.selected].tolist())


def test_rows_that_cannot_be_judged_are_counted_and_never_sampled() -> None:
    frame = day_of({"billing": 50, "shipping": 50})
    frame.loc[0:2, "answer"] = None
    frame.loc[3, "answer"] = "   "
    frame.loc[4:5, "context"] = ""
    frame.loc[6, ["answer", "context"]] = [np.nan, None]
    frame.loc[7, "intent"] = None
    result = plan(frame, sample_rate=1.0, min_per_intent=0, daily_cap=1000)
    assert dict(result.skipped) == {
        "missing_answer": 4,
        "missing_context": 2,
        "missing_answer_and_context": 1,
    }
    assert result.rows == 100 and result.eligible == 93 and result.target == 93
    assert not set(range(7)) & set(result.selected.tolist())
    assert MISSING_INTENT in {s.intent for s in result.strata}


@pytest.mark.parametrize("backend", ["offline", "cascade"])
def test_the_offline_judge_scores_every_answer(backend: str) -> None:
    frame = day_of({"billing": 3000, "shipping": 2000, "account": 7})
    frame.loc[0:2, "answer"] = None
    result = plan(frame, backend=backend, sample_rate=0.05, min_per_intent=20, daily_cap=50)
    assert result.eligible == result.target == 5004 and not result.capped
    assert sorted(result.selected.tolist()) == list(range(3, 5007))
    assert all(s.sampled == s.eligible for s in result.strata)  # every answer weighs 1
    assert plan(frame, sample_rate=0.05, min_per_intent=20, daily_cap=50).target == 50


def test_a_day_without_answers_samples_nothing() -> None:
    empty = np.zeros(0, dtype=np.uint64)
    result = plan_sample(empty, None, [], [], JudgeConfig())
    assert result.target == 0 and result.selected.size == 0 and result.strata == ()


def test_mismatched_columns_are_rejected() -> None:
    with pytest.raises(ValueError, match="3 keys but 2 answers"):
        plan_sample(np.arange(3, dtype=np.uint64), None, ["a", "b"], ["c", "d"], JudgeConfig())
