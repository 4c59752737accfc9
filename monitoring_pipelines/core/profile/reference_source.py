"""Whether a monitor's reference changed since it was fitted, without reading it: a
fingerprint of the reference's source (a file's size and modification time, a table's or a
query's row count and columns) and of the settings that shape the fit.

A backfill refits a reference only when it is missing or its fingerprint changed. A table
whose rows were rewritten in place with the same count and columns keeps its fingerprint:
`monitoring backfill --rebuild-reference` refits it then (README.md, "Backfills").
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sqlalchemy import Engine, func, select, table, text
from sqlalchemy.exc import SQLAlchemyError

from monitoring_pipelines.core.config import MonitorConfig, ReferenceConfig
from monitoring_pipelines.core.errors import SourceError
from monitoring_pipelines.core.ingest.warehouse import (
    reference_columns,
    reference_path,
    table_columns,
)

# Keys of a monitor that do not change what its reference fit computes.
NOT_FITTED = {"alerts", "retention", "description", "start_date", "end_date", "checks"}


def reference_fingerprint(engine: Engine, monitor: MonitorConfig, base_dir: Path) -> str:
    """A digest of the reference's source and of the monitor's fitted settings.

    Raises:
        SourceError: The reference cannot be read (missing table or file, failing query).
    """
    assert monitor.reference is not None
    settings = monitor.model_dump(mode="json", exclude=NOT_FITTED)
    source = _source_state(engine, monitor.reference, base_dir)
    text_ = json.dumps({"settings": settings, "source": source}, sort_keys=True, default=str)
    return hashlib.sha256(text_.encode()).hexdigest()[:32]


def _source_state(engine: Engine, reference: ReferenceConfig, base_dir: Path) -> object:
    if reference.path:
        path = reference_path(reference, base_dir)
        try:
            stat = path.stat()
        except OSError as exc:
            raise SourceError(f"cannot read the reference file {path}: {exc}") from exc
        return {"file": str(path), "bytes": stat.st_size, "modified_ns": stat.st_mtime_ns}
    if reference.table:
        columns = table_columns(engine, reference.table, reference.db_schema)
        counted = select(func.count()).select_from(
            table(reference.table, schema=reference.db_schema)
        )
    else:
        assert reference.query is not None
        columns = {c: "" for c in reference_columns(engine, reference, base_dir)}
        counted = select(func.count()).select_from(text(f"({reference.query}) AS reference"))
    try:
        with engine.connect() as conn:
            rows = conn.execute(counted).scalar_one()
    except SQLAlchemyError as exc:
        raise SourceError(f"cannot count the reference's rows: {exc}") from exc
    return {"columns": columns, "rows": rows}
