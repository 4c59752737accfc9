"""``service_metrics`` per dimension value and hour, and ``slo_budget`` over the stored days.

One service-only installation (``ops``) runs eight days in order: six ordinary days, a 503
burst, and a dirty day (odd model versions, a text status column with unknown values, negative
and missing latencies). Until the factory wires ``slo_budget``, the tests add it to the
Definitions themselves, as the factory will (``make_slo_budget`` per monitor with an objective).
Expectations are computed here from the rows written to the warehouse.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from assets.slo_budget import has_slo_budget, make_slo_budget
from monitoring_pipelines.core.checks import findings_from
from monitoring_pipelines.partitions import daily_partitions
from monitoring_pipelines.sensors.alerting_pass import evaluations_of
from tests.assets.conftest import (
    METADATA_REL,
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
  ops:
    start_date: 2026-09-01
    source: {table: ops_requests, timestamp_column: ts, request_id_column: request_id}
    service:
      latency_column: latency_ms
      status_column: http_status
      endpoint_column: endpoint
      dimensions: [model_version, endpoint]
      slo:
        latency_ms: 250
        latency_percentile: 95
        error_rate: 0.02
        window_days: 5
        fast_burn: {days: 1, threshold: 5}
        slow_burn: {days: 3, threshold: 2}
"""

START = date(2026, 9, 1)
DAYS = [START + timedelta(days=i) for i in range(8)]
BURST, DIRTY = DAYS[6], DAYS[7]
ROWS = 200
ERRORS = 2  # 1 % a day: half the 2 % allowed
BURST_ERRORS = 30  # 15 %: burns 7.5x
ODD_VERSIONS = ["v\"2'", "modèle-ü-版", "x" * 300]
UNKNOWN_STATUSES = 7
NEGATIVE_LATENCIES = 3
MISSING_LATENCIES = 4

SLICE = dg.AssetKey(["ops", "live_slice"])
SERVICE = dg.AssetKey(["ops", "service_metrics"])
BUDGET = dg.AssetKey(["ops", "slo_budget"])


def ops_day(rng: np.random.Generator, day: date, errors: int) -> pd.DataFrame:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    seconds = np.sort(rng.integers(0, 86_400, ROWS))
    status = np.full(ROWS, 200, dtype=object)
    status[rng.choice(ROWS, errors, replace=False)] = 503
    return pd.DataFrame(
        {
            "ts": [(start + timedelta(seconds=int(s))).isoformat() for s in seconds],
            "request_id": [f"{day:%m%d}-{i:04d}" for i in range(ROWS)],
            "latency_ms": rng.gamma(4.0, 30.0, ROWS).round(1),
            "http_status": status,
            "model_version": rng.choice(["v1", "v2"], ROWS).astype(object),
            "endpoint": rng.choice(["/predict", "/explain"], ROWS).astype(object),
        }
    )


def dirty_day(rng: np.random.Generator) -> pd.DataFrame:
    frame = ops_day(rng, DIRTY, ERRORS)
    frame.loc[: len(ODD_VERSIONS) * 5 - 1, "model_version"] = np.repeat(ODD_VERSIONS, 5)
    frame.loc[20 : 20 + UNKNOWN_STATUSES - 1, "http_status"] = "OK"
    frame.loc[30, "http_status"] = "503"  # text beside integers: the same status
    frame.loc[40 : 40 + NEGATIVE_LATENCIES - 1, "latency_ms"] = -12.5
    frame.loc[50 : 50 + MISSING_LATENCIES - 1, "latency_ms"] = np.nan
    return frame


@pytest.fixture(scope="module")
def log() -> dict[date, pd.DataFrame]:
    rng = np.random.default_rng(20260901)
    days = {d: ops_day(rng, d, BURST_ERRORS if d == BURST else ERRORS) for d in DAYS[:-1]}
    days[DIRTY] = dirty_day(rng)
    return days


def tables(log: Mapping[date, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {"ops_requests": pd.concat(log.values(), ignore_index=True)}


TYPES = {"ops_requests": {"http_status": sa.Text()}}


def with_slo_budget(monitoring: Monitoring) -> Monitoring:
    """The installation with ``<monitor>/slo_budget`` added, unless the factory builds it."""
    known = monitoring.defs.resolve_asset_graph().get_all_asset_keys()
    extra = [
        make_slo_budget(name, monitor, daily_partitions(monitor))
        for name, monitor in monitoring.config.monitors.items()
        if has_slo_budget(monitor) and dg.AssetKey([name, "slo_budget"]) not in known
    ]
    return monitoring.with_definitions(dg.Definitions(assets=extra))


@dataclass(frozen=True)
class Scenario:
    monitoring: Monitoring
    log: Mapping[date, pd.DataFrame]
    days: Mapping[date, dg.ExecuteInProcessResult]


@pytest.fixture(scope="module")
def scenario(make_monitoring: MonitoringFactory, log: dict[date, pd.DataFrame]) -> Scenario:
    monitoring = with_slo_budget(make_monitoring(CONFIG, tables(log), TYPES))
    assert BUDGET in monitoring.daily_assets("ops")
    return Scenario(monitoring, log, {d: monitoring.day("ops", d) for d in DAYS})


def bad_counts(frame: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """(events, bad) per objective, from the warehouse rows."""
    latency = pd.to_numeric(frame["latency_ms"])
    usable = latency[latency >= 0]
    codes = pd.to_numeric(frame["http_status"], errors="coerce")
    known = codes.between(100, 599)
    return {
        "latency": (len(usable), int((usable > 250).sum())),
        "errors": (int(known.sum()), int((codes[known] >= 500).sum())),
    }


def window(scenario: Scenario, end: date, days: int, sli: str) -> tuple[int, int]:
    counts = [bad_counts(scenario.log[end - timedelta(days=i)])[sli] for i in range(days)]
    return sum(c[0] for c in counts), sum(c[1] for c in counts)


def test_percentiles_per_dimension_value_are_exact(scenario: Scenario) -> None:
    day = DAYS[2]
    meta = materialization(scenario.days[day], "ops/service_metrics")
    frame = scenario.log[day]
    stored = stored_metrics(scenario.monitoring.store_url, "ops", "service_metrics", str(day))
    for column in ("model_version", "endpoint"):
        for value, rows in frame.groupby(column):
            p95 = np.percentile(rows["latency_ms"], 95)
            dims = json.dumps({column: value}, separators=(",", ":"))
            assert stored[f"p95_ms{dims}"] == pytest.approx(p95, rel=1e-12)
            assert stored[f"requests{dims}"] == len(rows)
            assert meta[f"p95_ms@{column}={value}"] == pytest.approx(p95, rel=METADATA_REL)
            assert meta[f"error_rate@{column}={value}"] == pytest.approx(
                (rows["http_status"] == 503).mean(), rel=METADATA_REL
            )
    assert meta["p95_ms"] == pytest.approx(np.percentile(frame["latency_ms"], 95), METADATA_REL)
    assert meta["dimension_values/model_version"] == 2
    assert meta["dimension_folded_rows/endpoint"] == 0


def test_hourly_breakdown_is_in_metadata_and_stored(scenario: Scenario) -> None:
    day = DAYS[1]
    hourly = materialization(scenario.days[day], "ops/service_metrics")["hourly"]
    frame = scenario.log[day]
    hours = pd.to_datetime(frame["ts"]).dt.hour
    assert [h["hour"] for h in hourly] == [f"{h:02d}" for h in range(24)]
    assert [h["requests"] for h in hourly] == [int((hours == h).sum()) for h in range(24)]
    busiest = int(hours.value_counts().idxmax())
    expected = np.percentile(frame["latency_ms"][hours == busiest], 95)
    assert hourly[busiest]["p95_ms"] == pytest.approx(expected, rel=1e-12)
    stored = stored_metrics(scenario.monitoring.store_url, "ops", "service_metrics", str(day))
    assert stored[f'p95_ms{{"hour":"{busiest:02d}"}}'] == pytest.approx(expected, rel=1e-12)


def test_daily_slo_counts_are_stored(scenario: Scenario) -> None:
    for day in (DAYS[0], BURST, DIRTY):
        stored = stored_metrics(scenario.monitoring.store_url, "ops", "service_metrics", str(day))
        counts = bad_counts(scenario.log[day])
        for sli, (events, bad) in counts.items():
            assert stored[f'slo_events{{"sli":"{sli}"}}'] == events
            assert stored[f'slo_bad{{"sli":"{sli}"}}'] == bad
    assert bad_counts(scenario.log[BURST])["errors"] == (ROWS, BURST_ERRORS)


def test_budget_is_not_evaluated_until_its_window_has_every_day(scenario: Scenario) -> None:
    first = materialization(scenario.days[DAYS[0]], "ops/slo_budget")
    assert "budget_remaining/errors" not in first
    assert first["days_with_counts/errors"] == 1
    check = check_evaluations(scenario.days[DAYS[1]], "ops/slo_budget")["error_budget"]
    assert check.passed
    slow = {f["subject"]: f for f in check.findings}["errors:slow"]
    assert slow["value"] is None
    # the day before the monitor's first day is not missing: it was never expected
    assert (
        "not evaluated: the 3-day window to 2026-09-02 starts before the monitor's first day "
        "2026-09-01 (2 days of history so far)"
    ) in slow["summary"]


def test_remaining_budget_sums_the_stored_days(scenario: Scenario) -> None:
    day = DAYS[5]  # the window 2026-09-02..06 is complete; the burst comes next
    meta = materialization(scenario.days[day], "ops/slo_budget")
    for sli, allowed in (("errors", 0.02), ("latency", 0.05)):
        events, bad = window(scenario, day, 5, sli)
        assert meta[f"events/{sli}"] == events
        assert meta[f"bad/{sli}"] == bad
        assert meta[f"budget_remaining/{sli}"] == pytest.approx(
            1 - bad / (allowed * events), rel=METADATA_REL
        )
    assert meta["budget_remaining/errors"] == pytest.approx(0.5)  # 1 % of 2 % allowed
    check = check_evaluations(scenario.days[day], "ops/slo_budget")["error_budget"]
    assert check.passed
    assert {f["subject"] for f in check.findings} == {
        "latency:fast",
        "latency:slow",
        "errors:fast",
        "errors:slow",
    }


def test_a_burst_fails_the_fast_burn_critically_once_the_budget_is_spent(
    scenario: Scenario,
) -> None:
    result = scenario.days[BURST]
    check = check_evaluations(result, "ops/slo_budget")["error_budget"]
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.ERROR
    found = {f["subject"]: f for f in check.findings}
    assert found["errors:fast"]["value"] == pytest.approx(7.5)  # 15 % against 2 %
    assert found["errors:fast"]["severity"] == "critical"
    events, bad = window(scenario, BURST, 5, "errors")
    remaining = 1 - bad / (0.02 * events)
    assert remaining < 0  # 38 bad against 20 allowed
    assert f"{remaining:.0%} of the 5-day errors budget left" in found["errors:fast"]["summary"]
    assert not found["errors:slow"]["passed"] and found["errors:slow"]["severity"] == "warn"
    assert found["latency:fast"]["passed"]
    # the daily check pages for the same day: both are recorded
    daily = check_evaluations(result, "ops/service_metrics")["error_rate"]
    assert not daily.passed
    stored = stored_metrics(scenario.monitoring.store_url, "ops", "slo_budget", str(BURST))
    assert stored['budget_remaining{"sli":"errors"}'] == pytest.approx(remaining, rel=1e-12)
    assert stored['burn_rate_fast{"sli":"errors"}'] == pytest.approx(7.5)


def test_alerting_reads_the_burn_findings_back(scenario: Scenario) -> None:
    result = scenario.days[BURST]
    check = check_evaluations(result, "ops/slo_budget")["error_budget"]
    evaluations = evaluations_of(scenario.monitoring.instance, result.dagster_run, {"ops"})
    budget = next(e for e in evaluations if e.check == "error_budget")
    assert budget.asset == "ops/slo_budget"
    assert budget.partition == BURST.isoformat()
    assert budget.findings == findings_from(check.findings)


def test_dirty_day_counts_bad_input_and_keeps_odd_versions_verbatim(scenario: Scenario) -> None:
    result = scenario.days[DIRTY]
    meta = materialization(result, "ops/service_metrics")
    assert meta["status_unknown"] == UNKNOWN_STATUSES
    assert meta["status_unknown_examples"] == ["'OK'"]
    assert meta["latency_negative"] == NEGATIVE_LATENCIES
    assert meta["latency_missing"] == MISSING_LATENCIES
    assert meta["errors"] == ERRORS + 1  # the text '503' counts
    assert meta["error_rate"] == pytest.approx(
        (ERRORS + 1) / (ROWS - UNKNOWN_STATUSES), rel=METADATA_REL
    )
    checks = check_evaluations(result, "ops/service_metrics")
    assert "left out: 7 unknown" in checks["error_rate"].summary
    assert "left out: 4 missing, 3 negative" in checks["latency_slo"].summary
    by_value = {(r["column"], r["value"]): r for r in meta["by_dimension"]}
    assert ("model_version", ODD_VERSIONS[0]) in by_value
    assert ("model_version", ODD_VERSIONS[1]) in by_value
    assert by_value[("model_version", ODD_VERSIONS[0])]["requests"] == 5
    assert meta["dimension_values_renamed"] == 3
    assert meta["dimension_values_shortened"] == 1
    stored = stored_metrics(scenario.monitoring.store_url, "ops", "service_metrics", str(DIRTY))
    versions = {
        json.loads(key[len("requests") :])["model_version"]
        for key in stored
        if key.startswith('requests{"model_version"')
    }
    assert set(ODD_VERSIONS[:2]) | {"v1", "v2"} <= versions
    assert any(v.startswith("x" * 100) and "…#" in v for v in versions)


def test_reruns_replace_a_partition_on_each_backend(
    make_monitoring: MonitoringFactory, log: dict[date, pd.DataFrame], store_url: str
) -> None:
    """Idempotent reruns, on SQLite and PostgreSQL: the stored rows (odd versions included,
    whose dimensions must fit PostgreSQL's 255 characters) are the same after a rerun."""
    subset = {d: log[d] for d in (DAYS[5], DIRTY)}
    monitoring = with_slo_budget(make_monitoring(CONFIG, tables(subset), TYPES, store_url))
    for day in (DAYS[5], DIRTY):
        monitoring.day("ops", day)
    first = {
        asset: stored_metrics(monitoring.store_url, "ops", asset, str(DIRTY))
        for asset in ("service_metrics", "slo_budget")
    }
    rows = count_rows(monitoring.store_url, "metrics", monitor="ops")
    monitoring.day("ops", DIRTY)
    again = {
        asset: stored_metrics(monitoring.store_url, "ops", asset, str(DIRTY))
        for asset in ("service_metrics", "slo_budget")
    }
    assert again == first
    assert count_rows(monitoring.store_url, "metrics", monitor="ops") == rows
    # DIRTY's 5-day window holds two stored days: the budget is not evaluated yet
    assert first["slo_budget"]['days_with_counts{"sli":"errors"}'] == 2
    assert first["slo_budget"]['budget_remaining{"sli":"errors"}'] is None
    assert first["service_metrics"]['slo_bad{"sli":"errors"}'] == ERRORS + 1
