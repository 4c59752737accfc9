"""The notifier interface the delivery loop talks to."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to post.

    Attributes:
        delivery_id: Unique id of this delivery; stored with the message (Slack message
            metadata) so that a delivery whose outcome is unknown can be found again.
        channel: Channel name (``#ml-alerts``) or id (``C0123456``).
        text: Plain-text fallback, shown in notifications.
        blocks: Block Kit blocks.
        thread_ts: Post as a reply in this thread, or None for a new message.
    """

    delivery_id: str
    channel: str
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None


@dataclass(frozen=True)
class Delivered:
    """Where a message landed."""

    channel: str
    ts: str


class Notifier(Protocol):
    """Posts messages; raises DeliveryError(retryable=...) when it cannot."""

    name: str

    def post(self, message: OutgoingMessage) -> Delivered:
        """Send ``message``; the returned ``ts`` identifies it (and its thread)."""
        ...

    def find(self, message: OutgoingMessage, since: datetime) -> Delivered | None:
        """The already-posted copy of ``message`` (matched by delivery_id), if any."""
        ...
