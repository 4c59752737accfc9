"""Either-or questions ("Who was born first, A or B?"): which option the context supports.

The one check of the offline judge that reads the question's structure; its evidence is a
number in [-1, 1] (see :func:`comparison`).
"""

from __future__ import annotations

import re

from monitoring_pipelines.core.judge import text

_YEAR = re.compile(r"(?<![\d.,])(1[0-9]{3}|20[0-9]{2})(?![\d])")
_EARLY = re.compile(r"\b(first|earlier|earliest|older|oldest|before)\b", re.IGNORECASE)
_LATE = re.compile(
    r"\b(younger|youngest|later|latest|second|more recent|most recent|newer|newest)\b",
    re.IGNORECASE,
)


def _first_mention(folded_context: str, option: str) -> int | None:
    positions = [
        folded_context.find(word)
        for word in (text.fold(w.strip(text.QUOTES)) for w in option.split())
        if len(word) >= 3 and word not in text.STOPWORDS
    ]
    found = [p for p in positions if p >= 0]
    return min(found) if found else None


def _content_keys(passage: str) -> set[str]:
    return {t.key for t in text.tokens(passage) if text.is_content(t)}


def _picked_option(answer: str, options: tuple[str, str]) -> int | None:
    """Which option the answer picks: 0 or 1, -1 for "both", ``None`` for neither."""
    answer_keys = _content_keys(answer)
    named = []
    for option in options:
        keys = _content_keys(option)
        named.append(bool(keys) and len(keys & answer_keys) / len(keys) >= 0.5)
    if named[0] and named[1]:
        folded = text.fold(answer)
        if re.match(r"\W*(both|neither)\b", folded):
            return -1
        at = [folded.find(text.fold(option.split()[-1])) for option in options]
        return None if min(at) < 0 else int(at[1] < at[0])  # the subject is named first
    if named[0] or named[1]:
        return 0 if named[0] else 1
    return None


def _passages(context: str, options: tuple[str, str]) -> tuple[str, str] | None:
    """Each option's passage: from its first mention to the other's first mention, or the end."""
    folded = text.fold(context)
    starts = [_first_mention(folded, o) for o in options]
    if starts[0] is None or starts[1] is None or starts[0] == starts[1]:
        return None
    ends = [starts[1] if starts[1] > starts[0] else len(folded), 0]
    ends[1] = starts[0] if starts[0] > starts[1] else len(folded)
    return folded[starts[0] : ends[0]], folded[starts[1] : ends[1]]


def comparison(question: str, context: str, answer: str) -> tuple[float, str]:
    """Check the option an either-or answer picks against the context.

    "Who was born first, A or B?": the first year of each option's passage is its date (of
    birth, founding, release), and the answer must pick the earlier (+1) or it contradicts the
    context (-1). Other either-or questions ("which is native to South America?"): the option
    whose passage shares more of the question's other words is the one the context supports,
    weaker evidence (+-0.5). An answer naming both options picks neither (-0.5).
    """
    options = text.comparison_options(question)
    picked = None if options is None else _picked_option(answer, options)
    if options is None or picked is None:
        return 0.0, ""
    if picked == -1:
        return -0.5, "answer names both options of an either-or question"
    passages = _passages(context, options)
    if passages is None:
        return 0.0, ""
    early, late = bool(_EARLY.search(question)), bool(_LATE.search(question))
    if early != late:
        found = [_YEAR.search(passage) for passage in passages]
        years = [int(f.group()) for f in found if f is not None]
        if len(years) != 2 or years[0] == years[1]:
            return 0.0, ""
        earlier = int(years[1] < years[0])
        right = earlier if early else 1 - earlier
        note = f"context's years: {options[0]!r} {years[0]}, {options[1]!r} {years[1]}"
        return (1.0 if picked == right else -1.0), note
    predicate = _content_keys(question) - _content_keys(options[0]) - _content_keys(options[1])
    shared = [len(predicate & _content_keys(passage)) for passage in passages]
    if shared[0] == shared[1]:
        return 0.0, ""
    right = int(shared[1] > shared[0])
    note = f"context links the question to {options[right]!r}"
    return (0.5 if picked == right else -0.5), note
