"""Where in the context a claim is supported: an index of the context's sentences.

A claim is checked against the window of context sentences that supports it best, not the
whole context, so an entity or number taken from another part of the context (the other actor
of a list, the year of another event) shows as misplaced; negation is compared there too.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

from monitoring_pipelines.core.judge import text

WINDOW = 2
"""Sentences a supporting passage spans: a fact and its subject are often in adjacent ones."""
MAX_PLACES = 64
"""A word found in more sentences than this says nothing about where a claim is stated (and
voting with it would cost a claim time in proportion to the context): it does not vote."""

_NEGATIONS = frozenset({
    "not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "without", "cannot",
    "isn", "aren", "wasn", "weren", "doesn", "didn", "don", "hasn", "haven", "hadn", "won",
    "wouldn", "couldn", "shouldn",
})  # fmt: skip
# Numbers are followed by their unit, or preceded by it within a few words ("a bonus of 10%").
_UNIT_LOOKBACK = 3
_PERCENT_WORDS = frozenset({"per", "cent", "percent"})


@dataclass(frozen=True)
class ContextIndex:
    """What a text (a context, or a question) offers as evidence.

    Attributes:
        keys: Every normalised key of the text.
        bigrams: Consecutive key pairs, for verbatim runs.
        units: ``(number, word)`` pairs of one sentence: the word just after the number or at
            most three words before it.
        sentences: Content keys per sentence.
        named: Keys of the names and numbers per sentence.
        negated: Per sentence, whether it holds a negation.
        where: Sentences each content key occurs in.
        trigrams: Runs of three consecutive keys, for copied phrases.
    """

    keys: frozenset[str]
    bigrams: frozenset[tuple[str, str]]
    units: frozenset[tuple[str, str]]
    sentences: tuple[frozenset[str], ...]
    named: tuple[frozenset[str], ...]
    negated: tuple[bool, ...]
    where: dict[str, tuple[int, ...]]
    trigrams: frozenset[tuple[str, str, str]] = frozenset()

    def together(self, first: str, second: str) -> bool:
        """Whether two content keys occur in one sentence or in adjacent ones.

        A claim relating two words of the context ("Harrison ... white") is only supported
        where the context says them together; the same two words far apart ("Harrison" in one
        paragraph, "white" of someone else in another) support each word, not the relation.
        """
        places = self.where.get(first)
        others = self.where.get(second)
        if not places or not others:
            return False
        if len(places) > MAX_PLACES or len(others) > MAX_PLACES:
            return True  # a word of every other sentence is beside nearly everything
        if len(places) > len(others):
            places, others = others, places
        near = set(others)
        return any(s in near or s - 1 in near or s + 1 in near for s in places)

    def passage(
        self, keys: frozenset[str], anchor: frozenset[str] = frozenset()
    ) -> tuple[int, frozenset[str]]:
        """The window of ``WINDOW`` sentences holding most of ``keys``, and the keys it holds.

        Keys of ``anchor`` (the question's) count half, to break ties and to place a claim of
        few words; ties go to the earliest window; keys the context lacks count for no window.
        Without any key of either in the context: ``(-1, frozenset())``, no window.
        """
        votes: dict[int, float] = {}
        for weight, group in ((1.0, keys), (0.5, anchor - keys)):
            for key in group:
                for sentence in self._places(key):
                    for first in range(max(0, sentence - WINDOW + 1), sentence + 1):
                        votes[first] = votes.get(first, 0.0) + weight
        if not votes:
            return -1, frozenset()
        best = max(votes, key=lambda s: (votes[s], -s))
        return best, keys & self.window(best)

    def role_gaps(self, names: frozenset[str], anchor: frozenset[str]) -> dict[str, float]:
        """How far each name sits from where the context puts what the claim says of it.

        The sentence holding most of ``anchor`` (the claim's other words and the question's)
        is where the context states the fact; a name the context has only in sentences with
        fewer of those words was taken from elsewhere ("the other actor of the list"). The gap
        is the share of ``anchor`` the best sentence has and the name's best sentence lacks.

        Args:
            names: Keys of the claim's names and numbers that the context holds.
            anchor: Keys the fact is recognised by.

        Returns:
            Per name, its gap in [0, 1]; 0 for names where the fact is.
        """
        if not names or not anchor:
            return {}
        votes: dict[int, int] = {}
        for key in anchor:
            for sentence in self._places(key):
                votes[sentence] = votes.get(sentence, 0) + 1
        best = max(votes.values(), default=0)
        if best == 0:
            return {}
        return {
            name: (best - max((votes.get(s, 0) for s in self._places(name)), default=best))
            / len(anchor)
            for name in names
        }

    def _places(self, key: str) -> tuple[int, ...]:
        places = self.where.get(key, ())
        return places if len(places) <= MAX_PLACES else ()

    def window(self, first: int) -> frozenset[str]:
        """Content keys of the sentences ``first`` to ``first + WINDOW - 1``."""
        return frozenset().union(*self.sentences[first : first + WINDOW])

    def window_named(self, first: int) -> frozenset[str]:
        """Keys of the names and numbers of the sentences ``first`` to ``first + WINDOW - 1``."""
        return frozenset().union(*self.named[first : first + WINDOW])

    def window_negated(self, first: int) -> bool:
        """Whether a sentence of the window holds a negation."""
        return any(self.negated[first : first + WINDOW])


_NEGATION_KEYS = frozenset(text.stem(word) for word in _NEGATIONS) | {"t"}  # "didn't": "t"


def negates(token: text.Token) -> bool:
    """Whether the token is a negation ("not", "never", "didn't")."""
    return token.key in _NEGATION_KEYS


@lru_cache(maxsize=4096)
def index(passage: str) -> ContextIndex:
    """Index a passage; cached, as a day's answers share contexts and questions."""
    toks = text.tokens(passage)
    keys = [t.key for t in toks]
    units: set[tuple[str, str]] = set()
    count = toks[-1].sentence + 1 if toks else 0
    sentences: list[set[str]] = [set() for _ in range(count)]
    named: list[set[str]] = [set() for _ in range(count)]
    negated = [False] * count
    where: dict[str, list[int]] = {}
    for i, token in enumerate(toks):
        if token.is_number:
            after = i + 1
            while after < len(toks) and toks[after].surface.lower() in _PERCENT_WORDS:
                after += 1  # "50 per cent lower": the unit of 50% is "lower"
            near = toks[max(0, i - _UNIT_LOOKBACK) : i] + toks[after : after + 1]
            units.update((token.key, t.key) for t in near if t.sentence == token.sentence)
        if not negated[token.sentence] and negates(token):
            negated[token.sentence] = True
        if token.content and (token.capitalised or token.is_number):
            named[token.sentence].add(token.key)
        if token.content and token.key not in sentences[token.sentence]:
            where.setdefault(token.key, []).append(token.sentence)
            sentences[token.sentence].add(token.key)
    bigrams = frozenset(pairwise(keys))
    trigrams = frozenset(zip(keys, keys[1:], keys[2:], strict=False))
    return ContextIndex(
        keys=frozenset(keys),
        bigrams=bigrams,
        units=frozenset(units),
        sentences=tuple(frozenset(s) for s in sentences),
        named=tuple(frozenset(s) for s in named),
        negated=tuple(negated),
        where={k: tuple(v) for k, v in where.items()},
        trigrams=trigrams,
    )
