"""Mark the passages a judge named unsupported in an answer, escaping everything else."""

from __future__ import annotations

from collections.abc import Iterable

from markupsafe import Markup, escape

MAX_PASSAGES = 50
"""Passages marked at most: a verdict names a few; more would only cost time."""


def spans(text: str, passages: Iterable[str]) -> list[tuple[int, int]]:
    """Where the passages occur in ``text`` (every occurrence), merged and in order.

    Args:
        text: The answer.
        passages: Exact quotes of it; one that does not occur marks nothing.

    Returns:
        Non-overlapping ``(start, end)`` character ranges.
    """
    found: list[tuple[int, int]] = []
    for passage in list(dict.fromkeys(p for p in passages if p.strip()))[:MAX_PASSAGES]:
        start = text.find(passage)
        while start != -1:
            found.append((start, start + len(passage)))
            start = text.find(passage, start + len(passage))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def highlighted(text: str, passages: Iterable[str]) -> Markup:
    """``text`` as HTML, each passage inside ``<mark>``; nothing marked without passages."""
    out: list[str] = []
    last = 0
    for start, end in spans(text, passages):
        out += [
            str(escape(text[last:start])),
            f'<mark class="unsupported">{escape(text[start:end])}</mark>',
        ]
        last = end
    out.append(str(escape(text[last:])))
    return Markup("".join(out))
