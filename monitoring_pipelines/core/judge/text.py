"""Normalisation and tokenisation for the offline faithfulness judge.

Pure and deterministic: accents and case folded, numbers written one way ("1,000" is ``1000``),
words crudely stemmed ("directed" matches "director", "Korean" matches "Korea"), words glued
together split ("HanksTom"), and sentences told apart.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import NamedTuple

# Function words and question words: never evidence either way.
STOPWORDS: frozenset[str] = frozenset(
    """
    a about above after again against all also am an and any are aren as at be because been
    before being below between both but by can cannot could couldn d did didn do does doesn
    doing don down during each either few for from further had hadn has hasn have haven
    having he her here hers herself him himself his how i if in into is isn it its itself
    just ll m me more most my myself neither no nor not now o of off on once one only or
    other our ours out over own per re s same she should shouldn so some such t than that
    the their theirs them themselves then there these they this those through to too under
    until up upon us ve very via was wasn we were weren what when where which while who whom
    whose why will with won would wouldn y yes yet you your yours
    """.split()  # noqa: SIM905
)

# Filler an answer adds around a claim; carrying no fact, it is neither support nor novelty.
FILLER: frozenset[str] = frozenset(
    """
    absolutely according actually although answer anything based called certainly course else even
    everything famous glad great happy hello help helps hey hi hope however indeed instead
    know known let located many much named ok okay overall please question reaching really
    said say says several something sorry still sure tell tells thank thanks though told
    unfortunately various well
    """.split()  # noqa: SIM905
)

_NUMBER_WORDS: dict[str, str] = {
    w: str(i)
    for i, ws in enumerate(
        [
            (),
            (),  # "one" is more often a pronoun ("one of the") than a count
            ("two",),
            ("three", "third"),
            ("four", "fourth"),
            ("five", "fifth"),
            ("six", "sixth"),
            ("seven", "seventh"),
            ("eight", "eighth"),
            ("nine", "ninth"),
            ("ten", "tenth"),
            ("eleven", "eleventh"),
            ("twelve", "twelfth"),
        ]
    )
    for w in ws
}

# Han and kana are written without spaces: each character is a token of its own.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[$€£]?\d+(?:,\d{{3}})*(?:\.\d+)?%?|[{_CJK}]|[^\W\d_{_CJK}]+", re.UNICODE)
_IS_CJK = re.compile(rf"[{_CJK}]")
QUOTES = "\"'\u2018\u2019\u201c\u201d"
_BREAK = re.compile(r"[.!?:;\n]")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_SUFFIXES = ("ations", "ation", "ities", "ness", "ings", "ing", "ians", "ian", "ese", "ans",
             "ers", "ies", "ied", "ed", "er", "es", "an", "ly", "s")  # fmt: skip
_VOWELS = frozenset("aeiouy")
_GLUED = re.compile(r"(?<=[a-z])(?=[A-Z])")


class Token(NamedTuple):
    """One word or number of a text (a named tuple: contexts hold thousands, made fast).

    Attributes:
        surface: The text as written (for rationales).
        key: The normalised form matched against other texts.
        is_number: The token is a number (digits or a number word).
        capitalised: Written with a capital letter not at the start of a sentence: a name.
        start: Offset of its first character in the text.
        sentence: Index of its sentence in the text.
        content: It can carry a fact (see :func:`is_content`).
    """

    surface: str
    key: str
    is_number: bool
    capitalised: bool
    start: int = 0
    sentence: int = 0
    content: bool = True

    @property
    def end(self) -> int:
        """Offset just after its last character."""
        return self.start + len(self.surface)


def fold(text: str) -> str:
    """Case-fold ``text`` and strip accents from Latin letters ("Bolaño" -> "bolano")."""
    kept: list[str] = []
    for char in unicodedata.normalize("NFKD", text):
        if not (unicodedata.combining(char) and kept and kept[-1].isascii()):
            kept.append(char)
    return unicodedata.normalize("NFC", "".join(kept)).casefold()


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A crude, deterministic stem: strip one common suffix, keep at least four letters.

    Args:
        word: A folded word.

    Returns:
        The stem, at most six letters long, so inflections and derivations of one root
        ("directed", "director", "directing"; "Korea", "Korean") share it: one suffix and then
        a final vowel are stripped.
    """
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)]
            if len(word) > 4 and word[-1] == word[-2] and word[-1] not in _VOWELS:
                word = word[:-1]  # "starred", "starring": "star"
            break
    if len(word) > 4 and word[-1] in _VOWELS:
        word = word[:-1]
    return word[:6]


def number_key(text: str) -> str:
    """A number written one way: no thousands separators, no trailing ``.0``.

    A currency sign or a percent sign stays part of the key: "$5" and "5%" are other facts
    than "5 days".
    """
    plain = _THOUSANDS.sub("", text).rstrip(",")
    percent = plain.endswith("%")
    plain = plain.rstrip("%")
    if "." in plain:
        plain = plain.rstrip("0").rstrip(".")
    return plain.replace(",", "") + ("%" if percent else "")


def _fold_word(surface: str) -> str:
    return surface.lower() if surface.isascii() else fold(surface)


@lru_cache(maxsize=65536)
def _word(surface: str) -> tuple[str, bool, bool]:
    """Key, is-a-number and is-content of a word as written; cached, words repeat."""
    folded = _fold_word(surface)
    number = _NUMBER_WORDS.get(folded)
    key = number or stem(folded)
    if number is not None:
        return key, True, True
    content = folded not in STOPWORDS and folded not in FILLER
    content = content and (len(folded) > 1 or surface.isupper() or bool(_IS_CJK.match(folded)))
    return key, False, content


def _words(text: str) -> list[tuple[int, str]]:
    """Start offsets and surfaces of the words and numbers of ``text``, glued words split."""
    out: list[tuple[int, str]] = []
    for match in _TOKEN.finditer(text):
        surface = match.group()
        if surface.isascii() and not surface.islower() and _GLUED.search(surface, 1):
            start = match.start()
            for part in _GLUED.split(surface):
                out.append((start, part))
                start += len(part)
        else:
            out.append((match.start(), surface))
    return out


def tokens(text: str) -> list[Token]:
    """Every word and number of ``text``, normalised, stopwords included.

    A capitalised word starting a sentence counts as a name only when a name follows it
    ("Westchester County"); alone ("Scottish", "Choosing store credit") it may be any word.
    Sentences end at ``.!?:;`` (spaces after it optional: "century.First") or a line break.

    Args:
        text: Any text.

    Returns:
        The tokens in order.
    """
    out: list[Token] = []
    initial: list[bool] = []  # capitalised, at the start of a sentence
    sentence, previous_end = 0, 0
    for start, surface in _words(text):
        starts = not out or _BREAK.search(text, previous_end, start) is not None
        if starts and out:
            sentence += 1
        previous_end = start + len(surface)
        if not surface[0].isalpha():
            out.append(Token(surface, number_key(surface), True, False, start, sentence))
            initial.append(False)
            continue
        key, number, content = _word(surface)
        upper = surface[0].isupper()
        initial.append(upper and starts)
        out.append(Token(surface, key, number, upper and not starts, start, sentence, content))
    _percent_words(out)
    for i in range(len(out) - 1):
        follower = out[i + 1]
        name_follows = follower.capitalised and len(follower.surface) > 1 and follower.content
        if initial[i] and name_follows and _fold_word(out[i].surface) not in STOPWORDS:
            out[i] = out[i]._replace(capitalised=True)
    return out


def _percent_words(out: list[Token]) -> None:
    """A number followed by "percent" or "per cent" is keyed as with a "%" sign ("50 per cent"
    is "50%"); the words themselves are then function words."""
    for i, token in enumerate(out[:-1]):
        if not token.is_number or token.key.endswith("%") or not token.key[:1].isdigit():
            continue
        follower = out[i + 1].surface.lower()
        spelled = follower == "per" and i + 2 < len(out) and out[i + 2].surface.lower() == "cent"
        if follower == "percent" or spelled:
            out[i] = token._replace(key=token.key + "%")
            for j in range(i + 1, i + (3 if spelled else 2)):
                out[j] = out[j]._replace(content=False)


def is_content(token: Token) -> bool:
    """Whether a token can carry a fact: not a stopword, not filler, not a lower-case letter.

    A lone capital letter is content: it is an initial or part of one ("F.E.A.R.", "R&B");
    so is a lone Han or kana character.
    """
    return token.content


def key_set(toks: list[Token]) -> set[str]:
    """The normalised keys of ``toks``."""
    return {t.key for t in toks}


def ngrams(keys: list[str], n: int) -> set[tuple[str, ...]]:
    """The contiguous ``n``-grams of a key sequence."""
    return {tuple(keys[i : i + n]) for i in range(len(keys) - n + 1)}


# Words that may join the capitalised words of one name ("Bank of America", "Marquis de Sade").
_NAME_JOINERS = frozenset("of the for and de du la le von van der del da di y & in on".split())  # noqa: SIM905
_QUESTION_HEADS = frozenset("which who what whom is was were are did does do has have".split())  # noqa: SIM905
_OPTION_WORDS = re.compile(r"[^\s,;:?!()]+|[,;:?!()]")


def _name_run(words: list[str], *, backward: bool) -> list[str]:
    """The capitalised words at one end of ``words`` (a name), joiners allowed inside."""
    run: list[str] = []
    for word in reversed(words) if backward else words:
        core = word.strip(QUOTES)
        if not core:
            continue
        if core in ",;:?!()":
            if run:
                break
            continue
        if core[0].isupper() or core[0].isdigit() or (run and core.lower() in _NAME_JOINERS):
            run.append(word)
        else:
            break
    if backward:
        run.reverse()
        while run and run[0].lower() in _NAME_JOINERS:
            run.pop(0)
    while run and run[-1].lower() in _NAME_JOINERS:
        run.pop()
    return run


def comparison_options(question: str) -> tuple[str, str] | None:
    """The two named options of a comparison question ("Who was born first, A or B?").

    Args:
        question: The question.

    Returns:
        The two options as written, or ``None`` when the question does not offer exactly two
        capitalised names joined by a single "or".
    """
    ors = list(re.finditer(r"\bor\b", question))
    if len(ors) != 1:
        return None
    before, after = question[: ors[0].start()], question[ors[0].end() :]
    first = _name_run(_OPTION_WORDS.findall(before.rstrip().rstrip(",")), backward=True)
    if first and first[0].lower() in _QUESTION_HEADS:
        first = first[1:]
    if not first and "," in before:
        # "Which band was founded first, Hole, the band of Courtney Love, or The Wolfhounds?"
        first = _name_run(_OPTION_WORDS.findall(before.split(",")[1]), backward=False)
    second = _name_run(_OPTION_WORDS.findall(after), backward=False)
    if not first or not second:
        return None
    return " ".join(first), " ".join(second)
