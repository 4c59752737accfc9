"""Counted nouns for what people read: ``1 failing partition``, ``3 failing partitions``."""

from __future__ import annotations

IRREGULAR = {"day": "days", "query": "queries", "summary": "summaries", "entry": "entries"}


def plural(noun: str) -> str:
    """The plural of the last word of ``noun`` (``failing partition`` -> ``failing partitions``)."""
    head, _, last = noun.rpartition(" ")
    if last in IRREGULAR:
        word = IRREGULAR[last]
    elif last.endswith(("s", "sh", "ch", "x")):
        word = last + "es"
    elif last.endswith("y") and last[-2:-1] not in ("a", "e", "i", "o", "u"):
        word = last[:-1] + "ies"
    else:
        word = last + "s"
    return f"{head} {word}" if head else word


def count(n: int, noun: str, many: str | None = None) -> str:
    """``n`` and the noun in the number it takes; ``many`` for a plural the rule gets wrong."""
    return f"{n:,} {noun if n == 1 else (many or plural(noun))}"
