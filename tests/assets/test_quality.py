"""The data_quality asset: Great Expectations findings and schema changes per partition.

One installation (``checkout``) runs five days in order, changing the warehouse between them:
a clean day, a day with an unseen channel and out-of-range amounts, a day after a new column
appears, a day after ``items`` becomes TEXT, and a day whose slice was kept while ``country``
was dropped from the table. Until the factory wires the asset, the tests add it to the
Definitions themselves, as the factory will (``make_data_quality`` per monitor with a
reference). Runs materialize ``live_slice`` and ``data_quality`` only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from assets.data_quality import make_data_quality
from monitoring_pipelines.core.checks import findings_from
from monitoring_pipelines.core.config import Severity
from monitoring_pipelines.core.quality.schema import UNCONFIGURED
from monitoring_pipelines.jobs import asset_job
from monitoring_pipelines.partitions import daily_partitions
from monitoring_pipelines.sensors.alerting_pass import evaluations_of
from tests.assets.conftest import (
    METADATA_REL,
    QUIET,
    Monitoring,
    MonitoringFactory,
    check_evaluations,
    count_rows,
    markdown_rows,
    materialization,
    stored_metrics,
    write_table,
)

ROOT = Path(__file__).parents[2]

CONFIG = """
version: 1
monitors:
  checkout:
    start_date: 2026-09-01
    source: {table: checkout_requests, timestamp_column: ts, request_id_column: request_id}
    reference: {table: checkout_training}
    features:
      numeric: [amount, items]
      categorical: [channel, country]
    prediction: {column: decision, type: label}
    checks: {min_rows: 100}
"""

CLEAN, BAD, NEW_COLUMN, RETYPED, MISSING = (date(2026, 9, d) for d in range(1, 6))
ROWS = 300
REFERENCE_ROWS = 2000
REFERENCE_COUNTRY_NULLS = 60  # 3 %: the day may have up to 5 % (2-point margin)
UNSEEN = 30  # 10 % "kiosk" channels on the bad day: critical (5x the 1 % allowed)
OUT_OF_RANGE = 9  # 3 % amounts of 5000 on the bad day: a warning
DAY_COUNTRY_NULLS = 12  # 4 % on the bad day: within the reference's 3 % + 2 points
EXPECTATIONS = 15  # 5 columns x (type, nulls, range or categories); no checks.max_rows

SLICE = dg.AssetKey(["checkout", "live_slice"])
QUALITY = dg.AssetKey(["checkout", "data_quality"])


def features(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": rng.uniform(5.0, 500.0, n).round(2),
            "items": rng.integers(1, 10, n).astype(np.float64),
            "channel": rng.choice(["web", "app", "api"], n).astype(object),
            "country": rng.choice(["de", "fr", "it", "es"], n).astype(object),
            "decision": rng.choice(["approve", "review", "reject"], n),
        }
    )


def log_day(rng: np.random.Generator, day: date) -> pd.DataFrame:
    frame = features(rng, ROWS)
    if day == BAD:
        frame.loc[: UNSEEN - 1, "channel"] = "kiosk"
        frame.loc[UNSEEN : UNSEEN + OUT_OF_RANGE - 1, "amount"] = 5000.0
        frame.loc[100 : 100 + DAY_COUNTRY_NULLS - 1, "country"] = None
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    seconds = np.sort(rng.integers(0, 86_400, ROWS))
    frame.insert(0, "ts", [(start + timedelta(seconds=int(s))).isoformat() for s in seconds])
    frame.insert(1, "request_id", [f"{day:%d}-{i:04d}" for i in range(ROWS)])
    return frame


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(20260905)
    reference = features(rng, REFERENCE_ROWS)
    reference.loc[: REFERENCE_COUNTRY_NULLS - 1, "country"] = None
    log = pd.concat([log_day(rng, d) for d in (CLEAN, BAD, NEW_COLUMN, RETYPED, MISSING)])
    return {"checkout_requests": log.reset_index(drop=True), "checkout_training": reference}


def with_data_quality(monitoring: Monitoring) -> Monitoring:
    """The installation with ``<monitor>/data_quality`` added to every monitor with a
    reference, unless the factory already builds it."""
    known = monitoring.defs.resolve_asset_graph().get_all_asset_keys()
    extra = [
        make_data_quality(name, monitor, daily_partitions(monitor))
        for name, monitor in monitoring.config.monitors.items()
        if monitor.reference is not None and dg.AssetKey([name, "data_quality"]) not in known
    ]
    return monitoring.with_definitions(dg.Definitions(assets=extra))


def run(
    monitoring: Monitoring, day: date, keys: Sequence[dg.AssetKey] = (SLICE, QUALITY)
) -> dg.ExecuteInProcessResult:
    return asset_job(monitoring.defs, list(keys)).execute_in_process(
        instance=monitoring.instance,
        partition_key=day.isoformat(),
        asset_selection=list(keys),
        run_config=QUIET,
    )


@dataclass(frozen=True)
class Scenario:
    monitoring: Monitoring
    days: Mapping[date, dg.ExecuteInProcessResult]


@pytest.fixture(scope="module")
def scenario(make_monitoring: MonitoringFactory, tables: dict[str, pd.DataFrame]) -> Scenario:
    monitoring = with_data_quality(make_monitoring(CONFIG, tables))
    monitoring.reference("checkout")
    days = {CLEAN: run(monitoring, CLEAN), BAD: run(monitoring, BAD)}
    engine = sa.create_engine(monitoring.warehouse_url)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE checkout_requests ADD COLUMN coupon TEXT"))
    engine.dispose()
    days[NEW_COLUMN] = run(monitoring, NEW_COLUMN)
    log = tables["checkout_requests"].assign(
        items=tables["checkout_requests"]["items"].map(lambda v: f"{v:.0f}"), coupon=None
    )
    write_table(monitoring.warehouse_url, "checkout_requests", log, {"coupon": sa.Text()})
    days[RETYPED] = run(monitoring, RETYPED)
    run(monitoring, MISSING, [SLICE])  # the slice is kept; then the column goes
    dropped = log.drop(columns=["country"])
    write_table(monitoring.warehouse_url, "checkout_requests", dropped, {"coupon": sa.Text()})
    days[MISSING] = run(monitoring, MISSING, [QUALITY])
    return Scenario(monitoring, days)


def test_clean_day_meets_every_expectation(scenario: Scenario) -> None:
    evaluations = check_evaluations(scenario.days[CLEAN], "checkout/data_quality")
    quality, schema = evaluations["data_quality"], evaluations["schema_change"]
    assert quality.passed, quality.summary
    assert quality.partition == CLEAN.isoformat()
    assert quality.summary == f"all {EXPECTATIONS} expectations met on {ROWS} rows"
    assert len(quality.findings) == EXPECTATIONS  # every subject, so incidents can resolve
    assert schema.passed and "first snapshot" in schema.summary
    metadata = materialization(scenario.days[CLEAN], "checkout/data_quality")
    assert metadata["expectations_evaluated"] == EXPECTATIONS
    assert metadata["expectations_failed"] == 0
    assert (metadata["rows_validated"], metadata["batches"]) == (ROWS, 1)
    assert metadata["unexpected_share/channel"] == 0.0
    assert metadata["schema_changes"] == 0
    assert set(metadata["schema"]) == {
        "ts", "request_id", "amount", "items", "channel", "country", "decision",
    }  # fmt: skip


def test_unseen_category_and_out_of_range_values_fail(scenario: Scenario) -> None:
    result = scenario.days[BAD]
    evaluations = check_evaluations(result, "checkout/data_quality")
    quality = evaluations["data_quality"]
    assert not quality.passed
    assert quality.severity == dg.AssetCheckSeverity.ERROR  # the unseen channel is critical
    findings = {f.subject: f for f in findings_from(quality.findings)}
    failing = {s: f for s, f in findings.items() if not f.passed}
    assert set(failing) == {"amount:range", "channel:categories"}
    assert failing["channel:categories"].severity is Severity.CRITICAL
    assert failing["channel:categories"].value == pytest.approx(UNSEEN / ROWS)
    assert "'kiosk'" in failing["channel:categories"].summary
    assert failing["amount:range"].severity is Severity.WARN
    assert failing["amount:range"].value == pytest.approx(OUT_OF_RANGE / ROWS)
    assert "e.g. 5000" in failing["amount:range"].summary
    # 4 % nulls pass: the reference had 3 %, and 2 points more are allowed.
    assert findings["country:nulls"].passed
    assert findings["country:nulls"].value == pytest.approx(DAY_COUNTRY_NULLS / ROWS)
    assert findings["country:nulls"].threshold == pytest.approx(
        REFERENCE_COUNTRY_NULLS / REFERENCE_ROWS + 0.02
    )
    assert quality.summary.startswith(f"2 of {EXPECTATIONS} expectations failed")
    assert evaluations["schema_change"].passed
    assert evaluations["schema_change"].summary == "7 columns, unchanged since 2026-09-01"

    metadata = materialization(result, "checkout/data_quality")
    assert metadata["expectations_failed"] == 2
    assert metadata["unexpected_share/amount"] == pytest.approx(OUT_OF_RANGE / ROWS, METADATA_REL)
    assert metadata["unexpected_share/channel"] == pytest.approx(UNSEEN / ROWS, METADATA_REL)
    assert metadata["null_share/country"] == pytest.approx(DAY_COUNTRY_NULLS / ROWS, METADATA_REL)
    rows = markdown_rows(metadata["expectations"])
    assert [r["expectation"] for r in rows[:2]] == ["amount:range", "channel:categories"]
    assert rows[1]["verdict"] == "FAIL" and rows[1]["unexpected"] == str(UNSEEN)


def test_results_are_stored_in_the_result_store(scenario: Scenario) -> None:
    url = scenario.monitoring.store_url
    stored = stored_metrics(url, "checkout", "data_quality", BAD.isoformat())
    assert stored["expectations_failed"] == 2
    assert stored['unexpected_count{"column":"channel","expectation":"categories"}'] == UNSEEN
    assert stored['unexpected_share{"column":"amount","expectation":"range"}'] == pytest.approx(
        OUT_OF_RANGE / ROWS, rel=1e-12
    )
    before = count_rows(url, "metrics", monitor="checkout", partition_key=BAD.isoformat())
    run(scenario.monitoring, BAD, [QUALITY])  # a rerun replaces the partition's rows
    after = count_rows(url, "metrics", monitor="checkout", partition_key=BAD.isoformat())
    assert after == before


def test_alerting_reads_the_findings_back(scenario: Scenario) -> None:
    result = scenario.days[BAD]
    quality = check_evaluations(result, "checkout/data_quality")["data_quality"]
    evaluations = evaluations_of(scenario.monitoring.instance, result.dagster_run, {"checkout"})
    by_check = {e.check: e for e in evaluations if e.asset == "checkout/data_quality"}
    assert set(by_check) >= {"data_quality", "schema_change"}
    assert by_check["data_quality"].findings == findings_from(quality.findings)
    assert by_check["data_quality"].partition == BAD.isoformat()


def test_new_unconfigured_column_is_a_schema_warning(scenario: Scenario) -> None:
    evaluations = check_evaluations(scenario.days[NEW_COLUMN], "checkout/data_quality")
    schema = evaluations["schema_change"]
    assert not schema.passed and schema.severity == dg.AssetCheckSeverity.WARN
    failing = [f for f in findings_from(schema.findings) if not f.passed]
    assert [f.subject for f in failing] == [UNCONFIGURED]
    assert "new column coupon" in failing[0].summary
    assert schema.metadata["columns_new"] == 1
    assert evaluations["data_quality"].passed


def test_retyped_configured_column_is_critical(scenario: Scenario) -> None:
    evaluations = check_evaluations(scenario.days[RETYPED], "checkout/data_quality")
    schema = evaluations["schema_change"]
    assert not schema.passed and schema.severity == dg.AssetCheckSeverity.ERROR
    failing = [f for f in findings_from(schema.findings) if not f.passed]
    assert [f.subject for f in failing] == ["items"]
    assert "items changed type from FLOAT to TEXT" in failing[0].summary
    # The slice parses the text back into numbers: the values themselves are fine.
    assert evaluations["data_quality"].passed, evaluations["data_quality"].summary


def test_missing_configured_column_is_critical(scenario: Scenario) -> None:
    schema = check_evaluations(scenario.days[MISSING], "checkout/data_quality")["schema_change"]
    assert not schema.passed and schema.severity == dg.AssetCheckSeverity.ERROR
    failing = {f.subject: f for f in findings_from(schema.findings) if not f.passed}
    assert set(failing) == {"country"}
    assert "country is missing from the table" in failing["country"].summary
    assert schema.metadata["previous_partition"] == RETYPED.isoformat()


def test_great_expectations_is_imported_only_to_validate(
    make_monitoring: MonitoringFactory, tables: dict[str, pd.DataFrame]
) -> None:
    """A process that imports the code location and materializes other assets never imports
    Great Expectations; materializing data_quality does."""
    monitoring = make_monitoring(CONFIG, tables)
    script = """
import json, os, sys
import dagster as dg
from monitoring_pipelines.definitions import build_fleet
from monitoring_pipelines.core.config_loading import load_config
from monitoring_pipelines.core.settings import Settings
from tests.assets.conftest import Monitoring
from tests.assets.test_quality import CLEAN, QUALITY, SLICE, run, with_data_quality

seen = {"imported": "great_expectations" in sys.modules}
settings = Settings.from_env(os.environ)
config = load_config(settings.config_path, os.environ)
monitoring = with_data_quality(
    Monitoring(
        home=settings.home,
        warehouse_url=os.environ["MONITORING_WAREHOUSE_URL"],
        store_url=settings.store_url,
        config=config,
        fleet=build_fleet(config, settings, os.environ),
        instance=dg.DagsterInstance.ephemeral(),
    )
)
monitoring.reference("checkout")
run(monitoring, CLEAN, [SLICE])
seen["other_assets"] = "great_expectations" in sys.modules
run(monitoring, CLEAN, [QUALITY])
seen["data_quality"] = "great_expectations" in sys.modules
print(json.dumps(seen))
"""
    environ = dict(os.environ)
    environ.update(
        MONITORING_HOME=str(monitoring.home),
        MONITORING_CONFIG=str(monitoring.home / "monitors.yaml"),
        MONITORING_WAREHOUSE_URL=monitoring.warehouse_url,
        MONITORING_STORE_URL=monitoring.store_url,
        PYTHONPATH=str(ROOT),
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"imported": False, "other_assets": False, "data_quality": True}
