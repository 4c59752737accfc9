"""End to end from a running service to a message: the sentiment API example under its load
script sends its spans over OTLP/HTTP to `monitoring otel serve`, which writes them to the
warehouse; the example's monitor file materializes the day through Dagster and the alerting
pass turns the scripted incident (a burst of 503s, answers shifted towards neutral) into one
incident and one Slack message (to a local Slack server).

A daily monitor reads complete days, so the service runs with its clock a day behind
(libfaketime): its traffic is yesterday's, and the monitor runs "the next morning" as it would
after midnight."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from examples.sentiment_api import load
from examples.sentiment_api.app import FAULTS_ENV
from tests.fakes.slack_server import FakeSlack

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "sentiment_api"
# libfaketime (Debian's faketime package), preloaded into the service itself: the `faketime`
# command would run it as a child, and a signal to the command would not reach the service.
LIBFAKETIME = next(
    (
        p
        for p in (
            Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"),
            Path("/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"),
        )
        if p.exists()
    ),
    None,
)
BASELINE, INCIDENT = 600, 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if LIBFAKETIME is None:
        pytest.fail("faketime is missing (apt-get install -y faketime; .ci/run installs it)")
    home = tmp_path_factory.mktemp("sentiment-live")
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    warehouse = f"sqlite:///{home / 'warehouse.db'}"
    with FakeSlack(first_ts=int(time.time())) as slack:
        env = {
            **os.environ,
            "MONITORING_HOME": str(home),
            "DAGSTER_HOME": str(home / "dagster"),
            "MONITORING_CONFIG": str(EXAMPLE / "monitors.yaml"),
            "MONITORING_WAREHOUSE_URL": warehouse,
            "MONITORING_STORE_URL": f"sqlite:///{home / 'results.db'}",
            "SENTIMENT_START_DATE": (yesterday - timedelta(days=6)).isoformat(),
            "SLACK_BOT_TOKEN": slack.token,
            "SLACK_API_URL": slack.base_url,
            "WHYLOGS_NO_ANALYTICS": "True",
        }
        env.pop("MONITORING_ALERTS_FILE", None)
        (home / "dagster").mkdir()
        shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster" / "dagster.yaml")
        receiver_port, app_port = _free_port(), _free_port()
        monitoring = [sys.executable, "-m", "monitoring_pipelines.cli"]
        receiver = subprocess.Popen(
            [
                *monitoring,
                "otel",
                "serve",
                "--table",
                "sentiment_requests",
                "--column",
                "label=sentiment.label",
                "--column",
                "confidence=sentiment.confidence:float",
                "--column",
                "words=sentiment.words:float",
                "--port",
                str(receiver_port),
            ],
            env=env,
            cwd=home,
        )
        app_env = {
            **env,
            FAULTS_ENV: "1",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver_port}",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "LD_PRELOAD": str(LIBFAKETIME),
            "FAKETIME": "-1d",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        }
        app = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "uvicorn"),
                "--factory",
                "examples.sentiment_api.app:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(app_port),
                "--log-level",
                "warning",
            ],
            env=app_env,
            cwd=ROOT,
        )
        try:
            _wait_for(f"http://127.0.0.1:{receiver_port}/status")
            _wait_for(f"http://127.0.0.1:{app_port}/metrics")
            phases = load.run(
                f"http://127.0.0.1:{app_port}", baseline=BASELINE, incident=INCIDENT, rate=0
            )
            _stop(app)  # flushes the spans it still holds
            with urllib.request.urlopen(f"http://127.0.0.1:{receiver_port}/status") as answer:
                status = answer.read().decode()
        finally:
            _stop(app)
            _stop(receiver)
        engine = create_engine(warehouse)
        with engine.connect() as conn:
            rows = conn.execute(
                text("select count(*), min(ts), max(ts) from sentiment_requests")
            ).one()
        backfill = subprocess.run(
            [
                *monitoring,
                "backfill",
                "--start",
                yesterday.isoformat(),
                "--end",
                yesterday.isoformat(),
                "--workers",
                "1",
                "--no-alerting",
            ],
            env=env,
            cwd=home,
            capture_output=True,
            text=True,
            timeout=900,
        )
        # The alerting as the sensor runs it the morning after a live day (a backfill's runs
        # would be summed up in one summary instead).
        alerting = subprocess.run(
            [*monitoring, "alerting", "run", "--replay"],
            env=env,
            cwd=home,
            capture_output=True,
            text=True,
            timeout=300,
        )
        yield {
            "phases": phases,
            "rows": rows,
            "status": status,
            "backfill": backfill,
            "alerting": alerting,
            "messages": slack.messages("#ml-alerts"),
            "yesterday": yesterday,
            "store": env["MONITORING_STORE_URL"],
        }


def test_every_request_became_one_row_of_yesterday(live: dict[str, Any]) -> None:
    sent = sum(sum(p.statuses.values()) for p in live["phases"])
    count, first, last = live["rows"]
    assert count == sent, (count, sent, live["status"])
    day = live["yesterday"].isoformat()
    assert str(first).startswith(day) and str(last).startswith(day), (first, last)


def test_the_scripted_incident_is_one_incident_and_one_message(live: dict[str, Any]) -> None:
    backfill = live["backfill"]
    assert backfill.returncode == 0, backfill.stdout[-3000:] + backfill.stderr[-3000:]
    alerting = live["alerting"]
    assert alerting.returncode == 0, alerting.stdout[-3000:] + alerting.stderr[-3000:]
    from monitoring_pipelines.core.alerting.store import AlertRepository
    from monitoring_pipelines.core.store.database import Database

    incidents = AlertRepository(Database.connect(live["store"])).incidents()
    # Checks failing with the same cause join the first one's incident (its thread).
    opened = [i for i in incidents if i.parent_id is None]
    assert len(opened) == 1, [(i.check, i.subject, i.first_partition) for i in incidents]
    (incident,) = opened
    assert incident.first_partition == live["yesterday"].isoformat()
    first_messages = [m for m in live["messages"] if m.thread_ts is None]
    assert len(first_messages) == 1, [m.text for m in live["messages"]]
    words = first_messages[0].text.lower()
    assert "sentiment_api" in words and "error rate" in words, first_messages[0].text
