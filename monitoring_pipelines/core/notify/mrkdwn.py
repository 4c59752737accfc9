"""Text from data, made safe to put into a Slack message.

Slack reads ``&``, ``<`` and ``>`` as control characters: ``<!channel>``, ``<@U123>`` and
``<https://x|label>`` mention people and make links, so a value written into an inference log
must reach a message as the entities ``&amp;``, ``&lt;`` and ``&gt;`` (Slack's "Escaping text";
only these three are decoded, so nothing else is entity-encoded). mrkdwn has no escape for its
formatting markers (``*bold*``, ``_italic_``, ``~strike~``, `` `code` ``, ``>`` quoting a line):
a backslash shows as itself. Slack formats only at word boundaries, so a marker between two
letters or digits (``model_version``) is left as it is, and any other one is wrapped in soft
hyphens (U+00AD): invisible, not a space or a punctuation mark, so the marker no longer stands
at a boundary where a format could open or close it. A reader sees the value unchanged.

The product's own formatting (``*Monitor*``, its ``<url|label>`` links) is written around the
escaped values, never through these functions.
"""

from __future__ import annotations

from typing import Final

SOFT_HYPHEN: Final = "\u00ad"
MARKERS: Final = frozenset("*_~`")
"""mrkdwn's inline formatting markers; ``>`` quotes only at the start of a line."""

_ENTITIES: Final = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_LONGEST_ENTITY: Final = max(len(e) for e in _ENTITIES.values())
_WORD: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
# Markers that need two word characters around them to stay inert; a backtick is wrapped always.
_INERT_INSIDE_WORDS: Final = frozenset("*_~")


def escape_plain_text(value: str) -> str:
    """``value`` for a ``plain_text`` object: Slack's three control characters as entities."""
    return "".join(_ENTITIES.get(char, char) for char in value)


def escape_mrkdwn(value: str) -> str:
    """``value`` for a ``mrkdwn`` text (or a message's ``text``), shown as written.

    Entities for ``&``, ``<`` and ``>``; a soft hyphen before every ``>`` (so no line starts a
    quote) and around every formatting marker that is not between two ASCII letters or digits.
    """
    out: list[str] = []
    last = len(value) - 1
    for i, char in enumerate(value):
        if char == ">":
            out.append(SOFT_HYPHEN + "&gt;")
        elif char in MARKERS:
            inside_word = (
                char in _INERT_INSIDE_WORDS
                and 0 < i < last
                and value[i - 1] in _WORD
                and value[i + 1] in _WORD
            )
            out.append(char if inside_word else SOFT_HYPHEN + char + SOFT_HYPHEN)
        else:
            out.append(_ENTITIES.get(char, char))
    return "".join(out)


def head(text: str, limit: int) -> str:
    """The longest start of escaped ``text`` of at most ``limit`` characters that does not end
    inside an entity (``&am``) or inside a soft-hyphen wrapping of a marker."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit, 0)]
    amp = cut.rfind("&", max(len(cut) - _LONGEST_ENTITY + 1, 0))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    rest = text[len(cut) :]
    if cut.endswith(SOFT_HYPHEN) and (
        (rest[:1] in MARKERS and rest[1:2] == SOFT_HYPHEN) or rest.startswith("&gt;")
    ):
        cut = cut[:-1]  # the opening soft hyphen of a wrapped marker, or the one before a ">"
    elif cut[-2:-1] == SOFT_HYPHEN and cut[-1:] in MARKERS and rest[:1] == SOFT_HYPHEN:
        cut = cut[:-2]  # a wrapped marker without its closing soft hyphen
    return cut
