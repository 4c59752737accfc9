"""Reading the user's tables through SQLAlchemy: one UTC day of the inference log, in chunks,
and the reference data from a table, a query or a parquet/CSV file."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from monitoring_pipelines.core.config import MonitorConfig, ReferenceConfig, SourceConfig
from monitoring_pipelines.core.errors import SourceError


def table_columns(engine: Engine, table: str, schema: str | None = None) -> dict[str, str]:
    """Column names and SQL types of ``table``; SourceError if it does not exist."""
    try:
        inspector = inspect(engine)
        if not inspector.has_table(table, schema=schema):
            known = sorted(inspector.get_table_names(schema=schema))
            listed = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
            raise SourceError(
                f"table '{_qualified(table, schema)}' does not exist in the warehouse "
                f"(tables there: {listed or 'none'})"
            )
        return {c["name"]: str(c["type"]) for c in inspector.get_columns(table, schema=schema)}
    except SQLAlchemyError as exc:
        raise SourceError(f"cannot inspect table '{_qualified(table, schema)}': {exc}") from exc


def source_problems(name: str, monitor: MonitorConfig, engine: Engine) -> list[str]:
    """Every configured column missing from the monitor's source table, as messages."""
    source = monitor.source
    try:
        available = table_columns(engine, source.table, source.db_schema)
    except SourceError as exc:
        return [f"monitor '{name}', key 'source.table': {exc}"]
    problems = []
    for key, column in _configured_columns(monitor):
        if column not in available:
            problems.append(
                f"monitor '{name}', key '{key}': column '{column}' is not in table "
                f"'{source.table}' (its columns: {', '.join(sorted(available))})"
            )
    return problems


def reference_problems(
    name: str, monitor: MonitorConfig, engine: Engine, base_dir: Path
) -> list[str]:
    """Whether the monitor's reference exists and holds the columns drift and performance
    read from it (features, prediction, ``reference.label_column``), as messages."""
    reference = monitor.reference
    if reference is None:
        return []
    key = "reference." + ("path" if reference.path else "table" if reference.table else "query")
    try:
        available = reference_columns(engine, reference, base_dir)
    except SourceError as exc:
        return [f"monitor '{name}', key '{key}': {exc}"]
    needed = [*monitor.features.numeric, *monitor.features.categorical]
    if monitor.prediction is not None:
        needed.append(monitor.prediction.column)
    if reference.label_column:
        needed.append(reference.label_column)
    missing = [c for c in dict.fromkeys(needed) if c not in available]
    if not missing:
        return []
    return [
        f"monitor '{name}', key '{key}': {_reference_name(reference, base_dir)} "
        f"{'returns' if reference.query else 'has'} no column "
        f"{', '.join(repr(c) for c in missing)} (its columns: {', '.join(sorted(available))})"
    ]


def reference_columns(engine: Engine, reference: ReferenceConfig, base_dir: Path) -> list[str]:
    """The columns of the reference, read without its rows; SourceError if it is missing or
    unreadable."""
    if reference.path:
        return _file_columns(_reference_path(reference, base_dir))
    if reference.table:
        return list(table_columns(engine, reference.table))
    assert reference.query is not None
    query = text(f"SELECT * FROM ({reference.query}) AS reference_columns WHERE 1 = 0")
    try:
        with engine.connect() as conn:
            return list(conn.execute(query).keys())
    except SQLAlchemyError as exc:
        raise SourceError(f"cannot run the reference query: {exc}") from exc


def _reference_path(reference: ReferenceConfig, base_dir: Path) -> Path:
    assert reference.path is not None
    path = Path(reference.path)
    return path if path.is_absolute() else base_dir / path


def _reference_name(reference: ReferenceConfig, base_dir: Path) -> str:
    if reference.path:
        return f"reference file {_reference_path(reference, base_dir)}"
    if reference.table:
        return f"reference table '{reference.table}'"
    return "the reference query"


def rows_without_day(engine: Engine, source: SourceConfig) -> int:
    """Rows of the whole table that no daily partition reads: a null timestamp, or (for text
    timestamps) one that does not start with an ISO date such as ``2026-09-01``."""
    available = table_columns(engine, source.table, source.db_schema)
    ts = Table(
        source.table, MetaData(), Column(source.timestamp_column, String()), schema=source.db_schema
    ).c[source.timestamp_column]
    condition: ColumnElement[bool] = ts.is_(None)
    if _timestamp_is_text(engine, available[source.timestamp_column]):
        condition = condition | ~ts.like("____-__-__%")
    query = select(func.count()).where(condition)
    try:
        with engine.connect() as conn:
            return int(conn.execute(query).scalar_one())
    except SQLAlchemyError as exc:
        raise SourceError(f"cannot count rows of table '{source.table}': {exc}") from exc


def _timestamp_is_text(engine: Engine, sql_type: str) -> bool:
    kind = sql_type.upper()
    return engine.dialect.name == "sqlite" or "CHAR" in kind or "TEXT" in kind


def read_day(
    engine: Engine, source: SourceConfig, columns: Sequence[str], day: date
) -> Iterator[pd.DataFrame]:
    """The rows of one UTC day, ``source.chunk_rows`` at a time, with the raw column values."""
    start = datetime.combine(day, time.min)
    end = start + timedelta(days=1)
    available = table_columns(engine, source.table, source.db_schema)
    missing = [c for c in columns if c not in available]
    if missing:
        raise SourceError(
            f"table '{source.table}' has no column {', '.join(repr(c) for c in missing)}"
        )
    timestamp_is_text = _timestamp_is_text(engine, available[source.timestamp_column])
    ts_type = String() if timestamp_is_text else DateTime()
    table = Table(
        source.table,
        MetaData(),
        *(Column(c, ts_type if c == source.timestamp_column else String()) for c in columns),
        schema=source.db_schema,
    )
    ts = table.c[source.timestamp_column]
    # Text timestamps compare as strings: date-only bounds work for ' ' and 'T' separators.
    lower: object = start.date().isoformat() if timestamp_is_text else start
    upper: object = end.date().isoformat() if timestamp_is_text else end
    query = select(*(table.c[c] for c in columns)).where(ts >= lower, ts < upper)
    yield from _stream(engine, query, columns, source.chunk_rows, f"table '{source.table}'")


def read_reference(
    engine: Engine, reference: ReferenceConfig, columns: Sequence[str], base_dir: Path
) -> Iterator[pd.DataFrame]:
    """The reference rows (up to ``reference.max_rows``), in chunks of the needed columns."""
    read = 0
    for chunk in _reference_chunks(engine, reference, columns, base_dir):
        if read + len(chunk) > reference.max_rows:
            chunk = chunk.iloc[: reference.max_rows - read]
        read += len(chunk)
        if len(chunk):
            yield chunk
        if read >= reference.max_rows:
            return


def _reference_chunks(
    engine: Engine, reference: ReferenceConfig, columns: Sequence[str], base_dir: Path
) -> Iterator[pd.DataFrame]:
    chunk_rows = 100_000
    if reference.path:
        yield from _file_chunks(_reference_path(reference, base_dir), columns, chunk_rows)
    elif reference.table:
        available = table_columns(engine, reference.table)
        missing = [c for c in columns if c not in available]
        if missing:
            raise SourceError(
                f"reference table '{reference.table}' has no column "
                f"{', '.join(repr(c) for c in missing)}"
            )
        table = Table(reference.table, MetaData(), *(Column(c) for c in columns))
        query = select(*(table.c[c] for c in columns))
        yield from _stream(engine, query, columns, chunk_rows, f"table '{reference.table}'")
    else:
        assert reference.query is not None
        for chunk in _stream(engine, text(reference.query), None, chunk_rows, "reference query"):
            missing = [c for c in columns if c not in chunk.columns]
            if missing:
                raise SourceError(
                    f"the reference query returns no column {', '.join(repr(c) for c in missing)}"
                )
            yield chunk[list(columns)]


def _file_columns(path: Path) -> list[str]:
    """The header of a parquet or CSV reference file."""
    if not path.exists():
        raise SourceError(f"reference file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        if suffix in (".csv", ".gz", ".tsv"):
            sep = "\t" if ".tsv" in path.name else ","
            return [str(c) for c in pd.read_csv(path, sep=sep, nrows=0).columns]
    except (OSError, ValueError) as exc:  # unreadable, not parquet, not CSV
        raise SourceError(f"reference file {path}: {exc}") from exc
    raise SourceError(f"reference file {path}: unknown format '{suffix}'; allowed: .parquet, .csv")


def _file_chunks(path: Path, columns: Sequence[str], chunk_rows: int) -> Iterator[pd.DataFrame]:
    available = _file_columns(path)
    missing = [c for c in columns if c not in available]
    if missing:
        raise SourceError(
            f"reference file {path} has no column {', '.join(repr(c) for c in missing)}"
        )
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(path)
            for batch in parquet.iter_batches(batch_size=chunk_rows, columns=list(columns)):
                yield batch.to_pandas()
        else:
            sep = "\t" if ".tsv" in path.name else ","
            yield from pd.read_csv(path, sep=sep, chunksize=chunk_rows, usecols=list(columns))
    except (OSError, ValueError) as exc:
        raise SourceError(f"reference file {path}: {exc}") from exc


def _stream(
    engine: Engine,
    query: object,
    columns: Sequence[str] | None,
    chunk_rows: int,
    what: str,
) -> Iterator[pd.DataFrame]:
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True).execute(query)  # type: ignore[call-overload]
            names = list(columns) if columns is not None else list(result.keys())
            for rows in result.partitions(chunk_rows):
                yield pd.DataFrame.from_records(rows, columns=names)
    except SQLAlchemyError as exc:
        raise SourceError(f"cannot read {what}: {exc}") from exc


def _configured_columns(monitor: MonitorConfig) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = [("source.timestamp_column", monitor.source.timestamp_column)]
    if monitor.source.request_id_column:
        keys.append(("source.request_id_column", monitor.source.request_id_column))
    keys += [(f"features.numeric[{i}]", c) for i, c in enumerate(monitor.features.numeric)]
    keys += [(f"features.categorical[{i}]", c) for i, c in enumerate(monitor.features.categorical)]
    keys += [(f"segments[{i}]", c) for i, c in enumerate(monitor.segments)]
    if monitor.prediction:
        keys.append(("prediction.column", monitor.prediction.column))
    if monitor.service:
        for key in ("latency_column", "status_column"):
            value = getattr(monitor.service, key)
            if value:
                keys.append((f"service.{key}", value))
    if monitor.llm:
        for key, value in monitor.llm.model_dump().items():
            if key.endswith("_column") and value:
                keys.append((f"llm.{key}", value))
    return keys


def _qualified(table: str, schema: str | None) -> str:
    return f"{schema}.{table}" if schema else table
