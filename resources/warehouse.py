"""The warehouse the inference logs and reference tables live in."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import PrivateAttr
from sqlalchemy import Engine

from monitoring_pipelines.core.config import MonitorConfig, ReferenceConfig, SourceConfig
from monitoring_pipelines.core.ingest.engine import warehouse_engine
from monitoring_pipelines.core.settings import with_password

if TYPE_CHECKING:  # the readers (and pandas) load when a step reads, not with the resource
    import pandas as pd

    from monitoring_pipelines.core.ingest.cleaning import Window
    from monitoring_pipelines.core.ingest.warehouse import OutsideWindow


class WarehouseResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Reads the user's tables through SQLAlchemy, read-only (a missing SQLite file is an error).

    Attributes:
        url: SQLAlchemy URL of the warehouse (``MONITORING_WAREHOUSE_URL``); one that carries a
            password is given as a ``dagster.EnvVar``.
        password: The URL's password when it is given apart (a ``dagster.EnvVar``).
        config_dir: Folder of the monitor file; relative reference paths start there.
    """

    url: str
    password: str = ""
    config_dir: str = "."
    _engine: Engine | None = PrivateAttr(default=None)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._engine is not None:
            self._engine.dispose()

    @property
    def engine(self) -> Engine:
        """Opened on first use, so a run or sensor that reads no table never opens it."""
        if self._engine is None:
            self._engine = warehouse_engine(with_password(self.url, self.password))
        return self._engine

    def read_day(
        self, source: SourceConfig, columns: Sequence[str], day: date, window: Window | None = None
    ) -> Iterator[pd.DataFrame]:
        from monitoring_pipelines.core.ingest import warehouse

        return warehouse.read_day(self.engine, source, columns, day, window)

    def rows_outside_window(self, source: SourceConfig, window: Window) -> OutsideWindow:
        from monitoring_pipelines.core.ingest import warehouse

        return warehouse.rows_outside_window(self.engine, source, window)

    def read_reference(
        self, reference: ReferenceConfig, columns: Sequence[str]
    ) -> Iterator[pd.DataFrame]:
        from monitoring_pipelines.core.ingest import warehouse

        return warehouse.read_reference(self.engine, reference, columns, Path(self.config_dir))

    def reference_time_column(
        self, reference: ReferenceConfig, source_timestamp: str
    ) -> str | None:
        from monitoring_pipelines.core.ingest import warehouse

        return warehouse.reference_time_column(
            self.engine, reference, source_timestamp, Path(self.config_dir)
        )

    def reference_fingerprint(self, monitor: MonitorConfig) -> str:
        """A digest of the monitor's reference source and fitted settings (changes when the
        reference would fit differently)."""
        from monitoring_pipelines.core.profile.reference_source import reference_fingerprint

        return reference_fingerprint(self.engine, monitor, Path(self.config_dir))

    def reference_columns(self, reference: ReferenceConfig) -> list[str]:
        from monitoring_pipelines.core.ingest import warehouse

        return warehouse.reference_columns(self.engine, reference, Path(self.config_dir))
