"""Which of the day's LLM answers the judge scores.

With the offline judge, alone or first in the cascade, every answer that can be judged (it
costs about half a millisecond an answer), so the rates of small articles rest on all of their
answers. With the ``openai`` judge alone, a stratified, capped, deterministic sample: every
intent gets its minimum within the daily cap, the rest is shared by size, and within an intent
answers are drawn in a fixed hash order of their request keys (README.md, "Hallucinations").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from monitoring_pipelines.core.config import JudgeConfig

if TYPE_CHECKING:  # pandas is imported where it is used: loading the definitions needs none
    import pandas as pd

MISSING_INTENT = "(missing intent)"
ALL_ANSWERS = "(all)"  # the one stratum of a log without an intent column
SKIP_REASONS = ("missing_answer", "missing_context", "missing_answer_and_context")
# A fixed salt: the judge's sample is independent of every other use of the request key.
_SALT = np.uint64(0x6A75646765_5A5A)

UInt64Array = npt.NDArray[np.uint64]
IndexArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Stratum:
    """One intent's share of the day.

    Attributes:
        intent: The intent (``(missing intent)`` for rows without one).
        eligible: Its answers that can be judged.
        sampled: How many of them the sample takes.
    """

    intent: str
    eligible: int
    sampled: int


@dataclass(frozen=True, eq=False)
class SamplePlan:
    """The day's sample.

    Attributes:
        rows: Rows of the day.
        eligible: Rows with both an answer and a context.
        target: Size of the sample.
        capped: Whether ``daily_cap`` limited it.
        strata: Per intent, by name.
        skipped: Rows that cannot be judged, by reason (``SKIP_REASONS``).
        selected: Row positions of the sample, in scoring (priority) order.
    """

    rows: int
    eligible: int
    target: int
    capped: bool
    strata: tuple[Stratum, ...]
    skipped: Mapping[str, int]
    selected: IndexArray

    def stratum_sizes(self) -> dict[str, int]:
        """Eligible answers per intent."""
        return {s.intent: s.eligible for s in self.strata}


def sample_priority(keys: UInt64Array) -> UInt64Array:
    """A salted 64-bit mix (splitmix64's finaliser) of each request key; smaller goes first."""
    z = np.asarray(keys, dtype=np.uint64) + _SALT
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    mixed: UInt64Array = z ^ (z >> np.uint64(31))
    return mixed


def scores_every_answer(config: JudgeConfig) -> bool:
    """Whether the judge of ``config`` scores every answer of the day (the offline judge does,
    alone or first in the cascade) rather than the stratified sample (the ``openai`` judge)."""
    return config.backend in ("offline", "cascade")


def missing_text(values: Sequence[object] | pd.Series) -> npt.NDArray[np.bool_]:
    """True where a text value is null, NaN or blank."""
    import pandas as pd

    series = pd.Series(values, dtype=object)
    blank = series.map(lambda v: isinstance(v, str) and not v.strip())
    missing: npt.NDArray[np.bool_] = (series.isna() | blank.astype(bool)).to_numpy(dtype=bool)
    return missing


def plan_sample(
    keys: UInt64Array,
    intents: Sequence[object] | pd.Series | None,
    answers: Sequence[object] | pd.Series,
    contexts: Sequence[object] | pd.Series,
    config: JudgeConfig,
) -> SamplePlan:
    """The day's answers to judge: all of them or the sample (see the module docstring).

    Args:
        keys: Request key of each row (the slice's ``__key``).
        intents: Intent of each row, or ``None`` when the log has no intent column.
        answers: Answer text of each row.
        contexts: Retrieved context of each row.
        config: The monitor's ``llm.judge`` section.

    Returns:
        The plan.
    """
    import pandas as pd

    n = len(keys)
    no_answer, no_context = missing_text(answers), missing_text(contexts)
    if len(no_answer) != n or len(no_context) != n:
        raise ValueError(
            f"plan_sample: {n} keys but {len(no_answer)} answers and {len(no_context)} contexts"
        )
    skipped = {
        "missing_answer": int((no_answer & ~no_context).sum()),
        "missing_context": int((no_context & ~no_answer).sum()),
        "missing_answer_and_context": int((no_answer & no_context).sum()),
    }
    eligible = ~(no_answer | no_context)
    if intents is None:
        labels = np.full(n, ALL_ANSWERS, dtype=object)
    else:
        labels = pd.Series(intents, dtype=object).map(intent_label).to_numpy(dtype=object)
    sizes = {str(k): int(v) for k, v in pd.Series(labels[eligible]).value_counts().items()}
    total = sum(sizes.values())
    if scores_every_answer(config):
        wanted = target = total
        allocation = dict(sizes)
    else:
        floors = {h: min(size, config.min_per_intent) for h, size in sizes.items()}
        wanted = max(math.ceil(config.sample_rate * total), sum(floors.values()))
        target = min(wanted, config.daily_cap, total)
        allocation = allocate(sizes, target, config.min_per_intent)

    priority = sample_priority(keys)
    chosen: list[IndexArray] = []
    for intent, take in allocation.items():
        if take == 0:
            continue
        rows = np.flatnonzero(eligible & (labels == intent))
        order = np.lexsort((np.asarray(keys)[rows], priority[rows]))
        chosen.append(rows[order[:take]])
    selected = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    selected = selected[np.lexsort((np.asarray(keys)[selected], priority[selected]))]
    strata = tuple(Stratum(h, sizes[h], allocation[h]) for h in sorted(sizes))
    return SamplePlan(
        rows=n,
        eligible=total,
        target=target,
        capped=wanted > target,
        strata=strata,
        skipped=skipped,
        selected=selected.astype(np.int64),
    )


def allocate(sizes: Mapping[str, int], target: int, minimum: int) -> dict[str, int]:
    """Answers to sample per intent: minimums first, the rest in proportion to size.

    Args:
        sizes: Answers that can be judged, per intent.
        target: Size of the whole sample, at most ``sum(sizes)``.
        minimum: Answers every intent should get (or all it has).

    Returns:
        Per intent, how many to sample; they add up to ``target``.
    """
    if target > sum(sizes.values()):
        raise ValueError(f"allocate: target {target} exceeds the {sum(sizes.values())} answers")
    floors = {h: min(size, minimum) for h, size in sizes.items()}
    if target < sum(floors.values()):
        return apportion(target, dict.fromkeys(sizes, 1), floors)
    rest = apportion(
        target - sum(floors.values()),
        dict(sizes),
        {h: sizes[h] - floors[h] for h in sizes},
    )
    return {h: floors[h] + rest[h] for h in sizes}


def apportion(
    total: int, weights: Mapping[str, int], capacity: Mapping[str, int]
) -> dict[str, int]:
    """Share ``total`` in proportion to ``weights``, no one above its ``capacity``.

    Shares over capacity are capped and the excess shared again among the others; the integer
    parts are then rounded by largest remainder (ties by name). Exact: rational arithmetic.
    """
    out = dict.fromkeys(weights, 0)
    active = {h for h in weights if capacity[h] > 0 and weights[h] > 0}
    remaining = total
    quotas: dict[str, Fraction] = {}
    while active and remaining > 0:
        weight = sum(weights[h] for h in active)
        quotas = {h: Fraction(remaining * weights[h], weight) for h in active}
        full = {h for h in active if quotas[h] >= capacity[h]}
        if not full:
            break
        for h in full:
            out[h] = capacity[h]
            remaining -= capacity[h]
        active -= full
        quotas = {}
    if quotas:
        floors = {h: math.floor(q) for h, q in quotas.items()}
        left = remaining - sum(floors.values())
        by_remainder = sorted(quotas, key=lambda h: (-(quotas[h] - floors[h]), h))
        for h in by_remainder[:left]:
            floors[h] += 1
        out.update(floors)
    return out


def intent_label(value: object) -> str:
    import pandas as pd

    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return MISSING_INTENT
    text = str(value)
    return text if text.strip() else MISSING_INTENT
