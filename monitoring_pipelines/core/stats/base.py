"""What every drift statistic receives and returns, and the registry that names them.

Effect sizes come from counts over every row (exact for the binned data, additive over days),
p-values from the bounded ``sample`` of raw values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

Kind = Literal["numeric", "categorical"]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Distribution:
    """Counts of one column over a shared support, plus a bounded uniform sample.

    Attributes:
        kind: ``numeric`` (``edges`` set) or ``categorical`` (``categories`` set).
        counts: Row counts per bin or category; numeric bins are ``(-inf, e0], (e0, e1], ...,
            (e_last, inf)``, so ``len(counts) == len(edges) + 1``.
        edges: Interior bin edges, strictly increasing (numeric only).
        categories: Category labels aligned with ``counts`` (categorical only).
        lo: Smallest finite value seen (numeric only; bounds the outer bins).
        hi: Largest finite value seen (numeric only).
        sample: Bounded uniform sample of raw values: floats for numeric columns, the index
            into ``categories`` for categorical ones. Empty when nothing was sampled.
        std: Standard deviation of all values (numeric only; the reference's normalises
            distances).
        bin_sums: Sum of the values in each bin (numeric only; optional). With it, distances
            place each bin's mass around its true mean instead of the bin's middle.
        sum_scale: The unit of ``bin_sums`` (a power of two above 1 when the sums of huge
            finite values would overflow).
    """

    kind: Kind
    counts: FloatArray
    edges: FloatArray | None = None
    categories: tuple[str, ...] | None = None
    lo: float | None = None
    hi: float | None = None
    sample: npt.NDArray[np.float64] | None = None
    std: float | None = None
    bin_sums: FloatArray | None = None
    sum_scale: float = 1.0

    @property
    def n(self) -> int:
        return int(self.counts.sum())


@dataclass(frozen=True)
class StatResult:
    """Outcome of one statistic on one column.

    Attributes:
        statistic: Registry name of the statistic.
        score: Effect size (higher means more drift).
        p_value: Significance of the difference, or None when the statistic gives none.
        p_value_n: Rows per side the p-value was computed from (the bounded sample size).
        note: Anything a reader needs to interpret the score (for example a constant reference).
    """

    statistic: str
    score: float
    p_value: float | None
    p_value_n: tuple[int, int] | None = None
    note: str | None = None


class Statistic(Protocol):
    """A named drift statistic."""

    name: str
    kinds: frozenset[Kind]

    def __call__(self, reference: Distribution, current: Distribution) -> StatResult: ...


_REGISTRY: dict[str, Statistic] = {}


def register(statistic: Statistic) -> Statistic:
    """Add a statistic to the registry under its name."""
    if statistic.name in _REGISTRY:
        raise ValueError(f"statistic '{statistic.name}' is registered twice")
    _REGISTRY[statistic.name] = statistic
    return statistic


def get_statistic(name: str) -> Statistic:
    """The statistic registered under ``name``."""
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise KeyError(f"unknown statistic '{name}'; known: {known}") from None


def statistic_names() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def check_pair(statistic: Statistic, reference: Distribution, current: Distribution) -> None:
    """Raise unless ``statistic`` can compare ``reference`` with ``current``.

    Args:
        statistic: The statistic about to run (its name prefixes every message).
        reference: The reference distribution.
        current: The current distribution.

    Raises:
        ValueError: A kind the statistic does not support, kinds that differ, counts that are
            not finite and non-negative, edges that are not finite and strictly increasing, an
            empty side (n == 0), or supports that differ.
    """
    name = statistic.name
    if reference.kind != current.kind:
        raise ValueError(
            f"{name}: reference is {reference.kind} but current is {current.kind}; "
            "both sides must describe the same column"
        )
    if reference.kind not in statistic.kinds:
        supported = ", ".join(sorted(statistic.kinds))
        raise ValueError(f"{name}: {reference.kind} columns are not supported (only {supported})")
    for side, dist in (("reference", reference), ("current", current)):
        counts = dist.counts
        if counts.ndim != 1 or not np.all(np.isfinite(counts)) or np.any(counts < 0):
            raise ValueError(f"{name}: {side} counts must be a 1-D array of finite values >= 0")
        if dist.n == 0:
            raise ValueError(f"{name}: {side} distribution is empty (n == 0)")
        if dist.kind == "numeric":
            if dist.edges is None or len(counts) != len(dist.edges) + 1:
                raise ValueError(
                    f"{name}: {side} needs edges with len(counts) == len(edges) + 1, got "
                    f"{len(counts)} counts and "
                    f"{'no' if dist.edges is None else len(dist.edges)} edges"
                )
            if not np.all(np.isfinite(dist.edges)) or np.any(np.diff(dist.edges) <= 0):
                raise ValueError(f"{name}: {side} edges must be finite and strictly increasing")
        elif dist.categories is None or len(counts) != len(dist.categories):
            raise ValueError(
                f"{name}: {side} needs one count per category, got {len(counts)} counts and "
                f"{'no' if dist.categories is None else len(dist.categories)} categories"
            )
    if reference.kind == "numeric":
        same = (
            reference.edges is not None
            and current.edges is not None
            and np.array_equal(reference.edges, current.edges)
        )
    else:
        same = reference.categories == current.categories
    if not same:
        raise ValueError(
            f"{name}: supports differ (reference has {_support_size(reference)}, current has "
            f"{_support_size(current)}); bin both sides over the reference support"
        )


def _support_size(dist: Distribution) -> str:
    if dist.kind == "numeric":
        return f"{0 if dist.edges is None else len(dist.edges)} edges"
    return f"{0 if dist.categories is None else len(dist.categories)} categories"


def proportions(counts: FloatArray) -> FloatArray:
    """Counts scaled to sum to one (callers ensure the sum is positive)."""
    return np.asarray(counts, dtype=np.float64) / float(counts.sum())


def _load_builtin() -> None:
    # Importing the modules registers them; done lazily so scipy loads only when needed.
    from monitoring_pipelines.core.stats import (  # noqa: F401
        chi2,
        jensen_shannon,
        ks,
        psi,
        wasserstein,
    )


StatFunction = Callable[[Distribution, Distribution], StatResult]
