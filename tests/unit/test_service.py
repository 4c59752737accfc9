"""Service metrics of a day: exact percentiles per dimension value and hour, error rates, SLO
counts, and bad input (negative or missing latencies, unknown and mixed-type statuses, odd
dimension values) counted rather than crashing or reading as zero."""

from __future__ import annotations

import json

import numpy as np
import pytest

from monitoring_pipelines.core.config import ServiceConfig, Severity
from monitoring_pipelines.core.dimensions import dimensions
from monitoring_pipelines.core.service.breakdown import (
    DIMENSIONS_MAX_CHARS,
    MISSING,
    OTHER,
    fold_values,
    metric_label,
    sorted_percentiles,
    stored_value,
)
from monitoring_pipelines.core.service.day import (
    compute_service_day,
    service_day_rows,
    service_day_tables,
    service_day_values,
)
from monitoring_pipelines.core.service.metrics import (
    classify_status,
    compute_service_metrics,
    service_checks,
)
from monitoring_pipelines.core.service.slo import Sli

CONFIG = ServiceConfig(
    latency_column="latency_ms",
    status_column="status",
    slo={"latency_ms": 200, "latency_percentile": 95, "error_rate": 0.01},
)
N = 5000


@pytest.fixture(scope="module")
def day() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    version = rng.choice(["v1", "v2", "v3"], N, p=[0.6, 0.3, 0.1]).astype(object)
    latency = rng.lognormal(4.5, 0.5, N) * np.where(version == "v3", 2.0, 1.0)
    status = np.where(rng.random(N) < np.where(version == "v2", 0.05, 0.01), 503, 200)
    return {
        "latency": latency,
        "status": status.astype(object),
        "version": version,
        "endpoint": rng.choice(["/predict", "/batch"], N).astype(object),
        "hours": rng.integers(0, 24, N),
    }


def test_sorted_percentiles_equal_numpy_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 7, 100, 1001):
        values = np.sort(rng.normal(0, 1, n) * 10.0 ** rng.integers(-3, 6))
        for q in (0.0, 1.0, 50.0, 95.0, 99.0, 99.9, 100.0):
            got = sorted_percentiles(values, np.array([0]), np.array([n]), q)[0]
            assert got == np.percentile(values, q), (n, q)
    empty = sorted_percentiles(np.zeros(0), np.array([0]), np.array([0]), 50.0)
    assert np.isnan(empty[0])


def test_percentiles_and_error_rates_per_dimension_value_equal_numpy(day: dict) -> None:
    result = compute_service_day(
        day["latency"],
        day["status"],
        CONFIG,
        N,
        dimensions={"model_version": day["version"], "endpoint": day["endpoint"]},
    )
    groups = {(g.column, g.value): g for g in result.groups}
    assert set(groups) == {
        ("model_version", "v1"),
        ("model_version", "v2"),
        ("model_version", "v3"),
        ("endpoint", "/predict"),
        ("endpoint", "/batch"),
    }
    for (column, value), g in groups.items():
        rows = (day["version"] if column == "model_version" else day["endpoint"]) == value
        latency = day["latency"][rows]
        assert (g.p50_ms, g.p95_ms, g.p99_ms) == tuple(np.percentile(latency, [50, 95, 99]))
        assert g.requests == g.latency_rows == rows.sum()
        assert g.errors == (day["status"][rows] == 503).sum()
        assert g.error_rate == g.errors / rows.sum()
    # v2 has five times the errors; v3 twice the latency
    assert (
        groups[("model_version", "v2")].error_rate > 3 * groups[("model_version", "v1")].error_rate
    )
    assert groups[("model_version", "v3")].p50_ms > 1.8 * groups[("model_version", "v1")].p50_ms
    # the whole day too
    assert result.metrics.p95_ms == np.percentile(day["latency"], 95)
    assert sum(g.requests for g in result.groups if g.column == "endpoint") == N


def test_hour_of_day_breakdown_has_24_hours(day: dict) -> None:
    hours = day["hours"].copy()
    hours[hours == 5] = 6  # nothing at 05:00
    result = compute_service_day(day["latency"], day["status"], CONFIG, N, hours=hours)
    assert [h.value for h in result.hours] == [f"{h:02d}" for h in range(24)]
    five, six = result.hours[5], result.hours[6]
    assert (five.requests, five.p95_ms, five.error_rate) == (0, None, None)
    assert six.requests == (hours == 6).sum()
    assert six.p95_ms == np.percentile(day["latency"][hours == 6], 95)
    table = service_day_tables(result)["hourly"]
    assert len(table) == 24
    assert table[6] == {
        "hour": "06",
        "requests": six.requests,
        "p95_ms": six.p95_ms,
        "error_rate": six.error_rate,
    }
    rows = service_day_rows(result)
    assert rows[("p95_ms", dimensions(hour="06"))] == six.p95_ms
    assert rows[("requests", dimensions(hour="05"))] == 0.0


def test_slo_counts_count_requests_over_the_threshold_and_errors(day: dict) -> None:
    result = compute_service_day(day["latency"], day["status"], CONFIG, N)
    latency = result.slo[Sli.LATENCY]
    assert (latency.events, latency.bad, latency.threshold) == (
        N,
        int((day["latency"] > 200).sum()),
        200,
    )
    errors = result.slo[Sli.ERRORS]
    assert (errors.events, errors.bad) == (N, int((day["status"] == 503).sum()))
    rows = service_day_rows(result)
    assert rows[("slo_bad", dimensions(sli="latency"))] == latency.bad
    assert rows[("slo_events", dimensions(sli="errors"))] == N


def test_a_latency_exactly_at_the_threshold_is_good() -> None:
    latency = np.array([100.0, 200.0, 200.0, 200.000001, np.nan, -5.0])
    result = compute_service_day(latency, None, CONFIG, 6)
    assert result.slo[Sli.LATENCY].events == 4
    assert result.slo[Sli.LATENCY].bad == 1
    assert Sli.ERRORS not in result.slo  # no status column: no error objective


def test_dimension_values_beyond_the_cap_fold_into_other() -> None:
    values = np.array([f"t{i:02d}" for i in range(30) for _ in range(30 - i)] + [None] * 4)
    grouping, folding = fold_values("tenant", values.astype(object), limit=20)
    assert grouping.values[:3] == ("t00", "t01", "t02")
    assert grouping.values[20:] == (OTHER, MISSING)
    assert len(grouping.values) == 22
    assert (folding.distinct, folding.folded_values, folding.missing_rows) == (30, 10, 4)
    assert folding.folded_rows == sum(30 - i for i in range(20, 30))
    assert (grouping.codes == 20).sum() == folding.folded_rows
    assert (grouping.codes == 21).sum() == 4


def test_ties_at_the_cap_are_broken_by_value_text() -> None:
    values = np.array(["b", "a", "c", "c"], dtype=object)
    grouping, _ = fold_values("x", values, limit=2)
    assert grouping.values == ("c", "a", OTHER)


ODD = [
    "v\"2'quoted",
    "modèle-été-ü",
    "版本三",
    "x" * 400,
    "ü" * 300,
    "a/b c",
    "",
]


def test_odd_dimension_values_are_sanitised_for_names_and_stored_verbatim() -> None:
    values = np.array([v for v in ODD for _ in range(3)] + ["v1"] * 10, dtype=object)
    latency = np.arange(len(values), dtype=np.float64)
    result = compute_service_day(latency, None, CONFIG, len(values), dimensions={"ver": values})
    by_value = {g.value: g for g in result.groups}
    for value in ODD[:3] + ODD[5:]:
        assert value in by_value  # verbatim
    labels = [g.label for g in result.groups]
    assert len(set(labels)) == len(labels)
    assert all(len(lbl) <= len("ver=") + 48 for lbl in labels)
    assert "ver=v1" in labels
    rows = service_day_rows(result)
    stored = {d for (_, d) in rows if d.startswith('{"ver"')}
    assert all(len(d) <= DIMENSIONS_MAX_CHARS for d in stored)
    decoded = {json.loads(d)["ver"] for d in stored}
    assert ODD[0] in decoded and ODD[2] in decoded
    long_x = next(v for v in decoded if v.startswith("xxx"))
    assert long_x.startswith("x" * 200) and "…#" in long_x
    folding = result.foldings[0]
    assert folding.shortened == 2  # the two long values
    assert folding.renamed == 6  # all but "v1" and "" (its label is itself)
    values_meta = service_day_values(result)
    assert values_meta["dimension_values_renamed"] == 6
    assert values_meta["dimension_values_shortened"] == 2


def test_metric_label_keeps_safe_values_and_hashes_changed_ones() -> None:
    assert metric_label("rank-2.4") == "rank-2.4"
    assert metric_label("/v1/sentiment") == "/v1/sentiment"
    assert metric_label("(other)") == "(other)"
    a, b = metric_label("a b"), metric_label("a_b")
    assert b == "a_b" and a.startswith("a_b~") and a != b
    assert metric_label("v\n2") != metric_label("v 2")


def test_stored_value_fits_the_dimensions_column_with_any_characters() -> None:
    for value in ["😀" * 200, "x" * 1000, '"' * 300, "\\" * 300]:
        stored = stored_value("model_version", value)
        assert len(dimensions(model_version=stored)) <= DIMENSIONS_MAX_CHARS
        assert stored != value and stored.endswith(stored[-8:])
        assert value.startswith(stored.split("…#")[0])
    assert stored_value("m", "short") == "short"


def test_negative_missing_and_infinite_latencies_are_counted_not_used() -> None:
    latency = np.array([10.0, 20.0, np.nan, -1.0, np.inf, -np.inf, 30.0])
    metrics = compute_service_metrics(latency, None, CONFIG, 7)
    assert metrics.latency_rows == 3
    assert metrics.latency_negative == 1
    assert metrics.latency_missing == 3  # NaN and both infinities
    assert metrics.p50_ms == 20.0
    (check,) = service_checks(metrics, CONFIG.model_copy(update={"status_column": None}))
    assert "left out: 3 missing, 1 negative" in check.summary


def test_latency_in_seconds_is_converted() -> None:
    config = CONFIG.model_copy(update={"latency_unit": "s"})
    metrics = compute_service_metrics(np.array([0.1, 0.2, 0.3]), None, config, 3)
    assert metrics.p50_ms == pytest.approx(200.0)


def test_only_negative_latencies_is_not_evaluated_not_zero() -> None:
    metrics = compute_service_metrics(np.array([-1.0, -2.0]), None, CONFIG, 2)
    assert metrics.p95_ms is None
    (check,) = service_checks(metrics, CONFIG.model_copy(update={"status_column": None}))
    assert check.passed
    assert check.summary == "not evaluated: no usable latency in 2 rows; left out: 2 negative"


def test_mixed_type_http_statuses_classify_alike() -> None:
    status = np.array([503, "503", 503.0, "503.0", 200, "200", None, np.nan, "OK", 42, 700, 502.5])
    is_error, unknown, missing = classify_status(status.astype(object), None)
    assert is_error.tolist()[:6] == [True, True, True, True, False, False]
    assert missing.tolist() == [False] * 6 + [True, True] + [False] * 4
    assert unknown.tolist() == [False] * 8 + [True] * 4


def test_configured_statuses_compare_as_text_whatever_their_type() -> None:
    status = np.array(["Timeout ", "error", 500, "500", 500.0, "ok", None], dtype=object)
    is_error, unknown, missing = classify_status(status, ["timeout", "ERROR", 500])
    assert is_error.tolist() == [True, True, True, True, True, False, False]
    assert not unknown.any()
    assert missing.tolist() == [False] * 6 + [True]


def test_unknown_statuses_are_left_out_of_the_error_rate_and_named() -> None:
    status = np.array(["OK"] * 6 + [200] * 3 + [503] + [None] * 2, dtype=object)
    result = compute_service_day(None, status, CONFIG, len(status))
    m = result.metrics
    assert (m.status_unknown, m.status_missing, m.errors) == (6, 2, 1)
    assert m.error_rate == pytest.approx(1 / 4)
    assert result.slo[Sli.ERRORS].events == 4
    assert service_day_tables(result)["status_unknown_examples"] == ["'OK'"]
    (check,) = service_checks(m, CONFIG.model_copy(update={"latency_column": None}))
    assert not check.passed
    assert check.findings[0].severity is Severity.CRITICAL  # 25 % is over twice 1 %
    assert "(1 error in 4 requests; left out: 2 missing, 6 unknown)" in check.summary


def test_a_log_of_only_unknown_statuses_is_not_evaluated_never_zero_errors() -> None:
    status = np.array(["OK"] * 50, dtype=object)
    metrics = compute_service_metrics(None, status, CONFIG, 50)
    assert metrics.error_rate is None
    (check,) = service_checks(metrics, CONFIG.model_copy(update={"latency_column": None}))
    assert check.summary == "not evaluated: no known status in 50 rows; left out: 50 unknown"


def test_arrays_of_the_wrong_length_are_rejected_with_their_name() -> None:
    with pytest.raises(ValueError, match="latency has 2 values for a day of 3 requests"):
        compute_service_metrics(np.array([1.0, 2.0]), None, CONFIG, 3)
    with pytest.raises(ValueError, match="dimension 'v' has 1 values for 2 requests"):
        compute_service_day(
            np.ones(2), None, CONFIG, 2, dimensions={"v": np.array(["a"], dtype=object)}
        )
    with pytest.raises(ValueError, match="hours must be 2 values from 0 to 23"):
        compute_service_day(np.ones(2), None, CONFIG, 2, hours=np.array([0, 24]))


def test_an_empty_day_has_counts_and_no_percentiles() -> None:
    result = compute_service_day(
        np.zeros(0),
        np.zeros(0, dtype=object),
        CONFIG,
        0,
        hours=np.zeros(0, dtype=np.int64),
        dimensions={"v": np.zeros(0, dtype=object)},
    )
    assert result.metrics.p95_ms is None and result.metrics.error_rate is None
    assert result.slo[Sli.LATENCY].events == result.slo[Sli.ERRORS].events == 0
    assert result.groups == ()
    assert all(h.requests == 0 for h in result.hours) and len(result.hours) == 24
