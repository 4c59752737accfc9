"""Sketches merge exactly; the drift engine gates on effect size, BH significance and rows."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from monitoring_pipelines.core.config import DriftConfig, Threshold
from monitoring_pipelines.core.drift.engine import compute_drift, drift_check
from monitoring_pipelines.core.profile.sketch import (
    CategoricalSketchBuilder,
    ColumnSketch,
    NumericSketchBuilder,
    fit_categories,
    fit_numeric_edges,
)
from monitoring_pipelines.core.stats.inference import benjamini_hochberg

SAMPLE = 2000


def keys(n: int, offset: int = 0) -> np.ndarray:
    rng = np.random.default_rng(offset)
    return rng.integers(0, 2**63, size=n, dtype=np.uint64)


def numeric(
    values: np.ndarray, edges: np.ndarray, offset: int = 0, sample: int = SAMPLE
) -> ColumnSketch:
    builder = NumericSketchBuilder("x", edges, sample)
    builder.add(values.astype(np.float64), keys(len(values), offset))
    return builder.build()


def categorical(
    values: list[str | None], categories: tuple[str, ...], offset: int = 0
) -> ColumnSketch:
    builder = CategoricalSketchBuilder("c", categories, SAMPLE)
    builder.add(np.array(values, dtype=object), keys(len(values), offset))
    return builder.build()


def test_numeric_sketch_counts_moments_and_bad_values() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0, np.nan, np.inf, -np.inf, 10.0])
    sketch = numeric(values, np.array([2.0, 3.5]))
    assert sketch.counts.tolist() == [2, 1, 2]  # (-inf,2], (2,3.5], (3.5,inf)
    assert sketch.n_missing == 1 and sketch.n_nonfinite == 2
    finite = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    assert sketch.mean == pytest.approx(finite.mean())
    assert sketch.std == pytest.approx(finite.std())
    assert (sketch.lo, sketch.hi) == (1.0, 10.0)


def test_merging_chunks_equals_one_pass() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(5, 2, 30_000)
    k = keys(30_000, 9)
    edges = fit_numeric_edges(values, 20)
    whole = NumericSketchBuilder("x", edges, SAMPLE)
    whole.add(values, k)
    parts = NumericSketchBuilder("x", edges, SAMPLE)
    for start in range(0, 30_000, 7_000):
        parts.add(values[start : start + 7_000], k[start : start + 7_000])
    a, b = whole.build(), parts.build()
    assert a.counts.tolist() == b.counts.tolist()
    assert a.mean == pytest.approx(b.mean) and a.m2 == pytest.approx(b.m2)
    assert sorted(a.sample_keys.tolist()) == sorted(b.sample_keys.tolist())  # bottom-k is exact
    assert len(a.sample_values) == SAMPLE


def test_sketch_round_trips_through_bytes() -> None:
    sketch = categorical(["a", "b", None, "zz"], ("a", "b"))
    again = ColumnSketch.from_bytes(sketch.to_bytes())
    assert again.categories == ("a", "b", "zz")
    assert again.counts.tolist() == [1, 1, 1] and again.n_missing == 1
    assert np.array_equal(again.sample_values, sketch.sample_values)


def test_discrete_and_constant_columns_get_one_bin_per_value() -> None:
    discrete = fit_numeric_edges(np.array([0, 0, 1, 1, 2, 2, 2] * 10, dtype=float), 20)
    assert discrete.tolist() == [0.0, 1.0, 2.0]
    assert fit_numeric_edges(np.full(100, 7.0), 20).tolist() == [7.0]
    assert fit_numeric_edges(np.array([np.nan, np.inf]), 20).size == 0


def test_fit_categories_folds_the_long_tail() -> None:
    values = np.array([f"v{i}" for i in range(500)] + ["v1"] * 10, dtype=object)
    categories = fit_categories(values)
    assert "(other)" in categories and "v1" in categories and len(categories) == 201


def test_benjamini_hochberg_matches_scipy() -> None:
    p = np.random.default_rng(1).uniform(0, 0.2, 40)
    assert np.allclose(benjamini_hochberg(p), stats.false_discovery_control(p, method="bh"))


def drift(reference: ColumnSketch, current: ColumnSketch, config: DriftConfig | None = None):
    return compute_drift(
        {"x": reference}, {"x": current}, {"x": "feature"}, config or DriftConfig()
    )


def test_real_shift_drifts_and_noise_does_not() -> None:
    rng = np.random.default_rng(11)
    ref_values = rng.normal(0, 1, 50_000)
    edges = fit_numeric_edges(ref_values, 20)
    ref = numeric(ref_values, edges, 1)
    same = drift(ref, numeric(rng.normal(0, 1, 5000), edges, 2))[0]
    moved = drift(ref, numeric(rng.normal(0.5, 1, 5000), edges, 3))[0]
    assert same.verdict == "ok" and same.score is not None and same.score < 0.05
    assert moved.verdict == "critical" and moved.score == pytest.approx(0.5, rel=0.05)
    assert moved.p_adjusted is not None and moved.p_adjusted < 1e-6


def test_significant_but_tiny_shift_does_not_drift() -> None:
    rng = np.random.default_rng(12)
    ref_values = rng.normal(0, 1, 200_000)
    edges = fit_numeric_edges(ref_values, 20)
    # No bounding: the KS test sees every row.
    ref = numeric(ref_values, edges, 1, sample=200_000)
    tiny = drift(ref, numeric(rng.normal(0.02, 1, 200_000), edges, 2, sample=200_000))[0]
    assert tiny.p_value is not None and tiny.p_value < 0.01  # statistically significant...
    assert tiny.verdict == "ok"  # ...but below the practical threshold


def test_large_effect_without_significance_does_not_drift() -> None:
    ref = numeric(np.array([0.0, 1.0, 2.0, 3.0] * 100), np.array([0.5, 1.5, 2.5]), 1)
    cur = numeric(np.array([3.0, 3.0, 2.0]), np.array([0.5, 1.5, 2.5]), 2)
    result = drift(ref, cur, DriftConfig(min_rows=1))[0]
    assert result.score is not None and result.score > 0.5
    assert result.verdict == "ok"  # three rows cannot establish it


def test_too_few_rows_and_empty_reference_are_explained() -> None:
    edges = np.array([0.0])
    ref = numeric(np.array([-1.0, 1.0] * 50), edges, 1)
    few = drift(ref, numeric(np.array([1.0, 2.0, 3.0]), edges, 2))[0]
    assert few.verdict == "insufficient_rows" and few.score is None
    assert "3 rows with a value, fewer than drift.min_rows=200" in (few.note or "")
    nothing = drift(
        numeric(np.array([np.nan]), np.zeros(0), 1),
        few_cur := numeric(np.array([1.0]), np.zeros(0), 2),
    )[0]
    assert nothing.verdict == "no_reference" and few_cur.n == 1
    check = drift_check("feature_drift", [few], 0.01)
    assert check.passed and check.findings == () and "not evaluated" in check.summary


def test_new_category_is_reported() -> None:
    ref = categorical(["a", "b"] * 500, ("a", "b"), 1)
    cur = categorical(["a", "b"] * 200 + ["c"] * 200, ("a", "b"), 2)
    result = compute_drift({"c": ref}, {"c": cur}, {"c": "feature"}, DriftConfig())[0]
    assert result.new_categories == {"c": 200}
    assert "categories the reference never had" in (result.note or "")
    assert result.verdict == "critical"


def test_per_column_threshold_overrides_type_default() -> None:
    rng = np.random.default_rng(5)
    ref_values = rng.normal(0, 1, 20_000)
    edges = fit_numeric_edges(ref_values, 20)
    ref = numeric(ref_values, edges, 1)
    cur = numeric(rng.normal(0.3, 1, 5000), edges, 2)
    loose = DriftConfig(columns={"x": Threshold(warn=0.5, critical=0.9)})
    assert drift(ref, cur)[0].verdict == "critical"
    assert drift(ref, cur, loose)[0].verdict == "ok"


@pytest.mark.parametrize(("shift", "scale"), [(0.0, 1.0), (0.1, 1.0), (0.5, 1.0), (0.2, 1.5)])
def test_sketch_wasserstein_matches_scipy_on_normal_data(shift: float, scale: float) -> None:
    # Bin sums place each bin's mass at its true mean: within 2% of the exact raw distance.
    rng = np.random.default_rng(21)
    ref_values = rng.normal(0, 1, 200_000)
    cur_values = rng.normal(shift, scale, 200_000)
    edges = fit_numeric_edges(ref_values, 20)
    ref, cur = numeric(ref_values, edges, 1), numeric(cur_values, edges, 2)
    result = compute_drift({"x": ref}, {"x": cur}, {"x": "feature"}, DriftConfig())[0]
    expected = stats.wasserstein_distance(ref_values, cur_values) / ref_values.std()
    assert result.score == pytest.approx(expected, rel=0.02, abs=0.003)


def test_one_outlier_does_not_stretch_the_distance() -> None:
    rng = np.random.default_rng(22)
    ref_values = rng.normal(0, 1, 100_000)
    cur_values = np.append(rng.normal(0, 1, 100_000), 1000.0)
    edges = fit_numeric_edges(ref_values, 20)
    result = compute_drift(
        {"x": numeric(ref_values, edges, 1)},
        {"x": numeric(cur_values, edges, 2)},
        {"x": "feature"},
        DriftConfig(),
    )[0]
    expected = stats.wasserstein_distance(ref_values, cur_values) / ref_values.std()
    assert result.score == pytest.approx(expected, abs=0.01)
    assert result.verdict == "ok"


def _segment_day(shift_v2: float, rows: int = 4000) -> tuple[dict[str, ColumnSketch], dict]:
    """A day whose rows split between model versions v1 and v2; v2's x is shifted."""
    import pandas as pd

    from monitoring_pipelines.core.ingest.cleaning import GROUP_KEY, ROW_KEY
    from monitoring_pipelines.core.profile.fitting import ColumnPlan, profile_day

    rng = np.random.default_rng(8)
    ref_values = rng.normal(0, 1, 20_000)
    reference = {"x": numeric(ref_values, fit_numeric_edges(ref_values, 20), 1)}
    version = np.where(np.arange(rows) % 4 == 0, "v2", "v1")
    x = rng.normal(0, 1, rows) + np.where(version == "v2", shift_v2, 0.0)
    batch = pd.DataFrame(
        {
            "x": x,
            "model_version": version,
            ROW_KEY: keys(rows, 1),
            GROUP_KEY: keys(rows, 2),
        }
    )
    day = profile_day(
        [batch], ColumnPlan(("x",), ()), reference, ["x"], SAMPLE, segments=["model_version"]
    )
    return reference, {s.column: s for s in day.sketches}


def test_segments_are_sketched_and_name_the_driver_of_a_drift() -> None:
    reference, current = _segment_day(shift_v2=2.0)
    assert set(current) == {"x", "x@model_version=v1", "x@model_version=v2"}
    assert current["x@model_version=v2"].n == 1000
    roles = {"x": "feature", "x@model_version=v1": "segment", "x@model_version=v2": "segment"}
    results = compute_drift(reference, current, roles, DriftConfig())
    whole = [r for r in results if r.role == "feature"]
    sliced = [r for r in results if r.role == "segment"]
    outcome = drift_check("feature_drift", whole, 0.01, sliced)
    [finding] = outcome.findings  # the column drifted as a whole: one finding, driver named
    assert not finding.passed
    assert "strongest in model_version=v2" in finding.summary
    assert outcome.metadata["segment_drivers"].startswith("x: model_version=v2")


def test_a_drift_confined_to_one_segment_is_a_finding_of_its_own() -> None:
    reference, current = _segment_day(shift_v2=0.35)
    roles = {"x": "feature", "x@model_version=v1": "segment", "x@model_version=v2": "segment"}
    results = compute_drift(
        reference, current, roles, DriftConfig(columns={"x": Threshold(warn=0.1)})
    )
    whole = [r for r in results if r.role == "feature"]
    sliced = [r for r in results if r.role == "segment"]
    outcome = drift_check("feature_drift", whole, 0.01, sliced)
    verdicts = {f.subject: f.passed for f in outcome.findings}
    assert verdicts == {"x": True, "x@model_version=v1": True, "x@model_version=v2": False}
    assert outcome.summary == "drift in x@model_version=v2"


def test_a_day_read_as_categoricals_sketches_as_its_strings() -> None:
    """The slice's text columns come as categoricals (from the file's dictionary): every
    sketch, segments included, is the one of the same strings as object columns."""
    import pandas as pd

    from monitoring_pipelines.core.ingest.cleaning import GROUP_KEY, ROW_KEY
    from monitoring_pipelines.core.profile.fitting import ColumnPlan, profile_day

    rng = np.random.default_rng(12)
    rows = 30_000  # above the edge table's minimum, in two batches
    channel = rng.choice(["web", "app", "api", "kiosk"], rows).astype(object)
    channel[:300] = None
    ref_values = rng.normal(0, 1, 5_000)
    reference = {
        "x": numeric(ref_values, fit_numeric_edges(ref_values, 20), 1),
        "channel": categorical(["web", "app", "api"] * 100, ("api", "app", "web"), 2),
    }
    frame = pd.DataFrame(
        {
            "x": rng.normal(0, 1, rows),
            "channel": channel,
            "version": rng.choice(["v1", "v2"], rows).astype(object),
            ROW_KEY: keys(rows, 3),
            GROUP_KEY: keys(rows, 4) % np.uint64(20_000),  # sessions: repeated group keys
        }
    )
    plan = ColumnPlan(("x",), ("channel",))

    def sketches(day: pd.DataFrame) -> dict[str, ColumnSketch]:
        batches = [day.iloc[:12_000], day.iloc[12_000:]]
        profiled = profile_day(
            batches, plan, reference, ["x", "channel"], 2_000, segments=["version"]
        )
        return {s.column: s for s in profiled.sketches}

    plain = sketches(frame)
    read = sketches(frame.astype({"channel": "category", "version": "category"}))
    assert plain.keys() == read.keys() and "channel@version=v2" in read
    for column, want in plain.items():
        got = read[column]
        assert got.categories == want.categories and np.array_equal(got.counts, want.counts)
        assert got.n_missing == want.n_missing
        assert np.array_equal(got.sample_keys, want.sample_keys), column
        assert np.array_equal(got.sample_values, want.sample_values), column
    assert read["channel"].n_missing == 300 and read["channel"].sample_keys.size == 2_000
