"""The result database: one engine, its schema and its transactions, shared by the
result repository and the alert repository."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Self

from sqlalchemy import (
    Connection,
    Engine,
    Insert,
    Table,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from monitoring_pipelines.core.errors import StoreError
from monitoring_pipelines.core.store import versions
from monitoring_pipelines.core.store.engine import make_engine, redact_url

# How long a process starting on a new SQLite store waits for another that is creating it.
LOCKED_SQLITE_WAIT_S = 60.0

PARTITION_KEYS = ("monitor", "partition_key")


def now() -> datetime:
    return datetime.now(UTC)


class Database:
    """The SQLite or PostgreSQL database that holds every result and all alerting state."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def connect(cls, url: str, *, create: bool = True) -> Self:
        database = cls(make_engine(url))
        if create:
            database.create_schema()
        return database

    def create_schema(self) -> tuple[int, ...]:
        """Bring the store to this code's schema version
        (:mod:`~monitoring_pipelines.core.store.versions`).

        A store already there costs one query, without a lock. Otherwise one process at a
        time, in one transaction, looks at the version again and applies the pending
        migrations: runs starting together on a new store would otherwise race to create the
        same tables.

        Returns:
            The versions applied; empty when the store was current.

        Raises:
            StoreError: The store is at a newer version than this code's, or cannot be
                brought to this one.
        """
        deadline = time.monotonic() + LOCKED_SQLITE_WAIT_S
        while True:
            try:
                return self._upgrade()
            except OperationalError as exc:
                # A new SQLite file that another process is creating: switching it to WAL
                # (on connect) does not wait for the other's lock as statements do.
                locked = self.engine.dialect.name == "sqlite" and "locked" in str(exc.orig)
                if not locked or time.monotonic() > deadline:
                    raise self._schema_error(exc) from exc
                time.sleep(0.1)
            except SQLAlchemyError as exc:
                raise self._schema_error(exc) from exc

    def _schema_error(self, exc: SQLAlchemyError) -> StoreError:
        where = redact_url(str(self.engine.url))
        return StoreError(f"cannot create the result store's tables at {where}: {exc}")

    def _upgrade(self) -> tuple[int, ...]:
        with self.engine.connect() as conn:
            if versions.is_current(conn):
                return ()
        with self.engine.connect() as conn:
            _lock_schema(conn)
            applied = versions.upgrade(conn)
            conn.commit()
            return applied

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection in a transaction: committed on success, rolled back on error."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"result store transaction failed: {exc}") from exc

    def insert_ignore(self, table: Table, keys: list[str]) -> Insert:
        """An insert into ``table`` that does nothing when a row with the same ``keys`` exists."""
        if self.engine.dialect.name == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing(index_elements=keys)
        if self.engine.dialect.name == "sqlite":
            return sqlite.insert(table).on_conflict_do_nothing(index_elements=keys)
        raise NotImplementedError(f"result store on {self.engine.dialect.name} is not supported")


class Repository:
    """What the result and alert repositories share: the :class:`Database` they are over."""

    def __init__(self, database: Database) -> None:
        self.database = database

    @classmethod
    def connect(cls, url: str, *, create: bool = True) -> Self:
        return cls(Database.connect(url, create=create))

    def dispose(self) -> None:
        self.database.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection in a transaction: committed on success, rolled back on error."""
        with self.database.transaction() as conn:
            yield conn


def replace_rows(
    conn: Connection, table: Table, key: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Delete the rows matching ``key`` and insert ``rows`` (each completed with ``key``), in
    ``conn``'s transaction: a rerun of a partition replaces its rows, never duplicates them.

    Writers of one monitor's partition of a table take turns until their transactions end,
    so two runs of one partition at once leave the rows of the one that committed last. (The
    lock is per partition, not per key: one ingestion of hundreds of runs replaces thousands
    of keys, and each lock held takes a slot of PostgreSQL's shared lock table.)"""
    _advisory_lock(
        conn, json.dumps([table.name, *(str(key[k]) for k in PARTITION_KEYS if k in key)])
    )
    conn.execute(delete(table).where(*(table.c[k] == v for k, v in key.items())))
    if rows:
        conn.execute(insert(table), [dict(key) | dict(r) for r in rows])


def _lock_schema(conn: Connection) -> None:
    """Create the schema one process at a time: SQLite's write lock for the whole transaction
    (``BEGIN IMMEDIATE``), an advisory lock on PostgreSQL."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        _advisory_lock(conn, "schema")


def _advisory_lock(conn: Connection, name: str) -> None:
    """Hold ``name`` (in the current schema) until ``conn``'s transaction ends; others asking
    wait. Only PostgreSQL needs it: SQLite has one writer at a time, and a replacement's first
    statement, a delete, takes the write lock for the rest of its transaction."""
    if conn.dialect.name == "postgresql":
        schema = func.coalesce(func.current_schema(), "")
        conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(schema + "/" + name))))
