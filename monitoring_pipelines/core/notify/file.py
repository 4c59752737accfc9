"""A notifier that appends each message to a JSON-lines file instead of posting it.

Each line is a message as Slack would receive it, replies naming their thread's ``ts``; charts
go into ``<name>-files/`` beside it. For the demo and for trying a configuration without Slack.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from pathlib import Path

from monitoring_pipelines.core.errors import DeliveryError
from monitoring_pipelines.core.notify.base import Delivered, OutgoingMessage


class FileNotifier:
    """Appends messages to ``path`` (created with its folder when missing)."""

    name = "file"
    needs_channel = False  # every message is written, with or without a channel

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._last = 0.0

    def post(self, message: OutgoingMessage) -> Delivered:
        with self._lock:
            ts = self._next_ts()
            line = {
                "ts": ts,
                "delivery_id": message.delivery_id,
                "channel": message.channel,
                "thread_ts": message.thread_ts,
                "broadcast": message.broadcast,
                "text": message.text,
                "blocks": message.blocks,
            }
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(line, ensure_ascii=False) + "\n")
            except OSError as exc:
                raise DeliveryError(f"cannot write {self.path}: {exc}", retryable=True) from exc
        return Delivered(message.channel, ts)

    def upload_file(
        self,
        channel: str,
        thread_ts: str | None,
        filename: str,
        content: bytes,
        title: str,
        alt_text: str,
    ) -> None:
        folder = self.path.with_name(f"{self.path.stem}-files")
        target = folder / f"{(thread_ts or 'channel').replace('.', '_')}-{Path(filename).name}"
        with self._lock:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
                line = {
                    "ts": self._next_ts(),
                    "channel": channel,
                    "thread_ts": thread_ts,
                    "file": str(target),
                    "title": title,
                    "alt_text": alt_text,
                }
                with self.path.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(line, ensure_ascii=False) + "\n")
            except OSError as exc:
                raise DeliveryError(f"cannot write {target}: {exc}", retryable=True) from exc

    def find(self, message: OutgoingMessage, since: datetime) -> Delivered | None:
        for line in self.messages():
            if line.get("delivery_id") == message.delivery_id:
                return Delivered(str(line["channel"]), str(line["ts"]))
        return None

    def messages(self) -> list[dict[str, object]]:
        """Every message written so far, in order."""
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as lines:
            return [json.loads(line) for line in lines if line.strip()]

    def _next_ts(self) -> str:
        # Slack-like "seconds.micros" stamps, strictly increasing within this process.
        stamp = max(time.time(), self._last + 1e-6)
        self._last = stamp
        return f"{stamp:.6f}"
