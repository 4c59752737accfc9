"""The PagerDuty notifier: triggers, acknowledges and resolves alerts over the Events API v2.

Every event carries the incident's ``dedup_key``, so an event whose outcome is unknown is simply
sent again. The client never sleeps (the outbox schedules retries) and keeps the routing key out
of reprs and error messages. The texts of an event are sent as plain lines (``plain_line``).
"""

from __future__ import annotations

import http.client
import json
import math
import unicodedata
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from typing import IO, Any, Final, Literal
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

from monitoring_pipelines.core.errors import DeliveryError

EVENTS_URL: Final = "https://events.pagerduty.com/v2/enqueue"

MAX_SUMMARY: Final = 1024
"""Longest ``payload.summary`` PagerDuty accepts, in characters."""

RATE_LIMIT_WAIT_S: Final = 30.0
"""Least wait asked for after a 429, which PagerDuty sends without Retry-After.

PagerDuty's Events API rate-limit page suggests retrying "3 times with each request being 30
seconds apart"; the limit is about 120 events a minute per routing key over a sliding minute.
"""

ELLIPSIS: Final = "…"

PdSeverity = Literal["critical", "error", "warning", "info"]
EventAction = Literal["trigger", "acknowledge", "resolve"]

_SEVERITIES: Final[Mapping[str, PdSeverity]] = {
    "warn": "warning",
    "critical": "critical",
    "warning": "warning",
    "error": "error",
    "info": "info",
}
_MAX_DETAIL: Final = 300
_REDACTED: Final = "[routing key]"


def pd_severity(severity: str) -> PdSeverity:
    """PagerDuty's severity for ours: ``warn`` is ``warning``, ``critical`` is ``critical``.

    Args:
        severity: One of our severities (a ``Severity`` member or its value); PagerDuty's own
            four values are passed through.

    Returns:
        ``critical``, ``error``, ``warning`` or ``info``.

    Raises:
        ValueError: ``severity`` is neither ours nor PagerDuty's.
    """
    try:
        return _SEVERITIES[str(severity)]
    except KeyError:
        raise ValueError(
            f"severity {str(severity)!r} has no PagerDuty equivalent; expected one of "
            f"{', '.join(sorted(_SEVERITIES))}"
        ) from None


@dataclass(frozen=True)
class PagerDutyLink:
    """A link shown on the alert."""

    href: str
    text: str | None = None


@dataclass(frozen=True)
class PagerDutyEvent:
    """An alert to trigger, in PagerDuty's Common Event Format.

    Attributes:
        dedup_key: Identifies the alert (at most 255 characters); later events with this key
            are applied to it, so use a key stable across resends (e.g. our incident id).
        summary: Title of the alert; sent as a ``plain_line`` cut to ``MAX_SUMMARY``
            characters.
        severity: PagerDuty's severity; ``pd_severity`` maps ours.
        source: The affected system, e.g. the monitored model or service.
        component: The part of it that is broken, e.g. a feature or an endpoint.
        group: A grouping of sources, e.g. a team or a product.
        event_class: The kind of problem, e.g. ``drift`` (PagerDuty's ``class``).
        custom_details: Free-form details shown on the alert; texts are sent as
            ``plain_line``s, values JSON cannot hold (NaN, a Decimal, a datetime) as their
            ``str()``.
        links: Links shown on the alert (dashboards, runbooks).
        timestamp: When the problem was detected; a naive datetime is read as UTC. None lets
            PagerDuty use the time it received the event.
    """

    dedup_key: str
    summary: str
    severity: PdSeverity
    source: str
    component: str | None = None
    group: str | None = None
    event_class: str | None = None
    custom_details: Mapping[str, Any] = field(default_factory=dict)
    links: Sequence[PagerDutyLink] = ()
    timestamp: datetime | None = None


def trigger_event(
    event: PagerDutyEvent, *, client: str | None = None, client_url: str | None = None
) -> dict[str, Any]:
    """The Events API v2 body that triggers ``event``, without the routing key.

    Args:
        event: The alert.
        client: Name of the sending tool, shown on the alert.
        client_url: Link to the sending tool, shown on the alert.

    Returns:
        A JSON-ready object; its texts are ``plain_line``s, the summary cut to ``MAX_SUMMARY``
        characters.
    """
    payload: dict[str, Any] = {
        "summary": truncate(plain_line(event.summary), MAX_SUMMARY),
        "source": plain_line(event.source),
        "severity": event.severity,
    }
    if event.timestamp is not None:
        payload["timestamp"] = iso_timestamp(event.timestamp)
    optional = {"component": event.component, "group": event.group, "class": event.event_class}
    payload.update({key: plain_line(value) for key, value in optional.items() if value is not None})
    if event.custom_details:
        payload["custom_details"] = _sendable(event.custom_details)
    body: dict[str, Any] = {
        "event_action": "trigger",
        "dedup_key": event.dedup_key,
        "payload": payload,
    }
    if event.links:
        body["links"] = [
            {"href": link.href} if link.text is None else {"href": link.href, "text": link.text}
            for link in event.links
        ]
    if client is not None:
        body["client"] = client
    if client_url is not None:
        body["client_url"] = client_url
    return body


def _sendable(value: Any) -> Any:
    """``value`` with its texts as ``plain_line``s and NaN and infinities as text: json.dumps
    would write them as bare NaN and Infinity, which are not JSON, and PagerDuty would refuse
    the whole event."""
    if isinstance(value, str):
        return plain_line(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): _sendable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_sendable(item) for item in value]
    return value


_ANGLES: Final = str.maketrans({"<": "\u2039", ">": "\u203a"})


def plain_line(text: str) -> str:
    """``text`` as one line of plain text that no tool showing it reads as markup.

    Control characters (line breaks, tabs, NUL, escape...) become spaces. ``<`` and ``>``
    become the single angle quotation marks U+2039 and U+203A: PagerDuty shows summaries as
    plain text, but passes them on to chat tools (its Slack integration) where ``<!channel>``
    or ``<https://x|label>`` is markup; the quotation marks read the same and mean nothing
    there. Nothing is entity-encoded, so a cut to ``MAX_SUMMARY`` never splits an escape.
    """
    line = "".join(" " if unicodedata.category(char) == "Cc" else char for char in text)
    return line.translate(_ANGLES)


def truncate(text: str, limit: int) -> str:
    """``text``, or its first ``limit - 1`` characters and an ellipsis when it is longer."""
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS


def iso_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, e.g. ``2025-10-09T06:00:00.000+00:00``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


class PagerDutyNotifier:
    """Sends alert events to one PagerDuty service (its Events API v2 integration).

    Each call is one POST, except that a connection the server cut before answering is tried
    once more at once: events are idempotent by dedup key, a cut connection is usually a
    passing network fault, and a page should not wait a whole outbox backoff for it. Timeouts,
    429s and server errors are raised at once for the outbox to retry later.

    Args:
        routing_key: The integration key (32 characters); never shown in errors or reprs.
        url: The enqueue endpoint; tests point it at a local server.
        timeout_s: Seconds to wait for the connection and for each read of the answer.
        client: Name of the sending tool, shown on triggered alerts.
        client_url: Link to the sending tool (e.g. the Dagster UI), shown on triggered alerts.

    Raises:
        ValueError: The routing key is empty or the URL is not http(s).
    """

    name = "pagerduty"

    def __init__(
        self,
        routing_key: str,
        *,
        url: str = EVENTS_URL,
        timeout_s: float = 10.0,
        client: str | None = "monitoring-pipelines",
        client_url: str | None = None,
    ) -> None:
        if not routing_key.strip():
            raise ValueError("PagerDuty routing_key is empty; expected the integration key")
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"PagerDuty url {url!r} is not an http(s) URL")
        self._routing_key = routing_key
        self._url = url
        self._timeout_s = timeout_s
        self._client = client
        self._client_url = client_url
        self._opener = urllib.request.build_opener(_NoRedirect)

    def __repr__(self) -> str:
        return f"PagerDutyNotifier(url={self._url!r}, timeout_s={self._timeout_s})"

    def trigger(self, event: PagerDutyEvent) -> str:
        """Open an alert, or add this event to the open alert with the same dedup key.

        Args:
            event: The alert; its summary is cut to ``MAX_SUMMARY`` characters.

        Returns:
            The dedup key PagerDuty answered (the event's own).

        Raises:
            DeliveryError: PagerDuty refused the event or could not be reached; ``retryable``
                says whether sending it again may succeed, ``retry_after_s`` how long to wait
                at least.
        """
        body = trigger_event(event, client=self._client, client_url=self._client_url)
        return self._send("trigger", event.dedup_key, body)

    def acknowledge(self, dedup_key: str) -> str:
        """Acknowledge the open alert with ``dedup_key`` (PagerDuty drops it if none is open).

        Raises:
            DeliveryError: As for ``trigger``.
        """
        return self._send("acknowledge", dedup_key, {"event_action": "acknowledge"})

    def resolve(self, dedup_key: str) -> str:
        """Resolve the open alert with ``dedup_key`` (PagerDuty drops it if none is open).

        Raises:
            DeliveryError: As for ``trigger``.
        """
        return self._send("resolve", dedup_key, {"event_action": "resolve"})

    def _send(self, action: EventAction, dedup_key: str, body: dict[str, Any]) -> str:
        event = {"routing_key": self._routing_key, **body, "dedup_key": dedup_key}
        # default=str: a detail JSON cannot hold (a Decimal, a datetime) must not lose the page.
        data = json.dumps(event, default=str).encode()
        what = f"PagerDuty {action} for dedup key {dedup_key!r}"
        try:
            try:
                status, retry_after, raw = self._post(data)
            except (OSError, http.client.HTTPException) as exc:
                if not _cut(exc):
                    raise
                status, retry_after, raw = self._post(data)
        except (OSError, http.client.HTTPException) as exc:
            # URLError (refused, DNS, TLS), TimeoutError, RemoteDisconnected, IncompleteRead...
            detail = self._redacted(f"{type(exc).__name__}: {exc}")
            raise DeliveryError(
                f"{what} got no answer from {self._url} ({detail}); "
                "sending it again is safe, PagerDuty deduplicates by dedup key",
                retryable=True,
            ) from exc
        if 200 <= status < 300:
            return _answered_dedup_key(raw) or dedup_key
        raise self._refusal(what, status, retry_after, raw)

    def _post(self, data: bytes) -> tuple[int, str | None, bytes]:
        """POST ``data``; the status, Retry-After header and body of the answer."""
        request = urllib.request.Request(
            self._url,
            data=data,
            method="POST",
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with self._opener.open(request, timeout=self._timeout_s) as response:
                return response.status, response.headers.get("Retry-After"), response.read()
        except HTTPError as exc:
            with exc:
                return exc.code, exc.headers.get("Retry-After"), exc.read()

    def _refusal(
        self, what: str, status: int, retry_after: str | None, raw: bytes
    ) -> DeliveryError:
        # Redact before cutting, or a key straddling the cut would show in part.
        detail = truncate(self._redacted(_problem(raw)), _MAX_DETAIL)
        said = f" ({detail})" if detail else ""
        if status == 429:
            wait = max(RATE_LIMIT_WAIT_S, _seconds(retry_after) or 0.0)
            return DeliveryError(
                f"{what} was rate limited: HTTP 429{said}; PagerDuty takes about 120 events "
                f"a minute per routing key, retry in {wait:g} s or more",
                retryable=True,
                retry_after_s=wait,
            )
        if status >= 500 or status == 408:
            return DeliveryError(f"{what} failed: HTTP {status}{said}", retryable=True)
        if status == 400:
            return DeliveryError(
                f"{what} was rejected as invalid: HTTP 400{said}; check the event and the "
                "routing key (an Events API v2 integration key), sending it again will not help",
                retryable=False,
            )
        return DeliveryError(
            f"{what} got HTTP {status}{said}; expected 202 from the Events API v2 enqueue "
            f"endpoint, check the URL {self._url}",
            retryable=False,
        )

    def _redacted(self, text: str) -> str:
        return text.replace(self._routing_key, _REDACTED)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect means a wrong URL; urllib would follow it with a GET that drops the event."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


def _cut(exc: BaseException) -> bool:
    """True if the server closed or reset the connection (not for refusals or timeouts)."""
    reason = exc.reason if isinstance(exc, URLError) else exc
    return isinstance(reason, ConnectionResetError | BrokenPipeError)


def _answered_dedup_key(raw: bytes) -> str | None:
    try:
        answer = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    key = answer.get("dedup_key") if isinstance(answer, dict) else None
    return key if isinstance(key, str) and key else None


def _problem(raw: bytes) -> str:
    """PagerDuty's message and errors from an error answer, or the text of any other."""
    try:
        answer = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        answer = None
    if isinstance(answer, dict):
        parts = [str(answer["message"])] if answer.get("message") else []
        errors = answer.get("errors")
        if isinstance(errors, list) and errors:
            parts.append("; ".join(str(error) for error in errors))
        return ": ".join(parts)
    return " ".join(raw.decode("utf-8", "replace").split())


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
