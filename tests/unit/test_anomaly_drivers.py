"""What drove an anomalous day: breakdown parts from the stored rows, and the value whose part
moved most against the baseline days."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitoring_pipelines.core.anomaly.drivers import find_driver, parts
from monitoring_pipelines.core.anomaly.metrics import MetricValues, ReferenceDays, day_values
from monitoring_pipelines.core.anomaly.scoring import detect
from monitoring_pipelines.core.config import AnomalyConfig
from monitoring_pipelines.core.dimensions import dimensions

MONDAY = date(2026, 9, 7)
INTENTS = {"billing": 0.5, "returns": 0.2, "shipping": 0.3}  # share of requests


def cost_rows(requests: int, cost_per_request: dict[str, float]) -> MetricValues:
    """``token_costs`` rows of a day: per intent, its requests and cost; and the totals."""
    rows: dict[tuple[str, str], float | None] = {}
    total = 0.0
    for intent, share in INTENTS.items():
        n = requests * share
        cost = n * cost_per_request[intent]
        rows[("requests", dimensions(intent=intent))] = n
        rows[("cost_usd", dimensions(intent=intent))] = cost
        rows[("prompt_tokens", dimensions(intent=intent))] = n * 900
        rows[("completion_tokens", dimensions(intent=intent))] = n * 100
        total += cost
    rows |= {
        ("requests", ""): float(requests),
        ("cost_usd", ""): total,
        ("prompt_tokens", ""): requests * 900.0,
        ("completion_tokens", ""): requests * 100.0,
    }
    return rows


USUAL = {"billing": 0.001, "returns": 0.001, "shipping": 0.001}


def test_cost_parts_sum_to_the_cost_per_request() -> None:
    rows = cost_rows(1000, {"billing": 0.001, "returns": 0.004, "shipping": 0.002})
    found = parts("cost_per_request", None, rows)
    assert set(found) == {("intent", i) for i in INTENTS}
    assert sum(found.values()) == pytest.approx(day_values(None, rows)["cost_per_request"])
    tokens = parts("tokens_per_request", None, rows)
    assert sum(tokens.values()) == pytest.approx(day_values(None, rows)["tokens_per_request"])


def test_error_parts_are_errors_over_requests_with_a_status() -> None:
    service = {
        ("requests", ""): 1000.0,
        ("status_missing", ""): 0.0,
        ("status_unknown", ""): 0.0,
        ("error_rate", ""): 0.09,
        ("errors", dimensions(error_status="503")): 80.0,
        ("errors", dimensions(error_status="500")): 10.0,
        ("errors", dimensions(hour="03")): 90.0,  # an hour is not a driver
    }
    assert parts("error_rate", service, None) == {
        ("error_status", "503"): 0.08,
        ("error_status", "500"): 0.01,
    }
    assert parts("latency_p95_ms", service, None) == {}


def test_the_intent_that_moved_is_the_driver_not_the_largest() -> None:
    usual = [parts("cost_per_request", None, cost_rows(1000, USUAL)) for _ in range(3)]
    moved = cost_rows(1000, USUAL | {"returns": 0.004})
    driver = find_driver(parts("cost_per_request", None, moved), usual, rising=True)
    assert driver is not None
    assert (driver.dimension, driver.value) == ("intent", "returns")
    assert driver.contribution == pytest.approx(0.2 * 0.003)
    assert driver.share == pytest.approx(1.0)
    assert "driven by intent=returns (+0.0006, 100% of the intent change)" in driver.clause()


def test_a_single_valued_dimension_explains_nothing() -> None:
    today = {("model", "only"): 2.0}
    assert find_driver(today, [{("model", "only"): 1.0}], rising=True) is None


def test_no_usual_day_with_parts_names_no_driver() -> None:
    assert find_driver({("intent", "a"): 1.0, ("intent", "b"): 1.0}, [{}, {}], rising=True) is None


@settings(max_examples=80, deadline=None)
@given(
    st.dictionaries(st.sampled_from("abcdef"), st.floats(0, 10), min_size=2),
    st.lists(st.dictionaries(st.sampled_from("abcdef"), st.floats(0, 10)), min_size=1, max_size=5),
)
@example(today={"a": 0.0, "b": 5e-324}, days=[{"a": 2.0}])  # a share that underflows to 0
def test_the_driver_moved_the_way_the_metric_did_and_leads_its_dimension(
    today: dict[str, float], days: list[dict[str, float]]
) -> None:
    now = {("k", v): x for v, x in today.items()}
    usual = [{("k", v): x for v, x in day.items()} for day in days]
    driver = find_driver(now, usual, rising=True)
    if driver is None:
        return
    assert driver.contribution > 0 and 0 < driver.share <= 1
    values = set(today) | {v for day in days for v in day}
    moved = [
        today.get(v, 0.0) - float(np.median([day.get(v, 0.0) for day in days])) for v in values
    ]
    assert driver.contribution == pytest.approx(max(moved))
    assert driver.share == pytest.approx(max(moved) / sum(abs(m) for m in moved))


def test_detect_names_the_driver_from_reference_parts_on_the_first_day() -> None:
    config = AnomalyConfig()
    reference_rows = {MONDAY - timedelta(days=i): cost_rows(1000, USUAL) for i in range(1, 15)}
    values = {d: day_values(None, r)["cost_per_request"] for d, r in reference_rows.items()}
    reference = ReferenceDays(
        values={"cost_per_request": values},
        parts={
            "cost_per_request": {
                d: parts("cost_per_request", None, r) for d, r in reference_rows.items()
            }
        },
    )
    costs = {MONDAY: cost_rows(1000, USUAL | {"returns": 0.004})}
    (result,) = detect(MONDAY, {}, costs, config, ["cost_per_request"], reference)
    assert result.failing
    assert result.driver is not None and result.driver.value == "returns"
    assert "of the reference" in result.summary and "driven by intent=returns" in result.summary
    # Without the breakdown on the baseline days, no driver is named.
    bare = ReferenceDays(values={"cost_per_request": values})
    (plain,) = detect(MONDAY, {}, costs, config, ["cost_per_request"], bare)
    assert plain.failing and plain.driver is None and "driven by" not in plain.summary
