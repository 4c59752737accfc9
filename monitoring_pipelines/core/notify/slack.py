"""The Slack notifier: posts with slack_sdk's WebClient and finds a post again by its metadata.

The app needs the scopes ``chat:write``, ``channels:read``, ``groups:read``, ``channels:history``
and ``groups:history`` (and ``files:write`` to attach charts), and must be a member of the
channels it posts to.
"""

from __future__ import annotations

import copy
import http.client
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Final
from urllib.error import HTTPError, URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    RetryHandler,
)
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web import SlackResponse

from monitoring_pipelines.core.errors import DeliveryError
from monitoring_pipelines.core.notify.base import Delivered, OutgoingMessage
from monitoring_pipelines.core.notify.mrkdwn import head

EVENT_TYPE: Final = "monitoring_alert"
"""Slack message-metadata event type under which the delivery id is stored."""

# Limits of Slack's Block Kit and chat.postMessage.
MAX_BLOCKS: Final = 50
MAX_SECTION_TEXT: Final = 3000
MAX_SECTION_FIELD_TEXT: Final = 2000
MAX_HEADER_TEXT: Final = 150
MAX_FALLBACK_TEXT: Final = 3000
ELLIPSIS: Final = "…"

RETRYABLE_ERRORS: Final = frozenset(
    {
        "ratelimited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "team_added_to_org",
    }
)
"""Slack ``error`` codes that describe a passing condition rather than a bad request."""

_CHANNEL_ID: Final = re.compile(r"[CGD][A-Z0-9]+")
_ERROR_CODE: Final = re.compile(r"[a-z_]+")
_PAGE_LIMIT: Final = 200
_CODE_FENCE: Final = "```"


def fit_to_limits(
    text: str, blocks: Sequence[Mapping[str, Any]]
) -> tuple[str, list[dict[str, Any]]]:
    """Trim a message so that Slack accepts it instead of failing with invalid_blocks.

    Keeps at most 50 blocks (the first 49 and a context block saying how many were left out),
    truncates section and context texts to 3000 characters, section fields to 2000, header
    texts to 150 and the fallback text to 3000, each ending in an ellipsis when cut.

    Args:
        text: Plain-text fallback of the message.
        blocks: Block Kit blocks; not modified.

    Returns:
        The fitted fallback text and a new list of blocks.
    """
    fitted = [_fit_block(block) for block in blocks]
    if len(fitted) > MAX_BLOCKS:
        left_out = len(fitted) - (MAX_BLOCKS - 1)
        fitted = [*fitted[: MAX_BLOCKS - 1], _left_out_note(left_out)]
    return _truncate(text, MAX_FALLBACK_TEXT, mrkdwn=True), fitted


def _fit_block(block: Mapping[str, Any]) -> dict[str, Any]:
    fitted = copy.deepcopy(dict(block))
    kind = fitted.get("type")
    if kind == "header":
        _fit_text_object(fitted.get("text"), MAX_HEADER_TEXT)
    elif kind == "section":
        _fit_text_object(fitted.get("text"), MAX_SECTION_TEXT)
        for field in fitted.get("fields") or []:
            _fit_text_object(field, MAX_SECTION_FIELD_TEXT)
    elif kind == "context":
        for element in fitted.get("elements") or []:
            _fit_text_object(element, MAX_SECTION_TEXT)
    return fitted


def _fit_text_object(obj: Any, limit: int) -> None:
    """Truncate, in place, the text of a (deep-copied) plain_text or mrkdwn object."""
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        return
    text = obj.get("text")
    if isinstance(text, str):
        obj["text"] = _truncate(text, limit, mrkdwn=obj["type"] == "mrkdwn")


def _truncate(text: str, limit: int, *, mrkdwn: bool) -> str:
    """``text`` cut to ``limit`` with an ellipsis, never inside an escape (``&lt;``)."""
    if len(text) <= limit:
        return text
    if mrkdwn:
        # A cut inside a code block would leave it open and show the rest as literal backticks.
        cut = head(text, limit - len(ELLIPSIS) - len(_CODE_FENCE))
        if cut.count(_CODE_FENCE) % 2 == 1:
            return cut + ELLIPSIS + _CODE_FENCE
    return head(text, limit - len(ELLIPSIS)) + ELLIPSIS


def _left_out_note(left_out: int) -> dict[str, Any]:
    note = f"_{left_out} more blocks left out: Slack shows at most {MAX_BLOCKS} per message._"
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": note}]}


class SlackNotifier:
    """Posts alerts to Slack over its Web API and finds posts whose outcome was lost.

    Retries are left to slack_sdk's retry handlers where they are safe: reads retry rate limits,
    server errors (500, 503) and connection failures; a post retries connection failures
    before the request went out and rate limits asking for at most 5 s. Anything after which
    Slack may have accepted the post is raised (retryable) instead, and the caller is expected
    to ``find()`` the post before sending again.

    Args:
        token: Bot token (``xoxb-...``); never shown in errors or reprs.
        base_url: Web API base URL, ``https://slack.com/api/`` unless given (tests point it at
            a local server).
        timeout_s: Seconds to wait for each HTTP request.
        max_retries: Retries per call that slack_sdk makes before giving up.
    """

    name = "slack"
    needs_channel = True

    def __init__(
        self,
        token: str,
        *,
        base_url: str | None = None,
        timeout_s: float = 10.0,
        max_retries: int = 3,
    ) -> None:
        self._base_url = base_url or WebClient.BASE_URL
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._writer = self._client(token, _retry_handlers(max_retries, idempotent=False))
        self._reader = self._client(token, _retry_handlers(max_retries, idempotent=True))
        self._channel_ids: dict[str, str] = {}

    def __repr__(self) -> str:
        return (
            f"SlackNotifier(base_url={self._base_url!r}, timeout_s={self._timeout_s}, "
            f"max_retries={self._max_retries})"
        )

    def post(self, message: OutgoingMessage) -> Delivered:
        """Post ``message`` (fitted to Slack's limits) with its delivery id as metadata.

        Args:
            message: The message; ``channel`` may be a name or an id.

        Returns:
            The channel id and ts of the new message.

        Raises:
            DeliveryError: Slack refused the message or could not be reached; ``retryable``
                says whether sending again may succeed.
        """
        text, blocks = fit_to_limits(message.text, message.blocks)
        with self._errors_mapped("chat.postMessage", message.channel):
            response = self._writer.chat_postMessage(
                channel=message.channel,
                text=text,
                blocks=blocks or None,
                thread_ts=message.thread_ts,
                reply_broadcast=message.broadcast if message.thread_ts else None,
                unfurl_links=False,
                unfurl_media=False,
                metadata={
                    "event_type": EVENT_TYPE,
                    "event_payload": {"delivery_id": message.delivery_id},
                },
            )
        return Delivered(channel=str(response["channel"]), ts=str(response["ts"]))

    def find(self, message: OutgoingMessage, since: datetime) -> Delivered | None:
        """The already-posted copy of ``message``, matched by the delivery id in its metadata.

        Args:
            message: The message whose post may have happened; a thread reply is searched for
                in its thread, any other message in the channel's history.
            since: Search the history from this time on (a naive datetime is read as UTC).

        Returns:
            Where the copy is, or None if there is none.

        Raises:
            DeliveryError: The channel does not exist, or Slack could not be asked.
        """
        channel_id = self._channel_id(message.channel)
        if message.thread_ts is not None:
            thread_ts = message.thread_ts

            def replies(cursor: str | None) -> SlackResponse:
                return self._reader.conversations_replies(
                    channel=channel_id,
                    ts=thread_ts,
                    include_all_metadata=True,
                    cursor=cursor,
                    limit=_PAGE_LIMIT,
                )

            pages = self._pages("conversations.replies", message.channel, replies)
        else:
            oldest = f"{_epoch_seconds(since):.6f}"

            def history(cursor: str | None) -> SlackResponse:
                return self._reader.conversations_history(
                    channel=channel_id,
                    oldest=oldest,
                    include_all_metadata=True,
                    cursor=cursor,
                    limit=_PAGE_LIMIT,
                )

            pages = self._pages("conversations.history", message.channel, history)
        for page in pages:
            for posted in page.get("messages") or []:
                if _delivery_id(posted) == message.delivery_id:
                    return Delivered(channel=channel_id, ts=str(posted["ts"]))
        return None

    def upload_file(
        self,
        channel: str,
        thread_ts: str | None,
        filename: str,
        content: bytes,
        title: str,
        alt_text: str,
    ) -> None:
        """Share ``content`` as a file in ``channel`` (in the thread ``thread_ts`` if given).

        Uses slack_sdk's ``files_upload_v2``: files.getUploadURLExternal, a POST of the bytes to
        the URL it answers, then files.completeUploadExternal into the channel (by id) and
        thread. Files carry no delivery id, so a retry after an answer was lost may share the
        file twice.

        Args:
            channel: Channel name (``#ml-alerts``) or id.
            thread_ts: The ts of the thread's first message, or None for the channel.
            filename: The file's name (its extension sets its type, e.g. ``.png``).
            content: The file's bytes.
            title: Shown above the file.
            alt_text: Description of an image for screen readers.

        Raises:
            DeliveryError: Slack refused the file or could not be reached; ``retryable`` says
                whether trying again may succeed.
        """
        channel_id = self._channel_id(channel)
        with self._errors_mapped("files.upload_v2", channel), _upload_url_errors_mapped(channel):
            self._writer.files_upload_v2(
                channel=channel_id,
                thread_ts=thread_ts,
                filename=filename,
                content=content,
                title=title,
                alt_txt=alt_text,
            )

    def _client(self, token: str, retry_handlers: list[RetryHandler]) -> WebClient:
        return WebClient(
            token=token,
            base_url=self._base_url,
            timeout=self._timeout_s,  # type: ignore[arg-type]  # urllib takes float seconds
            retry_handlers=retry_handlers,
        )

    def _channel_id(self, channel: str) -> str:
        if _CHANNEL_ID.fullmatch(channel):
            return channel
        name = channel.removeprefix("#")
        if name not in self._channel_ids:
            self._channel_ids = self._list_channels(channel)
        channel_id = self._channel_ids.get(name)
        if channel_id is None:
            raise DeliveryError(
                f"Slack channel {channel!r} is not among the public and private channels "
                "conversations.list shows this app; check the name, and invite the app to a "
                "private channel",
                retryable=False,
            )
        return channel_id

    def _list_channels(self, channel: str) -> dict[str, str]:
        def channels(cursor: str | None) -> SlackResponse:
            return self._reader.conversations_list(
                types="public_channel,private_channel",
                exclude_archived=True,
                cursor=cursor,
                limit=_PAGE_LIMIT,
            )

        return {
            str(found["name"]): str(found["id"])
            for page in self._pages("conversations.list", channel, channels)
            for found in page.get("channels") or []
        }

    def _pages(
        self, method: str, channel: str, call: Callable[[str | None], SlackResponse]
    ) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            with self._errors_mapped(method, channel):
                page = call(cursor).data
            if not isinstance(page, dict):
                raise DeliveryError(f"Slack {method} returned no JSON object", retryable=True)
            yield page
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return

    @contextmanager
    def _errors_mapped(self, method: str, channel: str) -> Iterator[None]:
        """Turn slack_sdk's and urllib's exceptions into DeliveryError."""
        try:
            yield
        except SlackApiError as exc:
            error = _api_error(_called(exc.response) or method, channel, exc.response)
            # Slack's problem messages are echoed into the error; keep the token out of them.
            raise DeliveryError(
                self._redacted(str(error)),
                retryable=error.retryable,
                retry_after_s=error.retry_after_s,
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            # URLError, TimeoutError, ConnectionError, RemoteDisconnected, IncompleteRead...
            detail = self._redacted(f"{type(exc).__name__}: {exc}")
            raise DeliveryError(
                f"Slack {method} for channel {channel!r} got no answer ({detail}); "
                "whether Slack acted on it is unknown",
                retryable=True,
            ) from exc

    def _redacted(self, text: str) -> str:
        token = self._writer.token
        return text.replace(token, "[token]") if token else text


# A 429 asking for a longer pause than this is handed back to the outbox (retry_after_s),
# which schedules the retry instead of blocking the alerting pass.
MAX_INLINE_WAIT_S: Final = 5


class _ShortRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """slack_sdk's rate-limit handler, for pauses of at most ``MAX_INLINE_WAIT_S`` only."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        assert response is not None
        wait = _retry_after(response.headers)
        return wait is not None and wait <= MAX_INLINE_WAIT_S


def _retry_handlers(max_retries: int, *, idempotent: bool) -> list[RetryHandler]:
    """slack_sdk's handlers; a post is retried only where Slack cannot have taken it.

    urllib raises URLError for failures up to sending the request (refused, DNS, connect
    timeout) and the bare exception for failures while awaiting the answer (RemoteDisconnected,
    ConnectionResetError, TimeoutError), after which Slack may already have acted; a server
    error may also come after Slack stored the message. A 429 means Slack refused it. So a post
    is retried here after connection failures before sending and short rate limits; everything
    else goes back to the outbox, which asks ``find()`` before posting again.
    """
    connection_errors: list[type[Exception]] = [URLError]
    if idempotent:
        # Not TimeoutError: a Slack that does not answer would cost the timeout once more per
        # retry, holding up the alerting pass; the outbox asks again on a later pass.
        connection_errors += [ConnectionResetError, http.client.RemoteDisconnected]
    handlers: list[RetryHandler] = [
        ConnectionErrorRetryHandler(max_retry_count=max_retries, error_types=connection_errors),
        _ShortRateLimitRetryHandler(max_retry_count=max_retries),
    ]
    if idempotent:
        handlers.append(ServerErrorRetryHandler(max_retry_count=max_retries))
    return handlers


def _api_error(method: str, channel: str, response: SlackResponse) -> DeliveryError:
    status = response.status_code
    data = response.data if isinstance(response.data, dict) else {}
    error = data.get("error")
    code = error if isinstance(error, str) and _ERROR_CODE.fullmatch(error) else f"http_{status}"
    retryable = status == 429 or status >= 500 or code in RETRYABLE_ERRORS
    text = f"Slack {method} for channel {channel!r} failed: {code} (HTTP {status})"
    problems = (data.get("response_metadata") or {}).get("messages")
    if problems:
        text += ": " + "; ".join(str(problem) for problem in problems)
    return DeliveryError(text, retryable=retryable, retry_after_s=_retry_after(response.headers))


@contextmanager
def _upload_url_errors_mapped(channel: str) -> Iterator[None]:
    """Errors of the POST of a file's bytes to its upload URL (no Web API answer to read)."""
    try:
        yield
    except HTTPError as exc:
        status = exc.code
        raise DeliveryError(
            f"Slack file upload for channel {channel!r} failed: the upload URL answered HTTP "
            f"{status}",
            retryable=status == 429 or status >= 500,
            retry_after_s=_retry_after(dict(exc.headers.items())) if exc.headers else None,
        ) from exc
    except SlackRequestError as exc:
        # slack_sdk raises this for an upload answered with a 2xx other than 200.
        raise DeliveryError(
            f"Slack file upload for channel {channel!r} failed: {exc}", retryable=True
        ) from exc


def _called(response: SlackResponse) -> str | None:
    """The Web API method a response answers (``files.getUploadURLExternal``), from its URL."""
    url = getattr(response, "api_url", None)
    method = url.rsplit("/", 1)[-1] if isinstance(url, str) else ""
    return method if re.fullmatch(r"[a-zA-Z]+(\.[a-zA-Z]+)+", method) else None


def _retry_after(headers: Mapping[str, Any]) -> float | None:
    for key, value in headers.items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) and value else value
            try:
                return float(raw)
            except (TypeError, ValueError):
                return None
    return None


def _delivery_id(posted: Mapping[str, Any]) -> str | None:
    metadata = posted.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("event_type") != EVENT_TYPE:
        return None
    payload = metadata.get("event_payload")
    delivery_id = payload.get("delivery_id") if isinstance(payload, dict) else None
    return delivery_id if isinstance(delivery_id, str) else None


def _epoch_seconds(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
