"""Reading the user's tables through SQLAlchemy: one UTC day of the inference log, in chunks,
the rows no day reads, and the reference data from a table, a query or a parquet/CSV file.

Timestamps are one of three kinds. A time-zone-aware column (PostgreSQL ``timestamptz``) is
compared with UTC instants, whatever the session's time zone; a naive one holds UTC wall
times. Text timestamps compare as text, so each day's text range ``[day, day + 1)`` tiles the
window exactly; a row whose non-zero UTC offset moves it onto a neighbouring UTC day is also
read by that neighbour, and cleaning keeps it on the one day its instant belongs to.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Double,
    Engine,
    MetaData,
    String,
    Table,
    and_,
    case,
    func,
    inspect,
    or_,
    select,
    text,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from monitoring_pipelines.core.config import MonitorConfig, ReferenceConfig, SourceConfig
from monitoring_pipelines.core.errors import SourceError
from monitoring_pipelines.core.ingest.cleaning import OWN_DAY, Window, zero_offsets

TimestampKind = Literal["text", "naive", "aware"]

# Text that starts with an ISO date: what the days' text ranges are made of.
_ISO_DATE = "____-__-__%"
# An explicit offset after the date ("...T23:30:00-05:00"): 11 characters, then a sign.
_SIGN_AFTER_DATE = "___________%{sign}%"


def table_columns(engine: Engine, table: str, schema: str | None = None) -> dict[str, str]:
    """Column names and SQL types of ``table``; SourceError if it does not exist."""
    return {name: str(sql_type) for name, sql_type in column_types(engine, table, schema).items()}


def column_types(engine: Engine, table: str, schema: str | None) -> dict[str, TypeEngine[Any]]:
    """Column names and SQLAlchemy types of ``table``; SourceError if it does not exist."""
    if engine.dialect.name == "duckdb":
        return _duckdb_column_types(engine, table, schema)
    try:
        inspector = inspect(engine)
        if not inspector.has_table(table, schema=schema):
            known = sorted(inspector.get_table_names(schema=schema))
            listed = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
            raise SourceError(
                f"table '{_qualified(table, schema)}' does not exist in the warehouse "
                f"(tables there: {listed or 'none'}){_elsewhere(inspector, table, schema)}"
            )
        return {c["name"]: c["type"] for c in inspector.get_columns(table, schema=schema)}
    except SQLAlchemyError as exc:
        raise SourceError(f"cannot inspect table '{_qualified(table, schema)}': {exc}") from exc


def _elsewhere(inspector: Any, table: str, schema: str | None) -> str:
    """Where else a table of that name is: the key to set, when another schema has it."""
    try:
        schemas = [s for s in inspector.get_schema_names() if s != schema]
        found = [s for s in schemas if inspector.has_table(table, schema=s)]
    except SQLAlchemyError:
        return ""
    if not found:
        return ""
    where = ", ".join(repr(s) for s in found)
    has = f"schema {where} has it" if len(found) == 1 else f"schemas {where} have it"
    return f"; {has}: set the key's 'schema'"


def _duckdb_column_types(
    engine: Engine, table: str, schema: str | None
) -> dict[str, TypeEngine[Any]]:
    """DuckDB's columns from its information schema (duckdb-engine's reflection asks for
    PostgreSQL catalog tables DuckDB does not have)."""
    query = text(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = :table AND (:schema IS NULL OR table_schema = :schema) "
        "ORDER BY ordinal_position"
    )
    try:
        with engine.connect() as conn:
            rows = conn.execute(query, {"table": table, "schema": schema}).all()
    except SQLAlchemyError as exc:
        raise SourceError(f"cannot inspect table '{_qualified(table, schema)}': {exc}") from exc
    if not rows:
        raise SourceError(f"table '{_qualified(table, schema)}' does not exist in the warehouse")
    out: dict[str, TypeEngine[Any]] = {}
    for name, data_type in rows:
        kind = str(data_type).upper()
        if kind.startswith("TIMESTAMP"):
            out[name] = DateTime(timezone="TIME ZONE" in kind or kind == "TIMESTAMPTZ")
        elif kind in ("DOUBLE", "FLOAT", "REAL") or kind.startswith("DECIMAL"):
            out[name] = Double()
        elif "INT" in kind:
            out[name] = BigInteger()
        else:
            out[name] = String()
    return out


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
        return _file_columns(reference_path(reference, base_dir))
    if reference.table:
        return list(table_columns(engine, reference.table, reference.db_schema))
    assert reference.query is not None
    query = text(f"SELECT * FROM ({reference.query}) AS reference_columns WHERE 1 = 0")
    try:
        with engine.connect() as conn:
            return list(conn.execute(query).keys())
    except SQLAlchemyError as exc:
        raise SourceError(f"cannot run the reference query: {exc}") from exc


def reference_path(reference: ReferenceConfig, base_dir: Path) -> Path:
    """A reference file's path; a relative one starts at ``base_dir`` (the monitor file's)."""
    assert reference.path is not None
    path = Path(reference.path)
    return path if path.is_absolute() else base_dir / path


def _reference_name(reference: ReferenceConfig, base_dir: Path) -> str:
    if reference.path:
        return f"reference file {reference_path(reference, base_dir)}"
    if reference.table:
        return f"reference table '{_qualified(reference.table, reference.db_schema)}'"
    return "the reference query"


def timestamp_kind(sql_type: TypeEngine[Any], dialect: str) -> TimestampKind:
    """How a timestamp column of ``sql_type`` compares: as text, or as naive or aware instants.

    SQLite keeps datetimes as text; a type with ``timezone`` (PostgreSQL ``timestamptz``)
    stores instants and converts naive bounds with the session's time zone, so it gets UTC
    bounds."""
    name = str(sql_type).upper()
    if dialect == "sqlite" or "CHAR" in name or "TEXT" in name:
        return "text"
    return "aware" if getattr(sql_type, "timezone", False) else "naive"


@dataclass(frozen=True)
class OutsideWindow:
    """Rows of the source that no day of the monitored window reads.

    Attributes:
        null: Rows whose timestamp is null.
        unparseable: Text timestamps outside the window that do not start with an ISO date.
        before: Rows dated before the window's first day (the monitor's ``start_date``).
        after: Rows dated at or after the window's end (the future).
    """

    null: int = 0
    unparseable: int = 0
    before: int = 0
    after: int = 0

    @property
    def total(self) -> int:
        return self.null + self.unparseable + self.before + self.after


def rows_outside_window(engine: Engine, source: SourceConfig, window: Window) -> OutsideWindow:
    """Count the rows that no day of ``window`` reads, in one aggregate query.

    Only rows outside the window are selected (with an index on the timestamp, a null lookup
    and two range scans), so the cost does not grow with the table's monitored rows. Text
    timestamps compare as text, exactly as :func:`read_day` selects them.
    """
    types = column_types(engine, source.table, source.db_schema)
    kind = timestamp_kind(types[source.timestamp_column], engine.dialect.name)
    ts = _source_table(source, [source.timestamp_column], kind).c[source.timestamp_column]
    lower, upper = day_bounds(kind, window.first, window.end)
    before, after = ts < lower, ts >= upper
    if kind == "text":
        iso = ts.like(_ISO_DATE)
        counts = [ts.is_(None), before & ~iso, after & ~iso, before & iso, after & iso]
    else:
        counts = [ts.is_(None), before, after]
    query = select(*(func.sum(case((c, 1), else_=0)) for c in counts)).where(
        or_(ts.is_(None), before, after)
    )
    try:
        with engine.connect() as conn:
            row = [int(v or 0) for v in conn.execute(query).one()]
    except SQLAlchemyError as exc:
        raise SourceError(f"cannot count rows of table '{source.table}': {exc}") from exc
    if kind == "text":
        return OutsideWindow(null=row[0], unparseable=row[1] + row[2], before=row[3], after=row[4])
    return OutsideWindow(null=row[0], before=row[1], after=row[2])


def read_day(
    engine: Engine,
    source: SourceConfig,
    columns: Sequence[str],
    day: date,
    window: Window | None = None,
) -> Iterator[pd.DataFrame]:
    """The rows of one UTC day, ``source.chunk_rows`` at a time, with the raw column values.

    Each frame has the column :data:`~.cleaning.OWN_DAY`: whether the row is in the day's
    own range (always, for datetime columns). Text timestamps also bring the neighbouring
    days' rows whose non-zero offset may move them onto this UTC day (``OWN_DAY`` false);
    :func:`~.cleaning.clean_chunk` keeps those whose instant falls on the day. Neighbours
    outside ``window`` are not read: no day of it would give those rows back.
    """
    types = column_types(engine, source.table, source.db_schema)
    missing = [c for c in columns if c not in types]
    if missing:
        raise SourceError(
            f"table '{source.table}' has no column {', '.join(repr(c) for c in missing)}"
        )
    kind = timestamp_kind(types[source.timestamp_column], engine.dialect.name)
    table = _source_table(source, columns, kind)
    ts = table.c[source.timestamp_column]
    lower, upper = day_bounds(kind, day, day + timedelta(days=1))
    own = and_(ts >= lower, ts < upper)
    selected = [table.c[c] for c in columns]
    if kind != "text":
        query = select(*selected).where(own)
        for chunk in _stream(engine, query, columns, source.chunk_rows, f"table '{source.table}'"):
            chunk[OWN_DAY] = True
            yield chunk
        return
    own, condition = text_day(ts, day, window)
    flag = case((own, 1), else_=0).label(OWN_DAY)
    query = select(*selected, flag).where(condition)
    names = [*columns, OWN_DAY]
    for chunk in _stream(engine, query, names, source.chunk_rows, f"table '{source.table}'"):
        chunk[OWN_DAY] = chunk[OWN_DAY].astype(bool)
        yield chunk


def text_day(
    ts: ColumnElement[Any], day: date, window: Window | None = None
) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """For a text timestamp column: the day's own text range, and that range with the
    neighbours' rows whose non-zero offset may move them onto the day (neighbours outside
    ``window`` left out)."""
    lower, upper = day_bounds("text", day, day + timedelta(days=1))
    own = and_(ts >= lower, ts < upper)
    condition = own
    previous, following = day - timedelta(days=1), day + timedelta(days=1)
    if window is None or previous >= window.first:
        # An evening west of Greenwich (a negative offset) can be this day's UTC morning.
        condition = condition | and_(
            ts >= previous.isoformat(), ts < day.isoformat(), _nonzero_offset(ts, "-")
        )
    if window is None or following < window.end:
        # A morning east of Greenwich (a positive offset) can be this day's UTC evening.
        condition = condition | and_(
            ts >= following.isoformat(),
            ts < (following + timedelta(days=1)).isoformat(),
            _nonzero_offset(ts, "+"),
        )
    return own, condition


def _nonzero_offset(ts: ColumnElement[Any], sign: str) -> ColumnElement[bool]:
    zero = or_(*(ts.like(f"%{suffix}") for suffix in zero_offsets(sign)))
    return and_(ts.like(_SIGN_AFTER_DATE.format(sign=sign)), ~zero)


def day_bounds(kind: TimestampKind, first: date, end: date) -> tuple[Any, Any]:
    """Bounds of the UTC days ``[first, end)`` in the column's own terms."""
    if kind == "text":
        # Date-only text bounds work for both the ' ' and the 'T' separator.
        return first.isoformat(), end.isoformat()
    tz = UTC if kind == "aware" else None
    return datetime.combine(first, time.min, tzinfo=tz), datetime.combine(end, time.min, tzinfo=tz)


def _source_table(source: SourceConfig, columns: Sequence[str], kind: TimestampKind) -> Table:
    stamp: TypeEngine[Any] = String() if kind == "text" else DateTime(timezone=kind == "aware")
    return Table(
        source.table,
        MetaData(),
        *(Column(c, stamp if c == source.timestamp_column else String()) for c in columns),
        schema=source.db_schema,
    )


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


def reference_time_column(
    engine: Engine, reference: ReferenceConfig, source_timestamp: str, base_dir: Path
) -> str | None:
    """The reference's timestamp column: the configured one, else the source's timestamp
    column when a reference table or file has it (a query's columns are known only by running
    it, so a query needs ``timestamp_column``)."""
    if reference.timestamp_column:
        return reference.timestamp_column
    if reference.table:
        available: Sequence[str] = list(table_columns(engine, reference.table, reference.db_schema))
    elif reference.path:
        available = _file_columns(reference_path(reference, base_dir))
    else:
        return None
    return source_timestamp if source_timestamp in available else None


def _reference_chunks(
    engine: Engine, reference: ReferenceConfig, columns: Sequence[str], base_dir: Path
) -> Iterator[pd.DataFrame]:
    chunk_rows = 100_000
    if reference.path:
        yield from _file_chunks(reference_path(reference, base_dir), columns, chunk_rows)
    elif reference.table:
        name = _qualified(reference.table, reference.db_schema)
        available = table_columns(engine, reference.table, reference.db_schema)
        missing = [c for c in columns if c not in available]
        if missing:
            raise SourceError(
                f"reference table '{name}' has no column {', '.join(repr(c) for c in missing)}"
            )
        table = Table(
            reference.table,
            MetaData(),
            *(Column(c) for c in columns),
            schema=reference.db_schema,
        )
        query = select(*(table.c[c] for c in columns))
        yield from _stream(engine, query, columns, chunk_rows, f"table '{name}'")
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


def qualified(table: str, schema: str | None) -> str:
    """A table's name as messages give it: ``schema.table`` when it has a schema."""
    return _qualified(table, schema)


def _qualified(table: str, schema: str | None) -> str:
    return f"{schema}.{table}" if schema else table
