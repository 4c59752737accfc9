"""The sketch's shortcuts give exactly what the plain computation gives: bins from the edge
table equal ``np.searchsorted``'s, and samples drawn with a shared key order equal
``bottom_k``'s."""

from __future__ import annotations

import numpy as np
import pytest

from monitoring_pipelines.core.profile.sketch import (
    BottomK,
    CategoricalSketchBuilder,
    EdgeIndex,
    NumericSketchBuilder,
    bottom_k,
    fit_numeric_edges,
    key_order,
    smallest_rows,
)

rng = np.random.default_rng(20261127)

DISTRIBUTIONS = {
    "normal": lambda n: rng.normal(size=n),
    "skewed": lambda n: rng.lognormal(0.0, 2.0, n),
    "very skewed": lambda n: rng.lognormal(0.0, 5.0, n),  # several edges in a cell
    "integers": lambda n: rng.integers(0, 20, n).astype(np.float64),  # values on the edges
    "large offset": lambda n: 1e12 + rng.normal(size=n),
    "tiny scale": lambda n: 1e-300 * rng.normal(size=n),
    "two values": lambda n: rng.choice([3.0, 7.0], n),
}


@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_edge_table_bins_equal_searchsorted(name: str) -> None:
    draw = DISTRIBUTIONS[name]
    edges = fit_numeric_edges(draw(50_000), 100)
    values = np.concatenate(
        [
            draw(EdgeIndex.MIN_VALUES * 4),
            edges,
            np.nextafter(edges, np.inf),
            np.nextafter(edges, -np.inf),
            [-1e308, 1e308, 0.0, -0.0, 5e-324],
        ]
    )
    index = EdgeIndex(edges)
    assert np.array_equal(index(values), np.searchsorted(edges, values, side="left"))


def test_edge_table_degenerate_edges_fall_back_to_searching() -> None:
    values = rng.normal(size=EdgeIndex.MIN_VALUES * 2)
    for edges in (np.zeros(0), np.array([0.5]), np.array([-1e308, 1e308])):
        assert np.array_equal(EdgeIndex(edges)(values), np.searchsorted(edges, values))


def test_builders_sharing_an_edge_table_count_alike() -> None:
    values = rng.normal(size=20_000)
    keys = rng.integers(0, 2**64, values.size, dtype=np.uint64)
    edges = fit_numeric_edges(values, 50)
    first = NumericSketchBuilder("x", edges, 100)
    shared = NumericSketchBuilder("x", edges, 100, first.index)
    first.add(values, keys)
    shared.add(values, keys)
    assert shared.index is first.index
    assert np.array_equal(first.build().counts, shared.build().counts)


@pytest.mark.parametrize("k", [1, 10, 500, 5000])
def test_smallest_rows_are_the_rows_bottom_k_keeps(k: int) -> None:
    keys = rng.integers(0, 3000, 8000).astype(np.uint64)  # many repeated keys (sessions)
    values = np.arange(keys.size, dtype=np.float64)  # the row, to see which row is kept
    mask = rng.random(keys.size) < 0.7
    rows = smallest_rows(keys, key_order(keys), mask, k)
    want_keys, want_values = bottom_k(keys[mask], values[mask], k)
    assert np.array_equal(keys[rows], want_keys)
    assert np.array_equal(values[rows], want_values)  # the first row of each key
    assert want_keys.size == min(k, np.unique(keys[mask]).size)  # k keys whenever there are


def test_bottom_k_keeps_k_distinct_keys_when_keys_repeat() -> None:
    keys = np.repeat(np.arange(1000, dtype=np.uint64), 3)  # each key on three rows
    kept, _ = bottom_k(keys, np.zeros(keys.size), 100)
    assert np.array_equal(kept, np.arange(100, dtype=np.uint64))


def test_a_sample_offered_with_the_key_order_equals_one_offered_without() -> None:
    plain: BottomK[np.float64] = BottomK(300)
    ordered: BottomK[np.float64] = BottomK(300)
    for _ in range(4):  # chunks: the running sample merges with each
        keys = rng.integers(0, 5000, 2000).astype(np.uint64)
        values = rng.normal(size=keys.size)
        mask = rng.random(keys.size) < 0.8
        want = plain.offer(keys[mask], values[mask])
        got = ordered.offer(keys, values, mask, key_order(keys))
        assert np.array_equal(want[0], got[0]) and np.array_equal(want[1], got[1])


def test_categorical_sample_codes_follow_the_vocabulary() -> None:
    labels = np.array(["b", "a", None, "c", "a", "zz"] * 50, dtype=object)
    keys = np.arange(labels.size, dtype=np.uint64)
    builder = CategoricalSketchBuilder("c", ("a", "b", "c"), 1000)
    builder.add(labels, keys, key_order(keys))
    sketch = builder.build()
    categories = sketch.categories or ()
    present = labels[labels != None]  # noqa: E711 - elementwise on an object array
    decoded = [categories[int(i)] for i in sketch.sample_values]
    assert sorted(decoded) == sorted(present)
    assert sketch.n_missing == 50
