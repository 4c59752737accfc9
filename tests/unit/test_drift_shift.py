"""What moved in a drifted column, in its own units, checked against numpy on the same data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitoring_pipelines.core.config import DriftConfig
from monitoring_pipelines.core.drift.engine import ColumnDrift, compute_drift, drift_check
from monitoring_pipelines.core.drift.shift import MAX_LABEL, Shift, shift_between
from monitoring_pipelines.core.drift.table import LARGEST, note, relative_scores, table_rows
from monitoring_pipelines.core.profile.sketch import fit_categories, fit_numeric_edges
from monitoring_pipelines.core.wording import count, plural
from tests.unit.test_sketch_and_drift import _segment_day, categorical, numeric


def test_a_numeric_shift_is_the_mean_move_in_reference_sds_as_numpy_computes_it() -> None:
    rng = np.random.default_rng(3)
    ref = rng.normal(0.35, 0.15, 20_000)
    cur = rng.normal(0.41, 0.15, 5_000)
    edges = fit_numeric_edges(ref, 20)

    shift = shift_between(numeric(ref, edges, 1), numeric(cur, edges, 2))

    assert shift is not None and shift.kind == "mean"
    assert shift.reference == pytest.approx(ref.mean(), rel=1e-9)
    assert shift.current == pytest.approx(cur.mean(), rel=1e-9)
    assert shift.reference_sd == pytest.approx(ref.std(), rel=1e-9)
    assert shift.in_sd == pytest.approx((cur.mean() - ref.mean()) / ref.std(), rel=1e-9)
    assert shift.describe() == (f"mean {ref.mean():.3g} → {cur.mean():.3g} ({shift.in_sd:+.1f} sd)")
    assert shift.describe().endswith("(+0.4 sd)")


def test_a_wider_spread_is_said_beside_the_mean() -> None:
    rng = np.random.default_rng(4)
    ref = rng.normal(100.0, 10.0, 10_000)
    cur = rng.normal(100.0, 30.0, 10_000)
    edges = fit_numeric_edges(ref, 20)
    shift = shift_between(numeric(ref, edges, 1), numeric(cur, edges, 2))
    assert shift is not None
    assert shift.current_sd == pytest.approx(cur.std(), rel=1e-9)
    assert f", sd {ref.std():.3g} → {cur.std():.3g}" in shift.describe()


def test_a_categorical_shift_names_the_category_that_moved_most_in_share_points() -> None:
    ref = ["mortgage"] * 10 + ["card"] * 60 + ["loan"] * 30
    cur = ["mortgage"] * 25 + ["card"] * 50 + ["loan"] * 25
    categories = fit_categories(np.array(ref, dtype=object))

    shift = shift_between(categorical(ref, categories, 1), categorical(cur, categories, 2))

    values, counts = np.unique(np.array(cur), return_counts=True)
    expected = dict(zip(values, counts / counts.sum(), strict=True))
    assert shift is not None and shift.category == "mortgage"
    assert shift.current == pytest.approx(expected["mortgage"])
    assert shift.points == pytest.approx(15.0)
    assert shift.describe() == "mortgage 10 % → 25 % (+15.0 points)"


def test_a_category_the_reference_never_had_moves_from_zero() -> None:
    ref = ["a"] * 50 + ["b"] * 50
    cur = ["a"] * 40 + ["b"] * 20 + ["new"] * 40
    shift = shift_between(categorical(ref, ("a", "b"), 1), categorical(cur, ("a", "b"), 2))
    assert shift is not None
    assert (shift.category, shift.reference, shift.current) == ("new", 0.0, 0.4)
    assert shift.describe() == "new 0 % → 40 % (+40.0 points)"


def test_a_long_or_multiline_category_is_flattened_and_cut() -> None:
    label = "x\n" * 200
    shift = Shift("share", 0.1, 0.3, category=label)
    text = shift.describe()
    assert "\n" not in text
    assert len(text.split(" 10 %")[0]) <= MAX_LABEL


def test_shift_round_trips_through_its_stored_form() -> None:
    shift = Shift("mean", 1.5, 2.0, 0.5, 0.7)
    assert Shift.from_dict(shift.to_dict()) == shift
    with pytest.raises(ValueError, match="mean or share"):
        Shift.from_dict({"kind": "median", "reference": 1, "current": 2})


def test_drift_findings_say_what_moved_and_carry_the_threshold_of_their_severity() -> None:
    rng = np.random.default_rng(5)
    ref = rng.normal(0, 1, 20_000)
    edges = fit_numeric_edges(ref, 20)
    current = {"x": numeric(rng.normal(1.0, 1, 5_000), edges, 2)}
    [result] = compute_drift(
        {"x": numeric(ref, edges, 1)}, current, {"x": "feature"}, DriftConfig()
    )
    assert result.verdict == "critical" and result.shift is not None

    [finding] = drift_check("feature_drift", [result], 0.01).findings

    assert finding.threshold == result.critical != result.warn
    assert finding.summary.startswith(f"x: mean {ref.mean():.3g} → ")
    assert "sd); wasserstein" in finding.summary
    assert f"critical threshold {result.critical:g}" in finding.summary


def test_a_segment_with_a_single_value_is_not_named_as_the_driver() -> None:
    reference, current = _segment_day(shift_v2=2.0)
    only_v2 = {k: v for k, v in current.items() if not k.endswith("=v1")}
    roles = {"x": "feature", "x@model_version=v2": "segment"}
    results = compute_drift(reference, only_v2, roles, DriftConfig())
    whole = [r for r in results if r.role == "feature"]
    sliced = [r for r in results if r.role == "segment"]
    assert sliced[0].drifted

    outcome = drift_check("feature_drift", whole, 0.01, sliced)

    assert all("strongest" not in f.summary for f in outcome.findings)
    assert "segment_drivers" not in outcome.metadata


@pytest.mark.parametrize(
    ("n", "noun", "expected"),
    [
        (1, "failing partition", "1 failing partition"),
        (0, "failing partition", "0 failing partitions"),
        (3, "day", "3 days"),
        (2, "query", "2 queries"),
        (2, "match", "2 matches"),
        (1_500, "row", "1,500 rows"),
    ],
)
def test_counted_nouns_take_their_number(n: int, noun: str, expected: str) -> None:
    assert count(n, noun) == expected


@given(st.integers(min_value=2, max_value=10**6))
def test_every_count_above_one_is_plural(n: int) -> None:
    assert count(n, "incident") == f"{n:,} {plural('incident')}" == f"{n:,} incidents"


# -- the drift table and plots ----------------------------------------------------------------


def drift_row(column: str, score: float | None, verdict: str, **changes: object) -> ColumnDrift:
    fields: dict[str, object] = {
        "column": column,
        "role": "feature",
        "kind": "numeric",
        "statistic": "wasserstein",
        "score": score,
        "p_value": 0.5,
        "p_adjusted": 0.6,
        "p_value_rows": 900,
        "rows": 900,
        "reference_rows": 5000,
        "warn": 0.05,
        "critical": 0.2,
        "verdict": verdict,
    }
    return ColumnDrift(**(fields | changes))  # type: ignore[arg-type]


def test_a_score_over_warn_that_is_not_significant_says_why_it_is_ok() -> None:
    row = drift_row("tenure", 0.0501, "ok")
    text = note(row, 0.01)
    assert text.startswith(
        "ok although ≥ warn 0.05: not significant (adjusted p 0.6 > FDR 0.01), "
        "a move this size is likely chance at 900 rows"
    )
    assert text.endswith("wasserstein 0.0501 (warn 0.05, critical 0.2), 900 rows")


def test_notes_of_drifted_close_and_unscored_rows() -> None:
    drifted = drift_row("age", 0.3, "critical", p_adjusted=1e-9, p_value_rows=500)
    assert note(drifted, 0.01).startswith("≥ critical 0.2 and adjusted p ≤ FDR 0.01; ")
    assert note(drifted, 0.01).endswith("900 rows (p from 500)")
    assert note(drift_row("x", 0.046, "ok"), 0.01).startswith("ok, close to warn 0.05; ")
    assert note(drift_row("x", 0.01, "ok"), 0.01).startswith("wasserstein 0.01 ")
    few = drift_row("x", None, "insufficient_rows", note="3 rows with a value, fewer than 200")
    assert note(few, 0.01) == "3 rows with a value, fewer than 200"


def test_rows_and_plots_put_the_drifted_first_relative_to_their_warn_threshold() -> None:
    results = [
        drift_row("a_quiet", 0.01, "ok"),
        drift_row("b_warn", 0.06, "warn", p_adjusted=0.001),
        drift_row("z_critical", 0.3, "critical", p_adjusted=1e-9),
        drift_row("c_loud_but_chance", 0.09, "ok"),
        drift_row("d_unscored", None, "insufficient_rows"),
    ]
    rows = table_rows(results, 0.01)
    assert [r["column"] for r in rows] == [
        "z_critical",
        "b_warn",
        "c_loud_but_chance",
        "a_quiet",
        "d_unscored",
    ]
    assert [r["verdict"] for r in rows] == [
        "DRIFT: critical",
        "DRIFT: warn",
        "ok",
        "ok",
        "too few rows",
    ]
    assert rows[0]["score ÷ warn"] == "6.00" and rows[-1]["score ÷ warn"] == "-"
    assert rows[0]["p (adj.)"] == "1e-09"
    plotted = relative_scores(results)
    assert list(plotted) == [LARGEST, "z_critical", "b_warn", "c_loud_but_chance", "a_quiet"]
    assert plotted[LARGEST] == plotted["z_critical"] == pytest.approx(6.0)
    assert plotted["a_quiet"] == pytest.approx(0.2)
    assert relative_scores([results[-1]]) == {}
