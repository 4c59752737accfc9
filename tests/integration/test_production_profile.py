"""The production profile's configuration: the instance file (PostgreSQL storage, the queued run
coordinator's limits per monitor and per warehouse, per-machine folders from the environment),
the Celery executor chosen by MONITORING_EXECUTOR for every monitor job, and the warehouse tag
every run carries. The distributed run itself is tests/integration/test_distributed_profile.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import make_url

from monitoring_pipelines.core.config_loading import load_config
from monitoring_pipelines.core.errors import ConfigError
from monitoring_pipelines.core.settings import Settings
from monitoring_pipelines.definitions import Fleet, build_fleet
from monitoring_pipelines.executors import CELERY_SETTINGS
from monitoring_pipelines.jobs import asset_job, warehouse_tag

ROOT = Path(__file__).parents[2]
PRODUCTION = ROOT / "deploy" / "dagster.production.yaml"
BROKER = "redis://127.0.0.1:6379/7"


@pytest.fixture
def instance_database(postgres_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for Dagster's instance, dropped afterwards."""
    name = f"distributed_profile_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(
            sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
            {"n": name},
        )
        conn.execute(sa.text(f'DROP DATABASE "{name}"'))
    admin.dispose()


@pytest.mark.postgres
def test_the_production_instance_file(
    instance_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(PRODUCTION.read_text())
    monkeypatch.setenv("DAGSTER_PG_URL", instance_database)
    monkeypatch.setenv("DAGSTER_LOCAL_ARTIFACTS_DIR", str(tmp_path / "scratch"))
    monkeypatch.setenv("DAGSTER_COMPUTE_LOGS_DIR", str(tmp_path / "logs"))
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"
        assert instance.root_directory == str(tmp_path / "scratch")
        queue = instance.get_concurrency_config().run_queue_config
        assert queue is not None
        limits = {limit["key"]: limit for limit in queue.tag_concurrency_limits}
        assert limits["monitor"]["limit"] == 1 and limits["warehouse"]["limit"] == 4
        assert all(
            limit["value"] == {"applyLimitPerUniqueValue": True} for limit in limits.values()
        )
        # What a worker receives: the folders stay references to its own environment.
        ref = instance.get_ref()
        assert ref.local_artifact_storage_data.config_dict == {
            "base_dir": {"env": "DAGSTER_LOCAL_ARTIFACTS_DIR"}
        }
        assert instance_database not in str(ref.storage_data.config_dict)
    finally:
        instance.dispose()


def test_the_worker_configuration_names_the_same_broker() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "celery.yaml").read_text())["execution"]["config"]
    assert config == {
        "broker": {"env": "MONITORING_CELERY_BROKER"},
        "backend": {"env": "MONITORING_CELERY_BROKER"},
        "config_source": CELERY_SETTINGS,
    }


def definitions(tmp_path: Path, **extra: str) -> Fleet:
    environ = {
        "MONITORING_HOME": str(tmp_path / "home"),
        "MONITORING_CONFIG": str(ROOT / "demo" / "monitors.yaml"),
        **extra,
    }
    settings = Settings.from_env(environ)
    return build_fleet(load_config(settings.config_path, environ), settings, environ)


def monitor_jobs(fleet: Fleet) -> dict[str, dg.JobDefinition]:
    """Each monitor's run by its name, as the job its runs execute (Dagster's asset job)."""
    return {
        run.name: asset_job(fleet.definitions, run.keys)
        for runs in fleet.runs.values()
        for run in runs
    }


def test_celery_runs_every_monitor_run_when_configured(tmp_path: Path) -> None:
    default = monitor_jobs(definitions(tmp_path))
    assert default and {j.executor_def.name for j in default.values()} == {"in_process"}
    celery = monitor_jobs(
        definitions(tmp_path, MONITORING_EXECUTOR="celery", MONITORING_CELERY_BROKER=BROKER)
    )
    assert set(celery) == set(default)
    assert {j.executor_def.name for j in celery.values()} == {"celery_executor"}
    multi = monitor_jobs(definitions(tmp_path, MONITORING_EXECUTOR="multiprocess"))
    assert {j.executor_def.name for j in multi.values()} == {"multiprocess"}


def test_every_monitor_run_carries_its_warehouse(tmp_path: Path) -> None:
    url = "postgresql+psycopg2://reader:s3cret@warehouse.internal:5433/analytics"
    fleet = definitions(tmp_path, MONITORING_WAREHOUSE_URL=url)
    runs = [run for each in fleet.runs.values() for run in each]
    assert runs
    for run in runs:
        assert run.tags["warehouse"] == "postgresql-warehouse.internal-5433-analytics"
        assert run.tags["monitor"] == run.monitor
    # the schedules request the runs with them
    for run in runs:
        schedule = fleet.definitions.resolve_schedule_def(f"{run.name}_schedule")
        context = dg.build_schedule_context(
            scheduled_execution_time=datetime(2026, 10, 2, tzinfo=UTC),
            repository_def=fleet.definitions.get_repository_def(),
        )
        (request,) = schedule.evaluate_tick(context).run_requests or []
        assert dict(run.tags).items() <= request.tags.items()
    embedded = definitions(tmp_path)
    tags = {run.tags["warehouse"] for each in embedded.runs.values() for run in each}
    assert tags == {"sqlite-warehouse.db"}


def test_warehouse_tags_are_short_and_hold_no_secret() -> None:
    assert warehouse_tag("sqlite:////data/monitoring/warehouse.db") == "sqlite-warehouse.db"
    assert warehouse_tag("snowflake://u:pw@acct/db/schema") == "snowflake-acct-db-schema"
    long = warehouse_tag(f"postgresql://u:pw@{'h' * 80}.example.com:5432/db")
    assert len(long) == 63 and "pw" not in long
    assert long != warehouse_tag(f"postgresql://u:pw@{'h' * 80}.example.org:5432/db")


def test_the_executor_setting_is_checked(tmp_path: Path) -> None:
    home = {"MONITORING_HOME": str(tmp_path)}
    with pytest.raises(ConfigError, match="MONITORING_CELERY_BROKER"):
        Settings.from_env({**home, "MONITORING_EXECUTOR": "celery"})
    with pytest.raises(ConfigError, match="expected one of in_process, multiprocess, celery"):
        Settings.from_env({**home, "MONITORING_EXECUTOR": "dask"})
    assert Settings.from_env({**home, "MONITORING_EXECUTOR": "in-process"}).executor == "in_process"


def test_the_sensors_runs_carry_the_warehouse_too() -> None:
    from datetime import date

    from monitoring_pipelines.core.config import AlertsConfig
    from monitoring_pipelines.sensors.alerting import report_requests

    [request] = report_requests(
        {("bot", "2026-06-01")},
        {"bot": dg.AssetKey(["bot", "daily_report"])},
        {"bot": AlertsConfig.model_validate({"slack_channel": "#ml"})},
        "c1",
        date(2026, 6, 1),
        run_tags={"warehouse": "sqlite-warehouse.db", "monitor": "ignored"},
    )
    assert request.tags == {"warehouse": "sqlite-warehouse.db", "monitor": "bot"}
