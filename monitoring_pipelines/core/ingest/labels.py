"""Delayed ground truth: reading the labels of one day's requests and finding the days new
labels belong to, through SQLAlchemy.

Labels are joined to the requests by request id in the warehouse and matched to the slice on the
same hashed ``__key``, so a day reads only its own labels.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Engine,
    Float,
    MetaData,
    Select,
    String,
    Table,
    case,
    cast,
    func,
    inspect,
    select,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from monitoring_pipelines.core.config import LabelsConfig, SourceConfig
from monitoring_pipelines.core.errors import SourceError
from monitoring_pipelines.core.ingest.cleaning import OWN_DAY, hash_keys, rows_of_day
from monitoring_pipelines.core.ingest.warehouse import qualified, table_columns, text_day

# The salt slicing.clean_chunk hashes request ids with into the slice's __key.
REQUEST_ID_SALT = "id:"

StampKind = Literal["text", "datetime", "number"]


@dataclass(frozen=True)
class DayLabels:
    """The labels of one day's requests, one per request (the latest when relabelled).

    Attributes:
        keys: Hashed request ids, as the slice's ``__key``.
        values: Labels: text (classifiers) or floats (score models).
        rows_read: Label rows read for the day's requests.
        null_labels: Rows without a label value, dropped.
        bad_labels: Labels of a score model that are not numbers, dropped.
        replaced: Older labels of a request labelled more than once, dropped.
    """

    keys: npt.NDArray[np.uint64]
    values: npt.NDArray[Any]
    rows_read: int = 0
    null_labels: int = 0
    bad_labels: int = 0
    replaced: int = 0


def label_text(values: Sequence[Any] | pd.Series | npt.NDArray[Any]) -> npt.NDArray[np.object_]:
    """Class labels as the slice stores predictions: text, ``1.0`` as ``1``, None for null."""
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
            out[i] = None
        elif isinstance(value, float) and value.is_integer():
            out[i] = str(int(value))
        elif isinstance(value, bytes):
            out[i] = value.decode("utf-8", errors="replace")
        else:
            out[i] = str(value)
    return out


def request_keys(ids: pd.Series) -> npt.NDArray[np.uint64]:
    """Request ids hashed as the live slice hashes them."""
    return hash_keys(ids, REQUEST_ID_SALT)


def match_labels(
    slice_keys: npt.NDArray[np.uint64], label_keys: npt.NDArray[np.uint64]
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Positions of the slice rows that have a label, and of their labels (keys are unique)."""
    if len(label_keys) == 0 or len(slice_keys) == 0:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty
    order = np.argsort(label_keys, kind="mergesort")
    ordered = label_keys[order]
    pos = np.minimum(np.searchsorted(ordered, slice_keys), len(ordered) - 1)
    hit = ordered[pos] == slice_keys
    return np.flatnonzero(hit), order[pos[hit]]


def latest_labels(frame: pd.DataFrame, *, numeric: bool) -> DayLabels:
    """One label per request from raw ``request_id, label[, labelled_at]`` rows.

    A request labelled more than once keeps its latest label (by ``labelled_at``; without one,
    the last row read).
    """
    rows = len(frame)
    if numeric:
        values = pd.to_numeric(frame["label"], errors="coerce")
        null = frame["label"].isna()
        bad = values.isna() & ~null
        frame = frame.assign(label=values)
    else:
        frame = frame.assign(label=label_text(frame["label"].tolist()))
        null = frame["label"].isna()
        bad = pd.Series(False, index=frame.index)
    frame = frame[~(null | bad) & frame["request_id"].notna()]
    if "labelled_at" in frame:
        frame = frame.sort_values("labelled_at", kind="mergesort", na_position="first")
    keys = request_keys(frame["request_id"])
    last = ~pd.Series(keys).duplicated(keep="last").to_numpy()
    values_out = frame["label"].to_numpy(dtype=np.float64 if numeric else object)[last]
    return DayLabels(
        keys=keys[last],
        values=values_out,
        rows_read=rows,
        null_labels=int(null.sum()),
        bad_labels=int(bad.sum()),
        replaced=int(len(keys) - last.sum()),
    )


def read_day_labels(
    engine: Engine,
    source: SourceConfig,
    labels: LabelsConfig,
    day: date,
    *,
    numeric: bool,
    chunk_rows: int = 50_000,
) -> DayLabels:
    """The labels of the requests logged on ``day`` (UTC), read ``chunk_rows`` at a time."""
    tables = _LabelTables.reflect(engine, source, labels)
    names = ["request_id", "label"] + (["labelled_at"] if labels.timestamp_column else [])
    columns = tables.label_columns()
    if tables.request_ts_kind == "text":
        # As the live slice: a request whose offset moves it across midnight is its UTC day's.
        ts = tables.requests.c[source.timestamp_column]
        own, condition = text_day(ts, day)
        columns += [ts, case((own, 1), else_=0)]
        names += [_REQUEST_TS, OWN_DAY]
        where = [condition]
    else:
        start = datetime.combine(day, time.min)
        where = tables.request_day(start, start + timedelta(days=1))
    query = select(*columns).select_from(tables.joined()).where(*where)
    frames = list(
        _stream(engine, query, names, chunk_rows, qualified(labels.table, labels.db_schema))
    )
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=names)
    if OWN_DAY in frame:
        mine = rows_of_day(frame[_REQUEST_TS], frame[OWN_DAY].to_numpy(dtype=bool), day)
        frame = frame[mine].drop(columns=[_REQUEST_TS, OWN_DAY]).reset_index(drop=True)
    return latest_labels(frame, numeric=numeric)


_REQUEST_TS = "__request_ts"


def label_watermark(engine: Engine, labels: LabelsConfig) -> tuple[StampKind, Any]:
    """The newest ``labels.timestamp_column`` value (None for an empty table) and its kind."""
    assert labels.timestamp_column is not None
    columns = table_columns(engine, labels.table, labels.db_schema)
    kind = _stamp_kind(engine, columns, labels.timestamp_column)
    table = _labels_table(labels, kind)
    query = select(func.max(table.c[labels.timestamp_column]))
    try:
        with engine.connect() as conn:
            return kind, conn.execute(query).scalar()
    except SQLAlchemyError as exc:
        name = qualified(labels.table, labels.db_schema)
        raise SourceError(f"cannot read table '{name}': {exc}") from exc


def labels_by_day(
    engine: Engine,
    source: SourceConfig,
    labels: LabelsConfig,
    after: Any = None,
    upto: Any = None,
) -> dict[str, int]:
    """Label rows per UTC day of their requests, in one grouped query.

    With ``after``/``upto`` (values of ``labels.timestamp_column``), only labels with
    ``after < labelled_at <= upto``; without, all of them.
    """
    tables = _LabelTables.reflect(engine, source, labels)
    day = tables.request_day_expr().label("day")
    query = select(day, func.count()).select_from(tables.joined()).group_by(day)
    if labels.timestamp_column is not None and upto is not None:
        stamp = tables.labels.c[labels.timestamp_column]
        query = query.where(stamp <= upto)
        if after is not None:
            query = query.where(stamp > after)
    try:
        with engine.connect() as conn:
            rows = conn.execute(query).all()
    except SQLAlchemyError as exc:
        name = qualified(labels.table, labels.db_schema)
        raise SourceError(f"cannot group table '{name}' by request day: {exc}") from exc
    out: dict[str, int] = {}
    for value, count in rows:
        if value is None:
            continue
        key = value.isoformat() if isinstance(value, date) else str(value)[:10]
        out[key] = out.get(key, 0) + int(count)
    return out


# -- the two tables, typed as the warehouse has them ---------------------------------------------


@dataclass(frozen=True)
class _LabelTables:
    source: SourceConfig
    config: LabelsConfig
    requests: Table
    labels: Table
    request_ts_kind: StampKind
    request_ts_aware: bool

    @classmethod
    def reflect(cls, engine: Engine, source: SourceConfig, labels: LabelsConfig) -> _LabelTables:
        if source.request_id_column is None:
            raise SourceError("labels need source.request_id_column to join on")
        requests_cols = table_columns(engine, source.table, source.db_schema)
        labels_cols = table_columns(engine, labels.table, labels.db_schema)
        wanted = [
            ("labels.request_id_column", labels.request_id_column),
            ("labels.label_column", labels.label_column),
            ("labels.timestamp_column", labels.timestamp_column),
        ]
        for key, column in wanted:
            if column and column not in labels_cols:
                raise SourceError(
                    f"key '{key}': column '{column}' is not in table "
                    f"'{qualified(labels.table, labels.db_schema)}' "
                    f"(its columns: {', '.join(sorted(labels_cols))})"
                )
        ts_kind = _stamp_kind(engine, requests_cols, source.timestamp_column)
        label_kind = (
            _stamp_kind(engine, labels_cols, labels.timestamp_column)
            if labels.timestamp_column
            else "text"
        )
        requests = Table(
            source.table,
            MetaData(),
            Column(source.request_id_column, String()),
            Column(source.timestamp_column, String() if ts_kind == "text" else DateTime()),
            schema=source.db_schema,
        )
        return cls(
            source,
            labels,
            requests,
            _labels_table(labels, label_kind),
            ts_kind,
            ts_kind == "datetime" and _has_time_zone(engine, source),
        )

    def joined(self) -> Any:
        assert self.source.request_id_column is not None
        rid = self.requests.c[self.source.request_id_column]
        return self.labels.join(self.requests, self.labels.c[self.config.request_id_column] == rid)

    def label_columns(self) -> list[ColumnElement[Any]]:
        c = self.config
        columns = [self.labels.c[c.request_id_column], self.labels.c[c.label_column]]
        return columns + ([self.labels.c[c.timestamp_column]] if c.timestamp_column else [])

    def request_day(self, start: datetime, end: datetime) -> list[ColumnElement[bool]]:
        """The requests of the UTC day [start, end) of a datetime column, selected as read_day
        selects them: time-zone-aware columns get UTC bounds, whatever the session's time
        zone. (Text timestamps go through :func:`~.warehouse.text_day` and the cleaning's
        decision of which rows are the day's.)
        """
        ts = self.requests.c[self.source.timestamp_column]
        if self.request_ts_kind == "text":
            return [ts >= start.date().isoformat(), ts < end.date().isoformat()]
        if self.request_ts_aware:
            start, end = start.replace(tzinfo=UTC), end.replace(tzinfo=UTC)
        return [ts >= start, ts < end]

    def request_day_expr(self) -> ColumnElement[Any]:
        """The UTC day of a request, as a date or its ISO text."""
        ts: ColumnElement[Any] = self.requests.c[self.source.timestamp_column]
        if self.request_ts_kind == "text":
            return func.substr(ts, 1, 10)
        if self.request_ts_aware:
            ts = func.timezone("UTC", ts)
        return cast(ts, Date)


def _labels_table(labels: LabelsConfig, stamp: StampKind) -> Table:
    columns = [Column(labels.request_id_column, String()), Column(labels.label_column, String())]
    if labels.timestamp_column:
        stamp_type: TypeEngine[Any] = (
            String() if stamp == "text" else DateTime() if stamp == "datetime" else Float()
        )
        columns.append(Column(labels.timestamp_column, stamp_type))
    return Table(labels.table, MetaData(), *columns, schema=labels.db_schema)


def _has_time_zone(engine: Engine, source: SourceConfig) -> bool:
    """Whether the requests' timestamp column stores instants (PostgreSQL timestamptz)."""
    try:
        columns = inspect(engine).get_columns(source.table, schema=source.db_schema)
    except SQLAlchemyError as exc:
        raise SourceError(f"cannot inspect table '{source.table}': {exc}") from exc
    for column in columns:
        if column["name"] == source.timestamp_column:
            return bool(getattr(column["type"], "timezone", False))
    return False


def _stamp_kind(engine: Engine, columns: dict[str, str], column: str) -> StampKind:
    sql_type = columns[column].upper()
    if engine.dialect.name == "sqlite" or "CHAR" in sql_type or "TEXT" in sql_type:
        return "text"
    if any(t in sql_type for t in ("INT", "NUMERIC", "DECIMAL", "REAL", "FLOAT", "DOUBLE")):
        return "number"
    return "datetime"


def _stream(
    engine: Engine, query: Select[Any], names: list[str], chunk_rows: int, table: str
) -> Iterator[pd.DataFrame]:
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True).execute(query)
            for rows in result.partitions(chunk_rows):
                yield pd.DataFrame.from_records(rows, columns=names)
    except SQLAlchemyError as exc:
        raise SourceError(f"cannot read the labels in table '{table}': {exc}") from exc
