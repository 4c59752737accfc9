"""Production storage: Dagster's own instance and the result store both on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from monitoring_pipelines.backfill import days_between, run_backfill
from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.config_loading import load_config
from monitoring_pipelines.core.settings import Settings
from monitoring_pipelines.core.store.results import ResultRepository
from monitoring_pipelines.definitions import build_fleet
from monitoring_pipelines.demo import generate_demo
from monitoring_pipelines.sensors.alerting_pass import run_alerting

ROOT = Path(__file__).parents[2]


@pytest.fixture
def database(postgres_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    name = f"mp_dagster_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_url).set(database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(
            sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
            {"name": name},
        )
        conn.execute(sa.text(f'DROP DATABASE "{name}"'))
    admin.dispose()


@pytest.mark.postgres
def test_runs_checks_and_alerting_on_postgres(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True)
    url = make_url(database)
    # The repository's production instance file, pointed at this database.
    text = (ROOT / "deploy" / "dagster.postgres.yaml").read_text()
    assert "env: DAGSTER_PG_URL" in text
    pg_url = url.render_as_string(hide_password=False)  # postgresql+psycopg2://
    (dagster_home / "dagster.yaml").write_text(text.replace("env: DAGSTER_PG_URL", f'"{pg_url}"'))
    environ = {
        "MONITORING_HOME": str(home),
        "MONITORING_CONFIG": str(ROOT / "demo" / "monitors.yaml"),
        "MONITORING_STORE_URL": database,
        "MONITORING_WAREHOUSE_URL": f"sqlite:///{home / 'warehouse.db'}",
    }
    for key, value in environ.items():  # the runs' workers load the definitions from it
        monkeypatch.setenv(key, value)
    generate_demo(environ["MONITORING_WAREHOUSE_URL"], home / "demo", days=20, scale=0.2)
    settings = Settings.from_env(environ)
    config = load_config(settings.config_path, environ)
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"

    store = AlertRepository.connect(database)
    days = days_between(date(2026, 9, 16), date(2026, 9, 18))  # inside the error burst
    report = run_backfill(
        lambda: (build_fleet(config, settings, environ), instance),
        ["sentiment"],
        days,
        has_reference=lambda m: ResultRepository(store.database).reference_hash(m) is not None,
    )
    assert report.failed == []
    assert report.runs == 1 + len(days)
    (recorded,) = instance.get_backfills()  # the monitor's asset backfill of the days
    daily = dg.RunsFilter(tags={"monitor": "sentiment", "dagster/backfill": recorded.backfill_id})
    assert instance.get_runs_count(daily) == len(days)

    alerts = {name: m.alerts for name, m in config.monitors.items()}
    first = run_alerting(instance, store, alerts, settings.dagster_url, None)
    assert first.ingest.runs == report.runs
    assert first.ingest.evaluations >= len(days) * 5
    error_incidents = [i for i in store.incidents() if i.check == "error_rate"]
    assert len(error_incidents) == 1
    assert error_incidents[0].first_partition == "2026-09-17"
    again = run_alerting(instance, store, alerts, settings.dagster_url, None)
    assert again.ingest.runs == 0
    with store.transaction() as conn:
        stored = conn.execute(sa.text("select count(*) from check_results")).scalar()
    assert stored and stored >= len(days) * 5
    store.dispose()
    instance.dispose()
