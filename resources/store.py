"""The result database, as the two repositories the assets and the sensors use."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.settings import with_password
from monitoring_pipelines.core.store.database import Database
from monitoring_pipelines.core.store.results import ResultRepository


class ResultStoreResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where every result and all alerting state are written, one transaction per partition.

    Attributes:
        url: SQLAlchemy URL (``MONITORING_STORE_URL``; SQLite under ``MONITORING_HOME`` by
            default, PostgreSQL in production). One that carries a password is given as a
            ``dagster.EnvVar``.
        password: The URL's password when it is given apart (a ``dagster.EnvVar``).
    """

    url: str
    password: str = ""
    _database: Database | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._database = Database.connect(with_password(self.url, self.password))

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._database is not None:
            self._database.dispose()

    def database(self) -> Database:
        if self._database is None:
            self._database = Database.connect(with_password(self.url, self.password))
        return self._database

    def results(self) -> ResultRepository:
        """The assets' results: references, profiles, sketches, drift, metrics."""
        return ResultRepository(self.database())

    def alerts(self) -> AlertRepository:
        """Check results, incidents, the outbox, mutes and cursors."""
        return AlertRepository(self.database())
