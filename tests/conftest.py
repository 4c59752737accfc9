"""Shared fixtures: result stores on SQLite and PostgreSQL, the fake OpenAI-compatible judge
server (``fake_openai``), environment hygiene."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.store.database import Database
from monitoring_pipelines.core.store.results import ResultRepository
from tests.fakes.openai_server import fake_openai_fixture  # noqa: F401  (fixture fake_openai)

POSTGRES_URL = os.environ.get(
    "MONITORING_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("MONITORING_REQUIRE_POSTGRES") == "1"

os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "True")


def postgres_available() -> bool:
    try:
        engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL server for the tests; skipped when absent unless CI requires it."""
    if not postgres_available():
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required (MONITORING_REQUIRE_POSTGRES=1) at {POSTGRES_URL}")
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL}")
    return POSTGRES_URL


@pytest.fixture
def postgres_schema(postgres_url: str) -> Iterator[str]:
    """A fresh schema, dropped afterwards."""
    schema = f"mp_test_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield schema
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """URL of an empty result store on each backend (a fresh schema on PostgreSQL)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'results.db'}"
    schema = request.getfixturevalue("postgres_schema")
    return f"{request.getfixturevalue('postgres_url')}?options=-csearch_path%3D{schema}"


@pytest.fixture
def database(store_url: str) -> Iterator[Database]:
    """A result database with its tables, on each backend."""
    result = Database.connect(store_url)
    yield result
    result.dispose()


@pytest.fixture
def store(database: Database) -> AlertRepository:
    """The alert repository of the test's result database."""
    return AlertRepository(database)


@pytest.fixture
def results(database: Database) -> ResultRepository:
    """The result repository of the test's result database."""
    return ResultRepository(database)


# -- a real browser (tests/browser, and page layout tests) --------------------------------------

REQUIRE_BROWSER = os.environ.get("MONITORING_REQUIRE_BROWSER") == "1"


def missing_browser(reason: str) -> None:
    """Skip, or fail when CI requires the browser (MONITORING_REQUIRE_BROWSER=1)."""
    if REQUIRE_BROWSER:
        pytest.fail(f"{reason} (MONITORING_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The Chromium executable: MONITORING_CHROMIUM, else Debian's /usr/bin/chromium."""
    path = os.environ.get("MONITORING_CHROMIUM") or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        missing_browser(
            f"no Chromium at {path} (apt-get install chromium, or set MONITORING_CHROMIUM)"
        )
    return path


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Any]:
    """Headless Chromium (the system's executable, not Playwright's download), one per session:
    Playwright's sync API allows one running instance per thread."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_browser("Playwright's Python package is not installed (make install)")
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        launched = playwright.chromium.launch(executable_path=chromium_path, args=["--no-sandbox"])
        yield launched
        launched.close()
