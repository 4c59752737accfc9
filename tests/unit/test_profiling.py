"""The whylogs profile built through the typed fast path against whylogs' own ``log``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring_pipelines.core.profile import whylogs_adapter as profiling

QUANTILES = ("q_01", "q_05", "q_10", "q_25", "q_75", "q_90", "q_95", "q_99")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 6_000
    floats = rng.normal(5.0, 2.0, n)
    floats[:40] = np.nan
    floats[40:45] = np.inf
    floats[45:47] = -np.inf
    text = rng.choice(["alpha", "beta", "gamma", "delta"], n).astype(object)
    text[:25] = None
    return pd.DataFrame(
        {
            "amount": floats,
            "count": rng.integers(0, 50, n),
            "channel": text,
            "typed_text": pd.array(rng.choice(["x", "y"], n), dtype="string"),
            "empty": pd.Series([None] * n, dtype=object),
            "flag": rng.integers(0, 2, n).astype(bool),
            "mixed": pd.Series([1, "a", 2.5, None] * (n // 4), dtype=object),
        }
    )


def _whylogs_table(frame: pd.DataFrame) -> pd.DataFrame:
    whylogs = profiling._whylogs()
    text = {c: "string" for c in frame.columns if frame[c].dtype == object and c != "mixed"}
    return whylogs.log(pandas=frame.astype(text)).view().to_pandas().sort_index(axis=1)


def _fast_table(frame: pd.DataFrame, chunk: int) -> pd.DataFrame:
    builder = profiling.ProfileBuilder()
    for start in range(0, len(frame), chunk):
        builder.add(frame.iloc[start : start + chunk])
    view = builder.build()
    assert view is not None
    assert builder.rows == len(frame)
    return view.to_pandas().sort_index(axis=1)


def test_the_fast_path_counts_what_whylogs_log_counts(frame: pd.DataFrame) -> None:
    ours = _fast_table(frame, chunk=2_500)
    theirs = _whylogs_table(frame)

    assert list(ours.columns) == list(theirs.columns)
    exact = [
        c
        for c in theirs.columns
        if c.startswith(("counts/", "types/", "ints/", "cardinality/", "frequent_items/"))
        or c in ("distribution/n", "distribution/min", "distribution/max", "type")
    ]
    assert "counts/inf" in exact and "frequent_items/frequent_strings" in exact
    pd.testing.assert_frame_equal(ours[exact], theirs[exact], check_dtype=False)
    assert ours.loc["amount", "counts/nan"] == 40
    assert ours.loc["amount", "counts/inf"] == 7
    assert ours.loc["channel", "counts/null"] == 25
    assert ours.loc["empty", "counts/null"] == len(frame)


def test_the_fast_path_quantiles_agree_within_the_sketch_error(frame: pd.DataFrame) -> None:
    ours = _fast_table(frame, chunk=len(frame))
    finite = frame["amount"][np.isfinite(frame["amount"])].to_numpy()
    for name in QUANTILES:
        q = int(name[2:]) / 100
        estimate = ours.loc["amount", f"distribution/{name}"]
        # KLL's rank error at its default size is about 1.3 %; allow 2 points of rank.
        rank = np.searchsorted(np.sort(finite), estimate) / finite.size
        assert abs(rank - q) < 0.02, (name, rank)


def test_an_empty_builder_has_no_profile() -> None:
    builder = profiling.ProfileBuilder()
    builder.add(pd.DataFrame({"a": pd.Series([], dtype=float)}))
    assert builder.build() is None
    assert builder.rows == 0


def test_text_read_as_categoricals_profiles_as_its_strings(frame: pd.DataFrame) -> None:
    # The slice's text columns are read from their dictionary as categoricals: the profile
    # is the one of the same strings, in every column whylogs counts exactly.
    rng = np.random.default_rng(11)
    long = "l" * (profiling.FREQUENT_ITEM_CHARS + 5)  # kept by whylogs' own split
    texts = frame[["channel"]].assign(
        long=rng.choice([long, "short"], len(frame)).astype(object),
        numbers=pd.Categorical(rng.integers(0, 3, len(frame))),  # not text: whylogs' split
    )
    as_categories = texts.astype({"channel": "category", "long": "category"})
    ours = _fast_table(as_categories, chunk=2_500)
    theirs = _fast_table(texts.astype({"numbers": "int64"}), chunk=2_500)
    exact = [
        c
        for c in theirs.columns
        if c.startswith(("counts/", "types/", "cardinality/", "frequent_items/"))
    ]
    pd.testing.assert_frame_equal(ours[exact], theirs[exact], check_dtype=False)
    assert ours.loc["channel", "counts/null"] == 25
    assert ours.loc["channel", "types/string"] == len(frame) - 25


FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=60, deadline=None)
@given(days=st.lists(st.lists(FLOATS, min_size=0, max_size=30), min_size=2, max_size=4))
def test_days_with_any_floats_merge_into_a_window(days: list[list[float]]) -> None:
    """Any float a log holds (-1e308, 1e200 beside -1e200, infinities) profiles, is stored and
    merges into a window with the other days: whylogs' own merge overflows on such means."""
    views = []
    for values in days:
        builder = profiling.ProfileBuilder()
        builder.add(pd.DataFrame({"amount": pd.Series(values, dtype="float64")}))
        view = builder.build()
        if view is not None:
            views.append(profiling.deserialize(profiling.serialize(view)))
    merged = profiling.merge(views)
    if merged is None:
        assert all(not values for values in days)
        return
    counted = merged.get_column("amount").get_metric("counts").n.value
    assert counted == sum(len(values) for values in days)
    profiling.summarize(merged)


def test_a_window_over_a_day_that_logged_minus_1e308_merges() -> None:
    days = [[-1e308, 5.0, 7.0], [3.0, 4.0], [1e300, 2.0]]
    views = []
    for values in days:
        builder = profiling.ProfileBuilder()
        builder.add(pd.DataFrame({"amount": values}))
        views.append(profiling.deserialize(profiling.serialize(builder.build())))
    merged = profiling.merge(views)
    assert merged is not None
    summary = profiling.summarize(merged)["amount"]
    assert summary["count"] == 7
    assert summary["min"] == -1e308 and summary["max"] == 1e300
