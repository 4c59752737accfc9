"""A local OpenAI-compatible chat-completions server over real HTTP, for testing the LLM judge.

``FakeOpenAI`` answers ``POST /v1/chat/completions`` the way OpenAI does: a JSON body with
``model``, ``messages``, ``temperature`` and ``response_format``; a bearer key checked (401 with
OpenAI's error body when it is missing or wrong); 404 for an unknown model; a chat.completion
with ``choices[0].message.content`` and ``usage``. What the "model" replies is computed by a
``judge`` function of the request's messages, so a test can give the fake a judging logic.
``script()`` queues faults answered before normal handling: statuses with headers
(Retry-After), delays (client timeouts), a dropped connection, or a fixed reply content
(malformed JSON, a score out of range). The server records every request and the most
requests it had in flight at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal

import pytest

from tests.fakes.local_http import FakeHttpServer, LocalServer

Messages = list[dict[str, Any]]
JudgeFn = Callable[[Messages], str]
AuthState = Literal["valid", "wrong", "missing", "not_required"]

PATH = "/v1/chat/completions"
DEFAULT_REPLY = json.dumps({"score": 0.9, "rationale": "Every claim is in the context."})


@dataclass(frozen=True)
class Fault:
    """One scripted reply to the next request.

    Attributes:
        status: Answer with this HTTP status instead of handling the request.
        headers: Extra response headers, e.g. ``{"Retry-After": "1"}``.
        body: Body of a status fault: a JSON object, or text; default: OpenAI's error object.
        delay_s: Seconds to wait before answering, to make clients time out.
        content: Handle the request but reply with this message content instead of the judge
            function's (malformed JSON, a score out of range...).
        drop_connection: Close the connection without answering.
    """

    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] | str | None = None
    delay_s: float = 0.0
    content: str | None = None
    drop_connection: bool = False


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it, without the Authorization header.

    Attributes:
        path: URL path.
        headers: Request headers, ``Authorization`` left out.
        body: The parsed JSON body (``{}`` when it was not JSON).
        auth: Whether the bearer key was the server's, another, absent, or not asked for.
        at: ``time.monotonic()`` when the request arrived.
    """

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    auth: AuthState
    at: float


@dataclass(frozen=True)
class Completion:
    """A chat completion the server answered."""

    content: str
    prompt_tokens: int
    completion_tokens: int


class FakeOpenAI(LocalServer):
    """A chat-completions server on 127.0.0.1 (a free port), serving from a daemon thread.

    Args:
        api_key: The one bearer key accepted; ``None``: no key needed (like Ollama).
        model: The one model served.
        judge: Reply content from the request's messages; default ``DEFAULT_REPLY``.
        latency_s: Seconds every completion takes.
        usage: Fixed ``(prompt_tokens, completion_tokens)``; default: characters / 4.
        report_usage: Whether answers carry ``usage`` at all.
        reject_response_format: Answer 400 to requests with ``response_format``.
        echo_key_in_errors: Put the full presented key in 401 messages (a careless server).
    """

    def __init__(
        self,
        *,
        api_key: str | None = "sk-fake-9f3Kq2LmXv8RtY4wZp1N",
        model: str = "judge-1",
        judge: JudgeFn | None = None,
        latency_s: float = 0.0,
        usage: tuple[int, int] | None = None,
        report_usage: bool = True,
        reject_response_format: bool = False,
        echo_key_in_errors: bool = False,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.model = model
        self.judge: JudgeFn = judge or (lambda messages: DEFAULT_REPLY)
        self.latency_s = latency_s
        self.usage = usage
        self.report_usage = report_usage
        self.reject_response_format = reject_response_format
        self.echo_key_in_errors = echo_key_in_errors
        self._lock = threading.Lock()
        self._script: deque[Fault] = deque()
        self._requests: list[RecordedRequest] = []
        self._completions: list[Completion] = []
        self._in_flight = 0
        self._max_in_flight = 0

    # -- lifecycle ----------------------------------------------------------------------

    def _make_server(self, address: tuple[str, int]) -> FakeHttpServer:
        return _Server(address, _Handler)

    @property
    def base_url(self) -> str:
        """The API base URL, ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- test controls ------------------------------------------------------------------

    def script(self, *faults: Fault) -> None:
        """Queue ``faults``, consumed one per request before normal handling."""
        with self._lock:
            self._script.extend(faults)

    def requests(self) -> list[RecordedRequest]:
        """The requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def completions(self) -> list[Completion]:
        """The completions answered so far, in the order they were answered."""
        with self._lock:
            return list(self._completions)

    @property
    def max_in_flight(self) -> int:
        """The most requests the server was handling at once."""
        with self._lock:
            return self._max_in_flight

    # -- request handling (called from handler threads) -----------------------------------

    def _receive(
        self, path: str, headers: Mapping[str, str], body: dict[str, Any]
    ) -> tuple[Fault | None, AuthState, str]:
        presented = ""
        for name, value in headers.items():
            if name.lower() == "authorization" and value.startswith("Bearer "):
                presented = value.removeprefix("Bearer ").strip()
        if self.api_key is None:
            auth: AuthState = "not_required"
        else:
            auth = "missing" if not presented else "valid" if presented == self.api_key else "wrong"
        kept = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        with self._lock:
            self._requests.append(RecordedRequest(path, kept, body, auth, time.monotonic()))
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            return (self._script.popleft() if self._script else None), auth, presented

    def _done(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _complete(
        self, body: dict[str, Any], auth: AuthState, presented: str, fault: Fault | None
    ) -> tuple[int, dict[str, Any]]:
        """The status and body of a normal answer."""
        if auth == "missing":
            return 401, _error(
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                "invalid_request_error",
                None,
            )
        if auth == "wrong":
            shown = presented if self.echo_key_in_errors else _masked(presented)
            return 401, _error(
                f"Incorrect API key provided: {shown}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            )
        messages = body.get("messages")
        if not isinstance(body.get("model"), str) or not _valid_messages(messages):
            return 400, _error(
                "'model' and 'messages' (a list of {role, content}) are required",
                "invalid_request_error",
                None,
            )
        if body["model"] != self.model:
            return 404, _error(
                f"The model `{body['model']}` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model_not_found",
            )
        if "response_format" in body and self.reject_response_format:
            return 400, _error(
                "Invalid parameter: 'response_format' of type 'json_object' is not supported "
                "with this model.",
                "invalid_request_error",
                None,
                param="response_format",
            )
        assert isinstance(messages, list)
        content = fault.content if fault is not None and fault.content is not None else None
        if content is None:
            content = self.judge(messages)
        if self.usage is not None:
            prompt_tokens, completion_tokens = self.usage
        else:
            prompt_tokens = sum(len(str(m["content"])) for m in messages) // 4 + 1
            completion_tokens = len(content) // 4 + 1
        with self._lock:
            self._completions.append(Completion(content, prompt_tokens, completion_tokens))
            number = len(self._completions)
        answer: dict[str, Any] = {
            "id": f"chatcmpl-fake{number:06d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "finish_reason": "stop",
                }
            ],
        }
        if self.report_usage:
            answer["usage"] = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
        return 200, answer


def _error(
    message: str, kind: str, code: str | None, *, param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _masked(key: str) -> str:
    """How OpenAI shows a wrong key: its first 3 and last 4 characters."""
    return key[:3] + "*" * max(0, len(key) - 7) + key[-4:] if len(key) > 8 else "***"


def _valid_messages(messages: Any) -> bool:
    return (
        isinstance(messages, list)
        and bool(messages)
        and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and "content" in m
            for m in messages
        )
    )


_DEFAULT_FAULT_MESSAGES = {
    429: "Rate limit reached for requests. Please try again later.",
    500: "The server had an error while processing your request. Sorry about that!",
    502: "Bad gateway.",
    503: "The engine is currently overloaded, please try again later.",
}


class _Server(FakeHttpServer):
    fake: FakeOpenAI


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            parsed = json.loads(raw) if raw else {}
            body: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
            parse_error = not isinstance(parsed, dict)
        except (json.JSONDecodeError, UnicodeDecodeError):
            body, parse_error = {}, True
        path = self.path.split("?", 1)[0]
        fake = self.server.fake
        fault, auth, presented = fake._receive(path, dict(self.headers.items()), body)
        try:
            delay = (fault.delay_s if fault is not None else 0.0) + fake.latency_s
            if delay:
                time.sleep(delay)
            if fault is not None and fault.drop_connection:
                self.close_connection = True
                return
            if fault is not None and fault.status is not None:
                default = _error(
                    _DEFAULT_FAULT_MESSAGES.get(fault.status, f"HTTP {fault.status}"),
                    "server_error" if fault.status >= 500 else "requests",
                    None,
                )
                status, answer = fault.status, (fault.body if fault.body is not None else default)
                headers: Mapping[str, str] = fault.headers
            elif path != PATH:
                status, answer, headers = (
                    404,
                    _error(
                        f"Unknown request URL: POST {path}.", "invalid_request_error", "unknown_url"
                    ),
                    {},
                )
            elif parse_error:
                status, answer, headers = (
                    400,
                    _error(
                        "We could not parse the JSON body of your request.",
                        "invalid_request_error",
                        None,
                    ),
                    {},
                )
            else:
                status, answer = fake._complete(body, auth, presented, fault)
                headers = {}
        finally:
            fake._done()
        self._send(status, answer, headers)

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


@pytest.fixture(name="fake_openai")
def fake_openai_fixture() -> Iterator[FakeOpenAI]:
    """A started FakeOpenAI with the default key and model, stopped after the test."""
    with FakeOpenAI() as fake:
        yield fake


# tests/conftest.py imports ``fake_openai_fixture``: every test can ask for ``fake_openai``.
