"""Bad input is counted and shown, never silently dropped, never fatal to other days or monitors.

One installation holds three monitors over one SQLite warehouse: ``lab`` (its log has a clean
day, a day without traffic, a dirty day and a day of three rows; its reference has a constant
column), ``ghost`` (its table does not exist) and ``partial`` (it names a column the table
lacks). The runs happen once per module, broken monitors first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from assets.feature_drift import PLOT_PREFIX
from monitoring_pipelines.cli import main
from monitoring_pipelines.sensors.alerting_pass import evaluations_of
from tests.assets.conftest import (
    METADATA_REL,
    Monitoring,
    MonitoringFactory,
    check_evaluations,
    failure_description,
    materialization,
    table_rows,
)

LAB_CONFIG = """
version: 1
monitors:
  lab:
    start_date: 2026-09-01
    source: {table: lab_requests, timestamp_column: ts, request_id_column: request_id}
    reference: {table: lab_training}
    features:
      numeric: [amount, flat]
      categorical: [channel]
    prediction: {column: decision, type: label}
    service:
      latency_column: latency_ms
      status_column: http_status
      slo: {latency_ms: 250, error_rate: 0.05}
    llm:
      model_column: llm_model
      prompt_tokens_column: prompt_tokens
      completion_tokens_column: completion_tokens
      prices: [{model: small, input_per_1k: 0.001, output_per_1k: 0.002}]
      daily_budget_usd: 1.0
  ghost:
    start_date: 2026-09-01
    source: {table: ghost_requests, timestamp_column: ts}
    service: {latency_column: latency_ms}
  partial:
    start_date: 2026-09-01
    source: {table: lab_requests, timestamp_column: ts}
    service: {latency_column: duration_ms, status_column: http_status}
"""

CLEAN, EMPTY, DIRTY, TINY = (date(2026, 9, d) for d in (1, 2, 3, 4))
ROWS = 300
DUPLICATES = 6
BAD_TIMESTAMPS = ["2026-09-03 25:61:00", "2026-09-03Tnoon"]


def lab_day(rng: np.random.Generator, day: date, n: int) -> pd.DataFrame:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    seconds = np.sort(rng.integers(0, 86_400, n))
    return pd.DataFrame(
        {
            "ts": [(start + timedelta(seconds=int(s))).isoformat() for s in seconds],
            "request_id": [f"{day:%d}-{i:04d}" for i in range(n)],
            # object dtype: the dirty day puts text into this REAL column
            "amount": rng.normal(50, 10, n).round(2).astype(object),
            "flat": np.ones(n),
            "channel": rng.choice(["web", "app"], n),
            "decision": rng.choice(["yes", "no"], n),
            "latency_ms": rng.gamma(4.0, 30.0, n).round(1),
            "http_status": np.full(n, 200),
            "llm_model": "small",
            "prompt_tokens": rng.integers(10, 100, n),
            "completion_tokens": rng.integers(10, 100, n),
        }
    )


def dirty_day(rng: np.random.Generator) -> pd.DataFrame:
    """300 requests with bad values, two unparseable timestamps, and six repeated requests."""
    frame = lab_day(rng, DIRTY, ROWS)
    frame.loc[0, "amount"] = "abc"  # text in a numeric column
    frame.loc[1, "amount"] = None
    frame.loc[2, "amount"] = float("nan")  # SQLite stores NaN as NULL
    frame.loc[3, "amount"] = float("inf")
    frame.loc[4, "latency_ms"] = float("nan")
    frame.loc[5, "latency_ms"] = float("-inf")
    frame.loc[6, "ts"] = BAD_TIMESTAMPS[0]
    frame.loc[7, "ts"] = BAD_TIMESTAMPS[1]
    repeats = frame.iloc[10 : 10 + DUPLICATES].copy()
    return pd.concat([frame, repeats], ignore_index=True)


@dataclass(frozen=True)
class LabRuns:
    monitoring: Monitoring
    dirty: pd.DataFrame
    tiny: pd.DataFrame
    ghost: dg.ExecuteInProcessResult
    partial: dg.ExecuteInProcessResult
    reference: dg.ExecuteInProcessResult
    days: dict[date, dg.ExecuteInProcessResult]


@pytest.fixture(scope="module")
def lab(make_monitoring: MonitoringFactory) -> LabRuns:
    rng = np.random.default_rng(7)
    dirty = dirty_day(rng)
    tiny = lab_day(rng, TINY, 3)
    log = pd.concat([lab_day(rng, CLEAN, ROWS), dirty, tiny], ignore_index=True)
    reference = pd.DataFrame(
        {
            "amount": rng.normal(50, 10, 2000),
            "flat": np.ones(2000),  # constant in the reference
            "channel": rng.choice(["web", "app"], 2000),
            "decision": rng.choice(["yes", "no"], 2000),
        }
    )
    monitoring = make_monitoring(
        LAB_CONFIG,
        {"lab_requests": log, "lab_training": reference},
        types={"lab_requests": {"amount": sa.Float()}},
    )
    ghost = monitoring.day("ghost", CLEAN, raise_on_error=False)
    partial = monitoring.day("partial", CLEAN, raise_on_error=False)
    built = monitoring.reference("lab")
    days = {d: monitoring.day("lab", d) for d in (CLEAN, EMPTY, DIRTY, TINY)}
    return LabRuns(monitoring, dirty, tiny, ghost, partial, built, days)


def step_outcomes(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """How each step that started ended."""
    ends = {"STEP_SUCCESS", "STEP_FAILURE"}
    return {
        e.step_key: e.event_type_value
        for e in result.all_events
        if e.step_key and e.event_type_value in ends
    }


# -- a broken monitor fails clearly and alone -------------------------------------------------


def test_missing_table_fails_naming_monitor_day_and_table(lab: LabRuns) -> None:
    assert not lab.ghost.success
    message = failure_description(lab.ghost)
    assert message.startswith("monitor 'ghost', 2026-09-01: table 'ghost_requests' does not exist")
    assert "lab_requests" in message  # it lists the tables that do exist
    # the slice failed; its downstream service metrics did not run on missing data (the
    # monitor's daily assets are one step, which fails)
    assert step_outcomes(lab.ghost) == {"ghost__daily": "STEP_FAILURE"}
    assert lab.ghost.get_asset_materialization_events() == []
    # the alerting path sees the failure as a critical finding with the same message
    evaluations = evaluations_of(lab.monitoring.instance, lab.ghost.dagster_run, {"ghost"})
    failed = [e for e in evaluations if e.check == "run_failure"]
    assert [(e.asset, e.partition) for e in failed] == [("ghost/live_slice", "2026-09-01")]
    assert not failed[0].findings[0].passed
    assert "ghost_requests" in failed[0].findings[0].summary


def test_missing_column_fails_naming_monitor_day_and_column(lab: LabRuns) -> None:
    assert not lab.partial.success
    message = failure_description(lab.partial)
    assert message.startswith("monitor 'partial', 2026-09-01: ")
    assert "table 'lab_requests' has no column 'duration_ms'" in message
    assert "http_status" not in message  # only the missing column is named


def test_other_monitors_and_days_still_materialize(lab: LabRuns) -> None:
    # ghost and partial ran first, in the same Definitions and instance
    assert lab.reference.success
    assert all(result.success for result in lab.days.values())
    for result in lab.days.values():
        materialized = {m.asset_key for m in result.get_asset_materialization_events()}
        assert materialized == lab.monitoring.daily_assets("lab")
        assert dg.AssetKey(["lab", "token_costs"]) in materialized


# -- a day without traffic -------------------------------------------------------------------


def test_day_without_traffic_is_a_critical_volume_failure(lab: LabRuns) -> None:
    result = lab.days[EMPTY]
    assert materialization(result, "lab/live_slice")["rows"] == 0
    volume = check_evaluations(result, "lab/live_slice")["volume"]
    assert not volume.passed
    assert volume.severity == dg.AssetCheckSeverity.ERROR
    assert "no traffic" in volume.summary
    assert volume.findings[0]["severity"] == "critical"


def test_day_without_traffic_has_no_drift_verdict(lab: LabRuns) -> None:
    result = lab.days[EMPTY]
    drift = materialization(result, "lab/feature_drift")
    assert drift["counts"]["columns_tested"] == 0
    assert drift["scores"] == {}
    assert not any(key.startswith(PLOT_PREFIX) for key in drift)
    rows = table_rows(drift["drift_table"])
    assert {row["verdict"] for row in rows} == {"too few rows"}
    assert all(row["score ÷ warn"] == "-" for row in rows)
    for name, check in check_evaluations(result, "lab/feature_drift").items():
        assert check.summary.startswith("not evaluated: "), name
        assert check.findings == []
        assert check.metadata["columns_skipped"] >= 1


def test_day_without_traffic_has_no_percentiles(lab: LabRuns) -> None:
    result = lab.days[EMPTY]
    service = materialization(result, "lab/service_metrics")
    assert service["requests"] == 0
    assert service["latency_rows"] == 0
    assert {"p50_ms", "p95_ms", "p99_ms", "slo_percentile_ms", "error_rate"}.isdisjoint(service)
    checks = check_evaluations(result, "lab/service_metrics")
    assert set(checks) == {"latency_slo", "error_rate"}
    for check in checks.values():
        assert check.summary.startswith("not evaluated: ")
        assert check.findings[0]["value"] is None
    costs = materialization(result, "lab/token_costs")
    assert (costs["requests"], costs["cost_usd"]) == (0, 0.0)
    assert materialization(result, "lab/daily_profile")["rows"] == 0


# -- a dirty day: every bad value counted -------------------------------------------------------


def kept(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows the slice keeps: parseable timestamps, first occurrence of each request id."""
    good = frame[~frame["ts"].isin(BAD_TIMESTAMPS)]
    return good.drop_duplicates("request_id")


def test_dirty_day_counts_what_it_read_kept_and_dropped(lab: LabRuns) -> None:
    meta = materialization(lab.days[DIRTY], "lab/live_slice")
    assert meta["rows_read"] == ROWS + DUPLICATES
    assert meta["rows"] == len(kept(lab.dirty)) == ROWS - len(BAD_TIMESTAMPS)
    findings = meta["findings"]
    assert findings["dropped"] == {
        "unparseable_timestamp": len(BAD_TIMESTAMPS),
        "duplicate_request_id": DUPLICATES,
    }
    # rows with a bad value are kept and counted: 'abc' and inf in amount, -inf in latency
    assert findings["rows_with_bad_values"] == 3
    assert meta["malformed_rows"] == len(BAD_TIMESTAMPS) + 3


def test_nan_none_and_inf_are_counted_per_column(lab: LabRuns) -> None:
    values = materialization(lab.days[DIRTY], "lab/live_slice")["findings"]["values"]
    assert values["amount"] == {"null": 2, "non_numeric": 1, "infinite": 1}
    assert values["latency_ms"] == {"null": 1, "infinite": 1}
    assert values["flat"] == values["prompt_tokens"] == {}
    profile = materialization(lab.days[DIRTY], "lab/daily_profile")
    assert profile["null_share/amount"] == pytest.approx(
        4 / (ROWS - len(BAD_TIMESTAMPS)), rel=METADATA_REL
    )


def test_nan_and_inf_stay_out_of_percentiles(lab: LabRuns) -> None:
    service = materialization(lab.days[DIRTY], "lab/service_metrics")
    latency = pd.to_numeric(kept(lab.dirty)["latency_ms"]).to_numpy(dtype=np.float64)
    finite = latency[np.isfinite(latency)]
    assert finite.size == ROWS - len(BAD_TIMESTAMPS) - 2
    assert service["latency_rows"] == finite.size
    assert service["latency_missing"] == 2
    for name, q in (("p50_ms", 50), ("p95_ms", 95), ("p99_ms", 99)):
        assert service[name] == pytest.approx(np.percentile(finite, q), rel=METADATA_REL)
    amounts = pd.to_numeric(kept(lab.dirty)["amount"], errors="coerce").to_numpy(np.float64)
    profile = materialization(lab.days[DIRTY], "lab/daily_profile")
    assert profile["mean/amount"] == pytest.approx(
        amounts[np.isfinite(amounts)].mean(), rel=METADATA_REL
    )


def test_unparseable_timestamps_are_dropped_counted_and_shown(lab: LabRuns) -> None:
    result = lab.days[DIRTY]
    findings = materialization(result, "lab/live_slice")["findings"]
    assert findings["examples"]["unparseable_timestamp"] == [repr(t) for t in BAD_TIMESTAMPS]
    malformed = check_evaluations(result, "lab/live_slice")["malformed_rows"]
    assert not malformed.passed
    assert malformed.severity == dg.AssetCheckSeverity.WARN  # 1.6 %: over 1 %, under 5 %
    assert malformed.metadata["count"] == len(BAD_TIMESTAMPS) + 3
    assert malformed.metadata["share"] == pytest.approx(5 / (ROWS + DUPLICATES), rel=METADATA_REL)
    assert repr(BAD_TIMESTAMPS[0]) in malformed.summary


def test_text_in_a_numeric_column_is_counted_and_the_row_kept(lab: LabRuns) -> None:
    result = lab.days[DIRTY]
    findings = materialization(result, "lab/live_slice")["findings"]
    assert findings["examples"]["amount: non_numeric"] == ["'abc'"]
    # the row still counts for every other column: all kept rows have a channel and a latency
    drift = {
        row["column"]: row
        for row in table_rows(materialization(result, "lab/feature_drift")["drift_table"])
    }
    assert f"{ROWS - len(BAD_TIMESTAMPS):,} rows" in drift["channel"]["note"]
    assert f"{ROWS - len(BAD_TIMESTAMPS) - 4:,} rows" in drift["amount"]["note"]
    assert materialization(result, "lab/service_metrics")["requests"] == ROWS - len(BAD_TIMESTAMPS)


def test_repeated_request_ids_are_dropped_counted_and_checked(lab: LabRuns) -> None:
    result = lab.days[DIRTY]
    meta = materialization(result, "lab/live_slice")
    assert meta["duplicate_rows"] == DUPLICATES
    repeated = sorted(lab.dirty["request_id"][lab.dirty["request_id"].duplicated()])
    assert meta["findings"]["examples"]["duplicate_request_id"] == [repr(r) for r in repeated[:5]]
    check = check_evaluations(result, "lab/live_slice")["duplicate_requests"]
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["count"] == DUPLICATES
    assert check.findings[0]["value"] == pytest.approx(DUPLICATES / (ROWS + DUPLICATES))
    # the tokens of a repeated request are not billed twice
    costs = materialization(result, "lab/token_costs")
    assert costs["prompt_tokens"] == kept(lab.dirty)["prompt_tokens"].sum()


def test_timestamp_in_another_format_is_counted(make_monitoring: MonitoringFactory) -> None:
    rng = np.random.default_rng(3)
    log = lab_day(rng, CLEAN, 10)[["ts", "latency_ms"]]
    log.loc[0, "ts"] = "09/01/2026 10:00:00"
    monitoring = make_monitoring(
        """
monitors:
  clock:
    start_date: 2026-09-01
    source: {table: clock_requests, timestamp_column: ts}
    service: {latency_column: latency_ms}
""",
        {"clock_requests": log},
    )
    result = monitoring.day("clock", CLEAN)
    meta = materialization(result, "clock/live_slice")
    # Days are selected by comparing text, so this row is in no day: counted table-wide, in a
    # failing finding of its own (the day's own share of malformed rows passes).
    assert meta["rows"] == 9
    assert meta["rows_without_day"] == 1
    malformed = check_evaluations(result, "clock/live_slice")["malformed_rows"]
    findings = {f["subject"]: f["passed"] for f in malformed.findings}
    assert not malformed.passed and findings == {"": True, "rows_without_day": False}
    assert (
        "1 row with a null or non-ISO timestamp that no day reads" in malformed.metadata["summary"]
    )


# -- a constant reference column and a day of three rows ---------------------------------------


def test_constant_reference_column_has_a_defined_score_and_a_note(lab: LabRuns) -> None:
    assert materialization(lab.reference, "lab/reference_profile")["bins"]["flat"] >= 1
    drift = materialization(lab.days[CLEAN], "lab/feature_drift")
    assert drift["scores"]["flat"] == 0.0
    row = {r["column"]: r for r in table_rows(drift["drift_table"])}["flat"]
    assert row["verdict"] == "ok"
    assert "reference is constant" in row["note"]
    findings = check_evaluations(lab.days[CLEAN], "lab/feature_drift")["feature_drift"].findings
    assert {f["subject"]: f["passed"] for f in findings}["flat"] is True


def test_day_of_three_rows_is_not_judged_for_drift(lab: LabRuns) -> None:
    result = lab.days[TINY]
    assert materialization(result, "lab/live_slice")["rows"] == 3
    assert check_evaluations(result, "lab/live_slice")["volume"].passed
    drift = materialization(result, "lab/feature_drift")
    assert drift["counts"]["columns_tested"] == 0
    rows = table_rows(drift["drift_table"])
    assert {r["verdict"] for r in rows} == {"too few rows"}
    assert all("3 rows with a value, fewer than drift.min_rows=200" in r["note"] for r in rows)
    checks = check_evaluations(result, "lab/feature_drift")
    assert checks["feature_drift"].passed and checks["prediction_drift"].passed
    assert "fewer than drift.min_rows=200" in checks["feature_drift"].metadata["skipped"]
    assert checks["prediction_drift"].summary == (
        "not evaluated: decision: 3 rows with a value, fewer than drift.min_rows=200"
    )
    service = materialization(result, "lab/service_metrics")
    assert service["p95_ms"] == pytest.approx(
        np.percentile(lab.tiny["latency_ms"], 95), rel=METADATA_REL
    )


# -- validate-config -----------------------------------------------------------------------------

BROKEN_SOURCES = """
monitors:
  ghost:
    start_date: 2026-09-01
    source: {table: ghost_requests, timestamp_column: ts}
    service: {latency_column: latency_ms}
  partial:
    start_date: 2026-09-01
    source: {table: lab_requests, timestamp_column: ts, request_id_column: request_id}
    reference: {table: lab_training}
    features: {numeric: [amount, discount], categorical: [channel]}
"""


@pytest.fixture
def broken_config(tmp_path: Path) -> Path:
    path = tmp_path / "monitors.yaml"
    path.write_text(BROKEN_SOURCES, encoding="utf-8")
    return path


def validate(lab: LabRuns, path: Path, *args: str) -> tuple[int, str]:
    env = {
        "MONITORING_HOME": str(path.parent),
        "MONITORING_WAREHOUSE_URL": lab.monitoring.warehouse_url,
        "MONITORING_CONFIG": None,
    }
    result = CliRunner().invoke(main, ["validate-config", str(path), *args], env=env)
    return result.exit_code, result.output


def test_validate_config_names_monitor_key_and_column(lab: LabRuns, broken_config: Path) -> None:
    code, output = validate(lab, broken_config)
    assert code == 2, output
    assert "3 problem(s)" in output  # the reference lacks the missing column too
    assert "monitor 'ghost', key 'source.table': table 'ghost_requests' does not exist" in output
    assert (
        "monitor 'partial', key 'features.numeric[1]': column 'discount' is not in table "
        "'lab_requests'"
    ) in output
    assert (
        "monitor 'partial', key 'reference.table': reference table 'lab_training' has no "
        "column 'discount'"
    ) in output


def test_validate_config_offline_skips_the_tables(lab: LabRuns, broken_config: Path) -> None:
    code, output = validate(lab, broken_config, "--offline")
    assert code == 0, output
    assert "OK (2 monitor(s): ghost, partial; checked file only)" in output
