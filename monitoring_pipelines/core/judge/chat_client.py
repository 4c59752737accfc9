"""The HTTP side of the LLM judge: one OpenAI-compatible chat-completions endpoint over urllib.

Retries with backoff on network errors, 408, 409, 429 (after Retry-After) and 5xx; 401, 403,
404 and redirects raise :class:`JudgeSetupError`. The API key appears in no error, log or repr,
and redirects are not followed, so it never reaches another host. At most
``MAX_RESPONSE_BYTES`` of a body are read; a body that is larger, not JSON or nested too deep to
parse is a :class:`JudgeOutputError` (or an unreadable error message), never a crash.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import random
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from monitoring_pipelines.core.config import OpenAIJudgeConfig
from monitoring_pipelines.core.errors import MonitoringError

logger = logging.getLogger(__name__)

MAX_RETRY_AFTER_S: Final = 120.0
"""A server asking for a longer pause fails the request instead of blocking a worker."""
BACKOFF_BASE_S: Final = 0.5
BACKOFF_MAX_S: Final = 30.0
USER_AGENT: Final = "monitoring-pipelines-judge/1"
MAX_RESPONSE_BYTES: Final = 1 << 20
"""Most of a response body read: a chat completion with one verdict is a few kilobytes."""

_EXCERPT_CHARS: Final = 300
_KEY_WINDOW: Final = 6  # a word sharing this many consecutive characters with the key is hidden


class JudgeError(MonitoringError):
    """A judge could not score an answer.

    Attributes:
        status: The HTTP status behind the error, if any.
        retryable: Whether asking again later may succeed.
    """

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class JudgeOutputError(JudgeError):
    """The judge's reply is not a valid verdict (not JSON, no score, a score outside [0, 1])."""


class JudgeRequestError(JudgeError):
    """The server refused this request, or gave no usable answer within the retries."""


class JudgeSetupError(JudgeError):
    """The server refuses the judge itself (key, permission, model, URL): nothing can be scored."""


@dataclass(frozen=True)
class ChatReply:
    """The first choice of a chat completion.

    Attributes:
        content: The message's text; ``None`` when empty or absent.
        refusal: The model's refusal, if it refused.
        finish_reason: Why the model stopped (``"length"`` when cut at the token limit).
        usage: ``(prompt_tokens, completion_tokens)``; ``None`` when the server did not say.
    """

    content: str | None
    refusal: str | None
    finish_reason: str | None
    usage: tuple[int, int] | None


def chat_completions_url(base_url: str) -> str:
    """``{base_url}/chat/completions``, keeping any query (``?api-version=...``)."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Not shown: a malformed URL cannot be told apart from the credentials it may hold.
        raise ValueError(
            "judge base_url must be an http(s) URL such as https://api.openai.com/v1 or "
            "http://localhost:11434/v1; the one configured is not"
        )
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/chat/completions"))


def shown_url(url: str) -> str:
    """``url`` without user info, query and fragment, which may hold credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def retry_after_s(headers: dict[str, str], now: float) -> float | None:
    """Seconds the server asks to wait: ``retry-after-ms``, else ``Retry-After`` (seconds or
    an HTTP date, against ``now`` in Unix seconds). Header names must be lowercase."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def excerpt(text: str) -> str:
    """``text`` with whitespace collapsed, shortened for an error message."""
    return truncate(" ".join(text.split()), _EXCERPT_CHARS)


def truncate(text: str, limit: int) -> str:
    """``text``, cut to ``limit`` characters with an ellipsis when longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _NetworkError(Exception):
    pass


class _Secret:
    """Holds the API key; shows as ``<hidden>`` wherever it is printed."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<hidden>"

    __str__ = __repr__


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuses redirects: urllib would resend the Authorization header to the new host."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class ChatClient:
    """Chat completions from one OpenAI-compatible server (see the module docstring).

    Thread-safe: the judge calls ``complete`` from several worker threads.

    Args:
        config: Server, model, timeout and retries.
        api_key: Bearer key, or ``None`` for servers that need none (Ollama, vLLM).
        sleep: Waits between retries (tests pass a recorder).
        clock: Unix seconds now, for Retry-After given as an HTTP date.
        rng: Source of the backoff jitter.

    Raises:
        ValueError: ``base_url`` is not an http(s) URL.
    """

    def __init__(
        self,
        config: OpenAIJudgeConfig,
        api_key: str | None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self._url = chat_completions_url(config.base_url)
        self.shown = shown_url(self._url)
        self._key = _Secret(api_key) if api_key else None
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._opener = urllib.request.build_opener(_NoRedirect())
        self._json_mode = True

    @property
    def has_key(self) -> bool:
        """Whether requests carry an API key."""
        return self._key is not None

    def __repr__(self) -> str:
        return f"ChatClient(url={self.shown!r}, api_key={'set' if self._key else 'none'})"

    def complete(self, messages: list[dict[str, str]]) -> ChatReply:
        """One chat completion at temperature 0, with the retries of the module docstring.

        Raises:
            JudgeOutputError: The server answered HTTP 200 without a chat-completions choice.
            JudgeRequestError: The server refused the request or did not answer in the retries.
            JudgeSetupError: The server refuses the key, the model or the URL.
        """
        use_json = self._json_mode
        json_refused = False
        failures = 0
        while True:
            body: dict[str, Any] = {
                "model": self._config.model,
                "messages": messages,
                "temperature": 0,
            }
            if use_json:
                body["response_format"] = {"type": "json_object"}
            retry_after: float | None = None
            status: int | None = None
            try:
                status, headers, raw = self._post(body)
            except _NetworkError as exc:
                problem = str(exc)
            else:
                if status == 200:
                    reply = self._reply(raw)
                    if not use_json and self._json_mode:
                        self._json_mode = False
                        logger.warning(
                            "judge server at %s refuses response_format; asking without it",
                            self.shown,
                        )
                    return reply
                message = self.redact(_server_message(raw))
                if status == 400 and use_json and not json_refused:
                    use_json, json_refused = False, True
                    continue
                if status in (401, 403, 404) or 300 <= status < 400:
                    raise JudgeSetupError(self._setup_problem(status, message, headers))
                if status not in (408, 409, 429) and status < 500:
                    raise JudgeRequestError(
                        f"the judge server at {self.shown} refused the request "
                        f"(HTTP {status}): {message}",
                        status=status,
                    )
                problem = f"HTTP {status}: {message}"
                retry_after = retry_after_s(headers, self._clock())
            if failures >= self._config.max_retries:
                raise JudgeRequestError(
                    f"the judge server at {self.shown} failed {failures + 1} attempts; "
                    f"the last: {problem}",
                    status=status,
                    retryable=True,
                )
            if retry_after is not None and retry_after > MAX_RETRY_AFTER_S:
                raise JudgeRequestError(
                    f"the judge server at {self.shown} asks to wait {retry_after:.0f} s "
                    f"(more than {MAX_RETRY_AFTER_S:.0f} s): {problem}",
                    status=status,
                    retryable=True,
                )
            pause = max(self._backoff(failures), retry_after or 0.0)
            logger.warning("judge server at %s: %s; retrying in %.2f s", self.shown, problem, pause)
            self._sleep(pause)
            failures += 1

    def redact(self, text: str) -> str:
        """``text`` with the API key, and any word sharing a part of it, hidden."""
        if self._key is None:
            return text
        key = self._key.reveal()
        text = text.replace(key, "[api key]")
        if len(key) < _KEY_WINDOW:
            return text
        parts = {key[i : i + _KEY_WINDOW] for i in range(len(key) - _KEY_WINDOW + 1)}

        def hide(word: re.Match[str]) -> str:
            found = any(part in word.group() for part in parts)
            return "[api key]" if found else word.group()

        return re.sub(r"\S+", hide, text)

    def _post(self, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if self._key is not None:
            headers["Authorization"] = f"Bearer {self._key.reveal()}"
        payload = json.dumps(body, ensure_ascii=False).encode()
        request = urllib.request.Request(self._url, data=payload, headers=headers, method="POST")
        try:
            try:
                with self._opener.open(request, timeout=self._config.timeout_s) as response:
                    raw = response.read(MAX_RESPONSE_BYTES + 1)
                    return response.status, _lower(response.headers.items()), raw
            except urllib.error.HTTPError as exc:
                with exc:
                    return exc.code, _lower(exc.headers.items()), exc.read(MAX_RESPONSE_BYTES)
        except (OSError, http.client.HTTPException) as exc:
            # URLError, TimeoutError, ConnectionError, RemoteDisconnected, IncompleteRead...
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            if isinstance(reason, TimeoutError):
                problem = f"no answer within {self._config.timeout_s} s"
            else:
                problem = f"{type(exc).__name__}: {exc}"
            raise _NetworkError(self.redact(problem)) from exc

    def _reply(self, raw: bytes) -> ChatReply:
        if len(raw) > MAX_RESPONSE_BYTES:
            raise JudgeOutputError(
                f"the judge server at {self.shown} answered HTTP 200 with a body of more than "
                f"{MAX_RESPONSE_BYTES:,} bytes, far more than a verdict; not read"
            )
        try:
            data = json.loads(raw)
            choice = data["choices"][0]
            message = choice["message"]
            if not isinstance(message, dict):
                raise TypeError("message is not an object")
        except (ValueError, KeyError, IndexError, TypeError, RecursionError) as exc:
            raise JudgeOutputError(
                f"the judge server at {self.shown} answered HTTP 200 without a "
                f"chat-completions choice ({type(exc).__name__}): "
                f"{self.redact(excerpt(raw.decode('utf-8', 'replace')))}"
            ) from exc
        content = message.get("content")
        refusal = message.get("refusal")
        finish = choice.get("finish_reason")
        usage = data.get("usage")
        tokens_in = _count(usage, "prompt_tokens")
        tokens_out = _count(usage, "completion_tokens")
        return ChatReply(
            content=content if isinstance(content, str) and content.strip() else None,
            refusal=refusal if isinstance(refusal, str) and refusal.strip() else None,
            finish_reason=finish if isinstance(finish, str) else None,
            usage=None if tokens_in is None or tokens_out is None else (tokens_in, tokens_out),
        )

    def _setup_problem(self, status: int, message: str, headers: dict[str, str]) -> str:
        where = f"the judge server at {self.shown}"
        env = self._config.api_key_env
        if status == 401 and self._key is None:
            return (
                f"{where} requires an API key and none was given (HTTP 401: {message}); "
                f"set the environment variable {env}"
            )
        if status == 401:
            return (
                f"{where} rejected the API key (HTTP 401: {message}); check the key in the "
                f"environment variable {env}"
            )
        if status == 403:
            return (
                f"{where} refused access (HTTP 403: {message}); the key may lack permission "
                f"for model {self._config.model!r}"
            )
        if status == 404:
            return (
                f"{where} has no model {self._config.model!r} or no chat-completions endpoint "
                f"(HTTP 404: {message}); check the judge's model and base_url"
            )
        location = shown_url(headers.get("location", "")) or "elsewhere"
        return (
            f"{where} redirects to {location} (HTTP {status}); set the judge's base_url to the "
            "final address (redirects are not followed, to keep the API key to one host)"
        )

    def _backoff(self, failures: int) -> float:
        ceiling = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2.0**failures)
        with self._rng_lock:
            return ceiling * (0.5 + 0.5 * self._rng.random())


def _count(usage: object, field: str) -> int | None:
    value = usage.get(field) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _lower(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {name.lower(): value for name, value in items}


def _server_message(raw: bytes) -> str:
    """The error message of an OpenAI-style (``{"error": {"message"}}``), Ollama-style
    (``{"error": "..."}``) or other body, shortened."""
    text = raw.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return excerpt(text) or "(empty body)"
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return excerpt(error["message"])
        for field in ("error", "message", "detail"):
            if isinstance(data.get(field), str):
                return excerpt(data[field])
    return excerpt(text)
