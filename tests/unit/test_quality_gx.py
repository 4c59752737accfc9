"""The Great Expectations adapter: the suite derived from the reference, each expectation kind
rejecting bad data and passing clean data, day verdicts added up over batches."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from monitoring_pipelines.core.config import ChecksConfig, MonitorConfig, Severity
from monitoring_pipelines.core.profile.fitting import sample_mask
from monitoring_pipelines.core.profile.sketch import (
    CategoricalSketchBuilder,
    ColumnSketch,
    NumericSketchBuilder,
    fit_categories,
    fit_numeric_edges,
)
from monitoring_pipelines.core.quality.batches import batch_rows, day_batches
from monitoring_pipelines.core.quality.check import quality_check, quality_metrics, quality_values
from monitoring_pipelines.core.quality.results import ExpectationResult, QualityReport
from monitoring_pipelines.core.quality.suite import (
    NUMERIC_TYPES,
    TEXT_TYPES,
    ExpectationSpec,
    QualityRules,
    QualitySuite,
    derive_suite,
)
from monitoring_pipelines.core.quality.validate import validate_day

CHANNELS = ("api", "app", "web")  # sorted, as the reference vocabulary keeps them


def monitor(**checks: Any) -> MonitorConfig:
    return MonitorConfig.model_validate(
        {
            "start_date": date(2026, 9, 1),
            "source": {"table": "t", "timestamp_column": "ts"},
            "reference": {"table": "ref"},
            "features": {"numeric": ["amount"], "categorical": ["channel"]},
            "prediction": {"column": "score", "type": "score"},
            "checks": checks,
        }
    )


def numeric_sketch(column: str, values: np.ndarray) -> ColumnSketch:
    builder = NumericSketchBuilder(column, fit_numeric_edges(values, 10), 1000)
    builder.add(values.astype(np.float64), np.arange(values.size, dtype=np.uint64))
    return builder.build()


def categorical_sketch(column: str, values: list[str | None]) -> ColumnSketch:
    labels = np.array(values, dtype=object)
    builder = CategoricalSketchBuilder(column, fit_categories(labels), 1000)
    builder.add(labels, np.arange(len(values), dtype=np.uint64))
    return builder.build()


@pytest.fixture(scope="module")
def reference() -> dict[str, ColumnSketch]:
    """amount spans exactly [10, 110] with 4 % nulls; score spans [0, 1]; three channels."""
    amount = np.concatenate([np.linspace(10.0, 110.0, 96), np.full(4, np.nan)])
    return {
        "amount": numeric_sketch("amount", amount),
        "score": numeric_sketch("score", np.linspace(0.0, 1.0, 100)),
        "channel": categorical_sketch("channel", [CHANNELS[i % 3] for i in range(100)]),
    }


@pytest.fixture(scope="module")
def suite(reference: dict[str, ColumnSketch]) -> QualitySuite:
    return derive_suite(monitor(min_rows=10), reference)


def clean_day(n: int = 1000, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.uniform(10.0, 110.0, n),
            "score": rng.uniform(0.0, 1.0, n),
            "channel": rng.choice(list(CHANNELS), n).astype(object),
        }
    )


def by_name(report: QualityReport) -> dict[str, ExpectationResult]:
    return {r.name: r for r in report.results}


# -- the suite ------------------------------------------------------------------------------


def test_rules_read_configured_keys_and_default_the_rest() -> None:
    assert QualityRules.from_checks(ChecksConfig()) == QualityRules()
    proposed = SimpleNamespace(min_rows=5, max_rows=10, range_margin=0.5, max_null_share=0.2)
    rules = QualityRules.from_checks(proposed)  # type: ignore[arg-type]
    assert (rules.min_rows, rules.max_rows, rules.range_margin) == (5, 10, 0.5)
    assert rules.max_null_share == 0.2
    assert rules.max_unseen_category_share == QualityRules().max_unseen_category_share


def test_suite_is_derived_from_the_reference_and_configuration(suite: QualitySuite) -> None:
    specs = {s.name: s for s in suite.expectations}
    assert list(specs) == [
        "amount:type",
        "amount:nulls",
        "amount:range",
        "score:type",
        "score:nulls",
        "score:range",
        "channel:type",
        "channel:nulls",
        "channel:categories",
    ]
    assert suite.columns == {"amount": "numeric", "score": "numeric", "channel": "categorical"}
    # Range: the reference's [10, 110] widened by 0.1 of its width on each side.
    assert (specs["amount:range"].min_value, specs["amount:range"].max_value) == (0.0, 120.0)
    assert specs["amount:range"].allowed_share == 0.01
    assert specs["amount:range"].mostly == pytest.approx(0.99)
    # Nulls: the reference's 4 % plus the 2-point margin; the 1 % floor is lower.
    assert specs["amount:nulls"].allowed_share == pytest.approx(0.06)
    assert specs["score:nulls"].allowed_share == pytest.approx(0.02)
    assert specs["channel:categories"].value_set == CHANNELS
    assert specs["amount:type"].type_list == NUMERIC_TYPES
    assert specs["channel:type"].type_list == TEXT_TYPES
    assert "table:row_count" not in specs  # without checks.max_rows; volume checks the minimum
    assert suite.notes == ()


def test_configured_floor_and_margins_change_the_suite(
    reference: dict[str, ColumnSketch],
) -> None:
    rules = SimpleNamespace(
        min_rows=1, max_rows=500, max_null_share=0.3, null_share_margin=0.0, range_margin=0.0
    )
    config = monitor().model_copy(update={"checks": rules})
    specs = {s.name: s for s in derive_suite(config, reference).expectations}
    assert specs["amount:nulls"].allowed_share == pytest.approx(0.3)  # the floor wins
    assert (specs["amount:range"].min_value, specs["amount:range"].max_value) == (10.0, 110.0)
    assert (specs["table:row_count"].min_value, specs["table:row_count"].max_value) == (0, 500)


def test_what_cannot_be_derived_is_named(reference: dict[str, ColumnSketch]) -> None:
    many = [f"c{i}" for i in range(250)]  # more than the vocabulary keeps: folded into (other)
    constant = numeric_sketch("score", np.full(50, 5.0))
    sketches = {"amount": reference["amount"], "score": constant}
    sketches["channel"] = categorical_sketch("channel", many)
    suite = derive_suite(monitor(), sketches)
    specs = {s.name: s for s in suite.expectations}
    assert "channel:categories" not in specs and "channel:nulls" in specs
    assert any("channel" in n and "(other)" in n for n in suite.notes)
    # A constant reference column is widened by |value| times the margin.
    assert (specs["score:range"].min_value, specs["score:range"].max_value) == (4.5, 5.5)
    missing = derive_suite(monitor(), {"amount": reference["amount"]})
    names = [s.name for s in missing.expectations]
    assert "score:type" in names and "score:range" not in names
    assert any(n.startswith("score: no reference sketch") for n in missing.notes)


# -- validation: each kind rejects bad data and passes clean data -----------------------------


def test_clean_day_meets_every_expectation(suite: QualitySuite) -> None:
    report = validate_day(suite, [clean_day()])
    assert [r.name for r in report.results if not r.success] == []
    assert report.rows == 1000 and report.batches == 1
    results = by_name(report)
    assert results["amount:range"].unexpected_count == 0
    outcome = quality_check(report)
    assert outcome.passed and len(outcome.findings) == len(suite.expectations)
    assert outcome.summary == f"all {len(suite.expectations)} expectations met on 1000 rows"


def test_out_of_range_values_are_counted_and_fail_above_the_allowed_share(
    suite: QualitySuite,
) -> None:
    day = clean_day()
    day.loc[:29, "amount"] = -5.0  # 3 %: over the 1 % allowed, under 5x it
    day.loc[30:34, "score"] = 7.5  # 0.5 %: within the allowed share
    results = by_name(validate_day(suite, [day]))
    amount, score = results["amount:range"], results["score:range"]
    assert not amount.success and amount.unexpected_count == 30
    assert amount.unexpected_share == pytest.approx(0.03)
    assert amount.examples == ("-5",)
    assert score.success and score.unexpected_count == 5  # counted, tolerated (mostly)
    finding = {f.subject: f for f in quality_check(validate_day(suite, [day])).findings}
    assert finding["amount:range"].severity is Severity.WARN
    assert not finding["amount:range"].passed and finding["score:range"].passed


def test_unseen_categories_fail_and_are_named(suite: QualitySuite) -> None:
    day = clean_day()
    day.loc[:99, "channel"] = "kiosk"  # 10 % unseen: critical (5x the 1 % allowed)
    report = validate_day(suite, [day])
    channel = by_name(report)["channel:categories"]
    assert not channel.success
    assert (channel.unexpected_count, channel.unexpected_share) == (100, pytest.approx(0.1))
    assert channel.examples == ("'kiosk'",)
    outcome = quality_check(report)
    assert outcome.severity is Severity.CRITICAL
    assert outcome.failing[0].subject == "channel:categories"
    assert "kiosk" in outcome.failing[0].summary


def test_too_many_nulls_fail_relative_to_the_reference(suite: QualitySuite) -> None:
    day = clean_day()
    day.loc[:49, "amount"] = np.nan  # 5 %: within reference 4 % + 2 points
    day.loc[:49, "score"] = np.nan  # 5 %: over 0 % + 2 points
    day.loc[:2, "channel"] = None  # 0.3 %
    results = by_name(validate_day(suite, [day]))
    assert results["amount:nulls"].success
    assert not results["score:nulls"].success
    assert results["score:nulls"].unexpected_share == pytest.approx(0.05)
    assert results["channel:nulls"].success and results["channel:nulls"].unexpected_count == 3
    # Nulls are not values: the range and category checks consider only the others.
    assert results["score:range"].considered == 950


def served(**service: Any) -> MonitorConfig:
    """:func:`monitor` of a service log: its status column, as the error-rate check reads it."""
    config = monitor().model_dump()
    config["service"] = {"status_column": "status", **service}
    return MonitorConfig.model_validate(config)


@pytest.mark.parametrize(
    ("service", "failure", "success"),
    [({}, 503, 200), ({}, "503", "200"), ({"error_statuses": ["error"]}, "error", "ok")],
)
def test_a_failed_request_has_no_prediction_and_is_not_a_null_finding(
    reference: dict[str, ColumnSketch], service: dict[str, Any], failure: Any, success: Any
) -> None:
    """One problem, one incident: a burst of failed requests is the error rate's finding; the
    prediction's nulls count among the requests that were answered. Inputs still count all."""
    suite = derive_suite(served(**service), reference)
    assert suite.status is not None and suite.status.column == "status"
    spec = {s.name: s for s in suite.expectations}
    assert spec["score:nulls"].answered_only and not spec["amount:nulls"].answered_only
    assert "of the answered requests" in spec["score:nulls"].expected
    day = clean_day().assign(status=[success] * 1000)
    day.loc[:199, "status"] = failure  # 20 % failed, without a prediction
    day.loc[:199, "score"] = np.nan
    results = by_name(validate_day(suite, [day]))
    assert results["score:nulls"].success, results["score:nulls"]
    assert results["score:nulls"].considered == 800
    assert results["score:nulls"].unexpected_count == 0
    # An answered request without a prediction is still a finding.
    day.loc[200:259, "score"] = np.nan  # 60 of the 800 answered: 7.5 %
    results = by_name(validate_day(suite, [day]))
    assert not results["score:nulls"].success
    assert results["score:nulls"].unexpected_share == pytest.approx(60 / 800)
    # A failed request's missing input is a finding as before.
    day.loc[:199, "amount"] = np.nan
    assert not by_name(validate_day(suite, [day]))["amount:nulls"].success


def test_without_a_status_column_every_row_counts(reference: dict[str, ColumnSketch]) -> None:
    suite = derive_suite(monitor(), reference)
    assert suite.status is None
    assert not any(s.answered_only for s in suite.expectations)
    day = clean_day()
    day.loc[:199, "score"] = np.nan
    assert not by_name(validate_day(suite, [day]))["score:nulls"].success


def test_wrong_types_fail_and_break_nothing(suite: QualitySuite) -> None:
    day = clean_day(100)
    day["amount"] = day["amount"].astype(object)
    day.loc[:9, "amount"] = "n/a"  # a slice written for another configuration
    day["channel"] = day["channel"].astype(object)
    day.loc[:4, "channel"] = 3
    report = validate_day(suite, [day])
    results = by_name(report)
    assert not results["amount:type"].success and results["amount:type"].unexpected_count == 10
    assert not results["channel:type"].success and results["channel:type"].unexpected_count == 5
    # The range is judged on the numbers; the text is the type rule's finding.
    assert results["amount:range"].success and results["amount:range"].considered == 90
    findings = {f.subject: f for f in quality_check(report).findings}
    assert findings["amount:type"].severity is Severity.CRITICAL


def test_a_rule_that_cannot_be_evaluated_is_reported_not_raised(
    suite: QualitySuite, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: pd.Series, values: object) -> pd.Series:
        raise TypeError("the set lookup failed")

    monkeypatch.setattr(pd.Series, "isin", broken)  # the category metric raises inside GX
    report = validate_day(suite, [clean_day(100)])
    results = by_name(report)
    assert not results["channel:categories"].success and results["channel:categories"].error
    assert results["amount:range"].success  # the other rules are unaffected
    findings = {f.subject: f for f in quality_check(report).findings}
    assert "could not be evaluated" in findings["channel:categories"].summary


def test_string_dtype_columns_are_strings(suite: QualitySuite) -> None:
    day = clean_day(200)
    day["channel"] = day["channel"].astype("string")
    assert by_name(validate_day(suite, [day]))["channel:type"].success


def test_categorical_columns_are_judged_by_their_categories(suite: QualitySuite) -> None:
    day = clean_day(1000)
    day.loc[:99, "channel"] = "kiosk"
    day.loc[100:104, "channel"] = None
    day["channel"] = day["channel"].astype("category")  # as day_batches reads the slice
    results = by_name(validate_day(suite, [day]))
    assert results["channel:type"].success
    assert results["channel:nulls"].unexpected_count == 5
    categories = results["channel:categories"]
    assert (categories.unexpected_count, categories.considered) == (100, 995)
    assert categories.examples == ("'kiosk'",)
    numbers = clean_day(100).assign(channel=pd.Categorical([i % 3 for i in range(100)]))
    kind = by_name(validate_day(suite, [numbers]))["channel:type"]
    assert not kind.success and kind.unexpected_count == 100


def test_row_count_band(reference: dict[str, ColumnSketch]) -> None:
    config = monitor().model_copy(update={"checks": SimpleNamespace(min_rows=50, max_rows=150)})
    suite = derive_suite(config, reference)
    counts = {
        n: by_name(validate_day(suite, [clean_day(n)]))["table:row_count"] for n in (20, 100, 200)
    }
    # Only the upper end: too few rows is the volume check's finding, not a second one here.
    assert [counts[n].success for n in (20, 100, 200)] == [True, True, False]
    assert counts[200].observed == 200
    empty = validate_day(suite, [])  # a day without rows
    assert empty.rows == 0
    assert [r.name for r in empty.results if not r.success] == []
    many = quality_check(validate_day(suite, [clean_day(200)]))
    assert not many.passed and many.severity is Severity.WARN


# -- batches add up to the day ----------------------------------------------------------------


def test_batches_add_up_to_the_day_verdict(suite: QualitySuite) -> None:
    day = clean_day(1000)
    day.loc[:2, "amount"] = 500.0  # 3 outliers, all in the first batch
    whole = by_name(validate_day(suite, [day]))
    batches = [day.iloc[:100], day.iloc[100:550], day.iloc[550:]]
    split_report = validate_day(suite, batches)
    split = by_name(split_report)
    assert split_report.batches == 3 and split_report.rows == 1000
    for name, result in whole.items():
        assert (split[name].success, split[name].unexpected_count) == (
            result.success,
            result.unexpected_count,
        ), name
    # On one batch the adapter's verdict is GX's own.
    assert all(r.success == (r.batches_failed == 0) for r in whole.values())
    # 3 % of the first batch fails there, 0.3 % of the day does not: the day's verdict counts.
    assert split["amount:range"].batches_failed == 1 and split["amount:range"].success


# -- plain values out ------------------------------------------------------------------------


def test_check_values_and_metrics_are_plain(suite: QualitySuite) -> None:
    day = clean_day()
    day.loc[:19, "channel"] = "kiosk"
    day.loc[:9, "score"] = np.nan
    report = validate_day(suite, [day])
    outcome = quality_check(report)
    assert outcome.name == "data_quality"
    assert [f.subject for f in outcome.failing] == ["channel:categories"]
    assert outcome.summary.startswith("1 of 9 expectations failed: channel:categories")
    assert outcome.metadata["expectations_failed"] == 1
    values = quality_values(report)
    assert values["expectations_evaluated"] == 9 and values["expectations_failed"] == 1
    assert values["unexpected_share/channel"] == pytest.approx(0.02)
    assert values["null_share/score"] == pytest.approx(0.01)
    metrics = quality_metrics(report)
    key = '{"column":"channel","expectation":"categories"}'
    assert metrics[("unexpected_count", key)] == 20.0
    assert metrics[("passed", key)] == 0.0
    assert metrics[("expectations_failed", "")] == 1.0
    for r in report.results:  # nothing of GX leaks out
        assert type(r.observed) in (int, float, str, type(None)), r
        assert all(isinstance(e, str) for e in r.examples)


def test_expectation_names_are_subjects() -> None:
    spec = ExpectationSpec("range", "amount", "x", allowed_share=0.25)
    assert spec.name == "amount:range" and spec.mostly == 0.75
    assert ExpectationSpec("row_count", None, "x").name == "table:row_count"


def test_batches_hold_a_bounded_number_of_values() -> None:
    def suite_of(columns: int) -> QualitySuite:
        return QualitySuite((), {f"c{i}": "numeric" for i in range(columns)})

    assert batch_rows(suite_of(20)) == 200_000
    assert batch_rows(suite_of(1)) == 500_000  # capped: each batch is one GX validation
    assert batch_rows(suite_of(1000)) == 10_000


def test_a_large_day_is_validated_on_a_uniform_sample(suite: QualitySuite) -> None:
    from monitoring_pipelines.core.ingest.cleaning import ROW_KEY

    day = clean_day(1000)
    day.loc[day.index[:100], "amount"] = 1e9  # 10 % out of range
    day[ROW_KEY] = np.random.default_rng(3).integers(0, 2**64, len(day), dtype=np.uint64)
    report = validate_day(suite, [day], day_rows=1000, sample_rows=300)
    assert 200 <= report.rows <= 400 and report.day_rows == 1000
    share = by_name(report)["amount:range"].unexpected_share
    assert share is not None and 0.05 < share < 0.16  # the estimate of 10 %
    assert not by_name(report)["amount:range"].success
    assert "a uniform sample of the day's 1000 rows" in quality_check(report).summary
    whole = validate_day(suite, [day], day_rows=1000, sample_rows=5000)
    assert whole.rows == 1000 and whole.day_rows is None


def test_a_large_day_of_the_slice_store_is_sampled_as_it_is_read(
    suite: QualitySuite, tmp_path: Any
) -> None:
    from monitoring_pipelines.core.ingest.cleaning import GROUP_KEY, ROW_KEY, TIMESTAMP, SliceSpec
    from monitoring_pipelines.core.ingest.slice_store import SliceStore

    day = date(2026, 9, 1)
    frame = clean_day(5000)
    frame[ROW_KEY] = np.random.default_rng(5).integers(0, 2**64, len(frame), dtype=np.uint64)
    frame[GROUP_KEY] = frame[ROW_KEY]
    frame[TIMESTAMP] = pd.Timestamp(day, tz="UTC")
    spec = SliceSpec(TIMESTAMP, None, ("amount", "score"), ("channel",))
    store = SliceStore(tmp_path)
    with store.writer("m", day, spec) as writer:
        writer.write(frame[[TIMESTAMP, ROW_KEY, GROUP_KEY, "amount", "score", "channel"]])

    batches, day_rows = day_batches(store, "m", day, suite, sample_rows=1000)
    gathered = list(batches)
    assert len(gathered) == 1  # the sampled rows of all batches in one validation
    read = gathered[0]
    assert day_rows == 5000 and 800 < len(read) < 1200
    assert isinstance(read["channel"].dtype, pd.CategoricalDtype)  # kept over the batches
    # the rows validate_day would have kept from the whole day: the filter only moved earlier
    kept = frame[sample_mask(frame[ROW_KEY].to_numpy(), 5000, 1000)]
    assert sorted(read[ROW_KEY]) == sorted(kept[ROW_KEY])
    report = validate_day(suite, iter([read]), day_rows=day_rows, sample_rows=1000)
    assert report.rows == len(read) and report.day_rows == 5000
    small, rows = day_batches(store, "m", day, suite, sample_rows=10_000)
    assert rows == 5000 and sum(len(b) for b in small) == 5000


def test_sampled_batches_are_gathered_into_full_validations() -> None:
    from monitoring_pipelines.core.quality.batches import _gathered

    frames = [pd.DataFrame({"x": range(n)}) for n in (30, 30, 50, 10, 5)]
    assert [len(b) for b in _gathered(frames, 60)] == [60, 60, 5]
    assert [len(b) for b in _gathered(frames, 1000)] == [125]
    assert list(_gathered([], 60)) == []


def test_the_slice_store_reads_text_as_categoricals_and_names_a_missing_column(
    tmp_path: Any,
) -> None:
    from monitoring_pipelines.core.ingest.cleaning import GROUP_KEY, ROW_KEY, TIMESTAMP, SliceSpec
    from monitoring_pipelines.core.ingest.slice_store import SliceStore, StoreError

    day = date(2026, 9, 2)
    frame = clean_day(50)
    frame.loc[:4, "channel"] = None
    frame[ROW_KEY] = np.arange(50, dtype=np.uint64)
    frame[GROUP_KEY] = frame[ROW_KEY]
    frame[TIMESTAMP] = pd.Timestamp(day, tz="UTC")
    store = SliceStore(tmp_path)
    with store.writer("m", day, SliceSpec(TIMESTAMP, None, ("amount", "score"), ("channel",))) as w:
        w.write(frame[[TIMESTAMP, ROW_KEY, GROUP_KEY, "amount", "score", "channel"]])
    [read] = store.batches("m", day, ["amount", "channel"], categorical=["channel", "gone"])
    assert isinstance(read["channel"].dtype, pd.CategoricalDtype)
    assert read["channel"].isna().sum() == 5
    assert list(read["channel"].astype(object)[5:]) == list(frame["channel"][5:])
    with pytest.raises(StoreError, match="has no column"):
        list(store.batches("m", day, ["gone"], categorical=["gone"]))
