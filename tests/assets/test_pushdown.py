"""``source.pushdown``: the same days materialized with every row pulled and with the day's
aggregates computed in the warehouse give the same check verdicts, the same incidents and the
same whole-day counts, on SQLite and on PostgreSQL, clean, drifted and hostile days alike.

A pushed-down day's slice holds only its sample: with a sample smaller than the day, the
drift sketches and the row counts still describe every row of the day."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.config_loading import parse_config
from monitoring_pipelines.core.settings import Settings
from monitoring_pipelines.core.store.results import ResultRepository
from monitoring_pipelines.definitions import build_fleet
from tests.assets.conftest import (
    CLEAN_DAY,
    DAYS,
    DRIFTED_DAY,
    ROWS_PER_DAY,
    SHOP_CONFIG,
    Monitoring,
    MonitoringFactory,
    ShopData,
    check_evaluations,
    materialization,
    shop_tables,
    sql_type,
    write_table,
)
from tests.fakes.warehouses import DIALECTS, dialect_warehouse

BAD_DAY = DAYS[1]
EMPTY_DAY = DAYS[-1] + timedelta(days=3)  # no traffic at all
BAD_TIMESTAMPS = ["2026-09-02 25:61:00", "yesterday"]

CONFIG = """
version: 1
monitors:
  shop:
    start_date: 2026-09-01
    source:
      table: shop_requests
      timestamp_column: ts
      request_id_column: request_id
      pushdown: {mode}{source_extra}
    reference:
      table: shop_training{reference_extra}
    features:
      numeric: [amount, items]
      categorical: [channel, country]
    prediction:
      column: decision
      type: label
    segments: [model_version]
"""


SERVED_SECTIONS = """
    service:
      latency_column: latency_ms
      status_column: http_status
      slo:
        latency_ms: 250
        latency_percentile: 95
        error_rate: 0.05
    llm:
      model_column: llm_model
      prompt_tokens_column: prompt_tokens
      completion_tokens_column: completion_tokens
      cached_tokens_column: cached_tokens
      intent_column: intent
      question_column: question
      answer_column: answer
      context_column: context
      prices:
        - {{model: gpt-4o-mini, input_per_1k: 0.00015, output_per_1k: 0.0006}}
        - {{model: gpt-4o, input_per_1k: 0.0025, output_per_1k: 0.01, cached_input_per_1k: 0.00125}}
      daily_budget_usd: 1.0
    canary: {{version_column: model_version, min_rows: 50}}
    labels: {{table: shop_labels, request_id_column: request_id, label_column: truth{schema}}}
"""
INTENTS = ["refund", "shipping", "account", "other"]


def config(
    mode: str, schema: str | None = None, sample_rows: int | None = None, served: bool = False
) -> str:
    source_extra = reference_extra = ""
    if schema:
        source_extra += f"\n      schema: {schema}"
        reference_extra += f"\n      schema: {schema}"
    if sample_rows:
        source_extra += f"\n      pushdown_sample_rows: {sample_rows}"
    text = CONFIG.format(mode=mode, source_extra=source_extra, reference_extra=reference_extra)
    labels_schema = f", schema: {schema}" if schema else ""
    return text + SERVED_SECTIONS.format(schema=labels_schema) if served else text


def served_day(frame: pd.DataFrame, bad: bool, text_numbers: bool) -> pd.DataFrame:
    """The day with an intent, cached tokens and statuses as text, and on the hostile day bad
    service and LLM values of every kind: missing, negative and (where the warehouse can hold
    it) text latencies, missing and unknown statuses, missing models and intents, negative,
    missing and too large token counts."""
    out = frame.copy()
    # Of the request: a repeated id's rows are copies of one request.
    numbers = [int(str(rid)[-5:]) for rid in out["request_id"]]
    out["intent"] = [INTENTS[i % len(INTENTS)] if i % 17 else None for i in numbers]
    out["cached_tokens"] = (out["prompt_tokens"] // 3).astype(np.float64)
    out["http_status"] = out["http_status"].astype(str)
    # The answer's retrieved context: most support it, every ninth does not.
    out["context"] = [
        f"Order {i} ships tomorrow from Berlin." if i % 9 else "Returns take 30 days."
        for i in numbers
    ]
    if not bad:
        return out
    out["latency_ms"] = out["latency_ms"].astype(object)
    out["prompt_tokens"] = out["prompt_tokens"].astype(object)
    out.loc[20, "latency_ms"] = None
    out.loc[21, "latency_ms"] = -5.0
    out.loc[22, "http_status"] = None
    out.loc[23, "http_status"] = "teapot"
    out.loc[24, "llm_model"] = None
    out.loc[25, "prompt_tokens"] = -10
    out.loc[26, "prompt_tokens"] = None
    out.loc[27, "cached_tokens"] = 1e6  # above the prompt: billed as uncached
    out.loc[28, "cached_tokens"] = None
    if text_numbers:
        out.loc[29, "latency_ms"] = "slow"
        out.loc[30, "prompt_tokens"] = "many"
    return out


def served_tables(data: ShopData, text_numbers: bool) -> dict[str, pd.DataFrame]:
    """:func:`tables` for the monitor with service and LLM sections."""
    out = shop_tables(data)
    days = []
    for d, frame in sorted(data.days.items()):
        bad = d == BAD_DAY
        days.append(served_day(hostile(frame, text_numbers) if bad else frame, bad, text_numbers))
    out["shop_requests"] = pd.concat(days, ignore_index=True)
    labelled = []
    for frame in data.days.values():
        rows = frame.iloc[:250]
        truth = rows["decision"].where(np.arange(len(rows)) % 7 != 0, "review")
        labelled.append(pd.DataFrame({"request_id": rows["request_id"], "truth": truth}))
    out["shop_labels"] = pd.concat(labelled, ignore_index=True)
    return out


def hostile(frame: pd.DataFrame, text_numbers: bool) -> pd.DataFrame:
    """The day with bad input of every kind the cleaning counts: unparseable timestamps,
    repeated request ids, NaN, infinity and null numbers, an unseen category, and (where the
    column's type lets the warehouse hold it) text in a numeric column."""
    bad = frame.copy()
    bad["amount"] = bad["amount"].astype(object)
    bad.loc[0:1, "ts"] = BAD_TIMESTAMPS
    bad.loc[2, "amount"] = np.nan
    bad.loc[3, "amount"] = np.inf
    bad.loc[4, "amount"] = None
    bad.loc[5, "items"] = np.nan
    bad.loc[6, "channel"] = None
    bad.loc[7, "country"] = "xx"
    if text_numbers:
        bad.loc[8, "amount"] = "twelve"
    repeated = bad.iloc[10:14].copy()  # four repeated ids, later in the log
    return pd.concat([bad, repeated], ignore_index=True)


def tables(data: ShopData, text_numbers: bool) -> dict[str, pd.DataFrame]:
    out = shop_tables(data)
    days = [hostile(f, text_numbers) if d == BAD_DAY else f for d, f in sorted(data.days.items())]
    out["shop_requests"] = pd.concat(days, ignore_index=True)
    return out


@dataclass(frozen=True)
class Outcome:
    """What a day's run decided, in comparable values."""

    verdicts: dict[tuple[str, str], tuple[bool, str]]
    live: dict[str, Any]
    quality_rows: Any
    pushdown: str
    sketch_counts: dict[str, list[int]]
    served: dict[str, Any] = field(default_factory=dict)
    how: dict[str, str] = field(default_factory=dict)
    """How each service and LLM asset read the day (``pushdown``, ``rows_read_from``)."""


@dataclass(frozen=True)
class Installation:
    monitoring: Monitoring
    days: dict[date, Outcome]
    incidents: list[tuple[str, str, str, str, str, int]]


def installation(
    home: Path,
    config_text: str,
    warehouse_url: str,
    data_tables: Mapping[str, pd.DataFrame],
    schema: str | None = None,
) -> Installation:
    """The monitor's reference and four days (clean, hostile, drifted, without traffic), then
    the alerting pass, on the given warehouse."""
    if schema:
        engine = sa.create_engine(warehouse_url)
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
    types = {
        "shop_requests": {
            "ts": sa.Text(),
            "amount": sa.Float(),
            "latency_ms": sa.Float(),
            "prompt_tokens": sa.Float(),
            "cached_tokens": sa.Float(),
        }
    }
    for name, frame in data_tables.items():
        write_schema_table(warehouse_url, name, frame, types.get(name), schema)
    config_path = home / "monitors.yaml"
    config_path.write_text(config_text, encoding="utf-8")
    environ = {
        "MONITORING_HOME": str(home),
        "MONITORING_CONFIG": str(config_path),
        "MONITORING_WAREHOUSE_URL": warehouse_url,
        "MONITORING_STORE_URL": f"sqlite:///{home / 'results.db'}",
    }
    parsed = parse_config(config_text, environ, source=str(config_path))
    settings = Settings.from_env(environ)
    instance = dg.DagsterInstance.ephemeral()
    monitoring = Monitoring(
        home=home,
        warehouse_url=warehouse_url,
        store_url=settings.store_url,
        config=parsed,
        fleet=build_fleet(parsed, settings, environ),
        instance=instance,
        environ=environ,
    )
    monitoring.reference("shop")
    days = {}
    for day in (CLEAN_DAY, BAD_DAY, DRIFTED_DAY, EMPTY_DAY):
        days[day] = outcome(monitoring, monitoring.day("shop", day), day)
    sensor = monitoring.defs.resolve_sensor_def("alerting")
    resources = {k: monitoring.defs.resources[k] for k in ("result_store", "slack", "pagerduty")}
    with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
        sensor(ctx)
    alerts = AlertRepository.connect(monitoring.store_url)
    try:
        incidents = sorted(
            (
                i.check,
                i.subject,
                str(i.severity),
                i.first_partition,
                i.last_failing_partition,
                i.failing_partitions,
            )
            for i in alerts.incidents()
        )
    finally:
        alerts.dispose()
    instance.dispose()
    return Installation(monitoring, days, incidents)


def write_schema_table(
    url: str,
    name: str,
    frame: pd.DataFrame,
    types: Mapping[str, sa.types.TypeEngine[Any]] | None,
    schema: str | None,
) -> None:
    """``write_table`` into ``schema`` (the database's default one without it)."""
    if schema is None:
        write_table(url, name, frame, types)
        return
    types = dict(types or {})
    engine = sa.create_engine(url)
    table = sa.Table(
        name,
        sa.MetaData(schema=schema),
        *(sa.Column(c, types.get(c) or sql_type(frame[c])) for c in frame.columns),
    )
    records = [
        {k: (None if v is pd.NA or v is None else v) for k, v in row.items()}
        for row in frame.astype(object).to_dict("records")
    ]
    with engine.begin() as conn:
        table.create(conn)
        conn.execute(sa.insert(table), records)
    engine.dispose()


def outcome(monitoring: Monitoring, result: dg.ExecuteInProcessResult, day: date) -> Outcome:
    verdicts = {}
    for asset in ("live_slice", "feature_drift", "data_quality", *SERVED):
        for check, evaluation in check_evaluations(result, f"shop/{asset}").items():
            verdicts[(asset, check)] = (evaluation.passed, str(evaluation.severity))
    live = materialization(result, "shop/live_slice")
    drift = materialization(result, "shop/feature_drift")
    quality = materialization(result, "shop/data_quality")
    profile = materialization(result, "shop/daily_profile")
    store = ResultRepository.connect(monitoring.store_url)
    try:
        sketches = store.load_sketches("shop", day.isoformat())
        served, how = served_outcome(store, result, day)
    finally:
        store.dispose()
    counts = {
        column: [int(c) for c in sketch.counts] + [sketch.n_missing]
        for column, sketch in sketches.items()
    }
    return Outcome(
        verdicts=verdicts,
        live={
            k: live[k]
            for k in ("rows", "rows_read", "malformed_rows", "duplicate_rows", "findings")
        }
        | {"profile_rows": profile["rows"], "drifted": drift["counts"]},
        quality_rows=quality["day_rows"],
        pushdown=str(live["pushdown"]),
        sketch_counts=counts,
        served=served,
        how=how,
    )


SERVED = (
    "service_metrics",
    "slo_budget",
    "token_costs",
    "output_safety",
    "canary_comparison",
    "performance",
    "faithfulness_scores",
    "hallucination_rate",
)
# Metadata that says how the numbers were computed, not what they are.
HOW = {"pushdown", "rows_read_from", "sample_rows", "day_rows", "path"}
TIMINGS = {"judge_ms_per_1000", "judge_seconds"}  # how long the judge took, run by run


def served_outcome(
    store: ResultRepository, result: dg.ExecuteInProcessResult, day: date
) -> tuple[dict[str, Any], dict[str, str]]:
    """The service and LLM assets' stored rows and metadata (those the monitor has), and how
    they read the day."""
    keys = {m.asset_key.path[-1] for m in result.get_asset_materialization_events()}
    out: dict[str, Any] = {}
    how: dict[str, str] = {}
    for asset in SERVED:
        if asset not in keys:
            continue
        metadata = materialization(result, f"shop/{asset}")
        out[f"{asset}:metadata"] = {k: v for k, v in metadata.items() if k not in HOW | TIMINGS}
        how |= {f"{asset}:{k}": str(v) for k, v in metadata.items() if k in HOW}
        checks = check_evaluations(result, f"shop/{asset}")
        out[f"{asset}:checks"] = {name: dict(e.metadata) for name, e in checks.items()}
        rows = store.load_metrics("shop", asset, day.isoformat())
        out[f"{asset}:rows"] = sorted(
            ((r.name, r.dimensions, r.value) for r in rows if r.name not in TIMINGS),
            key=lambda r: (r[0], r[1]),
        )
    return out, how


def assert_same_decisions(pulled: Installation, pushed: Installation) -> None:
    for day in pulled.days:
        off, on = pulled.days[day], pushed.days[day]
        assert on.verdicts == off.verdicts, day
        assert on.live == off.live, day
        assert on.quality_rows == off.quality_rows, day
        assert on.sketch_counts == off.sketch_counts, day
        assert on.served.keys() == off.served.keys(), day
        for part in on.served:
            assert on.served[part] == off.served[part], (day, part)
        assert off.pushdown.startswith("off: every row of the day pulled")
        assert on.pushdown.startswith("on: aggregates computed in the warehouse"), on.pushdown
    assert pushed.incidents == pulled.incidents


def assert_visible_bad_input(run: Installation) -> None:
    bad = run.days[BAD_DAY]
    assert bad.live["malformed_rows"] >= len(BAD_TIMESTAMPS)
    assert bad.live["duplicate_rows"] == 4
    assert bad.verdicts[("live_slice", "duplicate_requests")][0] is False
    drifted = run.days[DRIFTED_DAY]
    assert drifted.verdicts[("feature_drift", "feature_drift")][0] is False
    assert run.incidents, "the drifted day opens incidents"
    empty = run.days[EMPTY_DAY]
    assert empty.live["rows"] == 0
    assert empty.verdicts[("live_slice", "volume")] == (False, str(dg.AssetCheckSeverity.ERROR))


@pytest.fixture(scope="module")
def sqlite_runs(
    tmp_path_factory: pytest.TempPathFactory, shop_data: ShopData
) -> dict[str, Installation]:
    out = {}
    for mode in ("off", "on"):
        home = tmp_path_factory.mktemp(f"pushdown-sqlite-{mode}")
        url = f"sqlite:///{home / 'warehouse.db'}"
        out[mode] = installation(home, config(mode), url, tables(shop_data, text_numbers=True))
    return out


def test_sqlite_days_pushed_down_decide_as_pulled_days(
    sqlite_runs: dict[str, Installation],
) -> None:
    assert_same_decisions(sqlite_runs["off"], sqlite_runs["on"])
    assert_visible_bad_input(sqlite_runs["on"])
    # Text in the numeric column is counted as the pull path counts it.
    findings = sqlite_runs["on"].days[BAD_DAY].live["findings"]
    assert "twelve" in str(findings)


@pytest.fixture
def wire_schema(postgres_url: str) -> Iterator[str]:
    """The schemas of the test's two installations (each its own), dropped afterwards."""
    schema = "pushdown_wire_assets"
    yield schema
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        for mode in ("off", "on"):
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}_{mode}" CASCADE'))
    engine.dispose()


@pytest.mark.postgres
def test_postgresql_days_pushed_down_decide_as_pulled_days(
    tmp_path_factory: pytest.TempPathFactory,
    shop_data: ShopData,
    postgres_url: str,
    wire_schema: str,
) -> None:
    runs = {}
    for mode in ("off", "on"):
        home = tmp_path_factory.mktemp(f"pushdown-postgres-{mode}")
        schema = f"{wire_schema}_{mode}"
        runs[mode] = installation(
            home,
            config(mode, schema=schema),
            postgres_url,
            tables(shop_data, text_numbers=False),
            schema=schema,
        )
    assert_same_decisions(runs["off"], runs["on"])
    assert_visible_bad_input(runs["on"])
    assert "(postgresql)" in runs["on"].days[CLEAN_DAY].pushdown


def test_a_sample_smaller_than_the_day_keeps_whole_day_counts(
    tmp_path_factory: pytest.TempPathFactory,
    shop_data: ShopData,
    sqlite_runs: dict[str, Installation],
) -> None:
    home = tmp_path_factory.mktemp("pushdown-sample")
    url = f"sqlite:///{home / 'warehouse.db'}"
    sampled = installation(
        home, config("on", sample_rows=100), url, tables(shop_data, text_numbers=True)
    )
    pulled = sqlite_runs["off"]
    for day, on in sampled.days.items():
        off = pulled.days[day]
        if day == EMPTY_DAY:
            assert replace(on, pushdown=off.pushdown) == off
            continue
        # The slice holds 100 rows; the day's counts, bins and categories are every row's.
        assert "a sample of 100 of the day's" in on.pushdown
        assert on.live["rows"] == off.live["rows"] > 100
        assert on.live["profile_rows"] == off.live["profile_rows"] == on.live["rows"]
        assert on.quality_rows == off.quality_rows == on.live["rows"]
        assert on.sketch_counts == off.sketch_counts
        live_checks = {k: v for k, v in on.verdicts.items() if k[0] == "live_slice"}
        assert live_checks == {k: v for k, v in off.verdicts.items() if k[0] == "live_slice"}
    slice_rows = pd.read_parquet(home / "slices" / "shop" / f"{CLEAN_DAY}.parquet")
    assert len(slice_rows) == 100


def test_auto_pushes_down_a_monitor_with_service_and_llm_sections(
    make_monitoring: MonitoringFactory, shop_data: ShopData
) -> None:
    text = SHOP_CONFIG.replace(
        "      request_id_column: request_id\n",
        "      request_id_column: request_id\n      pushdown: auto\n",
        1,
    )
    monitoring = make_monitoring(text, shop_tables(shop_data))
    monitoring.reference("shop")
    result = monitoring.day("shop", CLEAN_DAY)
    reason = str(materialization(result, "shop/live_slice")["pushdown"])
    assert reason.startswith("auto: aggregates computed in the warehouse (sqlite)"), reason
    for asset in ("service_metrics", "token_costs"):
        how = str(materialization(result, f"shop/{asset}")["pushdown"])
        assert "computed in the warehouse (sqlite)" in how, how


def test_on_fails_naming_why_the_day_cannot_be_pushed_down(
    make_monitoring: MonitoringFactory, shop_data: ShopData
) -> None:
    monitoring = make_monitoring(config("on"), tables(shop_data, text_numbers=True))
    # No reference profile yet: nothing to count the day's bins and categories over.
    result = monitoring.day("shop", CLEAN_DAY, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = str(failure.step_failure_data.error)
    assert "source.pushdown is 'on' but the day cannot be pushed down" in message
    assert "no reference profile yet" in message


def test_a_day_pushed_down_over_an_earlier_reference_is_not_profiled_over_the_new_one(
    make_monitoring: MonitoringFactory, shop_data: ShopData
) -> None:
    monitoring = make_monitoring(config("on"), tables(shop_data, text_numbers=True))
    monitoring.reference("shop")
    monitoring.day("shop", CLEAN_DAY)
    moved = shop_data.reference.assign(amount=shop_data.reference["amount"] * 3)
    write_table(monitoring.warehouse_url, "shop_training", moved)
    monitoring.reference("shop")
    job = monitoring.defs.resolve_implicit_global_asset_job_def()

    def materialize(*assets: str) -> dg.ExecuteInProcessResult:
        return job.execute_in_process(
            instance=monitoring.instance,
            partition_key=CLEAN_DAY.isoformat(),
            asset_selection=[dg.AssetKey(["shop", a]) for a in assets],
            raise_on_error=False,
        )

    stale = materialize("daily_profile")
    assert not stale.success
    [failure] = [e for e in stale.all_events if e.is_step_failure]
    assert "pushed down over the bins and categories of an earlier reference profile" in str(
        failure.step_failure_data.error
    )
    assert materialize("live_slice", "daily_profile").success


def test_duckdb_days_pushed_down_decide_as_pulled_days(
    tmp_path_factory: pytest.TempPathFactory, shop_data: ShopData
) -> None:
    pytest.importorskip("duckdb_engine")
    runs = {}
    for mode in ("off", "on"):
        home = tmp_path_factory.mktemp(f"pushdown-duckdb-{mode}")
        url = f"duckdb:///{home / 'warehouse.duckdb'}"
        runs[mode] = installation(home, config(mode), url, tables(shop_data, text_numbers=False))
    assert_same_decisions(runs["off"], runs["on"])
    assert_visible_bad_input(runs["on"])
    assert "(duckdb)" in runs["on"].days[CLEAN_DAY].pushdown


@pytest.mark.parametrize("dialect", DIALECTS)
def test_service_and_llm_days_pushed_down_decide_as_pulled_days(
    dialect: str,
    tmp_path_factory: pytest.TempPathFactory,
    shop_data: ShopData,
    request: pytest.FixtureRequest,
) -> None:
    """A monitor with service and LLM sections: service metrics (per hour, per model and
    version, SLO counts, error budget), token costs and the answers' safety are the pulled
    days' to the last stored number, bad service and LLM values counted alike."""
    text_numbers = dialect == "sqlite"
    runs = {}
    for mode in ("off", "on"):
        home = tmp_path_factory.mktemp(f"pushdown-served-{dialect}-{mode}")
        with dialect_warehouse(dialect, home, request) as (engine, schema):
            runs[mode] = installation(
                home,
                config(mode, schema=schema, served=True),
                engine.url.render_as_string(hide_password=False),
                served_tables(shop_data, text_numbers),
                schema=schema,
            )
    assert_same_decisions(runs["off"], runs["on"])
    assert_visible_bad_input(runs["on"])
    bad = runs["on"].days[BAD_DAY].served
    service = bad["service_metrics:metadata"]
    assert service["latency_missing"] >= 1 + text_numbers
    assert service["latency_negative"] == 1
    assert service["status_missing"] == 1
    assert service["status_unknown"] == 1
    costs = bad["token_costs:metadata"]
    assert costs["rows_missing_tokens"] >= 2 + text_numbers
    assert costs["rows_bad_cached_tokens"] == 2
    assert "(missing model)" in str(costs["by_model"])
    drifted = runs["on"].days[DRIFTED_DAY].verdicts
    assert drifted[("service_metrics", "latency_slo")][0] is False
    assert drifted[("service_metrics", "error_rate")][0] is False
    assert drifted[("token_costs", "cost_budget")][0] is False
    # What drove the failing day is named alike (the trailing days are its usual).
    latency = runs["on"].days[DRIFTED_DAY].served["service_metrics:checks"]["latency_slo"]
    assert "driver" in latency, latency
    pushed = runs["on"].days[CLEAN_DAY]
    assert pushed.served["service_metrics:metadata"]["requests"] == ROWS_PER_DAY
    assert "computed in the warehouse" in pushed.how["service_metrics:pushdown"]
    assert "computed in the warehouse" in pushed.how["token_costs:pushdown"]
    for asset in ("output_safety", "faithfulness_scores"):
        assert "the day's sample" in pushed.how[f"{asset}:rows_read_from"]
    for asset in ("canary_comparison", "performance"):
        assert "of every row were pulled" in pushed.how[f"{asset}:pushdown"]
    assert "pulling their columns of every row" in pushed.pushdown
    pulled = runs["off"].days[CLEAN_DAY]
    assert pulled.how["service_metrics:pushdown"] == "every row of the day's slice read"
