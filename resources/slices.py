"""Where daily slices are kept between the assets that read them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:  # pandas and pyarrow load when a step opens the store, not with the resource
    from monitoring_pipelines.core.ingest.slice_store import SliceStore


class SliceStoreResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Parquet files of each monitor's daily slice.

    Attributes:
        base_dir: Folder of the files (``$MONITORING_HOME/slices`` by default), or an fsspec
            URL (``s3://bucket/prefix/slices`` when ``MONITORING_ARTIFACTS_URL`` names one).
    """

    base_dir: str

    def get_store(self) -> SliceStore:
        from monitoring_pipelines.core.artifacts import artifact_path
        from monitoring_pipelines.core.ingest.slice_store import SliceStore

        return SliceStore(artifact_path(self.base_dir))
