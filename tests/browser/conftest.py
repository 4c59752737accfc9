"""Browser tests: a short demo served by ``dagster-webserver`` and driven in Chromium.

Writing a test: ask for ``ui`` (:class:`tests.browser.dagster_ui.DagsterUI`, whose methods open
pages) and ``shot`` (``shot(page, "step")`` saves the step's screenshot as a test artefact).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pytest
import yaml

from tests.browser.dagster_ui import DagsterUI, graphql

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO = Path(__file__).parents[2]
# The shortest demo that still holds every injected event (abrupt drift of the sentiment
# monitor's `channel` from 2026-09-09 on), at a fifth of the demo's volume, of the two monitors
# the tests open (a classifier and an LLM chatbot with its review queue).
DEMO_MONITORS = ("sentiment", "support_bot")
DEMO_DAYS = 20
DEMO_SCALE = 0.2
DEMO_SEED = 3
DEMO_TIMEOUT_S = 1200
SERVER_TIMEOUT_S = 180


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where screenshots go: MONITORING_TEST_ARTIFACTS, else <repo>/.test-artifacts/browser."""
    configured = os.environ.get("MONITORING_TEST_ARTIFACTS")
    path = Path(configured) if configured else REPO / ".test-artifacts" / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _start(command: list[str], env: dict[str, str], out: IO[str]) -> subprocess.Popen[bytes]:
    """``command`` in the repository, in a process group of its own (see _stop)."""
    return subprocess.Popen(
        command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop ``process`` and the processes it started (the webserver's code server, the demo's
    workers): SIGTERM to its group, SIGKILL after 30 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def ui_url() -> str:
    """The address the webserver will listen on (the demo's alerts link to it)."""
    return f"http://127.0.0.1:{_free_port()}"


@pytest.fixture(scope="session")
def web_url() -> str:
    """The address ``monitoring serve`` will listen on (the demo's report and runbook links)."""
    return f"http://127.0.0.1:{_free_port()}"


@pytest.fixture(scope="session")
def demo_env(
    chromium_path: str, ui_url: str, web_url: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The environment of a short demo run into a fresh MONITORING_HOME and DAGSTER_HOME.

    With MONITORING_TEST_DEMO_HOME set, the demo runs into that directory once and later
    sessions reuse it (quicker while writing a test; its alert links name the first port).

    Returns:
        The environment the demo ran with (for the webserver and any CLI call a test makes).
    """
    kept = os.environ.get("MONITORING_TEST_DEMO_HOME")
    home = Path(kept).resolve() if kept else tmp_path_factory.mktemp("browser-demo")
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "deploy" / "dagster.yaml", dagster_home / "dagster.yaml")
    config = yaml.safe_load((REPO / "demo" / "monitors.yaml").read_text())
    config["monitors"] = {k: v for k, v in config["monitors"].items() if k in DEMO_MONITORS}
    (home / "monitors.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONITORING_", "SLACK_"))}
    env.update(
        MONITORING_HOME=str(home),
        DAGSTER_HOME=str(dagster_home),
        MONITORING_CONFIG=str(home / "monitors.yaml"),
        MONITORING_STORE_URL=f"sqlite:///{home / 'results.db'}",
        MONITORING_WAREHOUSE_URL=f"sqlite:///{home / 'warehouse.db'}",
        MONITORING_DAGSTER_URL=ui_url,
        MONITORING_WEB_URL=web_url,
        WHYLOGS_NO_ANALYTICS="True",
    )
    command = [sys.executable, "-m", "monitoring_pipelines.cli", "demo", "run"]
    command += ["--days", str(DEMO_DAYS), "--scale", str(DEMO_SCALE), "--seed", str(DEMO_SEED)]
    log, complete = home / "demo.log", home / "demo.complete"
    if kept and complete.exists():
        return env
    with log.open("w") as out:
        demo = _start(command, env, out)
        try:
            returncode = demo.wait(timeout=DEMO_TIMEOUT_S)
        finally:
            _stop(demo)  # its worker processes too, if it was interrupted
    assert returncode == 0, f"demo failed:\n{log.read_text()[-4000:]}"
    complete.touch()
    return env


def _location_loaded(url: str) -> bool:
    query = "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }"
    try:
        entries = graphql(url, query)["workspaceOrError"]["locationEntries"]  # type: ignore[index]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return bool(entries) and all(e["loadStatus"] == "LOADED" for e in entries)


@contextlib.contextmanager
def _serving(
    command: list[str], env: dict[str, str], log_name: str, ready: Callable[[], bool]
) -> Iterator[None]:
    """``command`` running (its output in ``$MONITORING_HOME/<log_name>``) until the block ends,
    once ``ready()``; the test fails with the log's end if it exits or is not ready in time."""
    log_path = Path(env["MONITORING_HOME"]) / log_name
    with log_path.open("w") as log:
        server = _start(command, env, log)
        try:
            deadline = time.monotonic() + SERVER_TIMEOUT_S
            while not ready():
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"{command[2]} did not come up:\n{log_path.read_text()[-4000:]}")
                time.sleep(0.5)
            yield
        finally:
            _stop(server)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="session")
def dagster_ui_server(demo_env: dict[str, str], ui_url: str) -> Iterator[str]:
    """``dagster-webserver`` on the demo's instance, answering with its code location loaded.

    Yields:
        The server's base URL.
    """
    port = ui_url.rsplit(":", 1)[1]
    command = [sys.executable, "-m", "dagster_webserver", "-w", "workspace.yaml"]
    command += ["-h", "127.0.0.1", "-p", port]
    with _serving(command, demo_env, "webserver.log", lambda: _location_loaded(ui_url)):
        yield ui_url


@pytest.fixture(scope="session")
def web_server(demo_env: dict[str, str], web_url: str) -> Iterator[str]:
    """``monitoring serve`` on the demo's history (reports, runbooks, the review page).

    Yields:
        The server's base URL.
    """
    port = web_url.rsplit(":", 1)[1]
    command = [sys.executable, "-m", "monitoring_pipelines.cli", "serve", "--port", port]
    with _serving(command, demo_env, "web.log", lambda: _answers(f"{web_url}/healthz")):
        yield web_url


def _save_docs_image(source: Path, target: Path) -> None:
    """A screenshot as a small PNG for the README: 64 colours are plenty for the UI's flat ones."""
    from PIL import Image

    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as image:
        image.convert("RGB").quantize(colors=64).save(target, optimize=True)


@pytest.fixture
def shot(artifacts_dir: Path, request: pytest.FixtureRequest) -> Callable[..., Path]:
    """``shot(page, name, docs=None, **screenshot_options)``: the test's next step as a PNG.

    Files are ``<artifacts>/<test>/<nn>-<name>.png``, numbered in the order taken; options go
    to Playwright's ``page.screenshot`` (``full_page=True``, ``clip={...}``). A step named
    ``docs="ui-x.png"`` is one of the README's images: with MONITORING_UPDATE_DOCS_IMAGES=1 it
    is also written, reduced to a small palette, to ``docs/images/ui-x.png``.
    """
    directory: Path = artifacts_dir / request.node.name.replace("/", "_")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    taken: list[Path] = []

    def take(page: Page, name: str, docs: str | None = None, **options: Any) -> Path:
        path = directory / f"{len(taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), **options)
        taken.append(path)
        if docs is not None and os.environ.get("MONITORING_UPDATE_DOCS_IMAGES") == "1":
            _save_docs_image(path, REPO / "docs" / "images" / docs)
        return path

    return take


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item,
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test item, for the ``ui`` fixture's teardown."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def ui(
    browser: Browser,
    dagster_ui_server: str,
    demo_env: dict[str, str],
    shot: Callable[..., Path],
    request: pytest.FixtureRequest,
) -> Iterator[DagsterUI]:
    """The Dagster UI of the short demo, in a fresh browser context (see DagsterUI).

    When the test fails, each page it left open is kept as a ``failed-page`` screenshot.
    """
    context = browser.new_context(
        base_url=dagster_ui_server, viewport={"width": 1600, "height": 1000}, timezone_id="UTC"
    )
    # The machine is shared and the UI's first queries are slow while the caches are cold.
    context.set_default_timeout(60_000)
    yield DagsterUI(context, dagster_ui_server, demo_env)
    call = getattr(request.node, "report_call", None)
    if call is not None and call.failed:
        for page in context.pages:
            shot(page, "failed-page", full_page=True)
    context.close()
