"""What every ``monitoring`` command shares: the settings, the lazily opened monitor file,
result store and Dagster instance, and the way a command fails."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click
from sqlalchemy.exc import SQLAlchemyError

from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.config import MonitorFile
from monitoring_pipelines.core.config_loading import load_config
from monitoring_pipelines.core.errors import StoreError, describe_fault
from monitoring_pipelines.core.settings import Settings
from monitoring_pipelines.core.store.database import Database
from monitoring_pipelines.core.store.results import ResultRepository

# Written to a new DAGSTER_HOME that has no dagster.yaml (`make` copies the repository's).
INSTANCE_YAML = """\
telemetry:
  enabled: false
run_queue:
  max_concurrent_runs: 2
"""


class Context:
    """Settings and lazily opened configuration and store for the commands."""

    def __init__(self, config_path: str | None) -> None:
        environ = dict(os.environ)
        if config_path:
            environ["MONITORING_CONFIG"] = config_path
        self.environ = environ
        self.settings = Settings.from_env(environ)
        self._database: Database | None = None

    def config(self) -> MonitorFile:
        """The monitor file, read and validated on every call."""
        return load_config(self.settings.config_path, self.environ)

    def database(self) -> Database:
        """The result database, connected on first use."""
        if self._database is None:
            try:
                self._database = Database.connect(self.settings.store_url)
            except (OSError, SQLAlchemyError) as exc:
                raise StoreError(
                    f"cannot open the result store {self.settings.store_url}: {describe_fault(exc)}"
                ) from exc
        return self._database

    def results(self) -> ResultRepository:
        """The assets' stored results."""
        return ResultRepository(self.database())

    def alerts(self) -> AlertRepository:
        """Incidents, the outbox, mutes and cursors."""
        return AlertRepository(self.database())

    def instance(self) -> Any:
        """The Dagster instance, settling DAGSTER_HOME (and its dagster.yaml) first."""
        import dagster as dg

        home = os.environ.get("DAGSTER_HOME") or str(self.settings.home / "dagster")
        instance_yaml = Path(home) / "dagster.yaml"
        try:
            Path(home).mkdir(parents=True, exist_ok=True)
            if not instance_yaml.exists():
                instance_yaml.write_text(INSTANCE_YAML, encoding="utf-8")
        except OSError as exc:
            raise StoreError(
                f"cannot set up Dagster's instance in {home} (DAGSTER_HOME): {describe_fault(exc)}"
            ) from exc
        os.environ["DAGSTER_HOME"] = home
        return dg.DagsterInstance.get()


pass_context = click.make_pass_decorator(Context)


def fail(message: str) -> NoReturn:
    """Print ``message`` to stderr and exit with status 2, as for a usage error."""
    click.echo(message, err=True)
    sys.exit(2)
