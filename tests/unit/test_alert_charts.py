"""Alert charts, drawn from the daily report's test store (``tests/unit/test_report.py``).

On the last day of that store (``DAY``) ``amount`` drifts critically and ``channel`` as a
warning, and p95 latency (400 ms) breaks its 300 ms SLO; costs are stored every day.
"""

from __future__ import annotations

import io
import struct
from datetime import timedelta

import numpy as np
import pytest
from PIL import Image

from monitoring_pipelines.core.alerting.charts import ChartImage, has_chart, render_alert_chart
from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.dimensions import dimensions
from monitoring_pipelines.core.report.plots import CRITICAL_COLOR, HIGHLIGHT_COLOR
from monitoring_pipelines.core.store.results import ResultRepository
from tests.unit.test_report import (
    DAY,
    DAYS,
    MONITOR,
    PNG_SIGNATURE,
    numeric,
    record_checks,
    seed,
)

PARTITION = DAY.isoformat()
MAX_BYTES = 100_000


def size_of(png: bytes) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk."""
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def has_color(png: bytes, color: str, at_least: int = 20) -> bool:
    """Whether at least ``at_least`` pixels are exactly ``color`` (``#rrggbb``)."""
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    target = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    return int(np.all(rgb == target, axis=-1).sum()) >= at_least


def assert_small_png(chart: ChartImage) -> None:
    assert chart.png.startswith(PNG_SIGNATURE)
    width, height = size_of(chart.png)
    assert 760 <= width <= 840 and 340 <= height <= 420, (width, height)
    assert len(chart.png) < MAX_BYTES
    assert chart.filename.endswith(".png")
    assert "/" not in chart.filename and " " not in chart.filename


def chart(store: ResultRepository, check: str, subject: str = "", **kwargs: int) -> ChartImage:
    found = render_alert_chart(store, MONITOR, check, subject, PARTITION, **kwargs)
    assert found is not None, f"no chart for {check} {subject!r}"
    return found


# -- drift -----------------------------------------------------------------------------------


def test_a_drifted_column_shows_the_reference_against_the_day(results: ResultRepository) -> None:
    seed(results)

    drawn = chart(results, "feature_drift", "amount")

    assert_small_png(drawn)
    assert drawn.filename == f"{MONITOR}_feature_drift_amount_{PARTITION}.png"
    assert drawn.title == f"{MONITOR} · feature_drift · amount: reference against {PARTITION}"
    assert "reference (n=5,000)" in drawn.alt_text
    assert f"on {PARTITION} (n=2,000)" in drawn.alt_text
    assert "wasserstein 1.5 against warn 0.05 and critical 0.2 (critical)" in drawn.alt_text


def test_a_categorical_column_is_drawn_as_bars(results: ResultRepository) -> None:
    seed(results)

    drawn = chart(results, "feature_drift", "channel")

    assert_small_png(drawn)
    assert "share of rows per category" in drawn.alt_text


def test_a_segment_is_drawn_from_its_own_sketch_against_the_columns_reference(
    results: ResultRepository,
) -> None:
    seed(results)
    subject = "amount@model_version=v2"
    day_sketches = results.load_sketches(MONITOR, PARTITION)
    amount = day_sketches["amount"]
    assert amount.edges is not None
    values = np.random.default_rng(3).normal(90, 5, 300)
    segment = numeric(subject, values, amount.edges)
    results.save_profile(MONITOR, PARTITION, 2000, b"", {}, [*day_sketches.values(), segment])

    drawn = chart(results, "feature_drift", subject)

    assert_small_png(drawn)
    assert f"on {PARTITION} (n=300)" in drawn.alt_text
    assert "wasserstein 1.6" in drawn.alt_text  # the segment's own drift row
    assert drawn.filename == f"{MONITOR}_feature_drift_amount_model_version_v2_{PARTITION}.png"


def test_drift_without_sketches_has_no_chart(results: ResultRepository) -> None:
    seed(results)

    # No per-segment sketch is stored, the column is unknown, the day has no sketches.
    assert render_alert_chart(results, MONITOR, "feature_drift", "amount@x=y", PARTITION) is None
    assert render_alert_chart(results, MONITOR, "prediction_drift", "nope", PARTITION) is None
    later = (DAY + timedelta(days=3)).isoformat()
    assert render_alert_chart(results, MONITOR, "feature_drift", "amount", later) is None


# -- trends ----------------------------------------------------------------------------------


def test_latency_trend_has_the_slo_line_and_the_alert_day_shaded(
    store: AlertRepository, results: ResultRepository
) -> None:
    seed(results)
    record_checks(store)

    drawn = chart(results, "latency_slo")

    assert_small_png(drawn)
    first = DAY - timedelta(days=27)
    assert drawn.title == f"{MONITOR} · latency_slo: latency, {first} to {DAY}"
    assert f"on {DAY} (shaded) 400 ms against the SLO 300 ms line" in drawn.alt_text
    assert has_color(drawn.png, HIGHLIGHT_COLOR)
    assert has_color(drawn.png, CRITICAL_COLOR)


def test_without_a_stored_threshold_no_line_is_drawn(results: ResultRepository) -> None:
    seed(results)  # no check results recorded, and no slo_threshold_ms stored

    drawn = chart(results, "latency_slo")

    assert "against" not in drawn.alt_text
    assert not has_color(drawn.png, CRITICAL_COLOR)
    assert has_color(drawn.png, HIGHLIGHT_COLOR)


def test_a_latency_burn_alert_shows_latency_against_the_slo(
    store: AlertRepository, results: ResultRepository
) -> None:
    seed(results)
    record_checks(store)

    drawn = chart(results, "error_budget", "latency:fast", days=7)

    assert drawn.title == (
        f"{MONITOR} · error_budget · latency:fast: latency, {DAY - timedelta(days=6)} to {DAY}"
    )
    assert "against the SLO 300 ms line" in drawn.alt_text
    assert drawn.filename == f"{MONITOR}_error_budget_latency_fast_{PARTITION}.png"


def test_error_rate_and_daily_cost_trends(
    store: AlertRepository, results: ResultRepository
) -> None:
    seed(results)
    record_checks(store)

    errors = chart(results, "error_rate")
    cost = chart(results, "cost_budget")

    assert f"on {DAY} (shaded) 1.00% against the SLO 5.00% line" in errors.alt_text
    assert f"on {DAY} (shaded) 4.80 USD" in cost.alt_text  # 4 + day / 10
    for drawn in (errors, cost):
        assert_small_png(drawn)


def test_the_monthly_budget_chart_shows_the_month_to_date(results: ResultRepository) -> None:
    seed(results)

    drawn = chart(results, "monthly_budget")

    month_to_date = sum(4.0 + d.day / 10 for d in DAYS if d.month == DAY.month and d <= DAY)
    assert f"on {DAY} (shaded) {month_to_date:,.2f} USD" in drawn.alt_text
    assert f"{DAY.replace(day=1)} to {DAY}" in drawn.title


def test_anomaly_and_hallucination_trends(results: ResultRepository) -> None:
    for i, day in enumerate(DAYS):
        partition = day.isoformat()
        cost = dimensions(metric="cost_per_request")
        results.save_metrics(
            MONITOR,
            "anomalies",
            partition,
            {("value", cost): 0.004 + (0.004 if day == DAY else 0.0), ("median", cost): 0.004},
        )
        intent = dimensions(intent="billing")
        results.save_metrics(
            MONITOR,
            "hallucination_rate",
            partition,
            {
                ("hallucination_rate", ""): 0.02,
                ("ci_low", ""): 0.01,
                ("hallucination_rate", intent): 0.2 if day == DAY else 0.02 + i / 1000,
                ("baseline_rate", intent): 0.03,
            },
        )

    anomaly = chart(results, "anomaly", "cost_per_request")
    scope = chart(results, "hallucination_rate", "intent=billing")
    overall = chart(results, "hallucination_rate")

    assert f"on {DAY} (shaded) 0.008 USD" in anomaly.alt_text
    assert "(day, baseline median)" in anomaly.alt_text
    assert f"on {DAY} (shaded) 20.00%" in scope.alt_text
    assert "(rate, baseline)" in scope.alt_text
    assert "(rate, 95% lower bound, baseline)" in overall.alt_text
    for drawn in (anomaly, scope, overall):
        assert_small_png(drawn)


def test_trends_are_deterministic_and_carry_no_software_or_time_chunk(
    store: AlertRepository,
    results: ResultRepository,
) -> None:
    seed(results)
    record_checks(store)

    first, again = chart(results, "latency_slo"), chart(results, "latency_slo")

    assert first == again
    assert b"tEXt" not in first.png and b"tIME" not in first.png


# -- no chart ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "subject", "partition"),
    [
        ("volume", "", PARTITION),  # no chart for the check
        ("data_quality", "amount:range", PARTITION),
        ("feature_drift", "", PARTITION),
        ("latency_slo", "", (DAY + timedelta(days=1)).isoformat()),  # nothing stored that day
        ("anomaly", "requests", PARTITION),  # no anomalies stored
        ("hallucination_rate", "", PARTITION),
        ("latency_slo", "", f"{DAY}/7d"),  # not a day
    ],
)
def test_no_chart_without_one_or_without_data(
    results: ResultRepository, check: str, subject: str, partition: str
) -> None:
    seed(results)

    assert render_alert_chart(results, MONITOR, check, subject, partition) is None


def test_an_empty_store_has_no_charts(results: ResultRepository) -> None:
    for check, subject in (("feature_drift", "amount"), ("latency_slo", ""), ("cost_budget", "")):
        assert render_alert_chart(results, MONITOR, check, subject, PARTITION) is None


def test_which_findings_have_charts() -> None:
    assert has_chart("feature_drift", "amount")
    assert has_chart("prediction_drift", "decision")
    assert has_chart("error_budget", "errors:slow")
    assert has_chart("anomaly", "cost_per_request")
    assert has_chart("hallucination_rate", "article=KB-1")
    assert not has_chart("feature_drift", "")
    assert not has_chart("schema_change", "")
    assert not has_chart("canary", "")


def test_a_trend_of_no_days_is_refused(results: ResultRepository) -> None:
    with pytest.raises(ValueError, match="at least 1 day"):
        render_alert_chart(results, MONITOR, "latency_slo", "", PARTITION, days=0)
