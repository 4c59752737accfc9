"""SQLAlchemy engines for the embedded SQLite default and for PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


def make_engine(url: str, *, search_path: str | None = None) -> Engine:
    """An engine for ``url``; SQLite files get their folder, WAL and a busy timeout.

    Args:
        url: SQLAlchemy URL, e.g. ``sqlite:///.monitoring/results.db`` or
            ``postgresql+psycopg2://user@host:5432/db``.
        search_path: PostgreSQL schema to use instead of ``public``.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {}
    if search_path and parsed.get_backend_name() == "postgresql":
        connect_args["options"] = f"-csearch_path={search_path}"
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the webserver and CLI read while a run writes; NORMAL sync is safe with WAL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def redact_url(url: str) -> str:
    """The URL with any password hidden, for logs and metadata."""
    return make_url(url).render_as_string(hide_password=True)
