"""A warehouse of each dialect the push-down runs on, for tests: SQLite and DuckDB files in a
folder, and a fresh schema on the PostgreSQL test server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

DIALECTS = ("sqlite", "postgresql", "duckdb")


@contextmanager
def dialect_warehouse(
    dialect: str, folder: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[sa.Engine, str | None]]:
    """An engine and the schema its tables go in (None: the default one)."""
    if dialect == "sqlite":
        engine = sa.create_engine(f"sqlite:///{folder / 'w.db'}")
        yield engine, None
        engine.dispose()
        return
    if dialect == "duckdb":
        pytest.importorskip("duckdb_engine")
        engine = sa.create_engine(f"duckdb:///{folder / 'w.duckdb'}")
        yield engine, None
        engine.dispose()
        return
    url = request.getfixturevalue("postgres_url")
    schema = f"pushdown_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield engine, schema
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()
