"""Verdict caches: an answer judged once by a judge and prompt version is never paid for again.

A verdict is cached under its :class:`CacheKey`: the judge's name (which names the model), the
prompt version and a SHA-256 of the question, context and answer. Only verdicts are cached; an
answer left unscored (bad output, server errors, budget) is asked again next time.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import NamedTuple, Protocol, runtime_checkable

from monitoring_pipelines.core.judge.base import Verdict


class CacheKey(NamedTuple):
    """What a cached verdict is stored under.

    Attributes:
        judge: The judge's name, e.g. ``openai:gpt-4o-mini``.
        prompt_version: The prompt's version, e.g. ``faithfulness-v1``.
        content_sha256: :func:`content_sha256` of the question, context and answer.
    """

    judge: str
    prompt_version: str
    content_sha256: str


def content_sha256(question: str | None, context: str, answer: str) -> str:
    """Hex SHA-256 of the three texts, unambiguous: no question differs from an empty one, and
    text cannot move between the fields without changing the hash."""
    material = json.dumps([question, context, answer], ensure_ascii=False)
    return hashlib.sha256(material.encode()).hexdigest()


def cache_key(
    judge: str, prompt_version: str, question: str | None, context: str, answer: str
) -> CacheKey:
    """The cache key of one answer for one judge and prompt version."""
    return CacheKey(judge, prompt_version, content_sha256(question, context, answer))


@runtime_checkable
class JudgeCache(Protocol):
    """A store of verdicts by :class:`CacheKey`.

    The judge calls ``get`` and ``put`` from the thread that called ``judge`` or
    ``judge_many`` only (never from its worker threads), so an implementation over one database
    session is fine. ``put`` of a key already present replaces its verdict.
    """

    def get(self, key: CacheKey) -> Verdict | None:
        """The verdict cached under ``key``, or ``None``."""
        ...

    def put(self, key: CacheKey, verdict: Verdict) -> None:
        """Cache ``verdict`` (as the judge returned it, with its tokens and cost) under ``key``."""
        ...


class InMemoryJudgeCache:
    """A process-local cache that forgets the least recently used verdicts beyond a size.

    Args:
        max_entries: Most verdicts kept; ``None`` keeps all.
    """

    def __init__(self, max_entries: int | None = 100_000) -> None:
        if max_entries is not None and max_entries < 1:
            raise ValueError(f"max_entries must be at least 1 or None, got {max_entries}")
        self._max_entries = max_entries
        self._entries: OrderedDict[CacheKey, Verdict] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: CacheKey) -> Verdict | None:
        """The verdict cached under ``key``, or ``None``."""
        with self._lock:
            verdict = self._entries.get(key)
            if verdict is not None:
                self._entries.move_to_end(key)
            return verdict

    def put(self, key: CacheKey, verdict: Verdict) -> None:
        """Cache ``verdict`` under ``key``, forgetting the oldest entry when full."""
        with self._lock:
            self._entries[key] = verdict
            self._entries.move_to_end(key)
            if self._max_entries is not None and len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __repr__(self) -> str:
        return f"InMemoryJudgeCache(entries={len(self)}, max_entries={self._max_entries})"
