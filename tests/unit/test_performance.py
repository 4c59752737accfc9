"""Performance metrics from delayed labels: hand-computed values, scipy, degenerate cases, the
check's verdicts, and the label join."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu, norm, rankdata

from monitoring_pipelines.core.checks import WHOLE
from monitoring_pipelines.core.config import MonitorConfig, Severity
from monitoring_pipelines.core.ingest.cleaning import (
    ROW_KEY,
    SeenKeys,
    SliceQuality,
    SliceSpec,
    clean_chunk,
)
from monitoring_pipelines.core.ingest.labels import (
    label_text,
    latest_labels,
    match_labels,
    request_keys,
)
from monitoring_pipelines.core.performance.additive import Auc, Confusion, midranks, roc_auc
from monitoring_pipelines.core.performance.check import (
    Baseline,
    compare,
    performance_check,
    pooled_baseline,
)
from monitoring_pipelines.core.performance.metrics import PerformanceStats, compute_performance
from monitoring_pipelines.core.performance.policy import PerformancePolicy, PerformanceSpec


def labels(*values: str | None) -> np.ndarray:
    return np.array(values, dtype=object)


def classify(
    true: np.ndarray,
    predicted: np.ndarray,
    score: np.ndarray | None = None,
    rows: int | None = None,
) -> PerformanceStats:
    return compute_performance("label", rows or len(true), predicted, true, score)


# -- classification metrics against hand-computed values -----------------------------------------

# true a a a b b c / predicted a a b b c c: 4 of 6 right.
# a: tp 2, predicted 2, actual 3 -> P 1, R 2/3, F1 4/5
# b: tp 1, predicted 2, actual 2 -> P 1/2, R 1/2, F1 1/2
# c: tp 1, predicted 2, actual 1 -> P 1/2, R 1, F1 2/3
TRUE = labels("a", "a", "a", "b", "b", "c")
PREDICTED = labels("a", "a", "b", "b", "c", "c")


def test_accuracy_macro_f1_and_per_class_match_hand_computed_values() -> None:
    stats = classify(TRUE, PREDICTED)
    assert stats.value("accuracy") == pytest.approx(4 / 6)
    assert stats.value("macro_f1") == pytest.approx((4 / 5 + 1 / 2 + 2 / 3) / 3)
    per_class = stats.per_class()
    assert per_class["a"] == pytest.approx(
        {"precision": 1.0, "recall": 2 / 3, "f1": 4 / 5, "support": 3}
    )
    assert per_class["b"] == pytest.approx(
        {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    )
    assert per_class["c"] == pytest.approx(
        {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1}
    )
    assert stats.confusion.matrix().tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_a_label_class_never_predicted_has_no_precision_and_f1_zero() -> None:
    stats = classify(labels("a", "a", "b", "b"), labels("a", "a", "a", "a"))
    per_class = stats.per_class()
    assert per_class["b"]["precision"] is None  # never predicted: undefined, not 0
    assert per_class["b"]["recall"] == 0.0
    assert per_class["b"]["f1"] == 0.0
    assert per_class["a"]["f1"] == pytest.approx(2 * 2 / (2 + 4))
    assert stats.value("macro_f1") == pytest.approx((2 / 3 + 0) / 2)
    assert stats.value("accuracy") == 0.5


def test_a_predicted_class_never_labelled_has_no_recall_and_counts_in_macro_f1() -> None:
    stats = classify(labels("a", "a"), labels("a", "c"))
    assert stats.per_class()["c"]["recall"] is None
    assert stats.per_class()["c"]["precision"] == 0.0
    assert stats.value("macro_f1") == pytest.approx((2 / 3 + 0) / 2)


def test_one_class_only_is_perfect_and_has_no_auc() -> None:
    stats = classify(labels("a", "a", "a"), labels("a", "a", "a"), np.array([0.9, 0.8, 0.7]))
    assert stats.value("accuracy") == 1.0
    assert stats.value("macro_f1") == 1.0
    assert stats.auc is None  # one class: no ROC
    assert stats.confidence_auc is None  # no wrong prediction to rank
    assert stats.standard_error("accuracy") == 0.0


def test_no_labels_yet_gives_no_metric_and_zero_coverage() -> None:
    stats = classify(labels(), labels(), rows=500)
    assert stats.labelled == 0
    assert stats.coverage == 0.0
    assert stats.value("accuracy") is None
    assert stats.value("macro_f1") is None
    assert stats.per_class() == {}


def test_rows_without_a_prediction_or_label_are_left_out() -> None:
    stats = classify(labels("a", "b", None, "a"), labels("a", None, "b", "b"), rows=10)
    assert stats.labelled == 2
    assert stats.value("accuracy") == 0.5
    assert stats.coverage == 0.2


# -- AUC: hand-computed, ties, against scipy ---------------------------------------------------


def test_roc_auc_of_the_textbook_example_and_with_ties() -> None:
    auc = roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([False, False, True, True]))
    assert auc == Auc(0.75, 2, 2)
    # positives 0.5, 0.9; negatives 0.5, 0.2: pairs won 1 + 1 + 1, one tie counts half
    tied = roc_auc(np.array([0.5, 0.5, 0.2, 0.9]), np.array([True, False, False, True]))
    assert tied is not None and tied.value == pytest.approx(3.5 / 4)
    assert roc_auc(np.array([0.3, 0.6]), np.array([True, True])) is None


def test_roc_auc_and_midranks_match_scipy_on_tied_data() -> None:
    rng = np.random.default_rng(5)
    scores = np.round(rng.normal(size=2000), 1)  # many ties
    positive = rng.random(2000) < 0.3 + 0.2 * (scores > 0)
    assert midranks(scores) == pytest.approx(rankdata(scores, method="average"))
    auc = roc_auc(scores, positive)
    assert auc is not None
    u = mannwhitneyu(scores[positive], scores[~positive]).statistic
    assert auc.value == pytest.approx(u / (positive.sum() * (~positive).sum()), rel=1e-12)


def test_roc_auc_leaves_out_missing_scores() -> None:
    auc = roc_auc(np.array([0.1, np.nan, 0.8, 0.4]), np.array([False, True, True, False]))
    assert auc == Auc(1.0, 1, 2)


def test_hanley_mcneil_standard_error_is_close_to_the_bootstrap() -> None:
    rng = np.random.default_rng(11)
    pos, neg = rng.normal(1.0, 1.0, 400), rng.normal(0.0, 1.0, 400)
    scores, positive = np.r_[pos, neg], np.r_[np.ones(400, bool), np.zeros(400, bool)]
    auc = roc_auc(scores, positive)
    assert auc is not None
    boot = []
    for _ in range(400):
        i, j = rng.integers(0, 400, 400), rng.integers(0, 400, 400)
        b = roc_auc(np.r_[pos[i], neg[j]], positive)
        assert b is not None
        boot.append(b.value)
    assert auc.se() == pytest.approx(np.std(boot), rel=0.15)


def test_binary_classifier_auc_uses_the_probability_of_the_positive_class() -> None:
    true = labels("no", "no", "yes", "yes", "yes")
    predicted = labels("no", "yes", "yes", "no", "yes")
    confidence = np.array([0.9, 0.6, 0.8, 0.7, 0.55])
    stats = classify(true, predicted, confidence)
    # P(yes): 0.1, 0.6, 0.8, 0.3, 0.55; positives (yes) 0.8, 0.3, 0.55 vs negatives 0.1, 0.6
    # pairs won: 0.8 > both, 0.3 > 0.1, 0.55 > 0.1 -> 4 of 6
    assert stats.auc is not None and stats.auc.value == pytest.approx(4 / 6)
    # correct rows (conf 0.9, 0.8, 0.55) vs wrong rows (0.6, 0.7): won 2 + 2 + 0 -> 4 of 6
    assert stats.confidence_auc is not None
    assert stats.confidence_auc.value == pytest.approx(4 / 6)


def test_multiclass_classifier_has_confidence_auc_but_no_roc_auc() -> None:
    stats = classify(TRUE, PREDICTED, np.array([0.9, 0.8, 0.5, 0.7, 0.4, 0.95]))
    assert stats.auc is None
    # correct: 0.9, 0.8, 0.7, 0.95; wrong: 0.5, 0.4 -> every correct above every wrong
    assert stats.confidence_auc == Auc(1.0, 4, 2)


# -- score models ----------------------------------------------------------------------------------


def test_mae_rmse_bias_match_hand_computed_values() -> None:
    stats = compute_performance(
        "score", 8, np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 3.0, 2.0, 6.0])
    )
    # errors 0, -1, 1, -2
    assert stats.value("mae") == 1.0
    assert stats.value("rmse") == pytest.approx(math.sqrt(6 / 4))
    assert stats.value("bias") == -0.5
    assert stats.coverage == 0.5
    assert stats.auc is None  # labels are not 0/1
    errors = np.array([0.0, -1.0, 1.0, -2.0])
    assert stats.standard_error("mae") == pytest.approx(np.std(np.abs(errors)) / 2)
    se_mse = np.std(errors**2) / 2
    assert stats.standard_error("rmse") == pytest.approx(se_mse / (2 * math.sqrt(1.5)))


def test_score_model_with_binary_labels_gets_an_auc() -> None:
    stats = compute_performance("score", 4, np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
    assert stats.auc == Auc(0.75, 2, 2)
    assert stats.value("mae") == pytest.approx((0.1 + 0.4 + 0.65 + 0.2) / 4)


def test_score_rows_with_nan_are_left_out() -> None:
    stats = compute_performance(
        "score", 3, np.array([1.0, np.nan, 2.0]), np.array([2.0, 1.0, np.nan])
    )
    assert stats.labelled == 1
    assert stats.value("mae") == 1.0


# -- additivity and storage ------------------------------------------------------------------------


def test_days_add_up_to_the_statistics_of_all_their_rows() -> None:
    rng = np.random.default_rng(3)
    true = rng.choice(["x", "y", "z"], 600).astype(object)
    predicted = np.where(rng.random(600) < 0.8, true, rng.choice(["x", "y", "z"], 600)).astype(
        object
    )
    whole = classify(true, predicted, rows=1000)
    pooled = classify(true[:250], predicted[:250], rows=400) + classify(
        true[250:], predicted[250:], rows=600
    )
    assert pooled.confusion.cells == whole.confusion.cells
    assert pooled.value("macro_f1") == pytest.approx(whole.value("macro_f1"))
    assert (pooled.rows, pooled.labelled) == (1000, 600)
    p, t = rng.normal(size=300), rng.normal(size=300)
    both = compute_performance("score", 300, p, t)
    halves = compute_performance("score", 100, p[:100], t[:100]) + compute_performance(
        "score", 200, p[100:], t[100:]
    )
    assert halves.value("rmse") == pytest.approx(both.value("rmse"))
    assert halves.value("mae") == pytest.approx(both.value("mae"))


@pytest.mark.parametrize("kind", ["label", "score"])
def test_stored_rows_give_back_the_statistics(kind: str) -> None:
    if kind == "label":
        stats = classify(TRUE, PREDICTED, np.array([0.9, 0.8, 0.5, 0.7, 0.4, 0.95]), rows=9)
    else:
        stats = compute_performance("score", 9, np.array([0.2, 0.7, 0.4]), np.array([0, 1, 1]))
    back = PerformanceStats.from_rows(stats.kind, stats.to_rows())
    assert back == stats


# -- the check ----------------------------------------------------------------------------------

POLICY = PerformancePolicy(min_coverage=0.10, min_labelled=200)


def day_with(correct: int, labelled: int, rows: int) -> PerformanceStats:
    true = np.array(["a"] * labelled, dtype=object)
    predicted = np.array(["a"] * correct + ["b"] * (labelled - correct), dtype=object)
    return classify(true, predicted, rows=rows)


REFERENCE = Baseline(day_with(8800, 10_000, 10_000), "reference table")


def test_a_large_significant_drop_fails_critical() -> None:
    day = day_with(660, 1000, 2500)  # 0.66 vs 0.88
    comparison = compare(day, REFERENCE, POLICY)
    assert comparison.evaluated
    assert comparison.delta == pytest.approx(-0.22)
    assert comparison.severity is Severity.CRITICAL
    outcome = performance_check(comparison)
    assert not outcome.passed
    assert outcome.severity is Severity.CRITICAL
    (finding,) = outcome.findings
    assert finding.subject == WHOLE
    assert finding.value == pytest.approx(0.66)
    assert finding.threshold == pytest.approx(0.88 - 0.10)  # critical: the critical tolerance
    assert "accuracy 0.6600 vs reference 0.8800" in outcome.summary


def test_a_drop_between_warn_and_critical_warns() -> None:
    comparison = compare(day_with(810, 1000, 2000), REFERENCE, POLICY)  # -0.07
    assert comparison.severity is Severity.WARN
    assert not performance_check(comparison).passed


def test_a_drop_within_tolerance_passes() -> None:
    outcome = performance_check(compare(day_with(860, 1000, 2000), REFERENCE, POLICY))
    assert outcome.passed
    assert len(outcome.findings) == 1
    assert "within the 0.05 drop tolerance" in outcome.summary


def test_a_drop_beyond_tolerance_on_few_rows_is_not_significant() -> None:
    policy = PerformancePolicy(min_labelled=20, min_coverage=0.1)
    comparison = compare(day_with(16, 20, 100), REFERENCE, policy)  # 0.80 on 20 rows
    assert comparison.change == pytest.approx(0.08)
    assert comparison.severity is None
    assert comparison.p_value is not None and comparison.p_value > 0.01
    # one-sided normal test with both standard errors
    se = math.hypot(math.sqrt(0.8 * 0.2 / 20), math.sqrt(0.88 * 0.12 / 10_000))
    assert comparison.p_value == pytest.approx(norm.sf(0.08 / se))
    assert "not significant" in comparison.summary


def test_low_coverage_is_not_evaluated_yet_and_has_no_finding() -> None:
    day = day_with(50, 125, 2500)  # 5 % coverage, and terrible accuracy
    outcome = performance_check(compare(day, REFERENCE, POLICY))
    assert outcome.passed
    assert outcome.findings == ()  # neither a failure nor a passing day for incidents
    assert outcome.summary.startswith("not evaluated yet: coverage 5.0%")
    assert outcome.metadata["coverage"] == 0.05


def test_few_labelled_rows_are_not_evaluated_yet() -> None:
    outcome = performance_check(compare(day_with(50, 150, 300), REFERENCE, POLICY))
    assert outcome.findings == ()
    assert "needs 200 labelled rows" in outcome.summary


def test_no_labels_at_all_is_not_evaluated_yet() -> None:
    outcome = performance_check(compare(classify(labels(), labels(), rows=900), REFERENCE, POLICY))
    assert outcome.findings == ()
    assert outcome.summary.startswith("not evaluated yet: coverage 0.0% (0 of 900 rows")


def test_days_of_the_reference_period_are_not_compared() -> None:
    baseline = Baseline(None, "first 7 days", in_period=True)
    outcome = performance_check(compare(day_with(100, 1000, 1000), baseline, POLICY))
    assert outcome.findings == ()
    assert "part of the reference" in outcome.summary


def test_mae_is_checked_as_a_rise_relative_to_the_reference() -> None:
    rng = np.random.default_rng(8)
    label = rng.normal(size=5000)
    reference = compute_performance("score", 5000, label + rng.normal(0, 1.0, 5000), label)
    worse = compute_performance(
        "score", 1000, label[:1000] + rng.normal(0, 1.4, 1000), label[:1000]
    )
    comparison = compare(worse, Baseline(reference, "ref"), POLICY)
    assert comparison.metric == "mae"
    assert comparison.change == pytest.approx(
        worse.value("mae") / reference.value("mae") - 1  # type: ignore[operator]
    )
    assert comparison.change > 0.25
    assert comparison.severity is Severity.CRITICAL
    (finding,) = performance_check(comparison).findings
    assert finding.threshold == pytest.approx(reference.value("mae") * 1.25)  # type: ignore[operator]


def test_the_spec_of_a_monitor_without_the_new_keys_uses_the_defaults() -> None:
    monitor = MonitorConfig.model_validate(
        {
            "start_date": "2026-09-01",
            "source": {"table": "t", "timestamp_column": "ts", "request_id_column": "id"},
            "reference": {"table": "r"},
            "prediction": {"column": "p", "type": "score"},
            "labels": {"table": "l", "request_id_column": "id", "label_column": "y"},
        }
    )
    spec = PerformanceSpec.for_monitor(monitor)
    assert (spec.kind, spec.prediction_column, spec.score_column) == ("score", "p", None)
    assert spec.reference_label_column is None
    assert spec.policy == PerformancePolicy()
    assert spec.policy.metric_for("score") == "mae"
    assert spec.policy.tolerances("mae") == (0.10, 0.25)
    assert spec.policy.tolerances("accuracy") == (0.05, 0.10)


def test_a_metric_that_does_not_fit_the_prediction_type_is_refused() -> None:
    with pytest.raises(ValueError, match="does not apply to label predictions"):
        compare(day_with(1, 1, 1), REFERENCE, PerformancePolicy(metric="mae"))


def test_the_reference_period_pools_days_that_reached_the_coverage() -> None:
    days = {
        "2026-09-01": day_with(900, 1000, 2000),
        "2026-09-02": day_with(700, 1000, 2000),
        "2026-09-03": day_with(10, 50, 2000),  # 2.5 %: still waiting for labels, left out
    }
    baseline = pooled_baseline(days, POLICY, "first 3 days")
    assert baseline.stats is not None
    assert baseline.stats.value("accuracy") == pytest.approx(1600 / 2000)
    assert "2 days, 2000 labelled rows" in baseline.source
    empty = pooled_baseline({"2026-09-01": day_with(10, 50, 2000)}, POLICY, "first 1 days")
    assert empty.stats is None
    assert empty.missing is not None and "0 days" in empty.missing


# -- labels: text, dedup, the join on hashed request ids ---------------------------------------


def test_label_text_matches_how_the_slice_stores_predictions() -> None:
    assert label_text([1.0, 2, "neutral", None, float("nan"), b"x"]).tolist() == [
        "1",
        "2",
        "neutral",
        None,
        None,
        "x",
    ]


def test_request_keys_equal_the_slice_row_keys() -> None:
    frame = pd.DataFrame({"ts": ["2026-09-01T10:00:00"] * 3, "request_id": ["r1", "r2", 17]})
    spec = SliceSpec("ts", "request_id", (), ())
    sliced = clean_chunk(
        frame, spec, pd.Timestamp("2026-09-01").date(), SliceQuality(), SeenKeys(), 0
    )
    assert sliced[ROW_KEY].to_numpy().tolist() == request_keys(frame["request_id"]).tolist()


def test_a_relabelled_request_keeps_its_latest_label_and_bad_labels_are_counted() -> None:
    raw = pd.DataFrame(
        {
            "request_id": ["r1", "r2", "r1", "r3", None],
            "label": ["neg", "pos", "pos", None, "pos"],
            "labelled_at": ["2026-09-03", "2026-09-02", "2026-09-05", "2026-09-04", "2026-09-01"],
        }
    )
    day = latest_labels(raw, numeric=False)
    by_key = dict(zip(day.keys.tolist(), day.values.tolist(), strict=True))
    assert by_key == {
        request_keys(pd.Series(["r1"]))[0]: "pos",
        request_keys(pd.Series(["r2"]))[0]: "pos",
    }
    assert (day.rows_read, day.null_labels, day.replaced) == (5, 1, 1)
    numeric = latest_labels(
        pd.DataFrame({"request_id": ["a", "b", "c"], "label": ["1", "oops", 0]}), numeric=True
    )
    assert numeric.values.tolist() == [1.0, 0.0]
    assert numeric.bad_labels == 1


@pytest.mark.parametrize("numeric", [False, True])
def test_a_day_without_labels_reads_as_empty(numeric: bool) -> None:
    day = latest_labels(
        pd.DataFrame(columns=["request_id", "label", "labelled_at"]), numeric=numeric
    )
    assert (day.keys.size, day.values.size, day.rows_read) == (0, 0, 0)
    assert match_labels(request_keys(pd.Series(["r1"])), day.keys)[0].size == 0


def test_labels_match_the_rows_with_their_request_id_only() -> None:
    slice_keys = request_keys(pd.Series(["r1", "r2", "r3", "r4"]))
    label_keys = request_keys(pd.Series(["r4", "x9", "r2"]))
    rows, positions = match_labels(slice_keys, label_keys)
    assert rows.tolist() == [1, 3]
    assert positions.tolist() == [2, 0]


def test_labels_for_unknown_request_ids_match_nothing() -> None:
    slice_keys = request_keys(pd.Series(["r1", "r2"]))
    rows, positions = match_labels(slice_keys, request_keys(pd.Series(["u1", "u2", "u3"])))
    assert rows.size == 0 and positions.size == 0
    stats = classify(labels()[rows], labels()[positions], rows=2)
    assert stats.labelled == 0
    assert compare(stats, REFERENCE, POLICY).summary.startswith("not evaluated yet: coverage 0.0%")


def test_macro_f1_standard_error_is_deterministic_and_shrinks_with_rows() -> None:
    small = day_with(80, 100, 100) + classify(
        labels(*["b"] * 100), labels(*["b"] * 90, *["a"] * 10)
    )
    large = Confusion({k: v * 100 for k, v in small.confusion.cells.items()})
    large_stats = PerformanceStats("label", small.rows * 100, small.labelled * 100, large)
    se_small = small.standard_error("macro_f1")
    assert se_small == small.standard_error("macro_f1")
    assert se_small is not None and 0.01 < se_small < 0.1
    se_large = large_stats.standard_error("macro_f1")
    assert se_large is not None and se_large == pytest.approx(se_small / 10, rel=0.3)
