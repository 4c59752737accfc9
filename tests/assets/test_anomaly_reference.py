"""The reference's days seed ``<monitor>/anomalies``: stored by ``reference_profile`` (replaced
with each build, never duplicated), and a change on a monitor's first days is scored."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from monitoring_pipelines.core.store.results import ResultRepository
from tests.assets.conftest import (
    MonitoringFactory,
    check_evaluations,
    count_rows,
    materialization,
    write_table,
)

START = date(2026, 9, 7)  # a Monday
REFERENCE_START = date(2026, 5, 4)  # months before, also a Monday
REFERENCE_DAYS = 14
CHANGE = START + timedelta(days=2)  # prompt tokens x3 from the Wednesday on
ROWS = 200

CONFIG = f"""
version: 1
monitors:
  bot:
    start_date: {START.isoformat()}
    source: {{table: bot_requests, timestamp_column: ts, request_id_column: request_id}}
    reference: {{table: bot_reference}}
    features: {{numeric: [prompt_tokens]}}
    service:
      latency_column: latency_ms
      status_column: http_status
    llm:
      model_column: llm_model
      prompt_tokens_column: prompt_tokens
      completion_tokens_column: completion_tokens
      prices:
        - {{model: gpt-4o-mini, input_per_1k: 0.00015, output_per_1k: 0.0006}}
"""
METRICS = ("cost_per_request", "tokens_per_request", "latency_p95_ms", "error_rate")


def requests(rng: np.random.Generator, first: date, days: int, *, changed: bool) -> pd.DataFrame:
    frames = []
    for i in range(days):
        day = first + timedelta(days=i)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        factor = 3 if changed and day >= CHANGE else 1
        frames.append(
            pd.DataFrame(
                {
                    "ts": [
                        (start + timedelta(seconds=int(s))).isoformat()
                        for s in np.sort(rng.integers(0, 86_400, ROWS))
                    ],
                    "request_id": [f"{day:%m%d}-{j:05d}" for j in range(ROWS)],
                    "latency_ms": np.round(rng.gamma(16.0, 50.0, ROWS), 1),
                    "http_status": np.where(rng.random(ROWS) < 0.02, 503, 200),
                    "llm_model": "gpt-4o-mini",
                    "prompt_tokens": rng.integers(800, 1000, ROWS) * factor,
                    "completion_tokens": rng.integers(200, 300, ROWS),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def reference_table(seed: int) -> pd.DataFrame:
    frame = requests(np.random.default_rng(seed), REFERENCE_START, REFERENCE_DAYS, changed=False)
    return frame.drop(columns=["request_id"])


def stored_days(url: str) -> dict[tuple[str, str, str], tuple[float, str]]:
    """Every stored reference-day row: (metric, day, dimensions) -> (value, reference hash)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("select metric, day, dimensions, value, reference_hash from reference_days")
            ).all()
    finally:
        engine.dispose()
    return {(r.metric, r.day, r.dimensions): (r.value, r.reference_hash) for r in rows}


def own_values(
    stored: dict[tuple[str, str, str], tuple[float, str]],
) -> dict[tuple[str, str], float]:
    """The metrics' own values (not their breakdown parts) per (metric, day)."""
    return {(m, d): v for (m, d, dims), (v, _) in stored.items() if not dims}


def test_reference_days_are_stored_replaced_and_never_duplicated(
    make_monitoring: MonitoringFactory, store_url: str
) -> None:
    live = requests(np.random.default_rng(1), START, 4, changed=True)
    monitoring = make_monitoring(
        CONFIG, {"bot_requests": live, "bot_reference": reference_table(2)}, store_url=store_url
    )
    built = monitoring.reference("bot")
    meta = materialization(built, "bot/reference_profile")
    baseline = meta["anomaly_baseline_days"]
    assert {m: baseline[m] for m in METRICS} == dict.fromkeys(METRICS, REFERENCE_DAYS)
    first = stored_days(store_url)
    assert len(own_values(first)) == len(METRICS) * REFERENCE_DAYS
    assert {day for _, day in own_values(first)} == {
        (REFERENCE_START + timedelta(days=i)).isoformat() for i in range(REFERENCE_DAYS)
    }
    assert {h for _, h in first.values()} == {meta["reference_hash"]}

    monitoring.reference("bot")  # a rerun of the same reference
    assert stored_days(store_url) == first
    assert count_rows(store_url, "reference_days", monitor="bot") == len(first)

    # A changed reference (other values, and one day fewer) replaces every stored day.
    changed = reference_table(3)
    changed = changed[~changed["ts"].str.startswith(REFERENCE_START.isoformat())]
    write_table(monitoring.warehouse_url, "bot_reference", changed)
    rebuilt = materialization(monitoring.reference("bot"), "bot/reference_profile")
    second = stored_days(store_url)
    assert rebuilt["reference_hash"] != meta["reference_hash"]
    assert len(own_values(second)) == len(METRICS) * (REFERENCE_DAYS - 1)
    assert not any(day == REFERENCE_START.isoformat() for _, day, _ in second)
    assert {h for _, h in second.values()} == {rebuilt["reference_hash"]}
    day = (REFERENCE_START + timedelta(days=1)).isoformat()
    assert own_values(second)["latency_p95_ms", day] != own_values(first)["latency_p95_ms", day]
    assert count_rows(store_url, "reference_days", monitor="bot") == len(second)


def test_a_change_on_a_monitors_third_day_is_found_that_day(
    make_monitoring: MonitoringFactory, store_url: str
) -> None:
    live = requests(np.random.default_rng(1), START, 4, changed=True)
    monitoring = make_monitoring(
        CONFIG, {"bot_requests": live, "bot_reference": reference_table(2)}, store_url=store_url
    )
    monitoring.reference("bot")
    verdicts = {}
    for offset in range(4):
        day = START + timedelta(days=offset)
        anomaly = check_evaluations(monitoring.day("bot", day), "bot/anomalies")["anomaly"]
        verdicts[day] = {f["subject"]: f for f in anomaly.findings}
    for day, findings in verdicts.items():
        assert findings["tokens_per_request"]["passed"] == (day < CHANGE), (day, findings)
        for metric in ("latency_p95_ms", "error_rate"):
            assert findings[metric]["passed"], (day, findings[metric])
    summary = verdicts[CHANGE]["tokens_per_request"]["summary"]
    assert "median of 2 Wednesdays of the reference" in summary
    meta = materialization(monitoring.day("bot", CHANGE), "bot/anomalies")
    assert meta["tokens_per_request/reference_days"] == REFERENCE_DAYS
    assert "(14 of the reference), weekday" in meta["anomalies"]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_reference_without_timestamps_leaves_the_baseline_live_only(
    make_monitoring: MonitoringFactory, store_url: str
) -> None:
    live = requests(np.random.default_rng(1), START, 2, changed=False)
    reference = reference_table(2).drop(columns=["ts"])
    monitoring = make_monitoring(
        CONFIG, {"bot_requests": live, "bot_reference": reference}, store_url=store_url
    )
    monitoring.reference("bot")
    assert count_rows(store_url, "reference_days", monitor="bot") == 0
    meta = materialization(monitoring.day("bot", START), "bot/anomalies")
    assert meta["baseline_live_only"] == dict.fromkeys(
        METRICS, "the reference has no timestamp column"
    )
    store = ResultRepository.connect(store_url)
    try:
        records = store.load_reference_days("bot")
    finally:
        store.dispose()
    assert records is not None and records.values == {}


@pytest.mark.parametrize("backend", ["sqlite"])
def test_reference_days_of_an_earlier_reference_are_not_used(
    make_monitoring: MonitoringFactory, store_url: str
) -> None:
    live = requests(np.random.default_rng(1), START, 1, changed=False)
    monitoring = make_monitoring(
        CONFIG, {"bot_requests": live, "bot_reference": reference_table(2)}, store_url=store_url
    )
    monitoring.reference("bot")
    store = ResultRepository.connect(store_url)
    try:
        records = store.load_reference_days("bot")
        assert records is not None
        store.save_reference_days("bot", "an-earlier-hash", records.values, records.notes)
    finally:
        store.dispose()
    meta = materialization(monitoring.day("bot", START), "bot/anomalies")
    assert meta["tokens_per_request/reference_days"] == 0
    assert meta["baseline_live_only"]["tokens_per_request"] == (
        "the stored reference days are of an earlier reference"
    )
