"""The five drift statistics, each checked against scipy on the same seeded data."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, entropy, ks_2samp, wasserstein_distance
from scipy.stats.contingency import association

from monitoring_pipelines.core.stats import Distribution, get_statistic, statistic_names
from monitoring_pipelines.core.stats.base import FloatArray

NAMES = ["chi2", "jensen_shannon", "ks", "psi", "wasserstein"]
NUMERIC_NAMES = NAMES
CATEGORICAL_NAMES = ["chi2", "jensen_shannon", "psi"]


def quantile_edges(reference: FloatArray, bins: int) -> FloatArray:
    """Interior reference-quantile edges, as the profile builds them."""
    edges: FloatArray = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    return edges


def numeric(values: FloatArray, edges: FloatArray, sample_size: int | None = None) -> Distribution:
    """A numeric distribution of ``values``; the sample is its first ``sample_size`` values."""
    index = np.searchsorted(edges, values, side="left")
    return Distribution(
        kind="numeric",
        counts=np.bincount(index, minlength=len(edges) + 1).astype(np.float64),
        edges=edges,
        lo=float(values.min()),
        hi=float(values.max()),
        sample=values[:sample_size] if sample_size else values,
        std=float(np.std(values)),
    )


def categorical(index: FloatArray, categories: tuple[str, ...], sample_size: int) -> Distribution:
    """A categorical distribution of category indices; the sample is the first indices."""
    counts = np.bincount(index.astype(np.int64), minlength=len(categories))
    return Distribution(
        kind="categorical",
        counts=counts.astype(np.float64),
        categories=categories,
        sample=index[:sample_size].astype(np.float64),
    )


def normal_pair(
    seed: int, shift: float, n: int = 2_000, bins: int = 20
) -> tuple[Distribution, ...]:
    rng = np.random.default_rng(seed)
    ref, cur = rng.normal(0, 1, n), rng.normal(shift, 1, n)
    edges = quantile_edges(ref, bins)
    return numeric(ref, edges, 300), numeric(cur, edges, 400)


def category_pair(seed: int, tilt: float) -> tuple[Distribution, ...]:
    rng = np.random.default_rng(seed)
    categories = tuple("abcdefg")  # "g" is never drawn: a column empty on both sides
    base = np.array([0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
    moved = base + tilt * np.array([-1, 0, 0, 0, 0, 1]) * 0.05
    ref = rng.choice(6, size=3_000, p=base).astype(np.float64)
    cur = rng.choice(6, size=2_000, p=moved / moved.sum()).astype(np.float64)
    return categorical(ref, categories, 500), categorical(cur, categories, 400)


def floored(counts: FloatArray) -> FloatArray:
    p: FloatArray = np.maximum(counts / counts.sum(), 1e-4)
    return p / float(p.sum())


# Registry


def test_registry_lists_the_five_statistics_by_name() -> None:
    assert statistic_names() == NAMES
    for name in NAMES:
        assert get_statistic(name).name == name


def test_unknown_statistic_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="known: chi2, jensen_shannon"):
        get_statistic("kl")


# Agreement with scipy


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("n_ref", "n_cur", "shift"), [(40, 70, 0.3), (300, 400, 0.1)])
def test_ks_p_value_is_ks_2samp_on_the_samples(
    seed: int, n_ref: int, n_cur: int, shift: float
) -> None:
    rng = np.random.default_rng(seed)
    ref, cur = rng.normal(0, 1, 2_000), rng.normal(shift, 1.2, 1_500)
    edges = quantile_edges(ref, 20)
    result = get_statistic("ks")(numeric(ref, edges, n_ref), numeric(cur, edges, n_cur))

    assert result.p_value == pytest.approx(ks_2samp(ref[:n_ref], cur[:n_cur]).pvalue, rel=1e-9)
    assert result.p_value_n == (n_ref, n_cur)
    # The score uses every row but only the edges: a lower bound of the exact D, and close.
    exact_d = ks_2samp(ref, cur).statistic
    assert exact_d - 0.02 < result.score <= exact_d + 1e-12


@pytest.mark.parametrize("seed", [3, 4])
def test_ks_score_is_exact_d_when_every_value_lies_on_an_edge(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 10, 1_000).astype(np.float64)
    cur = rng.integers(1, 10, 800).astype(np.float64)
    edges = np.arange(9, dtype=np.float64)  # one bin per integer 0..9
    result = get_statistic("ks")(numeric(ref, edges), numeric(cur, edges))

    assert result.score == pytest.approx(ks_2samp(ref, cur).statistic, rel=1e-12)


def test_ks_score_by_hand_peaks_at_the_last_edge() -> None:
    edges = np.array([0.0, 1.0])
    reference = Distribution("numeric", np.array([1.0, 1.0, 8.0]), edges, lo=-1.0, hi=2.0)
    current = Distribution("numeric", np.array([1.0, 8.0, 1.0]), edges, lo=-1.0, hi=2.0)

    # CDFs at the edges: 0.1, 0.2 against 0.1, 0.9.
    assert get_statistic("ks")(reference, current).score == pytest.approx(0.7, rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("shift", [0.0, 0.15, 0.5])
def test_chi2_numeric_matches_scipy(seed: int, shift: float) -> None:
    reference, current = normal_pair(seed, shift)
    result = get_statistic("chi2")(reference, current)

    full = np.vstack([reference.counts, current.counts]).astype(np.int64)
    assert result.score == pytest.approx(association(full, method="cramer"), rel=1e-9)
    assert reference.edges is not None and reference.sample is not None
    assert current.sample is not None
    table = np.vstack(
        [
            np.bincount(np.searchsorted(reference.edges, s, side="left"), minlength=21)
            for s in (reference.sample, current.sample)
        ]
    )
    table = table[:, table.sum(axis=0) > 0]
    expected = chi2_contingency(table, correction=False).pvalue
    assert result.p_value == pytest.approx(expected, rel=1e-9)
    assert result.p_value_n == (300, 400)


def test_chi2_bins_sample_values_on_an_edge_into_the_bin_it_closes() -> None:
    rng = np.random.default_rng(5)
    ref = rng.integers(0, 6, 2_000).astype(np.float64)
    cur = rng.integers(0, 7, 2_000).astype(np.float64)
    edges = np.arange(6, dtype=np.float64)  # every value sits on an edge (or above the last)

    result = get_statistic("chi2")(numeric(ref, edges, 300), numeric(cur, edges, 300))

    # A value equal to an edge belongs to the bin (e_prev, e]: value k goes to bin k.
    table = np.vstack([np.bincount(x[:300].astype(int), minlength=7) for x in (ref, cur)])
    expected = chi2_contingency(table, correction=False).pvalue
    assert result.p_value == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("tilt", [0.0, 1.0, 3.0])
def test_chi2_categorical_matches_scipy_and_drops_empty_columns(seed: int, tilt: float) -> None:
    reference, current = category_pair(seed, tilt)
    result = get_statistic("chi2")(reference, current)

    full = np.vstack([reference.counts, current.counts]).astype(np.int64)[
        :, :6
    ]  # drop the never-seen "g"
    assert result.score == pytest.approx(association(full, method="cramer"), rel=1e-9)
    assert reference.sample is not None and current.sample is not None
    table = np.vstack(
        [np.bincount(s.astype(int), minlength=6) for s in (reference.sample, current.sample)]
    )
    table = table[:, table.sum(axis=0) > 0]
    expected = chi2_contingency(table, correction=False).pvalue
    assert result.p_value == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("shift", [0.0, 0.2, 1.0])
def test_psi_is_symmetrised_kl_of_floored_proportions(seed: int, shift: float) -> None:
    reference, current = normal_pair(seed, shift, n=500, bins=50)  # some bins empty on one side
    r, c = floored(reference.counts), floored(current.counts)

    result = get_statistic("psi")(reference, current)

    assert result.score == pytest.approx(entropy(c, r) + entropy(r, c), rel=1e-9)
    assert result.p_value is None


def test_psi_ignores_categories_empty_on_both_sides() -> None:
    reference, current = category_pair(5, 2.0)  # category "g" is empty on both sides
    r, c = floored(reference.counts[:6]), floored(current.counts[:6])

    result = get_statistic("psi")(reference, current)

    assert result.score == pytest.approx(entropy(c, r) + entropy(r, c), rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("shift", [0.0, 0.2, 1.0, 4.0])
def test_jensen_shannon_matches_scipy(seed: int, shift: float) -> None:
    reference, current = normal_pair(seed, shift, n=800, bins=30)

    result = get_statistic("jensen_shannon")(reference, current)

    expected = jensenshannon(reference.counts, current.counts, base=2)
    assert result.score == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert 0.0 <= result.score <= 1.0


def test_jensen_shannon_of_disjoint_distributions_is_one() -> None:
    categories = ("a", "b", "c")
    reference = Distribution("categorical", np.array([5.0, 3.0, 0.0]), categories=categories)
    current = Distribution("categorical", np.array([0.0, 0.0, 7.0]), categories=categories)

    assert get_statistic("jensen_shannon")(reference, current).score == pytest.approx(1.0)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(
    ("shift", "scale"), [(0.0, 1.0), (0.1, 1.0), (0.5, 1.0), (0.0, 0.8), (0.3, 0.7)]
)
def test_wasserstein_matches_scipy_on_raw_data(seed: int, shift: float, scale: float) -> None:
    # Uniform data that does not reach below the reference minimum: within-bin uniformity then
    # holds in the outer bins too (the next test shows what they cost when it does not).
    rng = np.random.default_rng(seed)
    ref = rng.uniform(0, 1, 200_000)
    cur = 0.5 + (rng.uniform(0, 1, 200_000) - 0.5) * scale + shift * np.std(ref)
    edges = quantile_edges(ref, 100)

    result = get_statistic("wasserstein")(numeric(ref, edges), numeric(cur, edges))

    expected = wasserstein_distance(ref, cur) / np.std(ref)
    assert result.score == pytest.approx(expected, rel=0.02, abs=0.002)
    assert result.note is None


@pytest.mark.parametrize(
    ("draw", "shift", "scale"),
    [("normal", 0.0, 1.0), ("normal", 0.1, 1.0), ("normal", 0.5, 1.0), ("uniform", 0.0, 1.3)],
)
def test_wasserstein_outer_bins_cost_a_few_percent(draw: str, shift: float, scale: float) -> None:
    rng = np.random.default_rng(7)
    sampler = rng.normal if draw == "normal" else rng.uniform
    ref = sampler(size=200_000)
    cur = ref.mean() + (sampler(size=200_000) - ref.mean()) * scale + shift * np.std(ref)
    edges = quantile_edges(ref, 100)

    result = get_statistic("wasserstein")(numeric(ref, edges), numeric(cur, edges))

    # Outer-bin mass is spread uniformly out to the common lo/hi, not where it really lies: a
    # normal tail is overstated, the narrower side of a widened uniform moved towards the other
    # (measured here: +4% to +5% for the normal shifts, -2% for the widening).
    expected = wasserstein_distance(ref, cur) / np.std(ref)
    assert result.score == pytest.approx(expected, rel=0.08, abs=0.002)


@pytest.mark.parametrize("d", [0.25, 1.0, 2.0])
def test_wasserstein_of_a_location_shift_is_the_shift_in_sd(d: float) -> None:
    rng = np.random.default_rng(11)
    ref = rng.uniform(0, 1, 100_000)
    cur = rng.uniform(0, 1, 100_000) + d * np.std(ref)
    edges = quantile_edges(ref, 100)

    result = get_statistic("wasserstein")(numeric(ref, edges), numeric(cur, edges))

    assert result.score == pytest.approx(d, rel=0.02)


def test_wasserstein_of_mass_moved_one_bin_is_the_bin_width_over_sd() -> None:
    edges = np.array([0.0, 1.0, 2.0])
    reference = Distribution(
        "numeric", np.array([0.0, 4.0, 0.0, 0.0]), edges, lo=0.2, hi=1.0, std=0.5
    )
    current = Distribution("numeric", np.array([0.0, 0.0, 6.0, 0.0]), edges, lo=1.5, hi=2.0)

    result = get_statistic("wasserstein")(reference, current)

    # Uniform on [0, 1] against uniform on [1, 2]: every unit of mass moves by 1.
    assert result.score == pytest.approx(1.0 / 0.5, rel=1e-12)


def test_wasserstein_integrates_through_a_sign_change() -> None:
    edges = np.array([0.0, 1.0, 2.0, 3.0])
    reference = Distribution("numeric", np.array([0.0, 1.0, 0.0, 1.0, 0.0]), edges, lo=0.0, hi=3.0)
    current = Distribution("numeric", np.array([0.0, 0.0, 1.0, 0.0, 0.0]), edges, lo=1.0, hi=2.0)
    grid = (np.arange(300_000) + 0.5) / 100_000  # uniform on [0, 3] at fine resolution

    result = get_statistic("wasserstein")(reference, current)

    # F_ref - F_cur runs 0, 0.5, -0.5, 0 over the edges 0..3: areas 0.25 + 0.25 + 0.25.
    assert result.score == pytest.approx(0.75, rel=1e-12)
    raw = wasserstein_distance(grid[(grid < 1) | (grid > 2)], grid[(grid > 1) & (grid < 2)])
    assert result.score == pytest.approx(raw, abs=1e-4)


def test_wasserstein_outer_bins_reach_to_lo_and_hi() -> None:
    edges = np.array([0.0])
    reference = Distribution("numeric", np.array([1.0, 0.0]), edges, lo=-2.0, hi=0.0, std=1.0)
    current = Distribution("numeric", np.array([0.0, 1.0]), edges, lo=0.0, hi=4.0)

    # Uniform on [-2, 0] against uniform on [0, 4]: the means are 3 apart and never overlap.
    assert get_statistic("wasserstein")(reference, current).score == pytest.approx(3.0)


def test_wasserstein_with_constant_reference_is_in_column_units() -> None:
    edges = np.array([1.0])  # the quantile edges of a constant reference collapse to one
    reference = Distribution("numeric", np.array([5.0, 0.0]), edges, lo=1.0, hi=1.0, std=0.0)
    current = Distribution("numeric", np.array([0.0, 5.0]), edges, lo=3.0, hi=3.0)

    result = get_statistic("wasserstein")(reference, current)

    assert result.note == "reference is constant: distance in column units"
    # A point mass at 1 against the outer bin (1, 3] taken as uniform: mean distance 1.
    assert result.score == pytest.approx(1.0, rel=1e-12)


# Properties shared by every statistic


@pytest.mark.parametrize("name", NUMERIC_NAMES)
def test_identical_numeric_inputs_score_zero(name: str) -> None:
    reference, _ = normal_pair(0, 0.0)

    result = get_statistic(name)(reference, reference)

    assert result.score == 0.0
    assert result.p_value in (None, 1.0)
    assert (result.p_value is None) == (name not in ("ks", "chi2"))


@pytest.mark.parametrize("name", CATEGORICAL_NAMES)
def test_identical_categorical_inputs_score_zero(name: str) -> None:
    reference, _ = category_pair(0, 0.0)

    result = get_statistic(name)(reference, reference)

    assert result.score == 0.0
    assert result.p_value == (1.0 if name == "chi2" else None)


@pytest.mark.parametrize("name", NUMERIC_NAMES)
def test_a_numeric_shift_scores_clearly_higher_than_none(name: str) -> None:
    statistic = get_statistic(name)
    calm = statistic(*normal_pair(1, 0.0))
    shifted = statistic(*normal_pair(1, 0.8))

    assert shifted.score > 3 * calm.score
    if calm.p_value is not None:
        assert shifted.p_value is not None and shifted.p_value < 1e-6 < calm.p_value


@pytest.mark.parametrize("name", CATEGORICAL_NAMES)
def test_a_categorical_shift_scores_clearly_higher_than_none(name: str) -> None:
    statistic = get_statistic(name)

    assert statistic(*category_pair(2, 4.0)).score > 3 * statistic(*category_pair(2, 0.0)).score


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("side", ["reference", "current"])
def test_an_empty_side_is_rejected(name: str, side: str) -> None:
    reference, current = normal_pair(0, 0.0)
    empty = replace(reference, counts=np.zeros_like(reference.counts))
    pair = (empty, current) if side == "reference" else (reference, empty)

    with pytest.raises(ValueError, match=rf"^{name}: {side} distribution is empty"):
        get_statistic(name)(*pair)


@pytest.mark.parametrize("name", ["ks", "wasserstein"])
def test_categorical_columns_are_rejected_by_numeric_only_statistics(name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name}: categorical columns are not supported"):
        get_statistic(name)(*category_pair(0, 0.0))


@pytest.mark.parametrize("name", NAMES)
def test_different_kinds_are_rejected(name: str) -> None:
    numeric_side, _ = normal_pair(0, 0.0)
    categorical_side, _ = category_pair(0, 0.0)

    with pytest.raises(ValueError, match=rf"^{name}: reference is numeric but current is"):
        get_statistic(name)(numeric_side, categorical_side)


@pytest.mark.parametrize("name", NAMES)
def test_different_edges_are_rejected(name: str) -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=500)
    reference = numeric(values, quantile_edges(values, 10))
    for current in (
        numeric(values, quantile_edges(values, 12)),
        numeric(values, quantile_edges(values, 10) + 0.01),
    ):
        with pytest.raises(ValueError, match=rf"^{name}: supports differ"):
            get_statistic(name)(reference, current)


@pytest.mark.parametrize("name", CATEGORICAL_NAMES)
def test_different_categories_are_rejected(name: str) -> None:
    reference, current = category_pair(0, 0.0)
    assert current.categories is not None
    fewer = replace(current, counts=current.counts[:-1], categories=current.categories[:-1])
    renamed = replace(current, categories=(*current.categories[:-1], "z"))
    for other in (fewer, renamed):
        with pytest.raises(ValueError, match=rf"^{name}: supports differ"):
            get_statistic(name)(reference, other)


@pytest.mark.parametrize("name", NAMES)
def test_counts_that_do_not_fit_the_edges_are_rejected(name: str) -> None:
    reference, current = normal_pair(0, 0.0)
    broken = replace(current, counts=current.counts[:-1])

    with pytest.raises(ValueError, match=rf"^{name}: current needs edges"):
        get_statistic(name)(reference, broken)


@pytest.mark.parametrize("name", NUMERIC_NAMES)
@pytest.mark.parametrize("bad", [np.nan, -1.0])
def test_edges_that_are_not_finite_and_increasing_are_rejected(name: str, bad: float) -> None:
    reference, current = normal_pair(0, 0.0)
    assert reference.edges is not None
    edges = reference.edges.copy()
    edges[5] = bad
    pair = (replace(reference, edges=edges), replace(current, edges=edges))

    with pytest.raises(ValueError, match=rf"^{name}: reference edges must be finite"):
        get_statistic(name)(*pair)


# Samples and p-values


@pytest.mark.parametrize("sample", [None, np.array([0.5])])
def test_ks_without_a_usable_sample_gives_no_p_value(sample: FloatArray | None) -> None:
    reference, current = normal_pair(0, 0.3)

    result = get_statistic("ks")(reference, replace(current, sample=sample))

    assert result.p_value is None
    assert result.note == "current sample has fewer than 2 values: no p-value"
    assert result.score > 0.05


def test_ks_rejects_nan_in_a_sample() -> None:
    reference, current = normal_pair(0, 0.3)
    assert current.sample is not None
    poisoned = replace(current, sample=np.append(current.sample, np.nan))

    with pytest.raises(ValueError, match=r"^ks: p-value is NaN"):
        get_statistic("ks")(reference, poisoned)


def test_chi2_without_a_sample_gives_no_p_value() -> None:
    reference, current = category_pair(0, 2.0)

    result = get_statistic("chi2")(replace(reference, sample=None), current)

    assert result.p_value is None
    assert result.note == "reference sample is empty: no p-value"
    assert result.score > 0.05


def test_chi2_with_a_single_non_empty_column_scores_zero() -> None:
    categories = ("a", "b")
    reference = Distribution("categorical", np.array([9.0, 0.0]), categories=categories)
    current = Distribution("categorical", np.array([4.0, 0.0]), categories=categories)

    result = get_statistic("chi2")(reference, current)

    assert (result.score, result.p_value) == (0.0, 1.0)
    assert result.note is not None and "one non-empty column" in result.note


@pytest.mark.parametrize("bad", [6.5, -1.0, 7.0, np.nan])
def test_chi2_rejects_a_sample_index_that_is_not_a_category(bad: float) -> None:
    reference, current = category_pair(0, 0.0)
    assert current.sample is not None
    poisoned = replace(current, sample=np.append(current.sample, bad))

    with pytest.raises(ValueError, match=r"^chi2: current sample"):
        get_statistic("chi2")(reference, poisoned)


def test_wasserstein_needs_a_bound_for_an_occupied_outer_bin() -> None:
    reference, current = normal_pair(0, 0.0)

    with pytest.raises(ValueError, match=r"^wasserstein: lo and hi must be finite"):
        get_statistic("wasserstein")(reference, replace(current, lo=None))
