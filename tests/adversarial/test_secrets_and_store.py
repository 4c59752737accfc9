"""Secrets never reach Dagster's storage; the warehouse is only read; the result store holds
any data-derived name and takes concurrent writers of one partition.

Everything is real: SQLite files and PostgreSQL schemas through SQLAlchemy, runs executed in
process by Dagster against an instance on disk, the ``monitoring`` command through click.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

# What the UI shows of the resources is the repository snapshot the code server sends it; Dagster
# has no public API for it.
from dagster._core.remote_representation.external_data import RepositorySnap
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitoring_pipelines.cli import main
from monitoring_pipelines.core.alerting.model import Evaluation
from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.checks import Finding
from monitoring_pipelines.core.config import Severity
from monitoring_pipelines.core.dimensions import decode, fit_key, known_prefix
from monitoring_pipelines.core.errors import ConfigError
from monitoring_pipelines.core.store import tables as t
from monitoring_pipelines.core.store.database import Database
from monitoring_pipelines.core.store.results import ResultRepository
from monitoring_pipelines.definitions import Fleet, load_definitions, load_fleet
from monitoring_pipelines.jobs import asset_job, reference_key
from monitoring_pipelines.sensors.alerting_pass import run_alerting
from tests.assets.conftest import (
    QUIET,
    SHOP_CONFIG,
    MonitoringFactory,
    make_monitoring,  # noqa: F401
    shop_day,
    shop_features,
    write_table,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore::dagster.PreviewWarning"),
    pytest.mark.filterwarnings("ignore::dagster.BetaWarning"),
]

START = date(2026, 9, 1)


def files_holding(root: Path, secrets: list[str]) -> dict[str, list[str]]:
    """Every file under ``root`` whose bytes contain one of ``secrets``, with the secrets."""
    found: dict[str, list[str]] = {}
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            hits = [s for s in secrets if s.encode() in data]
            if hits:
                found[str(path.relative_to(root))] = hits
    return found


def run_storage_text(instance: dg.DagsterInstance) -> str:
    """Everything the instance keeps of its runs (snapshots are stored compressed): each run
    with its config and tags, its job and execution-plan snapshots, and its event log."""
    parts = []
    for run in instance.get_runs():
        parts.append(dg.serialize_value(run))
        if run.job_snapshot_id:
            parts.append(dg.serialize_value(instance.get_job_snapshot(run.job_snapshot_id)))
        if run.execution_plan_snapshot_id:
            plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
            parts.append(dg.serialize_value(plan))
        parts += [dg.serialize_value(e) for e in instance.all_logs(run.run_id)]
    return "\n".join(parts)


# -- 2: database passwords are never stored -------------------------------------------------


def test_database_passwords_never_reach_run_storage_or_the_ui(
    postgres_url: str,
    postgres_schema: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Item 2: `postgresql://user:PASSWORD@...` landed in run snapshots and the UI's config."""
    store_password, warehouse_password = "s3cret-XYZ-store", "s3cret-XYZ-warehouse"
    base = sa.make_url(postgres_url).set(query={"options": f"-csearch_path={postgres_schema}"})
    store_url = base.set(password=store_password).render_as_string(hide_password=False)
    warehouse_url = base.set(password=warehouse_password).render_as_string(hide_password=False)
    rng = np.random.default_rng(2)
    write_table(warehouse_url, "shop_requests", shop_day(rng, START, 300, drifted=False))
    write_table(warehouse_url, "shop_training", shop_features(rng, 1000, drifted=False))
    # The monitor file assembles the warehouse URL from a password variable; the result store's
    # URL comes whole from MONITORING_STORE_URL.
    templated = warehouse_url.replace(warehouse_password, "${WAREHOUSE_PASSWORD}")
    config = tmp_path / "monitors.yaml"
    config.write_text(SHOP_CONFIG.replace("version: 1", f"version: 1\nwarehouse_url: {templated}"))
    monkeypatch.setenv("MONITORING_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MONITORING_CONFIG", str(config))
    monkeypatch.setenv("MONITORING_STORE_URL", store_url)
    monkeypatch.setenv("WAREHOUSE_PASSWORD", warehouse_password)
    monkeypatch.delenv("MONITORING_WAREHOUSE_URL", raising=False)
    secrets = [store_password, warehouse_password]

    fleet = load_fleet(os.environ)
    defs = fleet.definitions
    (tmp_path / "dagster").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "dagster")) as instance:
        built = defs.resolve_implicit_job_def_def_for_assets([reference_key("shop")])
        assert built is not None
        result = built.execute_in_process(
            instance=instance, asset_selection=[reference_key("shop")], run_config=QUIET
        )
        assert result.success
        result = daily_job(fleet, "shop").execute_in_process(
            instance=instance, partition_key=START.isoformat(), run_config=QUIET
        )
        assert result.success
        snapshot = dg.serialize_value(RepositorySnap.from_def(defs.get_repository_def()))
        stored = run_storage_text(instance)

    assert [s for s in secrets if s in stored] == []
    assert files_holding(tmp_path / "dagster", secrets) == {}  # compute logs, raw files
    assert [s for s in secrets if s in snapshot] == []  # what the UI shows of the resources
    assert [s for s in secrets if s in caplog.text] == []
    # The runs really used both databases through the URLs that carry the passwords.
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        day = conn.execute(
            sa.select(t.profiles.c.rows).where(t.profiles.c.partition_key == "2026-09-01")
        )
        assert day.scalar() == 300
    engine.dispose()


def test_a_password_written_in_the_monitor_file_is_refused(tmp_path: Path) -> None:
    """Item 2: a URL whose password is in no environment variable would be stored by Dagster."""
    config = tmp_path / "monitors.yaml"
    url = "postgresql+psycopg2://monitor:hunter2-literal@db.example/warehouse"
    config.write_text(SHOP_CONFIG.replace("version: 1", f"version: 1\nwarehouse_url: {url}"))
    env = {"MONITORING_HOME": str(tmp_path / "home"), "MONITORING_CONFIG": str(config)}

    result = CliRunner().invoke(main, ["validate-config", "--offline", str(config)], env=env)

    assert result.exit_code != 0
    assert "key 'warehouse_url'" in result.output and "environment" in result.output
    assert "hunter2-literal" not in result.output
    with pytest.raises(ConfigError, match="key 'warehouse_url'") as refused:
        load_definitions(env)  # the code location does not load
    assert "hunter2-literal" not in str(refused.value)


# -- 9: the warehouse is only read -----------------------------------------------------------

WAREHOUSE_CONFIG = """
version: 1
monitors:
  ops:
    start_date: 2026-09-01
    source: {table: requests, timestamp_column: ts, request_id_column: request_id}
    service: {latency_column: latency_ms}
"""


def sqlite_warehouse(path: Path) -> None:
    """A small SQLite warehouse in the default (rollback journal) mode."""
    start = datetime(2026, 9, 1, tzinfo=UTC)
    frame = pd.DataFrame(
        {
            "ts": [(start + timedelta(minutes=i)).isoformat() for i in range(120)],
            "request_id": [f"r{i}" for i in range(120)],
            "latency_ms": np.linspace(10.0, 300.0, 120),
        }
    )
    write_table(f"sqlite:///{path}", "requests", frame)


def journal_mode(path: Path) -> str:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_warehouse_is_read_only_to_the_product(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 9: connections set WAL on the user's SQLite file, `?mode=ro` failed, and a wrong
    relative URL created an empty database."""
    work = tmp_path / "work"
    work.mkdir()
    warehouse = work / "warehouse.db"
    sqlite_warehouse(warehouse)
    before = digest(warehouse)
    config = work / "monitors.yaml"
    config.write_text(WAREHOUSE_CONFIG)
    monkeypatch.chdir(work)
    env = {"MONITORING_HOME": str(tmp_path / "home"), "MONITORING_CONFIG": str(config)}

    def validate(url: str) -> Any:
        return CliRunner().invoke(
            main, ["validate-config", str(config)], env={**env, "MONITORING_WAREHOUSE_URL": url}
        )

    for url in (
        f"sqlite:///{warehouse}",
        "sqlite:///warehouse.db",  # relative: from the working directory
        "sqlite:///file:warehouse.db?mode=ro&uri=true",
        f"sqlite:///file:{warehouse}?mode=ro&uri=true",
    ):
        checked = validate(url)
        assert checked.exit_code == 0, (url, checked.output)
        assert "OK" in checked.output

    # A day's run reads it through the warehouse resource.
    environ = {**env, "MONITORING_WAREHOUSE_URL": "sqlite:///file:warehouse.db?mode=ro&uri=true"}
    fleet = load_fleet(environ)
    with dg.DagsterInstance.ephemeral() as instance:
        run = daily_job(fleet, "ops").execute_in_process(
            instance=instance, partition_key="2026-09-01", run_config=QUIET
        )
    assert run.success

    assert digest(warehouse) == before
    assert journal_mode(warehouse) == "delete"
    assert sorted(p.name for p in work.iterdir()) == ["monitors.yaml", "warehouse.db"]

    missing = validate("sqlite:///warehuose.db")
    assert missing.exit_code != 0
    assert str(work / "warehuose.db") in missing.output
    assert "does not exist" in missing.output
    assert not (work / "warehuose.db").exists()

    # The result store is the product's own: it keeps WAL so readers never wait on a run.
    store = Database.connect(f"sqlite:///{tmp_path / 'home' / 'results.db'}")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.dispose()


# -- 18: one partition written by concurrent runs ----------------------------------------------


def test_concurrent_runs_of_one_partition_leave_exactly_one_set_of_rows(store_url: str) -> None:
    """Item 18: two runs of one day at once on PostgreSQL failed with unique violations."""
    writers, rounds = 6, 8
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            barrier.wait()
            repository = ResultRepository.connect(store_url)  # a fresh store: its tables too
            try:
                for _ in range(rounds):
                    values = {(f"m{i}", ""): float(writer) for i in range(20)}
                    repository.save_metrics("bot", "token_costs", "2026-09-01", values)
                    repository.save_profile("bot", "2026-09-01", writer, b"p", {"w": writer}, [])
            finally:
                repository.dispose()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    repository = ResultRepository.connect(store_url)
    try:
        metrics = repository.load_metrics("bot", "token_costs", "2026-09-01")
        with repository.transaction() as conn:
            profiles = conn.execute(sa.select(t.profiles.c.rows)).scalars().all()
    finally:
        repository.dispose()
    assert sorted(m.name for m in metrics) == sorted(f"m{i}" for i in range(20))
    assert len({m.value for m in metrics}) == 1  # one writer's set, not a mixture
    assert len(profiles) == 1


# -- 8: long data-derived names ----------------------------------------------------------------


def long_value(stem: str, tail: str, length: int = 400) -> str:
    """A ``length``-character value; two with different tails share all but their last
    characters, so only a hash keeps them apart once shortened."""
    return (stem * length)[: length - len(tail)] + tail


VERSIONS = [long_value("model-version-", "-a"), long_value("model-version-", "-b")]
INTENTS = [long_value("billing question about ", "-1"), long_value("billing question about ", "-2")]
ARTICLES = [long_value("KB-article ", "-x"), "KB-101"]
MODELS = [long_value("llm-model-", "-small"), long_value("llm-model-", "-large")]
DRIFTING = VERSIONS[1]  # amount shifts within this version only

LONG_CONFIG = """
version: 1
monitors:
  longs:
    start_date: 2026-09-01
    source: {table: long_log, timestamp_column: ts, request_id_column: request_id}
    reference: {table: long_training}
    features: {numeric: [amount], categorical: [intent]}
    segments: [model_version]
    drift:
      min_rows: 50
      columns: {amount: {warn: 0.5, critical: 10}}
    llm:
      model_column: llm_model
      prompt_tokens_column: prompt_tokens
      completion_tokens_column: completion_tokens
      question_column: question
      answer_column: answer
      context_column: retrieved_context
      intent_column: intent
      article_column: kb_article
      judge: {sample_rate: 1.0, daily_cap: 500, min_per_intent: 5, baseline_days: 3}
"""


def long_rows(rng: np.random.Generator, n: int, day: date | None) -> pd.DataFrame:
    """Rows with 400-character versions, intents, articles, models and request ids; on a day,
    ``amount`` moves by three standard deviations in one version (a tenth of the traffic)."""
    version = rng.choice(VERSIONS, n, p=[0.9, 0.1])
    amount = rng.normal(50.0, 10.0, n)
    frame = pd.DataFrame(
        {
            "amount": np.where(version == DRIFTING, amount + (30.0 if day else 0.0), amount),
            "intent": rng.choice(INTENTS, n),
            "model_version": version,
        }
    )
    if day is None:
        return frame
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    frame.insert(0, "ts", [(start + timedelta(seconds=30 * i)).isoformat() for i in range(n)])
    frame.insert(1, "request_id", [long_value("request-", f"-{day:%d}-{i}", 300) for i in range(n)])
    supported = rng.random(n) > 0.3
    frame["kb_article"] = rng.choice(ARTICLES, n)
    frame["llm_model"] = rng.choice(MODELS, n)
    frame["prompt_tokens"] = rng.integers(100, 900, n)
    frame["completion_tokens"] = rng.integers(10, 200, n)
    frame["question"] = "What is the late fee?"
    frame["retrieved_context"] = "The late fee is 5 EUR per month, charged on the first day."
    frame["answer"] = np.where(
        supported, "The late fee is 5 EUR per month.", "The late fee is 80 USD per week."
    )
    return frame


@pytest.fixture
def long_names(
    make_monitoring: MonitoringFactory,  # noqa: F811
    store_url: str,
) -> Iterator[tuple[Any, list[dg.ExecuteInProcessResult]]]:
    rng = np.random.default_rng(8)
    days = [START + timedelta(days=i) for i in range(3)]
    tables = {
        "long_log": pd.concat([long_rows(rng, 1500, d) for d in days], ignore_index=True),
        "long_training": long_rows(rng, 3000, None),
    }
    monitoring = make_monitoring(LONG_CONFIG, tables, store_url=store_url)
    runs = [monitoring.reference("longs", raise_on_error=False)]
    runs += [monitoring.day("longs", d, raise_on_error=False) for d in days]
    yield monitoring, runs


def test_long_data_derived_names_are_stored_on_every_backend(
    long_names: tuple[Any, list[dg.ExecuteInProcessResult]],
) -> None:
    """Item 8: a 400-character segment value, intent or model version failed the day's profile
    and drift on PostgreSQL (`value too long for type character varying(255)`)."""
    monitoring, runs = long_names
    failed = [str(e.event_specific_data) for r in runs for e in r.all_events if e.is_failure]
    assert failed == []
    assert [r.success for r in runs] == [True] * 4
    url = monitoring.store_url
    # The alerting pass records the checks and opens one incident for the drifting version.
    store = AlertRepository.connect(url)
    try:
        alerts = {"longs": monitoring.config.monitors["longs"].alerts}
        run_alerting(monitoring.instance, store, alerts, "http://dagster.test", None)
        incidents = [i for i in store.incidents() if i.check == "feature_drift"]
    finally:
        store.dispose()
    engine = sa.create_engine(url)
    with engine.connect() as conn:

        def values(column: sa.Column[Any]) -> set[str]:
            return {v for v in conn.execute(sa.select(column).distinct()).scalars() if v}

        sketches = values(t.column_sketches.c.column_name)
        drifted = values(t.drift_results.c.column_name)
        subjects = values(t.check_results.c.subject)
        dims = [decode(d) for d in values(t.metrics.c.dimensions)]
        scored = {
            c: values(t.faithfulness_scores.c[c]) for c in ("intent", "article", "model_version")
        }
        queued = values(t.review_queue.c.request_id)
    engine.dispose()

    def segment_names(names: set[str]) -> set[str]:
        return {n for n in names if n.startswith("amount@model_version=")}

    for names in (sketches, drifted, subjects):
        per_version = segment_names(names)
        assert len(per_version) == 2, names  # the two versions stay apart
        assert all(len(n) <= 255 for n in names)
        full = [f"amount@model_version={v}" for v in VERSIONS]
        assert all(any(f.startswith(known_prefix(n)) for f in full) for n in per_version)
    models = {d["model"] for d in dims if "model" in d}
    assert len(models) == 2 and all(known_prefix(m) != m for m in models)
    assert {len(v) <= 255 for vs in scored.values() for v in vs} == {True}
    assert len(scored["intent"]) == 2 and len(scored["model_version"]) == 2
    assert queued and all(len(v) <= 255 for v in queued)

    assert len(incidents) == 1  # each day's finding found the incident the first opened
    [incident] = incidents
    assert incident.subject in subjects
    assert incident.failing_partitions == 3
    assert len(incident.fingerprint) <= 400


# PostgreSQL text cannot hold NUL and no UTF-8 holds a lone surrogate: any other character.
CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
# Names that share a prefix of 0 to 600 characters: once shortened, only the hash tells them apart.
NAMES = st.tuples(
    st.integers(0, 600).flatmap(lambda n: st.text(CHARS, min_size=n, max_size=n)),
    st.lists(st.text(CHARS, max_size=20), min_size=1, max_size=4, unique=True),
).map(lambda drawn: [drawn[0] + tail for tail in drawn[1]])


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(names=NAMES)
def test_any_subject_is_stored_and_found_by_its_full_name(
    store: AlertRepository, names: list[str]
) -> None:
    """Item 8: a name past the 255-character keys failed on PostgreSQL; stored shortened, a
    lookup by the full name must still find it."""
    for name in names:
        fitted = fit_key(name)
        assert len(fitted) <= 255 and fit_key(fitted) == fitted
        assert fitted == name if len(name) <= 255 else name.startswith(known_prefix(fitted))
    findings = tuple(Finding(n, False, Severity.WARN, 1.0, 0.5, n) for n in names)
    evaluation = Evaluation(
        "run",
        "bot",
        "bot/feature_drift",
        "feature_drift",
        "2026-09-01",
        findings,
        datetime.now(UTC),
    )
    with store.transaction() as conn:
        store.record_evaluation(conn, evaluation)
        found = {n: store.timeline(conn, "bot", "feature_drift", n) for n in names}
        stored = conn.execute(sa.select(sa.func.count()).select_from(t.check_results)).scalar()
    assert stored == len(names)
    assert {n: list(points) for n, points in found.items()} == {n: ["2026-09-01"] for n in names}


def daily_job(fleet: Fleet, monitor: str) -> dg.JobDefinition:
    """Dagster's asset job subset to the monitor's daily run, as its schedule requests it."""
    return asset_job(fleet.definitions, fleet.daily(monitor).keys)
