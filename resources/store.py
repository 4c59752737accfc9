"""The result store: profiles, sketches, drift, metrics, check results, incidents, outbox."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from monitoring_pipelines.core.alerting.store import AlertStore


class ResultStoreResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where every result is written, one transaction per partition.

    Attributes:
        url: SQLAlchemy URL (``MONITORING_STORE_URL``; SQLite under ``MONITORING_HOME`` by
            default, PostgreSQL in production).
    """

    url: str
    _store: AlertStore | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._store = AlertStore.connect(self.url)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._store is not None:
            self._store.dispose()

    def get_store(self) -> AlertStore:
        if self._store is None:
            self._store = AlertStore.connect(self.url)
        return self._store
