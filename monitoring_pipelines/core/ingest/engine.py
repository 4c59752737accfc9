"""The warehouse's engine: the product only reads the user's tables, and opens them read-only.

A SQLite warehouse is opened through a ``mode=ro`` URI, so nothing is ever written to the file
(not even a journal mode), and a missing file is an error instead of a new, empty database.
A PostgreSQL warehouse gets read-only sessions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.engine import make_url

from monitoring_pipelines.core.errors import SourceError

_TRUE = {"true", "1", "yes", "on"}


def warehouse_engine(url: str) -> Engine:
    """A read-only engine for the warehouse at ``url``.

    A relative SQLite path (``sqlite:///warehouse.db``) starts from the working directory, as
    SQLite itself resolves it; ``sqlite:////abs/warehouse.db`` is absolute. URI forms
    (``sqlite:///file:warehouse.db?mode=ro&uri=true``) are accepted, with ``mode=ro`` enforced.

    Raises:
        SourceError: If the SQLite warehouse file does not exist.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite(parsed)
    engine = create_engine(parsed, pool_pre_ping=True)
    if parsed.get_backend_name() == "postgresql":
        event.listen(engine, "connect", _read_only_session)
    return engine


def sqlite_path(url: URL) -> Path | None:
    """The file a SQLite URL names, resolved as SQLite resolves it (from the working
    directory, without ``~`` expansion); None for an in-memory database."""
    database = url.database or ""
    if str(url.query.get("uri", "")).lower() in _TRUE:
        if url.query.get("mode") == "memory":
            return None
        parts = urlsplit(database)
        database = unquote(parts.path) if parts.scheme == "file" else database
    if not database or database == ":memory:":
        return None
    path = Path(database)
    return path if path.is_absolute() else Path.cwd() / path


def _sqlite(url: URL) -> Engine:
    path = sqlite_path(url)
    if path is None:
        return create_engine(url)
    if not path.is_file():
        raise SourceError(
            f"the SQLite warehouse {path} does not exist (from "
            f"{url.render_as_string(hide_password=True)}; a relative path in sqlite:///PATH "
            f"starts from the working directory, an absolute one is written sqlite:////PATH)"
        )
    query = {k: v for k, v in url.query.items() if k != "uri"}
    read_only = url.set(database=path.as_uri(), query={**query, "mode": "ro", "uri": "true"})
    return create_engine(read_only, connect_args={"timeout": 60})


def _read_only_session(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    cursor.close()
    dbapi_connection.commit()
