"""A local Slack Web API over real HTTP, for testing the real client against Slack's protocol.

``FakeSlack`` serves the methods the notifier uses (chat.postMessage, conversations.history,
conversations.replies, conversations.list, auth.test) the way Slack does: POST bodies as JSON
or form-encoded, a bearer token, ``{"ok": false, "error": ...}`` answers with HTTP 200, cursor
pagination and message metadata only on request. ``script()`` queues faults (rate limits,
server errors, delays, a connection cut after a post was stored) answered before normal
handling.

File uploads follow Slack's external-upload flow (what slack_sdk's ``files_upload_v2`` calls):
files.getUploadURLExternal reserves a file id and answers an upload URL on this server
(``/upload/v1/<file id>``, no token needed, as Slack's are pre-signed); the bytes are POSTed
there (script faults for it under the method name ``UPLOAD``); files.completeUploadExternal
shares the uploaded files into a channel, or a thread when ``thread_ts`` names a top-level
message of that channel. Shared files are kept apart from messages (``files()``).
"""

from __future__ import annotations

import base64
import copy
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.fakes.local_http import FakeHttpServer, LocalServer

BOT_USER_ID = "U0MONBOT"
BOT_ID = "B0MONBOT"
APP_ID = "A0MONAPP"
MAX_BLOCKS = 50
MAX_TEXT = 40_000
_BLOCK_TEXT_LIMITS = {"section": 3000, "header": 150}
_SECTION_FIELD_LIMIT = 2000
_JSON_FORM_FIELDS = ("blocks", "attachments", "metadata")
_DEFAULT_FAULT_ERRORS = {429: "ratelimited", 503: "service_unavailable"}
UPLOAD = "upload"  # the pseudo-method of the upload URL, for script() and requests()
_UPLOAD_PATH = "/upload/v1/"

AuthState = Literal["valid", "wrong", "missing"]


@dataclass(frozen=True)
class Fault:
    """One scripted reply to the next request for a method.

    Attributes:
        status: Answer with this HTTP status instead of handling the request; None handles it
            (unless ``body`` is given, which is then answered with status 200).
        headers: Extra response headers, e.g. ``{"Retry-After": "1"}``.
        body: Response body: a JSON object, or text sent as text/plain. Defaults, when
            ``status`` is set, to ``{"ok": false, "error": ...}`` fitting the status.
        delay_s: Seconds to wait before answering (or handling), to make clients time out.
        drop_response: Handle the request (a post is stored) and then close the connection
            without answering, as when the network fails after Slack accepted a message.
    """

    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] | str | None = None
    delay_s: float = 0.0
    drop_response: bool = False


DROP_RESPONSE_AFTER_POST = Fault(drop_response=True)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it, without the token.

    Attributes:
        method: Web API method, e.g. ``chat.postMessage``.
        headers: Request headers, ``Authorization`` left out.
        content_type: Media type of the body (``application/json``, ...).
        body: Parsed parameters (JSON object, or form and query fields).
        auth: Whether the token was the server's, another one, or absent.
        at: ``time.monotonic()`` when the request arrived.
    """

    method: str
    headers: dict[str, str]
    content_type: str
    body: dict[str, Any]
    auth: AuthState
    at: float


@dataclass(frozen=True)
class StoredMessage:
    """A message the server accepted."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]] | None
    metadata: dict[str, Any] | None
    thread_ts: str | None


@dataclass
class StoredFile:
    """A file reserved by files.getUploadURLExternal, uploaded, and shared on completion.

    Attributes:
        id: The file id (``F0...``).
        filename: The name given when the upload URL was asked for.
        length: The size announced then, in bytes.
        alt_txt: Its alt text, if given.
        content: The bytes POSTed to the upload URL (None until then).
        title: The title given on completion.
        channel: The channel id it was shared into (None while not shared).
        thread_ts: The thread it was shared into, if any.
        completed: Whether files.completeUploadExternal took it (once only).
    """

    id: str
    filename: str
    length: int
    alt_txt: str | None = None
    content: bytes | None = None
    title: str | None = None
    channel: str | None = None
    thread_ts: str | None = None
    completed: bool = False


class _ApiError(Exception):
    def __init__(self, error: str, problems: list[str] | None = None):
        super().__init__(error)
        self.error = error
        self.problems = problems or []


class FakeSlack(LocalServer):
    """A Slack Web API server on 127.0.0.1 (a free port), serving from a daemon thread.

    Args:
        token: The one token accepted (``Authorization: Bearer`` or a ``token`` field).
        channels: Channel id to name; default ``{"C0ALERTS": "ml-alerts"}``.
        page_size: Most items any paginated answer holds, whatever ``limit`` asks for.
        first_ts: Unix seconds of the first message's ts; each message adds 100 µs.
    """

    def __init__(
        self,
        *,
        token: str = "xoxb-fake-0001-notarealsecret",
        channels: Mapping[str, str] | None = None,
        page_size: int = 100,
        first_ts: int = 1_760_000_000,
    ) -> None:
        super().__init__()
        self.token = token
        self.page_size = page_size
        self._channels = dict(channels if channels is not None else {"C0ALERTS": "ml-alerts"})
        self._first_ts = first_ts
        self._lock = threading.Lock()
        self._messages: dict[str, list[StoredMessage]] = defaultdict(list)
        self._posted = 0
        self._files: dict[str, StoredFile] = {}
        self._scripts: dict[str, deque[Fault]] = defaultdict(deque)
        self._requests: list[RecordedRequest] = []

    # -- lifecycle ----------------------------------------------------------------------

    def _make_server(self, address: tuple[str, int]) -> FakeHttpServer:
        return _Server(address, _Handler)

    @property
    def base_url(self) -> str:
        """The Web API base URL, ``http://127.0.0.1:PORT/api/``."""
        return f"http://127.0.0.1:{self.port}/api/"

    # -- test controls ------------------------------------------------------------------

    def script(self, method: str, *faults: Fault) -> None:
        """Queue ``faults`` for ``method``, consumed one per request before normal handling."""
        with self._lock:
            self._scripts[method].extend(faults)

    def requests(self, method: str | None = None) -> list[RecordedRequest]:
        """The requests received so far, oldest first, optionally only those for ``method``."""
        with self._lock:
            return [r for r in self._requests if method is None or r.method == method]

    def messages(self, channel: str) -> list[StoredMessage]:
        """Messages stored in ``channel`` (id, name or ``#name``), oldest first, with replies."""
        with self._lock:
            channel_id = self._resolve(channel)
            return list(self._messages[channel_id]) if channel_id else []

    def files(self, channel: str | None = None) -> list[StoredFile]:
        """Files reserved so far, oldest first; with ``channel``, those shared into it."""
        with self._lock:
            channel_id = self._resolve(channel) if channel is not None else None
            return [
                copy.copy(f)
                for f in self._files.values()
                if channel is None or (channel_id is not None and f.channel == channel_id)
            ]

    def add_channel(self, channel_id: str, name: str) -> None:
        """Create a channel."""
        with self._lock:
            self._channels[channel_id] = name

    # -- request handling (called from handler threads) -----------------------------------

    def _receive(
        self, method: str, headers: Mapping[str, str], content_type: str, body: dict[str, Any]
    ) -> tuple[Fault | None, AuthState]:
        authorization = headers.get("Authorization", "")
        token = authorization.removeprefix("Bearer ").strip() or str(body.pop("token", ""))
        auth: AuthState = "missing" if not token else "valid" if token == self.token else "wrong"
        kept = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        with self._lock:
            self._requests.append(
                RecordedRequest(
                    method, kept, content_type, copy.deepcopy(body), auth, time.monotonic()
                )
            )
            script = self._scripts.get(method)
            return (script.popleft() if script else None), auth

    def _answer(self, method: str, auth: AuthState, body: dict[str, Any]) -> dict[str, Any]:
        try:
            if auth == "missing":
                raise _ApiError("not_authed")
            if auth == "wrong":
                raise _ApiError("invalid_auth")
            handler = _METHODS.get(method)
            if handler is None:
                raise _ApiError("unknown_method")
            with self._lock:
                return {"ok": True, **handler(self, body)}
        except _ApiError as exc:
            answer: dict[str, Any] = {"ok": False, "error": exc.error}
            if exc.problems:
                answer["response_metadata"] = {"messages": exc.problems}
            return answer

    # -- methods (called with the lock held) ----------------------------------------------

    def _auth_test(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://fake-workspace.slack.com/",
            "team": "Fake Workspace",
            "user": "monitoring",
            "team_id": "T0FAKE",
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
        }

    def _post_message(self, body: dict[str, Any]) -> dict[str, Any]:
        channel_id = self._resolve(str(body.get("channel", "")))
        if channel_id is None:
            raise _ApiError("channel_not_found")
        text = str(body.get("text") or "")
        blocks = _checked_blocks(body.get("blocks"))
        if not text and not blocks:
            raise _ApiError("no_text")
        if len(text) > MAX_TEXT:
            raise _ApiError("msg_too_long")
        metadata = _checked_metadata(body.get("metadata"))
        thread_ts = body.get("thread_ts") or None
        if thread_ts is not None and not any(
            m.ts == thread_ts and m.thread_ts is None for m in self._messages[channel_id]
        ):
            thread_ts = None  # Slack posts to the channel when thread_ts names no parent.
        self._posted += 1
        micros = 100 * self._posted
        ts = f"{self._first_ts + micros // 1_000_000}.{micros % 1_000_000:06d}"
        stored = StoredMessage(channel_id, ts, text, blocks, metadata, thread_ts)
        self._messages[channel_id].append(stored)
        return {"channel": channel_id, "ts": ts, "message": self._render(stored, metadata=True)}

    def _get_upload_url(self, body: dict[str, Any]) -> dict[str, Any]:
        filename = str(body.get("filename") or "")
        try:
            length = int(body.get("length") or 0)
        except (TypeError, ValueError) as exc:
            raise _ApiError("invalid_arguments", ["[ERROR] length must be an integer"]) from exc
        if not filename or length <= 0:
            raise _ApiError("invalid_arguments", ["[ERROR] filename and length are required"])
        file_id = f"F0FAKE{len(self._files) + 1:05d}"
        alt_txt = body.get("alt_txt") or None
        self._files[file_id] = StoredFile(file_id, filename, length, alt_txt)
        port = self.port
        return {"upload_url": f"http://127.0.0.1:{port}{_UPLOAD_PATH}{file_id}", "file_id": file_id}

    def _complete_upload(self, body: dict[str, Any]) -> dict[str, Any]:
        files = body.get("files")
        if isinstance(files, str):
            try:
                files = json.loads(files)
            except json.JSONDecodeError as exc:
                raise _ApiError("invalid_arguments") from exc
        if (
            not isinstance(files, list)
            or not files
            or not all(isinstance(f, dict) and isinstance(f.get("id"), str) for f in files)
        ):
            raise _ApiError("invalid_arguments", ["[ERROR] files must be [{id, title}, ...]"])
        channel_id = body.get("channel_id") or None
        if channel_id is not None and channel_id not in self._channels:
            raise _ApiError("channel_not_found")  # ids only, as in Slack
        thread_ts = body.get("thread_ts") or None
        if thread_ts is not None:
            if channel_id is None:
                raise _ApiError("invalid_arguments", ["[ERROR] thread_ts needs channel_id"])
            if not any(
                m.ts == thread_ts and m.thread_ts is None for m in self._messages[channel_id]
            ):
                raise _ApiError("invalid_thread_ts")  # a parent's ts, never a reply's
        stored = []
        for item in files:
            found = self._files.get(item["id"])
            if found is None or found.content is None or found.completed:
                raise _ApiError("file_not_found")
            stored.append((found, item.get("title")))
        shared = []
        for found, title in stored:
            found.title = str(title) if title is not None else found.filename
            found.channel, found.thread_ts, found.completed = channel_id, thread_ts, True
            shared.append(
                {
                    "id": found.id,
                    "name": found.filename,
                    "title": found.title,
                    "size": len(found.content or b""),
                    "alt_txt": found.alt_txt,
                    "channels": [channel_id] if channel_id else [],
                }
            )
        return {"files": shared}

    def _upload(self, file_id: str, content: bytes) -> tuple[int, str]:
        """The upload URL: keep the bytes of a reserved, not yet completed file."""
        with self._lock:
            found = self._files.get(file_id)
            if found is None or found.completed:
                return 404, "Not Found"
            found.content = content
            return 200, f"OK - {len(content)}"

    def _history(self, body: dict[str, Any]) -> dict[str, Any]:
        channel_id = self._channel_id_param(body)
        inclusive = _flag(body.get("inclusive"))
        oldest = _ts_key(str(body.get("oldest") or "0"), "invalid_ts_oldest")
        latest_raw = body.get("latest")
        latest = _ts_key(str(latest_raw), "invalid_ts_latest") if latest_raw else None

        def in_window(ts: str) -> bool:
            key = _ts_key(ts, "")
            after = key >= oldest if inclusive else key > oldest
            before = latest is None or (key <= latest if inclusive else key < latest)
            return after and before

        top_level = [
            m for m in self._messages[channel_id] if m.thread_ts is None and in_window(m.ts)
        ]
        top_level.sort(key=lambda m: _ts_key(m.ts, ""), reverse=True)
        return self._page(body, "messages", [self._render_in(m, body) for m in top_level])

    def _replies(self, body: dict[str, Any]) -> dict[str, Any]:
        channel_id = self._channel_id_param(body)
        ts = str(body.get("ts") or "")
        messages = self._messages[channel_id]
        parent = next((m for m in messages if m.ts == ts and m.thread_ts is None), None)
        if parent is None:
            raise _ApiError("thread_not_found")
        thread = [parent, *(m for m in messages if m.thread_ts == ts)]
        return self._page(body, "messages", [self._render_in(m, body) for m in thread])

    def _list(self, body: dict[str, Any]) -> dict[str, Any]:
        channels = [
            {
                "id": channel_id,
                "name": name,
                "is_channel": True,
                "is_private": False,
                "is_archived": False,
                "is_member": True,
            }
            for channel_id, name in self._channels.items()
        ]
        answer = self._page(body, "channels", channels)
        answer.pop("has_more")
        answer.setdefault("response_metadata", {"next_cursor": ""})
        return answer

    # -- helpers ------------------------------------------------------------------------

    def _resolve(self, channel: str) -> str | None:
        if channel in self._channels:
            return channel
        name = channel.removeprefix("#")
        return next((cid for cid, n in self._channels.items() if n == name), None)

    def _channel_id_param(self, body: dict[str, Any]) -> str:
        # The conversations.* methods take ids only, as in Slack.
        channel_id = str(body.get("channel") or "")
        if channel_id not in self._channels:
            raise _ApiError("channel_not_found")
        return channel_id

    def _page(self, body: dict[str, Any], key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        start = _cursor_offset(str(body.get("cursor") or ""))
        size = min(int(body.get("limit") or 100), self.page_size)
        end = start + size
        answer: dict[str, Any] = {key: items[start:end], "has_more": end < len(items)}
        if end < len(items):
            answer["response_metadata"] = {"next_cursor": _cursor(end)}
        return answer

    def _render_in(self, message: StoredMessage, body: dict[str, Any]) -> dict[str, Any]:
        return self._render(message, metadata=_flag(body.get("include_all_metadata")))

    def _render(self, message: StoredMessage, *, metadata: bool) -> dict[str, Any]:
        rendered: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "text": message.text,
            "ts": message.ts,
        }
        if message.blocks:
            rendered["blocks"] = copy.deepcopy(message.blocks)
        replies = [m for m in self._messages[message.channel] if m.thread_ts == message.ts]
        if message.thread_ts is not None:
            rendered["thread_ts"] = message.thread_ts
            rendered["parent_user_id"] = BOT_USER_ID
        elif replies:
            rendered.update(thread_ts=message.ts, reply_count=len(replies))
        if metadata and message.metadata is not None:
            rendered["metadata"] = copy.deepcopy(message.metadata)
        return rendered


_METHODS = {
    "auth.test": FakeSlack._auth_test,
    "chat.postMessage": FakeSlack._post_message,
    "conversations.history": FakeSlack._history,
    "conversations.replies": FakeSlack._replies,
    "conversations.list": FakeSlack._list,
    "files.getUploadURLExternal": FakeSlack._get_upload_url,
    "files.completeUploadExternal": FakeSlack._complete_upload,
}


def _checked_blocks(raw: Any) -> list[dict[str, Any]] | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise _ApiError("invalid_blocks_format") from exc
    if not isinstance(raw, list) or not all(isinstance(b, dict) for b in raw):
        raise _ApiError("invalid_blocks_format")
    problems = []
    if len(raw) > MAX_BLOCKS:
        problems.append(f"[ERROR] no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(raw):
        limit = _BLOCK_TEXT_LIMITS.get(str(block.get("type")))
        text = (block.get("text") or {}).get("text", "")
        if limit is not None and len(text) > limit:
            problems.append(
                f"[ERROR] must be less than {limit + 1} characters "
                f"[json-pointer:/blocks/{i}/text/text]"
            )
        for j, item in enumerate(block.get("fields") or []):
            if len(item.get("text", "")) > _SECTION_FIELD_LIMIT:
                problems.append(
                    f"[ERROR] must be less than {_SECTION_FIELD_LIMIT + 1} characters "
                    f"[json-pointer:/blocks/{i}/fields/{j}/text]"
                )
    if problems:
        raise _ApiError("invalid_blocks", problems)
    return copy.deepcopy(raw)


def _checked_metadata(raw: Any) -> dict[str, Any] | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise _ApiError("invalid_metadata_format") from exc
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("event_type"), str)
        or not isinstance(raw.get("event_payload"), dict)
    ):
        raise _ApiError("invalid_metadata_format")
    return copy.deepcopy(raw)


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


def _ts_key(value: str, error: str) -> tuple[int, int]:
    seconds, _, fraction = value.partition(".")
    try:
        return int(seconds), int((fraction + "000000")[:6])
    except ValueError as exc:
        raise _ApiError(error) from exc


def _cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _cursor_offset(cursor: str) -> int:
    if not cursor:
        return 0
    try:
        return int(base64.b64decode(cursor).decode().removeprefix("offset:"))
    except ValueError as exc:
        raise _ApiError("invalid_cursor") from exc


def _parse_body(content_type: str, raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    if content_type == "application/json":
        parsed = json.loads(raw)
        if not isinstance(parsed, dict):
            raise _ApiError("invalid_json")
        return parsed
    if content_type == "application/x-www-form-urlencoded":
        form: dict[str, Any] = dict(parse_qsl(raw.decode(), keep_blank_values=True))
        for key in _JSON_FORM_FIELDS:
            if isinstance(form.get(key), str) and form[key]:
                try:
                    form[key] = json.loads(form[key])
                except json.JSONDecodeError as exc:
                    raise _ApiError(f"invalid_{key}_format") from exc
        return form
    raise _ApiError("invalid_form_data")


class _Server(FakeHttpServer):
    fake: FakeSlack


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        url = urlsplit(self.path)
        method = url.path.removeprefix("/api/")
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        content_type = self.headers.get_content_type()
        if url.path.startswith(_UPLOAD_PATH):
            self._serve_upload(url.path.removeprefix(_UPLOAD_PATH), content_type, raw)
            return
        try:
            body = {**dict(parse_qsl(url.query)), **_parse_body(content_type, raw)}
            parse_error = None
        except (_ApiError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            body, parse_error = {}, getattr(exc, "error", "invalid_json")
        fake = self.server.fake
        fault, auth = fake._receive(method, dict(self.headers.items()), content_type, body)
        if fault is not None and fault.delay_s:
            time.sleep(fault.delay_s)
        if fault is not None and (fault.status is not None or fault.body is not None):
            status = fault.status or 200
            default = {"ok": False, "error": _DEFAULT_FAULT_ERRORS.get(status, "internal_error")}
            self._send(status, fault.body if fault.body is not None else default, fault.headers)
            return
        if parse_error is not None:
            answer: dict[str, Any] = {"ok": False, "error": parse_error}
        else:
            answer = fake._answer(method, auth, body)
        if fault is not None and fault.drop_response:
            self.close_connection = True
            return
        self._send(200, answer, {})

    def _serve_upload(self, file_id: str, content_type: str, raw: bytes) -> None:
        fake = self.server.fake
        fault, _ = fake._receive(
            UPLOAD,
            dict(self.headers.items()),
            content_type,
            {"file_id": file_id, "length": len(raw)},
        )
        if fault is not None and fault.delay_s:
            time.sleep(fault.delay_s)
        if fault is not None and (fault.status is not None or fault.body is not None):
            body = fault.body if fault.body is not None else "upload failed"
            self._send(fault.status or 200, body, fault.headers)
            return
        status, text = fake._upload(file_id, raw)
        if fault is not None and fault.drop_response:
            self.close_connection = True
            return
        self._send(status, text, {})

    def _send(self, status: int, body: Mapping[str, Any] | str, headers: Mapping[str, str]) -> None:
        if isinstance(body, str):
            payload, content_type = body.encode(), "text/plain; charset=utf-8"
        else:
            payload, content_type = json.dumps(body).encode(), "application/json; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture(name="fake_slack")
def fake_slack_fixture() -> Iterator[FakeSlack]:
    """A started FakeSlack with the default channel, stopped after the test."""
    with FakeSlack() as fake:
        yield fake


# Either name brings the fixture ``fake_slack`` into a test module. Importing
# ``fake_slack_fixture`` spares the test functions ruff's F811 on their ``fake_slack`` argument.
fake_slack = fake_slack_fixture
