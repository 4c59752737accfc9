"""The shop monitor's assets materialized in process: metadata, check results, idempotency.

One clean day and one drifted day (amounts doubled, channel and decision mix reshuffled, latency
four times slower, 8 % errors, four times the tokens) are run once per session; the tests read
what Dagster recorded and compare it with numbers computed here from the same data.
"""

from __future__ import annotations

from datetime import date

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from assets.feature_drift import PLOT_PREFIX
from monitoring_pipelines.core.checks import findings_from
from monitoring_pipelines.core.config import Severity
from monitoring_pipelines.sensors.alerting_pass import evaluations_of
from tests.assets.conftest import (
    CLEAN_DAY,
    CLEAN_ERRORS,
    DRIFTED_DAY,
    DRIFTED_ERRORS,
    METADATA_REL,
    PRICES,
    REFERENCE_ROWS,
    ROWS_PER_DAY,
    SHOP_CONFIG,
    UNPRICED_MODEL,
    MonitoringFactory,
    ShopData,
    ShopRuns,
    check_evaluations,
    count_rows,
    materialization,
    shop_tables,
    stored_metrics,
    table_rows,
)

DRIFT_COLUMNS = ["amount", "items", "channel", "country", "decision"]
ERROR = dg.AssetCheckSeverity.ERROR
WARN = dg.AssetCheckSeverity.WARN


def test_reference_profile_records_rows_bins_and_hash(shop_runs: ShopRuns) -> None:
    meta = materialization(shop_runs.reference, "shop/reference_profile")
    assert meta["rows"] == REFERENCE_ROWS
    assert meta["columns"] == len(DRIFT_COLUMNS)
    # 20 quantile bins for a continuous column; one bin per value for the discrete ones
    reference = shop_runs.data.reference
    assert meta["bins"]["amount"] == 20
    assert meta["bins"]["channel"] == reference["channel"].nunique()
    assert meta["bins"]["decision"] == reference["decision"].nunique()
    assert len(meta["reference_hash"]) == 32
    event = shop_runs.reference.get_asset_materialization_events()[0].materialization
    assert event is not None
    assert event.tags is not None
    assert event.tags.get("dagster/data_version") == meta["reference_hash"]


@pytest.mark.parametrize("day", [CLEAN_DAY, DRIFTED_DAY])
def test_live_slice_counts_every_row(shop_runs: ShopRuns, day: date) -> None:
    meta = materialization(shop_runs.days[day], "shop/live_slice")
    assert meta["rows"] == ROWS_PER_DAY
    assert meta["rows_read"] == ROWS_PER_DAY
    assert meta["malformed_rows"] == 0
    assert meta["duplicate_rows"] == 0
    assert meta["malformed_share"] == 0.0
    findings = meta["findings"]
    assert findings["rows_kept"] == ROWS_PER_DAY
    assert findings["dropped"] == {}
    assert all(counts == {} for counts in findings["values"].values())
    assert meta["path"].endswith(f"shop/{day.isoformat()}.parquet")


@pytest.mark.parametrize("day", [CLEAN_DAY, DRIFTED_DAY])
def test_daily_profile_summarizes_the_day(shop_runs: ShopRuns, day: date) -> None:
    meta = materialization(shop_runs.days[day], "shop/daily_profile")
    frame = shop_runs.data.days[day]
    assert meta["rows"] == ROWS_PER_DAY
    assert meta["mean/amount"] == pytest.approx(frame["amount"].mean(), rel=METADATA_REL)
    assert meta["mean/items"] == pytest.approx(frame["items"].mean(), rel=METADATA_REL)
    for column in DRIFT_COLUMNS:
        assert meta[f"null_share/{column}"] == 0.0
    summary = meta["summary"]
    assert summary["amount"]["count"] == ROWS_PER_DAY
    assert summary["amount"]["min"] == pytest.approx(frame["amount"].min())
    assert summary["amount"]["max"] == pytest.approx(frame["amount"].max())
    assert summary["latency_ms"]["max"] == pytest.approx(frame["latency_ms"].max())
    # free text and ids are not profiled
    assert {"question", "answer", "request_id"}.isdisjoint(summary)


def test_feature_drift_metadata_has_a_score_per_column_and_a_table(shop_runs: ShopRuns) -> None:
    clean = materialization(shop_runs.days[CLEAN_DAY], "shop/feature_drift")
    drifted = materialization(shop_runs.days[DRIFTED_DAY], "shop/feature_drift")
    for meta in (clean, drifted):
        assert meta["counts"]["columns_tested"] == len(DRIFT_COLUMNS)
        assert set(meta["scores"]) == set(DRIFT_COLUMNS)
        assert all(meta["scores"][c] >= 0 for c in DRIFT_COLUMNS)
        # plotted: each score as a multiple of its warn threshold (0.05 here), largest first
        plotted = [k for k, v in meta.items() if isinstance(v, float)]
        assert plotted[0] == f"{PLOT_PREFIX}(largest)"
        assert set(plotted[1:]) == {f"{PLOT_PREFIX}{c}" for c in DRIFT_COLUMNS}
        for c in DRIFT_COLUMNS:
            assert meta[f"{PLOT_PREFIX}{c}"] == pytest.approx(meta["scores"][c] / 0.05, rel=1e-4)
        assert meta[f"{PLOT_PREFIX}(largest)"] == max(meta[k] for k in plotted)
        # the bookkeeping counts are not plotted: only the drifted counts are numbers
        assert {k for k, v in meta.items() if isinstance(v, int)} == {
            "drifted columns",
            "drifted segments",
            "failing checks",
        }
    assert clean["drifted columns"] == 0 and clean["failing checks"] == 0
    assert drifted["drifted columns"] == 3 and drifted["failing checks"] == 2
    # doubling lognormal amounts moves them by about two reference sds
    assert drifted["scores"]["amount"] > 1.0 > 0.2 > clean["scores"]["amount"]
    assert drifted["scores"]["channel"] > 0.15 > clean["scores"]["channel"]

    table = table_rows(drifted["drift_table"])
    assert list(table[0]) == ["verdict", "column", "what moved", "score ÷ warn", "p (adj.)", "note"]
    assert "uniform sample of at most 10000 rows" in drifted["p_values"]
    by_column = {row["column"]: row for row in table}
    assert len(table) == len(by_column) == len(DRIFT_COLUMNS)
    assert set(by_column) == set(DRIFT_COLUMNS)
    amount = by_column["amount"]
    assert amount["what moved"].startswith("mean ") and " sd)" in amount["what moved"]
    assert amount["score ÷ warn"] == f"{drifted['scores']['amount'] / 0.05:.2f}"
    assert amount["note"].startswith("≥ critical 0.2 and adjusted p ≤ FDR")
    assert (
        f"wasserstein {drifted['scores']['amount']:.4g} (warn 0.05, critical 0.2)"
        in (amount["note"])
    )
    assert f"{ROWS_PER_DAY:,} rows" in amount["note"]  # a small day: the p-value used every row
    assert "p from" not in amount["note"]
    assert by_column["decision"]["note"].endswith(", prediction")
    assert "jensen_shannon" in by_column["decision"]["note"]
    assert {by_column[c]["verdict"] for c in ("amount", "channel", "decision")} == {
        "DRIFT: critical"
    }
    assert {by_column[c]["verdict"] for c in ("items", "country")} == {"ok"}
    # drifted columns come first, by score relative to the warn threshold
    assert [row["column"] for row in table[:3]] == ["amount", "decision", "channel"]
    checks = {row["check"]: row for row in table_rows(drifted["checks"])}
    assert checks["feature_drift"]["verdict"] == "FAILED (critical)"
    assert checks["feature_drift"]["summary"] == "drift in amount, channel"


def test_feature_drift_is_stored_with_the_scores_shown(shop_runs: ShopRuns) -> None:
    meta = materialization(shop_runs.days[DRIFTED_DAY], "shop/feature_drift")
    engine = sa.create_engine(shop_runs.monitoring.store_url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(
                sa.text(
                    "select column_name, score, verdict, role from drift_results "
                    "where monitor = 'shop' and partition_key = :p"
                ),
                {"p": DRIFTED_DAY.isoformat()},
            ).all()
    finally:
        engine.dispose()
    segments = [r for r in stored if r.role == "segment"]
    stored = [r for r in stored if r.role != "segment"]
    # Every column is also tested within each segment value, named column@segment=value.
    assert segments and all("@" in r.column_name for r in segments)
    assert {r.column_name.split("@")[0] for r in segments} == set(DRIFT_COLUMNS)
    assert {r.column_name: r.score for r in stored} == pytest.approx(
        {c: meta["scores"][c] for c in DRIFT_COLUMNS}, rel=METADATA_REL
    )
    assert {r.column_name for r in stored if r.verdict == "critical"} == {
        "amount",
        "channel",
        "decision",
    }


@pytest.mark.parametrize(
    ("day", "errors"), [(CLEAN_DAY, CLEAN_ERRORS), (DRIFTED_DAY, DRIFTED_ERRORS)]
)
def test_service_metrics_are_exact(shop_runs: ShopRuns, day: date, errors: int) -> None:
    meta = materialization(shop_runs.days[day], "shop/service_metrics")
    frame = shop_runs.data.days[day]
    p50, p95, p99 = np.percentile(frame["latency_ms"], [50, 95, 99])
    expected = {"p50_ms": p50, "p95_ms": p95, "p99_ms": p99}
    stored = stored_metrics(
        shop_runs.monitoring.store_url, "shop", "service_metrics", day.isoformat()
    )
    for name, value in expected.items():
        assert stored[name] == pytest.approx(value, rel=1e-12)
        assert meta[name] == pytest.approx(value, rel=METADATA_REL)
    assert meta["slo_percentile_ms"] == meta["p95_ms"]
    assert meta["requests"] == ROWS_PER_DAY
    assert meta["latency_rows"] == ROWS_PER_DAY
    assert meta["errors"] == errors == int((frame["http_status"] >= 500).sum())
    assert meta["error_rate"] == stored["error_rate"] == errors / ROWS_PER_DAY
    assert meta["status_missing"] == meta["status_unknown"] == 0


def expected_costs(frame: pd.DataFrame) -> dict[str, float]:
    out = {}
    for model, (per_1k_in, per_1k_out) in PRICES.items():
        rows = frame[frame["llm_model"] == model]
        out[model] = (
            rows["prompt_tokens"].sum() / 1000 * per_1k_in
            + rows["completion_tokens"].sum() / 1000 * per_1k_out
        )
    return out


@pytest.mark.parametrize("day", [CLEAN_DAY, DRIFTED_DAY])
def test_token_costs_are_price_times_tokens_and_unpriced_is_not_free(
    shop_runs: ShopRuns, day: date
) -> None:
    meta = materialization(shop_runs.days[day], "shop/token_costs")
    frame = shop_runs.data.days[day]
    costs = expected_costs(frame)
    stored = stored_metrics(shop_runs.monitoring.store_url, "shop", "token_costs", day.isoformat())
    for model, cost in costs.items():
        assert stored[f'cost_usd{{"model":"{model}"}}'] == pytest.approx(cost, rel=1e-12)
        assert meta[f"cost_usd/{model}"] == pytest.approx(cost, rel=METADATA_REL)
    assert stored["cost_usd"] == pytest.approx(sum(costs.values()), rel=1e-12)
    assert meta["cost_usd"] == pytest.approx(sum(costs.values()), rel=METADATA_REL)
    # unpriced: stored as a missing cost, not as zero
    assert stored[f'cost_usd{{"model":"{UNPRICED_MODEL}"}}'] is None
    assert meta["prompt_tokens"] == frame["prompt_tokens"].sum()
    assert meta["completion_tokens"] == frame["completion_tokens"].sum()
    assert meta["requests"] == ROWS_PER_DAY
    assert meta["rows_missing_tokens"] == 0

    assert meta["unpriced_models"] == 1
    assert f"cost_usd/{UNPRICED_MODEL}" not in meta
    by_model = {entry["model"]: entry for entry in meta["by_model"]}
    unpriced = by_model[UNPRICED_MODEL]
    assert unpriced["priced"] is False
    assert unpriced["cost_usd"] is None
    assert unpriced["requests"] == int((frame["llm_model"] == UNPRICED_MODEL).sum())
    assert (
        unpriced["prompt_tokens"]
        == frame.loc[frame["llm_model"] == UNPRICED_MODEL, "prompt_tokens"].sum()
    )
    budget = check_evaluations(shop_runs.days[day], "shop/token_costs")["cost_budget"]
    assert f"unpriced (not counted): {UNPRICED_MODEL}" in budget.summary
    assert budget.metadata["unpriced_models"] == UNPRICED_MODEL


# (asset, check) -> (passed, severity when failed) on each day
Expected = dict[tuple[str, str], tuple[bool, dg.AssetCheckSeverity | None]]
EXPECTED_CHECKS: dict[date, Expected] = {
    CLEAN_DAY: {
        ("live_slice", "volume"): (True, None),
        ("live_slice", "malformed_rows"): (True, None),
        ("live_slice", "duplicate_requests"): (True, None),
        ("feature_drift", "feature_drift"): (True, None),
        ("feature_drift", "prediction_drift"): (True, None),
        ("service_metrics", "latency_slo"): (True, None),
        ("service_metrics", "error_rate"): (True, None),
        ("token_costs", "cost_budget"): (True, None),
        ("data_quality", "data_quality"): (True, None),
        ("data_quality", "schema_change"): (True, None),
        ("slo_budget", "error_budget"): (True, None),  # a 28-day window is not complete yet
        ("anomalies", "anomaly"): (True, None),  # on by default; too few days to score yet
        # the shop logs its answers: "Order <n> ships tomorrow." leaks nothing, declines nothing
        ("output_safety", "output_leak"): (True, None),
        ("output_safety", "refusal_rate"): (True, None),
        ("output_safety", "answer_length"): (True, None),  # too few days to score yet
    },
    DRIFTED_DAY: {
        ("live_slice", "volume"): (True, None),
        ("live_slice", "malformed_rows"): (True, None),
        ("live_slice", "duplicate_requests"): (True, None),
        ("feature_drift", "feature_drift"): (False, ERROR),
        ("feature_drift", "prediction_drift"): (False, ERROR),
        ("service_metrics", "latency_slo"): (False, ERROR),  # p95 over twice the SLO
        ("service_metrics", "error_rate"): (False, WARN),  # 8 %: over 5 %, under 10 %
        ("token_costs", "cost_budget"): (False, ERROR),  # over 1.5 x the budget
        ("data_quality", "data_quality"): (True, None),  # drifted, yet within types and ranges
        ("data_quality", "schema_change"): (True, None),
        # a day burning the latency budget fast while the window is not known yet: critical
        ("slo_budget", "error_budget"): (False, ERROR),
        ("anomalies", "anomaly"): (True, None),
        ("output_safety", "output_leak"): (True, None),
        ("output_safety", "refusal_rate"): (True, None),
        ("output_safety", "answer_length"): (True, None),
    },
}


@pytest.mark.parametrize("day", [CLEAN_DAY, DRIFTED_DAY])
def test_check_results_per_partition(shop_runs: ShopRuns, day: date) -> None:
    result = shop_runs.days[day]
    assert result.success, "failed checks are results, not run failures"
    seen = {}
    assets = ("live_slice", "feature_drift", "service_metrics", "token_costs", "data_quality")
    for asset in (*assets, "slo_budget", "anomalies", "output_safety"):
        for name, evaluation in check_evaluations(result, f"shop/{asset}").items():
            assert evaluation.partition == day.isoformat()
            seen[(asset, name)] = evaluation
    assert set(seen) == set(EXPECTED_CHECKS[day])
    for key, (passed, severity) in EXPECTED_CHECKS[day].items():
        evaluation = seen[key]
        assert evaluation.passed is passed, f"{key}: {evaluation.summary}"
        if not passed:
            assert evaluation.severity == severity, f"{key}: {evaluation.summary}"


def test_findings_json_is_what_the_alerting_path_reads(shop_runs: ShopRuns) -> None:
    result = shop_runs.days[DRIFTED_DAY]
    drift = check_evaluations(result, "shop/feature_drift")["feature_drift"]
    findings = findings_from(drift.findings)
    assert {f.subject for f in findings} == {"amount", "items", "channel", "country"}
    failing = {f.subject: f for f in findings if not f.passed}
    assert set(failing) == {"amount", "channel"}
    assert all(f.severity is Severity.CRITICAL for f in failing.values())
    assert failing["amount"].threshold == 0.2  # critical: the critical threshold
    assert failing["amount"].value == pytest.approx(
        materialization(result, "shop/feature_drift")["scores"]["amount"], rel=METADATA_REL
    )
    assert drift.summary == "drift in amount, channel"

    # The alerting pass reads the same findings back from the instance's event log.
    evaluations = evaluations_of(shop_runs.monitoring.instance, result.dagster_run, {"shop"})
    by_check = {e.check: e for e in evaluations if e.check != "run_failure"}
    assert set(by_check) == {name for _, name in EXPECTED_CHECKS[DRIFTED_DAY]}
    assert all(e.partition == DRIFTED_DAY.isoformat() for e in evaluations)
    assert by_check["feature_drift"].findings == findings
    assert by_check["feature_drift"].asset == "shop/feature_drift"
    error_rate = by_check["error_rate"].findings
    assert [(f.subject, f.passed, f.severity, f.value) for f in error_rate] == [
        ("", False, Severity.WARN, DRIFTED_ERRORS / ROWS_PER_DAY)
    ]
    materialized = [e for e in evaluations if e.check == "run_failure"]
    assert {e.asset for e in materialized} == {
        k.to_user_string() for k in shop_runs.monitoring.daily_assets("shop")
    }
    assert all(f.passed for e in materialized for f in e.findings)


@pytest.mark.parametrize("day", [CLEAN_DAY, DRIFTED_DAY])
def test_instance_records_carry_the_partition_key(shop_runs: ShopRuns, day: date) -> None:
    instance = shop_runs.monitoring.instance
    run_id = shop_runs.days[day].run_id
    checks = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    assert len(checks) == len(EXPECTED_CHECKS[day])
    for record in checks:
        event = record.event_log_entry.dagster_event
        assert event is not None
        evaluation = event.event_specific_data
        assert isinstance(evaluation, dg.AssetCheckEvaluation)
        assert evaluation.partition == day.isoformat()
        assert evaluation.asset_key.path[0] == "shop"
    materializations = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    assert len(materializations) == len(shop_runs.monitoring.daily_assets("shop"))
    for record in materializations:
        event = record.event_log_entry.dagster_event
        assert event is not None
        assert event.partition == day.isoformat()
    run = instance.get_run_by_id(run_id)
    assert run is not None
    assert run.tags["dagster/partition"] == day.isoformat()


PARTITION_TABLES = ["slice_quality", "profiles", "column_sketches", "drift_results", "metrics"]


def partition_counts(url: str, partition: str) -> dict[str, int]:
    return {
        table: count_rows(url, table, monitor="shop", partition_key=partition)
        for table in PARTITION_TABLES
    }


def test_rerunning_a_partition_replaces_its_rows(
    make_monitoring: MonitoringFactory, shop_data: ShopData, store_url: str
) -> None:
    monitoring = make_monitoring(SHOP_CONFIG, shop_tables(shop_data), store_url=store_url)
    assert monitoring.store_url == store_url
    partition = CLEAN_DAY.isoformat()
    monitoring.reference("shop")
    monitoring.day("shop", CLEAN_DAY)
    monitoring.day("shop", DRIFTED_DAY)
    first = partition_counts(store_url, partition)
    other_day = partition_counts(store_url, DRIFTED_DAY.isoformat())
    assert all(n > 0 for n in first.values()), first
    # one row per column, and per column within each segment value
    assert first["drift_results"] == first["column_sketches"]
    assert first["drift_results"] % len(DRIFT_COLUMNS) == 0
    assert first["drift_results"] > len(DRIFT_COLUMNS)
    references = count_rows(store_url, "reference_sketches", monitor="shop")
    assert references == len(DRIFT_COLUMNS)

    # Late-arriving deletions in the warehouse: the rerun must replace, not add to, the rows.
    engine = sa.create_engine(monitoring.warehouse_url)
    with engine.begin() as conn:
        deleted = conn.execute(
            sa.text("delete from shop_requests where ts like :day and request_id like '%0'"),
            {"day": f"{partition}%"},
        ).rowcount
    engine.dispose()
    assert deleted == ROWS_PER_DAY // 10

    monitoring.reference("shop")
    rerun = monitoring.day("shop", CLEAN_DAY)
    assert rerun.success
    assert partition_counts(store_url, partition) == first
    assert partition_counts(store_url, DRIFTED_DAY.isoformat()) == other_day
    assert count_rows(store_url, "reference_sketches", monitor="shop") == references

    kept = ROWS_PER_DAY - deleted
    assert materialization(rerun, "shop/live_slice")["rows"] == kept
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as conn:
            rows_read = conn.execute(
                sa.text(
                    "select rows_read from slice_quality "
                    "where monitor = 'shop' and partition_key = :p"
                ),
                {"p": partition},
            ).scalar_one()
            requests = conn.execute(
                sa.text(
                    "select value from metrics where monitor = 'shop' and partition_key = :p "
                    "and asset = 'service_metrics' and name = 'requests' and dimensions = ''"
                ),
                {"p": partition},
            ).scalar_one()
    finally:
        engine.dispose()
    assert rows_read == kept
    assert requests == kept
