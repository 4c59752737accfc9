"""The notifier interface the delivery loop talks to."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable


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
        broadcast: A reply also shown in the channel (a reminder).
    """

    delivery_id: str
    channel: str
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    broadcast: bool = False


@dataclass(frozen=True)
class Delivered:
    """Where a message landed."""

    channel: str
    ts: str


class Notifier(Protocol):
    """Posts messages; raises DeliveryError(retryable=...) when it cannot.

    ``needs_channel`` says whether a message must name a channel (Slack) or can be taken
    without one (a file of messages).
    """

    name: str
    needs_channel: bool

    def post(self, message: OutgoingMessage) -> Delivered:
        """Send ``message``; the returned ``ts`` identifies it (and its thread)."""
        ...

    def find(self, message: OutgoingMessage, since: datetime) -> Delivered | None:
        """The already-posted copy of ``message`` (matched by delivery_id), if any."""
        ...


@runtime_checkable
class FileUploader(Protocol):
    """A notifier that can also attach files (Slack); others need not implement it, and the
    caller checks with ``isinstance(notifier, FileUploader)``."""

    def upload_file(
        self,
        channel: str,
        thread_ts: str | None,
        filename: str,
        content: bytes,
        title: str,
        alt_text: str,
    ) -> None:
        """Share ``content`` as a file in ``channel``, in the thread ``thread_ts`` if given.

        Raises:
            DeliveryError: The file could not be shared; ``retryable`` says whether trying
                again may succeed.
        """
        ...
