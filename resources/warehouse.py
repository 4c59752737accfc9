"""The warehouse the inference logs and reference tables live in."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import PrivateAttr
from sqlalchemy import Engine

from monitoring_pipelines.core.config import ReferenceConfig, SourceConfig
from monitoring_pipelines.core.ingest import warehouse
from monitoring_pipelines.core.ingest.cleaning import Window
from monitoring_pipelines.core.ingest.warehouse import OutsideWindow
from monitoring_pipelines.core.store.engine import make_engine


class WarehouseResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Reads the user's tables through SQLAlchemy.

    Attributes:
        url: SQLAlchemy URL of the warehouse (``MONITORING_WAREHOUSE_URL``).
        config_dir: Folder of the monitor file; relative reference paths start there.
    """

    url: str
    config_dir: str = "."
    _engine: Engine | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._engine = make_engine(self.url)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._engine is not None:
            self._engine.dispose()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.url)
        return self._engine

    def read_day(
        self, source: SourceConfig, columns: Sequence[str], day: date, window: Window | None = None
    ) -> Iterator[pd.DataFrame]:
        return warehouse.read_day(self.engine, source, columns, day, window)

    def rows_outside_window(self, source: SourceConfig, window: Window) -> OutsideWindow:
        return warehouse.rows_outside_window(self.engine, source, window)

    def read_reference(
        self, reference: ReferenceConfig, columns: Sequence[str]
    ) -> Iterator[pd.DataFrame]:
        return warehouse.read_reference(self.engine, reference, columns, Path(self.config_dir))
