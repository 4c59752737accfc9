"""Where daily slices are kept between the assets that read them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:  # pandas and pyarrow load when a step opens the store, not with the resource
    from monitoring_pipelines.core.ingest.slice_store import SliceStore


class SliceStoreResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Parquet files of each monitor's daily slice.

    Attributes:
        base_dir: Folder of the files (``$MONITORING_HOME/slices`` by default).
    """

    base_dir: str

    def get_store(self) -> SliceStore:
        from monitoring_pipelines.core.ingest.slice_store import SliceStore

        return SliceStore(Path(self.base_dir))
