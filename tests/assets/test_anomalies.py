"""``<monitor>/anomalies`` materialized day after day on a small SQLite warehouse.

The Definitions are the product's (``build_definitions``) with the anomalies asset added, so
the monitor's daily job picks it up through its asset group, as the factory will wire it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from assets.anomalies import make_anomalies
from monitoring_pipelines.partitions import daily_partitions
from tests.assets.conftest import (
    METADATA_REL,
    Monitoring,
    MonitoringFactory,
    check_evaluations,
    count_rows,
    materialization,
    stored_metrics,
)

START = date(2026, 9, 1)
DAYS = [START + timedelta(days=i) for i in range(10)]
EVENT_DAY = DAYS[-1]  # prompt tokens doubled, latency tripled
ROWS_PER_DAY = 300
MIN_BASELINE_DAYS = 5

BOT_CONFIG = f"""
version: 1
monitors:
  bot:
    start_date: {START.isoformat()}
    source: {{table: bot_requests, timestamp_column: ts, request_id_column: request_id}}
    service:
      latency_column: latency_ms
      status_column: http_status
      slo: {{latency_ms: 100000, error_rate: 0.5}}
    llm:
      model_column: llm_model
      prompt_tokens_column: prompt_tokens
      completion_tokens_column: completion_tokens
      prices:
        - {{model: gpt-4o-mini, input_per_1k: 0.00015, output_per_1k: 0.0006}}
    anomalies:
      metrics: [cost_per_request, tokens_per_request, latency_p95_ms, error_rate, requests]
      baseline_days: 7
      min_baseline_days: {MIN_BASELINE_DAYS}
"""

METRICS = ["cost_per_request", "tokens_per_request", "latency_p95_ms", "error_rate", "requests"]


def bot_day(rng: np.random.Generator, day: date, event: bool) -> pd.DataFrame:
    n = ROWS_PER_DAY
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    seconds = np.sort(rng.integers(0, 86_400, n))
    status = np.full(n, 200)
    status[rng.choice(n, 6, replace=False)] = 503
    return pd.DataFrame(
        {
            "ts": [(start + timedelta(seconds=int(s))).isoformat() for s in seconds],
            "request_id": [f"{day:%m%d}-{i:05d}" for i in range(n)],
            "latency_ms": np.round(rng.gamma(16.0, 50.0 * (3 if event else 1), n), 1),
            "http_status": status,
            "llm_model": "gpt-4o-mini",
            "prompt_tokens": rng.integers(800, 1000, n) * (2 if event else 1),
            "completion_tokens": rng.integers(200, 300, n),
        }
    )


@dataclass(frozen=True)
class BotRuns:
    monitoring: Monitoring
    frames: Mapping[date, pd.DataFrame]
    runs: Mapping[date, dg.ExecuteInProcessResult]


def with_anomalies(monitoring: Monitoring, name: str) -> Monitoring:
    """The installation with ``<name>/anomalies``, unless the factory already builds it."""
    if (
        dg.AssetKey([name, "anomalies"])
        in monitoring.defs.resolve_asset_graph().get_all_asset_keys()
    ):
        return monitoring
    monitor = monitoring.config.monitors[name]
    asset = make_anomalies(name, monitor, daily_partitions(monitor))
    return monitoring.with_definitions(dg.Definitions(assets=[asset]))


def build_bot(make_monitoring: MonitoringFactory, store_url: str | None = None) -> BotRuns:
    rng = np.random.default_rng(20260910)
    frames = {d: bot_day(rng, d, d == EVENT_DAY) for d in DAYS}
    tables = {"bot_requests": pd.concat(frames.values(), ignore_index=True)}
    monitoring = with_anomalies(make_monitoring(BOT_CONFIG, tables, store_url=store_url), "bot")
    return BotRuns(monitoring, frames, {})


@pytest.fixture(scope="module")
def bot(make_monitoring: MonitoringFactory) -> BotRuns:
    built = build_bot(make_monitoring)
    runs = {d: built.monitoring.day("bot", d) for d in DAYS}
    return dataclasses.replace(built, runs=runs)


def tokens_per_request(frame: pd.DataFrame) -> float:
    return float((frame["prompt_tokens"] + frame["completion_tokens"]).sum() / len(frame))


def test_the_daily_job_runs_anomalies_after_the_metrics(bot: BotRuns) -> None:
    assert dg.AssetKey(["bot", "anomalies"]) in bot.monitoring.daily_assets("bot")
    graph = bot.monitoring.defs.resolve_asset_graph()
    anomalies = dg.AssetKey(["bot", "anomalies"])
    for source in ("service_metrics", "token_costs"):
        key = dg.AssetKey(["bot", source])
        mapping = graph.get(anomalies).partition_mappings.get(key)
        if mapping is None:
            # the same day only, where the source follows its own previous day: the detector
            # still follows every earlier day of the source
            own = graph.get(key).partition_mappings[key]
            assert isinstance(own, dg.TimeWindowPartitionMapping) and own.end_offset == -1
            continue
        assert isinstance(mapping, dg.TimeWindowPartitionMapping)
        # twice its 7 baseline days: the earlier days are scored in turn (an ongoing change)
        assert (mapping.start_offset, mapping.end_offset) == (-14, 0)


def test_days_without_enough_baseline_are_not_evaluated(bot: BotRuns) -> None:
    for i, day in enumerate(DAYS[:MIN_BASELINE_DAYS]):
        check = check_evaluations(bot.runs[day], "bot/anomalies")["anomaly"]
        assert check.passed and check.partition == day.isoformat()
        assert [f["subject"] for f in check.findings] == METRICS
        assert all(f["passed"] and f["value"] is None for f in check.findings)
        assert f"{i} baseline days with a value, fewer than {MIN_BASELINE_DAYS}" in check.summary
        meta = materialization(bot.runs[day], "bot/anomalies")
        assert meta["tokens_per_request/baseline_days"] == i
        assert "tokens_per_request/z" not in meta


def test_normal_days_pass_with_every_metric_scored(bot: BotRuns) -> None:
    for day in DAYS[MIN_BASELINE_DAYS:-1]:
        check = check_evaluations(bot.runs[day], "bot/anomalies")["anomaly"]
        assert check.passed, check.summary
        assert check.summary.startswith("no anomaly in 5 metrics scored")
        assert all(f["value"] is not None for f in check.findings)


def test_the_event_day_fails_on_tokens_cost_and_latency(bot: BotRuns) -> None:
    check = check_evaluations(bot.runs[EVENT_DAY], "bot/anomalies")["anomaly"]
    assert not check.passed and check.severity is dg.AssetCheckSeverity.ERROR
    failing = {f["subject"] for f in check.findings if not f["passed"]}
    assert failing == {"tokens_per_request", "cost_per_request", "latency_p95_ms"}
    assert check.metadata["metrics_anomalous"] == 3


def test_metadata_is_computed_from_the_data_and_stored(bot: BotRuns) -> None:
    meta = materialization(bot.runs[EVENT_DAY], "bot/anomalies")
    value = tokens_per_request(bot.frames[EVENT_DAY])
    assert meta["tokens_per_request/value"] == pytest.approx(value, rel=METADATA_REL)
    # seven baseline days hold one day of the event day's weekday: it is the expected value
    last_week = tokens_per_request(bot.frames[EVENT_DAY - timedelta(days=7)])
    assert meta["tokens_per_request/median"] == pytest.approx(last_week, rel=METADATA_REL)
    assert meta["tokens_per_request/baseline_days"] == 7
    assert meta["tokens_per_request/relative_change"] == pytest.approx(
        value / last_week - 1, rel=1e-4
    )
    assert meta["metrics_anomalous"] == 3
    assert "| tokens_per_request | critical |" in meta["anomalies"]
    assert "| 7 days, weekday |" in meta["anomalies"]
    assert meta["baseline_live_only"] == dict.fromkeys(METRICS, "no reference")
    assert meta["tokens_per_request/reference_days"] == 0
    stored = stored_metrics(bot.monitoring.store_url, "bot", "anomalies", EVENT_DAY.isoformat())
    for metric in METRICS:
        for stat in ("value", "median", "mad", "z", "relative_change", "baseline_days"):
            value_stored = stored[f'{stat}{{"metric":"{metric}"}}']
            assert value_stored is not None, (metric, stat)
            assert meta[f"{metric}/{stat}"] == pytest.approx(value_stored, rel=METADATA_REL)
    z, median, mad = (
        stored[f'{s}{{"metric":"tokens_per_request"}}'] for s in ("z", "median", "mad")
    )
    assert z is not None and median is not None and mad is not None
    assert z == pytest.approx((value - median) / (1.4826 * mad))


def test_rerunning_a_day_replaces_its_rows(
    make_monitoring: MonitoringFactory, store_url: str
) -> None:
    built = build_bot(make_monitoring, store_url)
    for day in DAYS[: MIN_BASELINE_DAYS + 1]:
        built.monitoring.day("bot", day)
    scored = DAYS[MIN_BASELINE_DAYS]
    partition = scored.isoformat()
    first = stored_metrics(store_url, "bot", "anomalies", partition)
    rows = count_rows(
        store_url, "metrics", monitor="bot", asset="anomalies", partition_key=partition
    )
    assert rows == len(first) == 8 * len(METRICS)  # MetricAnomaly.numbers(): 8 per metric
    assert first['baseline_days{"metric":"requests"}'] == MIN_BASELINE_DAYS
    assert first['z{"metric":"requests"}'] is not None
    assert built.monitoring.day("bot", scored).success
    assert stored_metrics(store_url, "bot", "anomalies", partition) == first
    assert (
        count_rows(store_url, "metrics", monitor="bot", asset="anomalies", partition_key=partition)
        == rows
    )
