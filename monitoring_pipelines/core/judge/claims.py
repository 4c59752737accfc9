"""An answer taken apart claim by claim, each checked against its best-supporting passage.

A claim is a sentence of the answer, or a clause of a long one; its evidence says which of its
words the context lacks, which names the context has but elsewhere than where the claim is
supported (the wrong entity taken from the context), and whether its polarity agrees there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from monitoring_pipelines.core.judge import text
from monitoring_pipelines.core.judge.support import ContextIndex, negates

_YEAR = re.compile(r"1[0-9]{3}|20[0-9]{2}")
_PERSONAL = frozenset({"i", "me", "my"})
_CLAUSE_BREAKS = frozenset({"but", "while", "whereas", "although", "though"})
_ABOUT = 0.5  # share of a claim's other new words its passage holds for the claim to be about it
_MIN_CLAUSE = 4  # content words each side of a break before a sentence is split there
_MISPLACED = 0.5  # role gap from which a name is named as taken from elsewhere in the context
PAIR_SPAN = 3
"""Content words a claim's word is paired with after it: the words a relation joins are near."""
SPECIFIC_LETTERS = 7
"""Letters from which an unsupported word counts as specific (Zipf: longer words are rarer)."""


@dataclass(frozen=True)
class Claim:
    """One claim of an answer and the evidence for it.

    Attributes:
        start: Offset of the claim's first character in the answer.
        end: Offset just after its last character.
        novel: Content words not already in the question (what the claim adds).
        unsupported_names: Names and numbers (a number with another unit in the context
            included) the context lacks, with their offsets in the answer.
        unsupported_words: Other content words the context lacks, with their offsets.
        misplaced: Names the context has, but away from the sentence stating what the claim
            (and the question) says of them.
        role_gap: The largest gap of a name (:meth:`ContextIndex.role_gaps`).
        passage_support: Share of ``novel`` found in that passage.
        context_support: Share of ``novel`` found anywhere in the context.
        substituted: An unsupported name or number of the claim stands where its passage,
            which holds most of its other words, has another name or number: a substitution
            ("finished in 1899" against "completed in 1889"), stronger than mere absence.
        polarity_flip: The claim negates and its passage does not, or the reverse.
        coverage: Share of the claim's words in runs of two or more found verbatim.
        personal: The claim is in the first person ("I", "me", "my"): chat
            around the facts, which a context seldom supports or contradicts.
        pairs: Pairs of nearby content words of the claim (at most ``PAIR_SPAN`` content
            words apart): the relations it states.
        unsupported_pairs: Those of ``pairs`` the context does not say together (in one
            sentence or adjacent ones), a word of the pair missing from it included.
        specific_unsupported: Unsupported words of ``SPECIFIC_LETTERS`` letters or more:
            long words are the rarer, specific ones ("premeditated"), short ones often
            common words a paraphrase brings ("took", "get").
        trigrams: Runs of three consecutive words of the claim.
        copied_trigrams: Those of ``trigrams`` found verbatim in the context.
        asking: The claim is a question ("Have you seen it?"): it asks, it states nothing.
        answering: How many of ``novel`` the context says together (in one sentence or
            adjacent ones) with a word of what was asked (``anchor``): an answer taken from
            another part of the context ("the other actor of the list") is not.
        unstated: Two words of the claim the context has, but never together (the first
            such pair): a relation the context does not state.
    """

    start: int
    end: int
    novel: tuple[str, ...]
    unsupported_names: tuple[text.Token, ...]
    unsupported_words: tuple[text.Token, ...]
    misplaced: tuple[text.Token, ...]
    role_gap: float
    substituted: bool
    passage_support: float
    context_support: float
    polarity_flip: bool
    coverage: float
    personal: bool = False
    pairs: int = 0
    unsupported_pairs: int = 0
    specific_unsupported: int = 0
    trigrams: int = 0
    copied_trigrams: int = 0
    asking: bool = False
    number_substituted: bool = False
    answering: int = 0
    unstated: tuple[text.Token, ...] = ()

    def features(self) -> tuple[float, ...]:
        """Badness and support figures of the claim, in the order of ``CLAIM_FEATURES``."""
        n = max(len(self.novel), 1)
        unsupported = len(self.unsupported_names) + len(self.unsupported_words)
        return (
            1.0 if self.unsupported_names else 0.0,
            unsupported / n,
            self.role_gap,
            1.0 if self.substituted else 0.0,
            1.0 if self.polarity_flip else 0.0,
            self.passage_support,
            self.coverage,
        )

    @property
    def contradicted_number(self) -> bool:
        """A number of the claim, absent from the context, stands where its passage has
        another number ("1899" for "1889"); a number the context has with another unit, or
        an absent name beside a number, is no contradiction."""
        return self.number_substituted

    def span(self) -> tuple[int, int] | None:
        """Offsets of the claim's unsupported words in the answer (names first), else of two
        words the context never says together, if any."""
        for group in (
            self.unsupported_names,
            self.misplaced,
            self.unsupported_words,
            self.unstated,
        ):
            if group:
                return min(t.start for t in group), max(t.end for t in group)
        return None


CLAIM_FEATURES: tuple[str, ...] = (
    "unsupported_name",  # a name or number in neither context nor question
    "unsupported_share",  # share of the claim's new content words the context lacks
    "role_gap",  # a name of the context, but away from the sentence stating the claim's fact
    "substituted",  # an unsupported name or number where its passage has another
    "polarity_flip",  # negated in the claim and not in its passage, or the reverse
    "passage_support",  # share of the claim's new content words in its best passage
    "coverage",  # share of its words in verbatim runs of the context
)


def split(tokens: list[text.Token]) -> list[list[text.Token]]:
    """The answer's tokens grouped into claims: its sentences, long ones cut at "but"-like
    conjunctions when both sides keep ``_MIN_CLAUSE`` content words."""
    sentences: list[list[text.Token]] = []
    for token in tokens:
        if not sentences or token.sentence != sentences[-1][-1].sentence:
            sentences.append([])
        sentences[-1].append(token)
    claims: list[list[text.Token]] = []
    for sentence in sentences:
        content = [text.is_content(t) for t in sentence]
        cut = 0
        for i, token in enumerate(sentence):
            breaks = token.surface.lower() in _CLAUSE_BREAKS and i > cut
            if breaks and sum(content[cut:i]) >= _MIN_CLAUSE <= sum(content[i:]):
                claims.append(sentence[cut:i])
                cut = i
        claims.append(sentence[cut:])
    return claims


def check(
    claim: list[text.Token],
    context: ContextIndex,
    asked: ContextIndex,
    anchor: frozenset[str],
    *,
    every_capitalised: bool = False,
    asking: bool = False,
) -> Claim:
    """The evidence for one claim.

    Args:
        claim: The claim's tokens.
        context: The indexed context.
        asked: The indexed question (words echoed from it are neither support nor novelty).
        anchor: The question's content keys the context holds: they help find the passage a
            short answer ("Delhi") answers from.
        every_capitalised: Check capitalised function words too (a title such as "Let Me Be").
        asking: The claim ends with a question mark.
    """
    names: list[text.Token] = []
    words: list[text.Token] = []
    novel: dict[str, text.Token] = {}
    named: dict[str, text.Token] = {}  # names and numbers of the claim the context has
    said: set[str] = set()  # the claim's other words the context has
    for i, token in enumerate(claim):
        checked = token.content or (every_capitalised and token.capitalised)
        if not checked:
            continue
        if token.key in context.keys:
            if token.capitalised or token.is_number:
                named.setdefault(token.key, token)
            else:
                said.add(token.key)
        if token.key in asked.keys or token.key in novel:
            continue
        novel[token.key] = token
        if token.key not in context.keys:
            (names if token.capitalised or token.is_number else words).append(token)
        elif token.is_number and _unit_mismatch(claim, i, context):
            names.append(token)
    keys = frozenset(novel)
    first, held = context.passage(keys, anchor)
    gaps = context.role_gaps(frozenset(named), (anchor | said) - frozenset(named))
    misplaced = [named[k] for k, gap in gaps.items() if gap >= _MISPLACED]
    negated = any(negates(t) for t in claim)
    flip = bool(held) and negated != context.window_negated(first)
    n = max(len(keys), 1)
    substituted = number_substituted = False
    if first >= 0 and len(held) >= _ABOUT * (len(keys) - len(names)):
        others = context.window_named(first) - named.keys() - asked.keys
        absent = [t for t in names if t.key not in context.keys]
        substituted = any(_number_key(k) == t.is_number for t in absent for k in others)
        numbers = [t for t in absent if t.is_number]
        number_substituted = bool(numbers) and any(_number_key(k) for k in others)
    pairs, unsupported_pairs, unstated = _pairs(claim, context)
    keyed = [t.key for t in claim]
    trigrams = list(zip(keyed, keyed[1:], keyed[2:], strict=False))
    unsupported = names + words
    return Claim(
        start=claim[0].start,
        end=claim[-1].end,
        novel=tuple(t.surface for t in novel.values()),
        unsupported_names=tuple(names),
        unsupported_words=tuple(words),
        misplaced=tuple(misplaced),
        role_gap=max(gaps.values(), default=0.0),
        substituted=substituted,
        passage_support=len(held) / n if keys else 1.0,
        context_support=len(keys & context.keys) / n if keys else 1.0,
        polarity_flip=flip,
        coverage=_coverage([t.key for t in claim], context),
        personal=any(_personal(t) for t in claim),
        pairs=pairs,
        unsupported_pairs=unsupported_pairs,
        specific_unsupported=sum(len(t.surface) >= SPECIFIC_LETTERS for t in unsupported),
        trigrams=len(trigrams),
        copied_trigrams=sum(g in context.trigrams for g in trigrams),
        asking=asking,
        number_substituted=number_substituted,
        answering=sum(any(context.together(k, a) for a in anchor) for k in keys),
        unstated=unstated,
    )


def _pairs(
    claim: list[text.Token], context: ContextIndex
) -> tuple[int, int, tuple[text.Token, ...]]:
    """How many pairs of nearby content words the claim has, how many of them the context
    does not say together (:meth:`ContextIndex.together`), and the first such pair of two
    words the context has (a relation it does not state), if any."""
    content = [t for t in claim if t.content]
    pairs = unsupported = 0
    unstated: tuple[text.Token, ...] = ()
    for i, token in enumerate(content):
        for other in content[i + 1 : i + 1 + PAIR_SPAN]:
            if other.key == token.key or other.sentence != token.sentence:
                continue
            pairs += 1
            if not context.together(token.key, other.key):
                unsupported += 1
                known = token.key in context.keys and other.key in context.keys
                if known and not unstated:
                    unstated = (token, other)
    return pairs, unsupported, unstated


def _personal(token: text.Token) -> bool:
    """A first-person word of chat ("I think", "my favourite"); a capitalised "Me" or "My"
    inside a sentence is part of a title or a name ("Let Me Be", "My Chemical Romance")."""
    return token.key in _PERSONAL and (token.surface == "I" or not token.capitalised)


def _number_key(key: str) -> bool:
    return key[:1].isdigit() or key[:1] in "$€£"


def _unit_mismatch(claim: list[text.Token], at: int, context: ContextIndex) -> bool:
    """Whether the number at ``at`` has, in the claim, a unit the context never gives it
    ("5 days" against "5 business days ... 72 hours"); a number ending its sentence has none."""
    if at + 1 >= len(claim):
        return False
    unit = claim[at + 1]
    if unit.is_number or not unit.content or _YEAR.fullmatch(claim[at].key):
        return False  # a year has no unit: "a 2012 young adult novel"
    return (claim[at].key, unit.key) not in context.units


def _coverage(keys: list[str], context: ContextIndex) -> float:
    if not keys:
        return 0.0
    if len(keys) == 1:
        return 1.0 if keys[0] in context.keys else 0.0
    covered = [False] * len(keys)
    for i in range(len(keys) - 1):
        if (keys[i], keys[i + 1]) in context.bigrams:
            covered[i] = covered[i + 1] = True
    return sum(covered) / len(keys)
