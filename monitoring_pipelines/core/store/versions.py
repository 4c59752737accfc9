"""Which schema version a result store is at, and bringing it to the version of this code.

The store records its version in ``schema_version``, one row. A store without that table was
written before versions were recorded (or is empty) and is at version 0: every migration of
:data:`~monitoring_pipelines.core.store.migrations.MIGRATIONS` is pending. A store at a version
greater than this code's was written by a newer release and is refused, never altered.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Integer,
    MetaData,
    Table,
    create_engine,
    delete,
    insert,
    inspect,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from monitoring_pipelines.core.errors import StoreError
from monitoring_pipelines.core.store.engine import redact_url
from monitoring_pipelines.core.store.migrations import LATEST, MIGRATIONS

ROW_ID = 1

# Apart from the result tables' metadata: creating or listing those never touches it.
schema_version = Table(
    "schema_version",
    MetaData(),
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
    Column("upgraded_at", DateTime(timezone=True), nullable=False),
)


def stored_version(conn: Connection) -> int:
    """The version ``conn``'s store is at: 0 for a store without a recorded version."""
    if not inspect(conn).has_table(schema_version.name):
        return 0
    found = conn.execute(
        select(schema_version.c.version).where(schema_version.c.id == ROW_ID)
    ).scalar_one_or_none()
    return 0 if found is None else int(found)


def is_current(conn: Connection) -> bool:
    """Whether ``conn``'s store is at this code's version, in one query and without a lock.

    Any fault of that query (no version table yet, above all) answers False: the caller then
    takes the schema lock and asks :func:`upgrade`, which looks again and tells faults apart.

    Raises:
        StoreError: The store is at a newer version than this code's.
    """
    try:
        found = conn.execute(
            select(schema_version.c.version).where(schema_version.c.id == ROW_ID)
        ).scalar_one_or_none()
    except SQLAlchemyError:
        return False
    if found is not None:
        refuse_newer(conn, int(found))
    return found == LATEST


def refuse_newer(conn: Connection, version: int) -> None:
    """Raise when ``version``, the store's, is newer than this code's.

    Raises:
        StoreError: Naming the store, its version and the code's.
    """
    if version > LATEST:
        raise StoreError(
            f"the result store at {redact_url(str(conn.engine.url))} is at schema version "
            f"{version}, newer than this release's {LATEST}: it was written by a newer "
            "release of monitoring-pipelines; run that release (or a newer one) against it, "
            "this one leaves it unchanged"
        )


def upgrade(conn: Connection) -> tuple[int, ...]:
    """Apply the pending migrations in ``conn``'s transaction and record the version reached.

    The caller holds the schema lock, so the version read here is final until it commits.

    Returns:
        The versions applied, in order; empty when the store was already current.

    Raises:
        StoreError: The store is at a newer version than this code's.
    """
    version = stored_version(conn)
    refuse_newer(conn, version)
    pending = [m for m in MIGRATIONS if m.version > version]
    for migration in pending:
        migration.apply(conn)
    if pending:
        stamp(conn, LATEST)
    return tuple(m.version for m in pending)


def stamp(conn: Connection, version: int) -> None:
    """Record ``version`` as the store's, in ``conn``'s transaction."""
    schema_version.create(conn, checkfirst=True)
    conn.execute(delete(schema_version))
    conn.execute(
        insert(schema_version).values(id=ROW_ID, version=version, upgraded_at=datetime.now(UTC))
    )


def read_version(url: str) -> int:
    """The schema version of the store at ``url``, read without changing anything.

    Raises:
        StoreError: No SQLite file at the URL's path, or the store cannot be read.
    """
    parsed = make_url(url)
    path = parsed.database
    is_file = parsed.get_backend_name() == "sqlite" and "uri" not in parsed.query
    if is_file and path and path != ":memory:" and not Path(path).expanduser().exists():
        raise StoreError(f"no result store at {Path(path).expanduser()} (the file is absent)")
    engine = create_engine(url)  # not make_engine: no folder made, no journal mode set
    try:
        with engine.connect() as conn:
            return stored_version(conn)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read the schema version of {redact_url(url)}: {exc}") from exc
    finally:
        engine.dispose()
