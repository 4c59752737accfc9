"""A stored Slack message's text as a page shows it: the entities Slack decodes turned back
into characters, the soft hyphens that keep data out of mrkdwn's formatting removed, and the
product's own ``<url|label>`` links kept as links (only ``http`` and ``https`` ones)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from monitoring_pipelines.core.notify.mrkdwn import SOFT_HYPHEN

_LINK = re.compile(r"<(https?://[^|<>\s]+)\|([^<>]*)>")
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))  # &amp; last: "&amp;lt;" is "&lt;"


@dataclass(frozen=True)
class Part:
    """A run of a message: plain text, or a link's label with its address."""

    text: str
    url: str | None = None


def message_parts(text: str) -> list[Part]:
    """``text`` (a message as the notifier sent it) as plain runs and links, in order.

    The template escapes every part, so a value that was data in the message stays text.
    """
    parts: list[Part] = []
    position = 0
    for link in _LINK.finditer(text):
        if link.start() > position:
            parts.append(Part(_plain(text[position : link.start()])))
        parts.append(Part(_plain(link[2]) or _plain(link[1]), _plain(link[1])))
        position = link.end()
    if position < len(text):
        parts.append(Part(_plain(text[position:])))
    return parts


def message_links(message: Mapping[str, Any]) -> list[Part]:
    """The links a stored Slack message carries in its blocks (Asset in Dagster, Run, Report,
    Runbook), each once, in order."""
    found: dict[str, Part] = {}
    for text in _block_texts(message.get("blocks") or []):
        for part in message_parts(text):
            if part.url is not None:
                found.setdefault(part.url, part)
    return list(found.values())


def _block_texts(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
            yield node["text"]
        for value in node.values():
            if isinstance(value, list | Mapping):
                yield from _block_texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from _block_texts(item)


def _plain(text: str) -> str:
    text = text.replace(SOFT_HYPHEN, "")
    for entity, char in _ENTITIES:
        text = text.replace(entity, char)
    return text
