"""Where daily slices are kept between the assets that read them."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from monitoring_pipelines.core.ingest.slice_store import SliceStore


class SliceStoreResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Parquet files of each monitor's daily slice.

    Attributes:
        base_dir: Folder of the files (``$MONITORING_HOME/slices`` by default).
    """

    base_dir: str

    def get_store(self) -> SliceStore:
        return SliceStore(Path(self.base_dir))
