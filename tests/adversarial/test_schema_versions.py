"""The result store's schema version: processes starting together on a new store, stores of
older releases upgraded, a newer store refused, and a current store opened without DDL."""

from __future__ import annotations

import hashlib
import multiprocessing
import queue
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.dialects import sqlite

from monitoring_pipelines.core.errors import StoreError
from monitoring_pipelines.core.store import tables as t
from monitoring_pipelines.core.store import versions
from monitoring_pipelines.core.store.database import Database
from monitoring_pipelines.core.store.engine import make_engine
from monitoring_pipelines.core.store.migrations import LATEST

PROCESSES = 5
ROUNDS = 3
ALL_TABLES = {*t.metadata.tables, versions.schema_version.name}


def start(urls: list[str], barrier: Any, reports: Any) -> None:
    """A process starting against each of ``urls`` in turn, all of them at once per store."""
    for url in urls:
        barrier.wait(timeout=120)
        database = Database(make_engine(url))
        try:
            reports.put((url, "ok", database.create_schema()))
        except StoreError as exc:
            reports.put((url, "error", str(exc)))
        finally:
            database.dispose()


@pytest.fixture
def fresh_urls(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """One new empty store per round, on each backend."""
    if backend == "sqlite":
        yield [f"sqlite:///{tmp_path / f'round{i}' / 'results.db'}" for i in range(ROUNDS)]
        return
    server = request.getfixturevalue("postgres_url")
    schemas = [f"mp_test_{uuid.uuid4().hex[:10]}" for _ in range(ROUNDS)]
    engine = sa.create_engine(server)
    with engine.begin() as conn:
        for schema in schemas:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield [f"{server}?options=-csearch_path%3D{s}" for s in schemas]
    with engine.begin() as conn:
        for schema in schemas:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def version_rows(url: str) -> list[tuple[Any, ...]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.select(versions.schema_version.c.version))]
    finally:
        engine.dispose()


def columns(url: str) -> dict[str, set[str]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            return {
                name: {c["name"] for c in inspector.get_columns(name)}
                for name in inspector.get_table_names()
            }
    finally:
        engine.dispose()


def declared() -> dict[str, set[str]]:
    schema = [*t.metadata.sorted_tables, versions.schema_version]
    return {table.name: {c.name for c in table.columns} for table in schema}


def test_processes_starting_at_once_on_a_new_store_create_it_once(
    fresh_urls: list[str], capfd: pytest.CaptureFixture[str]
) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    reports = context.Queue()
    processes = [
        context.Process(target=start, args=(fresh_urls, barrier, reports)) for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    found: list[tuple[str, str, Any]] = []
    try:
        for _ in range(PROCESSES * ROUNDS):
            found.append(reports.get(timeout=180))
    except queue.Empty:
        pass
    for process in processes:
        process.join(timeout=60)
        if process.is_alive():
            process.kill()
    assert [p.exitcode for p in processes] == [0] * PROCESSES
    assert "Traceback" not in capfd.readouterr().err
    for url in fresh_urls:
        outcomes = [(kind, applied) for u, kind, applied in found if u == url]
        assert sorted(outcomes) == [("ok", ())] * (PROCESSES - 1) + [("ok", (1,))]
        assert version_rows(url) == [(LATEST,)]
        assert columns(url) == declared()


def legacy_faithfulness(metadata: sa.MetaData) -> sa.Table:
    """``faithfulness_scores`` as a release before ``content_sha256`` declared it."""
    return sa.Table(
        t.faithfulness_scores.name,
        metadata,
        *(
            sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
            for c in t.faithfulness_scores.columns
            if c.name != "content_sha256"
        ),
    )


def test_a_store_of_an_older_release_is_upgraded_and_stamped(store_url: str) -> None:
    old = sa.MetaData()
    legacy = legacy_faithfulness(old)
    t.metrics.to_metadata(old)
    engine = make_engine(store_url)
    old.create_all(engine)
    row = {
        "monitor": "bot",
        "partition_key": "2026-09-01",
        "request_key": "0" * 16,
        "stratum_rows": 3,
        "score": 0.9,
        "threshold": 0.7,
        "flagged": False,
        "rationale": "kept",
        "judge": "offline",
        "prompt_version": "1",
        "tokens_in": 0,
        "tokens_out": 0,
        "cost_usd": 0.0,
        "scored_at": datetime.now(UTC),
    }
    with engine.begin() as conn:
        conn.execute(sa.insert(legacy), [row])
    engine.dispose()
    assert version_rows_or_none(store_url) is None

    database = Database(make_engine(store_url))
    try:
        assert database.create_schema() == (1,)
        assert database.create_schema() == ()
        with database.transaction() as conn:
            stored = conn.execute(sa.select(t.faithfulness_scores)).mappings().all()
    finally:
        database.dispose()
    assert [(r["rationale"], r["content_sha256"]) for r in stored] == [("kept", None)]
    assert version_rows(store_url) == [(LATEST,)]
    assert columns(store_url) == declared()


def version_rows_or_none(url: str) -> list[tuple[Any, ...]] | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(versions.schema_version.name):
                return None
    finally:
        engine.dispose()
    return version_rows(url)


def test_a_store_of_a_newer_release_is_refused_and_left_alone(store_url: str) -> None:
    Database.connect(store_url).dispose()
    engine = make_engine(store_url)
    with engine.begin() as conn:
        conn.execute(sa.update(versions.schema_version).values(version=LATEST + 1))
        conn.execute(sa.text(f"DROP TABLE {t.reference_days.name}"))  # gone in that release
    engine.dispose()

    with pytest.raises(StoreError) as refused:
        Database.connect(store_url)
    message = str(refused.value)
    assert f"schema version {LATEST + 1}, newer than this release's {LATEST}" in message
    assert "newer release" in message
    assert t.reference_days.name not in columns(store_url)  # not recreated
    assert version_rows(store_url) == [(LATEST + 1,)]


def test_opening_a_current_store_runs_one_select_and_no_ddl(store_url: str) -> None:
    Database.connect(store_url).dispose()
    engine = make_engine(store_url)
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(str(args[2]))

    sa.event.listen(engine, "before_cursor_execute", record)
    database = Database(engine)
    try:
        assert database.create_schema() == ()
    finally:
        database.dispose()
    assert len(statements) == 1, statements
    assert statements[0].lstrip().upper().startswith("SELECT")
    assert versions.schema_version.name in statements[0]


def schema_fingerprint() -> str:
    """A hash of every declared table's columns, their types, keys and nullability."""
    dialect = sqlite.dialect()
    lines = sorted(
        f"{table.name}.{c.name} {c.type.compile(dialect=dialect)} pk={c.primary_key} "
        f"null={c.nullable} default={getattr(c.server_default, 'arg', None)}"
        for table in t.metadata.sorted_tables
        for c in table.columns
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


# The declared schema each version ends at; a store stamped at a version has these tables.
SCHEMA_AT = {1: "23e583d89388e41e"}


def test_each_change_of_the_tables_comes_with_a_migration() -> None:
    """A store stamped at the latest version is never looked at again: a table or column
    declared without a migration of its own would never reach it."""
    assert (LATEST, schema_fingerprint()) in SCHEMA_AT.items(), (
        "tables.py changed: append a migration to MIGRATIONS (core/store/migrations.py) that "
        f"brings a store at version {LATEST} to the new tables, and record "
        f"{{{LATEST + 1}: {schema_fingerprint()!r}}} here"
    )


def test_the_store_version_command_compares_the_store_with_the_release(store_url: str) -> None:
    from monitoring_pipelines.cli import main  # not in the processes the module spawns

    def version() -> Any:
        return CliRunner().invoke(main, ["store", "version"], env={"MONITORING_STORE_URL": url})

    url = store_url
    engine = make_engine(url)
    legacy_faithfulness(sa.MetaData()).metadata.create_all(engine)  # no version recorded
    engine.dispose()
    older = version()
    assert older.exit_code == 1
    assert "store schema version: 0 (none recorded)" in older.output
    assert f"release schema version: {LATEST}" in older.output
    assert "content_sha256" not in columns(url)[t.faithfulness_scores.name]  # only read

    Database.connect(url).dispose()
    current = version()
    assert current.exit_code == 0, current.output
    assert f"store schema version: {LATEST}\n" in current.output

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.update(versions.schema_version).values(version=LATEST + 1))
    engine.dispose()
    newer = version()
    assert newer.exit_code == 1
    assert f"store schema version: {LATEST + 1}" in newer.output
    assert "newer release" in newer.output


def test_the_store_version_command_creates_no_store(tmp_path: Path) -> None:
    from monitoring_pipelines.cli import main

    url = f"sqlite:///{tmp_path / 'absent' / 'results.db'}"
    missing = CliRunner().invoke(main, ["store", "version"], env={"MONITORING_STORE_URL": url})
    assert missing.exit_code == 1
    assert "no result store at" in missing.output
    assert not (tmp_path / "absent").exists()
