"""Column sketches: exact counts over reference bins, running moments, a bounded sample.

Fit once on the reference (quantile bin edges, category vocabulary), then count every day's
values into the same bins. Counts and moments add up, and the sample is a bottom-k sample by
row-key hash, so sketches of any days merge into the sketch of their window without rereading
raw data.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Generic, Literal, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from monitoring_pipelines.core.stats.base import Distribution

Kind = Literal["numeric", "categorical"]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
KeyArray = npt.NDArray[np.uint64]

Item = TypeVar("Item", bound=np.generic)

OTHER = "(other)"
MAX_REFERENCE_CATEGORIES = 200
MAX_NEW_CATEGORIES = 50


@dataclass(frozen=True)
class ColumnSketch:
    """Everything the drift engine needs to know about one column over some rows.

    Attributes:
        column: Column name.
        kind: ``numeric`` or ``categorical``.
        counts: Rows per bin (numeric; ``len(edges) + 1`` bins) or per category.
        edges: Interior bin edges fitted on the reference (numeric).
        categories: Category labels aligned with ``counts`` (categorical).
        n_missing: Null, NaN or unparseable values.
        n_nonfinite: Infinite values (numeric), counted apart from the bins.
        lo: Smallest finite value (numeric).
        hi: Largest finite value (numeric).
        mean: Mean of the finite values (numeric).
        m2: Sum of squared deviations from the mean (numeric; Chan's parallel update).
        sample_keys: Hash keys of the sampled rows (the k smallest keys seen).
        sample_values: Sampled values: floats, or indices into ``categories``.
        sums: Sum of the values in each bin (numeric), so distances know where mass sits.
    """

    column: str
    kind: Kind
    counts: IntArray
    edges: FloatArray | None = None
    categories: tuple[str, ...] | None = None
    n_missing: int = 0
    n_nonfinite: int = 0
    lo: float | None = None
    hi: float | None = None
    mean: float = 0.0
    m2: float = 0.0
    sample_keys: KeyArray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    sample_values: FloatArray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    sums: FloatArray | None = None

    @property
    def n(self) -> int:
        """Rows with a usable value (in a bin or category)."""
        return int(self.counts.sum())

    @property
    def std(self) -> float | None:
        n = self.n
        return float(np.sqrt(self.m2 / n)) if self.kind == "numeric" and n > 0 else None

    def merge(self, other: ColumnSketch, sample_size: int) -> ColumnSketch:
        """The sketch of both sketches' rows together."""
        if other.column != self.column or other.kind != self.kind:
            raise ValueError(f"cannot merge sketches of {self.column} and {other.column}")
        if self.kind == "numeric":
            if not _same_edges(self.edges, other.edges):
                raise ValueError(f"cannot merge sketches of {self.column} with different bins")
            counts = self.counts + other.counts
            categories = self.categories
            other_values = other.sample_values
            sums = _add_opt(self.sums, other.sums)
        else:
            categories, counts, remap = _union_categories(self, other)
            other_values = remap[other.sample_values.astype(np.int64)].astype(np.float64)
            sums = None
        n_a, n_b = self.n, other.n
        mean, m2 = _combine_moments(n_a, self.mean, self.m2, n_b, other.mean, other.m2)
        keys, values = bottom_k(
            np.concatenate([self.sample_keys, other.sample_keys]),
            np.concatenate([self.sample_values, other_values]),
            sample_size,
        )
        return replace(
            self,
            counts=counts,
            categories=categories,
            n_missing=self.n_missing + other.n_missing,
            n_nonfinite=self.n_nonfinite + other.n_nonfinite,
            lo=_min_opt(self.lo, other.lo),
            hi=_max_opt(self.hi, other.hi),
            mean=mean,
            m2=m2,
            sample_keys=keys,
            sample_values=values,
            sums=sums,
        )

    def to_distribution(self) -> Distribution:
        return Distribution(
            kind=self.kind,
            counts=self.counts.astype(np.float64),
            edges=self.edges,
            categories=self.categories,
            lo=self.lo,
            hi=self.hi,
            sample=self.sample_values,
            std=self.std,
            bin_sums=self.sums,
        )

    def to_bytes(self) -> bytes:
        header = {
            "column": self.column,
            "kind": self.kind,
            "categories": list(self.categories) if self.categories is not None else None,
            "n_missing": self.n_missing,
            "n_nonfinite": self.n_nonfinite,
            "lo": self.lo,
            "hi": self.hi,
            "mean": self.mean,
            "m2": self.m2,
        }
        buffer = io.BytesIO()
        arrays: dict[str, npt.NDArray[np.generic]] = {
            "counts": self.counts,
            "sample_keys": self.sample_keys,
            "sample_values": self.sample_values,
            "header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
        }
        if self.edges is not None:
            arrays["edges"] = self.edges
        if self.sums is not None:
            arrays["sums"] = self.sums
        np.savez_compressed(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ColumnSketch:
        with np.load(io.BytesIO(data)) as arrays:
            header = json.loads(arrays["header"].tobytes().decode())
            categories = header["categories"]
            return cls(
                column=header["column"],
                kind=header["kind"],
                counts=arrays["counts"].astype(np.int64),
                edges=arrays["edges"].astype(np.float64) if "edges" in arrays else None,
                categories=tuple(categories) if categories is not None else None,
                n_missing=int(header["n_missing"]),
                n_nonfinite=int(header["n_nonfinite"]),
                lo=header["lo"],
                hi=header["hi"],
                mean=float(header["mean"]),
                m2=float(header["m2"]),
                sample_keys=arrays["sample_keys"].astype(np.uint64),
                sample_values=arrays["sample_values"].astype(np.float64),
                sums=arrays["sums"].astype(np.float64) if "sums" in arrays else None,
            )


def fit_numeric_edges(values: FloatArray, bins: int) -> FloatArray:
    """Interior edges at the reference's quantiles; ties collapse, so discrete columns get
    one bin per value rather than empty bins."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros(0, dtype=np.float64)
    quantiles = np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    edges = np.unique(quantiles)
    if edges.size == 0:
        edges = np.array([finite[0]], dtype=np.float64)
    out: FloatArray = edges.astype(np.float64)
    return out


def fit_categories(values: npt.NDArray[np.object_]) -> tuple[str, ...]:
    """The reference vocabulary: the most frequent categories, the rest folded into OTHER."""
    counts = pd.Series(values, dtype=object).value_counts()  # most frequent first; no nulls
    ranked = [str(c) for c in counts.index[:MAX_REFERENCE_CATEGORIES]]
    if len(counts) > MAX_REFERENCE_CATEGORIES:
        ranked.append(OTHER)
    return tuple(sorted(ranked))


class NumericSketchBuilder:
    """Accumulates a numeric column chunk by chunk into a :class:`ColumnSketch`."""

    def __init__(self, column: str, edges: FloatArray, sample_size: int) -> None:
        self._sketch = ColumnSketch(
            column=column,
            kind="numeric",
            counts=np.zeros(edges.size + 1, np.int64),
            edges=edges,
            sums=np.zeros(edges.size + 1, np.float64),
        )
        self._sample_size = sample_size
        self._sample: BottomK[np.float64] = BottomK(sample_size)

    @property
    def edges(self) -> FloatArray:
        edges = self._sketch.edges
        assert edges is not None
        return edges

    def add(self, values: FloatArray, keys: KeyArray) -> None:
        missing = np.isnan(values)
        infinite = np.isinf(values)
        finite_mask = ~(missing | infinite)
        finite = values[finite_mask]
        edges = self._sketch.edges
        assert edges is not None
        index = np.searchsorted(edges, finite, side="left")
        counts = np.bincount(index, minlength=edges.size + 1).astype(np.int64)
        sums = np.bincount(index, weights=finite, minlength=edges.size + 1).astype(np.float64)
        chunk_mean = float(finite.mean()) if finite.size else 0.0
        chunk_m2 = float(((finite - chunk_mean) ** 2).sum()) if finite.size else 0.0
        sample_keys, sample_values = self._sample.offer(keys[finite_mask], finite)
        chunk = replace(
            self._sketch,
            counts=counts,
            n_missing=int(missing.sum()),
            n_nonfinite=int(infinite.sum()),
            lo=float(finite.min()) if finite.size else None,
            hi=float(finite.max()) if finite.size else None,
            mean=chunk_mean,
            m2=chunk_m2,
            sample_keys=sample_keys,
            sample_values=sample_values,
            sums=sums,
        )
        self._sketch = self._sketch.merge(chunk, self._sample_size)

    def build(self) -> ColumnSketch:
        return self._sketch


class CategoricalSketchBuilder:
    """Accumulates a categorical column chunk by chunk into a :class:`ColumnSketch`."""

    def __init__(self, column: str, categories: tuple[str, ...], sample_size: int) -> None:
        self._column = column
        self._known = categories
        self._counts: Counter[str] = Counter()
        self._missing = 0
        self._sample_size = sample_size
        self._keys: KeyArray = np.zeros(0, dtype=np.uint64)
        self._values: npt.NDArray[np.object_] = np.zeros(0, dtype=object)
        self._sample: BottomK[np.object_] = BottomK(sample_size)

    @property
    def categories(self) -> tuple[str, ...]:
        return self._known

    def add(self, values: npt.NDArray[np.object_], keys: KeyArray) -> None:
        # One hashing pass: codes (-1 for None or NaN) give the missing count, the category
        # counts and the present rows at once.
        codes, labels = pd.factorize(values, use_na_sentinel=True)
        present = codes >= 0
        self._missing += int(codes.size - np.count_nonzero(present))
        counts = np.bincount(codes[present], minlength=len(labels))
        for label, count in zip(labels, counts, strict=True):
            if count:
                self._counts[str(label)] += int(count)
        self._keys, self._values = self._sample.offer(keys[present], values[present])

    def build(self) -> ColumnSketch:
        known = set(self._known)
        new = [c for c, _ in self._counts.most_common() if c not in known]
        kept_new = new[:MAX_NEW_CATEGORIES]
        fold = set(new[MAX_NEW_CATEGORIES:])
        categories = list(self._known) + sorted(kept_new)
        if fold and OTHER not in known:
            categories.append(OTHER)
        index = {c: i for i, c in enumerate(categories)}
        counts = np.zeros(len(categories), dtype=np.int64)
        for category, count in self._counts.items():
            counts[index[category if category in index else OTHER]] += count
        sample = np.array(
            [index[v if v in index else OTHER] for v in self._values], dtype=np.float64
        )
        return ColumnSketch(
            column=self._column,
            kind="categorical",
            counts=counts,
            categories=tuple(categories),
            n_missing=self._missing,
            sample_keys=self._keys,
            sample_values=sample,
        )


def aligned(reference: ColumnSketch, current: ColumnSketch) -> tuple[Distribution, Distribution]:
    """The two sketches as distributions over one support (new categories get 0 in the
    reference)."""
    if reference.kind == "numeric":
        return reference.to_distribution(), current.to_distribution()
    ref_categories = reference.categories or ()
    extra = tuple(c for c in current.categories or () if c not in ref_categories)
    support = ref_categories + extra
    ref = _realign(reference, support)
    cur = _realign(current, support)
    return ref.to_distribution(), cur.to_distribution()


def new_categories(reference: ColumnSketch, current: ColumnSketch) -> dict[str, int]:
    """Categories of ``current`` the reference never had, with their counts."""
    known = set(reference.categories or ())
    return {
        c: int(n)
        for c, n in zip(current.categories or (), current.counts, strict=True)
        if c not in known and n > 0
    }


class BottomK(Generic[Item]):
    """A running bottom-k sample: once full, only rows with a smaller key are looked at."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.keys: KeyArray = np.zeros(0, dtype=np.uint64)
        self.values: npt.NDArray[Item] | None = None

    def offer(
        self, keys: KeyArray, values: npt.NDArray[Item]
    ) -> tuple[KeyArray, npt.NDArray[Item]]:
        """Add rows; returns the new sample (keys, values)."""
        if self.values is not None and self.keys.size >= self.k:
            smaller = keys < self.keys.max()
            keys, values = keys[smaller], values[smaller]
        if self.values is None:
            self.keys, self.values = bottom_k(keys, values, self.k)
        elif keys.size:
            self.keys, self.values = bottom_k(
                np.concatenate([self.keys, keys]), np.concatenate([self.values, values]), self.k
            )
        return self.keys, self.values


def bottom_k(
    keys: KeyArray, values: npt.NDArray[Item], k: int
) -> tuple[KeyArray, npt.NDArray[Item]]:
    """One row for each of the ``k`` smallest distinct keys: a uniform sample of groups (rows
    sharing a key, such as a session, are not independent) that merges exactly."""
    if keys.size > 4 * k:
        # Only the smallest keys can be chosen: partition first, sort only those.
        candidates = np.argpartition(keys, k - 1)[:k]
        limit = keys[candidates].max()
        candidates = np.flatnonzero(keys <= limit)
        keys, values = keys[candidates], values[candidates]
    _, first = np.unique(keys, return_index=True)
    first = first[:k]
    return keys[first], values[first]


def _realign(sketch: ColumnSketch, support: tuple[str, ...]) -> ColumnSketch:
    index = {c: i for i, c in enumerate(support)}
    own = sketch.categories or ()
    counts = np.zeros(len(support), dtype=np.int64)
    remap = np.array([index[c] for c in own], dtype=np.int64)
    if own:
        np.add.at(counts, remap, sketch.counts)
        values = remap[sketch.sample_values.astype(np.int64)].astype(np.float64)
    else:
        values = sketch.sample_values
    return replace(sketch, categories=support, counts=counts, sample_values=values)


def _union_categories(
    a: ColumnSketch, b: ColumnSketch
) -> tuple[tuple[str, ...], IntArray, IntArray]:
    cats_a = a.categories or ()
    support = cats_a + tuple(c for c in b.categories or () if c not in set(cats_a))
    index = {c: i for i, c in enumerate(support)}
    counts = np.zeros(len(support), dtype=np.int64)
    counts[: len(cats_a)] += a.counts
    remap = np.array([index[c] for c in b.categories or ()], dtype=np.int64)
    if remap.size:
        np.add.at(counts, remap, b.counts)
    return support, counts, remap


def _combine_moments(
    n_a: int, mean_a: float, m2_a: float, n_b: int, mean_b: float, m2_b: float
) -> tuple[float, float]:
    n = n_a + n_b
    if n == 0:
        return 0.0, 0.0
    delta = mean_b - mean_a
    mean = mean_a + delta * n_b / n
    m2 = m2_a + m2_b + delta * delta * n_a * n_b / n
    return mean, m2


def _same_edges(a: FloatArray | None, b: FloatArray | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.shape == b.shape and bool(np.array_equal(a, b))


def _add_opt(a: FloatArray | None, b: FloatArray | None) -> FloatArray | None:
    return None if a is None or b is None else a + b


def _min_opt(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _max_opt(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)
