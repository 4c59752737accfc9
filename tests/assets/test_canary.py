"""The canary_comparison asset and its ``canary`` check on a small SQLite warehouse.

One installation (``ranker``) runs three days in order: v0 alone (no canary), v0 with a slower
v1 on a fifth of the traffic (roll back), and v1 with v0 and a new v2 (the candidate is v2,
newer in the stored history than v0 although v0 served more). Until the factory wires the
asset, the tests add it to the Definitions themselves, as the factory will (``make_canary``
per monitor with ``canary``). Runs materialize ``live_slice`` and ``canary_comparison`` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from assets.canary_comparison import make_canary
from monitoring_pipelines.jobs import asset_job
from monitoring_pipelines.partitions import daily_partitions
from tests.assets.conftest import (
    QUIET,
    Monitoring,
    MonitoringFactory,
    check_evaluations,
    count_rows,
    materialization,
    stored_metrics,
)

CONFIG = """
version: 1
monitors:
  ranker:
    start_date: 2026-09-01
    source: {table: ranker_requests, timestamp_column: ts, request_id_column: request_id}
    reference: {table: ranker_training}
    features: {numeric: [amount]}
    prediction: {column: decision, type: label}
    service: {latency_column: latency_ms, status_column: status, error_statuses: [error]}
    llm:
      model_column: llm_model
      prompt_tokens_column: prompt_tokens
      completion_tokens_column: completion_tokens
      prices: [{model: small, input_per_1k: 0.001, output_per_1k: 0.002}]
    canary: {version_column: model_version, min_rows: 100}
"""

ALONE, CANARY, THREE = date(2026, 9, 1), date(2026, 9, 2), date(2026, 9, 3)
TRAFFIC = {
    ALONE: {"v0": 600},
    CANARY: {"v0": 500, "v1": 150},
    THREE: {"v1": 500, "v0": 150, "v2": 120},
}
SLOWER = {(CANARY, "v1"): 3.0}  # v1 is three times slower on its canary day
ASSET = "ranker/canary_comparison"
SLICE = dg.AssetKey(["ranker", "live_slice"])
KEY = dg.AssetKey(["ranker", "canary_comparison"])
PAIR = '{"baseline":"v0","candidate":"v1"}'


def log_day(rng: np.random.Generator, day: date) -> pd.DataFrame:
    parts = []
    for version, n in TRAFFIC[day].items():
        parts.append(
            pd.DataFrame(
                {
                    "model_version": version,
                    "amount": rng.uniform(5.0, 500.0, n).round(2),
                    "decision": rng.choice(["approve", "review", "reject"], n, p=[0.6, 0.3, 0.1]),
                    "latency_ms": np.round(
                        rng.gamma(4.0, 20.0, n) * SLOWER.get((day, version), 1.0), 1
                    ),
                    "status": np.where(rng.random(n) < 0.01, "error", "ok"),
                    "llm_model": "small",
                    "prompt_tokens": rng.integers(200, 800, n),
                    "completion_tokens": rng.integers(20, 200, n),
                }
            )
        )
    frame = pd.concat(parts).sample(frac=1.0, random_state=1).reset_index(drop=True)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    seconds = np.sort(rng.integers(0, 86_400, len(frame)))
    frame.insert(0, "ts", [(start + timedelta(seconds=int(s))).isoformat() for s in seconds])
    frame.insert(1, "request_id", [f"{day:%d}-{i:04d}" for i in range(len(frame))])
    return frame


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(20260902)
    log = pd.concat([log_day(rng, d) for d in TRAFFIC], ignore_index=True)
    training = pd.DataFrame(
        {
            "amount": rng.uniform(5.0, 500.0, 500),
            "decision": rng.choice(["approve", "review", "reject"], 500),
        }
    )
    return {"ranker_requests": log, "ranker_training": training}


def with_canary(monitoring: Monitoring) -> Monitoring:
    """The installation with ``<monitor>/canary_comparison`` added to every monitor with
    ``canary``, unless the factory already builds it."""
    known = monitoring.defs.resolve_asset_graph().get_all_asset_keys()
    extra = [
        make_canary(name, monitor, daily_partitions(monitor))
        for name, monitor in monitoring.config.monitors.items()
        if monitor.canary is not None and dg.AssetKey([name, "canary_comparison"]) not in known
    ]
    return monitoring.with_definitions(dg.Definitions(assets=extra))


def run(monitoring: Monitoring, day: date) -> dg.ExecuteInProcessResult:
    return asset_job(monitoring.defs, [SLICE, KEY]).execute_in_process(
        instance=monitoring.instance,
        partition_key=day.isoformat(),
        asset_selection=[SLICE, KEY],
        run_config=QUIET,
    )


@dataclass(frozen=True)
class Scenario:
    monitoring: Monitoring
    tables: Mapping[str, pd.DataFrame]
    days: Mapping[date, dg.ExecuteInProcessResult]


@pytest.fixture(scope="module")
def scenario(make_monitoring: MonitoringFactory, tables: dict[str, pd.DataFrame]) -> Scenario:
    monitoring = with_canary(make_monitoring(CONFIG, tables))
    return Scenario(monitoring, tables, {d: run(monitoring, d) for d in TRAFFIC})


def day_frame(scenario: Scenario, day: date) -> pd.DataFrame:
    log = scenario.tables["ranker_requests"]
    return log[log["ts"].str.startswith(day.isoformat())]


def test_a_day_served_by_one_version_has_no_canary_and_passes(scenario: Scenario) -> None:
    check = check_evaluations(scenario.days[ALONE], ASSET)["canary"]
    assert check.passed and check.partition == ALONE.isoformat()
    assert check.summary == "no canary today: only v0 served (600 rows)"
    metadata = materialization(scenario.days[ALONE], ASSET)
    assert metadata["verdict"] == "no canary" and "verdict_code" not in metadata
    stored = stored_metrics(
        scenario.monitoring.store_url, "ranker", "canary_comparison", "2026-09-01"
    )
    assert stored == {"versions_serving": 1.0, 'version_rows{"version":"v0"}': 600.0}


def test_a_slower_canary_is_rolled_back_by_a_critical_failure(scenario: Scenario) -> None:
    check = check_evaluations(scenario.days[CANARY], ASSET)["canary"]
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.ERROR
    assert check.summary.startswith("roll back v1 (vs v0): p95 latency ")
    [finding] = check.findings
    assert (finding["subject"], finding["threshold"]) == ("", 20.0)
    metadata = materialization(scenario.days[CANARY], ASSET)
    assert (metadata["verdict"], metadata["verdict_code"]) == ("roll back", 2)
    assert (metadata["baseline_version"], metadata["candidate_version"]) == ("v0", "v1")
    assert metadata["p95_increase_ci_low_ms"] > 20.0


def test_stored_numbers_are_the_days_exact_values(scenario: Scenario) -> None:
    frame = day_frame(scenario, CANARY)
    stored = stored_metrics(
        scenario.monitoring.store_url, "ranker", "canary_comparison", "2026-09-02"
    )
    by = {v: frame[frame["model_version"] == v] for v in ("v0", "v1")}
    p95 = {v: np.percentile(f["latency_ms"], 95) for v, f in by.items()}
    errors = {v: (f["status"] == "error").mean() for v, f in by.items()}
    cost = {
        v: (f["prompt_tokens"] * 0.001 + f["completion_tokens"] * 0.002).mean() / 1000
        for v, f in by.items()
    }
    expected = {
        "p95_baseline_ms": p95["v0"],
        "p95_candidate_ms": p95["v1"],
        "p95_increase_ms": p95["v1"] - p95["v0"],
        "error_rate_baseline": errors["v0"],
        "error_rate_candidate": errors["v1"],
        "cost_per_request_baseline_usd": cost["v0"],
        "cost_per_request_candidate_usd": cost["v1"],
        "baseline_rows": 500.0,
        "candidate_rows": 150.0,
        "verdict_code": 2.0,
    }
    for name, value in expected.items():
        assert stored[name + PAIR] == pytest.approx(value), name
    assert stored['version_rows{"version":"v1"}'] == 150.0
    low, point = stored[f"p95_increase_ci_low_ms{PAIR}"], stored[f"p95_increase_ms{PAIR}"]
    assert low is not None and point is not None and 20.0 < low < point


def test_the_candidate_is_the_newest_version_in_the_history(scenario: Scenario) -> None:
    metadata = materialization(scenario.days[THREE], ASSET)
    assert (metadata["baseline_version"], metadata["candidate_version"]) == ("v1", "v2")
    assert metadata["selection"] == "baseline by rows, candidate newest in history"
    # 120 rows of v2 cannot bound its error rate within half a point of v1's: hold, passing.
    check = check_evaluations(scenario.days[THREE], ASSET)["canary"]
    assert check.passed and (metadata["verdict"], metadata["verdict_code"]) == ("hold", 1)
    assert check.summary.startswith("hold v2 (vs v1): ") and "error rate" in check.summary


def test_a_rerun_replaces_the_partitions_rows(scenario: Scenario) -> None:
    url = scenario.monitoring.store_url
    where = {"monitor": "ranker", "asset": "canary_comparison", "partition_key": "2026-09-02"}
    before = count_rows(url, "metrics", **where)
    again = run(scenario.monitoring, CANARY)
    assert count_rows(url, "metrics", **where) == before
    # The seed comes from the day: the same interval again.
    first = materialization(scenario.days[CANARY], ASSET)
    assert (
        materialization(again, ASSET)["p95_increase_ci_low_ms"] == first["p95_increase_ci_low_ms"]
    )


@pytest.mark.postgres
def test_history_and_results_on_a_postgresql_store(
    make_monitoring: MonitoringFactory,
    tables: dict[str, pd.DataFrame],
    postgres_url: str,
    postgres_schema: str,
) -> None:
    store_url = f"{postgres_url}?options=-csearch_path%3D{postgres_schema}"
    monitoring = with_canary(make_monitoring(CONFIG, tables, store_url=store_url))
    days = {d: run(monitoring, d) for d in TRAFFIC}
    assert not check_evaluations(days[CANARY], ASSET)["canary"].passed
    assert materialization(days[THREE], ASSET)["candidate_version"] == "v2"
    stored = stored_metrics(store_url, "ranker", "canary_comparison", "2026-09-02")
    assert stored[f"verdict_code{PAIR}"] == 2.0
