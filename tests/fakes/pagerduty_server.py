"""A local PagerDuty Events API v2 over real HTTP, for testing the real client.

``FakePagerDuty`` answers ``POST /v2/enqueue`` the way PagerDuty does: 202 with
``{"status": "success", "message": "Event processed", "dedup_key": ...}``, or 400 with
``{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}``. It checks
what PagerDuty's docs require: a 32-character alphanumeric ``routing_key``, ``event_action``
one of trigger, acknowledge, resolve, a ``dedup_key`` of at most 255 characters (required to
acknowledge or resolve), and for a trigger a ``payload`` with ``summary`` (at most 1024
characters), ``source`` and ``severity`` (critical, error, warning, info). The texts of the
routing-key and severity errors are PagerDuty's own; the others follow their pattern.

Alerts are kept as PagerDuty keeps them, by routing key and dedup key: a trigger opens an
alert or, while one with its key is open, is added to it; acknowledge and resolve change the
open alert and are dropped when there is none; a trigger after a resolve opens a new alert.
(PagerDuty groups alerts into incidents; here, as with its default grouping, one alert is one
incident.) ``script()`` queues faults answered before normal handling: statuses (429, 5xx),
delays (client timeouts), a connection cut before or after the event was processed.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal

import pytest

from tests.fakes.local_http import FakeHttpServer, LocalServer

PATH = "/v2/enqueue"
ROUTING_KEY = "e93facc04764012d7bfb002500d5d1a6"
"""A well-formed routing key (any well-formed key is accepted, each as its own service)."""

SEVERITIES = ("critical", "error", "warning", "info")
ACTIONS = ("trigger", "acknowledge", "resolve")
MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255

Status = Literal["triggered", "acknowledged", "resolved"]

_DEFAULT_FAULT_BODIES: dict[int, Mapping[str, Any] | str] = {
    429: {
        "status": "throttle event",
        "message": "Requests for this service are arriving too quickly.  Please retry later.",
    },
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class Fault:
    """One scripted reply to the next request.

    Attributes:
        status: Answer with this HTTP status instead of handling the request.
        headers: Extra response headers.
        body: Body of a status fault: a JSON object, or text; default: what PagerDuty's edge
            sends for the status.
        delay_s: Seconds to wait before answering (or handling), to make clients time out.
        drop_connection: Close the connection without handling the request or answering.
        drop_response: Handle the request (the event is applied) and then close the
            connection without answering, as when the network fails after PagerDuty took it.
    """

    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] | str | None = None
    delay_s: float = 0.0
    drop_connection: bool = False
    drop_response: bool = False


RATE_LIMITED = Fault(status=429)
SERVER_ERROR = Fault(status=500)
DROP_CONNECTION = Fault(drop_connection=True)
DROP_RESPONSE = Fault(drop_response=True)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it.

    Attributes:
        path: URL path.
        headers: Request headers.
        body: The parsed JSON body, routing key included (``{}`` when it was not JSON).
        at: ``time.monotonic()`` when the request arrived.
    """

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


@dataclass(frozen=True)
class Incident:
    """An alert PagerDuty opened, with every event applied to it.

    Attributes:
        number: 1 for the first alert the server opened, and so on.
        routing_key: The service (integration key) it belongs to.
        dedup_key: Its dedup key.
        status: Where it is now.
        summary: ``payload.summary`` of the trigger that opened it.
        severity: ``payload.severity`` of the trigger that opened it.
        events: Every event applied to it, the opening trigger first.
    """

    number: int
    routing_key: str
    dedup_key: str
    status: Status
    summary: str
    severity: str
    events: tuple[dict[str, Any], ...]

    @property
    def actions(self) -> list[str]:
        """The ``event_action`` of each event applied, in order."""
        return [str(event["event_action"]) for event in self.events]


class _InvalidEvent(Exception):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


class FakePagerDuty(LocalServer):
    """An Events API v2 server on 127.0.0.1 (a free port), serving from a daemon thread.

    Args:
        echo_key_in_errors: Name the routing key in 400 error texts, as some of PagerDuty's
            errors do, to test that clients keep it out of their messages.
    """

    def __init__(self, *, echo_key_in_errors: bool = False) -> None:
        super().__init__()
        self.routing_key = ROUTING_KEY
        self.echo_key_in_errors = echo_key_in_errors
        self._lock = threading.Lock()
        self._script: deque[Fault] = deque()
        self._requests: list[RecordedRequest] = []
        self._incidents: list[Incident] = []
        self._dropped: list[dict[str, Any]] = []

    # -- lifecycle ----------------------------------------------------------------------

    def _make_server(self, address: tuple[str, int]) -> FakeHttpServer:
        return _Server(address, _Handler)

    @property
    def url(self) -> str:
        """The enqueue endpoint, ``http://127.0.0.1:PORT/v2/enqueue``."""
        return f"http://127.0.0.1:{self.port}{PATH}"

    # -- test controls ------------------------------------------------------------------

    def script(self, *faults: Fault, times: int = 1) -> None:
        """Queue ``faults`` (the sequence ``times`` over), consumed one per request."""
        with self._lock:
            self._script.extend(list(faults) * times)

    def requests(self) -> list[RecordedRequest]:
        """The requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def incidents(self, dedup_key: str | None = None) -> list[Incident]:
        """The alerts opened so far, oldest first, optionally only those with ``dedup_key``."""
        with self._lock:
            return [i for i in self._incidents if dedup_key is None or i.dedup_key == dedup_key]

    def dropped(self) -> list[dict[str, Any]]:
        """Valid events that found no open alert to apply to (acknowledge, resolve)."""
        with self._lock:
            return copy.deepcopy(self._dropped)

    # -- request handling (called from handler threads) -----------------------------------

    def _receive(self, path: str, headers: Mapping[str, str], body: dict[str, Any]) -> Fault | None:
        with self._lock:
            self._requests.append(
                RecordedRequest(path, dict(headers), copy.deepcopy(body), time.monotonic())
            )
            return self._script.popleft() if self._script else None

    def _enqueue(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The status and body of a normal answer to an event."""
        try:
            _validate(body)
        except _InvalidEvent as exc:
            errors = exc.errors
            if self.echo_key_in_errors:
                errors = [f"{error} for {body.get('routing_key')}" for error in errors]
            return 400, {
                "status": "invalid event",
                "message": "Event object is invalid",
                "errors": errors,
            }
        with self._lock:
            dedup_key = self._apply(copy.deepcopy(body))
        return 202, {"status": "success", "message": "Event processed", "dedup_key": dedup_key}

    def _apply(self, event: dict[str, Any]) -> str:
        """Apply a valid event (with the lock held); the dedup key it was applied under."""
        routing_key, action = str(event["routing_key"]), str(event["event_action"])
        dedup_key = str(event.get("dedup_key") or "") or uuid.uuid4().hex
        event["dedup_key"] = dedup_key
        index = next(
            (
                n
                for n, incident in enumerate(self._incidents)
                if incident.routing_key == routing_key
                and incident.dedup_key == dedup_key
                and incident.status != "resolved"
            ),
            None,
        )
        if index is None:
            if action == "trigger":
                payload = event["payload"]
                self._incidents.append(
                    Incident(
                        number=len(self._incidents) + 1,
                        routing_key=routing_key,
                        dedup_key=dedup_key,
                        status="triggered",
                        summary=str(payload["summary"]),
                        severity=str(payload["severity"]),
                        events=(event,),
                    )
                )
            else:
                self._dropped.append(event)
            return dedup_key
        incident = self._incidents[index]
        status: Status = incident.status  # a trigger leaves an acknowledged alert acknowledged
        if action == "acknowledge":
            status = "acknowledged"
        elif action == "resolve":
            status = "resolved"
        self._incidents[index] = dataclasses.replace(
            incident, status=status, events=(*incident.events, event)
        )
        return dedup_key


def _validate(body: dict[str, Any]) -> None:
    errors: list[str] = []
    routing_key = body.get("routing_key")
    if not isinstance(routing_key, str) or not routing_key:
        errors.append("'routing_key' is missing or blank")
    else:
        if len(routing_key) != 32:
            errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
        if not routing_key.isascii() or not routing_key.isalnum():
            errors.append("'routing_key' cannot contain non-alphanumeric characters.")
    action = body.get("event_action")
    if action not in ACTIONS:
        errors.append(
            "'event_action' is missing or invalid (must be one of the following: "
            "'trigger', 'acknowledge' or 'resolve')"
        )
    dedup_key = body.get("dedup_key")
    if dedup_key is not None and not isinstance(dedup_key, str):
        errors.append("'dedup_key' must be a string")
    elif isinstance(dedup_key, str) and len(dedup_key) > MAX_DEDUP_KEY:
        errors.append(f"Length of 'dedup_key' is too long (maximum is {MAX_DEDUP_KEY} characters)")
    elif action in ("acknowledge", "resolve") and not dedup_key:
        errors.append("'dedup_key' is missing or blank")
    if action == "trigger":
        errors += _payload_errors(body.get("payload"))
    if errors:
        raise _InvalidEvent(errors)


def _payload_errors(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["'payload' is missing or invalid"]
    errors = [
        f"'payload.{name}' is missing or blank"
        for name in ("summary", "source", "severity")
        if not isinstance(payload.get(name), str) or not payload[name].strip()
    ]
    summary = payload.get("summary")
    if isinstance(summary, str) and len(summary) > MAX_SUMMARY:
        errors.append(
            f"Length of 'payload.summary' is too long (maximum is {MAX_SUMMARY} characters)"
        )
    severity = payload.get("severity")
    if isinstance(severity, str) and severity.strip() and severity not in SEVERITIES:
        errors.append(
            "'payload.severity' is invalid (must be one of the following: "
            "'critical', 'warning', 'error' or 'info')"
        )
    details = payload.get("custom_details")
    if details is not None and not isinstance(details, dict | str):
        errors.append("'payload.custom_details' must be an object")
    return errors


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")  # Python's json reads NaN; PagerDuty does not


class _Server(FakeHttpServer):
    fake: FakePagerDuty


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            parsed = json.loads(raw, parse_constant=_not_json)
        except (ValueError, UnicodeDecodeError):
            parsed = None
        body: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
        path = self.path.split("?", 1)[0]
        fake = self.server.fake
        fault = fake._receive(path, dict(self.headers.items()), body)
        if fault is not None and fault.delay_s:
            time.sleep(fault.delay_s)
        if fault is not None and fault.drop_connection:
            self.close_connection = True
            return
        if fault is not None and fault.status is not None:
            default = _DEFAULT_FAULT_BODIES.get(fault.status, f"HTTP {fault.status}")
            answer = fault.body if fault.body is not None else default
            self._send(fault.status, answer, fault.headers)
            return
        if path != PATH:
            status, answer = 404, "Not Found"
        elif not isinstance(parsed, dict):
            status, answer = (
                400,
                {
                    "status": "invalid event",
                    "message": "Event object is invalid",
                    "errors": ["Request body is not a JSON object"],
                },
            )
        else:
            status, answer = fake._enqueue(body)
        if fault is not None and fault.drop_response:
            self.close_connection = True
            return
        self._send(status, answer, {})

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Mapping[str, Any] | str, headers: Mapping[str, str]) -> None:
        if isinstance(body, str):
            payload, content_type = body.encode(), "text/plain; charset=utf-8"
        else:
            payload, content_type = json.dumps(body).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture(name="fake_pagerduty")
def fake_pagerduty_fixture() -> Iterator[FakePagerDuty]:
    """A started FakePagerDuty, stopped after the test."""
    with FakePagerDuty() as fake:
        yield fake


# Importing ``fake_pagerduty_fixture`` into a test module brings the fixture ``fake_pagerduty``.
fake_pagerduty = fake_pagerduty_fixture
