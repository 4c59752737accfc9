"""Asset-tier fixtures: a tiny SQLite warehouse, a monitor file, and Definitions run in process.

Everything is real: the warehouse is an SQLite file written with SQLAlchemy, the configuration
goes through ``parse_config``, the Definitions come from ``build_definitions`` and runs execute
in process against an ephemeral Dagster instance. Nothing of the product is mocked.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from monitoring_pipelines.core.config import MonitorFile
from monitoring_pipelines.core.config_loading import parse_config
from monitoring_pipelines.core.settings import Settings
from monitoring_pipelines.definitions import Fleet, build_fleet
from monitoring_pipelines.jobs import Kind, MonitorRun, asset_job, reference_key

HERE = Path(__file__).parent

# Per-partition asset checks are a Dagster preview; definitions.py accepts that knowingly.
WARNING_FILTERS = (
    "ignore::dagster.PreviewWarning",
    "ignore::dagster.BetaWarning",
)

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}

# Float metadata carries six significant digits (assets/common.py); the result store keeps
# full precision, so exactness is asserted there.
METADATA_REL = 1e-5


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).parents:
            for spec in WARNING_FILTERS:
                item.add_marker(pytest.mark.filterwarnings(spec))


# -- the shop monitor: tabular features, a label, service columns, LLM columns -----------------

START = date(2026, 9, 1)
DAYS = [START + timedelta(days=i) for i in range(4)]
CLEAN_DAY = DAYS[0]
DRIFTED_DAY = DAYS[2]
ROWS_PER_DAY = 300
REFERENCE_ROWS = 3000
CLEAN_ERRORS = 3  # 1 % errors: inside the 5 % SLO
DRIFTED_ERRORS = 24  # 8 %: over the SLO but under twice it, so a warning
PRICES = {"gpt-4o-mini": (0.00015, 0.0006), "gpt-4o": (0.0025, 0.01)}
UNPRICED_MODEL = "local-llama"

SHOP_CONFIG = """
version: 1
monitors:
  shop:
    description: Checkout assistant (tabular risk model plus an LLM helper)
    start_date: 2026-09-01
    source:
      table: shop_requests
      timestamp_column: ts
      request_id_column: request_id
    reference:
      table: shop_training
    features:
      numeric: [amount, items]
      categorical: [channel, country]
    prediction:
      column: decision
      type: label
    segments: [model_version]
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
      question_column: question
      answer_column: answer
      prices:
        - {model: gpt-4o-mini, input_per_1k: 0.00015, output_per_1k: 0.0006}
        - {model: gpt-4o, input_per_1k: 0.0025, output_per_1k: 0.01}
      daily_budget_usd: 1.0
"""

CHANNELS = ["web", "app", "api"]
COUNTRIES = ["de", "fr", "it", "es"]
DECISIONS = ["approve", "review", "reject"]


def shop_features(rng: np.random.Generator, n: int, drifted: bool) -> pd.DataFrame:
    """Features and predictions; a drifted day doubles amounts and reshuffles the mix."""
    channel_p = [0.1, 0.3, 0.6] if drifted else [0.5, 0.3, 0.2]
    decision_p = [0.2, 0.3, 0.5] if drifted else [0.7, 0.2, 0.1]
    return pd.DataFrame(
        {
            "amount": np.round(rng.lognormal(3.5, 0.5, n) * (2.0 if drifted else 1.0), 2),
            "items": rng.poisson(3, n).astype(np.float64),
            "channel": rng.choice(CHANNELS, n, p=channel_p),
            "country": rng.choice(COUNTRIES, n, p=[0.4, 0.3, 0.2, 0.1]),
            "decision": rng.choice(DECISIONS, n, p=decision_p),
        }
    )


def shop_day(rng: np.random.Generator, day: date, n: int, drifted: bool) -> pd.DataFrame:
    """One day of the inference log, with ISO-8601 text timestamps as many logs store them."""
    frame = shop_features(rng, n, drifted)
    seconds = np.sort(rng.integers(0, 86_400, n))
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    frame.insert(0, "ts", [(start + timedelta(seconds=int(s))).isoformat() for s in seconds])
    frame.insert(1, "request_id", [f"{day:%m%d}-{i:05d}" for i in range(n)])
    frame["model_version"] = rng.choice(["v1", "v2"], n)
    frame["latency_ms"] = np.round(rng.gamma(4.0, 30.0 if not drifted else 120.0, n), 1)
    status = np.full(n, 200)
    errors = DRIFTED_ERRORS if drifted else CLEAN_ERRORS
    status[rng.choice(n, errors, replace=False)] = 503
    frame["http_status"] = status
    models = rng.choice(["gpt-4o-mini", "gpt-4o", UNPRICED_MODEL], n, p=[0.6, 0.3, 0.1])
    frame["llm_model"] = models
    scale = 4 if drifted else 1
    frame["prompt_tokens"] = rng.integers(200, 1200, n) * scale
    frame["completion_tokens"] = rng.integers(20, 400, n) * scale
    frame["question"] = [f"Where is my order {i}?" for i in range(n)]
    frame["answer"] = [f"Order {i} ships tomorrow." for i in range(n)]
    return frame


@dataclass(frozen=True)
class ShopData:
    """The data written to the shop warehouse, kept so tests compute expectations from it."""

    reference: pd.DataFrame
    days: Mapping[date, pd.DataFrame]


@pytest.fixture(scope="session")
def shop_data() -> ShopData:
    rng = np.random.default_rng(20260901)
    reference = shop_features(rng, REFERENCE_ROWS, drifted=False)
    days = {d: shop_day(rng, d, ROWS_PER_DAY, drifted=d == DRIFTED_DAY) for d in DAYS}
    return ShopData(reference=reference, days=days)


# -- the warehouse ---------------------------------------------------------------------------


def sql_type(values: pd.Series) -> sa.types.TypeEngine[Any]:
    if pd.api.types.is_bool_dtype(values):
        return sa.Boolean()
    if pd.api.types.is_integer_dtype(values):
        return sa.Integer()
    if pd.api.types.is_float_dtype(values):
        return sa.Float()
    return sa.Text()


def write_table(
    url: str,
    name: str,
    frame: pd.DataFrame,
    types: Mapping[str, sa.types.TypeEngine[Any]] | None = None,
) -> None:
    """Create ``name`` with typed columns and insert ``frame``'s rows as they are.

    ``types`` overrides a column's SQL type, e.g. a REAL column that also holds stray text
    (SQLite keeps such values as text, as real logs sometimes do).
    """
    types = dict(types or {})
    engine = sa.create_engine(url)
    table = sa.Table(
        name,
        sa.MetaData(),
        *(sa.Column(c, types.get(c) or sql_type(frame[c])) for c in frame.columns),
    )
    records = [
        {k: (None if v is pd.NA else v) for k, v in row.items()}
        for row in frame.astype(object).to_dict("records")
    ]
    # Untyped columns for the insert: values reach the driver as they are, unconverted.
    raw = sa.table(name, *(sa.column(c) for c in frame.columns))
    with engine.begin() as conn:
        table.drop(conn, checkfirst=True)
        table.create(conn)
        if records:
            conn.execute(sa.insert(raw), records)
    engine.dispose()


def stored_metrics(url: str, monitor: str, asset: str, partition: str) -> dict[str, float | None]:
    """A partition's metrics from the result store as ``name`` or ``name{dimensions}``."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "select name, dimensions, value from metrics where monitor = :m "
                    "and asset = :a and partition_key = :p"
                ),
                {"m": monitor, "a": asset, "p": partition},
            ).all()
    finally:
        engine.dispose()
    return {(r.name + r.dimensions if r.dimensions else r.name): r.value for r in rows}


def count_rows(url: str, table: str, **where: str) -> int:
    """Rows of a result-store table matching ``where`` (column = value)."""
    engine = sa.create_engine(url)
    try:
        meta = sa.Table(table, sa.MetaData(), autoload_with=engine)
        query = sa.select(sa.func.count()).select_from(meta)
        for column, value in where.items():
            query = query.where(meta.c[column] == value)
        with engine.connect() as conn:
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


# -- the product, built as the code location builds it ----------------------------------------


@dataclass
class Monitoring:
    """One product installation: home folder, warehouse, result store, Definitions, instance."""

    home: Path
    warehouse_url: str
    store_url: str
    config: MonitorFile
    fleet: Fleet
    instance: dg.DagsterInstance
    environ: Mapping[str, str] = field(default_factory=dict)

    @property
    def defs(self) -> dg.Definitions:
        return self.fleet.definitions

    def with_resources(self, **overrides: dg.ConfigurableResource) -> Monitoring:  # type: ignore[type-arg]
        """The same installation with some resources replaced."""
        settings = Settings.from_env(self.environ)
        fleet = build_fleet(self.config, settings, self.environ, overrides)
        return dataclasses.replace(self, fleet=fleet)

    def with_definitions(self, extra: dg.Definitions) -> Monitoring:
        """The same installation with ``extra`` definitions merged in (its runs unchanged)."""
        defs = dg.Definitions.merge(self.defs, extra)
        return dataclasses.replace(self, fleet=Fleet(defs, self.fleet.runs))

    def run_of(self, monitor: str, kind: Kind = Kind.DAILY) -> MonitorRun:
        """The monitor's run of ``kind`` (its schedule requests it)."""
        run = self.fleet.run(monitor, kind)
        assert run is not None, f"monitor {monitor} has no {kind} run"
        return run

    def job(self, monitor: str, kind: Kind = Kind.DAILY) -> dg.JobDefinition:
        """Dagster's asset job subset to the monitor's run of ``kind``, as its runs execute."""
        return asset_job(self.defs, self.run_of(monitor, kind).keys)

    def daily_assets(self, monitor: str) -> set[dg.AssetKey]:
        """The assets a run of the monitor's day materializes."""
        return set(self.run_of(monitor).keys)

    def reference(self, monitor: str, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
        """A run of the monitor's reference asset, as the UI's Materialize or the CLI launches
        it (Dagster's asset job, by asset selection)."""
        key = reference_key(monitor)
        job = self.defs.resolve_implicit_job_def_def_for_assets([key])
        assert job is not None
        return job.execute_in_process(
            instance=self.instance,
            asset_selection=[key],
            raise_on_error=raise_on_error,
            run_config=QUIET,
        )

    def day(
        self, monitor: str, day: date, raise_on_error: bool = True
    ) -> dg.ExecuteInProcessResult:
        """A run of the monitor's day for one partition."""
        return self.job(monitor).execute_in_process(
            instance=self.instance,
            partition_key=day.isoformat(),
            raise_on_error=raise_on_error,
            run_config=QUIET,
        )


MonitoringFactory = Callable[..., Monitoring]


@pytest.fixture(scope="session")
def make_monitoring(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[MonitoringFactory]:
    """Builds an installation from a monitor-file text and the warehouse tables to write.

    Args (of the returned callable):
        config_text: The monitor file, as YAML.
        tables: Warehouse tables by name, as frames.
        types: Per table, SQL types overriding the inferred ones.
        store_url: Result store URL (SQLite under the home folder by default).
    """
    instances: list[dg.DagsterInstance] = []

    def build(
        config_text: str,
        tables: Mapping[str, pd.DataFrame],
        types: Mapping[str, Mapping[str, sa.types.TypeEngine[Any]]] | None = None,
        store_url: str | None = None,
    ) -> Monitoring:
        home = tmp_path_factory.mktemp("monitoring")
        warehouse_url = f"sqlite:///{home / 'warehouse.db'}"
        for name, frame in tables.items():
            write_table(warehouse_url, name, frame, (types or {}).get(name))
        config_path = home / "monitors.yaml"
        config_path.write_text(config_text, encoding="utf-8")
        environ = {
            "MONITORING_HOME": str(home),
            "MONITORING_CONFIG": str(config_path),
            "MONITORING_WAREHOUSE_URL": warehouse_url,
            "MONITORING_STORE_URL": store_url or f"sqlite:///{home / 'results.db'}",
        }
        config = parse_config(config_text, environ, source=str(config_path))
        settings = Settings.from_env(environ)
        instance = dg.DagsterInstance.ephemeral()
        instances.append(instance)
        return Monitoring(
            home=home,
            warehouse_url=warehouse_url,
            store_url=settings.store_url,
            config=config,
            fleet=build_fleet(config, settings, environ),
            instance=instance,
            environ=environ,
        )

    yield build
    for instance in instances:
        instance.dispose()


def shop_tables(data: ShopData) -> dict[str, pd.DataFrame]:
    return {
        "shop_requests": pd.concat(data.days.values(), ignore_index=True),
        "shop_training": data.reference,
    }


@dataclass(frozen=True)
class ShopRuns:
    """The shop installation after its reference and two days (one clean, one drifted)."""

    monitoring: Monitoring
    data: ShopData
    reference: dg.ExecuteInProcessResult
    days: Mapping[date, dg.ExecuteInProcessResult]


@pytest.fixture(scope="session")
def shop_runs(make_monitoring: MonitoringFactory, shop_data: ShopData) -> ShopRuns:
    monitoring = make_monitoring(SHOP_CONFIG, shop_tables(shop_data))
    reference = monitoring.reference("shop")
    days = {d: monitoring.day("shop", d) for d in (CLEAN_DAY, DRIFTED_DAY)}
    return ShopRuns(monitoring=monitoring, data=shop_data, reference=reference, days=days)


# -- reading results back ---------------------------------------------------------------------


def materialization(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    """Plain values of the metadata of the one materialization of ``asset`` in the run."""
    key = dg.AssetKey(asset.split("/"))
    events = [m for m in result.get_asset_materialization_events() if m.asset_key == key]
    assert len(events) == 1, f"expected one materialization of {asset}, got {len(events)}"
    materialized = events[0].materialization
    assert materialized is not None
    return {k: v.value for k, v in materialized.metadata.items()}


@dataclass(frozen=True)
class CheckEvaluation:
    """One asset-check evaluation as the alerting path sees it."""

    check: str
    passed: bool
    severity: dg.AssetCheckSeverity
    partition: str | None
    metadata: Mapping[str, Any]

    @property
    def findings(self) -> list[dict[str, Any]]:
        value = self.metadata["findings"]
        return json.loads(value) if isinstance(value, str) else list(value)

    @property
    def summary(self) -> str:
        return str(self.metadata["summary"])


def check_evaluations(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, CheckEvaluation]:
    """The run's check evaluations on ``asset`` by check name."""
    key = dg.AssetKey(asset.split("/"))
    out: dict[str, CheckEvaluation] = {}
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.asset_key != key:
            continue
        assert evaluation.check_name not in out, f"{evaluation.check_name} evaluated twice"
        out[evaluation.check_name] = CheckEvaluation(
            check=evaluation.check_name,
            passed=evaluation.passed,
            severity=evaluation.severity,
            partition=evaluation.partition,
            metadata={k: v.value for k, v in evaluation.metadata.items()},
        )
    return out


def table_rows(table: dg.TableMetadataValue) -> list[dict[str, Any]]:
    """The records of a table metadata value as {column: cell}, in the table's order."""
    assert isinstance(table, dg.TableMetadataValue), type(table)
    columns = [c.name for c in table.schema.columns]
    rows = [dict(r.data) for r in table.records]
    assert all(list(row) == columns for row in rows)
    return rows


def markdown_rows(table: str) -> list[dict[str, str]]:
    """The rows of a markdown table as {header: cell}."""
    lines = [line.strip().strip("|") for line in table.strip().splitlines()]
    headers = [h.strip() for h in lines[0].split("|")]
    return [
        dict(zip(headers, (c.strip() for c in line.split("|")), strict=True)) for line in lines[2:]
    ]


def failure_description(result: dg.ExecuteInProcessResult) -> str:
    """The description of the run's (first) dagster.Failure."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            user = event.step_failure_data.user_failure_data
            if user is not None and user.description:
                return user.description
            if event.step_failure_data.error is not None:
                return event.step_failure_data.error.message
    raise AssertionError("the run has no step failure")
