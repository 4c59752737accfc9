"""What drove a failing day: the attribution rule, and the cost, latency and error drivers on
small frames with known answers."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring_pipelines.core.alerting.messages import Links, build_message, incident_title
from monitoring_pipelines.core.alerting.model import (
    AlertKind,
    Evaluation,
    Incident,
    IncidentStatus,
)
from monitoring_pipelines.core.config import PriceConfig, ServiceConfig, Severity
from monitoring_pipelines.core.costs.day import budget_check, compute_costs
from monitoring_pipelines.core.costs.drivers import cost_driver, day_split
from monitoring_pipelines.core.notify.mrkdwn import SOFT_HYPHEN
from monitoring_pipelines.core.service.day import compute_service_day, service_day_rows
from monitoring_pipelines.core.service.drivers import service_usual, stored_day
from monitoring_pipelines.core.service.metrics import service_checks
from monitoring_pipelines.core.stats.attribution import SHOWN_CHARS, find_driver, shares, shown
from monitoring_pipelines.core.store.results import MetricRecord

DAY = date(2026, 5, 11)
PRICES = [
    PriceConfig(model="small", input_per_1k=1.0, output_per_1k=0.0),
    PriceConfig(model="large", input_per_1k=4.0, output_per_1k=0.0),
]


# -- the rule ---------------------------------------------------------------------------------


def test_the_value_that_moved_alone_is_named_over_a_larger_one_offset_by_another() -> None:
    # returns +2.7 with the other intents still; large +3.6 offset by small -0.9
    found = find_driver(
        {
            "intent": {"returns": 2.7, "billing": 0.0, "shipping": 0.0},
            "model": {"large": 3.6, "small": -0.9},
        }
    )
    assert found is not None
    assert (found.dimension, found.value, found.share) == ("intent", "returns", 1.0)


def test_a_single_valued_dimension_and_a_fold_are_never_named() -> None:
    assert find_driver({"model": {"only": 5.0}}) is None
    assert (
        find_driver(
            {"model": {"only": 5.0}, "x": {"(other)": 9.0, "a": 1.0}},
            unnamed=frozenset({"(other)"}),
        ).value
        == "a"
    )  # type: ignore[union-attr]
    # one value today but two on the usual days: the dimension explains a move
    found = find_driver({"model": {"new": 5.0}}, values_seen={"model": ["new", "old"]})
    assert found is not None and found.value == "new"


def test_nothing_is_named_when_nothing_moved_the_way_the_check_failed() -> None:
    assert find_driver({"intent": {"a": -1.0, "b": 0.0}}) is None


contributions = st.dictionaries(
    st.sampled_from(["intent", "model", "status", "endpoint"]),
    st.dictionaries(
        st.text(alphabet="abcxyz", min_size=1, max_size=3),
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
        min_size=1,
        max_size=6,
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(contributions)
def test_the_driver_has_the_largest_share_and_is_never_single_valued(
    data: dict[str, dict[str, float]],
) -> None:
    found = find_driver(data)
    # brute force over the candidates: values of dimensions of two or more values that moved up
    candidates = []
    for dimension, values in data.items():
        if len(values) < 2:
            continue
        moved = sum(abs(c) for c in values.values())
        # a move whose share of the change underflows to 0 drives nothing
        candidates += [(c / moved, dimension, v) for v, c in values.items() if c / moved > 0]
    if not candidates:
        assert found is None
        return
    assert found is not None
    assert len(data[found.dimension]) >= 2
    assert found.contribution > 0
    assert found.share == max(share for share, _, _ in candidates)
    assert found.share == shares(data[found.dimension])[found.value]


def test_a_shown_value_is_one_line_of_bounded_length() -> None:
    text = shown("a\nb\r\u2028c" + "x" * 500)
    assert "\n" not in text and "\r" not in text and "\u2028" not in text
    assert len(text) == SHOWN_CHARS and text.endswith("…")


# -- cost ---------------------------------------------------------------------------------------


def _costs(rows: list[tuple[str, str, int]], day: date = DAY):  # type: ignore[no-untyped-def]
    frame = pd.DataFrame(rows * 1, columns=["model", "intent", "prompt"])
    return compute_costs(
        frame["model"],
        frame["prompt"],
        pd.Series(0, index=frame.index),
        PRICES,
        day,
        intents=frame["intent"],
    )


USUAL_ROWS = [
    ("small", "returns", 1000),  # $1
    ("small", "billing", 1000),  # $1
    ("large", "billing", 250),  # $1
]


def test_cost_names_the_intent_moved_to_the_pricier_model_against_the_days_within_budget() -> None:
    history = {DAY - timedelta(days=i): day_split(_costs(USUAL_ROWS)) for i in range(1, 4)}
    # an over-budget day stays out of the usual
    history[DAY - timedelta(days=4)] = day_split(_costs([("large", "billing", 5000)]))
    today = _costs(
        [("large", "returns", 1000), ("small", "billing", 1000), ("large", "billing", 250)]
    )
    driver = cost_driver(day_split(today), history, budget_usd=4.0)
    assert driver is not None
    assert (driver.driver.key, driver.today, driver.usual) == ("intent=returns", 4.0, 1.0)
    assert driver.usual_days == 3
    assert driver.detail is not None and driver.detail.key == "model=large"
    outcome = budget_check(today, 4.0, driver)
    assert outcome.summary == (
        "cost $6.00 > daily budget $4.00, driven by intent returns $4.00 (usually $1.00) on large"
    )
    assert outcome.metadata["driver"] == "intent=returns"
    assert outcome.metadata["driver_value"] == 4.0 and outcome.metadata["driver_usual"] == 1.0


def test_cost_without_a_usual_day_names_its_largest_model_as_before() -> None:
    today = _costs([("large", "returns", 2000)])
    assert cost_driver(day_split(today), {}, budget_usd=4.0) is None
    assert budget_check(today, 4.0, None).summary == (
        "cost $8.00 > daily budget $4.00; largest: large $8.00"
    )


# -- latency and errors -----------------------------------------------------------------------

SERVICE = ServiceConfig.model_validate(
    {
        "latency_column": "latency",
        "status_column": "status",
        "slo": {"latency_ms": 300, "latency_percentile": 95, "error_rate": 0.02},
    }
)


def _service_day(seed: int, slow_model: str | None = None, burst: str | None = None):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    n = 4000
    model = np.where(rng.random(n) < 0.5, "a", "b").astype(object)
    channel = np.where(rng.random(n) < 0.5, "web", "app").astype(object)
    latency = np.where(model == "a", 100.0, 200.0) * rng.uniform(0.8, 1.2, n)
    if slow_model is not None:
        latency = np.where((model == slow_model) & (rng.random(n) < 0.3), latency * 5, latency)
    status = np.where(rng.random(n) < 0.005, "500", "200").astype(object)
    if burst is not None:
        status = np.where(rng.random(n) < 0.1, burst, status).astype(object)
    return dict(
        latency=latency,
        status=status,
        config=SERVICE,
        requests=n,
        dimensions={"model": model, "channel": channel},
    )


def _usual():  # type: ignore[no-untyped-def]
    days = []
    for seed in range(3):
        day = compute_service_day(**_service_day(seed))
        rows = [
            MetricRecord("d", name, dims, v) for (name, dims), v in service_day_rows(day).items()
        ]
        days.append(stored_day(rows))
    return service_usual(days, SERVICE)


def test_latency_names_the_model_whose_tail_regressed_with_its_own_percentile() -> None:
    usual = _usual()
    assert usual.latency_days == 3
    day = compute_service_day(**_service_day(10, slow_model="a"), usual=usual)
    driver = day.latency_driver
    assert driver is not None and driver.driver.key == "model=a"
    assert driver.usual is not None and 110 < driver.usual < 125  # model a's p95 of 80..120 ms
    assert driver.value > 400
    (latency, errors) = service_checks(day.metrics, SERVICE, {"latency_slo": driver})
    assert not latency.passed and errors.passed
    assert latency.summary.endswith(
        f"; model a p95 {driver.value:.0f} ms (usually {driver.usual:.0f} ms)"
    )
    assert latency.metadata["driver"] == "model=a"
    assert day.error_driver is None  # the error rate is within its SLO
    assert "driver" not in errors.metadata


def test_errors_name_the_status_of_the_burst_with_its_usual_count() -> None:
    day = compute_service_day(**_service_day(11, burst="503"), usual=_usual())
    driver = day.error_driver
    assert driver is not None and driver.driver.key == "error_status=503"
    assert driver.usual == 0.0
    (_, errors) = service_checks(day.metrics, SERVICE, {"error_rate": driver})
    n503 = day.by_status["503"]
    assert errors.summary.endswith(f": 503 on {n503:,} of 4,000 requests (usually 0)")
    assert errors.metadata["driver_value"] == n503


def test_a_day_within_its_objectives_names_no_driver() -> None:
    day = compute_service_day(**_service_day(12), usual=_usual())
    assert day.latency_driver is None and day.error_driver is None


# -- a hostile driver value in the sent message ------------------------------------------------

HOSTILE = "<!channel> *urgent* _x_ `rm` <https://evil.example|click>\n> quoted\n" + "y" * 5000


def test_a_hostile_driver_value_is_neutralised_and_cut_in_the_first_message() -> None:
    history = {
        DAY - timedelta(days=1): day_split(
            _costs([("small", "billing", 1000), ("small", HOSTILE, 10)])
        )
    }
    today = _costs([("large", HOSTILE, 2000), ("small", "billing", 1000)])
    driver = cost_driver(day_split(today), history, budget_usd=2.0)
    assert driver is not None and driver.driver.dimension == "intent"
    outcome = budget_check(today, 2.0, driver)
    (finding,) = outcome.findings
    incident = Incident(
        id=1,
        fingerprint="bot/cost_budget",
        monitor="bot",
        check="cost_budget",
        subject="",
        status=IncidentStatus.OPEN,
        severity=Severity.WARN,
        first_partition=DAY.isoformat(),
        last_failing_partition=DAY.isoformat(),
        failing_partitions=1,
        resolved_partition=None,
        title=incident_title("bot", "cost_budget", ""),
        opened_at=datetime(2026, 5, 12, tzinfo=UTC),
        updated_at=datetime(2026, 5, 12, tzinfo=UTC),
        resolved_at=None,
        acknowledged_by=None,
        slack_channel="#x",
        slack_ts=None,
    )
    evaluation = Evaluation(
        "run",
        "bot",
        "bot/token_costs",
        "cost_budget",
        DAY.isoformat(),
        (finding,),
        datetime(2026, 5, 12, tzinfo=UTC),
    )
    message = build_message(AlertKind.OPEN, incident, evaluation, finding, Links("http://d", None))
    sent = json.dumps({k: message[k] for k in ("text", "blocks")}, ensure_ascii=False)
    assert "<!channel>" not in sent and "<https://evil" not in sent
    assert f"&lt;!channel{SOFT_HYPHEN}&gt;" in sent
    assert f"{SOFT_HYPHEN}*{SOFT_HYPHEN}urgent" in sent
    assert "\\n" not in message["blocks"][1]["text"]["text"]  # the value is one line
    assert "y" * SHOWN_CHARS not in sent  # the value is cut
    assert len(message["text"]) < 600
    assert all(
        len(b["text"]["text"]) <= 3000
        for b in message["blocks"]
        if b.get("type") == "section" and "text" in b
    )
